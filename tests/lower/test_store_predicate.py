"""Stage.set_store_predicate: a stage stores only where its predicate holds (TVM's), on the CPU
and on OpenCL (PoCL), including a cross-thread reduction where one thread writes the result."""
import numpy as np
import pytest

import texpr as te
from texpr.targets.build import emit_source

RNG = np.random.default_rng(3)
SENTINEL = -7.0


def _run(s, args, target, arrays, out_shape):
    f = te.build(s, args, target=target)
    out = np.full(out_shape, SENTINEL, "float32")
    f(*arrays, out)
    return out


@pytest.mark.parametrize("target", ["c", "native", "opencl"])
def test_elementwise_stores_only_where_the_predicate_holds(target):
    A = te.placeholder((20, 9), name="A")
    B = te.compute((20, 9), lambda i, j: A[i, j] * 2.0, name="B")
    s = te.create_schedule(B.op)
    i, j = B.op.axis
    if target == "opencl":
        s[B].bind(i, te.thread_axis("blockIdx.x"))
        s[B].bind(j, te.thread_axis("threadIdx.x"))
    else:
        io, ii = s[B].split(i, factor=4)
    s[B].set_store_predicate(((i % 3).equal(0)) & (j < 5))
    a = RNG.standard_normal((20, 9)).astype("float32")
    got = _run(s, [A, B], target, [a], (20, 9))
    rows, cols = np.indices((20, 9))
    want = np.where((rows % 3 == 0) & (cols < 5), a * 2, SENTINEL).astype("float32")
    np.testing.assert_array_equal(got, want)


def test_predicate_on_a_split_axis_and_a_reduction():
    """A reduction with a predicate: the initial value is still written (as in TVM), the
    updates only where it holds."""
    A = te.placeholder((12, 10), name="A")
    k = te.reduce_axis((0, 10), name="k")
    B = te.compute((12,), lambda i: te.sum(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    io, ii = s[B].split(B.op.axis[0], factor=4)
    s[B].set_store_predicate(ii < 2)
    a = RNG.standard_normal((12, 10)).astype("float32")
    got = _run(s, [A, B], "c", [a], (12,))
    want = np.where(np.arange(12) % 4 < 2, a.sum(1), 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _cross_thread_sum(pred=None):
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((n, m), name="A")
    k = te.reduce_axis((0, m), "k")
    B = te.compute((n,), lambda i: te.sum(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(B.op.reduce_axis[0], factor=16)
    BF = s.rfactor(B, ki)
    s[B].bind(s[B].op.axis[0], te.thread_axis("blockIdx.x"))
    tx = te.thread_axis("threadIdx.x")
    s[B].bind(s[B].op.reduce_axis[0], tx)
    s[BF].compute_at(s[B], s[B].op.reduce_axis[0])
    s[B].set_store_predicate(pred(tx, B) if pred else tx.var.equal(0))
    return s, A, B


def test_cross_thread_reduction_with_the_tutorial_predicate():
    s, A, B = _cross_thread_sum()
    f = te.build(s, [A, B], "opencl")
    a = RNG.uniform(size=(37, 50)).astype("float32")
    b = np.zeros(37, "float32")
    f(a, b)
    np.testing.assert_allclose(b, a.sum(1), rtol=1e-4)


def test_cross_thread_reduction_predicate_guards_the_final_store_only():
    """Every thread's partial still enters the tree; the predicate (here: even rows) only
    decides whether the one final store happens."""
    s, A, B = _cross_thread_sum(lambda tx, B: (B.op.axis[0] % 2).equal(0))
    f = te.build(s, [A, B], "opencl")
    a = RNG.uniform(size=(9, 40)).astype("float32")
    b = np.full(9, SENTINEL, "float32")
    f(a, b)
    rows = np.arange(9)
    np.testing.assert_allclose(b, np.where(rows % 2 == 0, a.sum(1), SENTINEL), rtol=1e-4)
    src = emit_source(s, [A, B], "cuda")      # the warp-shuffle tree is guarded too
    assert "% 2) == 0" in src


@pytest.mark.parametrize("bad", [1.5, "x", None])
def test_predicate_must_be_boolean(bad):
    A = te.placeholder((4,), name="A")
    B = te.compute((4,), lambda i: A[i] + 1.0, name="B")
    s = te.create_schedule(B.op)
    with pytest.raises(te.ScheduleError, match="set_store_predicate: expected a boolean"):
        s[B].set_store_predicate(bad)
    with pytest.raises(te.ScheduleError, match="placeholder"):
        s[A].set_store_predicate(B.op.axis[0] < 2)


def test_predicate_over_another_stage_or_an_unbound_thread_is_refused():
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: A[i] + 1.0, name="B")
    C = te.compute((8,), lambda i: B[i] * 2.0, name="C")
    s = te.create_schedule(C.op)
    s[C].set_store_predicate(B.op.axis[0] < 3)
    with pytest.raises(te.LoweringError, match="uses i .*axis of stage B.*not a loop of this stage"):
        te.lower(s, [A, C])
    s = te.create_schedule(C.op)
    tx, ty = te.thread_axis("threadIdx.x"), te.thread_axis("threadIdx.y")
    s[C].bind(C.op.axis[0], tx)
    s[B].bind(B.op.axis[0], ty)
    s[C].set_store_predicate(ty.var.equal(0))
    with pytest.raises(te.LoweringError, match="thread axis threadIdx.y"):
        te.lower(s, [A, C], target="opencl")


def test_predicate_and_tensorize_are_refused_together():
    A = te.placeholder((16,), name="A")
    B = te.compute((16,), lambda i: A[i] + 1.0, name="B")
    x = te.placeholder((4,), name="x")
    y = te.compute((4,), lambda i: x[i] + 1.0, name="y")
    intrin = te.decl_tensor_intrin(
        y.op, lambda ins, outs: f"for (int t = 0; t < 4; ++t) {outs[0].ptr}[t] = {ins[0].ptr}[t] + 1.0f;",
        name="addone")
    s = te.create_schedule(B.op)
    io, ii = s[B].split(B.op.axis[0], factor=4)
    s[B].tensorize(ii, intrin)
    te.lower(s, [A, B])                     # lowers without a predicate
    s[B].set_store_predicate(io < 3)
    with pytest.raises(te.LoweringError, match="store predicate and tensorize"):
        te.lower(s, [A, B])
