"""topi.topk (TVM's signature): the k greatest (least) elements along an axis and their
indices, in order, ties in index order (what a stable sort gives). NaN is greater than every
number (NumPy's sort order, torch.topk's): the first k of the greatest, the last of the least.

The selection is a loop program (a hybrid script) over the data viewed as [outer, n, inner]:
for each (outer, inner) line it sorts the first k elements, then keeps the best k seen so far
sorted, inserting an element only when it beats the current k-th, which it holds in a local
(O(n) compares, plus O(k) per insertion, walking up from the k-th); the outer lines run in
parallel. The compares run 16 at a time: a vectorized loop ORs each element's bit into a
mask where it may beat the k-th (lower/cpu/vectorize.py's lane reductions: one movemask on
x86), and only a chunk with a bit set is looked at, its candidates' lanes lowest bit first
(512 x 1000, k = 5, Zen 4, one process, 8 inputs in turn, medians: 0.499 -> 0.424 ms at 1
thread, 0.273 -> 0.218 at 2; torch.topk 1.01 / 0.65. Timed on one input called again and
again it ran 0.127 ms: the branch predictor learns that input's insertions, which new data
would not let it).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numbers

from ..errors import TexprError
from ..hybrid import script
from ..lang import dtypes
from .transform import _axis, _dims, reshape

if TYPE_CHECKING:
    from ..lang.hints import DTypeLike
    from ..lang.tensor import Tensor

_RET_TYPES = ("both", "values", "indices")


@script
def _top_lines(data, k, ascending, index_dtype):
    outer = data.shape[0]
    n = data.shape[1]
    inner = data.shape[2]
    values = output_tensor((outer, k, inner), data.dtype)
    indices = output_tensor((outer, k, inner), index_dtype)
    for o in parallel(outer):
        for c in range(inner):
            # the first k elements, sorted by insertion (ties: the earlier one first)
            for j in range(k):
                v = data[o, j, c]
                pos = j
                for t in range(k - 1):
                    e = j - 1 - t
                    if e >= 0 and e == pos - 1:
                        w = values[o, e, c]
                        moves = False
                        if ascending:       # (NaN is the greatest)
                            moves = not (v >= w or v != v)
                        else:
                            moves = not (v <= w or w != w)
                        if moves:
                            values[o, e + 1, c] = w
                            indices[o, e + 1, c] = indices[o, e, c]
                            pos = e
                values[o, pos, c] = v
                indices[o, pos, c] = j
            # the rest in chunks of 16: a vector compare with the k-th gives the bits of the
            # chunk's candidates (a movemask), and only a chunk with one looks at its elements
            # one by one (a NaN v beats no NaN k-th; ascending, a NaN v beats nothing); the
            # last, partial chunk looks at each of its elements
            kth = values[o, k - 1, c]
            for ch in range((n - k + 15) // 16):
                j0 = k + ch * 16
                m = 0
                if j0 + 16 <= n:
                    if ascending:
                        for l in vectorize(16):
                            m = m | (1 << l if not data[o, j0 + l, c] >= kth else 0)
                    else:
                        for l in vectorize(16):
                            m = m | (1 << l if not data[o, j0 + l, c] <= kth else 0)
                else:
                    m = (1 << (n - j0)) - 1
                # the candidates' lanes, lowest bit first
                for b in range(popcount(m)):
                    low = m & (0 - m)
                    m = m ^ low
                    j = j0 + (popcount(low - 1) & 15)
                    if j < n:
                        v = data[o, j, c]
                        beats = False
                        if ascending:
                            if not v >= kth:
                                beats = v == v
                        else:
                            if not v <= kth:
                                beats = kth == kth
                        if beats:
                            pos = k - 1
                            for t in range(k - 1):
                                if pos == k - 1 - t:
                                    w = values[o, k - 2 - t, c]
                                    moves = False
                                    if ascending:
                                        moves = not (v >= w)
                                    else:
                                        moves = not (v <= w or w != w)
                                    if moves:
                                        values[o, k - 1 - t, c] = w
                                        indices[o, k - 1 - t, c] = indices[o, k - 2 - t, c]
                                        pos = k - 2 - t
                            values[o, pos, c] = v
                            indices[o, pos, c] = j
                            kth = values[o, k - 1, c]
    return values, indices


def topk(data: Tensor, k: int = 1, axis: int = -1, ret_type: str = "both", is_ascend: bool = False,
         dtype: DTypeLike = "int64") -> Any:
    """The k largest (is_ascend: smallest) elements along `axis`, best first, and their
    indices (dtype `dtype`): [values, indices] for ret_type "both", else the one asked for.
    k < 1 takes the whole axis (TVM's rule); k larger than the axis is an error.

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((4, 10), name="x")
    >>> values, indices = topi.topk(x, k=3)
    >>> values.shape, indices.shape, indices.dtype
    ((4, 3), (4, 3), 'int64')
    """
    dims = _dims(data, "topk")
    if not dims:
        raise TexprError(f"topk: {data.name} is 0-dimensional; expected at least one axis")
    ax = _axis(axis, len(dims), "topk")
    n = dims[ax]
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TexprError(f"topk: k must be an int, got {k!r}")
    k = n if k < 1 else int(k)
    if k > n:
        raise TexprError(f"topk: k={k} is larger than axis {ax} of {data.name} (extent {n})")
    if ret_type not in _RET_TYPES:
        raise TexprError(f"topk: ret_type must be one of {_RET_TYPES}, got {ret_type!r}")
    if not dtypes.is_int(dtypes.normalize(dtype)) or dtypes.is_bool(dtype):
        raise TexprError(f"topk: dtype (of the indices) must be an integer type, got {dtype!r}")
    if dtypes.is_bool(data.dtype):
        raise TexprError(f"topk: {data.name} has dtype bool; expected numbers")
    outer = inner = 1
    for d in dims[:ax]:
        outer *= d
    for d in dims[ax + 1:]:
        inner *= d
    lines = data if len(dims) == 3 and ax == 1 else reshape(data, (outer, n, inner))
    values, indices = _top_lines(lines, k, bool(is_ascend), dtypes.normalize(dtype))
    shape = list(dims)
    shape[ax] = k
    outs = [reshape(t, shape) for t in (values, indices)]
    return outs if ret_type == "both" else outs[_RET_TYPES.index(ret_type) - 1]
