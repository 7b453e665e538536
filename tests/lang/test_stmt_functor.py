"""te.stmt_functor: TVM's substitute and post_order_visit over texpr's IR."""
import pytest

import texpr as te
from texpr.lang.expr import BinOp
from texpr.lang.ir import BufferStore, For


def test_substitute_numbers_expressions_and_functions():
    n, m = te.var("n"), te.var("m")
    e = n * 2 + m
    simplify = te.arith.Analyzer().simplify
    partly = te.stmt_functor.substitute(e, {n: 3, m: n + 1})     # m's value mentions n
    assert te.stmt_functor.substitute(partly, {n: 10}).same_as(e.replace(
        a=BinOp("*", te.const(3), te.const(2), "int32"), b=te.const(10) + 1))
    assert simplify(te.stmt_functor.substitute(e, {n: 3, m: 4})).value == 10
    by_fn = te.stmt_functor.substitute(e, lambda v: te.const(5) if v is m else None)
    assert simplify(te.stmt_functor.substitute(by_fn, {n: 1})).value == 7
    assert te.stmt_functor.substitute(e, {}) is e
    assert te.stmt_functor.substitute(7, {n: 1}).value == 7     # a number is a constant


def test_substitute_in_a_loop_program():
    a = te.placeholder((4,), name="a")
    b = te.compute((4,), lambda i: a[i] + 1.0, name="b")
    body = te.lower(te.create_schedule(b.op), [a, b], stop_after="loop_nest").body
    loop = next(n for n in _nodes(body) if isinstance(n, For))
    fixed = te.stmt_functor.substitute(loop.body, {loop.var: 2})
    store = next(n for n in _nodes(fixed) if isinstance(n, BufferStore))
    assert [i.value for i in store.indices] == [2]


def test_substitute_refuses_what_is_not_a_variable_map():
    n = te.var("n")
    with pytest.raises(te.TexprError, match="the keys are variables"):
        te.stmt_functor.substitute(n + 1, {"n": 2})
    with pytest.raises(te.TexprError, match="n maps to 'x'; expected an expression or a number"):
        te.stmt_functor.substitute(n + 1, {n: "x"})
    with pytest.raises(te.TexprError, match="expected an expression or statement"):
        te.stmt_functor.substitute("n", {n: 2})


def test_post_order_visit_sees_children_first_left_to_right():
    x, y = te.var("x"), te.var("y")
    e = (x + y) * x
    seen = []
    te.stmt_functor.post_order_visit(e, seen.append)
    assert [type(n).__name__ for n in seen] == ["Var", "Var", "BinOp", "Var", "BinOp"]
    assert seen[0] is x and seen[1] is y and seen[-1] is e
    assert isinstance(seen[2], BinOp) and seen[2].op == "+"


def _nodes(s):
    out = []
    te.stmt_functor.post_order_visit(s, out.append)
    return out

