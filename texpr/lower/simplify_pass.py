"""Simplify every expression of a loop program using the ranges of the enclosing loops.

Positions, bounds and guards are index arithmetic; the values stored (BufferStore, VarStore,
Evaluate) are data, whose integer arithmetic wraps (arith.Simplifier(data=True))."""
from ..lang.expr import BinOp, Const
from ..lang.visitor import map_children, substitute
from .analysis.arith import INF, Simplifier, const_bounds
from ..lang.ir import (Allocate, BufferStore, DeclareVars, Evaluate, For, IfThenElse, Seq, StageRegion,
                 Stmt, VarStore, seq)

NOP = Seq(())


def simplify_stmt(stmt, ranges=None):
    return _Simplify(dict(ranges or {})).stmt(stmt)


class _Simplify:
    """Statements rewritten with simplified expressions; loops and guards whose outcome is
    known are removed or unwrapped. The one pass that dispatches on statement types itself
    rather than through lang/visitor.Mutator: it runs three times per lowering over every
    statement, and the Mutator's dispatch made it 10% slower (Winograd F(6,3) kernels)."""
    def __init__(self, ranges):
        self.ranges = ranges
        self.loops = {}          # loops of symbolic extent: var -> (first, last) expressions
        self._simp = self._data = None

    def expr(self, e):
        # one simplifier (and its memo) per range context: reset whenever a loop's range
        # is entered or left
        if self._simp is None:
            self._simp = Simplifier(self.ranges, loops=self.loops)
        return self._simp(e)

    def value(self, e):
        """A value computed from data (integers wrap)."""
        if self._data is None:
            if self._simp is None:
                self._simp = Simplifier(self.ranges, loops=self.loops)
            self._data = Simplifier(self.ranges, data=True, index=self._simp, loops=self.loops)
        return self._data(e)

    def stmt(self, s):
        t = type(s)
        if t is For:
            mn, ext = self.expr(s.min), self.expr(s.extent)
            if isinstance(ext, Const) and ext.value <= 0:
                return NOP
            if isinstance(ext, Const) and ext.value == 1 and s.kind != "thread":
                return self.stmt(substitute(s.body, {s.var: mn}))
            lo = const_bounds(mn, self.ranges)[0]
            hi = const_bounds(mn, self.ranges)[1] + const_bounds(ext, self.ranges)[1] - 1
            old = self.ranges.get(s.var), self.loops.get(s.var)
            self.ranges[s.var] = (lo, hi)
            if hi == INF or (lo != hi and not (isinstance(mn, Const) and isinstance(ext, Const))):
                # (a symbolic first or last value, though a size class bounds it: the loop's
                # variable stays tied to the extents, e.g. the last block of a padded axis)
                self.loops[s.var] = (mn, BinOp("-", BinOp("+", mn, ext, ext.dtype),
                                               Const(1, ext.dtype), ext.dtype))
            self._simp = self._data = None
            body = self.stmt(s.body)
            for table, v in ((self.ranges, old[0]), (self.loops, old[1])):
                if v is None:
                    table.pop(s.var, None)
                else:
                    table[s.var] = v
            self._simp = self._data = None
            if _is_nop(body):
                return NOP
            return For(s.var, mn, ext, s.kind, body, s.pragmas)
        if t is IfThenElse:
            c = self.expr(s.cond)
            if isinstance(c, Const):
                if c.value:
                    return self.stmt(s.then_case)
                return self.stmt(s.else_case) if s.else_case is not None else NOP
            th = self.stmt(s.then_case)
            el = self.stmt(s.else_case) if s.else_case is not None else None
            if _is_nop(th) and (el is None or _is_nop(el)):
                return NOP
            return IfThenElse(c, th, el)
        if t is Seq:
            return seq(*[x for x in (self.stmt(y) for y in s.stmts) if not _is_nop(x)]) \
                if s.stmts else s
        if t is BufferStore:
            v, idx = self.value(s.value), tuple(self.expr(i) for i in s.indices)
            p = self.expr(s.predicate) if s.predicate is not None else None
            if v is s.value and p is s.predicate and all(a is b for a, b in zip(idx, s.indices)):
                return s
            return s.replace(value=v, indices=idx, predicate=p)
        if t in (VarStore, Evaluate):
            v = self.value(s.value)
            return s if v is s.value else s.replace(value=v)
        if t in (StageRegion, Allocate, DeclareVars):
            body = self.stmt(s.body)
            return s.replace(body=body) if body is not s.body else s
        return map_children(s, lambda c: self.stmt(c) if isinstance(c, Stmt) else self.expr(c))


def _is_nop(s):
    return isinstance(s, Seq) and not s.stmts
