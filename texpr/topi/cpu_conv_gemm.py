"""Direct NCHW 1x1 convolution as a GEMM over the flattened output pixels: out[n, o, j] =
sum_{c,r,s} w[o, c, r, s] * cols[n, c, r, s, j], j = y*Q + x (the ResNet bottleneck's 1x1
layers, strided ones included).

In NCHW the P*Q output pixels of a channel are one contiguous run. The register tile is
`mr` output channels x `nr` pixels (nr / lanes vectors along j): per reduction step, mr
weights broadcast from the weight as it lies and nr/lanes vectors of input pixels, so the
weight is never copied into channel blocks (the route of schedule_conv2d_nchw, which packs
the weight and the input on every call and writes the output one value at a time), and the
output is written in whole vectors. Over the flattened pixels a tile is not bound to a row:
7x7 and 14x14 images fill it as well as 56x56.

With stride 1 and no padding the input is read in place (its pixels are the output's).
Otherwise (strides, padding; the stage is written for any kernel size, but `applies` keeps
larger kernels on the channel-block route) the pixels each tap reads are copied into `cols`
[N, C, R, S, rows, Q] (im2col; zeros in the padding), a block of output rows at a time, in
the block's parallel task, where it stays in cache.

The schedule rewrites the convolution stage into a flat product stage G [N, O, P*Q] (of a
block: computed in the block's task, accumulated in registers tile by tile) and the output
(or its fused epilogue) reading G[n, o, y*Q + x]; fusing the output's y and x makes that
index the flat one again, so the copy out is whole vectors.
"""
from ..lang.reduction import sum as te_sum
from ..lang.tensor import ComputeOp, compute, reduce_axis
from .cpu import _dims, _f32, _pad_of, _vector_tile, cpu_info, epilogue_output, register_tile
from .util import cdiv

#: a block of work is at least this many per image (two threads and some balance), where
#: the shape has that many
MIN_BLOCKS = 4


def applies(s, st, target):
    """Whether `st` (a conv2d_nchw stage) is a float32 1x1 convolution without groups (and
    without padding unless strided), with enough pixels for a vector."""
    ins = st.op.input_tensors
    if len(ins) != 2 or not _f32(st.op.output(0), *ins) or "strides" not in st.op.attrs:
        return False
    if st.op.attrs.get("groups", 1) != 1 or st.relations:
        return False
    pad_t, _ = _pad_of(s, st)
    if pad_t is not None and pad_t.op.attrs.get("pad_value", 0) != 0:
        return False
    _, _, R, S = _dims(ins[1])
    _, _, P, Q = (int(a.dom.extent.value) for a in st.op.axis)
    if P * Q < cpu_info(target).lanes:
        return False
    strided = tuple(st.op.attrs["strides"]) != (1, 1)
    # larger kernels keep the channel-block route: their im2col copies (R*S times the
    # pixels, once per block of channels) cost more than they save (3x3 stride 2 at 14x14
    # and 7x7 outputs: 0.7x the channel-block schedule's speed, Zen 3)
    return R == 1 and S == 1 and (pad_t is None or strided)


