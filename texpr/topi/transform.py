"""Shape and data-movement operators under TVM's topi names: broadcast_to, reshape,
concatenate, split, take, tensordot, einsum, transpose, where. Constant shapes; each a plain
compute (tag "injective" where it only moves data, so topi.schedule inlines it into its
consumer)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numbers

from ..errors import TexprError
from ..lang.expr import Const, elementwise_max, elementwise_min, if_then_else
from ..lang.reduction import sum as te_sum
from ..lang.tensor import Tensor, compute, reduce_axis
from .util import const_dim

if TYPE_CHECKING:
    from ..lang.hints import ShapeLike, TensorOrExpr


def _dims(t, what):
    if not isinstance(t, Tensor):
        raise TexprError(f"{what}: expected a tensor, got {t!r}")
    return [const_dim(t, d, what) for d in range(len(t.shape))]


def _axis(axis, ndim, what):
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or \
            not -ndim <= axis < max(ndim, 1):
        raise TexprError(f"{what}: axis {axis!r} is out of range for {ndim} dimension(s)")
    return int(axis) % max(ndim, 1)


def broadcast_to(data: Tensor, shape: Sequence[int]) -> Tensor:
    """data stretched to `shape` by NumPy's broadcasting rule.

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((3, 1), name="x")
    >>> topi.broadcast_to(x, (2, 3, 4)).shape
    (2, 3, 4)
    """
    src = _dims(data, "broadcast_to")
    shape = tuple(int(s) for s in shape)
    off = len(shape) - len(src)
    if off < 0 or any(s not in (1, shape[off + d]) for d, s in enumerate(src)):
        raise TexprError(f"broadcast_to: shape {src} of {data.name} cannot be broadcast to "
                         f"{list(shape)}")
    return compute(shape, lambda *i: data[tuple(
        Const(0, "int32") if s == 1 and shape[off + d] != 1 else i[off + d]
        for d, s in enumerate(src))], name="broadcast_to", tag="injective,broadcast")


def _unravel(flat, dims):
    out = []
    for d in reversed(dims):
        out.append(flat % d if d != 1 else Const(0, "int32"))
        flat = flat // d
    return tuple(reversed(out))


def _ravel(idx, dims):
    flat = None
    for i, d in zip(idx, dims):
        flat = i if flat is None else flat * d + i
    return Const(0, "int32") if flat is None else flat


def reshape(a: Tensor, newshape: Sequence[int]) -> Tensor:
    """a's elements in row-major order under `newshape` (one entry may be -1). A shape of
    fewer elements takes the first ones, as TVM's topi.reshape.

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((2, 6), name="x")
    >>> topi.reshape(x, (3, -1)).shape
    (3, 4)
    """
    src = _dims(a, "reshape")
    size = 1
    for s in src:
        size *= s
    newshape = [int(s) for s in newshape]
    known = 1
    for s in newshape:
        known *= s if s != -1 else 1
    if newshape.count(-1) > 1 or any(s < -1 or s == 0 for s in newshape):
        raise TexprError(f"reshape: invalid new shape {newshape}")
    if -1 in newshape:
        if size % known:
            raise TexprError(f"reshape: cannot reshape {src} ({size} elements) to {newshape}")
        newshape[newshape.index(-1)] = size // known
    total = 1
    for s in newshape:
        total *= s
    if total > size:        # fewer is TVM's compute: the first elements, in row-major order
        raise TexprError(f"reshape: cannot reshape {src} ({size} elements) to {newshape} "
                         f"({total} elements)")
    if [d for d in src if d != 1] == [d for d in newshape if d != 1]:
        # extents of 1 added or dropped: each index read as it is (no flat index to divide
        # again, which the simplifier cannot undo for an index of unknown range)
        def same(*i):
            kept = iter([x for x, d in zip(i, newshape) if d != 1])
            return a[tuple(next(kept) if d != 1 else 0 for d in src)]
        return compute(tuple(newshape), same, name="reshape", tag="injective")
    return compute(tuple(newshape), lambda *i: a[_unravel(_ravel(i, newshape), src)],
                   name="reshape", tag="injective")


def concatenate(a_tuple: Any, axis: int = 0) -> Tensor:
    """The tensors joined along `axis` (all other extents equal).

    >>> import texpr as te, texpr.topi as topi
    >>> a = te.placeholder((2, 3), name="a")
    >>> b = te.placeholder((4, 3), name="b")
    >>> topi.concatenate([a, b], axis=0).shape
    (6, 3)
    """
    ts = list(a_tuple)
    if not ts:
        raise TexprError("concatenate: no tensors given")
    dims = [_dims(t, "concatenate") for t in ts]
    axis = _axis(axis, len(dims[0]), "concatenate")
    for t, d in zip(ts, dims):
        if len(d) != len(dims[0]) or any(x != y for k, (x, y) in enumerate(zip(d, dims[0]))
                                         if k != axis):
            raise TexprError(f"concatenate: {t.name} has shape {d}; expected {dims[0]} except "
                             f"along axis {axis}")
    starts, total = [], 0
    for d in dims:
        starts.append(total)
        total += d[axis]
    shape = list(dims[0])
    shape[axis] = total

    def element(*i):
        def at(k):
            return ts[k][i[:axis] + (i[axis] - starts[k] if starts[k] else i[axis],) + i[axis + 1:]]
        out = at(len(ts) - 1)
        for k in range(len(ts) - 2, -1, -1):
            out = if_then_else(i[axis] < starts[k + 1], at(k), out)
        return out
    return compute(tuple(shape), element, name="concatenate", tag="injective")


def split(ary: Tensor, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """ary cut along `axis`: into equal sections (an int) or at the given indices.

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((6, 4), name="x")
    >>> [t.shape for t in topi.split(x, 3, axis=0)], [t.shape for t in topi.split(x, [1], axis=1)]
    ([(2, 4), (2, 4), (2, 4)], [(6, 1), (6, 3)])
    """
    dims = _dims(ary, "split")
    axis = _axis(axis, len(dims), "split")
    n = dims[axis]
    if isinstance(indices_or_sections, numbers.Integral):
        sec = int(indices_or_sections)
        if sec <= 0 or n % sec:
            raise TexprError(f"split: axis {axis} of extent {n} does not divide into {sec} "
                             "equal sections")
        bounds = [k * (n // sec) for k in range(sec)]
    else:
        bounds = [0] + [int(x) for x in indices_or_sections]
        if any(b > c for b, c in zip(bounds, bounds[1:])) or bounds[-1] > n:
            raise TexprError(f"split: indices {list(indices_or_sections)} must be ascending and "
                             f"at most {n}")
    outs = []
    for b, e in zip(bounds, bounds[1:] + [n]):
        shape = list(dims)
        shape[axis] = e - b
        outs.append(compute(tuple(shape), lambda *i, b=b: ary[
            i[:axis] + (i[axis] + b if b else i[axis],) + i[axis + 1:]],
            name="split", tag="injective"))
    return outs


def take(a: Tensor, indices: Tensor, axis: int | None = None, batch_dims: int = 0,
         mode: str = "clip") -> Tensor:
    """a's elements at `indices` (a tensor of integers) along `axis` (None: of a flattened);
    mode "clip" clamps an index into range, "wrap" takes it modulo the extent, "fast" trusts it.

    >>> import texpr as te, texpr.topi as topi
    >>> a = te.placeholder((10, 4), name="a")
    >>> idx = te.placeholder((3,), dtype="int32", name="idx")
    >>> topi.take(a, idx, axis=0).shape
    (3, 4)
    """
    dims = _dims(a, "take")
    idims = _dims(indices, "take")
    if batch_dims:
        raise TexprError("take: batch_dims other than 0 is not supported")
    if mode not in ("clip", "wrap", "fast"):
        raise TexprError(f"take: mode must be 'clip', 'wrap' or 'fast', got {mode!r}")
    from ..lang import dtypes
    if not dtypes.is_int(indices.dtype) or dtypes.is_bool(indices.dtype):
        raise TexprError(f"take: indices {indices.name} must be integers, got {indices.dtype}")

    def fix(j, n):
        j = j.astype("int32")
        if mode == "clip":
            return elementwise_min(elementwise_max(j, Const(0, "int32")), Const(n - 1, "int32"))
        if mode == "wrap":
            return j % n
        return j
    ni = len(idims)
    if axis is None:
        size = 1
        for d in dims:
            size *= d
        return compute(tuple(idims), lambda *i: a[_unravel(fix(indices[i], size), dims)],
                       name="take", tag="injective")
    axis = _axis(axis, len(dims), "take")
    shape = tuple(dims[:axis]) + tuple(idims) + tuple(dims[axis + 1:])
    return compute(shape, lambda *i: a[i[:axis] + (fix(indices[i[axis:axis + ni]], dims[axis]),)
                                       + i[axis + ni:]], name="take", tag="injective")


def tensordot(a: Tensor, b: Tensor, axes: Any) -> Tensor:
    """Contraction of a and b over `axes`: an int n (a's last n axes with b's first n) or a pair
    of axis lists.

    >>> import texpr as te, texpr.topi as topi
    >>> a = te.placeholder((2, 3, 4), name="a")
    >>> b = te.placeholder((3, 4, 5), name="b")
    >>> topi.tensordot(a, b, 2).shape, topi.tensordot(a, b, ([1], [0])).shape
    ((2, 5), (2, 4, 4, 5))
    """
    da, db = _dims(a, "tensordot"), _dims(b, "tensordot")
    if isinstance(axes, numbers.Integral):
        n = int(axes)
        if not 0 <= n <= min(len(da), len(db)):
            raise TexprError(f"tensordot: cannot contract {n} axes of shapes {da} and {db}")
        ax_a, ax_b = list(range(len(da) - n, len(da))), list(range(n))
    else:
        ax_a, ax_b = ([_axis(x, len(d), "tensordot") for x in
                       ([ax] if isinstance(ax, numbers.Integral) else ax)]
                      for ax, d in zip(axes, (da, db)))
    if len(ax_a) != len(ax_b) or any(da[x] != db[y] for x, y in zip(ax_a, ax_b)):
        raise TexprError(f"tensordot: axes {ax_a} of {da} and {ax_b} of {db} do not match")
    ks = [reduce_axis((0, da[x]), f"k{n}") for n, x in enumerate(ax_a)]
    free_a = [d for d in range(len(da)) if d not in ax_a]
    free_b = [d for d in range(len(db)) if d not in ax_b]
    shape = tuple(da[d] for d in free_a) + tuple(db[d] for d in free_b)

    def element(*i):
        ia, ib = dict(zip(free_a, i[:len(free_a)])), dict(zip(free_b, i[len(free_a):]))
        ia.update({x: k.var for x, k in zip(ax_a, ks)})
        ib.update({y: k.var for y, k in zip(ax_b, ks)})
        prod = a[tuple(ia[d] for d in range(len(da)))] * b[tuple(ib[d] for d in range(len(db)))]
        return te_sum(prod, axis=ks) if ks else prod
    return compute(shape, element, name="tensordot", tag="tensordot")


def einsum(subscripts: str, *operand: Any) -> Tensor:
    """NumPy's einsum without ellipsis: "ij,jk->ik", "ii->i", implicit output ("ij,jk").

    >>> import texpr as te, texpr.topi as topi
    >>> a = te.placeholder((2, 3), name="a")
    >>> b = te.placeholder((3, 4), name="b")
    >>> topi.einsum("ij,jk->ik", a, b).shape
    (2, 4)
    """
    ops = list(operand[0]) if len(operand) == 1 and isinstance(operand[0], (list, tuple)) \
        else list(operand)
    spec = subscripts.replace(" ", "")
    if "." in spec:
        raise TexprError("einsum: ellipsis ('...') is not supported")
    lhs, arrow, out = spec.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(ops):
        raise TexprError(f"einsum: {subscripts!r} names {len(ins)} operand(s), got {len(ops)}")
    extent = {}
    for labels, t in zip(ins, ops):
        dims = _dims(t, "einsum")
        if len(labels) != len(dims) or not labels.isalpha():
            raise TexprError(f"einsum: subscripts {labels!r} do not fit {t.name} of shape {dims}")
        for c, n in zip(labels, dims):
            if extent.setdefault(c, n) != n:
                raise TexprError(f"einsum: label {c!r} has extents {extent[c]} and {n}")
    if not arrow:
        out = "".join(sorted(c for c in extent if lhs.count(c) == 1))
    if any(c not in extent for c in out) or len(set(out)) != len(out):
        raise TexprError(f"einsum: output subscripts {out!r} must be distinct input labels")
    summed = [c for c in sorted(extent) if c not in out]
    ks = {c: reduce_axis((0, extent[c]), f"k_{c}") for c in summed}

    def element(*i):
        at = dict(zip(out, i))
        at.update({c: k.var for c, k in ks.items()})
        prod = None
        for labels, t in zip(ins, ops):
            v = t[tuple(at[c] for c in labels)]
            prod = v if prod is None else prod * v
        return te_sum(prod, axis=list(ks.values())) if ks else prod
    return compute(tuple(extent[c] for c in out), element, name="einsum", tag="einsum")


#: the tag of transpose: injective (inlined into consumers), and its own for the tiled CPU
#: schedule of texpr/topi/cpu_transpose.py
TRANSPOSE_TAG = "injective,transpose"


def transpose(a: Tensor, axes: Sequence[int] | None = None) -> Tensor:
    """a with its axes permuted: output axis d is a's axis axes[d] (None: reversed), as
    numpy.transpose.

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((2, 3, 4), name="x")
    >>> topi.transpose(x).shape, topi.transpose(x, (0, 2, 1)).shape
    ((4, 3, 2), (2, 4, 3))
    """
    dims = _dims(a, "transpose")
    n = len(dims)
    if axes is None:
        perm = list(range(n))[::-1]
    else:
        axes = list(axes)
        if len(axes) != n:
            raise TexprError(f"transpose: axes {axes} must name each of the {n} axes of "
                             f"{a.name} once")
        perm = [_axis(x, n, "transpose") for x in axes]
        if sorted(perm) != list(range(n)):
            raise TexprError(f"transpose: axes {axes} must name each of the {n} axes of "
                             f"{a.name} once (a permutation of 0..{n - 1})")
    shape = tuple(dims[p] for p in perm)

    def element(*i):
        idx = [None] * n
        for d, p in enumerate(perm):
            idx[p] = i[d]
        return a[tuple(idx)]
    return compute(shape, element, name="transpose", tag=TRANSPOSE_TAG)


def where(condition: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """x where condition holds (is non-zero), else y, with NumPy's broadcasting over the
    three; x and y tensors or scalars of one dtype.

    >>> import texpr as te, texpr.topi as topi
    >>> c = te.placeholder((4,), dtype="bool", name="c")
    >>> x = te.placeholder((3, 4), name="x")
    >>> y = te.placeholder((1,), name="y")
    >>> topi.where(c, x, y).shape
    (3, 4)
    """
    from ..lang import dtypes
    from ..lang.broadcast import _reader, broadcast_shape
    from ..lang.expr import Expr, Select, convert
    if not isinstance(condition, Tensor):
        raise TexprError(f"where: condition must be a tensor, got {condition!r}")
    tensors = [t for t in (x, y) if isinstance(t, Tensor)]
    for what, v in (("x", x), ("y", y)):
        if not isinstance(v, (Tensor, Expr, numbers.Number)) or isinstance(v, bool):
            raise TexprError(f"where: {what} must be a tensor or a number, got {v!r}")
    dt = tensors[0].dtype if tensors else None
    if len(tensors) == 2 and x.dtype != y.dtype:
        raise TexprError(f"where: x ({x.name}, {x.dtype}) and y ({y.name}, {y.dtype}) must "
                         "have one dtype")
    shape = broadcast_shape(condition.shape, (), "where")
    for t in tensors:
        shape = broadcast_shape(shape, t.shape, "where")
    rc, rx, ry = _reader(condition, shape), _reader(x, shape), _reader(y, shape)

    def value(r, v, idx):
        e = r(idx)
        if isinstance(e, Expr):
            return e if dt is None or e.dtype == dt else e.astype(dt)
        return convert(e, dt)

    def element(*i):
        vx, vy = value(rx, x, i), value(ry, y, i)
        if vx.dtype != vy.dtype:
            raise TexprError(f"where: x and y have dtypes {vx.dtype} and {vy.dtype}; expected "
                             "one dtype")
        # a bool condition is compared as an int of the values' width (a vector select
        # takes its mask so); others are compared with 0 in their own dtype
        c = rc(i)
        if dtypes.is_bool(c.dtype):
            c = c.astype("int" + str(max(8, dtypes.bits(vx.dtype))))
        return Select(c != Const(0, c.dtype), vx, vy, vx.dtype)
    return compute(shape, element, name="where", tag="injective,broadcast")
