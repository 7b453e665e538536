"""Every tensor access in bounds: proven at build time, checked once per call, or refused.

Why (issue 15): an index such as `X[i + 1]` over `i < 8` on an 8-element X, or `B[i]` over
`i < n` on a B of m elements, used to compile to C that reads past the array. This pass runs
on the loop nest, before storage is flattened, so it sees every access with one index per
dimension, inside its loops (ranges), its guards (`if`) and the conditions of the selects
around it (`te.if_then_else(i < 7, X[i + 1], 0)` reads X only where i < 7).

For each index of each BufferLoad / BufferStore / tensorized operand it proves
`0 <= index <= extent - 1`. Indices computed from data are CheckedIndex nodes already
(checked at run time, lower/schedule_ops.py). Where the proof fails:

- constant shapes, an index linear in its loops and no condition around the access: the
  bound is exact, so the access does go out of range: the build raises a LoweringError naming
  the tensor, the index and the range it reaches;
- symbolic shapes and the same kind of index: the condition on the shape variables under
  which every access is in range becomes a precondition of the kernel (LoweredFunc.
  preconditions), checked by the runtime on each call before any C runs;
- anything else (non-linear indices, accesses under conditions the proof cannot use): the
  index becomes a CheckedIndex, checked at run time like an index read from data (and hoisted
  out of loops by lower/cpu/loop_checks.py where it moves linearly).
"""
from ..errors import LoweringError
from ..lang.expr import BinOp, Call, Cmp, Const, Not, Select, Var, structural_equal
from ..lang.ir import (BufferLoad, BufferStore, CheckedIndex, For, IfThenElse, IntrinCall,
                       IntrinOperand)
from ..lang.printer import to_str
from ..lang.visitor import StmtMutator, free_vars, map_children, transform, walk
from .analysis.arith import INF, Linear, Simplifier, const_bounds, from_linear, to_linear

_FLIP = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


class Precondition:
    """`cond` (an expression of the shape variables) must hold for a call to be in bounds."""
    __slots__ = ("cond", "message")

    def __init__(self, cond, message):
        self.cond = cond
        self.message = message

    def __repr__(self):
        return f"Precondition({to_str(self.cond)})"


def check_access_bounds(body, ranges, kernel):
    """(body, preconditions): body with the accesses that could not be proven in bounds
    turned into checked indices; raises LoweringError for an access that is out of bounds.
    ranges: the known ranges of the kernel's variables (shape variables: (0, inf))."""
    checker = _AccessBounds(ranges, kernel)
    body = checker.visit(body)
    return body, checker.preconditions


