"""Integer arithmetic reasoning: constant bounds, symbolic intervals and a simplifier.

Index expressions are kept in a canonical linear form (sum of coeff * atom + const), which
makes `(x*16 + y) // 16 -> x` and `i - i -> 0` fall out, and bounds of loop variables are used
to drop divisions, modulos, min/max and comparisons that are decided by the ranges.

Index arithmetic is assumed not to overflow (shapes and positions fit their dtype). Integer
data wraps, as in NumPy, so a Simplifier(data=True) (for the values a program stores) keeps to
what holds modulo 2**bits: the linear form with its coefficients wrapped, and constant
folding; `(a * 65536) // 65536 -> a`, `a + 1 > a -> true` and the like only where the bounds
show that nothing in the operands can overflow (a loaded value: any value of its dtype).
"""
import math

from ...lang import dtypes
from ...lang.expr import BinOp, Call, Cast, Cmp, Const, Expr, Not, Select, Var
from ...lang.ir import BufferLoad, CheckedIndex, VarLoad
from ...lang.visitor import map_children, walk

INF = math.inf


def is_const(e, value=None):
    return isinstance(e, Const) and (value is None or e.value == value)


def _ic(v, dtype="int32"):
    return Const(v, dtype)


# ----------------------------------------------------------------------------- constant bounds

def const_bounds(e, ranges, leaf=None):
    """(lo, hi) numbers bounding integer expression e; ranges: Var -> (lo, hi) numbers.
    leaf(n): bounds of a node nothing else bounds (default: unbounded)."""
    t = type(e)
    if t is Const:
        v = e.value
        return (v, v) if not isinstance(v, bool) else (int(v), int(v))
    if t is Var:
        return ranges.get(e, (-INF, INF))
    if t is BinOp:
        op = e.op
        if op in ("+", "-", "*", "min", "max"):
            a, b = const_bounds(e.a, ranges, leaf), const_bounds(e.b, ranges, leaf)
            if op == "+":
                return (a[0] + b[0], a[1] + b[1])
            if op == "-":
                return (a[0] - b[1], a[1] - b[0])
            if op == "min":
                return (min(a[0], b[0]), min(a[1], b[1]))
            if op == "max":
                return (max(a[0], b[0]), max(a[1], b[1]))
            prods = [_mul(x, y) for x in a for y in b]
            return (min(prods), max(prods))
        if op in ("//", "tdiv") and is_const(e.b) and e.b.value > 0:
            a = const_bounds(e.a, ranges, leaf)
            c = e.b.value
            return (_fdiv(a[0], c), _fdiv(a[1], c))
        if op in ("%", "tmod") and is_const(e.b) and e.b.value > 0:
            a = const_bounds(e.a, ranges, leaf)
            c = e.b.value
            if a[0] >= 0 and a[1] < c:
                return a
            if op == "%" or a[0] >= 0:
                return (0, c - 1)
            return (-(c - 1), c - 1)
        return leaf(e) if leaf else (-INF, INF)
    if t is Select:
        a, b = const_bounds(e.t, ranges, leaf), const_bounds(e.f, ranges, leaf)
        return (min(a[0], b[0]), max(a[1], b[1]))
    if t is Cast and dtypes.is_int(e.dtype) and dtypes.is_int(e.value.dtype):
        return const_bounds(e.value, ranges, leaf)
    if t is Cmp or (t is BinOp and e.op in ("&&", "||")) or t is Not:
        return (0, 1)
    if t is CheckedIndex:
        return (0, const_bounds(e.extent, ranges)[1] - 1)
    return leaf(e) if leaf else (-INF, INF)


def _mul(x, y):
    if x == 0 or y == 0:
        return 0
    return x * y


def _fdiv(x, c):
    if x in (INF, -INF):
        return x
    return x // c


# ----------------------------------------------------------------------------- linear form

class Linear:
    """sum(coeff * atom) + const over integer atoms (vars or non-linear subexpressions)."""
    __slots__ = ("terms", "const")

    def __init__(self, terms=None, const=0):
        self.terms = terms if terms is not None else {}
        self.const = const

    def add(self, other, scale=1):
        t = dict(self.terms)
        for k, (atom, c) in other.terms.items():
            old = t.get(k)
            nc = (old[1] if old else 0) + c * scale
            if nc == 0:
                t.pop(k, None)
            else:
                t[k] = (atom, nc)
        return Linear(t, self.const + other.const * scale)

    def scale(self, c):
        if c == 0:
            return Linear()
        return Linear({k: (a, v * c) for k, (a, v) in self.terms.items()}, self.const * c)


