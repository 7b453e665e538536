"""Unrolling: loops marked unrolled with a constant extent are replicated."""
from ..lang.expr import Const
from ..lang.visitor import StmtMutator, substitute
from ..lang.ir import For, seq

MAX_UNROLL = 256


def unroll_loops(stmt):
    return _Unroll().visit(stmt)


class _Unroll(StmtMutator):
    def visit_For(self, s):
        s = self.generic_visit(s)
        if s.kind != "unrolled":
            return s
        if isinstance(s.extent, Const) and s.extent.value <= MAX_UNROLL:
            return seq(*[substitute(s.body, {s.var: s.min + k if k else s.min})
                         for k in range(s.extent.value)])
        # too long or symbolic: leave a compiler hint instead of code growth
        return For(s.var, s.min, s.extent, "serial", s.body, s.pragmas + (("unroll", 8),))
