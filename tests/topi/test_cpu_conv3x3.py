"""topi.cpu_conv3x3: the cost model that picks direct or Winograd F(m,3) for a 3x3 stride-1
convolution reads the host (FMA lanes) and weighs the weights streamed from memory; the
ResNet-50 builder's default follows it (no compiling, except the tiny network)."""
import copy

import numpy as np

from texpr.topi import cpu, models
from texpr.topi.cpu_conv3x3 import WINO6_MARGIN, conv3x3_algorithm, conv3x3_costs


def with_fma_units(target, units):
    info = copy.copy(cpu.cpu_info(target))
    info.fma_units = units
    return info


def test_multiplies_decide_where_the_weights_are_small():
    # 224x224, 64 channels: the weights are 147 KiB, the multiplies are everything; with
    # few channels the transforms (per channel, where the GEMM is per pair) outweigh them
    info = with_fma_units("avx2", 2)
    costs = conv3x3_costs(1, 64, 224, 224, 64, info=info)
    assert costs["wino4"] < costs["wino2"] < costs["direct"]
    assert conv3x3_algorithm(1, 64, 224, 224, 64, info=info) == "wino4"
    assert conv3x3_algorithm(1, 4, 224, 224, 4, info=info) == "direct"


def test_weight_stream_decides_at_7x7():
    # F(4,3) at 7x7x512: 36 x 512 x 512 floats (38 MB) for 4 tiles; F(2,3)'s are 17 MB
    for units in (1, 2):
        info = with_fma_units("avx512", units)
        costs = conv3x3_costs(1, 512, 7, 7, 512, info=info)
        assert costs["wino2"] < costs["wino4"] < costs["wino6"]
        assert conv3x3_algorithm(1, 512, 7, 7, 512, info=info) == "wino2"
    # twice the FMA lanes: the direct convolution's multiplies cost about half
    one, two = (conv3x3_costs(1, 512, 7, 7, 512, info=with_fma_units("avx512", u))["direct"]
                for u in (1, 2))
    assert 0.45 < two / one < 0.6


def test_f53_at_14x14_where_the_multiplies_weigh():
    # 14 = 3 tiles of 5 (15): 9 x 49 = 441 multiplies per channel pair, F(4,3)'s 16 x 36 =
    # 576, for 49/36 of its weights: one FMA unit at 512 bits (Zen 4) or AVX2's two (Zen 3,
    # Zen 4) take F(5,3); Zen 5's two at 512 bits halve the multiplies and the weight stream
    # keeps F(4,3)
    for target, units, want in (("avx512", 1, "wino5"), ("avx2", 2, "wino5"),
                                ("avx512", 2, "wino4")):
        info = with_fma_units(target, units)
        assert conv3x3_algorithm(1, 256, 14, 14, 256, info=info) == want
        # 28 = 6 tiles of 5 (30) or 7 of 4: the same multiplies, F(5,3)'s transforms cost more
        assert conv3x3_algorithm(1, 128, 28, 28, 128, info=info) == "wino4"


def test_choice_is_among_the_algorithms_given_and_f63_needs_its_margin():
    info = with_fma_units("avx2", 2)
    assert conv3x3_algorithm(1, 64, 56, 56, 64, algorithms=("direct", "wino2"),
                             info=info) == "wino2"
    assert conv3x3_algorithm(1, 64, 56, 56, 64, algorithms=("direct",), info=info) == "direct"
    for shape in ((1, 64, 56, 56, 64), (1, 128, 28, 28, 128), (1, 64, 224, 224, 64)):
        costs = conv3x3_costs(*shape, info=info)
        best = conv3x3_algorithm(*shape, info=info)
        rest = min(v for k, v in costs.items() if k != "wino6")
        assert (best == "wino6") == (costs["wino6"] < WINO6_MARGIN * rest)


def test_resnet_builder_default_follows_the_model():
    cfg = dict(width=8, blocks=(1, 1, 1, 1), classes=10)
    net = models.resnet50(image_size=64, **cfg)
    b = net.model
    assert b.winograd == "model" and b.choice
    from texpr.topi.cpu_conv3x3 import conv3x3_s2_algorithm
    from texpr.topi.cpu_conv_stem import stem_algorithm
    rules = {"3x3": conv3x3_algorithm, "3x3/2": conv3x3_s2_algorithm}
    for ((N, Cb, H, W, icb), O, kind), algo in b.choice.items():
        if kind == "7x7/2":
            assert algo == stem_algorithm(N, icb, H, W, O, b.target)
        else:
            assert algo == rules[kind](N, Cb * icb, H, W, O, b.target)
    assert {k[2] for k in b.choice} == {"3x3", "3x3/2", "7x7/2"}    # every kind of layer
    x = np.random.default_rng(3).standard_normal((1, 3, 64, 64)).astype(np.float32)
    want = models.resnet50_ref(x, b.weights, cfg["blocks"])
    got = net(x)[0]
    assert float(np.abs(got - want).max() / np.abs(want).max()) < 1e-4


def test_stride2_winograd_only_where_its_tiles_fit_and_the_gemm_keeps_up():
    # F(4,2) on the space-to-depth input: 28x28 outputs are 7 x 7 whole tiles; at 14 and 7
    # the tiles pad and its 25 x 4C x O weights outgrow the multiplies saved
    from texpr.topi.cpu_conv3x3 import conv3x3_s2_algorithm, conv3x3_s2_costs
    zen4 = with_fma_units("avx512", 1)
    assert conv3x3_s2_algorithm(1, 128, 56, 56, 128, info=zen4) == "wino4s2"
    for C, H in ((256, 28), (512, 14)):
        assert conv3x3_s2_algorithm(1, C, H, H, C, info=zen4) == "direct"
    # the GEMM's register tile bounded by its loads: AVX2's 16 registers (5 x 2 vectors, 7
    # loads to 10 FMAs on two units), and Zen 5's two 512-bit units (transforms weigh more)
    for target, units in (("avx2", 2), ("avx512", 2)):
        info = with_fma_units(target, units)
        assert conv3x3_s2_algorithm(1, 128, 56, 56, 128, info=info) == "direct"
    costs = conv3x3_s2_costs(1, 128, 56, 56, 128, info=zen4)
    assert 1.02 < costs["direct"] / costs["wino4s2"] < 1.3
