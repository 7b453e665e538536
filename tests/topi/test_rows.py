"""The row operators (softmax, log_softmax, layer_norm, rms_norm) and gelu against NumPy under
their registered CPU schedules (topi/cpu_rows.py): rows with a tail (length not a multiple of
the vector width), softmax over a non-last axis (vectors across the kept axis), normalisation
over two trailing axes, fused elementwise epilogues; the loop nest and the bad inputs checked
without compiling. Kernels are few and tiny: one build per behaviour, several ops per build."""
import numpy as np
import pytest

import texpr as te
import texpr.topi as topi
from texpr.topi import testing as ref

RNG = np.random.default_rng(16)


def build_and_run(outs, inputs, arrays, target="native"):
    """Outputs shaped like the first input where a dimension is symbolic."""
    f = te.build(topi.schedule(outs, target), list(inputs) + list(outs), target=target)
    got = [np.zeros([int(d.value) if hasattr(d, "value") else arrays[0].shape[k]
                     for k, d in enumerate(o.shape)], o.dtype) for o in outs]
    f(*arrays, *got)
    return got


@pytest.mark.parametrize("shape, axis", [((5, 37), -1), ((3, 19, 6), 1)],
                         ids=["rows-tail", "columns"])
def test_softmax_and_log_softmax(shape, axis):
    """rows of 37 (four vectors of partial results and a tail), as many as the call's array
    has (a symbolic row count), and softmax over the middle axis of [3, 19, 6] (vectors
    across the last axis, 6 < 8 lanes); fast_exp's 2 ULP keep softmax within 2e-6 relative
    of float64 (the values span 1e-9 to 1)."""
    X = te.placeholder((te.var("rows"),) + shape[1:] if axis == -1 else shape, name="X")
    x = (RNG.standard_normal(shape) * 4).astype("float32")
    sm, lsm = topi.nn.softmax(X, axis), topi.nn.log_softmax(X, axis)
    got_sm, got_lsm = build_and_run([sm, lsm], [X], [x])
    xd = x.astype(np.float64)
    np.testing.assert_allclose(got_sm, ref.softmax_ref(xd, axis), rtol=2e-6, atol=1e-30)
    np.testing.assert_allclose(got_lsm, ref.log_softmax_ref(xd, axis), rtol=1e-6, atol=2e-6)


def test_symbolic_row_count_has_a_one_row_class():
    """A symbolic row count: a size class for one row (the kernel a one-row build gets: no
    parallel loop), the fallback for every other count; one build, both against NumPy."""
    X = te.placeholder((te.var("rows"), 19), name="X")
    Y = topi.nn.softmax(X)
    s = topi.schedule([Y], "native")
    assert [str(c) for c, _ in s.specializations] == ["rows == 1"]
    one, rest = str(te.lower(s, [X, Y], target="native")).split("} else {", 1)
    assert "for parallel" not in one and "for parallel" in rest
    f = te.build(s, [X, Y], target="native")
    for rows in (1, 3):
        x = RNG.standard_normal((rows, 19)).astype("float32")
        np.testing.assert_allclose(f(x), ref.softmax_ref(x.astype(np.float64), -1), rtol=2e-6,
                                   atol=1e-30)


def test_softmax_on_portable_c_keeps_the_default_schedule():
    """On target c (no registered row schedule) the parts are scheduled one by one."""
    X = te.placeholder((4, 11), name="X")
    x = RNG.standard_normal((4, 11)).astype("float32")
    (got,) = build_and_run([topi.nn.softmax(X, 0)], [X], [x], target="c")
    np.testing.assert_allclose(got, ref.softmax_ref(x, 0), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shape, axis", [((4, 45), -1), ((2, 3, 10), (-2, -1))],
                         ids=["last-axis", "two-axes"])
