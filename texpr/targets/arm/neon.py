"""NEON emitter (AArch64 Advanced SIMD, 128-bit): the vector operations of the C emitter as
`arm_neon.h` intrinsics.

texpr's vector dtypes whose size is a NEON register (q: 128 bits, d: 64 bits) are typedef'd to
the NEON types (`typedef float32x4_t texpr_float32x4;`). GCC and Clang define the NEON types as
vector types, so every operation this emitter does not override (lane access `v[k]`, compound
literals, `__builtin_convertvector`, the C emitter's helpers) still works on them; other lane
counts (int8x4, float32x8, ...) stay plain GCC vector-extension types.

Overridden: loads/stores (`vld1q_f32`/`vst1q_f32`, ...), broadcasts (`vdupq_n_*`), add, sub,
mul, div (floats), min/max, fused multiply-add (`vfmaq_f32(c, a, b)` = a*b + c, and `vfmsq`),
widening multiplies (`vmull_s8`, `vmull_s16`, ... and `vmlal_*` when accumulated), integer
widening/narrowing and int<->float conversions (`vmovl`, `vmovn`, `vcvtq_f32_s32`, ...),
and vector compares feeding a select (`vcltq_f32` + `vbslq_f32`).
"""
import math

from ...lang import dtypes
from ...lang.expr import Cmp, Const
from ...lang.ir import Broadcast, WideningMul
from ..c.emitter import CEmitter, unparen, vtype

#: pointer casts of loads (stores drop the const) by intrinsic suffix
_PTR = {"f16": "(const float16_t*)"}

# texpr vector dtype -> (intrinsic suffix, "q" for 128-bit registers or "" for 64-bit)
NEON_TYPES = {}
for _base, _sfx in (("float32", "f32"), ("float64", "f64"), ("int8", "s8"), ("uint8", "u8"),
                    ("int16", "s16"), ("uint16", "u16"), ("int32", "s32"), ("uint32", "u32"),
                    ("int64", "s64"), ("uint64", "u64")):
    _bits = dtypes.bits(_base)
    NEON_TYPES[f"{_base}x{128 // _bits}"] = (_sfx, "q")
    if _bits < 64:
        NEON_TYPES[f"{_base}x{64 // _bits}"] = (_sfx, "")
del _base, _sfx, _bits
# float16 (fp16_arithmetic: -march=...+fp16): 8 lanes in a q register
NEON_TYPES["float16x8"] = ("f16", "q")
NEON_TYPES["float16x4"] = ("f16", "")


def neon_type(dt):
    """'float32x4' -> 'float32x4_t' (the arm_neon.h type of a texpr vector dtype)."""
    return dt + "_t"


def _is_64bit_int(sfx):
    return sfx in ("s64", "u64")


def _binops(sfx):
    """op -> intrinsic name part of the NEON vector type with suffix sfx. Signed + - * are not
    here: arm_neon.h writes vaddq_s32 & co. as a + b on signed lanes, whose overflow is
    undefined and which GCC folds on (a + 1 > a to true); the C emitter's unsigned lanes
    wrap, and compile to the same instructions."""
    names = {"+": "add", "-": "sub", "*": "mul", "min": "min", "max": "max"}
    if sfx in ("f16", "f32", "f64"):
        names["/"] = "div"
    if _is_64bit_int(sfx):        # NEON has no 64-bit integer mul/min/max
        names = {"+": "add", "-": "sub"}
    if sfx[0] == "s":
        names = {op: n for op, n in names.items() if op not in ("+", "-", "*")}
    return names


