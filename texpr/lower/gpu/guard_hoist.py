"""Hoisting loop-invariant guards out of loops.

Tail and domain guards often sit in the innermost loop although they depend only on outer
variables (a thread's output position, say). Conditions the statements of a sequence share
are taken out of it, and a guard that does not depend on a loop's variable and is the whole
loop body moves out of the loop:

    for (k) { if (a && b) s1; if (a && c) s2 }   ->   if (a) for (k) { if (b) s1; if (c) s2 }

Loops holding a barrier keep their guards inside (every thread must reach the barrier).
A guard is side-effect free, so the program computes the same thing, with fewer compares.
"""
from ...lang.expr import BinOp
from ...lang.visitor import StmtMutator, free_vars, map_children, walk
from ...lang.ir import For, IfThenElse, Seq, Stmt, seq
from ..analysis.arith import conjuncts


def hoist_guards(stmt, is_barrier):
    """is_barrier(node): True for a statement every thread must reach (its loop keeps its
    guard inside)."""
    return _HoistGuards(is_barrier).visit(stmt)


class _HoistGuards(StmtMutator):
    def __init__(self, is_barrier):
        self.is_barrier = is_barrier

    def visit_Seq(self, s):
        s = self.generic_visit(s)
        return _factor_common(s) if isinstance(s, Seq) else s

    def visit_For(self, s):
        s = self.generic_visit(s)
        if isinstance(s.body, IfThenElse) and s.body.else_case is None \
                and s.var not in free_vars(s.body.cond) \
                and not any(self.is_barrier(n) for n in walk(s.body)):
            inner = For(s.var, s.min, s.extent, s.kind, s.body.then_case, s.pragmas)
            return IfThenElse(s.body.cond, inner)
        return s


def _and(terms):
    out = terms[0]
    for t in terms[1:]:
        out = BinOp("&&", out, t, "bool")
    return out


def _guard_terms(s):
    """The conjuncts guarding s (nested ifs without else count as one guard)."""
    terms = []
    while isinstance(s, IfThenElse) and s.else_case is None:
        terms += conjuncts(s.cond)
        s = s.then_case
    return terms, s


def _factor_common(s):
    """Factor the conditions shared by each run of consecutive guarded statements."""
    out, run = [], []
    for x in s.stmts + (None,):
        terms = _guard_terms(x)[0] if x is not None else []
        if terms:
            run.append(x)
            continue
        out.extend(_factor_run(run))
        run = []
        if x is not None:
            out.append(x)
    return seq(*out) if len(out) != len(s.stmts) else s


def _factor_run(run):
    if len(run) < 2:
        return run
    parts = [_guard_terms(x) for x in run]
    common = [t for t in parts[0][0] if all(any(t.same_as(u) for u in p[0]) for p in parts[1:])]
    if not common:
        return run
    rest = []
    for terms, body in parts:
        left = [t for t in terms if not any(t.same_as(c) for c in common)]
        rest.append(IfThenElse(_and(left), body) if left else body)
    return [IfThenElse(_and(common), seq(*rest))]
