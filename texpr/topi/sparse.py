"""Sparse and ranking operators of recommendation models, written in texpr's own language.

Every operator is a compute definition: indices read from data (`data[indices[k], d]`),
ragged reductions whose bounds are offsets (`k` over `[offsets[b], offsets[b + 1])`, the
offsets an exclusive scan of the lengths), nothing opaque. The lowering checks each index
read from data against the tensor it indexes before it is used (a bad one raises TexprError
naming the tensor, the position and the value; nothing is read or written out of bounds),
and lengths are checked as part of the computation: each must lie in [0, L] (L = number of
indices) and together they must not overrun the index array. The operators::

    topi.sparse.sparse_lengths_sum(data[V, D], indices[L], lengths[B])             -> [B, D]
    topi.sparse.sparse_lengths_weighted_sum(data, weights[L], indices[L], lengths[B])
    topi.sparse.sparse_lengths_mean(data, indices, lengths)        (empty bag -> 0)
    topi.sparse.sparse_lengths_sum_8bit_rowwise(data_q[V, D] uint8/int8, scale[V], bias[V],
                                                indices, lengths)   (dequantised while pooling)
    topi.sparse.batch_gather(data[B, N, ...], indices[B, M])                        -> [B, M, ...]
    topi.sparse.embedding(weight[V, D], indices[...], mode="check" | "clip")       -> [..., D]
        (also topi.nn.embedding) the rows of the table at the indices
    topi.sparse.sparse_dense(x[M, K], w_data, w_indices, w_indptr)                  -> [M, N]
        Y = X W^T with W [N, K] sparse (TVM's convention): CSR (w_data [nnz]) or BSR
        (w_data [nnz_blocks, bs_r, bs_c], w_indices = block columns, w_indptr = block rows)
    topi.sparse.dot_interaction(dense[B, D], embs[B, F, D], self_interaction=False) -> [B, P]
        the pairwise dot products of the F + 1 vectors [dense, embs[0], ..., embs[F - 1]] of
        each sample, in DLRM's order: for i in 0..F, for j in 0..i-1 (..i with
        self_interaction): dot(T_i, T_j). P = F (F + 1) / 2 (+ F + 1 with the diagonal).

The schedules for native/avx2, avx512, neon (and c) are in topi/cpu_sparse.py, picked by
`topi.schedule(outs, target)`: pooling runs bags in parallel, vectorizes the embedding
dimension (tails masked on AVX-512, scalar elsewhere), keeps the bag's sum in registers
(D split in chunks that fit the register file), unrolls the chunk, and prefetches the rows
of the bags enough indices ahead to keep PREFETCH_LINES_IN_FLIGHT cache lines in flight per
core (from the row's size; pragma "prefetch", lower/cpu/prefetch.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..lang import dtypes
from ..errors import TexprError
from ..lang.expr import Const, elementwise_max, elementwise_min, if_then_else
from ..lang.reduction import sum as te_sum
from ..lang.tensor import compute, exclusive_scan, reduce_axis
from .util import cdiv, check_ndim, shape_str

if TYPE_CHECKING:
    from ..lang.hints import DTypeLike
    from ..lang.tensor import Tensor

POOL_TAG = "sparse_pool"          # the ragged reduction of every pooling op
EPILOGUE_TAG = "sparse_pool_out"  # elementwise output after the pooling (mean)


# ----------------------------------------------------------------------------- checks

def _check(cond, msg):
    if not cond:
        raise TexprError(msg)


def _int_tensor(t, what):
    _check(dtypes.is_int(t.dtype) and t.dtype != "bool",
           f"{what}: {t.name} must hold integers, got dtype {t.dtype}")


def _same_extent(a, b):
    return not (isinstance(a, Const) and isinstance(b, Const) and a.value != b.value)


# ----------------------------------------------------------------------------- bags

def bag_offsets(indices: Tensor, lengths: Tensor, name: str = "lengths") -> Tensor:
    """offsets[B + 1] of the bags: the exclusive scan of lengths, each length checked to lie
    in [0, L] on the way (the check is the language's own: the length indexes a range of
    extent L + 1, so a negative or too long one raises naming lengths[b] and its value).
    Lengths that are valid one by one but together overrun the indices are caught where the
    indices are read (position checked against L).

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((100, 16), name="data")
    >>> indices = te.placeholder((30,), dtype="int32", name="indices")
    >>> lengths = te.placeholder((4,), dtype="int32", name="lengths")
    >>> offsets = topi.sparse.bag_offsets(indices, lengths)
    >>> offsets.shape, offsets.dtype
    ((5,), 'int32')
    """
    L = indices.shape[0]
    # inlined (elemwise): only the check of lengths[b] against L + 1 remains
    valid = compute((L + 1,), lambda n: n, name=f"{name}_in_0_to_L", tag="elemwise")
    checked = compute(lengths.shape, lambda b: valid[lengths[b]], name=f"{name}_checked",
                      tag="sparse_lengths_check")
    return exclusive_scan(checked, dtype="int32", name="offsets")


def _pooling_inputs(what, data, indices, lengths):
    check_ndim(data, 2, what, "[V, D]")
    check_ndim(indices, 1, what, "[L]")
    check_ndim(lengths, 1, what, "[B]")
    _int_tensor(indices, what)
    _int_tensor(lengths, what)


def _pool(what, data, indices, lengths, row, out_dtype, name, width=None):
    """out[b, d] = sum over k in bag b of row(r = indices[k], k, d) (d < width, by default the
    table's row length)."""
    off = bag_offsets(indices, lengths)

    def bag(b, d):
        k = reduce_axis((off[b], off[b + 1]), name="k")
        return te_sum(row(indices[k], k, d), axis=k)
    return compute((lengths.shape[0], data.shape[1] if width is None else width), bag,
                   name=name, tag=POOL_TAG,
                   attrs={"op": what, "table": data, "indices": indices, "lengths": lengths})


def _acc_dtype(dt):
    return dt if dtypes.is_float(dt) else "float32"


def sparse_lengths_sum(data: Tensor, indices: Tensor, lengths: Tensor,
                       name: str = "sparse_lengths_sum",
                       out_dtype: DTypeLike | None = None) -> Tensor:
    """out[b, :] = sum of data[indices[k], :] over the k of bag b (bags of `lengths`).

    out_dtype: the type rows are summed in, by default the table's; a float16 / bfloat16 table
    may be summed in float32 (half the bytes read of a float32 table, float32 sums).

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((100, 16), name="data")
    >>> indices = te.placeholder((30,), dtype="int32", name="indices")
    >>> lengths = te.placeholder((4,), dtype="int32", name="lengths")
    >>> [int(d) for d in topi.sparse.sparse_lengths_sum(data, indices, lengths).shape]
    [4, 16]
    """
    what = "sparse_lengths_sum"
    _pooling_inputs(what, data, indices, lengths)
    _check(dtypes.is_float(data.dtype), f"{what}: data must be floating point, got {data.dtype}")
    dt = data.dtype if out_dtype is None else dtypes.normalize(out_dtype)
    _check(dt == data.dtype or (dtypes.is_half(data.dtype) and dt == "float32"),
           f"{what}: out_dtype {dt} for a {data.dtype} table; expected {data.dtype}"
           + (" or float32" if dtypes.is_half(data.dtype) else ""))
    return _pool(what, data, indices, lengths, lambda r, k, d: data[r, d].astype(dt), dt, name)


def sparse_lengths_weighted_sum(data: Tensor, weights: Tensor, indices: Tensor, lengths: Tensor,
                                name: str = "sparse_lengths_weighted_sum") -> Tensor:
    """out[b, :] = sum of weights[k] * data[indices[k], :] over the k of bag b.

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((100, 16), name="data")
    >>> indices = te.placeholder((30,), dtype="int32", name="indices")
    >>> lengths = te.placeholder((4,), dtype="int32", name="lengths")
    >>> weights = te.placeholder((30,), name="weights")
    >>> topi.sparse.sparse_lengths_weighted_sum(data, weights, indices, lengths).shape
    (4, 16)
    """
    what = "sparse_lengths_weighted_sum"
    _pooling_inputs(what, data, indices, lengths)
    check_ndim(weights, 1, what, "[L]")
    _check(_same_extent(weights.shape[0], indices.shape[0]),
           f"{what}: weights has {weights.shape[0]} entries but indices has {indices.shape[0]}")
    _check(dtypes.is_float(data.dtype) and dtypes.is_float(weights.dtype),
           f"{what}: data and weights must be floating point, got {data.dtype}, {weights.dtype}")
    dt = dtypes.promote(data.dtype, weights.dtype)
    return _pool(what, data, indices, lengths,
                 lambda r, k, d: data[r, d].astype(dt) * weights[k].astype(dt), dt, name)


def sparse_lengths_mean(data: Tensor, indices: Tensor, lengths: Tensor,
                        name: str = "sparse_lengths_mean") -> Tensor:
    """out[b, :] = mean of data[indices[k], :] over bag b (0 for an empty bag).

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((100, 16), name="data")
    >>> indices = te.placeholder((30,), dtype="int32", name="indices")
    >>> lengths = te.placeholder((4,), dtype="int32", name="lengths")
    >>> topi.sparse.sparse_lengths_mean(data, indices, lengths).shape
    (4, 16)
    """
    what = "sparse_lengths_mean"
    _pooling_inputs(what, data, indices, lengths)
    _check(dtypes.is_float(data.dtype), f"{what}: data must be floating point, got {data.dtype}")
    s = _pool(what, data, indices, lengths, lambda r, k, d: data[r, d], data.dtype, name + "_sum")
    dt = data.dtype

    def mean(b, d):
        n = elementwise_max(lengths[b], 1)     # lengths are checked >= 0 by the pooling
        return s[b, d] * (Const(1.0, dt) / n.astype(dt))
    return compute(s.shape, mean, name=name, tag=EPILOGUE_TAG)


def sparse_lengths_sum_8bit_rowwise(data_q: Tensor, scale: Tensor, bias: Any, indices: Tensor,
                                    lengths: Tensor,
                                    name: str = "sparse_lengths_sum_8bit_rowwise") -> Tensor:
    """Row-wise quantised table: row r is scale[r] * data_q[r, :] + bias[r] (data_q uint8 or
    int8, scale and bias fp32); out[b, :] = sum of the dequantised rows of bag b (fp32).

    >>> import texpr as te, texpr.topi as topi
    >>> q = te.placeholder((100, 16), dtype="uint8", name="q")
    >>> scale, bias = te.placeholder((100,), name="scale"), te.placeholder((100,), name="bias")
    >>> indices = te.placeholder((30,), dtype="int32", name="indices")
    >>> lengths = te.placeholder((4,), dtype="int32", name="lengths")
    >>> topi.sparse.sparse_lengths_sum_8bit_rowwise(q, scale, bias, indices, lengths).shape
    (4, 16)
    """
    what = "sparse_lengths_sum_8bit_rowwise"
    _pooling_inputs(what, data_q, indices, lengths)
    _check(data_q.dtype in ("uint8", "int8"),
           f"{what}: data_q must be uint8 or int8, got {data_q.dtype}")
    return _rowwise_pool(what, data_q, scale, bias, indices, lengths, None,
                         lambda r, d: data_q[r, d], name)


def _rowwise_pool(what, data_q, scale, bias, indices, lengths, width, value, name):
    """The bags of a row-wise quantised table: row r is scale[r] * value(r, d) + bias[r]."""
    _pooling_inputs(what, data_q, indices, lengths)
    for t in (scale, bias):
        check_ndim(t, 1, what, "[V]")
        _check(_same_extent(t.shape[0], data_q.shape[0]),
               f"{what}: {t.name} has {t.shape[0]} entries but data_q has {data_q.shape[0]} rows")
        _check(dtypes.is_float(t.dtype), f"{what}: {t.name} must be floating point")
    dt = "float32"
    return _pool(what, data_q, indices, lengths,
                 lambda r, k, d: value(r, d).astype(dt) * scale[r].astype(dt) + bias[r].astype(dt),
                 dt, name, width)


# ----------------------------------------------------------------------------- gather

def batch_gather(data: Tensor, indices: Tensor, name: str = "batch_gather") -> Tensor:
    """out[b, m, ...] = data[b, indices[b, m], ...] (each index checked against N).

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((2, 10, 4), name="data")
    >>> indices = te.placeholder((2, 3), dtype="int32", name="indices")
    >>> topi.sparse.batch_gather(data, indices).shape
    (2, 3, 4)
    """
    what = "batch_gather"
    _check(len(data.shape) >= 2, f"{what}: data must be [B, N, ...], got shape {shape_str(data)}")
    check_ndim(indices, 2, what, "[B, M]")
    _int_tensor(indices, what)
    _check(_same_extent(data.shape[0], indices.shape[0]),
           f"{what}: data has batch {data.shape[0]} but indices has {indices.shape[0]}")
    shape = (data.shape[0], indices.shape[1]) + tuple(data.shape[2:])

    def f(b, m, *rest):
        return data[(b, indices[b, m]) + tuple(rest)]
    return compute(shape, f, name=name, tag="batch_gather")


EMBEDDING_MODES = ("check", "clip")


def embedding(weight: Tensor, indices: Tensor, mode: str = "check",
              name: str = "embedding") -> Tensor:
    """out[..., :] = weight[indices[...], :]: the rows of an embedding table [V, D] at any
    array of indices (TVM's take along axis 0). mode "check": an index outside [0, V) raises
    TexprError at call time naming indices, the position and the value (the language's checked
    index read; nothing is read out of bounds); mode "clip": clamped into [0, V - 1], as TVM's
    take does by default.

    >>> import texpr as te, texpr.topi as topi
    >>> table = te.placeholder((1000, 32), name="table")
    >>> ids = te.placeholder((4, 6), dtype="int64", name="ids")
    >>> topi.sparse.embedding(table, ids).shape
    (4, 6, 32)
    """
    what = "embedding"
    check_ndim(weight, 2, what, "[V, D]")
    _check(len(indices.shape) >= 1, f"{what}: {indices.name} must have at least one "
                                    f"dimension, got shape {shape_str(indices)}")
    _int_tensor(indices, what)
    modes = ", ".join(repr(m) for m in EMBEDDING_MODES)
    _check(mode in EMBEDDING_MODES, f"{what}: mode must be one of {modes}, got {mode!r}")
    V = weight.shape[0]

    # clip: clamped in a dtype that holds both the index and V - 1 (never narrowed first)
    dt = indices.dtype if dtypes.bits(indices.dtype) >= 32 else "int32"

    def row(*i):
        r = indices[i]
        if mode == "clip":
            r = r.astype(dt)
            if not dt.startswith("uint"):
                r = elementwise_max(r, Const(0, dt))
            r = elementwise_min(r, (V - 1).astype(dt))
        return r

    def f(*i):
        return weight[row(*i[:-1]), i[-1]]
    return compute(tuple(indices.shape) + (weight.shape[1],), f, name=name, tag="embedding",
                   attrs={"mode": mode})


# ----------------------------------------------------------------------------- sparse_dense

def sparse_dense(x: Tensor, w_data: Tensor, w_indices: Tensor, w_indptr: Tensor,
                 name: str = "sparse_dense") -> Tensor:
    """Y[M, N] = X[M, K] @ W[N, K]^T with W sparse, as in TVM: CSR when w_data is 1-D
    (row n of W holds w_data[j] at column w_indices[j] for j in [w_indptr[n], w_indptr[n+1])),
    BSR when w_data is [nnz_blocks, bs_r, bs_c] (block row nb holds the blocks j in
    [w_indptr[nb], w_indptr[nb+1]), block j at block column w_indices[j]).

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((4, 16), name="x")
    >>> w_data = te.placeholder((20,), name="w_data")                       # CSR: 20 non-zeros
    >>> w_indices = te.placeholder((20,), dtype="int32", name="w_indices")
    >>> w_indptr = te.placeholder((9,), dtype="int32", name="w_indptr")     # N = 8 rows
    >>> [int(d) for d in topi.sparse.sparse_dense(x, w_data, w_indices, w_indptr).shape]
    [4, 8]
    """
    what = "sparse_dense"
    check_ndim(x, 2, what, "[M, K]")
    check_ndim(w_indices, 1, what, "[nnz]")
    check_ndim(w_indptr, 1, what, "[N + 1]")
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
                                       f"[nnz_blocks, bs_r, bs_c] (BSR), got {shape_str(w_data)}")
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

