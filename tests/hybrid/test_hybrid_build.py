"""te.hybrid.build: a schedule's loop nest written back as a hybrid script. The script runs in
Python on NumPy arrays (emulation) and parses into a new hybrid op, built and run; both must
compute what NumPy computes."""
import numpy as np
import pytest

import texpr as te
from texpr.hybrid import HybridModule

RNG = np.random.default_rng(7)


def outer_product(n=6, m=10):
    a = te.placeholder((n,), name="a")
    b = te.placeholder((m,), name="b")
    c = te.compute((n, m), lambda i, j: a[i] * b[j], name="c")
    return [a, b], c


def split_parallel_vectorize_reorder():
    ins, c = outer_product()
    s = te.create_schedule(c.op)
    io, ii = s[c].split(c.op.axis[0], 4)           # 6 rows: a tail guard
    s[c].parallel(ii)
    jo, ji = s[c].split(c.op.axis[1], 5)
    s[c].vectorize(ji)
    s[c].reorder(ii, io, jo, ji)
    return s, ins, [c], ["parallel(4)", "vectorize(5)", "i_outer * 4 + i_inner < 6"], \
        lambda a, b: [np.outer(a, b)]


def fuse_unroll_compute_at():
    a = te.placeholder((5, 4), name="a")
    b = te.compute((5, 4), lambda i, j: a[i, j] * 2.0, name="b")
    c = te.compute((5, 4), lambda i, j: b[i, j] + a[i, j], name="c")
    s = te.create_schedule(c.op)
    io, ii = s[c].split(c.op.axis[0], 2)
    s[b].compute_at(s[c], io)
    s[c].fuse(ii, c.op.axis[1])
    s[c].unroll(io)
    return s, [a], [c], ["unroll(3)", "b = allocate((2, 4), 'float32')", "// 4", "% 4"], \
        lambda a: [a * 2.0 + a]


def reduction_cache_write():
    a = te.placeholder((4, 8), name="a")
    b = te.placeholder((8, 3), name="b")
    k = te.reduce_axis((0, 8), name="k")
    c = te.compute((4, 3), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="c")
    s = te.create_schedule(c.op)
    cl = s.cache_write(c, "local")
    io, ii = s[c].split(c.op.axis[0], 2)
    s[cl].compute_at(s[c], io)
    ko, ki = s[cl].split(cl.op.reduce_axis[0], 4)
    s[cl].unroll(ki)
    return s, [a, b], [c], ["allocate((2, 3), 'float32', 'local')", "unroll(4)"], \
        lambda a, b: [a @ b]


