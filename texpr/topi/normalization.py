"""layer_norm and rms_norm (TVM's topi.nn signatures): normalisation over some axes of each
row, as stages a row schedule can keep in cache (topi/cpu_rows.py).

The statistics are their own stages, one value per row: the sum, the sum of squares about
the mean (two passes over the row: exact where E[x^2] - E[x]^2 cancels), and the reciprocal
standard deviation; the output stage is elementwise given them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..errors import TexprError
from ..lang import dtypes
from ..lang.expr import Const, sqrt
from ..lang.reduction import sum as te_sum
from ..lang.tensor import compute, reduce_axis
from .tag import ROW_PART
from .util import const_dim, normalize_axes, shape_str

if TYPE_CHECKING:
    from ..lang.tensor import Tensor


def _rows(data, axis, what):
    """(normalised axes, kept axes, elements per row) of `data`; the normalised axes need
    constant extents, the data a float dtype."""
    if not dtypes.is_float(data.dtype):
        raise TexprError(f"{what}: {data.name} must be a float tensor, got {data.dtype}")
    n = len(data.shape)
    if n == 0:
        raise TexprError(f"{what}: {data.name} is a scalar; expected at least one dimension")
    axes = normalize_axes(axis, n, what)
    count = 1
    for a in axes:
        count *= const_dim(data, a, what)
    return axes, tuple(d for d in range(n) if d not in axes), count


def _check_param(p, data, axes, what, pname):
    """gamma / beta: shaped like the normalised axes, the data's dtype."""
    want = [const_dim(data, a, what) for a in axes]
    got = [d.value if isinstance(d, Const) else None for d in p.shape]
    if got != want:
        raise TexprError(f"{what}: {pname} {p.name} has shape {shape_str(p)}; expected {want} "
                         f"(the extents of the normalised axes {list(axes)} of {data.name})")
    if p.dtype != data.dtype:
        raise TexprError(f"{what}: {pname} {p.name} is {p.dtype}; expected {data.dtype} like "
                         f"{data.name}")


class _Row:
    """Index helpers of a row reduction over `axes` of an n-D tensor."""

    def __init__(self, data, axes, kept, name):
        self.data, self.axes, self.kept = data, axes, kept
        self.shape = tuple(data.shape[d] for d in kept)
        self.name = name

    def reduce_axes(self, tag):
        return [reduce_axis((0, self.data.shape[a]), f"{tag}{a}") for a in self.axes]

    def full(self, kept_idx, ks):
        """The data index of a kept index and reduce variables."""
        at = dict(zip(self.kept, kept_idx))
        at.update(zip(self.axes, ks))
        return tuple(at[d] for d in range(len(self.data.shape)))

    def kept_of(self, idx):
        return tuple(idx[d] for d in self.kept)

    def param_of(self, idx):
        return tuple(idx[d] for d in self.axes)

    def total(self, fn, stage):
        """compute over the kept axes: the sum over the row of fn(data index, kept index)."""
        ks = self.reduce_axes("k_" + stage + "_")
        return compute(self.shape, lambda *i: te_sum(
            fn(self.full(i, [k.var for k in ks]), i), axis=ks), name=f"{self.name}_{stage}",
            tag=ROW_PART)


def layer_norm(data: Tensor, gamma: Tensor, beta: Tensor, axis: int | Sequence[int] | None = -1,
               epsilon: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + epsilon) * gamma + beta over `axis` (an int or ints; gamma and
    beta shaped like those axes); the variance is the biased one, as torch and TVM.

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((4, 32), name="x")
    >>> g = te.placeholder((32,), name="g")
    >>> b = te.placeholder((32,), name="b")
    >>> [int(d) for d in topi.nn.layer_norm(x, g, b).shape]
    [4, 32]
    """
    axes, kept, count = _rows(data, axis, "layer_norm")
    _check_param(gamma, data, axes, "layer_norm", "gamma")
    _check_param(beta, data, axes, "layer_norm", "beta")
    dt = data.dtype
    inv_n = Const(1.0 / count, dt)
    row = _Row(data, axes, kept, "layer_norm")
    total = row.total(lambda x, i: data[x], "sum")

    def centred(x, i):
        return data[x] - total[i] * inv_n
    sq = row.total(lambda x, i: centred(x, i) * centred(x, i), "sqsum")
    rstd = compute(row.shape, lambda *i: Const(1.0, dt) / sqrt(sq[i] * inv_n + Const(epsilon, dt)),
                   name="layer_norm_rstd", tag=ROW_PART)
    return compute(data.shape, lambda *x: (data[x] - total[row.kept_of(x)] * inv_n) *
                   rstd[row.kept_of(x)] * gamma[row.param_of(x)] + beta[row.param_of(x)],
                   name="layer_norm", tag="layer_norm", attrs={"axis": axes})


def rms_norm(data: Tensor, gamma: Tensor, axis: int | Sequence[int] | None = -1,
             epsilon: float = 1e-6) -> Tensor:
    """x / sqrt(mean(x^2) + epsilon) * gamma over `axis` (an int or ints; gamma shaped like
    those axes). DESIGN.md's signature (TVM calls gamma `weight` and defaults epsilon to 1e-5;
    positional calls are the same).

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((4, 64), name="x")
    >>> gamma = te.placeholder((64,), name="gamma")
    >>> topi.normalization.rms_norm(x, gamma).shape
    (4, 64)
    """
    axes, kept, count = _rows(data, axis, "rms_norm")
    _check_param(gamma, data, axes, "rms_norm", "gamma")
    dt = data.dtype
    row = _Row(data, axes, kept, "rms_norm")
    sq = row.total(lambda x, i: data[x] * data[x], "sqsum")
    rstd = compute(row.shape, lambda *i: Const(1.0, dt) / sqrt(
        sq[i] * Const(1.0 / count, dt) + Const(epsilon, dt)), name="rms_norm_rstd", tag=ROW_PART)
    return compute(data.shape, lambda *x: data[x] * rstd[row.kept_of(x)] * gamma[row.param_of(x)],
                   name="rms_norm", tag="rms_norm", attrs={"axis": axes})