class NEONEmitter(CEmitter):
    target_name = "neon"
    includes = CEmitter.includes + ["<arm_neon.h>"]

    # ------------------------------------------------------------------ types
    def vector_typedef(self, dt):
        if dt in NEON_TYPES:
            return f"typedef {neon_type(dt)} {vtype(dt)};"
        return super().vector_typedef(dt)

    # ------------------------------------------------------------------ instruction tables
    # float16: C's _Float16 buffers, arm_neon.h's float16_t (__fp16) pointers
    LOAD = {dt: f"vld1{q}_{sfx}({_PTR.get(sfx, '')}&{{buf}}[{{base}}])"
            for dt, (sfx, q) in NEON_TYPES.items()}
    STORE = {dt: f"vst1{q}_{sfx}({_PTR.get(sfx, '').replace('const ', '')}&{{buf}}[{{base}}], "
                 "{value});" for dt, (sfx, q) in NEON_TYPES.items()}
    BROADCAST = {dt: f"vdup{q}_n_{sfx}({{s}})" for dt, (sfx, q) in NEON_TYPES.items()}
    BINOP = {(op, dt): f"v{name}{q}_{sfx}({{a}}, {{b}})"
             for dt, (sfx, q) in NEON_TYPES.items() for op, name in _binops(sfx).items()}

    VECTOR_MATH_ISA = {"float32x4": {"fma": "return vfmaq_f32(c, a, b);",
                                     "sqrt": "return vsqrtq_f32(x);"}}

    # ------------------------------------------------------------------ arithmetic
    def vector_binop(self, e):
        dt = e.dtype
        if dt not in NEON_TYPES:
            return super().vector_binop(e)
        sfx, q = NEON_TYPES[dt]
        self.ty(dt)
        if e.op in ("min", "max") and sfx[0] == "f" and not _fminmax_is_numpys(e):
            # FMIN/FMAX order -0.0 below 0.0; np.minimum(a, b) of equal operands is b
            a, b = unparen(self.expr(e.a)), unparen(self.expr(e.b))
            return (f"vbsl{q}_{sfx}(vceq{q}_{sfx}({a}, {b}), {b}, "
                    f"v{e.op}{q}_{sfx}({a}, {b}))")
        if e.op == "+" and sfx[0] in "su" and sfx not in ("s8", "u8"):
            for acc, prod in ((e.a, e.b), (e.b, e.a)):      # acc + widening product: vmlal
                ops = self._narrow_operands(prod) if prod.dtype == dt else None
                if ops is not None:
                    (a, b), nsfx = ops
                    return f"vmlal_{nsfx}({unparen(self.expr(acc))}, {a}, {b})"
        return super().vector_binop(e)

    def expr_FusedMulAdd(self, e):
        """vfmaq(c, a, b) = a*b + c, vfmsq(c, a, b) = c - a*b."""
        if e.dtype in NEON_TYPES and e.form in _FMA_NAMES:
            sfx, q = NEON_TYPES[e.dtype]
            self.ty(e.dtype)
            return (f"v{_FMA_NAMES[e.form]}{q}_{sfx}({unparen(self.expr(e.c))}, "
                    f"{unparen(self.expr(e.a))}, {unparen(self.expr(e.b))})")
        return super().expr_FusedMulAdd(e)

    def expr_WideningMul(self, e):
        """int16x8 = int16(int8x8) * int16(int8x8) -> vmull_s8 (16->32 and 32->64 bits too,
        signed or unsigned: exact, like the C it replaces)."""
        dt = e.dtype
        if dt in NEON_TYPES:
            sfx = NEON_TYPES[dt][0]
            self.ty(dt)
            ops = self._narrow_operands(e) if sfx[0] in "su" and sfx not in ("s8", "u8") else None
            if ops is not None:
                (a, b), nsfx = ops
                return f"vmull_{nsfx}({a}, {b})"
        return super().expr_WideningMul(e)

    def _narrow_operands(self, prod):
        """prod is a widening product (instruction selection found it) of two half-width
        vectors of the product's signedness, 128 bits in all: (emitted narrow operands, NEON
        suffix of the narrow type), else None."""
        if not isinstance(prod, WideningMul):
            return None
        wide_base, lanes = dtypes.split_lanes(prod.dtype)
        if lanes * dtypes.bits(wide_base) != 128:
            return None
        narrow_base = ("u" if dtypes.is_unsigned(wide_base) else "") + \
            f"int{dtypes.bits(wide_base) // 2}"
        narrow = f"{narrow_base}x{lanes}"
        if narrow not in NEON_TYPES:
            return None
        if prod.a.dtype != narrow or prod.b.dtype != narrow:
            return None
        out = [unparen(self.expr(x)) for x in (prod.a, prod.b)]
        self.ty(narrow)
        return out, NEON_TYPES[narrow][0]

    # ------------------------------------------------------------------ conversions
    def expr_Cast(self, e):
        src, dst = e.value.dtype, e.dtype
        if dtypes.lanes(dst) > 1 and src in NEON_TYPES and dst in NEON_TYPES:
            conv = _conversion(src, dst)
            if conv is not None:
                self.ty(src)
                self.ty(dst)
                return f"{conv}({unparen(self.expr(e.value))})"
        return super().expr_Cast(e)

    # ------------------------------------------------------------------ compare + select
    def expr_Select(self, e):
        """A vector select of a vector compare: vbslq(vcltq(a, b), t, f). Both t and f are
        evaluated (a vector select has no lazy branches), so the IR must only ask for one when
        both sides are safe to compute for every lane."""
        dt = e.dtype
        c = e.cond
        if (dtypes.lanes(dt) > 1 and dt in NEON_TYPES and isinstance(c, Cmp)
                and c.a.dtype in NEON_TYPES and c.b.dtype == c.a.dtype
                and dtypes.lanes(c.a.dtype) == dtypes.lanes(dt)
                and dtypes.bits(c.a.dtype) == dtypes.bits(dt) and c.op in _CMP):
            sfx, q = NEON_TYPES[dt]
            csfx, cq = NEON_TYPES[c.a.dtype]
            a, b = unparen(self.expr(c.a)), unparen(self.expr(c.b))
            self.ty(c.a.dtype)
            if c.op == "!=":            # not equal: invert the equality mask
                eq = f"vceq{cq}_{csfx}({a}, {b})"
                w = csfx[1:]
                if w == "64":           # no vmvnq_u64: invert through u32 lanes
                    mask = f"vreinterpret{cq}_u64_u32(vmvn{cq}_u32(vreinterpret{cq}_u32_u64({eq})))"
                else:
                    mask = f"vmvn{cq}_u{w}({eq})"
            else:
                mask = f"v{_CMP[c.op]}{cq}_{csfx}({a}, {b})"
            return (f"vbsl{q}_{sfx}({mask}, {unparen(self.expr(e.t))}, "
                    f"{unparen(self.expr(e.f))})")
        return super().expr_Select(e)


