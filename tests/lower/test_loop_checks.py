"""lower/cpu/loop_checks.py: a position that moves with a loop (indices[offsets[b] + k]) is
checked once before the loop; a bad loop is skipped and reports the first bad position."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
import texpr.topi as topi
from texpr.lang.expr import BinOp, Cmp, Const, Select, Var
from texpr.lang.visitor import walk
from texpr.lang.ir import (Buffer, BufferLoad, BufferStore, CheckedIndex, Evaluate, For,
                            IfThenElse, seq)
from texpr.lower.cpu.loop_checks import hoist_loop_checks

L, V = Var("L"), Var("V")
offsets = Buffer("offsets", "int32", (Var("B1"),), is_arg=True)
idx = Buffer("indices", "int32", (L,), is_arg=True)
data = Buffer("data", "float32", (V,), is_arg=True)
out = Buffer("out", "float32", (Const(1, "int32"),), is_arg=True)
b, k = Var("b"), Var("k")
zero = Const(0, "int32")


def position(coeff=1):
    start = BufferLoad(offsets, (b,), "int32")
    kk = k if coeff == 1 else BinOp("*", k, Const(coeff, "int32"), "int32")
    return CheckedIndex(BinOp("+", start, kk, "int32"), L, start, "indices", 0)


def pooled(pos):
    """out[0] = out[0] + data[checked(indices[pos], V)]"""
    ld = BufferLoad(idx, (pos,), "int32")
    row = CheckedIndex(ld, V, ld, "data", 0)
    cur = BufferLoad(out, (zero,), "float32")
    return BufferStore(out, BinOp("+", cur, BufferLoad(data, (row,), "float32"), "float32"),
                       (zero,))


def extent():
    return BinOp("-", BufferLoad(offsets, (BinOp("+", b, Const(1, "int32"), "int32"),), "int32"),
                 BufferLoad(offsets, (b,), "int32"), "int32")


def loop(body):
    return For(k, zero, extent(), "serial", body)


def position_checks(s):
    return [n for n in walk(s) if isinstance(n, CheckedIndex) and n.tensor == "indices"]


def test_the_position_check_leaves_the_loop():
    s = hoist_loop_checks(loop(pooled(position())))
    assert isinstance(s, IfThenElse)
    body = s.then_case
    assert isinstance(body, For)
    assert not position_checks(body)                     # unchecked inside the loop
    row_checks = [n for n in walk(body) if isinstance(n, CheckedIndex)]
    assert len(row_checks) == 1 and row_checks[0].tensor == "data"   # values stay checked
    err = s.else_case
    assert isinstance(err, Evaluate) and err.value.tensor == "indices"
    assert err.value.dtype == "int64"                    # no 32-bit wrap in the error path


def test_checks_under_a_condition_or_in_a_select_branch_stay_in_the_loop():
    cond = Cmp("<", k, Const(3, "int32"))
    guarded = loop(IfThenElse(cond, pooled(position())))
    assert hoist_loop_checks(guarded) is guarded
    ld = BufferLoad(idx, (position(),), "int32")
    sel = BufferStore(out, Select(cond, BufferLoad(data, (CheckedIndex(ld, V, ld, "data", 0),),
                                                   "float32"), Const(0.0, "float32"), "float32"),
                      (zero,))
    s = loop(sel)
    assert hoist_loop_checks(s) is s


def test_a_base_the_loop_writes_is_not_invariant():
    # the loop stores into offsets: offsets[b] may change between iterations
    st_off = BufferStore(offsets, Const(0, "int32"), (b,))
    s = loop(seq(pooled(position()), st_off))
    assert hoist_loop_checks(s) is s


def test_an_inner_loop_that_may_not_run_does_not_carry_its_checks_out():
    inner = For(Var("j"), zero, Var("n"), "serial", pooled(position()))
    s = loop(inner)
    out_s = hoist_loop_checks(s)
    # the j loop is hoisted around itself (its own iterations), k never sees the check
    assert isinstance(out_s, For) and isinstance(out_s.body, For)


# ---------------------------------------------------------------------- end to end

def ragged_sum(reverse=False):
    """out[b] = sum of vals[p] for p in bag b, walked forwards or backwards."""
    vals = te.placeholder((te.var("n"),), name="vals")
    lens = te.placeholder((te.var("nb"),), "int32", name="lengths")
    off = topi.sparse.bag_offsets(vals, lens)

    def bag(bb):
        r = te.reduce_axis((0, off[bb + 1] - off[bb]), name="r")
        p = off[bb + 1] - 1 - r if reverse else off[bb] + r
        return te.sum(vals[p], axis=r)
    o = te.compute((lens.shape[0],), bag, name="bags")
    return te.create_schedule(o.op), [vals, lens, o]


@pytest.fixture(scope="module")
def ragged():
    return {rev: te.build(*ragged_sum(rev), target="c", name=f"ragged_{int(rev)}")
            for rev in (False, True)}


@settings(max_examples=40, deadline=None)
@given(lens=st.lists(st.integers(0, 6), min_size=1, max_size=8), n=st.integers(0, 20),
       reverse=st.booleans())
def test_ragged_loops_equal_numpy_or_name_the_first_bad_position(ragged, lens, n, reverse):
    f = ragged[reverse]
    vals = np.arange(1, n + 1, dtype="float32")
    lv = np.array(lens, "int32")
    o = np.full(len(lens), -7.0, "float32")
    total = int(lv.sum())
    if all(x <= n for x in lens) and total <= n:
        f(vals, lv, o)
        off = np.concatenate([[0], np.cumsum(lv)])
        np.testing.assert_array_equal(o, [vals[off[i]:off[i + 1]].sum() for i in range(len(lens))])
        return
    if any(x > n for x in lens):
        with pytest.raises(te.ArgumentError, match=r"lengths\[\d+\] = \d+ is out of range"):
            f(vals, lv, o)
        return
    with pytest.raises(te.ArgumentError) as e:
        f(vals, lv, o)
    # the first bag that overruns: its first out-of-range position (n walking forwards,
    # from the bag's end walking backwards)
    off = np.concatenate([[0], np.cumsum(lv)])
    bad = next(i for i in range(len(lens)) if off[i + 1] > n)
    want = n if not reverse else off[bad + 1] - 1
    assert f"index {want} " in str(e.value) and "vals" in str(e.value)


@pytest.mark.parametrize("reverse", [False, True])
def test_the_ragged_kernels_check_positions_before_their_loops(reverse):
    body = te.lower(*ragged_sum(reverse), target="c").body
    loops = [n for n in walk(body) if isinstance(n, For) and n.var.name == "r"]
    assert loops and all(not [c for c in walk(lp.body) if isinstance(c, CheckedIndex)]
                         for lp in loops)
    assert any(isinstance(n, CheckedIndex) and n.tensor == "vals" for n in walk(body))
