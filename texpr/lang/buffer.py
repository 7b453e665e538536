"""te.decl_buffer: TVM's description of the memory an intrinsic's operand lives in (shape,
dtype, strides, offset alignment), used in decl_tensor_intrin(binds={tensor: buffer})."""
from __future__ import annotations

import numbers
from typing import Any

from . import dtypes
from ..errors import TexprError
from .expr import Const, Var, convert


class DeclBuffer:
    """shape, dtype, strides (None: compact; te.var entries: any stride, as the region has),
    elem_offset and offset_factor (accepted: texpr hands the intrinsic the exact address of its
    region), scope."""

    def __init__(self, shape, dtype, name, strides, elem_offset, scope, offset_factor):
        self.shape = tuple(convert(d) for d in shape)
        self.dtype = dtype
        self.name = name
        self.strides = None if strides is None else tuple(convert(x) for x in strides)
        self.elem_offset = elem_offset
        self.scope = scope
        self.offset_factor = offset_factor

    def __repr__(self):
        return f"decl_buffer({self.name}, shape={[str(d) for d in self.shape]}, {self.dtype})"


def decl_buffer(shape: Any, dtype: Any = "float32", name: str = "buffer", data: Any = None,
                strides: Any = None, elem_offset: Any = None, scope: str = "",
                data_alignment: int = -1, offset_factor: int = 0, buffer_type: str = "",
                axis_separators: Any = None) -> Any:
    """A buffer declaration (TVM's signature); data, data_alignment, buffer_type and
    axis_separators are accepted for compatibility and must keep their defaults.

    >>> import texpr as te
    >>> m = te.var("m")
    >>> buf = te.decl_buffer((16,), "float32", name="Ab", strides=[m])
    >>> buf.dtype, buf.name
    ('float32', 'Ab')
    """
    if isinstance(shape, (numbers.Integral, Var)):
        shape = (shape,)
    dt = dtypes.normalize(dtype)
    for what, v, default in (("data", data, None), ("buffer_type", buffer_type, ""),
                             ("axis_separators", axis_separators, None)):
        if not (v is None or (isinstance(v, (str, list, tuple)) and len(v) == 0)):
            raise TexprError(f"decl_buffer {name}: {what}= is not supported by texpr (the "
                             "intrinsic gets the region's pointer and strides)")
    if strides is not None and len(strides) != len(shape):
        raise TexprError(f"decl_buffer {name}: {len(strides)} strides for {len(shape)} "
                         "dimensions")
    if isinstance(offset_factor, bool) or not isinstance(offset_factor, numbers.Integral) or \
            offset_factor < 0:
        raise TexprError(f"decl_buffer {name}: offset_factor must be a non-negative int, got "
                         f"{offset_factor!r}")
    return DeclBuffer(shape, dt, name, strides, elem_offset, scope, int(offset_factor))


def check_bind(buf, tensor, intrin_name):
    """A binds entry agrees with the tensor it describes (dtype and shape)."""
    if not isinstance(buf, DeclBuffer):
        raise TexprError(f"decl_tensor_intrin {intrin_name}: binds[{tensor.name}] must be a "
                         f"te.decl_buffer, got {buf!r}")
    if buf.dtype != tensor.dtype:
        raise TexprError(f"decl_tensor_intrin {intrin_name}: binds[{tensor.name}] has dtype "
                         f"{buf.dtype}; the tensor has {tensor.dtype}")
    same = len(buf.shape) == len(tensor.shape) and all(
        isinstance(a, Const) and isinstance(b, Const) and a.value == b.value
        for a, b in zip(buf.shape, tensor.shape))
    if not same:
        raise TexprError(f"decl_tensor_intrin {intrin_name}: binds[{tensor.name}] has shape "
                         f"{[str(d) for d in buf.shape]}; the tensor has "
                         f"{[str(d) for d in tensor.shape]}")


def check_strides(buf, strides, intrin_name):
    """A constant stride the buffer declares must be the region's (C text of the stride)."""
    if buf.strides is None:
        return
    for d, (want, got) in enumerate(zip(buf.strides, strides)):
        if isinstance(want, Const) and got.strip("()") != str(want.value):
            raise TexprError(f"tensor intrinsic {intrin_name}: dimension {d} of {buf.name} must "
                             f"have stride {want.value} (binds), but the tensorized region's "
                             f"stride is {got}; declare it as a te.var to accept any stride")
