"""A popcount GEMM by table lookups (AVX2): c[i, j] = sum_k popcount(a[i, k] & b[j, k]) over
64-bit words, the bit-serial dense's product, with one vpshufb per 4 bits of 32 rows x 2
columns where the nibble popcount of a & b costs 6 instructions per 256 bits of one pair
(popcount_dot_u64).

The data rows' nibbles are transposed so that a 32-byte vector holds one nibble position of
32 rows. Two weight columns' nibbles (a, b) at that position select one of 256 tables, t[v] =
popcount(a & v) + 16 popcount(b & v), broadcast to both lanes; vpshufb looks the 32 rows up
in it at once, both columns' counts in one byte. Three steps' lookups add in bytes (each
count at most 12: no carry between the nibbles), the sum s goes into one byte accumulator F
and s >> 4 in 16-bit lanes (hi_even + 16 lo_odd | hi_odd) into another, H; after 63 steps
(every count at most 252) the four sums of a 16-bit lane follow mod 256 from F and H
(hi_odd = H >> 8, lo_odd = F_odd - 16 hi_odd, hi_even = H_even - 16 lo_odd, lo_even = F_even -
16 hi_even) and add into 16-bit sums (widened to int32 after 63 chunks of 16 words and at
the end). Per 3 steps x 2 columns x 32 rows: 3 shuffles, 5 adds
and a multiply (the shift by vpmulhuw: vpsrlw would take the shuffles' two pipes on Zen 3),
where one table per column took 6 shuffles and 6 adds. The byte adds are one-instruction asm
statements: written as intrinsics, GCC computes each sum into the shuffle's register and
copies it back."""
from ..errors import TexprError
from ..lang.intrin import decl_tensor_intrin
from .intrin import _need_unit, popcount_dot_decl

#: rows per vector (bytes of a 256-bit register)
ROWS = 32
#: row vectors and weight columns of one step (VECTORS x COLUMNS byte accumulators)
VECTORS = 2
COLUMNS = 4
#: words transposed at a time (their nibbles fill 16 * CHUNK steps)
CHUNK = 16
#: chunks summed in 16-bit lanes before they are widened to int32 (at most 64 a word each)
WIDEN_CHUNKS = 0xffff // 64 // CHUNK
#: columns sharing one table (two counts in a byte: the low and the high nibble)
PAIRS = COLUMNS // 2
#: steps whose lookups add before their nibbles are split (at most 4 each: 12 < 16)
GROUP = 3
#: steps summed in bytes before widening (at most 4 a step in each count; whole groups)
BYTE_STEPS = 63
#: steps of a chunk past its last one (zero nibbles: they count nothing) to fill a group
PAD_STEPS = GROUP - 1


def _pair_count(i):
    """Entry i of the tables: 16 bytes for the nibbles (a, b) = (i // 16 % 16, i // 256) of two
    weight columns, entry v = popcount(a & v) + 16 popcount(b & v)."""
    v, a, b = i % 16, i // 16 % 16, i // 256
    return bin(a & v).count("1") + 16 * bin(b & v).count("1")


_TABLES = ", ".join(str(_pair_count(i)) for i in range(4096))
HELPERS = ("static const uint8_t texpr_nibble_pair_counts[4096] __attribute__((aligned(16))) = "
           f"{{{_TABLES}}};")


