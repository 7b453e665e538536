"""texpr.arith.Analyzer: TVM's tvm.arith.Analyzer over texpr's simplifier."""
import pytest

import texpr as te
from texpr.arith import Analyzer, ConstIntBound
from texpr.lang.tensor import Range


def test_simplify_folds_and_uses_bound_ranges():
    x, y = te.var("x"), te.var("y")
    ana = Analyzer()
    assert ana.simplify(te.const(3) * 4 + 1).value == 13
    assert isinstance(ana.simplify(te.const(3) * 4 + 1), te.IntImm)
    assert ana.simplify(x * 16 + y - x * 16).same_as(y)
    assert ana.canonical_simplify((x * 8 + 3) // 8).same_as(x)      # floor division
    ana.bind(y, Range(0, 8))
    assert ana.simplify((x * 8 + y) // 8).same_as(x)
    assert ana.simplify(y < 8).value is True
    ana.bind(x, 5)
    assert ana.simplify(x * 2).value == 10
    assert ana.simplify(7).value == 7


def test_const_int_bound():
    x = te.var("x")
    ana = Analyzer()
    b = ana.const_int_bound(x % 8)
    assert (b.min_value, b.max_value) == (0, 7)
    b = ana.const_int_bound(x)
    assert (b.min_value, b.max_value) == (ConstIntBound.NEG_INF, ConstIntBound.POS_INF)
    ana.bind(x, Range(2, 3))
    b = ana.const_int_bound(x * 2 + 1)
    assert (b.min_value, b.max_value) == (5, 9)


def test_bad_input():
    ana = Analyzer()
    with pytest.raises(te.TexprError, match="Analyzer: expected an expression"):
        ana.simplify("x")
    with pytest.raises(te.TexprError, match="expected a variable"):
        ana.bind(3, 4)
    n = te.var("n")
    with pytest.raises(te.TexprError, match="the range of x must have constant bounds"):
        ana.bind(te.var("x"), Range(0, n))
