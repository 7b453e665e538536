"""Vectorized loops on a GPU.

A vectorized loop that copies contiguous elements (`dst[d + v] = src[s + v]`, v < 2 or 4,
32-bit elements) becomes one VectorCopy: OpenCL's vload4/vstore4, CUDA's float4 (when both
offsets are provably multiples of the width: a float4 access must be 16-byte aligned;
otherwise the CUDA emitter writes the lanes one by one). Any other vectorized loop is
unrolled: GPU threads are the parallel lanes, and an unrolled loop lets the compiler issue
its independent loads and stores back to back.
"""
from dataclasses import dataclass

from ..lang.expr import Const
from ..lang.visitor import map_children, substitute
from .arith import linear_coeff, to_linear
from .ir import BufferLoad, BufferStore, For, Stmt

VECTOR_DTYPES = ("float32", "int32")


@dataclass(frozen=True, eq=False)
class VectorCopy(Stmt):
    """store (lane 0: dst[d] = src[s]) done for `lanes` consecutive elements at once.
    aligned: d and s are multiples of lanes (a 16-byte-aligned float4 access in CUDA)."""
    store: BufferStore
    lanes: int
    aligned: bool
    _children = ("store",)

    def __repr__(self):
        s = self.store
        return (f"vector{self.lanes} {s.buffer.name}[{s.indices[0]}:+{self.lanes}] = "
                f"{s.value.buffer.name}[{s.value.indices[0]}:+{self.lanes}]")

    __str__ = __repr__


def vectorize_gpu_loops(stmt):
    def go(s):
        if not isinstance(s, Stmt):
            return s
        s = map_children(s, go)
        if isinstance(s, For) and s.kind == "vectorized":
            return _vector_copy(s) or For(s.var, s.min, s.extent, "unrolled", s.body, s.pragmas)
        return s
    return go(stmt)


def _vector_copy(loop):
    body = loop.body
    if not (isinstance(loop.extent, Const) and loop.extent.value in (2, 4)
            and isinstance(loop.min, Const) and loop.min.value == 0):
        return None
    if not (isinstance(body, BufferStore) and isinstance(body.value, BufferLoad)
            and body.predicate is None and body.value.predicate is None
            and body.buffer.dtype == body.value.dtype and body.buffer.dtype in VECTOR_DTYPES
            and len(body.indices) == 1 and len(body.value.indices) == 1):
        return None
    v, n = loop.var, loop.extent.value
    for idx in (body.indices[0], body.value.indices[0]):
        lc = linear_coeff(idx, v)
        if lc is None or lc[0] != 1:
            return None
    zero = Const(0, v.dtype)
    lane0 = substitute(body, {v: zero})
    # (the GPU emitters declare shared and local arrays 16-byte aligned)
    aligned = all(_multiple_of(i, n) for i in (lane0.indices[0], lane0.value.indices[0]))
    return VectorCopy(lane0, n, aligned)


def _multiple_of(e, n):
    lin = to_linear(e)
    return lin.const % n == 0 and all(c % n == 0 for _, c in lin.terms.values())