def _atom_key(e):
    return e  # Var hashes by identity, others structurally


def to_linear(e):
    if isinstance(e, Const):
        return Linear({}, int(e.value))
    if isinstance(e, BinOp) and e.op in ("+", "-", "*"):
        if e.op == "+":
            return to_linear(e.a).add(to_linear(e.b))
        if e.op == "-":
            return to_linear(e.a).add(to_linear(e.b), -1)
        if isinstance(e.b, Const):
            return to_linear(e.a).scale(int(e.b.value))
        if isinstance(e.a, Const):
            return to_linear(e.b).scale(int(e.a.value))
    return Linear({_atom_key(e): (e, 1)}, 0)


def from_linear(lin, dtype):
    pos, neg = [], []
    for atom, c in lin.terms.values():
        (pos if c > 0 else neg).append((atom, c))
    out = None
    for atom, c in pos:
        term = atom if c == 1 else BinOp("*", atom, _ic(c, dtype), dtype)
        out = term if out is None else BinOp("+", out, term, dtype)
    for atom, c in neg:
        term = atom if c == -1 else BinOp("*", atom, _ic(-c, dtype), dtype)
        out = BinOp("-", out if out is not None else _ic(0, dtype), term, dtype)
    if out is None:
        return _ic(lin.const, dtype)
    if lin.const > 0:
        out = BinOp("+", out, _ic(lin.const, dtype), dtype)
    elif lin.const < 0:
        out = BinOp("-", out, _ic(-lin.const, dtype), dtype)
    return out


def linear_coeff(e, var):
    """(coeff, rest) if e is linear in var with a constant coefficient, else None."""
    lin = to_linear(e)
    coeff = 0
    rest_terms = {}
    for k, (atom, c) in lin.terms.items():
        if atom is var:
            coeff = c
        else:
            if _uses(atom, var):
                return None
            rest_terms[k] = (atom, c)
    return coeff, Linear(rest_terms, lin.const)


def conjuncts(c):
    """The terms of a chain of `&&`, left to right (c itself when it is no `&&`)."""
    if isinstance(c, BinOp) and c.op == "&&":
        return conjuncts(c.a) + conjuncts(c.b)
    return [c]


def _uses(e, var):
    from ...lang.visitor import uses_var
    return uses_var(e, var)


# ----------------------------------------------------------------------------- simplifier

