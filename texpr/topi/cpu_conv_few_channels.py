"""Direct NCHW convolution of an input with few channels (the RGB stem of image models).

With C = 3 the reduction of one output is only C*R*S long (147 for the 7x7 ResNet stem), and
channel blocks of the input (the NCHWc route of schedule_conv2d_nchw) hold 3 values: the
register tile then accumulates over output channels while the NCHW output is written one
value at a time. Here the output row is the vector instead: a tile of `ot` output channels x
`xv` vectors of output columns, each weight broadcast once per tap and each input vector
reused by the `ot` channels. A strided convolution would load its input columns with a stride;
the schedule reads the (zero-padded) input through one copy split into `stride` column phases
[N, C, Hp, stride, ceil(Wp/stride)], where output columns x..x+lanes-1 of a tap are a
contiguous run. That copy replaces the padding copy, so the input is read once per call.
"""
from ..lang.expr import Const, if_then_else
from .cpu import (_dims, _f32, _output_and_accumulator, _pad_of, _schedule_copy, _vector_tile,
                  cpu_info, pack_input, padded_copy)
from .util import cdiv

#: at most this many input channels (per group: groups stay on the other schedule)
FEW_CHANNELS_MAX = 4


def few_channels_config(O, Q, target="native"):
    """(ot, xv): the register tile, `ot` output channels x `xv` vectors of output columns.

    ot * xv accumulators plus the xv input vectors of a tap and one broadcast weight fill the
    registers at most; among those, few loads per FMA ((ot + xv) / (ot * xv)) and enough
    accumulators to cover the FMA latency, with little work lost to a partial column tile
    and ot dividing the output channels."""
    info = cpu_info(target)
    lanes, nregs = info.lanes, info.nregs
    qv = max(1, Q // lanes)         # a tile no wider than the row
    best = None
    for xv in range(1, min(qv, nregs) + 1):
        for ot in range(1, O + 1):
            if O % ot or ot * xv + xv + 1 > nregs:
                continue
            acc = ot * xv
            eff = min(1.0, acc / 12.0) * min(1.0, 0.7 / ((ot + xv) / float(acc)))
            # a partial last tile is a slower tail: count it as whole vectors
            waste = cdiv(Q, xv * lanes) * xv * lanes / float(Q)
            key = (round(waste / eff, 3), -acc, xv)
            if best is None or key < best[0]:
                best = (key, ot, xv)
    return {"ot": best[1], "xv": best[2], "lanes": lanes}


def applies(s, st, target):
    """Whether `st` (a conv2d_nchw stage) is a float32 convolution of few input channels with
    output rows at least a vector wide."""
    ins = st.op.input_tensors
    if len(ins) != 2 or not _f32(st.op.output(0), *ins) or "strides" not in st.op.attrs:
        return False
    if st.op.attrs.get("groups", 1) != 1:
        return False
    Q = int(st.op.axis[3].dom.extent.value)
    return _dims(ins[1])[1] <= FEW_CHANNELS_MAX and Q >= cpu_info(target).lanes


def column_phases(s, st, dp, sw, width=None):
    """Make `st` (a convolution reading the NCHW input `dp`, or its zero padding) read it
    through the copy "data_phases" [N, C, Hp, sw, ceil(Wp/sw)] that splits the (padded)
    columns into `sw` phases: the columns x*sw + tap of consecutive outputs x are a
    contiguous run of one phase. width: the (padded) columns the copy holds, zeros past Wp
    (for a convolution computed past its last output column: pad_axis). Returns the copy's
    stage (not yet scheduled)."""
    pad_t, _ = _pad_of(s, st)
    src = pad_t if pad_t is not None else dp
    N, C, Hp, Wp = _dims(src)
    Wq = cdiv(max(Wp, width or 0), sw)
    shape = (N, C, Hp, sw, Wq)

    def fread(n, c, h, w):
        return (n, c, h, w % sw, w // sw)
    if pad_t is not None and pad_t.op.attrs.get("pad_value", 0) == 0:
        return padded_copy(s, st, pad_t, shape, lambda n, c, h, p, q: (n, c, h, q * sw + p),
                           fread, "data_phases", select=True, shape_reach=Wq * sw > Wp)

    def fpack(n, c, h, p, q):
        w = q * sw + p
        if Wq * sw == Wp:
            return src[n, c, h, w]
        return if_then_else(w < Wp, src[n, c, h, w], Const(0.0, src.dtype))
    return pack_input(s, st, src, shape, fpack, fread, "data_phases")[1]


def schedule_conv2d_nchw_few_channels(s, st, target):
    """The schedule described in the module docstring; returns the stages it scheduled."""
    info = cpu_info(target)
    lanes = info.lanes
    dp, kernel = st.op.input_tensors
    _, O, _, Q = (int(a.dom.extent.value) for a in st.op.axis)
    _, sw = st.op.attrs["strides"]
    from . import cpu_tuning
    from .cpu import conv_workload
    pad_t, data = _pad_of(s, st)
    N, _, P, _ = (int(a.dom.extent.value) for a in st.op.axis)
    C, R, S_ = _dims(kernel)[1:]
    cfg = cpu_tuning.few_channels_params(
        conv_workload("topi.conv2d_nchw", st, data if pad_t is not None else dp, kernel, pad_t),
        2.0 * N * O * P * Q * C * R * S_, O, Q, target, few_channels_config(O, Q, target))
    ot, xv = cfg["ot"], cfg["xv"]
    _schedule_copy(column_phases(s, st, dp, sw), lanes)
    out, conv = _output_and_accumulator(s, st)
    n_, o_, y_, x_ = out.op.axis
    ob, oi = out.split(o_, factor=ot)
    xo, xi = out.split(x_, factor=xv * lanes)
    # all channel tiles of an output row in turn: the input rows they read stay in cache
    out.reorder(n_, y_, ob, xo, oi, xi)
    par = out.fuse(n_, y_, ob)
    out.parallel(par)
    out.unroll(oi)
    _vector_tile(out, xi, lanes)
    conv.compute_at(out, xo)
    cn, co, cy, cx = conv.op.axis
    rc, ry, rx = conv.op.reduce_axis
    # per tap: each channel's weight broadcast once, times the xv input vectors (input
    # vectors outermost make GCC keep ot broadcasts live and spill accumulators)
    cxo, cxi = conv.split(cx, factor=lanes)
    conv.reorder(cn, cy, rc, ry, rx, co, cxo, cxi)
    conv.unroll(rx)
    conv.unroll(co)
    conv.unroll(cxo)
    conv.vectorize(cxi)
    return [st, out]

