"""conv2d in the HWCN and NHWC layouts, and TVM's generic conv2d entry that picks the compute
for a data layout. The NCHW compute (and its tuned schedules) is nn.conv2d_nchw."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ..errors import TexprError
from ..lang.reduction import sum as te_sum
from ..lang.tensor import compute, reduce_axis
from .nn import _acc_dtype, _out_size, conv2d_nchw, pad
from .util import check_ndim, const_dim, pair, padding4

if TYPE_CHECKING:
    from ..lang.hints import DTypeLike
    from ..lang.tensor import Tensor


def conv_padding(padding: int | Sequence[int] | str, R: int, S: int, dilation: int | Sequence[int],
                 what: Any):
    """(top, left, bottom, right) from an int, a pair, a 4-tuple, or TVM's "SAME" / "VALID"
    strings ("SAME": the (dilated) kernel size minus one, the extra row/column at the top/left,
    as TVM does; the stride does not enter).

    >>> from texpr.topi.conv2d_layouts import conv_padding
    >>> conv_padding(1, 3, 3, 1, "conv2d"), conv_padding("SAME", 4, 4, 1, "conv2d")
    ((1, 1, 1, 1), (2, 2, 1, 1))
    """
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return 0, 0, 0, 0
        if mode == "SAME":
            dh, dw = pair(dilation, "dilation")
            ph, pw = (R - 1) * dh, (S - 1) * dw
            return (ph + 1) // 2, (pw + 1) // 2, ph - (ph + 1) // 2, pw - (pw + 1) // 2
        raise TexprError(f"{what}: padding string must be 'SAME' or 'VALID', got {padding!r}")
    return padding4(padding)


def _conv_geometry(what, H, W, R, S, stride, padding, dilation):
    sh, sw = pair(stride, "stride")
    dh, dw = pair(dilation, "dilation")
    pt, pl, pb, pr = conv_padding(padding, R, S, dilation, what)
    P, Q = _out_size(H, R, sh, pt, pb, dh), _out_size(W, S, sw, pl, pr, dw)
    if P <= 0 or Q <= 0:
        raise TexprError(f"{what}: output would be {P}x{Q}; the kernel is larger than the input")
    return (sh, sw), (dh, dw), (pt, pl, pb, pr), (P, Q)


def conv2d_hwcn(Input: Tensor, Filter: Tensor, stride: int | Sequence[int],
                padding: int | Sequence[int] | str, dilation: int | Sequence[int] = 1,
                out_dtype: DTypeLike | None = None) -> Tensor:
    """Input [H, W, C, N], Filter [R, S, C, O] -> [P, Q, O, N] (the batch innermost).

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((16, 16, 3, 2), name="data")
    >>> kernel = te.placeholder((3, 3, 3, 8), name="kernel")
    >>> topi.conv2d_layouts.conv2d_hwcn(data, kernel, 1, 1).shape
    (16, 16, 8, 2)
    """
    check_ndim(Input, 4, "conv2d_hwcn", "HWCN")
    check_ndim(Filter, 4, "conv2d_hwcn", "HWIO (R, S, C, O)")
    H, W, C, N = (const_dim(Input, d, "conv2d_hwcn") for d in range(4))
    R, S, Ck, O = (const_dim(Filter, d, "conv2d_hwcn") for d in range(4))
    if Ck != C:
        raise TexprError(f"conv2d_hwcn: {Input.name} has {C} channels (dimension 2) but the "
                         f"filter {Filter.name} expects {Ck} (its dimension 2)")
    (sh, sw), (dh, dw), (pt, pl, pb, pr), (P, Q) = _conv_geometry(
        "conv2d_hwcn", H, W, R, S, stride, padding, dilation)
    odt = _acc_dtype(Input.dtype, Filter.dtype, out_dtype)
    dp = pad(Input, (pt, pl, 0, 0), (pb, pr, 0, 0), name="data_pad")
    rc, ry, rx = reduce_axis((0, C), "rc"), reduce_axis((0, R), "ry"), reduce_axis((0, S), "rx")
    return compute((P, Q, O, N), lambda y, x, o, n: te_sum(
        dp[y * sh + ry * dh, x * sw + rx * dw, rc, n].astype(odt) *
        Filter[ry, rx, rc, o].astype(odt), axis=[ry, rx, rc]),
        name="conv2d_hwcn", tag="conv2d_hwcn")


def conv2d_nhwc(Input: Tensor, Filter: Tensor, stride: int | Sequence[int],
                padding: int | Sequence[int] | str, dilation: int | Sequence[int] = 1,
                out_dtype: DTypeLike | None = None) -> Tensor:
    """Input [N, H, W, C], Filter [R, S, C, O] (HWIO) -> [N, P, Q, O].

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((2, 16, 16, 3), name="data")
    >>> kernel = te.placeholder((3, 3, 3, 8), name="kernel")
    >>> topi.conv2d_layouts.conv2d_nhwc(data, kernel, 2, "SAME").shape
    (2, 8, 8, 8)
    """
    check_ndim(Input, 4, "conv2d_nhwc", "NHWC")
    check_ndim(Filter, 4, "conv2d_nhwc", "HWIO (R, S, C, O)")
    N, H, W, C = (const_dim(Input, d, "conv2d_nhwc") for d in range(4))
    R, S, Ck, O = (const_dim(Filter, d, "conv2d_nhwc") for d in range(4))
    if Ck != C:
        raise TexprError(f"conv2d_nhwc: {Input.name} has {C} channels (dimension 3) but the "
                         f"filter {Filter.name} expects {Ck} (its dimension 2)")
    (sh, sw), (dh, dw), (pt, pl, pb, pr), (P, Q) = _conv_geometry(
        "conv2d_nhwc", H, W, R, S, stride, padding, dilation)
    odt = _acc_dtype(Input.dtype, Filter.dtype, out_dtype)
    dp = pad(Input, (0, pt, pl, 0), (0, pb, pr, 0), name="data_pad")
    rc, ry, rx = reduce_axis((0, C), "rc"), reduce_axis((0, R), "ry"), reduce_axis((0, S), "rx")
    return compute((N, P, Q, O), lambda n, y, x, o: te_sum(
        dp[n, y * sh + ry * dh, x * sw + rx * dw, rc].astype(odt) *
        Filter[ry, rx, rc, o].astype(odt), axis=[ry, rx, rc]),
        name="conv2d_nhwc", tag="conv2d_nhwc")


# data layout -> (the kernel layout it takes, which dims of the kernel are R, S)
_LAYOUTS = {"NCHW": ("OIHW", (2, 3)), "NHWC": ("HWIO", (0, 1)), "HWCN": ("HWIO", (0, 1))}


def conv2d(input: Tensor, filter: Tensor, strides: int | Sequence[int],
           padding: int | Sequence[int] | str, dilation: int | Sequence[int], data_layout: str = "NCHW",
           kernel_layout: str = "", out_dtype: DTypeLike | None = None) -> Tensor:
    """TVM's generic conv2d: the compute for `data_layout` (NCHW with an OIHW kernel, NHWC or
    HWCN with an HWIO kernel).

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((1, 3, 16, 16), name="data")
    >>> kernel = te.placeholder((8, 3, 3, 3), name="kernel")
    >>> topi.conv2d_layouts.conv2d(data, kernel, 1, 1, 1, data_layout="NCHW").shape
    (1, 8, 16, 16)
    """
    if data_layout not in _LAYOUTS:
        raise TexprError(f"conv2d: data_layout {data_layout!r} is not supported; expected one "
                         f"of {', '.join(_LAYOUTS)} (NCHWc: topi.nn.conv2d_NCHWc)")
    klayout, (kr, ks) = _LAYOUTS[data_layout]
    if kernel_layout and kernel_layout != klayout:
        raise TexprError(f"conv2d: data_layout {data_layout} takes a {klayout} kernel, got "
                         f"kernel_layout {kernel_layout!r}")
    if data_layout == "HWCN":
        return conv2d_hwcn(input, filter, strides, padding, dilation, out_dtype)
    if data_layout == "NHWC":
        return conv2d_nhwc(input, filter, strides, padding, dilation, out_dtype)
    check_ndim(filter, 4, "conv2d", klayout)
    R, S = const_dim(filter, kr, "conv2d"), const_dim(filter, ks, "conv2d")
    pads = conv_padding(padding, R, S, dilation, "conv2d")
    return conv2d_nchw(input, filter, strides, pads, dilation, out_dtype=out_dtype)
