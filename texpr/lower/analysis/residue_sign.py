"""Signs of floor-linear expressions of non-negative extents in exact integer arithmetic.

Why: symbolic.sign_of splits each extent n into L*q + r (r = 0 .. L-1, L the lcm of the
divisors of the floors) so that the floors vanish, and asks sympy for the sign of each case.
When every case is linear in the q's (the common case: `(w + 1) // 2 * 2 - w - 1`), the sign
of a case is read off its coefficients: that is what sympy finds too, at a thousandth of the
cost. This module does the same split with Python integers; it answers only when every case
is linear, and raises NotLinear otherwise (products of extents, min/max, a floor that does
not vanish, too many cases), where the caller asks sympy.

The split is sympy's: the divisors are those of the floors in sympy's canonical form (a floor
of `(2w + 2) / 4` is sympy's `floor(w/2 + 1/2)`, divisor 2; a floor whose argument is an
integer is gone), and the same case limit, so both see the same cases.
"""
from itertools import product
from math import gcd, lcm

from ...lang.expr import BinOp, Const, Var

MAX_CASES = 256                 # no split into more cases (here and in symbolic.py)


class NotLinear(Exception):
    """The cases are not all linear in the extents: only sympy can say."""


def case_signs(e):
    """The sign of e ('pos', 'neg', 'zero', 'nonneg', 'nonpos' or None: both signs) in each
    residue case, as a set; raises NotLinear where a case is not linear."""
    canon = _Canonical()
    form = canon.eval(e)
    syms, divisors = set(), set()
    canon.collect(form, syms, divisors)
    if not _tree_vars(e) <= syms:
        raise NotLinear         # a variable cancels out: sympy no longer sees it
    if not divisors or not syms:
        return {_linear_sign(_Cases({}).eval(e))}
    L = lcm(*divisors)
    if L ** len(syms) > MAX_CASES:
        raise NotLinear         # sympy keeps the floors: not linear
    syms = list(syms)
    return {_linear_sign(_Cases({v: (L, r) for v, r in zip(syms, rs)}).eval(e))
            for rs in product(range(L), repeat=len(syms))}


def _linear_sign(form):
    """Sign of const + sum(coef * q) over independent integers q >= 0 (exact)."""
    terms, const = form
    coefs = [c for c in terms.values() if c]
    if not coefs:
        return "pos" if const > 0 else "neg" if const < 0 else "zero"
    if all(c > 0 for c in coefs):
        return "pos" if const > 0 else "nonneg" if const == 0 else None
    if all(c < 0 for c in coefs):
        return "neg" if const < 0 else "nonpos" if const == 0 else None
    return None


# ---------------------------------------------------------------- affine forms
# (terms: {atom key: coefficient}, const), nonzero coefficients only; an atom key is
# ("var", id(v)) or ("floor", numerator's terms, numerator's const, divisor): plain tuples,
# never Exprs (whose == builds a comparison)

def _add(x, y, k=1):
    terms = dict(x[0])
    for a, c in y[0].items():
        s = terms.get(a, 0) + k * c
        if s:
            terms[a] = s
        else:
            terms.pop(a, None)
    return terms, x[1] + k * y[1]


def _scale(x, k):
    if k == 0:
        return {}, 0
    return {a: k * c for a, c in x[0].items()}, k * x[1]


class _Eval:
    """An affine form of an expression of +, -, * by constants, floor division and modulo by
    positive constants (`tdiv` / `tmod` as floors, as symbolic.to_sympy reads them)."""

    def eval(self, e):
        t = type(e)
        if t is Const:
            return {}, int(e.value)
        if t is Var:
            return self.var(e)
        if t is not BinOp:
            raise NotLinear
        op = e.op
        if op in ("//", "tdiv", "%", "tmod"):
            if type(e.b) is not Const or int(e.b.value) <= 0:
                raise NotLinear
            a, d = self.eval(e.a), int(e.b.value)
            q = self.floor(a, d)
            return q if op in ("//", "tdiv") else _add(a, _scale(q, d), -1)
        if op not in ("+", "-", "*"):
            raise NotLinear
        a, b = self.eval(e.a), self.eval(e.b)
        if op == "+":
            return _add(a, b)
        if op == "-":
            return _add(a, b, -1)
        if not a[0]:
            return _scale(b, a[1])
        if not b[0]:
            return _scale(a, b[1])
        raise NotLinear


