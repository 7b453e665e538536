"""HVX float vectors (qfloat, Hexagon v68+): emitted and compile-checked only.

HVX v67 has no float vector arithmetic, so target "hvx" runs float code on the scalar core.
v68 added *qfloat*: float32 lanes in an internal format (`qf32`) that the adds, subtracts and
multiplies produce, converted back to IEEE float32 (`sf`) with `Q6_Vsf_equals_Vqf32`.
This module emits such code for float32 x 32 vectors and compiles it with
`-mv68 -mhvx -mhvx-qfloat`; it **cannot run here**: QEMU 7.2 emulates Hexagon up to v67
(a v68 program fails with "unable to find CPU model"). Use it to see and check the code.
"""
import re

from ...errors import BuildError
from ...lower import lower
from ...lang.ir import Broadcast
from ...target import Target
from ..c.emitter import unparen
from ..toolchain import compile_to_assembly
from .emitter import HVXEmitter

QFLOAT_FLAGS = ["--target=hexagon", "-mv68", "-mhvx", "-mhvx-length=128b", "-mhvx-qfloat", "-O2",
                "-ffreestanding", "-fno-strict-aliasing", "-Wno-unknown-pragmas"]
CANNOT_RUN = ("compile-check only: qfloat needs Hexagon v68, and QEMU 7.2 emulates v67 at most "
              "(it cannot run this code)")
F32 = "float32x32"


class HVXQFloatEmitter(HVXEmitter):
    """HVXEmitter plus float32 x 32 vectors on the v68 qfloat instructions."""
    target_name = "hvx"

    def _is_f32(self, dt):
        return dt == F32

    def fv(self, e):
        if isinstance(e, Broadcast) and self._is_f32(e.dtype):
            self.helper("qf_splat", "static inline HVX_Vector texpr_qf_splat(float x) { "
                        "union { float f; int32_t i; } u = { x }; return Q6_V_vsplat_R(u.i); }")
            return f"texpr_qf_splat({unparen(self.expr(e.value))})"
        self.ty(F32)
        return f"(HVX_Vector)({unparen(self.expr(e))})"

    def vector_binop(self, e):
        if not self._is_f32(e.dtype):
            return super().vector_binop(e)
        t = self.ty(F32)
        a, b = self.fv(e.a), self.fv(e.b)
        if e.op in ("+", "-", "*"):
            name = {"+": "vadd", "-": "vsub", "*": "vmpy"}[e.op]
            return f"(({t})Q6_Vsf_equals_Vqf32(Q6_Vqf32_{name}_VsfVsf({a}, {b})))"
        if e.op in ("min", "max"):
            return f"(({t})Q6_Vsf_v{e.op}_VsfVsf({a}, {b}))"
        return super().vector_binop(e)


#: HVX v68+ with qfloat: like the hvx target, but float loops vectorize (compile-checked only)
QFLOAT = Target("hvx-qfloat", "hexagon", 1024, {"lane_ops", "masked_tails", "float_vectors",
                                                "widening_mul", "saturating"},
                note="compile check only (QEMU 7.2 has no v68)", emitter=HVXQFloatEmitter)


def qfloat_source(sch, args, name="main"):
    """The C source of a schedule for HVX with qfloat float vectors (float32 x 32 lanes)."""
    func = lower(sch, args, name, target=QFLOAT)
    src, _ = QFLOAT.emitter(func).emit()
    return src


def compile_check_qfloat(sch, args, name="main"):
    """Compile the qfloat source for v68 (-S); returns (source, assembly).

    Raises BuildError unless clang accepts it and the assembly uses qf32 instructions.
    """
    src = qfloat_source(sch, args, name)
    asm = compile_to_assembly(src, QFLOAT_FLAGS, "clang", what="clang (v68 qfloat)")
    if not re.search(r"\.qf32", asm):
        raise BuildError("the v68 assembly has no qf32 instruction (no float vector was emitted)")
    return src, asm
