"""float16 and bfloat16 on the CPU targets against NumPy (ml_dtypes for bfloat16).

Conversions and + - * / are bit-exact (each result is the float32 result rounded to nearest
even, as NumPy computes them); math calls are within 1 ULP of the 16-bit type. One kernel per
(dtype, target) cell with a symbolic length, so hypothesis draws shapes without new builds:
the vector body (8 lanes; float16 on AVX-512: 16) and the scalar tail must agree with NumPy
alike.
"""
import platform
import shutil

import ml_dtypes  # noqa: F401  (NumPy's bfloat16)
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")   # NumPy on inf, NaN

HALF = ["float16", "bfloat16"]
# a NaN, infinities, signed zeros, subnormals of both types, the largest finite values, values
# that overflow when narrowed, and halfway cases between neighbours (ties round to even)
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 6e-8, -3e-5, 1e-40, 65504.0, 65520.0,
                    -70000.0, 3.0e38, 1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11, 1.0 + 2.0**-8,
                    1.0 + 3 * 2.0**-8, 2.0**-133, 0.1, 1e10], "float32")


def _kernel(dt, target, lanes=8):
    n = te.var("n")
    A = te.placeholder((n,), dt, name="A")
    B = te.placeholder((n,), dt, name="B")
    F = te.placeholder((n,), "float32", name="F")
    G = te.placeholder((n,), "float64", name="G")
    I = te.placeholder((n,), "int32", name="I")
    outs = [te.compute((n,), lambda i: A[i] * B[i] + A[i] / 3.0, name="arith"),
            te.compute((n,), lambda i: te.max(A[i], B[i]) - te.min(A[i], B[i]), name="minmax"),
            te.compute((n,), lambda i: A[i].astype("float32"), name="widen"),
            te.compute((n,), lambda i: F[i].astype(dt), name="narrow"),
            te.compute((n,), lambda i: G[i].astype(dt), name="narrow64"),
            te.compute((n,), lambda i: I[i].astype(dt), name="from_int"),
            te.compute((n,), lambda i: te.exp(A[i]), name="exp"),
            te.compute((n,), lambda i: te.if_then_else(A[i] < B[i], A[i], B[i] * 2), name="sel")]
    s = te.create_schedule([o.op for o in outs])
    for o in outs:
        _, inner = s[o].split(o.op.axis[0], factor=lanes)
        s[o].vectorize(inner)
    return te.build(s, [A, B, F, G, I] + outs, target=target)


# float16 on AVX-512: 16 lanes by AVX512F's vcvtph2ps / vcvtps2ph (SIMDe: C conversions), 8 by
# F16C's (as the float16 convolutions' 8-lane vectors are; SIMDe's F16C under emulation)
@pytest.fixture(scope="module", params=[(dt, t, 8) for dt in HALF for t in ("c", "avx2")]
                + [("float16", "avx512", 16), ("float16", "avx512", 8)],
                ids=lambda p: f"{p[0]}-{p[1]}" + ("-16" if p[2] == 16 else ""))
def cell(request):
    dt, target, lanes = request.param
    return dt, _kernel(dt, target, lanes)


def _bits_equal(got, want):
    """Equal bit for bit, a NaN equal to any NaN (payloads are not part of the contract)."""
    g, w = got.astype("float32"), want.astype("float32")
    nan = np.isnan(w)
    np.testing.assert_array_equal(np.isnan(g), nan)
    np.testing.assert_array_equal(got.view(np.uint16)[~nan], want.view(np.uint16)[~nan])


def _ulps(got, want, dt):
    """Distance in units in the last place of dt (its bits as a monotonic integer line)."""
    def line(x):
        u = x.astype(dt).view(np.uint16).astype(np.int64)
        return np.where(u & 0x8000, 0x8000 - u, u)
    return np.abs(line(got) - line(want))


def _run(dt, mod, f32, g64, ints):
    n = len(f32)
    rng = np.random.default_rng(n)
    a = f32.astype(dt)
    b = (rng.standard_normal(n) * 4).astype(dt)
    outs = [np.empty(n, dt), np.empty(n, dt), np.empty(n, "float32")] + \
        [np.empty(n, dt) for _ in range(5)]
    mod(a, b, f32, g64, ints, *outs)
    return a, b, outs


