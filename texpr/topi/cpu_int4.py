"""CPU schedule of topi.nn.dense_int4: blocks of output columns in parallel, each block one call
of a micro-kernel that unpacks the packed weight in registers.

float32 data (int4_dense_block, GCC vector extensions of L x 32 bits, L = 8: AVX2 ymm, two
NEON q registers; 16 on AVX-512, tile_lanes): 4 L bytes of a weight row are read at a time as
L 32-bit lanes; lane l holds the 8 values 8 l .. 8 l + 7 of a block of 8 L, and one mask per
step j = 0..7 leaves value 8 l + j in each lane, times 16^j (the top nibble is shifted down
instead): it is converted to float and multiplied with a copy of the data row whose L x 8
blocks are transposed, and scaled by 16^-j (exact), once per call (so no byte shuffles): an
and, a conversion and a multiply-add per L weights (the float exponent trick, or-ing a nibble
into 2^23's mantissa and subtracting, is one more instruction and measured 1.8x slower).
On x86 with 8 lanes (AVX2), on a machine that runs multiply-adds of denormal operands at full
speed (CpuInfo.denormal_fma: Zen 3 / Zen 4, measured; Intel cores take a microcode assist for
them), the conversion goes too (_bits_step_c): a masked nibble below bit
24, read as a float, is the denormal n * 2^(e - 149), exact, so the data row is scaled by
2^(k0 - e) instead (k0 from the row's largest value) and an and and a multiply-add per 8
weights remain, in an inline-assembly step that keeps the 4-row tile in the 16 ymm registers;
DAZ is cleared for the call (a caller's flush-to-zero mode would read the nibbles as 0).
On Zen 3 (512-row calls, data prologue included) 0.84 cycles per 8 weights against 0.93 with
the conversions, 0.97 against 1.08 with a group scale per 128: the loop is bound by
instructions issued (about 3.5 a cycle: the masks are shifted in a register, not loaded), not
by the FMA units; a group's scale and fresh accumulators cost the rest. Where AVX-512 runs
natively, with 16 lanes, the same step in zmm registers (EVEX vpandd / vmovdqu32; half the
instructions per weight; Zen 4 runs a zmm operation through both 256-bit halves, so the gain is
issue slots): dense_int4 4096 x 4096, groups of 128, 1 thread, CPU time on a loaded Zen 4 (EPYC
family 25 model 17): 0.470 ms against 0.533 ms with the 16-lane conversions and 0.563 ms for
the 8-lane (ymm) step of the AVX2 kernel.

int8 data (the same entry, `data_dtype="int8"`): the 32 bytes split into their low and high
nibbles as bytes, multiplied with the data's even- and odd-index bytes (copied apart once per
call) by u8 x s8 pair products summed in int16 (AVX2 vpmaddubsw: at most 2 x 15 x 128, no
saturation) and widened to int32 (vpmaddwd), or NEON sdot; the int32 sums of a group are exact,
converted and scaled once per group: about 1.25 instructions per 8 weights.

The zero point (8 for signed int4, whose nibbles are flipped to 0..15 by an xor of the 32
bytes) is taken out once per group: each group's first accumulator starts at -z * sum x (in
lane 0), so the group's sum is scale * (sum x q' - z * sum x) with no correction after (the
x86 float32 step: once per row, sum_g scale * z * sum x, after its groups). Rows of the block are
register-tiled by INT4_TILE_ROWS, each with as many accumulators as the target's FMA units
need (CpuInfo), and the next tile's rows are prefetched while a tile runs (the weight streams
from memory or L3: four rows are four streams the hardware prefetchers lose at each row end).
"""
from ..errors import InternalError
from ..lang.intrin import decl_tensor_intrin
from ..lang.reduction import sum as te_sum
from ..lang.tensor import compute, placeholder, reduce_axis
from ..targets import get_target
from .int4 import INT4_DENSE_TAG, INT4_PACK_TAG, dense_int4_term
from .schedules import CPU_TARGETS, register
from .util import const_value

#: the most weight rows one micro-kernel call computes (the transposed data row is built once
#: for them)
INT4_BLOCK_ROWS = 2048
#: weight rows whose sums the micro-kernel keeps in registers at once
INT4_TILE_ROWS = 4
#: the longest K the micro-kernel takes (its transposed data row lives on the stack)
INT4_MAX_K = 16384
#: cycles of a float multiply-add's latency the accumulators of a tile hide (per FMA unit)
FMA_LATENCY = 4

