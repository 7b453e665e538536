"""conv2d_nchw 1x1 (topi/cpu_conv_1x1.py): a GEMM over the flattened image, the weight and
(stride 1, whole tiles) the input read in place or through a panel per pixel tile, the
output written in whole vectors."""
import numpy as np
import pytest

import texpr as te
import texpr.topi as topi
from texpr.topi import testing as ref
from texpr.topi import cpu_conv_1x1
from texpr.topi.cpu import cpu_info
from texpr.topi.cpu_conv_1x1 import (MIN_BLOCKS, block_copies, conv1x1_config, gemm_columns,
                                     imbalance, inplace_loads_per_cycle, one_vector_tile,
                                     panel_pays, pixel_tile, pixel_tile_vectors,
                                     pixel_vector_info, row_blocks,
                                     strided_block_copies, tile_major)
from texpr.topi.util import cdiv

RNG = np.random.default_rng(7)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


@pytest.mark.parametrize("N,C,H,O,stride,epi", [
    # 7x7 pixels (49: not whole tiles, each block copies the input with zeros to whole
    # tiles, a panel per pixel tile), 13 channels (a partial channel tile), bias + relu fused
    (1, 19, 7, 13, 1, "bias_relu"),
    # stride 2 over an odd size (the pixels read are compacted first), batch 2
    (2, 8, 11, 16, 2, None),
    # stride 2 to 28 x 28 (784 pixels: the flat layout, copied a row at a time in
    # copy_row_parts pieces; on AVX-512 zeros up to 800), batch 2
    (2, 8, 55, 16, 2, None),
    # 300 channels in blocks of kc (reduction_block: the micro-kernel's update adds to the
    # block's product), 49 pixels (the last tile one vector: gemm_columns), 7 channels (a
    # channel tile of one row)
    (1, 300, 7, 7, 1, None),
])
def test_conv1x1_against_numpy(N, C, H, O, stride, epi):
    a, k, bb = rand(N, C, H, H), rand(O, C, 1, 1), rand(O)
    x, w, b = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w"), \
        te.placeholder((O,), name="b")
    out = topi.nn.conv2d_nchw(x, w, stride, 0)
    ins, arrs = [x, w], [a, k]
    want = ref.conv2d_nchw_ref(a, k, stride, 0)
    if epi:
        out = topi.nn.relu(topi.nn.bias_add(out, b))
        ins, arrs = ins + [b], arrs + [bb]
        want = np.maximum(want + bb.reshape(1, -1, 1, 1), 0)
    f = te.build(topi.schedule(out, "native"), ins + [out], target="native")
    assert "conv2d_nchw_flat" in f.source           # the schedule of this module ran
    assert "kernel_blocked" not in f.source
    # strided: the pixels gathered once; else copied inside each block (block_copies)
    assert ("data_flat" in f.source) == (stride > 1) and ("data_panel" in f.source) == (stride == 1)
    got = np.full(want.shape, np.nan, "float32")
    f(*arrs, got)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))


