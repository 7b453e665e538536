"""Tensor intrinsics (micro-kernels) of the 16-bit floats: float16 GEMM tiles for NEON,
bfloat16 pair dot products for NEON (BFDOT) and AVX-512 (vdpbf16ps), bfloat16 matrix tiles
for NEON (BFMMLA).

`gemm_fp16` is `targets/intrin.gemm_fp32`'s register tile in float16: 8 lanes a NEON register,
so the same tile of mr x nv vectors holds twice the outputs and each FMLA does twice the work
(half the instructions per output: benchmarks/numerics.py counts them in the assembly). The
products are summed in float16 (acc="float16": FMLA .8h, one rounding per step, as the declared
sum computes it with fp16_arithmetic) or in float32 (acc="float32": each weight vector widened
with FCVTL, FMLA .4s: exact products, float32 sums).

`dot_bf16` is `dot_int8`'s shape for pairs: out[r, j] (+)= sum_k a[r, k] * b[k // 2, j, k % 2]
in float32, the weights packed [kc/2, lanes, 2]. BFDOT and vdpbf16ps sum each pair of exact
products into the accumulator with their own rounding (round to odd inside, denormals
flushed): within a few float32 ULPs of the sequential float32 sum, not bit-exact.

`gemm_bf16_mmla` is the register tile of NEON BFMMLA (2 x 4 rows times 4 x 2 weights per
instruction): rows in pairs, weights in [k/4, columns/2, 2, 4] blocks, the same rounding as
BFDOT (ARM's pseudocode: two BFDotAdd steps per output), twice the multiply-adds an instruction.
"""
from ..errors import TexprError
from ..lang.reduction import sum as te_sum
from ..lang.tensor import compute, placeholder, reduce_axis
from ..lang.intrin import decl_tensor_intrin
from .intrin import _by_rows, _need_unit, register_tile

#: the NEON architecture of BFDOT, enabled per kernel (the neon target is armv8.2-a+fp16)
BF16_NEON_PRAGMA = '#pragma GCC target("arch=armv8.6-a+fp16+dotprod+bf16")'

#: vdpbf16ps where the compiler targets AVX512-BF16 or SIMDe emulates it; else the same sum
#: as two FMAs of the widened even and odd halves (any AVX-512 CPU)
DPBF16_HELPER = """#if defined(__AVX512BF16__) || defined(TEXPR_SIMDE)
#define TEXPR_DPBF16(acc, a, b) ((acc) = _mm512_dpbf16_ps((acc), (__m512bh)(a), (__m512bh)(b)))
#else
#define TEXPR_DPBF16(acc, a, b) ((acc) = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512((a), _mm512_set1_epi32((int)0xffff0000u))), _mm512_castsi512_ps(_mm512_and_si512((b), _mm512_set1_epi32((int)0xffff0000u))), _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32((a), 16)), _mm512_castsi512_ps(_mm512_slli_epi32((b), 16)), (acc))))
#endif"""

#: the last n (< 4) bfloat16 of two rows in the low lanes of each half of a BFMMLA operand,
#: zeros above (copied from memory, not a constant vector: GCC 12 -O3 miscompiles BFDOT with a
#: constant bf16 operand)
BF16_ROWS_TAIL = """#ifndef TEXPR_BF16_ROWS_TAIL
#define TEXPR_BF16_ROWS_TAIL
static inline bfloat16x8_t texpr_bf16_rows_tail(const uint16_t* r0, const uint16_t* r1, int n) {
  uint64_t lo = 0, hi = 0;
  memcpy(&lo, r0, 2 * n);
  memcpy(&hi, r1, 2 * n);
  return vreinterpretq_bf16_u64(vcombine_u64(vcreate_u64(lo), vcreate_u64(hi)));
}
#endif"""


