"""sympy as the last resort for facts about symbolic extents (expressions of te.vars).

The fast simplifier decides most comparisons from constant bounds; when an expression only
involves non-negative symbolic extents (n, m, ...) and that fails, sign_of can still prove
facts such as `(n + 7) // 8 * 8 >= n`. Most such expressions are floor-linear: their residue
cases are decided in integer arithmetic (residue_sign.py, the same answer sympy gives, about a
thousand times faster), or sample values show both signs; sympy (a sympy.simplify per case,
~10-100 ms) only for the rest. Results are cached: lowering stays fast.
"""
from functools import lru_cache

from ...lang.expr import BinOp, Const, Var
from .residue_sign import MAX_CASES, NotLinear, case_signs, takes_both_signs

class _Untranslatable(Exception):
    pass


def to_sympy(e):
    import sympy                # imported on first use: most signs need no sympy
    t = type(e)
    if t is Const:
        return sympy.Integer(int(e.value))
    if t is Var:
        # named by the Var's identity: two live vars never share a symbol, and no table of
        # every var ever seen keeps them alive (sympy caches equal symbols itself)
        return sympy.Symbol(f"{e.name}_{id(e):x}", integer=True, nonnegative=True)
    if t is BinOp:
        a, b = to_sympy(e.a), to_sympy(e.b)
        if e.op == "+":
            return a + b
        if e.op == "-":
            return a - b
        if e.op == "*":
            return a * b
        if e.op in ("//", "tdiv"):
            return sympy.floor(a / b)
        if e.op in ("%", "tmod"):
            return a - b * sympy.floor(a / b)
        if e.op == "min":
            return sympy.Min(a, b)
        if e.op == "max":
            return sympy.Max(a, b)
    raise _Untranslatable


@lru_cache(maxsize=4096)
def _sign(e):
    try:
        return _combined(case_signs(e))     # exact integer arithmetic: no sympy needed
    except NotLinear:
        pass
    if takes_both_signs(e):
        return None                         # no sign to prove
    return _sign_by_sympy(e)


def _sign_by_sympy(e):
    try:
        x = to_sympy(e)
    except (_Untranslatable, TypeError, ValueError):
        return None
    signs = set()
    for c in _residue_cases(x):
        sg = _sign_of_sympy(c)
        if sg is None:
            return None         # undecided: stop (each case costs a sympy.simplify)
        signs.add(sg)
        if {"pos", "neg"} <= signs:
            return None
    return _combined(signs)


def _combined(signs):
    """The sign of an expression from the signs of its cases (None: undecided)."""
    if None in signs:
        return None
    if signs == {"pos"}:
        return "pos"
    if signs == {"neg"}:
        return "neg"
    if signs <= {"pos", "zero", "nonneg"}:
        return "nonneg"
    if signs <= {"neg", "zero", "nonpos"}:
        return "nonpos"
    return None


def _residue_cases(x):
    """Split each extent n into L*q + r (L = lcm of the divisors in floors) so floors vanish."""
    import sympy
    divisors = [f.args[0].as_numer_denom()[1] for f in x.atoms(sympy.floor)]
    divisors = [int(d) for d in divisors if d.is_Integer]
    syms = sorted(x.free_symbols, key=lambda s: s.name)
    if not divisors or not syms:
        return [x]
    L = int(sympy.ilcm(*divisors)) if len(divisors) > 1 else divisors[0]
    if L ** len(syms) > MAX_CASES:
        return [x]
    cases = [x]
    for sym in syms:
        q = sympy.Symbol(sym.name + "_q", integer=True, nonnegative=True)
        cases = [c.subs(sym, L * q + r) for c in cases for r in range(L)]
    return cases


def _sign_of_sympy(x):
    import sympy
    sg = _sign_from_assumptions(x)       # cheap; sympy.simplify only when that is not exact
    if sg in ("zero", "pos", "neg"):
        return sg
    return _sign_from_assumptions(sympy.simplify(x)) or sg


def _sign_from_assumptions(x):
    if x.is_zero:
        return "zero"
    if x.is_positive:
        return "pos"
    if x.is_negative:
        return "neg"
    if x.is_nonnegative:
        return "nonneg"
    if x.is_nonpositive:
        return "nonpos"
    return None


def sign_of(e):
    """'pos', 'nonneg', 'neg', 'nonpos' or None for an integer expression of symbolic extents."""
    return _sign(e)
