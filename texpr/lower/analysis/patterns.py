"""Recognisers of the arithmetic patterns instruction selection turns into single instructions
(fused multiply-add, widening multiply, saturating narrowing), written once for every pass and
target that asks (lower/cpu/isel.py, the vectorizer's lane count)."""
from ...lang import dtypes
from ...lang.expr import BinOp, Cast, Cmp, Const, Select
from ...lang.ir import Broadcast, LaneReduce, Ramp


def is_mul(e):
    return isinstance(e, BinOp) and e.op == "*"


def fma_form(e, forms):
    """The fused multiply-add form of BinOp e among `forms` ("ab+c", "c+ab", "ab-c", "c-ab"),
    as (a, b, c, form), else None. a*b + c is preferred to c + a*b when both hold."""
    if e.op == "+":
        if "ab+c" in forms and is_mul(e.a) and e.a.dtype == e.dtype:
            return e.a.a, e.a.b, e.b, "ab+c"
        if "c+ab" in forms and is_mul(e.b) and e.b.dtype == e.dtype:
            return e.b.a, e.b.b, e.a, "c+ab"
    if e.op == "-":
        if "ab-c" in forms and is_mul(e.a) and e.a.dtype == e.dtype:
            return e.a.a, e.a.b, e.b, "ab-c"
        if "c-ab" in forms and is_mul(e.b) and e.b.dtype == e.dtype:
            return e.b.a, e.b.b, e.a, "c-ab"
    return None


def widened_factors(prod):
    """prod = wide(a) * wide(b), an integer vector whose factors are widened from half-width
    integer vectors (or are widened scalars, broadcast): the narrow (a, b), a widened scalar
    given as a Broadcast of the narrow scalar; else None."""
    wide, n = dtypes.split_lanes(prod.dtype)
    if n == 1 or not dtypes.is_int(wide) or dtypes.bits(wide) not in (16, 32, 64):
        return None
    out = []
    for x in (prod.a, prod.b):
        if isinstance(x, Cast) and dtypes.lanes(x.value.dtype) == n:
            src = x.value
        elif (isinstance(x, Broadcast) and isinstance(x.value, Cast)
              and dtypes.lanes(x.value.value.dtype) == 1):
            v = x.value.value
            src = Broadcast(v, n, dtypes.with_lanes(v.dtype, n))
        else:
            return None
        sb = dtypes.element(src.dtype)
        if not dtypes.is_int(sb) or dtypes.bits(sb) * 2 != dtypes.bits(wide):
            return None
        out.append(src)
    return tuple(out)


def bound_value(e):
    """The value of a constant bound: a Const, or (vectors) a Broadcast of one; else None."""
    if isinstance(e, Const):
        return e.value
    if isinstance(e, Broadcast) and isinstance(e.value, Const):
        return e.value.value
    return None


def clamp(e):
    """min(max(x, lo), hi) or max(min(x, hi), lo), bounds constant, in either operand order:
    (x, lo, hi), else None."""
    if not isinstance(e, BinOp) or e.op not in ("min", "max"):
        return None
    inner_op = "max" if e.op == "min" else "min"
    outer, inner = bound_value(e.b), e.a
    if outer is None:
        outer, inner = bound_value(e.a), e.b
    if outer is None or not (isinstance(inner, BinOp) and inner.op == inner_op):
        return None
    bound, x = bound_value(inner.b), inner.a
    if bound is None:
        bound, x = bound_value(inner.a), inner.b
    if bound is None:
        return None
    lo, hi = (bound, outer) if e.op == "min" else (outer, bound)
    return x, lo, hi


def int_range(dtype):
    """(min, max) of an integer dtype (its element type)."""
    base = dtypes.element(dtype)
    b = dtypes.bits(base)
    if dtypes.is_unsigned(base):
        return 0, (1 << b) - 1
    return -(1 << (b - 1)), (1 << (b - 1)) - 1


def saturating_narrow(e):
    """e = narrow(clamp(x, narrow min, narrow max)), a cast to a narrower integer type of a
    value clamped to its range: x, else None."""
    if not (isinstance(e, Cast) and dtypes.is_int(e.dtype) and dtypes.is_int(e.value.dtype)
            and dtypes.bits(e.value.dtype) > dtypes.bits(e.dtype)):
        return None
    found = clamp(e.value)
    if found is None or found[1:] != int_range(e.dtype):
        return None
    return found[0]


def _splat(e, value):
    return isinstance(e, Broadcast) and isinstance(e.value, Const) and e.value.value == value


def lane_bits(e):
    """(compare, base, lanes, negated) of `lanes_or(select(a cmp b, 1 << ramp(base, 1, n),
    0))` (negated: the branches the other way round): a bit per lane whose comparison holds
    (fails), from bit `base`; the form of a movemask (x86). None for any other expression, or
    where a lane's bit would not fit the int32 result."""
    if not (isinstance(e, LaneReduce) and e.op == "|" and e.dtype == "int32"):
        return None
    v = e.value
    if not (isinstance(v, Select) and isinstance(v.cond, Cmp) and
            dtypes.bits(v.cond.a.dtype) == 32):
        return None
    for bits, zero, negated in ((v.t, v.f, False), (v.f, v.t, True)):
        if not _splat(zero, 0) or not (isinstance(bits, BinOp) and bits.op == "<<"):
            continue
        ramp = bits.b
        if _splat(bits.a, 1) and isinstance(ramp, Ramp) and ramp.stride == 1 and \
                isinstance(ramp.base, Const) and 0 <= ramp.base.value and \
                ramp.base.value + ramp.lanes <= 31:
            return v.cond, ramp.base.value, ramp.lanes, negated
    return None