class Simplifier:
    """Simplifies expressions given constant ranges of variables (Var -> (lo, hi)).

    loops: Var -> (first, last) expressions for loop variables whose extent is symbolic
    (`for b in [0, B)`: b -> (0, B - 1)), so that `b < B` is decided.
    data=True: e is a value computed from data (wrapping integer arithmetic); the positions
    it loads from are simplified as indices (by `index`, or a Simplifier of the same ranges)."""

    def __init__(self, ranges=None, data=False, index=None, loops=None):
        self.ranges = dict(ranges or {})
        self.loops = dict(loops or {})
        self.memo = {}
        self.data = data
        self.index = (index or Simplifier(self.ranges, loops=self.loops)) if data else self

    def bounds(self, e):
        return const_bounds(e, self.ranges)

    def __call__(self, e):
        key = id(e)
        hit = self.memo.get(key)
        if hit is not None and hit[0] is e:
            return hit[1]
        out = self._simplify(e)
        self.memo[key] = (e, out)
        return out

    def _simplify(self, e):
        if isinstance(e, (Const, Var)):
            return e
        if self.data and isinstance(e, (BufferLoad, CheckedIndex)):
            return map_children(e, self.index)      # where data is read: index arithmetic
        e = map_children(e, self)
        t = type(e)
        if t is BinOp:
            return self._binop(e)
        if t is Cmp:
            return self._cmp(e)
        if t is Not:
            if is_const(e.a):
                return Const(not e.a.value, "bool")
            return e
        if t is Select:
            if is_const(e.cond) and dtypes.lanes(e.cond.dtype) == 1:
                return e.t if e.cond.value else e.f
            if e.t.same_as(e.f):
                return e.t
            return e
        if t is Cast:
            if is_const(e.value) and dtypes.lanes(e.dtype) == 1:
                return _fold_cast(e)
            if e.value.dtype == e.dtype:
                return e.value
            return e
        return e

    def _binop(self, e):
        op, a, b, dt = e.op, e.a, e.b, e.dtype
        if dtypes.lanes(dt) != 1:
            return e
        if op in ("&&", "||"):
            return _logic(op, a, b)
        if dtypes.is_int(dt):
            exact = not self.data or (self._exact(a) and self._exact(b))
            if op in ("+", "-", "*"):
                lin = _fold_divmod(to_linear(e))
                if exact and self.data:
                    exact = self._exact(e)          # and the sum/product itself fits
                return from_linear(lin, dt) if exact else _from_wrapped_linear(lin, dt)
            if op in ("//", "tdiv", "%", "tmod") and is_const(b) and b.value > 0 and exact:
                return self._divmod(op, a, b.value, dt)
            if op in ("//", "%", "tdiv", "tmod") and is_const(a) and is_const(b) and b.value != 0:
                return _ic(_wrap(_int_fold(op, a.value, b.value), dt), dt)
            if op in ("min", "max"):
                if is_const(a) and is_const(b):
                    return _ic(min(a.value, b.value) if op == "min" else max(a.value, b.value), dt)
                if not exact:
                    return e
                la, ha = self.bounds(a)
                lb, hb = self.bounds(b)
                if op == "min":
                    if ha <= lb:
                        return a
                    if hb <= la:
                        return b
                else:
                    if la >= hb:
                        return a
                    if lb >= ha:
                        return b
                fd = _floordiv_order(a, b)
                if fd is not None:
                    return (a if fd <= 0 else b) if op == "min" else (b if fd <= 0 else a)
                d = self.bounds(from_linear(to_linear(a).add(to_linear(b), -1), dt))
                if d[1] <= 0:
                    return a if op == "min" else b
                if d[0] >= 0:
                    return b if op == "min" else a
            return e
        if dtypes.is_float(dt):
            if op == "*" and (is_const(b, 1.0)):
                return a
            if op == "*" and (is_const(a, 1.0)):
                return b
            # x + (-0.0) is x for every x; x + (+0.0) is not (-0.0 + 0.0 = +0.0)
            if op == "+" and _negative_zero(b):
                return a
            if op == "+" and _negative_zero(a):
                return b
            if op == "-" and is_const(b, 0.0) and not _negative_zero(b):
                return a
        return e

    def _exact(self, e):
        """No + - * or narrowing cast in e can leave its dtype, for any values in the ranges
        (a loaded value being any value of its dtype): e's C value is its exact value."""
        t = type(e)
        if t is Const or t is Var:
            return True
        if t is BinOp and e.op in ("+", "-", "*") and dtypes.is_int(e.dtype):
            if not _inside(const_bounds(e, self.ranges, _dtype_range), e.dtype):
                return False
        elif t is Cast and dtypes.is_int(e.dtype) and dtypes.is_int(e.value.dtype):
            if not _inside(const_bounds(e.value, self.ranges, _dtype_range), e.dtype):
                return False
        elif t in (BufferLoad, CheckedIndex, VarLoad):
            return True                       # a value of its dtype (positions: indices)
        return all(self._exact(c) for c in _child_exprs(e))

    def _divmod(self, op, a, c, dt):
        if c == 1:
            return a if op in ("//", "tdiv") else _ic(0, dt)
        lin = to_linear(a)
        q_terms, r_terms = _split_terms(lin.terms, c)
        qc, rc = divmod(lin.const, c)
        q = Linear(q_terms, qc)
        r = Linear(r_terms, rc)
        r_expr = from_linear(r, dt)
        lo, hi = self.bounds(r_expr)
        floor_op = op in ("//", "%")
        if lo >= 0 and hi < c:
            return from_linear(q, dt) if op in ("//", "tdiv") else r_expr
        if floor_op and r_terms:
            common = self._common_factor_divmod(op, q, r, c, dt)
            if common is not None:
                return common
        if not floor_op and lo < 0:
            return BinOp(op, a, _ic(c, dt), dt)       # truncating: don't split
        if op in ("//", "tdiv"):
            nop = "tdiv" if lo >= 0 else "//"
            div = BinOp(nop, r_expr, _ic(c, dt), dt)
            if not q.terms and q.const == 0:
                return div
            return from_linear(q.add(Linear({_atom_key(div): (div, 1)}, 0)), dt)
        nop = "tmod" if lo >= 0 else "%"
        return BinOp(nop, r_expr, _ic(c, dt), dt)

    def _common_factor_divmod(self, op, q, r, c, dt):
        """(g*X + s) // (g*k) = X // k and (g*X + s) % (g*k) = g*(X % k) + s where g divides
        c and 0 <= s < g: the part s of r whose coefficients g does not divide stays within
        one step of g (a channel block's lane in its group: (16*b + lane) // 80 = b // 5),
        or None. The largest such g is taken."""
        for g in range(c // 2, 1, -1):
            if c % g:
                continue
            x_terms, s_terms = _split_terms(r.terms, g)
            if not x_terms:
                continue
            xc, sc = divmod(r.const, g)
            s_expr = from_linear(Linear(s_terms, sc), dt)
            lo, hi = self.bounds(s_expr)
            if lo < 0 or hi >= g:
                continue
            x_expr = from_linear(Linear(x_terms, xc), dt)
            k = c // g
            if op == "//":
                inner = BinOp("//", x_expr, _ic(k, dt), dt)
                return from_linear(q.add(Linear({_atom_key(inner): (inner, 1)}, 0)), dt)
            inner = BinOp("%", x_expr, _ic(k, dt), dt)
            return from_linear(Linear({_atom_key(inner): (inner, g)}, 0).add(
                to_linear(s_expr)), dt)
        return None

    def _cmp(self, e):
        a, b = e.a, e.b
        if dtypes.lanes(e.dtype) != 1:
            return e
        if is_const(a) and is_const(b):
            return Const(_cmp_fold(e.op, a.value, b.value), "bool")
        if not dtypes.is_int(a.dtype):
            return e
        if self.data and not (self._exact(a) and self._exact(b)):
            return e
        d = from_linear(to_linear(a).add(to_linear(b), -1), a.dtype)
        lo, hi = self.bounds(d)
        op = e.op
        res = None
        if op == "<":
            res = True if hi < 0 else False if lo >= 0 else None
        elif op == "<=":
            res = True if hi <= 0 else False if lo > 0 else None
        elif op == ">":
            res = True if lo > 0 else False if hi <= 0 else None
        elif op == ">=":
            res = True if lo >= 0 else False if hi < 0 else None
        elif op == "==":
            res = True if lo == hi == 0 else False if (lo > 0 or hi < 0) else None
        elif op == "!=":
            res = False if lo == hi == 0 else True if (lo > 0 or hi < 0) else None
        if res is None and (lo == -INF or hi == INF):
            res = self._symbolic_cmp(op, d)
        if res is None and self.loops and (lo == -INF or hi == INF or any(
                isinstance(n, Var) and n in self.loops for n in walk(d))):
            # (a loop of symbolic extent whose range a size class bounds: Schedule.specialize)
            res = self._loop_cmp(op, d)
        if res is None:
            res = self._min_max_cmp(e)
        if res is not None:
            return Const(res, "bool")
        return e

    def _min_max_cmp(self, e):
        """min(x, y) < b holds if x < b or y < b does, min(x, y) >= b if both do (max the
        other way round): a clamped index min(i, n - 1) proven below n."""
        a = e.a
        if not (isinstance(a, BinOp) and a.op in ("min", "max")) or \
                e.op not in ("<", "<=", ">", ">="):
            return None
        held = [self._cmp(Cmp(e.op, x, e.b, "bool")) for x in (a.a, a.b)]
        held = [isinstance(h, Const) and h.value is True for h in held]
        if (a.op == "min") == (e.op in ("<", "<=")):
            return True if any(held) else None
        return True if all(held) else None

    def _loop_cmp(self, op, d):
        """Decide d <op> 0 from the extreme values of d over the loops it is linear in: the
        loop variables replaced by their first or last value (by the sign of their
        coefficient), then _symbolic_cmp on each extreme."""
        res = self._loop_cmp_with(op, d, False)
        if res is None and self._bounded_shape_vars(d):
            # shape variables a size class bounds, kept symbolic: tied to the floors of
            # the same variable ((S + 7) // 8 * 8 - S), which their bounds alone lose
            res = self._loop_cmp_with(op, d, True)
        return res

    def _bounded_shape_vars(self, d):
        """Does d, or the first or last value of a loop in d, involve a variable of finite
        range that is no loop's (a shape variable a size class bounds)?"""
        exprs = [d] + [b for n in walk(d) if isinstance(n, Var) and n in self.loops
                       for b in self.loops[n]]
        return any(isinstance(n, Var) and n not in self.loops and
                   self.ranges.get(n, (0, INF))[1] != INF for e in exprs for n in walk(e))

    def _bounded_cmp(self, op, d):
        """_symbolic_cmp of d over bounded shape variables, after their constant bounds."""
        lo, hi = self.bounds(d)
        if lo == hi:
            return _cmp_fold(op, lo, 0)
        if op in ("<", "<=") and _cmp_fold(op, hi, 0) or op in (">", ">=") and \
                _cmp_fold(op, lo, 0):
            return True
        return self._symbolic_cmp(op, d, bounded=True)

    def _loop_cmp_with(self, op, d, keep_bounded):
        cmp = self._bounded_cmp if keep_bounded else self._symbolic_cmp
        his, los = self._extremes(d, 1, keep_bounded), self._extremes(d, -1, keep_bounded)
        if his is None or los is None:
            return None
        if op in ("<", "<="):                      # d <op> 0 holds if its maximum does
            if cmp(op, his):
                return True
            return False if cmp(op, los) is False else None
        if op in (">", ">="):                      # ... if its minimum does
            if cmp(op, los):
                return True
            return False if cmp(op, his) is False else None
        if op == "!=" and (cmp("<", his) or cmp(">", los)):
            return True
        if op == "==" and (cmp("<", his) or cmp(">", los)):
            return False
        return None

    def _extremes(self, d, sense, keep_bounded=False):
        """d with the loop variables replaced by the values that make it largest (sense 1) or
        smallest (-1): first the innermost loop's variable by its first or last value (which
        may be in outer loops' variables), and so on outwards; then variables of constant
        range by their bounds (keep_bounded: not those that are no loop's: shape variables,
        left to sign_of). None if d is not linear in the loop variables."""
        lin = to_linear(d)
        for v in reversed(self.loops):                     # innermost first
            c = next((c for atom, c in lin.terms.values() if atom is v), 0)
            if c:
                rest = lin.add(Linear({_atom_key(v): (v, c)}, 0), -1)
                lin = rest.add(to_linear(self.loops[v][0 if c * sense < 0 else 1]), c)
        out = Linear({}, lin.const)
        for k, (atom, c) in lin.terms.items():
            if isinstance(atom, Var) and atom in self.ranges and self.ranges[atom][1] != INF \
                    and not (keep_bounded and atom not in self.loops):
                out = out.add(Linear({}, self.ranges[atom][0 if c * sense < 0 else 1]), c)
            elif any(isinstance(n, Var) and n in self.loops for n in walk(atom)):
                return None
            else:
                out = out.add(Linear({k: (atom, c)}, 0))
        return from_linear(out, d.dtype)

    def _symbolic_cmp(self, op, d, bounded=False):
        """Decide d <op> 0 with sympy when d only involves symbolic extents (bounded: also
        extents a size class bounds above; what holds for every value holds for those)."""
        if is_const(d):
            return _cmp_fold(op, d.value, 0)
        for n in walk(d):
            if isinstance(n, Var) and (n not in self.ranges or self.ranges[n][0] < 0 or
                                       (self.ranges[n][1] != INF and not bounded)):
                return None
            if not isinstance(n, (Var, Const, BinOp)):
                return None
        if not any(isinstance(n, Var) for n in walk(d)):
            return None
        from .symbolic import sign_of
        sg = sign_of(d)
        if sg is None:
            return None
        table = {"<": {"neg": True, "nonneg": False, "pos": False, "zero": False},
                 "<=": {"neg": True, "nonpos": True, "pos": False, "zero": True},
                 ">": {"pos": True, "nonpos": False, "neg": False, "zero": False},
                 ">=": {"pos": True, "nonneg": True, "neg": False, "zero": True},
                 "==": {"zero": True, "pos": False, "neg": False},
                 "!=": {"zero": False, "pos": True, "neg": True}}
        return table.get(op, {}).get(sg)


def _negative_zero(e):
    return is_const(e, 0.0) and math.copysign(1.0, e.value) < 0


def _wrap(v, dt):
    """v modulo 2**bits of integer dtype dt, in dt's range."""
    bits = dtypes.bits(dt)
    v %= 1 << bits
    if not dt.startswith("u") and v >= 1 << (bits - 1):
        v -= 1 << bits
    return v


def _range(dt):
    bits = dtypes.bits(dt)
    if dt.startswith("u"):
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _dtype_range(e):
    """Bounds of a value nothing else bounds: any value of its (integer) dtype."""
    if dtypes.is_int(e.dtype) and dtypes.lanes(e.dtype) == 1:
        return _range(e.dtype)
    return (-INF, INF)


def _inside(r, dt):
    lo, hi = _range(dt)
    return lo <= r[0] and r[1] <= hi


def _child_exprs(e):
    out = []
    for name in e._children:
        v = getattr(e, name)
        for c in (v if isinstance(v, tuple) else (v,)):
            if isinstance(c, Expr):
                out.append(c)
    return out


def _from_wrapped_linear(lin, dt):
    """from_linear for wrapping arithmetic: coefficients and constant taken modulo 2**bits
    (in dt's range, so every constant fits dt; a negative one is added as it is)."""
    terms = {}
    for k, (atom, c) in lin.terms.items():
        c = _wrap(c, dt)
        if c:
            terms[k] = (atom, c)
    lin = Linear(terms, _wrap(lin.const, dt))
    low = not dt.startswith("u") and -(1 << (dtypes.bits(dt) - 1))
    if lin.const == low or any(c == low for _, c in lin.terms.values()):
        out = None                      # -(dt's minimum) does not fit dt: no subtraction
        for atom, c in lin.terms.values():
            term = atom if c == 1 else BinOp("*", atom, _ic(c, dt), dt)
            out = term if out is None else BinOp("+", out, term, dt)
        if lin.const or out is None:
            out = _ic(lin.const, dt) if out is None else BinOp("+", out, _ic(lin.const, dt), dt)
        return out
    return from_linear(lin, dt)


#: the division that leaves each remainder: a = (a div c) * c + a mod c for every a and c != 0
#: (floor: a % c has c's sign; truncating: a's), not for a floor quotient and a truncated
#: remainder (-1 // 4 * 4 + tmod(-1, 4) = -5)
_DIV_OF_MOD = {"%": "//", "tmod": "tdiv"}


def _fold_divmod(lin):
    """(a // c) * c * k + (a % c) * k  ->  a * k (and so for tdiv / tmod; any a, c != 0)."""
    mods = [(k, atom, c) for k, (atom, c) in lin.terms.items()
            if isinstance(atom, BinOp) and atom.op in _DIV_OF_MOD and is_const(atom.b)
            and atom.b.value != 0]
    for key, atom, coef in mods:
        c = atom.b.value
        for k2, (atom2, coef2) in list(lin.terms.items()):
            if (isinstance(atom2, BinOp) and atom2.op == _DIV_OF_MOD[atom.op]
                    and is_const(atom2.b, c)
                    and atom2.a.same_as(atom.a) and coef2 == coef * c and key in lin.terms):
                t = dict(lin.terms)
                del t[key], t[k2]
                lin = Linear(t, lin.const).add(to_linear(atom.a).scale(coef))
                break
    return _fold_symbolic_divmod(lin)


def _fold_symbolic_divmod(lin):
    """(a // w) * w * k + (a % w) * k  ->  a * k for a divisor w that is not a constant (a
    run over a plane of symbolic width fused into one index: flatten's offset of
    `X[.., a // w, a % w]`); floor division only."""
    mods = [(k, atom, c) for k, (atom, c) in lin.terms.items()
            if isinstance(atom, BinOp) and atom.op == "%" and not is_const(atom.b)]
    for key, atom, coef in mods:
        for k2, (atom2, coef2) in list(lin.terms.items()):
            if coef2 != coef or key not in lin.terms or not (
                    isinstance(atom2, BinOp) and atom2.op == "*"):
                continue
            for q, w in ((atom2.a, atom2.b), (atom2.b, atom2.a)):
                if (w.same_as(atom.b) and isinstance(q, BinOp) and q.op == "//"
                        and q.b.same_as(atom.b) and q.a.same_as(atom.a)):
                    t = dict(lin.terms)
                    del t[key], t[k2]
                    lin = Linear(t, lin.const).add(to_linear(atom.a).scale(coef))
                    break
    return lin


def _split_terms(terms, c):
    """A linear form's terms split into those whose coefficients c divides (divided by c)
    and the others (as they are)."""
    whole, rest = {}, {}
    for k, (atom, coef) in terms.items():
        if coef % c == 0:
            whole[k] = (atom, coef // c)
        else:
            rest[k] = (atom, coef)
    return whole, rest


def _floordiv_order(a, b):
    """For a = x//c, b = y//c with x - y constant: -1/0 if a <= b, 1 if a >= b, else None."""
    if (isinstance(a, BinOp) and isinstance(b, BinOp) and a.op in ("//", "tdiv")
            and b.op == a.op and is_const(a.b) and a.b.same_as(b.b)):
        d = to_linear(a.a).add(to_linear(b.a), -1)
        if not d.terms:
            return -1 if d.const <= 0 else 1
    return None


def _logic(op, a, b):
    if op == "&&":
        if is_const(a):
            return b if a.value else a
        if is_const(b):
            return a if b.value else b
    else:
        if is_const(a):
            return a if a.value else b
        if is_const(b):
            return b if b.value else a
    return BinOp(op, a, b, a.dtype)


def _int_fold(op, x, y):
    if op in ("//",):
        return x // y
    if op == "%":
        return x % y
    q = abs(x) // abs(y) * (1 if (x >= 0) == (y >= 0) else -1)
    return q if op == "tdiv" else x - q * y


def _cmp_fold(op, x, y):
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y, "==": x == y, "!=": x != y}[op]


def _fold_cast(e):
    import numpy as np
    v = e.value.value
    dt = e.dtype
    if dtypes.is_float(dt):
        return Const(float(np.array(v).astype(dt)), dt)
    if dt == "bool":
        return Const(bool(v), dt)
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return e
    info = np.iinfo(dt)
    iv = int(v)
    if info.min <= iv <= info.max:
        return Const(iv, dt)
    return e


def simplify(e, ranges=None):
    return Simplifier(ranges)(e)


# ----------------------------------------------------------------------------- symbolic intervals

def interval(e, relax):
    """Symbolic [lo, hi] of e when the vars in `relax` (Var -> (lo, hi) Exprs) range freely.

    Returns None if the shape of e defeats the analysis (caller falls back to a full domain).
    """
    if not any(isinstance(n, Var) and n in relax for n in walk(e)):
        return (e, e)
    t = type(e)
    if t is Var:
        return relax[e]
    if t is BinOp:
        op = e.op
        if op in ("+", "-", "*") and dtypes.is_int(e.dtype):
            # (j // c) * c + j % c is j: its interval is j's, not the box of the two terms'
            lin = to_linear(e)
            folded = _fold_divmod(lin)
            if folded is not lin:
                return interval(from_linear(folded, e.dtype), relax)
        if op in ("+", "-", "min", "max"):
            a, b = interval(e.a, relax), interval(e.b, relax)
            if a is None or b is None:
                return None
            if op == "+":
                return (a[0] + b[0], a[1] + b[1])
            if op == "-":
                return (a[0] - b[1], a[1] - b[0])
            mk = (lambda x, y: BinOp(op, x, y, e.dtype))
            return (mk(a[0], b[0]), mk(a[1], b[1]))
        if op == "*":
            if isinstance(e.b, Const) or isinstance(e.a, Const):
                c, x = (e.b.value, e.a) if isinstance(e.b, Const) else (e.a.value, e.b)
                r = interval(x, relax)
                if r is None:
                    return None
                return (r[0] * c, r[1] * c) if c >= 0 else (r[1] * c, r[0] * c)
            return None
        if op in ("//", "tdiv") and isinstance(e.b, Const) and e.b.value > 0:
            r = interval(e.a, relax)
            if r is None:
                return None
            return (r[0] // e.b.value, r[1] // e.b.value)
        if op in ("%", "tmod") and isinstance(e.b, Const) and e.b.value > 0:
            return (_ic(0, e.dtype), _ic(e.b.value - 1, e.dtype))
        return None
    if t is Cast:
        r = interval(e.value, relax)
        return None if r is None else (Cast(r[0], e.dtype), Cast(r[1], e.dtype))
    if t is Select:
        a, b = interval(e.t, relax), interval(e.f, relax)
        if a is None or b is None:
            return None
        return (BinOp("min", a[0], b[0], e.dtype), BinOp("max", a[1], b[1], e.dtype))
    return None
