"""CPU schedule of the space-to-depth Winograd stem (topi/stem_winograd.py).

Per block of `hb` output rows (the parallel loop): the input transform of the block's
space-to-depth rows (vectors along the tiles of a row, the 7 positions and 7 taps
unrolled so their coefficients fold), the rows regrouped per output row (stem_V2, whole
rows copied), the batched GEMM per (position, output row) on the gemm_fp32 register tile
(tiles x output channels, the 48-long reduction in one call), and the output transform per
(tile, vector of output channels) in registers, fused with the epilogue. The column phases
of the input are copied once, before the blocks. An NCHW output is computed per 8 columns of
a row in blocks of 8 channels (stem_Y), each 8 x 8 block transposed in registers into 8
channel rows (transpose_fp32), then the epilogue in vectors of 8 columns: written from the
channel vectors a lane at a time (a channel's columns are 12544 floats apart) it was only as
fast as the direct NCHW kernel on avx512 (2.10 against 2.08 ms); transposed, 1.79 against
2.12 on avx512 and 1.72 against 2.11 on avx2 (Zen 4, 1 thread, ResNet-50's stem). The NCHWc
graph stem (topi/models.py) and Graph.conv2d run it by stem_algorithm (through
cpu_conv3x3.conv2d_algorithm); conv2d_nchw keeps cpu_conv_few_channels (its weights come per
call; this needs them transformed offline).
A row of tiles that is not whole vectors (28 at 224 x 224, 14 at 112 x 112) has the tail of
its input transform and row copy computed lane by lane: bound inference sizes those stages to
the GEMM's nW tiles (stem_winograd.ROW_BLOCK, pad_axis do not widen them); the narrow vectors
of row_vector_info leave less of it (a 112 x 112 stem on avx512: 0.43 ms, 0.52-0.54 with 16
lanes, the direct kernel 0.51).

Which algorithm the stem runs (stem_algorithm): a cost model of the host (CpuInfo), in the
units of cpu_conv3x3's: the multiplies at CpuInfo.fma_lanes() a cycle (direct C x 49 per
output and output channel, Winograd 7/4 x 16C), and for Winograd its transforms, each
non-zero matrix entry applied to one value costing TRANSFORM_CYCLES multiplies (the output
transform on every output channel; the input transform on 4C channels, its rows recomputed
in each block's overlap). ResNet-50's stem, Zen 4, 1 thread, thread CPU time: NCHWc
1.57-1.65 ms against the direct kernel's 2.08-2.11 (the model: 0.82 of the direct cycles).
"""
from ..targets.intrin import transpose_fp32
from .cpu import (TRANSPOSE_BLOCK, _dims, _f32, _gemm_tiles, _output_and_accumulator, _producer,
                  _schedule_copy, _vector_tile, cpu_info, epilogue_output, parallel_units,
                  row_vector_info, winograd_gemm_tile)
from .schedules import default_stage, register, VECTOR_CPU_TARGETS

#: output rows per block: few enough that the block's V, V2 and M (7 x rows x 28 x 64 floats
#: for 64 channels) stay in the L2, enough that V's 3 rows of overlap are recomputed rarely
STEM_BLOCK_ROWS = 4


