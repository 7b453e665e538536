"""te.build: lower a schedule, emit source for a target, compile it and load it."""
from ..errors import TexprError
from ..lang.tensor import ComputeOp
from ..lower import lower
from ..schedule.schedule import Schedule
from .registry import AVX512_FLAGS, avx512_native, get_target, host_has  # noqa: F401 (public)
from .runtime.module import Module
from .toolchain import compile_shared, compile_to_assembly


def lower_for_target(sch, args, name="main", target=None, stop_after=None, simple_mode=False,
                     trace=None):
    """te.lower: the loop program as te.build(..., target=target) compiles it (that target's
    vector width, tails, lane operations; a GPUProgram for cuda/opencl); without a target,
    the generic 256-bit lowering (texpr.target.GENERIC). stop_after names a pass of the
    pipeline (texpr.lower.PASS_NAMES) to stop after; simple_mode=True stops before tails,
    vectors and unrolling; trace=True prints each pass's time."""
    tgt = None if target is None else get_target(target)
    return lower(sch, args, name, target=tgt, stop_after=stop_after, simple_mode=simple_mode,
                 trace=trace)


def emit_source(sch, args, target="native", name="main"):
    """The source text te.build(sch, args, target, name) compiles, without compiling it."""
    tgt = get_target(target)
    if tgt.is_gpu:
        from .gpu.build import emit_gpu
        return emit_gpu(lower(sch, args, name, target=tgt), tgt)[0]
    return tgt.emitter(lower(sch, args, name, target=tgt)).emit()[0]


def build(sch, args, target="native", name="main"):
    """Compile a schedule into a callable Module for `target`."""
    if not isinstance(sch, Schedule):
        raise TexprError(f"build expects a Schedule (te.create_schedule), got {sch!r}")
    if not isinstance(name, str) or not name:
        raise TexprError(f"build: name must be a non-empty string, got {name!r}")
    tgt = get_target(target)
    if tgt.is_gpu:
        from .gpu.build import build_gpu
        return build_gpu(sch, args, tgt, name)
    key = (schedule_fingerprint(sch), tuple(id(t) for t in args), tgt.name, tuple(tgt.flags), name)
    hit = _LOWERED.get(id(sch))
    if hit is not None and hit[0] is sch and hit[1] == key:
        func, source, fname, em = hit[2]          # the schedule has not changed: same source
    else:
        func = lower(sch, args, name, target=tgt)
        em = tgt.emitter(func)
        source, fname = em.emit()
        if len(_LOWERED) >= 64:
            _LOWERED.pop(next(iter(_LOWERED)))
        _LOWERED[id(sch)] = (sch, key, (func, source, fname, em), list(args))
    outputs = set()
    for b, t in zip(func.args, args):
        st = sch[t]
        if st.is_output or isinstance(st.op, ComputeOp):
            outputs.add(id(b))
    if tgt.harness is not None:     # a CPU this host cannot run: emulator harness (harness.py)
        return tgt.harness.module(func, source, fname, tgt.name, outputs,
                                  uses_parallel=em.uses_parallel, checks=em.checks)
    path, _ = compile_shared(source, list(tgt.flags),
                             prefix_header=tgt.emitter.prefix_header(tgt.flags))
    return Module(func, source, path, fname + "_entry", tgt.name, outputs, note=tgt.note,
                  uses_parallel=em.uses_parallel, checks=em.checks)


_LOWERED = {}   # id(schedule) -> (schedule, fingerprint, lowered result, args kept alive)


def schedule_fingerprint(sch):
    """Everything a schedule primitive can change, so a rebuild of an unchanged schedule can
    skip lowering (it then only hits the disk cache)."""
    out = []
    for st in sch.stages:
        out.append((id(st.op), st.attach_type, id(st.attach_stage), id(st.attach_ivar), st.scope,
                    tuple(sorted(st.storage_aligns.items())), st.is_output,
                    tuple(id(iv) for iv in st.leaf_iter_vars),
                    tuple((id(r.__dict__.get("parent", r.__dict__.get("outer"))),
                           tuple(sorted((k, id(v) if not isinstance(v, (int, type(None))) else v)
                                        for k, v in r.__dict__.items())))
                          for r in st.relations),
                    tuple(sorted((k, a.get("kind"), tuple(a.get("pragmas", ())),
                                  id(a.get("thread")), id(a.get("intrin")))
                                 for k, a in st.iter_attrs.items()))))
    return tuple(out)


def compile_check_avx512(source, cc="gcc", extra_flags=()):
    """Compile generated source for real AVX-512 (-O2 -S with the avx512 flags, no SIMDe) and
    return the assembly; raises BuildError unless it compiles and uses zmm registers.
    extra_flags: e.g. ["-mavx512vnni"] for a kernel with VNNI micro-kernels."""
    import re
    from ..errors import BuildError
    flags = ["-O2", "-std=gnu11", "-fopenmp", "-Wno-psabi"] + list(AVX512_FLAGS) + list(extra_flags)
    text = compile_to_assembly(source, flags, cc, what=f"{cc} -S for AVX-512")
    if not re.search(r"%zmm\d", text):
        raise BuildError("the AVX-512 assembly uses no zmm register")
    return text
