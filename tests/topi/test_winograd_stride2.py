"""3x3 stride-2 convolution through Winograd F(m, 2) on the space-to-depth input
(topi.winograd.conv2d_winograd_nchw(stride=2)): the space-to-depth identity and the weight
transform against NumPy, the convolution built on the native target (cpu.schedule_winograd,
the transform reading the phases of the channel-blocked copy) against NumPy for drawn shapes,
paddings and tile sizes, and the rule that runs the input transform once (winograd_v_root)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as hs

import texpr as te
import texpr.topi as topi
from texpr.topi import cpu, models, testing as ref
from texpr.topi.winograd import (space_to_depth_kernel_ref, winograd_matrices,
                                 winograd_weight_transform_ref)

RNG = np.random.default_rng(17)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def space_to_depth_ref(xpad):
    """x'[n, (2p + q) C + c, i, j] = xpad[n, c, 2i + p, 2j + q] (even extents)."""
    N, C, H, W = xpad.shape
    return (xpad.reshape(N, C, H // 2, 2, W // 2, 2).transpose(0, 3, 5, 1, 2, 4)
            .reshape(N, 4 * C, H // 2, W // 2))


def test_stride2_is_2x2_conv_of_space_to_depth():
    a, k = rand(2, 3, 11, 9), rand(4, 3, 3, 3)
    xpad = np.pad(a, ((0, 0), (0, 0), (1, 2), (1, 2)))        # 14 x 12: even
    want = ref.conv2d_nchw_ref(a, k, 2, 1)
    got = ref.conv2d_nchw_ref(space_to_depth_ref(xpad), space_to_depth_kernel_ref(k), 1, 0)
    np.testing.assert_allclose(got[:, :, :want.shape[2], :want.shape[3]], want, rtol=1e-5,
                               atol=1e-5)


def test_f42_matrices_compute_a_2_tap_correlation():
    AT, G, BT = winograd_matrices(4, 2)
    assert AT.shape == (4, 5) and G.shape == (5, 2) and BT.shape == (5, 5)
    d, g = RNG.standard_normal(5), RNG.standard_normal(2)
    want = np.array([d[i] * g[0] + d[i + 1] * g[1] for i in range(4)])
    np.testing.assert_allclose(AT @ ((G @ g) * (BT @ d)), want, rtol=1e-12, atol=1e-12)
    with pytest.raises(te.TexprError, match="tile size"):
        winograd_matrices(5, 2)
    with pytest.raises(te.TexprError, match="kernel size"):
        winograd_matrices(4, 7)


@pytest.mark.parametrize("m", [2, 4])
def test_weight_transform_matches_numpy(m):
    k = rand(5, 3, 3, 3)
    w = te.placeholder(k.shape, name="w")
    for layout in ("OI", "IO"):
        u = topi.nn.winograd_weight_transform(w, m, layout, stride=2)
        f = te.build(te.create_schedule(u.op), [w, u], target="c")
        got = np.empty([int(d.value) for d in u.shape], "float32")
        f(k, got)
        want = winograd_weight_transform_ref(k, m, layout, stride=2)
        assert want.shape == ((m + 1, m + 1, 5, 12) if layout == "OI" else (m + 1, m + 1, 12, 5))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@settings(max_examples=8, deadline=None)
@given(N=hs.sampled_from([1, 2]), C=hs.sampled_from([3, 16, 32]), O=hs.sampled_from([5, 16]),
       H=hs.integers(4, 19), W=hs.integers(4, 19), pads=hs.tuples(*[hs.integers(0, 1)] * 4),
       m=hs.sampled_from([2, 4]), pre=hs.booleans(), relu=hs.booleans())
def test_stride2_winograd_against_numpy(N, C, O, H, W, pads, m, pre, relu):
    a, k = rand(N, C, H, W), rand(O, C, 3, 3) / np.float32(3 * np.sqrt(C))
    x = te.placeholder(a.shape, name="x")
    if pre:
        kk = winograd_weight_transform_ref(k, m, "IO", stride=2)
        w = te.placeholder(kk.shape, name="U")
        out = topi.nn.conv2d_winograd_nchw(x, w, pads, m, pre_transformed=True,
                                           weight_layout="IO", stride=2)
    else:
        kk = k
        w = te.placeholder(k.shape, name="w")
        out = topi.nn.conv2d_winograd_nchw(x, w, pads, m, stride=2)
    want = ref.conv2d_nchw_ref(a, k, 2, pads)
    if relu:
        out, want = topi.nn.relu(out), np.maximum(want, 0)
    assert tuple(int(d.value) for d in out.shape) == want.shape
    f = te.build(topi.schedule(out, "native"), [x, w, out], target="native")
    got = np.full(want.shape, np.nan, "float32")
    f(a, kk, got)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_resnet_layer_error():
    """ResNet-50's 128x56x56 -> 128 stride-2 layer: ~1e-5 of the largest output, as F(4,3)."""
    a, k = rand(1, 128, 56, 56), rand(128, 128, 3, 3) / np.float32(np.sqrt(9 * 128))
    x, U = te.placeholder(a.shape, name="x"), te.placeholder((5, 5, 512, 128), name="U")
    out = topi.nn.conv2d_winograd_nchw(x, U, 1, 4, pre_transformed=True, weight_layout="IO",
                                       stride=2)
    f = te.build(topi.schedule(out, "native"), [x, U, out], target="native")
    assert "winograd_data_blocked" in f.source
    got = np.empty((1, 128, 28, 28), "float32")
    f(a, winograd_weight_transform_ref(k, 4, "IO", stride=2), got)
    want = ref.conv2d_nchw_ref(a.astype(np.float64), k.astype(np.float64), 2, 1)
    assert np.abs(got - want).max() / np.abs(want).max() < 3e-5


def test_stride_and_shapes_are_checked():
    x = te.placeholder((1, 4, 9, 9), name="x")
    with pytest.raises(te.TexprError, match="stride"):
        topi.nn.conv2d_winograd_nchw(x, te.placeholder((4, 4, 3, 3), name="w"), 1, 4, stride=3)
    U = te.placeholder((5, 5, 4, 8), name="U")         # 4 channels: stride 2 wants 16
    with pytest.raises(te.TexprError, match="space-to-depth"):
        topi.nn.conv2d_winograd_nchw(x, U, 1, 4, pre_transformed=True, weight_layout="IO",
                                     stride=2)


def test_input_transform_once_where_chunks_or_l2_say():
    info = cpu.cpu_info("avx512")
    small = {"block_tiles": 4, "ochunks": 1}
    assert not cpu.winograd_v_root(small, 64, 5, info)
    assert cpu.winograd_v_root(dict(small, ochunks=2), 64, 5, info)      # chunks redo it
    # ResNet-50's 28x28 stride-2 layer: 49 tiles x 512 channels x 25 points = 2.5 MB
    assert cpu.winograd_v_root({"block_tiles": 49, "ochunks": 1}, 512, 5, info) == (
        25 * 49 * 512 * 4 > info.l2_bytes)


@pytest.mark.parametrize("pre", [True, False])
def test_stride2_winograd_nchwc_against_numpy(pre):
    """The NCHWc one (the ResNet-50 graph's layout): 32 channels in blocks of 16, 13x13 in
    (7x7 out: F(4,2)'s tiles pad it to 8), bias + relu as the graph fuses them."""
    from texpr.topi.winograd import winograd_weight_transform_NCHWc_ref
    a, k, bias = rand(1, 32, 13, 13), rand(16, 32, 3, 3) / np.float32(17), rand(16)
    kn = ref.pack_kernel_nchwc_ref(k, 16, 16)
    x = te.placeholder((1, 2, 13, 13, 16), name="x")
    b = te.placeholder((1, 1, 1, 1, 16), name="b")
    if pre:
        kk = winograd_weight_transform_NCHWc_ref(kn, 4, stride=2)
        assert kk.shape == (5, 5, 1, 128, 16)
    else:
        kk = kn
    w = te.placeholder(kk.shape, name="w")
    out = topi.nn.relu(topi.nn.add(
        topi.nn.conv2d_winograd_NCHWc(x, w, 1, 4, pre_transformed=pre, stride=2), b))
    f = te.build(topi.schedule(out, "native"), [x, w, b, out], target="native")
    got = np.full((1, 1, 7, 7, 16), np.nan, "float32")
    f(ref.nchw_to_nchwc_ref(a, 16), kk, bias.reshape(1, 1, 1, 1, 16), got)
    want = np.maximum(ref.conv2d_nchw_ref(a, k, 2, 1) + bias.reshape(1, -1, 1, 1), 0)
    np.testing.assert_allclose(got, ref.nchw_to_nchwc_ref(want, 16), rtol=1e-4,
                               atol=1e-4 * np.abs(want).max())


def test_resnet_builder_picks_the_rule_at_28x28():
    from texpr.topi.cpu_conv3x3 import conv3x3_s2_algorithm
    b = models.ResNet50Builder.__new__(models.ResNet50Builder)
    b.winograd, b.target, b.choice = "model", "native", {}
    for C, H in ((128, 56), (256, 28)):
        xshape = (1, C // 16, H, H, 16)
        assert b._algorithm(xshape, C, 3, 2, 1, None, None, 16) == conv3x3_s2_algorithm(
            1, C, H, H, C, "native")
    assert b._algorithm((1, 8, 56, 56, 16), 128, 3, 2, 1, None, None, 16) in ("direct", "wino4s2")
    b.winograd = "none"
    assert b._algorithm((1, 8, 56, 56, 16), 128, 3, 2, 1, None, None, 16) == "direct"
