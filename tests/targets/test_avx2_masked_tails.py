"""Target avx2's masked tails (feature masked_wide_tails): in a kernel of symbolic sizes a
vectorized loop's tail of 32- or 64-bit elements is one vector under vmaskmovps/pd,
vpmaskmovd/q (a vector mask, lanes past the end neither read nor written), in 256- and 128-bit
vectors; 8- and 16-bit elements, which AVX2 cannot mask, keep their tail loop, as do kernels
of constant sizes. Results equal NumPy's at sizes no vector divides, on
target avx2 and on native (avx2 under TEXPR_AVX512_EMULATE=1; run this file both ways). The
guard-page test of these tails: test_target_avx512.py (support/guard_page.py)."""
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr.targets.build import get_target

TARGETS = ["avx2", "native"]
WIDE = ["float32", "float64", "int32", "int64", "uint32", "uint64"]
NARROW = ["int16", "int8", "uint8"]
LANE_LOOP = re.compile(r"for \(int32_t \w*_inner\w* = 0; \w+ < texpr_max_int32")


def _data(rng, dtype, m):
    if dtype.startswith("float"):
        return rng.uniform(-4, 4, m).astype(dtype)
    return rng.integers(0, 50, m).astype(dtype)


def _kernel(target, dtypes_, factor=None):
    """One stage per dtype, C_d[i] = A_d[i] * 3 + A_d[i], split by a vector of the target's
    lanes (or `factor`) and vectorized: n symbolic, so each has a tail."""
    n = te.var("n")
    bits = get_target(target).vector_bits if target == "avx2" else 256
    ins = [te.placeholder((n,), d, "A_" + d) for d in dtypes_]
    outs = [te.compute((n,), lambda i, A=A: A[i] * 3 + A[i], name="C_" + A.dtype) for A in ins]
    s = te.create_schedule([c.op for c in outs])
    for c in outs:
        _, xi = s[c].split(c.op.axis[0], factor=factor or bits // np.dtype(c.dtype).itemsize // 8)
        s[c].vectorize(xi)
    return te.build(s, ins + outs, target=target)


def _check(f, dtypes_, sizes, seed=0):
    rng = np.random.default_rng(seed)
    for m in sizes:
        ins = [_data(rng, d, m) for d in dtypes_]
        outs = [np.full(m + 40, 5, d) for d in dtypes_]      # canaries after the end
        f(*ins, *[o[:m] for o in outs])
        for d, a, o in zip(dtypes_, ins, outs):
            np.testing.assert_allclose(o[:m], (a * 3 + a).astype(d), rtol=1e-6)
            assert (o[m:] == 5).all(), f"{d}, size {m}: wrote past the end"


@pytest.mark.parametrize("target", TARGETS)
def test_wide_elements_tail_is_one_masked_vector(target):
    f = _kernel(target, WIDE + NARROW)
    if f.target == "avx2":
        for name in ("_mm256_maskload_ps", "_mm256_maskstore_ps", "_mm256_maskload_pd",
                     "_mm256_maskstore_pd", "_mm256_maskload_epi32", "_mm256_maskstore_epi32",
                     "_mm256_maskload_epi64", "_mm256_maskstore_epi64"):
            assert name in f.source, name
        # the narrow ones: their tail loop (split off: no lane loop around masked code, no
        # portable masked helper)
        assert "texpr_mload" not in f.source and "texpr_mstore" not in f.source
        assert len(LANE_LOOP.findall(f.source)) == len(NARROW), f.source
    _check(f, WIDE + NARROW, list(range(1, 41)) + [63, 64, 65])


@pytest.mark.parametrize("target", TARGETS)
def test_half_width_vectors_mask_as_sse(target):
    """float64 and float32 in one loop of 4 lanes: float64x4 (256 bits) and float32x4 (128
    bits, _mm_maskload_ps), int64x2 in a loop of 2."""
    n = te.var("n")
    A = te.placeholder((n,), "float64", "A")
    B = te.placeholder((n,), "float32", "B")
    I = te.placeholder((n,), "int64", "I")
    C = te.compute((n,), lambda i: A[i] * B[i].astype("float64"), name="C")
    D = te.compute((n,), lambda i: (B[i] * 2.0).astype("float32"), name="D")
    E = te.compute((n,), lambda i: I[i] + 7, name="E")
    s = te.create_schedule([C.op, D.op, E.op])
    for t, factor in ((C, 4), (D, 4), (E, 2)):
        _, xi = s[t].split(t.op.axis[0], factor=factor)
        s[t].vectorize(xi)
    f = te.build(s, [A, B, I, C, D, E], target=target)
    if f.target == "avx2":
        for name in ("_mm_maskload_ps", "_mm_maskstore_ps", "_mm256_maskload_pd",
                     "_mm_maskload_epi64", "_mm_maskstore_epi64"):
            assert name in f.source, name
    rng = np.random.default_rng(3)
    for m in range(1, 12):
        a, b = rng.standard_normal(m), rng.standard_normal(m).astype("float32")
        i = rng.integers(-9, 9, m)
        c, d, e = np.full(m + 8, 5.0), np.full(m + 8, 5, "float32"), np.full(m + 8, 5)
        f(a, b, i, c[:m], d[:m], e[:m])
        np.testing.assert_allclose(c[:m], a * b.astype("float64"), rtol=1e-12)
        np.testing.assert_allclose(d[:m], b * 2, rtol=1e-6)
        np.testing.assert_array_equal(e[:m], i + 7)
        assert (c[m:] == 5).all() and (d[m:] == 5).all() and (e[m:] == 5).all()


def test_constant_sizes_keep_split_tails():
    """A kernel of constant sizes keeps AVX2's split-off tails (an exact narrower vector or
    scalars: AMD's masked stores are slow; pipeline._masks), with the same results."""
    A = te.placeholder((21,), "float32", "A")
    C = te.compute((21,), lambda i: A[i] * 3 + A[i], name="C")
    s = te.create_schedule(C.op)
    _, xi = s[C].split(C.op.axis[0], factor=8)
    s[C].vectorize(xi)
    f = te.build(s, [A, C], target="avx2")
    assert "maskload" not in f.source and "maskstore" not in f.source
    a = np.arange(21, dtype="float32")
    c = np.empty(21, "float32")
    f(a, c)
    np.testing.assert_array_equal(c, a * 3 + a)


def test_masked_access_rule():
    """Which vectors target avx2 masks: 32- and 64-bit elements in 128 or 256 bits."""
    t = get_target("avx2")
    assert t.masks_tails and not t.has("masked_tails")
    assert t.masked_access(32, 256) and t.masked_access(64, 128)
    assert not t.masked_access(16, 256) and not t.masked_access(8, 128)
    assert not t.masked_access(32, 64)
    assert get_target("avx512").masked_access(8, 512) and not get_target("c").masks_tails


@settings(max_examples=12, deadline=None)
@given(dtype=st.sampled_from(WIDE), factor=st.sampled_from([2, 4, 8, 16]),
       sizes=st.lists(st.integers(1, 70), min_size=1, max_size=4),
       pad_vectors=st.integers(0, 2), target=st.sampled_from(TARGETS))
def test_any_tail_and_padded_copy_match_numpy(dtype, factor, sizes, pad_vectors, target):
    """A stage of any vector split (R: a masked tail) and a copy of a symbolic width into
    whole vectors after `pad_vectors` vectors of zeros (P: its last vector a masked select,
    vectorize._masked_select) equal NumPy at every size."""
    pad = pad_vectors * factor
    n = te.var("n")
    A = te.placeholder((n,), dtype, "A")
    width = (n + pad + factor - 1) // factor * factor
    P = te.compute((width,), lambda i: te.if_then_else(
        te.all(i >= pad, i < n + pad), A[i - pad], te.const(0, dtype)), name="P")
    R = te.compute((n,), lambda i: A[i] * 3 + A[i], name="R")
    s = te.create_schedule([P.op, R.op])
    for t in (P, R):
        _, xi = s[t].split(t.op.axis[0], factor=factor)
        s[t].vectorize(xi)
    f = te.build(s, [A, P, R], target=target)
    if f.target == "avx2" and factor * np.dtype(dtype).itemsize in (16, 32):
        assert "maskload" in f.source and "maskstore" in f.source
        assert not re.search(r"for \(int32_t \w*_lane\b", f.source), f.source
    rng = np.random.default_rng(sum(sizes))
    for m in sizes:
        a = _data(rng, dtype, m)
        w = (m + pad + factor - 1) // factor * factor
        p, r = np.full(w + 20, 5, dtype), np.full(m + 20, 5, dtype)
        f(a, p[:w], r[:m])
        want = np.zeros(w, dtype)
        want[pad:pad + m] = a
        np.testing.assert_array_equal(p[:w], want)
        np.testing.assert_allclose(r[:m], (a * 3 + a).astype(dtype), rtol=1e-6)
        assert (p[w:] == 5).all() and (r[m:] == 5).all()
