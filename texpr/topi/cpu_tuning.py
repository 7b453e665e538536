"""The CPU schedules as AutoTVM templates: the knobs of dense, batch_matmul and the direct
convolutions, and the parameters a config gives them.

Each `*_params` function asks the active dispatch context for the config of its workload
(schedule/dispatch.py), defines the knobs on it, and returns the parameter dict the schedule
in cpu.py takes. Without a tuning record the config is a fallback whose knobs are set to
the heuristic's choice (the `*_config` functions of cpu.py), so an untuned schedule, and its
generated source, is what it was before the knobs existed. Every knob's candidates include
the heuristic's value: the fallback is a point of the space, so tuning can only find
something at least as fast.

Workloads are computed from the stage: (template name, ("TENSOR", shape, dtype) of the
operands, attributes), the same tuple `texpr.autotvm.task.create("topi.<op>", ...)` records.
"""
from ..schedule.dispatch import config_for
from .util import cdiv


def tensor_arg(t):
    """A tensor as a workload argument: ("TENSOR", shape, dtype)."""
    from .cpu import _dims
    return ("TENSOR", tuple(_dims(t)), t.dtype)


def _with(cands, value):
    """The candidates with the heuristic's value among them, sorted."""
    return sorted(set(cands) | {value}, key=lambda v: (str(type(v)), v))


def _set_fallback(cfg, values):
    if cfg.is_fallback:
        for name, v in values.items():
            cfg[name] = v


def _tiles(info, N, max_vectors=4, m_cap=None):
    """The register tiles [mr, nr] that fit the vector registers (register_tile's range)."""
    out = []
    for nv in range(1, max_vectors + 1):
        nr = nv * info.lanes
        if nv > 1 and nr > cdiv(N, info.lanes) * info.lanes:
            break
        mr_max = (info.nregs - nv - 1) // nv
        if m_cap:
            mr_max = min(mr_max, m_cap)
        out += [[mr, nr] for mr in range(1, max(1, mr_max) + 1)]
    return out


def _chunks(K, lanes):
    """Reduction chunks: powers of two from 4 vectors up to 512, and all of K when short."""
    out = [c for c in (32, 64, 128, 256, 512) if lanes <= c < K]
    if K <= 1024:
        out.append(K)
    return out


