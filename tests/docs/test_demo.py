"""texpr.demo's kernels (what `make demo` builds) at small sizes, against NumPy: the demo
itself runs at full size and times things, so the suite checks its schedules here."""
import numpy as np
import pytest

import texpr as te
from texpr import demo
from texpr.targets import get_target

TARGET = "native"


def build(s, args, name):
    return te.build(s, args, target=TARGET, name=name)


@pytest.mark.parametrize("n", [64, 1000])
def test_vector_add_and_elementwise_chain(n):
    rng = np.random.default_rng(n)
    a, b = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    c = np.empty_like(a)
    build(*demo.vector_add(n), "vector_add")(a, b, c)
    np.testing.assert_allclose(c, a + b, rtol=1e-6)
    x = rng.standard_normal(n, dtype=np.float32)
    y = np.empty_like(x)
    build(*demo.elementwise_chain(n), "elementwise_chain")(x, y)
    np.testing.assert_allclose(y, np.maximum(x * 1.5 + 0.5, 0) * 0.25 + x, rtol=1e-6, atol=1e-6)


def test_row_sum_and_blur():
    rng = np.random.default_rng(1)
    a = rng.random((37, 80), dtype=np.float32)
    out = np.empty(37, np.float32)
    build(*demo.row_sum(37, 80), "row_sum")(a, out)
    np.testing.assert_allclose(out, a.sum(axis=1), rtol=1e-5)
    img = rng.random((19, 40), dtype=np.float32)
    o = np.empty((17, 38), np.float32)
    build(*demo.blur(19, 40), "blur")(img, o)
    want = (img[:-2, 1:-1] + img[1:-1, :-2] + img[1:-1, 1:-1] + img[1:-1, 2:] + img[2:, 1:-1]) * 0.2
    np.testing.assert_allclose(o, want, rtol=1e-5)


def test_matmul_and_topi_dense():
    n = 128        # 128 % 6: a tail row tile; a multiple of the packed panel width
    rng = np.random.default_rng(2)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    build(*demo.matmul(n, get_target(TARGET).vector_bits), "matmul")(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)
    c[:] = np.nan
    build(*demo.topi_dense(n, TARGET), "dense")(a, b, c)
    np.testing.assert_allclose(c, a @ b.T, rtol=1e-4, atol=1e-4)