class _AccessBounds(StmtMutator):
    def __init__(self, ranges, kernel):
        self.kernel = kernel
        self.ranges = dict(ranges)
        self.loops = {}          # loop var -> (first, last) expressions, outermost first
        self.facts = []          # conditions known to hold here (guards, select conditions)
        self.preconditions = []
        self._seen = set()
        self._simp = None

    # ------------------------------------------------------------------ statements
    def visit_For(self, s):
        mn = self.expr(s.min)
        ext = self.expr(s.extent)
        last = self._simplifier()(BinOp("-", BinOp("+", s.min, s.extent, s.extent.dtype),
                                        Const(1, s.extent.dtype), s.extent.dtype))
        lo, _ = const_bounds(s.min, self.ranges)
        hi = const_bounds(last, self.ranges)[1]
        saved = self.ranges.get(s.var), self.loops.get(s.var)
        self.ranges[s.var] = (lo, hi)
        self.loops[s.var] = (s.min, last)
        self._simp = None
        body = self.visit(s.body)
        self.loops.pop(s.var)
        if saved[1] is not None:
            self.loops[s.var] = saved[1]
        if saved[0] is None:
            self.ranges.pop(s.var)
        else:
            self.ranges[s.var] = saved[0]
        self._simp = None
        if mn is s.min and ext is s.extent and body is s.body:
            return s
        return For(s.var, mn, ext, s.kind, body, s.pragmas)

    def visit_IfThenElse(self, s):
        cond = self.expr(s.cond)
        then = self._under([s.cond], lambda: self.visit(s.then_case))
        other = None
        if s.else_case is not None:
            other = self._under(_negated(s.cond), lambda: self.visit(s.else_case))
        if cond is s.cond and then is s.then_case and other is s.else_case:
            return s
        return IfThenElse(cond, then, other)

    def visit_BufferStore(self, s):
        value = self.expr(s.value)
        idx = self._indices(s.buffer, s.indices, "written")
        if value is s.value and idx is s.indices:
            return s
        return s.replace(value=value, indices=idx)

    def visit_IntrinCall(self, s):
        for op, t in zip(s.outputs + s.inputs, [s.intrin.output] + list(s.intrin.inputs)):
            if s.extents is None:
                self._operand(op, t)
        return s

    def generic_visit(self, s):
        return map_children(s, lambda c: self.visit(c) if _is_stmt(c) else self.expr(c))

    def _under(self, conds, fn):
        n = len(self.facts)
        self.facts.extend(c for c in conds if c is not None)
        try:
            return fn()
        finally:
            del self.facts[n:]

    # ------------------------------------------------------------------ expressions
    def expr(self, e):
        t = type(e)
        if t is Const or t is Var:
            return e
        if t is BufferLoad:
            idx = tuple(self.expr(i) for i in e.indices)
            if all(a is b for a, b in zip(idx, e.indices)):
                idx = e.indices
            idx = self._indices(e.buffer, idx, "read")
            return e if idx is e.indices else BufferLoad(e.buffer, idx, e.dtype)
        if t is Select:
            cond = self.expr(e.cond)
            tv = self._under([e.cond], lambda: self.expr(e.t))
            fv = self._under(_negated(e.cond), lambda: self.expr(e.f))
            if cond is e.cond and tv is e.t and fv is e.f:
                return e
            return Select(cond, tv, fv, e.dtype)
        if t is BinOp and e.op in ("&&", "||"):
            a = self.expr(e.a)
            facts = [e.a] if e.op == "&&" else _negated(e.a)
            b = self._under(facts, lambda: self.expr(e.b))
            return e if a is e.a and b is e.b else BinOp(e.op, a, b, e.dtype)
        if t is CheckedIndex:
            return e
        return map_children(e, self.expr)

    # ------------------------------------------------------------------ proofs
    def _indices(self, buf, indices, how):
        out = list(indices)
        changed = False
        pair = None
        for d, i in enumerate(indices):
            if isinstance(i, CheckedIndex) or d >= len(buf.shape):
                continue
            if d == pair or self._divmod_pair(buf, indices, d, how):
                pair = d + 1         # (and index d + 1, the remainder, with it)
                continue
            new = self._check(buf, d, i, buf.shape[d], how)
            if new is not i:
                out[d] = new
                changed = True
        return tuple(out) if changed else indices

    def _divmod_pair(self, buf, indices, d, how):
        """Indices d, d + 1 are `a // w, a % w` (floor division by the extent w of dimension
        d + 1: a run over dimensions d and d + 1 fused into one index a, a plane of H x W
        read as one row of a symbolic size) and a is in [0, H * w) (H: dimension d's
        extent): then both are in range (w > 0 follows, shape extents being >= 0)."""
        if d + 1 >= len(indices) or d + 1 >= len(buf.shape):
            return False
        q, r = _no_zero_offset(indices[d]), _no_zero_offset(indices[d + 1])
        w = buf.shape[d + 1]
        if not (isinstance(q, BinOp) and q.op == "//" and isinstance(r, BinOp) and
                r.op == "%" and structural_equal(q.b, w) and structural_equal(r.b, w) and
                structural_equal(q.a, r.a)) or isinstance(w, Const):
            return False
        a = q.a
        span = BinOp("*", buf.shape[d], w, a.dtype)
        return self._check(buf, d, a, span, how) is a

    def _operand(self, op, tensor):
        """A tensorized operand covers [base, base + extent) along each dimension it walks."""
        pshape = tensor.shape
        for d, base in enumerate(op.indices):
            span = 0
            for e, bd in enumerate(op.dims):
                if bd == d and isinstance(pshape[e], Const):
                    span = pshape[e].value - 1
            self._check(op.buffer, d, base, op.buffer.shape[d], "covered by an intrinsic",
                        span=span, fix=False)

    def _check(self, buf, d, i, extent, how, span=0, fix=True):
        """i itself when proven in range (or made a precondition), else a CheckedIndex."""
        lo_ok = self._prove(Cmp(">=", i, Const(0, i.dtype), "bool"))
        last = i if span == 0 else BinOp("+", i, Const(span, i.dtype), i.dtype)
        hi_ok = self._prove(Cmp("<", last, extent, "bool"))
        if lo_ok and hi_ok:
            return i
        reach = self._reach(i, span)
        if reach is not None and _within(reach, extent):
            return i                 # the exact range over the loops is inside
        if reach is None and self._floor_reach_within(i, span, extent, lo_ok, hi_ok):
            return i
        exact = reach is not None and not self._conditional(i)
        if exact and all(isinstance(x, Const) for x in reach) and isinstance(extent, Const):
            raise LoweringError(
                f"kernel {self.kernel}: tensor {buf.name} is {how} at index {to_str(i)} "
                f"(dimension {d}), which reaches [{reach[0].value}, {reach[1].value}] over the "
                f"loops around it, outside the dimension's range [0, {extent.value - 1}]")
        if exact and self._only_shape_vars(reach + (extent,)):
            conds = []
            if not lo_ok:
                conds.append(Cmp(">=", reach[0], Const(0, i.dtype), "bool"))
            if not hi_ok:
                conds.append(Cmp("<", reach[1], extent, "bool"))
            self._require(conds, buf, d, i, extent, how)
            return i
        if not fix:
            raise LoweringError(
                f"kernel {self.kernel}: cannot prove that tensor {buf.name} is {how} in bounds "
                f"at index {to_str(i)} (dimension {d}, extent {to_str(extent)})")
        return CheckedIndex(i, extent, None, buf.name, d, i.dtype)

    def _simplifier(self):
        if self._simp is None:
            # loops of a symbolic extent (one a size class bounds too: Schedule.specialize)
            sym = {v: r for v, r in self.loops.items()
                   if self.ranges[v][1] == INF or self._shape_var_bound(r[1])}
            self._simp = Simplifier(self.ranges, loops=sym)
        return self._simp

    def _shape_var_bound(self, e):
        """e (a loop's last value) depends on a shape variable (not on loops only)."""
        return any(v in self.ranges and v not in self.loops for v in free_vars(e))

    def _prove(self, goal):
        """Does goal (a comparison) hold for every value of the loops, given the facts?"""
        if any(isinstance(c, Const) and c.value is False
               for f in self.facts for c in _conjuncts(f)):
            return True              # code under a false condition never runs
        s = self._simplifier()
        r = s(goal)
        if isinstance(r, Const):
            return bool(r.value)
        g = _le_zero(goal)
        if g is None:
            return False
        glin = to_linear(g)
        for f in self.facts:
            for c in _conjuncts(f):
                d = _le_zero(c)
                if d is None:
                    continue
                dlin = to_linear(d)
                for k in _scales(glin, dlin):
                    # g <= k * d holds and d <= 0: so g <= 0
                    rest = from_linear(glin.add(dlin, -k), g.dtype)
                    r = s(Cmp("<=", rest, Const(0, g.dtype), "bool"))
                    if isinstance(r, Const) and r.value:
                        return True
        return self._prove_with_fact_ranges(goal)

    def _prove_with_fact_ranges(self, goal):
        """Facts that bound an expression by a constant (`xo * 128 + xi < 300`, the guard of
        a split tail) narrow its range: each such expression in the goal becomes a variable
        of that range (`((xo * 128 + xi) // 20) // 15 < 1` then holds)."""
        ranges = dict(self.ranges)
        names = _ExprTable()
        for f in self.facts:
            for c in _conjuncts(f):
                bound = _const_bound(c)
                if bound is None:
                    continue
                e, lo, hi = bound
                v = e if isinstance(e, Var) else names.get(e)
                if v is None:
                    v = names.put(e, Var("fact", e.dtype))
                    ranges[v] = const_bounds(e, self.ranges)
                old = ranges.get(v, (-INF, INF))
                new = (max(old[0], lo), min(old[1], hi))
                if new[0] != -INF or new[1] == INF:     # (the simplifier's ranges never
                    ranges[v] = new                     #  have a finite end above -inf)
        if not names and len(ranges) == len(self.ranges) and all(
                ranges[v] == self.ranges.get(v) for v in ranges):
            return False
        sym = {v: r for v, r in self.loops.items() if ranges[v][1] == INF}
        simp = Simplifier(ranges, loops=sym)
        if not names:
            r = simp(goal)
            return isinstance(r, Const) and bool(r.value)
        # innermost bounded expressions first, then outermost: a tail's guard bounds the
        # whole index (`ko * 128 + (ki * 16 + lane) < 784`, read as `(...) // 28`), which
        # the inner one (`ki * 16 + lane < 128`), named first, would hide
        for named in (transform(goal, lambda n: names.get(n) if isinstance(n, BinOp) else None),
                      _outermost_named(goal, names)):
            r = simp(named)
            if isinstance(r, Const) and bool(r.value):
                return True
        return False

    def _reach(self, i, span):
        """[lowest, highest] value of i (+ span) over the loops, when exact, else None: i
        linear in the loop variables with constant coefficients, whose other terms are free
        of loop variables; each loop variable then takes its first or last value."""
        lin = to_linear(i)
        for atom, c in lin.terms.values():
            if atom in self.loops:
                continue
            if any(isinstance(n, Var) and n in self.loops for n in walk(atom)):
                return None
            if any(isinstance(n, (BufferLoad, CheckedIndex, Call)) for n in walk(atom)):
                return None
        lo = self._extreme(lin, -1, i.dtype)
        hi = self._extreme(lin, 1, i.dtype)
        if lo is None or hi is None:
            return None
        if span:
            hi = self._simplifier()(BinOp("+", hi, Const(span, i.dtype), i.dtype))
        return lo, hi

    def _floor_reach_within(self, i, span, extent, lo_ok, hi_ok):
        """Whether i stays in [0, extent) when each floor division of a loop expression by a
        positive constant in it (`fused // 64`, the outer index of a loop fused over n * 64)
        is taken as a variable over [first // c, last // c] of its numerator's exact reach
        (innermost first: `fused // 1 // 64`): a range that holds (wider than the exact one
        where i reads the numerator elsewhere too), so it proves an access in bounds, never
        out of them."""
        saved, self.loops = self.loops, dict(self.loops)
        try:
            j = self._floors_as_loops(i)
            if len(self.loops) == len(saved):
                return False
            reach = self._reach(j, span)
        finally:
            self.loops = saved
        if reach is None:
            return False
        s = Simplifier(self.ranges)

        def holds(goal):
            r = s(goal)
            return isinstance(r, Const) and bool(r.value)
        return (lo_ok or holds(Cmp(">=", reach[0], Const(0, i.dtype), "bool"))) and \
            (hi_ok or holds(Cmp("<", reach[1], extent, "bool")))

    def _floors_as_loops(self, e):
        """e with its floor divisions of loop expressions by positive constants replaced,
        innermost first, by variables added to self.loops with their [first, last]."""
        if not isinstance(e, (BinOp, Var, Const)):
            return e
        if isinstance(e, BinOp):
            a, b = self._floors_as_loops(e.a), self._floors_as_loops(e.b)
            e = e if a is e.a and b is e.b else BinOp(e.op, a, b, e.dtype)
        if not (isinstance(e, BinOp) and e.op == "//" and isinstance(e.b, Const)
                and e.b.value > 0 and any(x in self.loops for x in free_vars(e.a))):
            return e
        r = self._reach(e.a, 0)
        if r is None:
            return e
        v = Var("floor", e.dtype)
        self.loops[v] = tuple(BinOp("//", x, e.b, e.dtype) for x in r)
        return v

    def _extreme(self, lin, sense, dtype):
        for v in reversed(list(self.loops)):             # innermost first
            c = next((c for atom, c in lin.terms.values() if atom is v), 0)
            if c:
                first, last = self.loops[v]
                lin = lin.add(Linear({v: (v, c)}, 0), -1).add(
                    to_linear(last if c * sense > 0 else first), c)
        if any(isinstance(n, Var) and n in self.loops for a, _ in lin.terms.values()
               for n in walk(a)):
            return None
        return Simplifier(self.ranges)(from_linear(lin, dtype))

    def _conditional(self, i):
        """Is the access under a condition (guard or select) that mentions its variables or
        any loop? Then its range over the loops may never be reached."""
        return bool(self.facts)

    def _only_shape_vars(self, exprs):
        return all(isinstance(n, (Var, Const, BinOp)) and not (isinstance(n, Var) and
                                                              n in self.loops)
                   for e in exprs for n in walk(e))

    def _require(self, conds, buf, d, i, extent, how):
        # the loops around the access may run zero times: then nothing is accessed
        empty = [Cmp("<", last, first, "bool") for first, last in self.loops.values()
                 if not isinstance(Simplifier(self.ranges)(Cmp("<", last, first, "bool")), Const)]
        s = Simplifier(self.ranges)
        for c in conds:
            cond = c
            for e in empty:
                cond = BinOp("||", e, cond, "bool")
            cond = s(cond)
            if isinstance(cond, Const) and cond.value:
                continue
            key = str(to_str(cond))
            if key in self._seen:
                continue
            self._seen.add(key)
            self.preconditions.append(Precondition(
                cond, f"tensor {buf.name} would be {how} out of bounds at index {to_str(i)} "
                      f"(dimension {d}, extent {to_str(extent)}): the kernel {self.kernel} "
                      f"needs {to_str(c)}"))