def test_copied_input_runs_the_gemm_micro_kernel_in_channel_blocks():
    """14 x 14 pixels (not whole tiles: each block copies the input, zero-padded, a kc x nr
    panel per pixel tile), 512 channels: the register tile is the target's GEMM micro-kernel
    over blocks of kc input channels (kc x nr panel in half the L1d), the block's product
    updated between them; the output block is whole pixel tiles, so no tile is partial along
    the pixels. The 196 pixels are padded to whole tiles of the target's nr (two vectors: 208
    on AVX2, 224 on AVX-512)."""
    x, w = te.placeholder((1, 512, 14, 14), name="x"), te.placeholder((64, 512, 1, 1), name="w")
    out = topi.nn.conv2d_nchw(x, w, 1, 0)
    cfg = conv1x1_config(512, 64, 14, 14, "native")
    assert cfg["kc"] < 512 and 512 % cfg["kc"] == 0
    text = str(te.lower(topi.schedule(out, "native"), [x, w, out], target="native"))
    assert "data_flat" not in text and "kernel_blocked" not in text
    assert f"gemm_fp32_{cfg['mr']}x{cfg['nr']}x{cfg['kc']}" in text
    # one parallel loop: the panels are copied inside the blocks, no copy loop before them
    assert text.count("for parallel") == 1
    assert f"allocate data_panel: float32[1, {cfg['kc']}, {cfg['nr']}]" in text
    assert text.index("data_panel") > text.index("for parallel")
    # a strided convolution's gathered pixels: 208 (224) a row in the flat layout (rows 832
    # (896) bytes apart spread over the L1d's sets); 7x7's 64 (256 bytes apart) laid out a
    # pixel tile at a time
    padded = cdiv(196, cfg["nr"]) * cfg["nr"]
    assert padded % cfg["nr"] == 0 and 196 < padded < 196 + cfg["nr"]
    assert not tile_major(padded) and tile_major(cdiv(49, cfg["nr"]) * cfg["nr"])
    flat = text.split("// stage conv2d_nchw_flat")[1].split("for (o.inner")[0]
    assert "rc.outer" in flat and ".update(" in flat
    # the channel tiles of each pixel tile (after its panel's copy): no tile left to loops
    tiles = [part.split("// stage data_panel")[0] for part in flat.split("for (o.outer")[1:]]
    assert tiles and all("j.inner" not in t and "rc.inner" not in t for t in tiles)


def test_stride1_whole_tiles_read_the_input_in_place():
    """56 x 56 pixels in blocks of whole rows and whole tiles, few channel tiles per block: no
    copy of the input at all, the register tile's loads are vectors of the input as it lies."""
    x, w = te.placeholder((1, 64, 56, 56), name="x"), te.placeholder((32, 64, 1, 1), name="w")
    out = topi.nn.conv2d_nchw(x, w, 1, 0)
    cfg = conv1x1_config(64, 32, 56, 56, "native")
    assert not panel_pays(cfg["ob"], cfg["mr"], cfg["nr"], cpu_info("native"))
    text = str(te.lower(topi.schedule(out, "native"), [x, w, out], target="native"))
    assert "conv2d_nchw_flat" in text and "data_flat" not in text and "data_panel" not in text
    assert "data_blocked" not in text and "kernel_blocked" not in text
    assert "x[ramp(" in text


def test_read_in_place_the_register_tile_is_stored_straight_into_the_output():
    """Read in place with blocks of whole pixel tiles, the register tile is stored into the
    output (here the fused bias + relu) as it is: no flat product of the block copied out in
    a pass of its own; batch 2, a partial channel tile (13 = 6 + 6 + 1)."""
    N, C, H, O = 2, 8, 8, 13
    a, k, bb = rand(N, C, H, H), rand(O, C, 1, 1), rand(O)
    x, w, b = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w"), \
        te.placeholder((O,), name="b")
    out = topi.nn.relu(topi.nn.bias_add(topi.nn.conv2d_nchw(x, w, 1, 0), b))
    s = topi.schedule(out, "native")
    text = str(te.lower(s, [x, w, b, out], target="native"))
    assert "conv2d_nchw_flat.local" in text and "data_panel" not in text
    assert "allocate conv2d_nchw_flat" not in text          # no product stage
    f = te.build(s, [x, w, b, out], target="native")
    got = np.full((N, O, H, H), np.nan, "float32")
    f(a, k, bb, got)
    want = np.maximum(ref.conv2d_nchw_ref(a, k, 1, 0) + bb.reshape(1, -1, 1, 1), 0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))


def _panel_pays_at(C, O, H, target):
    cfg = conv1x1_config(C, O, H, H, target)
    return panel_pays(cfg["ob"], cfg["mr"], cfg["nr"], cpu_info(target))


