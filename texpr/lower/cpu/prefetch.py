"""Software prefetch for loops marked `pragma(axis, "prefetch", p)`.

A gather such as `data[indices[off[b] + k], d]` reads rows the hardware prefetchers cannot
predict: each one costs a full memory latency unless it was asked for earlier. For a loop
marked prefetch with distance p, this pass puts at the top of the loop body a prefetch of the
addresses the body's data-dependent loads will read p iterations later:

    for (k, 0, off[b + 1] - off[b]) {                    // pragma(prefetch=p)
      if (uint32(off[b] + k + p) < uint32(L) && uint32(indices[off[b] + k + p]) < uint32(V)) {
        prefetch data[int64(indices[off[b] + k + p]) * 64]        // one per cache line
        prefetch data[int64(indices[off[b] + k + p]) * 64 + 16]   // of the row, and the
        ...                                                       // line of its last element
      }
      sum += data[checked(indices[checked(off[b] + k, L)], V) * 64 + d]
    }

- Which loads: those whose index holds a CheckedIndex (an index read from data) and moves
  with the loop variable, but not linearly (w_data[off[b] + k] is a stream the hardware
  prefetches); of a chain (the index array, then the row) only the outermost load.
- Safety: every index array read to compute an address ahead is guarded by its bounds (one
  unsigned compare each; C's && evaluates them left to right, inner reads first), and the
  row index by the extent it indexes, so nothing is read out of bounds and the first
  prefetched address of a row lies inside the tensor (a prefetch never faults: the last line
  of a row rounded up to whole vectors may lie past it, which is harmless). The prefetch
  records no error: a bad index is reported by the real load when, and only if, it runs.
- The guard is the bounds of the index array, not `k + p < extent` of this loop: near the end
  of one bag the prefetch already fetches the first rows of the next bag (measured better
  than stopping at the bag's end when bags are short: 40 indices, distance 16-24).
- Extent: the span of the address over the loops inside the body (a row of D elements) is
  prefetched line by line plus the line of its last element (NumPy's arrays start 16 bytes
  into a line, so a row of 4 lines touches 5: measured 1.4x slower without it), at most
  MAX_LINES lines; a span that is not constant gets its first line only.
- The row index is widened to 64 bits in the address (as hoist_checks does for the loads), so
  the compiler folds the arithmetic into the prefetch's addressing.

- Two distances, `pragma(k, "prefetch", (p, q))` with p < q: the rows are fetched line by line
  p iterations ahead as above, and the first line of each row already q iterations ahead
  (its own guarded block). SLS 1M x 64 at 2 threads, this machine: (20, 32) 5-15% faster
  than 24 alone in interleaved A/B runs, 1 thread within -4..+5%; the same with the table in
  2 MB pages, so it is not only the TLB: the first line's request starts earlier (and, with
  4 KB pages, its address translation), and the row's other lines then follow it.

It runs on the flattened loop program before tail partitioning and vectorization, where the
loops inside the marked one still show how far a row extends. Loops with no data-dependent
load are left unchanged (regular strides are what hardware prefetchers do well).

`pragma(k, "prefetch_next", n)` (the row operators, topi/cpu_rows.py): each iteration of k
prefetches the lines that its streams read n elements further on, where a stream is a load
of a global buffer that moves linearly with k and also with a loop outside it (a row of the
data, x[row * n + k * 16 + lane], not a parameter read the same for every row, gamma[k * 16 +
lane]). With n the row's size that is the next row: a pass that reads the row again from
cache, and computes (softmax's exp), fetches the next one meanwhile, so that the memory is
not idle while it computes and the next row's first pass does not wait for it (softmax
1024 x 4096, Zen 4: 11% faster). One prefetch per line of the body's span (a line whose
iterations read less than a line is fetched by each of them: harmless); no guard: a prefetch
past the tensor's end (the last row's) never faults.
"""
from ...lang import dtypes
from ...errors import LoweringError
from ...lang.expr import BinOp, Cast, Cmp, Const
from ...lang.visitor import StmtMutator, free_vars, map_children, substitute, transform, walk
from ..analysis.arith import interval, linear_coeff, simplify
from ...lang.ir import BufferLoad, CheckedIndex, For, IfThenElse, Prefetch, Stmt, seq

LINE_BYTES = 64
MAX_LINES = 16
LOCALITY = 3            # __builtin_prefetch's temporal locality: 3 = keep in all cache levels
ROW_END = True          # also fetch the line of a row's last element (rows not line-aligned)


