"""topi on target "hvx": the registered HVX schedules of the integer and quantised operators,
run under qemu-hexagon and compared with topi.testing exactly."""
import shutil

import numpy as np
import pytest

import texpr as te
import texpr.topi as topi
from texpr.errors import TexprError
from texpr.targets.hexagon.harness import HEXAGON_LINUX

_missing = [t for t in ("clang", "ld.lld", "qemu-hexagon") if shutil.which(t) is None]
if _missing:
    pytest.skip(f"{', '.join(_missing)} not installed ({HEXAGON_LINUX.install})",
                allow_module_level=True)


def ints(dtype, shape, seed, lo=None, hi=None):
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(info.min if lo is None else lo,
                                                info.max if hi is None else hi, shape,
                                                dtype=dtype, endpoint=True)


def run(outs, ins, arrays, name):
    s = topi.schedule(outs, target="hvx")
    f = te.build(s, ins + [outs], target="hvx", name=name)
    out = np.zeros(tuple(int(d.value) for d in outs.shape), outs.dtype)
    f(*arrays, out)
    return f, out


# ----------------------------------------------------------------------------- quantised depthwise

REQ = dict(x_zp=7, w_zp=120, multiplier=1518500250, shift=6, out_zp=30)


@pytest.mark.parametrize("shape,tensorized", [((1, 3, 5, 64), True), ((2, 2, 4, 128), True),
                                               ((1, 3, 6, 13), False)])
def test_quantised_depthwise_matches_numpy_requantisation(shape, tensorized):
    N, C, H, W = shape
    X = te.placeholder(shape, "uint8", "X")
    K = te.placeholder((C, 1, 3, 3), "uint8", "K")
    B = te.placeholder((C,), "int32", "B")
    O = topi.qnn.depthwise_conv2d_nchw_u8(X, K, B, padding=1, **REQ)
    x, k = ints("uint8", shape, 1), ints("uint8", (C, 1, 3, 3), 2)
    b = ints("int32", (C,), 3, -4000, 4000)
    f, o = run(O, [X, K, B], [x, k, b], "dw_u8")
    assert ("depthwise3x3_u8" in f.source and "requantize_u8" in f.source) == tensorized
    want = topi.testing.depthwise_conv2d_nchw_u8_ref(x, k, b, padding=1, **REQ)
    assert len(np.unique(want)) > 10          # the requantisation spans many output values
    np.testing.assert_array_equal(o, want)


