"""Tail handling by loop partitioning.

A guard such as `io*8 + ii < n` (left by a split that may not divide) is provably true for
most iterations of the outer loop. We split that loop into a main part, where the guard is
dropped, and head/tail parts that keep it. The main part then vectorizes cleanly and the
tail keeps every access in bounds. Where a guard's bound is exact (it depends on no inner
loop), the part past the bound is one where the guard never holds: the guarded code is
dropped there instead of copied (a split's tail loop then simply runs to n - io*8).

The condition of a select in a stored value (`if_then_else(x >= 1 && x <= W, A[x - 1], 0)`:
padding) is used the same way by the loops around it, except a vectorized one: in the main
part the select is its true value (a plain vector load in the padded copy's interior,
instead of lanes computed one by one), at the borders it stays.
"""
from ...lang.expr import BinOp, Cmp, Const, Expr, Select
from ...lang.visitor import Mutator, Visitor, free_vars, map_children, substitute, walk
from ..analysis.arith import (Linear, conjuncts, from_linear, interval, linear_coeff, simplify,
                              to_linear)
from ...lang.ir import (Allocate, BufferLoad, BufferStore, DeclareVars, For, IfThenElse, Seq,
                 StageRegion, Stmt, VarLoad, seq)


# Each partitioned loop copies its body (up to 3 times) and the loops inside are partitioned
# again in every copy: nested tails multiply the code. A body is copied at most this many
# times in all; deeper loops keep their guards. (Schedules drawn by hypothesis with five
# non-dividing splits in a row made 1400 loops / 700 KB of C that GCC took minutes over; the
# topi and benchmark schedules stay far below.)
MAX_COPIES = 27


def partition_loops(stmt, masked_vectors=False):
    """masked_vectors: the target masks vector tails (AVX-512), so a vectorized loop is not
    partitioned by its own guard: the vectorizer turns that guard into masked accesses. A
    function of the vectorized loop instead of True: the loops it accepts (AVX2 masks only
    vectors of 32- and 64-bit elements: vectorize.maskable)."""
    if masked_vectors is True:
        return _go(stmt, {}, lambda f: True, 1)
    return _go(stmt, {}, masked_vectors or None, 1)


def _go(s, lanes, masked, copies):
    """lanes: ranges of enclosing vectorized loops; guards must hold for every lane.
    copies: how many copies of s the partitions around it have made."""
    if isinstance(s, For):
        parts = None if masked and s.kind == "vectorized" and masked(s) else _partition(s, lanes)
        if parts is not None and _masked_vectors(s, parts, masked):
            return seq(*[_go(substitute(s.body, {s.var: simplify(s.min + k)}), lanes, masked,
                             copies) for k in range(s.extent.value)])
        if parts is not None and copies * len(parts) <= MAX_COPIES:
            if s.kind == "parallel" and len(parts) > 1:
                return _go_body(_one_parallel_loop(parts), lanes, masked, copies * len(parts))
            return seq(*[_go_body(p, lanes, masked, copies * len(parts)) for p in parts])
        return _go_body(s, lanes, masked, copies)
    if not isinstance(s, Stmt):
        return s
    return map_children(s, lambda c: _go(c, lanes, masked, copies) if isinstance(c, Stmt) else c)


def _masked_vectors(f, parts, masked):
    """Whether unrolled loop f, of a constant extent, over one vectorized loop that the target
    masks, whose guard of the lanes would split it at a point its parts do not fix (a row's
    last block of several accumulators: after a shape variable, or after the outer loop's
    value), is unrolled here instead: each vector then masked with constant accumulator
    indices (a register, or a whole private vector blended and stored: no masked store read
    back whole, which stalled store forwarding). Split, a symbolic row's partial vectors ran
    lane by lane from an accumulator in memory (global pool 64 x 56 x 56 with 4 accumulators:
    0.0094 ms against 0.0207 with one vector), and a constant row's last vector was a masked
    store (Zen 4, avx512, 1 thread: global pool 64 x 14 x 14 0.0029 -> 0.0016 ms, 256 x 14 x
    14 0.0086 -> 0.0030, layer_norm 128 x 1000 0.0281 -> 0.0239, softmax 0.0514 -> 0.0503)."""
    if not (masked is not None and f.kind == "unrolled" and isinstance(f.extent, Const) and
            isinstance(f.body, For) and f.body.kind == "vectorized" and masked(f.body)) or \
            all(isinstance(p.min, Const) and isinstance(p.extent, Const) for p in parts):
        return False
    lane = f.body.var
    return any(isinstance(n, IfThenElse) and {f.var, lane} <= set(free_vars(n.cond))
               for n in walk(f.body.body))


