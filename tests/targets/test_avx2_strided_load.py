"""The AVX2 emitter's load of every other float (x86/avx2.py: two loads and two shuffles):
the lanes in order, and nothing read past the last element the access covers."""
import numpy as np

import texpr as te


def test_stride2_float_load_is_in_order_and_in_bounds():
    n = 24                       # B[i] = A[2i + 1]: the last vector ends at A[47], A's last
    A = te.placeholder((2 * n,), name="A")
    B = te.compute((n,), lambda i: A[2 * i + 1] * 2.0, name="B")
    s = te.create_schedule(B.op)
    s[B].vectorize(s[B].split(B.op.axis[0], factor=8)[1])
    f = te.build(s, [A, B], target="avx2")
    assert "texpr_load_stride2_float32x8(" in f.source
    a = np.arange(2 * n, dtype="float32")
    b = np.empty(n, "float32")
    f(a, b)
    np.testing.assert_array_equal(b, a[1::2] * 2)
