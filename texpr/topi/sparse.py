"""Sparse and ranking operators of recommendation models, written in texpr's own language.

Every operator is a compute definition: indices read from data (`data[indices[k], d]`),
ragged reductions whose bounds are offsets (`k` over `[offsets[b], offsets[b + 1])`, the
offsets an exclusive scan of the lengths), nothing opaque. The lowering checks each index
read from data against the tensor it indexes before it is used (a bad one raises TexprError
naming the tensor, the position and the value; nothing is read or written out of bounds),
and lengths are checked as part of the computation: each must lie in [0, L] (L = number of
indices) and together they must not overrun the index array.

    topi.sparse.sparse_lengths_sum(data[V, D], indices[L], lengths[B])             -> [B, D]
    topi.sparse.sparse_lengths_weighted_sum(data, weights[L], indices[L], lengths[B])
    topi.sparse.sparse_lengths_mean(data, indices, lengths)        (empty bag -> 0)
    topi.sparse.sparse_lengths_sum_8bit_rowwise(data_q[V, D] uint8/int8, scale[V], bias[V],
                                                indices, lengths)   (dequantised while pooling)
    topi.sparse.batch_gather(data[B, N, ...], indices[B, M])                        -> [B, M, ...]
    topi.sparse.sparse_dense(x[M, K], w_data, w_indices, w_indptr)                  -> [M, N]
        Y = X W^T with W [N, K] sparse (TVM's convention): CSR (w_data [nnz]) or BSR
        (w_data [nnz_blocks, bs_r, bs_c], w_indices = block columns, w_indptr = block rows)
    topi.sparse.dot_interaction(dense[B, D], embs[B, F, D], self_interaction=False) -> [B, P]
        the pairwise dot products of the F + 1 vectors [dense, embs[0], ..., embs[F - 1]] of
        each sample, in DLRM's order: for i in 0..F, for j in 0..i-1 (..i with
        self_interaction): dot(T_i, T_j). P = F (F + 1) / 2 (+ F + 1 with the diagonal).

The schedules for native/avx2, avx512, neon (and c) are registered below and picked by
`topi.schedule(outs, target)`: pooling runs bags in parallel, vectorizes the embedding
dimension (tails masked on AVX-512, scalar elsewhere), keeps the bag's sum in registers
(D split in chunks that fit the register file), unrolls the chunk, and prefetches the rows
of the bags PREFETCH_ROWS indices ahead, their first lines PREFETCH_FIRST_LINE_ROWS ahead
(pragma "prefetch", lower/prefetch.py).
"""
from ..lang import dtypes
from ..errors import TexprError
from ..lang.expr import Const, elementwise_max, elementwise_min, if_then_else
from ..lang.reduction import sum as te_sum
from ..lang.tensor import ComputeOp, compute, exclusive_scan, reduce_axis
from ..lang.visitor import transform
from .schedules import register

CPU_TARGETS = ("native", "avx2", "avx512", "neon", "c")

# prefetch distances of the pooling loop, in indices (rows), tuned with benchmarks/sparse.py
# (1M x 64 fp32 table, bags of 40, AVX-512): whole rows PREFETCH_ROWS ahead (1 thread,
# one distance: 8: 0.98 ms, 16: 0.81, 24: 0.74, 32: 0.77), and the first line of each row
# already PREFETCH_FIRST_LINE_ROWS ahead (0: not). In interleaved A/B runs of the kernel,
# (20, 32) was 5-15% faster than 24 alone with 2 threads and within -4..+5% with 1;
# (16, 32) and (24, 40) a little slower, (8, 24) fast with 2 threads but 20% slower with 1.
PREFETCH_ROWS = 20
PREFETCH_FIRST_LINE_ROWS = 32

# sparse_dense prefetches the rows of X^T a few nonzeros ahead (they come from L2/L3 in an
# order no hardware prefetcher predicts): measured 3-4% (X [128, 2048], W 2048 x 2048 at 90%
# and 99% sparsity, AVX-512, 1 thread: 1.64 -> 1.59 ms, 0.404 -> 0.389 ms); 0 turns it off
SPARSE_DENSE_PREFETCH = 8

POOL_TAG = "sparse_pool"          # the ragged reduction of every pooling op
EPILOGUE_TAG = "sparse_pool_out"  # elementwise output after the pooling (mean)


# ----------------------------------------------------------------------------- checks

def _check(cond, msg):
    if not cond:
        raise TexprError(msg)


def _shape(t):
    return "[" + ", ".join(str(d) for d in t.shape) + "]"


