"""The space-to-depth Winograd stem (topi/stem_winograd.py, schedule cpu_conv_stem.py): NCHW
and NCHWc outputs equal a float64 NumPy convolution on hypothesis-drawn small images (odd
sizes: partial tiles, the padding on every side), with a fused bias + relu epilogue; the
weight transform is checked on its own; the cost model picks it for ResNet-50's stem and not
for what it does not apply to; a ResNet-50 graph with the stem on it equals NumPy."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as hs

import texpr as te
import texpr.topi as topi
from texpr.errors import TexprError
from texpr.topi import models
from texpr.topi.cpu_conv_stem import stem_algorithm
from texpr.topi.stem_winograd import conv2d_stem_winograd, stem_weight_transform_ref
from texpr.topi.testing import conv2d_nchw_ref

_KERNELS = {}


def _kernel(shape, C, O, layout, oc, target, epilogue=True):
    key = (shape, O, layout, oc, target, epilogue)
    if key not in _KERNELS:
        x = te.placeholder(shape, name="x")
        U = te.placeholder((7, 16 * C, O), name="U")
        b = te.placeholder((O,) if layout == "NCHW" else (O // oc, 1, 1, oc), name="b")
        y = conv2d_stem_winograd(x, U, 3, layout, oc=oc)
        if epilogue:
            y = topi.nn.relu(topi.add(y, topi.reshape(b, (O, 1, 1)) if layout == "NCHW" else b))
        _KERNELS[key] = te.build(topi.schedule(y, target), [x, U, b, y] if epilogue else
                                 [x, U, y], target=target, name="stemw")
    return _KERNELS[key]


def _check(N, C, H, W, O, layout, target, seed, epilogue=True):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((N, C, H, W)).astype(np.float32)
    k = (rng.standard_normal((O, C, 7, 7)) / np.sqrt(C * 49)).astype(np.float32)
    bias = rng.standard_normal(O).astype(np.float32)
    want = conv2d_nchw_ref(a.astype(np.float64), k.astype(np.float64), 2, 3)
    if epilogue:
        want = np.maximum(want + bias[None, :, None, None], 0)
    oc = 16 if layout == "NCHWc" else None
    if layout == "NCHWc":
        xa = np.ascontiguousarray(a.transpose(0, 2, 3, 1)[:, None])
        b = np.ascontiguousarray(bias.reshape(O // oc, 1, 1, oc))
    else:
        xa, b = a, bias
    f = _kernel(xa.shape, C, O, layout, oc, target, epilogue)
    P, Q = want.shape[2:]
    out = np.zeros((N, O, P, Q) if layout == "NCHW" else (N, O // oc, P, Q, oc), np.float32)
    f(*((xa, stem_weight_transform_ref(k), b, out) if epilogue else
        (xa, stem_weight_transform_ref(k), out)))
    if layout == "NCHWc":
        out = out.transpose(0, 1, 4, 2, 3).reshape(N, O, P, Q)
    err = np.abs(out - want).max() / max(1e-6, np.abs(want).max())
    assert err < 1e-5, (N, C, H, W, O, layout, err)


@settings(max_examples=6, deadline=None)
@given(N=hs.integers(1, 2), C=hs.integers(1, 4), H=hs.integers(7, 30), W=hs.integers(7, 40),
       layout=hs.sampled_from(["NCHW", "NCHWc"]), seed=hs.integers(0, 2 ** 16))
def test_stem_winograd_equals_numpy(N, C, H, W, layout, seed):
    _check(N, C, H, W, 32, layout, "native", seed)


@pytest.mark.parametrize("target", ["avx2", "c"])
@pytest.mark.parametrize("layout", ["NCHW", "NCHWc"])
def test_stem_winograd_other_targets(target, layout):
    _check(1, 3, 33, 37, 32, layout, target, 3)


@pytest.mark.parametrize("target", ["native", "avx2", "c"])
@pytest.mark.parametrize("epilogue", [True, False])
def test_stem_winograd_nchw_transposed_blocks(target, epilogue):
    """An NCHW output of whole 8 x 8 blocks (16 columns: the transposed path, into the
    epilogue's block or straight into the output), and of a partial last block (18)."""
    _check(1, 3, 32, 32, 32, "NCHW", target, 5, epilogue)
    _check(1, 3, 30, 36, 24, "NCHW", target, 6, epilogue)


def test_stem_weight_transform_ref():
    # U applied by the 1-D Winograd equals the direct sum of one output tile (the transform
    # on its own, in float64)
    from texpr.topi.stem_winograd import stem_matrices
    rng = np.random.default_rng(0)
    k = rng.standard_normal((2, 3, 7, 7))
    x = rng.standard_normal((3, 8, 14))                 # padded input rows of one tile row
    AT, _, BT = stem_matrices()
    u = stem_weight_transform_ref(k)                    # [7, 48, 2]
    z = x.reshape(3, 4, 2, 7, 2).transpose(0, 2, 4, 1, 3)   # c py px dy col
    v = np.einsum("tl,cyxdl->tcyxd", BT, z).reshape(7, 48)
    got = AT @ np.einsum("tk,tko->to", v, u)             # [4 columns, O]
    want = np.stack([np.einsum("ocyx,cyx->o", k, x[:, :7, 2 * w:2 * w + 7]) for w in range(4)])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    with pytest.raises(TexprError, match="7x7"):
        stem_weight_transform_ref(np.zeros((2, 3, 3, 3)))


def test_stem_algorithm():
    assert stem_algorithm(1, 3, 224, 224, 64, "avx2") == "stemw"
    assert stem_algorithm(1, 3, 224, 224, 64, "avx512") == "stemw"
    assert stem_algorithm(1, 8, 224, 224, 64, "avx2") == "direct"       # many channels
    assert stem_algorithm(1, 3, 224, 224, 60, "avx2") == "direct"       # not whole vectors
    assert stem_algorithm(1, 3, 224, 224, 64, "c") == "direct"          # no GEMM kernel
    assert stem_algorithm(1, 3, 64, 64, 16, "avx2") == "direct"         # few outputs


def test_resnet50_with_winograd_stem_equals_numpy():
    # 64 output channels (the model keeps 16 on the direct kernel: the input transform
    # outweighs the multiplies saved), one stage
    cfg = dict(width=64, blocks=(1,), classes=10)
    b = models.ResNet50Builder(image_size=32, **cfg)
    assert "stemw" in b.choice.values()
    x = np.random.default_rng(2).standard_normal((1, 3, 32, 32)).astype(np.float32)
    (got,) = b.net(x)
    want = models.resnet50_ref(x, b.net.model.weights, cfg["blocks"])
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-4
