"""topi.sparse: every op against its NumPy reference (topi.testing), over drawn vocabularies,
widths (including ones no vector width divides), bag-length distributions (empty bags, one
huge bag, all equal), duplicate indices and weights; bad indices and lengths raise.

Kernels are built once per (op, width, target) and reused across examples: the vocabulary,
the number of bags and of indices are symbolic (taken from the arrays at call time).
"""
import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import texpr as te
from texpr import topi
from texpr.topi import testing as R
from support.parallel import parallel_loops

WIDTHS = [1, 3, 8, 20, 64]        # 3, 20: no vector width divides them; 1: a single lane
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- builders

@functools.lru_cache(maxsize=None)
def pooling_kernel(op, D, target="native", data_dtype="float32", index_dtype="int32"):
    V, B, L = te.var("V"), te.var("B"), te.var("L")
    data = te.placeholder((V, D), data_dtype, name="data")
    idx = te.placeholder((L,), index_dtype, name="indices")
    lens = te.placeholder((B,), "int32", name="lengths")
    if op == "sum":
        out = topi.sparse.sparse_lengths_sum(data, idx, lens)
        args = [data, idx, lens]
    elif op == "weighted":
        w = te.placeholder((L,), "float32", name="weights")
        out = topi.sparse.sparse_lengths_weighted_sum(data, w, idx, lens)
        args = [data, w, idx, lens]
    elif op == "mean":
        out = topi.sparse.sparse_lengths_mean(data, idx, lens)
        args = [data, idx, lens]
    else:
        scale = te.placeholder((V,), "float32", name="scale")
        bias = te.placeholder((V,), "float32", name="bias")
        out = topi.sparse.sparse_lengths_sum_8bit_rowwise(data, scale, bias, idx, lens)
        args = [data, scale, bias, idx, lens]
    s = topi.schedule(out, target)
    return te.build(s, args + [out], target=target, name=f"sls_{op}")


def run_pooling(op, table, indices, lengths, weights=None, target="native"):
    """(texpr's output, the NumPy reference); the kernel runs first (bad inputs raise)."""
    D = table.shape[1]
    if op == "8bit":
        q, scale, bias = R.quantize_8bit_rowwise_ref(table, "uint8")
        f = pooling_kernel(op, D, target, "uint8", str(indices.dtype))
        args = [q, scale, bias, indices, lengths]
        ref = lambda: R.sparse_lengths_sum_8bit_rowwise_ref(q, scale, bias, indices, lengths)
    else:
        f = pooling_kernel(op, D, target, "float32", str(indices.dtype))
        if op == "weighted":
            args = [table, weights, indices, lengths]
            ref = lambda: R.sparse_lengths_weighted_sum_ref(table, weights, indices, lengths)
        elif op == "mean":
            args = [table, indices, lengths]
            ref = lambda: R.sparse_lengths_mean_ref(table, indices, lengths)
        else:
            args = [table, indices, lengths]
            ref = lambda: R.sparse_lengths_sum_ref(table, indices, lengths)
    out = np.full((len(lengths), D), np.nan, "float32")
    f(*args, out)
    return out, ref()


# ----------------------------------------------------------------------------- strategies

@st.composite
def bags(draw, max_bags=12):
    """Bag lengths: small random ones with empty bags, one huge bag, or all equal."""
    kind = draw(st.sampled_from(["small", "empty", "huge", "equal"]))
    n = draw(st.integers(1 if kind != "empty" else 0, max_bags))
    if kind == "small":
        lens = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    elif kind == "empty":
        lens = [0] * n
    elif kind == "huge":
        lens = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
        lens[draw(st.integers(0, n - 1))] = draw(st.integers(100, 400))
    else:
        lens = [draw(st.integers(0, 9))] * n
    return np.array(lens, "int32")


@st.composite
def pooling_case(draw):
    V = draw(st.integers(1, 40))                  # small V: many duplicate indices
    D = draw(st.sampled_from(WIDTHS))
    lens = draw(bags())
    extra = draw(st.integers(0, 3))               # indices past the last bag are not read
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((V, D)).astype("float32")
    idx = rng.integers(0, V, int(lens.sum()) + extra).astype(draw(st.sampled_from(["int32", "int64"])))
    weights = rng.standard_normal(len(idx)).astype("float32")
    return table, idx, lens, weights


# ----------------------------------------------------------------------------- pooling

@pytest.mark.parametrize("op", ["sum", "weighted", "mean", "8bit"])
@settings(max_examples=12, **SETTINGS)
@given(case=pooling_case())
def test_pooling_matches_numpy(op, case):
    table, idx, lens, weights = case
    out, ref = run_pooling(op, table, idx, lens, weights)
    tol = 1e-4 * max(1.0, float(np.abs(ref).max(initial=0)))
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=tol)


