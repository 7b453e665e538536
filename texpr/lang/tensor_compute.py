"""TVM's TensorComputeOp: a tensor intrinsic called inside te.compute on tensor regions,

    C = te.compute((n // 16, 16), lambda i: vadd(A[i, 0:16], B[i, 0:16]))

texpr writes it as the ordinary compute it means (the intrinsic's declaration applied to the
regions) whose inner loops the schedule tensorizes with the intrinsic from the start
(schedule.Schedule); outer loops stay schedulable.
"""
import numbers

from ..errors import TexprError
from .expr import Const, Reduce, TensorLoad, Var, convert
from .visitor import substitute, transform


class TensorRegion:
    """A[i, 0:16]: a tensor with some dimensions fixed and others sliced (an intrinsic's
    argument, not an expression)."""

    def __init__(self, tensor, indices):
        self.tensor = tensor
        self.indices = tuple(indices)
        for d, x in enumerate(self.indices):
            if isinstance(x, slice):
                if x.step not in (None, 1):
                    raise TexprError(f"tensor {tensor.name}: slice {d} has step {x.step}; only "
                                     "unit steps are supported")
                lo = 0 if x.start is None else x.start
                hi = tensor.shape[d] if x.stop is None else x.stop
                ext = _const_int(hi) - _const_int(lo) if _const_int(hi) is not None and \
                    _const_int(lo) is not None else None
                if ext is None or ext <= 0:
                    raise TexprError(f"tensor {tensor.name}: slice {d} ({lo}:{hi}) must have a "
                                     "constant positive extent")

    def sliced(self):
        """(dimension, start expression, extent) of each sliced dimension."""
        out = []
        for d, x in enumerate(self.indices):
            if isinstance(x, slice):
                lo = 0 if x.start is None else x.start
                hi = self.tensor.shape[d] if x.stop is None else x.stop
                out.append((d, convert(lo), _const_int(hi) - _const_int(lo)))
        return out

    def __repr__(self):
        return f"TensorRegion({self.tensor.name})"

    def _not_an_expression(self, *_):
        raise TexprError(f"tensor {self.tensor.name} indexed with a slice is a region: it can be "
                         "an argument of a tensor intrinsic (TensorComputeOp), not part of an "
                         "expression")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _not_an_expression
    __truediv__ = __rtruediv__ = __neg__ = astype = _not_an_expression


def _const_int(v):
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, Const) and isinstance(v.value, int) and not isinstance(v.value, bool):
        return v.value
    return None


class TensorIntrinCall:
    """intrin(regions..., reduce_axis=k): what a TensorComputeOp's fcompute returns."""

    def __init__(self, intrin, regions, reduce_axis):
        self.intrin = intrin
        self.regions = regions
        self.reduce_axis = reduce_axis


def call_intrin(intrin, regions, reduce_axis=None, scalar_inputs=None):
    if scalar_inputs:
        raise TexprError(f"tensor intrinsic {intrin.name}: scalar_inputs are not supported")
    if len(regions) != len(intrin.inputs):
        raise TexprError(f"tensor intrinsic {intrin.name} takes {len(intrin.inputs)} region(s) "
                         f"({', '.join(t.name for t in intrin.inputs)}), got {len(regions)}")
    for r, p in zip(regions, intrin.inputs):
        if not isinstance(r, TensorRegion):
            raise TexprError(f"tensor intrinsic {intrin.name}: argument for {p.name} must be a "
                             f"tensor region such as A[i, 0:16], got {r!r}")
        sl = r.sliced()
        want = [int(d) for d in p.shape]
        if [e for _, _, e in sl] != want:
            raise TexprError(f"tensor intrinsic {intrin.name}: region of {r.tensor.name} has "
                             f"sliced extents {[e for _, _, e in sl]}; {p.name} has shape {want}")
        if r.tensor.dtype != p.dtype:
            raise TexprError(f"tensor intrinsic {intrin.name}: {r.tensor.name} has dtype "
                             f"{r.tensor.dtype}; {p.name} has {p.dtype}")
    if reduce_axis is None:
        reduce_axis = []
    elif not isinstance(reduce_axis, (list, tuple)):
        reduce_axis = [reduce_axis]
    return TensorIntrinCall(intrin, list(regions), list(reduce_axis))


def tensor_compute_body(call, name, out_axes, inner_axes):
    """The compute body of the call: the intrinsic's expression with its placeholders read
    from the regions and its axes renamed to the stage's (`inner_axes`); reduction axes of
    the call (outer) before the intrinsic's own (fresh copies)."""
    from .tensor import IterVar, Range
    intrin = call.intrin
    iop = intrin.op
    vmap = {iv.var: ax.var for iv, ax in zip(iop.axis, inner_axes)}
    own_reduce = [IterVar(Var(iv.name), Range(iv.dom.min, iv.dom.extent), "reduce")
                  for iv in iop.reduce_axis]
    vmap.update({iv.var: new.var for iv, new in zip(iop.reduce_axis, own_reduce)})
    place = {id(p.op): r for p, r in zip(intrin.inputs, call.regions)}

    def load(n):
        if isinstance(n, TensorLoad) and id(n.tensor.op) in place:
            r = place[id(n.tensor.op)]
            idx = list(r.indices)
            for (d, lo, _), x in zip(r.sliced(), n.indices):
                idx[d] = lo + x
            return r.tensor[tuple(idx)]
        return None
    body = iop.bodies[0]
    if isinstance(body, Reduce):
        src = transform(substitute(body.source, vmap), load)
        where = substitute(body.where, vmap)
        axes = tuple(call.reduce_axis) + tuple(own_reduce)
        return Reduce(body.combiner, src, axes, where, body.dtype)
    if call.reduce_axis:
        raise TexprError(f"compute {name}: reduce_axis= needs a reducing intrinsic; "
                         f"{intrin.name} is not one")
    return transform(substitute(body, vmap), load)


def tensor_compute(shape, fcompute, k, name, tag, attrs):
    """te.compute whose fcompute takes the k outer indices and returns a tensor intrinsic call
    filling the remaining (inner) dimensions."""
    from .tensor import ComputeOp, IterVar, Range, _arg_names
    names = _arg_names(fcompute, k)
    outer = [IterVar(Var(nm), Range(0, ext), "data") for nm, ext in zip(names, shape[:k])]
    call = fcompute(*[iv.var for iv in outer])
    if not isinstance(call, TensorIntrinCall):
        raise TexprError(f"the compute function takes {k} argument(s) but the shape has "
                         f"{len(shape)} dimension(s) (fewer indices are TVM's TensorComputeOp: "
                         f"the function must then return a tensor intrinsic call)")
    iop = call.intrin.op
    inner_shape = [_const_int(d) for d in shape[k:]]
    if inner_shape != [int(d) for d in iop.shape]:
        raise TexprError(f"compute {name}: the last {len(shape) - k} dimension(s) "
                         f"{[str(d) for d in shape[k:]]} must be the output shape of "
                         f"{call.intrin.name}, {[int(d) for d in iop.shape]}")
    inner = [IterVar(Var(iv.name), Range(0, ext), "data")
             for iv, ext in zip(iop.axis, shape[k:])]
    body = tensor_compute_body(call, name, outer, inner)
    attrs = dict(attrs or {})
    attrs["tensor_intrin"] = (call.intrin, k, len(call.reduce_axis))
    return ComputeOp(name, outer + inner, body, tag, attrs).output(0)
