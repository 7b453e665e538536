"""Invert the index relation of one tensor access: which points of a compute's iteration space
read input element p.

An access A[f_1(v), ..., f_m(v)] over iteration variables v (the compute's data axes and its
reduction axes) is solved dimension by dimension: where f_d is affine in the variables, one of
them is expressed through p_d (v = (p_d - rest) / c, guarded to its range and, for |c| > 1, to
divisibility: a strided or dilated access); a dimension left with no unsolved variable becomes
an equality guard. A non-affine index (min(j + k, 9), I[i], i // 2) stays an equality guard,
and its variables are summed over: always correct, linear in the iteration space per element.
Variables no dimension determines are summed over too (a broadcast, a reduction's other axes).
"""
from dataclasses import dataclass

from ..expr import BinOp, Const, Var, floordiv, floormod
from ..visitor import free_vars, substitute


@dataclass
class Solution:
    values: dict        # solved variable -> expression of p (and of free variables)
    guards: list        # boolean expressions that must hold for the point to exist
    free: list          # iteration variables still summed over, in their original order


def affine(e, variables):
    """(coefficients {var: int}, rest) with e = sum(c * var) + rest, rest free of `variables`;
    None when e is not affine in them."""
    if isinstance(e, Var):
        if e in variables:
            return {e: 1}, None
        return {}, e
    if not any(v in variables for v in free_vars(e)):
        return {}, e
    if isinstance(e, BinOp) and e.op in ("+", "-"):
        a, b = affine(e.a, variables), affine(e.b, variables)
        if a is None or b is None:
            return None
        sign = 1 if e.op == "+" else -1
        coeffs = dict(a[0])
        for v, c in b[0].items():
            coeffs[v] = coeffs.get(v, 0) + sign * c
        rest = a[1]
        if b[1] is not None:
            rest = (b[1] if sign > 0 else -b[1]) if rest is None else \
                (rest + b[1] if sign > 0 else rest - b[1])
        return coeffs, rest
    if isinstance(e, BinOp) and e.op == "*":
        for x, y in ((e.a, e.b), (e.b, e.a)):
            if isinstance(y, Const):
                inner = affine(x, variables)
                if inner is None:
                    return None
                coeffs = {v: c * y.value for v, c in inner[0].items()}
                return coeffs, None if inner[1] is None else inner[1] * y
        return None
    return None


def solve_access(indices, targets, domains):
    """Solve indices(v) == targets for the variables of `domains` ({var: (min, extent)}, in
    iteration order)."""
    order = list(domains)
    unsolved = set(order)
    values, guards = {}, []
    pending = list(range(len(indices)))
    progress = True
    while pending and progress:
        progress = False
        for d in list(pending):
            f = substitute(indices[d], values)
            lin = affine(f, unsolved)
            if lin is None:
                continue
            coeffs, rest = lin
            coeffs = {v: c for v, c in coeffs.items() if c != 0}
            pending.remove(d)
            progress = True
            p = targets[d]
            if not coeffs:
                guards.append(f == p)
                continue
            v = max(coeffs, key=lambda u: (_extent_rank(domains[u][1]), abs(coeffs[u]) == 1))
            c = coeffs[v]
            num = p if rest is None else p - rest
            for u, cu in coeffs.items():
                if u is not v:
                    num = num - u * cu if cu != 1 else num - u
            if c < 0:
                num, c = -num, -c
            if c != 1:
                guards.append(floormod(num, c) == 0)
                sol = floordiv(num, c)
            else:
                sol = num
            values = {u: substitute(x, {v: sol}) for u, x in values.items()}
            values[v] = sol
            unsolved.discard(v)
            lo, ext = domains[v]
            guards.append(sol >= lo)
            guards.append(sol < lo + ext if not _is_zero(lo) else sol < ext)
    for d in pending:           # not affine: an equality guard, its variables summed over
        guards.append(substitute(indices[d], values) == targets[d])
    free = [v for v in order if v in unsolved]
    # a solved value may mention variables solved after it: resolve to a fixed point
    for _ in range(len(values)):
        values = {u: substitute(x, values) for u, x in values.items()}
    guards = [substitute(g, values) for g in guards]
    return Solution(values, guards, free)


def _extent_rank(ext):
    return ext.value if isinstance(ext, Const) else 1 << 30


def _is_zero(e):
    return isinstance(e, Const) and e.value == 0
