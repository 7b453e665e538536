"""Stage.transform_layout (TVM's): keep a tensor in another layout, for any stage.

fn maps the logical indices to physical ones (schedule/index_map.py: a split, fusion or
permutation of the axes, invertible). One mechanism for every kind of stage: the stage's
operation is replaced by one of the physical shape, and every read of the tensor goes through
fn (`physical_load`: the readers now; a later cache_read copies the physical layout).

- an intermediate: its buffer has the physical shape;
- an output: the kernel writes the caller's array in the physical shape (the built function
  expects that shape);
- a placeholder: the caller passes the array in the physical shape.

A compute stage then loops over the physical indices (the new axes are returned, to split,
reorder or bind), recovering the logical ones from them; a reduction keeps its reduction axes
inside. A placeholder has no loops: it returns no axes.
"""
from ..lang.expr import TensorLoad, Var
from ..lang.extern import ExternOp
from ..lang.hybrid_op import HybridOp
from ..lang.tensor import ComputeOp, ExclusiveScanOp, IterVar, PlaceholderOp, Range, ScanOp
from ..lang.visitor import substitute, transform, walk
from .index_map import IndexMap


class Layout:
    """A stage's relayout: the IndexMap, the operations whose outputs are still indexed
    logically (the stage's operations before it), and the operation of the physical shape."""

    def __init__(self, imap, logical_ops, op):
        self.imap = imap
        self.logical_ops = logical_ops          # ids
        self.op = op


def physical_load(sch, n):
    """The physical read for a logical read n of a relaid tensor, else None."""
    if not isinstance(n, TensorLoad):
        return None
    st = sch.stage_map.get(n.tensor.op)
    lay = getattr(st, "layout", None)
    if lay is None or id(n.tensor.op) not in lay.logical_ops:
        return None
    return TensorLoad(lay.op.output(n.tensor.value_index), lay.imap.forward(n.indices), n.dtype)


def read_physically(sch, expr):
    """expr with every logical read of a relaid tensor made physical."""
    return transform(expr, lambda n: physical_load(sch, n))


def transform_layout(sch, st, fn):
    op = st.op
    kind = _check_stage(st)
    readers = sch.readers(st)
    for rs in readers:
        if not isinstance(rs.op, ComputeOp) or isinstance(rs.op, (ScanOp, ExclusiveScanOp)):
            what = "an extern op" if isinstance(rs.op, ExternOp) else \
                "a hybrid op" if isinstance(rs.op, HybridOp) else "a scan"
            st._err(f"transform_layout: stage {rs.name} ({what}) reads this tensor as a whole "
                    "buffer in its logical layout; relay a tensor that only computes read")
        if any(sch.stage_map.get(n.tensor.op) is st for iv in rs.op.reduce_axis
               for e in (iv.dom.min, iv.dom.extent) for n in walk(e) if isinstance(n, TensorLoad)):
            st._err(f"transform_layout: the reduction bounds of stage {rs.name} read this "
                    "tensor; relay a tensor read only in compute bodies")
    names = [iv.var.name for iv in op.axis] if kind == "compute" else ()
    imap = IndexMap(fn, op.shape, f"stage {st.name}", names)
    if kind == "placeholder":
        new_op, new_axes = PlaceholderOp(op.name, imap.physical_shape, op.dtype), []
    else:
        new_axes = [IterVar(Var(nm), Range(0, ext), "data")
                    for nm, ext in zip(imap.axis_names(), imap.physical_shape)]
        logical = dict(zip((iv.var for iv in op.axis), imap.inverse([iv.var for iv in new_axes])))
        new_op = ComputeOp(op.name, new_axes, tuple(substitute(b, logical) for b in op.bodies),
                           op.tag, op.attrs)
    st.layout = Layout(imap, {id(o) for o, stage in sch.stage_map.items() if stage is st}, new_op)
    for rs in readers:
        rop = rs.op
        new_rop = ComputeOp(rop.name, rop.axis, tuple(read_physically(sch, b) for b in rop.bodies),
                            rop.tag, rop.attrs)
        rs.op = new_rop
        sch.stage_map[new_rop] = rs
    st.op = new_op
    sch.stage_map[new_op] = st
    st._reset_axes()
    return list(new_axes)


def _check_stage(st):
    """'compute' or 'placeholder', or a ScheduleError saying why the stage cannot be relaid."""
    op = st.op
    if getattr(st, "layout", None) is not None:
        st._err("transform_layout: this stage is already relaid; give one mapping that does "
                "both")
    if isinstance(op, PlaceholderOp):
        return "placeholder"
    if not isinstance(op, ComputeOp) or isinstance(op, (ScanOp, ExclusiveScanOp)):
        what = "an extern op" if isinstance(op, ExternOp) else \
            "a hybrid op" if isinstance(op, HybridOp) else "a scan"
        st._err(f"transform_layout: {what} writes its buffers itself in their logical layout; "
                "only a compute or a placeholder can be relaid")
    if st.relations or st.iter_attrs or st.attach_type != "root" or st.storage_aligns:
        st._err("transform_layout: call it before any other primitive on this stage")
    if st.scan is not None:
        st._err(f"transform_layout: stage {st.name} is in the body of scan {st.scan.name}; its "
                "layout is the scan's")
    return "compute"
