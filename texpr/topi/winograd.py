"""Winograd convolution F(m, 3) for 3x3, stride-1 convolutions (m = 2, 4 or 6).

The transform matrices come from Toom-Cook interpolation (points 0, ±1, ±2, ±1/2 and
infinity); A^T and G are written down from the points and B^T is solved exactly (sympy
rationals) from the identity the three must satisfy, so every tile size gets exact matrices.
y = A^T [ (G g G^T) ⊙ (B^T d B) ] A, computed as: input transform, a batched GEMM over the
alpha x alpha positions, output transform. Weights are transformed once, offline.
"""
from functools import lru_cache

import numpy as np
import sympy

from ..lang.errors import TexprError
from ..lang.expr import Const, if_then_else
from ..lang.reduction import sum as te_sum
from ..lang.tensor import compute, reduce_axis
from .nn import pad
from .util import check_ndim, const_dim, padding4

_POINTS = [sympy.Integer(0), sympy.Integer(1), sympy.Integer(-1), sympy.Integer(2), sympy.Integer(-2),
           sympy.Rational(1, 2), sympy.Rational(-1, 2), sympy.Integer(3), sympy.Integer(-3)]


@lru_cache(maxsize=None)
def winograd_matrices(m, r=3):
    """(AT [m x a], G [a x r], BT [a x a]) as float64 arrays, a = m + r - 1."""
    if m not in (2, 4, 6):
        raise TexprError(f"winograd: tile size must be 2, 4 or 6 (F(2,3), F(4,3), F(6,3)), got {m}")
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


def winograd_weight_transform(kernel, tile_size):
    """OIHW 3x3 kernel -> U [alpha, alpha, O, I] (do this once, offline)."""
    check_ndim(kernel, 4, "winograd_weight_transform", "OIHW")
    O, I, R, S = (const_dim(kernel, d, "winograd_weight_transform") for d in range(4))
    if (R, S) != (3, 3):
        raise TexprError(f"winograd: only 3x3 kernels are supported, got {R}x{S}")
    _, Gm, _ = winograd_matrices(tile_size)
    a = tile_size + 2
    G = _const_matrix(Gm, "G", kernel.dtype)
    r1 = reduce_axis((0, 3), "r1")
    r2 = reduce_axis((0, 3), "r2")
    return compute((a, a, O, I), lambda e, n, o, i: te_sum(
        G[e, r1] * kernel[o, i, r1, r2] * G[n, r2], axis=[r1, r2]), name="winograd_U",
        tag="winograd_weight")


def conv2d_winograd_nchw(data, kernel, padding, tile_size, pre_transformed=False):
    """3x3 stride-1 convolution through Winograd F(tile_size, 3).

    kernel is OIHW, or with pre_transformed=True the output of winograd_weight_transform.
    """
    check_ndim(data, 4, "conv2d_winograd_nchw", "NCHW")
    N, C, H, W = (const_dim(data, d, "conv2d_winograd_nchw") for d in range(4))
    m = tile_size
    AT, _, BT = winograd_matrices(m)
    a = m + 2
    U = kernel if pre_transformed else winograd_weight_transform(kernel, m)
    if pre_transformed:
        check_ndim(kernel, 4, "conv2d_winograd_nchw", "[alpha, alpha, O, I]")
        if const_dim(kernel, 0, "winograd") != a:
            raise TexprError(f"conv2d_winograd_nchw: pre-transformed kernel is for alpha="
                             f"{const_dim(kernel, 0, 'winograd')}, tile size {m} needs {a}")
    O = const_dim(U, 2, "conv2d_winograd_nchw")
    if const_dim(U, 3, "conv2d_winograd_nchw") != C:
        raise TexprError(f"conv2d_winograd_nchw: kernel has {const_dim(U, 3, 'w')} input channels, "
                         f"data {C}")
    pt, pl, pb, pr = padding4(padding)
    P, Q = H + pt + pb - 2, W + pl + pr - 2
    nH, nW = -(-P // m), -(-Q // m)
    dp = pad(data, (0, 0, pt, pl), (0, 0, pb + nH * m - P, pr + nW * m - Q), name="wino_pad")
    ntiles = N * nH * nW
    dt = data.dtype
    B = _const_matrix(BT, "BT", dt)
    A = _const_matrix(AT, "AT", dt)
    r1 = reduce_axis((0, a), "r1")
    r2 = reduce_axis((0, a), "r2")

    def tile(p):
        return p // (nH * nW), (p // nW) % nH, p % nW

    def v(e, nu, c, p):
        n, th, tw = tile(p)
        return te_sum(B[e, r1] * dp[n, c, th * m + r1, tw * m + r2] * B[nu, r2], axis=[r1, r2])
    V = compute((a, a, C, ntiles), v, name="winograd_V", tag="winograd_input")
    rc = reduce_axis((0, C), "rc")
    Mt = compute((a, a, O, ntiles), lambda e, nu, o, p: te_sum(U[e, nu, o, rc] * V[e, nu, rc, p],
                                                              axis=rc),
                 name="winograd_M", tag="winograd_batch_gemm")
    e1 = reduce_axis((0, a), "e1")
    e2 = reduce_axis((0, a), "e2")

    def y(n, o, h, w):
        p = n * (nH * nW) + (h // m) * nW + w // m
        return te_sum(A[h % m, e1] * Mt[e1, e2, o, p] * A[w % m, e2], axis=[e1, e2])
    return compute((N, O, P, Q), y, name="conv2d_winograd", tag="winograd_output")


def winograd_weight_transform_ref(kernel, tile_size):
    _, G, _ = winograd_matrices(tile_size)
    return np.einsum("ek,oikl,nl->enoi", G, kernel.astype(np.float64), G).astype(kernel.dtype)
