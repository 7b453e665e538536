"""HVX emitter (Hexagon Vector eXtensions, 128-byte vectors): integer vector code as `Q6_*`
intrinsics from <hexagon_protos.h>.

texpr's integer vector dtypes keep their element-typed GCC/Clang vector types
(`texpr_int8x128`, `texpr_int16x32`, ...), so lane access and every operation this emitter
does not override still work. An operation it does override converts its operands to
`HVX_Vector` (`texpr_hv_<dtype>`: a bit cast for a full 128-byte vector; for a shorter one
the lanes go to the low bytes and the rest are undefined, which lane-wise operations never
look at) and the result back (`texpr_vh_<dtype>`: the low lanes). Clang removes the
conversions between consecutive intrinsics.

Mapped: aligned / unaligned loads and stores (`vmem` / `vmemu`), predicated tails (a masked
`vmem` store of the rotated vector into the one or two aligned blocks the lanes touch; the
load reads the padded block and zeroes inactive lanes with `vmux`), splats, add / sub /
min / max / and / or / xor, shifts by a scalar or per lane, multiplies (16-bit `vmpyi`,
32-bit `vmpyieo + vmpyieacc`, 8-bit through the widening `vmpy` + `vshuffe`), widening
multiplies (`vmpy` 8->16 and 16->32 re-interleaved with `vshuff`), multiply-accumulate
(`vmpyiacc`), saturating add / sub (`min(max(wide(a) + wide(b), lo), hi)` narrowed to a's
dtype -> `vadd_sat`), saturating narrowing (`vpack_sat`), truncating narrowing (`vpacke`),
widening (`vunpack`), compares feeding a select (`vcmp.gt` / `vcmp.eq` + `vmux`).

Float code stays on the scalar core (HVX v67 has no IEEE float vectors); float division and
libm functions are refused, because the freestanding harness has no library providing them.
"""
from ...lang import dtypes
from ...lang.dtypes import C_TYPES
from ...errors import TexprError
from ...lang.expr import BinOp, Cast, Cmp, Const
from ...lower.analysis.arith import simplify
from ...lang.ir import Broadcast, Ramp
from ..c.emitter import LIBM_NAMES, STACK_LIMIT, CEmitter, unparen
from .harness import SYSCALL_C
from ..intrin_rules import RULES as INTRIN_RULES

VBYTES = 128
SFX = {"int8": "b", "uint8": "ub", "int16": "h", "uint16": "uh", "int32": "w", "uint32": "uw"}
WRAP = {8: "b", 16: "h", 32: "w"}         # wrapping ops do not care about the sign

PRELUDE = r"""/* freestanding Hexagon: no libc, the compiler's builtins instead */
#define memcpy __builtin_memcpy
#define memset __builtin_memset
#ifndef INFINITY
#define INFINITY __builtin_inff()
#define NAN __builtin_nanf("")
#endif
/* an HVX vector at any byte address (vmemu) */
typedef long texpr_hvx_uvec __attribute__((__vector_size__(128), __aligned__(1)));
""" + SYSCALL_C


def hvx_dtype(dt):
    """A vector dtype whose lanes fit one HVX register and that the intrinsics know."""
    base, n = dtypes.split_lanes(dt)
    return n > 1 and base in SFX and n * dtypes.bits(base) <= VBYTES * 8


def full_vector(dt):
    base, n = dtypes.split_lanes(dt)
    return hvx_dtype(dt) and n * dtypes.bits(base) == VBYTES * 8


