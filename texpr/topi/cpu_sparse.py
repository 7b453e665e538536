"""CPU schedules of the sparse ranking operators (texpr.topi.sparse computes them): ragged
pooling with software prefetch, batch_gather, sparse_dense (CSR and BSR) and dot_interaction.
Registered by op tag for the CPU targets, like cpu.py for the dense operators."""

from ..lang import dtypes
from ..lang.tensor import ComputeOp, compute
from ..lang.visitor import transform
from . import cpu_tuning as tuning
from .cpu import CpuInfo
from .schedules import CPU_TARGETS, register
from .sparse import EPILOGUE_TAG, POOL_TAG
from .util import cdiv, const_value

# prefetch distance of the pooling loop, in rows (indices): enough rows ahead that
# PREFETCH_LINES_IN_FLIGHT cache lines are on their way per core (a random row costs a full
# memory latency; the core keeps a bounded number of misses in flight). A row of B bytes that
# does not start on a line touches about B / 64 + 1 lines (NumPy's arrays start 16 bytes into
# one), so a 256-byte row (64 fp32) is fetched 16 rows ahead, a 64-byte one 40, a 1 KB one 5.
# Measured with benchmarks/sparse.py and interleaved A/B runs of the generated kernel
# (1M x 64 fp32 table, bags of 40; Zen 3, AVX2, thread CPU time of 61 rounds): 16 rows
# 3-4% faster than the earlier (20 rows, their first line 32 ahead) at 1 thread, the first
# line's own earlier prefetch no help (16 + 32: 4% slower than 16 alone; same with 4 KB pages),
# 8-24 rows within 2% of each other. On a Zen 5 with AVX-512 (20, 32) had been 5-15% faster
# than 24 alone at 2 threads: PREFETCH_FIRST_LINE_ROWS = 32 restores it.
PREFETCH_LINES_IN_FLIGHT = 80
PREFETCH_ROWS = None            # an int: this distance for every row size (None: from the lines)
PREFETCH_FIRST_LINE_ROWS = 0    # also the first line of each row this far ahead (0: not)
PREFETCH_ROWS_RANGE = (4, 64)


def prefetch_rows(row_bytes, line_bytes=64):
    """Rows ahead that keep PREFETCH_LINES_IN_FLIGHT lines in flight (PREFETCH_ROWS if set;
    row_bytes None, a symbolic row: as for a 256-byte row)."""
    if PREFETCH_ROWS is not None:
        return PREFETCH_ROWS
    b = row_bytes if row_bytes is not None else 256
    lines = cdiv(max(b - 4, 0), line_bytes) + 1
    lo, hi = PREFETCH_ROWS_RANGE
    return max(lo, min(hi, round(PREFETCH_LINES_IN_FLIGHT / lines)))


# sparse_dense prefetches the rows of X^T a few nonzeros ahead (they come from L2/L3 in an
# order no hardware prefetcher predicts): measured 3-4% (X [128, 2048], W 2048 x 2048 at 90%
# and 99% sparsity, AVX-512, 1 thread: 1.64 -> 1.59 ms, 0.404 -> 0.389 ms); 0 turns it off
SPARSE_DENSE_PREFETCH = 8

# embedding (a row copy per index) prefetches rows this many indices ahead (None: as far as
# the pooling ops, prefetch_rows of the row's size)
EMBEDDING_PREFETCH_ROWS = None


def read_through(s, stage, tensor, shape, fpack, fread, name, tag):
    """Make `stage` read `tensor` through a new stage `name` = compute(shape, fpack) (a copy
    in another layout); fread(*index of tensor) -> index of the copy. Returns the copy."""
    from ..lang.expr import TensorLoad
    packed = compute(shape, fpack, name=name, tag=tag)
    op = stage.op

    def fn(n):
        if isinstance(n, TensorLoad) and n.tensor.op is tensor.op:
            return TensorLoad(packed, tuple(fread(*n.indices)), n.dtype)
        return None
    body = [transform(b, fn) for b in op.bodies]
    new_op = ComputeOp(op.name, op.axis, body, op.tag, op.attrs)
    stage.op = new_op
    s.stage_map[new_op] = stage
    s._insert_stage(packed.op, stage)
    return packed


