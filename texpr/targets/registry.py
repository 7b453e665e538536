"""The one registry of targets: a frozen Target record per name (texpr/target.py).

Built-in records are made on first use, because some depend on the host: `avx512` runs
natively on a CPU with AVX-512 and through SIMDe elsewhere, `neon` natively on AArch64 and
under qemu-aarch64 elsewhere, and `native` is the best vector ISA the CPU executes. A user
registers a variant in a few lines:

    avx2 = get_target("avx2")
    register_target(avx2.with_(name="avx2-128", vector_bits=128))
"""
import os
import platform

from ..errors import TexprError
from ..target import KNOWN_FEATURES, PARALLEL_RUNTIMES, GPULimits, Target

# -fno-tree-loop-distribution: GCC 12.2's loop distribution miscompiles a pattern tensorized
# tails produce (a loop that, on its first iteration only, zeroes a row and then accumulates
# into it: the zeroing is moved after the accumulations; clang and GCC -O2 get it right; see
# tests/targets/test_targets.py::test_gcc_loop_distribution_workaround). Signed index
# arithmetic is not wrapped (no -fwrapv) so GCC can vectorize it; data arithmetic wraps in the
# C itself.
# -fno-tree-loop-if-convert: GCC 12.2 -O3 -mavx2 turns two lane-by-lane loops of
# `O[i] = A[i] < C[i] ? B[i] : k` (int64, texpr's fallback for an 8-lane select on AVX2) into
# masked loads of B and gives the second loop the first one's mask (lanes read as 0); see
# tests/lang/test_expression_properties.py. In the benchmarks' kernels the flag changes a handful
# of instructions (571 kernels compiled both ways: 14 differ, by 0-13 of 200-18000 instructions).
BASE_FLAGS = ("-O3", "-std=gnu11", "-fopenmp", "-fno-strict-aliasing", "-fno-tree-loop-distribution",
              "-fno-tree-loop-if-convert", "-Wno-psabi")
AVX512_FLAGS = ("-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mfma")
CPU_FEATURES = frozenset({"lane_ops", "float_vectors"})

_HOST_FLAGS = None


def parallel_runtime():
    """The parallel runtime of the built-in targets that run in this process:
    TEXPR_PARALLEL_RUNTIME ("texpr", the default: texpr's thread pool; or "openmp")."""
    v = os.environ.get("TEXPR_PARALLEL_RUNTIME", "").strip().lower() or "texpr"
    if v not in PARALLEL_RUNTIMES:
        raise TexprError(f"TEXPR_PARALLEL_RUNTIME={v!r}: expected one of {list(PARALLEL_RUNTIMES)}")
    return v


def kernel_flags(target):
    """The compiler flags of a kernel of `target`: its flags, with OpenMP's runtime left out
    (`-fopenmp-simd`: only its simd pragmas) when texpr's thread pool runs parallel loops."""
    if target.parallel_runtime == "openmp":
        return list(target.flags)
    flags = ["-fopenmp-simd" if f == "-fopenmp" else f for f in target.flags]
    if "-DTEXPR_SIMDE" in flags:    # SIMDe keeps its `omp simd` loops (it reads _OPENMP)
        flags.append("-DSIMDE_ENABLE_OPENMP")
    return flags


def host_has(flag):
    """True when /proc/cpuinfo lists `flag` (e.g. "avx2", "avx512f")."""
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


def avx512_native():
    """True when AVX-512 kernels run natively: the CPU has every extension they are compiled
    for, and TEXPR_AVX512_EMULATE=1 does not ask for the SIMDe path."""
    if _avx512_emulate_forced():
        return False
    return all(host_has(f) for f in ("avx512f", "avx512bw", "avx512dq", "avx512vl"))


def _avx512_emulate_forced():
    return os.environ.get("TEXPR_AVX512_EMULATE", "").strip().lower() in ("1", "true", "yes", "on")


def _c():
    from .c.emitter import CEmitter
    return Target("c", "c", 256, CPU_FEATURES, 16, BASE_FLAGS, emitter=CEmitter,
                  parallel_runtime=parallel_runtime())


