"""texpr: a tensor-expression compiler (compute + schedule -> readable C) in Python."""
from .errors import (ArgumentError, BuildError, DTypeError, InternalError, LoweringError,
                     PackedFuncError, ScheduleError, SymbolicValueError, TexprError)
from .lang.expr import (Expr, Var, abs, all, any, ceil, const, erf, exp, floor, if_then_else,
                        log, power, sigmoid, sqrt, tanh, var)
from .lang.expr import power as pow
from .lang.expr import (acos, acosh, add, asin, asinh, atan, atanh, cos, cosh, div, exp2,
                        expm1, floordiv, floormod, fmod, indexdiv, indexmod, isfinite, isinf,
                        isnan, log10, log1p, log2, max_value, min_value, multiply, nearbyint,
                        popcount, round, rsqrt, sin, sinh, subtract, tan, trunc, truncdiv,
                        truncmod, size_var)
from .lang.tag import tag_scope
from .lang.reduction import comm_reducer, max, min, sum
from .lang.autodiff import gradient
from .lang.intrin import decl_tensor_intrin
from .lang.buffer import decl_buffer
from .lang.tensor import (Tensor, TensorSlice, compute, exclusive_scan, placeholder,
                          reduce_axis, thread_axis)
from .lang.extern import call_extern, call_packed, call_pure_extern, extern
from .lang.tensor import scan
from .lang.expr import max_value, min_value
from .schedule import create_schedule
from .schedule.index_map import AXIS_SEPARATOR
from .targets import build
from .targets import lower_for_target as lower
from .targets.intrin_rules import register_intrin_lowering
from .targets.runtime.packed import get_global_func, register_func
from . import hybrid
from .lang import ir_builder
from .contrib.draw import draw

__all__ = [
    "TexprError", "DTypeError", "ScheduleError", "LoweringError", "ArgumentError", "BuildError",
    "InternalError", "SymbolicValueError", "draw",
    "Expr", "Var", "Tensor", "var", "const", "placeholder", "compute", "reduce_axis",
    "thread_axis", "sum", "max", "min", "comm_reducer", "if_then_else", "all", "any", "exp",
    "log", "sqrt", "tanh", "sigmoid", "abs", "floor", "ceil", "erf", "pow", "power",
    "create_schedule", "lower", "build", "gradient", "decl_tensor_intrin", "exclusive_scan",
    "extern", "call_packed", "call_extern", "call_pure_extern", "register_func",
    "get_global_func", "register_intrin_lowering", "PackedFuncError", "scan",
    # TVM te names (issue 15)
    "TensorSlice", "tag_scope", "min_value", "max_value", "truncdiv", "truncmod", "floordiv",
    "floormod", "indexdiv", "indexmod", "div", "add", "subtract", "multiply", "fmod", "isnan",
    "isinf", "isfinite", "popcount", "sin", "cos", "tan", "asin", "acos", "atan", "sinh",
    "cosh", "asinh", "acosh", "atanh", "log2", "log10", "log1p", "exp2", "expm1", "rsqrt",
    "trunc", "round", "nearbyint", "decl_buffer", "size_var", "AXIS_SEPARATOR",
    "hybrid", "ir_builder",
]

# TVM's operation and axis classes, for isinstance checks
from .lang.tensor import ComputeOp, IterVar, PlaceholderOp  # noqa: E402
__all__ += ["ComputeOp", "PlaceholderOp", "IterVar"]

# TVM's constant classes, stmt_functor (substitute, post_order_visit) and tvm.arith.Analyzer
from .lang.imm import FloatImm, IntImm  # noqa: E402
from .lang import stmt_functor  # noqa: E402
from . import arith  # noqa: E402
__all__ += ["IntImm", "FloatImm", "stmt_functor", "arith"]


def __getattr__(name):
    """texpr.export (a built kernel or a compiled topi.graph as a C library), imported on
    first use: `import texpr` does not pay for it."""
    if name == "export":
        import importlib
        return importlib.import_module(".export", __name__)
    raise AttributeError(f"module 'texpr' has no attribute {name!r}")
