"""The one traversal (lang/visitor.py) and the one printer (lang/printer.py): dispatch by node
class (falling back along the class's bases), default recursion over children, unchanged
nodes returned as they are, statement-only traversals that never enter expressions."""
import pytest

import texpr as te
from texpr.lang.expr import BinOp, Const, Expr, Var
from texpr.lang.ir import (Barrier, Buffer, BufferLoad, BufferStore, For, FusedMulAdd,
                           SaturatingNarrow, Seq, ShuffleDown, VectorCopy, WideningMul, seq)
from texpr.lang.printer import to_str, to_text
from texpr.lang.visitor import Mutator, StmtMutator, StmtVisitor, Visitor


def program():
    i = Var("i", "int32")
    A = Buffer("A", "float32", (Const(8, "int32"),))
    B = Buffer("B", "float32", (Const(8, "int32"),))
    load = BufferLoad(A, (i,), "float32")
    body = BufferStore(B, BinOp("+", load, Const(1.0, "float32"), "float32"), (i,))
    return For(i, Const(0, "int32"), Const(8, "int32"), "serial", body), i, A, B


def test_visitor_dispatches_by_class_and_recurses_by_default():
    loop, i, A, B = program()
    seen = []

    class Counter(Visitor):
        def visit_BufferLoad(self, n):
            seen.append(("load", n.buffer.name))
            self.generic_visit(n)

        def visit_Var(self, n):
            seen.append(("var", n.name))

    Counter().visit(loop)
    assert ("load", "A") in seen and seen.count(("var", "i")) >= 2


def test_dispatch_falls_back_to_a_base_class_method():
    loop, *_ = program()
    found = []

    class AnyExpr(Visitor):
        def visit_Expr(self, n):          # every expression class, through its bases
            found.append(type(n).__name__)
            self.generic_visit(n)

    AnyExpr().visit(loop)
    assert {"BinOp", "BufferLoad", "Const", "Var"} <= set(found)


def test_mutator_returns_unchanged_nodes_as_they_are():
    loop, *_ = program()
    assert Mutator().visit(loop) is loop

    class Twice(Mutator):
        def visit_Const(self, n):
            return Const(n.value * 2, n.dtype) if n.dtype == "float32" else n

    out = Twice().visit(loop)
    assert out is not loop and "2.0f" in str(out) and "1.0f" in str(loop)
    assert out.min is loop.min and out.extent is loop.extent        # untouched children kept


def test_stmt_traversals_never_enter_expressions():
    loop, *_ = program()
    entered = []

    class Exprs(StmtVisitor):
        def visit_Expr(self, n):
            entered.append(n)

    class Rewrite(StmtMutator):
        def visit_Expr(self, n):
            raise AssertionError("an expression was visited")

        def visit_BufferStore(self, s):
            return seq(s, Barrier())

    Exprs().visit(loop)
    assert entered == []
    out = Rewrite().visit(loop)
    assert isinstance(out.body, Seq) and isinstance(out.body.stmts[1], Barrier)


def test_every_node_class_prints():
    loop, i, A, B = program()
    load = loop.body.value.a
    nodes = [FusedMulAdd(load, load, load, "ab+c", "float32", loop.body.value),
             WideningMul(load, load, "float64", load),
             SaturatingNarrow(load, "int8", load), ShuffleDown(load, 16, "float32")]
    texts = [to_str(n) for n in nodes]
    assert texts == ["fma.ab+c(A[i], A[i], A[i])", "widening_mul(A[i], A[i])",
                     "saturate<int8>(A[i])", "shuffle_down(A[i], 16)"]
    copy = VectorCopy(BufferStore(B, load, (i,)), 4, True)
    assert to_text(copy) == "vector4 B[i:+4] = A[i:+4]\n" and to_text(Barrier()) == "barrier(shared)\n"
    assert "object at" not in str(loop)


def test_unknown_node_reaches_the_emitter_as_an_internal_error():
    class Strange(Expr):
        _children = ()
        dtype = "float32"

        def __init__(self):
            pass

    from texpr.targets.c.emitter import CEmitter
    loop, *_ = program()
    em = CEmitter(te.lower(*_schedule(), target="c"))
    with pytest.raises(te.InternalError, match="no code for expression Strange"):
        em.expr(Strange())


def _schedule():
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: A[i] + 1.0, name="B")
    return te.create_schedule(B.op), [A, B]
