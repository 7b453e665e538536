"""Direct NCHW 1x1 convolution as a GEMM over the flattened image: out[n, o, j] = sum_c
w[o, c] * x[n, c, j] with j = y*Q + x (the ResNet bottleneck's 1x1 layers).

In NCHW the P*Q output pixels of a channel are one contiguous run, and so are the input's
(stride 1, no padding). The register tile is `mr` output channels x `nr` pixels (nr / lanes
vectors along j; one vector of twice the channels where a long input tile is read in place
or from a strided copy: one_vector_tile): per input channel, mr weights broadcast from the
weight as it lies and nr/lanes input vectors loaded in place, or, where a block has enough
channel tiles (panel_pays), from the tile's panel: its C x nr input pixels copied into a
contiguous, aligned buffer that every channel tile of the block reads. Neither operand is
copied into channel blocks (the route of schedule_conv2d_nchw, which packs both on every
call and writes the output one value at a time), and the output is written in whole
vectors. Over the flattened pixels the tile is not bound to a row: 7x7 and 14x14 images fill
it as well as 56x56. A strided 1x1 convolution first copies the pixels it reads into a
compact [N, C, P*Q] stage (1/O of the work; per block, its own rows, where few channel
blocks share them: strided_block_copies); a stride-1 input whose pixels are not whole
tiles is copied, zero-padded, by each block into the panels of its pixel tiles
(block_copies).

Where the input is read from a copy anyway (strided, a pixel count that is not whole tiles,
or panels), the register tile is the target's GEMM micro-kernel (intrin.gemm_fp32: the
weight rows as A, C strides apart, the copy's rows as B) over blocks of kc input channels
(reduction_block: the kc x nr panel in half the L1d; a whole 2048-channel panel ran from
the L2), adding to the block's product between blocks; a last channel tile of fewer than
mr rows runs the kernel for its row count. Read in place, the flat index j = y*Q + x is no
strided row of the input for the micro-kernel, and the tile accumulates in registers
through cache_write (so does a target without the micro-kernel).

The schedule rewrites the convolution stage into a flat product stage G [N, O, P*Q]
(computed at the output's block) and the output (or its fused epilogue) reading
G[n, o, y*Q + x]; fusing the output's y and x makes that index the flat one again. The
block's product is whole vectors of pixels (7x7: 56), so its last pixel tile is whole
vectors too (gemm_columns: 49 pixels as three 6x16 tiles and one 6x8). Where the target's
vectors would waste a tenth of the multiply-adds on those padded pixels, its narrow ones
run the tile (pixel_vector_info: avx512's 8 lanes for 7x7 on Zen 4).

Read in place with blocks of whole pixel tiles, the register tile is stored straight into
the output (or its epilogue) and there is no product stage (64x56x56 -> 64: 12% faster,
256x56x56 -> 64: 1%; Zen 3, 1 thread). The micro-kernel's product computed per pixel tile
(the output's fused (y, x) split by nr, the tile's product in L1 copied out right away)
measured 3-4% slower than the block's at 64x56x56 -> 256 and no faster at 128x28x28 -> 512,
so a tensorized block keeps its product and copy pass.
"""
import copy
import heapq

from ..errors import TexprError
from ..lang.reduction import sum as te_sum
from ..lang.tensor import ComputeOp, compute, reduce_axis
from ..lang.intrin import decl_tensor_intrin
from ..targets.intrin import gemm_fp32
from .cpu import (LOAD_PORTS, _dims, _f32, _pad_of, _vector_tile, cpu_info, epilogue_output,
                  parallel_units, register_tile)
from .util import cdiv


def applies(s, st, target):
    """Whether `st` (a conv2d_nchw stage) is a float32 1x1 convolution without padding,
    dilation or groups, with enough pixels for a vector."""
    ins = st.op.input_tensors
    if len(ins) != 2 or not _f32(st.op.output(0), *ins) or "strides" not in st.op.attrs:
        return False
    if st.op.attrs.get("groups", 1) != 1 or st.relations:
        return False
    pad_t, _ = _pad_of(s, st)
    if pad_t is not None:
        return False
    _, _, R, S = _dims(ins[1])
    _, _, P, Q = (int(a.dom.extent.value) for a in st.op.axis)
    return R == 1 and S == 1 and P * Q >= cpu_info(target).lanes