def inject_prefetch(stmt, line_bytes=None, max_lines=None, locality=None):
    """Add prefetches to every loop with a ("prefetch", p) pragma (p > 0)."""
    line_bytes = line_bytes or LINE_BYTES
    max_lines = max_lines or MAX_LINES
    locality = LOCALITY if locality is None else locality

    return _InjectPrefetch(line_bytes, max_lines, locality).visit(stmt)


class _InjectPrefetch(StmtMutator):
    def __init__(self, line_bytes, max_lines, locality):
        self.line_bytes, self.max_lines, self.locality = line_bytes, max_lines, locality

    def visit_For(self, s):
        s = self.generic_visit(s)
        p, q = _distance(s)
        if p:
            s = _prefetch_loop(s, p, q, self.line_bytes, self.max_lines, self.locality)
        n = _next_offset(s)
        if n:
            s = _prefetch_next(s, n, self.line_bytes, self.locality)
        return s


def _distance(f):
    """(p, q) of the loop's prefetch pragma: whole rows p iterations ahead, and their first
    line q iterations ahead (q = 0: none); (0, 0) when the loop has no prefetch pragma."""
    vals = [v for k, v in f.pragmas if k == "prefetch"]
    if not vals:
        return 0, 0
    p = vals[-1]
    if p is None:
        return 8, 0
    if f.kind == "vectorized":
        raise LoweringError(f"loop {f.var.name} is vectorized: prefetch applies to a loop whose "
                            "iterations run one after another (mark the loop that walks the "
                            "index array)")
    if isinstance(p, tuple):
        return int(p[0]), int(p[1])
    return int(p), 0


def _next_offset(f):
    """n of the loop's prefetch_next pragma (0: none)."""
    vals = [v for k, v in f.pragmas if k == "prefetch_next"]
    if vals and f.kind == "vectorized":
        raise LoweringError(f"loop {f.var.name} is vectorized: prefetch_next applies to a loop "
                            "whose iterations run one after another")
    return int(vals[-1]) if vals else 0


