"""TVM te names on the GPU targets (issue 15): the math namespace, the division family and
popcount run on OpenCL (PoCL's CPU device here) against NumPy and compile with nvcc for CUDA;
thread axes declared with a range, as TVM allows."""
import numpy as np
import pytest

import texpr as te


def _kernel(n=64):
    A = te.placeholder((n,), name="A")
    I = te.placeholder((n,), "int32", name="I")
    outs = [
        te.compute((n,), lambda i: te.sin(A[i]) + te.log2(A[i] + 2.0) + te.rsqrt(A[i] + 2.0),
                   name="F"),
        te.compute((n,), lambda i: te.round(A[i] * 4.0) + te.trunc(A[i] * 3.0) +
                   te.fmod(A[i] * 5.0, 1.5), name="R"),
        te.compute((n,), lambda i: te.isnan(A[i]) | te.isinf(A[i]), name="N"),
        te.compute((n,), lambda i: te.truncdiv(I[i], 3) * 100 + te.truncmod(I[i], 3) +
                   te.popcount(I[i]) * 10000, name="D"),
    ]
    s = te.create_schedule([o.op for o in outs])
    for o in outs:
        bx, tx = s[o].split(o.op.axis[0], factor=16)
        s[o].bind(bx, te.thread_axis((0, n // 16), "blockIdx.x"))
        s[o].bind(tx, te.thread_axis((0, 16), "threadIdx.x"))
    return s, [A, I] + outs


def _refs(a, iv):
    with np.errstate(invalid="ignore"):
        f = np.sin(a) + np.log2(a + 2) + 1 / np.sqrt(a + 2)
        r = np.round(a * 4) + np.trunc(a * 3) + np.fmod(a * 5, np.float32(1.5))
    d = np.trunc(iv / 3).astype("int32") * 100 + np.fmod(iv, 3) + \
        np.array([bin(int(x) & 0xFFFFFFFF).count("1") for x in iv], "int32") * 10000
    return [f.astype("float32"), r.astype("float32"), np.isnan(a) | np.isinf(a), d]


def test_math_and_division_on_opencl():
    s, args = _kernel()
    try:
        f = te.build(s, args, "opencl")
    except te.BuildError as e:            # no OpenCL runtime on this machine
        pytest.skip(f"no OpenCL device: {e}")
    rng = np.random.default_rng(3)
    a = rng.uniform(-1.5, 1.5, 64).astype("float32")
    a[[3, 7, 11]] = [np.nan, np.inf, -np.inf]
    iv = rng.integers(-1000, 1000, 64).astype("int32")
    outs = [np.empty(64, t.dtype) for t in args[2:]]
    f(a, iv, *outs)
    fin = np.isfinite(a)
    for got, ref, t in zip(outs, _refs(a, iv), args[2:]):
        if t.dtype == "float32":
            np.testing.assert_allclose(got[fin], ref[fin], rtol=1e-5, atol=1e-5, err_msg=t.name)
        else:
            np.testing.assert_array_equal(got, ref, err_msg=t.name)


def test_math_and_division_compile_for_cuda():
    s, args = _kernel()
    f = te.build(s, args, "cuda")
    for name in ("sinf", "log2f", "nearbyintf", "truncf", "fmodf", "isnan", "__builtin_popcount"):
        assert name in f.source