def interaction_pairs(F: int, self_interaction: bool = False) -> list[tuple[int, int]]:
    """(i, j) of each output column of dot_interaction, in order (DLRM's li, lj).

    >>> import texpr.topi as topi
    >>> topi.sparse.interaction_pairs(3)
    [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]
    """
    off = 1 if self_interaction else 0
    return [(i, j) for i in range(F + 1) for j in range(i + off)]


def dot_interaction(dense: Tensor, embs: Tensor, self_interaction: bool = False,
                    name: str = "dot_interaction") -> Tensor:
    """Pairwise dot products of [dense, embs[:, 0], ..., embs[:, F-1]] per sample, the
    triangle below the diagonal (with it if self_interaction) in DLRM's order.

    Computed as DLRM does: the (F+1) x (F+1) Gram matrix of each sample (a batch matmul
    against itself; padded with zero rows to whole vectors), then the triangle read through
    a table of pairs that is itself a small compute (row of pair p = the number of rows that
    start at or before p).

    >>> import texpr as te, texpr.topi as topi
    >>> dense = te.placeholder((2, 8), name="dense")
    >>> embs = te.placeholder((2, 3, 8), name="embs")              # 3 embeddings per sample
    >>> topi.sparse.dot_interaction(dense, embs).shape               # 4 features: 6 pairs
    (2, 6)
    """
    what = "dot_interaction"
    check_ndim(dense, 2, what, "[B, D]")
    check_ndim(embs, 3, what, "[B, F, D]")
    _check(_same_extent(dense.shape[0], embs.shape[0]) and _same_extent(dense.shape[1], embs.shape[2]),
           f"{what}: dense {shape_str(dense)} and embs {shape_str(embs)} do not agree on B and D")
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
    R = cdiv(F + 1, 16) * 16
    Ip = cdiv(F + 1, 4) * 4

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


from .int4 import sparse_lengths_sum_4bit_rowwise  # noqa: E402,F401  (over a packed int4 table)