@register("exclusive_scan", CPU_TARGETS + ("*",))
@register("sparse_lengths_check", CPU_TARGETS + ("*",))
@register("dot_interaction_pairs", CPU_TARGETS + ("hvx",))
def _serial(s, st, target):
    """Small sequential stages (offsets, length checks, the pair table): left as they are. The
    pair table is not registered for every target ("*"): on a GPU its stage must be bound to
    threads, which the GPU targets' default schedule does."""
    return None


def packed_lanes(lanes, table, D):
    """Lanes of the pooled vectors over `table`: `lanes` (the target's), capped at the values
    one table element packs (a row-wise 4-bit table as uint32 words: 8 nibbles) where it packs
    at least 4. A vector of one word's values reads that word broadcast and shifts a nibble out
    per lane; a wider one (16 lanes on AVX-512) reads two words, which the vectorizer leaves
    to a lane loop: benchmarks/numerics.py's int4 table on Zen 4 (1 thread, CPU time) took
    7.4 ms on AVX-512 against the AVX2 kernel's 2.9, and 2.1 ms in 8 lanes."""
    cols = const_value(table.shape[-1]) if table is not None else None
    if D is None or not cols or D % cols:
        return lanes
    per = D // cols
    return per if 4 <= per < lanes else lanes


def _vector_rows(st, axis, lanes, unroll_max):
    """axis -> (outer, unrolled, vector): vectors of `lanes`, unrolled when few."""
    ext = const_value(st.extent_of(axis))
    vo, vi = st.split(axis, factor=lanes)
    st.vectorize(vi)
    if ext is not None and cdiv(ext, lanes) <= unroll_max:
        st.unroll(vo)
    return vo, vi


@register(POOL_TAG, CPU_TARGETS)
def schedule_pool(s, st, target, prefetch=None):
    """Bags in parallel; each bag sums into registers: D in chunks of at most `accumulators`
    vectors, the chunk unrolled, and for each index of the bag one pass over the chunk of its
    row (prefetched prefetch_rows() indices ahead: from the row's size, see
    PREFETCH_LINES_IN_FLIGHT; its first line PREFETCH_FIRST_LINE_ROWS ahead if set). The
    epilogue of sparse_lengths_mean (a scale per bag) is applied when the registers are
    stored. The chunk's vectors, the prefetch distance and the rows per iteration are tuning
    knobs (cpu_tuning.sparse_pool_params; without a record: these heuristics)."""
    cpu = CpuInfo(target)
    pooled = st.op.output(0)
    pool_attrs = st.op.attrs or {}
    table = pool_attrs.get("table")
    epi = None
    if not st.is_output:
        cons = s.consumers(st)
        if len(cons) == 1 and cons[0].op.tag == EPILOGUE_TAG and cons[0].is_output:
            epi = cons[0]
        else:
            st.parallel(st.op.axis[0])
            return None
    local = s.cache_write(pooled, "local")
    out = st if epi is None else epi
    if epi is not None:
        st.compute_inline()
    b, d = out.op.axis
    D = const_value(out.extent_of(d))
    lanes = packed_lanes(cpu.lanes_of(out.op.dtype), table, D)
    max_vecs = cpu.accumulators
    nvec = cdiv(D, lanes) if D is not None else max_vecs + 1
    chunk_vecs = cdiv(nvec, cdiv(nvec, max_vecs))      # equal chunks of at most max_vecs
    # a pass over the bag reads one chunk of each row: that is what each index prefetches
    row_bytes = min(D, chunk_vecs * lanes) * dtypes.bits(table.dtype) // 8 \
        if D is not None and table is not None else None
    dist = prefetch_rows(row_bytes) if prefetch is None else prefetch
    knobs = tuning.sparse_pool_params(pool_attrs, pooled, target, nvec,
                                      {"vectors": chunk_vecs, "prefetch": dist,
                                       "unroll_rows": 1})
    chunk_vecs, dist = knobs["vectors"], knobs["prefetch"]
    if nvec <= chunk_vecs:
        attach = b
        _vector_rows(out, d, lanes, chunk_vecs)
    else:
        attach, dr = out.split(d, factor=chunk_vecs * lanes)
        _vector_rows(out, dr, lanes, chunk_vecs)
    out.parallel(b)
    ls = s[local]
    ls.compute_at(out, attach)
    lb, ld = ls.op.axis
    (k,) = ls.op.reduce_axis
    lo, li = ls.split(ld, factor=lanes)
    ls.reorder(lb, k, lo, li)
    ls.vectorize(li)
    ls.unroll(lo)
    if knobs["unroll_rows"] > 1:        # rows of the bag per iteration (gcc unrolls)
        ls.pragma(k, "unroll", knobs["unroll_rows"])
    if dist:
        far = PREFETCH_FIRST_LINE_ROWS
        ls.pragma(k, "prefetch", (dist, far) if far > dist else dist)
    return [st] if epi is not None else None


