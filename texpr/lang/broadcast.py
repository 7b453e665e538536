"""Elementwise arithmetic on whole tensors with NumPy broadcasting (`A + B`, `A * 2`, `-A`):
TVM's topi overloads on te.Tensor, each a te.compute over the broadcast shape."""
import numbers

import numpy as np

from ..errors import TexprError
from .expr import Const, Expr, convert

_NAMES = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "//": "floor_divide",
          "%": "mod", "neg": "negative"}


def _same_extent(a, b):
    return a is b or (isinstance(a, Const) and isinstance(b, Const) and a.value == b.value)


def _show(shape):
    return "[" + ", ".join(str(d) for d in shape) + "]"


def broadcast_shape(sa, sb, what):
    """NumPy's rule: align at the right; a dimension of extent 1 stretches to the other."""
    out = []
    for d in range(1, max(len(sa), len(sb)) + 1):
        a = sa[-d] if d <= len(sa) else None
        b = sb[-d] if d <= len(sb) else None
        if a is None or (b is not None and isinstance(a, Const) and a.value == 1):
            out.append(b)
        elif b is None or (isinstance(b, Const) and b.value == 1) or _same_extent(a, b):
            out.append(a)
        else:
            raise TexprError(f"{what}: shapes {_show(sa)} and {_show(sb)} cannot be broadcast "
                             f"together (dimension {-d}: {a} vs {b}; expected equal extents or 1)")
    return tuple(reversed(out))


def _reader(x, shape):
    """Index function of operand x at a point of the broadcast shape: leading dimensions
    x lacks are dropped, its stretched dimensions (extent 1) read index 0."""
    from .tensor import Tensor
    if not isinstance(x, Tensor):
        return lambda idx: x
    lead = len(shape) - x.ndim

    def read(idx):
        return x[tuple(0 if isinstance(e, Const) and e.value == 1 else i
                       for i, e in zip(idx[lead:], x.shape))]
    return read


_APPLY = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y,
          "/": lambda x, y: x / y, "//": lambda x, y: x // y, "%": lambda x, y: x % y}


def elementwise(op, a, b):
    """a op b over tensors and scalars (at least one tensor), broadcast as NumPy does; tagged
    "broadcast" between two tensors, "elemwise" with a scalar (as topi does)."""
    from .tensor import Tensor, compute
    for x in (a, b):
        if x is not None and not isinstance(x, (Tensor, Expr, numbers.Number, np.generic)):
            return NotImplemented
    tensors = [x for x in (a, b) if isinstance(x, Tensor)]
    name = "T_" + _NAMES[op]
    shape = a.shape if op == "neg" else broadcast_shape(
        a.shape if isinstance(a, Tensor) else (), b.shape if isinstance(b, Tensor) else (), name)
    ra, rb = _reader(a, shape), _reader(b, shape)

    def fcompute(*idx):
        if op == "neg":
            return -ra(idx)
        x, y = ra(idx), rb(idx)
        if not isinstance(x, Expr) and not isinstance(y, Expr):
            x = convert(x)
        return _APPLY[op](x, y)
    return compute(shape, fcompute, name=name,
                   tag="broadcast" if len(tensors) == 2 else "elemwise")