def _one_parallel_loop(parts):
    """The parts of a partitioned parallel loop as one parallel loop whose iterations pick
    their part's body (one branch per iteration). Peeled off, a one-iteration tail part would
    run serially after the parallel one (with 15 full blocks and a partial one on 2 threads:
    8 blocks + the partial one instead of 8), and every other part would be its own
    parallel region."""
    v = parts[0].var
    ends = [simplify(p.min + p.extent) for p in parts]

    def chain(i):
        body = parts[i].body
        if i > 0 and not parts[i].min.same_as(ends[i - 1]):
            body = IfThenElse(Cmp(">=", v, parts[i].min), body)    # a gap: nothing runs there
        if i == len(parts) - 1:
            return body
        return IfThenElse(Cmp("<", v, ends[i]), body, chain(i + 1))
    first = parts[0]
    return For(v, first.min, simplify(ends[-1] - first.min), "parallel", chain(0), first.pragmas)


def _go_body(f, lanes, masked, copies):
    if not isinstance(f, For):
        return _go(f, lanes, masked, copies)
    if f.kind == "vectorized":
        lanes = dict(lanes)
        lanes[f.var] = (f.min, simplify(f.min + f.extent - 1))
    body = _go(f.body, lanes, masked, copies)
    return For(f.var, f.min, f.extent, f.kind, body, f.pragmas) if body is not f.body else f


def _collect_guards(s, inner, out):
    """(term, inner-loop relax map, from a select) for every guard term below s."""
    t = type(s)
    if t is BufferStore:
        for sel in _selects(s.value):
            for term in conjuncts(sel.cond):
                out.append((term, inner, True))
    elif t is For:
        inner2 = dict(inner)
        inner2[s.var] = (s.min, simplify(s.min + s.extent - 1))
        _collect_guards(s.body, inner2, out)
    elif t is IfThenElse:
        for term in conjuncts(s.cond):
            out.append((term, inner, False))
        _collect_guards(s.then_case, inner, out)
        if s.else_case is not None:
            _collect_guards(s.else_case, inner, out)
    elif t is Seq:
        for x in s.stmts:
            _collect_guards(x, inner, out)
    elif t in (StageRegion, Allocate, DeclareVars):
        _collect_guards(s.body, inner, out)


def _selects(e):
    """The selects of a stored value (not those inside the positions of its loads)."""
    finder = _SelectFinder()
    finder.visit(e)
    return finder.found


class _SelectFinder(Visitor):
    def __init__(self):
        self.found = []

    def visit_BufferLoad(self, n):
        return None

    def visit_Select(self, n):
        self.found.append(n)
        self.generic_visit(n)


def as_le_zero(term):
    """term as D <= 0 (integer D), or None."""
    if not isinstance(term, Cmp) or not term.a.dtype.startswith(("int", "uint")):
        return None
    a, b = term.a, term.b
    if term.op == "<":
        return a - b + 1
    if term.op == "<=":
        return a - b
    if term.op == ">":
        return b - a + 1
    if term.op == ">=":
        return b - a
    return None


