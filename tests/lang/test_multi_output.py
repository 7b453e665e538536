"""Multi-output te.compute and tuple reducers (te.comm_reducer over tuples: argmax, argmin).

One operation, several output tensors written by one loop nest; every kernel is compared
with NumPy on c and native.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te

TARGETS = ["c", "native"]
RNG = np.random.default_rng(5)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


argmax = te.comm_reducer(
    lambda x, y: (te.if_then_else(x[1] >= y[1], x[0], y[0]), te.max(x[1], y[1])),
    lambda t0, t1: (te.const(-1, t0), te.min_value(t1)), name="argmax")
argmin = te.comm_reducer(
    lambda x, y: (te.if_then_else(x[1] <= y[1], x[0], y[0]), te.min(x[1], y[1])),
    lambda t0, t1: (te.const(-1, t0), te.max_value(t1)), name="argmin")


def argmax_graph(m, n, reducer=argmax):
    """T0[i], T1[i] = index and value of the largest val[i, k] (idx[i, k] names the index)."""
    idx = te.placeholder((m, n), "int32", name="idx")
    val = te.placeholder((m, n), name="val")
    k = te.reduce_axis((0, n), name="k")
    T0, T1 = te.compute((m,), lambda i: reducer((idx[i, k], val[i, k]), axis=k), name="T")
    return idx, val, k, T0, T1


def check_argmax(f, rows, n, pick=np.argmax, best=np.max):
    ids = np.tile(np.arange(n, dtype="int32"), (rows, 1))
    v = rand(rows, n)
    o0, o1 = np.empty(rows, "int32"), np.empty(rows, "float32")
    f(ids, v, o0, o1)
    np.testing.assert_array_equal(o0, pick(v, axis=1))
    np.testing.assert_array_equal(o1, best(v, axis=1))


# ----------------------------------------------------------------------------- multi-output

@pytest.mark.parametrize("target", TARGETS)
def test_two_outputs_one_nest(target):
    m = te.var("m")
    A = te.placeholder((m, 12), name="A")
    B, C = te.compute((m, 12), lambda i, j: (A[i, j] * 2.0, (A[i, j] > 0).astype("int32")),
                      name="BC")
    op = B.op
    assert C.op is op and op.num_outputs == 2 and op.output(1) is C
    assert (B.dtype, C.dtype) == ("float32", "int32") and B.value_index == 0 and C.value_index == 1
    s = te.create_schedule(op)
    assert s[B] is s[C]
    jo, ji = s[B].split(op.axis[1], factor=4)
    s[C].vectorize(ji)
    s[B].parallel(op.axis[0])
    text = str(te.lower(s, [A, B, C]))
    assert text.count("for") == 3          # one nest writes both outputs
    f = te.build(s, [A, B, C], target=target)
    a = rand(7, 12)
    b, c = np.empty_like(a), np.empty(a.shape, "int32")
    f(a, b, c)
    np.testing.assert_array_equal(b, a * 2)
    np.testing.assert_array_equal(c, (a > 0).astype("int32"))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("attach", ["root", "compute_at"])
def test_consumer_reads_both_outputs(target, attach):
    m = te.var("m")
    A = te.placeholder((m, 8), name="A")
    lo, hi = te.compute((m, 8), lambda i, j: (te.min(A[i, j], 0.0), te.max(A[i, j], 0.0)),
                        name="split")
    D = te.compute((m, 8), lambda i, j: hi[i, j] * 3.0 - lo[i, j], name="D")
    s = te.create_schedule(D.op)
    xo, xi = s[D].split(D.op.axis[1], factor=4)
    if attach == "compute_at":
        s[lo].compute_at(s[D], xo)
    f = te.build(s, [A, D], target=target)
    a = rand(5, 8)
    d = np.empty_like(a)
    f(a, d)
    np.testing.assert_allclose(d, np.maximum(a, 0) * 3 - np.minimum(a, 0), rtol=1e-6)


def test_multi_output_refusals():
    A = te.placeholder((4,), name="A")
    B, C = te.compute((4,), lambda i: (A[i] + 1.0, A[i] * 2.0), name="BC")
    D = te.compute((4,), lambda i: B[i] + C[i], name="D")
    s = te.create_schedule(D.op)
    with pytest.raises(te.ScheduleError, match="several outputs cannot be inlined"):
        s[B].compute_inline()
    with pytest.raises(te.ScheduleError, match="several outputs; it cannot be cached"):
        s.cache_write(C, "local")
    s = te.create_schedule(B.op)
    with pytest.raises(te.LoweringError, match="output BC.v1 is not in args"):
        te.lower(s, [A, B])
    with pytest.raises(te.LoweringError, match="BC.v0 is given twice"):
        te.lower(s, [A, B, B, C])
    k = te.reduce_axis((0, 4), name="k")
    with pytest.raises(te.TexprError, match=r"output\(s\) 1 are not reductions"):
        te.compute((1,), lambda i: (te.sum(A[k], axis=k), A[0]))
    with pytest.raises(te.TexprError, match="empty tuple"):
        te.compute((4,), lambda i: [])


# ----------------------------------------------------------------------------- tuple reducers

@pytest.mark.parametrize("target", TARGETS)
def test_argmax_symbolic_rows(target):
    m = te.var("m")
    idx, val, k, T0, T1 = argmax_graph(m, 13)
    s = te.create_schedule(T0.op)
    assert s[T0] is s[T1] and T0.dtype == "int32" and T1.dtype == "float32"
    f = te.build(s, [idx, val, T0, T1], target=target)
    for rows in (1, 6, 19):
        check_argmax(f, rows, 13)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("schedule", ["split_reduce", "data_parallel", "reorder_vectorize",
                                      "rfactor"])
def test_argmax_schedules(target, schedule):
    idx, val, k, T0, T1 = argmax_graph(24, 11)
    s = te.create_schedule(T0.op)
    i = T0.op.axis[0]
    if schedule == "split_reduce":
        ko, ki = s[T0].split(k, factor=4)
        s[T0].reorder(ki, ko)     # a different order still finds the first largest
    elif schedule == "data_parallel":
        io, ii = s[T0].split(i, factor=5)
        s[T0].parallel(io)
    elif schedule == "reorder_vectorize":
        io, ii = s[T0].split(i, factor=8)
        s[T0].reorder(io, k, ii)
        s[T0].vectorize(ii)
    else:
        ko, ki = s[T0].split(k, factor=4)
        R0, R1 = s.rfactor(T0, ki)
        assert R0.op is R1.op and R0.dtype == "int32"
        s[T0].parallel(T0.op.axis[0])
    f = te.build(s, [idx, val, T0, T1], target=target)
    check_argmax(f, 24, 11)


def test_argmin_with_where_and_symbolic_columns():
    m, n = te.var("m"), te.var("n")
    idx = te.placeholder((m, n), "int32", name="idx")
    val = te.placeholder((m, n), name="val")
    k = te.reduce_axis((0, n), name="k")
    T0, T1 = te.compute((m,), lambda i: argmin((idx[i, k], val[i, k]), axis=k, where=k % 2 == 0),
                        name="T")
    s = te.create_schedule(T0.op)
    f = te.build(s, [idx, val, T0, T1], target="native")
    ids = np.tile(np.arange(9, dtype="int32"), (4, 1))
    v = rand(4, 9)
    o0, o1 = np.empty(4, "int32"), np.empty(4, "float32")
    f(ids, v, o0, o1)
    np.testing.assert_array_equal(o0, v[:, ::2].argmin(1) * 2)
    np.testing.assert_array_equal(o1, v[:, ::2].min(1))


@pytest.mark.parametrize("target", TARGETS)
def test_values_that_read_each_other(target):
    """A complex product: each new value reads both old ones, so they go through registers."""
    cmul = te.comm_reducer(lambda x, y: (x[0] * y[0] - x[1] * y[1], x[0] * y[1] + x[1] * y[0]),
                           lambda a, b: (te.const(1, a), te.const(0, b)), name="cmul")
    re_ = te.placeholder((6, 5), name="re")
    im = te.placeholder((6, 5), name="im")
    k = te.reduce_axis((0, 5), name="k")
    P0, P1 = te.compute((6,), lambda i: cmul((re_[i, k], im[i, k]), axis=k), name="P")
    s = te.create_schedule(P0.op)
    assert "registers" in str(te.lower(s, [re_, im, P0, P1]))
    f = te.build(s, [re_, im, P0, P1], target=target)
    r, i = rand(6, 5), rand(6, 5)
    p0, p1 = np.empty(6, "float32"), np.empty(6, "float32")
    f(r, i, p0, p1)
    ref = np.prod(r.astype(complex) + 1j * i, axis=1)
    np.testing.assert_allclose(p0, ref.real, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(p1, ref.imag, rtol=1e-4, atol=1e-5)


def test_single_value_reducer_forms():
    """TVM's single-value comm_reducer with an identity function of the dtype."""
    mysum = te.comm_reducer(lambda x, y: x + y, lambda t: te.const(0, dtype=t), name="mysum")
    A = te.placeholder((5, 7), name="A")
    k = te.reduce_axis((0, 7), name="k")
    B = te.compute((5,), lambda i: mysum(A[i, k], axis=k), name="B")
    f = te.build(te.create_schedule(B.op), [A, B], target="c")
    a = rand(5, 7)
    b = np.empty(5, "float32")
    f(a, b)
    np.testing.assert_allclose(b, a.sum(1), rtol=1e-5)
    assert te.min_value("int8").value == -128 and te.max_value("uint16").value == 65535
    assert te.min_value("float32").value == -np.inf