def _transpose(v, A, partial):
    """x4[v][16 k + g] (g: nibble from the top of word k0 + k) for the 32 rows of vector v:
    rows in the order byte b of the vector holds row 4 (b % 16 / 2) + 2 (b / 16) + b % 2.
    Four words of four rows at a time (contiguous loads, a 4 x 4 transpose of 64-bit cells)
    give each word's rows 4m .. 4m+3 in one vector y[word][m]; then per word the bytes of
    each row pair are interleaved and an 8 x 8 transpose of 16-bit cells leaves byte p of
    every row in one vector."""
    lines = ["for (int k = 0; k < nw; k += 4) {",
             f"  const uint64_t* a = {A.ptr} + {ROWS * v} * ({A.strides[0]}) + k0 + k;",
             "  __m256i y[4][8];",
             "  for (int m = 0; m < 8; ++m) {"]
    for i in range(4):      # (rows past a partial tile's valid ones: zero, never read)
        load = f"_mm256_loadu_si256((const __m256i*)(a + (4 * m + {i}) * ({A.strides[0]})))"
        if partial:
            load = f"({ROWS * v} + 4 * m + {i} < valid_rows ? {load} : _mm256_setzero_si256())"
        lines.append(f"    const __m256i r{i} = {load};")
    lines += ["    const __m256i p = _mm256_unpacklo_epi64(r0, r1), q = _mm256_unpackhi_epi64(r0, r1);",
              "    const __m256i s = _mm256_unpacklo_epi64(r2, r3), t = _mm256_unpackhi_epi64(r2, r3);",
              "    y[0][m] = _mm256_permute2x128_si256(p, s, 0x20); y[1][m] = _mm256_permute2x128_si256(q, t, 0x20);",
              "    y[2][m] = _mm256_permute2x128_si256(p, s, 0x31); y[3][m] = _mm256_permute2x128_si256(q, t, 0x31);",
              "  }",
              "  for (int kk = 0; kk < 4; ++kk) {"]
    for m in range(8):
        lines.append(f"    __m256i y{m} = _mm256_shuffle_epi8(y[kk][{m}], pairs);")
    for i in range(4):      # an 8 x 8 transpose of 16-bit (byte position, row pair) cells
        lines.append(f"    __m256i t{2 * i} = _mm256_unpacklo_epi16(y{2 * i}, y{2 * i + 1}), "
                     f"t{2 * i + 1} = _mm256_unpackhi_epi16(y{2 * i}, y{2 * i + 1});")
    for i, (p, q) in enumerate(((0, 2), (1, 3), (4, 6), (5, 7))):
        lines.append(f"    __m256i u{2 * i} = _mm256_unpacklo_epi32(t{p}, t{q}), "
                     f"u{2 * i + 1} = _mm256_unpackhi_epi32(t{p}, t{q});")
    # z_p: byte p (little-endian) of all 32 rows
    z = {0: ("lo", 0, 4), 1: ("hi", 0, 4), 2: ("lo", 1, 5), 3: ("hi", 1, 5),
         4: ("lo", 2, 6), 5: ("hi", 2, 6), 6: ("lo", 3, 7), 7: ("hi", 3, 7)}
    for p, (half, x, y) in z.items():
        lines.append(f"    {{ __m256i z = _mm256_unpack{half}_epi64(u{x}, u{y});")
        g = 2 * (7 - p)     # the high nibble of byte p: nibble g from the word's top
        lines.append(f"      _mm256_store_si256((__m256i*)x4[{v}][16 * (k + kk) + {g}], "
                     "_mm256_and_si256(_mm256_srli_epi16(z, 4), lo4));")
        lines.append(f"      _mm256_store_si256((__m256i*)x4[{v}][16 * (k + kk) + {g + 1}], "
                     "_mm256_and_si256(z, lo4)); }")
    lines += ["  }", "}"]
    return lines


