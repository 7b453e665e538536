"""Target "avx512": _mm512_* intrinsics, masked vector tails, native or through SIMDe.

Every kernel test runs twice: with TEXPR_AVX512_EMULATE=1 (the same source compiled with
SIMDe on AVX2, which is what the project's AVX2 machines do) and natively, the latter only on a
CPU with AVX-512 (skipped elsewhere, saying so). Integers must equal NumPy exactly; floats
agree within the dtype's tolerance (FMA contraction rounds differently).
"""
import os
import re
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr import testing as tt
from texpr.targets.build import compile_check_avx512, get_target, host_has
from support.guard_page import guard_page_run
from support.tensorize import tensorized_gemm_fp32

HAS_AVX512 = all(host_has(f) for f in ("avx512f", "avx512bw", "avx512dq", "avx512vl"))
MODES = [
    "simde",
    pytest.param("native", marks=pytest.mark.skipif(
        not HAS_AVX512, reason="this CPU has no AVX-512 (avx512f/bw/dq/vl): only the SIMDe "
                               "emulation of the avx512 target can run here")),
]
INT_DTYPES = ["int8", "uint8", "int16", "int32", "uint32", "int64"]
FLOAT_DTYPES = ["float32", "float64"]
FEW = settings(max_examples=6)     # each example compiles kernels: keep the file fast


@contextmanager
def avx512_mode(mode):
    old = os.environ.get("TEXPR_AVX512_EMULATE")
    os.environ["TEXPR_AVX512_EMULATE"] = "1" if mode == "simde" else "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ["TEXPR_AVX512_EMULATE"]
        else:
            os.environ["TEXPR_AVX512_EMULATE"] = old


def build(s, args, mode):
    with avx512_mode(mode):
        f = te.build(s, args, target="avx512")
    assert ("SIMDe" in repr(f)) == (mode == "simde"), repr(f)
    return f


def data_for(rng, dtype, n, nonzero=False):
    if dtype.startswith("float"):
        a = rng.uniform(-4, 4, n).astype(dtype)
        return np.where(np.abs(a) < 0.25, 1.0, a).astype(dtype) if nonzero else a
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)


def assert_matches(got, want, dtype, scale=1.0):
    """scale: the largest intermediate magnitude (FMA contraction rounds a*b+c once, NumPy
    twice, so a cancelling sum may differ by an ulp of its terms, not of its result)."""
    if dtype.startswith("float"):
        rtol, atol = tt.tolerance(dtype)
        np.testing.assert_allclose(got, want, rtol=rtol * 10, atol=rtol * 10 * scale + atol)
    else:
        np.testing.assert_array_equal(got, want)


def vector_1d(C, factor):
    s = te.create_schedule(C.op)
    _, xi = s[C].split(C.op.axis[0], factor=factor)
    s[C].vectorize(xi)
    return s


# ----------------------------------------------------------------------------- properties

OPS = {
    "+": (lambda x, y: x + y, lambda x, y: x + y),
    "-": (lambda x, y: x - y, lambda x, y: x - y),
    "*": (lambda x, y: x * y, lambda x, y: x * y),
    "min": (te.min, np.minimum),
    "max": (te.max, np.maximum),
    "/": (lambda x, y: x / y, lambda x, y: x / y),
    "fma": (lambda x, y: x * y + x, lambda x, y: x * y + x),
}


@pytest.mark.parametrize("mode", MODES)
@FEW
@given(dtype=st.sampled_from(FLOAT_DTYPES + INT_DTYPES),
       ops=st.lists(st.sampled_from(sorted(OPS)), min_size=1, max_size=5),
       factor=st.sampled_from([8, 16, 32, 64]),
       sizes=st.lists(st.integers(0, 150), min_size=1, max_size=4), seed=st.integers(0, 99))
