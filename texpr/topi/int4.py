"""int4: packed 4-bit weights and embedding tables (issue 20).

Storage (ONNX's int4 / uint4 order): two values per byte along the last axis, the even index
in the low nibble, the odd one in the high nibble; an odd extent leaves the last high nibble
zero. Signed values are two's complement (-8..7); unsigned ones (0..15) go with a zero point.

- dense_int4: out[i, j] = sum_k data[i, k] * (q[j, k] - z[j, g]) * scale[j, g], with
  g = k // group_size (one group per row when group_size is None: per output channel); q is
  signed without zero_point, unsigned with it.
- sparse_lengths_sum_4bit_rowwise: an embedding bag over rows scale[r] * q[r, :] + bias[r]
  (q unsigned), Caffe2's SparseLengthsSumFused4BitRowwise with its scale and bias unfused.
- pack_int4 / unpack_int4: int8 / uint8 values <-> packed bytes (NumPy:
  topi.testing.pack_int4_ref, unpack_int4_ref, quantize_int4_ref).

The values are unpacked where they are used (in registers): the weight is read as packed
bytes, 1/8 of a float32 weight's. Schedules: topi/cpu_int4.py.
"""
from __future__ import annotations

from ..errors import TexprError
from ..lang.expr import Const, elementwise_min, if_then_else
from ..lang.reduction import sum as te_sum
from ..lang.tensor import compute, reduce_axis
from .util import check_ndim, const_dim

INT4_DENSE_TAG = "dense_int4"
INT4_PACK_TAG = "pack_int4"


