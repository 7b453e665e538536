"""Reducers: te.sum / te.max / te.min and user-defined ones from te.comm_reducer."""
from . import dtypes
from ..errors import TexprError
from .expr import (CommReducer, Const, Expr, Reduce, Var, convert, elementwise_max, elementwise_min,
                   max_value, min_value)
from .tensor import IterVar


def _axes(axis):
    if isinstance(axis, IterVar):
        axis = [axis]
    axis = list(axis)
    for a in axis:
        if not isinstance(a, IterVar) or a.kind != "reduce":
            raise TexprError(f"reduction axis must be made with te.reduce_axis, got {a!r}")
    if not axis:
        raise TexprError("a reduction needs at least one axis")
    if len({id(a) for a in axis}) != len(axis):
        raise TexprError("a reduction axis is listed twice")
    return tuple(axis)


_MISSING = object()


def comm_reducer(fcombine, fidentity, name="reduce"):
    """Make a reducer from combine(x, y) and identity (a value or a function of dtype)."""

    def reducer(expr, *args, axis=_MISSING, where=None):
        if len(args) > 2 or (args and axis is not _MISSING):
            raise TexprError(f"te.{name}: give the axis once, as te.{name}(x, axis) or axis=")
        if axis is _MISSING:
            if not args:
                raise TexprError(f"te.{name} needs axis= (a reduce_axis or a list of them)")
            axis = args[0]
            if len(args) == 2:
                where = args[1]
            elif not isinstance(axis, (IterVar, list, tuple)):
                # elementwise form: reducer(a, b), b an expression
                return fcombine(convert(expr) if not isinstance(expr, Expr) else expr, axis)
        if not isinstance(axis, (IterVar, list, tuple)):
            raise TexprError(f"te.{name}: axis= must be a te.reduce_axis or a list of them, got "
                             f"{axis!r}" + (" (a te.var is not a reduction axis)"
                                            if isinstance(axis, Var) else ""))
        src = convert(expr)
        dt = dtypes.element(src.dtype)
        lhs, rhs = Var("x", dt), Var("y", dt)
        result = fcombine(lhs, rhs)
        result = convert(result)
        if dtypes.element(result.dtype) != dt:
            result = result.astype(dt)
        ident = fidentity(dt) if callable(fidentity) else fidentity
        ident = ident if isinstance(ident, Expr) else Const(ident, dt)
        if ident.dtype != dt:
            ident = ident.astype(dt) if not isinstance(ident, Const) else Const(ident.value, dt)
        cond = Const(True, "bool") if where is None else convert(where)
        if not dtypes.is_bool(cond.dtype):
            raise TexprError(f"te.{name}: where= must be a boolean expression, got {cond}")
        comb = CommReducer(name, lhs, rhs, result, ident)
        return Reduce(comb, src, _axes(axis), cond, dt)

    reducer.__name__ = name
    return reducer


sum = comm_reducer(lambda x, y: x + y, lambda dt: Const(0, dt), name="sum")     # x is an Expr
max = comm_reducer(elementwise_max, min_value, name="max")
min = comm_reducer(elementwise_min, max_value, name="min")
