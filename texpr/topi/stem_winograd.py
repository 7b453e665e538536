"""The RGB stem (7 x 7, stride 2, few input channels) through space-to-depth and
a 1-D Winograd F(4, 4) along the output columns.

Space-to-depth makes the stride-2 convolution a stride-1 one on 4C channels (the 2 x 2
phases of each channel) with a 4 x 4 kernel (the 7 x 7 one zero-padded to 8 x 8): 192 taps
where the direct kernel has 147. Along the columns, F(4, 4) computes 4 outputs of a 4-tap
row from 7 products (points 0, +-1, +-2, 1/2 and infinity: winograd_matrices(4, 4)); along
the rows it stays direct. A 4-wide tile of one output row then costs 7 x 4C x 4 products
against 4 x C x R x R: ResNet-50's stem 84 per output instead of 147 (1.75x fewer), at an
input transform on 4C channels and an output transform on O channels (7 -> 4).

Stages (all sizes constant): the input's columns in 8 phases ("stem_phases": column 8j + ph
of a row at [.., ph, j], contiguous in j), the input transform V = B^T z per tile along the
columns ("stem_V" [7, N, C, 2, 2, rows, tiles], the tiles padded to
whole vectors), V regrouped per output row with the 4
kernel rows of each phase channel as the GEMM's k ("stem_V2" [7, N, P, 16C, tiles]: the
rows h..h+3 of V copied whole), the batched GEMM per (position, output row)
M[t, n, h, j, o] = sum_k V2[t, n, h, k, j] U[t, k, o] ("stem_M"), and the output transform
A^T M (NCHWc; NCHW through blocks of OUTPUT_BLOCK channels, "stem_Y", transposed). Weights are transformed once, offline (stem_weight_transform_ref).
Error: 6e-7 of the largest output in float32 (ResNet-50's stem, random data; direct 3e-7).
"""
from __future__ import annotations

import numpy as np

from ..errors import TexprError
from ..lang.expr import Const, if_then_else
from ..lang.reduction import sum as te_sum
from ..lang.tensor import compute, reduce_axis
from .util import check_ndim, const_dim, padding4
from .winograd import _coef, _nonzero, space_to_depth_kernel_ref, winograd_matrices

#: outputs per tile along the columns, and the taps of the space-to-depth kernel
TILE, TAPS = 4, 4
ALPHA = TILE + TAPS - 1
#: the rows of tiles of the phase copy, V and V2 are declared padded to a multiple of this
#: (16 lanes of AVX-512, 2 x 8 of AVX2); the GEMM reads nW of them, and bound inference sizes
#: V and V2 to those (ResNet-50's stem, Zen 4, avx512, 1 thread: medians 1.58-1.70 ms with
#: it, 1.69-1.73 without or with only the copy padded: within the noise of a loaded machine)
ROW_BLOCK = 16
#: an NCHW output is computed in blocks of this many channels (the output transform's
#: vectors), then transposed into the channel planes (cpu_conv_stem: 8 x 8 register
#: transposes where every output would otherwise be a store of its own)
OUTPUT_BLOCK = 8


def stem_matrices():
    """(AT [4 x 7], G [7 x 4], BT [7 x 7]) of F(4, 4) (float64)."""
    return winograd_matrices(TILE, TAPS)


def stem_weight_transform_ref(kernel):
    """OIHW 7 x 7 kernel (stride 2) -> U [7, 16C, O] (float64 math, one rounding
    to the kernel's dtype): k = ((c * 2 + py) * 2 + px) * 4 + dy, the phase (py, px) of
    channel c and the space-to-depth kernel row dy; U[t, k, o] = sum_dx G[t, dx]
    kernel[o, c, 2dy + py, 2dx + px] (zero past R).

    >>> import numpy as np
    >>> stem_weight_transform_ref(np.ones((64, 3, 7, 7), "float32")).shape
    (7, 48, 64)
    """
    O, C, R, S = kernel.shape
    if (R, S) != (2 * TAPS - 1,) * 2:
        raise TexprError(f"stem_weight_transform_ref: a 7x7 kernel, got {R}x{S}")
    _, G, _ = stem_matrices()
    k2 = space_to_depth_kernel_ref(kernel.astype(np.float64)).reshape(
        O, 2, 2, C, TAPS, TAPS)                                           # o py px c dy dx
    u = np.einsum("td,oyxced->tcyxeo", G, k2).reshape(ALPHA, 16 * C, O)
    return np.ascontiguousarray(u.astype(kernel.dtype))


def stem_winograd_applies(C, R, stride, H, W, dilation=1):
    """Whether a convolution has this algorithm: few channels, 7 x 7 stride 2, constant
    sizes."""
    return (isinstance(C, int) and C <= 4 and R == 2 * TAPS - 1 and stride == 2 and dilation == 1
            and isinstance(H, int) and isinstance(W, int))


