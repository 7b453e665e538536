"""How a stage's loop axes derive from its original axes (split and fuse)."""
from dataclasses import dataclass

from ..lang.expr import Const
from ..lang.tensor import IterVar


@dataclass(eq=False)
class Split:
    parent: IterVar
    outer: IterVar
    inner: IterVar
    factor: object = None     # int or None
    nparts: object = None     # int or None


@dataclass(eq=False)
class Fuse:
    outer: IterVar
    inner: IterVar
    fused: IterVar


@dataclass(eq=False)
class Singleton:
    """A new outermost loop of one iteration, derived from no axis (TVM's fuse() of no axes)."""
    iv: IterVar


def ceil_div(a, b):
    """ceil(a / b) for a non-negative extent expression and a positive int."""
    if isinstance(a, Const):
        return Const(-(-a.value // b), a.dtype)
    return (a + (b - 1)) // b


def leaf_to_root(stage, leaf_values, extents=None):
    """Express every axis of `stage` in terms of its leaf loop values.

    leaf_values maps id(leaf IterVar) -> Expr (0-based). Returns (values, guards): values maps
    id(IterVar) -> 0-based Expr for every axis; guards lists (value, extent) pairs for splits
    whose factor may not divide the extent (value must stay below extent).
    """
    values = dict(leaf_values)
    guards = []
    ext_of = (lambda iv: extents[id(iv)]) if extents is not None else stage.extent_of
    for rel in reversed(stage.relations):
        if isinstance(rel, Singleton):
            continue
        if isinstance(rel, Split):
            f = ext_of(rel.inner)
            v = values[id(rel.outer)] * f + values[id(rel.inner)]
            values[id(rel.parent)] = v
            if not _divides(ext_of(rel.parent), rel):
                guards.append((v, ext_of(rel.parent)))
        else:
            ie = ext_of(rel.inner)
            fv = values[id(rel.fused)]
            values[id(rel.outer)] = fv // ie
            values[id(rel.inner)] = fv % ie
    return values, guards


def _divides(ext, rel):
    if not isinstance(ext, Const):
        return False
    n = rel.factor if rel.factor is not None else None
    if n is not None:
        return ext.value % n == 0
    inner = -(-ext.value // rel.nparts)
    return inner * rel.nparts == ext.value


def propagate_extents(stage, root_extents):
    """Loop extents of every axis when the root axes have the given extents (id -> Expr)."""
    ext = dict(root_extents)
    for rel in stage.relations:
        if isinstance(rel, Singleton):
            ext[id(rel.iv)] = Const(1, "int32")
        elif isinstance(rel, Split):
            pe = ext[id(rel.parent)]
            if rel.factor is not None:
                ext[id(rel.outer)] = ceil_div(pe, rel.factor)
                ext[id(rel.inner)] = Const(rel.factor, "int32")
            else:
                ext[id(rel.outer)] = Const(rel.nparts, "int32")
                ext[id(rel.inner)] = ceil_div(pe, rel.nparts)
        else:
            a, b = ext[id(rel.outer)], ext[id(rel.inner)]
            if isinstance(a, Const) and isinstance(b, Const):
                ext[id(rel.fused)] = Const(a.value * b.value, "int32")
            else:
                ext[id(rel.fused)] = a * b
    return ext


def data_related(stage, iv):
    """Does loop axis iv (of stage) step through a data axis? True for data axes and for a
    reduction axis fused with a data axis (its loop must also run when initializing)."""
    if iv.kind != "reduce":
        return True
    related = {id(a) for a in stage.op.axis}
    for rel in stage.relations:
        if isinstance(rel, Split):
            if id(rel.parent) in related:
                related |= {id(rel.outer), id(rel.inner)}
        elif isinstance(rel, Singleton):
            related.add(id(rel.iv))
        elif id(rel.outer) in related or id(rel.inner) in related:
            related.add(id(rel.fused))
    return id(iv) in related