class HVXEmitter(CEmitter):
    target_name = "hvx"
    includes = ["<stdint.h>", "<stdbool.h>", "<hexagon_types.h>", "<hexagon_protos.h>"]

    def prelude(self):
        return [PRELUDE.rstrip("\n")]

    # ------------------------------------------------------------------ HVX_Vector <-> lanes
    def hv(self, code, dt):
        """C expression: the vector `code` of dtype dt as an HVX_Vector."""
        self._conv(dt)
        code = unparen(code)
        inner = _unwrap(code, f"texpr_vh_{dt}(")
        return inner if inner is not None else f"texpr_hv_{dt}({code})"

    def vh(self, code, dt):
        """C expression: the low lanes of HVX_Vector `code` as dtype dt."""
        self._conv(dt)
        return f"texpr_vh_{dt}({unparen(code)})"

    def _conv(self, dt):
        if f"hv_{dt}" in self.helpers:
            return
        base, n = dtypes.split_lanes(dt)
        t = self.ty(dt)
        full_n = VBYTES * 8 // dtypes.bits(base)
        if n == full_n:
            to = "(HVX_Vector)x"
            back = f"({t})v"
        else:
            full = self.ty(f"{base}x{full_n}")
            idx = ", ".join([str(k) for k in range(n)] + ["-1"] * (full_n - n))
            to = f"(HVX_Vector)__builtin_shufflevector(x, x, {idx})"
            back = (f"({t})__builtin_shufflevector(({full})v, ({full})v, "
                    f"{', '.join(str(k) for k in range(n))})")
        self.helper(f"hv_{dt}", f"static inline HVX_Vector texpr_hv_{dt}({t} x) {{ return {to}; }}")
        self.helper(f"vh_{dt}", f"static inline {t} texpr_vh_{dt}(HVX_Vector v) {{ return {back}; }}")

    def vx(self, e):
        """Operand e (a vector expression of an HVX dtype) as an HVX_Vector expression."""
        if isinstance(e, Broadcast) and hvx_dtype(e.dtype):
            return self.splat(self.expr(e.value), e.dtype)
        return self.hv(self.expr(e), e.dtype)

    def splat(self, s, dt):
        bits = dtypes.bits(dtypes.element(dt))
        name = {8: "Q6_Vb_vsplat_R", 16: "Q6_Vh_vsplat_R", 32: "Q6_V_vsplat_R"}[bits]
        return f"{name}({unparen(s)})"

    # ------------------------------------------------------------------ scalar-core limits
    def expr_BinOp(self, e):
        if dtypes.is_float(e.dtype) and e.op in ("/", "//", "%"):
            raise TexprError(f"float division ({e.op}) is not available on target 'hvx': the "
                             "freestanding Hexagon harness has no runtime library for it; "
                             "multiply by a reciprocal instead")
        return super().expr_BinOp(e)

    def expr_Call(self, e):
        if INTRIN_RULES:                    # the user's lowering of this call, if any
            out = self.lowered_call(e)
            if out is not None:
                return out
        if e.name == "abs" and dtypes.is_float(e.dtype):
            fn = "__builtin_fabsf" if dtypes.element(e.dtype) == "float32" else "__builtin_fabs"
            return f"{fn}({unparen(self.expr(e.args[0]))})"
        if e.name in ("exp", "log", "sqrt", "tanh", "erf", "floor", "ceil", "pow", "sigmoid",
                      "rsqrt") + tuple(LIBM_NAMES):
            raise TexprError(f"math function {e.name!r} is not available on target 'hvx': no "
                             "Hexagon libm on this machine (HVX kernels are integer/fixed-point)")
        return super().expr_Call(e)

    def stmt_Allocate(self, s):
        """128-byte aligned, padded by a vector (a full-vector load starting inside stays in
        the block); large buffers come from mmap (there is no malloc)."""
        b = s.buffer
        name = self.buf(b)
        ct = C_TYPES[b.dtype]
        esize = max(1, dtypes.bits(b.dtype) // 8)
        pad = VBYTES // esize
        size = b.size
        nbytes = size.value * esize if isinstance(size, Const) else None
        self.declare(name, ct + "*")
        self.line("{")
        self.indent += 1
        if nbytes is not None and nbytes <= STACK_LIMIT:
            self.line(f"{ct} {name}[{max(size.value, 1) + pad}] __attribute__((aligned(128)));")
            self.stmt(s.body)
        else:
            n = f"(long)({unparen(self.expr(size))}) * {esize}"
            self.line(f"{ct}* {name} = ({ct}*)texpr_hvx_alloc({n});")
            self.line(f"if (!{name}) __builtin_trap();")
            self.stmt(s.body)
            self.line(f"texpr_hvx_free({name}, {n});")
        self.indent -= 1
        self.line("}")

    # ------------------------------------------------------------------ memory
    def _aligned(self, base, dt):
        """True when element index `base` is provably a multiple of the vector's lanes (every
        buffer starts 128-byte aligned: harness blocks are pages, Allocate says aligned(128))."""
        n = dtypes.lanes(dt)
        try:
            r = simplify(BinOp("%", base, Const(n, base.dtype), base.dtype))
        except (TexprError, ArithmeticError, TypeError, ValueError, RecursionError):
            # a proof that fails means "unaligned": the simplifier (and the sympy sign analysis
            # under it) can reject an expression, fold into an arithmetic error, hit sympy's
            # type/value errors or recurse too deep on a huge index; anything else (an
            # InternalError, an AttributeError) is a texpr bug and must not pass as "unaligned"
            return False
        return isinstance(r, Const) and r.value == 0

    def expr_BufferLoad(self, e):
        idx = e.indices[0]
        if (full_vector(e.dtype) and e.predicate is None and isinstance(idx, Ramp)
                and idx.stride == 1):
            buf = self.buf(e.buffer)
            ptr = f"&{buf}[{unparen(self.expr(idx.base))}]"
            if self._aligned(idx.base, e.dtype):
                return self.vh(f"*(const HVX_Vector*)({ptr})", e.dtype)
            return self.vh(f"*(const texpr_hvx_uvec*)({ptr})", e.dtype)
        return super().expr_BufferLoad(e)

    def stmt_BufferStore(self, s):
        idx = s.indices[0]
        dt = s.value.dtype
        if (full_vector(dt) and s.predicate is None and isinstance(idx, Ramp)
                and idx.stride == 1):
            buf = self.buf(s.buffer)
            ptr = f"&{buf}[{unparen(self.expr(idx.base))}]"
            kind = "HVX_Vector" if self._aligned(idx.base, dt) else "texpr_hvx_uvec"
            self.line(f"*({kind}*)({ptr}) = {self.vx(s.value)};")
            return
        super().stmt_BufferStore(s)

    def masked_vector_load(self, e, buf, base, count):
        dt = e.dtype
        if not full_vector(dt):
            return super().masked_vector_load(e, buf, base, count)
        self.helper("hvx_mload", _MLOAD)
        esize = dtypes.bits(dtypes.element(dt)) // 8
        return self.vh(f"texpr_hvx_mload(&{buf}[{unparen(base)}], (int32_t)({unparen(count)}) * "
                       f"{esize})", dt)

    def masked_vector_store(self, b, buf, base, value, count):
        dt = value.dtype
        if not full_vector(dt):
            return super().masked_vector_store(b, buf, base, value, count)
        self.helper("hvx_mstore", _MSTORE)
        esize = dtypes.bits(dtypes.element(dt)) // 8
        return (f"texpr_hvx_mstore(&{buf}[{unparen(base)}], {self.vx(value)}, "
                f"(int32_t)({unparen(count)}) * {esize});")

    def broadcast(self, s, dt):
        if hvx_dtype(dt):
            return self.vh(self.splat(s, dt), dt)
        return super().broadcast(s, dt)

    # ------------------------------------------------------------------ arithmetic
    def vector_binop(self, e):
        dt = e.dtype
        if not hvx_dtype(dt):
            return self.generic_binop(e)
        base = dtypes.element(dt)
        bits = dtypes.bits(base)
        w, s = WRAP[bits], SFX[base]
        op = e.op
        if op == "*":
            a, b = self.vx(e.a), self.vx(e.b)
            if bits == 16:
                return self.vh(f"Q6_Vh_vmpyi_VhVh({a}, {b})", dt)
            if bits == 32:
                self.helper("hvx_mul32", _MUL32)
                return self.vh(f"texpr_hvx_mul32({a}, {b})", dt)
            self.helper("hvx_mul8", _MUL8)
            return self.vh(f"texpr_hvx_mul8({a}, {b})", dt)
        if op == "+":
            for acc, prod in ((e.a, e.b), (e.b, e.a)):
                if (bits == 16 and isinstance(prod, BinOp) and prod.op == "*"
                        and prod.dtype == dt):
                    return self.vh(f"Q6_Vh_vmpyiacc_VhVhVh({self.vx(acc)}, {self.vx(prod.a)}, "
                                   f"{self.vx(prod.b)})", dt)
            return self.vh(f"Q6_V{w}_vadd_V{w}V{w}({self.vx(e.a)}, {self.vx(e.b)})", dt)
        if op == "-":
            return self.vh(f"Q6_V{w}_vsub_V{w}V{w}({self.vx(e.a)}, {self.vx(e.b)})", dt)
        if op in ("min", "max") and s != "uw":
            return self.vh(f"Q6_V{s}_v{op}_V{s}V{s}({self.vx(e.a)}, {self.vx(e.b)})", dt)
        if op in ("&", "|", "^"):
            name = {"&": "vand", "|": "vor", "^": "vxor"}[op]
            return self.vh(f"Q6_V_{name}_VV({self.vx(e.a)}, {self.vx(e.b)})", dt)
        if op in ("<<", ">>") and bits >= 16:
            return self.shift(e, dt, bits, s)
        if op in ("<<", ">>"):
            return self.byte_shift(e, dt, s)
        return self.generic_binop(e)

    def byte_shift(self, e, dt, s):
        """8-bit shifts (HVX shifts halfwords and words; LLVM 14 cannot select a byte vector
        shift): by a scalar through the halfword shift and a byte mask, per lane on the even
        and odd bytes of each halfword separately; signed >> as ((x ^ 0x80) >>u s) - (0x80 >>u s)."""
        signed = s == "b"
        if isinstance(e.b, Broadcast):
            self.helper("hvx_shift8_r", _SHIFT8_R)
            fn = "shl" if e.op == "<<" else ("asr" if signed else "lsr")
            return self.vh(f"texpr_hvx_{fn}8_r({self.vx(e.a)}, {unparen(self.expr(e.b.value))})",
                           dt)
        self.helper("hvx_shift8_v", _SHIFT8_V)
        fn = "shl" if e.op == "<<" else ("asr" if signed else "lsr")
        return self.vh(f"texpr_hvx_{fn}8_v({self.vx(e.a)}, {self.vx(e.b)})", dt)

    def generic_binop(self, e):
        """Shifts and bitwise operators on vectors HVX has no instruction for (8-bit shifts,
        64-bit lanes): the vector extension's own operators."""
        if e.op in ("<<", ">>", "&", "|", "^"):
            return f"({self.expr(e.a)} {e.op} {self.expr(e.b)})"
        return super().vector_binop(e)

    def shift(self, e, dt, bits, s):
        """<< by a scalar (vasl ...R) or per lane (vasl ...V); >> arithmetic for signed
        (vasr), logical for unsigned (vlsr)."""
        h = WRAP[bits]
        a = self.vx(e.a)
        if isinstance(e.b, Broadcast):
            amt = unparen(self.expr(e.b.value))
            if e.op == "<<":
                return self.vh(f"Q6_V{h}_vasl_V{h}R({a}, {amt})", dt)
            if s.startswith("u"):
                return self.vh(f"Q6_V{s}_vlsr_V{s}R({a}, {amt})", dt)
            return self.vh(f"Q6_V{h}_vasr_V{h}R({a}, {amt})", dt)
        b = self.vx(e.b)
        kind = "vasl" if e.op == "<<" else ("vlsr" if s.startswith("u") else "vasr")
        return self.vh(f"Q6_V{h}_{kind}_V{h}V{h}({a}, {b})", dt)

    def expr_WideningMul(self, e):
        """int16 = int16(int8) * int16(int8): `vmpy` gives even products in the low vector
        and odd ones in the high one; `vshuff` puts them back in lane order. Same 16 -> 32."""
        dt = e.dtype
        if not hvx_dtype(dt) or dtypes.bits(dtypes.element(dt)) not in (16, 32):
            return super().expr_WideningMul(e)
        (a, sa), (b, sb) = ((x, dtypes.element(x.dtype)) for x in (e.a, e.b))
        if dtypes.is_unsigned(sa) and not dtypes.is_unsigned(sb):
            (a, sa), (b, sb) = (b, sb), (a, sa)     # signed x unsigned: the signed one first
        h = "b" if dtypes.bits(sa) == 8 else "h"
        sa_s, sb_s = SFX[sa], SFX[sb]
        if sa_s.startswith("u"):                     # both unsigned
            name = f"Q6_Wu{'h' if h == 'b' else 'w'}_vmpy_V{sa_s}V{sb_s}"
        elif sb_s.startswith("u"):                   # signed x unsigned
            if h == "b":                             # only u8 x s8 exists: operands swap
                name, (a, b) = "Q6_Wh_vmpy_VubVb", (b, a)
            else:
                name = "Q6_Ww_vmpy_VhVuh"
        else:
            name = f"Q6_W{'h' if h == 'b' else 'w'}_vmpy_V{sa_s}V{sb_s}"
        rt = -2 if h == "b" else -4
        self.helper(f"hvx_wmul_{name}", f"static inline HVX_Vector texpr_hvx_{name[3:]}"
                    f"(HVX_Vector a, HVX_Vector b) {{ HVX_VectorPair p = {name}(a, b); return "
                    f"Q6_V_lo_W(Q6_W_vshuff_VVR(Q6_V_hi_W(p), Q6_V_lo_W(p), {rt})); }}")
        return self.vh(f"texpr_hvx_{name[3:]}({self.vx(a)}, {self.vx(b)})", e.dtype)

    # ------------------------------------------------------------------ conversions
    def expr_Cast(self, e):
        src, dst = e.value.dtype, e.dtype
        if dtypes.lanes(dst) == 1 or dtypes.is_float(src) or not hvx_dtype(dst):
            return super().expr_Cast(e)
        sbits, dbits = dtypes.bits(dtypes.element(src)), dtypes.bits(dtypes.element(dst))
        if not hvx_dtype(src):
            return super().expr_Cast(e)
        if sbits == dbits:
            return self.vh(self.hv(self.expr(e.value), src), dst)
        if dbits == 2 * sbits:
            sb = SFX[dtypes.element(src)]
            kind = ("Q6_Wuh_vunpack_Vub" if sb == "ub" else "Q6_Wh_vunpack_Vb" if sb == "b"
                    else "Q6_Wuw_vunpack_Vuh" if sb == "uh" else "Q6_Ww_vunpack_Vh")
            return self.vh(f"Q6_V_lo_W({kind}({self.vx(e.value)}))", dst)
        if sbits == 2 * dbits:
            name = "Q6_Vb_vpacke_VhVh" if dbits == 8 else "Q6_Vh_vpacke_VwVw"
            x = self.vx(e.value)
            self.helper(f"hvx_{name}", f"static inline HVX_Vector texpr_hvx_{name[3:]}"
                        f"(HVX_Vector x) {{ return {name}(x, x); }}")
            return self.vh(f"texpr_hvx_{name[3:]}({x})", dst)
        # 8 <-> 32 bits: through the 16-bit type of the source's signedness
        mid = dtypes.with_lanes(("u" if dtypes.is_unsigned(src) else "") + "int16",
                                dtypes.lanes(dst))
        return self.expr(Cast(Cast(e.value, mid), dst))

    def expr_SaturatingNarrow(self, e):
        """narrow(clamp(x, narrow min, narrow max)) -> saturating HVX forms:
        x = wide(a) +/- wide(b) with a, b narrow: `vadd_sat` / `vsub_sat` in the narrow type;
        x a signed vector of twice the bits: `vpack_sat`."""
        x, dst = e.value, e.dtype
        if dtypes.is_float(x.dtype) or not hvx_dtype(dst):
            return super().expr_SaturatingNarrow(e)
        db = dtypes.element(dst)
        ds = SFX[db]
        if isinstance(x, BinOp) and x.op in ("+", "-"):
            ops = []
            for y in (x.a, x.b):
                if isinstance(y, Cast) and y.value.dtype == dst:
                    ops.append(self.vx(y.value))
                elif (isinstance(y, Broadcast) and isinstance(y.value, Cast)
                      and y.value.value.dtype == db):
                    ops.append(self.splat(self.expr(y.value.value), dst))
                else:
                    ops = None
                    break
            if ops is not None and ds in ("b", "ub", "h", "uh", "w", "uw"):
                name = f"Q6_V{ds}_v{'add' if x.op == '+' else 'sub'}_V{ds}V{ds}_sat"
                return self.vh(f"{name}({ops[0]}, {ops[1]})", dst)
        xb = dtypes.element(x.dtype)
        if (xb in SFX and not dtypes.is_unsigned(xb) and dtypes.bits(xb) == 2 * dtypes.bits(db)
                and ds in ("b", "ub", "h", "uh")):
            src = "h" if dtypes.bits(xb) == 16 else "w"
            name = f"Q6_V{ds}_vpack_V{src}V{src}_sat"
            if hvx_dtype(x.dtype):
                self.helper(f"hvx_{name}", f"static inline HVX_Vector texpr_hvx_{name[3:]}"
                            f"(HVX_Vector x) {{ return {name}(x, x); }}")
                return self.vh(f"texpr_hvx_{name[3:]}({self.vx(x)})", dst)
            if full_vector(dst):            # x is a vector pair: pack its two halves
                n = dtypes.lanes(x.dtype)
                half = dtypes.with_lanes(xb, n // 2)
                t = self.ty(x.dtype)
                self.ty(half)
                self.helper(f"hvx_pair_{name}_{x.dtype}", (
                    f"static inline HVX_Vector texpr_hvx_{name[3:]}_{x.dtype}({t} x) {{\n"
                    f"  HVX_Vector lo = texpr_hv_{half}(__builtin_shufflevector(x, x, "
                    f"{', '.join(str(k) for k in range(n // 2))}));\n"
                    f"  HVX_Vector hi = texpr_hv_{half}(__builtin_shufflevector(x, x, "
                    f"{', '.join(str(k) for k in range(n // 2, n))}));\n"
                    f"  return {name}(hi, lo);\n}}"))
                self._conv(half)
                return self.vh(f"texpr_hvx_{name[3:]}_{x.dtype}({unparen(self.expr(x))})", dst)
        return super().expr_SaturatingNarrow(e)

    # ------------------------------------------------------------------ compare + select
    def expr_Select(self, e):
        """vmux(vcmp(a, b), t, f): HVX compares are gt and eq; the others swap operands or
        branches. Both branches are computed (the vectorizer only asks for this when that is
        safe)."""
        dt, c = e.dtype, e.cond
        if (dtypes.lanes(dt) > 1 and hvx_dtype(dt) and isinstance(c, Cmp)
                and hvx_dtype(c.a.dtype) and c.b.dtype == c.a.dtype
                and dtypes.lanes(c.a.dtype) == dtypes.lanes(dt)
                and dtypes.bits(dtypes.element(c.a.dtype)) == dtypes.bits(dtypes.element(dt))):
            cb = dtypes.element(c.a.dtype)
            s = SFX[cb]
            w = WRAP[dtypes.bits(cb)]
            a, b = self.vx(c.a), self.vx(c.b)
            t, f = self.vx(e.t), self.vx(e.f)
            q = {">": f"Q6_Q_vcmp_gt_V{s}V{s}({a}, {b})", "<": f"Q6_Q_vcmp_gt_V{s}V{s}({b}, {a})",
                 "<=": f"Q6_Q_vcmp_gt_V{s}V{s}({a}, {b})", ">=": f"Q6_Q_vcmp_gt_V{s}V{s}({b}, {a})",
                 "==": f"Q6_Q_vcmp_eq_V{w}V{w}({a}, {b})", "!=": f"Q6_Q_vcmp_eq_V{w}V{w}({a}, {b})"}
            if c.op in ("<=", ">=", "!="):
                t, f = f, t
            return self.vh(f"Q6_V_vmux_QVV({q[c.op]}, {t}, {f})", dt)
        return super().expr_Select(e)

    def expr_Cmp(self, e):
        if dtypes.lanes(e.dtype) > 1:
            raise TexprError("hvx emitter: a vector comparison is only supported as the "
                             "condition of a select of the same lane width")
        return super().expr_Cmp(e)


def _unwrap(code, call):
    """The argument text of `call...)` when code is exactly one such call, else None."""
    if not (code.startswith(call) and code.endswith(")")):
        return None
    depth = 0
    for k in range(len(call) - 1, len(code)):
        depth += code[k] == "("
        depth -= code[k] == ")"
        if depth == 0 and k != len(code) - 1:
            return None
    return code[len(call):-1]


_SHIFT8_R = r"""/* byte shifts by a scalar amount (0..7) */
static inline HVX_Vector texpr_hvx_shl8_r(HVX_Vector v, int32_t n) {
  /* shift the halfwords, then clear the bits each low byte pushed into its high byte */
  return Q6_V_vand_VV(Q6_Vh_vasl_VhR(v, n), Q6_Vb_vsplat_R((0xff << n) & 0xff));
}
static inline HVX_Vector texpr_hvx_lsr8_r(HVX_Vector v, int32_t n) { return Q6_Vub_vlsr_VubR(v, n); }
static inline HVX_Vector texpr_hvx_asr8_r(HVX_Vector v, int32_t n) {
  HVX_Vector bias = Q6_Vb_vsplat_R(0x80);
  return Q6_Vb_vsub_VbVb(Q6_Vub_vlsr_VubR(Q6_V_vxor_VV(v, bias), n), Q6_Vb_vsplat_R(0x80 >> n));
}"""

_SHIFT8_V = r"""/* byte shifts by per-lane amounts (0..7): even and odd bytes of each halfword apart */
static inline HVX_Vector texpr_hvx_shl8_v(HVX_Vector v, HVX_Vector n) {
  HVX_Vector lo8 = Q6_Vh_vsplat_R(0x00ff), hi8 = Q6_Vh_vsplat_R(0xff00);
  HVX_Vector n_even = Q6_V_vand_VV(n, lo8), n_odd = Q6_Vuh_vlsr_VuhR(n, 8);
  HVX_Vector even = Q6_V_vand_VV(Q6_Vh_vasl_VhVh(v, n_even), lo8);
  HVX_Vector odd = Q6_V_vand_VV(Q6_Vh_vasl_VhVh(Q6_V_vand_VV(v, hi8), n_odd), hi8);
  return Q6_V_vor_VV(even, odd);
}
static inline HVX_Vector texpr_hvx_lsr8_v(HVX_Vector v, HVX_Vector n) {
  HVX_Vector lo8 = Q6_Vh_vsplat_R(0x00ff), hi8 = Q6_Vh_vsplat_R(0xff00);
  HVX_Vector n_even = Q6_V_vand_VV(n, lo8), n_odd = Q6_Vuh_vlsr_VuhR(n, 8);
  HVX_Vector even = Q6_Vh_vlsr_VhVh(Q6_V_vand_VV(v, lo8), n_even);
  HVX_Vector odd = Q6_V_vand_VV(Q6_Vh_vlsr_VhVh(v, n_odd), hi8);
  return Q6_V_vor_VV(even, odd);
}
static inline HVX_Vector texpr_hvx_asr8_v(HVX_Vector v, HVX_Vector n) {
  HVX_Vector bias = Q6_Vb_vsplat_R(0x80);
  return Q6_Vb_vsub_VbVb(texpr_hvx_lsr8_v(Q6_V_vxor_VV(v, bias), n), texpr_hvx_lsr8_v(bias, n));
}"""

_MUL32 = ("static inline HVX_Vector texpr_hvx_mul32(HVX_Vector a, HVX_Vector b) {\n"
          "  /* low 32 bits of a * b: lo16(a) * hi16(b) << 16, plus a * lo16(b) (unsigned) */\n"
          "  return Q6_Vw_vmpyieacc_VwVwVuh(Q6_Vw_vmpyieo_VhVh(a, b), a, b);\n}")

_MUL8 = ("static inline HVX_Vector texpr_hvx_mul8(HVX_Vector a, HVX_Vector b) {\n"
         "  /* 16-bit products (even lanes low, odd lanes high); their low bytes in lane order */\n"
         "  HVX_VectorPair p = Q6_Wh_vmpy_VbVb(a, b);\n"
         "  return Q6_Vb_vshuffe_VbVb(Q6_V_hi_W(p), Q6_V_lo_W(p));\n}")

_MLOAD = ("static inline HVX_Vector texpr_hvx_mload(const void* p, int32_t nbytes) {\n"
          "  /* the block is padded: reading a whole vector there is safe; inactive lanes -> 0 */\n"
          "  if (nbytes <= 0) return Q6_V_vzero();\n"
          "  HVX_Vector v = *(const texpr_hvx_uvec*)p;\n"
          "  if (nbytes >= 128) return v;\n"
          "  return Q6_V_vmux_QVV(Q6_Q_vsetq_R(nbytes), v, Q6_V_vzero());\n}")

_MSTORE = ("static inline void texpr_hvx_mstore(void* p, HVX_Vector v, int32_t nbytes) {\n"
           "  /* bytes [0, nbytes) of v to p: rotate them to their offset in the aligned block,\n"
           "     then one or two predicated aligned stores (no other byte is written) */\n"
           "  if (nbytes <= 0) return;\n"
           "  if (nbytes > 128) nbytes = 128;\n"
           "  int32_t a = (int32_t)((uintptr_t)p & 127);\n"
           "  HVX_Vector* blk = (HVX_Vector*)((char*)p - a);\n"
           "  HVX_Vector r = Q6_V_vror_VR(v, (128 - a) & 127);\n"
           "  int32_t end = a + nbytes;\n"
           "  HVX_VectorPred all = Q6_Q_not_Q(Q6_Q_vsetq_R(0));\n"
           "  HVX_VectorPred upto = end >= 128 ? all : Q6_Q_vsetq_R(end);\n"
           "  Q6_vmem_QRIV(Q6_Q_and_QQn(upto, Q6_Q_vsetq_R(a)), blk, r);\n"
           "  if (end > 128) Q6_vmem_QRIV(Q6_Q_vsetq_R(end - 128), blk + 1, r);\n}")