def test_elementwise_chain(mode, dtype, ops, factor, sizes, seed):
    if dtype not in FLOAT_DTYPES:
        ops = [o for o in ops if o != "/"] or ["+"]
    n = te.var("n")
    A = te.placeholder((n,), dtype, "A")
    B = te.placeholder((n,), dtype, "B")

    def body(i):
        x = A[i]
        for o in ops:
            x = OPS[o][0](x, B[i])
        return x
    C = te.compute((n,), body, name="C")
    f = build(vector_1d(C, factor), [A, B, C], mode)
    rng = np.random.default_rng(seed)
    for m in sizes + [factor + 3]:          # a size no vector width divides, always
        a, b = data_for(rng, dtype, m), data_for(rng, dtype, m, nonzero=True)
        want, scale = a, 1.0
        with np.errstate(all="ignore"):
            for o in ops:
                scale = max(scale, float(np.abs(want * b).max(initial=0)))
                want = OPS[o][1](want, b).astype(dtype)
                scale = max(scale, float(np.abs(want).max(initial=0)))
        out = np.full(m + 64, 7, dtype)           # canary after the end: no write past it
        f(a, b, out[:m])
        assert_matches(out[:m], want, dtype, scale)
        assert (out[m:] == 7).all(), "wrote past the end of the output"


CASTS = [("int32", "float32"), ("float32", "int32"), ("float32", "float64"), ("float64", "float32"),
         ("int32", "float64"), ("float64", "int32"), ("int8", "float32"), ("uint8", "int32"),
         ("int16", "int64"), ("float32", "int16")]


@pytest.mark.parametrize("mode", MODES)
@FEW
@given(pair=st.sampled_from(CASTS), factor=st.sampled_from([8, 16, 32]),
       size=st.integers(1, 100), seed=st.integers(0, 99))
