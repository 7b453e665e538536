"""Winograd convolution F(m, 3) for 3x3, stride-1 convolutions (m = 2, 4, 5 or 6); in NCHW
also 3x3 stride 2 (F(m, 2) on the space-to-depth input), dilated ones (on their phases) and
5x5 ones (F(2, 5), F(4, 5)).

The transform matrices come from Toom-Cook interpolation (points 0, ±1, ±2, ±1/2 and
infinity); A^T and G are written down from the points and B^T is solved exactly (sympy
rationals) from the identity the three must satisfy, so every tile size gets exact matrices.
F(5,3) (the points of F(6,3) but -1/2) is for outputs of 14: 3 x 3 tiles of 5, where F(4,3)
needs 4 x 4 (441 multiplies per channel pair instead of 576; topi/cpu_conv3x3.py).
y = A^T [ (G g G^T) ⊙ (B^T d B) ] A, computed as: input transform, a batched GEMM over the
alpha x alpha positions, output transform. Weights are transformed once, offline.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from functools import lru_cache

import numpy as np
import sympy

from ..errors import TexprError
from ..lang import dtypes
from ..lang.expr import Const, if_then_else
from ..lang.reduction import sum as te_sum
from ..lang.tensor import compute, reduce_axis
from .nn import _acc_dtype, pad
from .util import check_ndim, const_dim, padding4

if TYPE_CHECKING:
    from ..lang.tensor import Tensor

_POINTS = [sympy.Integer(0), sympy.Integer(1), sympy.Integer(-1), sympy.Integer(2), sympy.Integer(-2),
           sympy.Rational(1, 2), sympy.Rational(-1, 2), sympy.Integer(3), sympy.Integer(-3)]


# the tile sizes m of F(m, r) by kernel size r: F(m, 2) is the 3x3 stride-2 convolution on
# the space-to-depth input (conv2d_winograd_nchw(stride=2)), F(4, 4) the 7x7 stride-2 stem's
# 1-D transform on its space-to-depth input (stem_winograd), F(m, 5) a 5x5 stride-1 one (the
# points of F(4,3) for m = 2, of F(6,3) for m = 4)
TILE_SIZES = {3: (2, 4, 5, 6), 2: (2, 4), 4: (4,), 5: (2, 4)}


@lru_cache(maxsize=None)
def winograd_matrices(m, r=3):
    """(AT [m x a], G [a x r], BT [a x a]) as float64 arrays, a = m + r - 1.

    >>> from texpr.topi.winograd import winograd_matrices
    >>> AT, G, BT = winograd_matrices(2)
    >>> AT.shape, G.shape, BT.shape
    ((2, 4), (4, 3), (4, 4))
    """
    if r not in TILE_SIZES:
        raise TexprError(f"winograd: kernel size must be one of {tuple(TILE_SIZES)} (F(m,r)), "
                         f"got {r}")
    if m not in TILE_SIZES[r]:
        raise TexprError(f"winograd: tile size must be one of {TILE_SIZES[r]} for F(m,{r}), "
                         f"got {m}")
    a = m + r - 1
    pts = _POINTS[:a - 1]
    AT = sympy.zeros(m, a)
    G = sympy.zeros(a, r)
    for j, p in enumerate(pts):
        f = sympy.prod([p - q for q in pts if q != p])
        for i in range(m):
            AT[i, j] = p ** i
        for k in range(r):
            G[j, k] = p ** k / f
    AT[m - 1, a - 1] = 1
    G[a - 1, r - 1] = 1
    # B^T from: sum_j AT[i,j] G[j,k] BT[j,l] = [l == i + k]
    M = sympy.Matrix([[AT[i, j] * G[j, k] for j in range(a)] for i in range(m) for k in range(r)])
    BT = sympy.zeros(a, a)
    MtM_inv = (M.T * M).inv()
    for l in range(a):
        b = sympy.Matrix([1 if l == i + k else 0 for i in range(m) for k in range(r)])
        x = MtM_inv * M.T * b
        assert M * x == b, "Winograd system is inconsistent"
        for j in range(a):
            BT[j, l] = x[j]
    to = lambda S: np.array(S.tolist(), dtype=np.float64)
    return to(AT), to(G), to(BT)


def _const_matrix(mat, name, dtype):
    """A small constant matrix as a compute (folds away once its indices are constants)."""
    rows, cols = mat.shape

    def f(i, j):
        out = Const(0.0, dtype)
        for a in range(rows):
            for b in range(cols):
                if mat[a, b] != 0:
                    out = if_then_else((i == a) & (j == b), Const(float(mat[a, b]), dtype), out)
        return out
    return compute((rows, cols), f, name=name, tag="injective,const_matrix")


def winograd_weight_transform(kernel: Tensor, tile_size: int, layout: str = "OI",
                              dtype: str | None = None, stride: int = 1) -> Tensor:
    """OIHW 3x3 kernel -> U (do this once, offline).

    layout "OI": U [alpha, alpha, O, I]; layout "IO": U [alpha, alpha, I, O], the layout the
    fast CPU schedules read (the output channels are the vector lanes of the batched GEMM).
    dtype: what the transform computes in and returns (default the kernel's; "float32" for a
    16-bit kernel of a mixed-precision Winograd convolution). stride=2: the weight of
    F(tile_size, 2) on the space-to-depth input (conv2d_winograd_nchw(stride=2)): I = 4 x the
    kernel's input channels, alpha = tile_size + 1 (see space_to_depth_kernel).

    >>> import texpr as te, texpr.topi as topi
    >>> kernel = te.placeholder((8, 4, 3, 3), name="kernel")
    >>> topi.winograd.winograd_weight_transform(kernel, 4).shape        # alpha = 4 + 3 - 1
    (6, 6, 8, 4)
    >>> topi.winograd.winograd_weight_transform(kernel, 4, stride=2).shape   # 4 + 2 - 1
    (5, 5, 8, 16)
    """
    check_ndim(kernel, 4, "winograd_weight_transform", "OIHW")
    O, I, R, S = (const_dim(kernel, d, "winograd_weight_transform") for d in range(4))
    if R != S:
        raise TexprError(f"winograd: square kernels only, got {R}x{S}")
    if layout not in ("OI", "IO"):
        raise TexprError(f"winograd_weight_transform: layout must be 'OI' or 'IO', got {layout!r}")
    r = _kernel_size(stride, "winograd_weight_transform", R)
    _, Gm, _ = winograd_matrices(tile_size, r)
    a = tile_size + r - 1
    dt = dtype or kernel.dtype
    G = _const_matrix(Gm, "G", dt)
    r1 = reduce_axis((0, r), "r1")
    r2 = reduce_axis((0, r), "r2")
    if stride == 1:
        k = _widened(lambda o, i: kernel[o, i, r1, r2], dt)
    else:
        I *= 4
        k = _widened(lambda o, i: space_to_depth_kernel(kernel)(o, i, r1, r2), dt)
    if layout == "OI":
        return compute((a, a, O, I), lambda e, n, o, i: te_sum(
            G[e, r1] * k(o, i) * G[n, r2], axis=[r1, r2]), name="winograd_U",
            tag="winograd_weight")
    return compute((a, a, I, O), lambda e, n, i, o: te_sum(
        G[e, r1] * k(o, i) * G[n, r2], axis=[r1, r2]), name="winograd_U",
        tag="winograd_weight")


def _kernel_size(stride, op, R=3):
    """The Winograd kernel size r of an R x R convolution (R = 3, or 5 at stride 1) of
    `stride`: R, or 2 for a 3x3 of stride 2 (a 2x2 convolution of the space-to-depth
    input)."""
    if stride not in (1, 2):
        raise TexprError(f"{op}: stride must be 1 or 2, got {stride}")
    if R not in (3, 5) or (R == 5 and stride != 1):
        raise TexprError(f"{op}: Winograd takes 3x3 kernels (stride 1 or 2) and 5x5 ones "
                         f"(stride 1), got {R}x{R} of stride {stride}")
    return R if stride == 1 else 2


def space_to_depth_kernel(kernel):
    """k2(o, i2, a, b): the 3x3 OIHW kernel as the 2x2 kernel of the same stride-2 convolution
    on the space-to-depth input, i2 = (2p + q) C + c the input phase (p, q) and channel c:
    kernel[o, c, 2a + p, 2b + q], zero where 2a + p or 2b + q is 3 (the kernel zero-padded
    to 4x4). A 3x3 stride-2 convolution of x is the 2x2 stride-1 one of x'[n, i2, i, j] =
    xpad[n, c, 2i + p, 2j + q] with this kernel: space_to_depth_kernel_ref is its NumPy twin.

    >>> import texpr as te
    >>> kernel = te.placeholder((8, 4, 3, 3), name="kernel")
    >>> k2 = space_to_depth_kernel(kernel)
    >>> k2(0, 0, 1, 1)             # phase (0, 0), channel 0
    kernel[0, 0, 2, 2]
    >>> k2(0, 5, 1, 1)             # phase (0, 1), channel 1: row 3 of the padded 4x4
    0.0f
    """
    return _space_to_depth_read(lambda o, c, h, w: kernel[o, c, h, w],
                                const_dim(kernel, 1, "space_to_depth_kernel"), kernel.dtype)


def _space_to_depth_read(read, C, dtype):
    """k2(o, i2, a, b) of space_to_depth_kernel over any 3x3 kernel read(o, c, h, w) of C
    input channels (OIHW, or the NCHWc-packed blocks)."""
    def k2(o, i2, a, b):
        p, q, c = i2 // C // 2, i2 // C % 2, i2 % C
        h, w = 2 * a + p, 2 * b + q
        if isinstance(h, int) and isinstance(w, int):       # constant indices
            return read(o, c, h, w) if h < 3 and w < 3 else Const(0.0, dtype)
        return if_then_else((h < 3) & (w < 3), read(o, c, h, w), Const(0.0, dtype))
    return k2


def space_to_depth_kernel_ref(kernel):
    """NumPy twin of space_to_depth_kernel: [O, C, R, R] -> [O, 4C, T, T], T = (R + 1) // 2
    (3x3 -> 2x2; the stem's 7x7 -> 4x4, stem_winograd), the kernel zero-padded to 2T x 2T.

    >>> import numpy as np
    >>> space_to_depth_kernel_ref(np.ones((2, 3, 3, 3), "float32")).shape
    (2, 12, 2, 2)
    """
    O, C, R = kernel.shape[:3]
    T = (R + 1) // 2
    k4 = np.zeros((O, C, 2 * T, 2 * T), kernel.dtype)
    k4[:, :, :R, :R] = kernel
    # k4[o, c, 2a + p, 2b + q] -> [o, p, q, c, a, b]
    return np.ascontiguousarray(k4.reshape(O, C, T, 2, T, 2).transpose(0, 3, 5, 1, 2, 4)
                                .reshape(O, 4 * C, T, T))


def _coef(mat, i, j, dtype):
    """mat[i, j] for symbolic i, j (Vars, not IterVars): selects on the row, then on the
    column, over the non-zero entries. It is lane-invariant (vectorizes as a broadcast) and
    folds to a constant once the schedule unrolls the small transform loops."""
    rows, cols = mat.shape

    def row(a):
        out = Const(0.0, dtype)
        for b in range(cols):
            if mat[a, b] != 0:
                out = if_then_else(j == b, Const(float(mat[a, b]), dtype), out)
        return out
    out = row(rows - 1)
    for a in range(rows - 2, -1, -1):
        out = if_then_else(i == a, row(a), out)
    return out


def _nonzero(mat, i, j):
    """mat[i, j] != 0 as a condition (the `where` of the transform sums: zero terms are
    skipped, and the test folds away once i and j are constants)."""
    rows, cols = mat.shape

    def row(a):
        zeros = [b for b in range(cols) if mat[a, b] == 0]
        if not zeros:
            return Const(True, "bool")
        out = None
        for b in zeros:
            t = j != b
            out = t if out is None else (out & t)
        return out
    out = row(rows - 1)
    for a in range(rows - 2, -1, -1):
        out = if_then_else(i == a, row(a), out)
    return out


def conv2d_winograd_nchw(data: Tensor, kernel: Tensor, padding: int | Sequence[int],
                         tile_size: int, pre_transformed: bool = False,
                         weight_layout: str = "OI", out_dtype: str | None = None,
                         stride: int = 1, dilation: int = 1,
                         kernel_size: int | None = None) -> Tensor:
    """3x3 convolution through Winograd: stride 1 as F(tile_size, 3); stride 2 as
    F(tile_size, 2) on the space-to-depth input (the 2x2 convolution of its 4C channels
    x'[n, (2p + q) C + c, i, j] = xpad[n, c, 2i + p, 2j + q] with space_to_depth_kernel:
    (m + 1)^2 / m^2 x 4 multiplies per output and channel, 6.25 at m = 4 against the direct
    kernel's 9). The space-to-depth is the index the input transform reads, no copy.
    dilation d (stride 1): the outputs of each of the d x d phases (h % d, w % d) are an
    undilated convolution of the input's pixels of that phase, computed as d x d more
    images of ceil(P/d) x ceil(Q/d) outputs (the phase is again an index of the reads).

    A 5x5 kernel (stride 1): F(tile_size, 5), tile size 2 or 4 (kernel_size=5 with a
    pre-transformed kernel, whose alpha does not tell: F(2,5) and F(4,3) both have 6).

    kernel is OIHW, or with pre_transformed=True the output of winograd_weight_transform in
    `weight_layout` ("OI": [alpha, alpha, O, I]; "IO": [alpha, alpha, I, O]; "IOo": [alpha,
    alpha, O/oc, I, oc], panels of oc output channels, the fastest: the GEMM reads each panel
    as one contiguous run and prefetches the next; winograd_weight_transform_ref(...,
    layout="IOo", oc=oc)).

    Stages: input transform in two separable halves (T = B^T d, V = T B: [alpha, alpha,
    tiles, C]), the batched GEMM M[e, nu, tile, o] = sum_c V[e, nu, tile, c] U[e, nu, c, o],
    and the output transform in two halves (S = M A, out = A^T S). The transforms are sums
    whose coefficient is a lane-invariant select over the matrix entries and whose `where`
    skips the zero entries: once the schedule unrolls the small loops, every coefficient is a
    constant and no zero is multiplied.

    out_dtype (default: the inputs' dtype) "float32" with 16-bit inputs is mixed precision
    (see _mixed_precision): the transforms in float32, each GEMM operand rounded to the
    inputs' type, the products summed in float32.

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((1, 4, 16, 16), name="data")
    >>> kernel = te.placeholder((8, 4, 3, 3), name="kernel")
    >>> topi.winograd.conv2d_winograd_nchw(data, kernel, 1, 4).shape
    (1, 8, 16, 16)
    >>> topi.winograd.conv2d_winograd_nchw(data, kernel, 1, 4, stride=2).shape
    (1, 8, 8, 8)
    """
    check_ndim(data, 4, "conv2d_winograd_nchw", "NCHW")
    N, C, H, W = (const_dim(data, d, "conv2d_winograd_nchw") for d in range(4))
    dt, half = _mixed_precision(data, kernel, out_dtype, "conv2d_winograd_nchw")
    m = tile_size
    if pre_transformed:
        R = kernel_size or 3
    else:
        check_ndim(kernel, 4, "conv2d_winograd_nchw", "OIHW")
        R = const_dim(kernel, 2, "conv2d_winograd_nchw")
        if kernel_size not in (None, R):
            raise TexprError(f"conv2d_winograd_nchw: kernel_size {kernel_size} but the kernel "
                             f"is {R}x{R}")
    r = _kernel_size(stride, "conv2d_winograd_nchw", R)
    winograd_matrices(m, r)         # checks the tile size
    a = m + r - 1
    d = dilation
    if not isinstance(d, int) or d < 1 or (d > 1 and stride != 1):
        raise TexprError(f"conv2d_winograd_nchw: dilation must be a positive int, with "
                         f"stride 1 where it is not 1; got dilation {dilation!r}, stride "
                         f"{stride}")
    if weight_layout not in ("OI", "IO", "IOo"):
        raise TexprError(f"conv2d_winograd_nchw: weight_layout must be 'OI', 'IO' or 'IOo', "
                         f"got {weight_layout!r}")
    if weight_layout == "IOo" and not pre_transformed:
        raise TexprError("conv2d_winograd_nchw: weight_layout 'IOo' is for a pre-transformed "
                         "kernel (winograd_weight_transform_ref(..., layout='IOo', oc=...))")
    if pre_transformed:
        if weight_layout == "IOo":
            check_ndim(kernel, 5, "conv2d_winograd_nchw", "[alpha, alpha, O/oc, I, oc]")
        else:
            check_ndim(kernel, 4, "conv2d_winograd_nchw", "[alpha, alpha, O, I]")
        if const_dim(kernel, 0, "winograd") != a:
            raise TexprError(f"conv2d_winograd_nchw: pre-transformed kernel is for alpha="
                             f"{const_dim(kernel, 0, 'winograd')}, tile size {m} needs {a}")
        U, layout = kernel, weight_layout
    else:
        U, layout = winograd_weight_transform(kernel, m, layout="IO", dtype=dt,
                                              stride=stride), "IO"
    gemm_attrs: dict = {"weight_layout": layout}
    if layout == "IOo":
        Ob, Cu, oc = (const_dim(U, d, "conv2d_winograd_nchw") for d in (2, 3, 4))
        O = Ob * oc
        gemm_attrs["oc"] = oc
    else:
        O = const_dim(U, 2 if layout == "OI" else 3, "conv2d_winograd_nchw")
        Cu = const_dim(U, 3 if layout == "OI" else 2, "conv2d_winograd_nchw")
    Cw = C * stride * stride        # the channels of the (space-to-depth) input
    if Cu != Cw:
        raise TexprError(f"conv2d_winograd_nchw: kernel has {Cu} input channels, data {C}"
                         + (f" ({Cw} after space-to-depth)" if stride > 1 else ""))
    pt, pl, pb, pr = padding4(padding)
    P = (H + pt + pb - (R - 1) * d - 1) // stride + 1
    Q = (W + pl + pr - (R - 1) * d - 1) // stride + 1
    if P <= 0 or Q <= 0:
        raise TexprError(f"conv2d_winograd_nchw: output would be {P}x{Q}")
    Pd, Qd = -(-P // d), -(-Q // d)                 # the outputs of a phase, at most
    nH, nW = -(-Pd // m), -(-Qd // m)
    # tiles of m outputs read (m + r - 1) rows of the (space-to-depth, or phase) input:
    # padded with zeros to whole tiles (stride 2: 2 (nH m + 1) rows, dilation d: d (nH m + 2)
    # rows, never fewer than the padding asked)
    Hp, Wp = stride * d * (nH * m + r - 1), stride * d * (nW * m + r - 1)
    dp = pad(data, (0, 0, pt, pl), (0, 0, Hp - H - pt, Wp - W - pl), name="wino_pad")
    if stride == 1 and d == 1:
        read = lambda n, c, h, w: dp[n, c, h, w]
    elif d > 1:
        # image n of the phases: image n // d^2, phase (n // d % d, n % d)
        read = lambda n, c, h, w: dp[n // (d * d), c, d * h + n // d % d, d * w + n % d]
    else:
        # phase c // C = 2p + q written so that the schedule's split of c at C folds it
        read = lambda n, c, h, w: dp[n, c % C, 2 * h + c // C // 2, 2 * w + c // C % 2]
    S = _winograd_tiles(_widened(read, dt), N * d * d, nH, nW, Cw, O, m, dt,
                        weight_at(U, gemm_attrs), gemm_attrs, half, r)
    AT = winograd_matrices(m, r)[0]
    e1 = reduce_axis((0, a), "e1")

    def y(n, o, h, w):            # out = A^T S
        p = n * (nH * nW) + (h // m) * nW + w // m
        return te_sum(_coef(AT, h % m, e1.var, dt) * S[e1, w % m, p, o], axis=e1,
                      where=_nonzero(AT, h % m, e1.var))
    attrs = {"tile_size": m, "nH": nH, "nW": nW, "stride": stride, "kernel_size": R}
    if d == 1:
        return compute((N, O, P, Q), y, name="conv2d_winograd", tag="winograd_output",
                       attrs=attrs)
    # the phases' outputs as images, then interleaved (the schedule's epilogue pass)
    Yp = compute((N * d * d, O, Pd, Qd), y, name="winograd_phases", tag="winograd_output",
                 attrs=attrs)
    return compute((N, O, P, Q), lambda n, o, h, w: Yp[n * d * d + h % d * d + w % d, o,
                                                       h // d, w // d],
                   name="conv2d_winograd", tag="injective,winograd_dilated")


def _mixed_precision(data, kernel, out_dtype, op):
    """(dt, half): the dtype the transforms and sums compute in, and the 16-bit type the GEMM
    operands are rounded to (None: no rounding, everything in the inputs' dtype, as without
    out_dtype). Mixed precision is 16-bit inputs with out_dtype="float32": the input
    transform B^T d B and the weight transform G g G^T in float32, each rounded once (to
    nearest even) to the 16-bit type as a GEMM operand, the exact products summed in float32,
    the output transform in float32. The rounding is part of the declaration, so every target
    and schedule computes the same (the bfloat16 pair dot products of AVX-512 / BFDOT read the
    rounded operands directly)."""
    odt = _acc_dtype(data.dtype, kernel.dtype, out_dtype, op)
    if out_dtype is None or odt == data.dtype:
        return data.dtype, None
    if dtypes.is_half(data.dtype):          # out_dtype float32 (_acc_dtype checked it)
        return odt, data.dtype
    raise TexprError(f"{op}: out_dtype {odt} for {data.dtype} inputs; expected {data.dtype} "
                     "(only 16-bit inputs have a mixed-precision Winograd: float32 sums)")


def _widened(read, dt):
    """read, its loads converted to dt where they differ (16-bit data of a mixed-precision
    convolution)."""
    def f(*ix):
        v = read(*ix)
        return v if v.dtype == dt else v.astype(dt)
    return f


def weight_at(U, attrs):
    """u_at(e, nu, c, o): the transformed weight U read in the layout the batched GEMM's
    attrs name ("OI" [alpha, alpha, O, C], "IO" [alpha, alpha, C, O], "IOo" [alpha, alpha,
    O/oc, C, oc], "IOo2" [alpha, alpha, O/oc, C/2, oc, 2]); schedules that repack U read it
    through this too.

    >>> import texpr as te
    >>> U = te.placeholder((4, 4, 16, 8), name="U")      # OI: [alpha, alpha, O, C]
    >>> weight_at(U, {"weight_layout": "OI"})(0, 1, 2, 3)  # channel 2, output 3
    U[0, 1, 3, 2]
    """
    layout, oc = attrs["weight_layout"], attrs.get("oc")
    if layout == "IO":
        return lambda e, nu, c, o: U[e, nu, c, o]
    if layout == "OI":
        return lambda e, nu, c, o: U[e, nu, o, c]
    if layout == "IOo2":
        return lambda e, nu, c, o: U[e, nu, o // oc, c // 2, o % oc, c % 2]
    return lambda e, nu, c, o: U[e, nu, o // oc, c, o % oc]


def _winograd_tiles(read, N, nH, nW, C, O, m, dt, u_at, gemm_attrs, half=None, r=3):
    """The stages shared by the NCHW and NCHWc Winograd convolutions, up to S = M A
    ([alpha, m, tiles, O]): input transform T = B^T d, V = T B ([alpha, alpha, tiles, C]),
    batched GEMM M = V U and the first half of the output transform. `read(n, c, h, w)` loads
    the padded input (channel c of the flat channel range, whatever the layout);
    `u_at(e, nu, c, o)` loads the transformed weight. half: the 16-bit type both GEMM
    operands are rounded to (mixed precision, _mixed_precision), recorded in the GEMM's attrs
    as "half_operands". r: the kernel size (F(m, r), alpha = m + r - 1)."""
    AT, _, BT = winograd_matrices(m, r)
    a = m + r - 1

    def tile(p):
        return p // (nH * nW), (p // nW) % nH, p % nW

    ntiles = N * nH * nW
    r1 = reduce_axis((0, a), "r1")
    T = compute((a, a, ntiles, C), lambda e, r2, p, c: te_sum(       # T = B^T d
        _coef(BT, e, r1.var, dt) * read(tile(p)[0], c, tile(p)[1] * m + r1, tile(p)[2] * m + r2),
        axis=r1, where=_nonzero(BT, e, r1.var)), name="winograd_T", tag="winograd_input_rows")
    r2 = reduce_axis((0, a), "r2")
    V = compute((a, a, ntiles, C), lambda e, nu, p, c: te_sum(       # V = T B
        _coef(BT, nu, r2.var, dt) * T[e, r2, p, c], axis=r2, where=_nonzero(BT, nu, r2.var)),
        name="winograd_V", tag="winograd_input")
    rc = reduce_axis((0, C), "rc")

    def operand(v):
        return v if half is None else v.astype(half).astype(dt)
    if half is not None:
        gemm_attrs = dict(gemm_attrs, half_operands=half)
    Mt = compute((a, a, ntiles, O), lambda e, nu, p, o: te_sum(
        operand(V[e, nu, p, rc]) * operand(u_at(e, nu, rc, o)), axis=rc), name="winograd_M",
        tag="winograd_batch_gemm", attrs=gemm_attrs)
    e2 = reduce_axis((0, a), "e2")
    return compute((a, m, ntiles, O), lambda e1, wi, p, o: te_sum(      # S = M A
        _coef(AT, wi, e2.var, dt) * Mt[e1, e2, p, o], axis=e2, where=_nonzero(AT, wi, e2.var)),
        name="winograd_S", tag="winograd_output_cols")


def winograd_weight_transform_NCHWc(kernel: Tensor, tile_size: int,
                                    dtype: str | None = None, stride: int = 1) -> Tensor:
    """NCHWc-packed 3x3 kernel [O/oc, C/ic, 3, 3, ic, oc] -> U [alpha, alpha, O/oc, C, oc]
    (do this once, offline): for each (alpha, alpha) position, panels of oc output channels
    with the input channels along the rows, the layout the batched GEMM of
    conv2d_winograd_NCHWc reads with contiguous vector loads. dtype, stride: as for
    winograd_weight_transform (stride 2: C becomes the 4C space-to-depth channels).

    >>> import texpr as te, texpr.topi as topi
    >>> kernel = te.placeholder((2, 1, 3, 3, 4, 4), name="kernel")     # O = 8, C = 4
    >>> topi.winograd.winograd_weight_transform_NCHWc(kernel, 2).shape
    (4, 4, 2, 4, 4)
    """
    check_ndim(kernel, 6, "winograd_weight_transform_NCHWc", "[O/oc, C/ic, 3, 3, ic, oc]")
    Ob, Cb, R, S, ic, oc = (const_dim(kernel, d, "winograd_weight_transform_NCHWc")
                            for d in range(6))
    if (R, S) != (3, 3):
        raise TexprError(f"winograd: only 3x3 kernels are supported, got {R}x{S}")
    r = _kernel_size(stride, "winograd_weight_transform_NCHWc")
    _, Gm, _ = winograd_matrices(tile_size, r)
    a = tile_size + r - 1
    dt = dtype or kernel.dtype
    G = _const_matrix(Gm, "G", dt)
    r1 = reduce_axis((0, r), "r1")
    r2 = reduce_axis((0, r), "r2")
    if stride == 1:
        k = _widened(lambda ob, c, o: kernel[ob, c // ic, r1, r2, c % ic, o], dt)
    else:
        k2 = _space_to_depth_read(lambda ob_o, c, h, w: kernel[ob_o[0], c // ic, h, w, c % ic,
                                                                  ob_o[1]], Cb * ic, kernel.dtype)
        k = _widened(lambda ob, c, o: k2((ob, o), c, r1, r2), dt)
    return compute((a, a, Ob, Cb * ic * stride * stride, oc), lambda e, nu, ob, c, o: te_sum(
        G[e, r1] * k(ob, c, o) * G[nu, r2], axis=[r1, r2]),
        name="winograd_U_NCHWc", tag="winograd_weight")


def conv2d_winograd_NCHWc(data: Tensor, kernel: Tensor, padding: int | Sequence[int],
                          tile_size: int, pre_transformed: bool = False,
                          out_dtype: str | None = None, stride: int = 1) -> Tensor:
    """3x3 convolution through Winograd F(tile_size, 3) in the NCHWc layout (stride 2:
    F(tile_size, 2) on the space-to-depth input, as conv2d_winograd_nchw; the transformed
    kernel then has 4C input channels).

    data [N, C/ic, H, W, ic] -> [N, O/oc, P, Q, oc]. kernel: NCHWc-packed
    [O/oc, C/ic, 3, 3, ic, oc] (as for conv2d_NCHWc), or with pre_transformed=True the output
    of winograd_weight_transform_NCHWc, [alpha, alpha, O/oc, C, oc] (transform it once,
    offline); with 16-bit inputs and out_dtype="float32" also as channel pairs
    [alpha, alpha, O/oc, C/2, oc, 2] (winograd_weight_pairs_NCHWc_ref: what the bfloat16
    GEMM on dot_bf16 reads, so no packing per call). Same stages as conv2d_winograd_nchw; the output transform writes whole
    channel blocks (contiguous vectors), so a graph stays in NCHWc from layer to layer.
    out_dtype: as for conv2d_winograd_nchw.

    >>> import texpr as te, texpr.topi as topi
    >>> data = te.placeholder((1, 1, 16, 16, 4), name="data")
    >>> kernel = te.placeholder((2, 1, 3, 3, 4, 4), name="kernel")
    >>> topi.winograd.conv2d_winograd_NCHWc(data, kernel, 1, 2).shape
    (1, 2, 16, 16, 4)
    """
    check_ndim(data, 5, "conv2d_winograd_NCHWc", "NCHW[ic]c")
    N, Cb, H, W, ic = (const_dim(data, d, "conv2d_winograd_NCHWc") for d in range(5))
    dt, half = _mixed_precision(data, kernel, out_dtype, "conv2d_winograd_NCHWc")
    C = Cb * ic
    m = tile_size
    r = _kernel_size(stride, "conv2d_winograd_NCHWc")
    winograd_matrices(m, r)         # checks the tile size
    a = m + r - 1
    layout = "IOo"
    if pre_transformed and len(kernel.shape) == 6 and half is not None:
        # [alpha, alpha, O/oc, C/2, oc, 2]: the channel pairs of the bfloat16 GEMM, offline
        ka, _, Ob, Cp, oc, two = (const_dim(kernel, d, "conv2d_winograd_NCHWc") for d in range(6))
        if two != 2:
            raise TexprError(f"conv2d_winograd_NCHWc: pre-transformed channel-pair kernel "
                             f"[alpha, alpha, O/oc, C/2, oc, 2] has last dimension {two}, "
                             "expected 2")
        Cu, U, layout = 2 * Cp, kernel, "IOo2"
        if ka != a:
            raise TexprError(f"conv2d_winograd_NCHWc: pre-transformed kernel is for alpha={ka}, "
                             f"tile size {m} needs {a}")
    elif pre_transformed:
        check_ndim(kernel, 5, "conv2d_winograd_NCHWc", "[alpha, alpha, O/oc, C, oc]" + (
            " or, with out_dtype float32, [alpha, alpha, O/oc, C/2, oc, 2]" if half else ""))
        ka, _, Ob, Cu, oc = (const_dim(kernel, d, "conv2d_winograd_NCHWc") for d in range(5))
        if ka != a:
            raise TexprError(f"conv2d_winograd_NCHWc: pre-transformed kernel is for alpha={ka}, "
                             f"tile size {m} needs {a}")
        U = kernel
    else:
        check_ndim(kernel, 6, "conv2d_winograd_NCHWc", "[O/oc, C/ic, 3, 3, ic, oc]")
        kic = const_dim(kernel, 4, "conv2d_winograd_NCHWc")
        if kic != ic:
            raise TexprError(f"conv2d_winograd_NCHWc: kernel input block {kic} does not match "
                             f"the data's {ic}")
        U = winograd_weight_transform_NCHWc(kernel, m, dtype=dt, stride=stride)
        _, _, Ob, Cu, oc = (const_dim(U, d, "conv2d_winograd_NCHWc") for d in range(5))
    Cw = C * stride * stride        # the channels of the (space-to-depth) input
    if Cu != Cw:
        raise TexprError(f"conv2d_winograd_NCHWc: kernel has {Cu} input channels, data {C}"
                         + (f" ({Cw} after space-to-depth)" if stride > 1 else ""))
    O = Ob * oc
    pt, pl, pb, pr = padding4(padding)
    P, Q = (H + pt + pb - 3) // stride + 1, (W + pl + pr - 3) // stride + 1
    if P <= 0 or Q <= 0:
        raise TexprError(f"conv2d_winograd_NCHWc: output would be {P}x{Q}")
    nH, nW = -(-P // m), -(-Q // m)
    Hp, Wp = stride * (nH * m + r - 1), stride * (nW * m + r - 1)     # as in the NCHW one
    dp = pad(data, (0, 0, pt, pl, 0), (0, 0, Hp - H - pt, Wp - W - pl, 0), name="wino_pad")
    if stride == 1:
        read = lambda n, c, h, w: dp[n, c // ic, h, w, c % ic]
    else:
        read = lambda n, c, h, w: dp[n, c % C // ic, 2 * h + c // C // 2, 2 * w + c // C % 2,
                                     c % C % ic]
    S = _winograd_tiles(_widened(read, dt), N, nH, nW, Cw, O, m, dt,
                        weight_at(U, {"weight_layout": layout, "oc": oc}),
                        {"weight_layout": layout, "oc": oc}, half, r)
    AT = winograd_matrices(m, r)[0]
    e1 = reduce_axis((0, a), "e1")

    def y(n, ob, h, w, oi):        # out = A^T S
        p = n * (nH * nW) + (h // m) * nW + w // m
        return te_sum(_coef(AT, h % m, e1.var, dt) * S[e1, w % m, p, ob * oc + oi],
                      axis=e1, where=_nonzero(AT, h % m, e1.var))
    return compute((N, Ob, P, Q, oc), y, name="conv2d_winograd_NCHWc",
                   tag="winograd_output_NCHWc",
                   attrs={"tile_size": m, "nH": nH, "nW": nW, "stride": stride})


def winograd_weight_transform_NCHWc_ref(kernel, tile_size, stride=1):
    """NumPy twin of winograd_weight_transform_NCHWc (6-D NCHWc kernel in).

    >>> import numpy as np, texpr.topi as topi
    >>> kernel = np.ones((2, 1, 3, 3, 4, 4), "float32")
    >>> topi.winograd.winograd_weight_transform_NCHWc_ref(kernel, 2).shape
    (4, 4, 2, 4, 4)
    """
    Ob, Cb, R, S, ic, oc = kernel.shape
    k = kernel.transpose(0, 5, 1, 4, 2, 3).reshape(Ob * oc, Cb * ic, R, S)
    u = winograd_weight_transform_ref(k, tile_size, "IO", stride)  # [a, a, C, O]
    a, _, Cu, _ = u.shape
    return np.ascontiguousarray(u.reshape(a, a, Cu, Ob, oc).transpose(0, 1, 3, 2, 4))


def winograd_weight_pairs_NCHWc_ref(kernel, tile_size):
    """The NCHWc kernel transformed (float64 math, one rounding to its dtype) and packed as
    channel pairs [alpha, alpha, O/oc, C/2, oc, 2]: the offline weight of a mixed-precision
    bfloat16 conv2d_winograd_NCHWc (pre_transformed=True, out_dtype="float32").

    >>> import numpy as np, texpr.topi as topi
    >>> kernel = np.ones((2, 1, 3, 3, 4, 16), "float32")
    >>> topi.winograd.winograd_weight_pairs_NCHWc_ref(kernel, 2).shape
    (4, 4, 2, 2, 16, 2)
    """
    u = winograd_weight_transform_NCHWc_ref(kernel, tile_size)      # [a, a, O/oc, C, oc]
    a, _, Ob, C, oc = u.shape
    if C % 2:
        raise TexprError(f"winograd_weight_pairs_NCHWc_ref: {C} input channels do not pair")
    return np.ascontiguousarray(u.reshape(a, a, Ob, C // 2, 2, oc).transpose(0, 1, 2, 3, 5, 4))


def winograd_weight_transform_ref(kernel, tile_size, layout="OI", stride=1, oc=None):
    """NumPy twin of winograd_weight_transform (an OIHW kernel in, float64 math; stride 2:
    the space-to-depth kernel's F(tile_size, 2) weight); layout "OI", "IO", or "IOo" (panels
    of `oc` output channels: [alpha, alpha, O/oc, I, oc]).

    >>> import numpy as np, texpr.topi as topi
    >>> kernel = np.ones((8, 4, 3, 3), "float32")
    >>> topi.winograd.winograd_weight_transform_ref(kernel, 4).shape
    (6, 6, 8, 4)
    >>> topi.winograd.winograd_weight_transform_ref(kernel, 4, "IOo", oc=4).shape
    (6, 6, 2, 4, 4)
    """
    r = _kernel_size(stride, "winograd_weight_transform_ref", kernel.shape[2])
    if layout not in ("OI", "IO", "IOo"):
        raise TexprError(f"winograd_weight_transform_ref: layout 'OI', 'IO' or 'IOo', got "
                         f"{layout!r}")
    O = kernel.shape[0]
    if layout == "IOo" and (not isinstance(oc, int) or oc <= 0 or O % oc):
        raise TexprError(f"winograd_weight_transform_ref: layout 'IOo' needs a block oc that "
                         f"divides the {O} output channels, got {oc!r}")
    if stride == 2:
        kernel = space_to_depth_kernel_ref(kernel)
    _, G, _ = winograd_matrices(tile_size, r)
    spec = "ek,oikl,nl->enoi" if layout == "OI" else "ek,oikl,nl->enio"
    u = np.einsum(spec, G, kernel.astype(np.float64), G)
    if layout == "IOo":
        a, _, C, _ = u.shape
        u = u.reshape(a, a, C, O // oc, oc).transpose(0, 1, 3, 2, 4)
    return np.ascontiguousarray(u.astype(kernel.dtype))
