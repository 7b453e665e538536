"""dense and batch_matmul of 16-bit floats on the targets that compute them (issue 20).

float16 on a target with fp16_arithmetic (NEON): cpu.py's GEMM (packed weight panels, cache
blocks, parallel blocks) with targets/half_intrin.gemm_fp16 as the register tile, sized for 8
float16 lanes a register; summed in float16 (the default out_dtype) or in float32
(out_dtype="float32"). bfloat16 summed in float32 on a target with dot_bf16 (AVX-512: vdpbf16ps;
NEON with "-bf16=on": BFDOT): the weight packed as pairs [N/lanes, K/2, lanes, 2], rows x lanes
tiles of half_intrin.dot_bf16 over the whole reduction; conv2d_NCHWc of bfloat16 into float32
the same way, the kernel packed as pairs of input channels [O/oc, C/ic, R, S, ic/2, oc, 2] and
a tile of output columns x output channels accumulating over (channel block, window). On NEON
with M >= 2 rows, dense / batch_matmul take BFMMLA tiles instead (bf16_mmla_applies).
Mixed-precision bfloat16 Winograd (out_dtype="float32": topi/winograd._mixed_precision) runs
its batched GEMM on dot_bf16 (schedule_bf16_winograd_gemm), the transforms as cpu.py's float32
Winograd. Other 16-bit cases take the default schedule (each value widened to float32 as it
is loaded): among them float16 Winograd with out_dtype="float32" (any target) and bfloat16
Winograd without dot_bf16, with an odd channel count, or with output channels no tile width
divides (AVX-512: a multiple of 16).
"""
from ..lang.reduction import sum as te_sum
from ..lang.expr import Const, if_then_else
from ..lang.tensor import compute, reduce_axis
from ..targets.half_intrin import dot_bf16, gemm_bf16_mmla, gemm_fp16
from ..targets.registry import get_target
from .cpu import (_const_shape, _dims, _materialize_pad, _schedule_gemm, _vector_tile,
                  batch_matmul_config, cpu_info, dense_config, replace_computation)
from .winograd import weight_at

#: bf16 tiles by (family, vector bits): rows of activations x lanes of outputs, widest lanes
#: first (N must divide); 12-16 accumulator registers of the 32 both ISAs have
_BF16_TILES = {("x86", 512): ((6, 32), (8, 16)), ("arm", 128): ((4, 16), (6, 8), (6, 4))}

#: BFMMLA tiles (rows, columns), widest first (N must divide): 8 x 8 is 16 accumulators of
#: 2 x 2 outputs, 4 weight and 4 row-pair registers (24 of NEON's 32)
_MMLA_TILES = ((8, 8), (8, 4))


def half_gemm_kind(st, target):
    """"fp16", "bf16" (BFDOT / vdpbf16ps) or "bf16-mmla" (BFMMLA) when st (dense /
    batch_matmul) runs on a 16-bit micro-kernel of the target, else None."""
    ins = st.op.input_tensors
    t = get_target(target)
    if len(ins) != 2 or not all(_const_shape(x) for x in ins) or ins[0].dtype != ins[1].dtype:
        return None
    out = st.op.output(0).dtype
    if ins[0].dtype == "float16" and t.has("fp16_arithmetic") and out in ("float16", "float32"):
        return "fp16"
    if ins[0].dtype == "bfloat16" and t.has("dot_bf16") and out == "float32":
        M, K = _dims(ins[0])[-2:]
        if bf16_mmla_applies(M, _dims(ins[1])[-2], t):
            return "bf16-mmla"
        if K % 2 == 0 and _bf16_tile(_dims(ins[1])[-2], t) is not None:
            return "bf16"
    return None


def bf16_mmla_applies(M, N, t):
    """True when a bfloat16 dense / batch_matmul of M rows and N columns (float32 sums) runs
    on BFMMLA tiles (half_intrin.gemm_bf16_mmla): NEON with dot_bf16 (BFMMLA is part of the
    same armv8.6-a BF16 extension as BFDOT), M >= 2 and N a multiple of 4. BFMMLA takes rows
    in pairs, so at M = 1 half its work would be wasted: a single row stays on BFDOT. Any K
    (the tile reads a k tail of K % 4 itself)."""
    return t.family == "arm" and t.has("dot_bf16") and M >= 2 and N % 4 == 0


