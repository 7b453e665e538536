"""What a target is: one frozen record of its capabilities, read by every pass and emitter.

A Target says how wide its vectors are, which features the lowering may use, how its source is
compiled and how a built kernel runs. The records of the built-in targets (and any a user
registers) live in one registry, `texpr.targets.registry`; this module holds only the record so
that every layer, lowering included, can read it.

Features (strings in `Target.features`):

- ``masked_tails``: masked vector loads/stores, so a vectorized loop's tail is predicated
  vector code instead of a lane-by-lane loop (AVX-512, HVX).
- ``masked_wide_tails``: the same for 128- and 256-bit vectors of 32- and 64-bit elements
  only (AVX2's vmaskmovps/pd, vpmaskmovd/q under a vector mask), in kernels of symbolic
  sizes; a tail that accesses other vectors stays a loop part of its own, run lane by lane
  (`Target.masked_access`), and so do the constant tails of constant-size kernels (an exact
  narrower vector: AMD's masked stores are slow; lower/pipeline.py `_masks`).
- ``lane_ops``: vector shifts, bitwise operators and lane-dependent compare + select.
- ``float_vectors``: a float vector unit (HVX v67 has none: float loops stay scalar).
- ``narrow_lanes``: a saturating narrowing sets the lane count by its narrow type (HVX).
- ``fma``: fused multiply-add (a*b + c); ``fmsub``: a*b - c (x86); ``fnmadd``: c - a*b (NEON).
- ``widening_mul``: integer multiplies of half-width vectors into full-width ones (NEON, HVX).
- ``saturating``: saturating narrowings and additions (HVX).
- ``dot_int8``: an int8 dot-product instruction (vpmaddwd on AVX2, vpdpbusd, sdot, vrmpy).
- ``fp16_arithmetic``: float16 + - * / min max, comparisons and multiply-adds in float16
  itself (NEON armv8.2-a+fp16: 8 lanes a vector), not widened to float32.
- ``dot_bf16``: a bfloat16 pair dot product into float32 lanes (NEON BFDOT, AVX-512
  vdpbf16ps): the bf16 micro-kernels of targets/half_intrin.py.
- ``vector_popcount``: a popcount per 64-bit lane (AVX-512 VPOPCNTDQ): the bit-serial
  popcount GEMM counts with it (targets/intrin.py popcount_dot_u64) rather than by nibble table
  lookups (lut_intrin.py). Native AVX-512 where the CPU lists avx512_vpopcntdq (Ice Lake, Zen
  4 and later); not through SIMDe by default (its emulated count is slower than the lookups),
  where the option "-vpopcntdq=on" still turns it on for tests.
- ``warp_shuffle``: cross-thread reductions through warp shuffles (CUDA).
- ``vector_math``: texpr's own float32 exp, log, tanh, erf, pow, sin, ... (targets/vecmath):
  vectorized loops call them in vectors, scalar code the same algorithm in scalars, and the
  `fast=True` variants exist (AVX2, AVX-512, NEON; elsewhere libm / the GPU's math).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

KNOWN_FEATURES = frozenset({"masked_tails", "masked_wide_tails", "lane_ops", "float_vectors", "narrow_lanes", "fma",
                            "fmsub", "fnmadd", "widening_mul", "saturating", "dot_int8",
                            "warp_shuffle", "vector_math", "fp16_arithmetic",
                            "dot_bf16", "vector_popcount"})

#: how `parallel` loops run: texpr's own thread pool, or OpenMP pragmas (libgomp)
PARALLEL_RUNTIMES = ("texpr", "openmp")


@dataclass(frozen=True)
class GPULimits:
    """The launch limits a GPU lowering checks a schedule against."""
    max_threads_per_block: int = 1024
    max_block_dim: tuple = (("threadIdx.x", 1024), ("threadIdx.y", 1024), ("threadIdx.z", 64))
    max_shared_bytes: int = 48 * 1024
    warp_size: int = 32

    def block_dim(self, tag: str) -> int:
        return dict(self.max_block_dim)[tag]


@dataclass(frozen=True)
class Target:
    """One target's capabilities, toolchain and way of running (see the module docstring).

    family: "c", "x86", "arm", "hexagon" or "gpu". vector_registers: how many the ISA has (a
    register tile must leave room for its operands). runs: "native" (cffi in this process),
    "emulator" (a static program under qemu: `harness`), "opencl" or "cuda".
    emitter: the class that turns a lowered function into source (None: lowering only).
    l1d_bytes, l2_bytes, l3_bytes, fma_units: the memory hierarchy and FMA issue rate the
    schedules size their blocks by (topi.cpu.CpuInfo) when the kernel does not run on this
    host (a cross target); a target that runs here reads the host instead (targets/host.py).
    The defaults are a typical current core: 32 KiB L1d, 512 KiB L2, 8 MiB L3, two FMAs a cycle.
    fp_contract: whether a float a*b + c of the user's expressions may become one fused
    multiply-add (one rounding: faster, but not NumPy's result in the last bit). False keeps
    NumPy's rounding: instruction selection makes no FusedMulAdd and the C compiler gets
    -ffp-contract=off (CPU targets; `get_target("avx2 -fp-contract=off")` names it).
    size_classes: whether a schedule's size classes (Schedule.specialize, topi's for symbolic
    shapes) are built: False keeps the one generic kernel (the fallback schedule), the
    smallest code for a symbolic shape, slower at the sizes a class served
    (`get_target("c -size-classes=off")`; an exported bundle's kernels built so).
    parallel_runtime: what runs `parallel` loops: "texpr" (texpr's thread pool,
    targets/runtime/pool.c; the built-in targets that run in this process) or "openmp"
    (`#pragma omp parallel for`; the emulated targets, and TEXPR_PARALLEL_RUNTIME=openmp).

    >>> from texpr.targets import get_target
    >>> t = get_target("avx2")
    >>> t.family, t.vector_bits, "fma" in t.features, t.is_gpu
    ('x86', 256, True, False)
    """
    name: str
    family: str
    vector_bits: int
    features: frozenset = frozenset()
    vector_registers: int = 16
    flags: tuple = ()
    runs: str = "native"
    note: str = ""
    emitter: type | None = field(default=None, compare=False)
    harness: object = field(default=None, compare=False)
    gpu: GPULimits | None = None
    l1d_bytes: int = 32 * 1024
    l2_bytes: int = 512 * 1024
    l3_bytes: int = 8 * 1024 * 1024
    fma_units: int = 2
    fp_contract: bool = True
    parallel_runtime: str = "openmp"
    size_classes: bool = True

    def __post_init__(self):
        unknown = set(self.features) - KNOWN_FEATURES
        if unknown:
            from .errors import TexprError
            raise TexprError(f"target {self.name!r}: unknown features {sorted(unknown)}; "
                             f"known: {sorted(KNOWN_FEATURES)}")
        if self.parallel_runtime not in PARALLEL_RUNTIMES:
            from .errors import TexprError
            raise TexprError(f"target {self.name!r}: parallel_runtime must be one of "
                             f"{list(PARALLEL_RUNTIMES)}, got {self.parallel_runtime!r}")
        object.__setattr__(self, "features", frozenset(self.features))
        object.__setattr__(self, "flags", _with_contract_flag(tuple(self.flags),
                                                              self.fp_contract))
        if not self.fp_contract and self.gpu is not None:
            from .errors import TexprError
            raise TexprError(f"target {self.name!r}: fp_contract=False applies to CPU targets "
                             "(a GPU compiler contracts by its own flags)")

    def has(self, feature: str) -> bool:
        """True when the target has `feature` (one of KNOWN_FEATURES).

        >>> import texpr as te
        >>> te.target.GENERIC.has("float_vectors"), te.target.GENERIC.has("fma")
        (True, False)
        """
        return feature in self.features

    def masked_access(self, element_bits: int, vector_bits: int) -> bool:
        """Whether a vector of `vector_bits` made of `element_bits`-wide elements has masked
        loads and stores here (features masked_tails: every vector; masked_wide_tails: AVX2's
        128- and 256-bit vectors of 32- or 64-bit elements).

        >>> import texpr as te
        >>> t = te.target.GENERIC.with_(features={"masked_wide_tails"})
        >>> t.masked_access(32, 256), t.masked_access(16, 256), t.masked_access(32, 64)
        (True, False, False)
        """
        if "masked_tails" in self.features:
            return True
        return "masked_wide_tails" in self.features and element_bits in (32, 64) \
            and vector_bits in (128, 256)

    @property
    def masks_tails(self) -> bool:
        """Whether some vector has masked loads and stores (masked_tails, masked_wide_tails).

        >>> import texpr as te
        >>> te.target.GENERIC.masks_tails
        False
        >>> te.target.GENERIC.with_(features={"masked_wide_tails"}).masks_tails
        True
        """
        return bool(self.features & {"masked_tails", "masked_wide_tails"})

    @property
    def is_gpu(self) -> bool:
        """Whether the target is a GPU (has launch limits: cuda, opencl).

        >>> import texpr as te
        >>> te.target.GENERIC.is_gpu
        False
        """
        return self.gpu is not None

    def with_(self, **changes: Any) -> Target:
        """A copy with some fields changed (a target variant: `avx2.with_(vector_bits=128)`).

        >>> import texpr as te
        >>> narrow = te.target.GENERIC.with_(vector_bits=128)
        >>> narrow.vector_bits, te.target.GENERIC.vector_bits
        (128, 256)
        """
        return replace(self, **changes)


def _with_contract_flag(flags, fp_contract):
    """The compiler flags with -ffp-contract=off exactly when contraction is off (so that
    `with_(fp_contract=...)` both ways gives the flags of the record it describes)."""
    flags = tuple(f for f in flags if not f.startswith("-ffp-contract="))
    return flags if fp_contract else flags + ("-ffp-contract=off",)


#: What `lower()` assumes when no target is given: 256-bit vectors of a portable C target
#: without lane operations (the loop program a reader sees first).
GENERIC = Target("generic", "c", 256, frozenset({"float_vectors"}))