#: a block of work is at least this many per image (two threads and some balance), where
#: the shape has that many
MIN_BLOCKS = 4


def conv1x1_config(C, O, P, Q, target="native", units=None, strided=False):
    """The register tile, mr output channels x nr pixels (two vectors: the GEMM kernel of the
    target's registers and FMA units), and the block of work (the parallel unit): rb output
    rows x ob channels. In a block, each tile's input panel (kc x nr) stays in L1 while the
    block's ob / mr channel tiles read it, and the block's weight rows (ob x C) stay in L2
    while its pixel tiles read them. rb*Q is a whole number of tiles (else the block is the
    whole image, padded to whole tiles); the block's product (ob x rb*Q) fits a quarter of
    the L2, a block of some rows its input (C x rb*Q, read by each channel tile) half.
    Among those, the blocks that the `units` threads (default: the threads kernels run on,
    TEXPR_NUM_THREADS, else the cores: runtime num_threads) share evenly (an odd block
    count or a short last channel block leaves a thread idle at the end; imbalances within
    IMBALANCE_STEP count as equal: a finer split reads more, 3-5% at 1 thread), then those
    that read the least from memory: the input once per channel block, the weight once per
    row block, or once where it stays in half the L2 (64x56x56 -> 256: blocks of all 256
    channels x 2 rows, not 132 x 4 reading the input twice: 7% faster on Zen 3, 1 thread).
    Where each block copies its input (block_copies), a block more copies the whole input
    again: the blocks need be no more than the threads (512x28x28 -> 128 in tiles of two
    vectors: 2 blocks of 64 channels ran 9% faster at 1 thread than 4 of 32), and a block
    of a thread's share of the channels is taken past the L2 budgets above while its weight
    rows of one reduction block (ob x kc) stay in a quarter of the L2 (512x28x28 -> 256 in
    tiles of two vectors: 128 channels, 2048x7x7 -> 512: 256, as fast at 1 thread as the
    blocks of 64 with the input copied once; 512x7x7 -> 2048 in 2 blocks of 1024, whose
    weight rows did not stay, 5% slower on avx2; Zen 4). strided: the convolution's stride
    is not 1 (the input is gathered once, before the blocks). kc: reduction_block. The
    tile is one vector of pixels where one_vector_tile."""
    wide = cpu_info(target)
    info = pixel_vector_info(P * Q, wide)
    units = units or parallel_units()
    mr, nr = pixel_tile(O, P * Q, info, wide)
    if one_vector_tile(C, P * Q, mr, nr, info, strided):
        mr, nr = mr * (nr // info.lanes), info.lanes
    l2 = info.l2_bytes
    rows = row_blocks(P, Q, nr)
    weight_stays = O * C * 4 <= l2 // 2
    obs = list(range(mr, cdiv(O, mr) * mr + 1, mr))
    copies = block_copies(P * Q, nr, strided)
    least = units if copies else MIN_BLOCKS
    share = cdiv(cdiv(O, units), mr) * mr       # a thread's share of the channel tiles
    kc = reduction_block(C, nr, info)
    best = None
    for rb in rows:
        for ob in obs:
            blocks = (P // rb) * cdiv(O, ob)
            # the channels a block holds: a last block padded to whole channel tiles (ob > O)
            # holds no weight rows or products past O
            held = min(ob, O)
            fits = held * C * 4 <= l2 // 2 or ob == mr
            fits = fits and (held * rb * Q * 4 <= l2 // 4 or (ob == mr and rb == rows[0]))
            fits = fits and (C * rb * Q * 4 <= l2 // 2 or rb in (rows[0], P))
            # (a thread's share before rounding to whole tiles: 2048 channels in tiles of 3
            # on 2 threads take blocks of 1026, not 963 + 963 + 122)
            fits = fits or (copies and ob <= share
                            and min(held, cdiv(O, units)) * kc * 4 <= l2 // 4)
            traffic = C * P * Q * cdiv(O, ob) + O * C * (1 if weight_stays else P // rb)
            works = [min(ob, O - b * ob) for b in range(cdiv(O, ob))] * (P // rb)
            uneven = int(imbalance(works, units) / IMBALANCE_STEP) if fits else 0
            key = (not fits, blocks < min(least, (P // rows[0]) * cdiv(O, mr)), uneven,
                   traffic, -rb)
            if best is None or key < best[0]:
                best = (key, rb, ob)
    return {"mr": mr, "nr": nr, "rb": best[1], "ob": best[2], "lanes": info.lanes, "kc": kc}


def pixel_tile(O, PQ, info, wide):
    """The register tile (mr, nr) of output channels x pixels in the pixels' vectors `info`
    (pixel_vector_info of the target's `wide` ones): up to pixel_tile_vectors of them; a
    tile of a whole small image costed at NARROW_LOADS_PER_FMA. Each pixel tile streams the
    block's weight rows through broadcasts again; at 8 lanes x 2 FMA units (Zen 4's 256-bit
    half) the 8 x 2-vector tile of the wide model, 1.25 loads a cycle, ran 5-7% slower than
    tiles of fewer loads: 2048x7x7 -> 512 and 512x7x7 -> 2048 (49 pixels: 7 vectors), 1
    thread, NCHW, medians of interleaved rounds: 8 x 16 1.120 / 1.101 ms, 8 x 24 1.107 /
    1.092, 8 x 32 1.066 / 1.068, 3 x 56 1.056 / 1.056, 4 x 56 (28 accumulators: more than the
    register model allows) 1.043 / 1.050 ms."""
    most = pixel_tile_vectors(PQ, info, wide)
    if most > 2:
        return register_tile(O, PQ, info, max_vectors=most, pad_ok=True,
                             loads_per_fma=NARROW_LOADS_PER_FMA)
    return register_tile(O, PQ, info, max_vectors=2, pad_ok=True)


def pixel_tile_vectors(PQ, info, wide):
    """The most vectors of pixels a register tile takes: two, or where the pixels run in the
    narrow vectors of a native AVX-512 (pixel_vector_info: 7x7 on Zen 4) all of the image's,
    up to NARROW_PIXEL_VECTORS (not where SIMDe runs avx512: 16 registers, the wide model's
    tile as measured before). autotvm's conv1x1 space offers the same widths."""
    nv = cdiv(PQ, info.lanes)
    if info is not wide and not info.emulated and nv <= NARROW_PIXEL_VECTORS:
        return nv
    return 2


#: the most vectors of pixels a narrow tile takes to hold a whole image (pixel_tile_vectors)
NARROW_PIXEL_VECTORS = 7
#: the loads (broadcasts and vectors) per FMA a narrow tile runs at full speed with
NARROW_LOADS_PER_FMA = 0.5


def one_vector_tile(C, PQ, mr, nr, info, strided):
    """Whether the register tile of mr x nr (two vectors of pixels) becomes one vector of
    pixels by mr * nr / lanes channels (as many accumulators), where the pixel tile's input
    (C x nr) is more than half the L1d and the taller tile still reads in place
    (inplace_loads_per_cycle within PANEL_LOAD_RATE: one 512-bit FMA unit, no panel), for
    an input read in place (stride 1, pixels whole vectors) or gathered into a compact copy
    (strided). Read in place, each of the block's channel tiles streams the tile's input,
    C rows 4*P*Q bytes apart, from the L2: one vector touches 2 lines a channel instead of 3
    on NumPy's 16-byte offset. On Zen 4 (avx512, 1 thread, thread CPU time, medians) 16 x 16
    against 8 x 32: 256x56x56 -> 128 1.814 -> 1.782 ms, 256x56x56 -> 64 0.905 -> 0.888;
    512x28x28 -> 128 and -> 256 (784 pixels: whole vectors of 16, not tiles of 32, so read
    in place, no longer copied per block) 0.987 -> 0.879 and 1.872 -> 1.770 ms; strided,
    from the copy, 256x56x56 -> 512/2 1.910 -> 1.866 and 512x28x28 -> 1024/2 1.934 -> 1.916
    ms; 64x56x56 -> 256, whose 8 KiB input tile stays in L1, 0.935 -> 0.981 (kept at two
    vectors). A stride-1 input whose pixels are not whole vectors (copied per block,
    block_copies) keeps the tile (not measured)."""
    lanes = info.lanes
    if nr <= lanes or C * nr * 4 <= info.l1d_bytes // 2 or (PQ % lanes and not strided):
        return False
    return inplace_loads_per_cycle(mr * (nr // lanes), lanes, info) <= PANEL_LOAD_RATE


def block_copies(PQ, nr, strided):
    """Whether each block of a stride-1 convolution copies the input it reads, zero-padded
    to whole pixel tiles, into a panel per pixel tile (C x nr) inside its own loop: where the
    PQ pixels are not whole tiles of nr (7x7, 14x14, 28x28 by two AVX-512 vectors), every
    block is the whole image (row_blocks) and reads all of the input. A copy made once, in a
    parallel loop of its own split by channel, left each block reading half its input from
    lines the other core had just written: 512x28x28 -> 128, 256 and 1024x14x14 -> 256
    scaled 1.0-1.7x from 1 to 2 threads (Zen 4, avx512), 2.0x with the copy in the block.
    A strided convolution gathers its pixels once, before the blocks."""
    return not strided and PQ % nr != 0


def strided_block_copies(O, obk, major):
    """Whether each block of a strided convolution gathers the pixels it reads (its rows,
    every input channel) inside its own loop, rather than the whole image once, before the
    blocks, in a parallel loop split by channel: where the blocks of a row block span at
    most STRIDED_COPY_BLOCKS channel blocks (the pixels gathered at most that many times)
    and the copy is in flat rows (not tile_major). The copy made once left each block
    reading the pixels of half the channels from lines the other core had written:
    256x56x56 -> 512/2 (7 row blocks x 2 channel blocks at 2 threads) 1.149 -> 1.064 ms at
    2 threads, 1.914 -> 1.894 at 1 (one channel block: no pixel gathered twice); at
    512x28x28 -> 1024/2 (4 channel blocks of the whole image) 1.905 -> 1.975 ms at 1 thread
    (Zen 4, avx512)."""
    return not major and cdiv(O, obk) <= STRIDED_COPY_BLOCKS


#: the most channel blocks per row block for which a strided convolution's blocks gather
#: their own pixels (strided_block_copies)
STRIDED_COPY_BLOCKS = 2


def pixel_vector_info(PQ, info):
    """The CpuInfo of the vectors along the PQ pixels: the target's, or its narrow ones
    (CpuInfo.narrow: avx512's 8 lanes, the GEMM micro-kernel in 256-bit registers) where
    those run PIXEL_NARROW_GAIN more useful multiply-adds a cycle (fma_lanes over the
    pixels rounded up to whole vectors, what the block's product computes: gemm_columns).
    7x7 = 49 pixels: 56 at 8 lanes, 64 at 16; on Zen 4 (16 lanes x 1 FMA unit, 8 x 2) 14%
    more a cycle at 8; on Zen 5 (16 x 2) the 16 lanes stay ahead; 14x14 (4%) and 28x28
    (2%) keep the target's vectors."""
    narrow = info.narrow()
    if narrow is None or not info.has_gemm:
        return info

    def per_cycle(i):
        return i.fma_lanes() * PQ / float(cdiv(PQ, i.lanes) * i.lanes)
    return narrow if per_cycle(narrow) >= (1 + PIXEL_NARROW_GAIN) * per_cycle(info) else info


#: the least gain in useful multiply-adds a cycle (pixel_vector_info) for which the pixels
#: run in the target's narrow vectors
PIXEL_NARROW_GAIN = 0.1


def row_blocks(P, Q, nr):
    """The output rows a block of conv1x1_config may take: divisors of P whose rb*Q pixels
    are whole pixel tiles of nr, and P itself (the whole image, padded to whole tiles)."""
    return [r for r in range(1, P + 1) if P % r == 0 and ((r * Q) % nr == 0 or r == P)]


#: imbalances of the parallel blocks (imbalance()) closer than this count as equal (Zen 3,
#: 1 thread: rebalancing 2048x7x7 -> 512's 5.5% cost 5%). Not 0.08: 128x28x28 -> 512 and
#: 256x56x56 -> 512/2 took 7 blocks of 80 channels (6.2%); 8 of 64 measured 5-6% faster at
#: 2 threads (0.529 -> 0.500 ms, 1.069 -> 1.022 ms) and the same at 1 (Zen 4, avx512)
IMBALANCE_STEP = 0.06


def imbalance(works, units):
    """How much longer than an even share the busiest of `units` threads works when each
    block (of `works`, in order of size) goes to the least loaded thread: makespan * units /
    total - 1 (0: even)."""
    loads = [0] * units
    for w in sorted(works, reverse=True):
        heapq.heapreplace(loads, loads[0] + w)
    return max(loads) * units / float(sum(works)) - 1.0


def reduction_block(C, nr, info):
    """The input channels a register tile sums per call of the GEMM micro-kernel (the
    channel loop is split into blocks of kc; the tile adds to the block's product between
    them): its input panel kc x nr fills at most half the L1d, next to the tile's weight rows
    (Zen 3, 2048x7x7 -> 512: a whole-C panel of 128 KiB ran from the L2). A divisor of C
    (else C whole)."""
    t = max(4 * info.lanes, info.l1d_bytes // (2 * 4 * nr))
    if C <= t:
        return C
    return max((d for d in range(t // 4, t + 1) if C % d == 0), default=C)


def panel_pays(ob, mr, nr, info):
    """Whether a stride-1 1x1 convolution copies each pixel tile's input (C x nr) into a
    contiguous, aligned panel inside the block, for the block's ob / mr channel tiles to read,
    rather than reading the input in place. Read in place, an input that is not aligned to
    its vectors (NumPy's arrays are 16 bytes off) splits vector loads across cache lines, and
    a long panel of C rows 4*P*Q bytes apart crowds the L1d; the copy is one load and store
    per input vector for every ob / mr channel tiles, and the tile then runs the GEMM
    micro-kernel into the block's product, copied out in a pass of its own. It pays where
    the tile read in place is bound by its loads (inplace_loads_per_cycle above
    PANEL_LOAD_RATE), with at least PANEL_MIN_TILES channel tiles: on Zen 3 (AVX2, 1.5 loads
    a cycle) 512x28x28 -> 256 0.88 -> 1.00x oneDNN, 256x56x56 -> 128 0.88 -> 1.02x, and with
    fewer tiles 3-9% slower (2048x7x7 -> 512, 256x56x56 -> 64; 1 thread). On Zen 4 at 512
    bits (one FMA a cycle: 0.75 loads a cycle) the in-place tile is 5-9% faster at 64x56x56
    -> 256 (32 tiles) and 7-8% at 256x56x56 -> 128 (16 tiles; 1 thread, thread CPU time);
    Zen 5 (two 512-bit FMA units) is back at 1.5, as Zen 3."""
    return ob // mr >= PANEL_MIN_TILES and \
        inplace_loads_per_cycle(mr, nr, info) > PANEL_LOAD_RATE


def inplace_loads_per_cycle(mr, nr, info):
    """Loads a cycle of the mr x nr register tile reading the input in place, at full FMA
    speed: per input channel mr weight broadcasts and nr / lanes input vectors, each vector
    counted twice as often as it crosses a 64-byte cache line on an input 16 bytes off (a
    32-byte vector: half the time, a 64-byte one: always), over the mr * nr / lanes FMAs on
    the target's FMA units."""
    nv = nr // info.lanes
    crossing = min(1.0, info.lanes * 4 / 64.0)
    return (mr + nv * (1.0 + crossing)) / (mr * nv / float(info.fma_units))


def copy_row_parts(Q, lanes):
    """The pieces a strided copy's row of Q output pixels is split into: as few as there
    are vectors in it, of equal size (28 pixels: two of 14 at 16 lanes, four of 7 at 8).
    Split a row at a time, each piece's index is y*sh, x*sw with x provably in the row, a
    loop the C compiler vectorizes (stride-2 loads); over the flat pixels in vectors of
    lanes, a vector crossing a row's end left every lane to a scalar loop of divisions, and
    vectors of lanes within the row a scalar loop for the row's last Q % lanes (256x56x56 ->
    512/2: flat 2.03, vectors of 16 1.93-1.95, two of 14 1.91 ms on Zen 4, avx512; avx2
    2.11 -> 1.89 ms; 1 thread, thread CPU time)."""
    return cdiv(Q, lanes)


def tile_major(PQp):
    """Whether the compacted input is laid out a pixel tile at a time, [N, PQp/nr, C, nr]
    (each tile's rows contiguous), rather than [N, C, PQp]: where the rows of a tile's panel,
    4*PQp bytes apart, are a multiple of 256 bytes apart they fall into a quarter or fewer
    of the L1d's sets and evict one another (7x7 outputs, PQp = 64: +4-8% on Zen 3, 1
    thread); otherwise the flat layout copies in longer runs (14x14, 28x28: 1-4% faster)."""
    return (4 * PQp) % 256 == 0


#: channel tiles per block from which each pixel tile's input is copied into a panel
PANEL_MIN_TILES = 12

#: loads a cycle of the tile read in place (inplace_loads_per_cycle) above which the panel
#: pays: between Zen 4's 0.75 (8 x 32) and 1.125 (16 x 16, one_vector_tile) at 512 bits
#: (the panel measured slower) and Zen 3's and Zen 5's 1.5 (faster)
PANEL_LOAD_RATE = 1.25


def schedule_conv2d_nchw_1x1(s, st, target):
    """The schedule described in the module docstring; returns the stages it scheduled."""
    data, kernel = st.op.input_tensors
    N, O, P, Q = (int(a.dom.extent.value) for a in st.op.axis)
    wide = cpu_info(target)
    info = pixel_vector_info(P * Q, wide)
    lanes = info.lanes
    C = _dims(kernel)[1]
    sh, sw = st.op.attrs["strides"]
    PQ = P * Q
    from . import cpu_tuning
    from .cpu import conv_workload
    strided = (sh, sw) != (1, 1)
    cfg = cpu_tuning.conv1x1_params(conv_workload("topi.conv2d_nchw", st, data, kernel, None),
                                    C, O, P, Q, target,
                                    conv1x1_config(C, O, P, Q, target, strided=strided))
    mr, nr, rb, obk = cfg["mr"], cfg["nr"], cfg["rb"], cfg["ob"]
    kc = reduction_block(C, nr, info)
    PQp = cdiv(PQ, nr) * nr
    stages = []
    panel = None
    src = data

    def pixel(n, c, j):
        """The input pixel read at the output's flat index j = y*Q + x, zero past PQ."""
        v = src[n, c, (j // Q) * sh, (j % Q) * sw]
        if PQp == PQ:
            return v
        one = reduce_axis((0, 1), "data_flat_r")
        return te_sum(v, axis=one, where=j < PQ)
    if strided:
        # the pixels a strided 1x1 convolution reads, compacted (flat j = y*Q + x), and
        # zeros up to whole pixel tiles
        major = tile_major(PQp)
        if major:
            data = compute((N, PQp // nr, C, nr), lambda n, t, c, z: pixel(n, c, t * nr + z),
                           name="data_flat", tag="injective,pack")
        else:
            data = compute((N, C, PQp), pixel, name="data_flat", tag="injective,pack")
        pst = s._insert_stage(data.op, st)
        per_block = strided_block_copies(O, obk, major)
        if not per_block:
            pst.parallel(pst.fuse(*pst.op.axis[:-1]))
        if not major:
            # a row at a time (copy_row_parts)
            _, xi = pst.split(pst.op.axis[-1], factor=Q)
            _, ji = pst.split(xi, nparts=copy_row_parts(Q, lanes))
        else:
            _, ji = pst.split(pst.op.axis[-1], factor=lanes)
        if pst.op.reduce_axis:
            pst.reorder(pst.op.reduce_axis[0], ji)
        pst.vectorize(ji)
        stages.append(pst)

        def xload(n, c, j):
            return data[n, j // nr, c, j % nr] if major else data[n, c, j]
    elif panel_pays(obk, mr, nr, info) or block_copies(PQ, nr, strided):
        # each pixel tile's input copied into a contiguous, aligned panel (panel_pays), or,
        # where the pixels are not whole tiles, padded with zeros to them (block_copies)
        data = compute((N, C, PQp), pixel, name="data_panel", tag="injective,pack")
        panel = s._insert_stage(data.op, st)
        stages.append(panel)

        def xload(n, c, j):
            return data[n, c, j]
    else:
        def xload(n, c, j):
            return data[n, c, j // Q, j % Q]
    k = reduce_axis((0, C), "rc")
    G = compute((N, O, PQp), lambda n, o, j: te_sum(kernel[o, k, 0, 0] * xload(n, k, j), axis=k),
                name=st.name + "_flat", tag="conv2d_nchw_1x1_flat")
    n_, o_, y_, x_ = (iv.var for iv in st.op.axis)
    copy = ComputeOp(st.op.name, st.op.axis, G[n_, o_, y_ * Q + x_], st.op.tag, st.op.attrs)
    st.op = copy
    st._reset_axes()
    s.stage_map[copy] = st
    g = s._insert_stage(G.op, st)
    # where the input is read from a copy (rows of whole pixel tiles), the register tile is
    # the target's GEMM micro-kernel (gemm_fp32) over blocks of kc input channels; read in
    # place (its flat index j = y*Q + x is no strided row of x) the tile accumulates in
    # registers through cache_write
    tensorized = info.has_gemm and bool(stages)
    if not tensorized:
        acc = s[s.cache_write(G, "local")]

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
    if strided and per_block:
        pst.compute_at(out, par)         # the block's own pixels (strided_block_copies)
    if not tensorized and panel is None and (rb * Q) % nr == 0:
        # read in place, the register tile stored straight into the output (or epilogue): no
        # flat product stage to copy out (64x56x56 -> 64: 12% faster, Zen 3, 1 thread); the
        # tile's read acc[n, o, y*Q + x] under the fused (y, x) split by nr is nr pixels
        # (bound inference through the leaf loops)
        fo, fi = out.split(f, factor=nr)
        oob, ooi = out.split(oi, factor=mr)
        out.reorder(fo, oob, ooi, fi)
        out.unroll(ooi)
        _vector_tile(out, fi, lanes)
        g.compute_inline()
        _accumulate(acc, out, oob, lanes)
        return [st, acc] + stages
    _vector_tile(out, f, lanes, unroll=False)
    # the flat product of the block: tiles of mr channels x nr pixels, accumulated in
    # registers; the channel tiles of a pixel tile in turn (its input panel stays in L1)
    g.compute_at(out, par)
    gn, go, gj = g.op.axis
    gjo, gji = g.split(gj, factor=nr)
    gob, goi = g.split(go, factor=mr)
    if tensorized:
        (rk,) = g.op.reduce_axis
        if kc < C:
            rko, rki = g.split(rk, factor=kc)
            g.reorder(gn, rko, gjo, gob, goi, gji, rki)
        else:
            g.reorder(gn, gjo, gob, goi, gji, rk)
    else:
        g.reorder(gn, gjo, gob, goi, gji)
    if panel is not None:
        panel.compute_at(g, gjo)
        _, pji = panel.split(panel.op.axis[2], factor=lanes)
        if panel.op.reduce_axis:
            panel.reorder(panel.op.reduce_axis[0], pji)
        panel.vectorize(pji)
    if tensorized:
        g.tensorize(goi, gemm_columns(mr, nr, kc, lanes, narrow=info is not wide))
        return [st, g] + stages
    g.unroll(goi)
    _vector_tile(g, gji, lanes)
    _accumulate(acc, g, gob, lanes)
    return [st, g, acc] + stages


def _accumulate(acc, stage, at, lanes):
    """The register tile (mr x nr accumulators) at `at` of `stage`: the input channels
    outermost, the tile's rows unrolled and its pixels whole vectors."""
    acc.compute_at(stage, at)
    an, ao, aj = acc.op.axis
    (rk,) = acc.op.reduce_axis
    acc.reorder(an, rk, ao, aj)
    acc.unroll(ao)
    _vector_tile(acc, aj, lanes)


def gemm_columns(mr, nr, kc, lanes, narrow=False):
    """gemm_fp32(mr, nr, kc) that also takes a tile of fewer pixels (columns): the block's
    product is whole vectors of pixels (7x7 = 49: 56), so the last pixel tile is v < nr /
    lanes whole vectors and runs the v-vector kernel (49: three 6x16 tiles and one 6x8, not
    a fourth 6x16 over 15 zero pixels, or a loop); any other column count a plain loop. A
    last channel tile of fewer rows runs the kernel for its row count (gemm_fp32).
    Implemented for the targets that have every one of those kernels: `lanes` is one
    target's vector width (CpuInfo.lanes), and a narrow kernel of fewer lanes than another
    target's vectors has no code there (8 lanes on avx512: no 6x8 kernel), unless `narrow`:
    the kernels of the target's narrow vectors (gemm_fp32(narrow=True): avx512's 8 lanes)."""
    if nr % lanes:
        raise TexprError(f"gemm_columns: nr={nr} is not a multiple of {lanes} lanes")
    full = gemm_fp32(mr, nr, kc, narrow=narrow)
    narrower = [gemm_fp32(mr, v * lanes, kc, narrow=narrow) for v in range(1, nr // lanes)]
    narrower.append(full)
    targets = [t for t in full.impl if all(t in intrin.impl for intrin in narrower)]
    a, b = full.inputs

    def for_target(tgt):
        def impl(ins, outs):
            (C,) = outs
            if not C.extents:                   # a whole tile
                return full.impl_for(tgt)(ins, outs)
            cols = C.extents[1]
            if cols == str(nr):
                return _any_rows(full.impl_for(tgt), ins, C, mr, cols)
            cases = {}
            for v, intrin in enumerate(narrower, 1):
                if cols.isdigit() and int(cols) != v * lanes:
                    continue
                cases[v * lanes] = _any_rows(intrin.impl_for(tgt), ins, C, mr, str(v * lanes))
            if cols.isdigit() and cases:
                return cases[int(cols)]
            loops = _plain_tile(ins, C, kc, cols)
            return {part: f"switch ({cols}) {{\n" + "\n".join(
                f"case {n}: {{\n{text[part]}\n}} break;" for n, text in cases.items()) +
                f"\ndefault: {{\n{loops[part]}\n}} break;\n}}" for part in loops}
        return impl
    return decl_tensor_intrin(full.op, {t: for_target(t) for t in targets},
                              name=f"{full.name}_cols", inputs=[a, b], partial_axes=(0, 1))


def _any_rows(impl, ins, C, mr, cols):
    """impl's parts for C's row count and `cols` columns: gemm_fp32's switch over the row
    counts of a partial tile has no case for mr, which a tile partial along the columns
    alone has: that count runs the whole-rows kernel."""
    def call(rows):
        ref = copy.copy(C)
        ref.extents = (rows, cols)
        return impl(ins, [ref])
    rows = C.extents[0]
    if rows.isdigit():
        return call(rows)
    whole, part = call(str(mr)), call(rows)
    return {p: f"if ({rows} == {mr}) {{\n{whole[p]}\n}} else {{\n{part[p]}\n}}" for p in part}


def _plain_tile(ins, C, kc, cols):
    """The parts of a tile of any row and column count as plain loops."""
    A, B = ins
    rows = C.extents[0]
    head = (f"for (int i = 0; i < {rows}; ++i)\n  for (int j = 0; j < {cols}; ++j) {{\n"
            f"    float* c = {C.ptr} + i * ({C.strides[0]}) + j;\n")
    acc = (f"    float s = 0.0f;\n    for (int k = 0; k < {kc}; ++k)\n"
           f"      s += {A.ptr}[i * ({A.strides[0]}) + k * ({A.strides[1]})] * "
           f"{B.ptr}[k * ({B.strides[0]}) + j];\n")
    return {"body": head + acc + "    *c = s;\n  }",
            "update": head + acc + "    *c += s;\n  }",
            "reset": head + "    *c = 0.0f;\n  }"}
