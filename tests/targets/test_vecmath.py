"""texpr's own vector math (targets/vecmath) on avx2, avx512 (native or SIMDe) and neon (qemu):
every function's maximum ULP error over the float range against NumPy's float64 result
rounded to float32 (the bounds README.md states: vecmath.ULP_BOUND), NumPy's special values
(NaN, infinities, signed zeros, overflow and underflow), and the scalar tail computing what
the vector body computes, bit for bit.

One kernel per target computes every function (one build per target); the inputs are a sweep
of float32 bit patterns (every 65537th: all exponents, both signs), random patterns, random
values where the functions vary, and the special values.
"""
import math
import platform
import shutil

import numpy as np
import pytest

import texpr as te
from texpr.errors import TexprError
from texpr.targets import emit_source, get_target, vecmath

PLAIN = ("exp", "exp2", "log", "log2", "tanh", "sigmoid", "erf", "sqrt", "rsqrt", "sin", "cos")
FAST = ("exp", "exp2", "tanh", "sigmoid")
NAMES = PLAIN + tuple("fast_" + n for n in FAST) + ("pow",)


def _erf(x):
    return np.frompyfunc(math.erf, 1, 1)(x).astype(np.float64)


REFERENCE = {"exp": np.exp, "exp2": np.exp2, "log": np.log, "log2": np.log2, "tanh": np.tanh,
             "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)), "erf": _erf, "sqrt": np.sqrt,
             "rsqrt": lambda x: 1.0 / np.sqrt(x), "sin": np.sin, "cos": np.cos}
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, 1.0, -1.0, 0.5,
           2.0, 3.0, -3.0, 88.72283, 88.7229, -87.34, -103.97, -104.0, 128.0, -150.0, 3.4e38,
           -3.4e38, 8192.5, 1048577.0, 9.0, -9.5, 4.0, 0.625, 1e-20, 1.5707964, 3.1415927]
SAME = [0.3, -2.5, 1e-3, 50.0, -0.0, 3.0, 7.5]     # also the last elements: the scalar tail


