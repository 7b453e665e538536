"""Direct NCHW convolution with the output rows as the vectors: an input with few channels
(the RGB stem of image models), and up to ROW_VECTOR_MAX_CHANNELS where the model finds the
channel blocks no faster (rows_as_vectors: small channel counts over large images, whose
channel blocks spend as long copying the input into blocks and transposing the output as
multiplying), and the groups of a grouped convolution too narrow for channel vectors.

With C = 3 the reduction of one output is only C*R*S long (147 for the 7x7 ResNet stem), and
channel blocks of the input (the NCHWc route of schedule_conv2d_nchw) hold 3 values: the
register tile then accumulates over output channels while the NCHW output is written one
value at a time. Here the output row is the vector instead: a tile of `ot` output channels x
`xv` vectors of output columns, each weight broadcast once per tap and each input vector
reused by the `ot` channels. A strided convolution would load its input columns with a stride;
the schedule reads the (zero-padded) input through one copy split into `stride` column phases
[N, C, Hp, stride, ceil(Wp/stride)], where output columns x..x+lanes-1 of a tap are a
contiguous run. That copy replaces the padding copy, so the input is read once per call.
Where a row is whole vectors but not whole tiles (56 columns: two tiles of 3 vectors and a
latency-bound one of 1), the vectors of a group of rows are tiled as one run
(few_channels_rows), one partial tile per group. On AVX-512 the vectors may be the
8-lane ones (few_channels_vectors: where they run as many FLOPs, Zen 4); the channel tiles
loop outside the rows where the weights and a row's input overflow the L1d, unless each of
several threads would then read a copy larger than half its L2 (channel_tiles_outer). A row
that is not whole vectors has its last tile computed whole, past the row, over zeros
(pad_axis), only its stores partial.
"""
from ..errors import InternalError
from ..lang.expr import Const, if_then_else
from .cpu import (ROW_GROUP_MIN_PARALLEL, ROW_GROUP_MIN_SAVING, _dims, _f32,
                  _output_and_accumulator, _pad_of, _schedule_copy, _vector_tile,
                  conv_row_cycles, cpu_info, pack_input, pad_axis, padded_copy, parallel_units,
                  row_vector_info)
from .util import cdiv

#: at most this many input channels always run here (the stem; more: rows_as_vectors)
FEW_CHANNELS_MAX = 4


def few_channels_vectors(Q, target="native"):
    """The CpuInfo of the vectors the output rows are tiled in: the target's, or the half as
    wide ones its emitter also emits natively (CpuInfo.narrow) where those run at least as
    many multiply-adds per row of Q columns: fma_lanes over the lanes a row rounds up to.
    The FLOPs a cycle tie on Zen 4 (16 lanes x 1 FMA unit, 8 x 2) and under SIMDe; there the
    narrow vectors win: a row of 56 is 7 whole vectors of 8 (3.5 of 16: the last tile was
    computed lane by lane), and GCC folds the input vectors of a tap into the FMAs as memory
    operands, a 64-byte unaligned load crossing a cache line every time (Zen 4, 1 thread:
    112 x 112 3x3/2 stem 0.21 ms against 0.22-0.36 ms for 16 lanes, 56 x 56 7x7/2 0.53 ms
    against 2.9 ms). Zen 5 (16 x 2) keeps 16 lanes."""
    return row_vector_info(Q, cpu_info(target))


