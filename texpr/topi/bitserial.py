"""Bit-serial (1- and 2-bit) operators, TVM's topi.nn.bitpack / bitserial_dense /
bitserial_conv2d_nchw / bitserial_conv2d_nhwc: integers of `bits` bits are split into bit
planes, each plane packed into machine words along the reduced axis, and products become
AND + popcount.

A value x of B bits is sum_b x_b 2^b. With data bits d_b and weight bits w_c:
- bipolar (unipolar=False): sum popcount(d_b & w_c) << (b + c)  =  sum_k x_k * w_k
- unipolar (unipolar=True, TVM's default): each weight bit stands for +1 (set) or -1 (clear):
  sum (popcount(d_b & w_c) - popcount(d_b & ~w_c)) << (b + c)  =  sum_k x_k * (2 w_k - (2^C - 1))

Words hold `word bits` consecutive elements of the packed axis, the first in the most
significant bit (TVM's order); a packed axis that is not a multiple of the word is padded with
zero bits (which add nothing: a data bit 0 meets every weight bit).
"""
from ..errors import TexprError
from ..lang import dtypes
from ..lang.expr import Const, if_then_else, popcount
from ..lang.reduction import sum as te_sum
from ..lang.tensor import compute, reduce_axis
from .nn import pad
from .util import check_ndim, const_dim, pair, padding4

