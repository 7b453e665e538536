"""Scheduling a hybrid op: its outermost perfect loop nest is its axis (split, fuse, reorder,
annotate like a compute's data axes); the loops inside stay as the script wrote them."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr import hybrid
from texpr.lang.ir import For
from texpr.lang.visitor import walk
from support.parallel import parallel_loops


@hybrid.script
def outer64(a, b):
    c = output_tensor((64, 64), a.dtype)
    for i in range(64):
        for j in range(64):
            c[i, j] = a[i] * b[j]
    return c


A = te.placeholder((64,), name="A")
B = te.placeholder((64,), name="B")
RNG = np.random.default_rng(3)
a_np = RNG.standard_normal(64).astype("float32")
b_np = RNG.standard_normal(64).astype("float32")


def run(s, c, target="c"):
    f = te.build(s, [A, B, c], target)
    out = np.zeros((64, 64), "float32")
    f(a_np, b_np, out)
    np.testing.assert_allclose(out, np.outer(a_np, b_np), rtol=1e-6)
    np.testing.assert_allclose(out, outer64(a_np, b_np), rtol=1e-6)
    return f


def loop_names(s, c):
    low = te.lower(s, [A, B, c], stop_after="loop_nest")
    return [n.var.name for n in walk(low.body) if isinstance(n, For)]


@pytest.mark.parametrize("target", ["c", "native"])
def test_split_parallel_vectorize_reorder(target):
    c = outer64(A, B)
    s = te.create_schedule(c.op)
    i, j = c.op.axis
    io, ii = s[c].split(i, 4)
    s[c].parallel(ii)
    jo, ji = s[c].split(j, 4)
    joo, joi = s[c].split(jo, 4)
    s[c].vectorize(ji)
    s[c].reorder(ii, io, joo, joi, ji)
    assert loop_names(s, c) == ["i.inner", "i.outer", "j.outer.outer", "j.outer.inner",
                                "j.inner"]
    run(s, c, target)


def test_fuse():
    c = outer64(A, B)
    s = te.create_schedule(c.op)
    s[c].fuse(c.op.axis[0], c.op.axis[1])
    assert loop_names(s, c) == ["i.j.fused"]
    run(s, c)


def test_imperfect_split_gets_a_guard():
    c = outer64(A, B)
    s = te.create_schedule(c.op)
    s[c].split(c.op.axis[0], 3)
    run(s, c)


def test_axis_is_the_outer_perfect_nest_only():
    @hybrid.script
    def rows(a):
        b = output_tensor((8, 4), a.dtype)
        for i in range(8):
            acc = 0.0
            for j in range(4):
                acc += a[i, j]
                b[i, j] = acc
        return b

    A2 = te.placeholder((8, 4), name="A2")
    b = rows(A2)
    assert [iv.var.name for iv in b.op.axis] == ["i"]
    s = te.create_schedule(b.op)
    io, ii = s[b].split(b.op.axis[0], 2)
    s[b].parallel(io)
    f = te.build(s, [A2, b], "native")
    x = RNG.standard_normal((8, 4)).astype("float32")
    out = np.zeros((8, 4), "float32")
    f(x, out)
    np.testing.assert_allclose(out, np.cumsum(x, axis=1), rtol=1e-5)
    np.testing.assert_allclose(out, rows(x), rtol=1e-5)


def test_script_annotation_is_the_axis_default():
    @hybrid.script
    def par(a):
        b = output_tensor((64,), a.dtype)
        for i in parallel(64):
            b[i] = a[i] + 1.0
        return b

    b = par(A)
    s = te.create_schedule(b.op)
    with pytest.raises(te.ScheduleError, match="already marked parallel"):
        s[b].vectorize(b.op.axis[0])
    f = te.build(s, [A, b], "c")
    assert parallel_loops(f.source) == 1
    out = np.zeros(64, "float32")
    f(a_np, out)
    np.testing.assert_allclose(out, a_np + 1, rtol=1e-6)


@settings(max_examples=10, deadline=None)
@given(fi=st.sampled_from([1, 3, 8, 64]), fj=st.sampled_from([2, 5, 16]),
       order=st.permutations(range(4)), fuse_inner=st.booleans())
def test_property_any_split_and_order_computes_the_outer_product(fi, fj, order, fuse_inner):
    c = outer64(A, B)
    s = te.create_schedule(c.op)
    io, ii = s[c].split(c.op.axis[0], fi)
    jo, ji = s[c].split(c.op.axis[1], fj)
    leaves = [io, ii, jo, ji]
    s[c].reorder(*[leaves[k] for k in order])
    if fuse_inner:
        s[c].fuse(leaves[order[2]], leaves[order[3]])
    run(s, c)