def test_panel_pays_where_the_tile_read_in_place_is_bound_by_its_loads():
    """The panel's rule reads the vectors' width and FMA units: 8-lane vectors on two FMA
    units (Zen 3, AVX2) load 1.5 times a cycle in place, a panel pays with enough channel
    tiles; 16 lanes on one unit (Zen 4 at 512 bits) 0.75, never; 16 lanes on two (Zen 5)
    1.5 again."""
    import copy
    base = cpu_info("avx512")
    zen3, zen4, zen5 = (copy.copy(base) for _ in range(3))
    zen3.lanes, zen3.fma_units = 8, 2
    zen4.fma_units = 1
    zen5.fma_units = 2
    assert inplace_loads_per_cycle(6, 16, zen3) == 1.5
    assert inplace_loads_per_cycle(8, 32, zen4) == 0.75
    assert inplace_loads_per_cycle(8, 32, zen5) == 1.5
    assert panel_pays(12 * 6, 6, 16, zen3) and not panel_pays(11 * 6, 6, 16, zen3)
    assert not panel_pays(256, 8, 32, zen4) and panel_pays(256, 8, 32, zen5)


def test_one_vector_of_pixels_where_a_long_input_tile_is_read_in_place():
    """The two-vector tile becomes one vector of pixels (as many accumulators, twice the
    rows) where it reads the input in place and the pixel tile's input (C x nr) is more
    than half the L1d: 256x56x56 on Zen 4 at 512 bits (one FMA unit, no panel), not 64
    channels (8 KiB), nor a target whose tile copies panels (Zen 3, Zen 5: loads bound),
    or a stride-1 input whose pixels are not whole vectors (14x14, copied per block); a
    strided input, gathered into a compact copy, also runs the taller tile."""
    import copy
    base = cpu_info("avx512")
    zen3, zen4, zen5 = (copy.copy(base) for _ in range(3))
    zen3.lanes, zen3.fma_units = 8, 2
    zen4.fma_units = 1
    zen5.fma_units = 2
    assert one_vector_tile(256, 56 * 56, 8, 32, zen4, strided=False)
    assert one_vector_tile(512, 28 * 28, 8, 32, zen4, strided=False)
    assert not one_vector_tile(64, 56 * 56, 8, 32, zen4, strided=False)
    assert one_vector_tile(256, 28 * 28, 8, 32, zen4, strided=True)
    assert one_vector_tile(512, 14 * 14, 8, 32, zen4, strided=True)
    assert not one_vector_tile(1024, 14 * 14, 8, 32, zen4, strided=False)
    assert not one_vector_tile(256, 56 * 56, 8, 32, zen5, strided=False)
    assert not one_vector_tile(512, 28 * 28, 6, 16, zen3, strided=False)
    assert not one_vector_tile(256, 56 * 56, 16, 16, zen4, strided=False)
    # the taller tile still reads in place (no panel)
    assert not panel_pays(256, 16, 16, zen4)


