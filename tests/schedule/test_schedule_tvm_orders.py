"""Schedules TVM accepts in any order: compute_at before a split or fuse of its axis,
cache_write after splitting, an argument computed at a loop, compute_at checked after inlining,
fusing data with reduction axes, reducers that use the compute's index. Built on C, checked
against NumPy."""
import numpy as np
import pytest

import texpr as te
from texpr import testing as tt
from texpr.lang import ir

from support.irutil import stmts

RNG = np.random.default_rng(11)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def chain(shape=(16, 8)):
    A = te.placeholder(shape, name="A")
    B = te.compute(shape, lambda i, j: A[i, j] + 1.0, name="B")
    C = te.compute(shape, lambda i, j: B[i, j] * 2.0, name="C")
    return A, B, C


def loop_names(s, args):
    return [f.var.name for f in stmts(te.lower(s, args).body, ir.For)]


# ----------------------------------------------------------------------------- compute_at, then split / fuse

def test_compute_at_follows_a_later_split_to_its_inner_part():
    A, B, C = chain()
    s = te.create_schedule(C.op)
    s[B].compute_at(s[C], C.op.axis[0])
    xo, xi = s[C].split(C.op.axis[0], factor=4)
    assert s[B].attach_ivar is xi                # once per iteration of the original axis
    tt.check_kernel(s, [A, C], lambda a: (a + 1) * 2, [rand(16, 8)], target="c")
    # B is computed one row at a time, inside both loops of the split
    buf = next(a.buffer for a in stmts(te.lower(s, [A, C]).body, ir.Allocate) if a.buffer.name == "B")
    assert [d.value for d in buf.shape] == [1, 8]


def test_compute_at_follows_a_later_fuse_and_then_split():
    A, B, C = chain((6, 10))
    s = te.create_schedule(C.op)
    s[B].compute_at(s[C], C.op.axis[1])
    f = s[C].fuse(*C.op.axis)
    assert s[B].attach_ivar is f
    fo, fi = s[C].split(f, factor=4)
    assert s[B].attach_ivar is fi
    tt.check_kernel(s, [A, C], lambda a: (a + 1) * 2, [rand(6, 10)], target="c")


# ----------------------------------------------------------------------------- cache_write after split

def test_cache_write_after_split_and_parallel_moves_the_loops_to_the_cache_stage():
    n = te.var("n")
    A = te.placeholder((n, 12), name="A")
    k = te.reduce_axis((0, 12), name="k")
    C = te.compute((n,), lambda i: te.sum(A[i, k], axis=k), name="C")
    s = te.create_schedule(C.op)
    io, ii = s[C].split(C.op.axis[0], factor=4)
    s[C].parallel(io)
    CC = s.cache_write(C, "local")
    assert [iv.name for iv in s[CC].leaf_iter_vars] == ["i.outer", "i.inner", "k"]
    assert s[C].leaf_iter_vars == list(C.op.axis) and not s[C].relations
    # the original op's reduction axis and the split axes name the cache stage's axes
    ko, ki = s[CC].split(k, factor=5)
    s[CC].reorder(io, ko, ii, ki)
    s[CC].unroll(ii)
    names = loop_names(s, [A, C])
    assert names[:2] == ["i.outer", "k.outer"] and "i" in names
    par = [f for f in stmts(te.lower(s, [A, C]).body, ir.For) if f.kind == "parallel"]
    assert [f.var.name for f in par] == ["i.outer"]
    tt.check_kernel(s, [A, C], lambda a: a.sum(1), [rand(10, 12)], target="c")


def test_cache_write_moves_a_stage_computed_at_a_split_axis():
    A, B, C = chain()
    s = te.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], factor=4)
    s[B].compute_at(s[C], xo)
    CC = s.cache_write(C, "local")
    assert s[B].attach_stage is s[CC]
    tt.check_kernel(s, [A, C], lambda a: (a + 1) * 2, [rand(16, 8)], target="c")


def test_cache_write_aliases_hold_the_axes_they_name():
    """The original stage's split axes name their counterparts on the cache stage by identity
    (Stage.aliases, keyed by id): an alias holds its axis, so the id of an axis the user let go
    cannot come back as a new axis (a later fuse or split) and be taken for the old one
    (hypothesis found "split: axis k.inner is not a leaf axis" on a fresh fused axis)."""
    import gc
    import weakref
    A = te.placeholder((2, 3), name="A")
    k = te.reduce_axis((0, 3), name="k")
    C = te.compute((2, 2), lambda i, j: te.sum(A[i, k] * (j + 1).astype("float32"), axis=k),
                   name="C")
    s = te.create_schedule(C.op)
    ko, ki = s[C].split(k, factor=1)
    held = weakref.ref(ki)
    del ko, ki
    CC = s.cache_write(C, "local")
    gc.collect()
    assert held() is not None
    leaves = s[CC].leaf_iter_vars
    fused = s[CC].fuse(leaves[-2], leaves[-1])
    s[CC].split(fused, factor=3)
    tt.check_kernel(s, [A, C], lambda a: a.sum(1)[:, None] * np.arange(1, 3), [rand(2, 3)],
                    target="c")


