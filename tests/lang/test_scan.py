"""te.scan (TVM's general scan): the time loop runs in order, each row from earlier rows.

Every kernel is compared with a NumPy loop over the time axis, on c and native.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te

TARGETS = ["c", "native"]
RNG = np.random.default_rng(3)


def rand(*shape, dtype="float32"):
    return RNG.standard_normal(shape).astype(dtype)


def cumsum_graph(m, n):
    """Row t of the state is row t - 1 plus row t of X (a cumulative sum over rows)."""
    X = te.placeholder((m, n), name="X")
    state = te.placeholder((m, n), name="state")
    init = te.compute((1, n), lambda _, i: X[0, i], name="init")
    update = te.compute((m, n), lambda t, i: state[t - 1, i] + X[t, i], name="update")
    res = te.scan(init, update, state, inputs=[X], name="cumsum")
    return X, init, update, res


def run(s, args, arrays, target):
    f = te.build(s, args, target=target)
    f(*arrays)
    return f


@pytest.mark.parametrize("target", TARGETS)
def test_cumulative_sum_symbolic(target):
    m, n = te.var("m"), te.var("n")
    X, _, _, res = cumsum_graph(m, n)
    assert res.shape[0] is m and res.dtype == "float32"
    s = te.create_schedule(res.op)
    for shape in ((6, 5), (1, 3), (17, 9)):
        x = rand(*shape)
        out = np.empty_like(x)
        run(s, [X, res], [x, out], target)
        np.testing.assert_allclose(out, np.cumsum(x, axis=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("target", TARGETS)
def test_scheduled_update(target):
    """split + vectorize + parallel of the update's spatial axis (inside the serial time loop)."""
    m = te.var("m")
    X, _, update, res = cumsum_graph(m, 37)
    s = te.create_schedule(res.op)
    xo, xi = s[update].split(update.op.axis[1], factor=8)
    s[update].vectorize(xi)
    s[update].parallel(xo)
    x = rand(11, 37)
    out = np.empty_like(x)
    f = run(s, [X, res], [x, out], target)
    np.testing.assert_allclose(out, np.cumsum(x, axis=0), rtol=1e-5, atol=1e-5)
    assert "stage update" in f.source


def test_time_loop_is_serial_and_scan_axis():
    m = te.var("m")
    X, init, update, res = cumsum_graph(m, 4)
    op = res.op
    assert op.num_outputs == 1 and op.scan_axis.dom.min.value == 1
    assert len(op.spatial_axis_) == 1 and op.spatial_axis_[0].dom.extent.value == 4
    assert op.input_tensors == [init, update]
    text = str(te.lower(te.create_schedule(op), [X, res]))
    assert "parallel" not in text and "cumsum.idx" in text


