"""rfactor: turn part of a reduction into a data axis of a new stage (for parallel reductions)."""
from ..lang import dtypes
from ..errors import ScheduleError
from ..lang.expr import BinOp, Const, Reduce, TensorLoad, Var
from ..lang.tensor import ComputeOp, IterVar, Range, Tensor
from ..lang.visitor import substitute
from .relations import data_related, leaf_to_root


def rfactor(sch, tensor, axis, factor_axis=0):
    """Returns a tensor R with `axis` as data axis; the original stage then reduces over R.

    A tuple reduction (argmax) gives a tuple of tensors, one per value."""
    if not isinstance(tensor, Tensor):
        raise ScheduleError(f"rfactor expects a tensor, got {tensor!r}")
    st = sch[tensor]
    op = st.op
    if not isinstance(op, ComputeOp) or not op.reduce_axis:
        raise ScheduleError(f"rfactor: stage {st.name} has no reduction")
    axis = st._leaf(axis, "rfactor")
    if axis.kind != "reduce":
        raise ScheduleError(f"stage {st.name}: rfactor: axis {axis.name} is not a reduction axis")
    if not 0 <= factor_axis <= len(op.axis):
        raise ScheduleError(f"stage {st.name}: rfactor: factor_axis must be in 0..{len(op.axis)}")
    if any(st.iter_attrs.get(id(iv), {}).get("kind") for iv in st.leaf_iter_vars if iv.kind == "reduce"):
        raise ScheduleError(f"stage {st.name}: rfactor: annotate reduction axes after rfactor")
    mixed = [iv for iv in st.leaf_iter_vars if iv.kind == "reduce" and data_related(st, iv)]
    if mixed:
        raise ScheduleError(f"stage {st.name}: rfactor: axis {mixed[0].name} fuses data and "
                            "reduction axes; rfactor needs the reduction axes apart")
    body = op.bodies[0]
    leaf_red = [iv for iv in st.leaf_iter_vars if iv.kind == "reduce"]
    # TVM's order: the root reduce axes no split or fuse touched, then the other leaves
    untouched = [iv for iv in op.reduce_axis if any(iv is l for l in leaf_red)]
    others = [iv for iv in untouched if iv is not axis] + \
        [iv for iv in leaf_red if iv is not axis and not any(iv is u for u in untouched)]
    # the new stage: data axes + the rfactor axis, reducing over the other leaf reduce axes
    data_axes = [IterVar(Var(iv.name), Range(0, iv.dom.extent), "data") for iv in op.axis]
    rf_iv = IterVar(Var(axis.name), Range(0, st.extent_of(axis)), "data")
    red_axes = [_kept_reduce_axis(st, op, iv) for iv in others]
    leaf_vals = {id(axis): rf_iv.var}
    leaf_vals.update({id(o): n.var for o, n in zip(others, red_axes)})
    # data leaves are irrelevant for the reduce axes; give them their own vars
    for iv in st.leaf_iter_vars:
        if iv.kind != "reduce":
            leaf_vals[id(iv)] = iv.var
    values, guards = leaf_to_root(st, leaf_vals)
    vmap = {o.var: n.var for o, n in zip(op.axis, data_axes)}
    for r in op.reduce_axis:
        vmap[r.var] = values[id(r)] + r.dom.min
    cond = substitute(body.where, vmap)
    for v, ext in guards:
        if _is_reduce_guard(v, red_axes, rf_iv):
            # the bound check first: `where` may load at this index (&& short-circuits)
            cond = BinOp("&&", v < ext, cond, "bool") if not _true(cond) else (v < ext)
    axes = list(data_axes)
    axes.insert(factor_axis, rf_iv)
    combiner = body.combiner.substituted(vmap)
    rbodies = []
    for b, ident in zip(op.bodies, combiner.identities()):
        src = substitute(b.source, vmap)
        if red_axes:
            rbodies.append(Reduce(combiner, src, tuple(red_axes), cond, b.dtype,
                                  b.value_index))
        else:
            rbodies.append(src if _true(cond) else _select(cond, src, ident))
    rop = ComputeOp(f"{st.name}.rf", axes, rbodies)
    Rs = [rop.output(v) for v in range(rop.num_outputs)]
    # the original stage reduces over the rfactor axis
    k = IterVar(Var(axis.name + ".v"), Range(0, st.extent_of(axis)), "reduce")
    idx = [iv.var for iv in op.axis]
    idx.insert(factor_axis, k.var)
    new_bodies = [Reduce(body.combiner, TensorLoad(R, tuple(idx), b.dtype), (k,),
                         Const(True, "bool"), b.dtype, b.value_index)
                  for R, b in zip(Rs, op.bodies)]
    new_op = ComputeOp(st.name, op.axis, new_bodies, op.tag, op.attrs)
    keep_rel = [r for r in st.relations if not _touches_reduce(r)]
    data_leaves = [iv for iv in st.leaf_iter_vars if iv.kind != "reduce"]
    attrs = {kk: v for kk, v in st.iter_attrs.items()}
    st.op = new_op
    st._reset_axes()
    st.relations = keep_rel
    for r in keep_rel:
        for iv in _rel_ivs(r):
            if id(iv) not in st.extents:
                st.all_iter_vars.append(iv)
        _restore_extents(st, r)
    st.leaf_iter_vars = data_leaves + [k]
    st.rfactor_axis = k          # bindable to threadIdx: a cross-thread reduction (GPU)
    st.iter_attrs = attrs
    sch.stage_map[new_op] = st
    sch._insert_stage(rop, st)
    return Rs[0] if len(Rs) == 1 else tuple(Rs)


