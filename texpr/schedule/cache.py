"""cache_read and cache_write: add a stage that copies a tensor through another scope."""
from ..errors import ScheduleError
from .layout import physical_load
from .relations import Fuse, Singleton, Split
from ..lang.expr import Reduce, TensorLoad
from ..lang.hybrid_op import HybridOp
from ..lang.tensor import ComputeOp, IterVar, Range, Tensor, compute
from ..lang.expr import Var
from ..lang.visitor import substitute, transform

SCOPES = ("global", "local", "shared")


def _check_scope(scope, prim, name):
    if scope not in SCOPES:
        raise ScheduleError(f"{prim} of {name}: unknown scope {scope!r}; expected one of "
                            f"{', '.join(SCOPES)}")


def _fresh_axes(ivs, suffix="", vmap=None):
    """Copies of ivs with new variables; vmap renames the variables their domains use (the
    bounds of a ragged reduction read data at the data axes: offsets[b]..offsets[b + 1])."""
    out = []
    for iv in ivs:
        mn, ext = iv.dom.min, iv.dom.extent
        if vmap:
            mn, ext = substitute(mn, vmap), substitute(ext, vmap)
        out.append(IterVar(Var(iv.name + suffix), Range(mn, ext), iv.kind))
    return out


def cache_write(sch, tensor, scope):
    """Compute `tensor` into a `scope` buffer, then copy it out; returns the cache tensor."""
    if not isinstance(tensor, Tensor):
        raise ScheduleError(f"cache_write expects a tensor, got {tensor!r}")
    st = sch[tensor]
    _check_scope(scope, "cache_write", st.name)
    op = st.op
    if isinstance(op, HybridOp):
        raise ScheduleError(f"cache_write: {st.name} is a hybrid op; its script writes its "
                            "outputs itself (cache the compute that reads them instead)")
    if not isinstance(op, ComputeOp):
        raise ScheduleError(f"cache_write: {st.name} is a placeholder; only computed tensors can "
                            "be cached for writing")
    if op.num_outputs > 1 or st.scan is not None:
        why = "has several outputs" if op.num_outputs > 1 else "is part of a scan's body"
        raise ScheduleError(f"cache_write: {st.name} {why}; it cannot be cached for writing")
    if st.attach_type == "inline":
        raise ScheduleError(f"cache_write of {st.name}: the stage is inlined; it has no buffer "
                            "to cache (call cache_write before compute_inline, or drop it)")
    axes = _fresh_axes(op.axis)
    vmap = {o.var: n.var for o, n in zip(op.axis, axes)}
    root_map = dict(zip(op.axis, axes))
    body = op.bodies[0]
    if isinstance(body, Reduce):
        raxes = _fresh_axes(body.axis, vmap=vmap)
        vmap.update({o.var: n.var for o, n in zip(body.axis, raxes)})
        root_map.update(zip(body.axis, raxes))
        body = Reduce(body.combiner.substituted(vmap), substitute(body.source, vmap), tuple(raxes),
                      substitute(body.where, vmap), body.dtype)
    else:
        body = substitute(body, vmap)
    cache_op = ComputeOp(f"{st.name}.{scope}", axes, body, op.tag, op.attrs)
    cache = cache_op.output(0)
    copy_op = ComputeOp(st.name, op.axis, cache[tuple(iv.var for iv in op.axis)], op.tag, op.attrs)
    new = sch._insert_stage(cache_op, st)
    new.scope = scope
    _move_loops(sch, st, new, root_map)
    st.op = copy_op
    st._reset_axes()
    sch.stage_map[copy_op] = st
    return cache


def _move_loops(sch, st, new, root_map):
    """The loops scheduled on st so far (splits, fuses, order, annotations, stages computed
    at them) now describe the computation, which the cache stage `new` does: replay them
    there. st becomes a plain copy over its original axes. The axes the user holds (the
    original op's axes, reduction axes included, and the split and fused ones) name their
    counterparts on `new` (Stage.aliases), so a schedule written against them still applies.
    TVM instead lays the cache tensor out in the split loop order; the results are the same."""
    amap = {id(o): n for o, n in root_map.items()}
    # the axes amap's ids are of, held by the aliases: the id of an axis that was freed could
    # come back as a new axis (a later split or fuse) and be taken for the old one
    held = {id(o): o for o in root_map}
    for rel in st.relations:
        if isinstance(rel, Singleton):
            amap[id(rel.iv)] = new._new_iv(rel.iv.name, st.extent_of(rel.iv), rel.iv.kind)
            held[id(rel.iv)] = rel.iv
            new.relations.append(Singleton(amap[id(rel.iv)]))
            continue
        for iv in (rel.outer, rel.inner, rel.fused) if isinstance(rel, Fuse) else \
                (rel.outer, rel.inner):
            if id(iv) not in amap:
                amap[id(iv)] = new._new_iv(iv.name, st.extent_of(iv), iv.kind)
                held[id(iv)] = iv
        if isinstance(rel, Split):
            new.relations.append(Split(amap[id(rel.parent)], amap[id(rel.outer)],
                                       amap[id(rel.inner)], rel.factor, rel.nparts))
        else:
            new.relations.append(Fuse(amap[id(rel.outer)], amap[id(rel.inner)],
                                      amap[id(rel.fused)]))
    new.leaf_iter_vars = [amap[id(iv)] for iv in st.leaf_iter_vars]
    new.iter_attrs = {id(amap[k]): dict(v) for k, v in st.iter_attrs.items() if k in amap}
    if getattr(st, "rfactor_axis", None) is not None and id(st.rfactor_axis) in amap:
        new.rfactor_axis = amap[id(st.rfactor_axis)]
        st.rfactor_axis = None
    new.aliases = {k: (held[k], n) for k, n in amap.items()}
    for other in sch.stages:
        if other.attach_type == "scope" and other.attach_stage is st and \
                id(other.attach_ivar) in amap:
            other.attach_stage, other.attach_ivar = new, amap[id(other.attach_ivar)]
    st.relations, st.iter_attrs, st.aliases = [], {}, {}


