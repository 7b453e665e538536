"""texpr.testing, the public strategies and the NumPy comparison helper."""
from hypothesis import event, given, settings, strategies as st
import numpy as np
import pytest

import texpr as te
from texpr import testing as tt
from texpr.lang.expr import Var

from support.irutil import TooExpensive, interpret


@given(tt.shapes(ndim=3, min_side=2, max_side=5, min_ndim=1))
def test_shapes(shape):
    assert 1 <= len(shape) <= 3 and all(2 <= s <= 5 for s in shape)


@given(tt.extents(["a", "b", "c"], min_side=1, max_side=9))
def test_extents(drawn):
    dims, values = drawn
    assert set(dims) == {"a", "b", "c"}
    for name, d in dims.items():
        if isinstance(d, Var):
            assert d.name == name and 1 <= values[d] <= 9
        else:
            assert 1 <= d <= 9
    assert len(values) == sum(isinstance(d, Var) for d in dims.values())


@given(tt.extents(["a"], symbolic=True))
def test_extents_all_symbolic(drawn):
    dims, values = drawn
    assert isinstance(dims["a"], Var) and dims["a"] in values


@given(st.data())
def test_arrays_for_shapes_and_dtypes(data):
    n = te.var("n")
    A = te.placeholder((n, 3), "float32", name="A")
    B = te.placeholder((n + 1,), "int8", name="B")
    C = te.placeholder((2,), "bool", name="C")
    U = te.placeholder((4,), "uint16", name="U")
    nv = data.draw(st.integers(0, 6))
    a, b, c, u = data.draw(tt.arrays_for([A, B, C, U], {n: nv}))
    assert a.shape == (nv, 3) and a.dtype == np.float32 and a.flags.c_contiguous
    assert b.shape == (nv + 1,) and b.dtype == np.int8 and np.all(np.abs(b) <= 8)
    assert c.dtype == np.bool_ and u.dtype == np.uint16 and np.all(u <= 8)
    assert np.all(np.abs(a) <= 1)


@given(st.data())
def test_arrays_for_with_element_strategy(data):
    A = te.placeholder((2, 3), "int32", name="A")
    (a,) = data.draw(tt.arrays_for([A], elements=st.integers(-3, 3)))
    assert a.shape == (2, 3) and a.dtype == np.int32 and np.all(np.abs(a) <= 3)


def test_shape_of_needs_values_for_vars():
    n = te.var("n")
    A = te.placeholder((n * 2 + 1, 3), name="A")
    assert tt.shape_of(A, {n: 4}) == (9, 3)
    with pytest.raises(te.TexprError, match="no value given for the symbolic extent n"):
        tt.shape_of(A)


def diamond():
    """A -> B (elementwise) -> C (reduction) and D (reads B and C); outputs C and D."""
    n = te.var("n")
    A = te.placeholder((n, 6), name="A")
    B = te.compute((n, 6), lambda i, j: A[i, j] * 2.0, name="B")
    k = te.reduce_axis((0, 6), name="k")
    C = te.compute((n,), lambda i: te.max(B[i, k], axis=k), name="C")
    E = te.compute((n,), lambda i: te.sum(B[i, k] * B[i, k], axis=k), name="E")
    D = te.compute((n, 6), lambda i, j: B[i, j] - C[i] + E[i], name="D")
    return n, A, [C, D], [A, C, D]


def diamond_ref(a):
    b = a * 2
    c = b.max(1)
    return c, b - c[:, None] + (b * b).sum(1)[:, None]


@settings(max_examples=15)
@given(st.data())
def test_every_drawn_schedule_lowers_and_computes_the_result(data):
    """legal_schedules only draws legal schedules: lowering never raises and the interpreted
    loop program (no compiler) gives the NumPy result, for a graph with two outputs, a shared
    producer and a non-output reduction."""
    n, A, outs, args = diamond()
    drawn = data.draw(tt.legal_schedules(outs, max_steps=3))
    nv = data.draw(st.integers(1, 7))
    (a,) = data.draw(tt.arrays_for([A], {n: nv}))
    f = te.lower(drawn.schedule, args)
    c = np.full(nv, np.nan, "float32")
    d = np.full((nv, 6), np.nan, "float32")
    try:
        interpret(f, [a, c, d], {n: nv}, budget=60_000)
    except TooExpensive:
        event("too slow to interpret")
        return
    rc, rd = diamond_ref(a)
    np.testing.assert_allclose(c, rc, rtol=1e-5)
    np.testing.assert_allclose(d, rd, rtol=1e-5, atol=1e-5)


