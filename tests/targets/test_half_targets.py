"""float16 arithmetic in float16 on NEON (fp16_arithmetic, under qemu-aarch64 on x86) and the
16-bit floats on the GPU targets (OpenCL on PoCL; CUDA compiled by nvcc), against NumPy /
ml_dtypes.

Stated bounds: every + - * / min max and compare is correctly rounded in float16 on NEON,
so bit-exact with NumPy (which rounds the float32 result); a multiply-add that fuses (one
rounding instead of NumPy's two) is within 1 float16 ULP. The GPU targets compute in float32
and round each 16-bit result to nearest even: bit-exact, conversions included.
"""
import platform
import shutil

import ml_dtypes  # noqa: F401  (NumPy's bfloat16)
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")   # NumPy on inf, NaN

# NaN, infinities, signed zeros, subnormal, largest finite, overflow, ties, ordinary values
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 6e-8, -3e-5, 65504.0, 70000.0,
                    1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11, 0.1, -2.5, 3.0], "float32")


def _bits_equal(got, want):
    """Equal bit for bit, a NaN equal to any NaN."""
    nan = np.isnan(want.astype("float32"))
    np.testing.assert_array_equal(np.isnan(got.astype("float32")), nan)
    w = 2 if want.dtype.itemsize == 2 else 4
    u = f"u{w}"
    np.testing.assert_array_equal(got.view(u)[~nan], want.view(u)[~nan])


def _ulps16(got, want):
    def line(x):
        u = x.astype("float16").view(np.uint16).astype(np.int64)
        return np.where(u & 0x8000, 0x8000 - u, u)
    return np.abs(line(got) - line(want))


def _neon_missing():
    if platform.machine().lower() in ("aarch64", "arm64"):
        return None
    missing = [t for t in ("aarch64-linux-gnu-gcc", "qemu-aarch64") if shutil.which(t) is None]
    return f"{', '.join(missing)} not installed (`make test` installs them)" if missing else None


@pytest.fixture(scope="module")
def neon_fp16():
    if _neon_missing():
        pytest.skip(_neon_missing())
    n = te.var("n")
    A = te.placeholder((n,), "float16", name="A")
    B = te.placeholder((n,), "float16", name="B")
    outs = [te.compute((n,), lambda i: (A[i] - B[i]) / (B[i] * 0.5) + te.max(A[i], B[i]), name="arith"),
            te.compute((n,), lambda i: te.if_then_else(A[i] < B[i], te.min(A[i], B[i]), B[i] * A[i]),
                       name="sel"),
            te.compute((n,), lambda i: A[i] * B[i] + A[i], name="fma")]
    s = te.create_schedule([o.op for o in outs])
    for o in outs:
        _, inner = s[o].split(o.op.axis[0], factor=8)
        s[o].vectorize(inner)
    return te.build(s, [A, B] + outs, target="neon")


def _check_neon(mod, a, b):
    outs = [np.empty(len(a), "float16") for _ in range(3)]
    mod(a, b, *outs)
    arith, sel, fma = outs
    half = np.array(0.5, "float16")
    _bits_equal(arith, (a - b) / (b * half) + np.maximum(a, b))
    _bits_equal(sel, np.where(a < b, np.minimum(a, b), b * a))
    want = a * b + a
    nan = np.isnan(want.astype("float32"))
    np.testing.assert_array_equal(np.isnan(fma.astype("float32")), nan)
    fin = ~nan & np.isfinite(want.astype("float32")) & np.isfinite(fma.astype("float32"))
    assert _ulps16(fma[fin], want[fin]).max(initial=0) <= 1


def test_neon_float16_in_float16_instructions(neon_fp16):
    src = neon_fp16.source
    for instr in ("vsubq_f16", "vdivq_f16", "vmulq_f16", "vmaxq_f16", "vcltq_f16", "vfmaq_f16"):
        assert instr in src, instr
    assert "texpr_float32x" not in src         # nothing widened
    b = np.resize(SPECIAL[::-1], len(SPECIAL) + 5)
    _check_neon(neon_fp16, np.resize(SPECIAL, len(b)).astype("float16"), b.astype("float16"))


