"""Opaque code in a tensor program (TVM's te.extern and the tir call_* intrinsics).

An extern op's outputs are computed by a statement texpr does not see into: fcompute(ins,
outs) receives one Buffer per input and output tensor (their data pointers, shapes, element
access) and returns a call of a C function (call_extern), of a Python function registered
with te.register_func (call_packed), or any statement built from the buffers.
"""
from __future__ import annotations

import numbers
import re
from typing import Any, Callable, Sequence

from . import dtypes
from ..errors import DTypeError, TexprError
from .expr import Const, Expr, ExternCall, TensorLoad, convert
from .intrin import OperandText
from .ir import Allocate, Buffer, BufferPtr, BufferStore, Evaluate, For, Stmt
from .tensor import BufferOutputOp, Tensor, _as_shape, _check_name
from .visitor import walk

_C_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PACKED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")


class ExternOp(BufferOutputOp):
    """Outputs computed by `body` (a statement over the buffers in `input_buffers` and
    `output_buffers`). It has no loops: it runs once, at the root, on whole buffers."""

    def __init__(self, name, inputs, input_buffers, output_buffers, body, tag="", attrs=None):
        super().__init__(name, tag, attrs)
        self.inputs = list(inputs)
        self.input_buffers = list(input_buffers)
        self.output_buffers = list(output_buffers)
        self.body = body
        self.axis = []
        self.reduce_axis = []
        # the variables of the body's own loops (an ir_builder body): not free variables
        self.bound_vars = frozenset(n.var for n in walk(body) if isinstance(n, For))

    @property
    def input_tensors(self):
        return list(self.inputs)


def extern(shape: Any, inputs: Sequence[Tensor], fcompute: Callable[..., Any], name: str = "extern",
           dtype: Any = None, tag: str = "", attrs: dict | None = None) -> Any:
    """Tensors computed by opaque code: fcompute(ins, outs) -> a call (or statement).

    shape: one shape, or a list of shapes for several outputs; dtype: one dtype for all
    outputs or a list (default: the inputs' dtype, when they all have one). Returns one
    Tensor, or a list of Tensors when there are several outputs.

    >>> import texpr as te
    >>> A = te.placeholder((8,), name="A")
    >>> B = te.extern((8,), [A], lambda ins, outs: te.call_extern("void", "copy8",
    ...                                                       ins[0], outs[0]), name="B")
    >>> B.dtype, [int(d) for d in B.shape]
    ('float32', [8])
    """
    _check_name(name)
    if not isinstance(inputs, (list, tuple)):
        raise TexprError(f"extern {name}: inputs must be a list of tensors, got {inputs!r}")
    for k, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TexprError(f"extern {name}: input {k} is {t!r}; expected a tensor")
    multi = isinstance(shape, (list, tuple)) and len(shape) > 0 and \
        all(isinstance(s, (list, tuple)) for s in shape)
    shapes = [_as_shape(s, f"extern {name} output {k}") for k, s in enumerate(shape)] if multi \
        else [_as_shape(shape, f"extern {name}")]
    if dtype is None:
        kinds = {t.dtype for t in inputs}
        if len(kinds) != 1:
            raise TexprError(f"extern {name}: cannot infer the output dtype from the inputs "
                             f"({', '.join(sorted(kinds)) or 'none'}); pass dtype=")
        dts = [kinds.pop()] * len(shapes)
    elif isinstance(dtype, (list, tuple)):
        if len(dtype) != len(shapes):
            raise TexprError(f"extern {name}: {len(dtype)} dtypes for {len(shapes)} outputs")
        dts = [dtypes.normalize(d) for d in dtype]
    else:
        dts = [dtypes.normalize(dtype)] * len(shapes)
    in_bufs = [Buffer(t.name, t.dtype, t.shape) for t in inputs]
    out_names = [name] if len(shapes) == 1 else [f"{name}_out{k}" for k in range(len(shapes))]
    out_bufs = [Buffer(n, dt, s) for n, dt, s in zip(out_names, dts, shapes)]
    body = fcompute(in_bufs, out_bufs)
    if isinstance(body, Expr):
        body = Evaluate(body)
    if not isinstance(body, Stmt):
        raise TexprError(f"extern {name}: fcompute must return a call (te.call_packed, "
                         f"te.call_extern) or a statement, got {body!r}")
    _check_body_buffers(name, body, in_bufs, out_bufs)
    op = ExternOp(name, inputs, in_bufs, out_bufs, body, tag, attrs)
    outs = [op.output(k) for k in range(len(shapes))]
    return outs[0] if len(outs) == 1 else outs


