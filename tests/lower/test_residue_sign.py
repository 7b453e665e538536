"""texpr.lower.analysis.residue_sign: signs of expressions of symbolic extents without sympy,
and symbolic.sign_of, which asks sympy only where they cannot say; both answer as sympy does."""
import pytest
from hypothesis import given, settings, strategies as st

from texpr.lang.expr import BinOp, Const, Var
from texpr.lower.analysis import symbolic
from texpr.lower.analysis.residue_sign import NotLinear, case_signs, takes_both_signs

N, W = Var("n"), Var("w")


def c(v):
    return Const(v, "int32")


def b(op, x, y):
    return BinOp(op, x, y, "int32")


@pytest.fixture
def no_sympy(monkeypatch):
    def refuse(e):
        raise AssertionError(f"sympy was asked about {e}")
    monkeypatch.setattr(symbolic, "_sign_by_sympy", refuse)


def test_floor_linear_signs_need_no_sympy(no_sympy):
    rounded_up = b("*", b("//", N + 7, c(8)), c(8))                  # (n + 7) // 8 * 8
    assert symbolic._sign(rounded_up - N) == "nonneg"
    assert symbolic._sign(rounded_up - N + 1) == "pos"
    halves = b("*", b("//", W + 1, c(2)), c(2)) - W - 1              # -1 or 0 by parity
    assert case_signs(halves) == {"neg", "zero"}
    assert symbolic._sign(halves) == "nonpos"
    assert symbolic._sign(b("%", N, c(4)) - 4) == "neg"
    assert symbolic._sign(N - W) is None                               # both signs
    # more residue cases than sympy splits into, but values of both signs: no proof exists
    many = b("//", N + 12, c(13)) * 26 + b("//", W + 1, c(2)) - N - 2
    with pytest.raises(NotLinear):
        case_signs(many)
    assert takes_both_signs(many) and symbolic._sign(many) is None


def test_sign_of_is_cached_by_structure(no_sympy):
    m = Var("m")
    before = symbolic._sign.cache_info().hits
    assert symbolic.sign_of(b("//", m + 3, c(4)) * 4 - m) == "nonneg"
    assert symbolic.sign_of(b("//", m + 3, c(4)) * 4 - m) == "nonneg"   # an equal tree
    assert symbolic._sign.cache_info().hits == before + 1


def test_what_is_not_floor_linear_goes_to_sympy():
    for e in (N * W - N, b("min", N, W) - N, b("//", N, W)):
        with pytest.raises(NotLinear):
            case_signs(e)
    assert symbolic.sign_of(N * W + 1) == "pos"                        # sympy's answer


def _exprs(depth):
    leaf = st.sampled_from([N, W]) | st.integers(-3, 3).map(c)
    if depth == 0:
        return leaf
    sub = _exprs(depth - 1)
    return leaf | st.builds(lambda op, x, y: b(op, x, y), st.sampled_from("+-"), sub, sub) | \
        st.builds(lambda x, k: b("*", x, c(k)), sub, st.integers(-3, 3)) | \
        st.builds(lambda op, x, k: b(op, x, c(k)), st.sampled_from(["//", "%"]), sub,
                  st.integers(1, 4))


@settings(max_examples=10, deadline=None)
@given(_exprs(3))
def test_same_sign_as_sympy(e):
    """What is decided without sympy is what sympy decides."""
    want = symbolic._sign_by_sympy(e)
    try:
        assert symbolic._combined(case_signs(e)) == want
    except NotLinear:
        pass
    if takes_both_signs(e):
        assert want is None
