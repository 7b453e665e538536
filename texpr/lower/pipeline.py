"""The one lowering pipeline: named passes, each an IR -> IR function, run by one loop.

Every target runs the same first passes (loop nest, flatten, simplify); CPU targets then run
the CPU passes and GPU targets the GPU ones, chosen by each pass's `applies` predicate on the
Target record (texpr/target.py), never by the target's name.

    te.lower(s, args, target="avx2", stop_after="vectorize")   # the program after a pass
    te.lower(s, args, trace=True)                               # each pass's time, and changes
    TEXPR_TRACE_PASSES=1                                        # the same for every lowering

The IR between passes is a LoweredFunc (one loop program) until `split_kernels`, which turns
it into a GPUProgram (one Kernel per root stage); later GPU passes map over its kernels.
"""
import os
import sys
import time
from dataclasses import dataclass

from .. import progress
from ..errors import LoweringError
from ..target import GENERIC, Target
from .analysis.arith import INF
from .access_bounds import check_access_bounds
from .cpu.hoist_checks import hoist_checked_indices
from .cpu.isel import select_instructions
from .cpu.loop_checks import hoist_loop_checks
from .cpu.loop_partition import partition_loops
from .cpu.prefetch import inject_prefetch
from .cpu.stream_stores import split_stream_loops
from .cpu.promote import promote_registers
from .cpu.vectorize import maskable, vectorize_loops
from .flatten import flatten_storage
from .math_calls import accurate_math_calls
from .half_precision import half_arithmetic
from .gpu.barriers import insert_barriers, uniform_barriers
from .gpu.cross_thread_reduce import lower_cross_thread_reductions
from .gpu.guard_hoist import hoist_guards
from .gpu.kernel import GPUProgram, Kernel
from .gpu.kernel_split import split_kernels
from .gpu.storage_scope import assign_attached_scopes, hoist_shared
from .gpu.thread_binding import bind_threads, thread_ranges
from .gpu.vectorize import vectorize_gpu_loops
from ..lang.ir import Barrier, BufferLoad, BufferStore, LoweredFunc
from ..lang.tensor import ExclusiveScanOp, ScanOp
from .schedule_ops import schedule_to_stmt
from .specialize import apply_facts, join_classes
from .simplify_pass import simplify_stmt
from .unroll import unroll_loops
from ..lang.expr import Var
from ..lang.visitor import walk


@dataclass
class LoweringContext:
    """What passes read besides the IR: the schedule, its arguments and the target."""
    schedule: object
    args: object                 # as the caller gave them (schedule_to_stmt checks them)
    name: str
    target: Target
    ranges: dict = None          # shape variable -> (lo, hi), set by the loop_nest pass
    arg_buffers: list = None     # Buffers of the call's arguments, in order
    facts: object = None         # a specialisation class's Facts (specialize.py)
    shared_args: list = None     # the kernel's argument Buffers, given to every class


@dataclass(frozen=True)
class Pass:
    """A named step of the pipeline: run(ir, ctx) -> ir, for the targets `applies` accepts."""
    name: str
    run: object
    applies: object
    doc: str


def _every(target):
    return True


def _cpu(target):
    return not target.is_gpu


def _gpu(target):
    return target.is_gpu


def _on_body(fn):
    """A pass over a LoweredFunc's body."""
    def run(func, ctx):
        return func.replace_body(fn(func.body, ctx))
    return run


def _half_arithmetic(body, ctx):
    native = ("float16",) if ctx.target.has("fp16_arithmetic") else ()
    return half_arithmetic(body, native)


def _on_kernels(fn):
    """A pass over each kernel of a GPUProgram: fn(kernel, ctx) -> kernel."""
    def run(prog, ctx):
        return GPUProgram(prog.name, prog.args, prog.shape_vars, prog.temps,
                          [fn(k, ctx) for k in prog.kernels], prog.params, prog.extent_vars,
                          prog.preconditions)
    return run


def _on_kernel_bodies(fn):
    """A pass over each kernel's body: fn(body, kernel, ctx) -> body."""
    return _on_kernels(lambda k, ctx: k.replace_body(fn(k.body, k, ctx)))


# --------------------------------------------------------------------------- common passes