def _ndim(t, n, what, layout):
    _check(len(t.shape) == n, f"{what}: {t.name} must be {n}-D ({layout}), got shape "
                              f"{_shape(t)}")


def _int_tensor(t, what):
    _check(dtypes.is_int(t.dtype) and t.dtype != "bool",
           f"{what}: {t.name} must hold integers, got dtype {t.dtype}")


def _same_extent(a, b):
    return not (isinstance(a, Const) and isinstance(b, Const) and a.value != b.value)


# ----------------------------------------------------------------------------- bags

def bag_offsets(indices, lengths, name="lengths"):
    """offsets[B + 1] of the bags: the exclusive scan of lengths, each length checked to lie
    in [0, L] on the way (the check is the language's own: the length indexes a range of
    extent L + 1, so a negative or too long one raises naming lengths[b] and its value).
    Lengths that are valid one by one but together overrun the indices are caught where the
    indices are read (position checked against L)."""
    L = indices.shape[0]
    # inlined (elemwise): only the check of lengths[b] against L + 1 remains
    valid = compute((L + 1,), lambda n: n, name=f"{name}_in_0_to_L", tag="elemwise")
    checked = compute(lengths.shape, lambda b: valid[lengths[b]], name=f"{name}_checked",
                      tag="sparse_lengths_check")
    return exclusive_scan(checked, dtype="int32", name="offsets")


def _pooling_inputs(what, data, indices, lengths):
    _ndim(data, 2, what, "[V, D]")
    _ndim(indices, 1, what, "[L]")
    _ndim(lengths, 1, what, "[B]")
    _int_tensor(indices, what)
    _int_tensor(lengths, what)


def _pool(what, data, indices, lengths, row, out_dtype, name):
    """out[b, d] = sum over k in bag b of row(r = indices[k], k, d)."""
    off = bag_offsets(indices, lengths)

    def bag(b, d):
        k = reduce_axis((off[b], off[b + 1]), name="k")
        return te_sum(row(indices[k], k, d), axis=k)
    return compute((lengths.shape[0], data.shape[1]), bag, name=name, tag=POOL_TAG,
                   attrs={"op": what})


def _acc_dtype(dt):
    return dt if dtypes.is_float(dt) else "float32"


def sparse_lengths_sum(data, indices, lengths, name="sparse_lengths_sum"):
    """out[b, :] = sum of data[indices[k], :] over the k of bag b (bags of `lengths`)."""
    what = "sparse_lengths_sum"
    _pooling_inputs(what, data, indices, lengths)
    _check(dtypes.is_float(data.dtype), f"{what}: data must be floating point, got {data.dtype}")
    return _pool(what, data, indices, lengths, lambda r, k, d: data[r, d], data.dtype, name)


def sparse_lengths_weighted_sum(data, weights, indices, lengths,
                                name="sparse_lengths_weighted_sum"):
    """out[b, :] = sum of weights[k] * data[indices[k], :] over the k of bag b."""
    what = "sparse_lengths_weighted_sum"
    _pooling_inputs(what, data, indices, lengths)
    _ndim(weights, 1, what, "[L]")
    _check(_same_extent(weights.shape[0], indices.shape[0]),
           f"{what}: weights has {weights.shape[0]} entries but indices has {indices.shape[0]}")
    _check(dtypes.is_float(data.dtype) and dtypes.is_float(weights.dtype),
           f"{what}: data and weights must be floating point, got {data.dtype}, {weights.dtype}")
    dt = dtypes.promote(data.dtype, weights.dtype)
    return _pool(what, data, indices, lengths,
                 lambda r, k, d: data[r, d].astype(dt) * weights[k].astype(dt), dt, name)


def sparse_lengths_mean(data, indices, lengths, name="sparse_lengths_mean"):
    """out[b, :] = mean of data[indices[k], :] over bag b (0 for an empty bag)."""
    what = "sparse_lengths_mean"
    _pooling_inputs(what, data, indices, lengths)
    _check(dtypes.is_float(data.dtype), f"{what}: data must be floating point, got {data.dtype}")
    s = _pool(what, data, indices, lengths, lambda r, k, d: data[r, d], data.dtype, name + "_sum")
    dt = data.dtype

    def mean(b, d):
        n = elementwise_max(lengths[b], 1)     # lengths are checked >= 0 by the pooling
        return s[b, d] * (Const(1.0, dt) / n.astype(dt))
    return compute(s.shape, mean, name=name, tag=EPILOGUE_TAG)


