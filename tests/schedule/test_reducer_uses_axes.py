"""A reducer whose combine or identity uses the compute's data axes (TVM allows it): the
schedule rewrites that give a stage fresh axes (cache_write, rfactor) must rename them in the
reducer too, or the generated C reads an undeclared loop variable."""
import numpy as np
import pytest

import texpr as te


def _axis_dependent_sum(X):
    """y[n] = fold of x[0..n) with acc = max(acc + x, n), starting at (0 if n > 1 else n)."""
    def f(n):
        rv = te.reduce_axis((0, n), name="rv")
        init = lambda dt: te.if_then_else(n > 1, te.const(0, dt), n.astype(dt))
        red = te.comm_reducer(lambda x, y: te.max(x + y, n.astype("float32")), init, name="dep")
        return red(X[rv], axis=rv)
    return te.compute(X.shape, f, name="y")


def _reference(x):
    out = np.empty_like(x)
    for n in range(len(x)):
        acc = np.float32(0 if n > 1 else n)
        for r in range(n):
            acc = max(acc + x[r], np.float32(n))
        out[n] = acc
    return out


@pytest.mark.parametrize("target", ["c", "native"])
def test_cache_write_renames_axes_in_the_reducer(target):
    X = te.placeholder((10,), name="x")
    Y = _axis_dependent_sum(X)
    s = te.create_schedule(Y.op)
    s.cache_write(Y, "local")
    f = te.build(s, [X, Y], target=target)
    x = np.random.default_rng(0).standard_normal(10).astype("float32")
    y = np.empty(10, "float32")
    f(x, y)
    np.testing.assert_allclose(y, _reference(x), rtol=1e-6)


def test_cache_write_keeps_the_original_reducer_when_no_axis_is_used():
    X = te.placeholder((4, 8), name="x")
    k = te.reduce_axis((0, 8), name="k")
    Y = te.compute((4,), lambda i: te.sum(X[i, k], axis=k), name="y")
    s = te.create_schedule(Y.op)
    C = s.cache_write(Y, "local")
    assert C.op.body[0].combiner is Y.op.body[0].combiner


def test_rfactor_renames_axes_in_the_reducer():
    """max with identity n (idempotent, so several partial identities are harmless)."""
    X = te.placeholder((6, 16), name="x")

    def f(i):
        k = te.reduce_axis((0, 16), name="k")
        red = te.comm_reducer(lambda a, b: te.max(a, b), lambda dt: i.astype(dt), name="floor_max")
        return red(X[i, k], axis=k)
    Y = te.compute((6,), f, name="y")
    s = te.create_schedule(Y.op)
    ko, ki = s[Y].split(Y.op.reduce_axis[0], factor=4)
    R = s.rfactor(Y, ki)
    assert R.op.body[0].combiner is not Y.op.body[0].combiner
    f = te.build(s, [X, Y], target="c")
    x = np.random.default_rng(1).uniform(-1, 8, (6, 16)).astype("float32")
    y = np.empty(6, "float32")
    f(x, y)
    np.testing.assert_allclose(y, np.maximum(x.max(axis=1), np.arange(6, dtype="float32")))
