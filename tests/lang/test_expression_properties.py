"""Random elementwise expressions compute what NumPy computes, on every CPU target, scalar and
vectorized.

Hypothesis draws a dtype (signed and unsigned integers of 8-64 bits, float32/64), an
expression tree over three inputs and constants (+ - * / // % min max, bitwise ops, shifts,
negation, abs, select on a comparison, casts to other integer types and back through floats),
and data weighted towards the edge values (the dtype's limits, 0, -1, shift counts at and past
the width, NaN, infinities, -0.0). The kernel is built for a drawn target (c, avx2, avx512,
neon: unvectorized and vectorized by 8 and 16 over 19 elements, so with tails; opencl on PoCL:
blocks of 4 threads), and compared
with NumPy's result: exactly for integers (wrapping, floor division, x // 0 = 0, NumPy's shift
rules), to float tolerance otherwise (the C compiler may contract a * b + c into an FMA), zeros
with their sign.
"""
import os
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

import texpr as te

INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
FLOATS = ("float32", "float64")
N = 19
# with sanitized kernels (tools/sanitized_tests.py) the targets whose kernels are instrumented
TARGETS = ("c", "native") if os.environ.get("TEXPR_SANITIZE") else ("c", "avx2", "avx512", "neon",
                                                                    "opencl")
COMPARE = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
           ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
BINARY = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide,
          "//": np.floor_divide, "%": np.remainder, "&": np.bitwise_and, "|": np.bitwise_or,
          "^": np.bitwise_xor, "<<": np.left_shift, ">>": np.right_shift,
          "min": np.minimum, "max": np.maximum}
TE_BINARY = {"min": te.min, "max": te.max}


@st.composite
def trees(draw, dt, depth):
    """A tree of tuples: ("in", k) | ("const", v) | (unary, x) | (binary, x, y) |
    ("select", cmp, a, b, x, y) | ("cast", other_dtype, x over other_dtype) | ("via", float, x)."""
    is_int = dt in INTS
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        if draw(st.integers(0, 3)):
            return ("in", draw(st.integers(0, 2)))
        if is_int:
            info = np.iinfo(dt)
            v = draw(st.one_of(st.integers(max(info.min, -3), 9),
                               st.sampled_from([info.min, info.max, info.bits - 1, info.bits])))
        else:
            v = draw(st.sampled_from([0.0, -0.0, 1.5, -2.0, 1e30, np.inf, np.nan]))
        return ("const", v)
    sub = trees(dt, depth - 1)
    ops = ["+", "-", "*", "min", "max", "neg", "abs", "select"]
    ops += ["//", "%", "&", "|", "^", "<<", ">>", "cast", "via"] if is_int else ["/"]
    op = draw(st.sampled_from(ops))
    if op in ("neg", "abs"):
        return (op, draw(sub))
    if op == "select":
        return (op, draw(st.sampled_from(sorted(COMPARE))), draw(sub), draw(sub), draw(sub),
                draw(sub))
    if op == "cast":
        other = draw(st.sampled_from([d for d in INTS if d != dt]))
        return (op, other, draw(trees(other, depth - 1)))
    if op == "via":       # int -> float -> back, exact: the float is x * 0.0 (0 or -0)
        return (op, draw(st.sampled_from(FLOATS)), draw(sub))
    return (op, draw(sub), draw(sub))


def texpr_expr(t, dt, inputs, i):
    """The tree as a texpr expression at element i; inputs: dtype -> 3 placeholders."""
    k = t[0]
    ev = lambda x, d=dt: texpr_expr(x, d, inputs, i)    # noqa: E731
    if k == "in":
        return inputs[dt][t[1]][i]
    if k == "const":
        return te.const(t[1], dt)
    if k == "neg":
        return -ev(t[1])
    if k == "abs":
        return te.abs(ev(t[1]))
    if k == "select":
        return te.if_then_else(COMPARE[t[1]](ev(t[2]), ev(t[3])), ev(t[4]), ev(t[5]))
    if k == "cast":
        return ev(t[2], t[1]).astype(dt)
    if k == "via":
        x = ev(t[2])
        return (x.astype(t[1]) * 0.0).astype(dt) + x
    a, b = ev(t[1]), ev(t[2])
    if k in TE_BINARY:
        return TE_BINARY[k](a, b)
    return {"+": a.__add__, "-": a.__sub__, "*": a.__mul__, "/": a.__truediv__,
            "//": a.__floordiv__, "%": a.__mod__, "&": a.__and__, "|": a.__or__,
            "^": a.__xor__, "<<": a.__lshift__, ">>": a.__rshift__}[k](b)


def numpy_value(t, dt, arrays):
    """The tree evaluated by NumPy; arrays: dtype -> 3 arrays."""
    k = t[0]
    ev = lambda x, d=dt: numpy_value(x, d, arrays)      # noqa: E731
    if k == "in":
        return arrays[dt][t[1]]
    if k == "const":
        return np.full(N, t[1], dt)
    if k == "neg":
        return -ev(t[1])
    if k == "abs":
        return np.abs(ev(t[1]))
    if k == "select":
        return np.where(COMPARE[t[1]](ev(t[2]), ev(t[3])), ev(t[4]), ev(t[5]))
    if k == "cast":
        return ev(t[2], t[1]).astype(dt)
    if k == "via":
        x = ev(t[2])
        return (x.astype(t[1]) * 0.0).astype(dt) + x
    return BINARY[k](ev(t[1]), ev(t[2]))


