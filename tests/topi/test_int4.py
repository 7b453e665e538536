"""int4 (topi/int4.py, topi/cpu_int4.py) against NumPy: packing bit-exact, dense_int4 within
its stated float32 bound, the 4-bit embedding bag."""
import contextlib
import functools
import platform
import re
import shutil

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr import TexprError, topi
from texpr.topi import testing as tt


def _dense_bound(x, scale):
    """dense_int4's stated accuracy: float32 sums of |x| * 16 * scale-sized terms, so
    |out - exact| <= 2^-18 * sum_k |x[i, k]| * 16 * max scale of row j (the micro-kernel sums
    x * q' with q' = q + z in 0..15 per group and takes z * sum x out once per group)."""
    s = np.abs(np.asarray(scale, np.float64)).reshape(scale.shape[0], -1).max(axis=1)
    return 2.0 ** -18 * np.abs(x).astype(np.float64).sum(axis=1)[:, None] * 16 * s[None, :]


def _check_dense(got, x, packed, scale, zp=None):
    want = tt.dense_int4_ref(x, packed, scale, zp)
    err = np.abs(got - want)
    bound = _dense_bound(x, scale)
    assert (err <= bound).all(), f"max error {err.max()} over the bound (min {bound.min()})"


def test_pack_and_unpack_bit_exact():
    """pack_int4 / unpack_int4 (one kernel, c target) equal the NumPy references, an odd
    extent included (its last high nibble is zero)."""
    rng = np.random.default_rng(0)
    v = rng.integers(-8, 8, (3, 7)).astype("int8")
    p = rng.integers(0, 256, (3, 5)).astype("uint8")
    V = te.placeholder(v.shape, "int8", name="V")
    P = te.placeholder(p.shape, "uint8", name="P")
    packed = topi.nn.pack_int4(V)
    signed, unsigned = topi.nn.unpack_int4(P), topi.nn.unpack_int4(P, extent=9, signed=False)
    mod = te.build(te.create_schedule([packed.op, signed.op, unsigned.op]),
                   [V, P, packed, signed, unsigned], target="c")
    got = [np.empty((3, 4), "uint8"), np.empty((3, 10), "int8"), np.empty((3, 9), "uint8")]
    mod(v, p, *got)
    np.testing.assert_array_equal(got[0], tt.pack_int4_ref(v))
    np.testing.assert_array_equal(got[1], tt.unpack_int4_ref(p))
    np.testing.assert_array_equal(got[2], tt.unpack_int4_ref(p, 9, signed=False))
    np.testing.assert_array_equal(tt.unpack_int4_ref(tt.pack_int4_ref(v), 7), v)
    assert got[0][0, 0] == (v[0, 0] & 15) | ((v[0, 1] & 15) << 4)      # even value: low nibble


DENSE = {  # name: (target, M, N, K, group_size, zero point, per-channel 1-D scale)
    "native-signed-groups": ("native", 2, 12, 256, 64, False, False),
    "native-zp-per-channel": ("native", 1, 6, 128, None, True, True),
    "c-zp-groups": ("c", 2, 5, 32, 16, True, False),
    "native-int8-data": ("native", 2, 8, 128, 64, False, False),
    "native-int8-zp-groups": ("native", 1, 6, 256, 64, True, False),
    "native-zp-groups": ("native", 2, 5, 256, 128, True, False),
    "native-signed-groups-convert": ("native", 2, 12, 256, 64, False, False),
    # groups of 128: 16 lanes on AVX-512 (its zmm denormal step where AVX-512 is native)
    "native-signed-groups-128": ("native", 2, 12, 512, 128, False, False),
}


@contextlib.contextmanager
def denormal_step(on):
    """CpuInfo.denormal_fma as `on` for this host (targets/host.DENORMAL_FMA_FULL_SPEED): the
    x86 float32 step that reads nibbles as denormals is correct on any x86 host, chosen only
    where it is fast, so the tests build both steps whatever the host."""
    from texpr.targets import host
    fields = dict(host.host_cpu().fields)
    me = (fields.get("vendor_id", ""), host._int(fields.get("cpu family")))
    table = host.DENORMAL_FMA_FULL_SPEED
    host.DENORMAL_FMA_FULL_SPEED = (table | {me}) if on else (table - {me})
    try:
        yield
    finally:
        host.DENORMAL_FMA_FULL_SPEED = table


