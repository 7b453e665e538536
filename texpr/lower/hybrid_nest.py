"""The loop nest of a hybrid stage (texpr/lang/hybrid_op.py): the script's loop program on the
kernel's buffers, with its outermost perfect nest rebuilt from the stage's schedule.

The axis loops are replaced by the stage's leaf loops (split, fused, reordered, annotated as
the schedule says; a split that may not divide gets a guard), exactly as for a compute stage;
the statements inside them are the script's. Reads of inputs become loads of the producers'
buffers (a producer may be inlined, substituted before), and the op's own output Buffers are
swapped for the buffers the kernel gives them.
"""
from ..errors import LoweringError
from ..lang.expr import TensorLoad
from ..lang.ir import BufferLoad, BufferStore, StageRegion
from ..lang.visitor import substitute, transform
from ..schedule.relations import leaf_to_root


def hybrid_nest(nb, st):
    """nb: the NestBuilder (its _load_fn and _loops); st: the hybrid stage."""
    from .schedule_ops import _checked as checked
    low = nb.low
    op, info = st.op, low.info[st]
    swap = {id(b): info.buffers[k] for k, b in enumerate(op.output_buffers)}
    for t, b in op.written_inputs:          # placeholders written in place: their arrays
        arrays = low.info[low.sch.stage_map[t.op]].buffers
        if arrays is None:
            raise LoweringError(f"hybrid op {op.name} writes placeholder {t.name} in place, "
                                "but it is not in args")
        swap[id(b)] = arrays[t.value_index]
    inner = info.body
    for _ in op.axis:                       # the body inside the axis loops (after inlining)
        inner = inner.body
    leaves = st.leaf_iter_vars
    values, split_guards = leaf_to_root(st, {id(iv): iv.var for iv in leaves}, info.extents)
    inner = substitute(inner, {iv.var: values[id(iv)] for iv in op.axis})
    guards = [v < ext for v, ext in split_guards]

    def to_kernel(n):
        if isinstance(n, TensorLoad):
            return nb._load_fn(n)
        if isinstance(n, (BufferLoad, BufferStore)):
            buf = swap.get(id(n.buffer), n.buffer)
            # an index read from data is checked against the extent, as for a compute's loads
            idx = tuple(checked(i, d, buf) for d, i in enumerate(n.indices))
            if buf is not n.buffer or any(a is not b for a, b in zip(idx, n.indices)):
                return n.replace(buffer=buf, indices=idx)
        return None
    inner = transform(inner, to_kernel)
    return StageRegion(st.name, nb._loops(st, leaves, inner, guards))
