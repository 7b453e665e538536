"""topi.qnn.DenseInt8: AVX2's vpmaddubsw kernel only where every pair sum provably fits
int16, the exact int16-pairs kernel otherwise; every result equal to NumPy's int32 product."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
import texpr.topi as topi
from texpr.topi.dense_int8 import max_exact_activation

M, N, K = 7, 32, 64          # 7 rows: a full tile of 5 and a partial one of 2


def exact(a, w):
    return a.astype(np.int64) @ w.astype(np.int64).T


def corners(rng, lo, hi, shape):
    """Values at the two ends of [lo, hi] (the pair sums' extremes), some rows all lo / hi."""
    x = rng.choice([lo, hi], shape)
    x[0], x[1] = lo, hi
    return x


def pair_sums_fit(w, amax):
    """Brute force: every pair sum a0 w0 + a1 w1 with a0, a1 in {0, amax} (its extremes)
    fits int16."""
    w = w.astype(np.int64)
    w0, w1 = w[:, 0::2], w[:, 1::2]
    sums = [a0 * w0 + a1 * w1 for a0 in (0, amax) for a1 in (0, amax)]
    return all(((s >= -32768) & (s <= 32767)).all() for s in sums)


@settings(max_examples=10, deadline=None)
@given(lo=st.integers(-128, 0), hi=st.integers(0, 127), seed=st.integers(0, 2 ** 16))
def test_max_exact_activation_is_the_largest_exact_bound(lo, hi, seed):
    w = np.random.default_rng(seed).integers(lo, hi + 1, (4, 8)).astype("int8")
    limit = max_exact_activation(w)
    assert pair_sums_fit(w, limit)
    assert limit == 255 or not pair_sums_fit(w, limit + 1)


def test_seven_bit_weights_always_take_vpmaddubsw():
    rng = np.random.default_rng(0)
    w = corners(rng, -64, 64, (N, K)).astype("int8")
    dense = topi.qnn.DenseInt8(w, target="avx2")
    a = corners(rng, 0, 255, (M, K)).astype("uint8")
    assert dense.max_exact_activation == 255 and dense.kernel_for(a) == "sat16"
    assert "every call: vpmaddubsw" in repr(dense)
    assert "TEXPR_MADDUBS_ACC" in dense.kernel(M, "sat16").source
    np.testing.assert_array_equal(dense(a), exact(a, w))


def test_full_range_weights_fall_back_to_the_exact_kernel():
    """Full-range weights: activations above max_exact_activation run the int16-pairs
    kernel (vpmaddubsw would saturate: shown on the same inputs), those within it vpmaddubsw;
    both exact."""
    rng = np.random.default_rng(1)
    w = corners(rng, -128, 127, (N, K)).astype("int8")
    dense = topi.qnn.DenseInt8(w, target="avx2")
    assert dense.max_exact_activation == 128
    assert "activations max <= 128: vpmaddubsw" in dense.rule
    a = corners(rng, 0, 255, (M, K)).astype("uint8")
    assert dense.kernel_for(a) == "int16_pairs"
    out = np.full((M, N), -1, np.int32)
    assert dense(a, out) is out
    np.testing.assert_array_equal(out, exact(a, w))
    assert "TEXPR_MADD_ACC" in dense.kernel(M, "int16_pairs").source
    wp = topi.testing.pack_dense_int8_weight_ref(w, dense.lanes)
    sat = np.empty((M, N), np.int32)
    dense.kernel(M, "sat16")(a, wp, sat)
    assert not np.array_equal(sat, exact(a, w))
    np.testing.assert_array_equal(sat, topi.testing.dense_int8_sat16_ref(a, wp))
    small = corners(rng, 0, 128, (M, K)).astype("uint8")
    assert dense.kernel_for(small) == "sat16"
    np.testing.assert_array_equal(dense(small), exact(small, w))


def test_avx512_takes_the_exact_vnni_kernel():
    """On AVX-512 every call is the exact dot_int8 (vpdpbusd); its schedule tensorizes
    dense_int8_packed (lowered only: AVX-512 through SIMDe is slow to compile; the same
    schedule on AVX2 is built and run)."""
    w = np.full((64, K), -128, "int8")
    dense = topi.qnn.DenseInt8(w, target="avx512")
    assert dense.kernel_for(np.full((1, K), 255, "uint8")) == "vnni" and "exact" in dense.rule
    data = te.placeholder((M, K), "uint8", name="data")
    packed = te.placeholder((2, K // 4, 32, 4), "int8", name="packed")
    out = topi.qnn.dense_int8_packed(data, packed)
    text = str(te.lower(topi.schedule(out, "avx512"), [data, packed, out], target="avx512"))
    assert "dot_uint8_int8_" in text
    f = te.build(topi.schedule(out, "avx2"), [data, packed, out], target="avx2")
    assert "_mm256_madd_epi16" in f.source
    rng = np.random.default_rng(2)
    a, wf = corners(rng, 0, 255, (M, K)).astype("uint8"), corners(rng, -128, 127, (64, K))
    wp = topi.testing.pack_dense_int8_weight_ref(wf.astype("int8"), 32)
    c = np.empty((M, 64), np.int32)
    f(a, wp, c)
    np.testing.assert_array_equal(c, exact(a, wf))


@pytest.mark.parametrize("form,group,wdtype,kernel", [
    ("dense_int8_sat16", 4, "int8", "dot_u8s8_sat16"),
    ("dense_int16_pairs", 2, "int16", "dot_int16_pairs")])
def test_avx2_only_kernels_are_not_chosen_on_avx512(form, group, wdtype, kernel):
    """dot_u8s8_sat16 and dot_int16_pairs have AVX2 code only: the schedules of their forms
    tensorize them on avx2 and run plain loops on avx512 (whose int8 kernel is VNNI), never
    an intrinsic the target cannot emit (lowered only)."""
    data = te.placeholder((M, K), "uint8", name="data")
    packed = te.placeholder((N // 16, K // group, 16, group), wdtype, name="packed")
    out = getattr(topi.qnn, form)(data, packed)
    texts = {t: str(te.lower(topi.schedule(out, t), [data, packed, out], target=t))
             for t in ("avx2", "avx512")}
    assert kernel in texts["avx2"] and kernel not in texts["avx512"]


def test_narrow_weights_split_rows_among_the_threads():
    """N = 16 is one block of columns: blocks of rows run in parallel instead (lowered)."""
    data = te.placeholder((64, K), "uint8", name="data")
    packed = te.placeholder((1, K // 4, 16, 4), "int8", name="packed")
    out = topi.qnn.dense_int8_sat16(data, packed)
    text = str(te.lower(topi.schedule(out, "avx2"), [data, packed, out], target="avx2"))
    assert "for parallel (i.outer.outer.j.outer.outer.fused, 0, 8)" in text


def test_lanes_that_are_not_whole_vectors_run_plain_loops():
    data = te.placeholder((M, K), "uint8", name="data")
    packed = te.placeholder((N // 4, K // 4, 4, 4), "int8", name="packed")
    out = topi.qnn.dense_int8_sat16(data, packed)
    text = str(te.lower(topi.schedule(out, "avx2"), [data, packed, out], target="avx2"))
    assert "dot_u8s8_sat16" not in text


def test_bad_input_is_refused():
    w = np.zeros((N, K), "int8")
    with pytest.raises(te.TexprError, match="weight must be a 2-D int8 array"):
        topi.qnn.DenseInt8(w.astype("float32"))
    for shape in ((24, K), (N, 0)):
        with pytest.raises(te.TexprError, match=r"N a multiple of 16 and K of 4, both > 0"):
            topi.qnn.DenseInt8(np.zeros(shape, "int8"), target="avx2")
    with pytest.raises(te.TexprError, match="target 'neon' is not x86"):
        topi.qnn.DenseInt8(w, target="neon")
    dense = topi.qnn.DenseInt8(w, target="avx2")
    with pytest.raises(te.TexprError, match=r"data must be a uint8 array \[M, 64\], got int8"):
        dense(np.zeros((M, K), "int8"))
    with pytest.raises(te.TexprError, match=r"got uint8 of shape \(7, 32\)"):
        dense(np.zeros((M, 32), "uint8"))
    assert dense(np.zeros((0, K), "uint8")).shape == (0, N)
    with pytest.raises(te.TexprError, match="form 'int16_pairs' is not packed"):
        dense.kernel(M, "int16_pairs")
    with pytest.raises(te.TexprError, match="dense_int8_sat16: expects uint8 data"):
        topi.qnn.dense_int8_sat16(te.placeholder((M, K), "int8"),
                                  te.placeholder((2, K // 4, 16, 4), "int8"))
    with pytest.raises(te.TexprError, match=r"dense_int16_pairs: weight must be packed "
                                            r"\[N/lanes, 32, lanes, 2\]"):
        topi.qnn.dense_int16_pairs(te.placeholder((M, K), "uint8"),
                                   te.placeholder((2, K // 4, 16, 4), "int16"))


def test_reduction_chunks():
    """Whole K when short, a divisor of K when a good one exists, else all of K up to twice
    INT8_MAX_KC or INT8_MAX_KC chunks and a tail (K = 2056: built and run below)."""
    from texpr.topi.cpu_int8 import int8_reduction_chunk
    assert [int8_reduction_chunk(K, 4) for K in (64, 1024, 1028, 2048, 2056, 4100)] == \
        [64, 1024, 1028, 1024, 1024, 820]
    rng = np.random.default_rng(3)
    w = rng.integers(-64, 65, (16, 2056)).astype("int8")
    a = rng.integers(0, 256, (2, 2056)).astype("uint8")
    np.testing.assert_array_equal(topi.qnn.DenseInt8(w, target="avx2")(a), exact(a, w))