def _loop_nest(sch, ctx):
    from ..schedule.schedule import Schedule
    if not isinstance(sch, Schedule):
        raise LoweringError(f"lower expects a Schedule (te.create_schedule), got {sch!r}")
    low, body = schedule_to_stmt(sch, ctx.args, ctx.name, ctx.shared_args)
    ctx.ranges = {v: (0, INF) for v in low.nonneg_vars}
    if ctx.facts is not None:
        body = apply_facts(body, ctx)
    ctx.arg_buffers = low.arg_buffers()
    ctx.scan_stages = {st.name for st in sch.stages if isinstance(st.op, ExclusiveScanOp)}
    ctx.time_loops = {st.name for st in sch.stages if isinstance(st.op, ScanOp)}
    bufs = iter(ctx.arg_buffers)
    params = [p if isinstance(p, Var) else next(bufs) for p in low.params]
    return LoweredFunc(ctx.name, ctx.arg_buffers, body, low.shape_vars, params,
                       frozenset(low.extent_vars()) if low.scalar_params else frozenset())


def _access_bounds(func, ctx):
    body, pre = check_access_bounds(func.body, ctx.ranges, ctx.name)
    return LoweredFunc(func.name, func.args, body, func.shape_vars, func.params,
                       func.extent_vars, func.externs, tuple(func.preconditions) + tuple(pre))


def _simplify(body, ctx):
    return simplify_stmt(body, ctx.ranges)


# --------------------------------------------------------------------------- CPU passes

def _masks(ctx):
    """Which vector tails the CPU passes mask: True (every vector: masked_tails), the target's
    rule (masked_wide_tails, AVX2: 32/64-bit elements) in a kernel of symbolic sizes, else
    None. A kernel of constant sizes keeps AVX2's split-off tails: an exact narrower vector
    or a few scalars, where a masked one stores through vmaskmov, slow on AMD (a 1x1
    convolution of 14 x 14 outputs, its last 4 columns masked, ran 1.2x slower on Zen 4)."""
    t = ctx.target
    if t.has("masked_tails"):
        return True
    return t.masked_access if t.masks_tails and ctx.ranges else None


def _partition(body, ctx):
    t, masks = ctx.target, _masks(ctx)
    if masks is None or masks is True:
        return partition_loops(body, masked_vectors=bool(masks))
    return partition_loops(body, masked_vectors=lambda f: maskable(
        f, t.vector_bits, masks, t.has("narrow_lanes")))


def _vectorize(body, ctx):
    t = ctx.target
    return vectorize_loops(body, t.vector_bits, masked=_masks(ctx),
                           lane_ops=t.has("lane_ops"), float_vectors=t.has("float_vectors"),
                           narrow_lanes=t.has("narrow_lanes"), vector_math=t.has("vector_math"))


# --------------------------------------------------------------------------- GPU passes

def _split_kernels(func, ctx):
    temps, stages = split_kernels(func.body, ctx.time_loops)
    kernels = [Kernel(stage, stage, kbody, (), list(func.shape_vars) +
                      ([loop.var] if loop is not None else []), (), (), {}, host_loop=loop)
               for stage, kbody, loop in stages]
    return GPUProgram(ctx.name, func.args, func.shape_vars, temps, kernels, func.params,
                      func.extent_vars, func.preconditions)


def _bind_threads(kernel, ctx):
    body, grid, block, tvars = bind_threads(kernel.stage, kernel.body,
                                            kernel.stage in ctx.scan_stages, ctx.target.gpu)
    return Kernel(kernel.name, kernel.stage, body, kernel.params, kernel.shape_vars, grid, block,
                  tvars, kernel.shared, kernel.host_loop)


def _simplify_kernel(body, kernel, ctx):
    ranges = dict(ctx.ranges)
    ranges.update(thread_ranges(kernel.thread_vars, kernel.grid, kernel.block))
    return simplify_stmt(body, ranges)


def _hoist_shared(kernel, ctx):
    body, shared = hoist_shared(kernel.stage, kernel.body, ctx.target.gpu)
    return kernel.replace_body(body, shared)


def _kernel_signatures(prog, ctx):
    """Each kernel's name (unique) and the global buffers (arguments, temps) it touches."""
    used_names = set()
    kernels = []
    for k in prog.kernels:
        params = _global_buffers(k.body, list(prog.args) + list(prog.temps))
        kernels.append(Kernel(_kernel_name(prog.name, k.stage, used_names), k.stage, k.body,
                              params, k.shape_vars, k.grid, k.block, k.thread_vars, k.shared,
                              k.host_loop))
    return GPUProgram(prog.name, prog.args, prog.shape_vars, prog.temps, kernels, prog.params,
                      prog.extent_vars, prog.preconditions)


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


