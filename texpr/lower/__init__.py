"""Lowering: Schedule -> loop program, as a pipeline of small IR -> IR passes."""
from ..errors import LoweringError
from .analysis.arith import INF
from .flatten import flatten_storage
from .cpu.hoist_checks import hoist_checked_indices
from .ir import LoweredFunc
from .cpu.loop_checks import hoist_loop_checks
from .cpu.loop_partition import partition_loops
from .cpu.prefetch import inject_prefetch
from .cpu.promote import promote_registers
from .schedule_ops import schedule_to_stmt
from .simplify_pass import simplify_stmt
from .unroll import unroll_loops
from .cpu.vectorize import vectorize_loops


def lower(sch, args, name="main", vector_bits=256, simple_mode=False, masked_tails=False,
          lane_ops=False, float_vectors=True, target=None, narrow_lanes=False):
    """Lower a schedule to a LoweredFunc; print it to read the loop program.

    target="cuda" or "opencl": the GPU lowering (lower/gpu.py), a GPUProgram of kernels.

    simple_mode stops after bound inference, loop construction and simplification (no tail
    partitioning, vectorization, unrolling), which is the easiest form to read.
    masked_tails (targets with masked vector loads/stores, e.g. avx512): a vectorized loop's
    tail guard becomes predicated vector accesses instead of a lane-by-lane loop.
    lane_ops (targets whose emitter has them: CPU targets, hvx): vector shifts, bitwise
    operators and lane-dependent compare + select. narrow_lanes (hvx): a saturating narrowing
    sets the lane count by its narrow type. float_vectors=False (no float vector unit, hvx):
    vectorized loops that compute with floats stay scalar.
    """
    from ..schedule.schedule import Schedule
    if target in ("cuda", "opencl"):
        from .gpu.pipeline import lower_gpu
        return lower_gpu(sch, args, name, target)
    if not isinstance(sch, Schedule):
        raise LoweringError(f"lower expects a Schedule (te.create_schedule), got {sch!r}")
    low, body = schedule_to_stmt(sch, args, name)
    ranges = {v: (0, INF) for v in low.shape_vars}
    body = flatten_storage(body)
    body = simplify_stmt(body, ranges)
    body = inject_prefetch(body)
    body = hoist_loop_checks(body)
    if not simple_mode:
        body = partition_loops(body, masked_vectors=masked_tails)
        body = simplify_stmt(body, ranges)
        body = vectorize_loops(body, vector_bits, masked=masked_tails, lane_ops=lane_ops,
                               float_vectors=float_vectors, narrow_lanes=narrow_lanes)
        body = unroll_loops(body)
        body = simplify_stmt(body, ranges)
        body = promote_registers(body)
        body = hoist_checked_indices(body)
    args_buf = [low.info[st].buffer for st in low.args]
    return LoweredFunc(name, args_buf, body, low.shape_vars)