def _avx2():
    from .x86.avx2 import AVX2Emitter
    # masked_wide_tails: vmaskmov / vpmaskmov tails of 32- and 64-bit elements
    return Target("avx2", "x86", 256, CPU_FEATURES | {"fma", "fmsub", "dot_int8", "vector_math",
                                                     "masked_wide_tails"}, 16,
                  BASE_FLAGS + ("-mavx2", "-mfma"), emitter=AVX2Emitter,
                  parallel_runtime=parallel_runtime())


def _avx512():
    """AVX-512: native on a CPU that has it, else the same source through SIMDe (on AVX2)."""
    from .x86.avx512 import AVX512Emitter
    # dot_bf16: vdpbf16ps where the CPU (or SIMDe) has it, two FMAs elsewhere (half_intrin.py)
    features = CPU_FEATURES | {"fma", "fmsub", "dot_int8", "masked_tails", "vector_math",
                               "dot_bf16"}
    if avx512_native():
        # VNNI (vpdpbusd, the int8 micro-kernels of intrin.py) where the CPU has it
        vnni = ("-mavx512vnni",) if host_has("avx512_vnni") else ()
        vnni += ("-mavx512bf16",) if host_has("avx512_bf16") else ()
        if host_has("avx512_vpopcntdq"):      # vpopcntq: the bit-serial popcount GEMM
            vnni += ("-mavx512vpopcntdq",)
            features |= {"vector_popcount"}
        return Target("avx512", "x86", 512, features, 32, BASE_FLAGS + AVX512_FLAGS + vnni,
                      note="native", emitter=AVX512Emitter, parallel_runtime=parallel_runtime())
    why = "TEXPR_AVX512_EMULATE=1" if _avx512_emulate_forced() else "this CPU has no AVX-512"
    if host_has("avx2") and host_has("fma"):
        flags, note = ("-DTEXPR_SIMDE", "-mavx2", "-mfma"), f"SIMDe emulation on an AVX2 host, {why}"
    else:
        flags, note = ("-DTEXPR_SIMDE",), f"SIMDe emulation in portable C, {why}"
    return Target("avx512", "x86", 512, features, 32, BASE_FLAGS + flags, note=note,
                  emitter=AVX512Emitter, parallel_runtime=parallel_runtime())


def _neon():
    """AArch64 NEON: native (cffi) on an AArch64 host, else a static program under qemu-aarch64."""
    from .arm.neon import NEONEmitter
    from .runtime.harness import AARCH64_LINUX, NEON_MARCH
    t = Target("neon", "arm", 128, CPU_FEATURES | {"fma", "fnmadd", "widening_mul", "dot_int8",
                                            "vector_math", "fp16_arithmetic"},
               32, BASE_FLAGS + (NEON_MARCH,), emitter=NEONEmitter,
               # a Neoverse-N1 / Cortex-A76 class core
               l1d_bytes=64 * 1024, l2_bytes=1024 * 1024, l3_bytes=8 * 1024 * 1024, fma_units=2)
    if platform.machine().lower() not in ("aarch64", "arm64"):
        # the harness is a static program linked with libgomp: OpenMP pragmas
        return t.with_(runs="emulator", harness=AARCH64_LINUX, note="runs under qemu-aarch64")
    return t.with_(parallel_runtime=parallel_runtime())


def _hvx():
    """Hexagon HVX (v67, 128-byte vectors): a freestanding static program under qemu-hexagon.
    Saturating narrowings run in narrow lanes (vadd:sat, vpack:sat); v67 has no float vectors,
    so float loops run on the scalar core."""
    from .hexagon.emitter import HVXEmitter
    from .hexagon.harness import HEXAGON_LINUX, HVX_CFLAGS
    return Target("hvx", "hexagon", 1024, {"lane_ops", "masked_tails", "narrow_lanes", "dot_int8",
                                           "widening_mul", "saturating"}, 32,
                  HVX_CFLAGS, runs="emulator", note="runs under qemu-hexagon", emitter=HVXEmitter,
                  harness=HEXAGON_LINUX,
                  # v67: 32 KiB L1d, 1 MiB L2 (the last level; HVX reads it directly)
                  l1d_bytes=32 * 1024, l2_bytes=1024 * 1024, l3_bytes=1024 * 1024, fma_units=1)


