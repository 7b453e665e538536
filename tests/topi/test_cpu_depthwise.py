"""depthwise_conv2d_nchw on the vector CPU targets (topi/cpu.py): tiles of rows x vectors of
output columns, a padded or strided input read through a copy of a band of rows split into
column phases (made in the band's loop)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as hs

import texpr as te
import texpr.topi as topi
from texpr.topi import testing as ref
from texpr.topi.cpu import cpu_info, depthwise_row_tile, depthwise_rows, row_vector_info
from texpr.topi.nn import _out_size

RNG = np.random.default_rng(11)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


@pytest.mark.parametrize("C,M,H,W,stride,pad,dil,epi", [
    # stride 2 over an odd width (a partial vector tile, the phases one short), bias + relu
    (3, 1, 23, 37, 2, 1, 1, "bias_relu"),
    # channel multiplier 2, dilation 2, stride 1, rows the band does not divide
    (2, 2, 13, 20, 1, 2, 2, None),
])
def test_depthwise_against_numpy(C, M, H, W, stride, pad, dil, epi):
    a, k, bb = rand(1, C, H, W), rand(C, M, 3, 3), rand(C * M)
    x, w, b = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w"), \
        te.placeholder((C * M,), name="b")
    out = topi.nn.depthwise_conv2d_nchw(x, w, stride, pad, dil)
    ins, arrs = [x, w], [a, k]
    want = ref.depthwise_conv2d_nchw_ref(a, k, stride, pad, dil)
    if epi:
        out = topi.nn.relu(topi.nn.bias_add(out, b))
        ins, arrs = ins + [b], arrs + [bb]
        want = np.maximum(want + bb.reshape(1, -1, 1, 1), 0)
    f = te.build(topi.schedule(out, "native"), ins + [out], target="native")
    assert "data_phases" in f.source
    got = np.full(want.shape, np.nan, "float32")
    f(*arrs, got)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("target", ["native", "avx512", "neon"])
def test_tile_comes_from_the_target(target):
    info = cpu_info(target)
    for P, Q in ((112, 112), (56, 56), (14, 14), (9, 19)):
        width = depthwise_row_tile(Q, info.lanes)
        rows = depthwise_rows(P, width // info.lanes, info)
        assert width % info.lanes == 0 and width <= 4 * info.lanes
        assert rows * width // info.lanes <= info.accumulators
        assert rows <= P


@settings(max_examples=12, deadline=None)
@given(C=hs.sampled_from([1, 3]), H=hs.integers(5, 17), W=hs.integers(5, 29),
       R=hs.sampled_from([3, 5, 7]), stride=hs.sampled_from([1, 2, 3]),
       pad=hs.lists(hs.integers(0, 3), min_size=4, max_size=4), dil=hs.sampled_from([1, 2]),
       target=hs.sampled_from(["native", "avx2"]))
def test_depthwise_any_stride_padding_dilation(C, H, W, R, stride, pad, dil, target):
    """Odd widths (the last tile computed past the row over the zero-extended phase copy,
    stored in part), strides, uneven padding, dilation, kernels of 5 and 7 rows (unrolled
    inside the columns: depthwise_stationary_tile): equal to NumPy, no output left out."""
    reach = (R - 1) * dil + 1
    if H + pad[0] + pad[2] < reach or W + pad[1] + pad[3] < reach:
        return
    a, k = rand(1, C, H, W), rand(C, 1, R, R)
    x, w = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w")
    out = topi.nn.depthwise_conv2d_nchw(x, w, stride, pad, dil)
    f = te.build(topi.schedule(out, target), [x, w, out], target=target)
    want = ref.depthwise_conv2d_nchw_ref(a, k, stride, pad, dil)
    got = np.full(want.shape, np.nan, "float32")
    f(a, k, got)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_last_tile_runs_whole_vectors(target):
    """A row of lanes + 6 outputs (stride 2; 14 on AVX2, 22 on AVX-512): the accumulators of
    its last tile run over a whole vector (the copy of the input is zero past its last
    column), only the stores of that tile are 6 lanes: a loop of 6 (AVX2) or a vector store
    under a mask of 6 lanes (AVX-512, of the row's vectors: 8 or 16 lanes, row_vector_info)."""
    info = cpu_info(target)
    Q = info.lanes + 6
    lanes = row_vector_info(Q, info).lanes
    assert Q % lanes == 6
    x, w = te.placeholder((1, 4, 2 * Q, 2 * Q), name="x"), te.placeholder((4, 1, 3, 3), name="w")
    out = topi.nn.depthwise_conv2d_nchw(x, w, 2, 1)
    assert _out_size(2 * Q, 3, 2, 1, 1, 1) == Q
    lines = [ln.strip() for ln in str(te.lower(topi.schedule(out, target), [x, w, out],
                                               target=target)).splitlines()]
    acc = [ln for ln in lines if ln.startswith("depthwise_conv2d_nchw.local")]
    assert acc and all(ln.startswith("depthwise_conv2d_nchw.local[ramp(") or
                       ln.startswith("depthwise_conv2d_nchw.local_r") for ln in acc)
    # lanes lanes..Q-1 of the last vector stored: 6 of them
    masked = f"predicate=ramp({Q - 6}, 1, {lanes}) < x{lanes}({Q})"
    assert any("(x.inner, 0, 6)" in ln or masked in ln for ln in lines)
    assert all(masked in ln for ln in lines if "predicate=" in ln)


class _Host:
    """A host whose FMA units per vector width are given: {bits: units}."""

    def __init__(self, units):
        self.units = units

    def fma_units(self, bits):
        return self.units[bits]


def _avx512_info(units):
    info = cpu_info("avx512")
    info._host = _Host(units)
    info.fma_units = units[512]
    return info


@pytest.mark.parametrize("Q", [112, 56, 28, 14, 7, 22, 3])
def test_row_vectors_follow_the_fma_units(Q):
    """row_vector_info: Zen 4-like units (one 512-bit FMA a cycle, two 256-bit ones) do as
    many lanes a cycle either way, so 8-lane vectors (less waste at the row's end); with
    two 512-bit units (Zen 5-like) 16-lane vectors unless the row wastes half their lanes."""
    zen4 = row_vector_info(Q, _avx512_info({512: 1, 256: 2}))
    assert (zen4.lanes, zen4.vector_bits, zen4.fma_units) == (8, 256, 2)
    zen5 = row_vector_info(Q, _avx512_info({512: 2, 256: 2}))
    waste16, waste8 = -Q % 16, -Q % 8
    want = 16 if 16 * Q / (Q + waste16) > 8 * Q / (Q + waste8) else 8
    assert zen5.lanes == want
    assert zen5.fma_units == 2


def test_narrow_vectors_are_ones_the_emitter_has():
    assert cpu_info("avx512").narrow().lanes == 8
    assert cpu_info("avx2").narrow() is None and cpu_info("neon").narrow() is None


@pytest.mark.parametrize("target", ["avx512"])
def test_eight_lane_rows_inside_avx512_against_numpy(target):
    """Depthwise rows of 8-lane vectors inside avx512 (forced by a Zen 4-like host): a row of
    22 outputs ends in a masked 256-bit store; equal to NumPy."""
    import texpr.topi.cpu as cpu
    real = cpu.cpu_info

    def zen4(t):
        info = real(t)
        if info.lanes == 16:
            info._host, info.fma_units = _Host({512: 1, 256: 2}), 1
        return info
    a, k = rand(1, 3, 44, 44), rand(3, 1, 3, 3)
    x, w = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w")
    out = topi.nn.depthwise_conv2d_nchw(x, w, 2, 1)
    cpu.cpu_info = zen4
    try:
        f = te.build(topi.schedule(out, target), [x, w, out], target=target)
    finally:
        cpu.cpu_info = real
    assert "_mm256_mask_storeu_ps" in f.source and "_mm512_fmadd_ps" not in f.source
    want = ref.depthwise_conv2d_nchw_ref(a, k, 2, 1, 1)
    got = np.full(want.shape, np.nan, "float32")
    f(a, k, got)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("target", ["avx2", "avx512"])
@pytest.mark.parametrize("C,H,stride,pad,R,whole", [
    (4, 32, 2, 1, 3, True),     # 3x3/2: the input's column 0 at lane 1 of phase 0 unshifted
    (4, 32, 1, 1, 3, True),     # 3x3/1: at lane 1 of the one phase
    (3, 28, 2, 1, 3, False),    # phases of 14 columns: one vector of each holds both
    (2, 30, 2, 2, 5, False),
    (2, 14, 1, 2, 5, False),    # kept unshifted (the shift would split the row's end)
])
def test_phase_copy_borders_are_whole_vectors(target, C, H, stride, pad, R, whole):
    """The band's copy of a zero-padded input starts each phase's input at a vector
    (cpu_conv_few_channels.phase_offset: zero columns added left of the padding) where that
    leaves no vector holding both padding and input: the copy is then whole vector loads
    and zero stores, none made lane by lane; equal to NumPy either way."""
    a, k = rand(1, C, H, H), rand(C, 1, R, R)
    x, w = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w")
    out = topi.nn.depthwise_conv2d_nchw(x, w, stride, pad)
    s = topi.schedule(out, target)
    text = str(te.lower(s, [x, w, out], target=target))
    assert "data_phases" in text
    if whole:
        assert "_lane" not in text
    f = te.build(topi.schedule(out, target), [x, w, out], target=target)
    want = ref.depthwise_conv2d_nchw_ref(a, k, stride, pad, 1)
    got = np.full(want.shape, np.nan, "float32")
    f(a, k, got)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_tall_kernels_take_the_tile_of_fewest_loads(target):
    """7x7 over 28 x 28 rows: one vector a row and as many rows as the registers hold beside
    the column's 7 weights (AVX-512's 8-lane vectors, 32 registers: 14 rows; AVX2's 16, and
    AVX-512's through SIMDe: 7)."""
    from texpr.topi.cpu import depthwise_stationary_tile
    info = row_vector_info(28, cpu_info(target))
    rows, width = depthwise_stationary_tile(28, 28, 7, 1, 1, info)
    assert (rows, width) == ((14, 8) if info.nregs >= 32 else (7, 8))
    for P, Q, R, stride in ((56, 56, 7, 1), (14, 14, 5, 1), (17, 17, 5, 2), (9, 30, 11, 1)):
        info = row_vector_info(Q, cpu_info(target))
        rows, width = depthwise_stationary_tile(P, Q, R, stride, 1, info)
        nv = width // info.lanes
        assert rows * nv + R + nv + 1 <= info.nregs and rows <= P
    assert depthwise_stationary_tile(20, 20, 31, 1, 1, cpu_info("avx2")) == (1, 8)
