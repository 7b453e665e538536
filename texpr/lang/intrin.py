"""Tensor intrinsics: a small computation declared by its meaning and its implementation.

`decl_tensor_intrin(op, impl)` pairs a compute over small placeholders (what the hardware
instruction or micro-kernel computes) with an implementation that produces target source
from the pointers and strides of the regions it is applied to. `Stage.tensorize` checks that
a loop nest computes exactly the declared meaning before it swaps the implementation in.
"""
from ..errors import TexprError
from .expr import Const, Reduce
from .buffer import check_bind, check_strides
from .tensor import ComputeOp, PlaceholderOp, Tensor


class OperandText(str):
    """The C text of a tensorized operand's pointer or stride (what a string implementation
    formats into its source) that also carries the IR expression it stands for (`expr`), so
    an implementation built with te.ir_builder can pass it to te.call_extern."""

    def __new__(cls, text, expr):
        out = super().__new__(cls, text)
        out.expr = expr
        return out


class TensorIntrin:
    def __init__(self, name, op, impl, inputs, partial_axes=(), binds=None):
        self.name = name
        self.op = op
        self.impl = impl
        self.inputs = inputs
        self.partial_axes = tuple(partial_axes)
        self.binds = dict(binds or {})      # tensor -> DeclBuffer (TVM's binds)

    @property
    def output(self):
        return self.op.output(0)

    @property
    def is_reduction(self):
        return isinstance(self.op.bodies[0], Reduce)

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
            return self._tvm_form(fn)
        return self._tvm_form(impl)

    def _tvm_form(self, fn):
        """impl with TVM's conventions bridged: a (body, reduce_init, reduce_update) tuple
        (None for a part it lacks) is the parts dict; binds' constant strides are checked."""
        def call(ins, outs):
            for ref, t in zip(list(ins) + list(outs), list(self.inputs) + [self.output]):
                buf = self.binds.get(t)
                if buf is not None:
                    check_strides(buf, ref.strides, self.name)
            code = fn(ins, outs)
            if isinstance(code, (tuple, list)):
                if len(code) != 3:
                    raise TexprError(f"tensor intrinsic {self.name}: impl returned {len(code)} "
                                     "parts; TVM's form is (body, reduce_init, reduce_update)")
                code = {k: v for k, v in zip(("body", "reset", "update"), code) if v is not None}
                if "reset" in code and "update" in code:
                    # TVM: body only where the intrinsic covers the whole reduction; a tile's
                    # first accumulation of a split one is reset, then update
                    code["first"] = [code["reset"], code["update"]]
            return code
        return call

    def __call__(self, *regions, reduce_axis=None, scalar_inputs=None):
        """intrin(A[i, 0:16], ...) inside te.compute (TVM's TensorComputeOp)."""
        from .tensor_compute import call_intrin
        return call_intrin(self, regions, reduce_axis, scalar_inputs)

    def __repr__(self):
        return f"TensorIntrin({self.name})"


def decl_tensor_intrin(op, impl, name=None, inputs=None, partial_axes=(), binds=None,
                       scalar_params=None, default_buffer_params=None):
    """Declare an intrinsic computing `op` (a te.compute over placeholders).

    impl(ins, outs) -> C statements (str), or a dict with any of "body" (compute the whole
    output), "reset" (set the accumulator to the identity), "update" (accumulate into it) and
    "helpers" (C text emitted once at file scope). impl may also be a dict target -> function.
    ins/outs are BufferRef objects: .ptr (C pointer expression), .strides (C expressions, in
    elements, one per placeholder dimension), .shape, .dtype, .ctype. impl may also return
    statements built with te.ir_builder (for the whole result or per part) instead of C text:
    ib.buffer_ptr(ins[k]) indexes the operand's region (one index per placeholder dimension;
    proven in bounds of the declared shape), and .access_ptr(...) / .strides[d] may be
    passed to te.call_extern. Pointers, and strides
    and extents that are not constants, are names of const locals (texpr_in0, texpr_out0_s1,
    ...) bound in an enclosing block, so locals the C declares (any name outside the
    `texpr_` prefix, which generated code reserves) cannot change what they refer to.

    partial_axes: output axes along which impl also handles an incomplete tile (the tail of a
    split that does not divide). For such a tile outs[0].extents holds, per output axis, a C
    expression for the number of valid elements (at most the declared extent; the declared
    extent itself on complete axes), and impl must read and write only those elements. Tiles
    incomplete along other axes (or along a reduction) run as plain loops.

    TVM's forms: impl may return (body, reduce_init, reduce_update) (None where absent) with C
    text in each; binds={tensor: te.decl_buffer(...)} declares an operand's buffer (its
    constant strides are checked against the tensorized region; te.var strides accept any);
    the operands' .access_ptr("r") is their pointer; default_buffer_params may hold
    offset_factor / data_alignment / scope (nothing to do). scalar_params is not supported.

    >>> import texpr as te
    >>> a = te.placeholder((4,), name="a")
    >>> b = te.placeholder((4,), name="b")
    >>> c = te.compute((4,), lambda i: a[i] + b[i], name="c")
    >>> add4 = te.decl_tensor_intrin(c.op, lambda ins, outs: (
    ...     f"for (int k = 0; k < 4; ++k) {outs[0].ptr}[k] = {ins[0].ptr}[k] + {ins[1].ptr}[k];"))
    >>> # s[C].tensorize(xi, add4) replaces a matching 4-element loop by this code
    """
    if isinstance(op, Tensor):
        op = op.op
    if not isinstance(op, ComputeOp):
        raise TexprError(f"decl_tensor_intrin: expected the op of a te.compute, got {op!r}")
    if not (callable(impl) or (isinstance(impl, dict) and impl and all(callable(f) for f in impl.values()))):
        raise TexprError("decl_tensor_intrin: impl must be a function (ins, outs) -> C source, or "
                         "a dict target -> such function")
    if scalar_params:
        raise TexprError(f"decl_tensor_intrin {name or op.name}: scalar_params is not supported "
                         "(texpr has no TensorComputeOp); write the scalars as constants in the "
                         "declaration, or declare one intrinsic per value")
    bad = set(default_buffer_params or {}) - {"offset_factor", "data_alignment", "scope"}
    if bad:
        raise TexprError(f"decl_tensor_intrin {name or op.name}: default_buffer_params "
                         f"{', '.join(sorted(bad))} not supported (offset_factor, data_alignment "
                         "and scope are accepted: the implementation gets each region's exact "
                         "pointer); give an operand its strides with binds=")
    ins = op.input_tensors
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
    binds = dict(binds or {})
    for t, buf in binds.items():
        if not isinstance(t, Tensor) or not any(t is x for x in ins + [op.output(0)]):
            raise TexprError(f"decl_tensor_intrin {name or op.name}: binds key {t!r} is not an "
                             "input or the output of the declared compute")
        check_bind(buf, t, name or op.name)
    return TensorIntrin(name or op.name, op, impl, ins, partial_axes, binds)
