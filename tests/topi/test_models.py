"""texpr.topi.models: a tiny ResNet-50 (32x32, width 8, one bottleneck per stage) and a
small DLRM, built as topi.graph graphs, equal their NumPy references; given weights are
used as they are; bad sizes and weights raise GraphError naming what is wrong."""
import numpy as np
import pytest

from texpr.topi import models
from texpr.topi.graph import GraphError

TINY = dict(width=8, blocks=(1, 1, 1, 1), classes=10)
TWO_STAGES = dict(width=8, blocks=(1, 1), classes=10)
DLRM = dict(num_tables=3, rows=50, num_dense=5)
DLRM_NET = dict(dim=8, bag_size=3, bottom_mlp=(16, 8), top_mlp=(16, 1), **DLRM)


def rel_err(got, want):
    return float(np.abs(got - want).max() / max(1e-6, np.abs(want).max()))


def test_resnet_built_once_for_every_batch_and_image_size():
    # two stages (stem, max pool and layer2 halve the image: sizes multiples of 8); the same
    # builder makes ResNet-50's four (multiples of 32)
    net = models.resnet50(batch=None, image_size=None, **TWO_STAGES)
    kernels = len(net.kernels)
    rng = np.random.default_rng(1)
    for n, h, w in ((1, 8, 8), (2, 24, 16), (1, 8, 8)):
        x = rng.standard_normal((n, 3, h, w)).astype(np.float32)
        (got,) = net(x)
        assert got.shape == (n, 10)
        want = models.resnet50_ref(x, net.model.weights, TWO_STAGES["blocks"])
        assert rel_err(got, want) < 1e-4, (n, h, w)
    assert net.plan_count == 2 and len(net.kernels) == kernels
    with pytest.raises(GraphError, match=r"h = 20, w = 16 breaks the rule h % 8 == 0.*"
                                         r"height h must be a positive multiple of 8"):
        net(np.zeros((1, 3, 20, 16), np.float32))


def test_resnet50_given_weights_are_used_and_checked():
    w = models.resnet50_weights(seed=5, **TWO_STAGES)
    net = models.resnet50(batch=None, image_size=None, weights=w, **TWO_STAGES)   # kernels shared
    x = np.random.default_rng(2).standard_normal((1, 3, 8, 8)).astype(np.float32)
    assert rel_err(net(x)[0], models.resnet50_ref(x, w, TWO_STAGES["blocks"])) < 1e-4
    w = models.resnet50_weights(**TINY)
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


def test_dlrm_built_once_for_every_batch():
    net = models.dlrm(batch=None, **DLRM_NET)
    assert net.model.config["batch"].name == "batch"
    for batch in (1, 7, 16):
        x = models.dlrm_inputs(batch, bag_size=3, ragged=True, seed=batch, **DLRM)
        (got,) = net(**x)
        assert got.shape == (batch, 1)
        np.testing.assert_allclose(got, models.dlrm_ref(x, net.model.weights), rtol=1e-5,
                                   atol=1e-6)
    with pytest.raises(GraphError, match=r"input lengths0: dimension 0 is 3, but batch = 2"):
        x = models.dlrm_inputs(2, bag_size=3, **DLRM)
        x["lengths0"] = np.ones(3, np.int32)
        net(**x)


def test_dlrm_bad_config():
    with pytest.raises(GraphError, match=r"bottom MLP must end in dim = 8.*\[16, 4\]"):
        models.dlrm(batch=2, dim=8, bottom_mlp=(16, 4), **DLRM)


def test_model_kernels_are_shared_per_thread_count(monkeypatch):
    # a schedule splits its blocks for the threads it will run on: a model built for 2
    # threads gets its own kernels, not the ones split for 1
    from texpr.topi.graph import KernelCache
    cache = KernelCache()
    monkeypatch.setenv("TEXPR_NUM_THREADS", "1")
    models.dlrm(batch=4, cache=cache, **DLRM_NET)
    one = cache.misses
    models.dlrm(batch=4, cache=cache, **DLRM_NET)
    assert cache.misses == one and cache.hits >= one
    monkeypatch.setenv("TEXPR_NUM_THREADS", "2")
    net = models.dlrm(batch=4, cache=cache, **DLRM_NET)
    assert cache.misses == 2 * one
    x = models.dlrm_inputs(4, bag_size=3, **DLRM)
    np.testing.assert_allclose(net(**x)[0], models.dlrm_ref(x, net.model.weights),
                               rtol=1e-5, atol=1e-6)
