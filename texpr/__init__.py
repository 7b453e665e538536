"""texpr: a tensor-expression compiler (compute + schedule -> readable C) in Python."""
from .errors import (ArgumentError, BuildError, DTypeError, InternalError, LoweringError,
                     ScheduleError, TexprError)
from .lang.expr import (Expr, Var, abs, all, any, ceil, const, erf, exp, floor, if_then_else,
                        log, power, sigmoid, sqrt, tanh, var)
from .lang.expr import power as pow
from .lang.reduction import comm_reducer, max, min, sum
from .lang.intrin import decl_tensor_intrin
from .lang.tensor import Tensor, compute, exclusive_scan, placeholder, reduce_axis, thread_axis
from .schedule import create_schedule
from .targets import build
from .targets import lower_for_target as lower
from . import hybrid

__all__ = [
    "TexprError", "DTypeError", "ScheduleError", "LoweringError", "ArgumentError", "BuildError",
    "InternalError",
    "Expr", "Var", "Tensor", "var", "const", "placeholder", "compute", "reduce_axis",
    "thread_axis", "sum", "max", "min", "comm_reducer", "if_then_else", "all", "any", "exp",
    "log", "sqrt", "tanh", "sigmoid", "abs", "floor", "ceil", "erf", "pow", "power",
    "create_schedule", "lower", "build", "decl_tensor_intrin", "exclusive_scan",
    "hybrid",
]