def _bf16_tile(N, t):
    for rows, lanes in _BF16_TILES.get((t.family, t.vector_bits), ()):
        if N % lanes == 0:
            return rows, lanes
    return None


def schedule_half_gemm(s, st, target):
    """Schedule st on its 16-bit micro-kernel (returns the stages), or None (not one)."""
    kind = half_gemm_kind(st, target)
    if kind is None:
        return None
    data, weight = st.op.input_tensors
    batched = len(_dims(data)) == 3
    if kind == "fp16":
        return _schedule_fp16(s, st, target, data, weight, batched)
    if kind == "bf16-mmla":
        return _schedule_bf16_mmla(s, st, data, weight)
    return _schedule_bf16(s, st, get_target(target), data, weight)


def half_vector_info(st, target):
    """The CpuInfo of float16 vectors (8 lanes a NEON register) when st computes in float16
    on a target with fp16_arithmetic (its inputs and output float16), else None: the direct
    NCHWc convolution's register tile is sized by it."""
    if not get_target(target).has("fp16_arithmetic"):
        return None
    if any(t.dtype != "float16" for t in [st.op.output(0)] + list(st.op.input_tensors)):
        return None
    info = cpu_info(target)
    info.lanes = 8
    return info


def _schedule_fp16(s, st, target, data, weight, batched):
    acc = st.op.output(0).dtype
    M, K = _dims(data)[-2:]
    N = _dims(weight)[-2]
    info = cpu_info(target)
    info.lanes = 8                  # float16 lanes; float32 sums: two registers per 8 lanes
    if acc == "float32":
        info.nregs //= 2
    cfg = (batch_matmul_config if batched else dense_config)(M, N, K, target, info=info)
    cfg["tile_intrin"] = lambda mr, nr, kc: gemm_fp16(mr, nr, kc, acc)
    return _schedule_gemm(s, st, target, data, weight, cfg, packs_inside=batched)


