"""te.gradient (reverse-mode autodiff): gradients of representative graphs against central
finite differences of their NumPy forward computation, in float64.

One kernel build holds the gradients of every graph (target c, tiny shapes); the error cases
and the no-Jacobian property are checked without compiling.
"""
import numpy as np
import pytest

import texpr as te
from texpr import topi
from texpr.errors import DifferentiationError
from texpr.topi import testing as ref

RNG = np.random.default_rng(7)


def shape_of(t):
    return tuple(int(d) for d in t.shape)


def numerical_grad(forward, arrays, k, eps=1e-4):
    """d sum(forward(*arrays)) / d arrays[k], central differences."""
    x = arrays[k]
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        hi = forward(*arrays).sum()
        x[idx] = old - eps
        lo = forward(*arrays).sum()
        x[idx] = old
        g[idx] = (hi - lo) / (2 * eps)
    return g


def prod_reducer():
    return te.comm_reducer(lambda x, y: x * y, lambda t: te.const(1, t), name="prod")


def graphs():
    """(name, output, inputs, NumPy forward, data range) of each case."""
    cases = []
    A = te.placeholder((3, 3), name="A")
    B = te.placeholder((3, 3), name="B")
    E = te.compute((3, 3), lambda i, j: te.sigmoid(A[i, j] * B[j, i]) + te.tanh(A[i, j]) / (
        1.0 + te.abs(B[i, j])) + te.power(te.abs(A[i, j]) + 0.5, B[i, j])
        - te.max(A[i, j], B[i, j]) * te.floor(B[i, j]), name="E")
    cases.append(("elementwise", E, [A, B], lambda a, b: 1 / (1 + np.exp(-a * b.T)) + np.tanh(a) / (
        1 + np.abs(b)) + (np.abs(a) + 0.5) ** b - np.maximum(a, b) * np.floor(b), (-2, 2)))

    P = te.placeholder((3, 3), name="P")
    L = te.compute((3, 3), lambda i, j: te.sqrt(P[i, j]) * te.log(P[j, i]) + te.exp(-P[i, j])
                   + (P[i, j].astype("float64") * 3.0).astype("float32"), name="L")
    cases.append(("sqrt_log_cast", L, [P], lambda p: np.sqrt(p) * np.log(p.T) + np.exp(-p)
                  + 3 * p, (0.5, 2)))

    X = te.placeholder((2, 3), name="X")
    W = te.placeholder((3, 4), name="W")
    k = te.reduce_axis((0, 3), "k")
    M = te.compute((2, 4), lambda i, j: te.sum(X[i, k] * W[k, j], axis=k), name="M")
    R = te.compute((2, 4), lambda i, j: M[i, j] * M[i, j] + X[i, j % 3], name="R")   # reuse
    cases.append(("matmul_reuse", R, [X, W], lambda x, w: (x @ w) ** 2 + x[:, [0, 1, 2, 0]],
                  (-1, 1)))

    D = te.placeholder((1, 2, 7, 7), name="D")
    K = te.placeholder((2, 2, 2, 2), name="K")
    C = topi.nn.conv2d(D, K, 2, 1, 2)
    cases.append(("conv_stride2_dilation2", C, [D, K],
                  lambda d, w: ref.conv2d_nchw_ref(d, w, 2, 1, 2), (-1, 1)))

    Q = te.placeholder((1, 1, 5, 5), name="Q")
    PM = topi.nn.pool2d(Q, [2, 2], [2, 2], [1, 1], [0, 0, 0, 0], "max")
    cases.append(("pool_max", PM, [Q], lambda q: ref.pool2d_ref(q, 2, 2, 0, "max"), (-1, 1)))
    Q2 = te.placeholder((1, 1, 5, 5), name="Q2")
    PA = topi.nn.pool2d(Q2, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], "avg")
    cases.append(("pool_avg", PA, [Q2], lambda q: ref.pool2d_ref(q, 3, 1, 1, "avg"), (-1, 1)))

    S = te.placeholder((3, 4), name="S")
    r = te.reduce_axis((0, 4), "r")
    prod = prod_reducer()
    SM = te.compute((3,), lambda i: te.max(S[i, r] * 2.0, axis=r), name="SM")
    PR = te.compute((3,), lambda i: prod(S[i, r] + 1.5, axis=r), name="PR")
    SK = topi.sum(topi.exp(S), axis=-1, keepdims=True)
    OUT = te.compute((3, 4), lambda i, j: SM[i] * PR[i] + SK[i, 0] * S[i, j]
                     + te.if_then_else(S[i, j] > 0, S[i, j], 0.0), name="OUT")
    cases.append(("reductions", OUT, [S], lambda s: (s * 2).max(1)[:, None] * (s + 1.5).prod(1)[
        :, None] + np.exp(s).sum(1, keepdims=True) * s + np.where(s > 0, s, 0), (-1, 1)))

    T = te.placeholder((4,), name="T")

    def prefix_sum(i):
        r = te.reduce_axis((0, i + 1), "r")
        return te.sum(T[r] * T[r], axis=r)
    TS = te.compute((4,), prefix_sum, name="TS")          # a range depending on the axis
    cases.append(("triangular", TS, [T], lambda t: np.cumsum(t * t), (-1, 1)))

    Z = te.placeholder((2, 3), name="Z")          # exp(fast=True): exp's derivative
    cases.append(("log_softmax_fast_exp", topi.nn.log_softmax(Z), [Z], ref.log_softmax_ref,
                  (-1, 1)))

    V = te.placeholder((5,), name="V")
    G = te.compute((5,), lambda i: V[te.min(i + 2, 4)] * V[i // 2], name="G")   # not affine
    cases.append(("non_affine_index", G, [V], lambda v: v[np.minimum(np.arange(5) + 2, 4)]
                  * v[np.arange(5) // 2], (-1, 1)))
    return cases


@pytest.fixture(scope="module")
def built():
    cases = graphs()
    grads, args = [], []
    for _, out, inputs, _, _ in cases:
        gs = te.gradient(out, inputs, head=topi.full_like(out, 1.0))
        grads += gs
        args += inputs
    s = te.create_schedule([g.op for g in grads])
    lowered = str(te.lower(s, grads + args, simple_mode=True))
    return cases, te.build(s, grads + args, target="c"), grads, args, lowered


def test_gradients_match_finite_differences(built):
    cases, mod, grads, args, _ = built
    data = {}
    for _, _, inputs, _, (lo, hi) in cases:
        for t in inputs:
            data[t.name] = RNG.uniform(lo, hi, size=shape_of(t))
    outs = [np.zeros(shape_of(t), "float32") for t in args]
    mod(*outs, *[data[t.name].astype("float32") for t in args])
    at = 0
    for name, _, inputs, forward, _ in cases:
        arrays = [data[t.name].copy() for t in inputs]
        for k in range(len(inputs)):
            want = numerical_grad(forward, arrays, k)
            np.testing.assert_allclose(outs[at], want, rtol=2e-3, atol=2e-3,
                                       err_msg=f"{name}: d/d{inputs[k].name}")
            at += 1


def test_no_jacobian_and_no_quadratic_loops(built):
    lowered = built[4]
    assert "jacobian" not in lowered.lower()


def test_conv_adjoint_is_solved_not_searched():
    """The conv's data adjoint sums over the kernel window only (the index relation is
    inverted with divisibility guards), never over the whole output."""
    D = te.placeholder((1, 2, 9, 9), name="D")
    K = te.placeholder((2, 2, 3, 3), name="K")
    C = topi.nn.conv2d(D, K, 2, 0, 2)
    dD, = te.gradient(C, [D], head=topi.full_like(C, 1.0))
    body = dD.op.body[0]
    axes = sorted(int(iv.dom.extent) for iv in body.axis)
    assert axes == [2, 3, 3]        # output channels x kernel taps, no loop over output pixels


def test_head_none_gives_the_jacobian():
    A = te.placeholder((3,), name="A")
    B = te.compute((2,), lambda i: A[i] * A[i + 1], name="B")
    jac, = te.gradient(B, A)
    assert shape_of(jac) == (2, 3)
    s = te.create_schedule(jac.op)
    f = te.build(s, [jac, A], target="c")
    a = RNG.uniform(-1, 1, 3).astype("float32")
    got = np.zeros((2, 3), "float32")
    f(got, a)
    want = np.array([[a[1], a[0], 0], [0, a[2], a[1]]], "float32")
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_bad_inputs():
    A = te.placeholder((3,), name="A")
    Other = te.placeholder((3,), name="Other")
    I = te.placeholder((3,), "int32", name="I")
    B = te.compute((3,), lambda i: A[i] * 2.0 + I[i].astype("float32"), name="B")
    with pytest.raises(te.TexprError, match="input Other is not used in computing B"):
        te.gradient(B, [Other])
    with pytest.raises(te.TexprError, match="input I has dtype int32; only float"):
        te.gradient(B, [I])
    with pytest.raises(te.TexprError, match=r"head H has shape \[4\]; expected prefix"):
        te.gradient(B, [A], head=te.placeholder((4,), name="H"))
    k = te.reduce_axis((0, 3), "k")
    fm = te.comm_reducer(lambda x, y: te.fmod(x, y), lambda t: te.const(1, t), name="fmodred")
    C = te.compute((1,), lambda i: fm(A[k], axis=k), name="C")
    with pytest.raises(DifferentiationError, match="cannot differentiate the reducer 'fmodred' of C"):
        te.gradient(C, [A])
    argmax = te.comm_reducer(lambda x, y: (te.if_then_else(x[1] >= y[1], x[0], y[0]),
                                           te.max(x[1], y[1])),
                             lambda t0, t1: (te.const(-1, t0), te.min_value(t1)), name="argmax")
    J = te.placeholder((3,), "int32", name="J")
    _, AM = te.compute((1,), lambda i: argmax((J[k], A[k]), axis=k), name="AM")
    with pytest.raises(DifferentiationError, match="cannot differentiate the tuple reducer 'argmax' of AM"):
        te.gradient(AM, [A])
    X = te.extern((3,), [A], lambda ins, outs: te.call_extern("int32", "f"), name="X")
    Y = te.compute((3,), lambda i: X[i] + 1.0, name="Y")
    with pytest.raises(DifferentiationError, match="cannot differentiate through ExternOp X"):
        te.gradient(Y, [A])


def test_integer_paths_carry_no_gradient():
    """take's integer indices: only the gathered tensor gets a gradient."""
    X = te.placeholder((4,), name="X")
    I = te.placeholder((3,), "int32", name="I")
    T = topi.take(X, topi.abs(I))
    dX, = te.gradient(T, [X], head=topi.full_like(T, 1.0))
    assert shape_of(dX) == (4,)


def test_max_reduction_sends_the_gradient_to_the_first_maximum():
    """On ties the whole adjoint goes to one position (the first in the reduction's order), as
    TVM's max derivative select(x >= y, dx, dy); a prod reducer's goes to each factor."""
    A = te.placeholder((2, 4), name="A")
    k = te.reduce_axis((0, 4), "k")
    M = te.compute((2,), lambda i: te.max(A[i, k], axis=k), name="M")
    P = te.compute((2,), lambda i: prod_reducer()(A[i, k], axis=k), name="P")
    dm, = te.gradient(M, [A], head=topi.full_like(M, 1.0))
    dp, = te.gradient(P, [A], head=topi.full_like(P, 1.0))
    f = te.build(te.create_schedule([dm.op, dp.op]), [dm, dp, A], target="c")
    a = np.array([[1, 3, 3, 0], [2, 2, 2, 2]], "float32")
    gm, gp = np.zeros((2, 4), "float32"), np.zeros((2, 4), "float32")
    f(gm, gp, a)
    np.testing.assert_array_equal(gm, [[0, 1, 0, 0], [1, 0, 0, 0]])
    np.testing.assert_allclose(gp, [[0, 0, 0, 9], [8, 8, 8, 8]])
