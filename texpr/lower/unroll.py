"""Unrolling: loops marked unrolled with a constant extent are replicated; under a loop with
the pragma auto_unroll_max_step=n (TVM's), inner serial loops whose nest runs at most n
iterations in all are unrolled too."""
from ..lang.expr import Const
from ..lang.visitor import StmtMutator, substitute
from ..lang.ir import For, Stmt, seq

MAX_UNROLL = 256


def unroll_loops(stmt):
    return _Unroll().visit(stmt)


def _nest_steps(s):
    """Iterations of the loop nest s in all (constant loops only), or None."""
    if not isinstance(s, For):
        inner = [_nest_steps(c) for c in _child_loops(s)]
        return None if None in inner else max(inner, default=1)
    if not isinstance(s.extent, Const) or s.kind not in ("serial", "unrolled"):
        return None
    inner = [_nest_steps(c) for c in _child_loops(s.body)] or [1]
    return None if None in inner else s.extent.value * max(inner)


def _child_loops(s):
    """The outermost loops inside statement s (s itself when it is one)."""
    if isinstance(s, For):
        return [s]
    out = []
    for name in s._children:
        c = getattr(s, name)
        for x in (c if isinstance(c, tuple) else (c,)):
            if isinstance(x, Stmt):
                out.extend(_child_loops(x))
    return out


class _MarkAutoUnroll(StmtMutator):
    """Marks as unrolled the serial loops whose whole nest has at most max_step iterations."""

    def __init__(self, max_step):
        super().__init__()
        self.max_step = max_step

    def visit_For(self, s):
        steps = _nest_steps(s)
        if s.kind == "serial" and steps is not None and steps <= self.max_step:
            return For(s.var, s.min, s.extent, "unrolled", self.generic_visit(s).body, s.pragmas)
        return self.generic_visit(s)


class _Unroll(StmtMutator):
    def visit_For(self, s):
        step = next((v for k, v in s.pragmas if k == "auto_unroll_max_step"), None)
        if step:
            body = _MarkAutoUnroll(step).visit(s.body)
            s = For(s.var, s.min, s.extent, s.kind, body, s.pragmas)
        s = self.generic_visit(s)
        if s.kind != "unrolled":
            return s
        if isinstance(s.extent, Const) and s.extent.value <= MAX_UNROLL:
            return seq(*[substitute(s.body, {s.var: s.min + k if k else s.min})
                         for k in range(s.extent.value)])
        # too long or symbolic: leave a compiler hint instead of code growth
        return For(s.var, s.min, s.extent, "serial", s.body, s.pragmas + (("unroll", 8),))
