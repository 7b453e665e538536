"""The shape and data-movement operators (topi/transform.py), topi.sum / max / min, the
elementwise math (topi/math.py) and nn.log_softmax against NumPy: all in one kernel build on
target c; argument errors without compiling."""
import numpy as np
import pytest

import texpr as te
import texpr.topi as topi
from texpr.topi import testing as ref

RNG = np.random.default_rng(11)


def shape_of(t):
    return tuple(int(d) for d in t.shape)


def test_operators_match_numpy():
    A = te.placeholder((2, 3, 4), name="A")
    B = te.placeholder((2, 2, 4), name="B")
    V = te.placeholder((3,), name="V")
    I = te.placeholder((2, 3), "int32", name="I")
    M = te.placeholder((3, 3), name="M")
    a, b = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((2, 2, 4))
    v, m = RNG.standard_normal(3), RNG.standard_normal((3, 3))
    i = RNG.integers(-3, 30, (2, 3)).astype("int32")
    s0, s1 = topi.split(A, [1], axis=1)
    cases = [
        (topi.broadcast_to(V, (2, 4, 3)), np.broadcast_to(v, (2, 4, 3))),
        (topi.reshape(A, (4, -1)), a.reshape(4, -1)),
        (topi.reshape(A, (5, 2)), ref.reshape_ref(a, (5, 2))),
        (topi.concatenate((A, B), axis=1), np.concatenate((a, b), axis=1)),
        (s0, a[:, :1]), (s1, a[:, 1:]),
        (topi.split(B, 2, axis=-1)[1], b[:, :, 2:]),
        (topi.take(A, I), ref.take_ref(a, i)),
        (topi.take(A, I, axis=2, mode="wrap"), ref.take_ref(a, i, axis=2, mode="wrap")),
        (topi.tensordot(A, B, ([0, 2], [1, 2])), np.tensordot(a, b, ([0, 2], [1, 2]))),
        (topi.tensordot(M, V, 1), np.tensordot(m, v, 1)),
        (topi.einsum("ii->i", M), np.einsum("ii->i", m)),
        (topi.einsum("ijk,ilk", A, B), np.einsum("ijk,ilk", a, b)),
        (topi.sum(A, axis=-1, keepdims=True), a.sum(-1, keepdims=True)),
        (topi.sum(A), np.array(a.sum())),
        (topi.max(A, axis=(0, 2)), a.max((0, 2))),
        (topi.min(A, axis=1), a.min(1)),
        (topi.exp(V), np.exp(v)), (topi.sigmoid(V), 1 / (1 + np.exp(-v))),
        (topi.tanh(V), np.tanh(v)), (topi.abs(I), np.abs(i)),
        (topi.nn.log_softmax(A, axis=1), ref.log_softmax_ref(a, axis=1)),
    ]
    outs = [c[0] for c in cases]
    f = te.build(te.create_schedule([o.op for o in outs]), [A, B, V, I, M] + outs, target="c")
    got = [np.zeros(shape_of(o), o.dtype) for o in outs]
    f(a.astype("float32"), b.astype("float32"), v.astype("float32"), i, m.astype("float32"), *got)
    for k, (g, (_, want)) in enumerate(zip(got, cases)):
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-5, err_msg=f"case {k}")


def test_pool2d_takes_tvms_argument_order():
    X = te.placeholder((1, 1, 6, 6), name="X")
    tvm = topi.nn.pool2d(X, [2, 2], [1, 1], [2, 2], [0, 0, 0, 0], "max")
    own = topi.nn.pool2d(X, 2, 1, 0, "max", dilation=2)
    assert shape_of(tvm) == shape_of(own) == (1, 1, 4, 4)
    assert str(tvm.op.body[0]) == str(own.op.body[0])
    with pytest.raises(te.TexprError, match="ceil_mode=True is not supported"):
        topi.nn.pool2d(X, [2, 2], [1, 1], [1, 1], [0, 0, 0, 0], "avg", True)
    with pytest.raises(te.TexprError, match="layout 'NHWC' is not supported"):
        topi.nn.pool2d(X, [2, 2], [1, 1], [1, 1], [0, 0, 0, 0], "avg", False, "NHWC")


def test_argument_errors():
    A = te.placeholder((2, 3), name="A")
    I = te.placeholder((2,), name="I")
    with pytest.raises(te.TexprError, match=r"cannot be broadcast to \[4, 3\]"):
        topi.broadcast_to(A, (4, 3))
    with pytest.raises(te.TexprError, match="cannot reshape"):
        topi.reshape(A, (7,))
    with pytest.raises(te.TexprError, match="expected \\[2, 3\\] except along axis 0"):
        topi.concatenate((A, te.placeholder((2, 2), name="C")), axis=0)
    with pytest.raises(te.TexprError, match="does not divide into 2"):
        topi.split(A, 2, axis=1)
    with pytest.raises(te.TexprError, match="indices I must be integers"):
        topi.take(A, I)
    with pytest.raises(te.TexprError, match="do not match"):
        topi.tensordot(A, A, 1)
    with pytest.raises(te.TexprError, match="ellipsis"):
        topi.einsum("...i->i", A)
    with pytest.raises(te.TexprError, match="axis 2 is out of range"):
        topi.sum(A, axis=2)