def _store_sums(C, mv, nr, partial):
    """C from sums[q][v][e][h]: lane l of it is row 32 v + 4 l + 2 h + e (byte 2 (8 h + l) + e
    of the even / odd bytes' sums), column q. Contiguous columns: 8 x 8 transposes, a row of
    8 columns per store; else one element at a time."""
    row = f"({ROWS} * v + 2 * h + e + 4 * l)"
    if C.strides[1] != "1" or nr % 8:
        return [f"for (int q = 0; q < {nr}; ++q) for (int v = 0; v < {mv}; ++v) "
                "for (int e = 0; e < 2; ++e) for (int h = 0; h < 2; ++h) {",
                "  int32_t s[8]; memcpy(s, &sums[q][v][e][h], sizeof s);",
                f"  for (int l = 0; l < 8; ++l) if ({row} < {'valid_rows' if partial else ROWS * mv}) "
                f"{C.ptr}[{row} * ({C.strides[0]}) + "
                f"q * ({C.strides[1]})] = s[l];",
                "}"]
    lines = [f"for (int v = 0; v < {mv}; ++v) for (int e = 0; e < 2; ++e) "
             f"for (int h = 0; h < 2; ++h) for (int q = 0; q < {nr}; q += 8) {{"]
    lines += [f"  const __m256i r{i} = sums[q + {i}][v][e][h];" for i in range(8)]
    lines += [f"  const __m256i a{i} = _mm256_unpack{'lo' if i % 2 == 0 else 'hi'}_epi32("
              f"r{i // 2 * 2}, r{i // 2 * 2 + 1});" for i in range(8)]
    pairs = {0: ("lo", 0, 2), 1: ("hi", 0, 2), 2: ("lo", 1, 3), 3: ("hi", 1, 3),
             4: ("lo", 4, 6), 5: ("hi", 4, 6), 6: ("lo", 5, 7), 7: ("hi", 5, 7)}
    lines += [f"  const __m256i b{i} = _mm256_unpack{half}_epi64(a{x}, a{y});"
              for i, (half, x, y) in pairs.items()]
    for l in range(8):          # lanes l (first half) and l + 4 (second) of b(l % 4), b(l % 4 + 4)
        sel = "0x20" if l < 4 else "0x31"
        guard = f"if ({row} < valid_rows) " if partial else ""
        lines.append(f"  {{ const int l = {l}; {guard}_mm256_storeu_si256((__m256i*)({C.ptr} + {row} * "
                     f"({C.strides[0]}) + q), _mm256_permute2x128_si256(b{l % 4}, b{l % 4 + 4}, "
                     f"{sel})); }}")
    lines.append("}")
    return lines


