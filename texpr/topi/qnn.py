"""Quantised (uint8 / int8) operators as compute definitions, as mobile models run them.

`depthwise_conv2d_nchw_u8` is a uint8 depthwise 3x3 convolution (stride 1) with zero points:
an int32 accumulator stage, then requantisation to uint8 (Q31 fixed-point multiplier,
rounding shift, output zero point, saturation; `targets.hvx_intrin.requantize_expr`).
`dense_int8_packed` is an int8 dense over weights packed for 4-byte dot products
([N/lanes, K/4, lanes, 4]: HVX vrmpy, x86 VNNI and NEON sdot all read them this way).
NumPy references: topi.testing.depthwise_conv2d_nchw_u8_ref, dense_int8_packed_ref.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ..errors import TexprError
from ..lang.expr import Cast, const
from ..lang.reduction import sum as te_sum
from ..lang.tensor import compute, reduce_axis
from ..targets.hexagon.intrin import check_requant_params, requantize_expr
from .nn import pad
from .util import check_ndim, const_dim

if TYPE_CHECKING:
    from ..lang.tensor import Tensor


def depthwise_conv2d_nchw_u8(data: Tensor, kernel: Tensor, bias: Tensor, x_zp: Any, w_zp: Any,
                             multiplier: Any, shift: Any, out_zp: Any,
                             padding: int | Sequence[int] = 1) -> Tensor:
    """data [N, C, H, W] uint8, kernel [C, 1, 3, 3] uint8, bias [C] int32 -> [N, C, P, Q] uint8.

    acc = sum_{r,s} (x - x_zp) * (w - w_zp) over the input padded with x_zp (padding
    contributes nothing), out = requantize(acc + bias[c]).

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((1, 8, 16, 16), dtype="uint8", name="data")
    >>> kernel = te.placeholder((8, 1, 3, 3), dtype="uint8", name="kernel")
    >>> bias = te.placeholder((8,), dtype="int32", name="bias")
    >>> out = topi.qnn.depthwise_conv2d_nchw_u8(data, kernel, bias, 128, 128, 1 << 30, 0, 128)
    >>> out.shape, out.dtype
    ((1, 8, 16, 16), 'uint8')
    """
    check_ndim(data, 4, "depthwise_conv2d_nchw_u8", "NCHW")
    check_ndim(kernel, 4, "depthwise_conv2d_nchw_u8", "[C, 1, 3, 3]")
    check_ndim(bias, 1, "depthwise_conv2d_nchw_u8", "[C]")
    if data.dtype != "uint8" or kernel.dtype != "uint8" or bias.dtype != "int32":
        raise TexprError(f"depthwise_conv2d_nchw_u8: expects uint8 data and kernel and an int32 "
                         f"bias, got {data.dtype}, {kernel.dtype}, {bias.dtype}")
    check_requant_params(multiplier, shift, out_zp)
    for nm, v in (("x_zp", x_zp), ("w_zp", w_zp)):
        if not (isinstance(v, int) and 0 <= v <= 255):
            raise TexprError(f"depthwise_conv2d_nchw_u8: {nm} must be an int in [0, 255], got {v!r}")
    if not (isinstance(padding, int) and 0 <= padding <= 2):
        raise TexprError(f"depthwise_conv2d_nchw_u8: padding must be 0, 1 or 2, got {padding!r}")
    N, C, H, W = (const_dim(data, d, "depthwise_conv2d_nchw_u8") for d in range(4))
    C2, M, R, S = (const_dim(kernel, d, "depthwise_conv2d_nchw_u8") for d in range(4))
    if (C2, M, R, S) != (C, 1, 3, 3):
        raise TexprError(f"depthwise_conv2d_nchw_u8: kernel must be [{C}, 1, 3, 3], got "
                         f"[{C2}, {M}, {R}, {S}]")
    P, Q = H + 2 * padding - 2, W + 2 * padding - 2
    if P <= 0 or Q <= 0:
        raise TexprError(f"depthwise_conv2d_nchw_u8: input {H}x{W} is smaller than the 3x3 kernel")
    p = padding
    dp = pad(data, (0, 0, p, p), (0, 0, p, p), value=x_zp, name="data_pad")
    ry = reduce_axis((0, 3), "ry")
    rx = reduce_axis((0, 3), "rx")
    acc = compute((N, C, P, Q), lambda n, c, y, x: te_sum(
        (Cast(dp[n, c, y + ry, x + rx], "int32") - const(x_zp, "int32"))
        * (Cast(kernel[c, 0, ry, rx], "int32") - const(w_zp, "int32")), axis=[ry, rx]),
        name="dw_acc", tag="depthwise_u8_acc", attrs={"x_zp": x_zp, "w_zp": w_zp})
    return compute((N, C, P, Q), lambda n, c, y, x: requantize_expr(
        acc[n, c, y, x] + bias[c], multiplier, shift, out_zp), name="dw_requant",
        tag="requantize_u8", attrs={"multiplier": multiplier, "shift": shift, "zero_point": out_zp})


def dense_int8_packed(data: Tensor, packed_weight: Tensor) -> Tensor:
    """data [M, K] int8 or uint8, packed_weight [N/lanes, K/4, lanes, 4] int8 -> [M, N] int32.

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((4, 64), dtype="uint8", name="data")
    >>> packed = te.placeholder((2, 16, 8, 4), dtype="int8", name="packed")   # N = 16, lanes 8
    >>> out = topi.qnn.dense_int8_packed(data, packed)
    >>> out.shape, out.dtype
    ((4, 16), 'int32')
    """
    check_ndim(data, 2, "dense_int8_packed", "[M, K]")
    check_ndim(packed_weight, 4, "dense_int8_packed", "[N/lanes, K/4, lanes, 4]")
    if data.dtype not in ("int8", "uint8") or packed_weight.dtype != "int8":
        raise TexprError(f"dense_int8_packed: expects int8/uint8 data and int8 weights, got "
                         f"{data.dtype} and {packed_weight.dtype}")
    M, K = (const_dim(data, d, "dense_int8_packed") for d in range(2))
    Nb, Kg, lanes, four = (const_dim(packed_weight, d, "dense_int8_packed") for d in range(4))
    if four != 4 or Kg * 4 != K:
        raise TexprError(f"dense_int8_packed: weight must be packed [N/lanes, {K // 4}, lanes, 4] "
                         f"for K={K}, got [{Nb}, {Kg}, {lanes}, {four}]")
    k = reduce_axis((0, K), "k")
    return compute((M, Nb * lanes), lambda i, j: te_sum(
        Cast(data[i, k], "int32") * Cast(packed_weight[j // lanes, k // 4, j % lanes, k % 4],
                                         "int32"), axis=k),
        name="dense_int8", tag="dense_int8_packed", attrs={"lanes": lanes})