PACK_TYPES = {"uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64}
BITPACK_TAG = "bitpack"
#: the popcount sums of bitserial_dense (scheduled with it)
POPCOUNT_TAG = "bitserial_dense_part"


def _word_bits(pack_type, what):
    if pack_type not in PACK_TYPES:
        raise TexprError(f"{what}: pack_type {pack_type!r}; expected one of "
                         f"{', '.join(PACK_TYPES)}")
    return PACK_TYPES[pack_type]


def bitpack(data, bits, pack_axis, bit_axis, pack_type="uint32", name="QuantizeInput"):
    """Bit planes of the integer tensor `data`, packed along `pack_axis` (of data) into words of
    `pack_type`; the planes are a new axis of extent `bits` at `bit_axis` (of the result)."""
    what = "bitpack"
    if not dtypes.is_int(data.dtype):
        raise TexprError(f"{what}: {data.name} is {data.dtype}; expected an integer dtype")
    n = len(data.shape)
    if not 0 <= pack_axis < n or not 0 <= bit_axis <= n:
        raise TexprError(f"{what}: pack_axis {pack_axis} / bit_axis {bit_axis} out of range for "
                         f"{n} dimensions")
    if not 1 <= int(bits) <= 8:
        raise TexprError(f"{what}: bits={bits}; expected 1 to 8")
    w = _word_bits(pack_type, what)
    extent = const_dim(data, pack_axis, what)
    shape = list(data.shape)
    shape[pack_axis] = -(-extent // w)
    shape.insert(bit_axis, int(bits))
    src_axis = [i for i in range(n + 1) if i != bit_axis]     # output axis of each data axis

    def word(*o):
        b = o[bit_axis]
        out = Const(0, pack_type)
        for k in range(w):
            idx = [o[a] for a in src_axis]
            idx[pack_axis] = o[src_axis[pack_axis]] * w + k
            bit = ((data[tuple(idx)].astype("int32") >> b) & 1).astype(pack_type)
            if extent % w:
                bit = if_then_else(idx[pack_axis] < extent, bit, Const(0, pack_type))
            out = out | (bit << (w - 1 - k)) if k else bit << (w - 1)
        return out
    return compute(tuple(shape), word, name=name, tag=BITPACK_TAG,
                   attrs={"bits": int(bits), "word_bits": w, "pack_axis": pack_axis,
                          "bit_axis": bit_axis})


def _product(dq, wq, db, wb, out_dtype, unipolar):
    """The popcount terms of one data word and one weight word, shifted by their bit weights."""
    shift = (db + wb).astype(out_dtype)
    pos = popcount(dq & wq).astype(out_dtype)
    if unipolar:
        pos = pos - popcount(dq & ~wq).astype(out_dtype)
    return pos << shift


def _check_out(out_dtype, what):
    if not dtypes.is_int(out_dtype) or dtypes.is_unsigned(out_dtype):
        raise TexprError(f"{what}: out_dtype {out_dtype}; expected a signed integer dtype")


def bitserial_dense(data, weight, data_bits, weight_bits, pack_dtype="uint32",
                    out_dtype="int16", unipolar=True):
    """out[y, x] = sum_k data[y, k] * weight[x, k] in bit planes (module doc). weight is
    [X, K] integers, or already packed: [X, weight_bits, K / word bits] (bitpack with
    pack_axis=1, bit_axis=1), as a model packs its weights once."""
    what = "bitserial_dense"
    check_ndim(data, 2, what, "[Y, K]")
    out_dtype = dtypes.normalize(out_dtype)
    _check_out(out_dtype, what)
    w = _word_bits(pack_dtype, what)
    dq = bitpack(data, data_bits, 1, 1, pack_dtype, name="data_packed")
    if len(weight.shape) == 2:
        wq = bitpack(weight, weight_bits, 1, 1, pack_dtype, name="weight_packed")
    elif len(weight.shape) == 3:
        wq = weight
        if weight.dtype != pack_dtype or const_dim(weight, 1, what) != int(weight_bits):
            raise TexprError(f"{what}: packed weight {weight.name} is {weight.dtype} with "
                             f"{const_dim(weight, 1, what)} bit planes; expected {pack_dtype} "
                             f"with weight_bits={weight_bits}")
    else:
        raise TexprError(f"{what}: weight {weight.name} has {len(weight.shape)} dimensions; "
                         "expected [X, K] or packed [X, weight_bits, K / word bits]")
    K = const_dim(dq, 2, what)
    if const_dim(wq, 2, what) != K:
        raise TexprError(f"{what}: data has {K} words of {w} bits per row but the weight has "
                         f"{const_dim(wq, 2, what)}")
    DB, WB = int(data_bits), int(weight_bits)
    # the popcount sums of each (data plane, weight plane) pair, in int32 (the same integers as
    # summing in out_dtype: both wrap alike), combined with their bit weights afterwards
    k = reduce_axis((0, K), "k")
    sums = compute((data.shape[0], wq.shape[0], DB, WB), lambda i, j, b, c: te_sum(
        popcount(dq[i, b, k] & wq[j, c, k]).astype("int32"), axis=k),
        name="bitserial_dense_popcount", tag=POPCOUNT_TAG)

    def planes(i, j):
        out = None
        for b in range(DB):
            for c in range(WB):
                t = sums[i, j, b, c].astype(out_dtype)
                t = t << Const(b + c, out_dtype) if b + c else t
                out = t if out is None else out + t
        return out
    if not unipolar:
        return compute((data.shape[0], wq.shape[0]), planes, name="bitserial_dense",
                       tag="bitserial_dense", attrs={"unipolar": False})
    # unipolar: popcount(d & ~w) = popcount(d) - popcount(d & w), so the sum is
    # 2 * (the bipolar sum) - (the data row's bits) * (2^weight_bits - 1): one popcount per
    # word pair instead of two (the same integers, wrapped alike in out_dtype)
    k2, db2 = reduce_axis((0, K), "k"), reduce_axis((0, DB), "db")
    row = compute((data.shape[0],), lambda i: te_sum(
        popcount(dq[i, db2, k2]).astype(out_dtype) << db2.var.astype(out_dtype), axis=[db2, k2]),
        name="bitserial_dense_rowbits", tag=POPCOUNT_TAG)
    scale = Const((1 << WB) - 1, out_dtype)
    return compute((data.shape[0], wq.shape[0]),
                   lambda i, j: planes(i, j) * Const(2, out_dtype) - row[i] * scale,
                   name="bitserial_dense", tag="bitserial_dense", attrs={"unipolar": True})


def _conv_args(stride, padding, what):
    return pair(stride, f"{what}: stride") + padding4(padding)


def bitserial_conv2d_nchw(data, kernel, stride, padding, activation_bits, weight_bits,
                          pack_dtype="uint32", out_dtype="int16", unipolar=True):
    """data [N, CI, H, W] x kernel [CO, CI, KH, KW] (integers of activation_bits /
    weight_bits) -> [N, CO, OH, OW], input channels packed into words."""
    what = "bitserial_conv2d_nchw"
    check_ndim(data, 4, what, "[N, CI, H, W]")
    check_ndim(kernel, 4, what, "[CO, CI, KH, KW]")
    out_dtype = dtypes.normalize(out_dtype)
    _check_out(out_dtype, what)
    sh, sw, pt, pl, pb, pr = _conv_args(stride, padding, what)
    dq = bitpack(data, activation_bits, 1, 2, pack_dtype, name="data_packed")     # N C B H W
    kq = bitpack(kernel, weight_bits, 1, 4, pack_dtype, name="kernel_packed")     # O C KH KW B
    N, C, _, H, W = (const_dim(dq, d, what) for d in range(5))
    O, C2, KH, KW, _ = (const_dim(kq, d, what) for d in range(5))
    if C != C2:
        raise TexprError(f"{what}: data has {const_dim(data, 1, what)} input channels but the "
                         f"kernel has {const_dim(kernel, 1, what)}")
    dp = pad(dq, (0, 0, 0, pt, pl), (0, 0, 0, pb, pr), value=0, name="data_pad")
    OH, OW = (H + pt + pb - KH) // sh + 1, (W + pl + pr - KW) // sw + 1
    rc, ry, rx = reduce_axis((0, C), "rc"), reduce_axis((0, KH), "ry"), reduce_axis((0, KW), "rx")
    b1 = reduce_axis((0, int(activation_bits)), "b1")
    b2 = reduce_axis((0, int(weight_bits)), "b2")
    return compute((N, O, OH, OW), lambda n, o, y, x: te_sum(_product(
        dp[n, rc, b1, y * sh + ry, x * sw + rx], kq[o, rc, ry, rx, b2], b1, b2, out_dtype,
        unipolar), axis=[rc, ry, rx, b2, b1]), name="bitserial_conv2d_nchw",
        tag="bitserial_conv2d_nchw", attrs={"unipolar": bool(unipolar)})


def bitserial_conv2d_nhwc(data, kernel, stride, padding, activation_bits, weight_bits,
                          pack_dtype="uint32", out_dtype="int16", unipolar=True):
    """data [N, H, W, CI] x kernel [KH, KW, CI, CO] -> [N, OH, OW, CO], input channels packed."""
    what = "bitserial_conv2d_nhwc"
    check_ndim(data, 4, what, "[N, H, W, CI]")
    check_ndim(kernel, 4, what, "[KH, KW, CI, CO]")
    out_dtype = dtypes.normalize(out_dtype)
    _check_out(out_dtype, what)
    sh, sw, pt, pl, pb, pr = _conv_args(stride, padding, what)
    dq = bitpack(data, activation_bits, 3, 4, pack_dtype, name="data_packed")     # N H W C B
    kq = bitpack(kernel, weight_bits, 2, 4, pack_dtype, name="kernel_packed")     # KH KW C O B
    N, H, W, C, _ = (const_dim(dq, d, what) for d in range(5))
    KH, KW, C2, O, _ = (const_dim(kq, d, what) for d in range(5))
    if C != C2:
        raise TexprError(f"{what}: data has {const_dim(data, 3, what)} input channels but the "
                         f"kernel has {const_dim(kernel, 2, what)}")
    dp = pad(dq, (0, pt, pl, 0, 0), (0, pb, pr, 0, 0), value=0, name="data_pad")
    OH, OW = (H + pt + pb - KH) // sh + 1, (W + pl + pr - KW) // sw + 1
    rc, ry, rx = reduce_axis((0, C), "rc"), reduce_axis((0, KH), "ry"), reduce_axis((0, KW), "rx")
    b1 = reduce_axis((0, int(activation_bits)), "b1")
    b2 = reduce_axis((0, int(weight_bits)), "b2")
    return compute((N, OH, OW, O), lambda n, y, x, o: te_sum(_product(
        dp[n, y * sh + ry, x * sw + rx, rc, b1], kq[ry, rx, rc, o, b2], b1, b2, out_dtype,
        unipolar), axis=[rc, ry, rx, b2, b1]), name="bitserial_conv2d_nhwc",
        tag="bitserial_conv2d_nhwc", attrs={"unipolar": bool(unipolar)})
