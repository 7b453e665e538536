"""Constant-filled tensors (TVM's topi.full, topi.full_like)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..errors import TexprError
from ..lang import dtypes
from ..lang.expr import Const
from ..lang.tensor import Tensor, compute

if TYPE_CHECKING:
    from ..lang.hints import DTypeLike, ExprLike, ShapeLike


def _fill(value, dtype, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TexprError(f"{what}: fill_value must be a number, got {value!r}")
    if dtypes.is_int(dtype) and isinstance(value, float):
        if not value.is_integer():
            raise TexprError(f"{what}: fill_value {value} is not an integer; the dtype is {dtype}")
        value = int(value)
    dtypes.check_fits(value, dtype)
    return Const(value, dtype)


def full(shape: ShapeLike, dtype: DTypeLike, fill_value: ExprLike) -> Tensor:
    """A tensor of `shape` whose every element is fill_value (cast to dtype).

    >>> import texpr as te, texpr.topi as topi
    >>> t = topi.full((2, 3), "int8", 7)
    >>> t.shape, t.dtype, t.op.body
    ((2, 3), 'int8', [7:int8])
    """
    dt = dtypes.normalize(dtype)
    c = _fill(fill_value, dt, "full")
    return compute(shape, lambda *i: c, name="full", tag="elemwise")


def full_like(x: Tensor, fill_value: ExprLike) -> Tensor:
    """A tensor of x's shape and dtype whose every element is fill_value.

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((2, 3), dtype="float16", name="x")
    >>> t = topi.full_like(x, 1.5)
    >>> t.shape, t.dtype
    ((2, 3), 'float16')
    """
    if not isinstance(x, Tensor):
        raise TexprError(f"full_like: expected a tensor, got {x!r}")
    c = _fill(fill_value, x.dtype, "full_like")
    return compute(x.shape, lambda *i: c, name="full_like", tag="elemwise")
