"""NumPy references of every topi operator (the ground truth the tests compare with)."""
import math

import numpy as np


def dense_ref(data, weight, bias=None, out_dtype=None):
    odt = out_dtype or (np.int32 if data.dtype.kind in "iu" else np.result_type(data, weight))
    out = data.astype(odt) @ weight.astype(odt).T
    return out + bias.astype(odt) if bias is not None else out


def batch_matmul_ref(x, y, out_dtype=None):
    odt = out_dtype or (np.int32 if x.dtype.kind in "iu" else np.result_type(x, y))
    return np.einsum("bik,bjk->bij", x.astype(odt), y.astype(odt))


def _pad4(p):
    if isinstance(p, int):
        return (p,) * 4
    if len(p) == 2:
        return (p[0], p[1], p[0], p[1])
    return tuple(p)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d_nchw_ref(data, kernel, stride, padding, dilation=1, groups=1, out_dtype=None):
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    pt, pl, pb, pr = _pad4(padding)
    odt = out_dtype or (np.int32 if data.dtype.kind in "iu" else np.result_type(data, kernel))
    N, C, H, W = data.shape
    O, Cg, R, S = kernel.shape
    d = np.pad(data.astype(odt), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    P = (H + pt + pb - (R - 1) * dh - 1) // sh + 1
    Q = (W + pl + pr - (S - 1) * dw - 1) // sw + 1
    out = np.zeros((N, O, P, Q), odt)
    og = O // groups
    k = kernel.astype(odt)
    for g in range(groups):
        dg = d[:, g * Cg:(g + 1) * Cg]
        kg = k[g * og:(g + 1) * og]
        for r in range(R):
            for s in range(S):
                patch = dg[:, :, r * dh: r * dh + (P - 1) * sh + 1: sh, s * dw: s * dw + (Q - 1) * sw + 1: sw]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, kg[:, :, r, s])
    return out


def nchw_to_nchwc_ref(data, block):
    N, C, H, W = data.shape
    return data.reshape(N, C // block, block, H, W).transpose(0, 1, 3, 4, 2).copy()


def nchwc_to_nchw_ref(data):
    N, Cb, H, W, b = data.shape
    return data.transpose(0, 1, 4, 2, 3).reshape(N, Cb * b, H, W).copy()


def pack_kernel_nchwc_ref(kernel, ic, oc):
    O, I, R, S = kernel.shape
    return kernel.reshape(O // oc, oc, I // ic, ic, R, S).transpose(0, 2, 4, 5, 3, 1).copy()


def conv2d_NCHWc_ref(data, kernel, stride, padding, dilation=1, out_dtype=None):
    N, Cb, H, W, ic = data.shape
    Ob, _, R, S, _, oc = kernel.shape
    d = nchwc_to_nchw_ref(data)
    k = kernel.transpose(0, 5, 1, 4, 2, 3).reshape(Ob * oc, Cb * ic, R, S)
    out = conv2d_nchw_ref(d, k, stride, padding, dilation, out_dtype=out_dtype)
    return nchw_to_nchwc_ref(out, oc)


def depthwise_conv2d_nchw_ref(data, kernel, stride, padding, dilation=1, out_dtype=None):
    C, Mm, R, S = kernel.shape
    k = kernel.reshape(C * Mm, 1, R, S)
    d = np.repeat(data, Mm, axis=1) if Mm > 1 else data
    return conv2d_nchw_ref(d, k, stride, padding, dilation, groups=C * Mm, out_dtype=out_dtype)


def pool2d_ref(data, kernel, stride, padding, pool_type="max", count_include_pad=True):
    kh, kw = _pair(kernel)
    sh, sw = _pair(stride)
    pt, pl, pb, pr = _pad4(padding)
    H, W = data.shape[2], data.shape[3]
    P = (H + pt + pb - kh) // sh + 1
    Q = (W + pl + pr - kw) // sw + 1
    pw = [(0, 0), (0, 0), (pt, pb), (pl, pr)] + [(0, 0)] * (data.ndim - 4)
    if pool_type == "max":
        fill = -np.inf if data.dtype.kind == "f" else np.iinfo(data.dtype).min
        d = np.pad(data, pw, constant_values=fill)
    else:
        d = np.pad(data.astype(np.float64), pw)
    out = None
    for r in range(kh):
        for s in range(kw):
            win = d[:, :, r: r + (P - 1) * sh + 1: sh, s: s + (Q - 1) * sw + 1: sw]
            out = win.copy() if out is None else (np.maximum(out, win) if pool_type == "max" else out + win)
    if pool_type == "max":
        return out.astype(data.dtype)
    if count_include_pad:
        return (out / (kh * kw)).astype(data.dtype)
    ones = np.pad(np.ones((H, W)), [(pt, pb), (pl, pr)])
    cnt = np.zeros((P, Q))
    for r in range(kh):
        for s in range(kw):
            cnt += ones[r: r + (P - 1) * sh + 1: sh, s: s + (Q - 1) * sw + 1: sw]
    cnt = cnt.reshape((1, 1, P, Q) + (1,) * (data.ndim - 4))
    return (out / cnt).astype(data.dtype)


def global_pool_ref(data, pool_type="avg"):
    f = np.max if pool_type == "max" else np.mean
    return f(data, axis=(2, 3), keepdims=True).astype(data.dtype)


def relu_ref(x):
    return np.maximum(x, 0)


def add_ref(a, b):
    return a + b


def bias_add_ref(x, bias, axis=1):
    shape = [1] * x.ndim
    shape[axis] = -1
    return x + bias.reshape(shape)


def softmax_ref(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def fold_batch_norm_ref(kernel, bias, gamma, beta, mean, var, eps=1e-5):
    scale = gamma / np.sqrt(var + eps)
    return kernel * scale.reshape(-1, 1, 1, 1), (bias - mean) * scale + beta


def erf(x):
    return np.vectorize(math.erf)(x)
