"""conv2d_nchw of an input with few channels (topi/cpu_conv_few_channels.py): vectors along
the output row, the input read through a copy split into column phases by the stride."""
from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

import texpr as te
import texpr.topi as topi
from texpr.topi import testing as ref
from texpr.topi.cpu import cpu_info
from texpr.topi.cpu_conv_few_channels import (channel_tiles_outer, few_channels_config,
                                              few_channels_rows, few_channels_tiles,
                                              few_channels_vectors, rows_as_vectors)

RNG = np.random.default_rng(5)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def _width(Q, R, stride, pad, dil, spare=0):
    """The input width whose convolution has Q output columns (and `spare` columns past the
    last one the stride reaches)."""
    _, pl, _, pr = (pad,) * 4 if isinstance(pad, int) else pad
    return (Q - 1) * stride + dil * (R - 1) + 1 - pl - pr + spare


@pytest.mark.parametrize("N,C,H,Q,spare,O,R,stride,pad,dil,epi,target,rows", [
    # the ResNet stem's kind: 7x7/2, pad 3, output rows a vector and 7 columns wide (odd: a
    # partial vector; 9 x 15 on AVX2), bias + relu fused (6 channels: the unrolled tile of
    # more takes GCC seconds longer)
    (1, 3, 17, (1, 7), 0, 6, 7, 2, 3, 1, "bias_relu", "native", 1),
    # no padding, stride 3 over a width the stride does not divide (a phase is one short)
    (1, 1, 11, (2, 0), 1, 8, 3, 3, 0, 1, None, "native", 1),
    # batch 2, dilation 2, a channel count no vector tile divides, rows one vector wide
    (2, 4, 9, (1, 0), 0, 5, 3, 1, (1, 0, 2, 1), 2, None, "native", 1),
    # AVX2: 8 x 56 outputs, rows of 7 vectors tiled in pairs (tiles of 3 vectors cross a
    # row's end, one partial tile per pair: few_channels_rows), bias + relu on the group.
    # AVX-512's 32 registers hold a tile of a whole row of 7 vectors: no groups there
    (1, 3, 16, (7, 0), 1, 16, 7, 2, 3, 1, "bias_relu", "avx2", 2),
])
def test_few_channels_conv(N, C, H, Q, spare, O, R, stride, pad, dil, epi, target, rows):
    """Output rows of Q = (vectors, columns) of the target's lanes: rows narrower than a
    vector are no case of this schedule (applies: they keep the channel blocks,
    test_other_shapes_keep_the_blocked_schedule); rows: the output rows tiled as one run."""
    info = cpu_info(target)
    Q = Q[0] * info.lanes + Q[1]
    W = _width(Q, R, stride, pad, dil, spare)
    f, want = _built_conv(N, C, H, W, O, R, stride, pad, dil, epi, target)
    assert want.shape[3] == Q
    assert "data_phases" in f.source          # the schedule of this module ran
    cfg = few_channels_config(O, Q, target)
    info = few_channels_vectors(Q, target)    # the vectors the rows are tiled in
    assert few_channels_rows(N, O, want.shape[2], Q, cfg["ot"], cfg["xv"], info) == rows


def _built_conv(N, C, H, W, O, R, stride, pad, dil, epi, target):
    """conv2d_nchw (+ bias and relu where epi) built for target, checked against NumPy on
    random data: (the module, the reference output)."""
    a, k, bb = rand(N, C, H, W), rand(O, C, R, R), rand(O)
    x, w, b = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w"), \
        te.placeholder((O,), name="b")
    out = topi.nn.conv2d_nchw(x, w, stride, pad, dil)
    ins, arrs = [x, w], [a, k]
    want = ref.conv2d_nchw_ref(a, k, stride, pad, dil)
    if epi:
        out = topi.nn.relu(topi.nn.bias_add(out, b))
        ins, arrs = ins + [b], arrs + [bb]
        want = np.maximum(want + bb.reshape(1, -1, 1, 1), 0)
    f = te.build(topi.schedule(out, target), ins + [out], target=target)
    got = np.full(want.shape, np.nan, "float32")
    f(*arrs, got)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))
    return f, want


