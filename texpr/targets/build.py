"""te.build: lower a schedule, emit source for a target, compile it and load it."""
import os

from ..errors import TexprError
from ..lower import lower
from ..schedule.schedule import Schedule
from .c.emitter import CEmitter
from .runtime.module import Module
from .toolchain import compile_shared

# -fno-tree-loop-distribution: GCC 12.2's loop distribution miscompiles a pattern tensorized
# tails produce (a loop that, on its first iteration only, zeroes a row and then accumulates
# into it: the zeroing is moved after the accumulations; clang and GCC -O2 get it right; see
# tests/test_targets.py::test_gcc_loop_distribution_workaround). Signed index arithmetic is
# not wrapped (no -fwrapv) so GCC can vectorize it; data arithmetic wraps in the C itself.
# -fno-tree-loop-if-convert: GCC 12.2 -O3 -mavx2 turns two lane-by-lane loops of
# `O[i] = A[i] < C[i] ? B[i] : k` (int64, texpr's fallback for an 8-lane select on AVX2) into
# masked loads of B and gives the second loop the first one's mask (lanes read as 0); see
# tests/test_expression_properties.py. In the benchmarks' kernels the flag changes a handful of
# instructions (571 kernels compiled both ways: 14 differ, by 0-13 of 200-18000 instructions).
BASE_FLAGS = ["-O3", "-std=gnu11", "-fopenmp", "-fno-strict-aliasing", "-fno-tree-loop-distribution",
              "-fno-tree-loop-if-convert", "-Wno-psabi"]
AVX512_FLAGS = ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mfma"]


_HOST_FLAGS = None


def host_has(flag):
    global _HOST_FLAGS
    if _HOST_FLAGS is None:
        _HOST_FLAGS = frozenset()
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("flags"):
                        _HOST_FLAGS = frozenset(line.split())
                        break
        except OSError:
            pass
    return flag in _HOST_FLAGS


class Target:
    def __init__(self, name, emitter, flags, vector_bits, note="", masked_tails=False):
        self.name = name
        self.emitter = emitter
        self.flags = flags
        self.vector_bits = vector_bits
        self.note = note
        self.masked_tails = masked_tails    # vector tails as masked loads/stores (lower())
        # the emitter has vector compare + select, shifts and bitwise operators (all CPU
        # emitters: GCC vector extensions; HVX: Q6 intrinsics)
        self.lane_ops = True


def get_target(name):
    if not isinstance(name, str):
        raise TexprError(f"target must be a string, got {name!r}")
    if name == "native":
        # the best vector ISA this CPU executes natively (never an emulated one)
        if avx512_native():
            t = get_target("avx512")
            t.note = "native = avx512"
            return t
        if host_has("avx2") and host_has("fma"):
            t = get_target("avx2")
            t.note = "native = avx2"
            return t
        t = get_target("c")
        t.note = "native = c"
        return t
    if name == "c":
        return Target("c", CEmitter, BASE_FLAGS, 256)
    if name == "avx2":
        from .x86.avx2 import AVX2Emitter
        return Target("avx2", AVX2Emitter, BASE_FLAGS + ["-mavx2", "-mfma"], 256)
    if name == "avx512":
        return _avx512_target()
    if name == "neon":
        return _neon_target()
    if name == "hvx":
        return _hvx_target()
    if name in ("cuda", "opencl"):      # GPU lowering + emitters (targets/gpu_build.py)
        t = Target(name, None, [], 32)
        t.gpu = True
        return t
    known = "c, avx2, avx512, neon, hvx, cuda, opencl, native"
    raise TexprError(f"unknown target {name!r}; available: {known}")


def lower_for_target(sch, args, name="main", target=None, **options):
    """te.lower: the loop program as te.build(..., target=target) compiles it (that target's
    vector width, tails, lane operations); without a target, texpr.lower.lower's defaults
    (256-bit vectors) or the options given."""
    if target is None or target in ("cuda", "opencl"):
        return lower(sch, args, name, target=target, **options)
    tgt = get_target(target)
    params = dict(vector_bits=tgt.vector_bits, masked_tails=tgt.masked_tails,
                  lane_ops=tgt.lane_ops, narrow_lanes=getattr(tgt, "narrow_lanes", False),
                  float_vectors=getattr(tgt, "float_vectors", True))
    params.update(options)
    return lower(sch, args, name, **params)