def _within(reach, extent):
    lo, hi = reach
    return isinstance(lo, Const) and isinstance(hi, Const) and isinstance(extent, Const) and \
        0 <= lo.value and hi.value < extent.value


def _is_stmt(c):
    from ..lang.ir import Stmt
    return isinstance(c, Stmt)


def _conjuncts(c):
    if isinstance(c, BinOp) and c.op == "&&":
        return _conjuncts(c.a) + _conjuncts(c.b)
    return [c]


def _negated(c):
    """Facts that hold where c is false (only a single comparison says something)."""
    if isinstance(c, Cmp) and c.op in _FLIP:
        return [Cmp(_FLIP[c.op], c.a, c.b, c.dtype)]
    if isinstance(c, Not):
        return [c.a]
    if isinstance(c, BinOp) and c.op == "||":
        return _negated(c.a) + _negated(c.b)
    return []


def _no_zero_offset(e):
    """e without a `+ 0` (a root axis's offset, as the loop nest writes it)."""
    while isinstance(e, BinOp) and e.op == "+" and isinstance(e.b, Const) and e.b.value == 0:
        e = e.a
    return e


def _outermost_named(e, names):
    """e with each outermost subexpression that names holds replaced by its variable."""
    v = names.get(e) if isinstance(e, BinOp) else None
    if v is not None:
        return v
    return map_children(e, lambda c: _outermost_named(c, names))