PIPELINE = (
    Pass("loop_nest", _loop_nest, _every,
         "bound inference, inlining and the loop nest of each stage (Schedule -> LoweredFunc)"),
    Pass("access_bounds", _access_bounds, _every,
         "every tensor access proven in bounds, made a precondition of the call, checked at "
         "run time, or refused (out of bounds)"),
    Pass("flatten", _on_body(lambda b, ctx: apply_facts(flatten_storage(b), ctx, divisors=True)), _every,
         "multi-dimensional buffer accesses become one offset each"),
    Pass("simplify", _on_body(_simplify), _every,
         "simplify every expression with the ranges of its loops"),
    Pass("half_arithmetic", _on_body(_half_arithmetic), _every,
         "float16 / bfloat16 arithmetic done in float32, each result rounded to nearest even "
         "(float16 in float16 on targets with fp16_arithmetic)"),
    Pass("accurate_math", _on_body(lambda b, ctx: accurate_math_calls(b)),
         lambda target: not target.has("vector_math"),
         "fast_* math calls become the accurate function (the target has no texpr vector math)"),
    # CPU
    Pass("prefetch", _on_body(lambda b, ctx: inject_prefetch(b)), _cpu,
         "software prefetches for loops with pragma(axis, 'prefetch', p)"),
    Pass("stream_stores", _on_body(lambda b, ctx: split_stream_loops(b)), _cpu,
         "a row loop with pragma(axis, 'stream_stores', lanes): an unaligned head, aligned "
         "vectors stored non-temporally, a tail"),
    Pass("loop_checks", _on_body(lambda b, ctx: hoist_loop_checks(b)), _cpu,
         "positions read from data that move with a loop are checked once before it"),
    Pass("partition_loops", _on_body(_partition), _cpu,
         "guards of split tails move to loop parts of their own (masked vectors where the "
         "target has them)"),
    Pass("simplify_parts", _on_body(_simplify), _cpu, "simplify the partitioned loops"),
    Pass("vectorize", _on_body(_vectorize), _cpu,
         "vectorized loops become vector expressions of the target's width"),
    Pass("unroll", _on_body(lambda b, ctx: unroll_loops(b)), _cpu,
         "unrolled loops of constant extent are replicated"),
    Pass("simplify_unrolled", _on_body(_simplify), _cpu, "simplify the unrolled code"),
    Pass("promote_registers", _on_body(lambda b, ctx: promote_registers(b)), _cpu,
         "small local buffers indexed by constants become variables"),
    Pass("hoist_checks", _on_body(lambda b, ctx: hoist_checked_indices(b)), _cpu,
         "an index read from data is checked once per group of uses"),
    Pass("select_instructions", _on_body(lambda b, ctx: select_instructions(b, ctx.target)), _cpu,
         "fused multiply-adds, widening multiplies and saturating narrowings the target has "
         "become single nodes"),
    # GPU
    Pass("split_kernels", _split_kernels, _gpu,
         "each root stage becomes a kernel (LoweredFunc -> GPUProgram)"),
    Pass("attached_scopes", _on_kernel_bodies(lambda b, k, ctx: assign_attached_scopes(k.stage, b)),
         _gpu, "default-scope buffers allocated inside a kernel become per-thread"),
    Pass("cross_thread_reduce", _on_kernel_bodies(
        lambda b, k, ctx: lower_cross_thread_reductions(
            k.stage, b, ctx.target.gpu.warp_size if ctx.target.has("warp_shuffle") else 0)),
         _gpu, "reductions over threadIdx become trees in shared memory (or warp shuffles)"),
    Pass("gpu_vectorize", _on_kernel_bodies(lambda b, k, ctx: vectorize_gpu_loops(b)), _gpu,
         "vectorized copies become vector loads/stores"),
    Pass("gpu_unroll", _on_kernel_bodies(lambda b, k, ctx: unroll_loops(b)), _gpu,
         "unrolled loops of constant extent are replicated"),
    Pass("bind_threads", _on_kernels(_bind_threads), _gpu,
         "loops bound to blockIdx/threadIdx become thread indices; launch shape checked"),
    Pass("simplify_threads", _on_kernel_bodies(_simplify_kernel), _gpu,
         "simplify with the thread indices' ranges"),
    Pass("hoist_shared", _on_kernels(_hoist_shared), _gpu,
         "shared buffers move to kernel scope; their size is checked"),
    Pass("insert_barriers", _on_kernel_bodies(lambda b, k, ctx: insert_barriers(b)), _gpu,
         "barriers between shared-memory writes and reads"),
    Pass("uniform_barriers", _on_kernel_bodies(
        lambda b, k, ctx: uniform_barriers(k.stage, b, k.thread_vars.values())), _gpu,
         "every thread of a block reaches each barrier"),
    Pass("hoist_guards", _on_kernel_bodies(
        lambda b, k, ctx: hoist_guards(b, lambda n: isinstance(n, Barrier))), _gpu,
         "loop-invariant guards move out of loops"),
    Pass("kernel_signatures", _kernel_signatures, _gpu,
         "kernel names and the global buffers each takes"),
)