@pytest.mark.parametrize("target", ["native", "avx512", "neon"])
def test_tile_fits_the_target(target):
    """The register tile is chosen from the target's lanes and registers: accumulators, the
    input vectors of a tap and a broadcast weight fit, and the tile divides the channels."""
    for O, Q in ((64, 112), (12, 15), (5, 7), (96, 56)):
        cfg = few_channels_config(O, Q, target)
        info = few_channels_vectors(Q, target)
        assert cfg["lanes"] == info.lanes
        assert info.lanes in (cpu_info(target).lanes, cpu_info(target).lanes // 2)
        assert O % cfg["ot"] == 0
        assert cfg["ot"] * cfg["xv"] + cfg["xv"] + 1 <= info.nregs
        assert cfg["xv"] * info.lanes <= max(Q, info.lanes)     # no wider than the row
    stem = few_channels_config(64, 112, target)
    assert stem["ot"] * stem["xv"] >= 8               # enough accumulators for the FMA latency


class _Host:
    """A host of given FMA units per vector width (CpuInfo reads the host's)."""

    def __init__(self, units):
        self.units = units

    def fma_units(self, bits):
        return self.units[bits]


def _avx512_on(units, simde=False):
    info = cpu_info("avx512")
    info._host, info.emulated = _Host(units), simde
    info.fma_units = units[512]
    return info


@pytest.mark.parametrize("units,Q,lanes", [
    ({512: 1, 256: 2}, 112, 8),     # Zen 4: the FLOPs of either width, 8 lanes
    ({512: 1, 256: 2}, 56, 8),      # a row of 3.5 vectors of 16, 7 of 8
    ({512: 2, 256: 2}, 112, 16),    # Zen 5: twice the FLOPs at 512 bits
    ({512: 2, 256: 2}, 56, 16),     # ... worth 8 lanes of padding
    ({512: 2, 256: 2}, 24, 16),     # ... and 1.5 vectors: 24 of 32 lanes x 2 beat 8 x 2
])
def test_vectors_of_the_most_multiply_adds_per_row(monkeypatch, units, Q, lanes):
    """few_channels_vectors: the target's vectors or its narrow ones (AVX-512: 8 lanes
    through AVX2 intrinsics), whichever runs more lanes of the row a cycle; ties narrow."""
    from texpr.topi import cpu_conv_few_channels as few
    info = _avx512_on(units)
    monkeypatch.setattr(few, "cpu_info", lambda target: info)
    assert few_channels_vectors(Q, "avx512").lanes == lanes
    assert few_channels_vectors(Q, "avx512").nregs == 32
    narrow = _avx512_on(units, simde=True).narrow()     # SIMDe on AVX2: 16 ymm registers
    assert (narrow.lanes, narrow.nregs, narrow.fma_units) == (8, 16, units[256])
    assert cpu_info("avx2").narrow() is None and cpu_info("neon").narrow() is None


def test_equal_tiles_ranked_by_the_cycles_of_a_row(monkeypatch):
    """Among tiles of the same loads per FMA and lane waste, the fewest modelled cycles of a
    row (conv_row_cycles): 7 vectors of 8 lanes (Zen 4's AVX-512 stem of 56 columns) not as
    three tiles of 2 and a latency-bound one of 1 (8 accumulators under 12)."""
    from texpr.topi import cpu_conv_few_channels as few
    from texpr.topi.cpu import conv_row_cycles
    info = _avx512_on({512: 1, 256: 2})
    monkeypatch.setattr(few, "cpu_info", lambda target: info)
    cfg = few_channels_config(64, 56, "avx512")
    assert cfg["lanes"] == 8
    narrow = info.narrow()
    assert conv_row_cycles(7, cfg["xv"], cfg["ot"], narrow) < conv_row_cycles(7, 2, 8, narrow)


def test_no_input_vector_reloaded_by_each_channel_on_x86():
    """few_channels_tiles: on x86 (FMAs with memory operands) no tile of more input vectors
    than weights unless it holds every channel; NEON keeps them."""
    for target in ("avx2", "avx512"):
        info = cpu_info(target)
        tiles = few_channels_tiles(64, 112, info)
        assert tiles and all(xv <= ot for ot, xv in tiles)
        assert (2, 2) in few_channels_tiles(2, 112, info)       # all channels: xv may grow
        assert any(xv > ot for ot, xv in few_channels_tiles(1, 112, info))
    assert any(xv > ot for ot, xv in few_channels_tiles(64, 112, cpu_info("neon")))


@pytest.mark.parametrize("target,zen5", [("avx512", False), ("avx2", False),
                                         ("avx512", True)])
def test_row_of_half_vectors_runs_whole_narrow_vectors(target, zen5, monkeypatch):
    """The 7x7/2 stem's kind on 56 output columns: 3.5 vectors of 16 lanes, tiled in vectors
    of 8 on AVX-512 where those run as many FLOPs (few_channels_vectors), bias + relu fused;
    its 64 channels' weights fill the L1d: channel tiles outside the rows (AVX2: outside
    the row groups). zen5: two 512-bit FMA units keep 16 lanes, the row's last tile
    computed whole past the row (pad_axis) and stored in part."""
    if zen5:
        from texpr.topi import cpu_conv_few_channels as few
        zen5_info = _avx512_on({512: 2, 256: 2})
        monkeypatch.setattr(few, "cpu_info", lambda t: zen5_info)
    info = few_channels_vectors(56, target)
    assert info.lanes == (16 if zen5 else 8)
    O, R = 64, 7
    assert channel_tiles_outer(3, R, R, O, 2 * 59, info)
    W = _width(56, R, 2, 3, 1)
    a, k, bb = rand(1, 3, 12, W), rand(O, 3, R, R), rand(O)
    x, w, b = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w"), \
        te.placeholder((O,), name="b")
    out = topi.nn.relu(topi.nn.bias_add(topi.nn.conv2d_nchw(x, w, 2, 3), b))
    f = te.build(topi.schedule(out, target), [x, w, b, out], target=target)
    assert "data_phases" in f.source
    if info.lanes == 8 and target == "avx512":
        assert "_mm256_fmadd_ps" in f.source and "_mm512_fmadd_ps" not in f.source
    if zen5:        # whole vectors of 16 lanes, none computed lane by lane
        assert "_mm512_fmadd_ps" in f.source and "_mm256_fmadd_ps" not in f.source
        assert "] * w[" not in f.source     # no scalar multiply-add of a lane
    want = np.maximum(ref.conv2d_nchw_ref(a, k, 2, 3) + bb.reshape(1, -1, 1, 1), 0)
    got = np.full(want.shape, np.nan, "float32")
    f(a, k, bb, got)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))


