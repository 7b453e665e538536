"""Type aliases of the public API's annotations (PEP 484), in one place.

Why: te functions take Python numbers, loop axes and expressions alike (`A[i] * 2`, `i + 1`,
`te.const(1.5)`); these aliases name those unions once, so every signature says the same thing.
Only annotations use them (the modules import this one under TYPE_CHECKING or through
`from __future__ import annotations`), so it imports nothing of texpr at run time.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence, Union

import numpy as np

if TYPE_CHECKING:
    from .expr import Expr
    from .tensor import IterVar, Tensor

#: a scalar operand: an expression, a loop axis (stands for its variable) or a Python number
ExprLike = Union["Expr", "IterVar", int, float, bool, np.generic]
#: an extent or index: an int or an integer expression (a te.var, an axis, arithmetic of them)
IntLike = Union[int, "Expr", "IterVar"]
#: a tensor's shape: a sequence of extents (a single extent is a 1-D shape)
ShapeLike = Union[Sequence[IntLike], IntLike]
#: a dtype name ("float32", "int8", ...) or a NumPy dtype / scalar type
DTypeLike = Union[str, np.dtype, type]
#: an operand of the elementwise functions that also take tensors (te.add, te.multiply)
TensorOrExpr = Union["Tensor", ExprLike]
