"""Elementwise math on tensors under TVM's topi names (topi.exp, topi.sigmoid, ...)."""
from ..errors import TexprError
from ..lang import expr
from ..lang.tensor import Tensor, compute


def _elementwise(fn, name):
    def op(x):
        if not isinstance(x, Tensor):
            raise TexprError(f"topi.{name}: expected a tensor, got {x!r}")
        return compute(x.shape, lambda *i: fn(x[i]), name=name, tag="elemwise")
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"""Elementwise {name} of a tensor.

    >>> import texpr as te, texpr.topi as topi
    >>> y = topi.{name}(te.placeholder((2, 3), name="x"))
    >>> y.name, y.shape, y.op.tag
    ('{name}', (2, 3), 'elemwise')
    """
    return op


exp = _elementwise(expr.exp, "exp")
log = _elementwise(expr.log, "log")
sqrt = _elementwise(expr.sqrt, "sqrt")
sigmoid = _elementwise(expr.sigmoid, "sigmoid")
tanh = _elementwise(expr.tanh, "tanh")
abs = _elementwise(expr.abs, "abs")
negative = _elementwise(lambda v: -v, "negative")
