"""HVX schedules (target "hvx") for the integer and quantised operators.

HVX vectors are 128 bytes: an integer stage vectorizes its innermost data axis by
128 / element size lanes (32 for int32 accumulators, 128 for uint8), with its reduction
loops outside the lanes, so a reduction is vector accumulation (no horizontal step) and
tails are predicated stores. Tensor intrinsics where the layout allows:

- dense_int8_packed: the `vrmpy` micro-kernel (targets.intrin.dot_int8, its hvx version),
- depthwise_conv2d_nchw_u8: the 3x3 uint8 row kernel (hvx_intrin.depthwise3x3_u8) and the
  fixed-point requantisation (hvx_intrin.requantize_u8) when the output width is a multiple
  of 32; otherwise the vectorized loops.

Float stages keep the default schedule: HVX v67 has no float vectors (the scalar core runs them).
"""
from ..lang import dtypes
from ..lang.tensor import ComputeOp
from ..targets.hexagon.emitter import VBYTES
from ..targets.hexagon.intrin import depthwise3x3_u8, requantize_u8
from ..targets.intrin import dot_int8
from .schedules import default_stage, register

HVX = ("hvx",)


def hvx_lanes(dtype):
    """Lanes of one HVX vector of `dtype` (32 for int32, 128 for int8)."""
    return VBYTES // max(1, dtypes.bits(dtype) // 8)


def _is_int(t):
    return dtypes.is_int(t.dtype) and dtypes.bits(t.dtype) <= 32


def _ext(st, iv):
    e = st.extent_of(iv)
    return int(e.value) if hasattr(e, "value") else None


def vectorize_inner(s, st, target):
    """Innermost data axis split by one vector of the output dtype and vectorized, reduction
    loops moved just outside it (vector accumulators); falls back to the default schedule for
    float stages."""
    out = st.op.output(0)
    if not (_is_int(out) and all(_is_int(t) for t in st.op.input_tensors)):
        return default_stage(s, st, target)
    data = [iv for iv in st.leaf_iter_vars if iv.kind != "reduce"]
    red = [iv for iv in st.leaf_iter_vars if iv.kind == "reduce"]
    if not data:
        return default_stage(s, st, target)
    inner = data[-1]
    lanes = hvx_lanes(out.dtype)
    ext = _ext(st, inner)
    if ext is not None and ext <= lanes and ext & (ext - 1) == 0:
        xo, xi = None, inner                 # the whole axis is one (power-of-two) vector
    else:
        if ext is not None and ext < lanes:  # a short axis: the widest vector it fills
            lanes = 1 << (ext.bit_length() - 1)
        xo, xi = st.split(inner, factor=lanes)
    order = data[:-1] + ([xo] if xo is not None else []) + red + [xi]
    st.reorder(*order)
    st.vectorize(xi)
    return ()


for _tag in ("elemwise", "injective", "pool", "conv2d_nchw", "depthwise_conv2d_nchw",
             "conv2d_NCHWc", "dense"):
    register(_tag, HVX)(vectorize_inner)


@register("dense_int8_packed", HVX)
def schedule_dense_int8_packed(s, st, target):
    """`rows` x `lanes` outputs per vrmpy micro-kernel call (each weight vector loaded once
    for all rows), k in chunks of kc."""
    data = st.op.input_tensors[0]
    lanes = st.op.attrs.get("lanes", 0)
    i, j = st.op.axis
    (k,) = st.op.reduce_axis
    K, M = _ext(st, k), _ext(st, i)
    if lanes % 32 or K is None or K % 4 or M is None:
        return vectorize_inner(s, st, target)
    kc = next(c for c in (256, 128, 64, 32, 16, 8, 4) if K % c == 0)
    rows = next(r for r in (4, 2, 1) if M % r == 0)
    io, ii = st.split(i, factor=rows)
    jo, ji = st.split(j, factor=lanes)
    ko, ki = st.split(k, factor=kc)
    kg, kk = st.split(ki, factor=4)
    st.reorder(io, jo, ko, ii, ji, kg, kk)
    st.tensorize(ii, dot_int8(kc, lanes, data.dtype, rows=rows))
    return ()


def _row_lanes(q):
    return next((n for n in (128, 64, 32) if q % n == 0), None)


@register("depthwise_u8_acc", HVX)
def schedule_depthwise_u8_acc(s, st, target):
    """The padded input is computed first (the row kernel reads rows of it); each output row
    is cut in `lanes`-wide pieces handled by the 3x3 row kernel."""
    n, c, y, x = st.op.axis
    lanes = _row_lanes(_ext(st, x))
    if lanes is None:
        return vectorize_inner(s, st, target)
    dp = st.op.input_tensors[0]
    if isinstance(dp.op, ComputeOp):
        s[dp].compute_root()
    ry, rx = st.op.reduce_axis
    xo, xi = st.split(x, factor=lanes)
    st.reorder(n, c, y, xo, xi, ry, rx)
    st.tensorize(xi, depthwise3x3_u8(lanes, st.op.attrs["x_zp"], st.op.attrs["w_zp"]))
    return ()


@register("requantize_u8", HVX)
def schedule_requantize_u8(s, st, target):
    """Fixed-point requantisation of `lanes` accumulators at a time (the HVX intrinsic)."""
    axes = st.op.axis
    lanes = _row_lanes(_ext(st, axes[-1]))
    if lanes is None:
        return vectorize_inner(s, st, target)
    a = st.op.attrs
    xo, xi = st.split(axes[-1], factor=lanes)
    st.tensorize(xi, requantize_u8(lanes, a["multiplier"], a["shift"], a["zero_point"]))
    return ()