def nibble(packed, idx, k, signed):
    """Value k (along the last axis) of a packed tensor, as int32: a nibble of its byte (uint8)
    or 32-bit word (uint32: the same bytes, 8 values a word), sign-extended when signed (v - 16
    where bit 3 is set)."""
    per = 2 if packed.dtype == "uint8" else 8
    kv = getattr(k, "var", k)
    odd = kv & (per - 1)                    # not k % per: tensorize matches `&` as written
    word = packed[tuple(idx) + (kv // per,)]
    if per == 2:
        v = (word.astype("int32") >> (odd * 4)) & 15
    else:                                   # shifted as uint32, converted once masked
        v = ((word >> (odd * 4).astype("uint32")) & 15).astype("int32")
    return v - ((v >> 3) << 4) if signed else v


def pack_int4(data, name="pack_int4"):
    """Two int4 values per byte along the last axis (data int8 in -8..7 or uint8 in 0..15;
    higher bits are dropped): [..., K] -> uint8 [..., ceil(K / 2)].

    >>> import texpr as te, texpr.topi as topi
    >>> w = te.placeholder((16, 7), dtype="int8", name="w")
    >>> topi.nn.pack_int4(w).shape
    (16, 4)
    """
    what = "pack_int4"
    if data.dtype not in ("int8", "uint8"):
        raise TexprError(f"{what}: {data.name} is {data.dtype}; expected int8 (-8..7) or uint8 "
                         "(0..15) values")
    K = const_dim(data, len(data.shape) - 1, what)
    shape = tuple(data.shape[:-1]) + ((K + 1) // 2,)

    def byte(*i):
        lo = data[i[:-1] + (i[-1] * 2,)].astype("int32") & 15
        hi = data[i[:-1] + (i[-1] * 2 + 1,)].astype("int32") & 15 if K % 2 == 0 else \
            if_then_else(i[-1] * 2 + 1 < K,
                         data[i[:-1] + (elementwise_min(i[-1] * 2 + 1, K - 1),)].astype("int32") & 15,
                         Const(0, "int32"))
        return (lo | (hi << 4)).astype("uint8")
    return compute(shape, byte, name=name, tag=INT4_PACK_TAG)


def unpack_int4(packed, extent=None, signed=True, name="unpack_int4"):
    """The values of a packed uint8 tensor [..., P]: int8 (signed) or uint8 [..., extent]
    (default 2 P).

    >>> import texpr as te, texpr.topi as topi
    >>> p = te.placeholder((16, 4), dtype="uint8", name="p")
    >>> v = topi.nn.unpack_int4(p, extent=7)
    >>> v.shape, v.dtype
    ((16, 7), 'int8')
    """
    what = "unpack_int4"
    if packed.dtype != "uint8":
        raise TexprError(f"{what}: {packed.name} is {packed.dtype}; expected uint8 (packed bytes)")
    P = const_dim(packed, len(packed.shape) - 1, what)
    K = 2 * P if extent is None else int(extent)
    if not 2 * P - 1 <= K <= 2 * P:
        raise TexprError(f"{what}: extent {K} does not fit {P} packed bytes; expected "
                         f"{2 * P - 1} or {2 * P}")
    dt = "int8" if signed else "uint8"
    return compute(tuple(packed.shape[:-1]) + (K,),
                   lambda *i: nibble(packed, i[:-1], i[-1], signed).astype(dt), name=name,
                   tag="elemwise")


def _check_dense_int4(data, weight, scale, zero_point, group_size):
    what = "dense_int4"
    check_ndim(data, 2, what, "[M, K]")
    check_ndim(weight, 2, what, "[N, K / 2] (packed)")
    if data.dtype not in ("float32", "int8"):
        raise TexprError(f"{what}: data {data.name} is {data.dtype}; expected float32 or int8 "
                         "activations")
    if weight.dtype != "uint8":
        raise TexprError(f"{what}: weight {weight.name} is {weight.dtype}; expected uint8 "
                         "(two int4 values per byte, topi.nn.pack_int4)")
    K = const_dim(data, 1, what)
    P = const_dim(weight, 1, what)
    if P != (K + 1) // 2:
        raise TexprError(f"{what}: data has K={K}, so weight must hold {(K + 1) // 2} packed "
                         f"bytes per row; it has {P}")
    gs = K if group_size is None else int(group_size)
    if gs <= 0 or K % gs:
        raise TexprError(f"{what}: group_size={group_size} does not divide K={K}")
    G = K // gs
    N = weight.shape[0]
    for t, dt in ((scale, "float32"), (zero_point, "uint8")):
        if t is None:
            continue
        if t.dtype != dt:
            raise TexprError(f"{what}: {t.name} is {t.dtype}; expected {dt}")
        if len(t.shape) == 1 and G == 1:
            continue
        want = f"[N, {G}] (a value per row and group of {gs})" + (" or [N]" if G == 1 else "")
        if len(t.shape) != 2 or const_dim(t, 1, what) != G:
            raise TexprError(f"{what}: {t.name} has shape "
                             f"[{', '.join(str(d) for d in t.shape)}]; expected {want}")
    return K, gs


def dense_int4_term(data_at, weight, scale, zero_point, gs, j, k):
    """data_at(k) * (q - z) * scale of output column j: the summand of dense_int4 (also the
    declaration of its micro-kernel, topi/cpu_int4.py). int8 data multiply q - z exactly in
    int32 before the scale."""
    def per_group(t):
        return t[j] if len(t.shape) == 1 else t[j, k // gs]
    q = nibble(weight, (j,), k, zero_point is None)
    if zero_point is not None:
        q = q - per_group(zero_point).astype("int32")
    x = data_at(k)
    if x.dtype == "int8":
        return (x.astype("int32") * q).astype("float32") * per_group(scale)
    return x * (q.astype("float32") * per_group(scale))


def dense_int4(data, weight, scale, zero_point=None, group_size=None, name="dense_int4"):
    """out[i, j] = sum_k data[i, k] * (q[j, k] - z[j, g]) * scale[j, g] (float32 sums).

    data: float32 [M, K], or int8 (quantised activations: each product with q - z exact in
    int32, then scaled; the data's own scale is the caller's, applied to the result). The CPU
    micro-kernel (topi/cpu_int4.py) takes either: float32 data in float32 multiply-adds, int8
    data in exact int32 sums per group (u8 x s8 byte products).

    weight: uint8 [N, K/2], two values per byte (pack_int4); signed int4 without a zero point,
    unsigned with one. scale: float32 [N, G] (G = K / group_size groups along K; [N] when the
    scale is per output channel); zero_point: uint8 like scale, or None.

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((1, 128), name="x")
    >>> w = te.placeholder((16, 64), dtype="uint8", name="w")
    >>> s = te.placeholder((16, 2), name="s")
    >>> topi.nn.dense_int4(x, w, s, group_size=64).shape
    (1, 16)
    """
    K, gs = _check_dense_int4(data, weight, scale, zero_point, group_size)
    k = reduce_axis((0, K), "k")
    return compute((data.shape[0], weight.shape[0]), lambda i, j: te_sum(
        dense_int4_term(lambda kk: data[i, kk], weight, scale, zero_point, gs, j, k), axis=k),
        name=name, tag=INT4_DENSE_TAG,
        attrs={"group_size": gs, "signed": zero_point is None, "scale_1d": len(scale.shape) == 1,
               "data_dtype": data.dtype})


def sparse_lengths_sum_4bit_rowwise(data_q, scale, bias, indices, lengths,
                                    name="sparse_lengths_sum_4bit_rowwise"):
    """Row-wise 4-bit table: row r is scale[r] * q[r, :] + bias[r] (q unsigned 0..15, packed two
    per byte: data_q uint8 [V, D / 2]; scale, bias float32 [V]); out[b, :] = the sum of the
    rows of bag b (float32 [B, D]). The same bytes as uint32 words [V, D / 8] (NumPy:
    packed.view(np.uint32)) give the fast kernel: a word is broadcast to a vector and its 8
    nibbles shifted out lane by lane (a byte per value pair does not vectorize).

    >>> import texpr as te, texpr.topi as topi
    >>> q = te.placeholder((100, 8), dtype="uint8", name="q")
    >>> scale, bias = te.placeholder((100,), name="scale"), te.placeholder((100,), name="bias")
    >>> indices = te.placeholder((30,), dtype="int32", name="indices")
    >>> lengths = te.placeholder((4,), dtype="int32", name="lengths")
    >>> topi.sparse.sparse_lengths_sum_4bit_rowwise(q, scale, bias, indices, lengths).shape
    (4, 16)
    """
    from .sparse import _rowwise_pool
    what = "sparse_lengths_sum_4bit_rowwise"
    if data_q.dtype not in ("uint8", "uint32"):
        raise TexprError(f"{what}: data_q is {data_q.dtype}; expected uint8 [V, D / 2] (two "
                         "4-bit values per byte, topi.nn.pack_int4) or uint32 [V, D / 8] (the "
                         "same bytes as words: packed.view(np.uint32))")
    check_ndim(data_q, 2, what, "[V, D / 2] (uint8) or [V, D / 8] (uint32)")
    D = (2 if data_q.dtype == "uint8" else 8) * const_dim(data_q, 1, what)
    return _rowwise_pool(what, data_q, scale, bias, indices, lengths, D,
                         lambda r, d: nibble(data_q, (r,), d, False), name)