def stem_costs(N, C, H, W, O, target="native", info=None, pad=3):
    """{"direct": cycles, "stemw": cycles} of the 7x7 stride-2 stem (see the module
    docstring).

    >>> sorted(stem_costs(1, 3, 224, 224, 64, "avx2"))
    ['direct', 'stemw']
    """
    import numpy as np
    from .cpu_conv3x3 import TRANSFORM_CYCLES
    from .stem_winograd import ALPHA, TAPS, TILE, stem_matrices
    info = info or cpu_info(target)
    fma = float(info.fma_lanes())
    P, Q = (H + 2 * pad - 7) // 2 + 1, (W + 2 * pad - 7) // 2 + 1
    tiles = N * P * -(-Q // TILE)
    AT, _, BT = stem_matrices()
    hb = stem_block_rows(N, P, 1)
    ops = tiles * (O * np.count_nonzero(AT)
                   + 4 * C * np.count_nonzero(BT) * (hb + TAPS - 1) / float(hb))
    return {"direct": N * P * Q * O * C * 49 / fma,
            "stemw": (tiles * ALPHA * 4 * C * TAPS * O + TRANSFORM_CYCLES * ops) / fma}


def stem_algorithm(N, C, H, W, O, target="native", info=None, pad=3):
    """"stemw" (topi/stem_winograd.py) where it applies and stem_costs makes it the cheaper,
    else "direct".

    >>> stem_algorithm(1, 3, 224, 224, 64, "avx2")
    'stemw'
    """
    from .stem_winograd import stem_winograd_applies
    info = info or cpu_info(target)
    if not stem_winograd_applies(C, 7, 2, H, W) or not isinstance(N, int) or \
            not info.has_gemm or O % info.lanes:
        return "direct"
    costs = stem_costs(N, C, H, W, O, target, info, pad)
    return "stemw" if costs["stemw"] < costs["direct"] else "direct"


def stem_block_rows(N, P, units):
    """A divisor of P near STEM_BLOCK_ROWS leaving at least `units` blocks."""
    divs = [d for d in range(1, P + 1) if P % d == 0 and N * (P // d) >= units]
    return min(divs or [1], key=lambda d: (abs(d - STEM_BLOCK_ROWS), d))


def stages(s, st):
    M, sM = _producer(s, st, "stem_M")
    V2, sV2 = _producer(s, sM, "stem_V2")
    V, sV = _producer(s, sV2, "stem_V")
    Z, sZ = _producer(s, sV, "stem_phases")
    return sM, sV2, sV, sZ


def schedule_stem_winograd(s, st, target):
    """The schedule of the module docstring; returns the stages it scheduled."""
    info = cpu_info(target)
    lanes = info.lanes
    _, sY = _producer(s, st, "stem_Y")          # NCHW in channel blocks (OUTPUT_BLOCK)
    sM, sV2, sV, sZ = stages(s, st if sY is None else sY)
    O = _dims(sM.op.output(0))[4]
    if not info.has_gemm or O % lanes or not _f32(st.op.output(0), *sM.op.input_tensors):
        for x in (sM, sV2, sV, sZ) + (() if sY is None else (sY,)):
            default_stage(s, x, target)
        return default_stage(s, st, target)
    m = st.op.attrs["tile_size"]
    nW = st.op.attrs["nW"]
    N, P = int(st.op.axis[0].dom.extent.value), int(st.op.axis[2].dom.extent.value)
    _, _, _, K, _ = _dims(sV2.op.output(0))
    hb = stem_block_rows(N, P, parallel_units())
    if sY is not None:
        out, par = _transposed_output(s, st, sY, hb, info)
        _schedule_gemm_and_input(s, out, par, sM, sV2, sV, sZ, nW, K, info)
        return [st, out, sM, sV2, sV, sZ, sY]
    out, y = _output_and_accumulator(s, st)
    nchwc = len(st.op.axis) == 5
    if nchwc:
        n, ob, h, w, oi = out.op.axis
        ho, hi = out.split(h, factor=hb)
        wo, wi = out.split(w, factor=m)
        oio, oii = out.split(oi, factor=lanes)
        out.reorder(n, ho, hi, wo, ob, oio, wi, oii)
        attach, vec = oio, oii
    else:
        n, o, h, w = out.op.axis
        ho, hi = out.split(h, factor=hb)
        wo, wi = out.split(w, factor=m)
        ob, oi = out.split(o, factor=lanes)
        out.reorder(n, ho, hi, wo, ob, wi, oi)
        attach, vec = ob, oi
    par = out.fuse(n, ho)
    out.parallel(par)
    out.unroll(wi)
    _vector_tile(out, vec, lanes)
    # output transform A^T M per (tile, channel vector), in registers
    y.compute_at(out, attach)
    yax = list(y.op.axis)
    (ye,) = y.op.reduce_axis
    if nchwc:                       # n, ob, h, w, oi
        yw, ych, lead = yax[3], yax[4], yax[:3]
    else:                           # n, o, h, w
        yw, ych, lead = yax[3], yax[1], [yax[0], yax[2]]
    y.reorder(*(lead + [yw, ye, ych]))
    y.unroll(yw)
    y.unroll(ye)
    _vector_tile(y, ych, lanes)
    _schedule_gemm_and_input(s, out, par, sM, sV2, sV, sZ, nW, K, info)
    return [st, out, sM, sV2, sV, sZ, y]


def _transposed_output(s, st, sY, hb, info):
    """An NCHW output from channel blocks: the output transform sY ([N, O/8, P, Q, 8], vectors
    of 8 channels) per 8 columns of a row, each 8 x 8 block transposed into 8 channel rows
    (transpose_fp32 on x86; lane by lane elsewhere), then the epilogue (if any) in vectors of
    8 columns. Returns (the output stage, its parallel loop)."""
    from .stem_winograd import OUTPUT_BLOCK as B
    out = epilogue_output(s, st)
    if out is None:
        out = st
    else:
        st.scope = "local"
    n, o, h, w = out.op.axis
    ho, hi = out.split(h, factor=hb)
    wo, wi = out.split(w, factor=B)
    ob, oi = out.split(o, factor=B)
    out.reorder(n, ho, hi, wo, ob, oi, wi)
    par = out.fuse(n, ho)
    out.parallel(par)
    if out is not st:               # the 8 x 8 block transposed in L1, the epilogue's rows
        out.unroll(oi)
        out.vectorize(wi)
        st.compute_at(out, ob)
        sn, so, sh, sw = st.op.axis
        st.reorder(sn, sh, so, sw)
        oi, wi = so, sw
    whole = int(w.dom.extent.value) % B == 0
    if info.name in ("avx2", "avx512") and B == TRANSPOSE_BLOCK and whole:
        st.tensorize(oi, transpose_fp32())
    else:
        st.unroll(oi)
        st.vectorize(wi)
    # the output transform of the 8 columns, all channel blocks, in vectors of 8 channels
    sY.compute_at(out, wo)
    yn, yob, yh, yw, yoi = sY.op.axis
    (ye,) = sY.op.reduce_axis
    sY.reorder(yn, yh, yob, yw, ye, yoi)
    sY.unroll(yw)
    sY.unroll(ye)
    sY.vectorize(yoi)
    return out, par


def _schedule_gemm_and_input(s, out, par, sM, sV2, sV, sZ, nW, K, info):
    """The block's batched GEMM, row regrouping and input transform at `par`; the phase copy
    before the blocks."""
    lanes = info.lanes
    O = _dims(sM.op.output(0))[4]
    # batched GEMM per (position, output row) of the block
    sM.compute_at(out, par)
    t, mn, mh, mj, mo = sM.op.axis
    (rk,) = sM.op.reduce_axis
    mr, nr = winograd_gemm_tile(nW, O, info)
    _gemm_tiles(s, sM, mj, mo, rk, {"mr": mr, "nr": nr, "kc": K, "mb": 0, "nb": 0},
                blocked=False)
    # rows regrouped: whole rows of tiles copied
    sV2.compute_at(out, par)
    # V and V2 in the vectors that run a row of nW tiles fastest (row_vector_info: on Zen 4
    # AVX-512's 8-lane ones: 112 x 112, 14 tiles a row, 0.43 ms against 0.54 with 16 lanes,
    # 224 x 224 the same either way)
    rl = row_vector_info(nW, info).lanes
    _vector_tile(sV2, sV2.op.axis[4], rl, unroll=False)
    # input transform of the block's rows: vectors along the tiles
    sV.compute_at(out, par)
    vt, vn, vc, vpy, vpx, vi, vj = sV.op.axis
    (vl,) = sV.op.reduce_axis
    sV.reorder(vn, vc, vpy, vpx, vi, vt, vl, vj)
    sV.unroll(vt)
    sV.unroll(vl)
    sV.unroll(vpx)
    _vector_tile(sV, vj, rl, unroll=False)
    _schedule_copy(sZ, lanes)


@register("stem_winograd_output_blocks", VECTOR_CPU_TARGETS)
@register("stem_winograd_phases", VECTOR_CPU_TARGETS)
@register("stem_winograd_input", VECTOR_CPU_TARGETS)
@register("stem_winograd_rows", VECTOR_CPU_TARGETS)
@register("stem_winograd_gemm", VECTOR_CPU_TARGETS)
def _scheduled_by_stem_output(s, st, target):
    """Scheduled together with the output transform (schedule_stem_winograd)."""
    return None


@register("stem_winograd_output", VECTOR_CPU_TARGETS)
@register("stem_winograd_output_NCHWc", VECTOR_CPU_TARGETS)
def _schedule(s, st, target):
    return schedule_stem_winograd(s, st, target)
