"""Per-target lowering rules of math calls (TVM's tvm.target.intrin.register_intrin_lowering).

A rule f(call) -> expression replaces a math call (te.exp, te.log, ...) when a kernel is
emitted for its target, e.g. exp -> te.call_pure_extern("float32", "my_exp", call.args[0]).
Emitters consult the rules only when some rule is registered, so the default path costs one
dict truth test.
"""
from __future__ import annotations

import numbers
from typing import Any, Callable

from ..errors import TexprError

RULES = {}          # (op name, target) -> (level, f)

OPS = ("exp", "log", "sqrt", "tanh", "sigmoid", "erf", "floor", "ceil", "abs", "pow")


def _op_name(op_name):
    if not isinstance(op_name, str):
        raise TexprError(f"register_intrin_lowering: op_name must be a string, got {op_name!r}")
    name = op_name[4:] if op_name.startswith("tir.") else op_name
    if name not in OPS:
        raise TexprError(f"register_intrin_lowering: unknown op {op_name!r}; expected one of "
                         f"{', '.join(OPS)} (optionally prefixed 'tir.')")
    return name


def register_intrin_lowering(op_name: str, target: str = "default", *,
                             f: Callable[..., Any] | None = None, level: int = 10) -> Any:
    """Register f(call) -> expr as the lowering of math op `op_name` ("exp" or "tir.exp") for
    `target` (a texpr target name, or "default" for every target). f receives the call (its
    .args, .dtype) and returns an expression of the same dtype, or None for the default code.
    Of several rules for one (op, target) the highest level wins; a rule of the same level
    replaces the old one.
    Usable as a decorator when f is omitted. Returns f.

    Example (the rule applies to kernels built for "c" afterwards)::

        @te.register_intrin_lowering("exp", target="c", level=99)
        def exp_as_expf(call):
            return te.call_pure_extern("float32", "expf", call.args[0])
    """
    name = _op_name(op_name)
    target = _emitter_name(target)
    if isinstance(level, bool) or not isinstance(level, numbers.Integral):
        raise TexprError(f"register_intrin_lowering: level must be an int, got {level!r}")

    def register(fn):
        if not callable(fn):
            raise TexprError(f"register_intrin_lowering: f must be callable, got {fn!r}")
        old = RULES.get((name, target))
        if old is None or level >= old[0]:
            RULES[(name, target)] = (int(level), fn)
        return fn
    return register if f is None else register(f)


def remove_intrin_lowering(op_name, target="default"):
    """Drop the rule of (op, target), if any (the default code is emitted again)."""
    RULES.pop((_op_name(op_name), _emitter_name(target)), None)


def _emitter_name(target):
    """Rules are kept per emitter: "native" is the host's (avx2 or avx512)."""
    if not isinstance(target, str) or not target:
        raise TexprError(f"register_intrin_lowering: target must be a target name or 'default', "
                         f"got {target!r}")
    if target == "default":
        return target
    from .registry import get_target
    return get_target(target).emitter.target_name


def lookup(name, target):
    hit = RULES.get((name, target)) or RULES.get((name, "default"))
    return hit[1] if hit is not None else None
