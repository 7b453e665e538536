"""CUDA C from the GPU lowering: __global__ kernels, __shared__ memory, __syncthreads().

float16 is `__half` (cuda_fp16.h), bfloat16 `__nv_bfloat16` (cuda_bf16.h): stored and
converted with the headers' round-to-nearest-even conversions; their arithmetic is float32's
(lower/half_precision.py), as on the CPU targets, so results are NumPy's bits.
"""
from ...lang import dtypes
from ..c.emitter import unparen
from .. import index_checks
from .emitter import GPUEmitter, half_bits

_PRELUDE = """#include <stdint.h>
#include <math.h>"""

_HALF_HEADERS = {"float16": "#include <cuda_fp16.h>", "bfloat16": "#include <cuda_bf16.h>"}

#: (from, to) -> the cuda_fp16.h / cuda_bf16.h conversion
_HALF_CASTS = {("float16", "float32"): "__half2float", ("float32", "float16"): "__float2half_rn",
               ("float64", "float16"): "__double2half",
               ("bfloat16", "float32"): "__bfloat162float",
               ("float32", "bfloat16"): "__float2bfloat16_rn",
               ("float64", "bfloat16"): "__double2bfloat16"}


class CUDAEmitter(GPUEmitter):
    target_name = "cuda"
    HALF_TYPES = {"float16": "__half", "bfloat16": "__nv_bfloat16"}

    def __init__(self, program):
        super().__init__(program)
        self.half_used = set()

    def prelude(self):
        return [_PRELUDE] + [_HALF_HEADERS[dt] for dt in sorted(self.half_used)]

    def ctype(self, dt):
        if dt in self.HALF_TYPES:
            self.half_used.add(dt)
        return super().ctype(dt)

    def half_const(self, value, dt):
        self.half_used.add(dt)
        fn = "__ushort_as_half" if dt == "float16" else "__ushort_as_bfloat16"
        return f"{fn}((unsigned short){half_bits(value, dt):#06x}u)"

    def half_cast(self, e):
        src, dst = e.value.dtype, e.dtype
        if src == dst:
            return self.expr(e.value)
        for dt in (src, dst):
            if dtypes.is_half(dt):
                self.half_used.add(dt)
        fn = _HALF_CASTS.get((src, dst))
        if fn is None:
            from ...errors import InternalError
            raise InternalError(f"CUDA: conversion {src} -> {dst} left by half_arithmetic")
        return f"{fn}({unparen(self.expr(e.value))})"

    def kernel_head(self, kernel, name, params):
        return (f'extern "C" __global__ void __launch_bounds__({kernel.threads_per_block})\n'
                f"{name}({', '.join(params)})")

    def param(self, buf, name, const):
        return f"{'const ' if const else ''}{self.ctype(buf.dtype)}* __restrict__ {name}"

    def error_param(self):
        return "int64_t* __restrict__ texpr_err"

    def thread_index(self, tag):
        return f"(int){tag}"

    def shared_decl(self, buf, name):
        return f"__shared__ __align__(16) {self.ctype(buf.dtype)} {name}[{max(buf.size.value, 1)}];"

    def local_decl(self, buf, name, n):
        return f"__align__(16) {self.ctype(buf.dtype)} {name}[{n}];"

    def barrier(self):
        return "__syncthreads();"

    def vector_copy(self, dst, d, src, s, dtype, lanes, aligned):
        """float4/int4 (one 16-byte access) where both offsets are multiples of the width."""
        if not aligned:
            return " ".join(f"{dst}[({d}) + {k}] = {src}[({s}) + {k}];" for k in range(lanes))
        vt = {"float32": "float", "int32": "int"}[dtype] + str(lanes)
        return f"*({vt}*)(&{dst}[{d}]) = *(const {vt}*)(&{src}[{s}]);"

    def expr_ShuffleDown(self, e):
        return f"__shfl_down_sync(0xffffffffu, {self.expr(e.value)}, {e.offset})"

    def checked_index_helper(self):
        return index_checks.CUDA_CHECKED_INDEX

    def fix_helper(self, text):
        if text.startswith("static inline "):
            return "static __device__ __forceinline__ " + text[len("static inline "):]
        return text