def test_channel_tiles_outside_the_rows_where_weights_and_rows_fill_the_l1d():
    info = cpu_info("avx2")
    assert channel_tiles_outer(3, 7, 7, 64, 230, info)          # ResNet-50 stem: 37 + 19 KiB
    assert not channel_tiles_outer(3, 3, 3, 32, 226, info)      # 3x3 stem: 3 + 8 KiB
    small = cpu_info("avx2")
    small.l1d_bytes = 8 << 10
    assert channel_tiles_outer(3, 3, 3, 32, 226, small)


def test_rows_outside_where_each_thread_would_read_a_copy_over_half_the_l2():
    """On several cores each thread's share of channel tiles reads the whole phase copy per
    tile: the ResNet-50 stem's (3 x 230 rows of 230: 635 KiB) overflows half of a 1 MiB L2
    (Zen 4; rows outside: each thread reads its rows' input); the 112 x 112 one's
    (3 x 118 x 118: 167 KiB) keeps the channel tiles outside; one core keeps them too."""
    info = cpu_info("avx2")
    info.l2_bytes = 1 << 20
    assert not channel_tiles_outer(3, 7, 7, 64, 230, info, Hp=230, units=2)
    assert channel_tiles_outer(3, 7, 7, 64, 118, info, Hp=118, units=2)
    assert channel_tiles_outer(3, 7, 7, 64, 230, info, Hp=230, units=1)


