"""texpr.topi.models: a tiny ResNet-50 (32x32, width 8, one bottleneck per stage) and a
small DLRM, built as topi.graph graphs, equal their NumPy references; given weights are
used as they are; bad sizes and weights raise GraphError naming what is wrong."""
import numpy as np
import pytest

from texpr.topi import models
from texpr.topi.graph import GraphError

TINY = dict(width=8, blocks=(1, 1, 1, 1), classes=10)
DLRM = dict(num_tables=3, rows=50, num_dense=5)
DLRM_NET = dict(dim=8, bag_size=3, bottom_mlp=(16, 8), top_mlp=(16, 1), **DLRM)


def rel_err(got, want):
    return float(np.abs(got - want).max() / max(1e-6, np.abs(want).max()))


def test_resnet50_tiny_equals_numpy():
    net = models.resnet50(image_size=32, **TINY)
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    (got,) = net(x)
    assert got.shape == (1, 10)
    assert rel_err(got, models.resnet50_ref(x, net.model.weights, TINY["blocks"])) < 1e-4


def test_resnet50_given_weights_are_used_and_checked():
    w = models.resnet50_weights(seed=5, **TINY)
    b = models.ResNet50Builder(image_size=32, weights=w, **TINY)
    assert b.weights["fc.bias"] is not None and np.array_equal(b.weights["fc.bias"], w["fc.bias"])
    bad = dict(w)
    bad["layer2.0.conv2.weight"] = np.zeros((16, 16, 1, 1), np.float32)
    with pytest.raises(GraphError, match=r"layer2\.0\.conv2\.weight.*\[16, 16, 1, 1\].*"
                                         r"\[16, 16, 3, 3\]"):
        models.resnet50(image_size=32, weights=bad, **TINY)
    del bad["layer2.0.conv2.weight"]
    with pytest.raises(GraphError, match=r"no 'layer2\.0\.conv2\.weight'"):
        models.resnet50(image_size=32, weights=bad, **TINY)


def test_resnet50_image_size_rule():
    with pytest.raises(GraphError, match="image_size must be a positive multiple of 32.*got 48"):
        models.resnet50(image_size=48, **TINY)


def test_dlrm_equals_numpy():
    net = models.dlrm(batch=6, **DLRM_NET)
    x = models.dlrm_inputs(6, bag_size=3, **DLRM)
    (got,) = net(**x)
    assert got.shape == (6, 1)
    np.testing.assert_allclose(got, models.dlrm_ref(x, net.model.weights), rtol=1e-5, atol=1e-6)


def test_dlrm_bad_config():
    with pytest.raises(GraphError, match=r"bottom MLP must end in dim = 8.*\[16, 4\]"):
        models.dlrm(batch=2, dim=8, bottom_mlp=(16, 4), **DLRM)