def edge_arrays(dt, rng):
    """3 arrays of dtype dt: in each, every edge value at a random place, the rest random."""
    if dt in INTS:
        info = np.iinfo(dt)
        edges = [info.min, info.max, 0, 1, 2, 7, info.bits - 1, info.bits]
        edges += [-1, -2, info.min + 1] if info.min < 0 else [info.max - 1]
        draw = lambda: rng.integers(info.min, info.max, N, endpoint=True, dtype=dt)   # noqa
    else:
        edges = [0.0, -0.0, np.nan, np.inf, -np.inf, 1.0, -1.5, 3.0]
        draw = lambda: (rng.standard_normal(N) * 10).astype(dt)   # noqa: E731
    out = []
    for _ in range(3):
        a = draw()
        a[rng.permutation(N)[:len(edges)]] = np.array(edges, dtype=dt)
        out.append(a)
    return out


def check_tree(t, dt, target, arrays):
    """Build the tree for target (unvectorized, vectorized by 8 and 16) and compare with
    NumPy; arrays: dtype -> 3 input arrays (dtypes the tree does not read may be missing)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        want = numpy_value(t, dt, arrays)
    inputs = {d: [te.placeholder((N,), d, name=f"{d}_{j}") for j in range(3)] for d in arrays}
    out_t = te.compute((N,), lambda i: texpr_expr(t, dt, inputs, i), name="out")
    args = list(out_t.op.input_tensors)
    by_tensor = {id(p): a for d in arrays for p, a in zip(inputs[d], arrays[d])}
    values = [by_tensor[id(p)] for p in args]
    for vector in (0, 8, 16) if target != "opencl" else (4,):
        s = te.create_schedule(out_t.op)
        if target == "opencl":          # blocks of 4 threads (PoCL)
            bx, tx = s[out_t].split(out_t.op.axis[0], factor=vector)
            s[out_t].bind(bx, te.thread_axis("blockIdx.x"))
            s[out_t].bind(tx, te.thread_axis("threadIdx.x"))
        elif vector:
            s[out_t].vectorize(s[out_t].split(out_t.op.axis[0], factor=vector)[1])
        f = te.build(s, args + [out_t], target=target)
        got = np.zeros(N, dt)
        f(*values, got)
        where = f"{target}, by {vector}" if vector else f"{target}, scalar"
        if dt in INTS:
            np.testing.assert_array_equal(got, want, err_msg=where)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True,
                                       err_msg=where)
            zeros = want == 0                      # and -0.0 where NumPy has -0.0
            np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]),
                                          err_msg=where + ": the sign of a zero")


@settings(max_examples=settings.default.max_examples * 4,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_random_expressions_match_numpy(data):
    dt = data.draw(st.sampled_from(INTS + FLOATS), label="dtype")
    t = data.draw(trees(dt, data.draw(st.integers(1, 4), label="depth")), label="tree")
    target = data.draw(st.sampled_from(TARGETS), label="target")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    check_tree(t, dt, target, {d: edge_arrays(d, rng) for d in INTS + FLOATS})


X0, X1 = ("in", 0), ("in", 1)
FOUND = [   # what the property found (each was wrong on some target before its fix)
    # a vectorized select's compare lost the parentheses of its operands: 0 != x & x
    ("int16", ("select", "!=", ("const", 0), ("&", X0, X0), ("const", 1), X0)),
    ("uint8", ("select", "<=", X0, ("|", X1, X0), X1, ("const", 4))),
    # abs(INT_MIN) negated as signed int (undefined): GCC took it as >= 0, 1 // it gave 0
    ("int32", ("//", ("const", 1), ("abs", X0))),
    ("int64", ("//", ("const", 1), ("abs", X0))),
    # -x was 0 - x: -(+0.0) gave +0.0, so 1 / -x had the wrong infinity
    ("float32", ("/", ("const", 1.5), ("neg", X0))),
    ("float64", ("/", ("neg", ("/", X1, X0)), ("neg", X0))),
    # select(c, 0.0, -0.0) was folded to 0.0: the two constants compared equal
    ("float32", ("select", "!=", ("const", 0.0), X0, ("const", 0.0), ("const", -0.0))),
    # GCC 12 -O3 -mavx2 if-converted texpr's two 4-lane halves of this 8-lane int64 select into
    # masked loads, the second with the first one's mask (avx2, vectorized by 8)
    ("int64", ("select", "<", X0, ("in", 2), X1, ("const", 2**63 - 1))),
    # OpenCL C has no INT64_C / UINT64_C: 64-bit constants did not compile there
    ("uint64", ("+", ("neg", ("const", 1)), X0)),
    ("int64", ("*", X0, ("const", -3))),
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dt,tree", FOUND)
def test_expressions_the_property_found(dt, tree, target):
    check_tree(tree, dt, target, {dt: edge_arrays(dt, np.random.default_rng(0))})


@pytest.mark.parametrize("dt", INTS)
def test_edge_values_reach_the_limits(dt):
    """Every input array holds the dtype's limits (else the property proves little)."""
    info = np.iinfo(dt)
    for seed in range(5):
        for a in edge_arrays(dt, np.random.default_rng(seed)):
            assert info.min in a and info.max in a and 0 in a