def sparse_lengths_sum_8bit_rowwise(data_q, scale, bias, indices, lengths,
                                    name="sparse_lengths_sum_8bit_rowwise"):
    """Row-wise quantised table: row r is scale[r] * data_q[r, :] + bias[r] (data_q uint8 or
    int8, scale and bias fp32); out[b, :] = sum of the dequantised rows of bag b (fp32)."""
    what = "sparse_lengths_sum_8bit_rowwise"
    _pooling_inputs(what, data_q, indices, lengths)
    _check(data_q.dtype in ("uint8", "int8"),
           f"{what}: data_q must be uint8 or int8, got {data_q.dtype}")
    for t in (scale, bias):
        _ndim(t, 1, what, "[V]")
        _check(_same_extent(t.shape[0], data_q.shape[0]),
               f"{what}: {t.name} has {t.shape[0]} entries but data_q has {data_q.shape[0]} rows")
        _check(dtypes.is_float(t.dtype), f"{what}: {t.name} must be floating point")
    dt = "float32"
    return _pool(what, data_q, indices, lengths,
                 lambda r, k, d: data_q[r, d].astype(dt) * scale[r].astype(dt) + bias[r].astype(dt),
                 dt, name)


# ----------------------------------------------------------------------------- gather

def batch_gather(data, indices, name="batch_gather"):
    """out[b, m, ...] = data[b, indices[b, m], ...] (each index checked against N)."""
    what = "batch_gather"
    _check(len(data.shape) >= 2, f"{what}: data must be [B, N, ...], got shape {_shape(data)}")
    _ndim(indices, 2, what, "[B, M]")
    _int_tensor(indices, what)
    _check(_same_extent(data.shape[0], indices.shape[0]),
           f"{what}: data has batch {data.shape[0]} but indices has {indices.shape[0]}")
    shape = (data.shape[0], indices.shape[1]) + tuple(data.shape[2:])

    def f(b, m, *rest):
        return data[(b, indices[b, m]) + tuple(rest)]
    return compute(shape, f, name=name, tag="batch_gather")


# ----------------------------------------------------------------------------- sparse_dense

