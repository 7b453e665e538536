"""Reductions over whole axes of a tensor (TVM's topi.sum / topi.max / topi.min)."""
import numbers

from ..errors import TexprError
from ..lang.reduction import max as te_max, min as te_min, sum as te_sum
from ..lang.tensor import compute, reduce_axis
from .transform import _dims


def _reduce(data, axis, keepdims, reducer, name):
    dims = _dims(data, name)
    n = len(dims)
    if axis is None:
        axes = list(range(n))
    else:
        axes = [axis] if isinstance(axis, numbers.Integral) else list(axis)
        for a in axes:
            if isinstance(a, bool) or not isinstance(a, numbers.Integral) or not -n <= a < n:
                raise TexprError(f"{name}: axis {a!r} is out of range for {n} dimension(s)")
        axes = sorted({int(a) % n for a in axes})
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
        return reducer(data[idx], axis=list(ks.values())) if ks else data[idx]
    return compute(shape, element, name=name, tag="reduce")


def sum(data, axis=None, keepdims=False):
    """Sum over `axis` (an int, a list, or None: all)."""
    return _reduce(data, axis, keepdims, te_sum, "sum")


def max(data, axis=None, keepdims=False):
    return _reduce(data, axis, keepdims, te_max, "max")


def min(data, axis=None, keepdims=False):
    return _reduce(data, axis, keepdims, te_min, "min")
