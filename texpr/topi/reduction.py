"""Reductions over whole axes of a tensor (TVM's topi.sum / mean / prod / max / min /
argmax / argmin), all tagged "reduce": topi.schedule gives them texpr/topi/cpu_reduce.py's
vectorized schedules on the vector CPU targets."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numbers

from ..errors import DTypeError, TexprError
from ..lang import dtypes
from ..lang.expr import (Const, Select, elementwise_max, elementwise_min, max_value,
                         min_value)
from ..lang.reduction import comm_reducer, max as te_max, min as te_min, sum as te_sum
from ..lang.tensor import compute, reduce_axis
from .util import extent

if TYPE_CHECKING:
    from ..lang.tensor import Tensor

REDUCE_TAG = "reduce"
_INT32_MAX = 2 ** 31 - 1


def _reduce_axes(data, axis, name):
    """(dims, sorted reduced dimensions) of `axis`: an int, a list of ints, or None (all).
    A dimension is an int, or its expression where it is symbolic (te.var: one build for
    every size)."""
    dims = [extent(data, d) for d in range(len(data.shape))]
    n = len(dims)
    if axis is None:
        return dims, list(range(n))
    axes = [axis] if isinstance(axis, numbers.Integral) else list(axis)
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, numbers.Integral) or not -n <= a < n:
            raise TexprError(f"{name}: axis {a!r} is out of range for {n} dimension(s)")
    return dims, sorted({int(a) % n for a in axes})


def _reduce(data, axis, keepdims, reducer, name):
    dims, axes = _reduce_axes(data, axis, name)
    n = len(dims)
    ks = {d: reduce_axis((0, dims[d]), f"k{d}") for d in axes}
    kept = [d for d in range(n) if d not in ks]
    shape = tuple(1 if d in ks else dims[d] for d in range(n)) if keepdims else \
        tuple(dims[d] for d in kept)

    def element(*i):
        if keepdims:
            idx = tuple(ks[d].var if d in ks else i[d] for d in range(n))
        else:
            at = dict(zip(kept, i))
            idx = tuple(ks[d].var if d in ks else at[d] for d in range(n))
        if not ks:
            return data[idx]
        return reducer(data[idx], [ks[d] for d in axes], idx=idx, dims=[dims[d] for d in axes])
    return compute(shape, element, name=name, tag=REDUCE_TAG)


def _plain(te_reducer):
    """A reducer of one value, in the form _reduce calls."""
    return lambda value, axes, idx, dims: te_reducer(value, axis=axes)


def sum(data: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """Sum over `axis` (an int, a list, or None: all).

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((2, 3, 4), name="x")
    >>> topi.sum(x, axis=1).shape, topi.sum(x, axis=(0, 2), keepdims=True).shape, topi.sum(x).shape
    ((2, 4), (1, 3, 1), ())
    """
    return _reduce(data, axis, keepdims, _plain(te_sum), "sum")


def max(data: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """The maximum of `data` over `axis` (an int, a tuple, or None: all), as np.max.

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((4, 8), name="x")
    >>> [int(d) for d in topi.max(x, axis=1, keepdims=True).shape]
    [4, 1]
    """
    return _reduce(data, axis, keepdims, _plain(te_max), "max")


def min(data: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """The minimum of `data` over `axis` (an int, a tuple, or None: all), as np.min.

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((4, 8), name="x")
    >>> [int(d) for d in topi.min(x, axis=0).shape]
    [8]
    """
    return _reduce(data, axis, keepdims, _plain(te_min), "min")


te_prod = comm_reducer(lambda x, y: x * y, lambda dt: Const(1, dt), name="prod")


def prod(data: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """Product over `axis` (an int, a list, or None: all).

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((2, 3, 4), name="x")
    >>> topi.prod(x, axis=-1).shape
    (2, 3)
    """
    return _reduce(data, axis, keepdims, _plain(te_prod), "prod")


def mean(data: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """Mean over `axis`: the sum (a "reduce" stage) divided by the count (an elementwise
    stage, fused into the sum's loops by the CPU schedule). Float data only.

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((2, 3, 4), name="x")
    >>> m = topi.mean(x, axis=2)
    >>> m.shape, m.dtype
    ((2, 3), 'float32')
    """
    if not dtypes.is_float(getattr(data, "dtype", "float32")):
        raise DTypeError(f"mean: {data.name} has dtype {data.dtype}; expected a float dtype "
                         "(cast integer data first, e.g. data.astype('float32'))")
    dims, axes = _reduce_axes(data, axis, "mean")
    count = 1
    for d in axes:
        count *= dims[d]
    total = _reduce(data, axis, keepdims, _plain(te_sum), "mean_sum")
    divisor = Const(float(count or 1), data.dtype) if isinstance(count, int) else \
        count.astype(data.dtype)
    return compute(total.shape, lambda *i: total[i] / divisor, name="mean", tag="elemwise")


def _arg_reducer(is_max, select_last_index, name):
    """(index, value) pairs reduced to the greatest (least) value; among equal values the
    first (last) index: the greatest pair in a total order, so the combine is commutative and
    associative and a reduction split into parts (rfactor, vector lanes) gives NumPy's answer.
    Written as selects on comparisons of values (no boolean && / ||), which vectorize. The
    identity's index loses every tie against a real element. A NaN is greater (and less)
    than every number, as in NumPy: argmax and argmin give the first NaN's index."""
    keep = elementwise_max if select_last_index else elementwise_min

    def combine(x, y):
        (xi, xv), (yi, yv) = x, y
        wins, loses = (xv > yv, xv < yv) if is_max else (xv < yv, xv > yv)
        tie = keep(xi, yi)
        if dtypes.is_float(xv.dtype):
            # NaN wins, as NumPy's first NaN (no comparison with it holds): of two NaNs or
            # equal values the tie's index, of one NaN its index
            x_nan, y_nan = xv != xv, yv != yv
            tie = Select(xv == yv, tie, Select(x_nan, Select(y_nan, tie, xi, xi.dtype), yi,
                                               xi.dtype), xi.dtype)
            # y where it wins or is NaN: each condition reads what its branches do
            value = Select(loses, yv, Select(y_nan, yv, xv, xv.dtype), xv.dtype)
        else:
            value = Select(wins, xv, yv, xv.dtype)       # one blend on the same compare
        return Select(wins, xi, Select(loses, yi, tie, xi.dtype), xi.dtype), value

    def identity(idt, vdt):
        worst = min_value(vdt) if is_max else max_value(vdt)
        return Const(-1 if select_last_index else _INT32_MAX, idt), worst
    return comm_reducer(combine, identity, name=name)


def _arg_reduce(data, axis, keepdims, select_last_index, is_max, name):
    if axis is not None and not isinstance(axis, numbers.Integral) and not list(axis):
        raise TexprError(f"{name}: axis is an empty list; expected an axis, a list of axes "
                         "or None (all)")
    _reduce_axes(data, axis, name)      # bad axes named as the user's op
    reducer = _arg_reducer(is_max, bool(select_last_index), name)

    def arg(value, axes, idx, dims):
        flat = None      # the index within the reduced axes, row-major (NumPy's for axis=None)
        for k, d in zip(axes, dims):
            flat = k.var if flat is None else flat * d + k.var
        return reducer((flat.astype("int32") if flat.dtype != "int32" else flat, value),
                       axis=axes)
    pairs = _reduce(data, axis, keepdims, arg, name + "_pair")
    if not isinstance(pairs, (tuple, list)):    # nothing reduced (a 0-d input): index 0
        return compute(pairs.shape, lambda *i: Const(0, "int32"), name=name, tag="elemwise")
    index = pairs[0]
    # the index alone is the result (TVM's argmax): the (index, value) stage is fused into
    # this one by the CPU schedule, so its value half needs no array of its own
    return compute(index.shape, lambda *i: index[i], name=name, tag="elemwise")


def argmax(data: Tensor, axis: int | None = None, keepdims: bool = False,
           select_last_index: bool = False) -> Tensor:
    """int32 index of the greatest element along `axis` (None: the flat index over all
    axes); ties give the first index (the last with select_last_index), as NumPy does.

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((2, 3, 4), name="x")
    >>> i = topi.argmax(x, axis=1)
    >>> i.shape, i.dtype
    ((2, 4), 'int32')
    """
    return _arg_reduce(data, axis, keepdims, select_last_index, True, "argmax")


def argmin(data: Tensor, axis: int | None = None, keepdims: bool = False,
           select_last_index: bool = False) -> Tensor:
    """int32 index of the least element along `axis`; ties as argmax.

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((2, 3, 4), name="x")
    >>> i = topi.argmin(x, axis=0, keepdims=True)
    >>> i.shape, i.dtype
    ((1, 3, 4), 'int32')
    """
    return _arg_reduce(data, axis, keepdims, select_last_index, False, "argmin")


from .sort import topk  # noqa: E402,F401  (DESIGN.md names it topi.reduction.topk too)
