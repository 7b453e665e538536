"""te.build: lower a schedule, emit source for a target, compile it and load it."""
from ..lang.errors import TexprError
from ..lower import lower
from ..schedule.schedule import Schedule
from .c_emitter import CEmitter
from .module import Module
from .toolchain import compile_shared

BASE_FLAGS = ["-O3", "-std=gnu11", "-fopenmp", "-fno-strict-aliasing", "-Wno-psabi"]


def host_has(flag):
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return flag in line.split()
    except OSError:
        pass
    return False


class Target:
    def __init__(self, name, emitter, flags, vector_bits, note=""):
        self.name = name
        self.emitter = emitter
        self.flags = flags
        self.vector_bits = vector_bits
        self.note = note


def get_target(name):
    if not isinstance(name, str):
        raise TexprError(f"target must be a string, got {name!r}")
    if name == "native":
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
        from .avx2_emitter import AVX2Emitter
        return Target("avx2", AVX2Emitter, BASE_FLAGS + ["-mavx2", "-mfma"], 256)
    known = "c, avx2, native"
    if name in ("avx512", "neon", "hvx", "cuda", "opencl"):
        raise TexprError(f"target {name!r} is not implemented yet; available: {known}")
    raise TexprError(f"unknown target {name!r}; available: {known}")


def build(sch, args, target="native", name="main"):
    """Compile a schedule into a callable Module for `target`."""
    if not isinstance(sch, Schedule):
        raise TexprError(f"build expects a Schedule (te.create_schedule), got {sch!r}")
    if not isinstance(name, str) or not name:
        raise TexprError(f"build: name must be a non-empty string, got {name!r}")
    tgt = get_target(target)
    func = lower(sch, args, name, vector_bits=tgt.vector_bits)
    em = tgt.emitter(func)
    source, fname = em.emit()
    path, _ = compile_shared(source, tgt.flags)
    outputs = set()
    for b, t in zip(func.args, args):
        st = sch[t]
        if st.is_output or st.op.__class__.__name__ == "ComputeOp":
            outputs.add(id(b))
    return Module(func, source, path, fname + "_entry", tgt.name, outputs, note=tgt.note,
                  uses_parallel=em.uses_parallel)
