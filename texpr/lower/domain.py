"""Ranges of a stage's original axes covered by given ranges of its loop axes.

Bound inference asks: while the loops outside an attach point stay fixed and the loops inside
it run, which indices of each original axis does a stage visit? Going up through the split
and fuse relations (TVM's PassUpDomain) answers that tightly. Relaxing the leaf variables in
the index expressions instead loses the alignment a split gives: one iteration of the outer
part of a fused-then-split axis covers one row of the fused pair, which `(fo*3 + fi) // 6`
over fi in [0, 2] does not show.
"""
from math import gcd

from ..lang.expr import BinOp, Const
from ..schedule.relations import Singleton, Split
from .analysis.arith import simplify


def pass_up(stage, ranges, extents):
    """ranges: id(leaf IterVar) -> (lo, hi) Exprs (inclusive); extents: id(IterVar) -> loop
    extent. Returns the ranges of every axis of the stage, its original ones included."""
    out = dict(ranges)
    for rel in reversed(stage.relations):
        if isinstance(rel, Split):
            f = extents[id(rel.inner)]
            (olo, ohi), (ilo, ihi) = out[id(rel.outer)], out[id(rel.inner)]
            out[id(rel.parent)] = (simplify(olo * f + ilo), simplify(ohi * f + ihi))
        elif isinstance(rel, Singleton):
            continue                 # a unit loop derived from no axis: nothing above it
        else:
            out[id(rel.outer)], out[id(rel.inner)] = _unfuse(out[id(rel.fused)],
                                                             extents[id(rel.inner)])
    return out


def _unfuse(fused, inner_ext):
    """Ranges of (outer, inner) when the fused axis (outer * inner_ext + inner) covers `fused`."""
    lo, hi = fused
    n = simplify(hi - lo + 1)
    if isinstance(n, Const) and n.value == 1:
        return (simplify(lo // inner_ext),) * 2, (simplify(lo % inner_ext),) * 2
    whole_inner = (Const(0, "int32"), simplify(inner_ext - 1))
    if isinstance(n, Const) and isinstance(inner_ext, Const):
        n, ie, m = n.value, inner_ext.value, known_multiple(lo)
        if ie % n == 0 and m % n == 0:          # a piece of one row: lo .. lo + n - 1
            row, col = simplify(lo // inner_ext), simplify(lo % inner_ext)
            return (row, row), (col, simplify(col + (n - 1)))
        if n % ie == 0 and m % ie == 0:          # whole rows
            row = simplify(lo // inner_ext)
            return (row, simplify(row + (n // ie - 1))), whole_inner
        # n consecutive elements touch at most this many rows: a constant count of rows
        # keeps the region's extent constant (hi // ie - lo // ie is not)
        row = simplify(lo // inner_ext)
        return (row, simplify(row + (ie + n - 2) // ie)), whole_inner
    return (simplify(lo // inner_ext), simplify(hi // inner_ext)), whole_inner


def known_multiple(e):
    """A positive int that e is known to be a multiple of (0 for the constant 0)."""
    if isinstance(e, Const):
        return abs(int(e.value))
    if isinstance(e, BinOp):
        if e.op == "*":
            for c, x in ((e.a, e.b), (e.b, e.a)):
                if isinstance(c, Const):
                    return abs(int(c.value)) * known_multiple(x)
            return known_multiple(e.a) * known_multiple(e.b)
        if e.op in ("+", "-"):
            return gcd(known_multiple(e.a), known_multiple(e.b))
    return 1