def test_layer_norm_and_rms_norm(shape, axis):
    """The statistics per row in cache; a mean far from zero (100) does not cancel: the
    variance is taken about the mean (E[x^2] - E[x]^2 would lose three digits here)."""
    X = te.placeholder(shape, name="X")
    nshape = shape[-2:] if isinstance(axis, tuple) else shape[-1:]
    G, B, W = (te.placeholder(nshape, name=n) for n in ("G", "B", "W"))
    x = (RNG.standard_normal(shape) + 100).astype("float32")
    g, b, w = (RNG.standard_normal(nshape).astype("float32") for _ in range(3))
    ln = topi.nn.layer_norm(X, G, B, axis=axis, epsilon=1e-5)
    rms = topi.nn.rms_norm(X, W, axis=axis, epsilon=1e-6)
    got_ln, got_rms = build_and_run([ln, rms], [X, G, B, W], [x, g, b, w])
    np.testing.assert_allclose(got_ln, ref.layer_norm_ref(x, g, b, axis, 1e-5), rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(got_rms, ref.rms_norm_ref(x, w, axis, 1e-6), rtol=1e-5,
                               atol=1e-6)


def test_gelu_both_forms_and_fused_after_dense():
    """gelu (erf and tanh forms) is elementwise: alone it is vectorized, after dense it is
    the dense schedule's epilogue (the product is computed at the epilogue's blocks)."""
    M = topi.cpu.gemv_max_rows("native") + 1      # above the dot-product rows: a gemm stage
    X = te.placeholder((M, 29), name="X")
    W = te.placeholder((12, 29), name="W")
    x = (RNG.standard_normal((M, 29)) * 3).astype("float32")
    w = RNG.standard_normal((12, 29)).astype("float32")
    dense = topi.nn.dense(X, W)
    fused = topi.nn.gelu(dense, approximate="tanh")
    s = topi.schedule(fused)
    gemm = [st for st in s.stages if st.op.tag == "gemm"]
    assert gemm and gemm[0].attach_stage is s[fused]
    outs = [topi.nn.gelu(X), topi.nn.gelu(X, approximate="tanh"), fused]
    got_erf, got_tanh, got_fused = build_and_run(outs, [X, W], [x, w])
    # the rational erf's absolute error (test_gelu_erf_form_accuracy_bound) for |x| < 15
    np.testing.assert_allclose(got_erf, ref.gelu_ref(x), rtol=1e-6, atol=4e-6)
    np.testing.assert_allclose(got_tanh, ref.gelu_ref(x, "tanh"), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got_fused, ref.gelu_ref(ref.dense_ref(x, w), "tanh"),
                               rtol=1e-5, atol=1e-5)


def test_gelu_erf_form_accuracy_bound():
    """float32 gelu's rational erf (topi/activation.py): |error| <= 2.5e-7 |x| everywhere,
    <= 4 ULP for x >= 0, against the float64 erf form, on a dense grid of [-12, 12] (a tail
    of the grid runs through the scalar remainder)."""
    n = 200003
    X = te.placeholder((n,), name="X")
    x = np.concatenate([np.linspace(-12, 12, n - 3), [0.0, -1e-30, 3e-38]]).astype("float32")
    (got,) = build_and_run([topi.nn.gelu(X)], [X], [x])
    want = ref.gelu_ref(x.astype(np.float64))
    err = np.abs(got - want)
    assert np.all(err <= 2.5e-7 * np.abs(x.astype(np.float64))), np.max(err / np.abs(x))
    pos = x >= 0
    ulp = np.spacing(np.abs(want[pos]).astype("float32")).astype(np.float64)
    assert np.max(err[pos] / ulp) <= 4
    assert np.all((got == 0) | (np.sign(got) == np.sign(x)))     # never the wrong sign


def test_epilogue_after_layer_norm_is_fused_into_the_row():
    """layer_norm -> gelu -> (x 0.5): the output stage is the row nest's output, layer_norm's
    own stage is inlined into it, the statistics are computed at its row."""
    X = te.placeholder((6, 20), name="X")
    G = te.placeholder((20,), name="G")
    B = te.placeholder((20,), name="B")
    ln = topi.nn.layer_norm(X, G, B)
    out = te.compute(X.shape, lambda i, j: topi.nn.gelu(ln)[i, j] * 0.5, name="scaled",
                     tag="elemwise")
    s = topi.schedule(out)
    assert s[ln].attach_type == "inline"
    stats = [s[t] for t in ln.op.input_tensors if t.op.tag == "row_part"]
    assert stats and all(st.attach_stage is s[out] for st in stats)
    x = RNG.standard_normal((6, 20)).astype("float32")
    g, b = (RNG.standard_normal(20).astype("float32") for _ in range(2))
    (got,) = build_and_run([out], [X, G, B], [x, g, b])
    np.testing.assert_allclose(got, ref.gelu_ref(ref.layer_norm_ref(x, g, b)) * 0.5,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("target, lanes", [("avx2", 8), ("avx512", 16), ("neon", 4)])
def test_row_schedule_follows_the_targets_vector_width(target, lanes):
    """Lowered only: one parallel loop over the rows, the max and the sum as `lanes`-wide
    partial vectors (four of them, then folded to 4 lanes), the exp vectorized."""
    X = te.placeholder((8, 300), name="X")
    sm = topi.nn.softmax(X)
    text = str(te.lower(topi.schedule(sm, target), [X, sm], target=target))
    assert text.count("for parallel") == 1
    assert f"softmax_max.rf[ramp({3 * lanes}, 1, {lanes})]" in text
    assert f"softmax_sum.rf[ramp({3 * lanes}, 1, {lanes})]" in text
    assert "exp(X[ramp(" in text
    # the partial vector folded to 4 lanes (vector adds) before the last scalar steps
    folded = "softmax_sum.rf[ramp(0, 1, 4)] = softmax_sum.rf[ramp(0, 1, 4)] + softmax_sum.rf[" \
             f"ramp(k2.inner.v.inner.v.outer * 4, 1, 4)]"
    assert (folded in text) == (lanes > 4)
    assert "for (k2.inner.v.inner.v.inner.v, 0, 4)" in text or lanes == 4


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_rows_from_memory_prefetch_the_next_row_in_the_pass_that_computes(target):
    """Lowered only. Data and output larger than the L2 (the target's, as the schedule reads
    it): softmax's exp and log_softmax's sum of exps, the second passes over the row, fetch
    the next row (one row further on); layer_norm's second pass (squares: no math call) and
    rows that fit the L2 fetch nothing."""
    cols = 1024
    big = topi.cpu.cpu_info(target).l2_bytes // (2 * 4 * cols) + 8
    for rows, op, want in ((big, topi.nn.softmax, "exp("), (big, topi.nn.log_softmax, "exp("),
                           (8, topi.nn.softmax, None), (big, "layer_norm", None)):
        X = te.placeholder((rows, cols), name="X")
        G, B = te.placeholder((cols,), name="G"), te.placeholder((cols,), name="B")
        args = [X, G, B] if op == "layer_norm" else [X]
        out = topi.nn.layer_norm(X, G, B) if op == "layer_norm" else op(X)
        text = str(te.lower(topi.schedule(out, target), args + [out], target=target))
        fetches = [ln for ln in text.splitlines() if "prefetch X[" in ln]
        if want is None:
            assert not fetches, (rows, op)
            continue
        assert len(fetches) == 1 and f" + {cols}]" in fetches[0], fetches
        loop = text[:text.index(fetches[0])].rsplit("for (", 1)[1]
        body = text[text.index(fetches[0]):].split("}", 1)[0]
        assert want in body and not loop.startswith("parallel"), (op, body)


@pytest.mark.parametrize("target", ["avx2", "avx512", "neon"])
def test_rows_much_larger_than_the_l3_are_written_by_streaming_stores(target):
    """Lowered only. Data and output of at least 3/4 of the L3 (the target's, as the schedule
    reads it): the output loop is marked stream_stores on x86 (lower/cpu/stream_stores.py),
    not where the data is smaller, nor on neon."""
    cols = 1024
    info = topi.cpu.cpu_info(target)
    big = 3 * info.l3_bytes // (4 * 2 * 4 * cols) + 8
    for rows, op in ((big, topi.nn.softmax), (big, topi.nn.layer_norm), (64, topi.nn.softmax)):
        X = te.placeholder((rows, cols), name="X")
        G, B = te.placeholder((cols,), name="G"), te.placeholder((cols,), name="B")
        args = [X, G, B] if op is topi.nn.layer_norm else [X]
        out = op(*args)
        text = str(te.lower(topi.schedule(out, target), args + [out], target=target))
        want = rows == big and target != "neon"
        assert ("pragma(stream_stores=" in text) == want, (target, rows, op)
        assert ("line_gap(" in text) == want


def test_bad_inputs_name_what_is_wrong():
    X = te.placeholder((4, 6), name="X")
    I = te.placeholder((4, 6), "int32", name="I")
    G6 = te.placeholder((6,), name="G6")
    G5 = te.placeholder((5,), name="G5")
    G6h = te.placeholder((6,), "float16", name="G6h")
    with pytest.raises(te.TexprError, match=r"softmax: axis 2 is out of range for 2 dim"):
        topi.nn.softmax(X, axis=2)
    with pytest.raises(te.TexprError, match=r"log_softmax: axis -3 is out of range"):
        topi.nn.log_softmax(X, axis=-3)
    with pytest.raises(te.TexprError, match=r"softmax: axis must be an int, got 1.5"):
        topi.nn.softmax(X, axis=1.5)
    with pytest.raises(te.TexprError, match=r"softmax: I must be a float tensor"):
        topi.nn.softmax(I)
    with pytest.raises(te.TexprError, match=r"layer_norm: gamma G5 has shape \[5\]; "
                                             r"expected \[6\]"):
        topi.nn.layer_norm(X, G5, G6)
    with pytest.raises(te.TexprError, match=r"layer_norm: beta G6h is float16; expected float32"):
        topi.nn.layer_norm(X, G6, G6h)
    with pytest.raises(te.TexprError, match=r"layer_norm: axis -1 is given twice"):
        topi.nn.layer_norm(X, G6, G6, axis=(1, -1))
    with pytest.raises(te.TexprError, match=r"rms_norm: gamma G6 has shape \[6\]; expected "
                                             r"\[4, 6\]"):
        topi.nn.rms_norm(X, G6, axis=(0, 1))
    with pytest.raises(te.TexprError, match=r"rms_norm: axis 5 is out of range"):
        topi.nn.rms_norm(X, G6, axis=5)
    with pytest.raises(te.TexprError, match=r"gelu: approximate must be 'none' or 'tanh', "
                                             r"got 'fast'"):
        topi.nn.gelu(X, approximate="fast")
    with pytest.raises(te.TexprError, match=r"gelu: I must be a float tensor"):
        topi.nn.gelu(I)