def conv_gemm_config(C, O, P, Q, taps=1, copy=False, target="native"):
    """The register tile, mr output channels x nr pixels (at most two vectors: the GEMM kernel
    of the target's registers and FMA units), and the block of work (the parallel unit): rb
    output rows x ob channels. In a block, each tile's input panel (C*taps x nr) is read by
    the block's ob / mr channel tiles in turn, and the block's weight rows (ob x C*taps) stay
    in L2 while its pixel tiles read them. rb*Q is a whole number of tiles (else the block is
    the whole image, padded to whole tiles); the block's product (ob x rb*Q) fits a quarter
    of the L2, and its im2col copy (copy=True) the L2. Among those, the blocks that read the
    least: the input once per channel block, the weight once per row block."""
    info = cpu_info(target)
    mr, nr = register_tile(O, P * Q, info, max_vectors=2, pad_ok=True)
    l2 = info.l2_bytes
    K = C * taps
    rows = [r for r in range(1, P + 1) if P % r == 0 and ((r * Q) % nr == 0 or r == P)]
    obs = list(range(mr, cdiv(O, mr) * mr + 1, mr))
    most_blocks = (P // rows[0]) * cdiv(O, mr)
    best = None
    for rb in rows:
        for ob in obs:
            blocks = (P // rb) * cdiv(O, ob)
            fits = ob * K * 4 <= l2 // 2 or ob == mr
            fits = fits and (ob * rb * Q * 4 <= l2 // 4 or (ob == mr and rb == rows[0]))
            fits = fits and (not copy or K * rb * Q * 4 <= l2 or rb == rows[0])
            traffic = K * P * Q * cdiv(O, ob) + O * K * (P // rb)
            key = (not fits, blocks < min(MIN_BLOCKS, most_blocks), traffic, -rb)
            if best is None or key < best[0]:
                best = (key, rb, ob)
    return {"mr": mr, "nr": nr, "rb": best[1], "ob": min(best[2], O), "lanes": info.lanes}


def _input_columns(s, st, data, shape, PQp):
    """The im2col stage cols [N, C, R, S, PQp / Q, Q] (zero in the padding and below row P),
    inserted before `st`: a row of a tap is a row of cols, so that cols[.., j // Q, j % Q] is
    the flat pixel j; the padding stage, if any, is read inlined (its guard)."""
    N, C, R, S, P, Q = shape
    sh, sw = st.op.attrs["strides"]
    dh, dw = st.op.attrs.get("dilation", (1, 1))
    Pp = cdiv(PQp, Q)

    def f(n, c, r, q, y, x):
        v = data[n, c, y * sh + r * dh, x * sw + q * dw]
        if Pp == P:
            return v
        one = reduce_axis((0, 1), "data_cols_r")
        return te_sum(v, axis=one, where=y < P)
    cols = compute((N, C, R, S, Pp, Q), f, name="data_cols", tag="injective,pack")
    return cols, s._insert_stage(cols.op, st)


def schedule_conv2d_nchw_gemm(s, st, target):
    """The schedule described in the module docstring; returns the stages it scheduled."""
    info = cpu_info(target)
    lanes = info.lanes
    data, kernel = st.op.input_tensors
    N, O, P, Q = (int(a.dom.extent.value) for a in st.op.axis)
    _, C, R, S = _dims(kernel)
    pad_t, _ = _pad_of(s, st)
    PQ = P * Q
    in_place = R == 1 and S == 1 and pad_t is None and tuple(st.op.attrs["strides"]) == (1, 1)
    cfg = conv_gemm_config(C, O, P, Q, R * S, not in_place, target)
    mr, nr, rb, obk = cfg["mr"], cfg["nr"], cfg["rb"], cfg["ob"]
    # whole pixel tiles (a copy has whole rows: PQp / Q rounded up)
    PQp = cdiv(PQ, nr) * nr
    if in_place and PQp != PQ:
        in_place = False
    cols_stage = None
    if in_place:
        def xload(n, c, r, q, j):
            return data[n, c, j // Q, j % Q]
    else:
        cols, cols_stage = _input_columns(s, st, data, (N, C, R, S, P, Q), PQp)

        def xload(n, c, r, q, j):
            return cols[n, c, r, q, j // Q, j % Q]
    rc = reduce_axis((0, C), "rc")
    ry = reduce_axis((0, R), "ry")
    rx = reduce_axis((0, S), "rx")
    G = compute((N, O, PQp), lambda n, o, j: te_sum(
        kernel[o, rc, ry, rx] * xload(n, rc, ry, rx, j), axis=[rc, ry, rx]),
        name=st.name + "_flat", tag="conv2d_nchw_flat")
    n_, o_, y_, x_ = (iv.var for iv in st.op.axis)
    copy = ComputeOp(st.op.name, st.op.axis, G[n_, o_, y_ * Q + x_], st.op.tag, st.op.attrs)
    st.op = copy
    st._reset_axes()
    s.stage_map[copy] = st
    g = s._insert_stage(G.op, st)
    acc = s[s.cache_write(G, "local")]
    stages = [st, g, acc]

    out = epilogue_output(s, st)
    if out is None:
        out = st
    else:
        st.compute_inline()
        stages.append(out)
    # the output in blocks of rb rows x obk channels (the parallel unit), each copied from the
    # flat product of the block (contiguous runs of rb*Q values)
    on, oo, oy, ox = out.op.axis
    ob, oi = out.split(oo, factor=obk)
    yb, yi = out.split(oy, factor=rb)
    out.reorder(on, yb, ob, oi, yi, ox)
    par = out.fuse(on, yb, ob)
    out.parallel(par)
    f = out.fuse(yi, ox)
    _vector_tile(out, f, lanes, unroll=False)
    # the flat product of the block: tiles of mr channels x nr pixels, accumulated in
    # registers; the channel tiles of a pixel tile in turn (its input panel stays in cache)
    g.compute_at(out, par)
    gn, go, gj = g.op.axis
    gjo, gji = g.split(gj, factor=nr)
    gob, goi = g.split(go, factor=mr)
    g.reorder(gn, gjo, gob, goi, gji)
    g.unroll(goi)
    _vector_tile(g, gji, lanes)
    acc.compute_at(g, gob)
    an, ao, aj = acc.op.axis
    acc.reorder(an, *acc.op.reduce_axis, ao, aj)
    acc.unroll(ao)
    _vector_tile(acc, aj, lanes)
    if cols_stage is not None:
        # the block's im2col copy, in the block's task; vectors along the rows
        cols_stage.compute_at(out, par)
        if cols_stage.op.reduce_axis:
            cols_stage.reorder(cols_stage.op.reduce_axis[0], cols_stage.op.axis[5])
        _vector_tile(cols_stage, cols_stage.op.axis[5], lanes, unroll=False)
        stages.append(cols_stage)
    return stages
