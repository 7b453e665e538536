"""Scaled dot-product attention: softmax(scale * q k^T [+ causal mask]) v, per batch and head.

The stages are laid out for the CPU schedule (topi/cpu_attention.py): the scores are held
transposed, [B, H, T, S] (key position j, then query position i), so that

- the row softmax of a query i is a reduction over j down a column: max, exp and sum are
  vectorized along the query positions, which are contiguous, with no cross-lane reduction;
- q k^T is a GEMM whose second operand is a small transposed copy of a block of queries
  (not a transposed copy of all the keys), and e v reads v as it lies.

Stages (tags): attention_scores -> attention_max -> attention_exp -> attention_sum,
attention_pv -> attention (the output, pv / sum). The scale is applied inside max and exp
(one fused multiply-add), so any sign of scale is right; the causal mask is a -inf added
to the hidden scores in max, a factor 0 in exp.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import math
import numbers

from ..errors import TexprError
from ..lang.expr import Const, exp, if_then_else, min_value
from ..lang.reduction import max as te_max, sum as te_sum
from ..lang.tensor import compute, reduce_axis
from .util import check_ndim, shape_str

if TYPE_CHECKING:
    from ..lang.expr import Expr
    from ..lang.tensor import Tensor

SCORES_TAG = "attention_scores"
MAX_TAG = "attention_max"
EXP_TAG = "attention_exp"
SUM_TAG = "attention_sum"
PV_TAG = "attention_pv"
OUTPUT_TAG = "attention"
INNER_TAGS = (SCORES_TAG, MAX_TAG, EXP_TAG, SUM_TAG, PV_TAG)


def _same(a, b):
    """False only when both extents are constants that differ (symbolic ones are checked by
    the call)."""
    return not (isinstance(a, Const) and isinstance(b, Const) and a.value != b.value)


def _check(q, k, v):
    for t in (q, k, v):
        check_ndim(t, 4, "attention", "[batch, heads, seq, head_dim]")
    shapes = f"q {shape_str(q)}, k {shape_str(k)}, v {shape_str(v)}"
    for d, what in ((0, "batch"), (1, "heads")):
        if not (_same(q.shape[d], k.shape[d]) and _same(q.shape[d], v.shape[d])):
            raise TexprError(f"attention: q, k and v must have the same {what} (dimension {d}); "
                             f"got {shapes}")
    if not _same(q.shape[3], k.shape[3]):
        raise TexprError(f"attention: q and k must have the same head_dim (dimension 3); "
                         f"got {shapes}")
    if not _same(k.shape[2], v.shape[2]):
        raise TexprError(f"attention: k and v must have the same sequence length (dimension 2); "
                         f"got {shapes}")
    for t in (q, k, v):
        if t.dtype != q.dtype or not t.dtype.startswith("float"):
            raise TexprError(f"attention: q, k and v must have one float dtype; got q {q.dtype}, "
                             f"k {k.dtype}, v {v.dtype}")


def _scale(scale, head_dim):
    if scale is None:
        if not isinstance(head_dim, Const):
            raise TexprError("attention: scale=None needs a constant head_dim (1/sqrt(head_dim)); "
                             f"got {head_dim}; pass scale=")
        return 1.0 / math.sqrt(head_dim.value)
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not math.isfinite(scale):
        raise TexprError(f"attention: scale must be a finite number or None, got {scale!r}")
    return float(scale)


def softmax_exp(x: Expr) -> Expr:
    """exp of a softmax's x - max <= 0: texpr's fast float32 exp (2 ULP instead of 1; torch's
    attention uses a coarser one), 5% of the whole op at seq 384; other dtypes: exp.

    >>> import texpr as te
    >>> from texpr.topi.attention import softmax_exp
    >>> x = te.placeholder((8,), name="x")
    >>> te.compute((8,), lambda i: softmax_exp(x[i] - 4.0), name="e").dtype
    'float32'
    """
    return exp(x, fast=True)


def attention(q: Tensor, k: Tensor, v: Tensor, causal: bool = False,
              scale: float | None = None) -> Tensor:
    """out[b, h, i] = sum_j softmax_j(scale * q[b,h,i] . k[b,h,j]) v[b,h,j].

    q [B, H, S, D], k [B, H, T, D], v [B, H, T, Dv] -> [B, H, S, Dv]. causal: query i sees
    keys j <= i (torch's is_causal: the mask's top-left corner is (0, 0), also when S != T).
    scale defaults to 1/sqrt(D).

    >>> import texpr as te, texpr.topi as topi
    >>> q = te.placeholder((1, 2, 16, 8), name="q")          # [batch, heads, sequence, head dim]
    >>> k = te.placeholder((1, 2, 16, 8), name="k")
    >>> v = te.placeholder((1, 2, 16, 8), name="v")
    >>> topi.attention.attention(q, k, v, causal=True).shape
    (1, 2, 16, 8)
    """
    _check(q, k, v)
    B, H, S, D = q.shape
    T, Dv = k.shape[2], v.shape[3]
    c = Const(_scale(scale, D), q.dtype)
    dt = q.dtype
    d = reduce_axis((0, D), "d")
    scores = compute((B, H, T, S), lambda b, h, j, i: te_sum(k[b, h, j, d] * q[b, h, i, d], axis=d),
                     name="attention_scores", tag=SCORES_TAG)

    def visible(j, i):
        """1 where query i sees key j, else 0: a vector select of constants (no loads in
        its branches), computed for every lane."""
        return if_then_else(j <= i, Const(1.0, dt), Const(0.0, dt))

    def masked_max(x, j, i):
        """x, or -inf for a hidden key (x + (v - 1) * inf would make 0 * inf)."""
        if not causal:
            return x
        return x + if_then_else(j <= i, Const(0.0, dt), min_value(dt))

    jm = reduce_axis((0, T), "j")
    mx = compute((B, H, S), lambda b, h, i: te_max(masked_max(scores[b, h, jm, i] * c, jm, i),
                                                   axis=jm),
                 name="attention_max", tag=MAX_TAG)

    def fexp(b, h, j, i):
        x = scores[b, h, j, i] * c - mx[b, h, i]
        if not causal:
            return softmax_exp(x)
        # a hidden key gets exp(0) * 0: exp(-inf) would be as right, but its underflow
        # runs several times slower than the function's normal path
        m = visible(j, i)
        return softmax_exp(x * m) * m
    ex = compute((B, H, T, S), fexp, name="attention_exp", tag=EXP_TAG)
    js = reduce_axis((0, T), "j")
    sm = compute((B, H, S), lambda b, h, i: te_sum(ex[b, h, js, i], axis=js),
                 name="attention_sum", tag=SUM_TAG)
    jp = reduce_axis((0, T), "j")
    pv = compute((B, H, S, Dv), lambda b, h, i, e: te_sum(ex[b, h, jp, i] * v[b, h, jp, e], axis=jp),
                 name="attention_pv", tag=PV_TAG)
    return compute((B, H, S, Dv), lambda b, h, i, e: pv[b, h, i, e] / sm[b, h, i],
                   name="attention", tag=OUTPUT_TAG, attrs={"causal": bool(causal)})


scaled_dot_product_attention = attention
