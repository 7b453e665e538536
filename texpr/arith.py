"""TVM's tvm.arith.Analyzer over texpr's index arithmetic (lower/analysis/arith.py): the
simplifier the lowering uses, with the ranges of variables the caller binds."""
import math
import numbers

from .errors import TexprError
from .lang.expr import Const, Expr, Var, convert
from .lang.tensor import Range
from .lower.analysis.arith import Simplifier, const_bounds


class ConstIntBound:
    """The constant bounds of an integer expression; an unbounded side is POS_INF / NEG_INF
    (TVM's sentinels)."""
    POS_INF = 2 ** 63 - 1
    NEG_INF = -POS_INF

    def __init__(self, min_value, max_value):
        self.min_value = min_value
        self.max_value = max_value

    def __repr__(self):
        return f"ConstIntBound(min_value={self.min_value}, max_value={self.max_value})"


class Analyzer:
    """simplify / canonical_simplify an expression and bound it, knowing the ranges bound
    with bind(var, Range or value)."""

    def __init__(self):
        self._ranges = {}
        self._values = {}

    def bind(self, var, value):
        """var ranges over a Range (te Range or its constant bounds), or equals a value."""
        if not isinstance(var, Var):
            raise TexprError(f"Analyzer.bind: expected a variable, got {var!r}")
        if isinstance(value, Range):
            lo, ext = value.min, value.extent
            if not (isinstance(lo, Const) and isinstance(ext, Const)):
                raise TexprError(f"Analyzer.bind: the range of {var.name} must have constant "
                                 f"bounds, got {value}")
            self._ranges[var] = (lo.value, lo.value + ext.value - 1)
        else:
            self._values[var] = convert(value, var.dtype) \
                if isinstance(value, numbers.Number) else value

    update = bind

    def simplify(self, expr, steps=2):
        e = _expr(expr)
        if self._values:
            from .lang.visitor import substitute
            e = substitute(e, self._values)
        return Simplifier(self._ranges)(e)

    canonical_simplify = rewrite_simplify = simplify

    def const_int_bound(self, expr):
        lo, hi = const_bounds(self.simplify(expr), self._ranges)
        return ConstIntBound(ConstIntBound.NEG_INF if lo == -math.inf else int(lo),
                             ConstIntBound.POS_INF if hi == math.inf else int(hi))


def _expr(v):
    if isinstance(v, Expr):
        return v
    if isinstance(v, numbers.Number):
        return convert(v)
    raise TexprError(f"Analyzer: expected an expression, got {v!r}")