def _cuda():
    from .gpu.cuda import CUDAEmitter
    return Target("cuda", "gpu", 32, {"warp_shuffle"}, runs="cuda", emitter=CUDAEmitter,
                  gpu=GPULimits())


def _opencl():
    from .gpu.opencl import OpenCLEmitter
    return Target("opencl", "gpu", 32, (), runs="opencl", emitter=OpenCLEmitter, gpu=GPULimits())


_BUILTIN = {"c": _c, "avx2": _avx2, "avx512": _avx512, "neon": _neon, "hvx": _hvx, "cuda": _cuda,
            "opencl": _opencl}
_REGISTERED = {}


def register_target(target, override=False):
    """Make `target` (a Target record) available to te.build/te.lower/topi under its name."""
    if not isinstance(target, Target):
        raise TexprError(f"register_target expects a texpr.Target record, got {target!r}")
    if target.emitter is None:
        raise TexprError(f"target {target.name!r} has no emitter: start from a built-in record "
                         f"(get_target(...).with_(name=...))")
    if not override and (target.name in _BUILTIN or target.name in _REGISTERED
                         or target.name == "native"):
        raise TexprError(f"a target named {target.name!r} exists; pass override=True to replace")
    _REGISTERED[target.name] = target
    return target


#: options a target name may carry after a space: "-option=value" -> (Target field, values)
#: "-bf16=on" adds the dot_bf16 feature (NEON: BFDOT, an armv8.6-a instruction the neon
#: target's armv8.2-a cores lack; kernels using it enable the architecture themselves);
#: "-vpopcntdq=on|off": vector_popcount (AVX-512 VPOPCNTDQ; "on" without the CPU's extension
#: compiles the kernels' fallback, except through SIMDe, which emulates it)
TARGET_OPTIONS = {"-fp-contract": ("fp_contract", {"on": True, "off": False}),
                  "-bf16": ("dot_bf16", {"on": True, "off": False}),
                  "-vpopcntdq": ("vector_popcount", {"on": True, "off": False}),
                  "-size-classes": ("size_classes", {"on": True, "off": False})}


def get_target(name):
    """The Target record for a name ("c", "avx2", "avx512", "neon", "hvx", "cuda", "opencl",
    "native" or a registered one), optionally followed by options (TARGET_OPTIONS:
    "avx2 -fp-contract=off" keeps NumPy's float rounding); a Target record is returned as it
    is."""
    if isinstance(name, Target):
        return name
    if not isinstance(name, str):
        raise TexprError(f"target must be a string or a texpr.Target, got {name!r}")
    if " " in name.strip():
        return _with_options(name)
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name == "native":
        # the best vector ISA this CPU executes natively (never an emulated one)
        if avx512_native():
            best = "avx512"
        elif host_has("avx2") and host_has("fma"):
            best = "avx2"
        else:
            best = "c"
        return get_target(best).with_(note=f"native = {best}")
    make = _BUILTIN.get(name)
    if make is None:
        known = ", ".join(list(_BUILTIN) + ["native"] + list(_REGISTERED))
        raise TexprError(f"unknown target {name!r}; available: {known}")
    return make()


def _with_options(text):
    """get_target of "name -option=value ...": the named record with the options' fields."""
    base, *options = text.split()
    changes = {}
    for opt in options:
        key, _, value = opt.partition("=")
        known = TARGET_OPTIONS.get(key)
        if known is None or value not in known[1]:
            allowed = "; ".join(f"{k}={'|'.join(v)}" for k, (_, v) in TARGET_OPTIONS.items())
            raise TexprError(f"target {text!r}: unknown option {opt!r}; options: {allowed}")
        changes[known[0]] = known[1][value]
    target = get_target(base)
    for feature in [f for f in changes if f in KNOWN_FEATURES]:    # options naming features
        on = changes.pop(feature)
        changes["features"] = (target.features | {feature}) if on else \
            (target.features - {feature})
    return target.with_(**changes) if changes else target