@pytest.mark.parametrize("target", TARGETS)
def test_two_states(target):
    """Two states updated together: a[t] = a[t-1] + b[t-1], b[t] = 2 b[t-1] - a[t-1] + x[t]."""
    m, n = te.var("m"), 6
    X = te.placeholder((m, n), name="X")
    sa = te.placeholder((m, n), name="sa")
    sb = te.placeholder((m, n), name="sb")
    ia = te.compute((1, n), lambda _, i: X[0, i], name="ia")
    ib = te.compute((1, n), lambda _, i: X[0, i] * 0.5, name="ib")
    ua = te.compute((m, n), lambda t, i: sa[t - 1, i] + sb[t - 1, i], name="ua")
    ub = te.compute((m, n), lambda t, i: sb[t - 1, i] * 2.0 - sa[t - 1, i] + X[t, i], name="ub")
    ra, rb = te.scan([ia, ib], [ua, ub], [sa, sb], inputs=[X], name="pair")
    assert ra.op is rb.op and ra.value_index == 0 and rb.value_index == 1
    s = te.create_schedule(ra.op)
    s[ub].vectorize(s[ub].split(ub.op.axis[1], factor=2)[1])
    x = rand(9, n)
    a, b = np.empty_like(x), np.empty_like(x)
    run(s, [X, ra, rb], [x, a, b], target)
    ea, eb = np.empty_like(x), np.empty_like(x)
    ea[0], eb[0] = x[0], x[0] * 0.5
    for t in range(1, 9):
        ea[t] = ea[t - 1] + eb[t - 1]
        eb[t] = eb[t - 1] * 2 - ea[t - 1] + x[t]
    np.testing.assert_allclose(a, ea, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(b, eb, rtol=1e-4, atol=1e-4)


def test_states_of_different_shapes():
    """A [m, 4] and a [m, 3] state: a[t] = a[t-1] + sum(b[t-1]), b[t] = b[t-1] + 1."""
    m = te.var("m")
    sa = te.placeholder((m, 4), name="sa")
    sb = te.placeholder((m, 3), name="sb")
    ia = te.compute((1, 4), lambda _, i: te.const(0.0), name="ia")
    ib = te.compute((1, 3), lambda _, j: j.astype("float32"), name="ib")
    k = te.reduce_axis((0, 3), name="k")
    ub = te.compute((m, 3), lambda t, j: sb[t - 1, j] + 1.0, name="ub")
    # the sum is a stage of the scan's body (it reads the state)
    tot = te.compute((m,), lambda t: te.sum(sb[t - 1, k], axis=k), name="tot")
    ua = te.compute((m, 4), lambda t, i: sa[t - 1, i] + tot[t], name="ua")
    ra, rb = te.scan([ia, ib], [ua, ub], [sa, sb], name="mixed")
    assert ra.shape[1].value == 4 and rb.shape[1].value == 3
    assert len(ra.op.spatial_axis_) == 2
    s = te.create_schedule(ra.op)
    a, b = np.empty((7, 4), "float32"), np.empty((7, 3), "float32")
    run(s, [ra, rb], [a, b], "c")
    eb = np.arange(3, dtype="float32") + np.arange(7, dtype="float32")[:, None]
    ea = np.zeros((7, 4), "float32")
    for t in range(1, 7):
        ea[t] = ea[t - 1] + eb[t - 1].sum()
    np.testing.assert_allclose(b, eb)
    np.testing.assert_allclose(a, ea, rtol=1e-5)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("attach", ["default", "compute_at", "inline"])
def test_intermediate_stage(target, attach):
    """The update reads a stage that reads the state: it runs in the time loop too."""
    m, n = te.var("m"), 20
    X = te.placeholder((m, n), name="X")
    state = te.placeholder((m, n), name="state")
    init = te.compute((1, n), lambda _, i: X[0, i], name="init")
    twice = te.compute((m, n), lambda t, i: state[t - 1, i] * 2.0, name="twice")
    update = te.compute((m, n), lambda t, i: twice[t, i] + X[t, i], name="update")
    res = te.scan(init, update, state, inputs=[X], name="scan")
    s = te.create_schedule(res.op)
    assert s[twice].scan is s[res] and s[update].scan is s[res]
    xo, xi = s[update].split(update.op.axis[1], factor=8)
    if attach == "compute_at":
        s[twice].compute_at(s[update], xo)
    elif attach == "inline":
        s[twice].compute_inline()
    x = rand(8, n)
    out = np.empty_like(x)
    run(s, [X, res], [x, out], target)
    expect = np.empty_like(x)
    expect[0] = x[0]
    for t in range(1, 8):
        expect[t] = expect[t - 1] * 2 + x[t]
    np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("target", TARGETS)
def test_three_dims_and_several_init_rows(target):
    """A [m, 3, 4] state whose first two rows come from init; row t reads rows t-1 and t-2."""
    m = te.var("m")
    X = te.placeholder((m, 3, 4), name="X")
    state = te.placeholder((m, 3, 4), name="state")
    init = te.compute((2, 3, 4), lambda t, i, j: X[t, i, j], name="init")
    update = te.compute((m, 3, 4), lambda t, i, j: state[t - 1, i, j] + state[t - 2, i, j] * 0.5
                        + X[t, i, j], name="update")
    res = te.scan(init, update, state, inputs=[X])
    assert res.op.scan_axis.dom.min.value == 2
    s = te.create_schedule(res.op)
    s[update].reorder(update.op.axis[2], update.op.axis[1])
    x = rand(10, 3, 4)
    out = np.empty_like(x)
    run(s, [X, res], [x, out], target)
    expect = x.copy()
    for t in range(2, 10):
        expect[t] = expect[t - 1] + expect[t - 2] * 0.5 + x[t]
    np.testing.assert_allclose(out, expect, rtol=1e-4, atol=1e-4)


def test_placeholder_init_is_copied_and_scan_feeds_a_consumer():
    """init may be an input array (its rows are copied); the scan need not be an output."""
    m, n = te.var("m"), 5
    X = te.placeholder((m, n), name="X")
    I0 = te.placeholder((1, n), name="I0")
    state = te.placeholder((m, n), name="state")
    update = te.compute((m, n), lambda t, i: te.max(state[t - 1, i], X[t, i]), name="update")
    res = te.scan(I0, update, state, name="runmax")
    out = te.compute((m, n), lambda t, i: res[t, i] * 3.0, name="out")
    s = te.create_schedule(out.op)
    x, i0 = rand(6, n), rand(1, n)
    o = np.empty_like(x)
    run(s, [X, I0, out], [x, i0, o], "c")
    expect = np.maximum.accumulate(np.concatenate([i0, x[1:]]), axis=0) * 3
    np.testing.assert_allclose(o, expect, rtol=1e-6)


def test_integer_state():
    m = te.var("m")
    X = te.placeholder((m, 3), "int32", name="X")
    state = te.placeholder((m, 3), "int32", name="state")
    init = te.compute((1, 3), lambda _, i: X[0, i], name="init")
    update = te.compute((m, 3), lambda t, i: state[t - 1, i] * 3 + X[t, i], name="update")
    res = te.scan(init, update, state)
    x = RNG.integers(-5, 5, (6, 3)).astype("int32")
    out = np.empty_like(x)
    run(te.create_schedule(res.op), [X, res], [x, out], "native")
    expect = x.copy()
    for t in range(1, 6):
        expect[t] = expect[t - 1] * 3 + x[t]
    np.testing.assert_array_equal(out, expect)


@settings(max_examples=12, deadline=None)
@given(m=st.integers(1, 9), n=st.integers(1, 13), factor=st.integers(1, 8),
       vectorize=st.booleans(), seed=st.integers(0, 2**16))
def test_cumsum_any_shape_and_schedule(m, n, factor, vectorize, seed):
    mv = te.var("m")
    X, _, update, res = cumsum_graph(mv, n)
    s = te.create_schedule(res.op)
    xo, xi = s[update].split(update.op.axis[1], factor=factor)
    if vectorize:
        s[update].vectorize(xi)
    x = np.random.default_rng(seed).standard_normal((m, n)).astype("float32")
    out = np.empty_like(x)
    run(s, [X, res], [x, out], "c")
    np.testing.assert_allclose(out, np.cumsum(x, axis=0), rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- refusals

def test_shape_and_dtype_mismatches():
    m, n = te.var("m"), 4
    X = te.placeholder((m, n), name="X")
    state = te.placeholder((m, n), name="state")
    init = te.compute((1, n), lambda _, i: X[0, i], name="init")
    update = te.compute((m, n), lambda t, i: state[t - 1, i] + X[t, i], name="update")
    bad_init = te.compute((1, n + 1), lambda _, i: te.const(0.0), name="bad_init")
    with pytest.raises(te.TexprError, match="dimension 1 of init bad_init is 5 but the state"):
        te.scan(bad_init, update, state)
    bad_up = te.compute((m, n, 2), lambda t, i, j: state[t - 1, i], name="bad_up")
    with pytest.raises(te.TexprError, match="update bad_up has 3 dimension"):
        te.scan(init, bad_up, state)
    short_up = te.compute((m - 1, n), lambda t, i: state[t, i], name="short_up")
    with pytest.raises(te.TexprError, match="dimension 0 of update short_up"):
        te.scan(init, short_up, state)
    int_init = te.compute((1, n), lambda _, i: X[0, i].astype("int32"), name="int_init")
    with pytest.raises(te.DTypeError, match="init int_init has dtype int32 but state state"):
        te.scan(int_init, update, state)
    with pytest.raises(te.TexprError, match="must be a te.placeholder"):
        te.scan(init, update, update)
    with pytest.raises(te.TexprError, match="1 init tensor.*2 update tensor"):
        te.scan([init], [update, update], [state])
    with pytest.raises(te.TexprError, match="expected a tensor"):
        te.scan(init, "update", state)
    same_row = te.compute((m, n), lambda t, i: state[t, i] + 1.0, name="same_row")
    with pytest.raises(te.TexprError, match="own time step or later"):
        te.scan(init, same_row, state)
    too_many = te.compute((5, n), lambda t, i: X[t, i], name="too_many")
    with pytest.raises(te.TexprError, match="init too_many has 5 row"):
        te.scan(too_many, te.compute((4, n), lambda t, i: X[t, i], name="u4"),
                te.placeholder((4, n), name="st4"))


def test_schedule_refusals():
    m = te.var("m")
    X, init, update, res = cumsum_graph(m, 4)
    s = te.create_schedule(res.op)
    with pytest.raises(te.ScheduleError, match="schedule its update stage"):
        s[res].split(res.op.scan_axis, factor=2)
    with pytest.raises(te.ScheduleError, match="update of scan cumsum"):
        s[update].compute_inline()
    with pytest.raises(te.ScheduleError, match="init of scan cumsum"):
        s[init].compute_inline()
    with pytest.raises(te.ScheduleError, match="body of scan cumsum"):
        s[update].compute_root()
    with pytest.raises(te.ScheduleError, match="scan cannot be inlined"):
        s[res].compute_inline()
    with pytest.raises(te.ScheduleError, match="cannot be cached"):
        s.cache_write(update, "local")


def test_state_placeholder_not_an_argument_and_outputs_required():
    m = te.var("m")
    X, _, _, res = cumsum_graph(m, 4)
    s = te.create_schedule(res.op)
    with pytest.raises(te.LoweringError, match="output cumsum is not in args"):
        te.lower(s, [X])


@pytest.mark.parametrize("init_rows", [1, 2])
def test_fewer_time_steps_than_init_rows_writes_nothing(init_rows):
    """m below the init's row count: no init row fits, so none is written (or copied)."""
    m, n = te.var("m"), 3
    X = te.placeholder((m, n), name="X")
    state = te.placeholder((m, n), name="state")
    I0 = te.placeholder((init_rows, n), name="I0")
    init = te.compute((init_rows, n), lambda t, i: I0[t, i], name="init")
    update = te.compute((m, n), lambda t, i: state[t - 1, i] + X[t, i], name="update")
    for first in (init, I0):
        res = te.scan(first, update, state, name="sc")
        f = te.build(te.create_schedule(res.op), [X, I0, res], target="c")
        text = str(te.lower(te.create_schedule(res.op), [X, I0, res]))
        assert f"m >= {init_rows}" in text
        for rows in range(init_rows + 2):
            x = rand(rows, n)
            i0 = rand(init_rows, n)
            out = np.full((rows + 1, n), 7.0, "float32")   # one guard row past the end
            f(x, i0, out[:rows])
            if rows < init_rows:
                np.testing.assert_array_equal(out, 7.0)       # nothing fits: nothing written
                continue
            expect = np.concatenate([i0, x[init_rows:]])
            for t in range(init_rows, rows):
                expect[t] += expect[t - 1]
            np.testing.assert_allclose(out[:rows], expect, rtol=1e-5, atol=1e-5)
            np.testing.assert_array_equal(out[rows], 7.0)


def test_update_compute_at_the_time_loop_and_topi_schedule():
    """Placing the update at the scan's time axis (TVM's idiom) changes nothing; topi's default
    schedule leaves the scan's time loop alone."""
    import texpr.topi as topi
    m = te.var("m")
    X, _, update, res = cumsum_graph(m, 16)
    s = te.create_schedule(res.op)
    s[update].compute_at(s[res], res.op.scan_axis)
    x = rand(5, 16)
    out = np.empty_like(x)
    run(s, [X, res], [x, out], "c")
    np.testing.assert_allclose(out, np.cumsum(x, axis=0), rtol=1e-5, atol=1e-5)
    s = topi.schedule([res], target="native")
    out[:] = 0
    run(s, [X, res], [x, out], "native")
    np.testing.assert_allclose(out, np.cumsum(x, axis=0), rtol=1e-5, atol=1e-5)


def test_body_is_a_group_that_nests_groups():
    """As TVM: a scan's body stages form a group in its time loop; create_group of some of
    them nests in it, and that group placed at another body stage computes there."""
    m = te.var("m")
    X = te.placeholder((m, 6), name="X")
    state = te.placeholder((m, 6), name="state")
    init = te.compute((1, 6), lambda _, i: X[0, i], name="init")
    u1 = te.compute((m, 6), lambda t, i: state[t - 1, i] + X[t, i], name="u1")
    u2 = te.compute((m, 6), lambda t, i: u1[t, i] * 0.5, name="u2")
    u3 = te.compute((m, 6), lambda t, i: u2[t, i] + 1.0, name="u3")
    res = te.scan(init, u3, state, inputs=[X], name="res")
    s = te.create_schedule(res.op)
    body = s[u1].group
    assert body is not None and s[u2].group is body and s[u3].group is body
    assert body.attach_stage is s[res] and s[init].group is None
    g = s.create_group(outputs=u2, inputs=[state, X])
    assert g.group is body and s[u1].group is g and s[u2].group is g and s[u3].group is body
    g.compute_at(s[u3], u3.op.axis[1])
    assert s[u2].attach_stage is s[u3] and s[u1].attach_stage is s[u3]
    with pytest.raises(te.ScheduleError, match="belongs to group"):
        s[u2].compute_at(s[init], init.op.axis[0])
    with pytest.raises(te.ScheduleError, match="body of scan res"):
        body.compute_root()
    x = rand(5, 6)
    want = np.empty_like(x)
    want[0] = x[0]
    for t in range(1, 5):
        want[t] = (want[t - 1] + x[t]) * 0.5 + 1.0
    out = np.empty_like(x)
    run(s, [X, res], [x, out], "c")
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