@settings(max_examples=12, deadline=None)
@given(rows=st.integers(1, 9), n=st.integers(1, 17), factor=st.integers(1, 6),
       split_data=st.booleans())
def test_argmax_any_shape(rows, n, factor, split_data):
    idx, val, k, T0, T1 = argmax_graph(te.var("m"), n)
    s = te.create_schedule(T0.op)
    if split_data:
        s[T0].split(T0.op.axis[0], factor=factor)
    else:
        s[T0].split(k, factor=factor)
    check_argmax(te.build(s, [idx, val, T0, T1], target="c"), rows, n)


def test_tuple_reducer_errors():
    idx, val = te.placeholder((4, 4), "int32", name="idx"), te.placeholder((4, 4), name="val")
    k = te.reduce_axis((0, 4), name="k")
    one = te.comm_reducer(lambda x, y: x[0], lambda a, b: (te.const(0, a), te.const(0, b)),
                          name="one")
    with pytest.raises(te.TexprError, match="combine function must return 2 values.*returned one"):
        one((idx[0, k], val[0, k]), axis=k)
    three = te.comm_reducer(lambda x, y: (x[0], x[1], y[0]), lambda a, b: (0, 0), name="three")
    with pytest.raises(te.TexprError, match="must return 2 values.*returned 3 values"):
        three((idx[0, k], val[0, k]), axis=k)
    bad_id = te.comm_reducer(lambda x, y: (x[0], x[1]), lambda a, b: te.const(0, a), name="bad_id")
    with pytest.raises(te.TexprError, match="identity must give 2 values"):
        bad_id((idx[0, k], val[0, k]), axis=k)
    wrong_dt = te.comm_reducer(lambda x, y: (x[1], x[1]), lambda a, b: (0, 0), name="wrong_dt")
    with pytest.raises(te.DTypeError, match="value 0 of the combine function has dtype float32; "
                                            "expected int32"):
        wrong_dt((idx[0, k], val[0, k]), axis=k)
    with pytest.raises(te.TexprError, match="fails on one value.*reduce a tuple"):
        argmax(val[0, k], axis=k)
    pair = te.comm_reducer(lambda x, y: (x, y), lambda t: 0, name="pair")
    with pytest.raises(te.TexprError, match="returned 2 values for one reduced value"):
        pair(val[0, k], axis=k)
    with pytest.raises(te.TexprError, match="return them all"):
        te.compute((4,), lambda i: argmax((idx[i, k], val[i, k]), axis=k)[1])
    with pytest.raises(te.TexprError, match="not value 1 of the same tuple reduction"):
        te.compute((4,), lambda i: (argmax((idx[i, k], val[i, k]), axis=k)[0],
                                    argmin((idx[i, k], val[i, k]), axis=k)[1]))


def test_tuple_reduction_schedule_refusals():
    idx, val, k, T0, T1 = argmax_graph(8, 8)
    s = te.create_schedule(T0.op)
    ko, ki = s[T0].split(k, factor=4)
    s.rfactor(T0, ki)
    with pytest.raises(te.ScheduleError, match="cross-thread tuple reduction"):
        s[T0].bind(s[T0].leaf_iter_vars[-1], te.thread_axis("threadIdx.x"))


def test_opencl_runs_multi_output_and_argmax():
    """The GPU targets: outputs of one stage bound to threads (PoCL runs OpenCL here)."""
    idx, val, k, T0, T1 = argmax_graph(16, 12)
    s = te.create_schedule(T0.op)
    io, ii = s[T0].split(T0.op.axis[0], factor=4)
    s[T0].bind(io, te.thread_axis("blockIdx.x"))
    s[T0].bind(ii, te.thread_axis("threadIdx.x"))
    try:
        f = te.build(s, [idx, val, T0, T1], target="opencl")
        check_argmax(f, 16, 12)
    except te.BuildError as e:          # no OpenCL runtime on this host
        pytest.skip(f"OpenCL is not available here: {e}")
