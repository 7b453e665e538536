"""OpenCL C from the GPU lowering: __kernel functions, __global/__local memory, barriers.

float16 is core OpenCL's storage-only `half` (no cl_khr_fp16 needed: PoCL's CPU device lacks
it): a `__global half*` argument is read with vload_half and written with vstore_half_rte,
and a float16 value is held as the float it equals (its arithmetic is float32's anyway:
lower/half_precision.py), rounded to float16 where the IR narrows. bfloat16 is its bits
(ushort), converted by the bit manipulation of targets/c/half.py.
"""
from ...lang import dtypes
from ...lang.dtypes import C_TYPES
from ...errors import InternalError
from ..c.emitter import LIBM_NAMES, unparen
from .. import index_checks
from .emitter import GPUEmitter, half_bits
from ..intrin_rules import RULES as INTRIN_RULES

_PRELUDE = """#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
typedef char int8_t;
typedef uchar uint8_t;
typedef short int16_t;
typedef ushort uint16_t;
typedef int int32_t;
typedef uint uint32_t;
typedef long int64_t;
typedef ulong uint64_t;
#define INT64_C(x) ((long)(x##L))
#define UINT64_C(x) ((ulong)(x##UL))
#define INT64_MIN LONG_MIN"""

_INDEX = {"blockIdx": "get_group_id", "threadIdx": "get_local_id"}

#: conversions of 16-bit floats: name -> OpenCL C (float16 rounding through a half in private
#: memory: vstore_half_rte is core OpenCL; bfloat16 as c/half.py's scalar helpers)
_HALF_HELPERS = {
    "texpr_round_half": (
        "float texpr_round_half(float x) { ushort h; vstore_half_rte(x, 0, (__private half*)&h); "
        "return vload_half(0, (__private half*)&h); }"),
    "texpr_round_half_f64": (
        "float texpr_round_half_f64(double x) { ushort h; "
        "vstore_half_rte(x, 0, (__private half*)&h); return vload_half(0, (__private half*)&h); }"),
    "texpr_bf16_to_f32": "float texpr_bf16_to_f32(ushort h) { return as_float((uint)h << 16); }",
    "texpr_f32_to_bf16": (
        "ushort texpr_f32_to_bf16(float f) { uint u = as_uint(f); "
        "if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)((u >> 16) | 0x40u); "
        "return (ushort)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16); }"),
    "texpr_f64_to_bf16": (
        # round to odd into float32 (truncate toward zero, last bit set if inexact), then even
        "ushort texpr_f64_to_bf16(double d) { float f = (float)d; "
        "if (d != d || (double)f == d) return texpr_f32_to_bf16(f); "
        "if (fabs((double)f) > fabs(d)) f = nextafter(f, 0.0f); "
        "return texpr_f32_to_bf16(as_float(as_uint(f) | 1u)); }"),
}
_HALF_CASTS = {("float32", "float16"): "texpr_round_half",
               ("float64", "float16"): "texpr_round_half_f64",
               ("bfloat16", "float32"): "texpr_bf16_to_f32",
               ("float32", "bfloat16"): "texpr_f32_to_bf16",
               ("float64", "bfloat16"): "texpr_f64_to_bf16"}


