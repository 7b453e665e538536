"""topi's convolution, pooling and sparse operators with symbolic batch and spatial extents:
each kernel is built once (module fixture) and checked against NumPy for hypothesis-drawn
sizes (1, primes, powers of two, sizes no register tile divides); a call whose sizes break
the kernel's shapes raises an error naming the argument."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
import texpr.topi as topi
from texpr.topi import testing as ref

SIZES = st.sampled_from([1, 2, 3, 5, 7, 8, 11, 16])
RNG = np.random.default_rng(3)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def build(out, args, name):
    return te.build(topi.schedule(out, "native"), args + [out], target="native", name=name)


@pytest.fixture(scope="module")
def kernels():
    n, h, w = te.var("n"), te.var("h"), te.var("w")
    x5 = te.placeholder((n, 1, h, w, 8), name="x")
    k5 = te.placeholder((2, 1, 3, 3, 8, 8), name="k")
    b5 = te.placeholder((1, 2, 1, 1, 8), name="b")
    conv = topi.nn.relu(topi.nn.add(topi.nn.conv2d_NCHWc(x5, k5, 2, 1), b5))
    x4 = te.placeholder((n, 3, h, w), name="x")
    k4 = te.placeholder((4, 3, 3, 3), name="k")
    L = te.var("L")
    table = te.placeholder((50, 8), name="table")
    idx = te.placeholder((L,), "int32", name="indices")
    lengths = te.placeholder((n,), "int32", name="lengths")
    kd = te.placeholder((1, 3, 3, 8), name="k")
    return {
        "conv_nchwc": build(conv, [x5, k5, b5], "conv_nchwc_s2"),
        "conv_nchw": build(topi.nn.conv2d_nchw(x4, k4, 1, 1), [x4, k4], "conv_nchw"),
        "maxpool": build(topi.nn.pool2d(x5, 3, 2, 1, "max"), [x5], "maxpool"),
        "avgpool": build(topi.nn.pool2d(x4, 3, 2, 1, "avg", count_include_pad=False), [x4],
                         "avgpool"),
        "sls": build(topi.sparse.sparse_lengths_sum(table, idx, lengths),
                     [table, idx, lengths], "sls"),
        "global_avg": build(topi.nn.global_pool(x4, "avg"), [x4], "global_avg"),
        "depthwise": build(topi.nn.depthwise_conv2d_NCHWc(x5, kd, 1, 1), [x5, kd], "depthwise"),
    }


@settings(max_examples=10, deadline=None)
@given(n=st.sampled_from([1, 2, 3]), h=SIZES, w=SIZES)
def test_conv_and_pool_equal_numpy_for_every_size(kernels, n, h, w):
    x5, k5, b5 = rand(n, 1, h, w, 8), rand(2, 1, 3, 3, 8, 8), rand(1, 2, 1, 1, 8)
    want = np.maximum(ref.conv2d_NCHWc_ref(x5, k5, 2, 1) + b5, 0)
    np.testing.assert_allclose(kernels["conv_nchwc"](x5, k5, b5), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(kernels["maxpool"](x5), ref.pool2d_ref(x5, 3, 2, 1, "max"))
    x4, k4 = rand(n, 3, h, w), rand(4, 3, 3, 3)
    np.testing.assert_allclose(kernels["conv_nchw"](x4, k4), ref.conv2d_nchw_ref(x4, k4, 1, 1),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(kernels["global_avg"](x4), ref.global_pool_ref(x4, "avg"),
                               rtol=1e-5, atol=1e-6)
    kd = rand(1, 3, 3, 8)
    np.testing.assert_allclose(kernels["depthwise"](x5, kd),
                               ref.depthwise_conv2d_NCHWc_ref(x5, kd, 1, 1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(kernels["avgpool"](x4),
                               ref.pool2d_ref(x4, 3, 2, 1, "avg", count_include_pad=False),
                               rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def nchw_maxpool():
    """NCHW max pooling 3x3/2 pad 1 of a symbolic size: two size classes, the inputs at
    least cpu.pool_vector_min_width wide on the vector route (the window's rows reduced into
    a buffer with the padding in it), the narrower ones on the loop nest."""
    x = te.placeholder((te.var("n"), 3, te.var("h"), te.var("w")), name="x")
    return build(topi.nn.pool2d(x, 3, 2, 1, "max"), [x], "maxpool_nchw")


@settings(max_examples=10, deadline=None)
@given(n=st.sampled_from([1, 2]), h=SIZES, w=st.sampled_from([1, 5, 11, 12, 13, 16, 29]))
def test_nchw_max_pooling_of_both_size_classes_equals_numpy(nchw_maxpool, n, h, w):
    from texpr.topi.cpu import pool_vector_min_width
    assert f"w >= {pool_vector_min_width('native')}" in nchw_maxpool.source
    x = rand(n, 3, h, w)
    np.testing.assert_array_equal(nchw_maxpool(x), ref.pool2d_ref(x, 3, 2, 1, "max"))


#: (pool type, count_include_pad, kernel, stride, padding) of the symbolic pooling kernels
POOLS = [("max", True, 3, 2, 1), ("avg", False, 3, 2, 1), ("avg", True, 3, 2, 1),
         ("avg", False, 3, 1, 1), ("avg", False, 2, 2, 0), ("max", True, 3, 1, 2)]
#: widths on both sides of cpu.pool_vector_min_width (5 or 12): 1, primes, powers of two,
#: widths no vector of 8 or 16 lanes divides
WIDTHS = st.sampled_from([1, 2, 3, 4, 5, 7, 8, 11, 12, 13, 16, 17, 29, 31, 32, 33, 64])


@pytest.fixture(scope="module")
def pools():
    """Max and average pooling (count_include_pad or not) in NCHW and NCHWc, and global
    pooling, batch and image size symbolic: one build each."""
    n, h, w = te.var("n"), te.var("h"), te.var("w")
    x4 = te.placeholder((n, 3, h, w), name="x")
    x5 = te.placeholder((n, 2, h, w, 8), name="x")
    out = {}
    for i, (kind, incl, k, s, p) in enumerate(POOLS):
        for layout, x in (("nchw", x4), ("nchwc", x5)):
            y = topi.nn.pool2d(x, k, s, p, kind, count_include_pad=incl)
            out[(i, layout)] = build(y, [x], f"pool{i}_{layout}")
    for kind in ("avg", "max"):
        for layout, x in (("nchw", x4), ("nchwc", x5)):
            out[("global", kind, layout)] = build(topi.nn.global_pool(x, kind), [x],
                                                  f"global_{kind}_{layout}")
    return out


@settings(max_examples=12, deadline=None)
@given(n=st.sampled_from([1, 2]), h=WIDTHS, w=WIDTHS)
def test_pooling_of_every_size_equals_numpy(pools, n, h, w):
    """Every pooling kernel of a symbolic size against NumPy: average pooling's divisor at
    the borders (count_include_pad or not), the vector route's last partial tile and its
    column buffer's masked last vector (widths no vector divides), the loop nest below
    pool_vector_min_width."""
    from texpr.topi.cpu import pool_vector_min_width
    x4, x5 = rand(n, 3, h, w), rand(n, 2, h, w, 8)
    for (i, layout), f in ((k, f) for k, f in pools.items() if k[0] != "global"):
        kind, incl, k, s, p = POOLS[i]
        if h + 2 * p < k or w + 2 * p < k:
            continue
        x = x4 if layout == "nchw" else x5
        want = ref.pool2d_ref(x, k, s, p, kind, count_include_pad=incl)
        np.testing.assert_allclose(f(x), want, rtol=1e-5, atol=1e-6,
                                   err_msg=f"{POOLS[i]} {layout} {x.shape}")
    for kind in ("avg", "max"):
        for layout, x in (("nchw", x4), ("nchwc", x5)):
            np.testing.assert_allclose(pools[("global", kind, layout)](x),
                                       ref.global_pool_ref(x, kind), rtol=1e-5, atol=1e-6)
    # the padded NCHW windows have the vector route's size class, average pooling too
    cond = f"w >= {pool_vector_min_width('native')}"
    assert cond in pools[(1, "nchw")].source and cond in pools[(2, "nchw")].source


def test_average_pooling_divisor_counts_the_taps_inside():
    """count_include_pad=False of a symbolic size divides by the taps inside the input, as
    the concrete build does (nn's pool_count plane): ones pool to exactly one everywhere,
    the borders included; with count_include_pad the border windows hold fewer ones."""
    x = te.placeholder((te.var("n"), 1, te.var("h"), te.var("w")), name="x")
    excl = build(topi.nn.pool2d(x, 3, 2, 1, "avg", count_include_pad=False), [x], "avg_excl")
    incl = build(topi.nn.pool2d(x, 3, 2, 1, "avg"), [x], "avg_incl")
    for hw in ((1, 1), (5, 13), (12, 29), (16, 16)):
        ones = np.ones((1, 1) + hw, np.float32)
        np.testing.assert_array_equal(excl(ones), np.ones_like(excl(ones)))
        got = incl(ones)
        np.testing.assert_allclose(got, ref.pool2d_ref(ones, 3, 2, 1, "avg"), rtol=1e-6)
        assert got[0, 0, 0, 0] < 1.0


@settings(max_examples=10, deadline=None)
@given(bags=st.lists(st.integers(0, 5), min_size=1, max_size=17))
def test_sparse_lengths_sum_for_every_batch(kernels, bags):
    table = rand(50, 8)
    lengths = np.array(bags, np.int32)
    idx = RNG.integers(0, 50, int(lengths.sum())).astype(np.int32)
    np.testing.assert_allclose(kernels["sls"](table, idx, lengths),
                               ref.sparse_lengths_sum_ref(table, idx, lengths), rtol=1e-5,
                               atol=1e-6)


def test_bad_sizes_name_the_argument(kernels):
    with pytest.raises(te.TexprError, match=r"argument k: dimension 4 is 4, expected 8"):
        kernels["conv_nchwc"](rand(1, 1, 8, 8, 8), rand(2, 1, 3, 3, 4, 8), rand(1, 2, 1, 1, 8))
    with pytest.raises(te.TexprError, match=r"argument conv2d_nchw: dimension 0 is 2, but n = 3"):
        out = np.empty((3, 4, 5, 5), np.float32)
        kernels["conv_nchw"](rand(3, 3, 5, 5), rand(4, 3, 3, 3), out[:2].copy())


def test_output_extents_of_expressions_are_checked_by_the_c_checker(kernels):
    """An output extent given by an expression ((h - 1) // 2 + 1) is taken by the C checker
    as a value of its own and compared with the expression (compiled once): the fast call
    path; a wrong extent falls back to the Python check, which names it."""
    f = kernels["maxpool"]
    x = rand(1, 1, 7, 9, 8)
    good, bad = np.empty((1, 1, 4, 5, 8), np.float32), np.empty((1, 1, 4, 4, 8), np.float32)
    assert f._plan.fast((x, good)) is not None and f._plan.fast((x, bad)) is None
    f(x, good)
    np.testing.assert_array_equal(good, ref.pool2d_ref(x, 3, 2, 1, "max"))
    with pytest.raises(te.TexprError, match=r"argument pool_max: dimension 3 is 4, expected"):
        f(x, bad)
