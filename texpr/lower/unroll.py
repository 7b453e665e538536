"""Unrolling: loops marked unrolled with a constant extent are replicated."""
from ..lang.expr import Const
from ..lang.visitor import map_children, substitute
from .ir import For, Stmt, seq

MAX_UNROLL = 256


def unroll_loops(stmt):
    def go(s):
        if not isinstance(s, Stmt):
            return s
        s = map_children(s, go)
        if isinstance(s, For) and s.kind == "unrolled":
            if isinstance(s.extent, Const) and s.extent.value <= MAX_UNROLL:
                return seq(*[substitute(s.body, {s.var: s.min + k if k else s.min})
                             for k in range(s.extent.value)])
            # too long or symbolic: leave a compiler hint instead of code growth
            return For(s.var, s.min, s.extent, "serial", s.body, s.pragmas + (("unroll", 8),))
        return s
    return go(stmt)
