"""Stage.transform_layout (TVM's): store a stage's buffer in another layout.

fn maps the stage's logical indices to physical ones, e.g. `lambda i, j: [j, i]` or
`lambda i, j: [i // 4, j, i % 4]`: each physical index is an axis, or axis // c and axis % c
(both, c dividing a constant extent). The stage then computes over the physical axes (whose
loops it now has) and every reader reads through fn; results are unchanged.
"""
import numbers

from ..errors import ScheduleError
from ..lang.expr import BinOp, Const, Var, convert
from ..lang.tensor import ComputeOp, IterVar, Range, TensorLoad
from ..lang.visitor import substitute, transform


def _physical_axes(st, phys):
    """For each physical index (axis, c, part): part 'all' (the axis), 'outer' (// c) or
    'inner' (% c); checks that they cover every axis exactly once."""
    axes = {id(iv.var): iv for iv in st.op.axis}
    out, used = [], {}
    for k, e in enumerate(phys):
        if isinstance(e, IterVar):
            e = e.var
        e = convert(e)
        if isinstance(e, Var) and id(e) in axes:
            item = (axes[id(e)], None, "all")
        elif (isinstance(e, BinOp) and e.op in ("//", "%") and isinstance(e.a, Var)
              and id(e.a) in axes and isinstance(e.b, Const) and e.b.value > 0):
            item = (axes[id(e.a)], e.b.value, "outer" if e.op == "//" else "inner")
        else:
            st._err(f"transform_layout: physical index {k} is {e}; expected an axis of the "
                    "stage, or axis // c and axis % c (a permutation or split of its axes)")
        out.append(item)
        used.setdefault(id(item[0]), []).append(item)
    for iv in st.op.axis:
        parts = sorted(p for _, _, p in used.get(id(iv), []))
        cs = {c for _, c, _ in used.get(id(iv), [])}
        if parts not in (["all"], ["inner", "outer"]) or len(cs) != 1:
            st._err(f"transform_layout: axis {iv.name} must appear once, or once as {iv.name} "
                    f"// c and once as {iv.name} % c (with the same c)")
        c = cs.pop()
        if c is not None:
            ext = iv.dom.extent
            if not isinstance(ext, Const) or ext.value % c:
                st._err(f"transform_layout: {iv.name} // {c} needs a constant extent of "
                        f"{iv.name} divisible by {c}, got {ext}")
    return out


def transform_layout(sch, st, fn):
    if not isinstance(st.op, ComputeOp) or st.op.tag == "scan":
        st._err("transform_layout: only a compute stage's buffer can be relaid (a placeholder's "
                "layout is the caller's array)")
    if st.is_output:
        st._err("transform_layout: an output is written into the caller's array in its own "
                "layout; relay the input of a later stage instead")
    if st.relations or st.iter_attrs or st.attach_type != "root" or st.storage_aligns:
        st._err("transform_layout: call it before any other primitive on this stage")
    op = st.op
    phys = fn(*[iv.var for iv in op.axis])
    if not isinstance(phys, (list, tuple)):
        phys = [phys]
    if any(isinstance(e, str) for e in phys):
        st._err("transform_layout: axis separators are not supported (texpr buffers are flat)")
    items = _physical_axes(st, phys)
    new_axes, pos = [], {}
    for (iv, c, part) in items:
        ext = iv.dom.extent if part == "all" else \
            Const(iv.dom.extent.value // c if part == "outer" else c, "int32")
        name = iv.name if part == "all" else f"{iv.name}.{part}"
        new = IterVar(Var(name), Range(0, ext), "data")
        new_axes.append(new)
        pos[(id(iv), part)] = new.var
    inverse = {}
    for iv in op.axis:
        if (id(iv), "all") in pos:
            inverse[iv.var] = pos[(id(iv), "all")]
        else:
            c = next(c for (v, c, _) in items if v is iv)
            inverse[iv.var] = pos[(id(iv), "outer")] * c + pos[(id(iv), "inner")]
    new_op = ComputeOp(op.name, new_axes, [substitute(b, inverse) for b in op.bodies], op.tag, op.attrs)
    new_op.logical_shape = op.shape
    old_ops = {id(o) for o, stage in sch.stage_map.items() if stage is st}   # st's ops so far
    new_t = new_op.output(0)
    logical_vars = [iv.var for iv in op.axis]
    phys_exprs = [convert(e.var if isinstance(e, IterVar) else e) for e in phys]

    def remap(n):
        if isinstance(n, TensorLoad) and id(n.tensor.op) in old_ops:
            m = dict(zip(logical_vars, n.indices))
            return TensorLoad(new_t, tuple(substitute(e, m) for e in phys_exprs), n.dtype)
        return None
    for rs in sch.readers(st):
        rop = rs.op
        new_rop = ComputeOp(rop.name, rop.axis, [transform(b, remap) for b in rop.bodies], rop.tag, rop.attrs)
        rs.op = new_rop
        sch.stage_map[new_rop] = rs
    st.op = new_op
    sch.stage_map[new_op] = st
    st._reset_axes()
    return list(new_axes)