def build(sch, args, target="native", name="main"):
    """Compile a schedule into a callable Module for `target`."""
    if not isinstance(sch, Schedule):
        raise TexprError(f"build expects a Schedule (te.create_schedule), got {sch!r}")
    if not isinstance(name, str) or not name:
        raise TexprError(f"build: name must be a non-empty string, got {name!r}")
    tgt = get_target(target)
    if getattr(tgt, "gpu", False):
        from .gpu.build import build_gpu
        return build_gpu(sch, args, tgt.name, name)
    key = (schedule_fingerprint(sch), tuple(id(t) for t in args), tgt.name, tuple(tgt.flags), name)
    hit = _LOWERED.get(id(sch))
    if hit is not None and hit[0] is sch and hit[1] == key:
        func, source, fname, em = hit[2]          # the schedule has not changed: same source
    else:
        func = lower(sch, args, name, vector_bits=tgt.vector_bits, masked_tails=tgt.masked_tails,
                     lane_ops=tgt.lane_ops, narrow_lanes=getattr(tgt, "narrow_lanes", False),
                     float_vectors=getattr(tgt, "float_vectors", True))
        em = tgt.emitter(func)
        source, fname = em.emit()
        if len(_LOWERED) >= 64:
            _LOWERED.pop(next(iter(_LOWERED)))
        _LOWERED[id(sch)] = (sch, key, (func, source, fname, em), list(args))
    outputs = set()
    for b, t in zip(func.args, args):
        st = sch[t]
        if st.is_output or st.op.__class__.__name__ == "ComputeOp":
            outputs.add(id(b))
    harness = getattr(tgt, "harness", None)
    if harness is not None:     # a CPU this host cannot run: emulator harness (harness.py)
        return harness.module(func, source, fname, tgt.name, outputs,
                              uses_parallel=em.uses_parallel, checks=em.checks)
    path, _ = compile_shared(source, tgt.flags)
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


def avx512_native():
    """True when AVX-512 kernels run natively: the CPU has every extension they are compiled
    for, and TEXPR_AVX512_EMULATE=1 does not ask for the SIMDe path."""
    if _avx512_emulate_forced():
        return False
    return all(host_has(f) for f in ("avx512f", "avx512bw", "avx512dq", "avx512vl"))


def _avx512_emulate_forced():
    return os.environ.get("TEXPR_AVX512_EMULATE", "").strip().lower() in ("1", "true", "yes", "on")


def _avx512_target():
    """AVX-512: native on a CPU that has it, else the same source through SIMDe (on AVX2)."""
    from .x86.avx512 import AVX512Emitter
    if avx512_native():
        # VNNI (vpdpbusd, the int8 micro-kernels of intrin.py) where the CPU has it
        vnni = ["-mavx512vnni"] if host_has("avx512_vnni") else []
        return Target("avx512", AVX512Emitter, BASE_FLAGS + AVX512_FLAGS + vnni, 512,
                      note="native", masked_tails=True)
    why = "TEXPR_AVX512_EMULATE=1" if _avx512_emulate_forced() else "this CPU has no AVX-512"
    if host_has("avx2") and host_has("fma"):
        flags, note = ["-DTEXPR_SIMDE", "-mavx2", "-mfma"], f"SIMDe emulation on an AVX2 host, {why}"
    else:
        flags, note = ["-DTEXPR_SIMDE"], f"SIMDe emulation in portable C, {why}"
    return Target("avx512", AVX512Emitter, BASE_FLAGS + flags, 512, note=note, masked_tails=True)


def compile_check_avx512(source, cc="gcc", extra_flags=()):
    """Compile generated source for real AVX-512 (-O2 -S with the avx512 flags, no SIMDe) and
    return the assembly; raises BuildError unless it compiles and uses zmm registers.
    extra_flags: e.g. ["-mavx512vnni"] for a kernel with VNNI micro-kernels."""
    import re
    import subprocess
    import tempfile
    from ..errors import BuildError
    with tempfile.TemporaryDirectory() as d:
        src, asm = os.path.join(d, "kernel.c"), os.path.join(d, "kernel.s")
        with open(src, "w") as f:
            f.write(source)
        cmd = ([cc, "-O2", "-std=gnu11", "-fopenmp", "-Wno-psabi"] + AVX512_FLAGS + list(extra_flags)
               + ["-S", "-o", asm, src])
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise BuildError(f"{cc} -S for AVX-512 failed:\n{' '.join(cmd)}\n{r.stderr[-4000:]}")
        with open(asm) as f:
            text = f.read()
    if not re.search(r"%zmm\d", text):
        raise BuildError("the AVX-512 assembly uses no zmm register")
    return text


def _neon_target():
    """AArch64 NEON: native (cffi) on an AArch64 host, else a static program under qemu-aarch64."""
    import platform
    from .runtime.harness import AARCH64_LINUX, NEON_MARCH
    from .arm.neon import NEONEmitter
    t = Target("neon", NEONEmitter, BASE_FLAGS + [NEON_MARCH], 128)
    if platform.machine().lower() not in ("aarch64", "arm64"):
        t.harness = AARCH64_LINUX
        t.note = "runs under qemu-aarch64"
    return t


def _hvx_target():
    """Hexagon HVX (v67, 128-byte vectors): a freestanding static program under qemu-hexagon."""
    from .hexagon.harness import HEXAGON_LINUX, HVX_CFLAGS
    from .hexagon.emitter import HVXEmitter
    t = Target("hvx", HVXEmitter, HVX_CFLAGS, 1024, note="runs under qemu-hexagon",
               masked_tails=True)
    t.narrow_lanes = True   # saturating narrowings run in narrow lanes (vadd:sat, vpack:sat)
    t.float_vectors = False  # v67 HVX has no float vectors: float loops run on the scalar core
    t.harness = HEXAGON_LINUX
    return t
