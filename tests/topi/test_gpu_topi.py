"""topi's GPU schedules (registered for "cuda" and "opencl") executed on OpenCL (PoCL in CI)
against topi.testing's NumPy references."""
import numpy as np
import pytest

import texpr as te
import texpr.topi as topi
from texpr.topi import testing as ref

RNG = np.random.default_rng(11)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def run(out, ins, arrays, name):
    s = topi.schedule(out, "opencl")
    f = te.build(s, ins + [out], "opencl", name=name)
    o = np.full([int(d.value) for d in out.shape], np.nan, out.dtype)
    f(*arrays, o)
    return o, f


@pytest.mark.parametrize("M,N,K,bias", [(70, 50, 37, False), (128, 64, 64, True), (1, 5, 3, True)])
def test_dense(M, N, K, bias):
    A, W = te.placeholder((M, K), name="A"), te.placeholder((N, K), name="W")
    a, w, b = rand(M, K), rand(N, K), rand(N)
    if bias:
        B = te.placeholder((N,), name="b")
        out, f = run(topi.nn.dense(A, W, B), [A, W, B], [a, w, b], "dense")
    else:
        out, f = run(topi.nn.dense(A, W), [A, W], [a, w], "dense")
        b = None
    np.testing.assert_allclose(out, ref.dense_ref(a, w, b), rtol=1e-4, atol=1e-4)
    assert len(f.program.kernels) == 1 and f.program.kernels[0].shared   # epilogue fused


def test_dense_gemv_uses_a_cross_thread_reduction():
    A, W, B = (te.placeholder((1, 700), name="A"), te.placeholder((30, 700), name="W"),
               te.placeholder((30,), name="b"))
    a, w, b = rand(1, 700), rand(30, 700), rand(30)
    out, f = run(topi.nn.dense(A, W, B), [A, W, B], [a, w, b], "gemv")
    np.testing.assert_allclose(out, ref.dense_ref(a, w, b), rtol=1e-4, atol=1e-4)
    assert f.program.kernels[0].block == (128, 1, 1) and f.program.kernels[0].grid[0].value == 30


def test_batch_matmul():
    X, Y = te.placeholder((3, 20, 30), name="X"), te.placeholder((3, 25, 30), name="Y")
    x, y = rand(3, 20, 30), rand(3, 25, 30)
    out, f = run(topi.nn.batch_matmul(X, Y), [X, Y], [x, y], "bmm")
    np.testing.assert_allclose(out, ref.batch_matmul_ref(x, y), rtol=1e-4, atol=1e-4)
    assert f.program.kernels[0].grid[2].value == 3


@pytest.mark.parametrize("C,H,O,R,stride,pad", [(8, 11, 6, 3, 1, 1), (8, 11, 6, 3, 2, 0),
                                                 (3, 23, 10, 7, 2, 3), (16, 9, 40, 1, 1, 0)])
def test_conv2d_nchw(C, H, O, R, stride, pad):
    x, w = rand(2, C, H, H), rand(O, C, R, R)
    X, W = te.placeholder(x.shape, name="X"), te.placeholder(w.shape, name="W")
    out, f = run(topi.nn.conv2d_nchw(X, W, stride, pad), [X, W], [x, w], "conv")
    np.testing.assert_allclose(out, ref.conv2d_nchw_ref(x, w, stride, pad), rtol=1e-4, atol=1e-4)
    assert len(f.program.kernels[0].shared) == 2       # input window and weights staged


def test_conv2d_bias_relu_is_one_kernel_and_grouped_conv():
    x, w, b = rand(2, 8, 10, 10), rand(16, 8, 3, 3), rand(16)
    X, W, B = (te.placeholder(x.shape, name="X"), te.placeholder(w.shape, name="W"),
               te.placeholder((16,), name="B"))
    y = topi.nn.relu(topi.nn.bias_add(topi.nn.conv2d_nchw(X, W, 1, 1), B))
    out, f = run(y, [X, W, B], [x, w, b], "cbr")
    want = np.maximum(ref.conv2d_nchw_ref(x, w, 1, 1) + b[None, :, None, None], 0)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    assert len(f.program.kernels) == 1
    wg = rand(8, 4, 3, 3)
    WG = te.placeholder(wg.shape, name="WG")
    out, _ = run(topi.nn.conv2d_nchw(X, WG, 1, 1, groups=2), [X, WG], [x, wg], "gconv")
    np.testing.assert_allclose(out, ref.conv2d_nchw_ref(x, wg, 1, 1, groups=2), rtol=1e-4,
                               atol=1e-4)


