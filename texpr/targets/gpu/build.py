"""te.build for the GPU targets: lower with the GPU pipeline, emit, compile, wrap."""
import os

from ...lower.gpu.pipeline import lower_gpu
from .cuda import CUDAEmitter
from .emitter import check_gpu_dtypes
from .opencl import OpenCLEmitter
from ..toolchain import compile_cubin

CUDA_ARCH = os.environ.get("TEXPR_CUDA_ARCH", "sm_90")


def emit_gpu(program, target):
    check_gpu_dtypes(program)
    em = (CUDAEmitter if target == "cuda" else OpenCLEmitter)(program)
    source, _ = em.emit()
    return source, em


def build_gpu(sch, args, target, name):
    from ...lang.tensor import ComputeOp
    program = lower_gpu(sch, args, name, target)
    source, em = emit_gpu(program, target)
    outputs = set()
    for b, t in zip(program.args, args):
        st = sch[t]
        if st.is_output or isinstance(st.op, ComputeOp):
            outputs.add(id(b))
    if target == "opencl":
        from .opencl_runtime import OpenCLModule
        return OpenCLModule(program, source, outputs, em.checks, em.kernel_checks)
    from .cuda_runtime import CUDAModule
    path, _ = compile_cubin(source, CUDA_ARCH)
    return CUDAModule(program, source, path, outputs, em.checks, em.kernel_checks,
                      note=f"nvcc -arch={CUDA_ARCH}")
