"""lower/cpu/hoist_checks.py: an index read from data is checked once per block that uses it,
never where the original program would not have evaluated it."""
import importlib

from texpr.lang.expr import BinOp, Cmp, Const, Select, Var
from texpr.lang.visitor import walk
from texpr.lang.ir import (Buffer, BufferLoad, BufferStore, CheckedIndex, DeclareVars,
                            IfThenElse, VarLoad, VarStore, seq)

hoist = importlib.import_module("texpr.lower.cpu.hoist_checks").hoist_checked_indices

V, L = Var("V"), Var("L")
data = Buffer("data", "float32", (V, Const(8, "int32")), is_arg=True)
idx = Buffer("indices", "int32", (L,), is_arg=True)
out = Buffer("out", "float32", (Const(8, "int32"),), is_arg=True)
k = Var("k")


def row_index():
    pos = CheckedIndex(k, L, None, "indices", 0)
    load = BufferLoad(idx, (pos,), "int32")
    return CheckedIndex(load, V, load, "data", 0)


def use(j, under=None):
    r = row_index()
    value = BufferLoad(data, (BinOp("+", BinOp("*", r, Const(8, "int32"), "int32"),
                                     Const(j, "int32"), "int32"),), "float32")
    st = BufferStore(out, value, (Const(j, "int32"),))
    return IfThenElse(under, st) if under is not None else st


def checks(s):
    return [n for n in walk(s) if isinstance(n, CheckedIndex)]


def test_repeated_check_is_evaluated_once_in_a_64_bit_register():
    body = hoist(seq(use(0), use(1), use(2)))
    assert isinstance(body, DeclareVars)
    stores = [n for n in walk(body) if isinstance(n, VarStore)]
    # the position check first (it is inside the row check), then the row check that uses it
    assert [s.var.dtype for s in stores] == ["int64", "int64"]
    assert len(checks(body)) == 2                      # one of each, in the assignments
    loads = [n for n in walk(body) if isinstance(n, BufferLoad) and n.buffer is data]
    assert all(any(isinstance(x, VarLoad) for x in walk(ld)) for ld in loads)


def test_a_check_first_reached_under_a_condition_stays_put():
    cond = Cmp("<", k, Const(3, "int32"))
    s = seq(use(0, under=cond), use(1))
    assert hoist(s) is s
    # unconditional first use: the later conditional one reuses the register
    h = hoist(seq(use(0), use(1, under=cond)))
    assert isinstance(h, DeclareVars) and len(checks(h)) == 2


def test_a_check_only_in_a_select_branch_is_not_hoisted():
    r = row_index()
    sel = Select(Cmp("<", k, Const(3, "int32")), BufferLoad(data, (r,), "float32"),
                 Const(0.0, "float32"), "float32")
    s = seq(BufferStore(out, sel, (Const(0, "int32"),)), use(1))
    h = hoist(s)
    # the position check inside is evaluated unconditionally? no: all of it is in the branch
    assert len(checks(h)) == len(checks(s))


def test_no_hoisting_across_a_store_to_the_index_array():
    write_idx = BufferStore(idx, Const(0, "int32"), (k,))
    s = seq(use(0), write_idx, use(1))
    h = hoist(s)
    # the row check reads indices, which the block writes: each use keeps its own; the
    # position check reads no buffer and may still be shared
    assert len([c for c in checks(h) if c.tensor == "data"]) == 2
