"""Tensor intrinsics: a small computation declared by its meaning and its implementation.

`decl_tensor_intrin(op, impl)` pairs a compute over small placeholders (what the hardware
instruction or micro-kernel computes) with an implementation that produces target source
from the pointers and strides of the regions it is applied to. `Stage.tensorize` checks that
a loop nest computes exactly the declared meaning before it swaps the implementation in.
"""
from ..errors import TexprError
from .expr import Const, Reduce
from .tensor import ComputeOp, PlaceholderOp, Tensor


class TensorIntrin:
    def __init__(self, name, op, impl, inputs, partial_axes=()):
        self.name = name
        self.op = op
        self.impl = impl
        self.inputs = inputs
        self.partial_axes = tuple(partial_axes)

    @property
    def output(self):
        return self.op.output(0)

    @property
    def is_reduction(self):
        return isinstance(self.op.body, Reduce)

    def impl_for(self, target):
        impl = self.impl
        if isinstance(impl, dict):
            fn = impl.get(target)
            if fn is None and target == "native":
                fn = impl.get("avx2")
            if fn is None:
                fn = impl.get("c")
            if fn is None:
                raise TexprError(f"tensor intrinsic {self.name} has no implementation for target "
                                 f"{target!r} (it has: {', '.join(impl)})")
            return fn
        return impl

    def __repr__(self):
        return f"TensorIntrin({self.name})"


def decl_tensor_intrin(op, impl, name=None, inputs=None, partial_axes=()):
    """Declare an intrinsic computing `op` (a te.compute over placeholders).

    impl(ins, outs) -> C statements (str), or a dict with any of "body" (compute the whole
    output), "reset" (set the accumulator to the identity), "update" (accumulate into it) and
    "helpers" (C text emitted once at file scope). impl may also be a dict target -> function.
    ins/outs are BufferRef objects: .ptr (C pointer expression), .strides (C expressions, in
    elements, one per placeholder dimension), .shape, .dtype, .ctype. Pointers, and strides
    and extents that are not constants, are names of const locals (texpr_in0, texpr_out0_s1,
    ...) bound in an enclosing block, so locals the C declares (any name outside the
    texpr_ prefix, which generated code reserves) cannot change what they refer to.

    partial_axes: output axes along which impl also handles an incomplete tile (the tail of a
    split that does not divide). For such a tile outs[0].extents holds, per output axis, a C
    expression for the number of valid elements (at most the declared extent; the declared
    extent itself on complete axes), and impl must read and write only those elements. Tiles
    incomplete along other axes (or along a reduction) run as plain loops.
    """
    if isinstance(op, Tensor):
        op = op.op
    if not isinstance(op, ComputeOp):
        raise TexprError(f"decl_tensor_intrin: expected the op of a te.compute, got {op!r}")
    if not (callable(impl) or (isinstance(impl, dict) and impl and all(callable(f) for f in impl.values()))):
        raise TexprError("decl_tensor_intrin: impl must be a function (ins, outs) -> C source, or "
                         "a dict target -> such function")
    ins = op.input_tensors()
    for t in ins:
        if not isinstance(t.op, PlaceholderOp):
            raise TexprError(f"decl_tensor_intrin {name or op.name}: input {t.name} must be a "
                             "placeholder (an intrinsic reads only its arguments)")
    for iv in list(op.axis) + list(op.reduce_axis):
        if not isinstance(iv.dom.extent, Const) or not isinstance(iv.dom.min, Const):
            raise TexprError(f"decl_tensor_intrin {name or op.name}: axis {iv.name} must have a "
                             "constant range")
    if inputs is not None:
        inputs = list(inputs)
        if {id(t.op) for t in inputs} != {id(t.op) for t in ins}:
            raise TexprError(f"decl_tensor_intrin {name or op.name}: inputs= must list exactly "
                             f"the placeholders the compute reads ({', '.join(t.name for t in ins)})")
        ins = inputs
    naxes = len(op.axis)
    partial_axes = tuple(partial_axes)
    if any(not isinstance(a, int) or not 0 <= a < naxes for a in partial_axes):
        raise TexprError(f"decl_tensor_intrin {name or op.name}: partial_axes must be output axis "
                         f"numbers in [0, {naxes}), got {partial_axes}")
    return TensorIntrin(name or op.name, op, impl, ins, partial_axes)
