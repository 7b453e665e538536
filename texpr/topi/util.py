"""Small helpers shared by the operators."""
import numbers

from ..errors import TexprError
from ..lang.expr import Const


def pair(v, what):
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return int(v), int(v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(
            isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in v):
        return int(v[0]), int(v[1])
    raise TexprError(f"{what} must be an int or a pair of ints, got {v!r}")


def padding4(v):
    """int, (h, w) or (top, left, bottom, right) -> (top, left, bottom, right)."""
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return (int(v),) * 4
    if isinstance(v, (tuple, list)) and len(v) == 2:
        return int(v[0]), int(v[1]), int(v[0]), int(v[1])
    if isinstance(v, (tuple, list)) and len(v) == 4:
        return tuple(int(x) for x in v)
    raise TexprError(f"padding must be an int, (h, w) or (top, left, bottom, right), got {v!r}")


def const_value(e):
    """The value of a constant extent, None when it is symbolic."""
    return e.value if isinstance(e, Const) else None


def const_dim(t, d, what):
    s = t.shape[d]
    if not isinstance(s, Const):
        raise TexprError(f"{what}: dimension {d} of {t.name} must be a constant, got {s}")
    return s.value


def extent(t, d):
    """Dimension d of t: an int when constant, else its expression (a symbolic batch or
    spatial extent that an operator takes as it is)."""
    s = t.shape[d]
    return s.value if isinstance(s, Const) else s


def positive(*extents):
    """False when a constant extent is not positive (symbolic ones are checked when the
    kernel is called)."""
    return all(not isinstance(e, int) or e > 0 for e in extents)


def shape_str(t):
    """t's shape as `[B, 64]` (symbolic extents by name)."""
    return "[" + ", ".join(str(d) for d in t.shape) + "]"


def check_ndim(t, n, what, layout):
    if len(t.shape) != n:
        raise TexprError(f"{what}: {t.name} must be {n}-D ({layout}), got shape {shape_str(t)}")


def cdiv(a, b):
    """Ceiling division of ints: the number of size-b pieces that cover a."""
    return -(-a // b)


def normalize_axes(axis, ndim, what):
    """An int or a sequence of ints counted from either end -> the sorted distinct axes in
    0..ndim-1; anything else (out of range, repeated, not an int) is a TexprError."""
    axes = [axis] if isinstance(axis, numbers.Integral) else axis
    if isinstance(axis, bool) or not isinstance(axes, (list, tuple)) or not axes:
        raise TexprError(f"{what}: axis must be an int or a non-empty list of ints, got {axis!r}")
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, numbers.Integral) or not -ndim <= a < ndim:
            raise TexprError(f"{what}: axis {a!r} is out of range for {ndim} dimension(s) "
                             f"(expected {-ndim}..{ndim - 1})")
        if int(a) % ndim in out:
            raise TexprError(f"{what}: axis {a!r} is given twice in {axis!r}")
        out.append(int(a) % ndim)
    return tuple(sorted(out))
