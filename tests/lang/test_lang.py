"""texpr.lang: dtypes and promotion (vs NumPy), floor division semantics, expression errors."""
import itertools

import numpy as np
import pytest

import texpr as te
from texpr.lang import dtypes
from texpr.lang.expr import BinOp, Cast, Const, Reduce, Select, TensorLoad, Var
from texpr.lower.analysis.arith import simplify

NUMERIC = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "float16",
           "float32", "float64"]


# ----------------------------------------------------------------------------- promotion

@pytest.mark.parametrize("a,b", list(itertools.combinations_with_replacement(NUMERIC, 2)))
def test_binary_promotion_matches_numpy(a, b):
    A = te.placeholder((2,), a, name="A")
    B = te.placeholder((2,), b, name="B")
    expected = np.result_type(np.dtype(a), np.dtype(b)).name
    assert (A[0] + B[0]).dtype == expected
    assert (B[0] * A[0]).dtype == expected
    e = A[0] - B[0]
    # operands are cast explicitly to the result type: nothing is converted implicitly in C
    assert e.a.dtype == e.b.dtype == expected


@pytest.mark.parametrize("dt", NUMERIC[1:])
@pytest.mark.parametrize("scalar", [1, 2.5])
def test_python_scalars_are_weak_like_numpy(dt, scalar):
    A = te.placeholder((2,), dt, name="A")
    expected = (np.zeros(1, dt) + scalar).dtype.name
    assert (A[0] + scalar).dtype == expected
    assert (scalar * A[0]).dtype == expected


def test_uint64_with_int64_follows_numpy():
    U = te.placeholder((2,), "uint64", name="U")
    I = te.placeholder((2,), "int64", name="I")
    assert (U[0] + I[0]).dtype == np.result_type(np.uint64, np.int64).name == "float64"


def test_constant_that_does_not_fit_raises_instead_of_truncating():
    A = te.placeholder((2,), "int8", name="A")
    with pytest.raises(te.DTypeError, match="1000 does not fit in int8"):
        A[0] + 1000
    with pytest.raises(te.DTypeError, match="300"):
        te.const(300, "int8")
    with pytest.raises(te.DTypeError, match="not an integer"):
        te.const(2.5, "int32")
    U = te.placeholder((2,), "uint8", name="U")
    with pytest.raises(te.DTypeError):
        U[0] + (-1)


def test_astype_and_const():
    A = te.placeholder((2,), "int32", name="A")
    e = A[0].astype("float32")
    assert isinstance(e, Cast) and e.dtype == "float32"
    assert A[0].astype("int32") is A[0] or A[0].astype("int32").same_as(A[0])
    assert te.const(3, "int16").dtype == "int16"
    assert te.const(1.5).dtype == "float32"
    assert te.const(True).dtype == "bool"
    assert A[0].astype(np.float64).dtype == "float64"


@pytest.mark.parametrize("fn,np_fn", [(te.exp, np.exp), (te.sqrt, np.sqrt), (te.log, np.log),
                                      (te.tanh, np.tanh)])
@pytest.mark.parametrize("dt", ["int8", "int32", "float16", "float32", "float64"])
def test_math_result_dtype_follows_numpy(fn, np_fn, dt):
    A = te.placeholder((2,), dt, name="A")
    assert fn(A[0]).dtype == np_fn(np.ones(1, dt)).dtype.name


def test_unsupported_dtypes_raise():
    with pytest.raises(te.DTypeError, match="complex64"):
        te.placeholder((3,), "complex64")
    with pytest.raises(te.DTypeError, match="unknown dtype"):
        te.placeholder((3,), "floaty")


def test_dtype_helpers():
    assert dtypes.split_lanes("float32x8") == ("float32", 8)
    assert dtypes.with_lanes("int32", 4) == "int32x4"
    assert dtypes.with_lanes("int32x4", 1) == "int32"
    assert dtypes.bits("float16") == 16 and dtypes.bits("bool") == 8
    assert dtypes.is_unsigned("uint8x32") and not dtypes.is_unsigned("int8")
    assert dtypes.normalize(np.float32) == "float32"


# ----------------------------------------------------------------------------- division

