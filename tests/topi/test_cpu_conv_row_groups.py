"""The direct NCHW convolution's tiles over groups of output rows and its reduction in
L1-sized chunks (topi/cpu.py conv_row_group, row_group_chunk, _row_group_tiles)."""
import re

import numpy as np
import pytest

import texpr as te
import texpr.topi as topi
from texpr.topi import cpu
from texpr.topi import testing as ref

RNG = np.random.default_rng(7)


def test_row_group_pays_one_partial_tile_per_group_where_it_saves_cycles():
    info = cpu.cpu_info("avx2")
    # 7 x 7 outputs: the 49 pixels as one run of 6-pixel tiles of two vectors
    assert cpu.conv_row_group(1, 32, 7, 7, 2, info) == (7, 6)
    # 14 columns: pairs of rows (28 pixels, one partial tile of 4 instead of two of 2)
    rows, w = cpu.conv_row_group(1, 16, 14, 14, 2, info)
    assert rows == 2 and w * 2 + 4 <= info.nregs
    assert cpu.conv_row_cycles(28, w, 2, info) / 2 < 0.9 * cpu.conv_row_cycles(14, 6, 2, info)
    # 28 columns: a group would save 5% of the modelled cycles, not enough
    assert cpu.conv_row_group(1, 8, 28, 28, 2, info)[0] == 1
    # too few parallel iterations left (1 channel block x 1 group < ROW_GROUP_MIN_PARALLEL)
    assert cpu.conv_row_group(1, 1, 7, 7, 2, info)[0] == 1
    # the channel blocks follow the group's cycles when the rows are given
    assert cpu.conv_blocks(512, 512, "avx2", 7, 7) == (16, 16)


def test_row_group_chunk_keeps_the_chunk_weights_in_half_the_l1d():
    info = cpu.cpu_info("avx2")
    for Cb, ic, R, oc in ((32, 16, 3, 16), (8, 16, 5, 16), (12, 8, 3, 8), (5, 5, 3, 8)):
        c = cpu.row_group_chunk(Cb, ic, R, R, oc, info)
        assert Cb % c == 0
        assert c == 1 or c * ic * R * R * oc * 4 <= info.l1d_bytes // 2
        assert (c + 1) * ic * R * R * oc * 4 > info.l1d_bytes // 2 or c == Cb or Cb % (c + 1)


def test_row_group_only_on_the_heuristic_tile_of_parallel_rows():
    info = cpu.cpu_info("avx2")
    args = (1, 512, 512, 7, 7, 9, 16, 16)
    assert cpu._row_group(*args, 6, "rows", info)[0] == 7
    assert cpu._row_group(*args, 6, "blocks", info) == (0, 6)       # rows run inside
    assert cpu._row_group(*args, 3, "rows", info) == (0, 3)         # a tuned tile width
    # one row per group, strided, the channel block's weights do not fit half the L1d:
    # chunks (not at stride 1, nor where the weights fit)
    assert cpu._row_group(1, 128, 16, 12, 12, 9, 16, 16, 6, "rows", info, True) == (1, 6)
    assert cpu._row_group(1, 128, 16, 12, 12, 9, 16, 16, 6, "rows", info) == (0, 6)
    assert cpu._row_group(1, 16, 16, 12, 12, 9, 16, 16, 6, "rows", info, True) == (0, 6)


def _build(out, ins, name, target="native"):
    s = topi.schedule(out, target)
    return te.build(s, ins + [out], target=target, name=name)


def _rows_crossing_shape(C, target):
    """(O, Q, ic, oc, rows, reg_w): the first output channels (128, then 512) and square
    output width Q (from 14 down) of a 3x3 convolution over C channels whose row groups cross
    rows and leave a partial tile on `target`. On AVX2 14 x 14 outputs in pairs of rows;
    with AVX-512's 32 registers a tile of up to 14 columns x two vectors covers a row, and
    only rows of a few columns, with channel blocks enough to stay parallel, are grouped."""
    info = cpu.cpu_info(target)
    for O in (128, 512):
        for Q in range(14, 2, -1):
            ic, oc = cpu.conv_blocks(C, O, target, Q, Q)
            reg_w = cpu.conv_NCHWc_config(Q, Q, oc, target)["reg_w"]
            rows, w = cpu._row_group(1, C, O, Q, Q, 9, ic, oc, reg_w, "rows", info)
            if rows > 1 and (rows * Q) % w:
                return O, Q, ic, oc, rows, w
    raise AssertionError(f"no shape of row groups crossing rows on {target}")