def test_cache_write_of_an_inlined_stage_is_refused():
    A, B, C = chain()
    s = te.create_schedule(C.op)
    s[B].compute_inline()
    with pytest.raises(te.ScheduleError, match="cache_write of B: the stage is inlined"):
        s.cache_write(B, "local")


# ----------------------------------------------------------------------------- arguments at a loop

def test_an_argument_computed_at_a_loop_writes_the_callers_array():
    A, B, C = chain()
    s = te.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], factor=4)
    s[B].compute_at(s[C], xo)
    f = te.build(s, [A, B, C], target="c")
    a = rand(16, 8)
    b = np.full((16, 8), np.nan, "float32")
    c = np.full((16, 8), np.nan, "float32")
    f(a, b, c)
    np.testing.assert_allclose(b, a + 1, rtol=1e-6)
    np.testing.assert_allclose(c, (a + 1) * 2, rtol=1e-6)
    assert not [x for x in stmts(te.lower(s, [A, B, C]).body, ir.Allocate)]   # no copy of B


def test_an_argument_cannot_be_inlined():
    A, B, C = chain()
    s = te.create_schedule(C.op)
    s[B].compute_inline()
    with pytest.raises(te.LoweringError, match="tensor B is an argument, so stage B cannot be "
                       "inlined"):
        te.lower(s, [A, B, C])


# ----------------------------------------------------------------------------- consumers after inlining

def test_compute_at_is_judged_against_the_consumers_left_after_inlining():
    A, B, _ = chain((8, 4))
    D = te.compute((8, 4), lambda i, j: B[i, j] * 3.0, name="D")
    C = te.compute((8, 4), lambda i, j: B[i, j] + D[i, j], name="C")
    s = te.create_schedule(C.op)
    s[B].compute_at(s[C], C.op.axis[0])         # D still reads B outside C here
    s[D].compute_inline()                       # ... and no longer does
    tt.check_kernel(s, [A, C], lambda a: (a + 1) * 4, [rand(8, 4)], target="c")
    s = te.create_schedule(C.op)
    s[B].compute_at(s[C], C.op.axis[0])
    with pytest.raises(te.LoweringError, match="its consumer D runs outside that loop"):
        te.lower(s, [A, C])


# ----------------------------------------------------------------------------- fusing data and reduction axes

def row_sum(rows=6, K=5):
    A = te.placeholder((rows, K), name="A")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((rows,), lambda i: te.sum(A[i, k], axis=k), name="C")
    return A, C, k


@pytest.mark.parametrize("order", ["data_reduce", "reduce_data"])
@pytest.mark.parametrize("factor", [None, 4, 7])
def test_fusing_a_data_axis_with_a_reduction_axis(order, factor):
    A, C, k = row_sum()
    s = te.create_schedule(C.op)
    i = C.op.axis[0]
    if order == "reduce_data":
        s[C].reorder(k, i)
        f = s[C].fuse(k, i)
    else:
        f = s[C].fuse(i, k)
    assert f.kind == "reduce"                    # as in TVM: the fused axis reduces
    if factor:
        s[C].split(f, factor=factor)
    tt.check_kernel(s, [A, C], lambda a: a.sum(1), [rand(6, 5)], target="c")


def test_a_fused_data_and_reduction_axis_is_not_parallel_and_not_rfactored():
    A, C, k = row_sum()
    s = te.create_schedule(C.op)
    f = s[C].fuse(C.op.axis[0], k)
    with pytest.raises(te.ScheduleError, match="parallel: axis i.k.fused is a reduction axis"):
        s[C].parallel(f)
    with pytest.raises(te.ScheduleError, match="rfactor: axis i.k.fused fuses data and "
                       "reduction axes"):
        s.rfactor(C, f)


# ----------------------------------------------------------------------------- reducers that use the index

def index_reduce(n=6, K=5):
    """C[i] = 10 i + sum_k A[i, k], with 10 i as the reducer's identity."""
    A = te.placeholder((n, K), name="A")
    k = te.reduce_axis((0, K), name="k")

    def body(i):
        red = te.comm_reducer(lambda x, y: x + y, lambda dt: i.astype(dt) * te.const(10, dt),
                              name="isum")
        return red(A[i, k], axis=k)
    return A, te.compute((n,), body, name="C")


def expected_index_reduce(a):
    return a.sum(1) + 10 * np.arange(a.shape[0])


@pytest.mark.parametrize("how", ["cache_write", "split", "cache_write_split"])
def test_a_reducer_whose_identity_uses_the_index(how):
    A, C = index_reduce()
    s = te.create_schedule(C.op)
    if how == "split":
        s[C].split(C.op.axis[0], factor=4)
    else:
        CC = s.cache_write(C, "local")
        if how == "cache_write_split":
            s[CC].split(s[CC].op.axis[0], factor=4)
    tt.check_kernel(s, [A, C], expected_index_reduce, [rand(6, 5)], target="c")