_VEC_TYPES = """typedef unsigned int int4_v8u __attribute__((vector_size(32)));
typedef int int4_v8i __attribute__((vector_size(32)));
typedef float int4_v8f __attribute__((vector_size(32)));"""
_VEC16_TYPES = """typedef unsigned int int4_v16u __attribute__((vector_size(64)));
typedef int int4_v16i __attribute__((vector_size(64)));
typedef float int4_v16f __attribute__((vector_size(64)));"""


def _lane_sum(v, n):
    """C of the sum of the n lanes of vector v, pairwise (lane i with lane i + n / 2 first)."""
    terms = [f"{v}[{i}]" for i in range(n)]
    terms = [f"{terms[i]} + {terms[i + n // 2]}" for i in range(n // 2)]
    while len(terms) > 1:
        terms = [f"({terms[i]}) + ({terms[i + 1]})" for i in range(0, len(terms), 2)]
    return terms[0]


def _dot64_c(fn, signed, isa):
    """C of `{fn}_dot64(acc, w, xs)`: acc (8 x int32) + the products of the 64 values in the 32
    bytes at w (low nibble first) with the int8 data xs (their 32 even-index bytes, then the 32
    odd-index ones), exact; signed nibbles are flipped to 0..15 (xor 8, taken out per group)."""
    if isa == "neon":
        flip = ["  q0 = veorq_u8(q0, vdupq_n_u8(0x88)); q1 = veorq_u8(q1, vdupq_n_u8(0x88));"] \
            if signed else []
        return "\n".join([
            f"static inline int4_v8i {fn}_dot64(int4_v8i acc, const unsigned char *w, "
            "const signed char *xs) {",
            "  int32x4_t a0, a1;",
            "  __builtin_memcpy(&a0, &acc, 16); __builtin_memcpy(&a1, (char *)&acc + 16, 16);",
            "  uint8x16_t q0 = vld1q_u8(w), q1 = vld1q_u8(w + 16);", *flip,
            "  const uint8x16_t m = vdupq_n_u8(15);",
            "  a0 = vdotq_s32(a0, vreinterpretq_s8_u8(vandq_u8(q0, m)), vld1q_s8(xs));",
            "  a1 = vdotq_s32(a1, vreinterpretq_s8_u8(vandq_u8(q1, m)), vld1q_s8(xs + 16));",
            "  a0 = vdotq_s32(a0, vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vld1q_s8(xs + 32));",
            "  a1 = vdotq_s32(a1, vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), vld1q_s8(xs + 48));",
            "  __builtin_memcpy(&acc, &a0, 16); __builtin_memcpy((char *)&acc + 16, &a1, 16);",
            "  return acc;",
            "}"])
    flip = ["  q = _mm256_xor_si256(q, _mm256_set1_epi8((char)0x88));"] if signed else []
    return "\n".join([
        f"static inline int4_v8i {fn}_dot64(int4_v8i acc, const unsigned char *w, "
        "const signed char *xs) {",
        "  const __m256i m = _mm256_set1_epi8(15);",
        "  __m256i q = _mm256_loadu_si256((const __m256i *)w);", *flip,
        "  __m256i lo = _mm256_and_si256(q, m), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m);",
        "  /* u8 x s8 pairs in int16: |sum| <= 4 x 15 x 128, no saturation */",
        "  __m256i p = _mm256_add_epi16(",
        "      _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)xs)),",
        "      _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(xs + 32))));",
        "  return (int4_v8i)_mm256_add_epi32((__m256i)acc, "
        "_mm256_madd_epi16(p, _mm256_set1_epi16(1)));",
        "}"])


def _bits_step_c(rows, accs, signed, prefetch, n=1, order=None, lanes=8):
    """C (GCC inline assembly, AVX2; lanes = 16: AVX-512, zmm registers, EVEX forms) of n blocks
    of 8 x lanes values (blocks b .. b + n - 1) of `rows`
    weight rows on x86, float32 data: the nibbles are used as float bit patterns, no
    conversion. Value j of a lane masked in place (bits 4 j .. 4 j + 3, j < 6; j = 6, 7 after a
    shift by 24) is, read as a float, the denormal n * 2^(4 j - 149) (exact below 2^24); the
    data row is scaled by 2^(k0 - 4 j) to match (_bits_prologue_c), so an and and a multiply-add
    per 8 weights. The masks come from a register of 15s shifted by 4 (no loads: the loop is
    bound by instructions issued, about 3.5 a cycle on Zen 3, and each mask load is one);
    signed nibbles are flipped to 0..15 by an xor (8 is taken out as a zero point). Written in
    assembly because GCC spills the accumulators and masks of the 4-row tile (16 ymm registers
    in all); the n blocks are addressed by displacements from the same pointers. No vmulps: on
    Zen 3 a multiply of a denormal is microcoded (10x slower), a multiply-add is not. `order`:
    (block, accumulator) in the order run, where each block sums into one accumulator (two
    groups at once, _bits_tile_c); else blocks 0 .. n - 1, value j into accumulator j % accs."""
    R = range(rows)
    vb = 4 * lanes                      # bytes of a block of one row: a vector
    wide = lanes == 16                  # zmm: EVEX moves and logic, any of the 32 registers
    mov, pand, pxor, reg = ("vmovdqu32", "vpandd", "vpxord", "v") if wide else \
        ("vmovdqu", "vpand", "vpxor", "x")
    prefetch = prefetch and rows == 4   # the next tile's rows 4 .. 7 (past the block's end at
    A = []                              # its last tile: a prefetch never faults)
    for i, k in order or [(i, None) for i in range(n)]:
        W = [f"{vb * i}({a})" for a in ("%[w]", "%[w],%[wr]", "%[w],%[wr],2", "%[w3]")]
        P = [f"{vb * i}({a})" for a in ("%[w3],%[wr]", "%[w3],%[wr],2", "%[w6]", "%[w3],%[wr],4")]
        A += [f"{mov} {W[q]}, %[q{q}]" for q in R]
        A += [f"{pxor} %[flip], %[q{q}], %[q{q}]" for q in R if signed]
        # a line: 2 blocks of 8 lanes, 1 of 16
        A += [f"prefetcht0 {P[q]}" for q in R if prefetch and (wide or i % 2 == 0)]
        for j in range(8):
            mask = "%[low]" if j in (0, 6) else "%[m]"      # low: 15 in each lane
            if j == 6:
                A += [f"vpsrld $24, %[q{q}], %[q{q}]" for q in R]
            elif j in (1, 7):
                A.append("vpslld $4, %[low], %[m]")
            elif j:
                A.append("vpslld $4, %[m], %[m]")
            A.append(f"vmovaps {8 * vb * i + vb * j}(%[x]), %[xj]")
            for q in R:
                A += [f"{pand} {mask}, %[q{q}], %[t]",
                      f"vfmadd231ps %[xj], %[t], %[a{q}_{j % accs if k is None else k}]"]
    outs = [f'[a{q}_{a}] "+{reg}"(a{q}_{a})' for q in R for a in range(accs)]
    outs += [f'[{v}] "=&{reg}"({v})' for v in [f"q{q}" for q in R] + ["m", "t", "xj"]]
    ins = ['[w] "r"(wb)', '[wr] "r"(w_row)', f'[x] "r"(xt + b * {8 * lanes})']
    ins += ['[w3] "r"(wb + 3 * w_row)'] if rows > 3 else []
    ins += ['[w6] "r"(wb + 6 * w_row)'] if prefetch else []
    ins += [f'[low] "{reg}"(low)'] + (['[flip] "m"(flip)'] if signed else [])
    lines = [f'      "{a}\\n\\t"' for a in A]
    return [f"    const unsigned char *wb = w + r * w_row + b * {vb};",
            f"    int4_v{lanes}u " + ", ".join([f"q{q}" for q in R] + ["m", "t"]) +
            f"; int4_v{lanes}f xj;",
            "    __asm__(" + lines[0].lstrip()] + lines[1:] + [
            f"      : {', '.join(outs)}",
            f"      : {', '.join(ins)}",
            '      : "memory");']


def _tile_c(fn, rows, nb, K, gs, signed, scale_1d, accs, int8, lanes=8, prefetch=True):
    """C statements: the sums of `rows` weight rows from row r (with `prefetch`, the next
    tile's rows prefetched, or this tile's own where it is the last one); float32 data in
    vectors of `lanes` 32-bit lanes (blocks of 8 x lanes values)."""
    lanes = 8 if int8 else lanes
    G, blocks, vf, vi = K // gs, gs // (8 * lanes), f"int4_v{lanes}f", f"int4_v{lanes}i"
    R = range(rows)
    s_at = "s[(r + {q}) * s_row]" if scale_1d else "s[(r + {q}) * s_row + g * s_g]"
    z_at = "z[(r + {q}) * z_row]" if scale_1d else "z[(r + {q}) * z_row + g * z_g]"
    A = 1 if int8 else accs
    acc_t = vi if int8 else vf
    # the zero point's share z * sum(x) of the group starts the first accumulator (lane 0;
    # exact for int8 data)
    z_of = "8" if signed else ("(int)" if int8 else "(float)") + z_at
    L = [f"{vf} " + ", ".join(f"tot{q} = {{0}}" for q in R) + ";",
         f"for (int g = 0; g < {G}; ++g) {{",
         f"  {acc_t} " + ", ".join(
             f"a{q}_{a} = {{" + (f"-{z_of.format(q=q)} * sx[g]" if a == 0 else "0") + "}"
             for q in R for a in range(A)) + ";",
         f"  for (int b = g * {blocks}; b < (g + 1) * {blocks}; ++b) {{"]
    if prefetch:
        L.insert(1, f"const unsigned char *pw = w + (r + {2 * rows} <= {nb} ? r + {rows} : r) * w_row;")
        L += [f"    __builtin_prefetch(pw + {q} * w_row + b * {4 * lanes});" for q in R]
    if int8:
        L += [f"    a{q}_0 = {fn}_dot64(a{q}_0, w + (r + {q}) * w_row + b * 32, xs + b * 64);"
              for q in R]
    else:
        L.append(f"    const float *xb = xt + b * {8 * lanes};")
        for q in R:
            L.append(f"    int4_v{lanes}u q{q}; __builtin_memcpy(&q{q}, w + (r + {q}) * w_row + "
                     f"b * {4 * lanes}, {4 * lanes});")
            if signed:
                L.append(f"    q{q} ^= 0x88888888u;")
        for j in range(8):
            L.append(f"    {{ {vf} xj = *(const {vf} *)(xb + {lanes * j});")
            for q in R:
                # value 8 l + j times 2^(4 j) (the data row is scaled by 2^-4j); the top nibble
                # is shifted down (its mask would set the sign bit)
                nib = f"(q{q} >> 28)" if j == 7 else f"(q{q} & 0x{15 << 4 * j:x}u)"
                L.append(f"      a{q}_{j % A} += xj * __builtin_convertvector(({vi}){nib}, {vf});")
            L.append("    }")
    L.append("  }")
    for q in R:
        sq = s_at.format(q=q)
        part = f"__builtin_convertvector(a{q}_0, {vf})" if int8 else \
            "(" + " + ".join(f"a{q}_{a}" for a in range(A)) + ")"
        L.append(f"  tot{q} += {part} * {sq};")
    L.append("}")
    for q in R:
        L.append(f"c[(r + {q}) * c_col] = {_lane_sum(f'tot{q}', lanes)};")
    return "\n".join("    " + x for x in L)


def _bits_tile_c(rows, K, gs, signed, scale_1d, accs, prefetch=True, lanes=8):
    """_tile_c of the x86 float32 micro-kernel (_bits_step_c, 8 or 16 lanes): its sums are
    scaled by 2^(k0 - 149) (`back` undoes it); the zero point's share z * sum x is taken out
    once per row at the end (a dot of the row's scales with the group sums), not per group."""
    G, blocks, vf = K // gs, gs // (8 * lanes), f"int4_v{lanes}f"
    R = range(rows)
    s_at = "s[(r + {q}) * s_row]" if scale_1d else "s[(r + {q}) * s_row + g * s_g]"
    z_at = "z[(r + {q}) * z_row]" if scale_1d else "z[(r + {q}) * z_row + g * z_g]"
    z_of = "8.0f" if signed else "(float)" + z_at
    L = [f"{vf} " + ", ".join(f"tot{q} = {{0}}" for q in R) + ";",
         "float " + ", ".join(f"zs{q} = 0" for q in R) + ";"]
    zero = f"  {vf} " + ", ".join(f"a{q}_{a} = {{0}}" for q in R for a in range(accs)) + ";"
    if accs == 2 and blocks <= 2 and G % 2 == 0:
        # two groups per statement, one accumulator each (blocks interleaved, so that each
        # accumulator's chain has the other's block to overlap): a group's end is one
        # multiply-add per row, not an add, a multiply-add and a fresh pair of accumulators
        order = [(i + blocks * k, k) for i in range(blocks) for k in (0, 1)]
        L += [f"for (int g = 0; g < {G}; g += 2) {{", zero, "  {",
              f"    const int b = g * {blocks};"]
        L += _bits_step_c(rows, accs, signed, prefetch, order=order, lanes=lanes) + ["  }"]
        for q in R:
            L += [f"  tot{q} += a{q}_0 * s[(r + {q}) * s_row + g * s_g];",
                  f"  tot{q} += a{q}_1 * s[(r + {q}) * s_row + (g + 1) * s_g];"]
        L.append("}")
    else:
        L += [f"for (int g = 0; g < {G}; ++g) {{", zero]
        n = next(n for n in (4, 2, 1) if blocks % n == 0)      # blocks per asm statement
        L.append(f"  for (int b = g * {blocks}; b < (g + 1) * {blocks}; b += {n}) {{")
        L += _bits_step_c(rows, accs, signed, prefetch, n, lanes=lanes) + ["  }"]
        for q in R:
            L.append(f"  tot{q} += (" + " + ".join(f"a{q}_{a}" for a in range(accs)) +
                     f") * {s_at.format(q=q)};")
        L.append("}")
    L.append(f"for (int g = 0; g < {G}; ++g) {{")
    L += [f"  zs{q} += {s_at.format(q=q)} * {z_of.format(q=q)} * sx[g];" for q in R]
    L.append("}")
    for q in R:
        L.append(f"c[(r + {q}) * c_col] = (float)((double)({_lane_sum(f'tot{q}', lanes)} - zs{q}) "
                 "* back);")
    return "\n".join("    " + x for x in L)


def _group_sums_c(G, gs, value):
    """C of the float32 data's group sums: sx[g] = `value` of t = the sum of group g (two
    vector chains, then the lanes pairwise: the same order on every path)."""
    return f"""  for (int g = 0; g < {G}; ++g) {{
    int4_v8f t0 = {{0}}, t1 = {{0}};
    for (int i = 0; i < {gs}; i += 16) {{
      int4_v8f u0, u1;
      __builtin_memcpy(&u0, x + g * {gs} + i, 32);
      __builtin_memcpy(&u1, x + g * {gs} + i + 8, 32);
      t0 += u0; t1 += u1;
    }}
    t0 += t1;
    const float t = ((t0[0] + t0[4]) + (t0[1] + t0[5])) + ((t0[2] + t0[6]) + (t0[3] + t0[7]));
    sx[g] = {value};
  }}"""


def _bits_transpose_c(K, lanes):
    """C of xt[b * 8 L + L j + l] = x[b * 8 L + 8 l + j] * f[j] (L = lanes): 8 x 8 transposes in
    shuffles for 8 lanes, a loop for 16 (GCC vectorizes it; a call's prologue either way)."""
    if lanes != 8:
        B = 8 * lanes
        return f"""  for (int b = 0; b < {K // B}; ++b)
    for (int j = 0; j < 8; ++j)
      for (int l = 0; l < {lanes}; ++l) xt[b * {B} + {lanes} * j + l] = x[b * {B} + 8 * l + j] * f[j];
"""
    return f"""  const int4_v8i lo = {{0, 8, 1, 9, 4, 12, 5, 13}}, hi = {{2, 10, 3, 11, 6, 14, 7, 15}},
                 s0 = {{0, 1, 8, 9, 4, 5, 12, 13}}, s1 = {{2, 3, 10, 11, 6, 7, 14, 15}},
                 p0 = {{0, 1, 2, 3, 8, 9, 10, 11}}, p1 = {{4, 5, 6, 7, 12, 13, 14, 15}};
  for (int b = 0; b < {K // 64}; ++b) {{               /* an 8 x 8 transpose per 64 values */
    int4_v8f v[8], t[8], u[8];
    __builtin_memcpy(v, x + b * 64, 256);
    for (int p = 0; p < 4; ++p) {{
      t[2 * p] = __builtin_shuffle(v[2 * p], v[2 * p + 1], lo);
      t[2 * p + 1] = __builtin_shuffle(v[2 * p], v[2 * p + 1], hi);
    }}
    for (int h = 0; h < 8; h += 4) {{
      u[h] = __builtin_shuffle(t[h], t[h + 2], s0);
      u[h + 1] = __builtin_shuffle(t[h], t[h + 2], s1);
      u[h + 2] = __builtin_shuffle(t[h + 1], t[h + 3], s0);
      u[h + 3] = __builtin_shuffle(t[h + 1], t[h + 3], s1);
    }}
    for (int j = 0; j < 4; ++j) {{
      *(int4_v8f *)(xt + b * 64 + 8 * j) = __builtin_shuffle(u[j], u[j + 4], p0) * f[j];
      *(int4_v8f *)(xt + b * 64 + 8 * j + 32) = __builtin_shuffle(u[j], u[j + 4], p1) * f[j + 4];
    }}
  }}
"""


def _bits_prologue_c(K, gs, lanes=8):
    """C of the per-call copies of the data row for _bits_step_c: xt transposed in lanes x 8
    blocks (_bits_transpose_c), value j of a lane's 8 scaled by 2^(k0 - e_j) (e_j = 4 j, j < 6;
    0, 4 for j = 6, 7: the bit
    of the nibble's lowest place), with k0 = 126 - the exponent of max |x| (at most 127), so
    that no scaled value overflows and the products x * n * 2^(k0 - 149) stay normal floats for
    any x above 2^-100 max |x|; the group sums scaled by 2^(k0 - 149) like the products, and
    `back` = 2^(149 - k0). DAZ (denormals read as zero) is cleared for the call."""
    G = K // gs
    flips, lows = ", ".join(["0x88888888u"] * lanes), ", ".join(["15u"] * lanes)
    return f"""  const unsigned int int4_csr = __builtin_ia32_stmxcsr();
  if (int4_csr & 0x40u) __builtin_ia32_ldmxcsr(int4_csr & ~0x40u);
  static const int4_v{lanes}u flip = {{{flips}}};
  const int4_v{lanes}u low = {{{lows}}};
  (void)flip;
  float xt[{K}] __attribute__((aligned({4 * lanes})));
  float sx[{G}];
  int4_v8f mx = {{0}};
  for (int i = 0; i < {K}; i += 8) {{
    int4_v8f u;
    __builtin_memcpy(&u, x + i, 32);
    u = (int4_v8f)((int4_v8u)u & 0x7fffffffu);
    int4_v8i gt = mx > u;
    mx = (int4_v8f)((gt & (int4_v8i)mx) | (~gt & (int4_v8i)u));
  }}
  float m = mx[0];
  for (int l = 1; l < 8; ++l) m = mx[l] > m ? mx[l] : m;
  unsigned int mb;
  __builtin_memcpy(&mb, &m, 4);
  const int ex = m > 0 ? (int)(mb >> 23) - 126 : 0;      /* m < 2^ex (a denormal m: k0 = 127) */
  const int k0 = 126 - ex < 127 ? 126 - ex : 127;
  static const int e_of[8] = {{0, 4, 8, 12, 16, 20, 0, 4}};
  float f[8];
  for (int j = 0; j < 8; ++j) {{                        /* 2^(k0 - e_j), in -22 .. 127 */
    const unsigned int fb = (unsigned int)(k0 - e_of[j] + 127) << 23;
    __builtin_memcpy(&f[j], &fb, 4);
  }}
{_bits_transpose_c(K, lanes)}  double to_sums, back;                                  /* 2^(k0 - 149), 2^(149 - k0) */
  const unsigned long long tb = (unsigned long long)(k0 - 149 + 1023) << 52,
                           bb = (unsigned long long)(149 - k0 + 1023) << 52;
  __builtin_memcpy(&to_sums, &tb, 8);
  __builtin_memcpy(&back, &bb, 8);
""" + _group_sums_c(G, gs, "(float)((double)t * to_sums)")


def _prologue_c(K, gs, int8, lanes=8, bits=False):
    """C of the per-call copies of the data row: float32 transposed in lanes x 8 blocks and
    scaled by 16^-j (xt; `bits`: _bits_prologue_c), or int8 split into even- and odd-index bytes
    per block of 64 (xs); and the group sums sx (exact for int8: at most 128 x 16384)."""
    if bits:
        return _bits_prologue_c(K, gs, lanes)
    G = K // gs
    if int8:
        return f"""  signed char xs[{K}] __attribute__((aligned(32)));
  int sx[{G}];
  for (int b = 0; b < {K // 64}; ++b)
    for (int i = 0; i < 32; ++i) {{
      xs[b * 64 + i] = x[b * 64 + 2 * i];
      xs[b * 64 + 32 + i] = x[b * 64 + 2 * i + 1];
    }}
  for (int g = 0; g < {G}; ++g) {{
    int t = 0;
    for (int i = 0; i < {gs}; ++i) t += x[g * {gs} + i];
    sx[g] = t;
  }}"""
    B = 8 * lanes
    return f"""  float xt[{K}] __attribute__((aligned({4 * lanes})));
  float sx[{G}];
  static const float pow16[8] = {{1.0f, 0x1p-4f, 0x1p-8f, 0x1p-12f, 0x1p-16f, 0x1p-20f,
                                  0x1p-24f, 1.0f}};
  for (int b = 0; b < {K // B}; ++b)
    for (int l = 0; l < {lanes}; ++l)
      for (int j = 0; j < 8; ++j) xt[b * {B} + {lanes} * j + l] = x[b * {B} + 8 * l + j] * pow16[j];
""" + _group_sums_c(G, gs, "t")


def tile_lanes(target, K, gs):
    """32-bit lanes of the float32 micro-kernel's vectors: the target's (CpuInfo), at least 8
    (two NEON registers per vector: the ILP of AVX2's), 16 at most; 8 where K or the group is
    not a multiple of 8 x lanes values."""
    from .cpu import CpuInfo
    lanes = min(16, max(8, CpuInfo(target).lanes))
    return lanes if K % (8 * lanes) == 0 and gs % (8 * lanes) == 0 else 8


def denormal_step_applies(target, lanes):
    """Whether the float32 micro-kernel reads the nibbles as denormals (_bits_step_c): on x86
    where the host runs multiply-adds of denormals at full speed (CpuInfo.denormal_fma), in 16
    lanes only where AVX-512 runs natively (its zmm assembly; SIMDe's AVX-512 runs on AVX2)."""
    from .cpu import CpuInfo
    info = CpuInfo(target)
    if not info.denormal_fma or info.name not in ("avx2", "avx512"):
        return False
    return lanes == 8 or (info.name == "avx512" and not info.emulated)


def tile_accumulators(target, rows=None):
    """float32 accumulators per tile row: enough independent multiply-add chains for the
    target's FMA units (CpuInfo: FMA_LATENCY in flight per unit), at most 2 (registers: the
    tile's rows, their packed words, a data vector and a temporary must fit 16)."""
    from .cpu import CpuInfo
    rows = rows or INT4_TILE_ROWS
    chains = FMA_LATENCY * CpuInfo(target).tile_fma_units
    return max(1, min(2, -(-chains // rows)))


def int4_dense_block(nb, K, gs, signed, scale_1d, rows=None, name=None, data_dtype="float32",
                     accs=2, lanes=8, denormal_step=False):
    """The micro-kernel of nb output columns of one data row of dense_int4 (whole K), as a
    TensorIntrin for avx2, avx512 and neon. K and gs must be multiples of 8 x lanes; data_dtype
    is float32 or int8 (always 8 lanes); accs: float32 accumulators per tile row
    (tile_accumulators); lanes: 32-bit lanes of the float32 data's vectors (8 or 16,
    tile_lanes). float32 data on x86 take the _bits_* step where `denormal_step`
    (denormal_step_applies: the machine runs multiply-adds of denormals at full speed): nibbles
    read as denormal floats, no conversion, in ymm assembly (8 lanes) or zmm (16 lanes, avx512
    only: a CPU that runs AVX-512 natively); else the conversion step."""
    rows = rows or INT4_TILE_ROWS
    int8 = data_dtype == "int8"
    lanes = 8 if int8 else lanes
    if lanes not in (8, 16) or K % (8 * lanes) or gs % (8 * lanes):
        raise InternalError(f"int4_dense_block: K={K}, group {gs} and {lanes} lanes: expected 8 "
                            "or 16 lanes and K, group multiples of 8 x lanes")
    G = K // gs
    x = placeholder((1, K), data_dtype, "x")
    w = placeholder((nb, K // 2), "uint8", "w")
    s = placeholder((nb,) if scale_1d else (nb, G), "float32", "s")
    z = None if signed else placeholder((nb,) if scale_1d else (nb, G), "uint8", "z")
    k = reduce_axis((0, K), "k")
    c = compute((nb,), lambda j: te_sum(dense_int4_term(lambda kk: x[0, kk], w, s, z, gs, j, k),
                                        axis=k), name="c")
    fn = name or (f"int4_dense_block_{nb}x{K}_g{gs}_{'s' if signed else 'z'}"
                  f"{'_pc' if scale_1d else ''}{'_i8' if int8 else ''}_r{rows}"
                  f"{'' if int8 or accs == 2 else f'_a{accs}'}{'' if lanes == 8 else f'_l{lanes}'}"
                  f"{'_dn' if denormal_step and not int8 else ''}")
    x_t = "signed char" if int8 else "float"

    def helper(isa):
        dot = _dot64_c(fn, signed, isa) + "\n" if int8 else ""
        types = _VEC_TYPES + ("\n" + _VEC16_TYPES if lanes == 16 else "")
        # 16 lanes: zmm assembly, AVX-512 only (avx2 runs the conversion step in two ymm)
        bits = denormal_step and isa in ("avx2", "avx512") and not int8 and (
            lanes == 8 or isa == "avx512")
        restore = "\n  if (int4_csr & 0x40u) __builtin_ia32_ldmxcsr(int4_csr);" if bits else ""

        def tile(n, prefetch):
            if bits:
                return _bits_tile_c(n, K, gs, signed, scale_1d, accs, prefetch, lanes)
            return _tile_c(fn, n, nb, K, gs, signed, scale_1d, accs, int8, lanes, prefetch)
        return f"""{types}
{dot}static void {fn}(const {x_t} *x, const unsigned char *w, long w_row, const float *s,
    long s_row, long s_g, const unsigned char *z, long z_row, long z_g, float *c, long c_col) {{
{_prologue_c(K, gs, int8, lanes, bits)}
  (void)s_g; (void)z; (void)z_row; (void)z_g;
  int r = 0;
  for (; r + {rows} <= {nb}; r += {rows}) {{
{tile(rows, prefetch=True)}
  }}
  for (; r < {nb}; ++r) {{
{tile(1, prefetch=False)}
  }}{restore}
}}"""

    def impl_for(isa):
        def impl(ins, outs):
            X, W, S = ins[:3]
            Z = ins[3] if len(ins) > 3 else None
            (C,) = outs
            for ref in (X, W):
                if ref.strides[1] != "1":
                    raise InternalError(f"{fn}: {ref.name} is read with stride {ref.strides[1]} "
                                        "along K; the micro-kernel reads it contiguously")
            s_g = "0" if scale_1d else S.strides[1]
            zargs = "0, 0, 0" if Z is None else \
                f"{Z.ptr}, {Z.strides[0]}, {'0' if scale_1d else Z.strides[1]}"
            return {"body": f"{fn}({X.ptr}, {W.ptr}, {W.strides[0]}, {S.ptr}, {S.strides[0]}, "
                            f"{s_g}, {zargs}, {C.ptr}, {C.strides[0]});",
                    "helpers": helper(isa)}
        return impl
    inputs = [x, w, s] + ([z] if z is not None else [])
    return decl_tensor_intrin(c.op, {t: impl_for(t) for t in ("avx2", "avx512", "neon")},
                              name=fn, inputs=inputs)


def _block_rows(N):
    """Rows per call: at most INT4_BLOCK_ROWS, dividing N, and blocks for two per thread where N
    allows (the threads texpr's runtime runs parallel loops with, TEXPR_NUM_THREADS or the
    cores: each call copies the data row once, so fewer and larger blocks where threads are
    few)."""
    from .cpu import parallel_units
    sizes = [b for b in (2048, 1024, 512, 256, 128, 64, 32, 16, 8, 4, 2, 1)
             if b <= INT4_BLOCK_ROWS and N % b == 0]
    return next((b for b in sizes if N // b >= 2 * parallel_units() or b <= 32), sizes[-1])


def micro_kernel_for(st, target):
    """(block rows, intrinsic) for this dense_int4 stage on `target`, or None."""
    if get_target(target).name not in ("avx2", "avx512", "neon"):
        return None
    attrs = st.op.attrs
    K = const_value(st.op.reduce_axis[0].dom.extent)
    N = const_value(st.op.axis[1].dom.extent)
    gs = attrs["group_size"]
    if K is None or N is None or K % 64 or gs % 64 or K > INT4_MAX_K:
        return None
    nb = _block_rows(N)
    lanes = tile_lanes(target, K, gs)
    return nb, int4_dense_block(nb, K, gs, attrs["signed"], attrs["scale_1d"],
                                data_dtype=attrs["data_dtype"],
                                accs=tile_accumulators(target), lanes=lanes,
                                denormal_step=denormal_step_applies(target, lanes))


@register(INT4_DENSE_TAG, CPU_TARGETS)
def schedule_dense_int4(s, st, target):
    i, j = st.op.axis
    (k,) = st.op.reduce_axis
    found = micro_kernel_for(st, target)
    if found is None:                           # plain loops: columns in parallel
        st.reorder(j, i, k)
        st.parallel(j)
        return None
    nb, intrin = found
    jo, ji = st.split(j, factor=nb)
    st.reorder(jo, i, ji, k)
    st.tensorize(ji, intrin)
    st.parallel(jo)
    return None


@register(INT4_PACK_TAG, CPU_TARGETS)
def schedule_pack_int4(s, st, target):
    """Rows in parallel (a byte is two loads and a store: nothing to tile)."""
    st.parallel(st.op.axis[0])
    return None