def test_many_channel_tiles_copy_a_panel_per_pixel_tile():
    """With enough channel tiles per block (panel_pays), each pixel tile's C x nr input is
    copied into a panel inside the block's loop (aligned, contiguous), which the tiles read;
    the output matches NumPy on an input 16 bytes off alignment, as NumPy's arrays often are.
    The channel count is the first from 76 whose blocks have that many tiles on the target
    (76 on AVX2: 13 tiles of 6; AVX-512's taller tiles need more channels). The target is
    the host's where a panel pays there, else AVX2 (Zen 4 at 512 bits: never)."""
    C, H = 8, 16
    target = next(t for t in ("native", "avx2") if _panel_pays_at(C, 399, H, t))
    O = next(o for o in range(76, 400) if _panel_pays_at(C, o, H, target))
    x, w = te.placeholder((1, C, H, H), name="x"), te.placeholder((O, C, 1, 1), name="w")
    out = topi.nn.conv2d_nchw(x, w, 1, 0)
    f = te.build(topi.schedule(out, target), [x, w, out], target=target)
    assert "data_panel" in f.source and "data_flat" not in f.source
    assert f.source.index("data_panel") > f.source.index("parallel")
    buf = np.empty(C * H * H + 4, "float32")
    a = buf[4:].reshape(1, C, H, H) if buf.ctypes.data % 32 == 0 else buf[:-4].reshape(1, C, H, H)
    a[...] = rand(1, C, H, H)
    k = rand(O, C, 1, 1)
    got = np.full((1, O, H, H), np.nan, "float32")
    f(a, k, got)
    np.testing.assert_allclose(got, ref.conv2d_nchw_ref(a, k, 1, 0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("target", ["native", "avx512", "neon"])
def test_tile_fits_the_target(target):
    """The tile comes from the target: two vectors of pixels (in the narrow vectors of a
    small image: all of its pixels), accumulators and operands fit the registers (the
    pixels' vectors: pixel_vector_info); a row block is whole tiles and its input fits half
    the L2."""
    for C, O, P in ((64, 64, 56), (512, 128, 28), (2048, 512, 7), (19, 13, 7)):
        wide = cpu_info(target)
        info = pixel_vector_info(P * P, wide)
        cfg = conv1x1_config(C, O, P, P, target)
        mr, nr, rb = cfg["mr"], cfg["nr"], cfg["rb"]
        whole = cdiv(P * P, info.lanes) * info.lanes
        assert nr in (2 * info.lanes, info.lanes) or (info is not wide and nr == whole)
        assert mr * (nr // info.lanes) + nr // info.lanes + 1 <= info.nregs
        assert P % rb == 0
        kc = cfg["kc"]
        assert C % kc == 0 and (kc == C or kc * nr * 4 <= info.l1d_bytes // 2)
        if rb < P:
            assert (rb * P) % nr == 0 and C * rb * P * 4 <= info.l2_bytes // 2


def test_blocks_keep_two_threads_busy_to_the_end():
    """The parallel blocks are shared evenly: 1024x14x14 -> 256 in 5 blocks (the last one
    short) left one of two threads idle 16% of the time; 7 blocks of 64 channels, 12.5%;
    256x56x56 -> 512/2 (28x28 out) in 7 blocks of 80 channels, 6.2% (5% slower at 2 threads
    than 8 of 64, Zen 4)."""
    assert imbalance([4, 4, 4, 4], 2) == 0
    assert imbalance([4] * 7, 2) == pytest.approx(8 / 7 - 1)
    assert imbalance([54, 54, 54, 54, 40], 2) > 0.15
    for C, H, O in ((1024, 14, 256), (64, 56, 64), (2048, 7, 512), (256, 14, 1024),
                    (256, 28, 512), (128, 28, 512)):
        cfg = conv1x1_config(C, O, H, H, "native", units=2)
        works = [min(cfg["ob"], O - b) for b in range(0, O, cfg["ob"])] * (H // cfg["rb"])
        assert imbalance(works, 2) < 0.06, (C, H, O, cfg)


def test_a_small_image_in_narrow_vectors_is_one_pixel_tile(monkeypatch):
    """On AVX-512 with 256-bit FMA units (Zen 4, modelled here: 8 lanes x 2 run as many
    multiply-adds as 16 x 1, 32 registers) 7x7 = 49 pixels run in 8-lane vectors, all 7 of
    them in one tile of few rows (fewer loads a multiply-add: 5-9% faster than 8 x 2
    vectors); a larger image keeps two vectors; the blocks of a thread's share of the
    channels stay two at 2 threads (not 963 + 963 + 122 of 2048)."""
    import copy
    zen4 = copy.copy(cpu_info("avx512"))
    zen4.fma_units, zen4.has_gemm, zen4.emulated = 1, True, False
    narrow = copy.copy(zen4)
    narrow.lanes, narrow.vector_bits, narrow.fma_units, narrow.nregs = 8, 256, 2, 32
    zen4.narrow = lambda: narrow
    monkeypatch.setattr(cpu_conv_1x1, "cpu_info", lambda _: zen4)
    assert pixel_vector_info(49, zen4) is narrow
    mr, nr = pixel_tile(512, 49, narrow, zen4)
    assert nr == 56 and mr * 7 + 7 + 1 <= narrow.nregs
    assert pixel_tile_vectors(30 * 30, narrow, zen4) == 2     # 113 vectors: two at a time
    assert pixel_tile_vectors(49, zen4, zen4) == 2            # the wide vectors: two
    for C, O in ((2048, 512), (512, 2048)):
        cfg = conv1x1_config(C, O, 7, 7, "avx512", units=2)
        assert (cfg["mr"], cfg["nr"]) == (mr, nr)
        works = [min(cfg["ob"], O - b) for b in range(0, O, cfg["ob"])]
        assert imbalance(works, 2) < 0.01, cfg


@pytest.mark.parametrize("units", [2, 4])
def test_blocks_that_copy_their_input_are_as_few_as_the_threads(units):
    """Where each block copies the whole input (block_copies: pixels not whole tiles, stride
    1), a block more copies it again: the blocks are at least the threads, and no more where
    that many fit (1024x14x14 -> 256 on AVX-512: 2 blocks of 128 channels at 2 threads, not
    4 of 64 as where the input is not copied per block). A strided convolution gathers its
    input once and keeps MIN_BLOCKS."""
    C, O, P = 1024, 256, 14
    cfg = conv1x1_config(C, O, P, P, "avx512", units=units)
    assert block_copies(P * P, cfg["nr"], strided=False)
    assert not block_copies(P * P, cfg["nr"], strided=True)
    assert not block_copies(56 * 56, cfg["nr"], strided=False)
    assert cfg["rb"] == P and cdiv(O, cfg["ob"]) == units, cfg
    strided = conv1x1_config(C, O, P, P, "avx512", units=units, strided=True)
    assert cdiv(O, strided["ob"]) * (P // strided["rb"]) >= max(units, MIN_BLOCKS)


def test_strided_blocks_gather_their_own_pixels_where_few_channel_blocks_share_them(
        monkeypatch):
    """strided_block_copies: a block gathers the pixels of its rows inside its own parallel
    iteration where at most STRIDED_COPY_BLOCKS channel blocks share a row block (no lines
    the other core wrote; the pixels gathered at most twice), else the image once, in a
    parallel loop of its own. 256x56x56 -> 512/2 (ResNet-50's; 2 blocks of channels x 7 of
    rows at 2 threads) checked against NumPy."""
    assert strided_block_copies(512, 256, major=False)
    assert strided_block_copies(512, 512, major=False)
    assert not strided_block_copies(1024, 256, major=False)     # 4 channel blocks
    assert not strided_block_copies(512, 256, major=True)       # tile-major copy
    monkeypatch.setenv("TEXPR_NUM_THREADS", "2")
    C, H, O = 256, 56, 512
    cfg = conv1x1_config(C, O, H // 2, H // 2, "native", strided=True)
    a, k = rand(1, C, H, H), rand(O, C, 1, 1)
    x, w = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w")
    out = topi.nn.conv2d_nchw(x, w, 2, 0)
    s = topi.schedule(out, "native")
    text = str(te.lower(s, [x, w, out], target="native"))
    assert strided_block_copies(O, cfg["ob"], tile_major(cdiv(784, cfg["nr"]) * cfg["nr"])), cfg
    # one parallel loop, the gathered pixels allocated in it
    assert text.count("for parallel") == 1
    assert text.index("allocate data_flat") > text.index("for parallel")
    f = te.build(s, [x, w, out], target="native")
    got = np.full((1, O, H // 2, H // 2), np.nan, "float32")
    f(a, k, got)
    want = ref.conv2d_nchw_ref(a, k, 2, 0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_blocks_are_shared_by_the_threads_kernels_run_on(monkeypatch):
    """Without `units`, the blocks are balanced for the threads the runtime runs kernels on
    (TEXPR_NUM_THREADS, else the cores), not for the machine's cores: a 16-core machine
    running 2 threads copies the input of 1024x14x14 -> 256 twice, not 16 times."""
    for n in (2, 4):
        monkeypatch.setenv("TEXPR_NUM_THREADS", str(n))
        cfg = conv1x1_config(1024, 256, 14, 14, "avx512")
        assert cdiv(256, cfg["ob"]) == n, (n, cfg)


@pytest.mark.parametrize("target", ["avx2", "avx512"])
@pytest.mark.parametrize("l2", [512 * 1024, 1024 * 1024])
def test_a_weight_that_stays_in_the_l2_does_not_split_the_channels(monkeypatch, target, l2):
    """A weight that stays in half the L2 is read from memory once whatever the row blocks:
    the blocks take all output channels (the input read once), where their product fits a
    quarter of the L2 in some row block. One that does not, 512x28x28 -> 256 on a 512 KiB
    L2, is read once per row block and a block takes fewer channels. The L2 is set here
    (Zen 3's 512 KiB and Zen 4's 1 MiB a core), not read from the host, and one thread
    runs the blocks (no balance to weigh: test_blocks_keep_two_threads_busy_to_the_end).
    At 1 MiB, 512x28x28 -> 256 on AVX2 is the case of a block padded to whole channel
    tiles (258 = 43 x 6) whose 256 weight rows take exactly half the L2."""
    info = cpu_info(target)
    info.l2_bytes = l2
    monkeypatch.setattr(cpu_conv_1x1, "cpu_info", lambda _: info)
    checked = 0
    for C, O, P in ((64, 256, 56), (512, 256, 28)):
        cfg = conv1x1_config(C, O, P, P, target, units=1)
        product_fits = any(O * rb * P * 4 <= l2 // 4 for rb in row_blocks(P, P, cfg["nr"]))
        if O * C * 4 <= l2 // 2 and product_fits:
            assert cfg["ob"] >= O, (C, O, P, cfg)
            assert O * cfg["rb"] * P * 4 <= l2 // 4
            checked += 1
        elif block_copies(P * P, cfg["nr"], strided=False):
            assert cfg["ob"] >= O, (C, O, P, cfg)     # one thread: the input copied once
            checked += 1
        elif O * C * 4 > l2 // 2:
            assert cfg["ob"] < O, (C, O, P, cfg)
            checked += 1
    assert checked


def test_larger_kernels_keep_the_channel_block_route():
    x, w = te.placeholder((1, 16, 15, 15), name="x"), te.placeholder((16, 16, 3, 3), name="w")
    out = topi.nn.conv2d_nchw(x, w, 2, 1)
    text = str(te.lower(topi.schedule(out, "native"), [x, w, out], target="native"))
    # the channel blocks, or the rows as vectors where rows_as_vectors prefers them
    assert "conv2d_nchw_flat" not in text and ("data_blocked" in text or "data_phases" in text)


def _gemm_columns_product(M, N, K, mr, nr, lanes):
    """c = a @ b [M, N] in mr x nr tiles tensorized with gemm_columns(mr, nr, K, lanes)."""
    a = te.placeholder((M, K), name="a")
    b = te.placeholder((K, N), name="b")
    k = te.reduce_axis((0, K), "k")
    c = te.compute((M, N), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="c")
    s = te.create_schedule(c.op)
    io, ii = s[c].split(c.op.axis[0], factor=mr)
    jo, ji = s[c].split(c.op.axis[1], factor=nr)
    s[c].reorder(io, jo, ii, ji, k)
    s[c].tensorize(ii, gemm_columns(mr, nr, K, lanes))
    return s, [a, b, c]


@pytest.mark.parametrize("target", ["avx2", "avx512"])
@pytest.mark.parametrize("whole", [True, False], ids=["whole-vector", "part-vector"])
def test_gemm_columns_takes_partial_tiles_in_rows_and_columns(target, whole):
    """The micro-kernel of the 1x1 GEMM on a 7 x N product in 6 x (2 vectors) tiles of the
    target's lanes (AVX2: 6 x 16, N = 24 or 20): the last column tile is one whole vector (the
    one-vector kernel) or half of one (plain loops), the last row tile one row; the whole-row
    tiles of the last column tile run all six rows."""
    lanes = cpu_info(target).lanes
    M, K, mr, nr = 7, 5, 6, 2 * lanes
    N = nr + (lanes if whole else lanes // 2)
    s, args = _gemm_columns_product(M, N, K, mr, nr, lanes)
    f = te.build(s, args, target=target)
    assert "switch" in f.source or whole          # part of a vector: a switch to plain loops
    x, y = rand(M, K), rand(K, N)
    got = np.full((M, N), np.nan, "float32")
    f(x, y, got)
    np.testing.assert_allclose(got, x @ y, rtol=1e-5, atol=1e-5)


def test_gemm_columns_of_narrower_lanes_than_the_target_has_no_code_for_it():
    """gemm_columns of 8 lanes has 8-column kernels, which AVX-512 (16 lanes) has no code
    for: a TexprError naming the intrinsic and the targets it has, not a kernel missing a
    case (lowered and emitted only, not compiled)."""
    from texpr.targets.build import emit_source
    s, args = _gemm_columns_product(7, 24, 5, 6, 16, 8)
    with pytest.raises(te.TexprError, match=r"gemm_fp32_6x16x5_cols has no implementation "
                                            r"for target 'avx512' \(it has: avx2, neon\)"):
        emit_source(s, args, target="avx512")
    with pytest.raises(te.TexprError, match="nr=20 is not a multiple of 8 lanes"):
        gemm_columns(6, 20, 5, 8)


def test_pixel_vectors_narrow_where_16_lanes_waste_the_pixels():
    """pixel_vector_info reads lanes and FMA units: 49 pixels (7x7) in 8-lane vectors (56)
    on a 16-lane target with one 512-bit FMA unit and two 256-bit ones (Zen 4); 196 and 784
    pixels keep the 16 lanes (4% and 2% padding); with two 512-bit units (Zen 5) so do 49."""
    import copy
    info = cpu_info("avx512")
    narrow = info.narrow()
    zen4, zen5 = copy.copy(info), copy.copy(info)
    zen4.fma_units, zen5.fma_units = 1, 2
    if narrow is None or not info.has_gemm:
        pytest.skip("no narrow vectors or GEMM kernels on avx512 here")
    narrow.fma_units = 2
    zen4.narrow = zen5.narrow = lambda: narrow
    assert pixel_vector_info(49, zen4).lanes == 8
    assert pixel_vector_info(196, zen4).lanes == 16 and pixel_vector_info(784, zen4).lanes == 16
    assert pixel_vector_info(49, zen5).lanes == 16


@pytest.mark.parametrize("O", [2048 // 32, 13])
def test_7x7_runs_the_8_lane_micro_kernel_on_avx512(O):
    """7x7 outputs on avx512 where pixel_vector_info picks the 8-lane vectors: the block's
    product through the 8-lane GEMM kernels in 256-bit registers (gemm_fp32(narrow=True)),
    a last pixel tile of one vector, a partial channel tile (13); checked against NumPy."""
    info = cpu_info("avx512")
    if pixel_vector_info(49, info) is info:
        pytest.skip("avx512 keeps its 16 lanes for 49 pixels on this host")
    C = 96
    a, k = rand(1, C, 7, 7), rand(O, C, 1, 1)
    x, w = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w")
    out = topi.nn.conv2d_nchw(x, w, 1, 0)
    s = topi.schedule(out, "avx512")
    text = str(te.lower(s, [x, w, out], target="avx512"))
    assert "_x8" in text and "gemm_fp32" in text
    f = te.build(s, [x, w, out], target="avx512")
    got = np.full((1, O, 7, 7), np.nan, "float32")
    f(a, k, got)
    np.testing.assert_allclose(got, ref.conv2d_nchw_ref(a, k, 1, 0), rtol=1e-4, atol=1e-4)
