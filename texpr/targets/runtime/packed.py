"""Python functions kernels call by name (TVM's register_func / get_global_func / call_packed).

Kernels reach them through one cffi callback: texpr_packed(name, nargs, args). A buffer
argument arrives as a NumPy array that is a view of the kernel's memory (writes go through),
a scalar as a Python int or float. An exception in the function is kept and raised by the
module once the kernel has returned (it returns at the failed call).
"""
from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np
from cffi import FFI

from ...errors import PackedFuncError, TexprError
from ...lang.dtypes import SCALAR_DTYPES, numpy_dtype
from ..c.extern_calls import CODE_FLOAT, CODE_INT, PACKED_TYPES

_REGISTRY = {}
_STATE = threading.local()
_FFI = FFI()
_FFI.cdef(PACKED_TYPES)
_CALLBACK = []          # the one callback (created on first use, never freed)


def register_func(func_name: str | Callable[..., Any], f: Callable[..., Any] | None = None,
                  override: bool = False) -> Any:
    """Register f under func_name for te.call_packed. As a decorator: @register_func("name")
    or @register_func (the function's own name). override=True replaces an existing one.

    >>> import texpr as te
    >>> @te.register_func("doc.example.twice", override=True)
    ... def twice(x):
    ...     return 2 * x
    >>> te.get_global_func("doc.example.twice")(21)
    42
    """
    if callable(func_name) and f is None:
        f, func_name = func_name, func_name.__name__
    if not isinstance(func_name, str) or not func_name:
        raise TexprError(f"register_func: the name must be a non-empty string, got {func_name!r}")
    from ...lang.extern import _PACKED_NAME
    if not _PACKED_NAME.match(func_name):
        raise TexprError(f"register_func: {func_name!r} is not a valid name (letters, digits, "
                         "'_' and '.')")

    def register(fn):
        if not callable(fn):
            raise TexprError(f"register_func {func_name}: expected a callable, got {fn!r}")
        if func_name in _REGISTRY and not override:
            raise TexprError(f"register_func: {func_name!r} is already registered; pass "
                             "override=True to replace it")
        _REGISTRY[func_name] = fn
        return fn
    return register if f is None else register(f)


#: packed functions that TVM programs call by name and a texpr module defines (registered when
#: that module is imported, which happens on first use)
_PROVIDERS = {"tvm.contrib.cblas.matmul": "texpr.contrib.cblas",
              "tvm.contrib.cblas.batch_matmul": "texpr.contrib.cblas"}


def _lookup(name):
    fn = _REGISTRY.get(name)
    if fn is None and name in _PROVIDERS:
        import importlib
        importlib.import_module(_PROVIDERS[name])
        fn = _REGISTRY.get(name)
    return fn


def get_global_func(name: str, allow_missing: bool = False) -> Callable[..., Any] | None:
    """The function registered under name (None if missing and allow_missing).

    >>> import texpr as te
    >>> te.get_global_func("doc.example.missing", allow_missing=True) is None
    True
    """
    fn = _lookup(name)
    if fn is None and not allow_missing:
        raise TexprError(f"get_global_func: no function is registered under {name!r}")
    return fn


def remove_global_func(name):
    _REGISTRY.pop(name, None)


def check_registered(names, kernel):
    for n in names:
        if _lookup(n) is None:
            raise TexprError(f"kernel {kernel}: te.call_packed({n!r}, ...) names no registered "
                             f"function; register one with te.register_func({n!r})")


def _value(a):
    code = a.code
    if code == CODE_INT:
        return int(a.i)
    if code == CODE_FLOAT:
        return float(a.f)
    dt = numpy_dtype(SCALAR_DTYPES[code])
    shape = tuple(int(a.shape[d]) for d in range(a.ndim))
    n = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if n == 0:
        return np.empty(shape, dt)
    return np.frombuffer(_FFI.buffer(a.data, n), dt).reshape(shape)


def _dispatch(name, nargs, args):
    fname = _FFI.string(name).decode()
    try:
        fn = _lookup(fname)
        if fn is None:
            raise TexprError(f"no function is registered under {fname!r} (te.register_func)")
        fn(*[_value(args[k]) for k in range(nargs)])
    except BaseException as e:      # noqa: BLE001 (handed to the caller after the kernel)
        if getattr(_STATE, "error", None) is None:
            _STATE.error = (fname, e)
        return -1
    return 0


def callback_address():
    """Address of the callback kernels call (what <kernel>_set_packed takes)."""
    if not _CALLBACK:
        _CALLBACK.append(_FFI.callback("int(char*, int64_t, texpr_packed_arg*)", _dispatch))
    return int(_FFI.cast("uintptr_t", _CALLBACK[0]))


def clear_error():
    _STATE.error = None


def raise_pending(kernel):
    """Raise the error a packed function raised during the last call of `kernel`, if any."""
    err = getattr(_STATE, "error", None)
    if err is None:
        return
    _STATE.error = None
    fname, e = err
    raise PackedFuncError(f"kernel {kernel}: packed function {fname!r} raised "
                          f"{type(e).__name__}: {e}") from e
