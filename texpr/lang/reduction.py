"""Reducers: te.sum / te.max / te.min and user-defined ones from te.comm_reducer."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence, Union, overload

from . import dtypes
from ..errors import DTypeError, TexprError
from .expr import (CommReducer, Const, Expr, Reduce, Var, convert, elementwise_max, elementwise_min,
                   max_value, min_value)
from .tensor import IterVar

if TYPE_CHECKING:
    from .hints import DTypeLike, ExprLike

#: what `axis=` of a reducer takes: one reduction axis or a list of them
Axes = Union[IterVar, Sequence[IterVar]]


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


class _Missing:
    """The default of a reducer's `axis=`: a named sentinel, so that help(te.sum) reads
    `axis=<required>` (the axis may also come positionally: te.sum(x, k))."""

    def __repr__(self) -> str:
        return "<required>"


_MISSING: Any = _Missing()


class Reducer(Protocol):
    """A commutative reducer (te.sum, te.max, te.min, or one made by te.comm_reducer).

    Called on an expression and `axis=` (reduction axes) it is the reduction, the body of a
    te.compute; on a tuple of expressions, one reduction per value (argmax); on two
    expressions without an axis, their combination (te.max(a, b)).
    """

    __name__: str

    @overload
    def __call__(self, expr: tuple | list, *args: Any, axis: Axes = ...,
                 where: ExprLike | None = None) -> tuple[Expr, ...]: ...

    @overload
    def __call__(self, expr: ExprLike, *args: Any, axis: Axes = ...,
                 where: ExprLike | None = None) -> Expr: ...




def comm_reducer(fcombine: Callable[..., Any], fidentity: Any, name: str = "reduce") -> Reducer:
    """Make a reducer from combine(x, y) and identity (a value or a function of dtype).

    For a tuple reducer (argmax), combine takes and returns tuples and the identity gives one
    value per element.

    >>> import texpr as te
    >>> product = te.comm_reducer(lambda x, y: x * y, lambda dt: te.const(1, dt), name="product")
    >>> A = te.placeholder((4, 8), name="A")
    >>> k = te.reduce_axis((0, 8), name="k")
    >>> P = te.compute((4,), lambda i: product(A[i, k], axis=k), name="P")
    >>> P.dtype
    'float32'
    """

    def reducer(expr: ExprLike | tuple | list, *args: Any, axis: Axes = _MISSING,
                where: ExprLike | None = None) -> Expr | tuple[Expr, ...]:
        """A reduction of `expr` over `axis` (reduction axes), optionally only `where` holds."""
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
        if isinstance(expr, (tuple, list)):
            return _tuple_reduce(name, fcombine, fidentity, expr, axis, where)
        src = convert(expr)
        dt = dtypes.element(src.dtype)
        lhs, rhs = Var("x", dt), Var("y", dt)
        try:
            result = fcombine(lhs, rhs)
        except TypeError as e:      # x[1] on one value: a tuple reducer given a single value
            raise TexprError(f"te.{name}: the combine function fails on one value ({e}); if it "
                             f"combines tuples, reduce a tuple: te.{name}((a, b), axis=k)") from None
        if isinstance(result, (tuple, list)):
            raise TexprError(f"te.{name}: the combine function returned {len(result)} values for "
                             "one reduced value; reduce a tuple of values, as in "
                             f"te.{name}((a, b), axis=k)")
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

    reducer.__name__ = reducer.__qualname__ = name
    return reducer  # type: ignore[return-value]  # (Reducer's overloads split the union)


def _tuple_reduce(name, fcombine, fidentity, exprs, axis, where):
    """Reduce several values together (argmax: an index and a value): one Reduce per value,
    all sharing one tuple CommReducer."""
    if not exprs:
        raise TexprError(f"te.{name}: reduce at least one value")
    srcs = [convert(e) for e in exprs]
    dts = [dtypes.element(e.dtype) for e in srcs]
    n = len(srcs)
    lhs = tuple(Var(f"x{k}", dt) for k, dt in enumerate(dts))
    rhs = tuple(Var(f"y{k}", dt) for k, dt in enumerate(dts))
    result = fcombine(lhs, rhs)
    if not isinstance(result, (tuple, list)) or len(result) != n:
        got = f"{len(result)} values" if isinstance(result, (tuple, list)) else "one value"
        raise TexprError(f"te.{name}: the combine function must return {n} values (one per "
                         f"reduced value), it returned {got}")
    result = tuple(_as_dtype(convert(r), dt, f"te.{name}: value {k} of the combine function")
                   for k, (r, dt) in enumerate(zip(result, dts)))
    ident = fidentity(*dts) if callable(fidentity) else fidentity
    if not isinstance(ident, (tuple, list)) or len(ident) != n:
        got = f"{len(ident)} values" if isinstance(ident, (tuple, list)) else "one value"
        raise TexprError(f"te.{name}: the identity must give {n} values (one per reduced "
                         f"value), it gave {got}")
    ident = tuple(_as_dtype(v if isinstance(v, Expr) else Const(v, dt), dt,
                            f"te.{name}: identity value {k}")
                  for k, (v, dt) in enumerate(zip(ident, dts)))
    cond = Const(True, "bool") if where is None else convert(where)
    if not dtypes.is_bool(cond.dtype):
        raise TexprError(f"te.{name}: where= must be a boolean expression, got {cond}")
    comb = CommReducer(name, lhs, rhs, result, ident)
    axes = _axes(axis)
    return tuple(Reduce(comb, src, axes, cond, dt, k) for k, (src, dt) in enumerate(zip(srcs, dts)))


def _as_dtype(e, dt, what):
    if e.dtype == dt:
        return e
    if isinstance(e, Const):
        return Const(e.value, dt)
    raise DTypeError(f"{what} has dtype {e.dtype}; expected {dt}, the dtype of the value it "
                     "reduces")


sum = comm_reducer(lambda x, y: x + y, lambda dt: Const(0, dt), name="sum")     # x is an Expr
max = comm_reducer(elementwise_max, min_value, name="max")
min = comm_reducer(elementwise_min, max_value, name="min")
sum.__doc__ = """The sum of `expr` over the reduction axes `axis` (only where `where` holds).

    >>> import texpr as te
    >>> A = te.placeholder((4, 8), name="A")
    >>> k = te.reduce_axis((0, 8), name="k")
    >>> B = te.compute((4,), lambda i: te.sum(A[i, k], axis=k), name="B")
    >>> [int(d) for d in B.shape]
    [4]
    """
max.__doc__ = """The maximum of `expr` over the reduction axes `axis` (where `where` holds); of
    two expressions without an axis, the larger one.

    >>> import texpr as te
    >>> A = te.placeholder((4, 8), name="A")
    >>> k = te.reduce_axis((0, 8), name="k")
    >>> B = te.compute((4,), lambda i: te.max(A[i, k], axis=k), name="B")
    >>> te.max(A[0, 0], 0.0).dtype
    'float32'
    """
min.__doc__ = """The minimum of `expr` over the reduction axes `axis` (where `where` holds); of
    two expressions without an axis, the smaller one.

    >>> import texpr as te
    >>> A = te.placeholder((4, 8), name="int8s", dtype="int8")
    >>> k = te.reduce_axis((0, 8), name="k")
    >>> B = te.compute((4,), lambda i: te.min(A[i, k], axis=k, where=k < 4), name="B")
    >>> B.dtype
    'int8'
    """