def few_channels_tiles(O, Q, info):
    """The candidate tiles (ot, xv) of few_channels_config: ot divides O, the ot * xv
    accumulators, the xv input vectors of a tap and a broadcast weight fit the registers,
    a tile no wider than the row. Where FMAs take memory operands (x86), no more input
    vectors than weights unless the tile holds every channel: GCC keeps the fewer operands
    of a tap in registers and makes the others memory operands of every FMA, which for
    input vectors (full width, unaligned) reloads each ot times (AVX-512, Zen 4: 2 x 7
    vectors of 16 lanes 0.36 ms, 8 x 1 0.22 ms; the 7x7/2 stem 2 x 7 vectors of 8 lanes
    0.87 ms, 8 x 2 0.53 ms)."""
    qv = max(1, Q // info.lanes)         # a tile no wider than the row
    return [(ot, xv) for xv in range(1, min(qv, info.nregs) + 1) for ot in range(1, O + 1)
            if O % ot == 0 and ot * xv + xv + 1 <= info.nregs
            and (xv <= ot or ot == O or not info.memory_operands)]


def few_channels_config(O, Q, target="native"):
    """(ot, xv, lanes): the register tile, `ot` output channels x `xv` vectors of `lanes`
    output columns (few_channels_vectors), one of few_channels_tiles: few loads per FMA
    ((ot + xv) / (ot * xv)) and enough accumulators to cover the FMA latency
    (busy_accumulators), with little work lost to a partial column tile and ot dividing the
    output channels; among equals the fewest modelled cycles per channel of a row
    (conv_row_cycles over its vectors: a last tile of fewer vectors is latency-bound where
    it holds under busy_accumulators; 56 columns of 8 lanes: 4 x 4 vectors and a tile of
    3, 0.512 ms, against 8 x 2 and a tile of 1, 0.528 ms, Zen 4)."""
    info = few_channels_vectors(Q, target)
    lanes = info.lanes
    busy = float(info.busy_accumulators)
    qv = cdiv(Q, lanes)
    best = None
    for ot, xv in few_channels_tiles(O, Q, info):
        acc = ot * xv
        eff = min(1.0, acc / busy) * min(1.0, 0.7 / ((ot + xv) / float(acc)))
        # a partial last tile is a slower tail: count it as whole vectors
        waste = cdiv(Q, xv * lanes) * xv * lanes / float(Q)
        key = (round(waste / eff, 3), round(conv_row_cycles(qv, xv, ot, info), 6), -acc, xv)
        if best is None or key < best[0]:
            best = (key, ot, xv)
    return {"ot": best[1], "xv": best[2], "lanes": lanes}


def few_channels_rows(N, O, P, Q, ot, xv, info):
    """Output rows whose vectors are tiled as one run (1: a row at a time): a divisor of P
    where a row is whole vectors, by the cycles of a tap over the group's vectors
    (cpu.conv_row_cycles with the vectors as columns and ot broadcast weights), taken where
    it saves ROW_GROUP_MIN_SAVING of them (as cpu.conv_row_group; at 112 columns, 14
    vectors, no group saves any and two rows measured 9% slower, at 56 columns 5-9% faster,
    Zen 3),
    keeping N * P / rows * O / ot parallel iterations and the group's accumulators (rows x
    Q x ot floats) within a quarter of the L1d."""
    lanes = info.lanes
    if Q % lanes:
        return 1
    qv = Q // lanes
    costs = {1: conv_row_cycles(qv, xv, ot, info)}
    for g in range(2, P + 1):
        if P % g or N * (P // g) * (O // ot) < ROW_GROUP_MIN_PARALLEL or \
                g * Q * ot * 4 > info.l1d_bytes // 4:
            continue
        costs[g] = conv_row_cycles(g * qv, xv, ot, info) / g
    most = (1 - ROW_GROUP_MIN_SAVING) * costs[1]
    costs = {g: c for g, c in costs.items() if g == 1 or c <= most}
    low = min(costs.values())
    if len(costs) == 1:
        return 1
    return min(g for g, c in costs.items() if g > 1 and c <= low * 1.03)


def channel_tiles_outer(C, R, S, O, width, info, Hp=0, units=None):
    """Whether the channel tiles loop outside the output rows (each tile's weights stay in
    the L1d while the input rows stream past, each read once per tile) rather than inside
    them (the input rows of an output row stay in the L1d while every tile's weights pass):
    where all the weights (O x C x R x S) and the input rows of an output row (C x R rows of
    `width` columns, the phase copy's) do not fit the L1d together. ResNet-50's 7x7/2 stem
    (37 + 19 KiB) ran 4-9% faster so on AVX-512 (8 lanes) and 1-3% on AVX2, Zen 4; the
    56 x 56 one (37 + 10 KiB) the same either way. On more than one core (`units`, default:
    parallel_units) the parallel loop's even shares are then channel tiles, and each
    thread reads the whole copy (C x Hp rows of `width`, half of it made by the other core)
    once per tile: only where it fits half the L2 (the other half: the output passing
    through). ResNet-50's stem (635 KiB) at 2 threads took 1.10-1.11 ms so against 1.06 with
    the rows outside (AVX2: 1.10-1.17 against 1.06-1.07; the same either way at 1 thread);
    the 56 x 56 one (167 KiB) kept the channel tiles outside (1 thread 0.3-1% faster, 2
    threads the same), Zen 4."""
    if 4 * (O * C * R * S + C * R * width) <= info.l1d_bytes:
        return False
    units = units or parallel_units()
    return units == 1 or 4 * C * Hp * width <= info.l2_bytes // 2


def applies(s, st, target):
    """Whether `st` (a conv2d_nchw stage) is a float32 convolution (groups 1) that computes
    its output rows as the vectors (rows_as_vectors)."""
    ins = st.op.input_tensors
    if len(ins) != 2 or not _f32(st.op.output(0), *ins) or "strides" not in st.op.attrs:
        return False
    if st.op.attrs.get("groups", 1) != 1:
        return False
    _, O, P, Q = (int(a.dom.extent.value) for a in st.op.axis)
    _, C, R, S = _dims(ins[1])
    return rows_as_vectors(C, O, P, Q, R, S, target)


#: input channels up to which a convolution of more than FEW_CHANNELS_MAX runs its rows as
#: the vectors where the model prefers them (rows_as_vectors; measured up to 48)
ROW_VECTOR_MAX_CHANNELS = 48
#: the channel-block route's modelled FMA cycles over the row route's above which the rows
#: are the vectors: the channel blocks also copy the input into blocks and write the output
#: through a transpose, which the model leaves out
ROW_VECTOR_MIN_RATIO = 0.9


def rows_as_vectors(C, O, P, Q, R, S, target="native"):
    """Whether a convolution (groups 1) of C input and O output channels, P x Q outputs and an
    R x S kernel computes its output rows as the vectors (this module's schedule) rather
    than channel blocks (cpu.schedule_conv2d_nchw's route): output rows at least a vector
    wide, and C at most FEW_CHANNELS_MAX (the RGB stem), or up to ROW_VECTOR_MAX_CHANNELS
    with a kernel wider than 1x1 where the channel-block route's modelled FMA cycles
    (conv_row_cycles of its register tile over the output channel vectors, padded) are at
    least ROW_VECTOR_MIN_RATIO of the rows' (over the channels). Zen 4, 1 thread, 3x3
    (channel blocks -> rows, ms): avx512 16x224x224 -> 16 4.19 -> 2.14, 8x112 -> 24
    0.676 -> 0.392, 24x56 -> 24 0.450 -> 0.291, 16x56 -> 128 1.126 -> 1.008, 48x56 -> 48
    1.186 -> 1.138, 32x56 -> 32 0.545 -> 0.511; kept: 16x28 -> 256 (model 0.88) 0.562
    against 0.580. avx2 (16 registers: small row tiles) 16x224 -> 16 3.58 -> 2.73, 24x56
    -> 24 0.352 -> 0.306; kept (model 0.62-0.83): 32x56 -> 32 0.559 against 0.665, 32x56
    -> 64 1.100 against 1.352, 16x56 -> 128 1.151 against 1.309."""
    if Q < cpu_info(target).lanes or C > ROW_VECTOR_MAX_CHANNELS:
        return False
    if C <= FEW_CHANNELS_MAX:
        return True
    if R * S == 1:
        return False
    from .cpu import conv_NCHWc_config, conv_blocks, padded_channel_block
    info = cpu_info(target)
    oc = padded_channel_block(O, target, Q) or conv_blocks(C, O, target, Q, P)[1]
    nv = max(1, oc // info.lanes)
    reg_w = conv_NCHWc_config(P, Q, oc, target)["reg_w"]
    blocks = cdiv(O, oc) * nv * conv_row_cycles(Q, reg_w, nv, info)
    rows_info = few_channels_vectors(Q, target)
    cfg = few_channels_config(O, Q, target)
    rows = O * conv_row_cycles(cdiv(Q, rows_info.lanes), cfg["xv"], cfg["ot"], rows_info)
    return blocks >= ROW_VECTOR_MIN_RATIO * rows


def column_phases(s, st, dp, sw, width=None, offset=0, lanes=1):
    """Make `st` (a convolution reading the NCHW input `dp`, or its zero padding) read it
    through the copy "data_phases" [N, C, Hp, sw, Wq] that splits the (padded)
    columns into `sw` phases: the columns x*sw + tap of consecutive outputs x are a
    contiguous run of one phase. width: the (padded) columns the copy holds, zeros past Wp
    (for a convolution computed past its last output column: pad_axis). offset: zero
    columns added left of a zero padding (phase_offset), the rows then whole vectors of
    `lanes`. Returns the copy's stage (not yet scheduled)."""
    pad_t, _ = _pad_of(s, st)
    src = pad_t if pad_t is not None else dp
    N, C, Hp, Wp = _dims(src)
    e = offset
    Wq = cdiv(max(Wp, width or 0) + e, sw)
    if e:
        Wq = cdiv(Wq, lanes) * lanes
    shape = (N, C, Hp, sw, Wq)

    def fread(n, c, h, w):
        w = w + e if e else w
        return (n, c, h, w % sw, w // sw)

    def to_pad(n, c, h, p, q):
        return (n, c, h, q * sw + p - e if e else q * sw + p)
    if pad_t is not None and pad_t.op.attrs.get("pad_value", 0) == 0:
        return padded_copy(s, st, pad_t, shape, to_pad, fread, "data_phases", select=True,
                           shape_reach=Wq * sw > Wp + e)
    if e:
        raise InternalError("column_phases: an offset is for a zero padding")

    def fpack(n, c, h, p, q):
        w = q * sw + p
        if Wq * sw == Wp:
            return src[n, c, h, w]
        return if_then_else(w < Wp, src[n, c, h, w], Const(0.0, src.dtype))
    return pack_input(s, st, src, shape, fpack, fread, "data_phases")[1]


def phase_offset(s, st, sw, reach, lanes):
    """The zero columns e (0 <= e < sw * lanes) to add left of the zero padding `st` reads
    (column_phases' offset; 0 without one) when its copy in `sw` phases is made in vectors of
    `lanes` and read over `reach` padded columns: the e with the fewest vectors made lane by
    lane, those holding both padding and input (a vector costs 1, such a vector `lanes`);
    among equals the one that starts the input at a vector in every phase (pad + e a
    multiple of sw * lanes: the copy's loads from the row's start; 240 x 28 3x3/2, 8 lanes:
    e = 15 4-13% faster than e = 3, Zen 4), else the smallest. A 3x3 stride-2 layer's
    1 column of padding put the input's column 0 at lane 1 of phase 0 (e = 15: every vector
    all padding or all input; 96 x 112: 13% faster); a row of 14 under a padding of 2 keeps
    e = 0 (its end would split a vector instead)."""
    pad_t, _ = _pad_of(s, st)
    if pad_t is None or pad_t.op.attrs.get("pad_value", 0) != 0 or lanes <= 1:
        return 0
    pad, after = pad_t.op.attrs["pad_before"][3], pad_t.op.attrs["pad_after"][3]
    W = _dims(pad_t)[3] - pad - after
    if pad <= 0:
        return 0

    def cost(e):
        total = 0
        for p in range(sw):
            for v in range(e // sw // lanes, (reach + e - 1) // sw // lanes + 1):
                cols = [(v * lanes + i) * sw + p - pad - e for i in range(lanes)]
                inside = sum(0 <= u < W for u in cols)
                total += 1 if inside in (0, lanes) else lanes
        return total
    aligned = -pad % (sw * lanes)
    return min(range(sw * lanes), key=lambda e: (cost(e), e != aligned, e))


def schedule_conv2d_nchw_few_channels(s, st, target):
    """The schedule described in the module docstring; returns the stages it scheduled."""
    dp, kernel = st.op.input_tensors
    _, O, _, Q = (int(a.dom.extent.value) for a in st.op.axis)
    info = few_channels_vectors(Q, target)
    lanes = info.lanes
    _, sw = st.op.attrs["strides"]
    from . import cpu_tuning
    from .cpu import conv_workload
    pad_t, data = _pad_of(s, st)
    N, _, P, _ = (int(a.dom.extent.value) for a in st.op.axis)
    C, R, S_ = _dims(kernel)[1:]
    # a grouped convolution: the channel tile (ot divides a group's outputs) reads the input
    # channels of its group only
    og = O // st.op.attrs.get("groups", 1)
    cfg = cpu_tuning.few_channels_params(
        conv_workload("topi.conv2d_nchw", st, data if pad_t is not None else dp, kernel, pad_t),
        2.0 * N * O * P * Q * C * R * S_, og, Q, target, few_channels_config(og, Q, target))
    ot, xv = cfg["ot"], cfg["xv"]
    # a row that is not whole vectors: its last tile computed whole over zeros past the
    # input (pad_axis), only its stores partial (else that vector ran lane by lane)
    Qp = Q if Q % lanes == 0 else cdiv(Q, xv * lanes) * xv * lanes
    dw = st.op.attrs.get("dilation", (1, 1))[1]
    phases = column_phases(s, st, dp, sw, (Qp - 1) * sw + (S_ - 1) * dw + 1 if Qp > Q else None)
    _, _, Hp, nph, Wq = _dims(phases.op.output(0))
    # grouped: the channel tiles outside the rows, so that each thread's share of the
    # groups reads the input channels its own share of the copy wrote
    outer = og < O or channel_tiles_outer(C, R, S_, O, nph * Wq, info, Hp)
    out, conv = _output_and_accumulator(s, st)
    if Qp > Q:
        pad_axis(s, conv, 3, Qp)
    rows = few_channels_rows(N, O, P, Q, ot, xv, info)
    band = copy_band(st, N, P, C, nph * Wq, R, rows, og == O, info)
    if not band:
        _schedule_copy(phases, lanes)
    if rows > 1 and not band:
        _row_group_tiles(out, conv, ot, xv, rows, lanes, outer)
        return [st, out]
    n_, o_, y_, x_ = out.op.axis
    ob, oi = out.split(o_, factor=ot)
    xo, xi = out.split(x_, factor=xv * lanes)
    if band:
        # parallel over bands of output rows, each copying its input rows (halo included)
        yb, y_ = out.split(y_, factor=band)
        inner = [ob, y_] if outer else [y_, ob]
        out.reorder(n_, yb, *inner, xo, oi, xi)
        par = out.fuse(n_, yb)
        out.parallel(par)
        phases.compute_at(out, par)
        _vector_tile(phases, phases.op.axis[-1], lanes)
    else:
        order = [n_, ob, y_] if outer else [n_, y_, ob]
        out.reorder(*order, xo, oi, xi)
        par = out.fuse(*order)
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


def copy_band(st, N, P, C, width, R, rows, ungrouped, info):
    """Output rows per band (0: none) of the convolution stage `st` where its input copy (C
    channels of `width` columns, the phases') is made per band of output rows inside the
    band's parallel iteration (cpu.copy_band_rows: the band's input rows in half the L2, the
    bands shared evenly by the threads), rather than once in a parallel loop split by
    channel: for inputs of more than FEW_CHANNELS_MAX channels (each thread read half its
    rows from the other core's copy: 24x56x56 -> 24 3x3 at 2 threads 0.291 ms, no faster
    than at 1), ungrouped, one row at a time (rows 1). The stems keep their copy."""
    if C <= FEW_CHANNELS_MAX or not ungrouped or rows > 1:
        return 0
    from .cpu import copy_band_rows
    sh = int(st.op.attrs["strides"][0])
    dh = int(st.op.attrs.get("dilation", (1, 1))[0])
    band, parts = copy_band_rows(N, P, C, width, R, sh, dh, 1, parallel_units(), info)
    return band if parts == 1 else 0


def _row_group_tiles(out, conv, ot, xv, rows, lanes, outer):
    """The tiles over a group of `rows` output rows (few_channels_rows): the accumulating
    stage kept as [.., rows, Q / lanes, lanes] (transform_layout) in a local buffer per
    (batch, group, channel tile), its vectors fused over the rows and split into tiles of
    xv (a tile may cross a row's end; GCC keeps the unrolled tile in registers over the
    reduction); the group is then written to the NCHW output a vector at a time. outer:
    the channel tiles loop outside the row groups (channel_tiles_outer)."""
    cn, co, cy, cxv, cl = conv.transform_layout(
        lambda n, o, y, x: [n, o, y, x // lanes, x % lanes])
    n_, o_, y_, x_ = out.op.axis
    ob, oi = out.split(o_, factor=ot)
    yo, yi = out.split(y_, factor=rows)
    order = [n_, ob, yo] if outer else [n_, yo, ob]
    out.reorder(*order, oi, yi, x_)
    par = out.fuse(*order)
    out.parallel(par)
    _vector_tile(out, x_, lanes, unroll=False)
    conv.compute_at(out, par)
    fo, fi = conv.split(conv.fuse(cy, cxv), factor=xv)
    rc, ry, rx = conv.op.reduce_axis
    conv.reorder(cn, fo, rc, ry, rx, co, fi, cl)
    conv.unroll(rx)
    conv.unroll(co)
    conv.unroll(fi)
    conv.vectorize(cl)
