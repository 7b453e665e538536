"""TVM's read-only view of a stage's loop annotations: `s[T].iter_var_attrs[axis]`.

texpr records annotations in Stage.iter_attrs (keyed by the axis's id); this view answers in
TVM's terms: `iter_type` is one of the IterVar kind codes (IterVar.Unrolled, ...), pragmas
are `pragma_keys` / `pragma_values` whose items carry `.value`, a bound axis has `bind_thread`
and a tensorized one `tensor_intrin`.
"""
from ..lang.tensor import IterVar

_KIND_CODE = {"unroll": IterVar.Unrolled, "vectorize": IterVar.Vectorized,
              "parallel": IterVar.Parallelized, "tensorize": IterVar.Tensorized,
              "bind": IterVar.ThreadIndex}


class _Value:
    """A constant as TVM's StringImm / IntImm show it: the Python value under `.value`."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return self.value == (other.value if isinstance(other, _Value) else other)

    __hash__ = None  # type: ignore[assignment]  # unhashable, as it defines ==

    def __repr__(self):
        return repr(self.value)


class IterVarAttr:
    """The annotations of one loop axis of a stage."""

    def __init__(self, axis, attr):
        self.axis = axis
        kind = attr.get("kind")
        if kind is None:
            self.iter_type = IterVar.CommReduce if axis.kind == "reduce" else IterVar.DataPar
        else:
            self.iter_type = _KIND_CODE[kind]
        self.bind_thread = attr.get("thread")
        self.tensor_intrin = attr.get("intrin")
        pragmas = attr.get("pragmas", [])
        self.pragma_keys = [_Value(k) for k, _ in pragmas]
        self.pragma_values = [_Value(v) for _, v in pragmas]

    def __repr__(self):
        return f"IterVarAttr({self.axis.name}, iter_type={self.iter_type})"


class IterVarAttrs:
    """Mapping axis -> IterVarAttr over the annotated axes of a stage."""

    def __init__(self, stage):
        self._stage = stage

    def _axes(self):
        return [iv for iv in self._stage.all_iter_vars if id(iv) in self._stage.iter_attrs]

    def __getitem__(self, axis):
        attr = self._stage.iter_attrs.get(id(axis))
        if attr is None or not isinstance(axis, IterVar):
            raise KeyError(f"stage {self._stage.name}: axis {getattr(axis, 'name', axis)!r} has "
                           "no annotation")
        return IterVarAttr(axis, attr)

    def __contains__(self, axis):
        return id(axis) in self._stage.iter_attrs

    def __iter__(self):
        return iter(self._axes())

    def __len__(self):
        return len(self._axes())

    def items(self):
        return [(iv, self[iv]) for iv in self._axes()]