def expressions_two_outputs():
    x = te.placeholder((7,), name="x")
    y = te.placeholder((7,), name="y", dtype="int8")
    z = te.compute((7,), lambda i: te.if_then_else(
        x[i] > 0.5, te.exp(x[i]), te.max(x[i], 0.25)) + (y[i] * te.const(3, "int8")).astype(
        "float32"), name="z")
    w = te.compute((7,), lambda i: te.min(y[i] // 2, te.const(5, "int8")), name="w")
    s = te.create_schedule([z.op, w.op])
    return s, [x, y], [z, w], ["exp(x[i]) if x[i] > float32(0.5) else", "int8(3)",
                               "return z, w"], lambda x, y: [
        np.where(x > 0.5, np.exp(x), np.maximum(x, 0.25)) + (y * np.int8(3)).astype("float32"),
        np.minimum(y // 2, np.int8(5))]


def symbolic_shape():
    n = te.var("n")
    a = te.placeholder((n,), name="a")
    b = te.compute((n,), lambda i: a[i] * a[i] - 1.0, name="b")
    s = te.create_schedule(b.op)
    s[b].split(b.op.axis[0], 4)
    return s, [a], [b], ["n = a.shape[0]", "output_tensor((n,), 'float32')"], \
        lambda a: [a * a - 1.0]


SCHEDULES = [split_parallel_vectorize_reorder, fuse_unroll_compute_at, reduction_cache_write,
             expressions_two_outputs, symbolic_shape]


def run_kernel(s, ins, outs, arrays):
    """The results of the schedule's kernel (built for "c") on arrays."""
    f = te.build(s, ins + outs, "c")
    res = [np.zeros([int(d) for d in _shape(t, arrays, ins)], t.dtype) for t in outs]
    f(*arrays, *res)
    return res


def _shape(t, arrays, ins):
    sizes = {}
    for x, arr in zip(ins, arrays):
        for d, v in zip(x.shape, arr.shape):
            if isinstance(d, te.Var):
                sizes[d] = v
    return [sizes[d] if isinstance(d, te.Var) else int(d) for d in t.shape]


def random_inputs(ins, n=9):
    out = []
    for t in ins:
        shape = [n if isinstance(d, te.Var) else int(d) for d in t.shape]
        out.append(RNG.integers(-8, 8, shape).astype(t.dtype) if t.dtype == "int8"
                   else RNG.random(shape).astype(t.dtype))
    return out


@pytest.mark.parametrize("make", SCHEDULES, ids=lambda f: f.__name__)
def test_round_trip(make):
    s, ins, outs, expected_text, numpy_ref = make()
    mod = te.hybrid.build(s, ins, outs)
    src = mod.get_source()
    for text in expected_text:
        assert text in src, src
    arrays = random_inputs(ins)
    want = numpy_ref(*arrays)
    # emulation: the script run as Python on NumPy arrays
    got = mod(*arrays)
    got = list(got) if isinstance(got, tuple) else [got]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    # parsed back into a hybrid op, built, and run
    new = mod(*ins)
    new = new if isinstance(new, list) else [new]
    s2 = te.create_schedule(new[0].op)
    assert len(new) == len(outs) and [t.dtype for t in new] == [t.dtype for t in outs]
    for g, w in zip(run_kernel(s2, ins, new, arrays), want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    # the hybrid op's loop nest dumps again, to a script computing the same
    again = te.hybrid.build(s2, ins, new)(*arrays)
    again = list(again) if isinstance(again, tuple) else [again]
    for g, w in zip(again, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_scalar_inputs_and_thread_bindings_are_kept():
    """te.vars given as inputs are parameters; loops bound to GPU threads become bind()."""
    n = te.var("n")
    a = te.placeholder((n,), name="a")
    b = te.compute((n,), lambda i: a[i] + 1.0, name="b")
    s = te.create_schedule(b.op)
    bo, bi = s[b].split(b.op.axis[0], 4)
    s[b].bind(bo, te.thread_axis("blockIdx.x"))
    s[b].bind(bi, te.thread_axis("threadIdx.x"))
    mod = te.hybrid.build(s, [n, a], [b], name="add_one")
    src = mod.get_source()
    assert src.startswith("def add_one(n, a):")
    assert "in bind('blockIdx.x', (n + 3) // 4):" in src and "bind('threadIdx.x', 4)" in src
    x = RNG.random(10).astype("float32")
    np.testing.assert_allclose(mod(10, x), x + 1.0)
    new = mod(n, a)                         # parsed: the bound loops are the op's axes
    attrs = new.op.initial_iter_attrs()
    assert sorted(a["thread"].thread_tag for a in attrs.values()) == ["blockIdx.x",
                                                                      "threadIdx.x"]


def test_max_reduction_scan_and_virtual_threads_emulate():
    """No kernel built: the scripts run in Python against NumPy and parse back."""
    x = te.placeholder((5, 3), name="x")
    k = te.reduce_axis((0, 3), name="k")
    mx = te.compute((5,), lambda i: te.max(x[i, k], axis=k), name="mx")
    state = te.placeholder((5, 3), name="state")
    init = te.compute((1, 3), lambda _, i: x[0, i], name="init")
    update = te.compute((5, 3), lambda t, i: state[t - 1, i] + x[t, i], name="update")
    cum = te.scan(init, update, state, inputs=[x], name="cum")
    twice = te.compute((8,), lambda i: x[i % 5, 0] * 2.0, name="twice")
    s = te.create_schedule([mx.op, cum.op, twice.op])
    vo, vi = s[twice].split(twice.op.axis[0], 2)
    s[twice].bind(vo, te.thread_axis("vthread"))
    mod = te.hybrid.build(s, [x], [mx, cum, twice])
    src = mod.get_source()
    assert "mx[i] = ninf('float32')" in src and "for i_outer in range(4):" in src
    arr = RNG.random((5, 3)).astype("float32")
    got_max, got_cum, got_twice = mod(arr)
    np.testing.assert_allclose(got_max, arr.max(axis=1))
    np.testing.assert_allclose(got_cum, np.cumsum(arr, axis=0), rtol=1e-6)
    np.testing.assert_allclose(got_twice, arr[np.arange(8) % 5, 0] * 2.0)
    new = mod(x)
    assert [t.shape for t in new] == [mx.shape, cum.shape, twice.shape]
    te.lower(te.create_schedule(new[0].op), [x] + new)


def test_save_load_and_source_constructor(tmp_path):
    ins, c = outer_product(3, 4)
    s = te.create_schedule(c.op)
    mod = te.hybrid.build(s, ins, [c], name="outer")
    path = mod.save(str(tmp_path / "outer"))
    assert path.endswith("outer.py")
    loaded = HybridModule()
    loaded.load(path)
    again = HybridModule(mod.get_source())
    x, y = RNG.random(3).astype("float32"), RNG.random(4).astype("float32")
    for m in (loaded, again):
        assert m.name == "outer" and m.get_source() == mod.get_source()
        np.testing.assert_allclose(m(x, y), np.outer(x, y))


# ----------------------------------------------------------------------------- refusals

def test_what_a_script_cannot_say():
    a = te.placeholder((4,), name="a")
    e = te.extern((4,), [a], lambda ins, outs: te.call_extern("int32", "copy4", ins[0], outs[0]),
                  name="e")
    s = te.create_schedule(e.op)
    with pytest.raises(te.LoweringError, match="stage e is an extern op"):
        te.hybrid.build(s, [a], [e])

    f = te.compute((4,), lambda i: te.floor(a[i]), name="f")
    with pytest.raises(te.LoweringError, match="math function floor, which hybrid scripts do "
                       "not have"):
        te.hybrid.build(te.create_schedule(f.op), [a], [f])

    nan = te.compute((4,), lambda i: te.if_then_else(a[i] > 0, a[i], float("nan")), name="nan")
    with pytest.raises(te.LoweringError, match="a NaN constant has no hybrid-script form"):
        te.hybrid.build(te.create_schedule(nan.op), [a], [nan])

    n = te.var("n")
    q = te.compute((n,), lambda i: i.astype("float32"), name="q")
    with pytest.raises(te.LoweringError, match="variable n is neither an input nor a "
                       "dimension of an input"):
        te.hybrid.build(te.create_schedule(q.op), [], [q])


def test_tensorized_stage_is_refused():
    x = te.placeholder((4,), name="x")
    y = te.compute((4,), lambda i: x[i] * 2.0, name="y")
    intrin = te.decl_tensor_intrin(y.op, lambda ins, outs: {"body": ""}, name="double4")
    a = te.placeholder((8,), name="a")
    b = te.compute((8,), lambda i: a[i] * 2.0, name="b")
    s = te.create_schedule(b.op)
    bo, bi = s[b].split(b.op.axis[0], 4)
    s[b].tensorize(bi, intrin)
    with pytest.raises(te.LoweringError, match=r"stage b is tensorized \(double4\)"):
        te.hybrid.build(s, [a], [b])


def test_bad_arguments():
    ins, c = outer_product(2, 2)
    s = te.create_schedule(c.op)
    with pytest.raises(te.LoweringError, match="expects a Schedule"):
        te.hybrid.build(c, ins, [c])
    with pytest.raises(te.LoweringError, match="an output is a tensor"):
        te.hybrid.build(s, ins, [te.var("v")])
    with pytest.raises(te.LoweringError, match="an input is a tensor or a te.var"):
        te.hybrid.build(s, [3], [c])
    with pytest.raises(te.LoweringError, match="name must be a Python identifier"):
        te.hybrid.build(s, ins, [c], name="for")
    with pytest.raises(te.TexprError, match="has no function yet"):
        HybridModule()(1)
    with pytest.raises(te.TexprError, match="expected the source of one function definition"):
        HybridModule("x = 1\n")