def _fixed_case(D, seed=0):
    rng = np.random.default_rng(seed)
    V = 50
    lens = np.array([3, 0, 17, 1, 0, 40, 2], "int32")
    idx = rng.integers(0, V, int(lens.sum()) + 2).astype("int32")
    idx[:5] = 7                                            # duplicates
    return rng.standard_normal((V, D)).astype("float32"), idx, lens, \
        rng.standard_normal(len(idx)).astype("float32")


@pytest.mark.parametrize("target", ["avx512", "neon"])
@pytest.mark.parametrize("op", ["sum", "weighted", "mean", "8bit"])
def test_pooling_other_targets(target, op):
    for D in (20, 64):                  # a masked / scalar tail, and whole vectors
        table, idx, lens, weights = _fixed_case(D)
        out, ref = run_pooling(op, table, idx, lens, weights, target=target)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_pooling_uses_registers_prefetch_and_one_check_per_row():
    f = pooling_kernel("sum", 64, "avx2")
    src = f.source
    assert "__builtin_prefetch(&data[" in src
    assert parallel_loops(src) >= 1
    # the row index is checked once (then reused by the 8 vector loads of the row)
    assert src.count("texpr_checked_index(indices[") == 1
    assert "_mm256_loadu_ps(&data[data_idx" in src


@pytest.mark.parametrize("D, dist", [(64, 16), (16, 40), (256, 11)])
def test_pooling_prefetch_distance_follows_the_row_size(D, dist):
    """About PREFETCH_LINES_IN_FLIGHT = 80 lines ahead: a 256-byte row (5 lines unaligned) 16
    rows ahead, a 64-byte one (2 lines) 40; a 1 KB row is summed in chunks (AVX2: 12
    accumulators; 3 equal chunks of 11 vectors = 352 bytes, 7 lines), each pass 11 rows
    ahead. Lowered, not compiled."""
    V, B, L = te.var("V"), te.var("B"), te.var("L")
    data = te.placeholder((V, D), name="data")
    idx = te.placeholder((L,), "int32", name="indices")
    lens = te.placeholder((B,), "int32", name="lengths")
    out = topi.sparse.sparse_lengths_sum(data, idx, lens)
    text = str(te.lower(topi.schedule(out, "avx2"), [data, idx, lens, out], target="avx2",
                        stop_after="prefetch"))
    assert f"pragma(prefetch={dist})" in text
    assert f"k + {dist}]" in text and "k + 32]" not in text


def test_pooling_with_the_ragged_reduction_split_by_the_user():
    """A split of the bag's reduction (its bounds read offsets[b], offsets[b + 1]) leaves a
    guard that reads data: lowered to a buffer read like the loop bounds, then vectorized."""
    table, idx, lens, _ = _fixed_case(16)
    data = te.placeholder(table.shape, name="data")
    indices = te.placeholder(idx.shape, "int32", name="indices")
    lengths = te.placeholder(lens.shape, "int32", name="lengths")
    out = topi.sparse.sparse_lengths_sum(data, indices, lengths)
    s = te.create_schedule(out.op)
    s[out].split(s[out].op.reduce_axis[0], factor=4)
    s[out].vectorize(s[out].op.axis[1])
    f = te.build(s, [data, indices, lengths, out], target="native")
    got = np.zeros((len(lens), 16), "float32")
    f(table, idx, lens, got)
    np.testing.assert_allclose(got, R.sparse_lengths_sum_ref(table, idx, lens), rtol=1e-5,
                               atol=1e-5)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("target", ["native", "neon"])
def test_bad_index_raises(target):
    table, idx, lens, _ = _fixed_case(8)
    f = pooling_kernel("sum", 8, target)
    out = np.empty((len(lens), 8), "float32")
    for bad in (50, -3, 2**31 - 1):
        idx2 = idx.copy()
        idx2[20] = bad
        with pytest.raises(te.TexprError, match=rf"indices\[20\] = {bad} is out of range for "
                                                r"dimension 0 of data"):
            f(table, idx2, lens, out)
    f(table, idx, lens, out)              # a good call after a bad one works
    np.testing.assert_allclose(out, R.sparse_lengths_sum_ref(table, idx, lens), rtol=1e-5, atol=1e-5)


def test_bad_index_past_the_last_bag_is_not_read():
    table, idx, lens, _ = _fixed_case(8)
    idx[-1] = 10**6                       # an unused trailing index: no error (not read)
    out, ref = run_pooling("sum", table, idx, lens)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["sum", "weighted", "mean", "8bit"])
