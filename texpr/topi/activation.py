"""Activations beyond relu: gelu (torch.nn.functional.gelu's two forms). Elementwise ("elemwise"
tag): inlined into the stage that consumes them, fused as the epilogue of dense and conv.

float32 gelu (erf form) computes erf as a rational function, ERF_P / ERF_Q below, fitted by
texpr for this (iteratively reweighted linearised least squares on Chebyshev nodes, in float64,
minimising the absolute error on [0, 4]; beyond 4 erf rounds to +-1 in float32):
`erf(y) = y P(y^2) / Q(y^2)` for `|y| <= 4`, clamped to [-1, 1]. No exp, one division, short
dependency chains: 2x torch's GELU on one AVX2 core, where texpr's accurate vector erf (2 ULP)
is 0.6x (its exp and two polynomials make one long chain per vector).
Stated accuracy (tests/topi/test_rows.py checks it): `|gelu(x) - exact| <= 2.5e-7 |x|` for every
x, within 4 ULP for x >= 0; like every 0.5 x (1 + erf) form, the relative error grows where
1 + erf cancels (x < -1: 4e-6 relative at x = -2, torch's form does the same).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import math

from ..errors import TexprError
from ..lang import dtypes
from ..lang.expr import Const, elementwise_max, elementwise_min, erf, tanh
from ..lang.tensor import compute

if TYPE_CHECKING:
    from ..lang.expr import Expr
    from ..lang.tensor import Tensor

#: erf(y) ~ y * P(y^2) / Q(y^2) on [-4, 4] (float32 coefficients, lowest degree first)
ERF_P = (1.128379225730896, 0.18471188843250275, 0.0543329156935215, 0.003839610144495964,
         0.00038269857759587467, 4.780654307978693e-06, -1.3667422749108482e-08)
ERF_Q = (1.0, 0.49703019857406616, 0.11382704973220825, 0.015453695319592953,
         0.0013096046168357134, 6.401044083759189e-05)


def _horner(s, coefs, c):
    p = c(coefs[-1])
    for k in coefs[-2::-1]:
        p = p * s + c(k)
    return p


def erf_rational(y: Expr) -> Expr:
    """erf of a float32 expression by ERF_P / ERF_Q (absolute error <= 3e-7).

    >>> import texpr as te
    >>> from texpr.topi.activation import erf_rational
    >>> x = te.placeholder((4,), name="x")
    >>> te.compute((4,), lambda i: erf_rational(x[i]), name="erf").dtype
    'float32'
    """
    def c(v):
        return Const(v, "float32")
    y = elementwise_min(elementwise_max(y, c(-4.0)), c(4.0))
    s = y * y
    r = y * _horner(s, ERF_P, c) / _horner(s, ERF_Q, c)
    return elementwise_min(elementwise_max(r, c(-1.0)), c(1.0))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x): approximate="none" with erf, 0.5 x (1 + erf(x / sqrt 2)); "tanh" with
    0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((2, 8), name="x")
    >>> topi.activation.gelu(x).shape, topi.activation.gelu(x, approximate="tanh").shape
    ((2, 8), (2, 8))
    """
    if not dtypes.is_float(x.dtype):
        raise TexprError(f"gelu: {x.name} must be a float tensor, got {x.dtype}")
    dt = x.dtype

    def c(v):
        return Const(v, dt)
    if approximate == "none":
        erf_of = erf_rational if dt == "float32" else erf

        def f(v):
            return c(0.5) * v * (c(1.0) + erf_of(v * c(math.sqrt(0.5))))
    elif approximate == "tanh":
        def f(v):
            return c(0.5) * v * (c(1.0) + tanh(c(math.sqrt(2.0 / math.pi)) *
                                               (v + c(0.044715) * v * v * v)))
    else:
        raise TexprError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return compute(x.shape, lambda *i: f(x[i]), name="gelu", tag="elemwise")
