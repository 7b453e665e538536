"""16-bit floats (float16, bfloat16) computed in float32, as NumPy and ml_dtypes compute them.

After this pass no arithmetic, comparison or call has a 16-bit float operand: each operand is
widened to float32 (exact) and each 16-bit result is the float32 result rounded to nearest
even. For + - * / that is the correctly rounded 16-bit result (float32 has more than twice the
bits of either format, so the double rounding is harmless): bit-exact with NumPy. Emitters then
need only loads, stores, selects and conversions of the 16-bit types (F16C on x86, bit
manipulation for bfloat16: targets/c/half.py).

A target with half-precision arithmetic (feature ``fp16_arithmetic``: NEON with
armv8.2-a+fp16) computes float16 + - * /, min, max and comparisons in float16 itself: each of
them is correctly rounded there too (the same bits as NumPy), a multiply-add may fuse (one
rounding, as fp_contract allows), and a float16 sum accumulates in float16 (the declared
choice of out_dtype="float16"; out_dtype="float32" widens). Calls (exp, ...) and bfloat16
stay in float32.

Conversions from other types go through a type that converts exactly or rounds once: integers
through float64 (exact below 2^53), float64 directly; to other types through float32 (exact).
"""
import numpy as np

from ..lang import dtypes
from ..lang.expr import BinOp, Call, Cast, Cmp, Const
from ..lang.visitor import transform

_WIDE = "float32"


def _wide(dt):
    return dtypes.with_lanes(_WIDE, dtypes.lanes(dt))


def widen(e):
    """e (a 16-bit float) as float32: a constant folded (rounded to its 16-bit type first, as
    NumPy does with a Python scalar; then exact in float32)."""
    if not dtypes.is_half(e.dtype):
        return e
    if isinstance(e, Const) and dtypes.lanes(e.dtype) == 1:
        return Const(float(np.array(e.value).astype(e.dtype)), _WIDE)
    return Cast(e, _wide(e.dtype))


def _narrow(e, dt):
    return Cast(e, dt)


def _cast(e):
    src, dst = dtypes.element(e.value.dtype), dtypes.element(e.dtype)
    lanes = dtypes.lanes(e.dtype)
    if src == dst:
        return e.value
    if dst in dtypes.HALF_FLOATS:
        if src in ("float32", "float64"):
            return None
        via = "float32" if src in dtypes.HALF_FLOATS or src == "bool" else "float64"
        return Cast(Cast(e.value, dtypes.with_lanes(via, lanes)), e.dtype)
    if src in dtypes.HALF_FLOATS and dst != "float32":
        return Cast(widen(e.value), e.dtype)
    return None


#: the operations a target with fp16_arithmetic computes in float16
NATIVE_OPS = ("+", "-", "*", "/", "min", "max")


def half_arithmetic(body, native=()):
    """The IR with every 16-bit float computation done in float32 (see the module doc), except
    + - * / min max and comparisons of the dtypes in `native` (the target computes them)."""
    def fn(n):
        t = type(n)
        if t is Cast:
            return _cast(n)
        if t is BinOp and dtypes.element(n.dtype) in native and n.op in NATIVE_OPS:
            return None
        if t is Cmp and dtypes.element(n.a.dtype) in native and n.a.dtype == n.b.dtype:
            return None
        if t is BinOp and dtypes.is_half(n.dtype):
            return _narrow(BinOp(n.op, widen(n.a), widen(n.b), _wide(n.dtype)), n.dtype)
        if t is Cmp and (dtypes.is_half(n.a.dtype) or dtypes.is_half(n.b.dtype)):
            return Cmp(n.op, widen(n.a), widen(n.b), n.dtype)
        if t is Call and (dtypes.is_half(n.dtype) or any(dtypes.is_half(a.dtype) for a in n.args)):
            args = tuple(widen(a) for a in n.args)
            if dtypes.is_half(n.dtype):
                return _narrow(Call(n.name, args, _wide(n.dtype)), n.dtype)
            return Call(n.name, args, n.dtype)
        return None
    return transform(body, fn)
