"""C of the 16-bit float conversions (float16, bfloat16 <-> float32 / float64).

float16 is C's _Float16 (GCC: F16C instructions with -mf16c, libgcc's soft-float otherwise),
so its conversions are C casts. bfloat16 has no portable C type: it is kept as its bits
(uint16_t) and converted by bit manipulation. Widening is exact (the bits shifted left 16);
narrowing rounds to nearest even on the bits, and a NaN stays a NaN (quiet, its sign kept),
as ml_dtypes does. Scalar and vector helpers are the same algorithm, so a loop's scalar tail
equals its vector lanes bit for bit. float64 narrows to bfloat16 in one rounding: it is first
rounded to odd in float32 (exact for the 8 bits bfloat16 keeps), then to nearest even.
"""

#: scalar helpers: name -> C definition
SCALAR = {
    "texpr_bf16_to_f32": (
        "static inline float texpr_bf16_to_f32(uint16_t h) { uint32_t u = (uint32_t)h << 16; "
        "float f; memcpy(&f, &u, sizeof f); return f; }"),
    "texpr_f32_to_bf16": (
        "static inline uint16_t texpr_f32_to_bf16(float f) { uint32_t u; memcpy(&u, &f, sizeof u); "
        "if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); "
        "return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16); }"),
    "texpr_f64_to_bf16": (
        # round to odd into float32: truncate toward zero, then set the last bit if inexact
        "static inline uint16_t texpr_f64_to_bf16(double d) { float f = (float)d; "
        "if (d != d || (double)f == d) return texpr_f32_to_bf16(f); "
        "if (fabs((double)f) > fabs(d)) f = nextafterf(f, 0.0f); "
        "uint32_t u; memcpy(&u, &f, sizeof u); u |= 1u; memcpy(&f, &u, sizeof f); "
        "return texpr_f32_to_bf16(f); }"),
}

#: what each scalar helper calls
SCALAR_NEEDS = {"texpr_f64_to_bf16": ("texpr_f32_to_bf16",)}


def widen_bf16_vector(n, vf, vh, vu):
    """C of texpr_widen_bfloat16x<n>: a bfloat16 vector (vh) to float32 (vf); vu: uint32 lanes."""
    return (f"static inline {vf} texpr_widen_bfloat16x{n}({vh} h) {{ "
            f"{vu} u = __builtin_convertvector(h, {vu}) << 16; {vf} f; memcpy(&f, &u, sizeof f); "
            f"return f; }}")


def narrow_bf16_vector(n, vf, vh, vu):
    """C of texpr_narrow_bfloat16x<n>: float32 lanes rounded to nearest even bfloat16 (as
    texpr_f32_to_bf16, lane by lane)."""
    return (f"static inline {vh} texpr_narrow_bfloat16x{n}({vf} f) {{ {vu} u; "
            f"memcpy(&u, &f, sizeof u); {vu} r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16; "
            f"{vu} q = (u >> 16) | 0x40u; {vu} nan = ({vu})((u & 0x7fffffffu) > 0x7f800000u); "
            f"return __builtin_convertvector((r & ~nan) | (q & nan), {vh}); }}")