def test_depthwise_conv2d():
    x, w = rand(1, 8, 12, 12), rand(8, 1, 3, 3)
    X, W = te.placeholder(x.shape, name="X"), te.placeholder(w.shape, name="W")
    out, _ = run(topi.nn.depthwise_conv2d_nchw(X, W, 1, 1), [X, W], [x, w], "dw")
    np.testing.assert_allclose(out, ref.depthwise_conv2d_nchw_ref(x, w, 1, 1), rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("kind,k,stride,pad", [("max", 2, 2, 0), ("avg", 3, 1, 1)])
def test_pool2d(kind, k, stride, pad):
    x = rand(1, 4, 9, 9)
    X = te.placeholder(x.shape, name="X")
    out, _ = run(topi.nn.pool2d(X, k, stride, pad, kind), [X], [x], "pool")
    np.testing.assert_allclose(out, ref.pool2d_ref(x, k, stride, pad, kind), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape,axis,kernels", [((10, 33), -1, 1), ((10, 33), 0, 1),
                                                ((4, 1000), -1, 3), ((3, 5, 300), -1, 3)])
def test_softmax(shape, axis, kernels):
    """Short rows: a thread per row (one kernel); long ones: block-wide max and sum (three)."""
    x = rand(*shape)
    X = te.placeholder(x.shape, name="X")
    out, f = run(topi.nn.softmax(X, axis=axis), [X], [x], "softmax")
    np.testing.assert_allclose(out, ref.softmax_ref(x, axis=axis), rtol=1e-5, atol=1e-7)
    assert len(f.program.kernels) == kernels


def test_sparse_lengths_sum_and_weighted():
    V, D, L = 50, 16, 30
    lens = np.array([5, 0, 10, 3, 7, 5], "int32")
    data, idx = rand(V, D), RNG.integers(0, V, L).astype("int32")
    wts = rand(L)
    Dt = te.placeholder((V, D), name="data")
    It = te.placeholder((L,), "int32", name="indices")
    Lt = te.placeholder((6,), "int32", name="lengths")
    Wt = te.placeholder((L,), name="weights")
    out, f = run(topi.sparse.sparse_lengths_sum(Dt, It, Lt), [Dt, It, Lt], [data, idx, lens], "sls")
    np.testing.assert_allclose(out, ref.sparse_lengths_sum_ref(data, idx, lens), rtol=1e-5,
                               atol=1e-6)
    out, _ = run(topi.sparse.sparse_lengths_weighted_sum(Dt, Wt, It, Lt), [Dt, Wt, It, Lt],
                 [data, wts, idx, lens], "slws")
    np.testing.assert_allclose(out, ref.sparse_lengths_weighted_sum_ref(data, wts, idx, lens),
                               rtol=1e-5, atol=1e-6)
    bad = idx.copy()
    bad[7] = V
    with pytest.raises(te.ArgumentError, match=r"indices\[7\] = 50 is out of range"):
        f(data, bad, lens, np.zeros((6, D), "float32"))


def test_dot_interaction():
    """The pair table is a stage of its own: the GPU default schedule binds it to threads (it
    was left unbound, so the GPU lowering refused it)."""
    B, F, D = 8, 5, 16
    dense, embs = rand(B, D), rand(B, F, D)
    Dt, Et = te.placeholder((B, D), name="dense"), te.placeholder((B, F, D), name="embs")
    for self_interaction in (False, True):
        out, f = run(topi.sparse.dot_interaction(Dt, Et, self_interaction), [Dt, Et],
                     [dense, embs], "interaction")
        np.testing.assert_allclose(out, ref.dot_interaction_ref(dense, embs, self_interaction),
                                   rtol=1e-5, atol=1e-5)
    assert "dot_interaction_pair_row" in f.source


def test_elementwise_default_schedule():
    x = rand(5, 7, 3)
    X = te.placeholder(x.shape, name="X")
    out, _ = run(topi.nn.relu(X), [X], [x], "relu")
    np.testing.assert_array_equal(out, np.maximum(x, 0))


def test_conv2d_winograd():
    x, w = rand(1, 8, 14, 14), rand(16, 8, 3, 3)
    X, W = te.placeholder(x.shape, name="X"), te.placeholder(w.shape, name="W")
    out, f = run(topi.nn.conv2d_winograd_nchw(X, W, 1, 2), [X, W], [x, w], "wino")
    np.testing.assert_allclose(out, ref.conv2d_nchw_ref(x, w, 1, 1), rtol=1e-4, atol=1e-4)
    gemm = next(k for k in f.program.kernels if k.stage == "winograd_M")
    assert gemm.shared                      # the batched GEMM is the tiled one


def test_dense_with_a_symbolic_batch():
    m = te.var("m")
    A, W, B = (te.placeholder((m, 40), name="A"), te.placeholder((30, 40), name="W"),
               te.placeholder((30,), name="b"))
    D = topi.nn.dense(A, W, B)
    f = te.build(topi.schedule(D, "opencl"), [A, W, B, D], "opencl", name="dense_m")
    w, b = rand(30, 40), rand(30)
    for M in (1, 17, 100):
        a = rand(M, 40)
        o = np.zeros((M, 30), "float32")
        f(a, w, b, o)
        np.testing.assert_allclose(o, ref.dense_ref(a, w, b), rtol=1e-4, atol=1e-4)