def test_bad_lengths_raise(op):
    table, idx, lens, weights = _fixed_case(20)
    over = lens.copy()
    over[-1] += 5                        # together they overrun the indices
    with pytest.raises(te.TexprError, match=r"out of range for dimension 0 of (indices|weights)"):
        run_pooling(op, table, idx, over, weights)
    neg = lens.copy()
    neg[2] = -1                          # a negative length
    with pytest.raises(te.TexprError, match=r"lengths\[2\] = -1 is out of range"):
        run_pooling(op, table, idx, neg, weights)
    huge = lens.copy()
    huge[0] = len(idx) + 1               # longer than all the indices
    with pytest.raises(te.TexprError, match=rf"lengths\[0\] = {len(idx) + 1} is out of range"):
        run_pooling(op, table, idx, huge, weights)


def test_bad_8bit_row_raises():
    table, idx, lens, _ = _fixed_case(20)
    idx[3] = 50
    with pytest.raises(te.TexprError, match=r"indices\[3\] = 50 is out of range for dimension 0"):
        run_pooling("8bit", table, idx, lens)


def test_compute_definitions_reject_bad_arguments():
    V, D = 10, 4
    data = te.placeholder((V, D), name="data")
    idx = te.placeholder((5,), "int32", name="indices")
    lens = te.placeholder((2,), "int32", name="lengths")
    with pytest.raises(te.TexprError, match="indices must hold integers"):
        topi.sparse.sparse_lengths_sum(data, te.placeholder((5,), name="indices"), lens)
    with pytest.raises(te.TexprError, match="weights has 4 entries but indices has 5"):
        topi.sparse.sparse_lengths_weighted_sum(data, te.placeholder((4,), name="weights"), idx, lens)
    with pytest.raises(te.TexprError, match="data_q must be uint8 or int8"):
        topi.sparse.sparse_lengths_sum_8bit_rowwise(data, te.placeholder((V,), name="s"),
                                                    te.placeholder((V,), name="b"), idx, lens)
    with pytest.raises(te.TexprError, match=r"i must be 2-D \(\[B, M\]\), got shape \[2\]"):
        topi.sparse.batch_gather(te.placeholder((2, 3, 4), name="d"),
                                 te.placeholder((2,), "int32", name="i"))
    with pytest.raises(te.TexprError, match="not a multiple of the block width"):
        topi.sparse.sparse_dense(te.placeholder((3, 10), name="x"),
                                 te.placeholder((2, 2, 4), name="w"),
                                 te.placeholder((2,), "int32", name="wi"),
                                 te.placeholder((3,), "int32", name="wp"))


# ----------------------------------------------------------------------------- batch_gather

@functools.lru_cache(maxsize=None)
def gather_kernel(rest, target="native"):
    B, N, M = te.var("B"), te.var("N"), te.var("M")
    data = te.placeholder((B, N) + rest, name="data")
    idx = te.placeholder((B, M), "int32", name="indices")
    out = topi.sparse.batch_gather(data, idx)
    return te.build(topi.schedule(out, target), [data, idx, out], target=target)


@settings(max_examples=15, **SETTINGS)
@given(rest=st.sampled_from([(), (3,), (20,), (2, 5)]), B=st.integers(1, 4), N=st.integers(1, 9),
       M=st.integers(0, 12), seed=st.integers(0, 2**31 - 1))
def test_batch_gather_matches_numpy(rest, B, N, M, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, N) + rest).astype("float32")
    idx = rng.integers(0, N, (B, M)).astype("int32")
    out = np.empty((B, M) + rest, "float32")
    gather_kernel(rest)(x, idx, out)
    np.testing.assert_array_equal(out, R.batch_gather_ref(x, idx))


@pytest.mark.parametrize("target", ["avx512", "neon"])
def test_batch_gather_other_targets_and_bad_index(target):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 7, 20)).astype("float32")
    idx = rng.integers(0, 7, (3, 5)).astype("int32")
    out = np.empty((3, 5, 20), "float32")
    f = gather_kernel((20,), target)
    f(x, idx, out)
    np.testing.assert_array_equal(out, R.batch_gather_ref(x, idx))
    idx[1, 2] = 7
    with pytest.raises(te.TexprError, match=r"indices\[7\] = 7 is out of range for dimension 1 "
                                            r"of data"):
        f(x, idx, out)


# ----------------------------------------------------------------------------- sparse_dense

