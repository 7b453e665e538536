"""NumPy references of every topi operator (the ground truth the tests compare with)."""
import math

import numpy as np


def dense_ref(data, weight, bias=None, out_dtype=None):
    """data @ weight.T (+ bias): topi.nn.dense's reference; integers accumulate in int32.

    >>> import numpy as np
    >>> dense_ref(np.ones((2, 3), "float32"), np.ones((4, 3), "float32")).shape
    (2, 4)
    """
    odt = out_dtype or (np.int32 if data.dtype.kind in "iu" else np.result_type(data, weight))
    out = data.astype(odt) @ weight.astype(odt).T
    return out + bias.astype(odt) if bias is not None else out


def pack_dense_weight_ref(weight, block):
    """weight [N, K] packed as [ceil(N/block), K, block] (rows past N are zero): dense_pack's layout.

    >>> import numpy as np
    >>> pack_dense_weight_ref(np.arange(6.0).reshape(3, 2), 2)[:, :, 1]      # row 3 is padding
    array([[2., 3.],
           [0., 0.]])
    """
    N, K = weight.shape
    P = -(-N // block)
    w = np.zeros((P * block, K), weight.dtype)
    w[:N] = weight
    return w.reshape(P, block, K).transpose(0, 2, 1).copy()


def dense_pack_ref(data, packed_weight, bias=None, units=None, out_dtype=None):
    """dense of data [M, K] with a weight packed by pack_dense_weight_ref (units: N, the unpadded rows).

    >>> import numpy as np
    >>> w = pack_dense_weight_ref(np.ones((3, 4), "float32"), 2)
    >>> dense_pack_ref(np.ones((2, 4), "float32"), w, units=3)
    array([[4., 4., 4.],
           [4., 4., 4.]], dtype=float32)
    """
    P, K, nb = packed_weight.shape
    w = packed_weight.transpose(0, 2, 1).reshape(P * nb, K)[:units or P * nb]
    return dense_ref(data, w, bias, out_dtype)


def batch_matmul_ref(x, y, out_dtype=None):
    """x [B, M, K] times y [B, N, K] transposed: [B, M, N] (a batch of 1 broadcasts).

    >>> import numpy as np
    >>> batch_matmul_ref(np.ones((2, 3, 4)), np.ones((2, 5, 4))).shape
    (2, 3, 5)
    """
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
    """2-D convolution, NCHW data and OIHW kernel (stride, padding, dilation: an int or a pair; groups).

    >>> import numpy as np
    >>> conv2d_nchw_ref(np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3)), 1, 1).shape
    (1, 3, 5, 5)
    """
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
    """NCHW data as NCHW[block]c: [N, C/block, H, W, block].

    >>> import numpy as np
    >>> nchw_to_nchwc_ref(np.zeros((1, 8, 5, 5)), 4).shape
    (1, 2, 5, 5, 4)
    """
    N, C, H, W = data.shape
    return data.reshape(N, C // block, block, H, W).transpose(0, 1, 3, 4, 2).copy()


def nchwc_to_nchw_ref(data):
    """NCHW[x]c data back to NCHW.

    >>> import numpy as np
    >>> x = np.random.rand(1, 8, 5, 5)
    >>> np.array_equal(nchwc_to_nchw_ref(nchw_to_nchwc_ref(x, 4)), x)
    True
    """
    N, Cb, H, W, b = data.shape
    return data.transpose(0, 1, 4, 2, 3).reshape(N, Cb * b, H, W).copy()


def pack_kernel_nchwc_ref(kernel, ic, oc):
    """An OIHW kernel as [O/oc, I/ic, H, W, ic, oc], conv2d_NCHWc's kernel layout.

    >>> import numpy as np
    >>> pack_kernel_nchwc_ref(np.zeros((16, 8, 3, 3)), 4, 8).shape
    (2, 2, 3, 3, 4, 8)
    """
    O, I, R, S = kernel.shape
    return kernel.reshape(O // oc, oc, I // ic, ic, R, S).transpose(0, 2, 4, 5, 3, 1).copy()


def conv2d_NCHWc_ref(data, kernel, stride, padding, dilation=1, out_dtype=None):
    """conv2d_NCHWc's reference: NCHW[ic]c data, a kernel packed by pack_kernel_nchwc_ref.

    >>> import numpy as np
    >>> data = nchw_to_nchwc_ref(np.random.rand(1, 8, 6, 6), 4)
    >>> kernel = pack_kernel_nchwc_ref(np.random.rand(16, 8, 3, 3), 4, 8)
    >>> conv2d_NCHWc_ref(data, kernel, 1, 1).shape
    (1, 2, 6, 6, 8)
    """
    N, Cb, H, W, ic = data.shape
    Ob, _, R, S, _, oc = kernel.shape
    d = nchwc_to_nchw_ref(data)
    k = kernel.transpose(0, 5, 1, 4, 2, 3).reshape(Ob * oc, Cb * ic, R, S)
    out = conv2d_nchw_ref(d, k, stride, padding, dilation, out_dtype=out_dtype)
    return nchw_to_nchwc_ref(out, oc)


def depthwise_conv2d_nchw_ref(data, kernel, stride, padding, dilation=1, out_dtype=None):
    """Depthwise 2-D convolution, NCHW data and a [C, multiplier, KH, KW] kernel.

    >>> import numpy as np
    >>> out = depthwise_conv2d_nchw_ref(np.ones((1, 2, 4, 4)), np.ones((2, 1, 3, 3)), 1, 1)
    >>> out.shape, float(out[0, 0, 1, 1]), float(out[0, 0, 0, 0])    # 9 taps inside, 4 at a corner
    ((1, 2, 4, 4), 9.0, 4.0)
    """
    C, Mm, R, S = kernel.shape
    k = kernel.reshape(C * Mm, 1, R, S)
    d = np.repeat(data, Mm, axis=1) if Mm > 1 else data
    return conv2d_nchw_ref(d, k, stride, padding, dilation, groups=C * Mm, out_dtype=out_dtype)


def depthwise_conv2d_NCHWc_ref(data, kernel, stride, padding, dilation=1, out_dtype=None):
    """data [N, C/cb, H, W, cb], kernel [C*M/ob, R, S, ob] -> [N, C*M/ob, P, Q, ob].

    >>> import numpy as np
    >>> data = nchw_to_nchwc_ref(np.random.rand(1, 8, 6, 6), 4)
    >>> kernel = pack_depthwise_kernel_nchwc_ref(np.random.rand(8, 1, 3, 3), 4)
    >>> depthwise_conv2d_NCHWc_ref(data, kernel, 1, 1).shape
    (1, 2, 6, 6, 4)
    """
    Ob, R, S, ob = kernel.shape
    C = data.shape[1] * data.shape[4]
    k = kernel.transpose(0, 3, 1, 2).reshape(C, Ob * ob // C, R, S)
    out = depthwise_conv2d_nchw_ref(nchwc_to_nchw_ref(data), k, stride, padding, dilation,
                                    out_dtype)
    return nchw_to_nchwc_ref(out, ob)


def pack_depthwise_kernel_nchwc_ref(kernel, ob):
    """Depthwise kernel [C, M, R, S] -> [C*M/ob, R, S, ob] (output channel c*M + m).

    >>> import numpy as np
    >>> pack_depthwise_kernel_nchwc_ref(np.zeros((8, 2, 3, 3)), 4).shape
    (4, 3, 3, 4)
    """
    C, M, R, S = kernel.shape
    return kernel.reshape(C * M // ob, ob, R, S).transpose(0, 2, 3, 1).copy()


def winograd_weight_transform_NCHWc_ref(kernel, tile_size):
    """The Winograd-transformed kernel F(tile_size, 3) in the NCHWc layout.

    >>> import numpy as np
    >>> kernel = pack_kernel_nchwc_ref(np.random.rand(8, 4, 3, 3), 4, 4)
    >>> winograd_weight_transform_NCHWc_ref(kernel, 2).shape
    (4, 4, 2, 4, 4)
    """
    from .winograd import winograd_weight_transform_NCHWc_ref as f
    return f(kernel, tile_size)


def conv2d_winograd_NCHWc_ref(data, kernel, padding, tile_size=None):
    """The convolution a Winograd NCHWc layer computes (exact, direct): data NCHWc, kernel
    the 6-D NCHWc-packed one.

    >>> import numpy as np
    >>> data = nchw_to_nchwc_ref(np.random.rand(1, 4, 6, 6), 4)
    >>> kernel = pack_kernel_nchwc_ref(np.random.rand(8, 4, 3, 3), 4, 4)
    >>> conv2d_winograd_NCHWc_ref(data, kernel, 1).shape
    (1, 2, 6, 6, 4)
    """
    return conv2d_NCHWc_ref(data, kernel, 1, padding)


def pool2d_ref(data, kernel, stride, padding, pool_type="max", count_include_pad=True,
               dilation=(1, 1)):
    """Max or average pooling of NCHW data (kernel, stride, padding as topi.nn.pool2d).

    >>> import numpy as np
    >>> pool2d_ref(np.ones((1, 1, 4, 4)), (2, 2), (2, 2), (0, 0)).shape
    (1, 1, 2, 2)
    """
    kh, kw = _pair(kernel)
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    pt, pl, pb, pr = _pad4(padding)
    H, W = data.shape[2], data.shape[3]
    P = (H + pt + pb - (kh - 1) * dh - 1) // sh + 1
    Q = (W + pl + pr - (kw - 1) * dw - 1) // sw + 1
    pw = [(0, 0), (0, 0), (pt, pb), (pl, pr)] + [(0, 0)] * (data.ndim - 4)
    if pool_type == "max":
        fill = -np.inf if data.dtype.kind == "f" else np.iinfo(data.dtype).min
        d = np.pad(data, pw, constant_values=fill)
    else:
        d = np.pad(data.astype(np.float64), pw)
    out = None
    for r in range(kh):
        for s in range(kw):
            win = d[:, :, r * dh: r * dh + (P - 1) * sh + 1: sh, s * dw: s * dw + (Q - 1) * sw + 1: sw]
            out = win.copy() if out is None else (np.maximum(out, win) if pool_type == "max" else out + win)
    if pool_type == "max":
        return out.astype(data.dtype)
    if count_include_pad:
        return (out / (kh * kw)).astype(data.dtype)
    ones = np.pad(np.ones((H, W)), [(pt, pb), (pl, pr)])
    cnt = np.zeros((P, Q))
    for r in range(kh):
        for s in range(kw):
            cnt += ones[r * dh: r * dh + (P - 1) * sh + 1: sh, s * dw: s * dw + (Q - 1) * sw + 1: sw]
    cnt = cnt.reshape((1, 1, P, Q) + (1,) * (data.ndim - 4))
    return (out / cnt).astype(data.dtype)


def global_pool_ref(data, pool_type="avg"):
    """Average or max over H and W of NCHW data, keeping them as 1x1.

    >>> import numpy as np
    >>> global_pool_ref(np.arange(8.0).reshape(1, 2, 2, 2), "max")
    array([[[[3.]],
    <BLANKLINE>
            [[7.]]]])
    """
    f = np.max if pool_type == "max" else np.mean
    return f(data, axis=(2, 3), keepdims=True).astype(data.dtype)


def global_pool_flatten_ref(data, pool_type="avg"):
    """global_pool_ref flattened to [N, C].

    >>> import numpy as np
    >>> global_pool_flatten_ref(np.arange(8.0).reshape(1, 2, 2, 2))
    array([[1.5, 5.5]])
    """
    d = nchwc_to_nchw_ref(data) if data.ndim == 5 else data
    f = np.mean if pool_type == "avg" else np.max
    return f(d, axis=(2, 3)).astype(data.dtype)


def relu_ref(x):
    """max(x, 0) elementwise.

    >>> import numpy as np
    >>> relu_ref(np.array([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    return np.maximum(x, 0)


def add_ref(a, b):
    """a + b with NumPy broadcasting (topi.add).

    >>> import numpy as np
    >>> add_ref(np.ones((2, 3)), np.arange(3.0))
    array([[1., 2., 3.],
           [1., 2., 3.]])
    """
    return a + b


def multiply_ref(a, b):
    """a * b with NumPy broadcasting (topi.multiply).

    >>> import numpy as np
    >>> multiply_ref(np.ones((2, 1)), np.arange(3.0))
    array([[0., 1., 2.],
           [0., 1., 2.]])
    """
    return a * b


def bias_add_ref(x, bias, axis=1):
    """x plus a 1-D bias along `axis` (topi.nn.bias_add).

    >>> import numpy as np
    >>> bias_add_ref(np.zeros((1, 2, 1, 1)), np.array([1.0, 2.0])).ravel()
    array([1., 2.])
    """
    shape = [1] * x.ndim
    shape[axis] = -1
    return x + bias.reshape(shape)


def softmax_ref(x, axis=-1):
    """Softmax along `axis` (the row maximum subtracted first).

    >>> import numpy as np
    >>> softmax_ref(np.zeros((1, 4))).tolist()
    [[0.25, 0.25, 0.25, 0.25]]
    """
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_ref(x, axis=-1):
    """log(softmax(x)) along `axis`, computed stably.

    >>> import numpy as np
    >>> np.exp(log_softmax_ref(np.array([[0.0, 0.0]])))
    array([[0.5, 0.5]])
    """
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _norm_axes(x, axis):
    return tuple(sorted({a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)}))


def layer_norm_ref(x, gamma, beta, axis=(-1,), epsilon=1e-5):
    """(x - mean) / sqrt(var + eps) * gamma + beta over `axis` (biased variance), in float64.

    >>> import numpy as np
    >>> layer_norm_ref(np.array([[1.0, 3.0]]), np.ones(2), np.zeros(2), epsilon=0.0)
    array([[-1.,  1.]])
    """
    ax = _norm_axes(x, axis)
    shape = [x.shape[d] if d in ax else 1 for d in range(x.ndim)]
    xd = x.astype(np.float64)
    mean = xd.mean(axis=ax, keepdims=True)
    var = ((xd - mean) ** 2).mean(axis=ax, keepdims=True)
    out = (xd - mean) / np.sqrt(var + epsilon) * gamma.reshape(shape) + beta.reshape(shape)
    return out.astype(x.dtype)


def rms_norm_ref(x, gamma, axis=-1, epsilon=1e-6):
    """x / sqrt(mean(x^2) + eps) * gamma over `axis`, in float64.

    >>> import numpy as np
    >>> rms_norm_ref(np.array([[3.0, 4.0]]), np.ones(2), epsilon=0.0) * np.sqrt(12.5)
    array([[3., 4.]])
    """
    ax = _norm_axes(x, axis)
    shape = [x.shape[d] if d in ax else 1 for d in range(x.ndim)]
    xd = x.astype(np.float64)
    ms = (xd * xd).mean(axis=ax, keepdims=True)
    return (xd / np.sqrt(ms + epsilon) * gamma.reshape(shape)).astype(x.dtype)


def gelu_ref(x, approximate="none"):
    """torch.nn.functional.gelu's two forms, in float64.

    >>> import numpy as np
    >>> gelu_ref(np.array([-10.0, 0.0, 10.0]))
    array([-0.,  0., 10.])
    """
    xd = x.astype(np.float64)
    if approximate == "tanh":
        out = 0.5 * xd * (1 + np.tanh(math.sqrt(2 / math.pi) * (xd + 0.044715 * xd ** 3)))
    else:
        erf = np.vectorize(math.erf, otypes=[np.float64])
        out = 0.5 * xd * (1 + erf(xd / math.sqrt(2)))
    return out.astype(x.dtype)


def reshape_ref(a, newshape):
    """topi.reshape: a shape of fewer elements takes the first ones.

    >>> import numpy as np
    >>> reshape_ref(np.arange(6), (2, 3))
    array([[0, 1, 2],
           [3, 4, 5]])
    """
    newshape = list(newshape)
    if -1 in newshape:
        return a.reshape(newshape)
    return a.reshape(-1)[:int(np.prod(newshape))].reshape(newshape)


def take_ref(a, indices, axis=None, mode="clip"):
    """np.take with TVM's modes: clip (default) or wrap the indices (else as given).

    >>> import numpy as np
    >>> a = np.array([10, 20, 30])
    >>> take_ref(a, np.array([0, 5, -1])), take_ref(a, np.array([4]), mode="wrap")
    (array([10, 30, 10]), array([20]))
    """
    if axis is None:
        a, axis = a.reshape(-1), 0
    n = a.shape[axis]
    idx = np.clip(indices, 0, n - 1) if mode == "clip" else indices % n if mode == "wrap" \
        else indices
    return np.take(a, idx, axis=axis)


def fold_batch_norm_ref(kernel, bias, gamma, beta, mean, var, eps=1e-5):
    """A conv kernel and bias with an inference batch norm folded in.

    >>> import numpy as np
    >>> k, b = fold_batch_norm_ref(np.ones((2, 1, 1, 1)), np.zeros(2), np.array([2.0, 1.0]),
    ...                            np.array([0.5, 0.0]), np.zeros(2), np.ones(2), eps=0.0)
    >>> k.ravel(), b
    (array([2., 1.]), array([0.5, 0. ]))
    """
    scale = gamma / np.sqrt(var + eps)
    return kernel * scale.reshape(-1, 1, 1, 1), (bias - mean) * scale + beta


def erf(x):
    """The Gauss error function elementwise (math.erf over an array).

    >>> round(float(erf(0.5)), 4)
    0.5205
    """
    return np.vectorize(math.erf)(x)


# ----------------------------------------------------------------------------- sparse (topi.sparse)

def _bag_bounds(lengths, n_indices):
    lengths = np.asarray(lengths).astype(np.int64)
    if (lengths < 0).any():
        raise ValueError(f"negative length {lengths[lengths < 0][0]}")
    off = np.concatenate([[0], np.cumsum(lengths)])
    if off[-1] > n_indices:
        raise ValueError(f"lengths sum to {off[-1]} but there are {n_indices} indices")
    return off


def sparse_lengths_sum_ref(data, indices, lengths, weights=None):
    """`out[b]` = sum of `(weights[k] *) data[indices[k]]` over bag b; accumulated in float64.

    >>> import numpy as np
    >>> data = np.arange(8.0).reshape(4, 2)
    >>> sparse_lengths_sum_ref(data, np.array([0, 1, 3]), np.array([2, 0, 1]))
    array([[2., 4.],
           [0., 0.],
           [6., 7.]])
    """
    off = _bag_bounds(lengths, len(indices))
    out_dt = np.result_type(data, weights) if weights is not None else data.dtype
    rows = data[np.asarray(indices)[:off[-1]]].astype(np.float64)
    if weights is not None:
        rows = rows * np.asarray(weights)[:off[-1], None]
    out = np.zeros((len(lengths), data.shape[1]), np.float64)
    bag = np.repeat(np.arange(len(lengths)), np.diff(off))
    np.add.at(out, bag, rows)
    return out.astype(out_dt)


def sparse_lengths_weighted_sum_ref(data, weights, indices, lengths):
    """sparse_lengths_sum with a weight per index.

    >>> import numpy as np
    >>> data = np.arange(8.0).reshape(4, 2)
    >>> sparse_lengths_weighted_sum_ref(data, np.array([1.0, 0.5]), np.array([0, 3]), np.array([2]))
    array([[3. , 4.5]])
    """
    return sparse_lengths_sum_ref(data, indices, lengths, weights)


def sparse_lengths_mean_ref(data, indices, lengths):
    """The mean of each bag of rows (an empty bag gives zeros), in data's dtype.

    >>> import numpy as np
    >>> data = np.arange(8.0).reshape(4, 2)
    >>> sparse_lengths_mean_ref(data, np.array([0, 1, 3]), np.array([2, 0, 1]))
    array([[1., 2.],
           [0., 0.],
           [6., 7.]])
    """
    s = sparse_lengths_sum_ref(data, indices, lengths).astype(np.float64)
    n = np.maximum(np.asarray(lengths), 1).astype(np.float64)
    return (s / n[:, None]).astype(data.dtype)


def sparse_lengths_sum_8bit_rowwise_ref(data_q, scale, bias, indices, lengths):
    """sparse_lengths_sum of uint8 rows dequantized as row * scale + bias.

    >>> import numpy as np
    >>> q, scale, bias = quantize_8bit_rowwise_ref(np.array([[0.0, 1.0], [2.0, 4.0]], "float32"))
    >>> sparse_lengths_sum_8bit_rowwise_ref(q, scale, bias, np.array([0, 1]), np.array([2]))
    array([[2., 5.]], dtype=float32)
    """
    rows = data_q.astype(np.float64) * scale[:, None].astype(np.float64) + \
        bias[:, None].astype(np.float64)
    return sparse_lengths_sum_ref(rows, indices, lengths).astype(np.float32)


def quantize_8bit_rowwise_ref(table, dtype="uint8"):
    """Row-wise affine quantisation (Caffe2's FloatToFused8BitRowwise): (data_q, scale, bias)
    with row r ~ scale[r] * data_q[r] + bias[r].

    >>> import numpy as np
    >>> q, scale, bias = quantize_8bit_rowwise_ref(np.array([[0.0, 1.0, 2.0]], "float32"))
    >>> q, bool(np.abs(q * scale[:, None] + bias[:, None] - [0.0, 1.0, 2.0]).max() < 0.01)
    (array([[  0, 127, 255]], dtype=uint8), True)
    """
    lo, hi = table.min(axis=1), table.max(axis=1)
    qmin, qmax = (0, 255) if dtype == "uint8" else (-128, 127)
    scale = ((hi - lo) / (qmax - qmin)).astype(np.float32)
    scale[scale == 0] = 1.0
    bias = (lo - qmin * scale).astype(np.float32)
    q = np.clip(np.rint((table - bias[:, None]) / scale[:, None]), qmin, qmax).astype(dtype)
    return q, scale, bias


def batch_gather_ref(data, indices):
    """out[b, m] = data[b, indices[b, m]] (topi.sparse.batch_gather).

    >>> import numpy as np
    >>> batch_gather_ref(np.arange(6).reshape(2, 3), np.array([[2, 0], [1, 1]]))
    array([[2, 0],
           [4, 4]])
    """
    return np.take_along_axis(
        data, np.asarray(indices).reshape(indices.shape + (1,) * (data.ndim - 2)).astype(np.int64),
        axis=1) if data.ndim > 2 else np.take_along_axis(data, np.asarray(indices, np.int64), 1)


def embedding_ref(weight, indices, mode="check"):
    """weight[indices] ([..., D]); mode "check": an index outside [0, V) raises IndexError
    (NumPy alone would wrap a negative one), "clip": clamped into [0, V - 1].

    >>> import numpy as np
    >>> embedding_ref(np.arange(6).reshape(3, 2), np.array([[2, 0]]))
    array([[[4, 5],
            [0, 1]]])
    """
    idx = np.asarray(indices).astype(np.int64)
    V = weight.shape[0]
    if mode == "clip":
        idx = np.clip(idx, 0, V - 1)
    elif ((idx < 0) | (idx >= V)).any():
        bad = idx[(idx < 0) | (idx >= V)][0]
        raise IndexError(f"index {bad} out of range for a table of {V} rows")
    return weight[idx]


def sparse_dense_ref(x, w_data, w_indices, w_indptr):
    """Y = X W^T with W in CSR (w_data 1-D) or BSR (w_data [nnzb, bs_r, bs_c]).

    >>> import numpy as np
    >>> w_data, w_indices, w_indptr = np.array([1.0, 2.0]), np.array([0, 2]), np.array([0, 1, 2])
    >>> sparse_dense_ref(np.ones((1, 3)), w_data, w_indices, w_indptr)   # W [[1, 0, 0], [0, 0, 2]]
    array([[1., 2.]])
    """
    return x.astype(np.float64) @ sparse_to_dense_ref(w_data, w_indices, w_indptr,
                                                      x.shape[1]).astype(np.float64).T


def sparse_to_dense_ref(w_data, w_indices, w_indptr, K):
    """A CSR (or BSR) matrix of K columns as a dense array.

    >>> import numpy as np
    >>> sparse_to_dense_ref(np.array([1.0, 2.0]), np.array([0, 2]), np.array([0, 1, 2]), 3)
    array([[1., 0., 0.],
           [0., 0., 2.]])
    """
    w_indptr = np.asarray(w_indptr)
    if w_data.ndim == 1:
        W = np.zeros((len(w_indptr) - 1, K), np.float64)
        for n in range(len(w_indptr) - 1):
            for j in range(w_indptr[n], w_indptr[n + 1]):
                W[n, w_indices[j]] += w_data[j]
        return W
    _, bs_r, bs_c = w_data.shape
    W = np.zeros(((len(w_indptr) - 1) * bs_r, K), np.float64)
    for nb in range(len(w_indptr) - 1):
        for j in range(w_indptr[nb], w_indptr[nb + 1]):
            c = w_indices[j] * bs_c
            W[nb * bs_r:(nb + 1) * bs_r, c:c + bs_c] += w_data[j]
    return W


def dense_to_bsr_ref(W, bs_r, bs_c):
    """(w_data, w_indices, w_indptr) of W in BSR with bs_r x bs_c blocks (all-zero blocks
    dropped); bs_r = bs_c = 1 gives CSR with 1-D w_data.

    >>> import numpy as np
    >>> W = np.kron(np.array([[1.0, 0.0], [0.0, 2.0]]), np.ones((2, 2)))     # 4x4, two 2x2 blocks
    >>> w_data, w_indices, w_indptr = dense_to_bsr_ref(W, 2, 2)
    >>> w_data.shape, w_indices, w_indptr
    ((2, 2, 2), array([0, 1], dtype=int32), array([0, 1, 2], dtype=int32))
    """
    N, K = W.shape
    data, idx, ptr = [], [], [0]
    for nb in range(N // bs_r):
        for cb in range(K // bs_c):
            blk = W[nb * bs_r:(nb + 1) * bs_r, cb * bs_c:(cb + 1) * bs_c]
            if np.any(blk != 0):
                data.append(blk)
                idx.append(cb)
        ptr.append(len(idx))
    w_data = np.array(data, W.dtype).reshape(-1, bs_r, bs_c)
    if bs_r == 1 and bs_c == 1:
        w_data = w_data.reshape(-1)
    return w_data, np.array(idx, np.int32), np.array(ptr, np.int32)


def dot_interaction_ref(dense, embs, self_interaction=False):
    """DLRM's interact_features('dot'): Z = T T^T, T = [dense, embs], then Z[:, li, lj].

    >>> import numpy as np
    >>> dense = np.array([[1.0, 0.0]])
    >>> embs = np.array([[[2.0, 0.0], [0.0, 3.0]]])
    >>> dot_interaction_ref(dense, embs)      # pairs (1, 0), (2, 0), (2, 1): their dot products
    array([[2., 0., 0.]])
    """
    T = np.concatenate([dense[:, None, :], embs], axis=1).astype(np.float64)
    Z = T @ T.transpose(0, 2, 1)
    ni = T.shape[1]
    off = 1 if self_interaction else 0
    li = np.array([i for i in range(ni) for j in range(i + off)], np.int64)
    lj = np.array([j for i in range(ni) for j in range(i + off)], np.int64)
    return Z[:, li, lj].astype(np.result_type(dense, embs))


# ----------------------------------------------------------------------------- quantised (qnn)

def requantize_ref(acc, multiplier, shift, zero_point):
    """int32 -> uint8 as targets.hvx_intrin.requantize_expr: rounding doubling high multiply
    by a Q31 multiplier, rounding right shift, + zero point, saturate to [0, 255].

    >>> import numpy as np
    >>> requantize_ref(np.array([-1000, 0, 100, 1000], "int32"), 1 << 30, 0, 128)   # x / 2 + 128
    array([  0, 128, 178, 255], dtype=uint8)
    """
    a = np.asarray(acc, dtype=np.int64)
    t = (a * (2 * multiplier) + 2 ** 31) >> 32
    if shift:
        t = np.minimum(t + (1 << (shift - 1)), 2 ** 31 - 1) >> shift
    return np.clip(t + zero_point, 0, 255).astype(np.uint8)


def depthwise_conv2d_nchw_u8_ref(data, kernel, bias, x_zp, w_zp, multiplier, shift, out_zp,
                                 padding=1):
    """NumPy twin of topi.qnn.depthwise_conv2d_nchw_u8 (int32 accumulate, then requantise).

    >>> import numpy as np
    >>> data = np.full((1, 1, 3, 3), 130, "uint8")
    >>> kernel = np.full((1, 1, 3, 3), 129, "uint8")
    >>> bias = np.zeros(1, "int32")
    >>> depthwise_conv2d_nchw_u8_ref(data, kernel, bias, 128, 128, 1 << 30, 0, 128)[0, 0]
    array([[132, 134, 132],
           [134, 137, 134],
           [132, 134, 132]], dtype=uint8)
    """
    p = padding
    x = np.pad(data.astype(np.int64), ((0, 0), (0, 0), (p, p), (p, p)), constant_values=x_zp) - x_zp
    w = kernel.astype(np.int64)[:, 0] - w_zp
    N, C, Hp, Wp = x.shape
    P, Q = Hp - 2, Wp - 2
    acc = np.zeros((N, C, P, Q), np.int64)
    for r in range(3):
        for s in range(3):
            acc += x[:, :, r:r + P, s:s + Q] * w[None, :, r, s, None, None]
    acc = (acc + bias.astype(np.int64)[None, :, None, None]).astype(np.int32)
    return requantize_ref(acc, multiplier, shift, out_zp)


def pack_dense_int8_weight_ref(weight, lanes):
    """weight [N, K] -> [N/lanes, K/4, lanes, 4] (the layout 4-byte dot products read).

    >>> import numpy as np
    >>> pack_dense_int8_weight_ref(np.zeros((16, 8), "int8"), 8).shape
    (2, 2, 8, 4)
    """
    N, K = weight.shape
    return np.ascontiguousarray(weight.reshape(N // lanes, lanes, K // 4, 4).transpose(0, 2, 1, 3))


def dense_int8_packed_ref(data, packed_weight):
    """int8 dense with a weight packed as [N/lanes, K/4, lanes, 4]: int32 results.

    >>> import numpy as np
    >>> w = pack_dense_int8_weight_ref(np.ones((8, 4), "int8"), 8)
    >>> dense_int8_packed_ref(np.full((1, 4), 3, "int8"), w)
    array([[12, 12, 12, 12, 12, 12, 12, 12]], dtype=int32)
    """
    Nb, Kg, lanes, _ = packed_weight.shape
    w = packed_weight.transpose(0, 2, 1, 3).reshape(Nb * lanes, Kg * 4)
    return (data.astype(np.int64) @ w.astype(np.int64).T).astype(np.int32)



def dense_int8_sat16_ref(data, packed_weight):
    """topi.qnn.dense_int8_sat16 in NumPy: each pair of products (k = 2p, 2p + 1) summed and
    clipped to int16 (AVX2 vpmaddubsw), the pairs summed in int32.

    >>> import numpy as np
    >>> w = pack_dense_int8_weight_ref(np.full((8, 4), 127, "int8"), 8)
    >>> int(dense_int8_sat16_ref(np.full((1, 4), 255, "uint8"), w)[0, 0])   # 2 * 32767, not 129540
    65534
    """
    Nb, Kg, lanes, _ = packed_weight.shape
    w = packed_weight.transpose(0, 2, 1, 3).reshape(Nb * lanes, Kg * 4).astype(np.int64)
    a = data.astype(np.int64)
    M, K = a.shape
    prods = a[:, None, :] * w[None, :, :]                        # [M, N, K]
    pairs = np.clip(prods[..., 0::2] + prods[..., 1::2], -32768, 32767)
    return pairs.sum(axis=2).astype(np.int32)


def pack_dense_int16_pairs_ref(weight, lanes):
    """weight [N, K] int8 -> [N/lanes, K/2, lanes, 2] int16 (topi.qnn.dense_int16_pairs's
    layout: widened once, the two weights of a pair of k adjacent).

    >>> import numpy as np
    >>> pack_dense_int16_pairs_ref(np.zeros((16, 8), "int8"), 8).shape
    (2, 4, 8, 2)
    """
    N, K = weight.shape
    return np.ascontiguousarray(weight.astype(np.int16).reshape(N // lanes, lanes, K // 2, 2)
                                .transpose(0, 2, 1, 3))

def conv2d_hwcn_ref(data, kernel, stride, padding, dilation=1, out_dtype=None):
    """data [H, W, C, N], kernel [R, S, C, O] -> [P, Q, O, N], through the NCHW reference.

    >>> import numpy as np
    >>> conv2d_hwcn_ref(np.ones((5, 5, 3, 2)), np.ones((3, 3, 3, 4)), 1, 0).shape
    (3, 3, 4, 2)
    """
    nchw = conv2d_nchw_ref(data.transpose(3, 2, 0, 1), kernel.transpose(3, 2, 0, 1), stride,
                           padding, dilation, out_dtype=out_dtype)
    return np.ascontiguousarray(nchw.transpose(2, 3, 1, 0))


def conv2d_nhwc_ref(data, kernel, stride, padding, dilation=1, out_dtype=None):
    """data [N, H, W, C], kernel [R, S, C, O] -> [N, P, Q, O], through the NCHW reference.

    >>> import numpy as np
    >>> out = conv2d_nhwc_ref(np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 4)), 1, 0)
    >>> out.shape, float(out[0, 0, 0, 0])
    ((1, 3, 3, 4), 27.0)
    """
    nchw = conv2d_nchw_ref(data.transpose(0, 3, 1, 2), kernel.transpose(3, 2, 0, 1), stride,
                           padding, dilation, out_dtype=out_dtype)
    return np.ascontiguousarray(nchw.transpose(0, 2, 3, 1))


def bitpack_ref(data, bits, pack_axis, bit_axis, pack_type="uint32"):
    """topi.bitserial.bitpack in NumPy: bit planes at bit_axis, pack_axis in words (first
    element in the most significant bit, zero bits past the end).

    >>> import numpy as np
    >>> bitpack_ref(np.array([[3, 1]]), bits=2, pack_axis=1, bit_axis=2, pack_type="uint8")
    array([[[192, 128]]], dtype=uint8)
    """
    w = np.dtype(pack_type).itemsize * 8
    x = np.moveaxis(np.asarray(data).astype(np.int64), pack_axis, -1)
    n = x.shape[-1]
    x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, -n % w)])
    words = x.reshape(x.shape[:-1] + (-1, w))
    weights = np.array([1 << (w - 1 - k) for k in range(w)], dtype=object)
    planes = [((((words >> b) & 1).astype(object)) * weights).sum(axis=-1).astype(pack_type)
              for b in range(bits)]
    out = np.stack([np.moveaxis(p, -1, pack_axis) for p in planes], axis=0)
    return np.moveaxis(out, 0, bit_axis)


def _bitserial_weight(w, weight_bits, unipolar):
    """The integer weight a bit-serial product multiplies by: unipolar bits stand for +-1."""
    w = np.asarray(w).astype(np.int64) & ((1 << weight_bits) - 1)
    return 2 * w - ((1 << weight_bits) - 1) if unipolar else w


def bitserial_dense_ref(data, weight, data_bits, weight_bits, unipolar=True, out_dtype="int16"):
    """data [Y, K] x weight [X, K] (unpacked integers) as topi.bitserial.bitserial_dense.

    >>> import numpy as np
    >>> bitserial_dense_ref(np.array([[1, 2]]), np.array([[1, 0]]), 2, 1)     # weights +-1
    array([[-1]], dtype=int16)
    """
    d = np.asarray(data).astype(np.int64) & ((1 << data_bits) - 1)
    return (d @ _bitserial_weight(weight, weight_bits, unipolar).T).astype(out_dtype)


def bitserial_conv2d_nchw_ref(data, kernel, stride, padding, activation_bits, weight_bits,
                              unipolar=True, out_dtype="int16"):
    """data [N, C, H, W] x kernel [O, C, R, S] (unpacked integers, activation_bits /
    weight_bits of each used) as topi.bitserial.bitserial_conv2d_nchw.

    >>> import numpy as np
    >>> data, kernel = np.ones((1, 2, 4, 4), "int32"), np.ones((3, 2, 3, 3), "int32")
    >>> bitserial_conv2d_nchw_ref(data, kernel, 1, 0, 1, 1).shape
    (1, 3, 2, 2)
    """
    d = np.asarray(data).astype(np.int64) & ((1 << activation_bits) - 1)
    k = _bitserial_weight(kernel, weight_bits, unipolar)
    return conv2d_nchw_ref(d, k, stride, padding, out_dtype=np.int64).astype(out_dtype)


def bitserial_conv2d_nhwc_ref(data, kernel, stride, padding, activation_bits, weight_bits,
                              unipolar=True, out_dtype="int16"):
    """data [N, H, W, C] x kernel [R, S, C, O] (unpacked integers) as
    topi.bitserial.bitserial_conv2d_nhwc.

    >>> import numpy as np
    >>> data, kernel = np.ones((1, 4, 4, 2), "int32"), np.ones((3, 3, 2, 3), "int32")
    >>> bitserial_conv2d_nhwc_ref(data, kernel, 1, 0, 1, 1).shape
    (1, 2, 2, 3)
    """
    d = np.asarray(data).astype(np.int64) & ((1 << activation_bits) - 1)
    k = _bitserial_weight(kernel, weight_bits, unipolar)
    return conv2d_nhwc_ref(d, k, stride, padding, out_dtype=np.int64).astype(out_dtype)


def pack_int4_ref(values):
    """Two 4-bit values per byte along the last axis, the even index in the low nibble (the
    layout of topi.nn.pack_int4; ONNX's int4): int8 / uint8 [..., K] -> uint8 [..., ceil(K/2)].

    >>> import numpy as np
    >>> pack_int4_ref(np.array([1, -2, 7], "int8"))
    array([225,   7], dtype=uint8)
    """
    v = np.asarray(values).astype(np.int64) & 15
    if v.shape[-1] % 2:
        v = np.concatenate([v, np.zeros(v.shape[:-1] + (1,), np.int64)], axis=-1)
    return (v[..., 0::2] | (v[..., 1::2] << 4)).astype(np.uint8)


def unpack_int4_ref(packed, extent=None, signed=True):
    """The values of pack_int4_ref's bytes: int8 in -8..7 (signed) or uint8 in 0..15.

    >>> import numpy as np
    >>> unpack_int4_ref(np.array([225, 7], "uint8"), extent=3)
    array([ 1, -2,  7], dtype=int8)
    """
    p = np.asarray(packed).astype(np.int64)
    v = np.stack([p & 15, p >> 4], axis=-1).reshape(p.shape[:-1] + (2 * p.shape[-1],))
    v = v[..., :v.shape[-1] if extent is None else extent]
    return (v - ((v >> 3) << 4)).astype(np.int8) if signed else v.astype(np.uint8)


def quantize_int4_ref(weight, group_size=None, zero_point=False):
    """Group-wise int4 quantisation of a float [N, K] weight: (packed uint8 [N, K/2], scale
    float32 [N, G], zero point uint8 [N, G] or None), G = K / group_size (one group per row by
    default). Symmetric (signed -8..7, scale = max(abs(w)) / 7) without a zero point; affine
    (unsigned 0..15 from the group's min to max) with one.

    >>> import numpy as np
    >>> packed, scale, zp = quantize_int4_ref(np.array([[0.0, 0.7, -0.7, 0.35]], "float32"))
    >>> unpack_int4_ref(packed), scale
    (array([[ 0,  7, -7,  4]], dtype=int8), array([[0.1]], dtype=float32))
    """
    w = np.asarray(weight, np.float32)
    N, K = w.shape
    gs = K if group_size is None else group_size
    g = w.reshape(N, K // gs, gs)
    if zero_point:
        lo, hi = g.min(axis=2), g.max(axis=2)
        scale = ((hi - lo) / 15).astype(np.float32)
        scale[scale == 0] = 1.0
        zp = np.clip(np.rint(-lo / scale), 0, 15).astype(np.uint8)
        q = np.clip(np.rint(g / scale[..., None]) + zp[..., None], 0, 15)
    else:
        scale = (np.abs(g).max(axis=2) / 7).astype(np.float32)
        scale[scale == 0] = 1.0
        zp = None
        q = np.clip(np.rint(g / scale[..., None]), -8, 7)
    return pack_int4_ref(q.reshape(N, K).astype(np.int8)), scale, zp


def dequantize_int4_ref(packed, scale, zero_point=None, extent=None):
    """The float32 weight [N, K] of dense_int4's operands: (q - zero point) * scale per group.

    >>> import numpy as np
    >>> dequantize_int4_ref(np.array([[0x7f]], "uint8"), np.array([[0.5]], "float32"))
    array([[-0.5,  3.5]], dtype=float32)
    """
    q = unpack_int4_ref(packed, extent, signed=zero_point is None).astype(np.float32)
    s = np.asarray(scale, np.float32).reshape(q.shape[0], -1)
    gs = q.shape[1] // s.shape[1]
    if zero_point is not None:
        q = q - np.repeat(np.asarray(zero_point, np.float32).reshape(s.shape), gs, axis=1)
    return q * np.repeat(s, gs, axis=1)


def dense_int4_ref(data, packed, scale, zero_point=None):
    """topi.nn.dense_int4 in float64: data [M, K] x the dequantised weight [N, K]^T.

    >>> import numpy as np
    >>> dense_int4_ref(np.ones((1, 2), "float32"), np.array([[0x7f]], "uint8"),
    ...                np.array([0.5], "float32"))
    array([[3.]])
    """
    data = np.asarray(data)
    w = dequantize_int4_ref(packed, scale, zero_point, data.shape[1])
    return data.astype(np.float64) @ w.astype(np.float64).T


def sparse_lengths_sum_4bit_rowwise_ref(data_q, scale, bias, indices, lengths):
    """sparse_lengths_sum of packed unsigned 4-bit rows dequantized as q * scale + bias.

    >>> import numpy as np
    >>> sparse_lengths_sum_4bit_rowwise_ref(np.array([[0x21]], "uint8"), np.array([2.0]),
    ...                                     np.array([0.5]), np.array([0, 0]), np.array([2]))
    array([[5., 9.]], dtype=float32)
    """
    q = unpack_int4_ref(data_q, signed=False)
    return sparse_lengths_sum_8bit_rowwise_ref(q, np.asarray(scale), np.asarray(bias), indices,
                                               lengths)


def quantize_4bit_rowwise_ref(table):
    """Row-wise affine 4-bit quantisation (Caffe2's FloatToFused4BitRowwise, unfused):
    (data_q uint8 [V, D/2] packed, scale, bias) with row r ~ scale[r] * q[r] + bias[r].

    >>> import numpy as np
    >>> q, scale, bias = quantize_4bit_rowwise_ref(np.array([[0.0, 1.5, 0.5, 0.0]], "float32"))
    >>> unpack_int4_ref(q, signed=False), scale, bias
    (array([[ 0, 15,  5,  0]], dtype=uint8), array([0.1], dtype=float32), array([0.], dtype=float32))
    """
    table = np.asarray(table, np.float32)
    lo, hi = table.min(axis=1), table.max(axis=1)
    scale = ((hi - lo) / 15).astype(np.float32)
    scale[scale == 0] = 1.0
    bias = lo.astype(np.float32)
    q = np.clip(np.rint((table - bias[:, None]) / scale[:, None]), 0, 15).astype(np.uint8)
    return pack_int4_ref(q), scale, bias


# TVM's names of the references
conv2d_nchw_python = conv2d_nchw_ref
conv2d_hwcn_python = conv2d_hwcn_ref
conv2d_nhwc_python = conv2d_nhwc_ref


def get_conv2d_nchw_implement(target):
    """(compute, schedule) of conv2d NCHW for `target`, with TVM's signatures:
    compute(Input, Filter, stride, padding, dilation, out_dtype=None) and schedule(outs).

    >>> import texpr as te
    >>> compute, schedule = get_conv2d_nchw_implement("c")
    >>> data = te.placeholder((1, 3, 8, 8), name="data")
    >>> kernel = te.placeholder((4, 3, 3, 3), name="kernel")
    >>> out = compute(data, kernel, 1, 1, 1)
    >>> out.shape, type(schedule([out])).__name__
    ((1, 4, 8, 8), 'Schedule')
    """
    from . import nn
    from .schedules import schedule
    from ..targets import get_target
    name = getattr(target, "name", target)
    get_target(name)       # an unknown target is refused here, by name

    def conv2d_nchw(Input, Filter, stride, padding, dilation, out_dtype=None):
        return nn.conv2d(Input, Filter, stride, padding, dilation, "NCHW", "OIHW", out_dtype)

    def schedule_conv2d_nchw(outs):
        return schedule(outs, name)
    return conv2d_nchw, schedule_conv2d_nchw


def _registered_schedule(target):
    from ..targets import get_target
    from .schedules import schedule
    name = getattr(target, "name", target)
    get_target(name)       # an unknown target is refused here, by name

    def schedule_for(outs):
        return schedule(outs, name)
    return schedule_for


def get_elemwise_schedule(target):
    """TVM's testing helper: outs -> the registered schedule of an elementwise graph on
    `target` (topi.schedule picks it by the ops' tags).

    >>> import texpr as te, texpr.topi as topi
    >>> y = topi.exp(te.placeholder((64,), name="x"))
    >>> s = get_elemwise_schedule("c")([y])
    >>> [st.name for st in s.stages]
    ['x', 'exp']
    """
    return _registered_schedule(target)


def get_broadcast_schedule(target):
    """TVM's testing helper: outs -> the registered schedule of a broadcast graph.

    >>> import texpr as te, texpr.topi as topi
    >>> y = topi.add(te.placeholder((4, 8), name="a"), te.placeholder((8,), name="b"))
    >>> s = get_broadcast_schedule("c")([y])
    >>> [st.name for st in s.stages]
    ['a', 'b', 'add']
    """
    return _registered_schedule(target)


def get_injective_schedule(target):
    """TVM's testing helper: outs -> the registered schedule of an injective graph.

    >>> import texpr as te, texpr.topi as topi
    >>> y = topi.transpose(te.placeholder((4, 8), name="x"))
    >>> s = get_injective_schedule("c")([y])
    >>> [st.name for st in s.stages]
    ['x', 'transpose']
    """
    return _registered_schedule(target)


# ----------------------------------------------------------------------------- reductions, sort,
# transpose, where (TVM's topi signatures)

def _axes_arg(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def sum_ref(data, axis=None, keepdims=False):
    """np.sum (topi.sum's reference).

    >>> import numpy as np
    >>> sum_ref(np.ones((2, 3)), axis=1, keepdims=True)
    array([[3.],
           [3.]])
    """
    return np.sum(data, axis=_axes_arg(axis), keepdims=keepdims, dtype=data.dtype)


def prod_ref(data, axis=None, keepdims=False):
    """np.prod (topi.prod's reference).

    >>> import numpy as np
    >>> prod_ref(np.array([[1, 2], [3, 4]]), axis=0)
    array([3, 8])
    """
    return np.prod(data, axis=_axes_arg(axis), keepdims=keepdims, dtype=data.dtype)


def mean_ref(data, axis=None, keepdims=False):
    """np.mean (topi.mean's reference).

    >>> import numpy as np
    >>> float(mean_ref(np.array([[1.0, 2.0], [3.0, 4.0]])))
    2.5
    """
    return np.mean(data, axis=_axes_arg(axis), keepdims=keepdims, dtype=data.dtype)


def max_ref(data, axis=None, keepdims=False):
    """np.max (topi.max's reference).

    >>> import numpy as np
    >>> max_ref(np.array([[1, 5], [3, 4]]), axis=1)
    array([5, 4])
    """
    return np.max(data, axis=_axes_arg(axis), keepdims=keepdims)


def min_ref(data, axis=None, keepdims=False):
    """np.min (topi.min's reference).

    >>> import numpy as np
    >>> min_ref(np.array([[1, 5], [3, 4]]), axis=1)
    array([1, 3])
    """
    return np.min(data, axis=_axes_arg(axis), keepdims=keepdims)


def _arg_ref(fn, data, axis, keepdims, select_last_index):
    axes = range(data.ndim) if axis is None else \
        sorted(a % data.ndim for a in (axis if isinstance(axis, (list, tuple)) else [axis]))
    kept = [d for d in range(data.ndim) if d not in axes]
    # the reduced axes last, flattened: the index is row-major over them (NumPy's for None)
    lines = data.transpose(kept + list(axes)).reshape([data.shape[d] for d in kept] + [-1])
    if select_last_index:
        idx = lines.shape[-1] - 1 - fn(lines[..., ::-1], axis=-1)
    else:
        idx = fn(lines, axis=-1)
    idx = idx.astype("int32")
    if keepdims:
        idx = idx.reshape([1 if d in axes else data.shape[d] for d in range(data.ndim)])
    return idx


def argmax_ref(data, axis=None, keepdims=False, select_last_index=False):
    """np.argmax over one axis, or the last maximum with select_last_index.

    >>> import numpy as np
    >>> x = np.array([[1, 5, 5], [3, 4, 0]])
    >>> argmax_ref(x, axis=1), argmax_ref(x, axis=1, select_last_index=True)
    (array([1, 1], dtype=int32), array([2, 1], dtype=int32))
    """
    return _arg_ref(np.argmax, data, axis, keepdims, select_last_index)


def argmin_ref(data, axis=None, keepdims=False, select_last_index=False):
    """np.argmin over one axis, or the last minimum with select_last_index.

    >>> import numpy as np
    >>> x = np.array([[1, 0, 0], [3, 4, 0]])
    >>> argmin_ref(x, axis=1), argmin_ref(x, axis=1, select_last_index=True)
    (array([1, 2], dtype=int32), array([2, 2], dtype=int32))
    """
    return _arg_ref(np.argmin, data, axis, keepdims, select_last_index)


def topk_ref(data, k=1, axis=-1, ret_type="both", is_ascend=False, dtype="int64"):
    """Stable-sort order: among equal values the lower index first; NaN is greater than
    every number (NumPy's sort order; torch.topk's): first of the greatest, last of the least.

    >>> import numpy as np
    >>> topk_ref(np.array([[3.0, 1.0, 3.0, 2.0]]), k=2)
    [array([[3., 3.]]), array([[0, 2]])]
    """
    n = data.shape[axis]
    k = n if k < 1 else k
    if is_ascend:
        order = np.argsort(data, axis=axis, kind="stable")
    elif data.dtype.kind == "f":
        nan = np.isnan(data)
        order = np.lexsort((np.where(nan, 0, -data), ~nan), axis=axis)
    else:
        order = np.argsort(_descending_key(data), axis=axis, kind="stable")
    idx = np.take(order, np.arange(k), axis=axis)
    values = np.take_along_axis(data, idx, axis=axis)
    idx = idx.astype(dtype)
    return {"both": [values, idx], "values": values, "indices": idx}[ret_type]


def _descending_key(data):
    """A key whose ascending stable order is integer data's descending order (no overflow)."""
    return -data.astype(np.int64) if data.dtype.itemsize < 8 or data.dtype.kind == "i" \
        else np.iinfo(data.dtype).max - data


def transpose_ref(a, axes=None):
    """np.transpose (topi.transpose's reference).

    >>> import numpy as np
    >>> transpose_ref(np.zeros((2, 3, 4)), (2, 0, 1)).shape
    (4, 2, 3)
    """
    return np.ascontiguousarray(np.transpose(a, axes))


def where_ref(condition, x, y):
    """np.where of a condition and two arrays, broadcast.

    >>> import numpy as np
    >>> where_ref(np.array([True, False]), np.array([1, 2]), np.array([[7], [8]]))
    array([[1, 7],
           [1, 8]])
    """
    dt = x.dtype if isinstance(x, np.ndarray) else y.dtype
    return np.where(condition != 0, x, y).astype(dt)


def attention_ref(q, k, v, causal=False, scale=None):
    """softmax(scale * q k^T, masked j > i when causal) v over [B, H, S, D] arrays, in float64.

    >>> import numpy as np
    >>> q = k = np.zeros((1, 1, 2, 4))
    >>> v = np.arange(8.0).reshape(1, 1, 2, 4)
    >>> attention_ref(q, k, v, causal=True)[0, 0]     # row 0 sees v[0]; row 1 averages v[0], v[1]
    array([[0., 1., 2., 3.],
           [2., 3., 4., 5.]])
    """
    q64, k64, v64 = (np.asarray(a, np.float64) for a in (q, k, v))
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = scale * np.einsum("bhid,bhjd->bhij", q64, k64)
    if causal:
        S, T = s.shape[-2:]
        s = np.where(np.arange(T)[None, :] <= np.arange(S)[:, None], s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return np.einsum("bhij,bhjd->bhid", p, v64).astype(q.dtype)