class _ExprTable:
    """Expressions (structurally equal ones are one key) -> value. Expr's `==` builds a
    comparison, so a dict keyed by expressions cannot be used."""

    def __init__(self):
        self._by_hash = {}

    def __bool__(self):
        return bool(self._by_hash)

    def get(self, e):
        for k, v in self._by_hash.get(hash(e), ()):
            if structural_equal(k, e):
                return v
        return None

    def put(self, e, v):
        self._by_hash.setdefault(hash(e), []).append((e, v))
        return v


def _const_bound(c):
    """(expr, lo, hi) when comparison c bounds an integer expression by a constant."""
    if not isinstance(c, Cmp) or not c.a.dtype.startswith(("int", "uint")):
        return None
    a, op, b = c.a, c.op, c.b
    if isinstance(a, Const) and not isinstance(b, Const):
        a, b, op = b, a, {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}.get(op)
    if not isinstance(b, Const) or isinstance(a, Const) or op is None:
        return None
    k = int(b.value)
    return {"<": (a, -INF, k - 1), "<=": (a, -INF, k), ">": (a, k + 1, INF),
            ">=": (a, k, INF), "==": (a, k, k)}.get(op)


def _le_zero(c):
    """c as `D <= 0` with an integer D, or None."""
    if not isinstance(c, Cmp) or not c.a.dtype.startswith(("int", "uint")):
        return None
    a, b, dt = c.a, c.b, c.a.dtype
    one = Const(1, dt)
    if c.op == "<":
        return BinOp("+", BinOp("-", a, b, dt), one, dt)
    if c.op == "<=":
        return BinOp("-", a, b, dt)
    if c.op == ">":
        return BinOp("+", BinOp("-", b, a, dt), one, dt)
    if c.op == ">=":
        return BinOp("-", b, a, dt)
    return None


def _scales(glin, dlin):
    """Positive multipliers k worth trying in g - k * d: 1, and the ratios of the
    coefficients of the atoms g and d share."""
    out = [1]
    for key, (atom, c) in dlin.terms.items():
        other = glin.terms.get(key)
        if other is not None and other[1] * c > 0 and other[1] % c == 0:
            k = other[1] // c
            if k not in out:
                out.append(k)
    return out