@functools.lru_cache(maxsize=None)
def built_dense(key):
    """DENSE[key]'s case and its module, built once per test process."""
    target, M, N, K, gs, zp, pc = DENSE[key]
    G = 1 if gs is None else K // gs
    X = te.placeholder((M, K), "int8" if "int8" in key else "float32", name="X")
    W = te.placeholder((N, K // 2), "uint8", name="W")
    S = te.placeholder((N,) if pc else (N, G), name="S")
    Z = te.placeholder((N,) if pc else (N, G), "uint8", name="Z") if zp else None
    out = topi.nn.dense_int4(X, W, S, Z, group_size=gs)
    ins = [X, W, S] + ([Z] if zp else [])
    with denormal_step(not key.endswith("-convert")):
        mod = te.build(topi.schedule([out], target), ins + [out], target=target)
    return DENSE[key] + (X.dtype,), mod


@pytest.fixture(scope="module", params=sorted(DENSE))
def dense(request):
    return built_dense(request.param)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), spread=st.sampled_from([1e-3, 1.0, 1e3]))
def test_dense_int4(dense, seed, spread):
    """Drawn weights (each quantised as its layout says) and data of drawn magnitude (int8 data:
    the full range); on native the micro-kernel (4-row tiles and a 1- or 2-row tail, float32
    or int8 data), on c the plain loops."""
    (target, M, N, K, gs, zp, pc, xdt), mod = dense
    rng = np.random.default_rng(seed)
    packed, scale, z = tt.quantize_int4_ref(rng.standard_normal((N, K)).astype("float32") * spread,
                                            gs, zero_point=zp)
    if pc:
        scale, z = scale.ravel(), None if z is None else z.ravel()
    x = rng.standard_normal((M, K)).astype("float32") if xdt == "float32" else \
        rng.integers(-128, 128, (M, K)).astype("int8")
    got = np.empty((M, N), "float32")
    mod(x, packed, scale, *([z] if zp else []), got)
    _check_dense(got, x, packed, scale, z)


