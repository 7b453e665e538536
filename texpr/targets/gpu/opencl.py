"""OpenCL C from the GPU lowering: __kernel functions, __global/__local memory, barriers."""
from ...lang import dtypes
from ...lang.dtypes import C_TYPES
from ..c.emitter import LIBM_NAMES, unparen
from .. import index_checks
from .emitter import GPUEmitter
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

class OpenCLEmitter(GPUEmitter):
    target_name = "opencl"

    def prelude(self):
        return [_PRELUDE]

    def kernel_head(self, kernel, name, params):
        x, y, z = kernel.block
        return (f"__kernel __attribute__((reqd_work_group_size({x}, {y}, {z})))\n"
                f"void {name}({', '.join(params)})")

    def param(self, buf, name, const):
        # OpenCL C forbids bool in kernel signatures (its size is the implementation's): a
        # NumPy bool is one byte, 0 or 1
        ct = "uchar" if buf.dtype == "bool" else C_TYPES[buf.dtype]
        return f"{'const ' if const else ''}__global {ct}* restrict {name}"

    def error_param(self):
        return "__global int64_t* texpr_err"

    def thread_index(self, tag):
        kind, dim = tag.split(".")
        return f"(int){_INDEX[kind]}({'xyz'.index(dim)})"

    def shared_decl(self, buf, name):
        return f"__local {C_TYPES[buf.dtype]} {name}[{max(buf.size.value, 1)}];"

    def local_decl(self, buf, name, n):
        return f"{C_TYPES[buf.dtype]} {name}[{n}] __attribute__((aligned(16)));"

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
