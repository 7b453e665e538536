"""Layout transforms between NCHW and the blocked NCHWc layout, and kernel packing."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..errors import TexprError
from ..lang.expr import Const, if_then_else
from ..lang.tensor import compute
from .util import const_dim, extent

if TYPE_CHECKING:
    from ..lang.tensor import Tensor


def nchw_to_nchwc(data: Tensor, block: int) -> Tensor:
    """[N, C, H, W] -> [N, C/block, H, W, block].

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((1, 16, 8, 8), name="data")
    >>> [int(d) for d in topi.layout.nchw_to_nchwc(data, 8).shape]
    [1, 2, 8, 8, 8]
    """
    N, H, W = extent(data, 0), extent(data, 2), extent(data, 3)
    C = const_dim(data, 1, "nchw_to_nchwc")
    if C % block:
        raise TexprError(f"nchw_to_nchwc: {C} channels are not a multiple of block {block}")
    return compute((N, C // block, H, W, block), lambda n, cb, h, w, c: data[n, cb * block + c, h, w],
                   name="nchwc", tag="injective,layout")


def nchwc_to_nchw(data: Tensor) -> Tensor:
    """[N, C/b, H, W, b] -> [N, C, H, W].

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((1, 2, 8, 8, 4), name="x")
    >>> topi.layout.nchwc_to_nchw(x).shape
    (1, 8, 8, 8)
    """
    N, H, W = extent(data, 0), extent(data, 2), extent(data, 3)
    Cb, b = const_dim(data, 1, "nchwc_to_nchw"), const_dim(data, 4, "nchwc_to_nchw")
    return compute((N, Cb * b, H, W), lambda n, c, h, w: data[n, c // b, h, w, c % b], name="nchw",
                   tag="injective,layout")


def pack_kernel_nchwc(kernel: Tensor, ic: int, oc: int) -> Tensor:
    """OIHW kernel -> [O/oc, I/ic, H, W, ic, oc] for conv2d_NCHWc.

    >>> import texpr as te, texpr.topi as topi
    >>> kernel = te.placeholder((16, 8, 3, 3), name="kernel")
    >>> topi.layout.pack_kernel_nchwc(kernel, 4, 8).shape
    (2, 2, 3, 3, 4, 8)
    """
    O, I, R, S = (const_dim(kernel, d, "pack_kernel_nchwc") for d in range(4))
    if O % oc or I % ic:
        raise TexprError(f"pack_kernel_nchwc: kernel {O}x{I} is not divisible by blocks {oc}x{ic}")
    return compute((O // oc, I // ic, R, S, ic, oc),
                   lambda ob, ib, r, s, i, o: kernel[ob * oc + o, ib * ic + i, r, s],
                   name="kernel_nchwc", tag="injective,layout")


def pack_dense_weight(weight: Tensor, block: int) -> Tensor:
    """Dense weight [N, K] -> panels [ceil(N/block), K, block] for topi.nn.dense_pack
    (rows past N are zero).

    >>> import texpr as te, texpr.topi as topi
    >>> weight = te.placeholder((20, 16), name="weight")
    >>> topi.layout.pack_dense_weight(weight, 8).shape                # 20 rows: 3 panels of 8
    (3, 16, 8)
    """
    N, K = (const_dim(weight, d, "pack_dense_weight") for d in range(2))
    P = -(-N // block)

    def f(p, k, z):
        r = p * block + z
        if N % block == 0:
            return weight[r, k]
        return if_then_else(r < N, weight[r, k], Const(0, weight.dtype))
    return compute((P, K, block), f, name="weight_panels", tag="injective,layout")