class _Canonical(_Eval):
    """The expression as sympy holds it: integer terms pulled out of floors, floors of an
    integer gone, the rest a floor atom in lowest terms."""

    def __init__(self):
        self.vars = {}          # atom key -> Var
        self.floors = {}        # atom key -> (numerator form, divisor)

    def var(self, v):
        key = ("var", id(v))
        self.vars[key] = v
        return {key: 1}, 0

    def floor(self, a, d):
        out = {k: c // d for k, c in a[0].items() if c % d == 0}
        rest = {k: c for k, c in a[0].items() if c % d != 0}
        if not rest:
            return out, a[1] // d
        g = gcd(d, a[1], *rest.values())
        num = ({k: c // g for k, c in rest.items()}, a[1] // g)
        key = ("floor", frozenset(num[0].items()), num[1], d // g)
        self.floors[key] = (num, d // g)
        return _add((out, 0), ({key: 1}, 0))

    def collect(self, form, syms, divisors):
        """The variables and the floors' divisors of form (sympy's free_symbols, and the
        denominators of its floor atoms)."""
        for k in form[0]:
            if k[0] == "var":
                syms.add(self.vars[k])
            else:
                num, d = self.floors[k]
                divisors.add(d)
                self.collect(num, syms, divisors)


class _Cases(_Eval):
    """The expression in one residue case: each split variable v is L*q + r (q named by v's
    key); a floor must vanish."""

    def __init__(self, split):
        self.split = split

    def var(self, v):
        L, r = self.split.get(v, (1, 0))
        return {("var", id(v)): L}, r

    def floor(self, a, d):
        if any(c % d for c in a[0].values()):
            raise NotLinear
        return {k: c // d for k, c in a[0].items()}, a[1] // d


def _tree_vars(e):
    out = set()
    stack = [e]
    while stack:
        n = stack.pop()
        if type(n) is Var:
            out.add(n)
        elif type(n) is BinOp:
            stack.append(n.a)
            stack.append(n.b)
    return out


# ---------------------------------------------------------------- witnesses

_SAMPLES = (0, 1, 2, 3, 5, 8, 13, 31, 64, 97, 1000, 4099)


def takes_both_signs(e):
    """Whether e is positive for some values of its extents (integers >= 0) and negative for
    others, found by trying sample values: then no sign can be proven, so asking sympy is
    pointless. False means only that no such values were found."""
    vs = sorted(_tree_vars(e), key=id)
    points = [[x] * len(vs) for x in _SAMPLES]
    for i in range(len(vs)):                 # one extent large, the others small and equal
        for big, small in ((4099, 0), (4099, 1), (0, 1000)):
            points.append([big if j == i else small for j in range(len(vs))])
    seen_pos = seen_neg = False
    for p in points:
        try:
            v = _value(e, dict(zip(map(id, vs), p)))
        except (_NoValue, ZeroDivisionError):
            continue
        seen_pos |= v > 0
        seen_neg |= v < 0
        if seen_pos and seen_neg:
            return True
    return False


class _NoValue(Exception):
    pass


def _value(e, env):
    """e's value as symbolic.to_sympy reads it (tdiv / tmod as floors)."""
    t = type(e)
    if t is Const:
        return int(e.value)
    if t is Var:
        return env[id(e)]
    if t is not BinOp:
        raise _NoValue
    a, b = _value(e.a, env), _value(e.b, env)
    op = e.op
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op in ("//", "tdiv"):
        return a // b
    if op in ("%", "tmod"):
        return a % b
    if op == "min":
        return min(a, b)
    if op == "max":
        return max(a, b)
    raise _NoValue