def _kept_reduce_axis(st, op, iv):
    """The reduction axis of the rfactor stage for leaf `iv` of the original: as in TVM, an
    untouched root axis is kept (the same IterVar), a split or fused one keeps its loop
    variable (`BF.op.body[0].axis[1].var is ko.var`)."""
    ext = st.extent_of(iv)
    if any(iv is r for r in op.reduce_axis) and isinstance(iv.dom.min, Const) and iv.dom.min.value == 0:
        return iv
    return IterVar(iv.var, Range(0, ext), "reduce")


def _true(c):
    return isinstance(c, Const) and c.value is True


def _select(cond, a, b):
    from ..lang.expr import Select
    return Select(cond, a, b, a.dtype)


def _is_reduce_guard(v, red_axes, rf_iv):
    """Does split guard v bound a reduction axis? (It may also use symbolic extents; splits and
    fuses never mix data and reduce axes, so any reduce loop var decides.)"""
    from ..lang.visitor import free_vars
    red = {id(a.var) for a in red_axes} | {id(rf_iv.var)}
    return any(id(x) in red for x in free_vars(v))


def _rel_ivs(r):
    from .relations import Singleton, Split
    if isinstance(r, Singleton):
        return (r.iv,)
    return (r.parent, r.outer, r.inner) if isinstance(r, Split) else (r.outer, r.inner, r.fused)


def _touches_reduce(r):
    return any(iv.kind == "reduce" for iv in _rel_ivs(r))


def _restore_extents(st, r):
    from .relations import Singleton, Split, ceil_div
    if isinstance(r, Singleton):
        st.extents[id(r.iv)] = Const(1, "int32")
    elif isinstance(r, Split):
        pe = st.extents[id(r.parent)]
        if r.factor is not None:
            st.extents[id(r.outer)] = ceil_div(pe, r.factor)
            st.extents[id(r.inner)] = Const(r.factor, "int32")
        else:
            st.extents[id(r.outer)] = Const(r.nparts, "int32")
            st.extents[id(r.inner)] = ceil_div(pe, r.nparts)
    else:
        st.extents[id(r.fused)] = st.extents[id(r.outer)] * st.extents[id(r.inner)]
