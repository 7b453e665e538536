"""texpr.topi.graph: chained kernels equal the NumPy chain; buffers are reused by liveness;
mismatched shapes, dtypes, arities and inputs raise GraphError; KernelCache builds once."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
import texpr.topi as topi
from texpr.topi import testing as ref
from texpr.topi.graph import Graph, GraphError, KernelCache, Value, plan_buffers

RNG = np.random.default_rng(7)
CACHE = KernelCache()


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def k_relu(shape):
    def build():
        x = te.placeholder(shape, name="x")
        out = topi.nn.relu(x)
        return te.build(topi.schedule(out, "native"), [x, out], target="native", name="relu")
    return CACHE.get(("relu", shape), build)


def k_add(shape):
    def build():
        a, b = te.placeholder(shape, name="a"), te.placeholder(shape, name="b")
        out = topi.nn.add(a, b)
        return te.build(topi.schedule(out, "native"), [a, b, out], target="native", name="add")
    return CACHE.get(("add", shape), build)


def k_dense(M, N, K):
    def build():
        x, w = te.placeholder((M, K), name="x"), te.placeholder((N, K), name="w")
        out = topi.nn.dense(x, w)
        return te.build(topi.schedule(out, "native"), [x, w, out], target="native",
                        name="dense")
    return CACHE.get(("dense", M, N, K), build)


def test_mlp_with_residual_equals_numpy_and_reuses_buffers():
    a, w1, w2, w3 = rand(4, 32), rand(32, 32), rand(32, 32), rand(32, 32)
    g = Graph("mlp")
    x = g.input("x", (4, 32))
    h1 = g.call(k_relu((4, 32)), g.call(k_dense(4, 32, 32), x, g.constant("w1", w1)))
    h2 = g.call(k_relu((4, 32)), g.call(k_dense(4, 32, 32), h1, g.constant("w2", w2)))
    h3 = g.call(k_dense(4, 32, 32), h2, g.constant("w3", w3))
    y = g.call(k_add((4, 32)), h3, h1)                     # residual: h1 stays alive
    net = g.compile(y)
    (got,) = net(a)
    r1 = np.maximum(a @ w1.T, 0)
    want = (np.maximum(r1 @ w2.T, 0) @ w3.T) + r1
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    (again,) = net(x=a * 2)                               # same buffers, new input
    np.testing.assert_allclose(again, 2 * want, rtol=1e-4, atol=1e-3)
    # 6 step outputs of one size: at most 3 live at once (h1, the current input, its output)
    assert len(net.buffer_bytes) == 3
    assert net.intermediate_bytes < net.naive_bytes()


def test_plan_never_shares_a_live_buffer():
    """Property: in a random chain (each step reads one or two earlier values), no step's
    output buffer holds a value that a later step still reads."""
    @settings(max_examples=25)
    @given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6),
                              st.sampled_from([8, 16]), st.booleans()), min_size=1, max_size=12))
    def check(spec):
        g = Graph()
        vals = [g.input("x", (8,))]
        steps = []
        for i, (p, q, n, two) in enumerate(spec):
            args = [vals[p % len(vals)]] + ([vals[q % len(vals)]] if two else [])
            out = Value(g, f"v{i}", (n,), "float32", "step")
            steps.append((None, args, out))
            vals.append(out)
        outputs = [vals[-1]]
        assign, buffers = plan_buffers(steps, outputs)
        last = {}
        for i, (_, args, _) in enumerate(steps):
            for a in args:
                last[a] = i
        for i, (_, args, out) in enumerate(steps):
            assert buffers[assign[out]][0] == out.nbytes
            for j, (_, _, earlier) in enumerate(steps[:i]):
                alive = last.get(earlier, -1) >= i or earlier in outputs
                if alive:
                    assert assign[earlier] != assign[out], (i, j)
    check()


def test_errors_name_the_kernel_and_the_shapes():
    g = Graph("bad")
    x = g.input("x", (4, 16))
    with pytest.raises(GraphError, match=r"expects x of shape \[4, 32\], but x has shape \[4, 16\]"):
        g.call(k_dense(4, 32, 32), x, g.constant("w", rand(32, 32)))
    with pytest.raises(GraphError, match="takes 2 inputs"):
        g.call(k_dense(4, 32, 32), x)
    with pytest.raises(GraphError, match="dtype"):
        g.call(k_relu((4, 16)), g.input("i", (4, 16), "int32"))
    with pytest.raises(GraphError, match="used twice"):
        g.input("x", (1,))
    with pytest.raises(GraphError, match="Value of this graph"):
        g.call(k_relu((4, 16)), Graph("other").input("y", (4, 16)))
    y = g.call(k_relu((4, 16)), x)
    net = g.compile(y)
    ok_i = np.zeros((4, 16), "int32")
    with pytest.raises(GraphError, match=r"input x must be \[4, 16\] float32"):
        net(np.zeros((4, 15), "float32"), ok_i)
    with pytest.raises(GraphError, match="input x is missing"):
        net(i=ok_i)
    with pytest.raises(GraphError, match="unknown inputs"):
        net(x=np.zeros((4, 16), "float32"), i=ok_i, z=1)
    with pytest.raises(GraphError, match="expects 2 inputs"):
        net(np.zeros((4, 16), "float32"))        # x and i are both inputs
    assert issubclass(GraphError, te.TexprError)


def test_kernel_cache_builds_identical_layers_once():
    cache = KernelCache()
    built = []
    for _ in range(3):
        cache.get(("relu", (2, 2)), lambda: built.append(1) or "k")
    assert built == [1] and cache.hits == 2 and cache.misses == 1 and len(cache) == 1


def test_conv_chain_in_nchwc():
    """Two NCHWc convolutions with fused relu, chained: the graph equals NumPy."""
    a, k1, k2 = rand(1, 16, 8, 8), rand(16, 16, 3, 3), rand(16, 16, 1, 1)
    an = ref.nchw_to_nchwc_ref(a, 16)
    kn1, kn2 = ref.pack_kernel_nchwc_ref(k1, 16, 16), ref.pack_kernel_nchwc_ref(k2, 16, 16)

    def conv(kn, pad):
        x, w = te.placeholder(an.shape, name="x"), te.placeholder(kn.shape, name="w")
        out = topi.nn.relu(topi.nn.conv2d_NCHWc(x, w, 1, pad))
        return te.build(topi.schedule(out, "native"), [x, w, out], target="native", name="conv")
    g = Graph("convs")
    x = g.input("x", an.shape)
    y = g.call(conv(kn2, 0), g.call(conv(kn1, 1), x, g.constant("k1", kn1)),
               g.constant("k2", kn2))
    (got,) = g.compile(y)(an)
    h = np.maximum(ref.conv2d_nchw_ref(a, k1, 1, 1), 0)
    want = np.maximum(ref.conv2d_nchw_ref(h, k2, 1, 0), 0)
    np.testing.assert_allclose(ref.nchwc_to_nchw_ref(got), want, rtol=1e-4, atol=1e-3)


def test_module_bind_validates_once():
    k = k_relu((4, 16))
    a, out = rand(4, 16), np.empty((4, 16), "float32")
    run = k.bind(a, out)
    a[:] = -np.abs(a) + 1.0                       # bound to the array, not to its values
    run()
    np.testing.assert_allclose(out, np.maximum(a, 0))
    with pytest.raises(te.TexprError, match="dimension 1 is 15, expected 16"):
        k.bind(a[:, :15].copy(), out)
    with pytest.raises(te.TexprError, match="read-only"):
        ro = np.empty((4, 16), "float32")
        ro.flags.writeable = False
        k.bind(a, ro)


def test_dense_packs_its_constant_weight_once_when_the_graph_is_built():
    """g.dense: the weight becomes panels (a new constant) when the graph is built, and the
    kernel reads them: no packing stage in it; bias + relu fused; equals NumPy."""
    M, N, K = topi.cpu.gemv_max_rows("native") + 2, 20, 24     # more rows than dot products
    a, w, b = rand(M, K), rand(N, K), rand(N)
    g = Graph("fc")
    x = g.input("x", (M, K))
    y = g.dense(x, g.constant("w", w), b, activation="relu", name="fc")
    net = g.compile(y)
    (got,) = net(a)
    np.testing.assert_allclose(got, np.maximum(a @ w.T + b, 0), rtol=1e-4, atol=1e-4)
    (kernel,) = net.kernels
    assert "dense_pack" in kernel.source and "packW" not in kernel.source
    nb = topi.cpu.dense_weight_block(N, K, "native", M=M)
    (panels,) = [v for v in g.values if v.name == "fc_w_panels"]
    np.testing.assert_array_equal(panels.array, ref.pack_dense_weight_ref(w, nb))
    (again,) = net(a)                       # the panels are bound once; a second call agrees
    np.testing.assert_allclose(again, np.maximum(a @ w.T + b, 0), rtol=1e-4, atol=1e-4)


def test_dense_of_one_row_reads_the_weight_as_it_lies():
    a, w = rand(1, 32), rand(8, 32)
    g = Graph("gemv")
    y = g.dense(g.input("x", (1, 32)), w)
    (got,) = g.compile(y)(a)
    np.testing.assert_allclose(got, a @ w.T, rtol=1e-4, atol=1e-4)
    assert [v.shape for v in g.values if v.kind == "constant"] == [(8, 32)]


def test_dense_bad_arguments_raise():
    g = Graph("bad")
    x = g.input("x", (4, 8))
    with pytest.raises(GraphError, match="weight must be a constant"):
        g.dense(x, g.input("w", (3, 8)))
    with pytest.raises(GraphError, match=r"weight \[N, K\].*weight \[3, 7\]"):
        g.dense(x, rand(3, 7))
    with pytest.raises(GraphError, match=r"bias must be \[3\]"):
        g.dense(x, rand(3, 8), rand(4))
    with pytest.raises(GraphError, match="activation must be None or 'relu'"):
        g.dense(x, rand(3, 8), activation="tanh")
    with pytest.raises(GraphError, match="2-d Value of this graph"):
        g.dense(rand(4, 8), rand(3, 8))


# ----------------------------------------------------------------------------- symbolic shapes

def k_sym(op):
    """relu or add built once with a symbolic row count (a kernel var of its own)."""
    def build():
        m = te.var("m")
        a, b = te.placeholder((m, 8), name="a"), te.placeholder((m, 8), name="b")
        out = topi.nn.relu(a) if op == "relu" else topi.nn.add(a, b)
        args = [a, out] if op == "relu" else [a, b, out]
        return te.build(topi.schedule(out, "native"), args, target="native", name=op)
    return CACHE.get(("sym", op), build)


@settings(max_examples=10, deadline=None)
@given(st.lists(st.sampled_from([1, 2, 3, 7, 8, 13, 16]), min_size=1, max_size=4))
def test_symbolic_graph_plans_once_per_input_shape(rows):
    n = te.var("n")
    g = Graph("sym")
    x, y = g.input("x", (n, 8)), g.input("y", (n, 8))
    h = g.call(k_sym("relu"), x)
    assert h.shape == (n, 8) and h.symbolic
    net = g.compile(g.call(k_sym("add"), h, y))
    for r in rows:
        a, b = rand(r, 8), rand(r, 8)
        (got,) = net(a, b)
        np.testing.assert_allclose(got, np.maximum(a, 0) + b, rtol=1e-6)
        assert net.binding == {n: r}
    assert net.plan_count == len(set(rows))          # each distinct shape planned once


def test_symbolic_graph_errors_name_the_var_and_rule():
    n = te.var("n")
    g = Graph("sym")
    x, y = g.input("x", (n, 8)), g.input("y", (n, 8))
    with pytest.raises(GraphError, match=r"n\*2 \+ 1|an extent must be an int or a te.var"):
        g.input("z", (n * 2 + 1, 8))
    g.require(n % 2 == 0, "n must be even")
    net = g.compile(g.call(k_sym("add"), x, y))
    with pytest.raises(GraphError, match=r"input y: dimension 0 is 4, but n = 2 from input x"):
        net(rand(2, 8), rand(4, 8))
    with pytest.raises(GraphError, match=r"n = 3 breaks the rule .*n must be even"):
        net(rand(3, 8), rand(3, 8))
    with pytest.raises(GraphError, match="symbolic shape"):
        x.nbytes
    with pytest.raises(GraphError, match="no inputs given yet"):
        g.compile(x).run()
    with pytest.raises(GraphError, match="not a var of the graph's inputs"):
        g.require(te.var("k") > 0, "k positive")
    # a kernel built for constant shapes refuses a symbolic argument
    with pytest.raises(GraphError, match=r"expects x of shape \[4, 32\], but x has shape \[n, 8\]"):
        g.call(k_relu((4, 32)), x)
    # two symbolic extents that differ at a call are told when the call brings them
    m = te.var("m")
    g2 = Graph("two")
    a, b = g2.input("a", (n, 8)), g2.input("b", (m, 8))
    net2 = g2.compile(g2.call(k_sym("add"), a, b))
    np.testing.assert_allclose(net2(rand(3, 8) * 0, np.ones((3, 8), "float32"))[0], 1.0)
    with pytest.raises(GraphError, match=r"expects b of shape \[m, 8\].*n = 3, m = 4: 4 != 3"):
        net2(rand(3, 8), rand(4, 8))
