"""conv2d_nchw_packed (a constant kernel packed once into channel blocks), Graph.conv2d that
packs it when the graph is built, and the register tile choice of the direct convolutions."""
import numpy as np
import pytest

import texpr as te
import texpr.topi as topi
from texpr.errors import TexprError
from texpr.topi import cpu
from texpr.topi import testing as ref
from texpr.topi.graph import Graph, GraphError, KernelCache

RNG = np.random.default_rng(16)


def test_conv2d_nchw_packed_strided_matches_reference_without_packing_the_kernel():
    C, O, H = 16, 24, 11
    ic, oc = cpu.conv_blocks(C, O, "native", 6)
    a = RNG.standard_normal((1, C, H, H), dtype=np.float32)
    k = RNG.standard_normal((O, C, 3, 3), dtype=np.float32)
    kp = ref.pack_kernel_nchwc_ref(k, ic, oc)
    x = te.placeholder(a.shape, name="x")
    w = te.placeholder(kp.shape, name="w")
    out = topi.nn.conv2d_nchw_packed(x, w, 2, 1)
    f = te.build(topi.schedule(out, "native"), [x, w, out], target="native", name="convp")
    got = np.empty((1, O, 6, 6), np.float32)
    f(a, kp, got)
    np.testing.assert_allclose(got, ref.conv2d_nchw_ref(a, k, 2, 1), rtol=1e-4, atol=1e-4)
    # the input is copied into channel blocks per call, the kernel is read as it comes
    assert "data_blocked" in f.source and "kernel_blocked" not in f.source


def test_conv2d_nchw_packed_rejects_blocks_that_do_not_cover_the_channels():
    x = te.placeholder((1, 12, 8, 8), name="x")
    w = te.placeholder((2, 1, 3, 3, 8, 8), name="w")
    with pytest.raises(TexprError, match=r"kernel blocks 1x8 do not cover the 12 input"):
        topi.nn.conv2d_nchw_packed(x, w, 1, 1)
    with pytest.raises(TexprError, match="OIHW\\[ic\\]i\\[oc\\]o"):
        topi.nn.conv2d_nchw_packed(x, te.placeholder((16, 12, 3, 3), name="k"), 1, 1)


def test_graph_conv2d_packs_the_weight_once_and_fuses_bias_relu():
    C, O, H = 16, 16, 9
    a = RNG.standard_normal((1, C, H, H), dtype=np.float32)
    k = RNG.standard_normal((O, C, 3, 3), dtype=np.float32)
    b = RNG.standard_normal(O, dtype=np.float32)
    g = Graph("net", kernels=KernelCache())
    x = g.input("x", a.shape)
    y = g.conv2d(x, k, stride=2, padding=1, bias=b, activation="relu", name="c1",
                 algorithm="direct")
    blocks = cpu.conv2d_weight_blocks(a.shape, k.shape, 2, 1)
    packed = next(v for v in g.values if v.name == "c1_w_blocks")
    np.testing.assert_array_equal(packed.array, ref.pack_kernel_nchwc_ref(k, *blocks))
    assert y.shape == (1, O, 5, 5)
    out, = g.compile([y])(a)
    want = np.maximum(ref.conv2d_nchw_ref(a, k, 2, 1) + b.reshape(1, -1, 1, 1), 0)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


def test_conv2d_weight_blocks_none_where_the_schedule_reads_the_weight_as_it_lies():
    assert cpu.conv2d_weight_blocks((1, 3, 64, 64), (16, 3, 7, 7), 2, 3) is None   # RGB stem
    assert cpu.conv2d_weight_blocks((1, 32, 8, 8), (64, 32, 1, 1), 1, 0) is None   # 1x1 GEMM
    assert cpu.conv2d_weight_blocks((1, 64, 8, 8), (64, 64, 3, 3), 1, 1, target="c") is None
    # few channels over a large image: the rows as the vectors (rows_as_vectors)
    assert cpu.conv2d_weight_blocks((1, 16, 224, 224), (16, 16, 3, 3), 1, 1) is None
    assert cpu.conv2d_weight_blocks((1, 64, 8, 8), (64, 64, 3, 3), 1, 1) is not None


def test_graph_conv2d_rejects_bad_weights():
    g = Graph("net", kernels=KernelCache())
    x = g.input("x", (1, 8, 6, 6))
    with pytest.raises(GraphError, match=r"conv2d expects float32 data .* weight \[4, 3, 3, 3\]"):
        g.conv2d(x, np.zeros((4, 3, 3, 3), np.float32))
    with pytest.raises(GraphError, match=r"conv2d weight must have 4 dimensions"):
        g.conv2d(x, np.zeros((4, 8), np.float32))
    with pytest.raises(GraphError, match=r"conv2d bias must be \[4\]"):
        g.conv2d(x, np.zeros((4, 8, 3, 3), np.float32), bias=np.zeros(5, np.float32))
    with pytest.raises(GraphError, match="activation must be None or 'relu'"):
        g.conv2d(x, np.zeros((4, 8, 3, 3), np.float32), activation="gelu")


def test_register_tile_avoids_latency_bound_partial_tiles():
    info = cpu.cpu_info("avx2")
    # a whole row per tile where two vectors of channels would leave a short tail
    ic, oc = cpu.conv_blocks(512, 512, "avx2", 7)
    reg_w = cpu.conv_NCHWc_config(7, 7, oc, "avx2")["reg_w"]
    assert (oc, reg_w) == (8, 7)
    # the chosen width runs the row in the fewest cycles among the widths that fit
    for Q in (7, 14, 28, 56):
        w = cpu.conv_NCHWc_config(Q, Q, 16, "avx2")["reg_w"]
        cap = (info.nregs - 4) // 2
        best = min(cpu.conv_row_cycles(Q, v, 2, info) for v in range(1, min(Q, cap) + 1))
        assert w * 2 + 4 <= info.nregs and cpu.conv_row_cycles(Q, w, 2, info) == best


def test_graph_conv2d_on_a_symbolic_batch_reads_the_weight_as_it_lies():
    """A symbolic batch cannot take the packed kernel (its schedule needs constant extents):
    Graph.conv2d builds conv2d_nchw on the weight, one kernel for every batch."""
    g = Graph()
    x = g.input("x", (te.var("n"), 8, 6, 6))
    k = np.random.default_rng(3).standard_normal((16, 8, 3, 3)).astype("float32")
    y = g.conv2d(x, k, padding=1, activation="relu")
    net = g.compile([y])
    for n in (1, 3):
        a = np.random.default_rng(n).standard_normal((n, 8, 6, 6)).astype("float32")
        got, = net(a)
        np.testing.assert_allclose(got, np.maximum(ref.conv2d_nchw_ref(a, k, 1, 1), 0),
                                   rtol=1e-4, atol=1e-4)
