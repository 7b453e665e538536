"""The GPU lowering pipeline: Schedule -> GPUProgram (kernels + host launch order).

It shares bound inference, loop construction, flattening and simplification with the CPU
pipeline, then runs the GPU passes on each root stage: local scopes, cross-thread reductions,
thread binding, shared-memory hoisting and limits, barrier insertion, uniform barriers,
loop-invariant guard hoisting.
"""
from ...errors import LoweringError
from ...lang.visitor import walk
from ..analysis.arith import INF
from .barriers import Barrier, insert_barriers, uniform_barriers
from .cross_thread_reduce import lower_cross_thread_reductions
from ..flatten import flatten_storage
from .kernel import GPUProgram, Kernel
from .vectorize import vectorize_gpu_loops
from .guard_hoist import hoist_guards
from ..ir import BufferLoad, BufferStore
from .kernel_split import split_kernels
from ..schedule_ops import schedule_to_stmt
from ..simplify_pass import simplify_stmt
from .storage_scope import assign_attached_scopes, hoist_shared
from .thread_binding import bind_threads, thread_ranges
from ..unroll import unroll_loops


def lower_gpu(sch, args, name="main", target="opencl"):
    """target "cuda" lowers cross-thread reductions with warp shuffles (CUDA only)."""
    from ...schedule.schedule import Schedule
    if not isinstance(sch, Schedule):
        raise LoweringError(f"lower expects a Schedule (te.create_schedule), got {sch!r}")
    low, body = schedule_to_stmt(sch, args, name)
    ranges = {v: (0, INF) for v in low.shape_vars}
    body = flatten_storage(body)
    body = simplify_stmt(body, ranges)
    temps, stages = split_kernels(body)
    arg_bufs = [low.info[st].buffer for st in low.args]
    kernels = []
    used_names = set()
    scans = {st.name for st in sch.stages if getattr(st.op, "tag", "") == "scan"}
    for stage, kbody in stages:
        kbody = assign_attached_scopes(stage, kbody)
        kbody = lower_cross_thread_reductions(stage, kbody, warp_shuffle=target == "cuda")
        kbody = vectorize_gpu_loops(kbody)
        kbody = unroll_loops(kbody)
        kbody, grid, block, tvars = bind_threads(stage, kbody, stage in scans)
        kr = dict(ranges)
        kr.update(thread_ranges(tvars, grid, block))
        kbody = simplify_stmt(kbody, kr)
        kbody, shared = hoist_shared(stage, kbody)
        kbody = insert_barriers(kbody)
        kbody = uniform_barriers(stage, kbody, tvars.values())
        kbody = hoist_guards(kbody, lambda n: isinstance(n, Barrier))
        params = _global_buffers(kbody, arg_bufs + temps)
        kname = _kernel_name(name, stage, used_names)
        kernels.append(Kernel(kname, stage, kbody, params, low.shape_vars, grid, block, tvars,
                              shared))
    return GPUProgram(name, arg_bufs, low.shape_vars, temps, kernels)


def _global_buffers(body, candidates):
    used = set()
    for n in walk(body):
        if isinstance(n, (BufferLoad, BufferStore)):
            used.add(id(n.buffer))
    return [b for b in candidates if id(b) in used]


def _kernel_name(name, stage, used):
    base = f"{name}_{stage}"
    out, k = base, 1
    while out in used:
        out = f"{base}_{k}"
        k += 1
    used.add(out)
    return out