def _check(dt, mod, f32):
    g64 = f32.astype("float64") * (1.0 + 2.0**-30)     # between floats: one rounding, not two
    ints = np.clip(np.nan_to_num(f32.astype("float64"), nan=0.0, posinf=7.0, neginf=-7.0),
                   -2**31, 2**31 - 1).astype("int32")
    a, b, (arith, minmax, widen, narrow, narrow64, from_int, ex, sel) = _run(dt, mod, f32, g64, ints)
    h = np.array(3.0, dt)
    _bits_equal(arith, a * b + a / h)
    _bits_equal(minmax, np.maximum(a, b) - np.minimum(a, b))
    np.testing.assert_array_equal(widen.view(np.uint32), a.astype("float32").view(np.uint32))
    _bits_equal(narrow, f32.astype(dt))
    _bits_equal(narrow64, g64.astype(dt))
    _bits_equal(from_int, ints.astype(dt))
    _bits_equal(sel, np.where(a < b, a, b * np.array(2, dt)))
    want = np.exp(a.astype("float32")).astype(dt)
    finite = np.isfinite(want.astype("float32"))
    assert np.array_equal(np.isnan(ex.astype("float32")), np.isnan(want.astype("float32")))
    assert _ulps(ex[finite], want[finite], dt).max(initial=0) <= 1


def test_special_values_bit_exact(cell):
    dt, mod = cell
    _check(dt, mod, SPECIAL)


@settings(max_examples=10, deadline=None)
@given(data=st.lists(st.floats(width=32, allow_nan=True), min_size=1, max_size=40))
def test_drawn_values_and_lengths(cell, data):
    dt, mod = cell
    _check(dt, mod, np.array(data, "float32"))


def _neon_missing():
    if platform.machine().lower() in ("aarch64", "arm64"):
        return None
    missing = [t for t in ("aarch64-linux-gnu-gcc", "qemu-aarch64") if shutil.which(t) is None]
    return f"{', '.join(missing)} not installed (`make test` installs them)" if missing else None


@pytest.mark.parametrize("target,lanes", [("avx512", 16), ("neon", 8)])
def test_one_cell_per_slow_target(target, lanes):
    """AVX-512 (through SIMDe on a CPU without it) and NEON (qemu-aarch64 on x86), each one tiny
    kernel (they compile slowly): vectors of both types widened, computed and narrowed, and
    their scalar tails."""
    if target == "neon" and _neon_missing():
        pytest.skip(_neon_missing())
    n = 21
    A = te.placeholder((n,), "float16", name="A")
    B = te.placeholder((n,), "bfloat16", name="B")
    H = te.compute((n,), lambda i: A[i] * A[i] - 1.0, name="H")
    W = te.compute((n,), lambda i: B[i] * B[i] - 1.0, name="W")
    s = te.create_schedule([H.op, W.op])
    for o in (H, W):
        _, inner = s[o].split(o.op.axis[0], factor=lanes)
        s[o].vectorize(inner)
    # NEON computes float16 in float16 (fp16_arithmetic): without contraction a*a - 1 rounds
    # twice, as NumPy does (fused: within 1 ULP, tests/targets/test_half_targets.py)
    mod = te.build(s, [A, B, H, W], target=target + (" -fp-contract=off" if target == "neon" else ""))
    a, b = np.resize(SPECIAL, n).astype("float16"), np.resize(SPECIAL, n).astype("bfloat16")
    h, w = np.empty(n, "float16"), np.empty(n, "bfloat16")
    mod(a, b, h, w)
    _bits_equal(h, a * a - np.array(1, "float16"))
    _bits_equal(w, b * b - np.array(1, "bfloat16"))


def test_torch_bfloat16_and_float16_tensors_are_shared():
    torch = pytest.importorskip("torch", reason="torch (the bench extra) is not installed")
    A = te.placeholder((8,), "bfloat16", name="A")
    H = te.placeholder((8,), "float16", name="H")
    B = te.compute((8,), lambda i: A[i] * 2.0 + H[i].astype("bfloat16"), name="B")
    mod = te.build(te.create_schedule(B.op), [A, H, B], target="c")
    a = torch.linspace(-3, 3, 8, dtype=torch.bfloat16)
    h = torch.linspace(0, 1, 8, dtype=torch.float16)
    b = torch.empty(8, dtype=torch.bfloat16)
    mod(a, h, b)
    want = a.float() * 2 + h.to(torch.bfloat16).float()
    assert torch.equal(b, want.to(torch.bfloat16))       # written in place, bit-exact
    with pytest.raises(te.ArgumentError, match="dtype is float16, expected bfloat16"):
        mod(h, h, b)


def test_importing_texpr_leaves_ml_dtypes_until_bfloat16_is_named():
    """ml_dtypes' import takes ~0.75 s: only a bfloat16 dtype loads it (dtypes.numpy_dtype)."""
    import subprocess
    import sys
    code = ("import sys, texpr as te; a = 'ml_dtypes' in sys.modules; "
            "te.placeholder((4,), dtype='bfloat16'); import numpy as np; "
            "sys.exit(0 if not a and np.dtype('bfloat16').itemsize == 2 else 1)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
