"""Classic TVM te names and semantics in texpr.lang (issue 15): the division family, the math
namespace, min/max_value, tensor arithmetic with broadcasting, A[i][j], input_tensors as a
property, thread_axis with a range, int() of extents, float extents, tag_scope."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr import testing as tt


def _elementwise(fn, dtype="float32", n=24, name="T"):
    A = te.placeholder((n,), dtype, name="A")
    B = te.compute((n,), lambda i: fn(A[i]), name=name)
    return A, B


def _run(outs, args, inputs, target="c"):
    s = te.create_schedule([o.op for o in outs])
    f = te.build(s, args, target=target)
    res = [np.empty([int(d) for d in o.shape], o.dtype) for o in outs]
    f(*inputs, *res)
    return res


# ----------------------------------------------------------------------------- division

INTS = np.array([-9, -8, -7, -3, -1, 0, 1, 2, 3, 7, 8, 9], dtype="int32")


@pytest.mark.parametrize("divisor", [3, -4, "var"])
def test_trunc_and_floor_division_match_c_and_numpy(divisor):
    a = INTS
    A = te.placeholder((len(a),), "int32", name="A")
    D = te.placeholder((len(a),), "int32", name="D")
    d = np.array([5, -5, 3, -2, 7, 1, -1, 4, -3, 2, -8, 6], "int32") if divisor == "var" else \
        np.full(len(a), divisor, "int32")
    rhs = (lambda i: D[i]) if divisor == "var" else (lambda i: divisor)
    outs = [te.compute(A.shape, lambda i, f=f: f(A[i], rhs(i)), name=n) for n, f in [
        ("td", te.truncdiv), ("tm", te.truncmod), ("fd", te.floordiv), ("fm", te.floormod),
        ("idd", te.indexdiv), ("im", te.indexmod), ("dv", te.div)]]
    ins, arrays = ([A, D], [a, d]) if divisor == "var" else ([A], [a])
    got = _run(outs, ins + outs, arrays)
    trunc_q = np.trunc(a / d).astype("int32")
    expected = [trunc_q, a - trunc_q * d, a // d, a % d, a // d, a % d, trunc_q]
    for g, e, o in zip(got, expected, outs):
        np.testing.assert_array_equal(g, e, err_msg=o.name)


@settings(max_examples=20, deadline=None)
@given(st.integers(-1000, 1000), st.integers(-50, 50).filter(lambda v: v != 0))
def test_truncdiv_of_constants_is_c_division(a, b):
    from texpr.lower.analysis.arith import simplify
    q, r = simplify(te.truncdiv(te.const(a), b)), simplify(te.truncmod(te.const(a), b))
    cq = int(a / b)
    assert (q.value, r.value) == (cq, a - cq * b)


def test_unsigned_truncdiv_is_plain_division():
    A = te.placeholder((4,), "uint8", name="A")
    assert str(te.truncdiv(A[0], te.const(3, "uint8"))) == str(A[0] // te.const(3, "uint8"))


def test_division_family_refuses_floats():
    A = te.placeholder((4,), name="A")
    with pytest.raises(te.DTypeError, match="truncdiv needs integer operands.*use /"):
        te.truncdiv(A[0], 2)
    with pytest.raises(te.DTypeError, match="truncmod needs integer.*te.fmod"):
        te.truncmod(A[0], 2)
    # div of floats is true division, as in TVM
    assert te.div(A[0], 2.0).op == "/"


def test_add_subtract_multiply():
    A = te.placeholder((5,), "int32", name="A")
    B = te.compute((5,), lambda i: te.multiply(te.subtract(te.add(A[i], 3), 1), 2), name="B")
    a = np.arange(5, dtype="int32")
    (b,) = _run([B], [A, B], [a])
    np.testing.assert_array_equal(b, (a + 2) * 2)


# ----------------------------------------------------------------------------- math

FLOAT_FUNCS = [("sin", np.sin), ("cos", np.cos), ("tan", np.tan), ("asin", np.arcsin),
               ("acos", np.arccos), ("atan", np.arctan), ("sinh", np.sinh), ("cosh", np.cosh),
               ("asinh", np.arcsinh), ("atanh", np.arctanh), ("log2", np.log2),
               ("log10", np.log10), ("log1p", np.log1p), ("exp2", np.exp2),
               ("expm1", np.expm1), ("rsqrt", lambda x: 1 / np.sqrt(x)), ("trunc", np.trunc),
               ("round", np.round), ("nearbyint", np.round)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,ref", FLOAT_FUNCS)
def test_math_namespace_matches_numpy(name, ref, dtype):
    x = np.linspace(0.05, 0.95, 24).astype(dtype)
    if name in ("trunc", "round", "nearbyint"):
        x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -1.7, 1.2] * 3, dtype)   # halves to even
    A, B = _elementwise(getattr(te, name), dtype)
    assert B.dtype == dtype
    for target in ("c", "native"):
        s = te.create_schedule(B.op)
        xo, xi = s[B].split(B.op.axis[0], factor=8)
        s[B].vectorize(xi)                        # lane by lane where there is no vector form
        tt.check_kernel(s, [A, B], ref, [x], target=target)


def test_math_of_integers_gives_floats_as_numpy():
    A = te.placeholder((4,), "int32", name="A")
    assert te.sin(A[0]).dtype == np.sin(np.ones(1, "int32")).dtype.name
    assert te.round(A[0]).same_as(A[0].astype(np.round(np.ones(1, "int32").astype("float64")).dtype.name))


def test_fmod_isnan_isinf_isfinite_popcount():
    x = np.array([1.5, -1.5, np.nan, np.inf, -np.inf, 7.25, -7.25, 0.0], "float32")
    A = te.placeholder((8,), "float32", name="A")
    outs = [te.compute((8,), lambda i: te.fmod(A[i], 2.0), name="fm"),
            te.compute((8,), lambda i: te.isnan(A[i]), name="nan"),
            te.compute((8,), lambda i: te.isinf(A[i]), name="inf"),
            te.compute((8,), lambda i: te.isfinite(A[i]), name="fin")]
    with np.errstate(invalid="ignore"):
        got = _run(outs, [A] + outs, [x])
        np.testing.assert_array_equal(got[0], np.fmod(x, 2.0).astype("float32"))
    np.testing.assert_array_equal(got[1], np.isnan(x))
    np.testing.assert_array_equal(got[2], np.isinf(x))
    np.testing.assert_array_equal(got[3], np.isfinite(x))
    for dt in ("int8", "uint16", "int32", "int64"):
        I = te.placeholder((6,), dt, name="I")
        P = te.compute((6,), lambda i: te.popcount(I[i]), name="P")
        v = np.array([0, 1, 3, -1, 127, -128], dt) if not dt.startswith("u") else \
            np.array([0, 1, 3, 65535, 127, 256], dt)
        (p,) = _run([P], [I, P], [v])
        ref = [bin(int(e) & ((1 << np.dtype(dt).itemsize * 8) - 1)).count("1") for e in v]
        np.testing.assert_array_equal(p, np.array(ref, dt))


def test_math_errors():
    A = te.placeholder((4,), "int32", name="A")
    with pytest.raises(te.DTypeError, match="fmod needs float operands.*truncmod"):
        te.fmod(A[0], 2)
    F = te.placeholder((4,), "float32", name="F")
    with pytest.raises(te.DTypeError, match="popcount needs an integer"):
        te.popcount(F[0])
    assert te.isnan(A[0]).value is False       # an integer is never NaN


def test_hvx_refuses_the_new_math_by_name():
    A, B = _elementwise(te.sin, "float32")
    with pytest.raises(te.TexprError, match="'sin' is not available on target 'hvx'"):
        te.build(te.create_schedule(B.op), [A, B], target="hvx")


def test_min_max_value():
    assert te.max_value("int8").value == 127 and te.min_value("uint8").value == 0
    assert te.max_value("float32").value == np.inf
    A = te.placeholder((6,), "int16", name="A")
    k = te.reduce_axis((0, 6), "k")
    M = te.compute((1,), lambda _: te.max(A[k], axis=k), name="M")
    R = te.compute((1,), lambda i: M[i].astype("int32") - te.min_value("int16").astype("int32"),
                   name="R")
    a = np.array([-5, 3, 9, -1000, 2, 0], "int16")
    (r,) = _run([R], [A, R], [a])
    assert r[0] == 9 + 32768


# ----------------------------------------------------------------------------- tensor arithmetic

def test_tensor_operators_broadcast_like_numpy():
    A = te.placeholder((3, 1, 5), name="A")
    B = te.placeholder((4, 1), name="B")
    exprs = [(A + B, lambda a, b: a + b), (A * 2, lambda a, b: a * 2),
             (2 - A, lambda a, b: 2 - a), (-A, lambda a, b: -a), (B / A, lambda a, b: b / a),
             (A - B * 0.5, lambda a, b: a - b * np.float32(0.5)), (1.0 / B, lambda a, b: 1 / b)]
    a = np.random.default_rng(0).uniform(1, 2, (3, 1, 5)).astype("float32")
    b = np.random.default_rng(1).uniform(1, 2, (4, 1)).astype("float32")
    outs = [t for t, _ in exprs]
    assert outs[0].shape[0].value == 3 and [int(d) for d in outs[0].shape] == [3, 4, 5]
    got = _run(outs, [A, B] + outs, [a, b])
    for g, (_, ref) in zip(got, exprs):
        np.testing.assert_allclose(g, ref(a, b), rtol=1e-6)
    assert (A + B).op.tag == "broadcast" and (A * 2).op.tag == "elemwise"


def test_tensor_operators_on_ints_and_native_vectors():
    A = te.placeholder((16,), "int32", name="A")
    B = te.placeholder((4, 16), "int32", name="B")
    C = (B + A) * 3 // 2 % 7
    s = te.create_schedule(C.op)
    s[C].vectorize(C.op.axis[1])
    a = np.arange(-8, 8, dtype="int32")
    b = np.arange(64, dtype="int32").reshape(4, 16)
    tt.check_kernel(s, [A, B, C], lambda a, b: (b + a) * 3 // 2 % 7, [a, b], target="native")


def test_tensor_comparison_stays_identity():
    A = te.placeholder((3,), name="A")
    B = te.placeholder((3,), name="B")
    assert (A == A) is True and (A == B) is False and len({A, B, A}) == 2


def test_tensor_operator_errors():
    A = te.placeholder((3, 4), name="A")
    B = te.placeholder((5,), name="B")
    with pytest.raises(te.TexprError, match=r"shapes \[3, 4\] and \[5\] cannot be broadcast"):
        A + B
    with pytest.raises(TypeError):
        A + "x"


def test_symbolic_broadcast_needs_the_same_var():
    n = te.var("n")
    A = te.placeholder((n, 4), name="A")
    B = te.placeholder((n, 1), name="B")
    C = A * B
    assert C.shape[0] is n
    s = te.create_schedule(C.op)
    a = np.random.rand(5, 4).astype("float32")
    b = np.random.rand(5, 1).astype("float32")
    tt.check_kernel(s, [A, B, C], lambda a, b: a * b, [a, b], target="c")
    with pytest.raises(te.TexprError, match="cannot be broadcast"):
        A + te.placeholder((te.var("m"), 4), name="D")


# ----------------------------------------------------------------------------- indexing, ops

def test_chained_indexing():
    A = te.placeholder((3, 4, 5), name="A")
    B = te.compute((3, 4, 5), lambda i, j, k: A[i][j][k] + A[i, j][k] * 2.0, name="B")
    a = np.random.rand(3, 4, 5).astype("float32")
    (b,) = _run([B], [A, B], [a])
    np.testing.assert_allclose(b, a * 3, rtol=1e-6)
    assert isinstance(A[0], te.TensorSlice)
    with pytest.raises(te.TexprError, match="3 dimension.*2 index.*index it further"):
        te.compute((3,), lambda i: A[i, 0] + 1.0)
    with pytest.raises(te.TexprError, match="index it further"):
        te.compute((3,), lambda i: A[i][0])


def test_input_tensors_is_a_property():
    A = te.placeholder((4,), name="A")
    B = te.placeholder((4,), name="B")
    C = te.compute((4,), lambda i: A[i] + B[i] * A[i], name="C")
    assert C.op.input_tensors == [A, B]
    assert A.op.input_tensors == []
    assert C.op.axis[0].dom.extent.value == 4 and C.op.reduce_axis == []
    assert C.op.body[0].same_as(A[C.op.axis[0].var] + B[C.op.axis[0].var] * A[C.op.axis[0].var])


def test_shape_extents_are_python_ints():
    n = te.var("n")
    A = te.placeholder((3, 7), name="A")
    assert int(A.shape[0]) == 3 and tuple(A.shape) == (3, 7)
    assert np.empty(tuple(A.shape), "float32").shape == (3, 7)
    assert list(range(A.shape[0])) == [0, 1, 2]
    with pytest.raises(te.TexprError, match="symbolic expression n.*when the kernel is called"):
        int(te.placeholder((n,), name="S").shape[0])
    with pytest.raises(te.TexprError, match="not an integer index"):
        np.empty((te.const(2.0),))


def test_float_extents_of_integral_value():
    N, bn = 64, 8
    A = te.placeholder((N,), name="A")
    B = te.compute((N / bn, bn), lambda i, j: A[i * bn + j] * 2.0, name="B")
    k = te.reduce_axis((0, N / bn), "k")
    C = te.compute((bn,), lambda j: te.sum(B[k, j], axis=k), name="C")
    s = te.create_schedule(C.op)
    s[B].split(B.op.axis[0], factor=N / bn / 2)
    a = np.random.rand(N).astype("float32")
    tt.check_kernel(s, [A, C], lambda a: (2 * a).reshape(8, 8).sum(0), [a], target="c")
    with pytest.raises(te.TexprError, match="shape is 2.5, which is not a whole number"):
        te.compute((2.5,), lambda i: A[i])
    with pytest.raises(te.ScheduleError, match="factor is 2.5, which is not a whole number"):
        s[C].split(C.op.axis[0], factor=2.5)
    with pytest.raises(te.TexprError, match="end is 1.5"):
        te.reduce_axis((0, 1.5))


def test_thread_axis_forms():
    t = te.thread_axis("threadIdx.x")
    assert t.thread_tag == "threadIdx.x" and t.dom is None
    r = te.thread_axis((0, 32), "threadIdx.y")
    assert r.thread_tag == "threadIdx.y" and r.dom.extent.value == 32
    assert te.thread_axis((0, 64.0), "blockIdx.x", name="bx").name == "bx"
    with pytest.raises(te.TexprError, match="unknown tag 'warp'"):
        te.thread_axis((0, 4), "warp")
    with pytest.raises(te.TexprError, match="must start at 0"):
        te.thread_axis((1, 4), "threadIdx.x")
    with pytest.raises(te.TexprError, match=r"must be \(0, extent\)"):
        te.thread_axis(4, "threadIdx.x")


def test_tag_scope_as_context_and_decorator():
    A = te.placeholder((4,), name="A")
    with te.tag_scope("my_tag"):
        B = te.compute((4,), lambda i: A[i] + 1.0, name="B")
        C = te.compute((4,), lambda i: B[i] * 2.0, name="C", tag="own")
    D = te.compute((4,), lambda i: C[i], name="D")
    assert (B.op.tag, C.op.tag, D.op.tag) == ("my_tag", "own", "")

    @te.tag_scope(tag="relu")
    def relu(x):
        return te.compute(x.shape, lambda *i: te.max(x(*i), 0.0) if False else
                          te.if_then_else(x(*i) < 0.0, 0.0, x(*i)), name="relu")
    R = relu(D)
    assert R.op.tag == "relu"
    (r,) = _run([R], [A, R], [np.array([-1, 2, -3, 4], "float32")])
    np.testing.assert_array_equal(r, [0, 6, 0, 10])
    with pytest.raises(ValueError, match="nested tag scopes"):      # TVM's ValueError too
        with te.tag_scope("a"), te.tag_scope("b"):
            pass
    with pytest.warns(UserWarning, match="'unused' of a tag_scope was given to no compute"):
        with te.tag_scope("unused"):
            pass
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with te.tag_scope("used"):
            te.compute((4,), lambda i: A[i], name="E")


def test_expression_times_tensor_and_module_functions_on_tensors():
    n = te.size_var("n")
    A = te.placeholder((n, 3), name="A")
    B = te.placeholder((3,), name="B")
    C = te.subtract(te.multiply(n.astype("float32") * A, 2.0), te.add(B, 1.0))
    D = te.floordiv(A, B)
    s = te.create_schedule([C.op, D.op])
    a = np.random.default_rng(0).uniform(-3, 3, (4, 3)).astype("float32")
    b = np.array([0.5, 1.5, 2.0], "float32")
    tt.check_kernel(s, [A, B, C, D], lambda a, b: (a * 4 * 2 - (b + 1), a // b), [a, b],
                    target="c")


def test_truncdiv_vectorized_on_native():
    A = te.placeholder((32,), "int32", name="A")
    Q = te.compute((32,), lambda i: te.truncdiv(A[i], 3) * 10 + te.truncmod(A[i], 3), name="Q")
    s = te.create_schedule(Q.op)
    xo, xi = s[Q].split(Q.op.axis[0], factor=8)
    s[Q].vectorize(xi)
    a = np.arange(-16, 16, dtype="int32")
    tt.check_kernel(s, [A, Q], lambda a: np.trunc(a / 3).astype("int32") * 10 + np.fmod(a, 3),
                    [a], target="native")
