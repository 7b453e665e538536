"""te.min / te.max of float vectors are np.minimum / np.maximum bit for bit: a NaN operand is
the result, and of equal operands (-0.0 and 0.0) the second, with a constant on either side
or none (x86's min/max instructions differ in both; targets/x86/avx2.py float_minmax)."""
import numpy as np
import pytest

import texpr as te

VALUES = np.array([-0.0, 0.0, np.nan, 2.0, -2.0, 5.0, -np.inf, np.inf], "float32")


def _same_bits(a, b):
    return np.array_equal(np.isnan(a), np.isnan(b)) and \
        np.array_equal(np.nan_to_num(a).view("uint32"), np.nan_to_num(b).view("uint32"))


def _vectorized(out):
    s = te.create_schedule(out.op)
    _, xi = s[out].split(out.op.axis[0], factor=8)
    s[out].vectorize(xi)
    return s


@pytest.mark.parametrize("target", ["c", "avx2", "avx512", "neon"])
@pytest.mark.parametrize("op", ["min", "max"])
@pytest.mark.parametrize("const", [0.0, -0.0, 2.0])
@pytest.mark.parametrize("const_first", [False, True])
def test_minmax_with_a_constant_is_numpys(target, op, const, const_first):
    fn, ref = (te.min, np.minimum) if op == "min" else (te.max, np.maximum)
    X = te.placeholder((16,), name="X")
    c = te.const(const, "float32")
    Y = te.compute((16,), (lambda i: fn(c, X[i])) if const_first else (lambda i: fn(X[i], c)),
                   name="Y")
    f = te.build(_vectorized(Y), [X, Y], target=target)
    x = np.tile(VALUES, 2)
    y = np.empty(16, "float32")
    f(x, y)
    expect = ref(np.float32(const), x) if const_first else ref(x, np.float32(const))
    assert _same_bits(y, expect), (y, expect)


@pytest.mark.parametrize("target", ["c", "avx2", "avx512", "neon"])
@pytest.mark.parametrize("op", ["min", "max"])
def test_minmax_of_two_vectors_is_numpys(target, op):
    fn, ref = (te.min, np.minimum) if op == "min" else (te.max, np.maximum)
    X = te.placeholder((64,), name="X")
    Z = te.placeholder((64,), name="Z")
    Y = te.compute((64,), lambda i: fn(X[i], Z[i]), name="Y")
    f = te.build(_vectorized(Y), [X, Z, Y], target=target)
    x, z = np.meshgrid(VALUES, VALUES)
    x, z = x.ravel().copy(), z.ravel().copy()
    y = np.empty(64, "float32")
    f(x, z, y)
    assert _same_bits(y, ref(x, z)), (y, ref(x, z))
