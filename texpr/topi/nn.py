"""Neural-network operators as compute definitions (TVM conventions for layouts and order)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numbers

from .. import lang
from ..lang import dtypes
from ..errors import TexprError
from ..lang.expr import Const, all as te_all, elementwise_max, exp, if_then_else, max_value, min_value
from ..lang.reduction import max as te_max, sum as te_sum
from ..lang.tensor import compute, reduce_axis
from .util import check_ndim, const_dim, extent, normalize_axes, padding4, pair, positive
from .tag import ROW_PART

if TYPE_CHECKING:
    from ..lang.hints import DTypeLike, IntLike, TensorOrExpr
    from ..lang.tensor import Tensor


def _acc_dtype(a, b, out_dtype, op="operator"):
    """The dtype products are summed in. 16-bit float inputs (float16, bfloat16) must share
    their type; they sum in it by default, or in float32 as a declared choice (out_dtype)."""
    if dtypes.is_half(a) or dtypes.is_half(b):
        _check_half_inputs(a, b, out_dtype, op)
    if out_dtype is not None:
        return dtypes.normalize(out_dtype)
    if dtypes.is_int(a) and dtypes.bits(a) <= 16:
        return "int32"
    return dtypes.promote(a, b)


def _check_half_inputs(a, b, out_dtype, op):
    if a != b:
        raise TexprError(f"{op}: inputs of dtype {a} and {b}; expected both {a} or both {b} "
                         "(convert one with astype)")
    if out_dtype is not None and dtypes.normalize(out_dtype) not in (a, "float32"):
        raise TexprError(f"{op}: out_dtype {dtypes.normalize(out_dtype)} for {a} inputs; "
                         f"expected {a} or float32 (mixed precision: {a} products summed in "
                         "float32)")


def dense(data: Tensor, weight: Tensor, bias: Tensor | None = None,
          out_dtype: DTypeLike | None = None) -> Tensor:
    """out[i, j] = sum_k data[i, k] * weight[j, k] (+ bias[j]).

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((4, 16), name="data")
    >>> weight = te.placeholder((8, 16), name="weight")
    >>> [int(d) for d in topi.nn.dense(data, weight).shape]
    [4, 8]
    """
    check_ndim(data, 2, "dense", "[M, K]")
    check_ndim(weight, 2, "dense", "[N, K]")
    odt = _acc_dtype(data.dtype, weight.dtype, out_dtype, "dense")
    K = data.shape[1]
    if isinstance(K, Const) and isinstance(weight.shape[1], Const) and K.value != weight.shape[1].value:
        raise TexprError(f"dense: data has K={K.value} but weight has K={weight.shape[1].value}")
    k = reduce_axis((0, K), "k")
    out = compute((data.shape[0], weight.shape[0]),
                  lambda i, j: te_sum(data[i, k].astype(odt) * weight[j, k].astype(odt), axis=k),
                  name="dense", tag="dense")
    if bias is not None:
        check_ndim(bias, 1, "dense", "[N]")
        out = compute(out.shape, lambda i, j: out[i, j] + bias[j].astype(odt), name="dense_bias",
                      tag="elemwise")
    return out


def dense_pack(data: Tensor, packed_weight: Tensor, bias: Tensor | None = None,
               units: int | None = None, out_dtype: DTypeLike | None = None) -> Tensor:
    """dense with the weight pre-packed into panels: packed_weight [ceil(N/nb), K, nb] holds
    weight[p*nb + z, k] at [p, k, z] (see topi.layout.pack_dense_weight; pack it once, offline).

    units: N, the real number of outputs when it is not a multiple of nb (the padded rows of
    the last panel are zero); default nb * panels.

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((4, 16), name="data")
    >>> packed = te.placeholder((2, 16, 8), name="packed")       # N = 16 rows in panels of 8
    >>> topi.nn.dense_pack(data, packed).shape
    (4, 16)
    """
    check_ndim(data, 2, "dense_pack", "[M, K]")
    check_ndim(packed_weight, 3, "dense_pack", "[N/nb, K, nb]")
    P, K2, nb = (const_dim(packed_weight, d, "dense_pack") for d in range(3))
    K = const_dim(data, 1, "dense_pack")
    if K != K2:
        raise TexprError(f"dense_pack: data has K={K} but the packed weight has K={K2}")
    N = P * nb if units is None else int(units)
    if not (P - 1) * nb < N <= P * nb:
        raise TexprError(f"dense_pack: units={N} does not fit {P} panels of {nb}")
    odt = _acc_dtype(data.dtype, packed_weight.dtype, out_dtype, "dense_pack")
    k = reduce_axis((0, K), "k")
    out = compute((data.shape[0], N), lambda i, j: te_sum(
        data[i, k].astype(odt) * packed_weight[j // nb, k, j % nb].astype(odt), axis=k),
        name="dense_pack", tag="dense_pack")
    if bias is not None:
        check_ndim(bias, 1, "dense_pack", "[N]")
        out = compute(out.shape, lambda i, j: out[i, j] + bias[j].astype(odt), name="dense_bias",
                      tag="elemwise")
    return out


def batch_matmul(x: Tensor, y: Tensor, out_dtype: DTypeLike | None = None) -> Tensor:
    """out[b, i, j] = sum_k x[b, i, k] * y[b, j, k] (TVM's 'NT' layout).

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((2, 4, 16), name="x")
    >>> y = te.placeholder((2, 8, 16), name="y")
    >>> [int(d) for d in topi.nn.batch_matmul(x, y).shape]
    [2, 4, 8]
    """
    check_ndim(x, 3, "batch_matmul", "[B, M, K]")
    check_ndim(y, 3, "batch_matmul", "[B, N, K]")
    odt = _acc_dtype(x.dtype, y.dtype, out_dtype, "batch_matmul")
    k = reduce_axis((0, x.shape[2]), "k")
    return compute((x.shape[0], x.shape[1], y.shape[1]),
                   lambda b, i, j: te_sum(x[b, i, k].astype(odt) * y[b, j, k].astype(odt), axis=k),
                   name="batch_matmul", tag="batch_matmul")


def pad(data: Tensor, before: Sequence[IntLike], after: Sequence[IntLike],
        value: float = 0.0, name: str = "pad") -> Tensor:
    """Constant padding; index arithmetic stays in bounds (reads are guarded by the condition).

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((1, 3, 8, 8), name="x")
    >>> [int(d) for d in topi.nn.pad(x, (0, 0, 1, 1), (0, 0, 1, 2)).shape]
    [1, 3, 10, 11]
    """
    n = len(data.shape)
    if len(before) != n or len(after) != n:
        raise TexprError(f"pad: need {n} before/after values for {data.name}")
    if all(b == 0 for b in before) and all(a == 0 for a in after):
        return data
    shape = tuple(data.shape[d] + before[d] + after[d] for d in range(n))

    def f(*idx):
        conds = []
        src = []
        for d, i in enumerate(idx):
            if before[d] or after[d]:
                conds.append(i >= before[d])
                conds.append(i < data.shape[d] + before[d])
            src.append(i - before[d] if before[d] else i)
        return if_then_else(te_all(*conds), data[tuple(src)], Const(value, data.dtype))
    return compute(shape, f, name=name, tag="injective,pad",
                   attrs={"pad_before": tuple(before), "pad_after": tuple(after),
                          "pad_value": value})


def _out_size(n, k, s, p0, p1, d):
    return (n + p0 + p1 - ((k - 1) * d + 1)) // s + 1


def _conv_out_hw(who, H, W, R, S, stride, pads, dilation):
    """P, Q of a convolution, refused with the same words in every conv where a constant one
    is not positive (symbolic ones are checked at call time)."""
    (sh, sw), (pt, pl, pb, pr), (dh, dw) = stride, pads, dilation
    P, Q = _out_size(H, R, sh, pt, pb, dh), _out_size(W, S, sw, pl, pr, dw)
    if not positive(P, Q):
        raise TexprError(f"{who}: output would be {P}x{Q}; the kernel is larger than the input")
    return P, Q


def conv2d_nchw(data: Tensor, kernel: Tensor, stride: int | Sequence[int],
                padding: int | Sequence[int], dilation: int | Sequence[int] = 1, groups: int = 1,
                out_dtype: DTypeLike | None = None) -> Tensor:
    """data [N, C, H, W], kernel [O, C/groups, R, S] -> [N, O, P, Q].

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((1, 3, 32, 32), name="data")
    >>> kernel = te.placeholder((8, 3, 3, 3), name="kernel")
    >>> [int(d) for d in topi.nn.conv2d_nchw(data, kernel, 1, 1).shape]
    [1, 8, 32, 32]
    """
    check_ndim(data, 4, "conv2d_nchw", "NCHW")
    check_ndim(kernel, 4, "conv2d_nchw", "OIHW")
    sh, sw = pair(stride, "stride")
    dh, dw = pair(dilation, "dilation")
    pt, pl, pb, pr = padding4(padding)
    N, H, W = extent(data, 0), extent(data, 2), extent(data, 3)
    C = const_dim(data, 1, "conv2d_nchw")
    O, Cg, R, S = (const_dim(kernel, d, "conv2d_nchw") for d in range(4))
    if C % groups or O % groups or Cg != C // groups:
        raise TexprError(f"conv2d_nchw: {C} input channels, {O} outputs and groups={groups} do not "
                         f"fit kernel input channels {Cg}")
    P, Q = _conv_out_hw("conv2d_nchw", H, W, R, S, (sh, sw), (pt, pl, pb, pr), (dh, dw))
    odt = _acc_dtype(data.dtype, kernel.dtype, out_dtype)
    dp = pad(data, (0, 0, pt, pl), (0, 0, pb, pr), name="data_pad")
    rc = reduce_axis((0, Cg), "rc")
    ry = reduce_axis((0, R), "ry")
    rx = reduce_axis((0, S), "rx")
    og = O // groups

    def f(n, o, y, x):
        c = (o // og) * Cg + rc if groups > 1 else rc
        return te_sum(dp[n, c, y * sh + ry * dh, x * sw + rx * dw].astype(odt) *
                      kernel[o, rc, ry, rx].astype(odt), axis=[rc, ry, rx])
    return compute((N, O, P, Q), f, name="conv2d_nchw", tag="conv2d_nchw",
                   attrs={"strides": (sh, sw), "dilation": (dh, dw), "groups": groups})


def conv2d_nchw_packed(data: Tensor, kernel: Tensor, stride: int | Sequence[int],
                       padding: int | Sequence[int], dilation: int | Sequence[int] = 1,
                       out_dtype: DTypeLike | None = None) -> Tensor:
    """data [N, C, H, W], kernel packed once into channel blocks [O/oc, C/ic, R, S, ic, oc]
    (topi.layout.pack_kernel_nchwc; blocks from topi.cpu.conv_blocks) -> [N, O, P, Q].

    conv2d_nchw with NCHW data in and out whose constant kernel comes in the layout the CPU
    schedule reads (what a graph does to a model's weights once: Graph.conv2d), so that no
    call copies the kernel again.

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((1, 16, 14, 14), name="data")
    >>> kernel = te.placeholder((2, 2, 3, 3, 8, 16), name="kernel")   # 32 x 16 x 3 x 3 packed
    >>> [int(d) for d in topi.nn.conv2d_nchw_packed(data, kernel, 2, 1).shape]
    [1, 32, 7, 7]
    """
    check_ndim(data, 4, "conv2d_nchw_packed", "NCHW")
    check_ndim(kernel, 6, "conv2d_nchw_packed", "OIHW[ic]i[oc]o")
    sh, sw = pair(stride, "stride")
    dh, dw = pair(dilation, "dilation")
    pt, pl, pb, pr = padding4(padding)
    N, C, H, W = (const_dim(data, d, "conv2d_nchw_packed") for d in range(4))
    Ob, Cb, R, S, ic, oc = (const_dim(kernel, d, "conv2d_nchw_packed") for d in range(6))
    if Cb * ic != C:
        raise TexprError(f"conv2d_nchw_packed: kernel blocks {Cb}x{ic} do not cover the "
                         f"{C} input channels of data")
    P, Q = _conv_out_hw("conv2d_nchw_packed", H, W, R, S, (sh, sw), (pt, pl, pb, pr), (dh, dw))
    odt = _acc_dtype(data.dtype, kernel.dtype, out_dtype)
    dp = pad(data, (0, 0, pt, pl), (0, 0, pb, pr), name="data_pad")
    rc = reduce_axis((0, C), "rc")
    ry = reduce_axis((0, R), "ry")
    rx = reduce_axis((0, S), "rx")
    return compute((N, Ob * oc, P, Q),
                   lambda n, o, y, x: te_sum(
                       dp[n, rc, y * sh + ry * dh, x * sw + rx * dw].astype(odt) *
                       kernel[o // oc, rc // ic, ry, rx, rc % ic, o % oc].astype(odt),
                       axis=[rc, ry, rx]),
                   name="conv2d_nchw_packed", tag="conv2d_nchw_packed",
                   attrs={"strides": (sh, sw), "dilation": (dh, dw)})


def conv2d_NCHWc(data: Tensor, kernel: Tensor, stride: int | Sequence[int],
                 padding: int | Sequence[int], dilation: int | Sequence[int] = 1,
                 out_dtype: DTypeLike | None = None) -> Tensor:
    """data [N, C/ic, H, W, ic], kernel [O/oc, C/ic, R, S, ic, oc] -> [N, O/oc, P, Q, oc].

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((1, 2, 8, 8, 4), name="data")           # C = 8 in blocks of 4
    >>> kernel = te.placeholder((4, 2, 3, 3, 4, 4), name="kernel")     # O = 16 in blocks of 4
    >>> topi.nn.conv2d_NCHWc(data, kernel, 1, 1).shape
    (1, 4, 8, 8, 4)
    """
    check_ndim(data, 5, "conv2d_NCHWc", "NCHW[ic]c")
    check_ndim(kernel, 6, "conv2d_NCHWc", "OIHW[ic]i[oc]o")
    sh, sw = pair(stride, "stride")
    dh, dw = pair(dilation, "dilation")
    pt, pl, pb, pr = padding4(padding)
    N, H, W = extent(data, 0), extent(data, 2), extent(data, 3)
    Cb, ic = const_dim(data, 1, "conv2d_NCHWc"), const_dim(data, 4, "conv2d_NCHWc")
    Ob, Cb2, R, S, ic2, oc = (const_dim(kernel, d, "conv2d_NCHWc") for d in range(6))
    if Cb != Cb2 or ic != ic2:
        raise TexprError(f"conv2d_NCHWc: data channels {Cb}x{ic} do not match the kernel's {Cb2}x{ic2}")
    P, Q = _out_size(H, R, sh, pt, pb, dh), _out_size(W, S, sw, pl, pr, dw)
    odt = _acc_dtype(data.dtype, kernel.dtype, out_dtype)
    dp = pad(data, (0, 0, pt, pl, 0), (0, 0, pb, pr, 0), name="data_pad")
    rc = reduce_axis((0, Cb * ic), "rc")
    ry = reduce_axis((0, R), "ry")
    rx = reduce_axis((0, S), "rx")
    return compute((N, Ob, P, Q, oc),
                   lambda n, ob, y, x, o: te_sum(
                       dp[n, rc // ic, y * sh + ry * dh, x * sw + rx * dw, rc % ic].astype(odt) *
                       kernel[ob, rc // ic, ry, rx, rc % ic, o].astype(odt), axis=[rc, ry, rx]),
                   name="conv2d_NCHWc", tag="conv2d_NCHWc",
                   attrs={"strides": (sh, sw), "dilation": (dh, dw)})


def depthwise_conv2d_nchw(data: Tensor, kernel: Tensor, stride: int | Sequence[int],
                          padding: int | Sequence[int], dilation: int | Sequence[int] = 1,
                          out_dtype: DTypeLike | None = None) -> Tensor:
    """data [N, C, H, W], kernel [C, M, R, S] (channel multiplier M) -> [N, C*M, P, Q].

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((1, 8, 16, 16), name="data")
    >>> kernel = te.placeholder((8, 2, 3, 3), name="kernel")          # channel multiplier 2
    >>> topi.nn.depthwise_conv2d_nchw(data, kernel, 2, 1).shape
    (1, 16, 8, 8)
    """
    check_ndim(data, 4, "depthwise_conv2d_nchw", "NCHW")
    check_ndim(kernel, 4, "depthwise_conv2d_nchw", "[C, M, R, S]")
    sh, sw = pair(stride, "stride")
    dh, dw = pair(dilation, "dilation")
    pt, pl, pb, pr = padding4(padding)
    N, H, W = extent(data, 0), extent(data, 2), extent(data, 3)
    C = const_dim(data, 1, "depthwise_conv2d_nchw")
    C2, Mm, R, S = (const_dim(kernel, d, "depthwise_conv2d_nchw") for d in range(4))
    if C2 != C:
        raise TexprError(f"depthwise_conv2d_nchw: data has {C} channels, kernel {C2}")
    P, Q = _out_size(H, R, sh, pt, pb, dh), _out_size(W, S, sw, pl, pr, dw)
    odt = _acc_dtype(data.dtype, kernel.dtype, out_dtype)
    dp = pad(data, (0, 0, pt, pl), (0, 0, pb, pr), name="data_pad")
    ry = reduce_axis((0, R), "ry")
    rx = reduce_axis((0, S), "rx")
    return compute((N, C * Mm, P, Q),
                   lambda n, c, y, x: te_sum(
                       dp[n, c // Mm, y * sh + ry * dh, x * sw + rx * dw].astype(odt) *
                       kernel[c // Mm, c % Mm, ry, rx].astype(odt), axis=[ry, rx]),
                   name="depthwise_conv2d_nchw", tag="depthwise_conv2d_nchw",
                   attrs={"strides": (sh, sw), "dilation": (dh, dw)})


CHANNEL_REPEAT_TAG = "injective,channel_repeat"


def depthwise_conv2d_NCHWc(data: Tensor, kernel: Tensor, stride: int | Sequence[int],
                           padding: int | Sequence[int], dilation: int | Sequence[int] = 1,
                           out_dtype: DTypeLike | None = None) -> Tensor:
    """data [N, C/cb, H, W, cb], kernel [C*M/ob, R, S, ob] -> [N, C*M/ob, P, Q, ob]: M filters
    per input channel (the channel multiplier, M = the kernel's channels / the data's), output
    channel k reading input channel k // M, in blocks of ob (the kernel's last dimension; ob =
    cb when M = 1 keeps the data's blocking).

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((1, 2, 16, 16, 4), name="data")        # C = 8 in blocks of 4
    >>> kernel = te.placeholder((2, 3, 3, 4), name="kernel")     # M = 1: 8 outputs, blocks of 4
    >>> topi.nn.depthwise_conv2d_NCHWc(data, kernel, 1, 1).shape
    (1, 2, 16, 16, 4)
    """
    check_ndim(data, 5, "depthwise_conv2d_NCHWc", "NCHW[cb]c")
    check_ndim(kernel, 4, "depthwise_conv2d_NCHWc", "[C*M/ob, R, S, ob]")
    sh, sw = pair(stride, "stride")
    dh, dw = pair(dilation, "dilation")
    pt, pl, pb, pr = padding4(padding)
    N, H, W = extent(data, 0), extent(data, 2), extent(data, 3)
    Cb = const_dim(data, 1, "depthwise_conv2d_NCHWc")
    cb = const_dim(data, 4, "depthwise_conv2d_NCHWc")
    Ob, R, S, ob = (const_dim(kernel, d, "depthwise_conv2d_NCHWc") for d in range(4))
    if (Ob * ob) % (Cb * cb) != 0:
        raise TexprError(f"depthwise_conv2d_NCHWc: the kernel's {Ob}x{ob} output channels do "
                         f"not match the data's {Cb}x{cb} channels (they must be a multiple: "
                         f"M filters per channel)")
    M = Ob * ob // (Cb * cb)
    P, Q = _conv_out_hw("depthwise_conv2d_NCHWc", H, W, R, S, (sh, sw), (pt, pl, pb, pr),
                        (dh, dw))
    odt = _acc_dtype(data.dtype, kernel.dtype, out_dtype)
    if M > 1 or ob != cb:
        # output channel k = o*ob + i reads input channel k // M: the data in the output's
        # channel blocks, each channel repeated M times (inlined into the padded copy, or
        # a copy of its own without padding, so that the convolution reads whole vectors)
        def channel(o, i):
            return (o * ob + i) // M
        data = compute((N, Ob, H, W, ob), lambda n, o, h, w, i: data[
            n, channel(o, i) // cb, h, w, channel(o, i) % cb],
            name="data_repeat", tag=CHANNEL_REPEAT_TAG)
    dp = pad(data, (0, 0, pt, pl, 0), (0, 0, pb, pr, 0), name="data_pad")
    ry = reduce_axis((0, R), "ry")
    rx = reduce_axis((0, S), "rx")
    return compute((N, Ob, P, Q, ob),
                   lambda n, o, y, x, i: te_sum(
                       dp[n, o, y * sh + ry * dh, x * sw + rx * dw, i].astype(odt) *
                       kernel[o, ry, rx, i].astype(odt), axis=[ry, rx]),
                   name="depthwise_conv2d_NCHWc", tag="depthwise_conv2d_NCHWc")


_POOL_ARGS = ("padding", "pool_type", "count_include_pad", "dilation")
_TVM_POOL_ARGS = ("dilation", "padding", "pool_type", "ceil_mode", "layout", "count_include_pad")


def pool2d(data: Tensor, kernel: int | Sequence[int], stride: int | Sequence[int], *args: Any,
           **kwargs: Any) -> Tensor:
    """Max or average pooling over the last two dimensions (NCHW, or NCHWc with 5-D data);
    `dilation` spaces the window's taps (TVM's dilated pooling).

    The arguments after stride are texpr's (padding, pool_type="max", count_include_pad=True,
    dilation=(1, 1)) or TVM v0.14's (dilation, padding, pool_type, ceil_mode=False,
    layout="NCHW", count_include_pad=True), told apart by where the pool type (a string) is.

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((1, 4, 8, 8), name="data")
    >>> out = topi.nn.pool2d(data, (2, 2), (2, 2), (0, 0, 0, 0), "max")
    >>> [int(d) for d in out.shape]
    [1, 4, 4, 4]
    """
    tvm_order = len(args) >= 3 and isinstance(args[2], str) and not isinstance(args[1], str)
    names = _TVM_POOL_ARGS if tvm_order else _POOL_ARGS
    if len(args) > len(names):
        raise TexprError(f"pool2d: too many arguments ({3 + len(args)})")
    given = dict(zip(names, args))
    for k in kwargs:
        if k in given:
            raise TexprError(f"pool2d: {k} given twice")
    given.update(kwargs)
    if given.pop("ceil_mode", False):
        raise TexprError("pool2d: ceil_mode=True is not supported")
    layout = given.pop("layout", "NCHW")
    if layout != "NCHW":
        raise TexprError(f"pool2d: layout {layout!r} is not supported; expected 'NCHW' (or "
                         "NCHWc data of 5 dimensions)")
    if "padding" not in given:
        raise TexprError("pool2d: padding is required")
    return _pool2d(data, kernel, stride, **given)


def _pool2d(data, kernel, stride, padding, pool_type="max", count_include_pad=True,
            dilation=(1, 1)):
    if len(data.shape) not in (4, 5):
        raise TexprError(f"pool2d: {data.name} must be NCHW or NCHWc")
    if pool_type not in ("max", "avg"):
        raise TexprError(f"pool2d: pool_type must be 'max' or 'avg', got {pool_type!r}")
    kh, kw = pair(kernel, "kernel")
    sh, sw = pair(stride, "stride")
    dh, dw = pair(dilation, "dilation")
    if dh <= 0 or dw <= 0:
        raise TexprError(f"pool2d: dilation must be positive, got {dilation!r}")
    pt, pl, pb, pr = padding4(padding)
    H, W = extent(data, 2), extent(data, 3)
    P, Q = _out_size(H, kh, sh, pt, pb, dh), _out_size(W, kw, sw, pl, pr, dw)
    if not positive(P, Q):
        raise TexprError(f"pool2d: output would be {P}x{Q}; the (dilated) window is larger than "
                         "the padded input")
    nd = len(data.shape)
    before = (0, 0, pt, pl) + (0,) * (nd - 4)
    after = (0, 0, pb, pr) + (0,) * (nd - 4)
    padv = min_value(data.dtype).value if pool_type == "max" else 0
    dp = pad(data, before, after, value=padv, name="pool_pad")
    ry = reduce_axis((0, kh), "ry")
    rx = reduce_axis((0, kw), "rx")
    shape = (data.shape[0], data.shape[1], P, Q) + tuple(data.shape[4:])

    def window(n, c, y, x, rest):
        ty, tx = (ry * dh if dh != 1 else ry), (rx * dw if dw != 1 else rx)
        return dp[(n, c, y * sh + ty, x * sw + tx) + rest]
    # the window's steps, for the schedules (cpu.schedule_pool)
    attrs = {"strides": (sh, sw), "dilation": (dh, dw)}
    if pool_type == "max":
        return compute(shape, lambda n, c, y, x, *rest: te_max(
            window(n, c, y, x, rest), axis=[ry, rx]), name="pool_max", tag="pool", attrs=attrs)
    acc = "float32" if not dtypes.is_float(data.dtype) else data.dtype
    s = compute(shape, lambda n, c, y, x, *rest: te_sum(
        window(n, c, y, x, rest).astype(acc), axis=[ry, rx]), name="pool_sum", tag="pool",
        attrs=attrs)
    if count_include_pad:
        return compute(shape, lambda *i: (s[i] / float(kh * kw)).astype(data.dtype), name="pool_avg",
                       tag="elemwise")
    if (dh, dw) != (1, 1):
        # taps inside the unpadded input, counted per output position (a small stage of its own)
        cy, cx = reduce_axis((0, kh), "cy"), reduce_axis((0, kw), "cx")

        def taps(y, x):
            yy, xx = y * sh - pt + cy * dh, x * sw - pl + cx * dw
            inside = te_all(yy >= 0, yy < H, xx >= 0, xx < W)
            return te_sum(if_then_else(inside, Const(1, acc), Const(0, acc)), axis=[cy, cx])
        cnt = compute((P, Q), taps, name="pool_count", tag="pool_count")
        return compute(shape, lambda n, c, y, x, *rest: (s[(n, c, y, x) + rest] / cnt[y, x]).astype(
            data.dtype), name="pool_avg", tag="elemwise")

    def count(y, x):
        y0, x0 = y * sh - pt, x * sw - pl
        hy = lang.expr.elementwise_min(y0 + kh, H) - lang.expr.elementwise_max(y0, 0)
        hx = lang.expr.elementwise_min(x0 + kw, W) - lang.expr.elementwise_max(x0, 0)
        return (hy * hx).astype(acc)
    if not (isinstance(P, int) and isinstance(Q, int)):
        # a symbolic output size: the counts as a [P, Q] stage of their own (computed once
        # per call, not per channel), so that the division reads them as a plane contiguous
        # with the sums: cpu.schedule_pool vectorizes it over the flattened plane (the
        # per-row tail of a symbolic width would run scalar)
        cnt = compute((P, Q), count, name="pool_count", tag="pool_count")
        return compute(shape, lambda n, c, y, x, *rest: (
            s[(n, c, y, x) + rest] / cnt[y, x]).astype(data.dtype), name="pool_avg",
            tag="elemwise")
    return compute(shape, lambda n, c, y, x, *rest: (s[(n, c, y, x) + rest] / count(y, x)).astype(
        data.dtype), name="pool_avg", tag="elemwise")


def global_pool(data: Tensor, pool_type: str = "avg") -> Tensor:
    """Pool over the whole H x W (NCHW or NCHWc) -> [N, C, 1, 1(, c)].

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((1, 8, 7, 7), name="data")
    >>> topi.nn.global_pool(data, "max").shape
    (1, 8, 1, 1)
    """
    if len(data.shape) not in (4, 5):
        raise TexprError(f"global_pool: {data.name} must be NCHW or NCHWc")
    H, W = extent(data, 2), extent(data, 3)
    if len(data.shape) == 4 and dtypes.is_float(data.dtype) and pool_type in ("avg", "max"):
        # NCHW: a reduction over each channel's contiguous H x W, on the reductions'
        # vectorized schedules (cpu_reduce; 256 x 56 x 56 in 0.04 ms where the pooling loop
        # nest took 0.64, Zen 4), of a symbolic H x W too
        from .reduction import max as reduce_max, mean
        return (mean if pool_type == "avg" else reduce_max)(data, axis=(2, 3), keepdims=True)
    if not (isinstance(H, int) and isinstance(W, int)):
        return _global_pool_symbolic(data, H, W, pool_type)
    return pool2d(data, (H, W), 1, 0, pool_type)


def global_pool_flatten(data: Tensor, pool_type: str = "avg") -> Tensor:
    """Pool over the whole H x W and flatten: NCHW [N, C, H, W] or NCHWc [N, C/c, H, W, c]
    -> [N, C] in plain channel order (the layout change back from NCHWc at a network's head,
    done by the pool itself).

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((2, 8, 7, 7), name="data")
    >>> topi.nn.global_pool_flatten(data).shape
    (2, 8)
    """
    if len(data.shape) not in (4, 5):
        raise TexprError(f"global_pool_flatten: {data.name} must be NCHW or NCHWc")
    if pool_type not in ("max", "avg"):
        raise TexprError(f"global_pool_flatten: pool_type must be 'max' or 'avg', got {pool_type!r}")
    dims = [extent(data, d) if d in (0, 2, 3) else const_dim(data, d, "global_pool_flatten")
            for d in range(len(data.shape))]
    H, W = dims[2], dims[3]
    blk = dims[4] if len(dims) == 5 else 1
    C = dims[1] * blk
    ry = reduce_axis((0, H), "ry")
    rx = reduce_axis((0, W), "rx")

    def at(n, c):
        return (n, c // blk, ry, rx, c % blk) if len(dims) == 5 else (n, c, ry, rx)
    if pool_type == "max":
        return compute((dims[0], C), lambda n, c: te_max(data[at(n, c)], axis=[ry, rx]),
                       name="global_pool_flatten", tag="global_pool_flatten")
    acc = data.dtype if dtypes.is_float(data.dtype) else "float32"
    s = compute((dims[0], C), lambda n, c: te_sum(data[at(n, c)].astype(acc), axis=[ry, rx]),
                name="global_pool_sum", tag="global_pool_flatten")
    return compute((dims[0], C), lambda n, c: (s[n, c] / _count(H * W, acc)).astype(data.dtype),
                   name="global_pool_flatten", tag="elemwise")


def _count(n, dt):
    """The number of pooled elements as a float of dt (a constant, or a symbolic extent)."""
    return float(n) if isinstance(n, int) else n.astype(dt)


def _global_pool_symbolic(data, H, W, pool_type):
    """global_pool over symbolic H x W: a window reduction over the whole plane."""
    ry = reduce_axis((0, H), "ry")
    rx = reduce_axis((0, W), "rx")
    shape = (data.shape[0], data.shape[1], 1, 1) + tuple(data.shape[4:])

    def at(n, c, rest):
        return (n, c, ry, rx) + rest
    if pool_type == "max":
        return compute(shape, lambda n, c, y, x, *rest: te_max(data[at(n, c, rest)],
                                                               axis=[ry, rx]),
                       name="pool_max", tag="pool")
    if pool_type != "avg":
        raise TexprError(f"global_pool: pool_type must be 'max' or 'avg', got {pool_type!r}")
    acc = data.dtype if dtypes.is_float(data.dtype) else "float32"
    s = compute(shape, lambda n, c, y, x, *rest: te_sum(data[at(n, c, rest)].astype(acc),
                                                        axis=[ry, rx]),
                name="pool_sum", tag="pool")
    return compute(shape, lambda *i: (s[i] / _count(H * W, acc)).astype(data.dtype),
                   name="pool_avg", tag="elemwise")


def relu(x: Tensor) -> Tensor:
    """max(x, 0) elementwise (tag "elemwise": fused into its consumer by the schedules).

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((2, 3), name="x")
    >>> topi.nn.relu(x).dtype
    'float32'
    """
    return compute(x.shape, lambda *i: elementwise_max(x[i], Const(0, x.dtype)), name="relu",
                   tag="elemwise")


def _broadcast(a, b, fn, what):
    """compute(fn(a[..], b[..])) over the NumPy broadcast of the two shapes; one operand may
    be a scalar (a Python number or an Expr), used at every element (as TVM's topi)."""
    from ..lang.expr import Expr
    from ..lang.tensor import Tensor
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        for x in (a, b):
            if not isinstance(x, (Tensor, Expr, numbers.Number)):
                raise TexprError(f"{what}: operand {x!r} (type {type(x).__name__}) is neither a "
                                 "tensor nor a scalar expression")
        if isinstance(a, Tensor):
            return compute(tuple(a.shape), lambda *i: fn(a[i], b), name=what, tag="elemwise")
        if isinstance(b, Tensor):
            return compute(tuple(b.shape), lambda *i: fn(a, b[i]), name=what, tag="elemwise")
        raise TexprError(f"{what}: expected at least one tensor operand, got {a!r} and {b!r} "
                         "(for two scalars use the expression a + b)")
    na, nb = len(a.shape), len(b.shape)
    n = max(na, nb)
    sa = (Const(1, "int32"),) * (n - na) + tuple(a.shape)
    sb = (Const(1, "int32"),) * (n - nb) + tuple(b.shape)
    shape = []
    for d, (x, y) in enumerate(zip(sa, sb)):
        if isinstance(x, Const) and x.value == 1:
            shape.append(y)
        elif isinstance(y, Const) and y.value == 1:
            shape.append(x)
        elif isinstance(x, Const) and isinstance(y, Const) and x.value != y.value:
            raise TexprError(f"{what}: shapes {list(a.shape)} and {list(b.shape)} do not broadcast")
        else:
            shape.append(x)

    def idx(t, nt, s, i):
        i = i[n - nt:]
        return tuple(Const(0, "int32") if (isinstance(d, Const) and d.value == 1 and
                                            not (isinstance(o, Const) and o.value == 1)) else v
                     for v, d, o in zip(i, t.shape, shape[n - nt:]))
    return compute(tuple(shape), lambda *i: fn(a[idx(a, na, sa, i)], b[idx(b, nb, sb, i)]),
                   name=what, tag="elemwise")


def add(a: TensorOrExpr, b: TensorOrExpr) -> Tensor:
    """Elementwise a + b with NumPy broadcasting of the shapes.

    >>> import texpr as te, texpr.topi as topi
    >>> a = te.placeholder((2, 3), name="a")
    >>> b = te.placeholder((3,), name="b")
    >>> topi.add(a, b).shape
    (2, 3)
    """
    return _broadcast(a, b, lambda x, y: x + y, "add")


def multiply(a: TensorOrExpr, b: TensorOrExpr) -> Tensor:
    """Elementwise a * b with NumPy broadcasting (e.g. a batch-norm scale per channel).

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((1, 8, 4, 4), name="x")
    >>> scale = te.placeholder((8, 1, 1), name="scale")
    >>> topi.multiply(x, scale).shape
    (1, 8, 4, 4)
    """
    return _broadcast(a, b, lambda x, y: x * y, "multiply")


def bias_add(x: Tensor, bias: Any, axis: int = 1) -> Tensor:
    """x + bias broadcast along `axis` (NCHW: axis 1).

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((1, 8, 4, 4), name="x")
    >>> bias = te.placeholder((8,), name="bias")
    >>> topi.nn.bias_add(x, bias).shape
    (1, 8, 4, 4)
    """
    if len(bias.shape) != 1:
        raise TexprError("bias_add: bias must be 1-D")
    return compute(x.shape, lambda *i: x[i] + bias[i[axis]], name="bias_add", tag="elemwise")


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """Numerically stable softmax along `axis`: exp(x - max) / sum, the stages max, exp and
    sum tagged ROW_PART (topi/cpu_rows.py places them in the output's loops).

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((4, 10), name="x")
    >>> y = topi.nn.softmax(x, axis=-1)
    >>> [int(d) for d in y.shape], y.dtype
    ([4, 10], 'float32')
    """
    axis, at, rest, red_shape, mx = _rows_and_max(x, axis, "softmax")
    k2 = reduce_axis((0, x.shape[axis]), "k2")
    ex = compute(x.shape, lambda *i: exp(x[i] - mx[rest(i)], fast=True), name="softmax_exp",
                 tag=ROW_PART)
    sm = compute(red_shape, lambda *i: te_sum(ex[at(i, k2)], axis=k2), name="softmax_sum",
                 tag=ROW_PART)
    one = Const(1, x.dtype)
    return compute(x.shape, lambda *i: ex[i] * (one / sm[rest(i)]), name="softmax",
                   tag="softmax", attrs={"axis": (axis,)})


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log(softmax(x)) along `axis`: x - (max + log(sum(exp(x - max)))); the stages max, sum
    and their per-row total tagged ROW_PART (topi/cpu_rows.py).

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((2, 10), name="x")
    >>> y = topi.nn.log_softmax(x)
    >>> y.shape, y.dtype
    ((2, 10), 'float32')
    """
    axis, at, rest, red_shape, mx = _rows_and_max(x, axis, "log_softmax")
    k2 = reduce_axis((0, x.shape[axis]), "k2")
    sm = compute(red_shape, lambda *i: te_sum(exp(x[at(i, k2)] - mx[i], fast=True), axis=k2),
                 name="log_softmax_sum", tag=ROW_PART)
    # one log per row (in the output's expression it would be computed per element)
    lse = compute(red_shape, lambda *i: mx[i] + lang.expr.log(sm[i]), name="log_softmax_lse",
                  tag=ROW_PART)
    return compute(x.shape, lambda *i: x[i] - lse[rest(i)], name="log_softmax",
                   tag="log_softmax", attrs={"axis": (axis,)})


def _rows_and_max(x, axis, name):
    """What softmax and log_softmax share: the checked axis, index helpers (`at` puts a
    reduction index at the axis, `rest` drops it), the shape of a row statistic and the
    per-row max stage `<name>_max`."""
    axis = _softmax_axis(x, axis, name)
    k1 = reduce_axis((0, x.shape[axis]), "k1")

    def at(i, k):
        return i[:axis] + (k,) + i[axis:]

    def rest(i):
        return i[:axis] + i[axis + 1:]
    red_shape = tuple(s for d, s in enumerate(x.shape) if d != axis)
    mx = compute(red_shape, lambda *i: te_max(x[at(i, k1)], axis=k1), name=f"{name}_max",
                 tag=ROW_PART)
    return axis, at, rest, red_shape, mx


def _softmax_axis(x, axis, what):
    """The axis a softmax reduces, counted from either end and checked; x a float tensor."""
    if not dtypes.is_float(x.dtype):
        raise TexprError(f"{what}: {x.name} must be a float tensor, got {x.dtype}")
    if not x.shape:
        raise TexprError(f"{what}: {x.name} is a scalar; expected at least one dimension")
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TexprError(f"{what}: axis must be an int, got {axis!r}")
    (a,) = normalize_axes(axis, len(x.shape), what)
    return a


def fold_batch_norm(kernel, bias, gamma, beta, mean, var, eps=1e-5):
    """Fold inference batch-norm into conv weights (NumPy arrays, done once, offline).

    Returns (kernel', bias') with conv(x, kernel') + bias' == bn(conv(x, kernel) + bias).

    >>> import numpy as np, texpr.topi as topi
    >>> kernel, bias = np.ones((2, 1, 1, 1), "float32"), np.zeros(2, "float32")
    >>> gamma, beta = np.array([2.0, 1.0]), np.array([0.5, 0.0])
    >>> k, b = topi.nn.fold_batch_norm(kernel, bias, gamma, beta, np.zeros(2), np.ones(2), eps=0.0)
    >>> k.ravel(), b
    (array([2., 1.], dtype=float32), array([0.5, 0. ], dtype=float32))
    """
    import numpy as np
    scale = gamma / np.sqrt(var + eps)
    k = kernel * scale.reshape((-1,) + (1,) * (kernel.ndim - 1))
    return k.astype(kernel.dtype), ((bias - mean) * scale + beta).astype(bias.dtype)


from .winograd import (conv2d_winograd_NCHWc, conv2d_winograd_nchw,  # noqa: E402,F401
                       winograd_weight_transform, winograd_weight_transform_NCHWc)
from .conv2d_layouts import conv2d, conv2d_hwcn, conv2d_nhwc  # noqa: E402,F401
from .sparse import embedding  # noqa: E402,F401  (the ranking / LLM table lookup)
from .normalization import layer_norm, rms_norm  # noqa: E402,F401
from .activation import gelu  # noqa: E402,F401
from .attention import attention, scaled_dot_product_attention  # noqa: E402,F401
from .int4 import dense_int4, pack_int4, unpack_int4  # noqa: E402,F401  (packed 4-bit weights)