def gemm_fp16(mr, nr, kc, acc="float16", name=None):
    """C[mr, nr] (+)= A[mr, kc] @ B[kc, nr] of float16 A and B, summed in `acc` (float16 or
    float32); B rows contiguous (packed panels). NEON (armv8.2-a+fp16) only; nr a multiple of
    8. A tile with fewer than mr valid rows runs the kernel specialised for its row count.
    """
    if acc not in ("float16", "float32"):
        raise TexprError(f"gemm_fp16: acc must be float16 or float32, got {acc!r}")
    if nr % 8:
        raise TexprError(f"gemm_fp16: nr={nr} must be a multiple of 8 (float16 lanes of NEON)")
    a = placeholder((mr, kc), "float16", "a")
    b = placeholder((kc, nr), "float16", "b")
    k = reduce_axis((0, kc), "k")
    c = compute((mr, nr), lambda i, j: te_sum(a[i, k].astype(acc) * b[k, j].astype(acc), axis=k),
                name="c")
    who = name or f"gemm_fp16_{acc}_{mr}x{nr}x{kc}"
    if acc == "float16":
        neon = register_tile(who, mr, kc, nr // 8, "float16x8_t", 8, lambda p: f"vld1q_f16({p})",
                             lambda p, x: f"vst1q_f16({p}, {x});", lambda s: f"vdupq_n_f16({s})",
                             lambda a_, b_, c_: f"vfmaq_f16({c_}, {a_}, {b_})", "vdupq_n_f16(0)",
                             elem=("float16_t", "float16_t"))
    else:
        def widen(nv):      # each 8 halves widened into two float32 vectors (FCVTL, FCVTL2)
            return [x for h in range(nv // 2) for x in (
                f"float16x8_t h{h} = vld1q_f16(bk + {8 * h});",
                f"float32x4_t b{2 * h} = vcvt_f32_f16(vget_low_f16(h{h}));",
                f"float32x4_t b{2 * h + 1} = vcvt_high_f32_f16(h{h});")]
        neon = register_tile(who, mr, kc, nr // 4, "float32x4_t", 4, lambda p: f"vld1q_f32({p})",
                             lambda p, x: f"vst1q_f32({p}, {x});",
                             lambda s: f"vdupq_n_f32((float){s})",
                             lambda a_, b_, c_: f"vfmaq_f32({c_}, {a_}, {b_})", "vdupq_n_f32(0.0f)",
                             elem=("float16_t", "float"), load_b=widen)
    return decl_tensor_intrin(c.op, {"neon": neon}, name=who, inputs=[a, b], partial_axes=(0,))