def _partition(f, lanes):
    v = f.var
    guards = []
    _collect_guards(f.body, dict(lanes), guards)
    lo_bounds, hi_bounds, used = [], [], []
    exact = {"lo": [], "hi": []}     # terms false at every point past their side's bound
    for term, inner, from_select in guards:
        if v not in free_vars(term) or (from_select and f.kind == "vectorized"):
            continue
        d = as_le_zero(term)
        if d is None:
            continue
        lc = linear_coeff(simplify(d), v)
        if lc is None or lc[0] == 0:
            continue
        c, rest = lc
        if any(atom in inner and abs(k) > abs(c) for atom, k in rest.terms.values()):
            continue    # an inner loop moves faster along this guard: partition that one
        r = interval(from_linear(rest, "int32"), inner)
        if r is None:
            continue
        r_hi = simplify(r[1])
        if any(x in inner or x is v for x in free_vars(r_hi)):
            continue
        side = "hi" if c > 0 else "lo"
        if c > 0:
            hi_bounds.append(simplify((0 - r_hi) // c + 1))       # v < this
        else:
            lo_bounds.append(simplify(0 - ((0 - r_hi) // (-c))))   # v >= this (ceil div)
        used.append(term)
        if _exact(rest, inner):
            exact[side].append(term)     # no inner loop relaxed: the bound is exact
    if not used:
        return None
    start, end = f.min, simplify(f.min + f.extent)
    vlo = start
    for b in lo_bounds:
        vlo = BinOp("max", vlo, b, "int32")
    vhi = end
    for b in hi_bounds:
        vhi = BinOp("min", vhi, b, "int32")
    if lo_bounds:       # (with none, the head part is empty: no phantom min(start, end))
        vlo = simplify(BinOp("min", vlo, end, "int32"))
    vhi = simplify(BinOp("max", vlo, vhi, "int32"))
    main_body = _drop_terms(f.body, used)
    # Before vlo (after vhi) the term with the largest (smallest) bound is false everywhere
    # when every bound on that side is exact: a guard needing all of them never passes there.
    head = _drop_dead(f.body, exact["lo"]) if exact["lo"] and \
        len(exact["lo"]) == len(lo_bounds) else f.body
    tail = _drop_dead(f.body, exact["hi"]) if exact["hi"] and \
        len(exact["hi"]) == len(hi_bounds) else f.body
    parts = []
    for a, b, body in ((start, vlo, head), (vlo, vhi, main_body), (vhi, end, tail)):
        if _does_nothing(body):
            continue
        ext = simplify(b - a)
        if isinstance(ext, Const) and ext.value <= 0:
            continue
        parts.append(For(v, a, ext, f.kind, body, f.pragmas))
    if len(parts) == 1 and parts[0].body is f.body:
        return None
    return parts


def _exact(rest, inner):
    """rest depends on no inner loop and reads no memory: the term is false at every point
    past its bound, not only at the inner loops' extreme."""
    for atom, _ in rest.terms.values():
        if any(x in inner for x in free_vars(atom)):
            return False
        if any(isinstance(n, (BufferLoad, VarLoad)) for n in walk(atom)):
            return False
    return True


def _does_nothing(s):
    if isinstance(s, Seq):
        return all(_does_nothing(x) for x in s.stmts)
    if isinstance(s, (For, StageRegion, Allocate, DeclareVars)):
        return _does_nothing(s.body)
    return False


def _drop_dead(s, terms):
    """s with every guard (and select) whose conjunction holds all of `terms` replaced by its
    else part."""
    return _DropDead(terms).visit(s)


class _GuardMutator(Mutator):
    """Rewrites guards and selects; leaves loads (positions) and intrinsic operands alone."""

    def visit_BufferLoad(self, n):
        return n

    visit_IntrinOperand = visit_BufferLoad


class _DropDead(_GuardMutator):
    def __init__(self, terms):
        self.terms = terms

    def holds_all(self, cond):
        conj = conjuncts(cond)
        return all(any(t.same_as(x) for x in conj) for t in self.terms)

    def visit_IfThenElse(self, n):
        if self.holds_all(n.cond):
            return self.visit(n.else_case) if n.else_case is not None else Seq(())
        return self.generic_visit(n)

    def visit_Select(self, n):
        if self.holds_all(n.cond):
            return self.visit(n.f)
        return self.generic_visit(n)


def _drop_terms(s, used):
    """s with the `used` terms (true throughout the main part) dropped from its guards and
    selects."""
    return _DropTerms(used).visit(s)


class _DropTerms(_GuardMutator):
    def __init__(self, used):
        self.used = used

    def rest(self, cond):
        keep = [t for t in conjuncts(cond) if not any(t.same_as(u) for u in self.used)]
        c = keep[0] if keep else None
        for t in keep[1:]:
            c = BinOp("&&", c, t, "bool")
        return c

    def visit_IfThenElse(self, n):
        n = self.generic_visit(n)
        c = self.rest(n.cond)
        return n.then_case if c is None else IfThenElse(c, n.then_case, n.else_case)

    def visit_Select(self, n):
        n = self.generic_visit(n)
        c = self.rest(n.cond)
        return n.t if c is None else Select(c, n.t, n.f, n.dtype)