def _inputs():
    rng = np.random.default_rng(16)
    sweep = np.arange(0, 2**32, 65537, dtype=np.uint64).astype(np.uint32).view(np.float32)
    bits = rng.integers(0, 2**32, 8192, dtype=np.uint64).astype(np.uint32).view(np.float32)
    near = rng.uniform(-20, 20, 8192).astype(np.float32)
    x = np.concatenate([np.float32(SAME), np.float32(SPECIAL), sweep, bits, near])
    # pow: special pairs (every special base with every special exponent), then random bases
    # in (0, 10] and exponents in [-40, 40], then random bit patterns
    ps = np.float32([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, np.inf, -np.inf, np.nan, 1e-40])
    pe = np.float32([0.0, -0.0, 1.0, -1.0, 2.0, 3.0, -3.0, 0.5, -0.5, np.inf, -np.inf, np.nan])
    y = np.concatenate([np.float32(SAME), np.repeat(pe, len(ps))[:len(x)]])
    x_pow = np.concatenate([np.float32(SAME), np.tile(ps, len(pe))])
    m = len(x) - len(x_pow)
    x_pow = np.concatenate([x_pow, rng.uniform(0, 10, m // 2).astype(np.float32),
                            rng.integers(0, 2**32, m - m // 2, dtype=np.uint64)
                            .astype(np.uint32).view(np.float32)])
    y = np.concatenate([y, rng.uniform(-40, 40, len(x) - len(y)).astype(np.float32)])
    n = len(x) - len(x) % 16 + 16 + 7          # n % 16 == 7: a tail on every target
    pad = n - len(x)
    x, x_pow, y = (np.concatenate([v, rng.uniform(-3, 3, pad).astype(np.float32)])
                   for v in (x, x_pow, y))
    for v in (x, x_pow, y):
        v[-len(SAME):] = SAME
    return x.astype(np.float32), x_pow.astype(np.float32), y.astype(np.float32)


X, XP, Y = _inputs()


def _kernel(target):
    n = len(X)
    A = te.placeholder((n,), name="A")
    P = te.placeholder((n,), name="P")
    E = te.placeholder((n,), name="E")
    outs = []
    for name in NAMES:
        if name == "pow":
            fn = lambda i: te.power(P[i], E[i])                 # noqa: E731
        elif name.startswith("fast_"):
            fn = (lambda f: lambda i: f(A[i], fast=True))(getattr(te, name[5:]))
        else:
            fn = (lambda f: lambda i: f(A[i]))(getattr(te, name))
        outs.append(te.compute((n,), fn, name=name))
    s = te.create_schedule([o.op for o in outs])
    lanes = get_target(target).vector_bits // 32
    for o in outs:
        _, inner = s[o].split(o.op.axis[0], factor=lanes)
        s[o].vectorize(inner)
    f = te.build(s, [A, P, E] + outs, target=target)
    res = [np.zeros(n, np.float32) for _ in outs]
    f(X, XP, Y, *res)
    return dict(zip(NAMES, res))


def _ordered(v):
    i = v.view(np.int32).astype(np.int64)
    return np.where(i < 0, -(i & 0x7FFFFFFF), i)


def ulp_error(got, ref):
    """ULP distance of float32 arrays; NaN against NaN is 0, NaN against a number is huge."""
    d = np.abs(_ordered(got) - _ordered(ref))
    gn, rn = np.isnan(got), np.isnan(ref)
    return np.where(gn & rn, 0, np.where(gn != rn, 2**40, d))


def reference(name):
    with np.errstate(all="ignore"):
        if name == "pow":
            return np.power(XP.astype(np.float64), Y.astype(np.float64)).astype(np.float32)
        return REFERENCE[name.replace("fast_", "")](X.astype(np.float64)).astype(np.float32)


def _available(target):
    if target == "neon" and platform.machine().lower() not in ("aarch64", "arm64"):
        missing = [t for t in ("aarch64-linux-gnu-gcc", "qemu-aarch64") if shutil.which(t) is None]
        if missing:
            return f"{', '.join(missing)} not installed (see /work/shared/TOOLCHAINS.md)"
    if target == "avx512" and not shutil.which("gcc"):
        return "gcc not installed"
    return None


@pytest.fixture(scope="module", params=["avx2", "avx512", "neon"])
def results(request):
    why = _available(request.param)
    if why:
        pytest.skip(why)
    return request.param, _kernel(request.param)


def test_max_ulp_error_is_within_the_stated_bound(results):
    target, out = results
    for name in NAMES:
        err = ulp_error(out[name], reference(name))
        k = int(np.argmax(err))
        arg = f"{XP[k]!r}, {Y[k]!r}" if name == "pow" else repr(X[k])
        assert err[k] <= vecmath.ULP_BOUND[name], (
            f"{target}: {name}({arg}) = {out[name][k]!r}, NumPy {reference(name)[k]!r}: "
            f"{err[k]} ulp > {vecmath.ULP_BOUND[name]}")


def test_special_values_are_numpys(results):
    target, out = results
    for name in NAMES:
        ref = reference(name)
        special = ~np.isfinite(ref) | (ref == 0) | ~np.isfinite(X if name != "pow" else XP)
        got = out[name][special]
        want = ref[special]
        assert np.array_equal(np.isnan(got), np.isnan(want)), (target, name)
        ok = ~np.isnan(want)
        assert np.array_equal(got[ok], want[ok]), (target, name)
        assert np.array_equal(np.signbit(got[ok]), np.signbit(want[ok])), (target, name, "sign")


def test_named_special_values(results):
    target, out = results

    def at(name, v):
        k = int(np.nonzero(X.view(np.uint32) == np.float32(v).view(np.uint32))[0][0])
        return out[name][k]
    assert at("exp", -np.inf) == 0 and at("exp", np.inf) == np.inf and np.isnan(at("exp", np.nan))
    assert at("exp", 88.7229) == np.inf and at("exp", -104.0) == 0 and at("exp", -103.97) > 0
    assert at("log", 0.0) == -np.inf and at("log", -0.0) == -np.inf and np.isnan(at("log", -1.0))
    assert at("log", np.inf) == np.inf and at("log2", 1e-45) == -149.0
    assert at("tanh", np.inf) == 1 and at("tanh", -np.inf) == -1 and np.signbit(at("tanh", -0.0))
    assert at("sigmoid", -np.inf) == 0 and at("sigmoid", np.inf) == 1
    assert at("erf", np.inf) == 1 and at("erf", -np.inf) == -1 and np.isnan(at("erf", np.nan))
    assert np.isnan(at("sqrt", -1.0)) and at("rsqrt", 0.0) == np.inf
    assert np.isnan(at("sin", np.inf)) and np.isnan(at("cos", -np.inf)) and at("cos", 0.0) == 1


def test_scalar_tail_computes_what_the_vector_body_computes(results):
    target, out = results
    k = len(SAME)
    for name in NAMES:
        body, tail = out[name][:k], out[name][-k:]
        assert np.array_equal(body.view(np.uint32), tail.view(np.uint32)), (target, name)


def test_avx512_computes_the_bits_avx2_computes():
    """The primitives that are AVX-512 instructions (vscalefps for exp's 2^n where the CPU has
    AVX-512, SIMDe's portable code elsewhere; vmaxps / vminps for the clamps, as on avx2)
    change no bit: every function on avx512 equals avx2's on every input."""
    for target in ("avx2", "avx512"):
        if _available(target):
            pytest.skip(_available(target))
    a, b = _kernel("avx2"), _kernel("avx512")
    for name in NAMES:
        assert np.array_equal(a[name].view(np.uint32), b[name].view(np.uint32)), name


# --------------------------------------------------------------------------- without compiling

def _lowered(fn, target, dtype="float32"):
    A = te.placeholder((64,), name="A", dtype=dtype)
    B = te.compute((64,), lambda i: fn(A[i]), name="B")
    s = te.create_schedule(B.op)
    _, inner = s[B].split(B.op.axis[0], factor=8)
    s[B].vectorize(inner)
    return s, [A, B], str(te.lower(s, [A, B], target=target))


@pytest.mark.parametrize("target", ["avx2", "avx512", "neon"])
def test_math_calls_are_vectorized_on_targets_with_vector_math(target):
    _, _, text = _lowered(lambda x: te.exp(x) + te.erf(x), target)
    assert "exp(A[ramp(" in text and "erf(A[ramp(" in text and "_lane" not in text


def test_other_targets_and_float64_keep_lane_loops_of_libm():
    _, _, text = _lowered(te.exp, "c")
    assert "_lane" in text
    _, _, text = _lowered(te.exp, "avx2", "float64")
    assert "_lane" in text


def test_fast_variant_is_the_accurate_function_without_vector_math():
    _, _, text = _lowered(lambda x: te.exp(x, fast=True), "c")
    assert "fast_exp" not in text and "exp(" in text
    A = te.placeholder((64,), name="A")
    B = te.compute((64,), lambda i: te.exp(A[i], fast=True), name="B")
    s = te.create_schedule(B.op)
    s[B].bind(B.op.axis[0], te.thread_axis("threadIdx.x"))
    src = emit_source(s, [A, B], target="opencl")
    assert "exp(" in str(src) and "fast_exp" not in str(src)
    _, _, text = _lowered(lambda x: te.tanh(x, fast=True), "avx2")
    assert "fast_tanh(A[ramp(" in text
    _, _, text = _lowered(lambda x: te.sigmoid(x, fast=True), "avx2", "float64")
    assert "fast_" not in text          # float64 has no fast variant


def test_fast_must_be_a_bool():
    A = te.placeholder((4,), name="A")
    with pytest.raises(TexprError, match=r"te.exp: fast must be True or False, got 'yes'"):
        te.exp(A[0], fast="yes")


def test_generated_c_holds_only_the_functions_used():
    s, args, _ = _lowered(te.sigmoid, "avx2")
    src = str(emit_source(s, args, target="avx2"))
    assert "texpr_vm_sigmoid_f32x8" in src and "texpr_vm_exp_f32x8" in src    # sigmoid's callee
    assert "texpr_vm_log" not in src and "texpr_vm_tanh" not in src


def test_tails_use_the_scalar_twin_and_other_scalar_code_keeps_libm():
    # a constant size with a tail: avx2 splits the tail off (masks only symbolic sizes' tails)
    A = te.placeholder((13,), name="A")
    B = te.compute((13,), lambda i: te.exp(A[i]), name="B")
    s = te.create_schedule(B.op)
    _, inner = s[B].split(B.op.axis[0], factor=8)
    s[B].vectorize(inner)
    src = str(emit_source(s, [A, B], target="avx2"))
    assert "texpr_vm_exp_f32x8(" in src and "texpr_vm_exp_f32(" in src and "expf(" not in src
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: te.exp(A[i]), name="B")
    s = te.create_schedule(B.op)                      # a symbolic size: a masked vector tail
    _, inner = s[B].split(B.op.axis[0], factor=8)
    s[B].vectorize(inner)
    src = str(emit_source(s, [A, B], target="avx2"))
    assert "texpr_vm_exp_f32x8(" in src and "_mm256_maskload_ps" in src and "expf(" not in src
    s = te.create_schedule(B.op)                      # not vectorized: libm, as before
    src = str(emit_source(s, [A, B], target="avx2"))
    assert "expf(" in src and "texpr_vm_" not in src
    C = te.compute((n,), lambda i: te.exp(A[i], fast=True), name="C")
    src = str(emit_source(te.create_schedule(C.op), [A, C], target="avx2"))
    assert "texpr_vm_fast_exp_f32(" in src           # asked for: texpr's fast code