@settings(max_examples=5, deadline=None)
@given(data=st.lists(st.floats(width=16, allow_nan=True), min_size=2, max_size=30))
def test_neon_float16_drawn(neon_fp16, data):
    a = np.array(data, "float16")
    _check_neon(neon_fp16, a, a[::-1].copy())


def test_bf16_target_option():
    from texpr.targets.registry import get_target
    assert get_target("neon -bf16=on").has("dot_bf16") and not get_target("neon").has("dot_bf16")
    assert get_target("neon -bf16=on -fp-contract=off").fp_contract is False
    with pytest.raises(te.TexprError, match="unknown option '-bf16=yes'.*-bf16=on|off"):
        get_target("neon -bf16=yes")


# ----------------------------------------------------------------------------- GPU targets

def _gpu_kernel(dt, target):
    n = te.var("n")
    A = te.placeholder((n,), dt, name="A")
    B = te.placeholder((n,), dt, name="B")
    G = te.placeholder((n,), "float64", name="G")
    I = te.placeholder((n,), "int32", name="I")
    outs = [te.compute((n,), lambda i: A[i] * B[i] + A[i] / 3.0, name="arith"),
            te.compute((n,), lambda i: G[i].astype(dt), name="narrow64"),
            te.compute((n,), lambda i: te.if_then_else(A[i] < B[i], A[i], I[i].astype(dt)),
                       name="sel"),
            te.compute((n,), lambda i: A[i].astype("float32") + 0.0, name="widen")]
    s = te.create_schedule([o.op for o in outs])
    for o in outs:
        bx, tx = s[o].split(o.op.axis[0], factor=32)
        s[o].bind(bx, te.thread_axis("blockIdx.x"))
        s[o].bind(tx, te.thread_axis("threadIdx.x"))
    return te.build(s, [A, B, G, I] + outs, target=target)


@pytest.mark.parametrize("dt", ["float16", "bfloat16"])
def test_opencl_16_bit_floats_bit_exact(dt):
    mod = _gpu_kernel(dt, "opencl")
    g = np.concatenate([SPECIAL.astype("float64") * (1 + 2.0**-30),
                        np.random.default_rng(0).standard_normal(50) * 300])
    n = len(g)
    a = g.astype(dt)
    b = (np.random.default_rng(1).standard_normal(n) * 3).astype(dt)
    ints = np.random.default_rng(2).integers(-70000, 70000, n).astype("int32")
    outs = [np.empty(n, dt), np.empty(n, dt), np.empty(n, dt), np.empty(n, "float32")]
    mod(a, b, g, ints, *outs)
    _bits_equal(outs[0], a * b + a / np.array(3.0, dt))
    _bits_equal(outs[1], g.astype(dt))
    _bits_equal(outs[2], np.where(a < b, a, ints.astype(dt)))
    _bits_equal(outs[3], a.astype("float32") + np.float32(0.0))


def test_cuda_16_bit_floats_compile():
    """nvcc -arch=sm_90 compiles the conversions of both types without a warning (one kernel:
    nvcc is slow; no GPU here: the OpenCL test above runs the same arithmetic)."""
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc not installed (TOOLCHAINS.md)")
    n = te.var("n")
    A = te.placeholder((n,), "float16", name="A")
    B = te.placeholder((n,), "bfloat16", name="B")
    G = te.placeholder((n,), "float64", name="G")
    C = te.compute((n,), lambda i: (A[i] * B[i].astype("float16") + G[i].astype("float16"))
                   .astype("bfloat16") + G[i].astype("bfloat16"), name="C")
    s = te.create_schedule(C.op)
    bx, tx = s[C].split(C.op.axis[0], factor=32)
    s[C].bind(bx, te.thread_axis("blockIdx.x"))
    s[C].bind(tx, te.thread_axis("threadIdx.x"))
    src = te.build(s, [A, B, G, C], target="cuda").source
    for conv in ("__float2half_rn(", "__half2float(", "__double2half(", "__float2bfloat16_rn(",
                 "__bfloat162float(", "__double2bfloat16("):
        assert conv in src, conv