def test_casts(mode, pair, factor, size, seed):
    src, dst = pair
    n = te.var("n")
    A = te.placeholder((n,), src, "A")
    C = te.compute((n,), lambda i: (A[i] + A[i]).astype(dst), name="C")
    f = build(vector_1d(C, factor), [A, C], mode)
    rng = np.random.default_rng(seed)
    a = data_for(rng, src, size)
    if src.startswith("float") and not dst.startswith("float"):
        a = (a * 8).astype(src)                   # in range of the integer type
    elif src.startswith("int") or src.startswith("uint"):
        a = (a // 2).astype(src)                  # a + a must not overflow
    out = np.empty(size, dst)
    f(a, out)
    assert_matches(out, (a + a).astype(dst), dst)


@pytest.mark.parametrize("mode", MODES)
@FEW
@given(dtype=st.sampled_from(["float32", "float64", "int32", "int64"]),
       rows=st.integers(1, 40), k=st.integers(1, 7), factor=st.sampled_from([8, 16, 32]),
       reducer=st.sampled_from(["sum", "max"]), seed=st.integers(0, 99))
def test_reduction_vectorized_across_columns(mode, dtype, rows, k, factor, reducer, seed):
    """out[j] = reduce_k A[k, j], the column axis vectorized (with a tail), k inside."""
    A = te.placeholder((k, rows), dtype, "A")
    r = te.reduce_axis((0, k), "r")
    red = te.sum if reducer == "sum" else te.max
    C = te.compute((rows,), lambda j: red(A[r, j] * 3, axis=r), name="C")
    s = te.create_schedule(C.op)
    jo, ji = s[C].split(C.op.axis[0], factor=factor)
    s[C].reorder(jo, r, ji)
    s[C].vectorize(ji)
    f = build(s, [A, C], mode)
    rng = np.random.default_rng(seed)
    a = data_for(rng, dtype, k * rows).reshape(k, rows)
    if not dtype.startswith("float"):
        a = (a // 64).astype(dtype)
    out = np.empty(rows, dtype)
    f(a, out)
    with np.errstate(all="ignore"):
        want = (a * 3).astype(dtype)
        want = want.sum(axis=0, dtype=dtype) if reducer == "sum" else want.max(axis=0)
    assert_matches(out, want, dtype)


@pytest.mark.parametrize("mode", MODES)
@FEW
@given(data=st.data())
def test_matmul_any_schedule(mode, data):
    dims, values = data.draw(tt.extents(["m", "n", "k"], max_side=40))
    A = te.placeholder((dims["m"], dims["k"]), name="A")
    B = te.placeholder((dims["k"], dims["n"]), name="B")
    k = te.reduce_axis((0, dims["k"]), name="k")
    C = te.compute((dims["m"], dims["n"]), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k),
                   name="C")
    drawn = data.draw(tt.legal_schedules([C], max_factor=32), label="schedule")
    inputs = data.draw(tt.arrays_for([A, B], values), label="inputs")
    with avx512_mode(mode):
        tt.check_kernel(drawn.schedule, [A, B, C], lambda a, b: a @ b, inputs, target="avx512")


# ----------------------------------------------------------------------------- masked tails

TAIL_DTYPES = ["float32", "float64", "int32", "int64", "uint32", "int16", "int8", "uint8"]
MASK_OPS = ["_mm512_mask_storeu_ps", "_mm512_mask_storeu_pd", "_mm512_mask_storeu_epi32",
            "_mm512_mask_storeu_epi64", "_mm512_mask_storeu_epi16", "_mm512_mask_storeu_epi8",
            "_mm512_maskz_loadu_ps", "_mm512_maskz_loadu_pd", "_mm512_maskz_loadu_epi32",
            "_mm512_maskz_loadu_epi64", "_mm512_maskz_loadu_epi16", "_mm512_maskz_loadu_epi8"]


def tail_kernel(mode):
    """One kernel, one stage per dtype: C_d[i] = A_d[i] * 3 + A_d[i], split by the lanes of d
    and vectorized, with a tail for every n the lanes do not divide."""
    n = te.var("n")
    ins, outs = [], []
    for d in TAIL_DTYPES:
        A = te.placeholder((n,), d, f"A_{d}")
        ins.append(A)
        outs.append(te.compute((n,), lambda i: ins[-1][i] * 3 + ins[-1][i], name=f"C_{d}"))
    s = te.create_schedule([c.op for c in outs])
    for c, d in zip(outs, TAIL_DTYPES):
        _, xi = s[c].split(c.op.axis[0], factor=512 // (np.dtype(d).itemsize * 8))   # 1 zmm
        s[c].vectorize(xi)
    return build(s, ins + outs, mode)


@pytest.mark.parametrize("mode", MODES)
def test_masked_tail_sizes_1_to_40(mode):
    f = tail_kernel(mode)
    src = f.source
    for name in MASK_OPS:
        assert name in src, name
    assert not re.search(r"for \(int32_t \w*_lane\b", src), "the tail must not be a lane loop"
    rng = np.random.default_rng(1)
    for m in list(range(1, 41)) + [63, 64, 65, 129]:
        ins = []
        for d in TAIL_DTYPES:
            a = data_for(rng, d, m)
            ins.append(a if d.startswith("float") else (a // 8).astype(d))
        outs = [np.full(m + 64, 5, d) for d in TAIL_DTYPES]     # canaries after the end
        f(*ins, *[o[:m] for o in outs])
        for d, a, o in zip(TAIL_DTYPES, ins, outs):
            with np.errstate(all="ignore"):
                assert_matches(o[:m], (a * 3 + a).astype(d), d)
            assert (o[m:] == 5).all(), f"{d}, size {m}: wrote past the end"


def test_masked_tail_lowering_and_c_targets_keep_lane_loop():
    n = te.var("n")
    A = te.placeholder((n,), "float32", "A")
    C = te.compute((n,), lambda i: A[i] + 1.0, name="C")
    s = vector_1d(C, 16)
    avx512 = get_target("avx512")
    text = str(te.lower(s, [A, C], target=avx512))
    assert "predicate=ramp(" in text
    unmasked = avx512.with_(features=avx512.features - {"masked_tails"})
    assert "predicate" not in str(te.lower(s, [A, C], target=unmasked))
    for target in ("c", "avx2"):
        f = te.build(s, [A, C], target=target)
        assert "texpr_mstore" not in f.source
        if target == "c":
            assert "mask" not in f.source
        else:       # masked_wide_tails: two 8-lane halves under vmaskmovps
            assert "_mm256_maskstore_ps" in f.source
            assert not re.search(r"for \(int32_t \w*_lane\b", f.source), f.source
        a = np.arange(21, dtype="float32")
        out = np.empty(21, "float32")
        f(a, out)
        np.testing.assert_array_equal(out, a + 1)


@pytest.mark.parametrize("mode", MODES)
def test_masked_tail_never_touches_memory_past_the_end(mode):
    """Inputs and outputs end right before a PROT_NONE page: any access past the end faults."""
    guard_page_run("1" if mode == "simde" else "0", "avx512", "_mm512_mask_storeu_pd",
                    "_mm512_maskz_loadu_epi8")


def test_avx2_masked_tail_never_touches_memory_past_the_end():
    """The same on target avx2: vmaskmov / vpmaskmov tails of its 32- and 64-bit elements
    (masked-off lanes never fault), lane loops of the 8- and 16-bit ones."""
    guard_page_run("0", "avx2", "_mm256_maskstore_pd", "_mm256_maskload_epi64",
                    "_mm256_maskstore_epi32", "_mm256_maskload_ps")


# ----------------------------------------------------------------------------- source and target

def test_source_works_both_ways_and_assembly_uses_zmm():
    n = te.var("n")
    A = te.placeholder((n,), "float32", "A")
    I = te.placeholder((n,), "int32", "I")
    C = te.compute((n,), lambda i: te.max(A[i] * 2.0 + I[i].astype("float32"), 0.0), name="C")
    D = te.compute((n,), lambda i: (C[i] * 3.0).astype("int32") * I[i] - I[i], name="D")
    s = te.create_schedule(D.op)
    for t in (C, D):
        _, xi = s[t].split(t.op.axis[0], factor=16)
        s[t].vectorize(xi)
    f = build(s, [A, I, D], "simde")
    src = f.source
    assert "#if defined(TEXPR_SIMDE)" in src and "#include <simde/x86/avx512.h>" in src
    assert "#define SIMDE_ENABLE_NATIVE_ALIASES" in src and "#include <immintrin.h>" in src
    for name in ("_mm512_fmadd_ps", "_mm512_max_ps", "_mm512_cvtepi32_ps", "_mm512_cvttps_epi32",
                 "_mm512_mullo_epi32", "_mm512_sub_epi32", "_mm512_loadu_ps", "_mm512_set1_ps"):
        assert name in src, name
    asm = compile_check_avx512(src)         # real gcc -mavx512f ... -S
    assert "zmm" in asm and "vfmadd" in asm
    if HAS_AVX512:
        g = build(s, [A, I, D], "native")
        assert g.source == src
    rng = np.random.default_rng(0)
    for m in (1, 15, 16, 33):
        a = rng.uniform(-3, 3, m).astype("float32")
        i = rng.integers(-50, 50, m).astype("int32")
        out = np.empty(m, "int32")
        f(a, i, out)
        c = np.maximum(a * np.float32(2) + i.astype("float32"), np.float32(0))
        want = (c * np.float32(3)).astype("int32") * i - i
        assert np.abs(out - want).max() <= np.abs(i).max()   # FMA may move a truncation by 1


def test_target_flags_and_repr():
    with avx512_mode("simde"):
        t = get_target("avx512")
        assert "-DTEXPR_SIMDE" in t.flags and "-mavx512f" not in t.flags
        assert t.vector_bits == 512 and t.has("masked_tails") and "SIMDe" in t.note
    if HAS_AVX512:
        with avx512_mode("native"):
            t = get_target("avx512")
            assert "-DTEXPR_SIMDE" not in t.flags and t.note == "native"
            for flag in ("-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq"):
                assert flag in t.flags
    # vector_popcount (VPOPCNTDQ: the bit-serial popcount GEMM) where the CPU lists it, never
    # through SIMDe (slower than the nibble lookups) unless an option asks
    with avx512_mode("simde"):
        assert not get_target("avx512").has("vector_popcount")
        assert get_target("avx512 -vpopcntdq=on").has("vector_popcount")
    if HAS_AVX512:
        with avx512_mode("native"):
            t = get_target("avx512")
            has = host_has("avx512_vpopcntdq")
            assert t.has("vector_popcount") == has and ("-mavx512vpopcntdq" in t.flags) == has
            assert not get_target("avx512 -vpopcntdq=off").has("vector_popcount")
    # native is the best ISA the CPU runs natively, never an emulated one
    with avx512_mode("simde"):
        assert get_target("native").name != "avx512"
    if HAS_AVX512:
        with avx512_mode("native"):
            assert get_target("native").name == "avx512"


@pytest.mark.parametrize("mode", MODES)
def test_gemm_tile_of_fewer_columns_runs_under_lane_masks(mode):
    """gemm_fp32(masked_cols=True): B [K, 37] read in place by 6 x 32 tiles, K in two chunks
    (reset + update): the last column tile (5 valid columns: one masked vector, one empty)
    and the last row tile (13 = 2 x 6 + 1) are tensorized too; nothing is written past the
    valid columns (C is a view into a larger array whose other columns must stay NaN)."""
    from texpr.targets.intrin import gemm_fp32
    M, N, K, mr, nr, kc = 13, 37, 64, 6, 32, 32
    A = te.placeholder((M, K), name="A")
    B = te.placeholder((K, N), name="B")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], mr, nr)
    ko, ki = s[C].split(k, factor=kc)
    s[C].reorder(jo, ko, io, ii, ji, ki)
    s[C].tensorize(ii, gemm_fp32(mr, nr, kc, masked_cols=True))
    f = build(s, [A, B, C], mode)
    assert "_mm512_maskz_loadu_ps" in f.source and "(partial tile)" in f.source
    assert "for (int32_t j" not in f.source          # no scalar loop over the columns
    rng = np.random.default_rng(5)
    a, b = rng.random((M, K), "float32"), rng.random((K, N), "float32")
    c = np.full((M, N), np.nan, "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4)
    with pytest.raises(te.TexprError, match="multiple of 16"):
        gemm_fp32(mr, 24, kc, masked_cols=True)


@pytest.mark.parametrize("mode", MODES)
def test_micro_kernels_of_intrin_py_build_for_avx512(mode):
    """The AVX-512 implementations of texpr.targets.intrin (fp32 GEMM tile, int8 VNNI dot)."""
    from texpr.targets.intrin import dot_int8
    rng = np.random.default_rng(2)
    M, N, K, mr, nr, kc = 13, 32, 64, 6, 16, 32       # 13 rows: a 1-row partial tile
    s, (A, B, C) = tensorized_gemm_fp32(M, N, K, mr, nr, kc)
    f = build(s, [A, B, C], mode)
    assert "_mm512_fmadd_ps" in f.source and "(partial tile)" in f.source
    a, b = rng.random((M, K), "float32"), rng.random((K, N), "float32")
    c = np.empty((M, N), "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4)

    M, N, K, lanes, rows = 5, 32, 64, 16, 2           # 5 rows: a 1-row partial tile
    A = te.placeholder((M, K), "uint8", name="A")
    W = te.placeholder((N, K), "int8", name="W")
    WP = te.compute((N // lanes, K // 4, lanes, 4),
                    lambda n, kg, j, kk: W[n * lanes + j, kg * 4 + kk], name="WP")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(
        A[i, k].astype("int32") * WP[j // lanes, k // 4, j % lanes, k % 4].astype("int32"),
        axis=k), name="C")
    s = te.create_schedule(C.op)
    io, ii = s[C].split(C.op.axis[0], rows)
    jo, ji = s[C].split(C.op.axis[1], lanes)
    ko, ki = s[C].split(k, 32)
    kg, kk = s[C].split(ki, 4)
    s[C].reorder(io, jo, ko, ii, ji, kg, kk)
    s[C].tensorize(ii, dot_int8(32, lanes, "uint8", rows=rows))
    if mode == "native" and not host_has("avx512_vnni"):
        pytest.skip("this CPU has AVX-512 but no VNNI (vpdpbusd)")
    f = build(s, [A, W, C], mode)
    assert "_mm512_dpbusd_epi32" in f.source
    a = rng.integers(0, 256, (M, K)).astype("uint8")
    w = rng.integers(-128, 128, (N, K)).astype("int8")
    c = np.empty((M, N), "int32")
    f(a, w, c)
    np.testing.assert_array_equal(c, a.astype("int32") @ w.astype("int32").T)
