"""Tail handling by loop partitioning.

A guard such as `io*8 + ii < n` (left by a split that may not divide) is provably true for
most iterations of the outer loop. We split that loop into a main part, where the guard is
dropped, and head/tail parts that keep it. The main part then vectorizes cleanly and the
tail keeps every access in bounds.
"""
from ..lang.expr import BinOp, Cmp, Const
from ..lang.visitor import free_vars, map_children, substitute
from .arith import Linear, from_linear, interval, linear_coeff, simplify, to_linear
from .ir import Allocate, DeclareVars, For, IfThenElse, Seq, StageRegion, Stmt, seq


def partition_loops(stmt, masked_vectors=False):
    """masked_vectors: the target masks vector tails (AVX-512), so a vectorized loop is not
    partitioned by its own guard: the vectorizer turns that guard into masked accesses."""
    return _go(stmt, {}, masked_vectors)


def _go(s, lanes, masked=False):
    """lanes: ranges of enclosing vectorized loops; guards must hold for every lane."""
    if isinstance(s, For):
        parts = None if masked and s.kind == "vectorized" else _partition(s, lanes)
        if parts is not None:
            return seq(*[_go_body(p, lanes, masked) for p in parts])
        return _go_body(s, lanes, masked)
    if not isinstance(s, Stmt):
        return s
    return map_children(s, lambda c: _go(c, lanes, masked) if isinstance(c, Stmt) else c)


def _go_body(f, lanes, masked=False):
    if not isinstance(f, For):
        return _go(f, lanes, masked)
    if f.kind == "vectorized":
        lanes = dict(lanes)
        lanes[f.var] = (f.min, simplify(f.min + f.extent - 1))
    body = _go(f.body, lanes, masked)
    return For(f.var, f.min, f.extent, f.kind, body, f.pragmas) if body is not f.body else f


def _conjuncts(c):
    if isinstance(c, BinOp) and c.op == "&&":
        return _conjuncts(c.a) + _conjuncts(c.b)
    return [c]


def _collect_guards(s, inner, out):
    """(term, inner-loop relax map) for every guard term below s."""
    t = type(s)
    if t is For:
        inner2 = dict(inner)
        inner2[s.var] = (s.min, simplify(s.min + s.extent - 1))
        _collect_guards(s.body, inner2, out)
    elif t is IfThenElse:
        for term in _conjuncts(s.cond):
            out.append((term, inner))
        _collect_guards(s.then_case, inner, out)
        if s.else_case is not None:
            _collect_guards(s.else_case, inner, out)
    elif t is Seq:
        for x in s.stmts:
            _collect_guards(x, inner, out)
    elif t in (StageRegion, Allocate, DeclareVars):
        _collect_guards(s.body, inner, out)


def _as_le_zero(term):
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
    for term, inner in guards:
        if v not in free_vars(term):
            continue
        d = _as_le_zero(term)
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
        if c > 0:
            hi_bounds.append(simplify((0 - r_hi) // c + 1))       # v < this
        else:
            lo_bounds.append(simplify(0 - ((0 - r_hi) // (-c))))   # v >= this (ceil div)
        used.append(term)
    if not used:
        return None
    start, end = f.min, simplify(f.min + f.extent)
    vlo = start
    for b in lo_bounds:
        vlo = BinOp("max", vlo, b, "int32")
    vhi = end
    for b in hi_bounds:
        vhi = BinOp("min", vhi, b, "int32")
    vlo = simplify(BinOp("min", vlo, end, "int32"))
    vhi = simplify(BinOp("max", vlo, vhi, "int32"))
    main_body = _drop_terms(f.body, used)
    parts = []
    for a, b, body in ((start, vlo, f.body), (vlo, vhi, main_body), (vhi, end, f.body)):
        ext = simplify(b - a)
        if isinstance(ext, Const) and ext.value <= 0:
            continue
        parts.append(For(v, a, ext, f.kind, body, f.pragmas))
    if len(parts) == 1 and parts[0].body is f.body:
        return None
    return parts


def _drop_terms(s, used):
    def go(n):
        if isinstance(n, IfThenElse):
            n = map_children(n, go)
            keep = [t for t in _conjuncts(n.cond) if not any(t.same_as(u) for u in used)]
            if not keep:
                return n.then_case
            c = keep[0]
            for t in keep[1:]:
                c = BinOp("&&", c, t, "bool")
            return IfThenElse(c, n.then_case, n.else_case)
        if isinstance(n, Stmt):
            return map_children(n, go)
        return n
    return go(s)
