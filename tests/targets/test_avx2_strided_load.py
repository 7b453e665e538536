"""The x86 emitters' load of every other float (x86/avx2.py: two loads and two shuffles;
x86/avx512.py: two loads and one two-source permute, 8 or 16 lanes, the AVX2 shuffles under
SIMDe): the lanes in order, and nothing read past the last element the access covers."""
import numpy as np
import pytest

import texpr as te


@pytest.mark.parametrize("target,lanes", [("avx2", 8), ("avx512", 8), ("avx512", 16)])
def test_stride2_float_load_is_in_order_and_in_bounds(target, lanes):
    n = 3 * lanes                # B[i] = A[2i + 1]: the last vector ends at A's last element
    A = te.placeholder((2 * n,), name="A")
    B = te.compute((n,), lambda i: A[2 * i + 1] * 2.0, name="B")
    s = te.create_schedule(B.op)
    s[B].vectorize(s[B].split(B.op.axis[0], factor=lanes)[1])
    f = te.build(s, [A, B], target=target)
    assert f"texpr_load_stride2_float32x{lanes}(&" in f.source
    a = np.arange(2 * n, dtype="float32")
    b = np.empty(n, "float32")
    f(a, b)
    np.testing.assert_array_equal(b, a[1::2] * 2)
