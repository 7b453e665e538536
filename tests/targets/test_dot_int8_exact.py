"""dot_int8 is exact on the full 8-bit range on every target that implements it: random
full-range inputs and the extremes (0/255 or -128/127 activations x -128/127 weights), where
a pair of products no longer fits in int16 (AVX2's vpmaddubsw would saturate it)."""
import shutil

import numpy as np
import pytest

import texpr as te
from texpr.targets.intrin import dot_int8

M, N, K = 5, 64, 128           # 5 rows: the partial-tile form runs too (5 % 2)

TOOLS = {"neon": ("aarch64-linux-gnu-gcc", "qemu-aarch64"), "hvx": ("clang", "ld.lld", "qemu-hexagon")}
CASES = [("avx2", "uint8", 16, "_mm256_madd_epi16"), ("avx512", "uint8", 16, "_mm512_dpbusd_epi32"),
         ("neon", "int8", 16, "vdotq_s32"), ("hvx", "uint8", 32, "Q6_Vw_vrmpyacc_VwVubVb"),
         ("hvx", "int8", 32, "Q6_Vw_vrmpyacc_VwVbVb")]


def int8_dense(a_dtype, lanes, kc=64, rows=2):
    A = te.placeholder((M, K), a_dtype, name="A")
    W = te.placeholder((N, K), "int8", name="W")
    WP = te.compute((N // lanes, K // 4, lanes, 4),
                    lambda n, kg, j, kk: W[n * lanes + j, kg * 4 + kk], name="WP")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(
        A[i, k].astype("int32") * WP[j // lanes, k // 4, j % lanes, k % 4].astype("int32"), axis=k),
        name="C")
    s = te.create_schedule(C.op)
    i, j = C.op.axis
    io, ii = s[C].split(i, rows)
    jo, ji = s[C].split(j, lanes)
    ko, ki = s[C].split(k, kc)
    kg, kk = s[C].split(ki, 4)
    s[C].reorder(io, jo, ko, ii, ji, kg, kk)
    s[C].tensorize(ii, dot_int8(kc, lanes, a_dtype, rows=rows))
    return s, [A, W, C]


def inputs(a_dtype, seed):
    """Full-range random, extreme random, and the all-extreme corners."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(a_dtype)
    lo, hi = int(info.min), int(info.max)
    yield rng.integers(lo, hi + 1, (M, K)), rng.integers(-128, 128, (N, K))
    yield rng.choice([lo, hi], (M, K)), rng.choice([-128, 127], (N, K))
    for av in (lo, hi):
        for wv in (-128, 127):
            yield np.full((M, K), av), np.full((N, K), wv)


@pytest.mark.parametrize("target,a_dtype,lanes,instr", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_dot_int8_is_exact_on_the_full_range(target, a_dtype, lanes, instr):
    missing = [t for t in TOOLS.get(target, ()) if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{target}: {', '.join(missing)} not installed (`make test` installs them as root)")
    s, args = int8_dense(a_dtype, lanes)
    f = te.build(s, args, target=target)
    assert instr in f.source and "(partial tile)" in f.source
    for a, w in inputs(a_dtype, seed=len(target)):
        a, w = a.astype(a_dtype), w.astype("int8")
        c = np.empty((M, N), "int32")
        f(a, w, c)
        np.testing.assert_array_equal(c, a.astype("int64") @ w.astype("int64").T)


def test_dot_int16_pairs_is_exact_on_the_full_int8_range():
    """AVX2's int8 dense on int16-widened operands (dot_int16_pairs): u8 activations and s8
    weights widened in the kernel, weights packed [N/lanes, K/2, lanes, 2]; the partial row
    tile (5 % 2) and the reduction chunks (kc 64 of 128) included; exact at the corners.
    Pinned to target "avx2": the micro-kernel is AVX2's only (on AVX-512 the int8 dense
    schedules and topi.qnn.DenseInt8 run dot_int8's VNNI kernel; test_dense_int8.py)."""
    from texpr.targets.intrin import dot_int16_pairs
    lanes, kc, rows = 16, 64, 2
    A = te.placeholder((M, K), "uint8", name="A")
    W = te.placeholder((N, K), "int8", name="W")
    A16 = te.compute((M, K), lambda i, k: A[i, k].astype("int16"), name="A16")
    WP = te.compute((N // lanes, K // 2, lanes, 2),
                    lambda n, kg, j, kk: W[n * lanes + j, kg * 2 + kk].astype("int16"), name="WP")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(
        A16[i, k].astype("int32") * WP[j // lanes, k // 2, j % lanes, k % 2].astype("int32"),
        axis=k), name="C")
    s = te.create_schedule(C.op)
    i, j = C.op.axis
    io, ii = s[C].split(i, rows)
    jo, ji = s[C].split(j, lanes)
    ko, ki = s[C].split(k, kc)
    kg, kk = s[C].split(ki, 2)
    s[C].reorder(jo, ko, io, ii, ji, kg, kk)
    s[C].tensorize(ii, dot_int16_pairs(kc, lanes, rows))
    f = te.build(s, [A, W, C], target="avx2")
    assert "TEXPR_MADD_ACC" in f.source and "(partial tile)" in f.source
    for a, w in inputs("uint8", seed=16):
        a, w = a.astype("uint8"), w.astype("int8")
        c = np.empty((M, N), "int32")
        f(a, w, c)
        np.testing.assert_array_equal(c, a.astype("int64") @ w.astype("int64").T)
    with pytest.raises(te.TexprError, match="kc=63 must be a multiple of 2"):
        dot_int16_pairs(63)
    with pytest.raises(te.TexprError, match="lanes=12 must be a multiple of 8"):
        dot_int16_pairs(64, lanes=12)


def test_dot_u8s8_sat16_computes_what_it_declares():
    """AVX2's vpmaddubsw micro-kernel saturates each pair sum at int16, as its declaration
    (and topi.qnn.dense_int8_sat16) says: equal to the saturating NumPy reference bit for bit
    at the extremes, where it differs from the exact product; the partial row tile (5 % 2)
    and the reduction chunks (kc 64 of 128: the update part) included."""
    import texpr.topi as topi
    from texpr.targets.intrin import dot_u8s8_sat16
    lanes, kc, rows = 16, 64, 2
    A = te.placeholder((M, K), "uint8", name="A")
    WP = te.placeholder((N // lanes, K // 4, lanes, 4), "int8", name="WP")
    C = topi.qnn.dense_int8_sat16(A, WP)
    s = te.create_schedule(C.op)
    i, j = C.op.axis
    kg, h = C.op.reduce_axis
    io, ii = s[C].split(i, rows)
    jo, ji = s[C].split(j, lanes)
    ko, ki = s[C].split(kg, kc // 4)
    s[C].reorder(jo, ko, io, ii, ji, ki, h)
    s[C].tensorize(ii, dot_u8s8_sat16(kc, lanes, rows))
    f = te.build(s, [A, WP, C], target="avx2")
    assert "TEXPR_MADDUBS_ACC" in f.source and "(partial tile)" in f.source
    saturated = False
    for a, w in inputs("uint8", seed=8):
        a, wp = a.astype("uint8"), topi.testing.pack_dense_int8_weight_ref(w.astype("int8"), lanes)
        c = np.empty((M, N), "int32")
        f(a, wp, c)
        np.testing.assert_array_equal(c, topi.testing.dense_int8_sat16_ref(a, wp))
        saturated |= not np.array_equal(c, topi.testing.dense_int8_packed_ref(a, wp))
    assert saturated, "the extremes should saturate a pair sum"
    with pytest.raises(te.TexprError, match="kc=62 must be a multiple of 4"):
        dot_u8s8_sat16(62)
    with pytest.raises(te.TexprError, match="lanes=12 must be a multiple of 8"):
        dot_u8s8_sat16(64, lanes=12)