@given(st.data())
def test_primitive_subset_is_respected(data):
    n, A, outs, args = diamond()
    drawn = data.draw(tt.legal_schedules(outs, primitives=("split", "compute_inline")))
    for step in drawn.steps:
        assert ".split(" in step or ".compute_inline(" in step, step


def test_drawn_schedule_repr_lists_the_steps():
    d = tt.DrawnSchedule(None, ["s[C].split(i, factor=3)", "s[C].vectorize(i.inner)"])
    assert "s[C].split(i, factor=3)\n    s[C].vectorize(i.inner)" in repr(d)
    assert "default schedule" in repr(tt.DrawnSchedule(None, []))


def test_legal_schedules_argument_errors():
    A = te.placeholder((3,), name="A")
    with pytest.raises(te.TexprError, match="unknown primitives"):
        tt.legal_schedules([A], primitives=("split", "teleport"))
    with pytest.raises(te.TexprError, match="not a computed tensor"):
        tt.legal_schedules([A])


def test_tolerance():
    assert tt.tolerance("float16")[0] > tt.tolerance("float32")[0] > tt.tolerance("float64")[0]
    assert tt.tolerance("int32") == (0, 0)


# ----------------------------------------------------------------------------- check_kernel

def scale():
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * 2.0, name="B")
    return n, A, B


def test_check_kernel_draws_inputs_and_passes_on_a_correct_kernel():
    n, A, B = scale()
    s = te.create_schedule(B.op)
    mod, (b,) = tt.check_kernel(s, [A, B], lambda a: a * 2, values={n: 9}, target="c", seed=3)
    assert b.shape == (9,)
    assert mod.target == "c"


def test_check_kernel_catches_a_wrong_result():
    n, A, B = scale()
    s = te.create_schedule(B.op)
    with pytest.raises(AssertionError, match="output B .* differs from NumPy"):
        tt.check_kernel(s, [A, B], lambda a: a * 3, values={n: 5}, target="c")


class _LazyModule:
    """A stand-in module that writes only the first element of its output."""
    source = "fake"

    def __call__(self, a, b):
        b[0] = 2 * a[0]

    def __repr__(self):
        return "<lazy module>"


def test_check_kernel_catches_unwritten_outputs_and_accepts_built_modules():
    n, A, B = scale()
    with pytest.raises(AssertionError, match="lazy module"):
        tt.check_kernel(_LazyModule(), [A, B], lambda a: a * 2, values={n: 4})
    with pytest.raises(AssertionError):
        tt.check_kernel(lambda target: _LazyModule(), [A, B], lambda a: a * 2, values={n: 4})
    s = te.create_schedule(B.op)
    built = te.build(s, [A, B], target="c")
    tt.check_kernel(built, [A, B], lambda a: a * 2, [np.arange(6, dtype="float32")])


def test_check_kernel_argument_errors():
    n, A, B = scale()
    s = te.create_schedule(B.op)
    with pytest.raises(te.TexprError, match="1 placeholder"):
        tt.check_kernel(s, [A, B], lambda a: a, [np.ones(3, "float32")] * 2, target="c")
    with pytest.raises(te.TexprError, match="returned 2 array"):
        tt.check_kernel(s, [A, B], lambda a: (a, a), [np.ones(3, "float32")], target="c")
    with pytest.raises(te.TexprError, match="no value given"):
        tt.check_kernel(s, [A, B], lambda a: a)
    with pytest.raises(AssertionError, match="shape"):
        tt.check_kernel(s, [A, B], lambda a: a[:2] * 2, [np.ones(3, "float32")], target="c")


def test_check_kernel_integer_outputs_are_exact():
    A = te.placeholder((6,), "int32", name="A")
    B = te.compute((6,), lambda i: A[i] * 3 - 1, name="B")
    s = te.create_schedule(B.op)
    tt.check_kernel(s, [A, B], lambda a: a * 3 - 1, target="c")
    with pytest.raises(AssertionError):
        tt.check_kernel(s, [A, B], lambda a: a * 3, target="c")


def test_check_kernel_solves_affine_extents_from_the_inputs():
    n = te.var("n")
    A = te.placeholder((2 * n + 4,), name="A")
    B = te.compute((n,), lambda i: A[2 * i + 1] + A[2 * i + 4], name="B")
    s = te.create_schedule(B.op)
    a = np.arange(14, dtype="float32")            # n = 5
    _, (b,) = tt.check_kernel(s, [A, B], lambda a: a[1:11:2] + a[4:14:2], [a], target="c")
    assert b.shape == (5,)