def conv2d_stem_winograd(data, U, padding, layout="NCHW", oc=None):
    """The stem convolution of the module docstring. data: NCHW [N, C, H, W] or NCHWc
    [N, 1, H, W, C] (one block of all C channels, the graph's image); U:
    stem_weight_transform_ref's [7, 16C, O]. Output NCHW [N, O, P, Q], or with layout
    "NCHWc" [N, O/oc, P, Q, oc].

    >>> import texpr as te
    >>> x = te.placeholder((1, 3, 224, 224), name="x")
    >>> U = te.placeholder((7, 48, 64), name="U")
    >>> conv2d_stem_winograd(x, U, 3).shape
    (1, 64, 112, 112)
    """
    if len(data.shape) == 5:
        check_ndim(data, 5, "conv2d_stem_winograd", "NCHW[C]c")
        N, Cb, H, W, C = (const_dim(data, d, "conv2d_stem_winograd") for d in range(5))
        if Cb != 1:
            raise TexprError(f"conv2d_stem_winograd: NCHWc data of one channel block, got {Cb}")

        def read(n, c, h, w):
            return data[n, 0, h, w, c]
    else:
        check_ndim(data, 4, "conv2d_stem_winograd", "NCHW")
        N, C, H, W = (const_dim(data, d, "conv2d_stem_winograd") for d in range(4))

        def read(n, c, h, w):
            return data[n, c, h, w]
    check_ndim(U, 3, "conv2d_stem_winograd", "[7, 16C, O]")
    a, K, O = (const_dim(U, d, "conv2d_stem_winograd") for d in range(3))
    if (a, K) != (ALPHA, 16 * C):
        raise TexprError(f"conv2d_stem_winograd: weights [{ALPHA}, {16 * C}, O] for {C} "
                         f"channels, got {tuple(int(d.value) for d in U.shape)}")
    if layout not in ("NCHW", "NCHWc"):
        raise TexprError(f"conv2d_stem_winograd: layout NCHW or NCHWc, got {layout!r}")
    oc = oc or O
    if O % oc:
        raise TexprError(f"conv2d_stem_winograd: {O} output channels in blocks of {oc}")
    pt, pl, pb, pr = padding4(padding)
    R = 2 * TAPS - 1
    P = (H + pt + pb - R) // 2 + 1
    Q = (W + pl + pr - R) // 2 + 1
    nW = -(-Q // TILE)
    nWp = -(-nW // ROW_BLOCK) * ROW_BLOCK   # V's rows of tiles: whole vectors, no lane loops
    rows = P + TAPS - 1                     # space-to-depth rows the outputs read
    dt = data.dtype

    def inside(h, w):
        return (h >= 0) & (h < H) & (w >= 0) & (w < W)

    # column 8j + ph of padded row r: [N, C, 2 rows, 8, nWp + 1]
    def zph(n, c, r, ph, j):
        h, w = r - pt, 8 * j + ph - pl
        return if_then_else(inside(h, w), read(n, c, h, w), Const(0.0, dt))
    Z = compute((N, C, 2 * rows, 8, nWp + 1), zph, name="stem_phases", tag="stem_winograd_phases")
    AT, _, BT = stem_matrices()
    l_ = reduce_axis((0, ALPHA), "l")

    def v(t, n, c, py, px, i, j):          # V = B^T z: z_l = column 2(4j + l) + px
        col = 2 * l_ + px
        return te_sum(_coef(BT, t, l_.var, dt) * Z[n, c, 2 * i + py, col % 8, j + col // 8],
                      axis=l_, where=_nonzero(BT, t, l_.var))
    V = compute((ALPHA, N, C, 2, 2, rows, nWp), v, name="stem_V", tag="stem_winograd_input")

    def v2(t, n, h, k, j):
        dy, px, py, c = k % TAPS, (k // TAPS) % 2, (k // (2 * TAPS)) % 2, k // (4 * TAPS)
        return V[t, n, c, py, px, h + dy, j]
    V2 = compute((ALPHA, N, P, K, nWp), v2, name="stem_V2", tag="stem_winograd_rows")
    rk = reduce_axis((0, K), "rk")
    M = compute((ALPHA, N, P, nW, O), lambda t, n, h, j, o: te_sum(
        V2[t, n, h, rk, j] * U[t, rk, o], axis=rk), name="stem_M", tag="stem_winograd_gemm")
    e = reduce_axis((0, ALPHA), "e")
    attrs = {"tile_size": TILE, "nW": nW}

    def y(n, o, h, w):
        return te_sum(_coef(AT, w % TILE, e.var, dt) * M[e, n, h, w // TILE, o], axis=e,
                      where=_nonzero(AT, w % TILE, e.var))
    if layout == "NCHW" and O % OUTPUT_BLOCK:
        return compute((N, O, P, Q), y, name="conv2d_stem_winograd",
                       tag="stem_winograd_output", attrs=attrs)
    if layout == "NCHW":            # channel blocks, then transposed into the channel planes
        Y = compute((N, O // OUTPUT_BLOCK, P, Q, OUTPUT_BLOCK),
                    lambda n, ob, h, w, oi: y(n, ob * OUTPUT_BLOCK + oi, h, w),
                    name="stem_Y", tag="stem_winograd_output_blocks")
        return compute((N, O, P, Q), lambda n, o, h, w: Y[n, o // OUTPUT_BLOCK, h, w,
                                                          o % OUTPUT_BLOCK],
                       name="conv2d_stem_winograd", tag="stem_winograd_output", attrs=attrs)
    return compute((N, O // oc, P, Q, oc), lambda n, ob, h, w, oi: y(n, ob * oc + oi, h, w),
                   name="conv2d_stem_winograd_NCHWc", tag="stem_winograd_output_NCHWc",
                   attrs=attrs)