def _prefetch_next(f, n, line_bytes, locality):
    """Prefetches, at the top of f's body, of its streams' lines n elements ahead."""
    k = f.var
    relax = {x.var: (x.min, simplify(x.min + x.extent - 1)) for x in walk(f.body)
             if isinstance(x, For)}
    lows = {v: r[0] for v, r in relax.items()}
    inner = set(relax) | {k}
    fetches, seen = [], []
    for ld in walk(f.body):
        if not isinstance(ld, BufferLoad) or ld.buffer.scope != "global":
            continue
        idx = ld.indices[0]
        used = free_vars(idx)
        if k not in used or not used - inner or \
                any(isinstance(x, (CheckedIndex, BufferLoad)) for x in walk(idx)) or \
                linear_coeff(simplify(idx), k) is None:
            continue
        base = simplify(substitute(idx, lows) + n)
        if any(base.same_as(b) and ld.buffer is buf for buf, b in seen):
            continue
        seen.append((ld.buffer, base))
        per_line = max(1, line_bytes // max(1, dtypes.bits(ld.buffer.dtype) // 8))
        r = interval(idx, relax) if relax else (idx, idx)
        span = simplify(r[1] - r[0]) if r is not None else None
        count = span.value + 1 if isinstance(span, Const) and span.value >= 0 else 1
        for off in range(0, count, per_line):
            fetches.append(Prefetch(ld.buffer, simplify(base + off) if off else base, locality))
    if not fetches:
        return f
    return For(f.var, f.min, f.extent, f.kind, seq(*fetches, f.body), f.pragmas)


def _prefetch_loop(f, p, q, line_bytes, max_lines, locality):
    k = f.var
    relax = {}
    for n in walk(f.body):
        if isinstance(n, For):
            relax[n.var] = (n.min, simplify(n.min + n.extent - 1))
    loads = _targets(f.body, k)
    if not loads:
        return f
    pre = [_fetch_ahead(loads, k, p, relax, line_bytes, max_lines, locality)]
    if q:
        pre.insert(0, _fetch_ahead(loads, k, q, relax, line_bytes, 1, locality))
    return For(f.var, f.min, f.extent, f.kind, seq(*pre, f.body), f.pragmas)


def _fetch_ahead(loads, k, p, relax, line_bytes, max_lines, locality):
    """Guarded prefetches of the first max_lines lines of what `loads` read p iterations of
    k later."""
    guards, fetches, seen = [], [], []
    ahead = {k: k + p}
    lows = {v: r[0] for v, r in relax.items()}
    for ld in loads:
        addr = substitute(ld.indices[0], ahead)
        # the first element the body reads (loops inside at their start), checked and
        # guarded; the span over the loops inside gives how many lines follow it
        base = simplify(_unchecked(substitute(addr, lows), k, guards))
        full = _unchecked(addr, k, [])
        if any(base.same_as(b) and ld.buffer is buf for buf, b in seen):
            continue
        seen.append((ld.buffer, base))
        offsets = [0] if max_lines == 1 else \
            _line_offsets(full, base, relax, ld.buffer.dtype, line_bytes, max_lines)
        for off in offsets:
            idx = base if isinstance(off, int) else simplify(base + off)
            fetches.append(Prefetch(ld.buffer, idx, locality))
    cond = None
    for g in guards:
        cond = g if cond is None else BinOp("&&", cond, g, "bool")
    return IfThenElse(cond, seq(*fetches)) if cond is not None else seq(*fetches)


def _targets(body, k):
    """Outermost loads whose index was read from data and moves with k."""
    cands = []
    for n in walk(body):
        if isinstance(n, BufferLoad) and n.buffer.scope == "global" and \
                any(isinstance(x, CheckedIndex) for x in walk(n.indices[0])) and \
                k in free_vars(n.indices[0]):
            cands.append(n)
    inner = set()
    for n in cands:
        for x in walk(n.indices[0]):
            if isinstance(x, BufferLoad):
                inner.add(id(x))
    out = []
    for n in cands:
        if id(n) in inner or any(n.same_as(o) for o in out):
            continue
        if linear_coeff(simplify(_unchecked(n.indices[0], k, [])), k) is not None:
            continue      # moves linearly with k (w_data[offsets[b] + k]): a stream
        out.append(n)
    return out


def _unchecked(addr, k, guards):
    """addr with its CheckedIndex nodes replaced by their values; their bounds, and those of
    any buffer it reads at a position that moves with k, are appended to guards (inner
    first, so that && evaluates them before the reads they protect)."""
    def fn(n):
        if isinstance(n, CheckedIndex):
            _add(guards, _in_range(n.value, n.extent))
            # an index read from data is widened: the address arithmetic on it is done at
            # pointer width (as the loads' after hoist_checks), folded into the addressing
            if isinstance(n.value, BufferLoad) and dtypes.bits(n.value.dtype) < 64:
                return Cast(n.value, "int64")
            return n.value
        if isinstance(n, BufferLoad) and k in free_vars(n.indices[0]):
            size = getattr(n.buffer, "size", None)
            if size is not None:
                _add(guards, _in_range(n.indices[0], size))
        return None
    return transform(addr, fn)


def _in_range(v, n):
    """0 <= v < n as one unsigned comparison (a negative v wraps to a huge value)."""
    v = simplify(v)
    dt = v.dtype if dtypes.bits(v.dtype) >= dtypes.bits(n.dtype) else n.dtype
    udt = "uint64" if dtypes.bits(dt) > 32 else "uint32"
    c = simplify(Cmp("<", Cast(v, udt), Cast(n, udt)))
    return [] if isinstance(c, Const) and c.value else [c]


def _add(guards, terms):
    for t in terms:
        if not any(t.same_as(g) for g in guards):
            guards.append(t)


def _line_offsets(addr, base, relax, dtype, line_bytes, max_lines):
    """Element offsets from base of one address per cache line the access spans (addr: the
    address with the loops inside the body free, base: at their start)."""
    esize = max(1, dtypes.bits(dtype) // 8)
    r = interval(addr, relax) if relax else (addr, addr)
    span = simplify(r[1] - r[0]) if r is not None else None
    if not isinstance(span, Const) or span.value <= 0:
        return [0]
    per_line = max(1, line_bytes // esize)
    last = span.value
    offs = list(range(0, last + 1, per_line))
    if len(offs) > max_lines:
        offs = offs[:max_lines]
    elif offs[-1] != last and ROW_END:
        offs.append(last)     # a row that does not start on a line boundary touches one more
    return [Const(o, base.dtype) if o else 0 for o in offs]
