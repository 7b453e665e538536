"""Stage.set_store_predicate: the condition, in the stage's loop variables, under which the
stage's stores happen (TVM's store predicate).

The user writes it over the stage's axes (original, split or fused) and the thread axes bound
in the stage (`tx.var.equal(0)`); lowering needs it over the leaf loop variables. A plain
stage guards its store (a reduction its update; the initial value is still written, as in
TVM). A cross-thread reduction is guarded per element: the predicate with the reduction's
thread at 0 (the thread that stores the result) guards its initial value and the whole
reduction (lower/gpu/cross_thread_reduce.py keeps such a guard off its barriers), so
elements where it fails are left as they were (TVM's has no initial value), and
tx.var.equal(0) needs no guard at all.
"""
from ..errors import LoweringError
from ..lang.expr import Const
from ..lang.visitor import free_vars, substitute, transform
from .analysis.arith import simplify


def is_cross_thread(st):
    """A reduction axis of the stage is bound to a thread (a cross-thread reduction)."""
    return any(iv.kind == "reduce" and st.iter_attrs.get(id(iv), {}).get("thread") is not None
               for iv in st.leaf_iter_vars)


def writer_predicate(st, pred):
    """A cross-thread reduction's predicate, over its element rather than its thread: the
    store predicate with the reduction's thread at 0 (the thread that does the final store),
    or None when that is always true (tx.var.equal(0)). It guards the initial value and the
    whole reduction (a guard the cross-thread lowering keeps off the barriers)."""
    if pred is None:
        return None
    zero = {iv.var: Const(0, iv.var.dtype) for iv in st.leaf_iter_vars
            if iv.kind == "reduce" and st.iter_attrs.get(id(iv), {}).get("thread") is not None}
    out = simplify(substitute(pred, zero))
    return None if isinstance(out, Const) and out.value is True else out


def resolve_store_predicate(sch, st, values, load_fn):
    """st's store predicate over its leaf loop variables (None when it has none).

    values: id(IterVar) -> Expr in the leaf variables, for every axis of st (leaf_to_root).
    """
    pred = getattr(st, "store_predicate", None)
    if pred is None:
        return None
    vmap = {iv.var: values[id(iv)] for iv in st.all_iter_vars if id(iv) in values}
    for iv in st.leaf_iter_vars:
        th = st.iter_attrs.get(id(iv), {}).get("thread")
        if th is not None:
            vmap[th.var] = iv.var
    out = transform(substitute(pred, vmap), load_fn)
    leaf = {iv.var for iv in st.leaf_iter_vars}
    foreign = {}
    for other in sch.stages:
        for iv in other.all_iter_vars:
            foreign[iv.var] = f"an axis of stage {other.name}"
        for a in other.iter_attrs.values():
            if a.get("thread") is not None:
                foreign[a["thread"].var] = f"thread axis {a['thread'].thread_tag}"
    for v in free_vars(out):
        if v in foreign and v not in leaf:
            raise LoweringError(f"stage {st.name}: the store predicate uses {v.name} "
                                f"({foreign[v]}), which is not a loop of this stage; use its "
                                "axes and the thread axes bound in it")
    return out