def test_int_true_division_is_an_error():
    A = te.placeholder((2,), "int32", name="A")
    with pytest.raises(te.DTypeError, match="'/' on integers"):
        A[0] / A[1]
    with pytest.raises(te.DTypeError, match="//"):
        A[0] / 2
    # with a float on either side it is true division
    assert (A[0] / 2.0).dtype == "float64"
    assert (A[0].astype("float32") / A[1].astype("float32")).dtype == "float32"


def test_floordiv_mod_build_ops_not_truncating_ones():
    A = te.placeholder((2,), "int32", name="A")
    d, m = A[0] // 3, A[0] % 3
    assert isinstance(d, BinOp) and d.op == "//"
    assert isinstance(m, BinOp) and m.op == "%"


@pytest.mark.parametrize("dt", ["int8", "int32", "int64"])
def test_floor_div_mod_on_negative_ints_match_python(dt):
    """Generated C must give Python's floor semantics for // and %, for every sign."""
    n = 40
    A = te.placeholder((n,), dt, name="A")
    B = te.placeholder((n,), dt, name="B")
    D = te.compute((n,), lambda i: A[i] // B[i], name="D")
    M = te.compute((n,), lambda i: A[i] % B[i], name="M")
    D3 = te.compute((n,), lambda i: A[i] // -3 + A[i] % 4, name="D3")
    s = te.create_schedule([D.op, M.op, D3.op])
    f = te.build(s, [A, B, D, M, D3], target="c", name="floordiv")
    rng = np.random.default_rng(1)
    a = rng.integers(-20, 21, n).astype(dt)
    b = rng.choice([-7, -3, -2, -1, 1, 2, 3, 5], n).astype(dt)
    d, m, d3 = (np.zeros(n, dt) for _ in range(3))
    f(a, b, d, m, d3)
    assert [int(x) for x in d] == [int(x) // int(y) for x, y in zip(a, b)]
    assert [int(x) for x in m] == [int(x) % int(y) for x, y in zip(a, b)]
    assert [int(x) for x in d3] == [int(x) // -3 + int(x) % 4 for x in a]


def test_float_floordiv_and_mod_follow_numpy():
    n = 16
    A = te.placeholder((n,), "float32", name="A")
    D = te.compute((n,), lambda i: A[i] // 2.5, name="D")
    M = te.compute((n,), lambda i: A[i] % 2.5, name="M")
    s = te.create_schedule([D.op, M.op])
    f = te.build(s, [A, D, M], target="c")
    a = np.linspace(-7, 7, n).astype("float32")
    d, m = np.zeros(n, "float32"), np.zeros(n, "float32")
    f(a, d, m)
    np.testing.assert_allclose(d, np.floor_divide(a, np.float32(2.5)), rtol=1e-6)
    np.testing.assert_allclose(m, np.mod(a, np.float32(2.5)), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- expression errors

def test_symbolic_expression_has_no_truth_value():
    A = te.placeholder((2,), name="A")
    with pytest.raises(te.TexprError, match="no Python truth value"):
        if A[0] < 1.0:
            pass


def test_structural_equality_is_the_truth_of_eq():
    i = te.var("i")
    assert bool(i + 1 == i + 1)
    assert not bool(i + 1 == i + 2)
    assert bool(i != te.var("i"))           # vars compare by identity


def test_indexing_errors():
    A = te.placeholder((4, 5), name="A")
    with pytest.raises(te.TexprError, match="2 dimension.*1 index"):
        A[0] * 2.0                  # A[0] alone is a slice to index further (A[0][j])
    with pytest.raises(te.TexprError, match="out of bounds"):
        A[4, 0]
    with pytest.raises(te.DTypeError, match="indices must be integers"):
        A[1.5, 0]
    with pytest.raises(te.TexprError, match="slice"):
        A[0:2, 0] + 1.0             # A[0:2, 0] alone is a region (a tensor intrinsic's argument)
    with pytest.raises(te.TexprError, match="bool"):
        A[True, 0]
    assert isinstance(A(1, 2), TensorLoad)


def test_compute_errors():
    A = te.placeholder((4,), name="A")
    with pytest.raises(te.TexprError, match="takes 2 argument"):
        te.compute((4,), lambda i, j: A[i])
    with pytest.raises(te.TexprError, match="not an expression"):
        te.compute((4,), lambda i: "x")
    with pytest.raises(te.TexprError, match="empty tuple"):     # (a, b) is a multi-output compute
        te.compute((4,), lambda i: ())
    with pytest.raises(te.TexprError, match="negative"):
        te.placeholder((-1,))
    with pytest.raises(te.TexprError, match="expected an int or te.var"):
        te.placeholder((3.5,))
    with pytest.raises(te.DTypeError, match="integer"):
        te.placeholder((te.var("f", "float32"),))
    with pytest.raises(te.TexprError, match="non-empty string"):
        te.placeholder((3,), name="")
    with pytest.raises(te.TexprError, match="must be a string"):
        te.var(3)


def test_reduction_errors():
    A = te.placeholder((4,), name="A")
    k = te.reduce_axis((0, 4), name="k")
    with pytest.raises(te.TexprError, match="whole body"):
        te.compute((4,), lambda i: te.sum(A[k], axis=k) + 1.0)
    with pytest.raises(te.TexprError, match="where= must be a boolean"):
        te.sum(A[k], axis=k, where=A[k])
    with pytest.raises(te.TexprError, match="te.reduce_axis"):
        te.sum(A[k], axis=[k, te.var("j")])
    with pytest.raises(te.TexprError, match="listed twice"):
        te.sum(A[k], axis=[k, k])
    with pytest.raises(te.TexprError, match="at least one axis"):
        te.sum(A[k], axis=[])
    with pytest.raises(te.TexprError, match="needs axis"):
        te.sum(A[k])
    # a te.var given as the axis is a mistake, not the elementwise form sum(a, b)
    with pytest.raises(te.TexprError, match="a te.var is not a reduction axis"):
        te.sum(A[k], axis=te.var("j"))
    with pytest.raises(te.TexprError, match="axis once"):
        te.sum(A[k], k, axis=k)


def test_reducer_call_forms():
    """te.sum(x, k, where) positionally equals the keyword form; te.max(a, b) of two
    expressions is the elementwise maximum."""
    A = te.placeholder((4,), name="A")
    k = te.reduce_axis((0, 4), name="k")
    B = te.compute((1,), lambda i: te.sum(A[k], k, k > 0), name="B")
    C = te.compute((1,), lambda i: te.max(A[i], A[i + 1]), name="C")
    f = te.build(te.create_schedule([B.op, C.op]), [A, B, C], target="c")
    a = np.array([5, 1, 2, 3], "float32")
    b, c = np.empty(1, "float32"), np.empty(1, "float32")
    f(a, b, c)
    assert b[0] == 6 and c[0] == 5


def test_compute_lambda_defaults_are_not_indices():
    """lambda i, scale=2.0: ... is a one-dimensional compute (scale keeps its default)."""
    A = te.placeholder((4,), name="A")
    B = te.compute((4,), lambda i, scale=2.0: A[i] * scale, name="B")
    s = te.create_schedule(B.op)
    f = te.build(s, [A, B], target="c")
    a = np.arange(4, dtype="float32")
    b = np.empty(4, "float32")
    f(a, b)
    np.testing.assert_array_equal(b, a * 2)
    with pytest.raises(te.TexprError, match=r"\(begin, end\)"):
        te.reduce_axis(4)


def test_python_numbers_on_the_left_of_shifts_and_xor():
    """1 << i, 256 >> i and 5 ^ i build expressions (as TVM's PrimExpr does), computed as
    NumPy computes them; a hybrid script's `1 << l` needs it."""
    A = te.placeholder((8,), "int32", name="A")
    B = te.compute((8,), lambda i: (1 << A[i]) + (256 >> A[i]) + (5 ^ A[i]), name="B")
    f = te.build(te.create_schedule(B.op), [A, B], target="c")
    a = np.arange(8, dtype="int32")
    b = np.empty(8, "int32")
    f(a, b)
    np.testing.assert_array_equal(b, (1 << a) + (256 >> a) + (5 ^ a))
    with pytest.raises(te.DTypeError, match="bitwise"):
        1 << te.placeholder((4,), "float32", name="F")[0]


def test_bad_operands():
    A = te.placeholder((4,), "int8", name="A")
    F = te.placeholder((4,), "float16", name="F")
    B = te.placeholder((4,), "bool", name="B")
    with pytest.raises(te.DTypeError, match="bitwise"):
        A[0] & 1.5
    with pytest.raises(te.DTypeError, match="bitwise"):
        F[0] << 1
    with pytest.raises(te.DTypeError, match="boolean"):
        te.if_then_else(A[0], 1, 2)
    with pytest.raises(te.DTypeError, match="boolean"):
        te.all(A[0], B[0])
    with pytest.raises(te.DTypeError, match="bool"):
        te.exp(B[0])
    with pytest.raises(te.TexprError, match="cannot use"):
        A[0] + "x"
    with pytest.raises(te.TexprError, match="at least one"):
        te.any()
    with pytest.raises(te.TexprError, match="unknown tag"):
        te.thread_axis("warp.x")


def test_bool_operators_build_logical_ops():
    B = te.placeholder((4,), "bool", name="B")
    assert (B[0] & B[1]).op == "&&"
    assert (B[0] | B[1]).op == "||"
    assert type(~B[0]).__name__ == "Not"
    assert te.all(B[0], B[1], B[2]).dtype == "bool"


def test_if_then_else_promotes_branches():
    A = te.placeholder((4,), "int16", name="A")
    F = te.placeholder((4,), "float32", name="F")
    e = te.if_then_else(A[0] > 0, A[0], F[0])
    assert isinstance(e, Select) and e.dtype == "float32"
    assert te.if_then_else(A[0] > 0, A[0], 0).dtype == "int16"


def test_comm_reducer_and_reduce_node():
    A = te.placeholder((4, 6), name="A")
    k = te.reduce_axis((0, 6), name="k")
    prod = te.comm_reducer(lambda x, y: x * y, lambda dt: te.const(1, dt), name="prod")
    B = te.compute((4,), lambda i: prod(A[i, k], axis=k), name="B")
    assert isinstance(B.op.body[0], Reduce) and B.op.reduce_axis[0] is k
    s = te.create_schedule(B.op)
    f = te.build(s, [A, B], target="c")
    a = np.random.default_rng(0).uniform(0.5, 1.5, (4, 6)).astype("float32")
    b = np.zeros(4, "float32")
    f(a, b)
    np.testing.assert_allclose(b, a.prod(axis=1), rtol=1e-5)
    # elementwise form of the built-in reducers
    assert te.max(A[0, 0], A[1, 1]).op == "max"
    assert te.min(A[0, 0], 0.0).op == "min"


def test_printing_is_readable():
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    k = te.reduce_axis((0, n), name="k")
    B = te.compute((1,), lambda i: te.sum(A[k] * 2.0, axis=k, where=k < n - 1), name="B")
    text = str(B.op.body[0])
    assert "sum(" in text and "A[k]" in text and "where=" in text
    assert str(te.var("q") // 3) == "q // 3"
    assert isinstance(simplify(Const(2, "int32") + 3), Const)
    assert isinstance(Var("z"), te.Expr)


@pytest.mark.parametrize("dt", ["int8", "int32", "int64", "uint16"])
def test_integer_division_by_zero_and_min_by_minus_one_match_numpy(dt):
    """C's / and % trap (SIGFPE, killing the interpreter) on x / 0 and MIN / -1; texpr
    computes what NumPy does instead (0 for a zero divisor, wrap-around for MIN // -1)."""
    A = te.placeholder((5,), dt, name="A")
    B = te.placeholder((5,), dt, name="B")
    D = te.compute((5,), lambda i: A[i] // B[i], name="D")
    M = te.compute((5,), lambda i: A[i] % B[i], name="M")
    f = te.build(te.create_schedule([D.op, M.op]), [A, B, D, M], target="c")
    info = np.iinfo(dt)
    neg1 = -1 if info.min < 0 else 1
    a = np.array([1, info.min, info.min, 7, info.max], dt)
    b = np.array([0, neg1, 0, 3, neg1], dt)
    d, m = np.zeros(5, dt), np.zeros(5, dt)
    f(a, b, d, m)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(d, np.floor_divide(a, b))
        np.testing.assert_array_equal(m, np.mod(a, b))
