"""Storage flattening: multi-dimensional buffer accesses become one offset each."""
from ..lang.expr import Const
from ..lang.visitor import Mutator
from .analysis.arith import simplify
from ..lang.ir import Allocate, BufferLoad, BufferStore, IntrinOperand


def buffer_strides(buf):
    """Row-major strides in elements, padded where storage_align asked for it."""
    if buf.strides is not None:
        return buf.strides
    align = getattr(buf, "align", {}) if not buf.is_arg else {}
    strides = [None] * len(buf.shape)
    acc = Const(1, "int32")
    for d in range(len(buf.shape) - 1, -1, -1):
        if d in align:
            factor, offset = align[d]
            acc = simplify(((acc - offset + (factor - 1)) // factor) * factor + offset)
        strides[d] = acc
        acc = simplify(acc * buf.shape[d])
    buf.strides = tuple(strides)
    buf.size = acc
    return buf.strides


def flat_index(buf, indices):
    strides = buffer_strides(buf)
    if not indices:
        return Const(0, "int32")
    out = None
    for i, s in zip(indices, strides):
        term = i if (isinstance(s, Const) and s.value == 1) else i * s
        out = term if out is None else out + term
    return simplify(out)


def flatten_storage(stmt):
    """Rewrite every BufferLoad/BufferStore to a single flat index."""
    return _Flatten().visit(stmt)


class _Flatten(Mutator):
    def visit_BufferLoad(self, n):
        n = self.generic_visit(n)
        if len(n.indices) == 1 and getattr(n.buffer, "flat", False):
            return n
        return BufferLoad(n.buffer, (flat_index(n.buffer, n.indices),), n.dtype)

    def visit_BufferStore(self, n):
        n = self.generic_visit(n)
        return BufferStore(n.buffer, n.value, (flat_index(n.buffer, n.indices),))

    def visit_IntrinOperand(self, n):
        strides = buffer_strides(n.buffer)
        st = tuple(strides[d] if d is not None else Const(0, "int32") for d in n.dims)
        return IntrinOperand(n.buffer, (flat_index(n.buffer, n.indices),), n.dims, st)

    def visit_Allocate(self, n):
        buffer_strides(n.buffer)
        return self.generic_visit(n)