def _check_body_buffers(name, body, in_bufs, out_bufs):
    """The body touches only the buffers fcompute was given and those it allocates itself, and
    writes no input (an input may be another stage's result, read by other stages too)."""
    mine = {id(b) for b in in_bufs + out_bufs}
    mine |= {id(n.buffer) for n in walk(body) if isinstance(n, Allocate)}
    inputs = {id(b) for b in in_bufs} - {id(b) for b in out_bufs}
    for n in walk(body):
        if isinstance(n, TensorLoad):
            raise TexprError(f"extern {name}: the body reads tensor {n.tensor.name} directly; "
                             "read the buffers fcompute receives (ins[k].vload(index))")
        b = getattr(n, "buffer", None)
        if isinstance(b, Buffer) and id(b) not in mine:
            raise TexprError(f"extern {name}: the body uses buffer {b.name}, which is not one of "
                             "the buffers fcompute was given")
        if isinstance(n, BufferStore) and id(n.buffer) in inputs:
            raise TexprError(f"extern {name}: the body writes input buffer {n.buffer.name}; an "
                             "extern op writes its outputs (outs[k]) and buffers it allocates")


def _call_arg(a, what, array=True):
    if isinstance(a, Buffer):
        return BufferPtr(a, Const(0, "int32"), array=array)
    if isinstance(a, Tensor):
        raise TexprError(f"{what}: argument {a.name} is a tensor; pass the buffers fcompute "
                         "receives (ins[k], outs[k]) instead")
    if isinstance(a, OperandText):          # an intrinsic operand's pointer or stride
        return a.expr
    if isinstance(a, str):
        raise TexprError(f"{what}: string arguments are not supported ({a!r})")
    if isinstance(a, (bool, numbers.Number, Expr)) or hasattr(a, "var"):
        return convert(a)
    raise TexprError(f"{what}: cannot pass {a!r} (type {type(a).__name__})")


def call_packed(name: str, *args: Any) -> Expr:
    """Call the function registered under `name` (te.register_func) with the buffers (as
    NumPy arrays) and scalars; its value is 0 (int32).

    >>> import texpr as te
    >>> te.call_packed("my.log", 1).dtype
    'int32'
    """
    if not isinstance(name, str) or not _PACKED_NAME.match(name):
        raise TexprError(f"call_packed: the function name must be a string of letters, digits, "
                         f"'_' and '.', got {name!r}")
    return ExternCall(name, tuple(_call_arg(a, f"call_packed {name}") for a in args), "int32",
                      "packed")


def _c_call(kind, dtype, name, args):
    what = f"call_{kind} {name}"
    if not isinstance(name, str) or not _C_NAME.match(name) or name.startswith("texpr_"):
        raise TexprError(f"call_{kind}: the function name must be a C identifier (not starting "
                         f"with texpr_), got {name!r}")
    if kind == "extern" and dtype in (None, "void", "handle"):
        dt = "void"                 # called for its effect (a handle result is not kept)
    else:
        dt = dtypes.normalize(dtype)
    args = tuple(_call_arg(a, what, array=False) for a in args)
    if kind == "pure_extern":
        for k, a in enumerate(args):
            if a.dtype == "handle":
                raise DTypeError(f"{what}: argument {k} is a buffer; a pure extern call takes "
                                 "scalars only (use te.call_extern)")
    return ExternCall(name, args, dt, kind)


def call_extern(dtype: Any, func_name: str, *args: Any) -> Expr:
    """Call the C function `func_name` (libc/libm, or C given to te.build(extra_sources=))
    with scalars and buffer addresses (a buffer stands for its data pointer).

    >>> import texpr as te
    >>> te.call_extern("float32", "fabsf", te.const(-1.0)).dtype
    'float32'
    """
    return _c_call("extern", dtype, func_name, args)


def call_pure_extern(dtype: Any, func_name: str, *args: Any) -> Expr:
    """A pure scalar C function as an expression (usable inside te.compute), e.g.
    te.call_pure_extern("float32", "expf", x).

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> B = te.compute((4,), lambda i: te.call_pure_extern("float32", "expf", A[i]), name="B")
    >>> B.dtype
    'float32'
    """
    return _c_call("pure_extern", dtype, func_name, args)