def dot_bf16(kc, lanes=16, rows=1, name=None):
    """out[r, j] (+)= sum_k float32(a[r, k]) * float32(b[k // 2, j, k % 2]), r < rows,
    j < lanes: bfloat16 activations and weights packed [kc/2, lanes, 2] (each output's pair
    contiguous), float32 sums. NEON BFDOT (armv8.6-a, lanes a multiple of 4) and AVX-512
    vdpbf16ps (lanes a multiple of 16). Each weight vector loaded serves all rows."""
    if kc % 2:
        raise TexprError(f"dot_bf16: kc={kc} must be even (pairs of bfloat16)")
    if lanes % 4:
        raise TexprError(f"dot_bf16: lanes={lanes} must be a multiple of 4")
    a = placeholder((rows, kc), "bfloat16", "a")
    b = placeholder((kc // 2, lanes, 2), "bfloat16", "b")
    kg = reduce_axis((0, kc // 2), "kg")
    kk = reduce_axis((0, 2), "kk")
    c = compute((rows, lanes), lambda r, j: te_sum(
        a[r, kg * 2 + kk].astype("float32") * b[kg, j, kk].astype("float32"), axis=[kg, kk]),
        name="c")
    who = name or f"dot_bf16_{rows}x{lanes}x{kc}"

    def kernel(ins, outs, width, vec, load_w, load_c, store_c, zero, bcast, step, helpers):
        A, B = ins
        (C,) = outs
        _need_unit(A, 1, who)
        _need_unit(C, 1, who)
        if B.strides[2] != "1" or B.strides[1] != "2":
            raise TexprError(f"{who}: weights must be packed [kc/2][{lanes}][2] contiguously "
                             f"(got strides {B.strides})")
        nv = lanes // width

        def parts(n_rows):
            accs = [[f"acc{r}_{v}" for v in range(nv)] for r in range(n_rows)]
            cptr = [[f"{C.ptr} + {r} * ({C.strides[0]}) + {width * v}" for v in range(nv)]
                    for r in range(n_rows)]
            lines = [f"{vec} {', '.join(x for row in accs for x in row)};"]
            load = [f"{accs[r][v]} = {load_c(cptr[r][v])};" for r in range(n_rows) for v in range(nv)]
            zeros = [f"{x} = {zero};" for row in accs for x in row]
            loop = [f"for (int kg = 0; kg < {kc // 2}; ++kg) {{",
                    f"  const uint16_t* bk = (const uint16_t*)({B.ptr} + kg * ({B.strides[0]}));"]
            loop += [f"  {load_w(f'bk + {2 * width * v}', v)}" for v in range(nv)]
            for r in range(n_rows):
                loop.append(f"  {{ uint32_t a2; memcpy(&a2, {A.ptr} + {r} * ({A.strides[0]}) + 2 * kg, 4);")
                loop.append(f"    {bcast('a2')}")
                loop += [f"    {step(accs[r][v], f'b{v}')};" for v in range(nv)]
                loop.append("  }")
            loop.append("}")
            save = [store_c(cptr[r][v], accs[r][v]) for r in range(n_rows) for v in range(nv)]
            return {"body": "\n".join(lines + zeros + loop + save),
                    "update": "\n".join(lines + load + loop + save),
                    "reset": "\n".join(store_c(cptr[r][v], zero)
                                       for r in range(n_rows) for v in range(nv))}
        code = _by_rows(C.extents[0] if C.extents else None, rows, parts)
        code["helpers"] = helpers
        return code

    def neon(ins, outs):
        return kernel(ins, outs, 4, "float32x4_t",
                      lambda p, v: f"bfloat16x8_t b{v} = vreinterpretq_bf16_u16(vld1q_u16({p}));",
                      lambda p: f"vld1q_f32({p})", lambda p, x: f"vst1q_f32({p}, {x});",
                      "vdupq_n_f32(0.0f)",
                      lambda x: f"bfloat16x8_t av = vreinterpretq_bf16_u32(vdupq_n_u32({x}));",
                      lambda c_, b_: f"{c_} = vbfdotq_f32({c_}, av, {b_})", BF16_NEON_PRAGMA)

    def avx512(ins, outs):
        return kernel(ins, outs, 16, "__m512",
                      lambda p, v: f"__m512i b{v} = _mm512_loadu_si512((const void*)({p}));",
                      lambda p: f"_mm512_loadu_ps({p})", lambda p, x: f"_mm512_storeu_ps({p}, {x});",
                      "_mm512_setzero_ps()", lambda x: f"__m512i av = _mm512_set1_epi32((int){x});",
                      lambda c_, b_: f"TEXPR_DPBF16({c_}, av, {b_})", DPBF16_HELPER)

    impls = {"neon": neon}
    if lanes % 16 == 0:
        impls["avx512"] = avx512
    return decl_tensor_intrin(c.op, impls, name=who, inputs=[a, b], partial_axes=(0,))


def gemm_bf16_mmla(mr, nr, kc, name=None):
    """C[mr, nr] (+)= A[mr, kc] @ B in float32 of bfloat16 A and weights B packed
    [ceil(kc/4), nr/2, 2, 4] (b[k // 4, j // 2, j % 2, k % 4]: each 2 columns x 4 k block one
    register); NEON BFMMLA (armv8.6-a), nr a multiple of 4.

    One BFMMLA multiplies a 2 x 4 block of A (rows taken in pairs, each row's 4 k values one
    half of the register) by a 4 x 2 block of B into a 2 x 2 float32 accumulator [c00 c01 c10
    c11]: 16 multiply-adds an instruction, twice BFDOT's. Its rounding is BFDOT's (each output
    sums two pair products into the accumulator per pair, round to odd, denormals flushed), so
    the bound is dot_bf16's. The accumulators are de-interleaved (zip of their 64-bit halves)
    when stored. A k tail (kc % 4) reads only A's kc columns (the rest zero) and masks B's
    unused slots; an odd last row is paired with itself and only its own row stored."""
    if nr % 4 or nr <= 0:
        raise TexprError(f"gemm_bf16_mmla: nr={nr} must be a positive multiple of 4 (two 2-column "
                         "BFMMLA blocks a 4-float store)")
    if mr <= 0 or kc <= 0:
        raise TexprError(f"gemm_bf16_mmla: mr={mr} and kc={kc} must be positive")
    kq, tail = kc // 4, kc % 4
    a = placeholder((mr, kc), "bfloat16", "a")
    b = placeholder(((kc + 3) // 4, nr // 2, 2, 4), "bfloat16", "b")
    k = reduce_axis((0, kc), "k")
    c = compute((mr, nr), lambda i, j: te_sum(
        a[i, k].astype("float32") * b[k // 4, j // 2, j % 2, k % 4].astype("float32"), axis=k),
        name="c")
    who = name or f"gemm_bf16_mmla_{mr}x{nr}x{kc}"
    nq = nr // 2

    def neon(ins, outs):
        A, B = ins
        (C,) = outs
        _need_unit(A, 1, who)
        _need_unit(C, 1, who)
        if [str(x) for x in B.strides[1:]] != ["8", "4", "1"]:
            raise TexprError(f"{who}: weights must be packed [ceil(kc/4)][{nq}][2][4] "
                             f"contiguously (got strides {B.strides})")

        def row(r):
            return f"{A.ptr} + {r} * ({A.strides[0]})"

        def crow(r):
            return f"{C.ptr} + {r} * ({C.strides[0]})"

        def parts(n_rows):
            pairs = [(2 * p, min(2 * p + 1, n_rows - 1)) for p in range((n_rows + 1) // 2)]
            acc = [[f"acc{p}_{q}" for q in range(nq)] for p in range(len(pairs))]
            decl = [f"float32x4_t {', '.join(x for r in acc for x in r)};"]
            zeros = [f"{x} = vdupq_n_f32(0.0f);" for r in acc for x in r]
            # the update interleaves C's rows as the accumulators hold them (an unpaired
            # row is loaded twice; its copy is not stored)
            load = [f"{acc[p][q]} = vcombine_f32(vld1_f32({crow(r0)} + {2 * q}), "
                    f"vld1_f32({crow(r1)} + {2 * q}));"
                    for p, (r0, r1) in enumerate(pairs) for q in range(nq)]

            def step(a_of, b_of):
                lines = [f"  bfloat16x8_t b{q} = {b_of(q)};" for q in range(nq)]
                for p, (r0, r1) in enumerate(pairs):
                    lines.append(f"  {{ bfloat16x8_t av = {a_of(r0, r1)};")
                    lines += [f"    {acc[p][q]} = vbfmmlaq_f32({acc[p][q]}, av, b{q});"
                              for q in range(nq)]
                    lines.append("  }")
                return lines
            loop = [f"for (int kq = 0; kq < {kq}; ++kq) {{",
                    f"  const uint16_t* bk = (const uint16_t*)({B.ptr} + kq * ({B.strides[0]}));"]
            loop += step(lambda r0, r1: "vreinterpretq_bf16_u16(vcombine_u16("
                         f"vld1_u16((const uint16_t*)({row(r0)}) + 4 * kq), "
                         f"vld1_u16((const uint16_t*)({row(r1)}) + 4 * kq)))",
                         lambda q: f"vreinterpretq_bf16_u16(vld1q_u16(bk + {8 * q}))")
            loop.append("}")
            if tail:
                # A's last kc % 4 columns into zeroed halves (no read past column kc), B's
                # slots past kc masked off: the tail computes exactly the declared sum
                mask = (1 << 16 * tail) - 1
                loop += ["{", f"  const uint16_t* bk = (const uint16_t*)({B.ptr} + {kq} * "
                         f"({B.strides[0]}));",
                         f"  uint16x8_t keep = vreinterpretq_u16_u64(vdupq_n_u64({mask}ull));"]
                loop += step(lambda r0, r1: "texpr_bf16_rows_tail("
                             f"(const uint16_t*)({row(r0)}) + {4 * kq}, "
                             f"(const uint16_t*)({row(r1)}) + {4 * kq}, {tail})",
                             lambda q: "vreinterpretq_bf16_u16("
                             f"vandq_u16(vld1q_u16(bk + {8 * q}), keep))")
                loop.append("}")
            save = []
            for p, (r0, r1) in enumerate(pairs):
                for q in range(0, nq, 2):
                    halves = (f"vreinterpretq_f64_f32({acc[p][q]}), "
                              f"vreinterpretq_f64_f32({acc[p][q + 1]})")
                    for r, zip_ in ((r0, "vzip1q_f64"), (r1, "vzip2q_f64"))[:1 + (r1 != r0)]:
                        save.append(f"vst1q_f32({crow(r)} + {2 * q}, "
                                    f"vreinterpretq_f32_f64({zip_}({halves})));")
            return {"body": "\n".join(decl + zeros + loop + save),
                    "update": "\n".join(decl + load + loop + save)}
        code = _by_rows(C.extents[0] if C.extents else None, mr, parts)
        code["helpers"] = BF16_NEON_PRAGMA + ("\n" + BF16_ROWS_TAIL if tail else "")
        return code

    return decl_tensor_intrin(c.op, {"neon": neon}, name=who, inputs=[a, b], partial_axes=(0,))