class OpenCLEmitter(GPUEmitter):
    target_name = "opencl"
    HALF_TYPES = {"float16": "float", "bfloat16": "ushort"}     # values (and __local arrays)

    def half_const(self, value, dt):
        if dt == "bfloat16":
            return f"((ushort){half_bits(value, dt):#06x})"
        import numpy as np
        return f"((float){float(np.float16(value))!r})"

    def half_cast(self, e):
        src, dst = e.value.dtype, e.dtype
        x = unparen(self.expr(e.value))
        if src == dst or (src, dst) == ("float16", "float32"):
            return f"({x})"             # a float16 value is held as its float
        fn = _HALF_CASTS.get((src, dst))
        if fn is None:
            raise InternalError(f"OpenCL: conversion {src} -> {dst} left by half_arithmetic")
        for name in (("texpr_f32_to_bf16",) if fn == "texpr_f64_to_bf16" else ()) + (fn,):
            self.helper(f"half{list(_HALF_HELPERS).index(name)}_{name}", _HALF_HELPERS[name])
        return f"{fn}({x})"

    def expr_BufferLoad(self, e):
        if e.buffer.dtype == "float16" and e.buffer.scope == "global":
            return f"vload_half({unparen(self.idx(e.indices[0]))}, {self.buf(e.buffer)})"
        return super().expr_BufferLoad(e)

    def stmt_BufferStore(self, s):
        if s.buffer.dtype == "float16" and s.buffer.scope == "global":
            self.line(f"vstore_half_rte({unparen(self.expr(s.value))}, "
                      f"{unparen(self.idx(s.indices[0]))}, {self.buf(s.buffer)});")
            return
        super().stmt_BufferStore(s)

    def prelude(self):
        return [_PRELUDE]

    def kernel_head(self, kernel, name, params):
        x, y, z = kernel.block
        return (f"__kernel __attribute__((reqd_work_group_size({x}, {y}, {z})))\n"
                f"void {name}({', '.join(params)})")

    def param(self, buf, name, const):
        # OpenCL C forbids bool in kernel signatures (its size is the implementation's): a
        # NumPy bool is one byte, 0 or 1
        ct = {"bool": "uchar", "float16": "half"}.get(buf.dtype) or self.ctype(buf.dtype)
        return f"{'const ' if const else ''}__global {ct}* restrict {name}"

    def error_param(self):
        return "__global int64_t* texpr_err"

    def thread_index(self, tag):
        kind, dim = tag.split(".")
        return f"(int){_INDEX[kind]}({'xyz'.index(dim)})"

    def shared_decl(self, buf, name):
        return f"__local {self.ctype(buf.dtype)} {name}[{max(buf.size.value, 1)}];"

    def local_decl(self, buf, name, n):
        return f"{self.ctype(buf.dtype)} {name}[{n}] __attribute__((aligned(16)));"

    def barrier(self):
        return "barrier(CLK_LOCAL_MEM_FENCE);"

    def vector_copy(self, dst, d, src, s, dtype, lanes, aligned):
        """vloadN/vstoreN need only element alignment."""
        return f"vstore{lanes}(vload{lanes}(0, {src} + ({s})), 0, {dst} + ({d}));"

    def checked_index_helper(self):
        return index_checks.OPENCL_CHECKED_INDEX

    def expr_Call(self, e):
        """OpenCL's math builtins are overloaded by type (exp, not expf)."""
        if INTRIN_RULES:                    # the user's lowering of this call, if any
            out = self.lowered_call(e)
            if out is not None:
                return out
        dt = e.dtype
        args = [unparen(self.expr(a)) for a in e.args]
        if e.name == "sigmoid":
            one = "1.0f" if dt == "float32" else "1.0"
            return f"({one} / ({one} + exp(-{args[0]})))"
        # integer abs: the C emitter's helper (negated unsigned); OpenCL's abs() let PoCL's
        # compiler take abs(INT_MIN) as >= 0, so 1 // abs(INT_MIN) gave 0, not NumPy's -1
        if e.name == "abs" and dtypes.is_float(dt):
            return f"fabs({args[0]})"
        if e.name in ("exp", "log", "sqrt", "tanh", "erf", "floor", "ceil", "pow", "rsqrt"):
            return f"{e.name}({', '.join(args)})"
        if e.name in ("round", "nearbyint"):
            return f"rint({args[0]})"                  # halves to even, as np.round
        if e.name in LIBM_NAMES:
            return f"{LIBM_NAMES[e.name]}({', '.join(args)})"
        if e.name == "popcount":
            return f"(({self.ty(dt)})popcount(({self.ty('u' + dt if not dt.startswith('u') else dt)}){args[0]}))"
        return super().expr_Call(e)

    def expr_BinOp(self, e):
        if e.op in ("//", "%") and dtypes.is_float(e.dtype):
            a, b = self.expr(e.a), self.expr(e.b)
            if e.op == "//":
                return f"floor({a} / {b})"
            return f"({a} - floor({a} / {b}) * {b})"
        return super().expr_BinOp(e)
