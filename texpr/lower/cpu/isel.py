"""Instruction selection: arithmetic patterns a target executes as one instruction become one
node, once, before emission (the emitters only translate nodes, through their tables).

What is selected follows the target record's features (texpr/target.py):

- ``fma`` (a*b + c, c + a*b), ``fmsub`` (a*b - c, x86), ``fnmadd`` (c - a*b, NEON): float
  vector multiply-adds become FusedMulAdd (none where the target's fp_contract is False);
- ``widening_mul``: an integer vector product of two widened half-width vectors becomes
  WideningMul (NEON vmull/vmlal, HVX vmpy);
- ``saturating``: a narrowing cast of a value clamped to the narrow range becomes
  SaturatingNarrow (HVX vpack:sat, vadd:sat).

A selected node keeps the expression it replaced (`original`); an emitter without the
instruction for that dtype emits the original, so selection never changes what is computed.
"""
from ...lang import dtypes
from ...lang.expr import BinOp, Cast, Expr
from ...lang.ir import FusedMulAdd, SaturatingNarrow, WideningMul
from ...lang.visitor import StmtMutator, map_children
from ..analysis.patterns import fma_form, saturating_narrow, widened_factors

FMA_FORMS = {"fma": ("ab+c", "c+ab"), "fmsub": ("ab-c",), "fnmadd": ("c-ab",)}
SELECTING = frozenset({"fma", "fmsub", "fnmadd", "widening_mul", "saturating"})


def select_instructions(stmt, target):
    """stmt with the patterns `target` has instructions for replaced by selected nodes."""
    if not (target.features & SELECTING):
        return stmt
    return _Select(target).visit(stmt)


class _Select(StmtMutator):
    """Statements through the Mutator; the expressions in them through `expr`, a tight
    post-order rewrite that skips scalar subtrees (a scalar holds no vector) and visits a
    shared subtree once."""

    def __init__(self, target):
        # fp_contract=False: every float product and sum rounded on its own (NumPy's rounding)
        self.fma_forms = tuple(f for feat, forms in FMA_FORMS.items() if target.has(feat)
                               for f in forms) if target.fp_contract else ()
        self.widening = target.has("widening_mul")
        self.saturating = target.has("saturating")
        self.memo = {}          # id(expression) -> (expression, result)

    def generic_visit(self, node):
        return map_children(node, self.child)

    def child(self, x):
        return self.expr(x) if isinstance(x, Expr) else self.visit(x)

    def expr(self, e):
        if dtypes.lanes(e.dtype) == 1:
            return e
        hit = self.memo.get(id(e))
        if hit is not None and hit[0] is e:
            return hit[1]
        out = self.select(map_children(e, self.expr))
        self.memo[id(e)] = (e, out)
        return out

    def select(self, e):
        """The selected node replacing e (its children already selected), else e."""
        t = type(e)
        if t is BinOp:
            if self.fma_forms and dtypes.is_float(e.dtype):
                found = fma_form(e, self.fma_forms)
                if found is not None:
                    a, b, c, form = found
                    return FusedMulAdd(a, b, c, form, e.dtype, e)
            if self.widening and e.op == "*":
                factors = widened_factors(e)
                if factors is not None:
                    return WideningMul(factors[0], factors[1], e.dtype, e)
        elif t is Cast and self.saturating:
            x = saturating_narrow(e)
            if x is not None:
                return SaturatingNarrow(x, e.dtype, e)
        return e