def test_rows_grouped_only_where_a_row_ends_in_a_short_tile():
    info = cpu_info("avx2")
    assert few_channels_rows(1, 16, 8, 56, 4, 3, info) == 2      # the test case above
    assert few_channels_rows(1, 64, 56, 56, 4, 3, info) > 1      # the 112 x 112 stem
    assert few_channels_rows(1, 64, 112, 112, 4, 3, info) == 1   # 14 vectors: no saving
    assert few_channels_rows(1, 64, 56, 60, 4, 3, info) == 1     # rows not whole vectors
    assert few_channels_rows(1, 4, 2, 56, 4, 3, info) == 1       # too few parallel groups


@pytest.mark.parametrize("C,W", [(8, 17), (3, 13)])
def test_other_shapes_keep_the_blocked_schedule(C, W):
    """Many channels, or output rows narrower than a vector (7 here): channel blocks."""
    x, w = te.placeholder((1, C, 9, W), name="x"), te.placeholder((8, C, 3, 3), name="w")
    out = topi.nn.conv2d_nchw(x, w, 2, 1)
    text = str(te.lower(topi.schedule(out, "native"), [x, w, out]))
    assert "data_phases" not in text and "data_blocked" in text


@pytest.mark.parametrize("target,C,H,O,R,stride,rows", [
    # measured (Zen 4, 1 thread): the rows 1.1-2x faster where the model picks them
    ("avx512", 16, 224, 16, 3, 1, True), ("avx512", 8, 112, 24, 3, 1, True),
    ("avx512", 24, 56, 24, 3, 1, True), ("avx512", 48, 56, 48, 3, 1, True),
    ("avx2", 16, 224, 16, 3, 1, True), ("avx2", 24, 56, 24, 3, 1, True),
    # the channel blocks kept: 16 x 256 (model 0.88), AVX2's small row tiles, an output
    # channel count whose only row tile is one channel (83), 1x1, more than 48 channels
    ("avx512", 16, 28, 256, 3, 1, False), ("avx2", 32, 56, 32, 3, 1, False),
    ("avx2", 16, 112, 32, 3, 2, False), ("avx512", 37, 57, 83, 3, 2, False),
    ("avx512", 16, 56, 16, 1, 1, False), ("avx512", 64, 56, 64, 3, 1, False),
])
def test_rows_are_the_vectors_where_the_channel_blocks_model_slower(monkeypatch, target, C, H,
                                                                    O, R, stride, rows):
    """The decisions measured on Zen 4: "avx512" is a native AVX-512 there (1 FMA unit at 512
    bits, 2 at 256; 32 registers also for the 8-lane vectors), whatever the host."""
    from texpr.topi import cpu as cpu_module, cpu_conv_few_channels as few
    zen4, host_info = _avx512_on({512: 1, 256: 2}), cpu_module.cpu_info

    def info_of(target="native"):
        return zen4 if target == "avx512" else host_info(target)
    monkeypatch.setattr(cpu_module, "cpu_info", info_of)
    monkeypatch.setattr(few, "cpu_info", info_of)
    P = (H + 2 * (R // 2) - R) // stride + 1
    assert rows_as_vectors(C, O, P, P, R, R, target) is rows


@settings(max_examples=10, deadline=None)
@given(C=st.integers(5, 48), O=st.sampled_from([4, 8, 12, 16, 24, 32]),
       H=st.integers(16, 40), R=st.sampled_from([3, 5]), stride=st.sampled_from([1, 2]),
       dil=st.sampled_from([1, 2]), target=st.sampled_from(["avx2", "avx512"]),
       epi=st.booleans())
def test_rows_of_more_channels_equal_the_reference(C, O, H, R, stride, dil, target, epi):
    """Convolutions of 5-48 input channels on whichever route rows_as_vectors picks (the
    rows' copy split into stride phases, channel tiles over more channels) equal NumPy's."""
    f, want = _built_conv(1, C, H, H + 3, O, R, stride, R // 2 * dil, dil, epi, target)
    P, Q = want.shape[2:]
    assert ("data_phases" in f.source) == rows_as_vectors(C, O, P, Q, R, R, target)
