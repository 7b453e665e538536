"""Streaming (non-temporal) stores for loops marked `pragma(j, "stream_stores", lanes)`.

A row written once and not read again soon (an output far larger than the caches) costs
twice its size in memory traffic with ordinary stores: each line is read before it is
written (the read for ownership). A non-temporal store writes a whole line without reading
it, but only at an aligned address (x86: vmovntps of 32 / 64 bytes), and a NumPy row rarely
starts on one (its arrays start 16 bytes into a line). So the marked loop, `for j in [0, L)`
over one row (scalar, its body storing out[base + j]), becomes three:

    head = min(line_gap(&out[base], 64), L)    // elements before the first line boundary
    for (j, 0, head)                  body(j)                        // ordinary stores
    for (m, 0, (L - head) / lanes)    pragma(stream_stores)          // whole aligned vectors
      for vectorized (v, 0, lanes)    body(head + m * lanes + v)
    for (t, 0, (L - head) % lanes)    body(head + (L - head) / lanes * lanes + t)

The emitter (CEmitter.STREAM: AVX2, AVX-512) writes the vector stores of global buffers in a
stream_stores loop as non-temporal stores and ends the loop with a store fence; elsewhere
they are ordinary stores. Only whole lines inside the row are streamed (its partial first
and last lines are written by the scalar loops), so no line another thread writes is
touched. A loop whose body stores elsewhere than out[base + j], or holds loops, is left as
it is (its pragma dropped).

It runs on the flattened program before tail partitioning and vectorization (which then
vectorize the middle loop); topi/cpu_rows.py marks the output loop of a row operator whose
data and output exceed the L3.
"""
from ...lang.expr import Const, Var, elementwise_min as te_min
from ...lang.ir import BufferStore, For, LineGap, seq
from ...lang.visitor import StmtMutator, substitute, walk
from ..analysis.arith import linear_coeff, simplify

LINE_BYTES = 64


def split_stream_loops(stmt, line_bytes=LINE_BYTES):
    """Split every loop with a ("stream_stores", lanes) pragma as the module says."""
    return _Stream(line_bytes).visit(stmt)


class _Stream(StmtMutator):
    def __init__(self, line_bytes):
        self.line_bytes = line_bytes

    def visit_For(self, s):
        s = self.generic_visit(s)
        lanes = [v for k, v in s.pragmas if k == "stream_stores"]
        if not lanes:
            return s
        rest = tuple(p for p in s.pragmas if p[0] != "stream_stores")
        plain = For(s.var, s.min, s.extent, s.kind, s.body, rest)
        return _split(plain, int(lanes[-1]), self.line_bytes) or plain


def _split(f, lanes, line_bytes):
    j = f.var
    if f.kind != "serial" or not (isinstance(f.min, Const) and f.min.value == 0) or \
            any(isinstance(n, For) for n in walk(f.body)):
        return None
    stores = [n for n in walk(f.body) if isinstance(n, BufferStore)]
    out = {id(st.buffer): st.buffer for st in stores if st.buffer.scope == "global"}
    if len(out) != 1:
        return None
    (buf,) = out.values()
    bases = []
    for st in stores:
        if st.buffer is not buf:
            continue
        idx = simplify(st.indices[0])
        lin = linear_coeff(idx, j)
        if lin is None or lin[0] != 1:
            return None
        bases.append(simplify(substitute(idx, {j: Const(0, j.dtype)})))
    if any(not b.same_as(bases[0]) for b in bases[1:]):
        return None
    L = f.extent
    dt = j.dtype
    head = te_min(LineGap(buf, bases[0], line_bytes), L)
    left = simplify(L - head)
    count = simplify(left // lanes)
    m, v, t = Var(j.name + ".stream", dt), Var(j.name + ".lane", dt), Var(j.name + ".tail", dt)
    at = simplify(head + m * lanes)
    main = For(m, Const(0, dt), count, "serial",
               For(v, Const(0, dt), Const(lanes, dt), "vectorized",
                   substitute(f.body, {j: at + v})), f.pragmas + (("stream_stores", lanes),))
    tail = For(t, Const(0, dt), simplify(left % lanes), "serial",
               substitute(f.body, {j: simplify(head + count * lanes) + t}), f.pragmas)
    return seq(For(j, Const(0, dt), head, "serial", f.body, f.pragmas), main, tail)
