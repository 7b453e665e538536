"""texpr.lower.analysis.arith: the simplifier, constant bounds and symbolic intervals.

Besides examples, three properties over random integer expressions: simplification keeps the
value (with Python's floor semantics for // and %), const_bounds and interval enclose every
value the expression takes when its variables range over their bounds.
"""
import itertools
import math

from hypothesis import given, settings, strategies as st
import pytest

from texpr.lang.expr import BinOp, Cmp, Const, Select, Var
from texpr.lower.analysis.arith import (INF, Linear, Simplifier, const_bounds, from_linear, interval,
                               linear_coeff, simplify, to_linear)

from support.irutil import evaluate

X, Y, Z = Var("x"), Var("y"), Var("z")


def c(v):
    return Const(v, "int32")


# ----------------------------------------------------------------------------- examples

def test_constant_folding_uses_floor_semantics():
    assert simplify(c(-7) // c(2)).value == -7 // 2 == -4
    assert simplify(c(-7) % c(2)).value == -7 % 2 == 1
    assert simplify(c(7) // c(-2)).value == 7 // -2 == -4
    assert simplify(c(7) % c(-2)).value == 7 % -2 == -1


def test_linear_canonicalisation():
    assert simplify(X - X).same_as(c(0))
    assert simplify(X + 0).same_as(X)
    assert simplify(X * 1).same_as(X)
    assert simplify((X + 3) - (X + 1)).same_as(c(2))
    assert simplify(X * 2 + X * 3).same_as(simplify(X * 5))


def test_div_mod_of_split_index_folds_back_with_ranges():
    r = {X: (0, 10), Y: (0, 15)}
    assert simplify((X * 16 + Y) // 16, r).same_as(X)
    assert simplify((X * 16 + Y) % 16, r).same_as(Y)
    # (a // c) * c + a % c -> a
    assert simplify((X // 8) * 8 + X % 8).same_as(X)


def test_div_mod_by_a_multiple_of_the_coefficients_common_factor():
    # a channel block's lane in its group: (16*b + lane) // 80 = b // 5 for lane < 16
    r = {X: (0, 100), Y: (0, 15)}
    assert str(simplify((X * 16 + Y) // 80, r)) == "x // 5"
    assert str(simplify((X * 16 + Y) % 80, r)) == "x % 5 * 16 + y"
    assert str(simplify((X * 32 + Y * 2 + 1) // 96, {X: (0, 9), Y: (0, 7)})) == "x // 3"
    # a remainder reaching the next step of the factor is kept
    assert "// 80" in str(simplify((X * 16 + Y) // 80, {X: (0, 100), Y: (0, 16)}))


@settings(max_examples=150, deadline=None)
@given(g=st.sampled_from([2, 3, 4, 8, 16]), k=st.sampled_from([1, 2, 3, 5]),
       cx=st.integers(1, 3), cy=st.integers(-3, 3), const=st.integers(-20, 20),
       op=st.sampled_from(["//", "%"]), hi=st.integers(0, 20))
def test_common_factor_div_mod_preserves_value(g, k, cx, cy, const, op, hi):
    # (g*cx*X + cy*Y + const) op (g*k) with the ranges of X and Y: equal to the original at
    # every point, whether or not the common-factor rule applied
    ranges = {X: (-7, 7), Y: (0, hi)}
    e = BinOp(op, X * (g * cx) + Y * cy + const, c(g * k), "int32")
    s = simplify(e, ranges)
    for env in all_points(ranges):
        assert evaluate(s, env) == evaluate(e, env), (str(e), str(s), env)


@pytest.mark.parametrize("div, mod", [("//", "%"), ("tdiv", "tmod")])
@pytest.mark.parametrize("q", [7, 1, -3])
@pytest.mark.parametrize("offset", [0, 3, -10])
def test_quotient_times_divisor_plus_remainder_is_the_dividend(div, mod, q, offset):
    # (j // q) * q + j % q = j for every j (negative ones too) and q != 0, with floor
    # division and its remainder (texpr's // and %) as with truncating ones; k times too
    j = X * 2 + offset
    e = BinOp(div, j, c(q), "int32") * q * 3 + BinOp(mod, j, c(q), "int32") * 3
    for s in (simplify(e), simplify(e, {X: (-9, 9)})):
        assert s.same_as(simplify(j * 3)), str(s)
    for x in range(-9, 10):
        assert evaluate(e, {X: x}) == (2 * x + offset) * 3


def test_quotient_times_symbolic_divisor_plus_remainder_is_the_dividend():
    # flatten's offset of X[.., a // w, a % w] (a plane of symbolic width read as one row):
    # (a // w) * w * k + (a % w) * k = a * k for floor division, w on either side of the *
    a = X * 8 + Y
    for e in (BinOp("//", a, Z, "int32") * Z * 3 + BinOp("%", a, Z, "int32") * 3,
              Z * BinOp("//", a, Z, "int32") + BinOp("%", a, Z, "int32") + 5):
        s = simplify(e)
        assert "//" not in str(s) and "%" not in str(s), str(s)
        for x, y, z in ((0, 3, 7), (4, 1, 5), (-2, 6, 3), (3, 0, -4)):
            assert evaluate(s, {X: x, Y: y, Z: z}) == evaluate(e, {X: x, Y: y, Z: z})
    # a truncated remainder, or another dividend, is not the pair
    for e in (BinOp("//", a, Z, "int32") * Z + BinOp("tmod", a, Z, "int32"),
              BinOp("//", a, Z, "int32") * Z + BinOp("%", X, Z, "int32")):
        assert "//" in str(simplify(e))


def test_floor_quotient_and_truncated_remainder_are_not_folded():
    # -1 // 4 * 4 + tmod(-1, 4) = -4 - 1, not -1
    for div, mod in (("//", "tmod"), ("tdiv", "%")):
        e = BinOp(div, X, c(4), "int32") * 4 + BinOp(mod, X, c(4), "int32")
        s = simplify(e)
        assert not s.same_as(X)
        for x in range(-9, 10):
            assert evaluate(s, {X: x}) == evaluate(e, {X: x})


def test_interval_of_a_fused_index_is_the_fused_range():
    # y*Q + x with y = j // Q, x = j % Q (a fused loop split in pieces of 16): the piece's
    # range, not the rows it touches whole (each term's interval apart)
    for lo in (Y * 16, c(-20)):
        relax = {X: (lo, simplify(lo + 15))}
        for q, off in ((56, 0), (7, 3)):
            j = X + off
            r = interval((j // q) * q + j % q, relax)
            for y in range(-2, 3):
                assert evaluate(r[0], {Y: y}) == evaluate(lo, {Y: y}) + off
                assert evaluate(r[1], {Y: y}) == evaluate(lo, {Y: y}) + off + 15


def test_div_is_kept_when_remainder_may_be_negative():
    e = simplify((X * 16 + Y) // 16, {X: (0, 10), Y: (-3, 15)})
    assert not e.same_as(X)
    for x, y in itertools.product(range(0, 11), range(-3, 16)):
        assert evaluate(e, {X: x, Y: y}) == (x * 16 + y) // 16


def test_comparisons_decided_by_ranges():
    assert simplify(X < 10, {X: (0, 9)}).same_as(Const(True, "bool"))
    assert simplify(X >= 10, {X: (0, 9)}).same_as(Const(False, "bool"))
    assert isinstance(simplify(X < 10, {X: (0, 10)}), Cmp)


def test_min_max_decided_by_ranges():
    r = {X: (0, 3), Y: (5, 9)}
    assert simplify(BinOp("min", X, Y, "int32"), r).same_as(X)
    assert simplify(BinOp("max", X, Y, "int32"), r).same_as(Y)
    assert simplify(BinOp("min", X, X + 1, "int32")).same_as(X)


def test_symbolic_extent_comparison_uses_sympy():
    n = Var("n")
    # (n + 7) // 8 * 8 >= n holds for every n >= 0 but needs reasoning beyond bounds
    e = simplify((n + 7) // 8 * 8 >= n, {n: (0, INF)})
    assert e.same_as(Const(True, "bool"))


def test_loops_of_symbolic_extent_decide_comparisons():
    """x in [0, n), y in [x, n): a comparison is decided from x's and y's first and last
    values (expressions of n), not only from their constant bounds."""
    n = Var("n")
    ranges = {n: (0, INF), X: (0, INF), Y: (0, INF)}
    loops = {X: (c(0), n - 1), Y: (X, n - 1)}
    s = Simplifier(ranges, loops=loops)
    true, false = Const(True, "bool"), Const(False, "bool")
    assert s(X < n).same_as(true) and s(X + 1 <= n).same_as(true)
    assert s(X >= n).same_as(false) and s(Cmp("==", X, n)).same_as(false)
    assert s(Y < n).same_as(true) and s(Y >= X).same_as(true)
    assert isinstance(s(X + 1 < n), Cmp) and isinstance(s(X * 2 < n), Cmp)
    assert isinstance(Simplifier(ranges)(X < n), Cmp)             # without loops: undecided


def test_last_block_of_a_size_class_decided_with_the_extent_kept_symbolic():
    """A size class bounds n to [1, 8]: the last block x in [n // 8, (n + 7) // 8) of a
    padded axis is whole ((n + 7) // 8 * 8 - 8 * x >= 8), which n's bounds alone lose
    (n replaced by 1 or 8 apart from its floor); a clamped index min(y, n - 1) is below n."""
    n = Var("n")
    s = Simplifier({n: (1, 8), X: (0, 1), Y: (0, 7)}, loops={X: (n // 8, (n + 7) // 8 - 1)})
    true = Const(True, "bool")
    assert s(X * 8 - (n + 7) // 8 * 8 + 8 <= 0).same_as(true)
    assert isinstance(s(X * 8 + 3 < n), Cmp)                     # (n = 2: no; n = 5: yes)
    clamped = BinOp("min", Y, n - 1, "int32")
    assert s(clamped < n).same_as(true) and s(clamped >= 0).same_as(true)
    assert isinstance(s(BinOp("max", Y, n - 1, "int32") < n), Cmp)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=3, max_size=3),
       st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), st.integers(1, 8))
def test_decisions_in_a_bounded_class_hold_for_every_value(coef, op, hi):
    """Whatever a comparison over n in [1, hi], x in the last block of n padded to 8 is
    decided to be, it is, for every such n and x."""
    n = Var("n")
    a, k, d = coef
    e = Cmp(op, X * a + ((n + 7) // 8) * k + n, c(d))
    out = Simplifier({n: (1, hi), X: (0, 1)}, loops={X: (n // 8, (n + 7) // 8 - 1)})(e)
    if not isinstance(out, Const):
        return
    for nv in range(1, hi + 1):
        for xv in range(nv // 8, (nv + 7) // 8):
            assert evaluate(e, {n: nv, X: xv}) == out.value, (nv, xv)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=4, max_size=4),
       st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
def test_loop_decisions_hold_for_every_iteration(coef, op):
    """Whatever a comparison over x in [0, n), y in [x, n) is decided to be, it is, for every
    n and every iteration (n up to 7)."""
    n = Var("n")
    a, b, k, d = coef
    e = Cmp(op, X * a + Y * b + n * k, c(d))
    s = Simplifier({n: (0, INF), X: (0, INF), Y: (0, INF)},
                   loops={X: (c(0), n - 1), Y: (X, n - 1)})
    out = s(e)
    if not isinstance(out, Const):
        return
    for nv in range(1, 8):
        for xv in range(nv):
            for yv in range(xv, nv):
                assert evaluate(e, {n: nv, X: xv, Y: yv}) == out.value, (nv, xv, yv)


def test_const_bounds_examples():
    assert const_bounds(X * 2 + Y, {X: (0, 3), Y: (-1, 1)}) == (-1, 7)
    assert const_bounds(X // 4, {X: (0, 15)}) == (0, 3)
    assert const_bounds(X % 4, {X: (-100, 100)}) == (0, 3)
    lo, hi = const_bounds(X, {})
    assert lo == -INF and hi == INF
    assert const_bounds(X < 3, {}) == (0, 1)


def test_interval_of_affine_index():
    lo, hi = interval(X * 2 + Y, {X: (c(0), c(3))})
    for y in range(-2, 3):
        assert evaluate(lo, {Y: y}) == y and evaluate(hi, {Y: y}) == 6 + y
    assert interval(Y + 1, {X: (c(0), c(3))})[0].same_as(Y + 1)   # X does not occur
    assert interval(X * Y, {X: (c(0), c(3))}) is None             # non-linear: gives up


def test_linear_form_round_trip():
    e = X * 3 - Y * 2 + 5
    lin = to_linear(e)
    assert lin.const == 5
    back = from_linear(lin, "int32")
    for x, y in itertools.product(range(-3, 4), repeat=2):
        assert evaluate(back, {X: x, Y: y}) == 3 * x - 2 * y + 5
    coeff, rest = linear_coeff(e, X)
    assert coeff == 3
    assert linear_coeff(X * X + Y, X) is None
    assert isinstance(Linear(), Linear) and Linear().const == 0


# ----------------------------------------------------------------------------- properties

RANGES = {X: (-5, 6), Y: (0, 9), Z: (3, 4)}


def int_exprs(max_leaves=12):
    leaves = st.one_of(st.sampled_from([X, Y, Z]), st.integers(-9, 9).map(c))

    def extend(sub):
        binop = st.tuples(st.sampled_from(["+", "-", "*", "min", "max"]), sub, sub).map(
            lambda t: BinOp(t[0], t[1], t[2], "int32"))
        divmod_ = st.tuples(st.sampled_from(["//", "%"]), sub,
                            st.sampled_from([-4, -3, -1, 1, 2, 3, 4, 8, 16])).map(
            lambda t: BinOp(t[0], t[1], c(t[2]), "int32"))
        select = st.tuples(st.sampled_from(["<", "<=", "==", "!="]), sub, sub, sub, sub).map(
            lambda t: Select(Cmp(t[0], t[1], t[2]), t[3], t[4], "int32"))
        return st.one_of(binop, divmod_, select)
    return st.recursive(leaves, extend, max_leaves=max_leaves)


def all_points(ranges):
    names = list(ranges)
    for vals in itertools.product(*[range(lo, hi + 1) for lo, hi in ranges.values()]):
        yield dict(zip(names, vals))


@settings(max_examples=200)
@given(int_exprs())
def test_simplify_preserves_value(e):
    s = simplify(e, RANGES)
    for env in all_points(RANGES):
        assert evaluate(s, env) == evaluate(e, env), (str(e), str(s), env)


@settings(max_examples=200)
@given(int_exprs())
def test_simplify_without_ranges_preserves_value(e):
    s = simplify(e)
    for env in all_points(RANGES):
        assert evaluate(s, env) == evaluate(e, env), (str(e), str(s), env)


@settings(max_examples=200)
@given(int_exprs())
def test_const_bounds_enclose_values(e):
    lo, hi = const_bounds(e, RANGES)
    for env in all_points(RANGES):
        assert lo <= evaluate(e, env) <= hi, (str(e), lo, hi, env)


@settings(max_examples=150)
@given(int_exprs(max_leaves=8))
def test_interval_encloses_values_of_relaxed_vars(e):
    # relax x and y over their ranges; z stays a free (fixed) variable
    relax = {X: (c(RANGES[X][0]), c(RANGES[X][1])), Y: (c(RANGES[Y][0]), c(RANGES[Y][1]))}
    r = interval(e, relax)
    if r is None:
        return      # the analysis may give up (callers then use the whole domain)
    for z in range(RANGES[Z][0], RANGES[Z][1] + 1):
        lo, hi = evaluate(r[0], {Z: z}), evaluate(r[1], {Z: z})
        for x, y in itertools.product(range(RANGES[X][0], RANGES[X][1] + 1),
                                      range(RANGES[Y][0], RANGES[Y][1] + 1)):
            v = evaluate(e, {X: x, Y: y, Z: z})
            assert lo <= v <= hi, (str(e), str(r[0]), str(r[1]), x, y, z)


@pytest.mark.parametrize("a", [-9, -8, -1, 0, 1, 7, 8])
@pytest.mark.parametrize("b", [-8, -3, 3, 8])
def test_floor_ops_match_python(a, b):
    assert simplify(c(a) // c(b)).value == a // b
    assert simplify(c(a) % c(b)).value == a % b
    assert math.floor(a / b) == a // b


# ----------------------------------------------------------------------------- data (wrapping)

D = Var("d")                    # a value read from data: any int32, no range
INT32_MIN, INT32_MAX = -2**31, 2**31 - 1
D_VALUES = [INT32_MIN, INT32_MIN + 1, -65536, -1, 0, 1, 65535, 2**30, INT32_MAX]


def wrap32(v):
    return (v + 2**31) % 2**32 - 2**31


def data_exprs(max_leaves=8):
    big = [65536, 2**30, INT32_MAX, INT32_MIN, -65536]
    leaves = st.one_of(st.sampled_from([X, Y, D, D]), st.integers(-9, 9).map(c),
                       st.sampled_from(big).map(c))

    def extend(sub):
        binop = st.tuples(st.sampled_from(["+", "-", "*", "min", "max"]), sub, sub).map(
            lambda t: BinOp(t[0], t[1], t[2], "int32"))
        divmod_ = st.tuples(st.sampled_from(["//", "%"]), sub,
                            st.sampled_from([-1, 2, 3, 16, 65536])).map(
            lambda t: BinOp(t[0], t[1], c(t[2]), "int32"))
        select = st.tuples(st.sampled_from(["<", "<=", "==", "!="]), sub, sub, sub, sub).map(
            lambda t: Select(Cmp(t[0], t[1], t[2]), t[3], t[4], "int32"))
        return st.one_of(binop, divmod_, select)
    return st.recursive(leaves, extend, max_leaves=max_leaves)


@settings(max_examples=150)
@given(data_exprs())
def test_data_simplifier_keeps_the_wrapped_value(e):
    """Simplifier(data=True) may only rewrite what holds modulo 2**32: its result computes
    the same int32 value as e, for data at the extremes of int32 and loop variables in
    their ranges."""
    ranges = {X: RANGES[X], Y: RANGES[Y]}
    s = Simplifier(ranges, data=True)(e)
    for x in range(ranges[X][0], ranges[X][1] + 1):
        for y in range(ranges[Y][0], ranges[Y][1] + 1):
            for d in D_VALUES:
                env = {X: x, Y: y, D: d}
                assert evaluate(s, env, wrap32) == evaluate(e, env, wrap32), (str(e), str(s), env)


def test_data_simplifier_examples():
    data = Simplifier({X: (0, 15), Y: (0, 15)}, data=True)
    kept = data(D * 65536 // 65536)                                 # D * 65536 wraps
    assert isinstance(kept, BinOp) and kept.op == "//"
    assert not isinstance(data(Cmp(">", D + 1, D)), Const)      # false at INT32_MAX
    assert data(Cmp(">", X + 1, X)).same_as(Const(True, "bool"))  # loop variables: exact
    assert data((X * 16 + Y) // 16).same_as(X)
    assert data(D * 65536 * 65536).same_as(c(0))                  # 2**32 wraps to 0
    assert data((D + 5) - 5).same_as(D)                           # ring identities hold
    assert data(c(INT32_MAX) + 1).same_as(c(INT32_MIN))


def test_float_zero_identities_keep_the_sign_of_zero():
    """x + (-0.0) and x - 0.0 are x for every float x; x + 0.0 is not (for x = -0.0 it is
    +0.0), so it stays."""
    f = Var("f", "float32")
    zero, negzero = Const(0.0, "float32"), Const(-0.0, "float32")
    assert simplify(BinOp("+", f, negzero, "float32")) is f
    assert simplify(BinOp("-", f, zero, "float32")) is f
    kept = simplify(BinOp("+", f, zero, "float32"))
    assert isinstance(kept, BinOp) and kept.op == "+"
