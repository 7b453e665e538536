"""Vectorized loops on a GPU.

A vectorized loop that copies contiguous elements (`dst[d + v] = src[s + v]`, v < 2 or 4,
32-bit elements) becomes one VectorCopy: OpenCL's vload4/vstore4, CUDA's float4 (when both
offsets are provably multiples of the width: a float4 access must be 16-byte aligned;
otherwise the CUDA emitter writes the lanes one by one). One that computes from contiguous
operands (`dst[d + v] = f(a[s + v], ...)`) loads each into registers with a VectorCopy, runs f
lane by lane and stores the result with another. Any other vectorized loop is unrolled: GPU threads are the parallel lanes, and an unrolled loop lets the compiler issue
its independent loads and stores back to back.
"""

from ...lang.expr import Cmp, Const
from ...lang.visitor import StmtMutator, free_vars, map_children, substitute, transform, walk
from ..analysis.arith import linear_coeff, simplify, to_linear
from ...lang.ir import (Allocate, Buffer, BufferLoad, BufferStore, For, IfThenElse, Stmt,
                        VectorCopy, seq)

VECTOR_DTYPES = ("float32", "int32")


def vectorize_gpu_loops(stmt):
    return _VectorizeGPU().visit(stmt)


class _VectorizeGPU(StmtMutator):
    def visit_For(self, s):
        s = self.generic_visit(s)
        if s.kind != "vectorized":
            return s
        scalar = For(s.var, s.min, s.extent, "unrolled", s.body, s.pragmas)
        full = _full_vector_condition(s)
        if full is not None:    # a tail guard: vector code where all lanes are in range
            cond, body = full
            inner = For(s.var, s.min, s.extent, s.kind, body, s.pragmas)
            vec = _vector_copy(inner) or _vector_compute(inner)
            return IfThenElse(cond, vec, scalar) if vec is not None else scalar
        return _vector_copy(s) or _vector_compute(s) or scalar


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


def _full_vector_condition(loop):
    """For `for v < n: if (base + v < bound) body` (a split's tail guard): the condition under
    which every lane is in range (the last lane's), and the body without its guard."""
    g = loop.body
    if not (isinstance(g, IfThenElse) and g.else_case is None and isinstance(g.cond, Cmp)
            and g.cond.op in ("<", "<=") and isinstance(loop.extent, Const)):
        return None
    v = loop.var
    lc = linear_coeff(g.cond.a, v)
    if lc is None or lc[0] <= 0 or v in free_vars(g.cond.b):
        return None
    last = simplify(loop.min + (loop.extent.value - 1))
    return substitute(g.cond, {v: last}), g.then_case


def _vector_compute(loop):
    """dst[d + v] = f(src1[s1 + v], ..., x) for v < n: the contiguous operands are loaded
    into registers with one vector load each, f runs lane by lane (unrolled), the result is
    stored with one vector store."""
    body = loop.body
    if not (isinstance(loop.extent, Const) and loop.extent.value in (2, 4)
            and isinstance(loop.min, Const) and loop.min.value == 0
            and isinstance(body, BufferStore) and body.predicate is None
            and len(body.indices) == 1 and body.buffer.dtype in VECTOR_DTYPES):
        return None
    v, n = loop.var, loop.extent.value
    if not _unit_stride(body.indices[0], v):
        return None
    loads = []
    for nd in walk(body.value):
        if isinstance(nd, BufferLoad) and nd.predicate is None and len(nd.indices) == 1 \
                and nd.dtype in VECTOR_DTYPES and _unit_stride(nd.indices[0], v) \
                and not any(nd.same_as(x) for x in loads):
            if nd.buffer is body.buffer and not nd.indices[0].same_as(body.indices[0]):
                return None        # reads its own output at another lane: keep it scalar
            loads.append(nd)
    if not loads:
        return None
    zero = Const(0, v.dtype)
    temps, copies = [], []
    for k, ld in enumerate(loads):
        t = _temp(f"{ld.buffer.name}.v{k}", ld.dtype, n)
        temps.append(t)
        src = substitute(ld, {v: zero})
        copies.append(VectorCopy(BufferStore(t, src, (zero,)), n,
                                 _multiple_of(src.indices[0], n)))

    def to_temp(nd):
        if isinstance(nd, BufferLoad):
            for t, ld in zip(temps, loads):
                if nd.same_as(ld):
                    return BufferLoad(t, (v,), nd.dtype)
        return None
    out = _temp(f"{body.buffer.name}.v", body.buffer.dtype, n)
    compute = For(v, loop.min, loop.extent, "unrolled",
                  BufferStore(out, transform(body.value, to_temp), (v,)), loop.pragmas)
    dst = substitute(body.indices[0], {v: zero})
    store = VectorCopy(BufferStore(body.buffer, BufferLoad(out, (zero,), out.dtype), (dst,)), n,
                       _multiple_of(dst, n))
    stmt = seq(*copies, compute, store)
    for t in [out] + temps[::-1]:
        stmt = Allocate(t, stmt)
    return stmt


def _unit_stride(idx, v):
    lc = linear_coeff(idx, v)
    return lc is not None and lc[0] == 1


def _temp(name, dtype, n):
    from ..flatten import buffer_strides
    b = Buffer(name, dtype, (Const(n, "int32"),), scope="local")
    buffer_strides(b)
    return b


def _multiple_of(e, n):
    lin = to_linear(e)
    return lin.const % n == 0 and all(c % n == 0 for _, c in lin.terms.values())