def sparse_dense_case(rng, M, K, N, bs_r, bs_c, density):
    mask = rng.random((N // bs_r, K // bs_c)) < density
    W = rng.standard_normal((N, K)).astype("float32") * \
        np.repeat(np.repeat(mask, bs_r, 0), bs_c, 1)
    w_data, w_indices, w_indptr = R.dense_to_bsr_ref(W, bs_r, bs_c)
    x = rng.standard_normal((M, K)).astype("float32")
    return x, w_data, w_indices, w_indptr


def run_sparse_dense(x, w_data, w_indices, w_indptr, target="native"):
    X = te.placeholder(x.shape, name="x")
    nnz = te.var("nnz")
    wd = te.placeholder((nnz,) + w_data.shape[1:], name="w_data")
    wi = te.placeholder((nnz,), "int32", name="w_indices")
    wp = te.placeholder(w_indptr.shape, "int32", name="w_indptr")
    out = topi.sparse.sparse_dense(X, wd, wi, wp)
    f = te.build(topi.schedule(out, target), [X, wd, wi, wp, out], target=target)
    y = np.full((x.shape[0], (len(w_indptr) - 1) * (w_data.shape[1] if w_data.ndim == 3 else 1)),
                np.nan, "float32")
    f(x, w_data, w_indices, w_indptr, y)
    return y


@settings(max_examples=10, **SETTINGS)
@given(M=st.integers(1, 40), Kb=st.integers(1, 6), Nb=st.integers(1, 6),
       block=st.sampled_from([(1, 1), (1, 1), (2, 1), (1, 4), (4, 2), (3, 3)]),
       density=st.sampled_from([0.0, 0.1, 0.5, 1.0]), seed=st.integers(0, 2**31 - 1))
def test_sparse_dense_matches_numpy(M, Kb, Nb, block, density, seed):
    bs_r, bs_c = block
    rng = np.random.default_rng(seed)
    case = sparse_dense_case(rng, M, Kb * bs_c * 2, Nb * bs_r, bs_r, bs_c, density)
    if case[1].shape[0] == 0:
        case = (case[0], np.zeros((1,) + case[1].shape[1:], "float32"),
                np.zeros(1, "int32"), case[3])       # no nonzero at all: a dummy entry
    y = run_sparse_dense(*case)
    np.testing.assert_allclose(y, R.sparse_dense_ref(*case), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("target", ["avx512", "neon"])
@pytest.mark.parametrize("block", [(1, 1), (4, 2)])
def test_sparse_dense_other_targets(target, block):
    case = sparse_dense_case(np.random.default_rng(3), 19, 16, 12, *block, density=0.3)
    y = run_sparse_dense(*case, target=target)
    np.testing.assert_allclose(y, R.sparse_dense_ref(*case), rtol=1e-4, atol=1e-4)


def test_sparse_dense_bad_column_raises():
    x, wd, wi, wp = sparse_dense_case(np.random.default_rng(4), 5, 12, 6, 1, 1, 0.5)
    wi = wi.copy()
    wi[1] = 12
    # (the schedule reads x through its transposed copy x_t: the check names that one)
    with pytest.raises(te.TexprError, match=r"w_indices\[1\] = 12 is out of range for "
                                            r"dimension \d of x"):
        run_sparse_dense(x, wd, wi, wp)


# ----------------------------------------------------------------------------- dot_interaction

@functools.lru_cache(maxsize=None)
def interaction_kernel(F, D, self_interaction, target="native"):
    B = te.var("B")
    dense = te.placeholder((B, D), name="dense")
    embs = te.placeholder((B, F, D), name="embs")
    out = topi.sparse.dot_interaction(dense, embs, self_interaction)
    return te.build(topi.schedule(out, target), [dense, embs, out], target=target)


@settings(max_examples=10, **SETTINGS)
@given(F=st.sampled_from([1, 3, 8, 26]), D=st.sampled_from([1, 8, 20]), B=st.integers(1, 5),
       self_interaction=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_dot_interaction_matches_numpy(F, D, B, self_interaction, seed):
    rng = np.random.default_rng(seed)
    dense = rng.standard_normal((B, D)).astype("float32")
    embs = rng.standard_normal((B, F, D)).astype("float32")
    ref = R.dot_interaction_ref(dense, embs, self_interaction)
    out = np.empty(ref.shape, "float32")
    interaction_kernel(F, D, self_interaction)(dense, embs, out)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("target", ["avx512", "neon"])
def test_dot_interaction_other_targets(target):
    rng = np.random.default_rng(5)
    dense = rng.standard_normal((3, 20)).astype("float32")
    embs = rng.standard_normal((3, 5, 20)).astype("float32")
    for si in (False, True):
        ref = R.dot_interaction_ref(dense, embs, si)
        out = np.empty(ref.shape, "float32")
        interaction_kernel(5, 20, si, target)(dense, embs, out)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_interaction_pairs_are_dlrm_order():
    assert topi.sparse.interaction_pairs(2) == [(1, 0), (2, 0), (2, 1)]
    assert topi.sparse.interaction_pairs(1, True) == [(0, 0), (1, 0), (1, 1)]