PASS_NAMES = tuple(p.name for p in PIPELINE)
#: simple_mode=True (classic TVM): the loop nest as scheduled, before tails and vectors
SIMPLE_MODE_STOP = {"cpu": "loop_checks", "gpu": "simplify"}


def passes_for(target):
    """The passes that run for `target`, in order."""
    return [p for p in PIPELINE if p.applies(target)]


def lower(sch, args, name="main", target=None, stop_after=None, simple_mode=False, trace=None):
    """Lower a schedule for `target` (a Target record; None: texpr.target.GENERIC).

    stop_after: the name of a pass (PASS_NAMES) after which to stop and return the IR.
    simple_mode=True stops after the loop nest is built and simplified (no tails, vectors or
    unrolling), the easiest form to read. trace=True (or TEXPR_TRACE_PASSES=1) prints each
    pass's time and whether it changed the program, to stderr.
    Returns a LoweredFunc (CPU) or a GPUProgram (GPU targets)."""
    target = GENERIC if target is None else target
    if not isinstance(target, Target):
        raise LoweringError(f"lower: target must be a texpr.Target record (te.lower takes "
                            f"names), got {target!r}")
    if simple_mode and stop_after is None:
        stop_after = SIMPLE_MODE_STOP["gpu" if target.is_gpu else "cpu"]
    run = passes_for(target)
    if stop_after is not None and stop_after not in {p.name for p in run}:
        raise LoweringError(f"stop_after={stop_after!r} is not a pass of the {target.name} "
                            f"pipeline; its passes: {', '.join(p.name for p in run)}")
    if trace is None:
        trace = os.environ.get("TEXPR_TRACE_PASSES", "").strip() not in ("", "0")
    # (a target with size_classes off: the fallback alone, one generic kernel)
    specs = getattr(sch, "specializations", None) if target.size_classes else None
    if specs:
        if target.is_gpu:
            raise LoweringError(f"{name}: Schedule.specialize is supported on the CPU targets; "
                                f"{target.name} kernels take one schedule")
        # the fallback first: its argument Buffers become every class's
        base = _run(run, LoweringContext(sch, args, name, target), stop_after, trace)
        classes = [(cond, _run(run, LoweringContext(sub, args, name, target, facts=sub.facts,
                                                    shared_args=base.args), stop_after, trace),
                    sub.facts)
                   for cond, sub in specs]
        return join_classes(base, classes)
    return _run(run, LoweringContext(sch, args, name, target), stop_after, trace)


def _run(run, ctx, stop_after, trace):
    """The passes `run` on ctx.schedule, up to stop_after."""
    name, target, ir = ctx.name, ctx.target, ctx.schedule
    with progress.steps(f"lower {name}", len(run)) as bar:
        for p in run:
            bar.phase(p.name)
            if trace:
                before = None if p.name == "loop_nest" else str(ir)
                t0 = time.perf_counter()
                ir = p.run(ir, ctx)
                dt = time.perf_counter() - t0
                changed = "changed" if before is None or str(ir) != before else "unchanged"
                print(f"[texpr lower {name} {target.name}] {p.name:<20} {dt * 1e3:8.2f} ms  "
                      f"{changed}", file=sys.stderr)
            else:
                ir = p.run(ir, ctx)
            if p.name == stop_after:
                break
    return ir