def popcount_dot_lut(mr, nr, kw, name=None):
    """The popcount GEMM tile (intrin.popcount_dot_decl) by table lookups on AVX2 (module doc):
    mr a multiple of 64 rows, nr of 4 columns, kw of 4 words; a tile with fewer valid rows
    (the tail of a split, partial_axes) reads and writes only those. The tile keeps an int32 sum per
    output (mr * nr * 4 bytes) and a 16-bit one (mr * nr * 2), the transposed nibbles of 16
    words of its rows (mr * 258 bytes) and the table offsets of 4 columns (1 KiB) on the
    stack."""
    a, b, c = popcount_dot_decl(mr, nr, kw)
    who = name or f"popcount_dot_lut_{mr}x{nr}x{kw}"
    if mr % (VECTORS * ROWS) or nr % COLUMNS or kw % 4:
        raise TexprError(f"{who}: tile {mr} x {nr} x {kw} words; expected rows a multiple of "
                         f"{VECTORS * ROWS}, columns of {COLUMNS}, words of 4")
    mv = mr // ROWS

    def avx2(ins, outs):
        A, B = ins
        (C,) = outs
        _need_unit(A, 1, who)
        _need_unit(B, 1, who)
        rows = C.extents[0] if C.extents else None
        partial = rows is not None and rows != str(mr)
        pairs = ", ".join(str(8 * (i % 2) + i // 2) for i in range(16))
        bswap = ", ".join(str(8 * (i // 8) + 7 - i % 8) for i in range(16))
        lines = ([f"const int valid_rows = {rows};"] if partial else []) + [
            f"uint8_t x4[{mv}][{16 * CHUNK + PAD_STEPS}][{ROWS}] __attribute__((aligned(32)));",
            "/* the offsets of two columns' table: 16 (a + 16 b) */",
            f"uint16_t pair[{PAIRS}][{16 * CHUNK + 16}] __attribute__((aligned(32)));",
            f"__m256i sums[{nr}][{mv}][2][2];   /* int32 sums: [column][row vector][even / odd "
            "row bytes][first / last 8 of them] */",
            f"__m256i s16[{nr}][{mv}][2];   /* 16-bit sums of up to {WIDEN_CHUNKS} chunks: [column][row "
            "vector][even / odd bytes] */",
            "memset(s16, 0, sizeof s16);",
            "int widened = 0;   /* sums holds a first widening (else: not yet written) */",
            f"const __m256i pairs = _mm256_setr_epi8({pairs}, {pairs});",
            f"const __m256i bswap = _mm256_setr_epi8({bswap}, {bswap});",
            "const __m256i lo4 = _mm256_set1_epi8(0x0f), hi4 = _mm256_set1_epi8((char)0xf0);",
            "const __m256i low8 = _mm256_set1_epi16(0xff), by16 = _mm256_set1_epi16(1 << 12);",
            f"for (int k0 = 0; k0 < {kw}; k0 += {CHUNK}) {{",
            f"  const int nw = {kw} - k0 < {CHUNK} ? {kw} - k0 : {CHUNK}, steps = 16 * nw;",
            f"  const int padded = (steps + {PAD_STEPS}) / {GROUP} * {GROUP};"]
        for v in range(mv):
            lines += ["  " + x for x in _transpose(v, A, partial)]
            lines.append(f"  memset(x4[{v}][steps], 0, sizeof x4[{v}][steps] * {PAD_STEPS});")
        lines += [
            f"  for (int q0 = 0; q0 < {nr}; q0 += {COLUMNS}) {{",
            # the offsets of the column pairs' tables, 16 a + 256 b for their nibbles a, b:
            # byte pairs (16 a, b), the high nibbles (even steps) and the low ones (odd steps)
            # interleaved, then the 128-bit lanes put in step order
            f"    for (int p = 0; p < {PAIRS}; ++p) for (int k = 0; k < nw; k += 4) {{",
            f"      const uint64_t* w = {B.ptr} + (q0 + 2 * p) * ({B.strides[0]}) + k0 + k;",
            "      const __m256i wa = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i*)w), bswap);",
            "      const __m256i wb = _mm256_shuffle_epi8(_mm256_loadu_si256("
            f"(const __m256i*)(w + ({B.strides[0]}))), bswap);",
            "      const __m256i ah = _mm256_and_si256(wa, hi4), "
            "al = _mm256_and_si256(_mm256_slli_epi16(wa, 4), hi4);",
            "      const __m256i bh = _mm256_and_si256(_mm256_srli_epi16(wb, 4), lo4), "
            "bl = _mm256_and_si256(wb, lo4);",
            "      const __m256i e0 = _mm256_unpacklo_epi8(ah, bh), e1 = _mm256_unpackhi_epi8(ah, bh);",
            "      const __m256i o0 = _mm256_unpacklo_epi8(al, bl), o1 = _mm256_unpackhi_epi8(al, bl);",
            "      const __m256i r0 = _mm256_unpacklo_epi16(e0, o0), r1 = _mm256_unpackhi_epi16(e0, o0);",
            "      const __m256i r2 = _mm256_unpacklo_epi16(e1, o1), r3 = _mm256_unpackhi_epi16(e1, o1);",
            "      __m256i* o = (__m256i*)&pair[p][16 * k];",
            "      _mm256_store_si256(o, _mm256_permute2x128_si256(r0, r1, 0x20));",
            "      _mm256_store_si256(o + 1, _mm256_permute2x128_si256(r2, r3, 0x20));",
            "      _mm256_store_si256(o + 2, _mm256_permute2x128_si256(r0, r1, 0x31));",
            "      _mm256_store_si256(o + 3, _mm256_permute2x128_si256(r2, r3, 0x31));",
            "    }",
            f"    for (int p = 0; p < {PAIRS}; ++p) pair[p][steps] = pair[p][steps + 1] = 0;",
            f"    for (int v = 0; v < {mv}; v += {VECTORS}) {{",
            f"      for (int g0 = 0; g0 < padded; g0 += {BYTE_STEPS}) {{",
            f"        const int g1 = g0 + {BYTE_STEPS} < padded ? g0 + {BYTE_STEPS} : padded;"]
        full = [[f"f{r}_{p}" for p in range(PAIRS)] for r in range(VECTORS)]
        high = [[f"h{r}_{p}" for p in range(PAIRS)] for r in range(VECTORS)]
        lines.append("        __m256i " + ", ".join(f"{x} = _mm256_setzero_si256()"
                                                     for acc in (full, high) for row in acc
                                                     for x in row) + ";")
        lines.append(f"        for (int g = g0; g < g1; g += {GROUP}) {{")
        for p in range(PAIRS):
            tables = ", ".join(f"t{i} = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i*)"
                               f"(texpr_nibble_pair_counts + pair[{p}][g + {i}])))"
                               for i in range(GROUP))
            lines.append(f"          {{ const __m256i {tables};")
            for r in range(VECTORS):
                shuf = [f"_mm256_shuffle_epi8(t{i}, _mm256_load_si256((const __m256i*)x4[v + {r}][g + {i}]))"
                        for i in range(GROUP)]
                lines.append(f"            {{ __m256i s = {shuf[0]};")
                for sh in shuf[1:]:       # the adds in place (module doc: GCC's copies)
                    lines.append(f"              {{ const __m256i u = {sh}; "
                                 "__asm__(\"vpaddb %1, %0, %0\" : \"+x\"(s) : \"x\"(u)); }")
                lines.append(f"              __asm__(\"vpaddb %1, %0, %0\" : \"+x\"({full[r][p]}) : \"x\"(s));")
                # s >> 4 in 16-bit lanes (a multiply: the shift would share the shuffles' pipes)
                lines.append(f"              {{ const __m256i u = _mm256_mulhi_epu16(s, by16); "
                             f"__asm__(\"vpaddb %1, %0, %0\" : \"+x\"({high[r][p]}) : \"x\"(u)); }} }}")
            lines.append("          }")
        lines.append("        }")
        for r in range(VECTORS):
            for p in range(PAIRS):
                a, b = 2 * p, 2 * p + 1
                lines += [f"        {{ const __m256i F = {full[r][p]}, H = {high[r][p]};",
                          "          const __m256i hi_o = _mm256_srli_epi16(H, 8);",
                          "          const __m256i lo_o = _mm256_and_si256(_mm256_sub_epi16("
                          "_mm256_srli_epi16(F, 8), _mm256_slli_epi16(hi_o, 4)), low8);",
                          "          const __m256i hi_e = _mm256_and_si256(_mm256_sub_epi16(H, "
                          "_mm256_slli_epi16(lo_o, 4)), low8);",
                          "          const __m256i lo_e = _mm256_and_si256(_mm256_sub_epi16(F, "
                          "_mm256_slli_epi16(hi_e, 4)), low8);",
                          f"          __m256i* sa = s16[q0 + {a}][v + {r}]; __m256i* sb = s16[q0 + {b}][v + {r}];",
                          "          sa[0] = _mm256_add_epi16(sa[0], lo_e); sa[1] = _mm256_add_epi16(sa[1], lo_o);",
                          "          sb[0] = _mm256_add_epi16(sb[0], hi_e); sb[1] = _mm256_add_epi16(sb[1], hi_o); }"]
        lines += [
            "      }",
            "    }",
            "  }",
            # the 16-bit sums into the int32 ones after the last chunk and before they could wrap
            f"  if (k0 / {CHUNK} % {WIDEN_CHUNKS} == {WIDEN_CHUNKS - 1} || k0 + {CHUNK} >= {kw}) {{",
            f"    for (int q = 0; q < {nr}; ++q) for (int v = 0; v < {mv}; ++v) for (int e = 0; e < 2; ++e) {{",
            "      __m256i* s = sums[q][v][e];",
            "      const __m256i lo = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(s16[q][v][e]));",
            "      const __m256i hi = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(s16[q][v][e], 1));",
            "      s[0] = widened ? _mm256_add_epi32(s[0], lo) : lo;",
            "      s[1] = widened ? _mm256_add_epi32(s[1], hi) : hi;",
            "    }",
            "    memset(s16, 0, sizeof s16);",
            "    widened = 1;",
            "  }",
            "}"]
        lines += _store_sums(C, mv, nr, partial)
        return {"body": "\n".join(lines), "helpers": HELPERS}

    return decl_tensor_intrin(c.op, {"avx2": avx2, "avx512": avx2}, name=who, inputs=[a, b],
                              partial_axes=(0,))
