"""A kernel built from a specialised schedule (Schedule.specialize): one library, one entry
that dispatches to a static function per size class; every size correct, whichever class
takes it (one kernel built for the module)."""
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te


@pytest.fixture(scope="module")
def doubled():
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * 2.0 + 1.0, name="B")
    s = te.create_schedule(B.op)
    s.specialize(n == 3)
    s8 = s.specialize(n % 8 == 0)
    _, xi = s8[B].split(B.op.axis[0], factor=8)
    s8[B].vectorize(xi)
    s4 = s.specialize(te.all(n >= 4, n < 8))
    s4[B].unroll(s4[B].op.axis[0])      # (a loop of symbolic extent stays a loop)
    return te.build(s, [A, B], target="c", name="doubled")


@settings(max_examples=10, deadline=None)
@given(n=st.sampled_from([0, 1, 2, 3, 5, 7, 8, 13, 16, 31, 64, 97]))
def test_every_size_is_computed_right(doubled, n):
    a = np.random.default_rng(n).standard_normal(n).astype("float32")
    b = np.empty_like(a)
    doubled(a, b)
    np.testing.assert_allclose(b, a * 2 + 1, rtol=1e-6)


def test_one_entry_static_class_functions_and_the_dispatch_in_the_repr(doubled):
    src = doubled.source
    exported = re.findall(r"^void (\w+)\(", src, re.M)
    assert exported == ["texpr_kernel_doubled_set_num_threads", "texpr_kernel_doubled_entry"]
    for k in range(4):
        assert f"static __attribute__((noinline)) void texpr_kernel_doubled_class{k}(" in src
    assert "} else if (" in src
    r = repr(doubled)
    assert "dispatch: n == 3; n % 8 == 0; n >= 4 && n < 8; otherwise" in r


def test_inconsistent_shapes_name_the_variable(doubled):
    with pytest.raises(te.TexprError, match=r"\bn\b"):
        doubled(np.zeros(5, "float32"), np.zeros(6, "float32"))
