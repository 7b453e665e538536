"""Graph.conv2d's algorithms (topi/graph.py, cpu_conv3x3.conv2d_algorithm): each Winograd
form and the Winograd stem, forced or chosen by the host's cost model, equals a float64 NumPy
convolution with the bias + relu epilogue; the weight is transformed once, when the graph is
built; an algorithm that does not apply to the layer is refused with what it needs. The
"IOo" weight layout of conv2d_winograd_nchw (panels of output channels) is checked against
the "IO" one, and its bad uses; a dilated 3x3 convolution through Winograd on its phases,
and 5x5 ones through F(2,5) / F(4,5), equal NumPy on hypothesis-drawn shapes and paddings."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as hs

import texpr as te
import texpr.topi as topi
from texpr.errors import TexprError
from texpr.topi import cpu
from texpr.topi.cpu_conv3x3 import conv2d_algorithm
from texpr.topi.graph import Graph, GraphError, KernelCache
from texpr.topi.testing import conv2d_nchw_ref
from texpr.topi.winograd import winograd_weight_transform_ref

KERNELS = KernelCache()         # layers of equal shapes build once across the tests


def _layer(C, H, O, R, stride, pad, algorithm, seed=0, bias=True, dilation=1):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((1, C, H, H)).astype(np.float32)
    k = (rng.standard_normal((O, C, R, R)) / np.sqrt(C * R * R)).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32) if bias else None
    g = Graph("net", kernels=KERNELS)
    x = g.input("x", a.shape)
    y = g.conv2d(x, k, stride, pad, dilation, bias=b, activation="relu", name="c",
                 algorithm=algorithm)
    want = conv2d_nchw_ref(a.astype(np.float64), k.astype(np.float64), stride, pad, dilation)
    if bias:
        want = want + b[None, :, None, None]
    want = np.maximum(want, 0)
    got, = g.compile([y])(a)
    err = np.abs(got - want).max() / np.abs(want).max()
    return g, err


@pytest.mark.parametrize("algorithm, layer, tol", [
    ("wino2", (16, 9, 24, 3, 1, 1), 1e-5), ("wino4", (16, 11, 32, 3, 1, 1), 2e-5),
    ("wino5", (8, 14, 16, 3, 1, 0), 2e-5), ("wino6", (8, 13, 16, 3, 1, 1), 1e-4),
    ("wino4s2", (16, 17, 32, 3, 2, 1), 2e-5), ("stemw", (3, 30, 16, 7, 2, 3), 1e-5),
    ("wino2", (16, 12, 24, 5, 1, 2), 2e-5), ("wino4", (8, 15, 16, 5, 1, 2), 2e-4),
    ("direct", (16, 9, 24, 3, 1, 1), 1e-6)])
def test_each_algorithm_equals_numpy(algorithm, layer, tol):
    g, err = _layer(*layer, algorithm)
    assert err < tol, (algorithm, layer, err)
    names = {v.name for v in g.values if v.kind == "constant"}
    if algorithm not in ("direct",):
        assert "c_" + algorithm in names     # the transformed weight, made once at build


@settings(max_examples=6, deadline=None)
@given(C=hs.sampled_from([3, 8, 19]), H=hs.integers(6, 20), O=hs.sampled_from([8, 16, 21]),
       pad=hs.integers(0, 1), bias=hs.booleans(), seed=hs.integers(0, 2 ** 16))
def test_auto_3x3_equals_numpy(C, H, O, pad, bias, seed):
    """The cost model's choice (Winograd or direct; odd channel counts: the "IO" layout or
    masked columns) equals NumPy."""
    _, err = _layer(C, H, O, 3, 1, pad, "auto", seed, bias)
    assert err < 1e-4


def _check_winograd_nchw(C, H, W, O, R, d, pads, m, layout, relu, seed, tol):
    """conv2d_winograd_nchw of an R x R kernel, dilation d, against float64 NumPy: the weight
    pre-transformed in `layout` (None: transformed in the kernel)."""
    P, Q = H + pads[0] + pads[2] - (R - 1) * d, W + pads[1] + pads[3] - (R - 1) * d
    assume(P >= 1 and Q >= 1)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((1, C, H, W)).astype(np.float32)
    k = (rng.standard_normal((O, C, R, R)) / np.sqrt(R * R * C)).astype(np.float32)
    oc = cpu.winograd_weight_block(O) if layout == "IOo" else None
    if layout == "IOo" and oc is None:
        layout = "IO"
    kk = k if layout is None else winograd_weight_transform_ref(k, m, layout, oc=oc)
    x, w = te.placeholder(a.shape, name="x"), te.placeholder(kk.shape, name="w")
    out = topi.nn.conv2d_winograd_nchw(x, w, pads, m, pre_transformed=layout is not None,
                                       weight_layout=layout or "OI", dilation=d,
                                       kernel_size=R if layout else None)
    want = conv2d_nchw_ref(a.astype(np.float64), k.astype(np.float64), 1, pads, d)
    if relu:
        out, want = topi.nn.relu(out), np.maximum(want, 0)
    assert tuple(int(v.value) for v in out.shape) == want.shape
    f = te.build(topi.schedule(out, "native"), [x, w, out], target="native")
    got = np.full(want.shape, np.nan, np.float32)
    f(a, kk, got)
    assert np.abs(got - want).max() <= tol * max(1.0, np.abs(want).max())


@settings(max_examples=4, deadline=None)
@given(C=hs.sampled_from([4, 16]), H=hs.integers(7, 23), W=hs.integers(7, 23),
       O=hs.sampled_from([8, 13]), d=hs.integers(2, 3), pads=hs.tuples(*[hs.integers(0, 3)] * 4),
       m=hs.sampled_from([2, 4]), layout=hs.sampled_from(["IOo", "IO", None]),
       relu=hs.booleans(), seed=hs.integers(0, 2 ** 16))
def test_dilated_winograd_equals_numpy(C, H, W, O, d, pads, m, layout, relu, seed):
    """A dilated 3x3 convolution through Winograd on its d x d phases (pre-transformed in
    either layout, or transformed in the kernel; odd sizes: phases of unequal sizes) equals
    NumPy, with and without an epilogue fused into the interleaving pass."""
    _check_winograd_nchw(C, H, W, O, 3, d, pads, m, layout, relu, seed, 2e-5)


@settings(max_examples=3, deadline=None)     # an F(4,5) kernel takes ~7 s to compile
@given(C=hs.sampled_from([3, 16]), H=hs.integers(5, 21), W=hs.integers(5, 21),
       O=hs.sampled_from([8, 11]), d=hs.integers(1, 2), pads=hs.tuples(*[hs.integers(0, 2)] * 4),
       m=hs.sampled_from([2, 4]), layout=hs.sampled_from(["IO", None]),
       seed=hs.integers(0, 2 ** 16))
def test_5x5_winograd_equals_numpy(C, H, W, O, d, pads, m, layout, seed):
    """F(2,5) and F(4,5) (pre-transformed with kernel_size=5, or transformed in the kernel),
    dilated or not, equal NumPy (F(4,5): the points of F(6,3), its tolerance)."""
    _check_winograd_nchw(C, H, W, O, 5, d, pads, m, layout, False, seed,
                         2e-5 if m == 2 else 2e-4)


def test_5x5_winograd_refuses_what_it_does_not_do():
    x = te.placeholder((1, 8, 16, 16), name="x")
    with pytest.raises(TexprError, match=r"5x5 ones \(stride 1\), got 5x5 of stride 2"):
        topi.nn.conv2d_winograd_nchw(x, te.placeholder((8, 8, 5, 5), name="w"), 2, 2, stride=2)
    with pytest.raises(TexprError, match=r"got 7x7 of stride 1"):
        topi.nn.conv2d_winograd_nchw(x, te.placeholder((8, 8, 7, 7), name="w"), 3, 2)
    with pytest.raises(TexprError, match=r"tile size must be one of \(2, 4\) for F\(m,5\)"):
        topi.nn.conv2d_winograd_nchw(x, te.placeholder((8, 8, 5, 5), name="w"), 2, 5)
    with pytest.raises(TexprError, match="kernel_size 3 but the kernel is 5x5"):
        topi.nn.conv2d_winograd_nchw(x, te.placeholder((8, 8, 5, 5), name="w"), 2, 2,
                                     kernel_size=3)


def test_dilated_winograd_layer_in_a_graph():
    """DeepLab-like 64 x 28 x 28, dilation 2 (padding 2): Graph.conv2d's Winograd on the
    phases equals NumPy."""
    _, err = _layer(64, 28, 64, 3, 1, 2, "wino4", dilation=2)
    assert err < 2e-5


def test_auto_follows_the_cost_model():
    g = Graph("net", kernels=KERNELS)
    x = g.input("x", (1, 64, 56, 56))
    w = np.zeros((64, 64, 3, 3), np.float32)
    g.conv2d(x, w, 1, 1, name="c")
    want = conv2d_algorithm(1, 64, 56, 56, 64, 3, 1, 1)
    names = {v.name for v in g.values if v.kind == "constant"}
    assert ("c_" + want if want != "direct" else "c_w_blocks") in names
    # a dilated layer: the model on its phases; unequal strides and the C target: direct
    g.conv2d(x, w, 1, 2, dilation=2, name="c2")
    want = conv2d_algorithm(1, 64, 56, 56, 64, 3, 1, 2, 2)
    assert want == conv2d_algorithm(4, 64, 56, 56, 64, 3, 1, 1)    # 4 phases of 28x28
    names = {v.name for v in g.values if v.kind == "constant"}
    assert ("c2_" + want if want != "direct" else "c2_w_blocks") in names
    g.conv2d(x, w, (1, 2), 1, name="c3")
    g.conv2d(x, w, 1, 1, name="c4", target="c")
    names = {v.name for v in g.values if v.kind == "constant"}
    assert {"c3_w_blocks", "c4_w"} <= names and not any(
        n.startswith(("c3_wino", "c4_wino")) for n in names)


def test_algorithms_that_do_not_apply_are_refused():
    g = Graph("net", kernels=KERNELS)
    x = g.input("x", (1, 16, 12, 12))
    w3, w5 = np.zeros((16, 16, 3, 3), np.float32), np.zeros((16, 16, 5, 5), np.float32)
    with pytest.raises(GraphError, match=r"algorithm must be 'auto', 'direct' or one of "
                                         r"wino2, .*got 'winograd'"):
        g.conv2d(x, w3, 1, 1, algorithm="winograd")
    with pytest.raises(GraphError, match=r"'wino5' is for 3x3 kernels of stride 1 .* got a "
                                         r"5x5 kernel"):
        g.conv2d(x, w5, 1, 2, algorithm="wino5")
    with pytest.raises(GraphError, match=r"'wino4' is for 3x3 or 5x5 kernels of stride 1 .* "
                                         r"got a 7x7 kernel"):
        g.conv2d(x, np.zeros((16, 16, 7, 7), np.float32), 1, 3, algorithm="wino4")
    with pytest.raises(GraphError, match=r"'wino4s2' is for 3x3 kernels of stride 2, "
                                         r"padding 1 .* padding 0"):
        g.conv2d(x, w3, 2, 0, algorithm="wino4s2")
    with pytest.raises(GraphError, match=r"'wino4s2' .* no dilation.* dilation 2"):
        g.conv2d(x, w3, 2, 1, dilation=2, algorithm="wino4s2")
    with pytest.raises(GraphError, match=r"'stemw' .* at most 4 input channels"):
        g.conv2d(x, np.zeros((16, 16, 7, 7), np.float32), 2, 3, algorithm="stemw")


@pytest.mark.parametrize("target", ["native", "avx2"])
def test_winograd_weight_in_output_channel_panels(target):
    """conv2d_winograd_nchw on an "IOo" weight equals NumPy and reads its panels whole
    (the prefetching GEMM tile of the packed layout)."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal((1, 32, 14, 14)).astype(np.float32)
    k = (rng.standard_normal((64, 32, 3, 3)) / 17).astype(np.float32)
    oc = cpu.winograd_weight_block(64, target)
    u = winograd_weight_transform_ref(k, 4, "IOo", oc=oc)
    np.testing.assert_array_equal(u, winograd_weight_transform_ref(k, 4, "IO").reshape(
        6, 6, 32, 64 // oc, oc).transpose(0, 1, 3, 2, 4))
    x, U = te.placeholder(a.shape, name="x"), te.placeholder(u.shape, name="U")
    out = topi.nn.conv2d_winograd_nchw(x, U, 1, 4, pre_transformed=True, weight_layout="IOo")
    f = te.build(topi.schedule(out, target), [x, U, out], target=target)
    got = np.full((1, 64, 14, 14), np.nan, np.float32)
    f(a, u, got)
    want = conv2d_nchw_ref(a.astype(np.float64), k.astype(np.float64), 1, 1)
    assert np.abs(got - want).max() / np.abs(want).max() < 2e-5
    assert "_pf" in f.source                # gemm_fp32(prefetch_rows=...): the next panel


def test_winograd_weight_panels_bad_uses():
    x = te.placeholder((1, 8, 8, 8), name="x")
    with pytest.raises(TexprError, match="'IOo' is for a pre-transformed kernel"):
        topi.nn.conv2d_winograd_nchw(x, te.placeholder((8, 8, 3, 3), name="w"), 1, 4,
                                     weight_layout="IOo")
    with pytest.raises(TexprError, match=r"\[alpha, alpha, O/oc, I, oc\]"):
        topi.nn.conv2d_winograd_nchw(x, te.placeholder((6, 6, 8, 8), name="U"), 1, 4,
                                     pre_transformed=True, weight_layout="IOo")
    with pytest.raises(TexprError, match="weight_layout must be 'OI', 'IO' or 'IOo'"):
        topi.nn.conv2d_winograd_nchw(x, te.placeholder((6, 6, 8, 8), name="U"), 1, 4,
                                     pre_transformed=True, weight_layout="OIo")
    with pytest.raises(TexprError, match="a block oc that divides the 8 output channels"):
        winograd_weight_transform_ref(np.zeros((8, 8, 3, 3), np.float32), 4, "IOo", oc=3)
    with pytest.raises(TexprError, match="dilation must be a positive int, with stride 1"):
        topi.nn.conv2d_winograd_nchw(x, te.placeholder((8, 8, 3, 3), name="w"), 1, 4,
                                     stride=2, dilation=2)
    with pytest.raises(TexprError, match="layout 'OI', 'IO' or 'IOo'"):
        winograd_weight_transform_ref(np.zeros((8, 8, 3, 3), np.float32), 4, "IOx")