def _schedule_bf16(s, st, t, data, weight):
    dshape = _dims(data)
    lead, (M, K) = dshape[:-2], dshape[-2:]
    N = _dims(weight)[-2]
    rows, lanes = _bf16_tile(N, t)
    nl = len(lead)
    PW = compute(tuple(lead) + (N // lanes, K // 2, lanes, 2),
                 lambda *ix: weight[ix[:nl] + (ix[nl] * lanes + ix[nl + 2], ix[nl + 1] * 2 + ix[nl + 3])],
                 name=st.name + "_pairs")
    kg, kk = reduce_axis((0, K // 2), "kg"), reduce_axis((0, 2), "kk")

    def fg(*ix):
        b, (i, j) = ix[:nl], ix[nl:]
        return te_sum(data[b + (i, kg * 2 + kk)].astype("float32")
                      * PW[b + (j // lanes, kg, j % lanes, kk)].astype("float32"), axis=[kg, kk])
    G = compute(tuple(lead) + (M, N), fg, name=st.name, tag=st.op.tag)
    (pack,) = replace_computation(s, st, G, [PW])
    axes = list(st.op.axis)
    io, ii = st.split(axes[-2], factor=rows)
    jo, ji = st.split(axes[-1], factor=lanes)
    st.reorder(*(axes[:-2] + [io, jo, ii, ji] + list(st.op.reduce_axis)))
    st.tensorize(ii, dot_bf16(K, lanes, rows))
    st.parallel(st.fuse(*(axes[:-2] + [io])) if nl else io)
    pax = list(pack.op.axis)
    pack.parallel(pack.fuse(*pax[:-3]) if len(pax) > 4 else pax[0])
    return [st, pack]


def _schedule_bf16_mmla(s, st, data, weight):
    """BFMMLA tiles: the weight packed [N/nr, ceil(K/4), nr/2, 2, 4] (2 columns x 4 k a
    register, zeros past K), rows x nr tiles over the whole reduction, rows = min(8, M
    rounded up to even) (a partial tile of fewer rows runs the kernel for its count)."""
    dshape = _dims(data)
    lead, (M, K) = dshape[:-2], dshape[-2:]
    N = _dims(weight)[-2]
    nr = next(n for _, n in _MMLA_TILES if N % n == 0)
    mr = min(_MMLA_TILES[0][0], M + M % 2)
    nl, kq = len(lead), (K + 3) // 4

    def pack(*ix):
        b, (jo, q, jp, jj, kk) = ix[:nl], ix[nl:]
        k = q * 4 + kk
        w = weight[b + (jo * nr + jp * 2 + jj, k)]
        return w if K % 4 == 0 else if_then_else(k < K, w, Const(0.0, weight.dtype))
    PW = compute(tuple(lead) + (N // nr, kq, nr // 2, 2, 4), pack, name=st.name + "_blocks")
    k = reduce_axis((0, K), "k")

    def fg(*ix):
        b, (i, j) = ix[:nl], ix[nl:]
        return te_sum(data[b + (i, k)].astype("float32")
                      * PW[b + (j // nr, k // 4, j % nr // 2, j % 2, k % 4)].astype("float32"),
                      axis=k)
    G = compute(tuple(lead) + (M, N), fg, name=st.name, tag=st.op.tag)
    (pack_st,) = replace_computation(s, st, G, [PW])
    axes = list(st.op.axis)
    io, ii = st.split(axes[-2], factor=mr)
    jo, ji = st.split(axes[-1], factor=nr)
    st.reorder(*(axes[:-2] + [io, jo, ii, ji, k]))
    st.tensorize(ii, gemm_bf16_mmla(mr, nr, K))
    st.parallel(st.fuse(*(axes[:-2] + [io])) if nl else io)
    pax = list(pack_st.op.axis)
    pack_st.parallel(pack_st.fuse(*pax[:-4]) if len(pax) > 5 else pax[0])
    return [st, pack_st]


def schedule_bf16_conv(s, st, target):
    """conv2d_NCHWc of bfloat16 data and kernel into float32 on dot_bf16 tiles (returns the
    stages), or None: not bfloat16 into float32, no dot_bf16, an odd channel block, or an
    output channel block no tile width divides."""
    t = get_target(target)
    ins = st.op.input_tensors
    if not t.has("dot_bf16") or st.op.output(0).dtype != "float32" \
            or any(x.dtype != "bfloat16" for x in ins):
        return None
    kernel = next(x for x in ins if len(x.shape) == 6)
    Ob, Cb, R, S, ic, oc = _dims(kernel)
    tile = _bf16_tile(oc, t)
    if ic % 2 or tile is None:
        return None
    rows, lanes = tile
    pad = _materialize_pad(s, st, cpu_info(target).lanes)      # plain loads of a padded copy
    data = next(x for x in st.op.input_tensors if len(x.shape) == 5)
    (sh, sw), (dh, dw) = st.op.attrs["strides"], st.op.attrs["dilation"]
    PK = compute((Ob, Cb, R, S, ic // 2, oc, 2),
                 lambda ob, cb, r, c, g, o, z: kernel[ob, cb, r, c, g * 2 + z, o],
                 name=st.name + "_pairs")
    cb, ry, rx = reduce_axis((0, Cb), "icb"), reduce_axis((0, R), "ry"), reduce_axis((0, S), "rx")
    kg, kk = reduce_axis((0, ic // 2), "kg"), reduce_axis((0, 2), "kk")
    G = compute(tuple(int(a.dom.extent.value) for a in st.op.axis),
                lambda n, ob, y, x, o: te_sum(
                    data[n, cb, y * sh + ry * dh, x * sw + rx * dw, kg * 2 + kk].astype("float32")
                    * PK[ob, cb, ry, rx, kg, o, kk].astype("float32"), axis=[cb, ry, rx, kg, kk]),
                name=st.name, tag=st.op.tag)
    (pack,) = replace_computation(s, st, G, [PK])
    n, ob, y, x, o = st.op.axis
    xo, xi = st.split(x, factor=rows)
    oo, oi = st.split(o, factor=lanes)
    st.reorder(n, ob, y, xo, oo, cb, ry, rx, xi, oi, kg, kk)
    st.tensorize(xi, dot_bf16(ic, lanes, rows))
    st.parallel(st.fuse(n, ob, y))
    pack.parallel(pack.op.axis[0])
    return [st, pack] + ([pad] if pad is not None else [])


def bf16_winograd_tile(sM, target, width=None):
    """(rows, lanes) of the dot_bf16 tile of a mixed-precision Winograd's batched GEMM sM
    (bfloat16 operands, float32 sums) on a target with dot_bf16, or None (the widening
    schedule): float16 operands, no dot_bf16, an odd channel count, output channels (`width`:
    those one GEMM covers, default all) no tile width divides, or an offline channel-pair
    kernel whose panel (oc) is not a tile width."""
    t = get_target(target)
    if sM.op.attrs.get("half_operands") != "bfloat16" or not t.has("dot_bf16"):
        return None
    C = int(sM.op.reduce_axis[0].dom.extent.value)
    O = width or int(sM.op.axis[3].dom.extent.value)
    if sM.op.attrs["weight_layout"] == "IOo2":       # offline pairs: a tile a panel wide
        oc = sM.op.attrs["oc"]
        tile = _bf16_tile(oc, t)
        return tile if tile is not None and tile[1] == oc else None
    return None if C % 2 else _bf16_tile(O, t)


def schedule_bf16_winograd_gemm(s, sM, sV, out, par, tile, lanes):
    """The batched GEMM M[e, nu, p, o] = sum_c V[e, nu, p, c] U[e, nu, c, o] of a
    mixed-precision bfloat16 Winograd on dot_bf16 tiles (rows tiles x lanes output channels
    over all C, per (e, nu)): V rounded to bfloat16 per block of tiles (a stage at `par` after
    the input transform, channels contiguous: the rows dot_bf16 reads), U rounded and packed
    as channel pairs [alpha, alpha, O/lanes, C/2, lanes, 2] (a stage before the pipeline, once
    per call; the rounding is the declaration's, so a pre-rounded U packs bit for bit) unless
    it comes packed offline ("IOo2"). Returns the new stages."""
    rows, tl = tile
    V = sV.op.output(0)
    a, _, P, C = _dims(V)
    O = int(sM.op.axis[3].dom.extent.value)
    U = next(t for t in sM.op.input_tensors if t.op is not sV.op)
    u_at = weight_at(U, sM.op.attrs)
    Vb = compute((a, a, P, C), lambda e, nu, p, c: V[e, nu, p, c].astype("bfloat16"),
                 name="winograd_V_bf16")
    kg, kk = reduce_axis((0, C // 2), "kg"), reduce_axis((0, 2), "kk")
    if sM.op.attrs["weight_layout"] == "IOo2":       # packed offline (oc == tl): as it is
        PU, pairs = None, U
    else:
        PU = compute((a, a, O // tl, C // 2, tl, 2), lambda e, nu, ob, g, j, z: u_at(
            e, nu, g * 2 + z, ob * tl + j).astype("bfloat16"), name="winograd_U_pairs")
        pairs = PU
    G = compute((a, a, P, O), lambda e, nu, p, o: te_sum(
        Vb[e, nu, p, kg * 2 + kk].astype("float32")
        * pairs[e, nu, o // tl, kg, o % tl, kk].astype("float32"), axis=[kg, kk]), name=sM.name)
    vb, *pu = replace_computation(s, sM, G, [Vb] + ([PU] if PU is not None else []))
    e, nu, p, o = sM.op.axis
    po, pi = sM.split(p, factor=rows)
    oo, oi = sM.split(o, factor=tl)
    sM.reorder(e, nu, po, oo, pi, oi, *sM.op.reduce_axis)
    sM.tensorize(pi, dot_bf16(C, tl, rows))
    vb.compute_at(out, par)
    ve, vnu, vp, vc = vb.op.axis
    vb.reorder(ve, vnu, vp, vc)
    _vector_tile(vb, vc, lanes, unroll=False)
    for st in pu:
        st.parallel(st.fuse(st.op.axis[0], st.op.axis[1]))
    return [vb] + pu