def sparse_dense(x, w_data, w_indices, w_indptr, name="sparse_dense"):
    """Y[M, N] = X[M, K] @ W[N, K]^T with W sparse, as in TVM: CSR when w_data is 1-D
    (row n of W holds w_data[j] at column w_indices[j] for j in [w_indptr[n], w_indptr[n+1])),
    BSR when w_data is [nnz_blocks, bs_r, bs_c] (block row nb holds the blocks j in
    [w_indptr[nb], w_indptr[nb+1]), block j at block column w_indices[j])."""
    what = "sparse_dense"
    _ndim(x, 2, what, "[M, K]")
    _ndim(w_indices, 1, what, "[nnz]")
    _ndim(w_indptr, 1, what, "[N + 1]")
    _int_tensor(w_indices, what)
    _int_tensor(w_indptr, what)
    _check(dtypes.is_float(x.dtype) and dtypes.is_float(w_data.dtype),
           f"{what}: x and w_data must be floating point, got {x.dtype}, {w_data.dtype}")
    dt = dtypes.promote(x.dtype, w_data.dtype)
    M = x.shape[0]
    rows = w_indptr.shape[0] - 1
    # Y^T = W X^T first (a row of W's nonzeros against rows of X^T, which is how a sparse
    # row is used), then Y = (Y^T)^T: the transposition is its own stage, so a schedule can
    # do it block by block in cache
    if len(w_data.shape) == 1:
        _check(_same_extent(w_data.shape[0], w_indices.shape[0]),
               f"{what}: w_data has {w_data.shape[0]} entries but w_indices has "
               f"{w_indices.shape[0]}")
        bs_r, bs_c = 1, 1

        def csr(n, r, m):
            j = reduce_axis((w_indptr[n], w_indptr[n + 1]), name="j")
            return te_sum(x[m, w_indices[j]].astype(dt) * w_data[j].astype(dt), axis=j)
        body = csr
        fmt = "csr"
    else:
        _check(len(w_data.shape) == 3, f"{what}: w_data must be [nnz] (CSR) or "
                                       f"[nnz_blocks, bs_r, bs_c] (BSR), got {_shape(w_data)}")
        bs_r, bs_c = w_data.shape[1], w_data.shape[2]
        _check(isinstance(bs_r, Const) and isinstance(bs_c, Const),
               f"{what}: the block size of w_data must be constant, got {bs_r} x {bs_c}")
        bs_r, bs_c = bs_r.value, bs_c.value
        _check(_same_extent(w_data.shape[0], w_indices.shape[0]),
               f"{what}: w_data has {w_data.shape[0]} blocks but w_indices has "
               f"{w_indices.shape[0]}")
        K = x.shape[1]
        _check(not isinstance(K, Const) or K.value % bs_c == 0,
               f"{what}: K = {K} of x is not a multiple of the block width bs_c = {bs_c}")

        # block row nb, row r of the block: the bounds of j read w_indptr at nb, an axis
        # of its own (not n // bs_r)
        def bsr(nb, r, m):
            j = reduce_axis((w_indptr[nb], w_indptr[nb + 1]), name="j")
            c = reduce_axis((0, bs_c), name="c")
            return te_sum(x[m, w_indices[j] * bs_c + c].astype(dt) * w_data[j, r, c].astype(dt),
                          axis=[j, c])
        body = bsr
        fmt = "bsr"
    attrs = {"format": fmt, "bs_r": bs_r, "bs_c": bs_c, "x": x}
    yt = compute((rows, bs_r, M), body, name=name + "_t", tag="sparse_dense_t", attrs=attrs)
    return compute((M, rows * bs_r), lambda m, n: yt[n // bs_r, n % bs_r, m], name=name,
                   tag="sparse_dense", attrs=attrs)


# ----------------------------------------------------------------------------- interaction

def interaction_pairs(F, self_interaction=False):
    """(i, j) of each output column of dot_interaction, in order (DLRM's li, lj)."""
    off = 1 if self_interaction else 0
    return [(i, j) for i in range(F + 1) for j in range(i + off)]


def dot_interaction(dense, embs, self_interaction=False, name="dot_interaction"):
    """Pairwise dot products of [dense, embs[:, 0], ..., embs[:, F-1]] per sample, the
    triangle below the diagonal (with it if self_interaction) in DLRM's order.

    Computed as DLRM does: the (F+1) x (F+1) Gram matrix of each sample (a batch matmul
    against itself; padded with zero rows to whole vectors), then the triangle read through
    a table of pairs that is itself a small compute (row of pair p = the number of rows that
    start at or before p)."""
    what = "dot_interaction"
    _ndim(dense, 2, what, "[B, D]")
    _ndim(embs, 3, what, "[B, F, D]")
    _check(_same_extent(dense.shape[0], embs.shape[0]) and _same_extent(dense.shape[1], embs.shape[2]),
           f"{what}: dense {_shape(dense)} and embs {_shape(embs)} do not agree on B and D")
    F = embs.shape[1]
    _check(isinstance(F, Const), f"{what}: the number of features F must be constant, got {F}")
    F = F.value
    dt = dtypes.promote(dense.dtype, embs.dtype)
    _check(dtypes.is_float(dt), f"{what}: inputs must be floating point, got {dt}")
    B, D = dense.shape[0], dense.shape[1]
    off = 1 if self_interaction else 0
    P = len(interaction_pairs(F, self_interaction))

    # T: the F + 1 rows [dense, embs[:, 0], ...], padded with zero rows to a multiple of 16;
    # Z: rows padded to a multiple of 4, columns to that of T (whole vector and register
    # tiles for every CPU; the padding is never read by the output)
    R = _cdiv(F + 1, 16) * 16
    Ip = _cdiv(F + 1, 4) * 4

    def feat(b, i, d):
        # row 0 is dense, row i in 1..F is embs[:, i - 1]; every index stays in range
        e = embs[b, elementwise_max(elementwise_min(i - 1, F - 1), 0), d].astype(dt)
        return if_then_else(i == 0, dense[b, d].astype(dt),
                            if_then_else(i <= F, e, Const(0.0, dt)))
    T = compute((B, R, D), feat, name=name + "_features", tag="dot_interaction_features")
    d = reduce_axis((0, D), name="d")
    Z = compute((B, Ip, R), lambda b, i, j: te_sum(T[b, i, d] * T[b, j, d], axis=d),
                name=name + "_gram", tag="dot_interaction_gram")

    def start(i):            # number of pairs before row i
        return i * (i - 1) // 2 + off * i
    t = reduce_axis((0, F), name="t")
    row = compute((P,), lambda p: te_sum(if_then_else(start(t + 1) <= p, 1, 0), axis=t),
                  name=name + "_pair_row", tag="dot_interaction_pairs")
    return compute((B, P), lambda b, p: Z[b, row[p], p - start(row[p])], name=name,
                   tag="dot_interaction", attrs={"F": F, "self_interaction": bool(self_interaction)})


# ============================================================================= schedules

_NREGS = {"avx512": 32, "neon": 32}


class _Cpu:
    def __init__(self, target):
        from ..targets.build import get_target
        t = get_target(target)
        self.name = t.name
        self.bits = t.vector_bits
        self.nregs = _NREGS.get(t.name, 16)

    def lanes(self, dtype):
        return max(1, self.bits // dtypes.bits(dtype))

    @property
    def accumulators(self):
        """Vector accumulators a register tile may use (the rest hold operands)."""
        return self.nregs * 3 // 4


def _cdiv(a, b):
    return -(-a // b)


def _const(e):
    return e.value if isinstance(e, Const) else None


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
    body = transform(op.body, fn)
    new_op = ComputeOp(op.name, op.axis, body, op.tag, op.attrs)
    stage.op = new_op
    s.stage_map[new_op] = stage
    s._insert_stage(packed.op, stage)
    return packed


@register("scan", CPU_TARGETS + ("*",))
@register("sparse_lengths_check", CPU_TARGETS + ("*",))
@register("dot_interaction_pairs", CPU_TARGETS + ("*",))
def _serial(s, st, target):
    """Small sequential stages (offsets, length checks, the pair table): left as they are."""
    return None


def _vector_rows(st, axis, lanes, unroll_max):
    """axis -> (outer, unrolled, vector): vectors of `lanes`, unrolled when few."""
    ext = _const(st.extent_of(axis))
    vo, vi = st.split(axis, factor=lanes)
    st.vectorize(vi)
    if ext is not None and _cdiv(ext, lanes) <= unroll_max:
        st.unroll(vo)
    return vo, vi


@register(POOL_TAG, CPU_TARGETS)
def schedule_pool(s, st, target, prefetch=None):
    """Bags in parallel; each bag sums into registers: D in chunks of at most `accumulators`
    vectors, the chunk unrolled, and for each index of the bag one pass over the chunk of its
    row (prefetched PREFETCH_ROWS indices ahead, its first line PREFETCH_FIRST_LINE_ROWS
    ahead). The epilogue of sparse_lengths_mean (a scale per bag) is applied when the
    registers are stored."""
    cpu = _Cpu(target)
    pooled = st.op.output(0)
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
    lanes = cpu.lanes(out.op.dtype)
    b, d = out.op.axis
    D = _const(out.extent_of(d))
    max_vecs = cpu.accumulators
    nvec = _cdiv(D, lanes) if D is not None else max_vecs + 1
    chunk_vecs = _cdiv(nvec, _cdiv(nvec, max_vecs))      # equal chunks of at most max_vecs
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
    dist = PREFETCH_ROWS if prefetch is None else prefetch
    if dist:
        far = PREFETCH_FIRST_LINE_ROWS
        ls.pragma(k, "prefetch", (dist, far) if far > dist else dist)
    return [st] if epi is not None else None


@register(EPILOGUE_TAG, CPU_TARGETS)
def _scheduled_with_pool(s, st, target):
    return None


@register("batch_gather", CPU_TARGETS)
def schedule_batch_gather(s, st, target):
    """(b, m) fused and parallel; the rows copied with vectors (trailing dimensions), each
    row prefetched a few rows ahead."""
    cpu = _Cpu(target)
    axes = list(st.op.axis)
    bm = st.fuse(axes[0], axes[1])
    if len(axes) > 2:
        rest = axes[2:]
        inner = st.fuse(*rest) if len(rest) > 1 else rest[0]
        if _const(st.extent_of(inner)) is not None:
            _vector_rows(st, inner, cpu.lanes(st.op.dtype), 8)
        st.pragma(bm, "prefetch", 8)
    st.parallel(bm)
    return None


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
    cpu = _Cpu(target)
    from ..lang.expr import TensorLoad
    from ..lang.visitor import walk
    yt = next(n.tensor for n in walk(st.op.body) if isinstance(n, TensorLoad))
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
    lanes = cpu.lanes(st.op.dtype)
    Mc = _const(M)
    nvec_budget = max(1, cpu.accumulators // bs_r)
    nvec = _cdiv(Mc, lanes) if Mc is not None else nvec_budget
    mc = lanes * _cdiv(nvec, _cdiv(nvec, nvec_budget))     # equal blocks of <= budget vectors
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
    cpu = _Cpu(target)
    lanes = cpu.lanes(st.op.dtype)
    Z = next(n.tensor for n in walk(st.op.body) if isinstance(n, TensorLoad)
             and n.tensor.op.tag == "dot_interaction_gram")
    zs = s[Z]
    T = next(n.tensor for n in walk(zs.op.body) if isinstance(n, TensorLoad))
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
    new_op = ComputeOp(op.name, op.axis, transform(op.body, fn), op.tag, op.attrs)
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
        if _const(ts.extent_of(inner)) is not None:
            ts.vectorize(ts.split(inner, factor=lanes)[1])
    return None
