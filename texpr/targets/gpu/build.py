"""te.build for the GPU targets: lower with the pipeline's GPU passes, emit, compile, wrap."""
import os

from ...lower import lower
from ..toolchain import compile_cubin

CUDA_ARCH = os.environ.get("TEXPR_CUDA_ARCH", "sm_90")


def emit_gpu(program, target):
    """Source text of a GPUProgram for a GPU Target record, and the emitter that wrote it."""
    em = target.emitter(program)
    source, _ = em.emit()
    return source, em


def build_gpu(sch, args, target, name):
    from ..build import output_buffers
    program = lower(sch, args, name, target=target)
    source, em = emit_gpu(program, target)
    outputs = output_buffers(sch, program, args)
    if target.runs == "opencl":
        from .opencl_runtime import OpenCLModule
        return OpenCLModule(program, source, outputs, em.checks, em.kernel_checks)
    from .cuda_runtime import CUDAModule
    path, _ = compile_cubin(source, CUDA_ARCH)
    return CUDAModule(program, source, path, outputs, em.checks, em.kernel_checks,
                      note=f"nvcc -arch={CUDA_ARCH}")