def cache_read(sch, tensor, scope, readers):
    """Copy `tensor` into a `scope` buffer read by `readers` instead of the original."""
    if not isinstance(tensor, Tensor):
        raise ScheduleError(f"cache_read expects a tensor, got {tensor!r}")
    src = sch[tensor]
    _check_scope(scope, "cache_read", src.name)
    if not isinstance(readers, (list, tuple)):
        readers = [readers]
    if not readers:
        raise ScheduleError(f"cache_read of {src.name}: give at least one reader")
    reader_stages = []
    for r in readers:
        rs = sch[r]
        if isinstance(rs.op, HybridOp):
            raise ScheduleError(f"cache_read of {src.name}: reader {rs.name} is a hybrid op, which "
                                "reads its inputs as its script wrote; it cannot read a cache")
        if not any(sch.stage_map.get(t.op) is src for t in (rs.op.input_tensors
                                                            if isinstance(rs.op, ComputeOp) else [])):
            raise ScheduleError(f"cache_read of {src.name}: stage {rs.name} does not read it")
        reader_stages.append(rs)
    if src.layout is not None:      # relaid (transform_layout): the cache copies its layout
        tensor = src.layout.op.output(tensor.value_index)
    shape = tensor.shape
    cache = compute(shape, lambda *i: tensor[i], name=f"{src.name}.{scope}")
    for rs in reader_stages:
        def fn(n, rs=rs):
            if isinstance(n, TensorLoad) and sch.stage_map.get(n.tensor.op) is src:
                phys = physical_load(sch, n)
                return TensorLoad(cache, n.indices if phys is None else phys.indices, n.dtype)
            return None
        op = rs.op
        new_body = [transform(b, fn) for b in op.bodies]
        new_op = ComputeOp(op.name, op.axis, new_body, op.tag, op.attrs)
        rs.op = new_op
        sch.stage_map[new_op] = rs
    first = min(reader_stages, key=sch.stages.index)
    new = sch._insert_stage(cache.op, first)
    new.scope = scope
    return cache


def cache_read_permuted(sch, tensor, scope, readers, perm):
    """cache_read whose copy holds the tensor's dimensions in the order `perm`:
    copy[idx[perm[0]], idx[perm[1]], ...] = tensor[idx]. A GPU schedule stages a [rows, k]
    operand as [k, rows] in shared memory, so that the threads of a warp read consecutive
    addresses (no bank conflicts, vector loads) in the inner product."""
    if not isinstance(tensor, Tensor):
        raise ScheduleError(f"cache_read expects a tensor, got {tensor!r}")
    n = len(tensor.shape)
    if sorted(perm) != list(range(n)):
        raise ScheduleError(f"cache_read of {tensor.name}: {perm!r} is not a permutation of its "
                            f"{n} dimensions")
    src = sch[tensor]
    _check_scope(scope, "cache_read", src.name)
    if src.layout is not None:
        raise ScheduleError(f"cache_read of {src.name}: a permuted cache of a relaid tensor "
                            "(transform_layout) is not supported; use cache_read")
    if not isinstance(readers, (list, tuple)):
        readers = [readers]
    reader_stages = [sch[r] for r in readers]
    for rs in reader_stages:
        if not any(sch.stage_map.get(t.op) is src for t in (rs.op.input_tensors
                                                            if isinstance(rs.op, ComputeOp) else [])):
            raise ScheduleError(f"cache_read of {src.name}: stage {rs.name} does not read it")
    shape = [tensor.shape[p] for p in perm]

    def copy(*ci):
        return tensor[tuple(ci[perm.index(d)] for d in range(n))]
    cache = compute(shape, copy, name=f"{src.name}.{scope}")
    for rs in reader_stages:
        def fn(nd):
            if isinstance(nd, TensorLoad) and sch.stage_map.get(nd.tensor.op) is src:
                return TensorLoad(cache, tuple(nd.indices[p] for p in perm), nd.dtype)
            return None
        op = rs.op
        new_op = ComputeOp(op.name, op.axis, [transform(b, fn) for b in op.bodies], op.tag, op.attrs)
        rs.op = new_op
        sch.stage_map[new_op] = rs
    new = sch._insert_stage(cache.op, min(reader_stages, key=sch.stages.index))
    new.scope = scope
    return cache
