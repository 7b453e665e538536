"""HybridOp: an operation whose body is an imperative loop program (written as a hybrid script,
texpr/hybrid/), not one expression per output element.

The body is a statement over its own Buffers: it reads its inputs as TensorLoads (so inputs may
be placeholders, materialized computes or inlined ones) and writes its outputs and temporaries
with BufferStore/BufferLoad on Buffers it owns. Lowering swaps the output Buffers for the
kernel's (texpr/lower/hybrid_nest.py).

`axis`: the loops of the outermost perfect nest of the body (a For whose body is the next For,
with extents that do not depend on the nest). These are the loops a schedule may split, fuse,
reorder and annotate, like a compute's data axes; loops further in stay as written.
"""
from .expr import TensorLoad, Var
from .ir import For
from .tensor import BufferOutputOp, IterVar, Range
from .visitor import free_vars, walk

# loop kinds of the script's loop functions -> the stage annotation a schedule would give
_KIND_ANNOTATION = {"serial": None, "parallel": "parallel", "vectorized": "vectorize",
                    "unrolled": "unroll", "thread": "bind"}


class HybridOp(BufferOutputOp):
    """outputs: one Buffer per output (shape, dtype). inputs: the tensors the script was
    called with (in argument order). body: the loop program. written_inputs: (placeholder
    tensor, Buffer) for each input the script writes in place (as TVM's hybrid scripts may);
    the body stores to that Buffer, which lowering makes the placeholder's array."""

    def __init__(self, name, inputs, output_buffers, body, tag="hybrid", attrs=None,
                 written_inputs=()):
        super().__init__(name, tag, attrs)
        self.inputs = list(inputs)
        self.output_buffers = list(output_buffers)
        self.written_inputs = list(written_inputs)
        self.body = body
        self.reduce_axis = []
        self.axis, self.nest_body, self._axis_loops = _outer_nest(body)
        self.bound_vars = frozenset(n.var for n in walk(body) if isinstance(n, For))

    @property
    def input_tensors(self):
        """The input tensors the body reads or writes in place (an input it never touches is
        no dependence)."""
        seen, out = set(), []
        touched = [n.tensor for n in walk(self.body) if isinstance(n, TensorLoad)] + \
            [t for t, _ in self.written_inputs]
        for t in touched:
            if id(t) not in seen:
                seen.add(id(t))
                out.append(t)
        return out

    def initial_iter_attrs(self):
        """Stage annotations of the axis loops the script itself marked (parallel(n),
        vectorize(n), unroll(n), bind(tag, n)), in the form Stage.iter_attrs holds them."""
        out = {}
        for iv, loop in zip(self.axis, self._axis_loops):
            kind = _KIND_ANNOTATION[loop.kind]
            if kind is None:
                continue
            attr = {"kind": kind, "pragmas": [], "thread": None}
            if kind == "bind":
                tag = dict(loop.pragmas)["thread"]
                attr["thread"] = IterVar(Var(tag.replace(".", "_")), None, "thread", thread_tag=tag)
            out[id(iv)] = attr
        return out


def _outer_nest(body):
    """(axis IterVars, the body inside them, their For nodes) of the outermost perfect nest."""
    axis, loops, node = [], [], body
    nest_vars = set()
    while isinstance(node, For) and _is_const_zero(node.min) and \
            not (free_vars(node.extent) & nest_vars) and \
            not any(isinstance(x, TensorLoad) or hasattr(x, "buffer") for x in walk(node.extent)):
        axis.append(IterVar(node.var, Range(0, node.extent), "data"))
        loops.append(node)
        nest_vars.add(node.var)
        node = node.body
    return axis, node, loops


def _is_const_zero(e):
    return getattr(e, "value", None) == 0 and not isinstance(e, Var)