def _two_fma_units(monkeypatch):
    """Every CpuInfo made from here on with two FMA units (Zen 5's 512-bit ones): on a core
    of one 512-bit unit (Zen 4) 6 accumulators cover the FMA latency, no short tile is
    latency-bound and no AVX-512 row group saves cycles."""
    init = cpu.CpuInfo.__init__

    def two_units(self, target):
        init(self, target)
        self.fma_units = 2
    monkeypatch.setattr(cpu.CpuInfo, "__init__", two_units)


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_row_groups_with_tiles_across_rows_and_a_fused_relu_match_reference(target,
                                                                           monkeypatch):
    """Outputs in groups of rows whose tiles cross each row's end and leave a partial last
    one (AVX2: 14 x 14 outputs in groups of 2 rows, 28 pixels in tiles of 6); the relu runs
    on the group before the NCHW store."""
    C = 8
    if cpu.cpu_info(target).fma_units < 2:
        _two_fma_units(monkeypatch)
    O, Q, ic, oc, rows, w = _rows_crossing_shape(C, target)
    assert rows > 1 and (rows * Q) % w, "the shape must cross rows and leave a partial tile"
    H = 2 * Q
    a = RNG.standard_normal((1, C, H, H), dtype=np.float32)
    k = RNG.standard_normal((O, C, 3, 3), dtype=np.float32)
    x, wt = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w")
    out = topi.nn.relu(topi.nn.conv2d_nchw(x, wt, 2, 1))
    f = _build(out, [x, wt], "conv_rows", target)
    got = np.full((1, O, Q, Q), np.nan, np.float32)
    f(a, k, got)
    want = np.maximum(ref.conv2d_nchw_ref(a, k, 2, 1), 0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    # the group's accumulators: rows x Q x oc floats, channels innermost
    assert f"[{rows * Q * oc}]" in f.source


def test_chunked_reduction_on_a_packed_kernel_matches_reference():
    """One row per group of a strided convolution, the reduction in chunks of channel blocks
    (3 blocks of 16 channels whose weights exceed half the L1d): the accumulators go
    through the group's buffer between chunks."""
    C, O, H = 48, 16, 24
    blocks = cpu.conv2d_weight_blocks((1, C, H, H), (O, C, 3, 3), 2, 1)
    info = cpu.cpu_info("native")
    ic, oc = blocks
    assert cpu.row_group_chunk(C // ic, ic, 3, 3, oc, info) < C // ic
    a = RNG.standard_normal((1, C, H, H), dtype=np.float32)
    k = RNG.standard_normal((O, C, 3, 3), dtype=np.float32)
    kp = ref.pack_kernel_nchwc_ref(k, *blocks)
    x, wt = te.placeholder(a.shape, name="x"), te.placeholder(kp.shape, name="w")
    f = _build(topi.nn.conv2d_nchw_packed(x, wt, 2, 1), [x, wt], "convp_chunks")
    got = np.full((1, O, H // 2, H // 2), np.nan, np.float32)
    f(a, kp, got)
    want = ref.conv2d_nchw_ref(a, k, 2, 1)
    assert f"[{(H // 2) * oc}]" in f.source        # one row's accumulators
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_padded_channel_block_only_for_odd_output_channels():
    lanes = cpu.cpu_info("native").lanes
    assert cpu.padded_channel_block(4 * lanes) is None          # a vector block divides O
    assert cpu.padded_channel_block(lanes // 2 - 1) is None     # under half a vector
    assert cpu.padded_channel_block(61, "native", 16) in (lanes, 2 * lanes)
    # its kernel is packed per call (padded): no offline blocks
    assert cpu.conv2d_weight_blocks((1, 35, 31, 31), (61, 35, 3, 3), 2, 1) is None


def test_odd_output_channels_padded_to_vectors_with_a_fused_bias_relu_match_reference():
    """13 output channels: two blocks of a vector, the second 5 channels wide (zero weights
    past 13, partial stores); strided, an odd input channel count (more than
    rows_as_vectors takes), bias + relu fused."""
    C, O, H = 53, 13, 15
    a = RNG.standard_normal((1, C, H, H), dtype=np.float32)
    k = RNG.standard_normal((O, C, 3, 3), dtype=np.float32)
    b = RNG.standard_normal(O, dtype=np.float32)
    x, wt = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w")
    tb = te.placeholder((O,), name="b")
    out = topi.nn.relu(topi.nn.bias_add(topi.nn.conv2d_nchw(x, wt, 2, 1), tb))
    f = _build(out, [x, wt, tb], "conv_odd_oc")
    assert "kernel_blocked" in f.source
    got = np.full((1, O, 8, 8), np.nan, np.float32)
    f(a, k, b, got)
    want = np.maximum(ref.conv2d_nchw_ref(a, k, 2, 1) + b.reshape(1, -1, 1, 1), 0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


# ----------------------------------------------------------------------------- NCHWc

def _nchwc_rows(C, H, O, R, stride, pad, target):
    """(rows, reg_w) that schedule_conv2d_NCHWc tiles a ResNet-style layer by on `target`,
    channel blocks of two vectors (the NCHWc graph's)."""
    info = cpu.cpu_info(target)
    oc = 2 * info.lanes
    P = (H + 2 * pad - R) // stride + 1
    reg_w = cpu.conv_NCHWc_config(P, P, oc, info=info)["reg_w"]
    return cpu._row_group(1, C, O, P, P, R * R, oc, oc, reg_w, "rows", info)


def test_nchwc_row_groups_on_avx2_only_where_a_row_leaves_a_latency_bound_tile():
    """AVX2 (6 x 2-vector tiles): ResNet-50's layers of 14 and 7 output columns (2 + 2 + 2,
    6 + 1 per row) in groups of rows, those of 28 and 56 per row. AVX-512 (32 registers,
    tiles of 14 or 7 columns): no group, on one 512-bit FMA unit (Zen 4) nor on two
    (Zen 5), so its kernels stay as they were."""
    assert _nchwc_rows(1024, 14, 256, 1, 1, 0, "avx2") == (2, 6)
    assert _nchwc_rows(2048, 7, 512, 1, 1, 0, "avx2") == (7, 6)
    assert _nchwc_rows(512, 7, 512, 3, 1, 1, "avx2") == (7, 6)
    assert _nchwc_rows(512, 28, 128, 1, 1, 0, "avx2")[0] == 0
    assert _nchwc_rows(256, 56, 64, 1, 1, 0, "avx2")[0] == 0
    for units in (1, 2):
        info = cpu.cpu_info("avx512")
        info.fma_units = units
        for C, H, O, R, s, p in ((1024, 14, 256, 1, 1, 0), (2048, 7, 512, 1, 1, 0),
                                 (512, 7, 512, 3, 1, 1), (512, 14, 512, 3, 2, 1)):
            P = (H + 2 * p - R) // s + 1
            reg_w = cpu.conv_NCHWc_config(P, P, 32, info=info)["reg_w"]
            assert cpu._row_group(1, C, O, P, P, R * R, 32, 32, reg_w, "rows", info)[0] == 0


@pytest.mark.parametrize("R,stride,pad,H", [(1, 1, 0, 7), (3, 2, 1, 14), (1, 1, 0, 14)])
def test_nchwc_row_groups_with_bias_residual_relu_match_reference(R, stride, pad, H,
                                                                   monkeypatch):
    """conv2d_NCHWc on AVX2 in groups of rows (7 x 7 outputs: one group of 49 pixels in
    tiles of 6 and a partial one; 14 x 14: pairs of rows), the reduction in chunks of
    channel blocks (here of 4 blocks' weights: 6 chunks), bias + residual + relu fused on
    the group."""
    target = "avx2"
    info = cpu.cpu_info(target)
    oc = 2 * info.lanes
    C, O = 24 * oc, 16 * oc
    assert cpu.nchwc_chunk_bytes(info) >= info.l1d_bytes      # weights read from memory
    monkeypatch.setattr(cpu, "nchwc_chunk_bytes", lambda info: 4 * oc * oc * R * R * 4)
    P = (H + 2 * pad - R) // stride + 1
    rows, _ = _nchwc_rows(C, H, O, R, stride, pad, target)
    assert rows > 1
    a = RNG.standard_normal((1, C, H, H), dtype=np.float32)
    k = (RNG.standard_normal((O, C, R, R)) / np.sqrt(C * R * R)).astype(np.float32)
    bias = RNG.standard_normal(O, dtype=np.float32)
    res = RNG.standard_normal((1, O, P, P), dtype=np.float32)
    an, kn = ref.nchw_to_nchwc_ref(a, oc), ref.pack_kernel_nchwc_ref(k, oc, oc)
    bn = bias.reshape(1, O // oc, 1, 1, oc)
    rn = ref.nchw_to_nchwc_ref(res, oc)
    x, w = te.placeholder(an.shape, name="x"), te.placeholder(kn.shape, name="w")
    b, r = te.placeholder(bn.shape, name="b"), te.placeholder(rn.shape, name="r")
    out = topi.nn.relu(topi.nn.add(topi.nn.add(topi.nn.conv2d_NCHWc(x, w, stride, pad), b), r))
    f = _build(out, [x, w, b, r], "nchwc_rows", target)
    assert f"[{rows * P * oc}]" in f.source         # the group's accumulators
    assert "rc_outer_outer < 6;" in f.source        # 6 chunks of the reduction
    got = np.full(rn.shape, np.nan, np.float32)
    f(an, kn, bn, rn, got)
    want = np.maximum(ref.conv2d_NCHWc_ref(an, kn, stride, pad) + bn + rn, 0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_strided_1x1_nchwc_reads_a_dense_copy_of_narrow_pixels(target):
    """A 1x1 stride-2 conv2d_NCHWc: where a pixel of the channel block is narrower than two
    cache lines (AVX2's 16 channels, 64 bytes) the pixels it uses are copied densely first;
    AVX-512's 32-channel pixels (128 bytes) are read in place. Both match the reference
    (odd input size: the copy takes pixels 0, 2, .., H - 1)."""
    oc = 2 * cpu.cpu_info(target).lanes
    C, O, H = 3 * oc, 2 * oc, 15
    a = RNG.standard_normal((1, C, H, H), dtype=np.float32)
    k = RNG.standard_normal((O, C, 1, 1), dtype=np.float32)
    an, kn = ref.nchw_to_nchwc_ref(a, oc), ref.pack_kernel_nchwc_ref(k, oc, oc)
    x, w = te.placeholder(an.shape, name="x"), te.placeholder(kn.shape, name="w")
    f = _build(topi.nn.relu(topi.nn.conv2d_NCHWc(x, w, 2, 0)), [x, w], "nchwc_s2", target)
    assert ("data_strided" in f.source) == (oc * 4 < cpu.STRIDED_PIXEL_BYTES)
    want = np.maximum(ref.conv2d_NCHWc_ref(an, kn, 2, 0), 0)
    got = np.full(want.shape, np.nan, np.float32)
    f(an, kn, got)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_copy_band_rows_fit_half_the_l2_in_bands_the_threads_share_evenly():
    """copy_band_rows: the most output rows per band whose input rows (halo included) fit
    half the L2, the bands a multiple of the threads; else the channel blocks in 2 parts
    (each copying the band), where they divide; else no bands."""
    info = cpu.cpu_info("avx512")
    info.l2_bytes = 1 << 20
    # 128x56x56 -> 128 3x3/2 (58 padded columns): 15 input rows of 7 output rows fit 512 KiB
    assert cpu.copy_band_rows(1, 28, 128, 58, 3, 2, 1, 1, 2, info) == (7, 1)
    assert cpu.copy_band_rows(1, 28, 128, 58, 3, 2, 1, 1, 1, info) == (7, 1)
    assert cpu.copy_band_rows(1, 28, 128, 58, 3, 2, 1, 1, 4, info) == (7, 1)
    # 512x14x14 -> 512 3x3/2: 7 output rows, 2 threads: one band in 2 parts of the 16
    # channel blocks; none where the blocks do not split in 2, nor at 3 threads
    assert cpu.copy_band_rows(1, 7, 512, 16, 3, 2, 1, 1, 2, info, 16) == (7, 2)
    assert cpu.copy_band_rows(1, 7, 512, 16, 3, 2, 1, 1, 2, info, 15) == (0, 1)
    assert cpu.copy_band_rows(1, 7, 512, 16, 3, 2, 1, 1, 3, info, 16) == (0, 1)
    assert cpu.copy_band_rows(1, 7, 512, 16, 3, 2, 1, 1, 1, info) == (7, 1)
    # groups of 2 rows: whole groups per band; an even number of bands before parts
    assert cpu.copy_band_rows(1, 28, 16, 30, 3, 1, 1, 2, 2, info) == (14, 1)
    assert cpu.copy_band_rows(1, 14, 16, 16, 3, 1, 1, 2, 2, info, 4) == (14, 2)
    assert cpu.copy_band_rows(1, 14, 100, 16, 3, 1, 1, 7, 2, info, 25) == (7, 1)
    # a bigger L2 takes more rows
    info.l2_bytes = 4 << 20
    assert cpu.copy_band_rows(1, 28, 128, 58, 3, 2, 1, 1, 2, info) == (14, 1)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_input_copied_per_band_of_rows_with_its_halo_matches_reference(threads, monkeypatch):
    """A strided convolution in one-row groups (chunked reduction) copies the channel blocks
    of its input per band of output rows, inside the band's parallel iteration, the halo row
    each band shares with the next copied by both: 12 output rows in 1, 2 or 3 bands (by the
    threads), padding 1, relu fused."""
    monkeypatch.setattr(cpu, "parallel_units", lambda: threads)
    C, O, H = 48, 16, 24
    blocks = cpu.conv2d_weight_blocks((1, C, H, H), (O, C, 3, 3), 2, 1)
    ic, oc = blocks
    info = cpu.cpu_info("native")
    band, parts = cpu.copy_band_rows(1, H // 2, C, H + 2, 3, 2, 1, 1, threads, info)
    assert band and (H // 2) // band == threads and parts == 1
    case = _strided_relu_conv(C, O, H, blocks)
    text = case.text
    # the band's copy: 2 * band + 1 input rows (of the padded 26 x 26), in the one parallel
    # loop (1 thread: one band, no parallel loop)
    assert f"allocate data_blocked: float32[1, {C // ic}, {2 * band + 1}, 25, {ic}]" in text
    assert text.count("for parallel") == (threads > 1)
    assert threads == 1 or text.index("allocate data_blocked") > text.index("for parallel")
    case.check("convp_bands")


def test_band_in_two_parts_of_the_channel_blocks_matches_reference(monkeypatch):
    """7 output rows at 2 threads: one band whose channel blocks run in 2 parallel parts,
    each copying the band's input (copy_band_rows' parts), relu fused."""
    monkeypatch.setattr(cpu, "parallel_units", lambda: 2)
    C, O, H = 48, 64, 14
    blocks = cpu.conv2d_weight_blocks((1, C, H, H), (O, C, 3, 3), 2, 1)
    ic, oc = blocks
    info = cpu.cpu_info("native")
    assert cpu._row_group(1, C, O, 7, 7, 9, ic, oc,
                          cpu.conv_NCHWc_config(7, 7, oc)["reg_w"], "rows", info, True)[0] == 1
    assert cpu.copy_band_rows(1, 7, C, H + 2, 3, 2, 1, 1, 2, info, O // oc) == (7, 2)
    case = _strided_relu_conv(C, O, H, blocks)
    text = case.text
    # one parallel loop of the 2 parts of the one band, each copying the band's 15 input rows
    # (16 where a partial tile over the row's end widens the copy's bound: AVX2's 6 columns)
    assert text.count("for parallel") == 1 and re.search(
        r"for parallel (pragma\([^)]*\) )?\([^)]*, 0, 2\)", text)
    assert re.search(rf"allocate data_blocked: float32\[1, {C // ic}, 1[56], 15, {ic}\]", text)
    assert text.index("allocate data_blocked") > text.index("for parallel")
    case.check("convp_parts")


class _strided_relu_conv:
    """relu(conv2d_nchw_packed) 3x3 stride 2 pad 1 of random data, scheduled for native: its
    lowered text, and check(name) building it and comparing with NumPy."""

    def __init__(self, C, O, H, blocks):
        self.a = RNG.standard_normal((1, C, H, H), dtype=np.float32)
        self.k = RNG.standard_normal((O, C, 3, 3), dtype=np.float32)
        self.kp = ref.pack_kernel_nchwc_ref(self.k, *blocks)
        x, wt = te.placeholder(self.a.shape, name="x"), te.placeholder(self.kp.shape, name="w")
        out = topi.nn.relu(topi.nn.conv2d_nchw_packed(x, wt, 2, 1))
        self.s, self.args = topi.schedule(out, "native"), [x, wt, out]
        self.text = str(te.lower(self.s, self.args, target="native"))
        self.out_shape = tuple(int(d) for d in out.shape)

    def check(self, name):
        f = te.build(self.s, self.args, target="native", name=name)
        got = np.full(self.out_shape, np.nan, np.float32)
        f(self.a, self.kp, got)
        want = np.maximum(ref.conv2d_nchw_ref(self.a, self.k, 2, 1), 0)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