@pytest.mark.parametrize("key", sorted(k for k in DENSE if "int8" in k))
def test_dense_int4_int8_extremes(key):
    """int8 data at -128 against the largest offset nibble (q' = 15) everywhere: the u8 x s8 pair
    sums (2 x 15 x 128) and their int16 sums stay exact, the result equals the reference."""
    (target, M, N, K, gs, zp, pc, xdt), mod = built_dense(key)
    G = 1 if gs is None else K // gs
    shape = (N,) if pc else (N, G)
    nib = 0 if zp else 7                # q' = 15: unsigned 0 - z (z = 15), signed 7 + 8
    packed = np.full((N, K // 2), nib * 17, "uint8")
    scale = np.full(shape, 0.5, "float32")
    z = np.full(shape, 15, "uint8") if zp else None
    x = np.full((M, K), -128, "int8")
    got = np.empty((M, N), "float32")
    mod(x, packed, scale, *([z] if zp else []), got)
    np.testing.assert_array_equal(got, tt.dense_int4_ref(x, packed, scale, z))
    assert got[0, 0] == -128 * (-15 if zp else 7) * K * 0.5


@pytest.mark.parametrize("magnitude", [0.0, 1e-30, 1e30])
def test_dense_int4_float_data_magnitudes(magnitude):
    """float32 data far from 1 (and all zero): the x86 micro-kernel scales the data row by
    2^(k0 - 4 j) from its largest value, so that neither the scaled row overflows nor the
    products of the nibbles read as denormals underflow."""
    (target, M, N, K, gs, zp, pc, xdt), mod = built_dense("native-signed-groups")
    rng = np.random.default_rng(4)
    packed, scale, _ = tt.quantize_int4_ref(rng.standard_normal((N, K)).astype("float32"), gs)
    x = (rng.standard_normal((M, K)) * magnitude).astype("float32")
    got = np.empty((M, N), "float32")
    mod(x, packed, scale, got)
    _check_dense(got, x, packed, scale)
    assert (got != 0).all() == (magnitude != 0)


def _x86_missing():
    return None if platform.machine().lower() in ("x86_64", "amd64") else \
        f"MXCSR is x86's ({platform.machine()} here)"


def test_dense_int4_denormals_flushed_by_the_caller(monkeypatch):
    """DAZ and FTZ set in the calling thread (as torch.set_flush_denormal(True) sets them): the
    x86 float32 micro-kernel, which reads nibbles as denormal floats, clears DAZ for the call
    and restores the caller's MXCSR after it."""
    if _x86_missing():
        pytest.skip(_x86_missing())
    import cffi
    from texpr.targets.toolchain import compile_shared
    path, _ = compile_shared("unsigned texpr_test_mxcsr(unsigned set) {\n"
                          "  unsigned old = __builtin_ia32_stmxcsr();\n"
                          "  if (set) __builtin_ia32_ldmxcsr(set);\n  return old;\n}\n", ["-O2"])
    ffi = cffi.FFI()
    ffi.cdef("unsigned texpr_test_mxcsr(unsigned set);")
    lib = ffi.dlopen(path)
    monkeypatch.setenv("TEXPR_NUM_THREADS", "1")     # the kernel runs in this thread
    (target, M, N, K, gs, zp, pc, xdt), mod = built_dense("native-signed-groups")
    rng = np.random.default_rng(5)
    packed, scale, _ = tt.quantize_int4_ref(rng.standard_normal((N, K)).astype("float32"), gs)
    x = rng.standard_normal((M, K)).astype("float32")
    got = np.empty((M, N), "float32")
    old = lib.texpr_test_mxcsr(0)
    try:
        lib.texpr_test_mxcsr(old | 0x8040)              # FTZ (bit 15) and DAZ (bit 6)
        mod(x, packed, scale, got)
        after = lib.texpr_test_mxcsr(0)
    finally:
        lib.texpr_test_mxcsr(old)
    assert after == old | 0x8040
    _check_dense(got, x, packed, scale)


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_dense_int4_uses_the_micro_kernel_on_vector_targets(dtype):
    X = te.placeholder((1, 128), dtype, name="X")
    W = te.placeholder((8, 64), "uint8", name="W")
    S = te.placeholder((8, 2), name="S")
    out = topi.nn.dense_int4(X, W, S, group_size=64)
    text = str(te.lower(topi.schedule([out], "avx2"), [X, W, S, out]))
    assert f"int4_dense_block_8x128_g64_s{'_i8' if dtype == 'int8' else ''}_r4" in text
    plain = str(te.lower(topi.schedule([out], "c"), [X, W, S, out]))
    assert "int4_dense_block" not in plain


def test_dense_int4_micro_kernel_source():
    """The C of the micro-kernels (no compiling): the next tile's rows prefetched; float32
    data: on x86 a mask and a multiply-add per 8 weights where denormal multiply-adds are fast
    (nibbles read as denormal floats, no conversion; DAZ cleared for the call), else and on
    NEON a mask, conversion and multiply-add; int8
    data: vpmaddubsw on x86, sdot on NEON."""
    from texpr.targets import get_target
    from texpr.targets.build import emit_source
    X, X8 = te.placeholder((1, 128), name="X"), te.placeholder((1, 128), "int8", name="X8")
    W = te.placeholder((8, 64), "uint8", name="W")
    S = te.placeholder((8, 2), name="S")
    out, out8 = (topi.nn.dense_int4(d, W, S, group_size=64) for d in (X, X8))
    args = [X, X8, W, S, out, out8]
    with denormal_step(False):                  # a machine with slow denormal multiply-adds
        plain = emit_source(topi.schedule([out, out8], "avx2"), args, target="avx2")
    assert "a0_1 += xj * __builtin_convertvector((int4_v8i)(q0 & 0xf0u), int4_v8f);" in plain
    assert "__asm__" not in plain and "ldmxcsr" not in plain
    with denormal_step(True):
        avx2 = emit_source(topi.schedule([out, out8], "avx2"), args, target="avx2")
    assert "__builtin_prefetch(pw + 3 * w_row + b * 32)" in avx2          # int8 data
    assert '"prefetcht0 0(%[w3],%[wr],4)' in avx2                          # float32: row 7
    assert '"vpand %[m], %[q3], %[t]\\n\\t"\n          "vfmadd231ps %[xj], %[t], %[a3_1]' in avx2
    assert "vcvtdq2ps" not in avx2 and "vmulps" not in avx2
    assert "__builtin_ia32_ldmxcsr(int4_csr & ~0x40u)" in avx2
    assert "_mm256_maddubs_epi16(lo," in avx2 and "vdotq_s32" not in avx2
    # 16 lanes (K and the group multiples of 128): zmm registers where AVX-512 runs natively
    X2, W2, S2 = (te.placeholder(sh, dt, name=n) for sh, dt, n in (
        ((1, 256), "float32", "X2"), ((8, 128), "uint8", "W2"), ((8, 2), "float32", "S2")))
    out2 = topi.nn.dense_int4(X2, W2, S2, group_size=128)
    with denormal_step(True):
        wide = emit_source(topi.schedule([out2], "avx512"), [X2, W2, S2, out2], target="avx512")
    if "-DTEXPR_SIMDE" in get_target("avx512").flags:     # AVX-512 through SIMDe: no zmm asm
        assert "__asm__" not in wide and "_l16" in wide
    else:
        assert '"vpandd %[m], %[q3], %[t]\\n\\t"' in wide and '"vmovdqu32 64(%[w]' in wide
        assert "_l16_dn" in wide and "vcvtdq2ps" not in wide
    neon = emit_source(topi.schedule([out, out8], "neon"), args, target="neon")
    assert "a0_1 += xj * __builtin_convertvector((int4_v8i)(q0 & 0xf0u), int4_v8f);" in neon
    assert "vdotq_s32(a0, vreinterpretq_s8_u8(vandq_u8(q0, m))" in neon
    assert "_mm256" not in neon and "__asm__" not in neon


def _neon_missing():
    if platform.machine().lower() in ("aarch64", "arm64"):
        return None
    missing = [t for t in ("aarch64-linux-gnu-gcc", "qemu-aarch64") if shutil.which(t) is None]
    return f"{', '.join(missing)} not installed (`make test` installs them)" if missing else None


@pytest.mark.parametrize("target", ["avx512", "neon"])
def test_dense_int4_slow_targets(target):
    """The micro-kernels on AVX-512 (SIMDe on hosts without it) and NEON (qemu-aarch64):
    float32 data (vector-extension C; 16 lanes on AVX-512) and int8 data (vpmaddubsw / sdot)
    in one tiny module."""
    if target == "neon" and _neon_missing():
        pytest.skip(_neon_missing())
    rng = np.random.default_rng(1)
    N, K = 4, 128
    packed, scale, _ = tt.quantize_int4_ref(rng.standard_normal((N, K)).astype("float32"))
    x = rng.standard_normal((1, K)).astype("float32")
    x8 = rng.integers(-128, 128, (1, K)).astype("int8")
    X, X8 = te.placeholder((1, K), name="X"), te.placeholder((1, K), "int8", name="X8")
    W = te.placeholder((N, K // 2), "uint8", name="W")
    S = te.placeholder((N, 1), name="S")
    out, out8 = topi.nn.dense_int4(X, W, S), topi.nn.dense_int4(X8, W, S)
    s = topi.schedule([out, out8], target)
    text = str(te.lower(s, [X, X8, W, S, out, out8], target=target))
    assert "_i8_r4.body" in text
    assert bool(re.search(r"_r4_l16(_dn)?\.body", text)) == (target == "avx512")
    mod = te.build(s, [X, X8, W, S, out, out8], target=target)
    got, got8 = np.empty((1, N), "float32"), np.empty((1, N), "float32")
    mod(x, x8, packed, scale, got, got8)
    _check_dense(got, x, packed, scale)
    _check_dense(got8, x8, packed, scale)


@pytest.mark.parametrize("words,target", [(False, "c"), (True, "avx2"), (True, "avx512")],
                         ids=["bytes-c", "words-avx2", "words-avx512"])
def test_sparse_lengths_sum_4bit_rowwise(words, target):
    """The packed bytes (c) and the same bytes as uint32 words (vectorized: a word per vector,
    no lane loop, also with AVX-512's 16 lanes) against the reference; an empty bag included."""
    rng = np.random.default_rng(2)
    V, D = 30, 24
    q, scale, bias = tt.quantize_4bit_rowwise_ref(rng.standard_normal((V, D)).astype("float32"))
    data = q.view(np.uint32) if words else q
    Q = te.placeholder(data.shape, str(data.dtype), name="Q")
    S, Bs = te.placeholder((V,), name="S"), te.placeholder((V,), name="Bs")
    I = te.placeholder((11,), "int32", name="I")
    L = te.placeholder((4,), "int32", name="L")
    out = topi.sparse.sparse_lengths_sum_4bit_rowwise(Q, S, Bs, I, L)
    mod = te.build(topi.schedule(out, target), [Q, S, Bs, I, L, out], target=target)
    if words:
        assert not re.search(r"for \(int32_t \w+_lane = 0", mod.source)
    idx, lens = rng.integers(0, V, 11).astype("int32"), np.array([3, 0, 6, 2], "int32")
    got = np.empty((4, D), "float32")
    mod(data, scale, bias, idx, lens, got)
    want = tt.sparse_lengths_sum_4bit_rowwise_ref(q, scale, bias, idx, lens)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_bad_inputs_are_named():
    X = te.placeholder((1, 64), name="X")
    W = te.placeholder((4, 32), "uint8", name="W")
    S = te.placeholder((4, 2), name="S")
    with pytest.raises(TexprError, match="weight W is int8; expected uint8"):
        topi.nn.dense_int4(X, te.placeholder((4, 32), "int8", name="W"), S, group_size=32)
    with pytest.raises(TexprError, match="K=64, so weight must hold 32 packed bytes per row; it has 16"):
        topi.nn.dense_int4(X, te.placeholder((4, 16), "uint8", name="W"), S)
    with pytest.raises(TexprError, match="group_size=48 does not divide K=64"):
        topi.nn.dense_int4(X, W, S, group_size=48)
    with pytest.raises(TexprError, match=r"S has shape \[4, 2\]; expected \[N, 4\]"):
        topi.nn.dense_int4(X, W, S, group_size=16)
    with pytest.raises(TexprError, match="Z is int8; expected uint8"):
        topi.nn.dense_int4(X, W, S, te.placeholder((4, 2), "int8", name="Z"), group_size=32)
    with pytest.raises(TexprError, match="data X is float16; expected float32 or int8"):
        topi.nn.dense_int4(te.placeholder((1, 64), "float16", name="X"), W, S, group_size=32)
    with pytest.raises(TexprError, match="pack_int4: V is float32; expected int8"):
        topi.nn.pack_int4(te.placeholder((4,), name="V"))
    with pytest.raises(TexprError, match="extent 5 does not fit 4 packed bytes"):
        topi.nn.unpack_int4(te.placeholder((4,), "uint8", name="P"), extent=5)
    with pytest.raises(TexprError, match="data_q is int8; expected uint8"):
        topi.sparse.sparse_lengths_sum_4bit_rowwise(
            te.placeholder((4, 8), "int8", name="q"), te.placeholder((4,), name="s"),
            te.placeholder((4,), name="b"), te.placeholder((3,), "int32", name="i"),
            te.placeholder((2,), "int32", name="l"))
