"""Activations beyond relu: gelu (torch.nn.functional.gelu's two forms). Elementwise ("elemwise"
tag): inlined into the stage that consumes them, fused as the epilogue of dense and conv."""
import math

from ..errors import TexprError
from ..lang import dtypes
from ..lang.expr import Const, erf, tanh
from ..lang.tensor import compute


def gelu(x, approximate="none"):
    """x * Phi(x): approximate="none" with erf, 0.5 x (1 + erf(x / sqrt 2)); "tanh" with
    0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))."""
    if not dtypes.is_float(x.dtype):
        raise TexprError(f"gelu: {x.name} must be a float tensor, got {x.dtype}")
    dt = x.dtype

    def c(v):
        return Const(v, dt)
    if approximate == "none":
        def f(v):
            return c(0.5) * v * (c(1.0) + erf(v * c(math.sqrt(0.5))))
    elif approximate == "tanh":
        def f(v):
            return c(0.5) * v * (c(1.0) + tanh(c(math.sqrt(2.0 / math.pi)) *
                                               (v + c(0.044715) * v * v * v)))
    else:
        raise TexprError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return compute(x.shape, lambda *i: f(x[i]), name="gelu", tag="elemwise")