_CMP = {"<": "clt", "<=": "cle", ">": "cgt", ">=": "cge", "==": "ceq", "!=": None}


def _conversion(src, dst):
    """The NEON intrinsic converting vector dtype src to dst with C cast semantics, or None."""
    s_sfx, s_q = NEON_TYPES[src]
    d_sfx, d_q = NEON_TYPES[dst]
    s_bits, d_bits = int(s_sfx[1:]), int(d_sfx[1:])
    if s_sfx == d_sfx:
        return ""
    if s_bits == d_bits and s_q == d_q:
        if "f" in (s_sfx[0], d_sfx[0]):
            return f"vcvt{d_q}_{d_sfx}_{s_sfx}"          # int <-> float, toward zero
        return f"vreinterpret{d_q}_{d_sfx}_{s_sfx}"      # signed <-> unsigned: same bits
    if s_sfx[0] == "f" or d_sfx[0] == "f":
        widen = {("f32", "", "f64", "q"): "vcvt_f64_f32", ("f16", "", "f32", "q"): "vcvt_f32_f16"}
        narrow = {("f64", "q", "f32", ""): "vcvt_f32_f64", ("f32", "q", "f16", ""): "vcvt_f16_f32"}
        return widen.get((s_sfx, s_q, d_sfx, d_q)) or narrow.get((s_sfx, s_q, d_sfx, d_q))
    if d_bits == 2 * s_bits and s_q == "" and d_q == "q" and s_sfx[0] == d_sfx[0]:
        return f"vmovl_{s_sfx}"                          # sign/zero extend
    if s_bits == 2 * d_bits and s_q == "q" and d_q == "" and s_sfx[0] == d_sfx[0]:
        return f"vmovn_{s_sfx}"                          # truncate, like a C cast
    return None


#: fused multiply-add forms (lower/cpu/isel.py) -> NEON intrinsic name part
_FMA_NAMES = {"ab+c": "fma", "c+ab": "fma", "c-ab": "fms"}


def _fminmax_is_numpys(e):
    """Is vminq/vmaxq (NaN-propagating, -0.0 < 0.0) already np.minimum/np.maximum(a, b)? It
    differs only for zeros of opposite signs, where NumPy gives b: so when either operand is
    a non-zero constant, or b is 0.0 in a max or -0.0 in a min (the one NEON picks)."""
    def const(x):
        x = x.value if isinstance(x, Broadcast) else x
        return x.value if isinstance(x, Const) and x.value == x.value else None
    ca, cb = const(e.a), const(e.b)
    if (ca is not None and ca != 0) or (cb is not None and cb != 0):
        return True
    if cb is not None:
        return (math.copysign(1.0, cb) > 0) == (e.op == "max")
    return False
