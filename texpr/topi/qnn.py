"""Quantised (uint8 / int8) operators as compute definitions, as mobile models run them.

`depthwise_conv2d_nchw_u8` is a uint8 depthwise 3x3 convolution (stride 1) with zero points:
an int32 accumulator stage, then requantisation to uint8 (Q31 fixed-point multiplier,
rounding shift, output zero point, saturation; `targets.hvx_intrin.requantize_expr`).
`dense_int8_packed` is an int8 dense over weights packed for 4-byte dot products
([N/lanes, K/4, lanes, 4]: HVX vrmpy, x86 VNNI and NEON sdot all read them this way);
`dense_int8_sat16` the same with pair sums saturated at int16 (AVX2 vpmaddubsw), and
`dense_int16_pairs` an exact AVX2 form over weights widened to int16. `DenseInt8` (a weight
packed once, the exact kernel chosen per call) runs them: topi/dense_int8.py.
NumPy references: topi.testing.depthwise_conv2d_nchw_u8_ref, dense_int8_packed_ref,
dense_int8_sat16_ref, pack_dense_int16_pairs_ref.
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
    M, K, Nb, lanes = _packed_dims(data, packed_weight, "dense_int8_packed", 4,
                                   ("int8", "uint8"), "int8")
    k = reduce_axis((0, K), "k")
    return compute((M, Nb * lanes), lambda i, j: te_sum(
        Cast(data[i, k], "int32") * Cast(packed_weight[j // lanes, k // 4, j % lanes, k % 4],
                                         "int32"), axis=k),
        name="dense_int8", tag="dense_int8_packed", attrs={"lanes": lanes})


def _packed_dims(data, packed_weight, who, group, data_dtypes, weight_dtype):
    """(M, K, N/lanes, lanes) of data [M, K] and a weight packed [N/lanes, K/group, lanes,
    group], or a TexprError naming what is wrong."""
    check_ndim(data, 2, who, "[M, K]")
    check_ndim(packed_weight, 4, who, f"[N/lanes, K/{group}, lanes, {group}]")
    if data.dtype not in data_dtypes or packed_weight.dtype != weight_dtype:
        raise TexprError(f"{who}: expects {'/'.join(data_dtypes)} data and {weight_dtype} weights, "
                         f"got {data.dtype} and {packed_weight.dtype}")
    M, K = (const_dim(data, d, who) for d in range(2))
    Nb, Kg, lanes, g = (const_dim(packed_weight, d, who) for d in range(4))
    if g != group or Kg * group != K:
        raise TexprError(f"{who}: weight must be packed [N/lanes, {K // group}, lanes, {group}] "
                         f"for K={K}, got [{Nb}, {Kg}, {lanes}, {g}]")
    return M, K, Nb, lanes


def dense_int8_sat16(data: Tensor, packed_weight: Tensor) -> Tensor:
    """data [M, K] uint8, packed_weight [N/lanes, K/4, lanes, 4] int8 -> [M, N] int32, each
    pair of products (k = 2p, 2p + 1) summed and saturated to int16 before the int32 sum.

    AVX2's vpmaddubsw arithmetic (targets.intrin.dot_u8s8_sat16, FBGEMM's kernel), declared
    as it is; it equals dense_int8_packed whenever every pair sum fits int16 (weights within
    [-64, 64], or activations at most 128): topi.qnn.DenseInt8 proves that before using it.

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((4, 64), dtype="uint8", name="data")
    >>> packed = te.placeholder((1, 16, 16, 4), dtype="int8", name="packed")   # N = 16
    >>> topi.qnn.dense_int8_sat16(data, packed).shape
    (4, 16)
    """
    from ..targets.intrin import sat16_pair_sum
    M, K, Nb, lanes = _packed_dims(data, packed_weight, "dense_int8_sat16", 4, ("uint8",), "int8")
    kg = reduce_axis((0, K // 4), "kg")
    h = reduce_axis((0, 2), "h")

    def pair(i, j):
        w = packed_weight[j // lanes, kg, j % lanes, h * 2], \
            packed_weight[j // lanes, kg, j % lanes, h * 2 + 1]
        return sat16_pair_sum(data[i, kg * 4 + h * 2], w[0], data[i, kg * 4 + h * 2 + 1], w[1])
    return compute((M, Nb * lanes), lambda i, j: te_sum(pair(i, j), axis=[kg, h]),
                   name="dense_int8_sat16", tag="dense_int8_sat16", attrs={"lanes": lanes})


def dense_int16_pairs(data: Tensor, packed_weight: Tensor) -> Tensor:
    """data [M, K] uint8 or int8, packed_weight [N/lanes, K/2, lanes, 2] int16 (int8 weights
    widened once) -> [M, N] int32, exact: the data widened to int16 in a stage of its own
    ("data_i16"), the products by AVX2's vpmaddwd (targets.intrin.dot_int16_pairs).

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((4, 64), dtype="uint8", name="data")
    >>> packed = te.placeholder((1, 32, 16, 2), dtype="int16", name="packed")   # N = 16
    >>> topi.qnn.dense_int16_pairs(data, packed).shape
    (4, 16)
    """
    M, K, Nb, lanes = _packed_dims(data, packed_weight, "dense_int16_pairs", 2,
                                   ("int8", "uint8"), "int16")
    wide = compute((M, K), lambda i, k: Cast(data[i, k], "int16"), name="data_i16",
                   tag="injective")
    k = reduce_axis((0, K), "k")
    return compute((M, Nb * lanes), lambda i, j: te_sum(
        Cast(wide[i, k], "int32") * Cast(packed_weight[j // lanes, k // 2, j % lanes, k % 2],
                                         "int32"), axis=k),
        name="dense_int16_pairs", tag="dense_int16_pairs", attrs={"lanes": lanes})


def __getattr__(name):
    # DenseInt8 builds kernels (topi/dense_int8.py imports the schedules, which import this
    # module): loaded on first use
    if name == "DenseInt8":
        from .dense_int8 import DenseInt8
        return DenseInt8
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + ["DenseInt8"])