def test_requantize_reference_is_gemmlowp_rounding():
    acc = np.array([0, 1, -1, 1000, -1000, 2 ** 31 - 1, -2 ** 31, 123456], np.int32)
    m, shift = 1 << 30, 1                     # x * 0.5, rounded half up, then / 2 rounded
    got = topi.testing.requantize_ref(acc, m, shift, 3)
    half = [(int(a) + 1) // 2 for a in acc]    # (2 a 2^30 + 2^31) >> 32 = floor((a + 1) / 2)
    want = [min(max((t + 1) // 2 + 3, 0), 255) for t in half]
    np.testing.assert_array_equal(got, np.array(want, np.uint8))


def test_quantised_bad_parameters_raise():
    X = te.placeholder((1, 2, 4, 32), "uint8", "X")
    K = te.placeholder((2, 1, 3, 3), "uint8", "K")
    B = te.placeholder((2,), "int32", "B")
    with pytest.raises(TexprError, match="multiplier"):
        topi.qnn.depthwise_conv2d_nchw_u8(X, K, B, **dict(REQ, multiplier=0))
    with pytest.raises(TexprError, match="shift"):
        topi.qnn.depthwise_conv2d_nchw_u8(X, K, B, **dict(REQ, shift=40))
    with pytest.raises(TexprError, match="x_zp"):
        topi.qnn.depthwise_conv2d_nchw_u8(X, K, B, **dict(REQ, x_zp=300))
    with pytest.raises(TexprError, match="kernel"):
        topi.qnn.depthwise_conv2d_nchw_u8(X, te.placeholder((2, 1, 5, 5), "uint8", "K5"), B, **REQ)
    with pytest.raises(TexprError, match="uint8"):
        topi.qnn.depthwise_conv2d_nchw_u8(te.placeholder((1, 2, 4, 32), "int8", "Xs"), K, B, **REQ)


# ----------------------------------------------------------------------------- int8 dense

@pytest.mark.parametrize("a_dtype,lanes,M", [("int8", 32, 3), ("uint8", 64, 8)])
def test_dense_int8_vrmpy_tensorized(a_dtype, lanes, M):
    N, K = 128, 96
    A = te.placeholder((M, K), a_dtype, "A")
    WP = te.placeholder((N // lanes, K // 4, lanes, 4), "int8", "WP")
    C = topi.qnn.dense_int8_packed(A, WP)
    a, w = ints(a_dtype, (M, K), 4), ints("int8", (N, K), 5)
    wp = topi.testing.pack_dense_int8_weight_ref(w, lanes)
    f, c = run(C, [A, WP], [a, wp], "dense_i8")
    assert "vrmpyacc" in f.source
    assert ("acc3_0" in f.source) == (M % 4 == 0)      # 4 rows share each weight vector
    np.testing.assert_array_equal(c, a.astype(np.int64) @ w.astype(np.int64).T)
    np.testing.assert_array_equal(c, topi.testing.dense_int8_packed_ref(a, wp))


def test_dense_int8_plain_layout():
    A = te.placeholder((2, 40), "int8", "A")
    W = te.placeholder((70, 40), "int8", "W")
    C = topi.nn.dense(A, W)
    a, w = ints("int8", (2, 40), 6), ints("int8", (70, 40), 7)
    f, c = run(C, [A, W], [a, w], "dense_plain")
    assert "Q6_" in f.source
    np.testing.assert_array_equal(c, topi.testing.dense_ref(a, w, out_dtype="int32"))


# ----------------------------------------------------------------------------- convolutions

def test_conv2d_nchw_int8_direct():
    X = te.placeholder((1, 3, 7, 37), "int8", "X")
    K = te.placeholder((4, 3, 3, 3), "int8", "K")
    O = topi.nn.conv2d_nchw(X, K, 1, 1)
    x, k = ints("int8", (1, 3, 7, 37), 8), ints("int8", (4, 3, 3, 3), 9)
    f, o = run(O, [X, K], [x, k], "conv_i8")
    assert "Q6_" in f.source
    np.testing.assert_array_equal(o, topi.testing.conv2d_nchw_ref(x, k, 1, 1, out_dtype="int32"))


@pytest.mark.parametrize("oc", [32, 128])      # one HVX vector of int32 sums, and four
def test_conv2d_NCHWc_int8_blocks(oc):
    ic = 4
    X = te.placeholder((1, 2, 5, 5, ic), "int8", "X")
    K = te.placeholder((1, 2, 3, 3, ic, oc), "int8", "K")
    O = topi.nn.conv2d_NCHWc(X, K, 1, 1)
    x, k = ints("int8", (1, 2, 5, 5, ic), 10), ints("int8", (1, 2, 3, 3, ic, oc), 11)
    f, o = run(O, [X, K], [x, k], f"conv_nchwc{oc}")
    assert "Q6_Vw_vadd_VwVw" in f.source
    np.testing.assert_array_equal(o, topi.testing.conv2d_NCHWc_ref(x, k, 1, 1, out_dtype="int32"))


def test_depthwise_int16_and_pooling_uint8():
    X = te.placeholder((1, 2, 6, 45), "int16", "X")
    K = te.placeholder((2, 1, 3, 3), "int16", "K")
    O = topi.nn.depthwise_conv2d_nchw(X, K, 1, 1)
    x, k = ints("int16", (1, 2, 6, 45), 12, -300, 300), ints("int16", (2, 1, 3, 3), 13, -300, 300)
    f, o = run(O, [X, K], [x, k], "dw_i16")
    np.testing.assert_array_equal(
        o, topi.testing.depthwise_conv2d_nchw_ref(x, k, 1, 1, out_dtype="int32"))

    P = te.placeholder((1, 3, 9, 300), "uint8", "P")
    M = topi.nn.pool2d(P, 3, 2, 0, pool_type="max")          # stride 2: gathered lanes
    p = ints("uint8", (1, 3, 9, 300), 14)
    f, m = run(M, [P], [p], "maxpool_u8")
    assert "Q6_Vub_vmax_VubVub" in f.source
    np.testing.assert_array_equal(m, topi.testing.pool2d_ref(p, 3, 2, 0, "max"))


def test_elementwise_int8_relu_add():
    A = te.placeholder((3, 200), "int8", "A")
    B = te.placeholder((3, 200), "int8", "B")
    O = topi.nn.relu(topi.nn.add(A, B))
    a, b = ints("int8", (3, 200), 15), ints("int8", (3, 200), 16)
    f, o = run(O, [A, B], [a, b], "relu_add")
    assert "Q6_Vb_vmax_VbVb" in f.source and "Q6_Vb_vadd_VbVb" in f.source
    np.testing.assert_array_equal(o, np.maximum(a + b, 0))