def gemm_params(workload, M, N, K, target, heuristic, batches=1):
    """dense / dense_pack / batch_matmul on the BLIS-style GEMM (cpu._schedule_gemm):
    knobs tile [mr, nr], kc (reduction chunk), mb_tiles / nb_tiles (the cache block in
    register tiles; the parallel unit)."""
    from .cpu import cpu_info
    info = cpu_info(target)
    cfg = config_for(workload, target)
    h = heuristic
    cfg.define_knob("tile", _with_list(_tiles(info, N), [h["mr"], h["nr"]]))
    cfg.define_knob("kc", _with(_chunks(K, info.lanes), h["kc"]))
    cfg.define_knob("mb_tiles", _with([1, 2, 4, 8, 16, 32], h["mb"] // h["mr"]))
    cfg.define_knob("nb_tiles", _with([1, 2, 4, 8, 16, 32, 64], h["nb"] // h["nr"]))
    # the parallel loop: (batch,) row blocks x column blocks, or (batch,) row blocks only
    cfg.define_knob("parallel", ["blocks", "rows"])
    cfg.add_flop(2.0 * batches * M * N * K)
    _set_fallback(cfg, {"tile": [h["mr"], h["nr"]], "kc": h["kc"],
                        "mb_tiles": h["mb"] // h["mr"], "nb_tiles": h["nb"] // h["nr"],
                        "parallel": "blocks"})
    if cfg.is_fallback:
        return dict(h)
    mr, nr = cfg["tile"].val
    kc = cfg["kc"].val
    mb = mr * min(cfg["mb_tiles"].val, cdiv(M, mr))
    nb = nr * min(cfg["nb_tiles"].val, cdiv(N, nr))
    Mp, Np, Kp = cdiv(M, mb) * mb, cdiv(N, nb) * nb, cdiv(K, kc) * kc
    return {"mr": mr, "nr": nr, "kc": kc, "mb": mb, "nb": nb, "Mp": Mp, "Np": Np, "Kp": Kp,
            "lanes": info.lanes, "pack_a": Mp != M or Kp != K,
            "parallel": cfg["parallel"].val}


def _with_list(cands, value):
    return cands if value in cands else cands + [value]


def weight_blocks_params(workload, M, N, K, target, heuristic):
    """dense of many rows on a raw weight, packed per weight block inside the parallel loop
    (cpu._schedule_dense_weight_blocks): knobs tile [mr, nr] (nr dividing N where some does:
    rows are not padded; else the last weight panel padded as the heuristic's), kc (dividing
    K), mb_tiles, nb_tiles (weight rows per parallel block, in tiles)."""
    from .cpu import (WEIGHT_BLOCKS_MAX_PADDING, cpu_info, parallel_units,
                      weight_block_row_parts)
    info = cpu_info(target)
    cfg = config_for(workload, target)
    h = heuristic
    tiles = [t for t in _tiles(info, N) if N % t[1] == 0] or \
        [t for t in _tiles(info, N) if cdiv(N, t[1]) * t[1] <= N * (1 + WEIGHT_BLOCKS_MAX_PADDING)]
    cfg.define_knob("tile", _with_list(tiles, [h["mr"], h["nr"]]))
    kcs = [c for c in _chunks(K, info.lanes) if K % c == 0]
    cfg.define_knob("kc", _with(kcs or [K], h["kc"]))
    cfg.define_knob("mb_tiles", _with([1, 2, 4, 8, 16, 32], h["mb"] // h["mr"]))
    cfg.define_knob("nb_tiles", _with([1, 2, 4, 8, 16, 32, 64], h["nb"] // h["nr"]))
    cfg.add_flop(2.0 * M * N * K)
    _set_fallback(cfg, {"tile": [h["mr"], h["nr"]], "kc": h["kc"],
                        "mb_tiles": h["mb"] // h["mr"], "nb_tiles": h["nb"] // h["nr"]})
    if cfg.is_fallback:
        return dict(h)
    mr, nr = cfg["tile"].val
    panels = cdiv(N, nr)
    per_block = min(cfg["nb_tiles"].val, panels)
    while panels % per_block:
        per_block -= 1
    return dict(h, mr=mr, nr=nr, kc=cfg["kc"].val, mb=mr * min(cfg["mb_tiles"].val, cdiv(M, mr)),
                nb=per_block * nr, Np=panels * nr,
                row_parts=weight_block_row_parts(M, mr, panels // per_block, parallel_units()))


def dense_rows_params(workload, M, N, K, target, heuristic):
    """dense of few rows computed transposed (cpu._schedule_dense_rows): knobs tile [mr, nr]
    (weight rows x data rows, one or two vectors), kc, nb_tiles (weight rows per parallel
    block, in register tiles)."""
    from .cpu import cpu_info
    info = cpu_info(target)
    cfg = config_for(workload, target)
    h = heuristic
    cfg.define_knob("tile", _with_list(_tiles(info, M, max_vectors=2), [h["mr"], h["nr"]]))
    kcs = [c for c in _chunks(K, info.lanes) if K % c == 0]
    cfg.define_knob("kc", _with(kcs or [K], h["kc"]))
    cfg.define_knob("nb_tiles", _with([1, 2, 4, 8, 16, 32, 64], h["nb"] // h["mr"]))
    cfg.add_flop(2.0 * M * N * K)
    _set_fallback(cfg, {"tile": [h["mr"], h["nr"]], "kc": h["kc"],
                        "nb_tiles": h["nb"] // h["mr"]})
    if cfg.is_fallback:
        return dict(h)
    mr, nr = cfg["tile"].val
    nb = mr * min(cfg["nb_tiles"].val, cdiv(N, mr))
    return {"mr": mr, "nr": nr, "kc": cfg["kc"].val, "nb": nb, "Mp": cdiv(M, nr) * nr,
            "lanes": info.lanes}


def gemv_params(workload, M, N, K, target, unroll, rows):
    """dense of one or two rows as dot products (cpu._schedule_gemv): knobs unroll (vectors
    of partial sums) and rows (weight rows per tile)."""
    cfg = config_for(workload, target)
    cfg.define_knob("unroll", _with([1, 2, 4], unroll))
    cfg.define_knob("rows", _with([1, 2, 4, 8], rows))
    cfg.add_flop(2.0 * M * N * K)
    _set_fallback(cfg, {"unroll": unroll, "rows": rows})
    return cfg["unroll"].val, cfg["rows"].val


def conv_nchw_params(workload, N, C, O, P, Q, RS, target, heuristic_blocks,
                     heuristic_reg_w):
    """Direct NCHW convolution through channel blocks (cpu.schedule_conv2d_nchw): knobs
    tile_ic (input channel block), tile_oc (output channel block: vectors of accumulators),
    tile_ow (output columns of the register tile), parallel ("rows": (n, channel block,
    output row) in parallel, "blocks": (n, channel block), the rows inside). RS: the
    kernel's R * S (for the flop count).
    Returns (ic, oc, reg_w, parallel)."""
    ic, oc = conv_nchw_blocks(workload, C, O, target, heuristic_blocks)
    return (ic, oc) + conv_nchw_tile(workload, N, C, O, P, Q, RS, target, heuristic_reg_w)


def conv_nchw_blocks(workload, C, O, target, heuristic_blocks):
    """The channel-block knobs of conv_nchw_params, tile_ic and tile_oc: (ic, oc). Also
    what a constant weight is packed with (cpu.conv2d_weight_blocks: a record's blocks
    under apply_history_best)."""
    from .cpu import cpu_info
    lanes = cpu_info(target).lanes
    cfg = config_for(workload, target)
    ic, oc = heuristic_blocks
    ics = [b for b in range(1, min(C, 4 * lanes) + 1) if C % b == 0 and (b >= lanes or b == C)]
    ocs = [b for b in (lanes, 2 * lanes, 3 * lanes, 4 * lanes) if O % b == 0]
    cfg.define_knob("tile_ic", _with(ics, ic))
    cfg.define_knob("tile_oc", _with(ocs, oc))
    _set_fallback(cfg, {"tile_ic": ic, "tile_oc": oc})
    return cfg["tile_ic"].val, cfg["tile_oc"].val


def conv_nchw_tile(workload, N, C, O, P, Q, RS, target, heuristic_reg_w):
    """The register-tile knobs of conv_nchw_params (after conv_nchw_blocks), tile_ow and
    parallel: (reg_w, parallel)."""
    cfg = config_for(workload, target)
    cfg.define_knob("tile_ow", _with(list(range(1, min(Q, 14) + 1)), heuristic_reg_w))
    cfg.define_knob("parallel", ["rows", "blocks"])
    cfg.add_flop(2.0 * N * C * O * P * Q * RS)
    _set_fallback(cfg, {"tile_ow": heuristic_reg_w, "parallel": "rows"})
    return cfg["tile_ow"].val, cfg["parallel"].val


def conv_nchw_blocks_known(workload, target, blocks):
    """Whether the config of a conv2d_nchw workload has chosen the channel blocks `blocks`
    (ic, oc) already: a tuning record, or the template that packed the weight with them (a
    fresh fallback has not). Then the schedule of the packed weight reads that workload's
    other knobs (cpu.schedule_conv2d_nchw_packed)."""
    cfg = config_for(workload, target)
    return "tile_ic" in cfg and "tile_oc" in cfg and \
        (cfg["tile_ic"].val, cfg["tile_oc"].val) == tuple(blocks)


def conv_nchw_unroll_kw(workload, target):
    """Knob unroll_kw of the direct NCHW convolution (read after conv_nchw_params): True
    puts the kernel's columns innermost in the reduction, inside the input channels of a
    block, and unrolls them (TVM's unroll_kw: the taps of a row share the input vectors'
    neighbourhood); False, the heuristic: the channels innermost."""
    cfg = config_for(workload, target)
    cfg.define_knob("unroll_kw", [False, True])
    _set_fallback(cfg, {"unroll_kw": False})
    return cfg["unroll_kw"].val


def conv_nchwc_params(workload, Q, target, heuristic_reg_w, flop):
    """Direct NCHWc convolution (cpu._nchwc_register_tile): knobs tile_ow (output columns of
    the register tile; the channel blocks are the layout's) and parallel (as
    conv_nchw_params). Returns (reg_w, parallel)."""
    cfg = config_for(workload, target)
    cfg.define_knob("tile_ow", _with(list(range(1, min(Q, 14) + 1)), heuristic_reg_w))
    cfg.define_knob("parallel", ["rows", "blocks"])
    cfg.add_flop(flop)
    _set_fallback(cfg, {"tile_ow": heuristic_reg_w, "parallel": "rows"})
    return cfg["tile_ow"].val, cfg["parallel"].val


def depthwise_params(workload, st, info, heuristic_width, target):
    """Depthwise NCHW (cpu.schedule_depthwise_conv2d_nchw): knobs tile_ow (output columns
    of the register tile: one to four vectors) and parallel (as conv_nchw_params).
    Returns (width, parallel)."""
    cfg = config_for(workload, target)
    widths = [v * info.lanes for v in range(1, 5)]
    cfg.define_knob("tile_ow", _with(widths, heuristic_width))
    cfg.define_knob("parallel", ["blocks", "rows"])
    N, C, P, Q = (int(a.dom.extent.value) for a in st.op.axis)
    R, S = (int(r.dom.extent.value) for r in st.op.reduce_axis)
    cfg.add_flop(2.0 * N * C * P * Q * R * S)
    _set_fallback(cfg, {"tile_ow": heuristic_width, "parallel": "blocks"})
    return cfg["tile_ow"].val, cfg["parallel"].val


def knob_values(workload, target, candidates, heuristic, flop):
    """The generic knob reader of the schedules below: each knob of `candidates` (name ->
    values, the heuristic's added) is defined on the workload's config; returns name ->
    value, the heuristic's (`heuristic`) when the config is a fallback. `flop`: the work
    the tuner's GFLOP/s figures count (elements read for the memory-bound operators)."""
    if workload is None:            # a symbolic shape: no workload to tune
        return {name: heuristic[name] for name in candidates}
    cfg = config_for(workload, target)
    for name, cands in candidates.items():
        h = heuristic[name]
        cfg.define_knob(name, _with_list(cands, h) if isinstance(h, list) else _with(cands, h))
    cfg.add_flop(float(flop))
    _set_fallback(cfg, heuristic)
    return {name: cfg[name].val for name in candidates}


def _constant(*tensors):
    """Whether every tensor has a constant shape (a workload needs one)."""
    from ..errors import TexprError
    try:
        for t in tensors:
            tensor_arg(t)
    except TexprError:
        return False
    return True


def elements(t):
    """The number of elements of a tensor of constant shape."""
    n = 1
    for d in tensor_arg(t)[1]:
        n *= d
    return n


def rows_params(st, axes, target, accumulators):
    """softmax / log_softmax / layer_norm / rms_norm (cpu_rows.schedule_rows): knob
    accumulators (vectors of partial results of a row reduction; vectors per column block).
    Workload ("topi.rows", op tag, the data, the reduced axes)."""
    out = st.op.output(0)
    if not _constant(out):
        return accumulators
    return knob_values(rows_workload(st, axes), target, {"accumulators": [1, 2, 4, 8]},
                       {"accumulators": accumulators}, 4 * elements(out))["accumulators"]


def rows_workload(st, axes):
    """("topi.rows", op tag, the data (shaped as the output), the reduced axes)."""
    n = len(st.op.axis)
    return ("topi.rows", st.op.tag, tensor_arg(st.op.output(0)),
            tuple(sorted(int(a) % n for a in axes)))


REDUCE_TEMPLATE_OPS = {"mean_sum": "mean", "argmax_pair": "argmax", "argmin_pair": "argmin"}


def reduce_params(st, data, target, kind, heuristic):
    """topi.sum / mean / prod / max / min / argmax / argmin (cpu_reduce.py): knobs of a
    "row" reduction: accumulators (vector accumulators); of a "column" one: column_vectors
    (unrolled vectors per step) and column_block_kb (KiB of output columns a block
    accumulates). Workload ("topi.reduce", op, the data, the reduced axes, keepdims)."""
    idx = data.indices
    red = {id(iv.var) for iv in st.op.reduce_axis}
    axes = tuple(d for d, e in enumerate(idx) if id(e) in red)
    keep = len(st.op.axis) == len(idx)
    if not _constant(data.tensor):
        return dict(heuristic)
    workload = ("topi.reduce", REDUCE_TEMPLATE_OPS.get(st.op.name, st.op.name),
                tensor_arg(data.tensor), axes, keep)
    knobs = {"accumulators": [2, 4, 8, 16]} if kind == "row" else \
        {"column_vectors": [1, 2, 4, 8], "column_block_kb": [4, 8, 16, 32]}
    return knob_values(workload, target, knobs, {k: heuristic[k] for k in knobs},
                       elements(data.tensor))


def pool_params(st, target):
    """Pooling in NCHWc (cpu.schedule_pool): knobs parallel ("rows": (n, block, output row)
    in parallel, "blocks": (n, block)) and unroll (the vectors of a channel block).
    Workload ("topi.pool2d", the output, the (padded) input, the window, max / sum)."""
    out = st.op.output(0)
    if not _constant(out, st.op.input_tensors[0]):
        # (a symbolic window too: global pooling of a symbolic image size)
        return {"parallel": "rows", "unroll": False}
    ry, rx = (int(r.dom.extent.value) for r in st.op.reduce_axis)
    return knob_values(pool_workload(st), target, {"parallel": ["rows", "blocks"],
                                          "unroll": [False, True]},
                       {"parallel": "rows", "unroll": False}, elements(out) * ry * rx)


def conv1x1_params(workload, C, O, P, Q, target, heuristic):
    """The 1x1 convolution as a GEMM (cpu_conv_1x1.py): knobs tile [mr, nr] (output
    channels x pixels, one or two vectors), rb (output rows per block; a block that is not
    whole pixel tiles becomes the whole image) and ob_tiles (output channels per block, in
    register tiles). The tiles are in the vectors the pixels run in (pixel_vector_info), up
    to pixel_tile_vectors of them."""
    from .cpu import cpu_info
    from .cpu_conv_1x1 import pixel_tile_vectors, pixel_vector_info
    wide = cpu_info(target)
    info = pixel_vector_info(P * Q, wide)
    most = pixel_tile_vectors(P * Q, info, wide)
    h = heuristic
    cands = {"tile": _with_list(_tiles(info, P * Q, max_vectors=most), [h["mr"], h["nr"]]),
             "rb": [r for r in range(1, P + 1) if P % r == 0],
             "ob_tiles": [1, 2, 4, 8, 16]}
    v = knob_values(workload, target, cands, {"tile": [h["mr"], h["nr"]], "rb": h["rb"],
                                              "ob_tiles": h["ob"] // h["mr"]},
                    2.0 * workload[1][1][0] * C * O * P * Q)
    mr, nr = v["tile"]
    rb = v["rb"] if (v["rb"] * Q) % nr == 0 else P
    return dict(h, mr=mr, nr=nr, rb=rb, ob=mr * min(v["ob_tiles"], cdiv(O, mr)))


def few_channels_params(workload, flop, O, Q, target, heuristic):
    """The stem convolution of few input channels (cpu_conv_few_channels.py): knob tile
    [ot, xv] (output channels x vectors of output columns: few_channels_tiles of the
    vectors the schedule takes, few_channels_vectors)."""
    from .cpu_conv_few_channels import few_channels_tiles, few_channels_vectors
    info = few_channels_vectors(Q, target)
    tiles = [list(t) for t in few_channels_tiles(O, Q, info)]
    h = [heuristic["ot"], heuristic["xv"]]
    ot, xv = knob_values(workload, target, {"tile": _with_list(tiles, h)}, {"tile": h},
                         flop)["tile"]
    return dict(heuristic, ot=ot, xv=xv)


def winograd_params(workload, nH, nW, O, target, heuristic, flop):
    """Winograd F(m, 3) (cpu.schedule_winograd): knobs hb (tile rows per block: divides
    the tile rows) and ochunks (output channel chunks of a block, each a multiple of the
    GEMM tile's nr). The tile size m is the template's argument (one task per m)."""
    h = heuristic
    cands = {"hb": [d for d in range(1, nH + 1) if nH % d == 0],
             "ochunks": [c for c in (1, 2, 4, 8) if O % (c * h["nr"]) == 0]}
    v = knob_values(workload, target, cands, {"hb": h["hb"], "ochunks": h["ochunks"]}, flop)
    if v["hb"] == h["hb"]:
        return dict(h, ochunks=v["ochunks"])
    from .cpu import cpu_info, winograd_gemm_tile
    bt = v["hb"] * nW
    mr, nr = winograd_gemm_tile(bt, O, cpu_info(target))     # the GEMM tile of the new block
    oco = v["ochunks"] if O % (v["ochunks"] * nr) == 0 else 1
    return dict(h, hb=v["hb"], block_tiles=bt, mr=mr, nr=nr, ochunks=oco)


# ----------------------------------------------------------------------------- GPU knobs
# (topi/gpu.py: the same workloads as the CPU templates, recorded per target)

def _consts(*exprs):
    return all(hasattr(e, "value") for e in exprs)


def gpu_matmul_params(workload, M, N, K, batches, heuristic, target):
    """The shared-memory tiled matmul (gpu.schedule_matmul_tiled): knobs tile [bm, bn, tm,
    tn] (block tile and per-thread register tile; 32 to 1024 threads, bm/tm x bn/tn) and bk
    (the reduction slice staged in shared memory: the shared tiles are (bm + bn) * bk floats).
    Returns (bm, bn, bk, tm, tn); symbolic shapes keep the heuristic."""
    if not _consts(M, N, K):
        return heuristic
    bm, bn, bk, tm, tn = heuristic
    tiles = [[m, n, a, b] for m in (16, 32, 64, 128) for n in (16, 32, 64, 128)
             for a in (1, 2, 4, 8) for b in (1, 2, 4, 8)
             if m % a == 0 and n % b == 0 and 32 <= (m // a) * (n // b) <= 1024]
    v = knob_values(workload, target, {"tile": tiles, "bk": [4, 8, 16]},
                    {"tile": [bm, bn, tm, tn], "bk": bk},
                    2.0 * batches * M.value * N.value * K.value)
    m, n, a, b = v["tile"]
    return m, n, v["bk"], a, b


def gpu_conv_params(workload, tile, flop, target):
    """The direct GPU convolution (gpu.schedule_conv2d_nchw): knobs tile_f [f, ft] (output
    channels per block, per thread), tile_yx [y, x] (the block's spatial tile) and rc (input
    channels per shared tile, capped by the shared memory as before). Returns the tile dict."""
    fs = [[f, ft] for f in (8, 16, 32, 64) for ft in (1, 2, 4, 8) if f % ft == 0]
    yxs = [[y, x] for y in (1, 2, 4, 8) for x in (4, 8, 16, 32)]
    v = knob_values(workload, target, {"tile_f": fs, "tile_yx": yxs, "rc": [2, 4, 8, 16]},
                    {"tile_f": [tile["f"], tile["ft"]], "tile_yx": [tile["y"], tile["x"]],
                     "rc": tile["rc"]}, flop)
    threads = v["tile_f"][0] // v["tile_f"][1] * v["tile_yx"][0] * v["tile_yx"][1]
    if threads > 1024:          # over the launch limit: the heuristic
        return dict(tile)
    return dict(f=v["tile_f"][0], ft=v["tile_f"][1], y=v["tile_yx"][0], x=v["tile_yx"][1],
                rc=v["rc"])


def gpu_threads_params(workload, threads, flop, target):
    """Threads per block of a one-thread-per-element (or per-row) GPU schedule: knob
    threads."""
    return knob_values(workload, target, {"threads": [32, 64, 128, 256, 512]},
                       {"threads": threads}, flop)["threads"]


def pool_workload(st):
    """("topi.pool2d", the output, the (padded) input, the window, max / sum) of a pool
    stage."""
    src = st.op.input_tensors[0]
    ry, rx = (int(r.dom.extent.value) for r in st.op.reduce_axis)
    return ("topi.pool2d", tensor_arg(st.op.output(0)), tensor_arg(src), (ry, rx), st.op.name)


def attention_params(workload, S, T, Dv, target, heuristic, flop):
    """Attention (cpu_attention.schedule_attention): knobs qb (query rows per parallel
    block: multiples of the scores tile's nr1) and kc2 (keys per pv GEMM call: divisors of
    T from 16). Another qb takes the pv register tile whose rows divide it."""
    from .cpu import cpu_info, register_tile
    from .cpu_attention import _key_chunk
    h = heuristic
    nr1 = h["nr1"]
    qbs = list(range(nr1, min(cdiv(S, nr1) * nr1, 8 * nr1) + 1, nr1))
    kcs = [c for c in range(16, T + 1) if T % c == 0][-6:] or [T]
    v = knob_values(workload, target, {"qb": qbs, "kc2": kcs}, {"qb": h["qb"], "kc2": h["kc2"]},
                    flop)
    if v["qb"] == h["qb"]:
        return dict(h, kc2=v["kc2"])
    qb, mr2, nr2 = v["qb"], None, None
    info = cpu_info(target)
    if Dv % info.lanes == 0:
        mr2, nr2 = register_tile(qb, Dv, info, nr_divides=Dv)
        mr2 = max(m for m in range(1, mr2 + 1) if qb % m == 0)
    kc2 = v["kc2"] if v["kc2"] != h["kc2"] else _key_chunk(T, qb + (nr2 or 0))
    return dict(h, qb=qb, mr2=mr2, nr2=nr2, kc2=kc2)


# ------------------------------------------- sparse pooling, dense_pack, depthwise, NCHW pool

def sparse_pool_params(attrs, out, target, nvec, heuristic):
    """The bag pooling of the sparse ops (cpu_sparse.schedule_pool): knobs vectors (vector
    accumulators per chunk of a row: the width one pass over the bag sums), prefetch (rows
    ahead the table is prefetched; 0: none) and unroll_rows (rows of the bag per iteration:
    the index loop unrolled by gcc; 1: not). Workload ("topi.sparse_pool", op, the table,
    indices, lengths, the sums' dtype) from the pooling's attrs and output `out`; symbolic
    shapes keep the heuristic."""
    ins = [attrs.get(k) for k in ("table", "indices", "lengths")]
    if any(t is None for t in ins) or not _constant(out, *ins):
        return dict(heuristic)
    table, indices, lengths = ins
    workload = ("topi.sparse_pool", attrs.get("op"), tensor_arg(table), tensor_arg(indices),
                tensor_arg(lengths), out.dtype)
    cands = {"vectors": [v for v in (1, 2, 3, 4, 6, 8, 12, 16) if v <= nvec],
             "prefetch": [0, 4, 8, 12, 16, 24, 32, 48, 64], "unroll_rows": [1, 2, 4]}
    return knob_values(workload, target, cands, heuristic,
                       elements(indices) * tensor_arg(table)[1][1])


def dense_pack_params(workload, M, P, K, nr, target, heuristic):
    """dense_pack on panels of nr columns (cpu.schedule_dense_pack): knobs mr (rows of the
    register tile; nr is the panels'), kc (the reduction chunk: divisors of K), nb_panels
    (panels per column block: divisors of P), mb_tiles (row block in register tiles) and
    parallel (as gemm_params). Returns the GEMM cfg (the heuristic's when a fallback)."""
    from .cpu import cpu_info
    info = cpu_info(target)
    h = heuristic
    nv = nr // info.lanes
    mrs = [m for m in range(1, max(1, (info.nregs - nv - 1) // max(1, nv)) + 1)]
    kcs = [c for c in _chunks(K, info.lanes) if K % c == 0]
    h_knobs = {"mr": h["mr"], "kc": h["kc"], "nb_panels": h["nb"] // nr,
               "mb_tiles": h["mb"] // h["mr"], "parallel": "blocks"}
    v = knob_values(workload, target,
                    {"mr": mrs, "kc": kcs or [K], "nb_panels": [d for d in (1, 2, 4, 8, 16, 32, 64)
                                                              if P % d == 0],
                     "mb_tiles": [1, 2, 4, 8, 16, 32], "parallel": ["blocks", "rows"]},
                    h_knobs, 2.0 * M * P * nr * K)
    if v == h_knobs:
        return dict(h)
    mr = v["mr"]
    mb = mr * min(v["mb_tiles"], cdiv(M, mr))
    return dict(h, mr=mr, kc=v["kc"], Kp=K, nb=nr * v["nb_panels"], mb=mb, Mp=M, pack_a=False,
                parallel=v["parallel"])


def depthwise_rows_param(workload, P, target, heuristic_rows):
    """Knob tile_oh of depthwise NCHW (after depthwise_params): output rows of the register
    tile (of tile_ow columns)."""
    from .cpu import cpu_info
    cfg = config_for(workload, target)
    cap = max(1, cpu_info(target).nregs - 2)
    cfg.define_knob("tile_oh", _with([r for r in (1, 2, 3, 4, 6, 8, 12) if r <= min(P, cap)],
                                     heuristic_rows))
    _set_fallback(cfg, {"tile_oh": heuristic_rows})
    return cfg["tile_oh"].val


def pool_nchw_params(st, target):
    """Pooling in NCHW (cpu.schedule_pool; the heuristic is the default schedule: batches in
    parallel, each output element's window inside): knobs parallel ("n", "nc" or "ncy": the
    axes fused into the parallel loop) and vectors (0: the window per element, as the
    default; else vectors of output columns, that many per tile, the window loops outside
    them). Returns None for the fallback (the default schedule), else the knob values."""
    out = st.op.output(0)
    if not _constant(out, st.op.input_tensors[0]):
        return None
    ry, rx = (int(r.dom.extent.value) for r in st.op.reduce_axis)
    h = {"parallel": "n", "vectors": 0}
    v = knob_values(pool_workload(st), target, {"parallel": ["n", "nc", "ncy"],
                                                "vectors": [0, 1, 2, 4]},
                    h, elements(out) * ry * rx)
    return None if v == h else v


def applied_configs(workloads, target):
    """What the tuning context gives `workloads` (a config's text per workload, None for a
    fallback), or None when every one is a fallback: part of the key of a kernel built
    under it (topi.graph's kernel cache), so that a layer built under a tuning record is
    not the kernel an untuned graph built."""
    out = []
    for w in workloads:
        cfg = config_for(w, target)
        out.append(None if getattr(cfg, "is_fallback", False) else repr(cfg))
    return tuple(out) if any(x is not None for x in out) else None