@register(EPILOGUE_TAG, CPU_TARGETS)
def _scheduled_with_pool(s, st, target):
    return None


def _gather_rows(st, target, n_index_axes, prefetch):
    """A row gather out[i..., r...] = table[index(i...), r...]: the index axes fused and
    parallel; the rows (the other axes, fused) copied with vectors, each row prefetched
    `prefetch` rows ahead."""
    cpu = CpuInfo(target)
    axes = list(st.op.axis)
    idx = st.fuse(*axes[:n_index_axes]) if n_index_axes > 1 else axes[0]
    if len(axes) > n_index_axes:
        rest = axes[n_index_axes:]
        inner = st.fuse(*rest) if len(rest) > 1 else rest[0]
        if const_value(st.extent_of(inner)) is not None:
            _vector_rows(st, inner, cpu.lanes_of(st.op.dtype), 8)
        st.pragma(idx, "prefetch", prefetch)
    st.parallel(idx)
    return None


@register("batch_gather", CPU_TARGETS)
def schedule_batch_gather(s, st, target):
    """(b, m) fused and parallel; the rows copied with vectors (trailing dimensions), each
    row prefetched a few rows ahead."""
    return _gather_rows(st, target, 2, 8)


@register("embedding", CPU_TARGETS)
def schedule_embedding(s, st, target):
    """The indices' axes fused and parallel; each row of the table copied with vectors,
    prefetched as far ahead as the pooling's rows (prefetch_rows of the row's size)."""
    D = const_value(st.extent_of(st.op.axis[-1]))
    dist = EMBEDDING_PREFETCH_ROWS or \
        prefetch_rows(D * dtypes.bits(st.op.dtype) // 8 if D is not None else None)
    return _gather_rows(st, target, len(st.op.axis) - 1, dist)


@register("sparse_dense_t", CPU_TARGETS)
def _scheduled_with_sparse_dense(s, st, target):
    return None


@register("sparse_dense", CPU_TARGETS)
def schedule_sparse_dense(s, st, target):
    """Y = X W^T by rows of W, in blocks of nbt columns of Y (nbt = one vector) and mc rows:

    - X is read transposed (a copy xt[K, M] in 16 x 16 tiles), so that the row of X^T a
      nonzero selects is a run of contiguous vectors over m;
    - for each (block) row of W, the mc x bs_r outputs accumulate in registers over its
      nonzeros (each loaded vector of X^T used bs_r times), prefetched a few nonzeros ahead;
    - they are stored as rows of a small Y^T block [nbt, mc] (in L1), and the block is
      written to Y transposed: one vector of nbt consecutive columns per row of Y (writing
      Y's columns one by one would touch a cache line per element, 8x slower measured)."""
    cpu = CpuInfo(target)
    from ..lang.expr import TensorLoad
    from ..lang.visitor import walk
    yt = next(n.tensor for n in walk(st.op.bodies[0]) if isinstance(n, TensorLoad))
    yts = s[yt]
    attrs = yts.op.attrs
    bs_r, x = attrs["bs_r"], attrs["x"]
    M, K = x.shape
    xt = read_through(s, yts, x, (K, M), lambda k, m: x[m, k], lambda m, k: (k, m),
                      name=x.name + "_t", tag="sparse_dense_xt")
    xs = s[xt]
    xk, xm = xs.op.axis
    ko, mo_, ki, mi_ = xs.tile(xk, xm, 16, 16)     # 16 x 16 tiles: no cache-set thrashing
    xs.parallel(ko)
    local = s.cache_write(yt, "local")
    lanes = cpu.lanes_of(st.op.dtype)
    Mc = const_value(M)
    nvec_budget = max(1, cpu.accumulators // bs_r)
    nvec = cdiv(Mc, lanes) if Mc is not None else nvec_budget
    mc = lanes * cdiv(nvec, cdiv(nvec, nvec_budget))     # equal blocks of <= budget vectors
    nbt = lanes if lanes % bs_r == 0 else bs_r
    # Y: (m block, n block) in parallel; inside, rows of Y, each a vector of nbt columns
    m, n = st.op.axis
    mo, mi = st.split(m, factor=mc)
    no, ni = st.split(n, factor=nbt)
    st.reorder(mo, no, mi, ni)
    par = st.fuse(mo, no)
    st.parallel(par)
    st.vectorize(ni)
    # the Y^T block [nbt / bs_r, bs_r, mc] at that block, row by row from the registers
    yts.compute_at(st, par)
    ynb, yr, ym = yts.op.axis
    ymo, ymi = yts.split(ym, factor=lanes)
    yts.vectorize(ymi)
    yts.unroll(ymo)
    yts.unroll(yr)
    # the registers: one (block) row of W x mc rows of X, over its nonzeros
    ls = s[local]
    ls.compute_at(yts, ynb)
    lnb, lr, lm = ls.op.axis
    red = list(ls.op.reduce_axis)
    lmo, lmi = ls.split(lm, factor=lanes)
    # the reduction's bounds read the block row: that axis stays outside the reduction
    ls.reorder(*([lnb] + red + [lr, lmo, lmi]))
    ls.vectorize(lmi)
    ls.unroll(lmo)
    ls.unroll(lr)
    if SPARSE_DENSE_PREFETCH:
        ls.pragma(red[0], "prefetch", SPARSE_DENSE_PREFETCH)
    return None


@register("dot_interaction_features", CPU_TARGETS)
@register("dot_interaction_gram", CPU_TARGETS)
def _scheduled_with_interaction(s, st, target):
    return None


@register("dot_interaction", CPU_TARGETS)
def schedule_dot_interaction(s, st, target):
    """Per sample (in parallel): the F+1 feature rows T and their transpose Tt in L1, the
    Gram matrix Z = T T^T by register tiles of 4 rows x vectors of columns (a row of T
    broadcast against rows of Tt), then the triangle read from Z through the pair table."""
    from ..lang.expr import TensorLoad
    from ..lang.visitor import walk
    cpu = CpuInfo(target)
    lanes = cpu.lanes_of(st.op.dtype)
    Z = next(n.tensor for n in walk(st.op.bodies[0]) if isinstance(n, TensorLoad)
             and n.tensor.op.tag == "dot_interaction_gram")
    zs = s[Z]
    T = next(n.tensor for n in walk(zs.op.bodies[0]) if isinstance(n, TensorLoad))
    B, F1, D = T.shape
    # Z reads its columns' rows of T through a transposed copy Tt[b, d, j]
    zb, zi, zj = zs.op.axis
    Tt = compute((B, D, F1), lambda b, d, j: T[b, j, d], name=T.name + "_t",
                 tag="dot_interaction_features")
    op = zs.op

    def fn(n):
        if isinstance(n, TensorLoad) and n.tensor.op is T.op and n.indices[1] is zj.var:
            return TensorLoad(Tt, (n.indices[0], n.indices[2], n.indices[1]), n.dtype)
        return None
    new_op = ComputeOp(op.name, op.axis, [transform(b, fn) for b in op.bodies], op.tag, op.attrs)
    zs.op = new_op
    s.stage_map[new_op] = zs
    s._insert_stage(Tt.op, zs)
    zl = s.cache_write(Z, "local")
    b, p = st.op.axis
    st.parallel(b)
    zs.compute_at(st, b)
    zb, zi, zj = zs.op.axis
    rows = 4
    zio, zii = zs.split(zi, factor=rows)
    zjo, zji = zs.split(zj, factor=lanes)
    zs.reorder(zb, zio, zii, zjo, zji)
    zs.unroll(zii)
    zs.unroll(zjo)
    zs.vectorize(zji)
    ls = s[zl]
    ls.compute_at(zs, zio)
    lb, li, lj = ls.op.axis
    (d,) = ls.op.reduce_axis
    ljo, lji = ls.split(lj, factor=lanes)
    ls.reorder(lb, d, li, ljo, lji)
    ls.unroll(li)
    ls.unroll(ljo)
    ls.vectorize(lji)
    for t in (Tt, T):          # consumers first: Tt reads T
        ts = s[t]
        ts.compute_at(st, b)
        inner = ts.op.axis[2]
        if const_value(ts.extent_of(inner)) is not None:
            ts.vectorize(ts.split(inner, factor=lanes)[1])
    return None
