"""texpr.contrib.cblas: matmul and batch_matmul by the system CBLAS, against NumPy."""
import ctypes.util
import functools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr.contrib import cblas

HAVE_BLAS = any(ctypes.util.find_library(n) for n in ("openblas", "cblas", "blis"))
needs_blas = pytest.mark.skipif(not HAVE_BLAS, reason="no system CBLAS library (Debian: "
                                "libopenblas-dev, which `make setup` installs)")

TOL = {"float32": 1e-5, "float64": 1e-12}


def _operands(m, k, n, ta, tb, dtype, batch=None):
    rng = np.random.default_rng(m * 10000 + k * 100 + n)
    lead = (batch,) if batch else ()
    a = rng.standard_normal(lead + ((k, m) if ta else (m, k))).astype(dtype)
    b = rng.standard_normal(lead + ((n, k) if tb else (k, n))).astype(dtype)
    at = np.swapaxes(a, -1, -2) if ta else a
    bt = np.swapaxes(b, -1, -2) if tb else b
    return a, b, at @ bt


@needs_blas
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("transa", [False, True])
@pytest.mark.parametrize("transb", [False, True])
def test_matmul_symbolic_m(dtype, transa, transb):
    M = te.var("M")
    K, N = 24, 10
    A = te.placeholder((K, M) if transa else (M, K), dtype, name="A")
    B = te.placeholder((N, K) if transb else (K, N), dtype, name="B")
    C = cblas.matmul(A, B, transa, transb)
    assert C.dtype == dtype and C.shape[1].value == N
    f = te.build(te.create_schedule(C.op), [A, B, C], target="c")
    for m in (1, 7, 33):
        a, b, ref = _operands(m, K, N, transa, transb, dtype)
        c = np.full((m, N), np.nan, dtype)
        f(a, b, c)
        np.testing.assert_allclose(c, ref, rtol=TOL[dtype], atol=TOL[dtype])
    assert "cblas_sgemm" in f.source or "cblas_dgemm" in f.source


@needs_blas
@pytest.mark.parametrize("target", ["c", "native"])
def test_matmul_feeds_a_scheduled_epilogue(target):
    """The gemm result is read by a compute (bias + relu) scheduled with split/vectorize."""
    M, K, N = 13, 20, 16
    A = te.placeholder((M, K), name="A")
    B = te.placeholder((K, N), name="B")
    bias = te.placeholder((N,), name="bias")
    C = cblas.matmul(A, B)
    D = te.compute((M, N), lambda i, j: te.if_then_else(C[i, j] + bias[j] > 0,
                                                         C[i, j] + bias[j], 0.0), name="D")
    s = te.create_schedule(D.op)
    jo, ji = s[D].split(D.op.axis[1], factor=8)
    s[D].vectorize(ji)
    s[D].parallel(D.op.axis[0])
    f = te.build(s, [A, B, bias, D], target=target)
    a, b, ref = _operands(M, K, N, False, False, "float32")
    bb = np.linspace(-1, 1, N).astype("float32")
    d = np.zeros((M, N), "float32")
    f(a, b, bb, d)
    np.testing.assert_allclose(d, np.maximum(ref + bb, 0), rtol=1e-5, atol=1e-5)


@needs_blas
@pytest.mark.parametrize("transa,transb", [(False, False), (True, False), (False, True),
                                           (True, True)])
def test_batch_matmul(transa, transb):
    Bn, M, K, N = 3, 5, 7, 4
    A = te.placeholder((Bn, K, M) if transa else (Bn, M, K), "float64", name="A")
    B = te.placeholder((Bn, N, K) if transb else (Bn, K, N), "float64", name="B")
    C = cblas.batch_matmul(A, B, transa, transb)
    f = te.build(te.create_schedule(C.op), [A, B, C], target="c")
    a, b, ref = _operands(M, K, N, transa, transb, "float64", batch=Bn)
    c = np.zeros((Bn, M, N))
    f(a, b, c)
    np.testing.assert_allclose(c, ref, rtol=1e-12, atol=1e-12)


@needs_blas
def test_matmul_empty_reduction_is_zero():
    M = te.var("M")
    K = te.var("K")
    A = te.placeholder((M, K), name="A")
    B = te.placeholder((K, 3), name="B")
    C = cblas.matmul(A, B)
    f = te.build(te.create_schedule(C.op), [A, B, C], target="c")
    c = np.full((2, 3), 5.0, "float32")
    f(np.zeros((2, 0), "float32"), np.zeros((0, 3), "float32"), c)
    np.testing.assert_array_equal(c, 0.0)


def test_matmul_bad_inputs():
    A = te.placeholder((4, 5), name="A")
    B = te.placeholder((6, 3), name="B")
    with pytest.raises(te.TexprError, match="reduction extents differ \\(5 and 6\\)"):
        cblas.matmul(A, B)
    with pytest.raises(te.DTypeError, match="must both be float32 or both float64, got float32 and int32"):
        cblas.matmul(A, te.placeholder((5, 3), "int32", name="I"))
    with pytest.raises(te.TexprError, match="lhs A has 2 dimension\\(s\\), expected 3"):
        cblas.batch_matmul(A, B)
    with pytest.raises(te.TexprError, match="rhs must be a tensor"):
        cblas.matmul(A, 3)


@functools.cache
def _symbolic_matmul(transa, transb, dtype):
    M, K, N = te.var("M"), te.var("K"), te.var("N")
    A = te.placeholder((K, M) if transa else (M, K), dtype, name="A")
    B = te.placeholder((N, K) if transb else (K, N), dtype, name="B")
    C = cblas.matmul(A, B, transa, transb)
    return te.build(te.create_schedule(C.op), [A, B, C], target="c")


@needs_blas
@settings(max_examples=15, deadline=None)
@given(m=st.integers(0, 9), k=st.integers(0, 9), n=st.integers(0, 9),
       transa=st.booleans(), transb=st.booleans(), dtype=st.sampled_from(["float32", "float64"]))
def test_matmul_any_shape(m, k, n, transa, transb, dtype):
    f = _symbolic_matmul(transa, transb, dtype)
    a, b, ref = _operands(m, k, n, transa, transb, dtype)
    c = np.full((m, n), np.nan, dtype)
    f(a, b, c)
    np.testing.assert_allclose(c, ref, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("transb", [False, True])
def test_tvm_packed_cblas_matmul_by_name(transb):
    """TVM programs call the contrib by its packed-function name inside an extern op; texpr
    defines it (registered on first use) on the kernel's buffers."""
    n, l, m = 5, 7, 3
    A = te.placeholder((n, l), name="A")
    B = te.placeholder((m, l) if transb else (l, m), name="B")
    C = te.extern((n, m), [A, B], lambda ins, outs: te.call_packed(
        "tvm.contrib.cblas.matmul", ins[0], ins[1], outs[0], False, transb), name="C")
    f = te.build(te.create_schedule(C.op), [A, B, C], target="c")
    rng = np.random.default_rng(0)
    a = rng.random((n, l), dtype="float32")
    b = rng.random((m, l) if transb else (l, m), dtype="float32")
    c = np.zeros((n, m), "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ (b.T if transb else b), rtol=1e-5)
