"""CUDA C from the GPU lowering: __global__ kernels, __shared__ memory, __syncthreads()."""
from ...lang.dtypes import C_TYPES
from .. import index_checks
from .emitter import GPUEmitter

_PRELUDE = """#include <stdint.h>
#include <math.h>"""

class CUDAEmitter(GPUEmitter):
    target_name = "cuda"

    def prelude(self):
        return [_PRELUDE]

    def kernel_head(self, kernel, name, params):
        return (f'extern "C" __global__ void __launch_bounds__({kernel.threads_per_block})\n'
                f"{name}({', '.join(params)})")

    def param(self, buf, name, const):
        return f"{'const ' if const else ''}{C_TYPES[buf.dtype]}* __restrict__ {name}"

    def error_param(self):
        return "int64_t* __restrict__ texpr_err"

    def thread_index(self, tag):
        return f"(int){tag}"

    def shared_decl(self, buf, name):
        return f"__shared__ __align__(16) {C_TYPES[buf.dtype]} {name}[{max(buf.size.value, 1)}];"

    def local_decl(self, buf, name, n):
        return f"__align__(16) {C_TYPES[buf.dtype]} {name}[{n}];"

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
