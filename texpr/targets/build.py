"""te.build: lower a schedule, emit source for a target, compile it and load it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from .. import progress
from ..errors import TexprError
from ..lang import dtypes
from ..lang.expr import Var
from ..lang.extern import ExternOp
from ..lang.tensor import ComputeOp
from ..lower import lower
from ..schedule.schedule import Schedule
from .registry import AVX512_FLAGS, avx512_native, get_target, host_has  # noqa: F401 (public)
from .registry import kernel_flags
from .runtime.module import Module
from .extern_linkage import imported_code, linkage_for
from . import kernel_cache
from .fingerprint import build_fingerprint
from .intrin_rules import RULES
from .toolchain import compile_import, compile_shared, compile_to_assembly, kernel_exports_flags

if TYPE_CHECKING:
    from ..lang.tensor import Tensor
    from ..target import Target


def lower_for_target(sch: Schedule, args: Sequence[Tensor | Var], name: str = "main",
                     target: str | Target | None = None, stop_after: str | None = None,
                     simple_mode: bool = False, trace: bool | None = None) -> Any:
    """te.lower: the loop program as te.build(..., target=target) compiles it (that target's
    vector width, tails, lane operations; a GPUProgram for cuda/opencl); without a target,
    the generic 256-bit lowering (texpr.target.GENERIC). stop_after names a pass of the
    pipeline (texpr.lower.PASS_NAMES) to stop after; simple_mode=True stops before tails,
    vectors and unrolling; trace=True prints each pass's time.

    >>> import texpr as te
    >>> A = te.placeholder((16,), name="A")
    >>> B = te.compute((16,), lambda i: A[i] + 1.0, name="B")
    >>> s = te.create_schedule(B.op)
    >>> "for" in str(te.lower(s, [A, B], name="add_one"))
    True
    """
    tgt = None if target is None else get_target(target)
    return lower(sch, args, name, target=tgt, stop_after=stop_after, simple_mode=simple_mode,
                 trace=trace)


def emit_source(sch: Schedule, args: Sequence[Tensor | Var], target: str | Target = "native",
                name: str = "main", extra_sources: Sequence[str] | None = None,
                libs: Sequence[str] | None = None) -> str:
    """The source text te.build(sch, args, target, name) compiles, without compiling it."""
    tgt = get_target(target)
    if tgt.is_gpu:
        from .gpu.build import emit_gpu
        _check_gpu_args(sch, args, tgt)
        return emit_gpu(lower(sch, args, name, target=tgt), tgt)[0]
    func = lower(sch, args, name, target=tgt)
    func.externs = linkage_for(sch, extra_sources, libs)
    return cpu_emitter(tgt, func).emit()[0]


def cpu_emitter(tgt, func):
    """The emitter of a CPU target for a lowered function (its parallel runtime chosen)."""
    return tgt.emitter(func, parallel_runtime=tgt.parallel_runtime)


def build(sch: Schedule, args: Sequence[Tensor | Var], target: str | Target = "native",
          name: str = "main", extra_sources: Sequence[str] | None = None,
          libs: Sequence[str] | None = None) -> Module:
    """Compile a schedule into a callable Module for `target`.

    args: the tensors (inputs and outputs) and scalar te.vars, in the order the module takes
    them. extra_sources: C source texts compiled into the kernel's library, before it (the
    functions te.call_extern names); libs: linker arguments ("-lNAME", "-LDIR", a .so path).

    Example (compiles with gcc, so not run as a doctest)::

        A = te.placeholder((n,), name="A")
        B = te.compute((n,), lambda i: A[i] * 2.0, name="B")
        f = te.build(te.create_schedule(B.op), [A, B], target="c", name="double")
        b = f(np.arange(5, dtype="float32"))      # the output allocated and returned
    """
    if not isinstance(sch, Schedule):
        raise TexprError(f"build expects a Schedule (te.create_schedule), got {sch!r}")
    if not isinstance(name, str) or not name:
        raise TexprError(f"build: name must be a non-empty string, got {name!r}")
    tgt = get_target(target)
    if tgt.is_gpu:
        from .gpu.build import build_gpu
        _check_gpu_args(sch, args, tgt)
        return build_gpu(sch, args, tgt, name)
    linkage = linkage_for(sch, extra_sources, libs)
    rec = None
    if tgt.harness is None:         # kernels run in this process: by build fingerprint
        fp = build_key(sch, args, tgt, name, linkage)
        rec = kernel_cache.lookup(fp) if fp is not None else None
        if rec is not None:
            return _load_module(rec, tgt, linkage, name)
        # (a bar for builds over a second: the passes, then emit and compile)
        with progress.steps(f"build {name} ({tgt.name})", 2):
            rec = _new_cpu_record(sch, args, tgt, name, linkage, fp)
            progress.phase("compile")
            return _load_module(rec, tgt, linkage, name)
    key = (schedule_fingerprint(sch), tuple(id(t) for t in args), tgt.name, tuple(tgt.flags),
           tuple(sorted(tgt.features)), name,
           linkage.key() if linkage else None)
    hit = _LOWERED.get(id(sch))
    if hit is not None and hit[0] is sch and hit[1] == key:
        func, source, fname, em = hit[2]          # the schedule has not changed: same source
    else:
        func = lower(sch, args, name, target=tgt)
        func.externs = linkage
        em = cpu_emitter(tgt, func)
        source, fname = em.emit()
        if len(_LOWERED) >= 64:
            _LOWERED.pop(next(iter(_LOWERED)))
        _LOWERED[id(sch)] = (sch, key, (func, source, fname, em), list(args))
    outputs = output_buffers(sch, func, args)
    # a CPU this host cannot run: emulator harness (harness.py)
    _check_harness(func, em, tgt)
    mod = tgt.harness.module(func, source, fname, tgt.name, outputs,
                             uses_parallel=em.uses_parallel, checks=em.checks,
                             extra_flags=() if tgt.fp_contract else ("-ffp-contract=off",))
    mod.target_record = tgt         # with its options' flags (texpr.export compiles with them)
    return mod


def _cpu_record(sch, args, tgt, name, linkage):
    """The KernelRecord of a CPU build: from the kernel cache, else lowered and emitted."""
    fp = build_key(sch, args, tgt, name, linkage)
    rec = kernel_cache.lookup(fp) if fp is not None else None
    return rec if rec is not None else _new_cpu_record(sch, args, tgt, name, linkage, fp)


def _new_cpu_record(sch, args, tgt, name, linkage, fp):
    """Lower and emit a CPU kernel, stored in the kernel cache under fp (None: not cacheable)."""
    rec = _lower_and_emit(sch, args, name, tgt, linkage)
    if fp is not None:
        kernel_cache.store(fp, rec)
    return rec


def build_kernel(sch, args, target="native", name="main"):
    """(KernelRecord, compiled library path) of a kernel for a CPU target this host runs:
    what te.build loads, to be loaded in another process by module_of_record (texpr.autotvm
    builds candidates in one process and times them in another)."""
    tgt = get_target(target)
    if tgt.is_gpu or tgt.harness is not None:
        raise TexprError(f"build_kernel: target {tgt.name!r} does not run in this process; "
                         f"expected a CPU target this host executes")
    linkage = linkage_for(sch, None, None)
    rec = _cpu_record(sch, args, tgt, name, linkage)
    return rec, _compile_record(rec, tgt, linkage, name)


def build_key(sch, args, target, name, linkage=None):
    """The fingerprint a CPU build is cached under (fingerprint.py): schedule, args, Target
    record, name, extern linkage and te.register_intrin_lowering's rules (emission reads
    them); None when the schedule holds something that cannot be fingerprinted."""
    return build_fingerprint(sch, list(args), target, name,
                             linkage.key() if linkage else None, RULES)


def _lower_and_emit(sch, args, name, tgt, linkage):
    """Lower and emit a CPU kernel: its KernelRecord (kernel_cache.py)."""
    func = lower(sch, args, name, target=tgt)
    func.externs = linkage
    progress.phase("emit")
    em = cpu_emitter(tgt, func)
    source, fname = em.emit()
    outputs = output_buffers(sch, func, args)
    packed = ()
    if em.uses_packed:
        from .c.extern_calls import packed_names
        packed = packed_names(func.body)
    return kernel_cache.KernelRecord.of(func, source, fname, em, outputs, packed)


def _load_module(rec, tgt, linkage, name):
    """Compile (or find in the disk cache) and load the kernel of a KernelRecord."""
    return module_of_record(rec, _compile_record(rec, tgt, linkage, name), tgt)


def _compile_record(rec, tgt, linkage, name):
    """The compiled library of a KernelRecord (compiled now, or found in the disk cache)."""
    if rec.uses_packed:
        from .runtime.packed import check_registered
        check_registered(rec.packed_names, name)
    link = ["-lm"] + list(linkage.libs) if linkage else ["-lm"]
    flags = kernel_flags(tgt)
    if linkage and linkage.imports:
        # code the pragmas import_c / import_llvm give: an object each, and only the kernel's
        # own symbols exported (extern_linkage.py)
        link = [compile_import(kind, code, flags) for kind, code in linkage.imports] + \
            link + kernel_exports_flags()
    path, _ = compile_shared(rec.source, flags,
                             prefix_header=tgt.emitter.prefix_header(tuple(flags)), libs=link)
    return path


def module_of_record(rec, lib_path, tgt):
    """The Module of a KernelRecord whose library is compiled at lib_path (also how a
    tuning measurement loads a kernel built in another process: texpr.autotvm)."""
    tgt = get_target(tgt)
    mod = Module(rec.signature(), rec.source, lib_path, rec.fname + "_entry", tgt.name,
                 rec.output_ids(), note=tgt.note, uses_parallel=rec.uses_parallel,
                 checks=rec.checks, uses_packed=rec.uses_packed,
                 parallel_runtime=rec.parallel_runtime)
    mod.target_record = tgt         # with its options' flags (texpr.export compiles with them)
    return mod


def output_buffers(sch, func, args):
    """ids of the Buffers the kernel writes: outputs, computed (not placeholder) tensors and
    the placeholders a hybrid op writes in place."""
    in_place = {id(t.op) for st in sch.stages for t, _ in getattr(st.op, "written_inputs", ())}
    outputs = set()
    written_inputs = set()
    bufs = iter(func.args)
    for t in args:
        if isinstance(t, Var):
            continue
        b = next(bufs)
        st = sch[t]
        if st.is_output or isinstance(st.op, (ComputeOp, ExternOp)) or id(st.op) in in_place:
            outputs.add(id(b))
        if id(st.op) in in_place:
            written_inputs.add(id(b))
    # (for the runtime: a call that omits the outputs cannot allocate these, they are read too)
    func.in_place_args = frozenset(written_inputs)
    return outputs


def _check_gpu_args(sch, args, tgt):
    for t in args if isinstance(args, (list, tuple)) else ():
        if isinstance(t, Var) and t.dtype not in ("int32", "int64", "float32", "float64"):
            raise TexprError(f"target {tgt.name}: scalar argument {t.name} has dtype {t.dtype}; "
                             "a GPU kernel takes int32, int64, float32 or float64 scalars")
    for st in sch.stages:
        if isinstance(st.op, ExternOp):
            raise TexprError(f"target {tgt.name}: extern op {st.name} runs host code; extern ops "
                             "are supported on the CPU targets (c, avx2, avx512, native)")
    if any(imported_code(sch)):
        raise TexprError(f"target {tgt.name}: the pragmas import_c / import_llvm link host code "
                         "into a CPU kernel's library; they are supported on the native CPU "
                         "targets (c, avx2, avx512, native)")


def _check_harness(func, em, tgt):
    if em.uses_packed:
        raise TexprError(f"target {tgt.name}: te.call_packed calls Python functions, which a "
                         "kernel run under the emulator cannot reach; build for a native CPU "
                         "target (c, avx2, avx512, native)")
    if func.externs is not None:
        raise TexprError(f"target {tgt.name}: extra C sources and libraries (and code imported "
                         "by the pragmas import_c / import_llvm) are supported on the native "
                         "CPU targets only (c, avx2, avx512, native)")
    for v in func.shape_vars:
        if not dtypes.is_int(v.dtype):
            raise TexprError(f"target {tgt.name}: scalar argument {v.name} of dtype {v.dtype}; "
                             "under the emulator scalar arguments must be integers")


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
    # Schedule.specialize: each class's condition and schedule
    out.append(tuple((id(c), schedule_fingerprint(sub))
                     for c, sub in getattr(sch, "specializations", ())))
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
