"""Ready tensor intrinsics (micro-kernels) for the CPU targets.

Each function returns a TensorIntrin: the computation it performs, declared with te.compute
over small placeholders, and per-target C implementations. Use them with
`s[C].tensorize(axis, intrin)`; tensorize checks that the loops really compute that.
"""
from ..errors import TexprError
from ..lang.expr import Cast, const, elementwise_max, elementwise_min
from ..lang.intrin import decl_tensor_intrin
from ..lang.reduction import sum as te_sum
from ..lang.tensor import compute, placeholder, reduce_axis


def _need_unit(ref, dim, who):
    if ref.strides[dim] != "1":
        raise TexprError(f"{who}: dimension {dim} of {ref.name} must be contiguous (stride 1), "
                         f"got stride {ref.strides[dim]}; pack the tensor so it is")


def _by_rows(m, full_rows, parts_for):
    """Parts for `m` valid rows (a C expression): one specialised kernel per row count. A
    runtime m is a partial tile's, below full_rows (the switch has no case for full_rows: an
    intrinsic partial along other axes too runs the whole-rows parts itself for that count, as
    topi/cpu_conv_1x1._any_rows does)."""
    if m is None or m == str(full_rows):
        return parts_for(full_rows)
    cases = {r: parts_for(r) for r in range(1, full_rows)}
    return {part: "switch (" + m + ") {\n" + "\n".join(
        f"case {r}: {{\n{cases[r][part]}\n}} break;" for r in cases) + "\ndefault: break;\n}"
            for part in cases[1] if part != "helpers"}


# lane masks of AVX-512 (register_tile's `masked`): mask `name` of the first n lanes
_AVX512_MASKED = (
    lambda name, n: (f"const __mmask16 {name} = (__mmask16)(({n}) >= 16 ? 0xFFFF : ({n}) <= 0 ? 0 "
                     f": (1u << ({n})) - 1);"),
    lambda p, m: f"_mm512_maskz_loadu_ps({m}, {p})",
    lambda p, x, m: f"_mm512_mask_storeu_ps({p}, {m}, {x});")


def register_tile(who, mr, kc, nv, vec, lanes, load, store, bcast, fma, zero, elem=None,
                  load_b=None, add=None, masked=None, prefetch_b=None):
    """The C of a register-tiled GEMM C[mr, nv*lanes] (+)= A[mr, kc] @ B[kc, nv*lanes], shared
    by every float GEMM intrinsic so that the tile is written once: vector type `vec`, text
    makers load(p), store(p, x), bcast(s), fma(a, b, c) and `zero`. elem: (B's, C's element
    type) to cast the pointers to where the buffer's element type is not float (float16
    storage); load_b(nv): the lines loading b0..b<nv-1> from bk (default: one load each);
    add(a, b): the vector sum, given where the update may sum from zero and add C after its
    loop (C's lines prefetched before it) rather than load C first. masked: (mask(name, n),
    mload(p, m), mstore(p, x, m)) for a tile of fewer valid columns (an intrinsic partial
    along its columns): the declaration of lane mask `name` of the first n lanes (n may be
    <= 0 or >= lanes), the masked load and store under mask m; every vector of B and C is then
    read and written under its mask (no lane past the valid columns is touched).
    prefetch_b: B rows ahead (C text, B's row stride its unit) that each k step also
    prefetches, one line per 64 bytes of its row (_b_prefetches)."""
    def impl(ins, outs):
        A, B = ins
        (C,) = outs
        _need_unit(B, 1, who)
        _need_unit(C, 1, who)
        cols = C.extents[1] if C.extents and len(C.extents) > 1 else None
        pre, vload, vstore = [], (lambda p, v: load(p)), (lambda p, x, v: store(p, x))
        if cols is not None and cols != str(nv * lanes):
            if masked is None or load_b is not None:
                raise TexprError(f"{who}: no masked form for a tile of {cols} columns")
            mask, mload, mstore = masked
            pre = [mask(f"m{v}", f"({cols}) - {v * lanes}") for v in range(nv)]
            vload = lambda p, v: mload(p, f"m{v}")            # noqa: E731
            vstore = lambda p, x, v: mstore(p, x, f"m{v}")    # noqa: E731

        def parts(rows):
            acc = [[f"c{i}_{v}" for v in range(nv)] for i in range(rows)]
            cptr = [[f"{C.ptr} + {i} * ({C.strides[0]}) + {v * lanes}" for v in range(nv)]
                    for i in range(rows)]
            bk = f"{B.ptr} + k * ({B.strides[0]})"
            if elem is not None:
                cptr = [[f"({elem[1]}*)({p})" for p in row] for row in cptr]
                bk = f"(const {elem[0]}*)({bk})"
            decl = "\n".join(pre + [f"{vec} " + ", ".join(x for row in acc for x in row) + ";"])
            init_zero = "\n".join(f"{x} = {zero};" for row in acc for x in row)
            init_load = "\n".join(f"{acc[i][v]} = {vload(cptr[i][v], v)};"
                                  for i in range(rows) for v in range(nv))
            if add is not None:
                # the update sums from zero and adds C after the loop, its lines prefetched
                # first: loading C before the loop stalled the call on the C tile, which is
                # not in cache (a whole reduction chunk of other tiles ran since)
                init_load = init_zero + "\n" + "\n".join(
                    f"__builtin_prefetch({p}, 1, 3);"
                    for i in range(rows) for p in (cptr[i][0], f"{cptr[i][-1]} + {lanes - 1}"))
            loop = [f"for (int k = 0; k < {kc}; ++k) {{",
                    f"  const {elem[0] if elem else 'float'}* bk = {bk};"]
            loop += [f"  {x}" for x in (load_b(nv) if load_b else
                                        [f"{vec} b{v} = {vload(f'bk + {v * lanes}', v)};"
                                         for v in range(nv)])]
            if prefetch_b is not None:
                loop += [f"  {x}" for x in _b_prefetches(
                    f"bk + ({prefetch_b}) * ({B.strides[0]})", nv * lanes, 4)]
            for i in range(rows):
                loop.append(f"  {{ {vec} ai = {bcast(f'{A.ptr}[{i} * ({A.strides[0]}) + k * ({A.strides[1]})]')};")
                for v in range(nv):
                    loop.append(f"    {acc[i][v]} = {fma('ai', f'b{v}', acc[i][v])};")
                loop.append("  }")
            loop.append("}")
            save = "\n".join(vstore(cptr[i][v], acc[i][v], v)
                             for i in range(rows) for v in range(nv))
            save_update = save if add is None else "\n".join(
                vstore(cptr[i][v], add(acc[i][v], vload(cptr[i][v], v)), v)
                for i in range(rows) for v in range(nv))
            body_loop = "\n".join(loop)
            return {"body": "\n".join([decl, init_zero, body_loop, save]),
                    "update": "\n".join([decl, init_load, body_loop, save_update]),
                    "reset": "\n".join(pre + [vstore(cptr[i][v], zero, v)
                                              for i in range(rows) for v in range(nv)])}
        m = C.extents[0] if C.extents else None
        if pre and m is not None and not m.isdigit():
            # fewer columns, rows known at run time: _by_rows' switch has no case for mr
            whole, part = parts(mr), _by_rows(m, mr, parts)
            return {p: f"if ({m} == {mr}) {{\n{whole[p]}\n}} else {{\n{part[p]}\n}}"
                    for p in part}
        return _by_rows(m, mr, parts)
    return impl


def _b_prefetches(ahead, cols, elem_bytes):
    """Prefetches of a B row `ahead` (C pointer text) of `cols` elements: one per 64 bytes,
    so that where the rows are contiguous the k steps together touch every line of the rows
    ahead (a row of 32 floats not aligned to a line spans 3 lines; its neighbours fetch the
    third). Locality 2 (prefetcht1, into the L2): the Winograd GEMM's panels are 8-64 KB and
    the current one is reused from the L1 by the other row tiles; prefetcht0 evicted it
    (ResNet-50 on Zen 4: the 14x14 and 7x7 layers 10-15% slower than with prefetcht1)."""
    step = max(1, 64 // elem_bytes)
    return [f"__builtin_prefetch({ahead} + {c}, 0, 2);" for c in range(0, cols, step)]


# An empty asm that takes a vector in a register and "changes" it: GCC must load the value
# into a register once and can no longer fold the load into the instructions that use it.
# Without it GCC compiled the AVX-512 GEMM tile's FMAs with the B vector as a memory operand,
# one 64-byte load per FMA (a 3 x 32 tile: 6 vector loads and 3 broadcasts per 6 FMAs, not 2
# and 3), which left the k loop load-bound on Zen 4 (one 512-bit load a cycle): dense 64 x
# 512 x 512 at 63% of the FMA peak. Written in place (no helper macro: conv 1x1's
# gemm_columns composes the tile's parts); SIMDe builds keep plain loads.
PIN_ZMM = ("#if defined(__AVX512F__) && defined(__GNUC__) && !defined(TEXPR_SIMDE)",
           '__asm__("" : "+v"({x}));', "#endif")


def _pinned_loads(vec, load, lanes, pin):
    """register_tile's load_b: each B vector loaded once into a register (`pin`: the guard,
    the statement on {x} that keeps x there, the end of the guard)."""
    guard, keep, end = pin

    def lines(nv):
        return [f"{vec} b{v} = {load(f'bk + {v * lanes}')};" for v in range(nv)] + \
            [guard] + [keep.format(x=f"b{v}") for v in range(nv)] + [end]
    return lines


def gemm_fp32(mr, nr, kc, name=None, masked_cols=False, narrow=False, prefetch_rows=None):
    """C[mr, nr] (+)= A[mr, kc] @ B[kc, nr] in float32; B rows contiguous (packed panels).

    Register tile mr x nr kept in vector registers, k loop inside: AVX2 (8 lanes, FMA),
    AVX-512 (16 lanes) and NEON (4 lanes) versions; nr must be a multiple of the vector width.
    A tile with fewer than mr valid rows (M % mr) runs the same kernel for its row count.
    masked_cols (AVX-512 only): a tile with fewer than nr valid columns (N % nr: an operand
    read in place, not padded) runs it too, B and C under lane masks (not the scalar loops).
    The update (a later reduction chunk) adds C after its loop, C prefetched before it.
    narrow: the AVX-512 target runs the 8-lane (AVX2) kernel, its 256-bit vectors in the 32
    registers of AVX-512VL (a schedule that tiles with 8-lane vectors there:
    CpuInfo.narrow, cpu_conv_1x1.pixel_vector_info).
    prefetch_rows: each k step also prefetches B's row k + prefetch_rows (the Winograd GEMM:
    the next weight panel, which follows this one in memory, while this one is reused from
    cache by the other row tiles; its weights come from DRAM in a network).
    """
    a = placeholder((mr, kc), "float32", "a")
    b = placeholder((kc, nr), "float32", "b")
    k = reduce_axis((0, kc), "k")
    c = compute((mr, nr), lambda i, j: te_sum(a[i, k] * b[k, j], axis=k), name="c")
    who = name or f"gemm_fp32_{mr}x{nr}x{kc}" + ("_masked" if masked_cols else "") + \
        ("_x8" if narrow else "") + (f"_pf{prefetch_rows}" if prefetch_rows else "")

    def make(vec, lanes, load, store, bcast, fma, zero, add, pin=None, masked=None):
        if nr % lanes:
            raise TexprError(f"{who}: nr={nr} is not a multiple of {lanes} lanes")
        return register_tile(who, mr, kc, nr // lanes, vec, lanes, load, store, bcast, fma, zero,
                             add=add, load_b=pin and _pinned_loads(vec, load, lanes, pin),
                             masked=masked, prefetch_b=prefetch_rows)

    if masked_cols:
        if nr % 16:
            raise TexprError(f"{who}: masked columns need nr a multiple of 16 (AVX-512)")
        return decl_tensor_intrin(c.op, {"avx512": make(
            "__m512", 16, lambda p: f"_mm512_loadu_ps({p})",
            lambda p, x: f"_mm512_storeu_ps({p}, {x});", lambda s: f"_mm512_set1_ps({s})",
            lambda a_, b_, c_: f"_mm512_fmadd_ps({a_}, {b_}, {c_})", "_mm512_setzero_ps()",
            lambda a_, b_: f"_mm512_add_ps({a_}, {b_})", masked=_AVX512_MASKED)},
            name=who, inputs=[a, b], partial_axes=(0, 1))
    impls = {}
    if nr % 8 == 0:
        impls["avx2"] = make("__m256", 8, lambda p: f"_mm256_loadu_ps({p})",
                             lambda p, x: f"_mm256_storeu_ps({p}, {x});",
                             lambda s: f"_mm256_set1_ps({s})",
                             lambda a_, b_, c_: f"_mm256_fmadd_ps({a_}, {b_}, {c_})",
                             "_mm256_setzero_ps()", lambda a_, b_: f"_mm256_add_ps({a_}, {b_})")
    if narrow:
        if nr % 8:
            raise TexprError(f"{who}: nr={nr} is not a multiple of 8 lanes")
        return decl_tensor_intrin(c.op, {"avx512": impls["avx2"]}, name=who, inputs=[a, b],
                                  partial_axes=(0,))
    if nr % 16 == 0:
        impls["avx512"] = make("__m512", 16, lambda p: f"_mm512_loadu_ps({p})",
                               lambda p, x: f"_mm512_storeu_ps({p}, {x});",
                               lambda s: f"_mm512_set1_ps({s})",
                               lambda a_, b_, c_: f"_mm512_fmadd_ps({a_}, {b_}, {c_})",
                               "_mm512_setzero_ps()", lambda a_, b_: f"_mm512_add_ps({a_}, {b_})",
                               pin=PIN_ZMM)
    if nr % 4 == 0:
        impls["neon"] = make("float32x4_t", 4, lambda p: f"vld1q_f32({p})",
                             lambda p, x: f"vst1q_f32({p}, {x});", lambda s: f"vdupq_n_f32({s})",
                             lambda a_, b_, c_: f"vfmaq_f32({c_}, {a_}, {b_})", "vdupq_n_f32(0.0f)",
                             lambda a_, b_: f"vaddq_f32({a_}, {b_})")
    if not impls:
        raise TexprError(f"{who}: nr={nr} must be a multiple of a vector width (4 for NEON, 8 for "
                         "AVX2, 16 for AVX-512)")
    return decl_tensor_intrin(c.op, impls, name=who, inputs=[a, b], partial_axes=(0,))


def transpose_fp32(name=None):
    """out[i, j] = in[j, i] for an 8 x 8 block of float32 (AVX2): the copy that packs rows of
    an operand into k-major panels (a dense weight's [N, K] rows into [N/nr, K, nr]) as eight
    row loads, unpack / shuffle / lane-permute steps and eight row stores, where the
    vectorized copy stores each value on its own (64 scalar stores per block). The rows of
    both operands must be contiguous; their row strides are free."""
    a = placeholder((8, 8), "float32", "a")
    c = compute((8, 8), lambda i, j: a[j, i], name="c")
    who = name or "transpose_fp32_8x8"

    def avx2(ins, outs):
        (A,), (C,) = ins, outs
        _need_unit(A, 1, who)
        _need_unit(C, 1, who)
        r = [f"r{i}" for i in range(8)]
        lines = [f"__m256 {r[i]} = _mm256_loadu_ps({A.ptr} + {i} * ({A.strides[0]}));"
                 for i in range(8)]
        # t: rows interleaved in pairs; u<4g+q>: columns q and q + 4 of rows 4g .. 4g+3 (one
        # in each 128-bit half); the lane permutes join rows 0-3 and 4-7 of a column
        for h, f in ((0, "unpacklo"), (1, "unpackhi")):
            for p in range(4):
                lines.append(f"__m256 t{2 * p + h} = _mm256_{f}_ps(r{2 * p}, r{2 * p + 1});")
        for g in range(2):                  # rows 0-3, rows 4-7
            for q, (x, imm) in enumerate(((0, "0x44"), (0, "0xEE"), (1, "0x44"), (1, "0xEE"))):
                lines.append(f"__m256 u{4 * g + q} = _mm256_shuffle_ps(t{4 * g + x}, "
                             f"t{4 * g + x + 2}, {imm});")
        for i in range(8):
            lo, sel = i % 4, "0x20" if i < 4 else "0x31"
            lines.append(f"_mm256_storeu_ps({C.ptr} + {i} * ({C.strides[0]}), "
                         f"_mm256_permute2f128_ps(u{lo}, u{4 + lo}, {sel}));")
        return {"body": "{\n" + "\n".join(lines) + "\n}"}
    # AVX-512 CPUs run the AVX2 form (an 8 x 8 block is one ymm a row)
    return decl_tensor_intrin(c.op, {"avx2": avx2, "avx512": avx2}, name=who, inputs=[a])


# acc += dot(a, b) over groups of 4 bytes (vpdpbusd). Natively it is written as inline asm
# with acc as an in/out register operand: GCC 12 allocates registers for the intrinsic form
# so badly in register-blocked loops (a copy of every accumulator each step, some spilled)
# that the kernel ran at 60% of the instruction's rate. SIMDe's emulation keeps the intrinsic.
DPBUSD_HELPER = """#if defined(__AVX512VNNI__) && !defined(TEXPR_SIMDE)
#define TEXPR_DPBUSD(acc, a, b) __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b))
#else
#define TEXPR_DPBUSD(acc, a, b) ((acc) = _mm512_dpbusd_epi32((acc), (a), (b)))
#endif"""


def dot_int8(kc, lanes=16, a_dtype="uint8", rows=1, name=None):
    """out[r, j] (+)= sum_k int32(a[r, k]) * int32(b[k // 4, j, k % 4]), r < rows, j < lanes.

    The int8 dot-product step of quantised dense/conv: `a` holds `rows` rows of activations,
    `b` the weights packed as [kc/4, lanes, 4] so each 4-byte group of one output is
    contiguous; each weight vector loaded is used for all rows (register blocking).
    Every implementation is exact on the full u8 x s8 (s8 x s8) range. AVX2: the bytes of each
    4-byte group are split into even and odd 16-bit halves (activations zero-, weights
    sign-extended) and multiplied with vpmaddwd (two products per int32, exact; vpmaddubsw
    would saturate a pair of products at int16); AVX-512: VNNI vpdpbusd (u8 x s8); NEON: sdot
    (s8 x s8); HVX (lanes a multiple of 32, either a_dtype): vrmpy.
    Declared with two reduction axes (k = 4*kg + kk) so every access stays affine. A tile
    with fewer than `rows` valid rows runs the kernel specialised for its row count.
    """
    if kc % 4:
        raise TexprError(f"dot_int8: kc={kc} must be a multiple of 4")
    a = placeholder((rows, kc), a_dtype, "a")
    b = placeholder((kc // 4, lanes, 4), "int8", "b")
    kg = reduce_axis((0, kc // 4), "kg")
    kk = reduce_axis((0, 4), "kk")
    c = compute((rows, lanes), lambda r, j: te_sum(
        Cast(a[r, kg * 4 + kk], "int32") * Cast(b[kg, j, kk], "int32"), axis=[kg, kk]), name="c")
    who = name or f"dot_{a_dtype}_int8_{rows}x{lanes}x{kc}"

    def common(ins, outs):
        A, B = ins
        (C,) = outs
        _need_unit(A, 1, who)
        _need_unit(C, 1, who)
        if B.strides[2] != "1" or B.strides[1] != "4":
            raise TexprError(f"{who}: weights must be packed [kc/4][{lanes}][4] contiguously "
                             f"(got strides {B.strides})")
        return A, B, C

    def kernel(ins, outs, vec, width, load, store, zero, bcast, step, prologue=(), helpers=None,
               prep_a=None, prep_b=None):
        """prep_a: the lines making a row's activation vector(s) from int32 a4 (default: av,
        the broadcast); prep_b(v): lines deriving more vectors from weight vector b<v>."""
        A, B, C = common(ins, outs)
        nv = lanes // width

        def parts(n_rows):
            acc = [[f"acc{r}_{v}" for v in range(nv)] for r in range(n_rows)]
            names = [x for row in acc for x in row]
            lines = [f"{vec} {', '.join(names)};"] + list(prologue)
            cptr = [[f"{C.ptr} + {r} * ({C.strides[0]}) + {width * v}" for v in range(nv)]
                    for r in range(n_rows)]
            load_c = [f"{acc[r][v]} = {load(cptr[r][v])};" for r in range(n_rows) for v in range(nv)]
            zero_c = [f"{x} = {zero};" for x in names]
            loop = [f"for (int kg = 0; kg < {kc // 4}; ++kg) {{",
                    f"  const int8_t* bk = {B.ptr} + kg * ({B.strides[0]});"]
            loop += [f"  {vec} b{v} = {load(f'bk + {4 * width * v}')};" for v in range(nv)]
            if prep_b is not None:
                loop += [f"  {x}" for v in range(nv) for x in prep_b(v)]
            for r in range(n_rows):
                loop.append(f"  {{ int32_t a4; memcpy(&a4, {A.ptr} + {r} * ({A.strides[0]}) + 4 * kg, 4);")
                loop += [f"    {x}" for x in (prep_a() if prep_a else [f"{vec} av = {bcast('a4')};"])]
                for v in range(nv):
                    loop.append(f"    {step(acc[r][v], 'av', f'b{v}')};")
                loop.append("  }")
            loop.append("}")
            save = [store(cptr[r][v], acc[r][v]) for r in range(n_rows) for v in range(nv)]
            return {"body": "\n".join(lines + zero_c + loop + save),
                    "update": "\n".join(lines + load_c + loop + save)}
        code = _by_rows(C.extents[0] if C.extents else None, rows, parts)
        if helpers:
            code["helpers"] = helpers
        return code

    def avx2(ins, outs):
        # 16-bit lanes: activations a0 a2 (even bytes, masked) and a1 a3 (odd bytes, shifted
        # down; both zero-extended), weights b0 b2 and b1 b3 (sign-extended by shifts);
        # vpmaddwd then sums a0*b0 + a2*b2 and a1*b1 + a3*b3 into each int32 lane exactly
        # (|a*b| <= 32640). vpmaddubsw on the bytes is fewer instructions (~1.5x faster) but
        # saturates a0*b0 + a1*b1 at int16 (255*127 twice), which the declared sum does not.
        return kernel(ins, outs, "__m256i", 8,
                      lambda p: f"_mm256_loadu_si256((const __m256i*)({p}))",
                      lambda p, x: f"_mm256_storeu_si256((__m256i*)({p}), {x});",
                      "_mm256_setzero_si256()", lambda x: f"_mm256_set1_epi32({x})",
                      lambda c_, a_, b_: f"{c_} = _mm256_add_epi32({c_}, _mm256_add_epi32("
                                         f"_mm256_madd_epi16({a_}_even, {b_}_even), "
                                         f"_mm256_madd_epi16({a_}_odd, {b_}_odd)))",
                      prep_a=lambda: [
                          "__m256i av = _mm256_set1_epi32(a4);",
                          "__m256i av_even = _mm256_and_si256(av, low_bytes);",
                          "__m256i av_odd = _mm256_srli_epi16(av, 8);"],
                      prologue=["const __m256i low_bytes = _mm256_set1_epi16(0xFF);"],
                      prep_b=lambda v: [
                          f"__m256i b{v}_even = _mm256_srai_epi16(_mm256_slli_epi16(b{v}, 8), 8);",
                          f"__m256i b{v}_odd = _mm256_srai_epi16(b{v}, 8);"])

    def avx512(ins, outs):
        return kernel(ins, outs, "__m512i", 16,
                      lambda p: f"_mm512_loadu_si512((const void*)({p}))",
                      lambda p, x: f"_mm512_storeu_si512((void*)({p}), {x});",
                      "_mm512_setzero_si512()", lambda x: f"_mm512_set1_epi32({x})",
                      lambda c_, a_, b_: f"TEXPR_DPBUSD({c_}, {a_}, {b_})", helpers=DPBUSD_HELPER)

    def neon(ins, outs):
        def ld(p):
            return f"vld1q_s32((const int32_t*)({p}))" if "bk" not in p else \
                f"vreinterpretq_s32_s8(vld1q_s8({p}))"
        return kernel(ins, outs, "int32x4_t", 4, ld,
                      lambda p, x: f"vst1q_s32((int32_t*)({p}), {x});", "vdupq_n_s32(0)",
                      lambda x: f"vdupq_n_s32({x})",
                      lambda c_, a_, b_: f"{c_} = vdotq_s32({c_}, vreinterpretq_s8_s32({a_}), "
                                         f"vreinterpretq_s8_s32({b_}))")

    def hvx(ins, outs):
        # HVX vrmpy: 32 int32 lanes, each += the 4-byte dot product of its weight group with
        # the splatted 4 activations (exact; u8 x s8 or s8 x s8)
        form = "Q6_Vw_vrmpyacc_VwVubVb" if a_dtype == "uint8" else "Q6_Vw_vrmpyacc_VwVbVb"
        return kernel(ins, outs, "HVX_Vector", 32,
                      lambda p: f"*(const texpr_hvx_uvec*)({p})",
                      lambda p, x: f"*(texpr_hvx_uvec*)({p}) = {x};", "Q6_V_vzero()",
                      lambda x: f"Q6_V_vsplat_R({x})",
                      lambda c_, a_, b_: f"{c_} = {form}({c_}, {a_}, {b_})")

    if a_dtype == "uint8":
        if lanes % 8:
            raise TexprError(f"{who}: lanes must be a multiple of 8")
        impls = {"avx2": avx2}
        if lanes % 16 == 0:
            impls["avx512"] = avx512
    elif a_dtype == "int8":
        if lanes % 4:
            raise TexprError(f"{who}: lanes must be a multiple of 4")
        impls = {"neon": neon}
    else:
        raise TexprError(f"dot_int8: a_dtype must be uint8 (x86) or int8 (NEON sdot), got {a_dtype!r}")
    if lanes % 32 == 0:
        impls["hvx"] = hvx      # both signs: vrmpy has u8 x s8 and s8 x s8 forms
    return decl_tensor_intrin(c.op, impls, name=who, inputs=[a, b], partial_axes=(0,))


# acc += vpmaddwd(a, b), the accumulator an in/out register operand of inline asm: written
# with intrinsics GCC 12 gives each step's sum a new register and copies it back (8 extra
# moves per step of a 4 x 16 tile, 0.72x -> see dot_int16_pairs). Other compilers and
# SIMDe builds keep the intrinsics.
MADD_ACC_HELPER = """#if defined(__AVX2__) && defined(__GNUC__) && !defined(TEXPR_SIMDE)
#define TEXPR_MADD_ACC(acc, a, b) do { __m256i texpr_t_; __asm__("vpmaddwd %3, %2, %1\\n\\tvpaddd %1, %0, %0" : "+x"(acc), "=&x"(texpr_t_) : "x"(a), "x"(b)); } while (0)
#else
#define TEXPR_MADD_ACC(acc, a, b) ((acc) = _mm256_add_epi32((acc), _mm256_madd_epi16((a), (b))))
#endif
"""


def _broadcast_tile_avx2(who, A, B, C, nv, groups, per_group, b_ctype, step, prelude=()):
    """The AVX2 code of an integer register tile (rows x nv vectors of int32 sums) that
    broadcasts 4 bytes of a data row (per_group values) against nv vectors of weights packed
    [groups][8 nv][per_group] per step: the "body" (sums from zero) and "update" (+=) parts
    for n_rows rows, `step` the accumulating statement ({acc}, av, b{v})."""
    _need_unit(A, 1, who)
    _need_unit(C, 1, who)
    if B.strides[2] != "1" or B.strides[1] != str(per_group):
        raise TexprError(f"{who}: weights must be packed [kc/{per_group}][{8 * nv}][{per_group}] "
                         f"contiguously (got strides {B.strides})")
    def parts(n_rows):
        acc = [[f"acc{r}_{v}" for v in range(nv)] for r in range(n_rows)]
        cptr = [[f"{C.ptr} + {r} * ({C.strides[0]}) + {8 * v}" for v in range(nv)]
                for r in range(n_rows)]
        decl = list(prelude) + ["__m256i " + ", ".join(x for row in acc for x in row) + ";"]
        zero = [f"{x} = _mm256_setzero_si256();" for row in acc for x in row]
        load = [f"{acc[r][v]} = _mm256_loadu_si256((const __m256i*)({cptr[r][v]}));"
                for r in range(n_rows) for v in range(nv)]
        per_vector = 32 // (1 if b_ctype == "int8_t" else 2)     # weights in 32 bytes
        loop = [f"for (int kg = 0; kg < {groups}; ++kg) {{",
                f"  const {b_ctype}* bk = {B.ptr} + kg * ({B.strides[0]});"]
        loop += [f"  __m256i b{v} = _mm256_loadu_si256((const __m256i*)(bk + {per_vector * v}));"
                 for v in range(nv)]
        for r in range(n_rows):
            a = f"a{per_group}"
            loop.append(f"  {{ int32_t {a}; memcpy(&{a}, {A.ptr} + {r} * ({A.strides[0]}) + "
                        f"{per_group} * kg, 4); __m256i av = _mm256_set1_epi32({a});")
            loop += ["    " + step.format(acc=acc[r][v], v=v) for v in range(nv)]
            loop.append("  }")
        loop.append("}")
        save = [f"_mm256_storeu_si256((__m256i*)({cptr[r][v]}), {acc[r][v]});"
                for r in range(n_rows) for v in range(nv)]
        return {"body": "\n".join(decl + zero + loop + save),
                "update": "\n".join(decl + load + loop + save)}
    return parts


def dot_int16_pairs(kc, lanes=16, rows=4, name=None):
    """out[r, j] (+)= sum_k int32(a[r, k]) * int32(b[k // 2, j, k % 2]), r < rows, j < lanes.

    The int8 dense step on AVX2 without per-step widening: `a` holds `rows` rows of
    activations already widened to int16, `b` the weights widened to int16 once, offline,
    and packed as [kc/2, lanes, 2] (the two weights of a pair of k adjacent). Per pair of k
    and row the activations are one 32-bit broadcast from memory (no arithmetic) and each
    vector of lanes one vpmaddwd (two exact products summed in int32) and one add; dot_int8
    on AVX2 splits the bytes in registers every step (about 1.5x the vector instructions).
    Exact for every int16 input whose pair sums fit in int32 (all widened int8/uint8 do).
    """
    if kc % 2:
        raise TexprError(f"dot_int16_pairs: kc={kc} must be a multiple of 2")
    if lanes % 8:
        raise TexprError(f"dot_int16_pairs: lanes={lanes} must be a multiple of 8 (AVX2)")
    a = placeholder((rows, kc), "int16", "a")
    b = placeholder((kc // 2, lanes, 2), "int16", "b")
    kg = reduce_axis((0, kc // 2), "kg")
    kk = reduce_axis((0, 2), "kk")
    c = compute((rows, lanes), lambda r, j: te_sum(
        Cast(a[r, kg * 2 + kk], "int32") * Cast(b[kg, j, kk], "int32"), axis=[kg, kk]), name="c")
    who = name or f"dot_int16_pairs_{rows}x{lanes}x{kc}"
    nv = lanes // 8

    def avx2(ins, outs):
        A, B = ins
        (C,) = outs
        parts = _broadcast_tile_avx2(who, A, B, C, nv, kc // 2, 2, "int16_t",
                                     "TEXPR_MADD_ACC({acc}, av, b{v});")
        code = _by_rows(C.extents[0] if C.extents else None, rows, parts)
        code["helpers"] = MADD_ACC_HELPER
        return code

    return decl_tensor_intrin(c.op, {"avx2": avx2}, name=who, inputs=[a, b], partial_axes=(0,))


# acc += vpmaddwd(vpmaddubsw(a, b), ones) as inline asm (the accumulator an in/out register
# operand, for the reason MADD_ACC_HELPER gives); SIMDe builds and other compilers keep the
# intrinsics.
MADDUBS_ACC_HELPER = """#if defined(__AVX2__) && defined(__GNUC__) && !defined(TEXPR_SIMDE)
#define TEXPR_MADDUBS_ACC(acc, a, b, ones) do { __m256i texpr_t_; __asm__("vpmaddubsw %3, %2, %1\\n\\tvpmaddwd %4, %1, %1\\n\\tvpaddd %1, %0, %0" : "+x"(acc), "=&x"(texpr_t_) : "x"(a), "x"(b), "x"(ones)); } while (0)
#else
#define TEXPR_MADDUBS_ACC(acc, a, b, ones) ((acc) = _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((a), (b)), (ones))))
#endif
"""

#: the int16 saturation of vpmaddubsw's pair sums, as dot_u8s8_sat16 declares it
INT16_MIN, INT16_MAX = -32768, 32767


def sat16_pair_sum(a0, b0, a1, b1):
    """clamp(a0 * b0 + a1 * b1, -32768, 32767) over int32 products: one 16-bit lane of AVX2's
    vpmaddubsw, written as an expression (dot_u8s8_sat16 and topi.qnn's saturating dense)."""
    s = Cast(a0, "int32") * Cast(b0, "int32") + Cast(a1, "int32") * Cast(b1, "int32")
    return elementwise_max(elementwise_min(s, const(INT16_MAX, "int32")),
                           const(INT16_MIN, "int32"))


def dot_u8s8_sat16(kc, lanes=16, rows=4, name=None):
    """out[r, j] (+)= sum over groups g < kc/4 and halves h < 2 of
    sat16(a[r, 4g+2h] * b[g, j, 2h] + a[r, 4g+2h+1] * b[g, j, 2h+1]), a uint8, b int8.

    AVX2's fastest int8 product (FBGEMM's): vpmaddubsw multiplies u8 by s8 bytes and sums each
    adjacent pair into int16 with saturation, vpmaddwd by ones sums two of those into int32,
    vpaddd accumulates: 3 instructions per 32 multiply-adds (dot_int16_pairs: 4, plus int16
    operands). The declaration includes the saturation, so it is what the instruction computes
    on every input; it equals the exact sum when every pair sum fits int16 (weights within
    [-64, 64], or activations at most 128), which topi.qnn.DenseInt8 checks before it
    chooses this kernel. Weights packed [kc/4, lanes, 4] as for dot_int8.
    """
    if kc % 4:
        raise TexprError(f"dot_u8s8_sat16: kc={kc} must be a multiple of 4")
    if lanes % 8:
        raise TexprError(f"dot_u8s8_sat16: lanes={lanes} must be a multiple of 8 (AVX2)")
    a = placeholder((rows, kc), "uint8", "a")
    b = placeholder((kc // 4, lanes, 4), "int8", "b")
    kg = reduce_axis((0, kc // 4), "kg")
    h = reduce_axis((0, 2), "h")
    c = compute((rows, lanes), lambda r, j: te_sum(sat16_pair_sum(
        a[r, kg * 4 + h * 2], b[kg, j, h * 2], a[r, kg * 4 + h * 2 + 1], b[kg, j, h * 2 + 1]),
        axis=[kg, h]), name="c")
    who = name or f"dot_u8s8_sat16_{rows}x{lanes}x{kc}"
    nv = lanes // 8

    def avx2(ins, outs):
        A, B = ins
        (C,) = outs
        parts = _broadcast_tile_avx2(who, A, B, C, nv, kc // 4, 4, "int8_t",
                                     "TEXPR_MADDUBS_ACC({acc}, av, b{v}, ones);",
                                     prelude=["const __m256i ones = _mm256_set1_epi16(1);"])
        code = _by_rows(C.extents[0] if C.extents else None, rows, parts)
        code["helpers"] = MADDUBS_ACC_HELPER
        return code

    return decl_tensor_intrin(c.op, {"avx2": avx2}, name=who, inputs=[a, b], partial_axes=(0,))


# popcount of 32 bytes as a nibble table lookup (AVX2 has no vector popcount instruction)
_NIBBLE_COUNTS = ", ".join(str(bin(v).count("1")) for v in range(16))


def _lane_sums(accs, dests):
    """C storing the sum of the 8 64-bit lanes of each __m512i in accs as int32 to dests (C
    lvalues): 8 accumulators at a time to one vector of their sums, by pairs' 128-bit blocks
    interleaved and added (unpacks, then two-source block permutes: 21 instructions for 8,
    where _mm512_reduce_add_epi64 takes 7 for one). Intrinsics SIMDe 0.7.4 has (it lacks
    shuffle_i64x2). (Two sums a lane, b << 32 + a, halves the permutes: no faster on Zen 4.)"""
    zero = "_mm512_setzero_si512()"
    lines = ["const __m512i even_blocks = _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13), "
             "odd_blocks = _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15);"]

    def halves(x, y):
        return (f"_mm512_add_epi64(_mm512_permutex2var_epi64({x}, even_blocks, {y}), "
                f"_mm512_permutex2var_epi64({x}, odd_blocks, {y}))")
    for g in range(0, len(accs), 8):
        a = (accs[g:g + 8] + [zero] * 8)[:8]
        lines.append("{")
        lines += [f"  const __m512i s{i} = _mm512_add_epi64(_mm512_unpacklo_epi64({a[i]}, "
                  f"{a[i + 1]}), _mm512_unpackhi_epi64({a[i]}, {a[i + 1]}));" for i in (0, 2, 4, 6)]
        lines += [f"  const __m512i t0 = {halves('s0', 's2')}, t1 = {halves('s4', 's6')};",
                  "  int32_t sum[8];",
                  f"  _mm256_storeu_si256((__m256i*)sum, _mm512_cvtepi64_epi32({halves('t0', 't1')}));"]
        lines += [f"  {d} = sum[{i}];" for i, d in enumerate(dests[g:g + 8])]
        lines.append("}")
    return ["{"] + lines + ["}"]


def popcount_dot_decl(mr, nr, kw):
    """(a, b, c): c[i, j] = sum_k popcount(a[i, k] & b[j, k]) in int32 over 64-bit words, the
    computation of the popcount GEMM intrinsics (popcount_dot_u64, lut_intrin.py)."""
    from ..lang.expr import popcount
    a = placeholder((mr, kw), "uint64", "a")
    b = placeholder((nr, kw), "uint64", "b")
    k = reduce_axis((0, kw), "k")
    c = compute((mr, nr), lambda i, j: te_sum(popcount(a[i, k] & b[j, k]).astype("int32"),
                                               axis=k), name="c")
    return a, b, c


def popcount_dot_u64(mr, nr, kw, name=None, vpopcntdq=True):
    """c[i, j] = sum_k popcount(a[i, k] & b[j, k]) (int32) over 64-bit words: the tile of a
    bit-serial product (topi.bitserial). AVX-512 with vpopcntdq (the target's vector_popcount):
    VPOPCNTDQ per 64-bit lane, 512 bits a step (else the AVX2 kernel); NEON: vcnt per byte.
    AVX2: 256 bits of every (row, column) pair per step,
    popcount by nibble lookups (vpshufb) summed in bytes and widened (vpsadbw) once every 16
    steps (a byte then holds at most 128); the data row's nibbles are split once per step and
    the weight column's once per row pair. kw must be a multiple of 4 (256-bit steps)."""
    a, b, c = popcount_dot_decl(mr, nr, kw)
    who = name or f"popcount_dot_u64_{mr}x{nr}x{kw}"
    if kw % 4:
        raise TexprError(f"{who}: kw={kw} 64-bit words is not a multiple of 4 (256-bit steps)")

    def operands(ins, outs):
        A, B = ins
        (C,) = outs
        _need_unit(A, 1, who)
        _need_unit(B, 1, who)
        return A, B, C, [(r, q) for r in range(mr) for q in range(nr)]

    def step(A, B, vec, load, count, split_d=lambda r: (), split_w=()):
        """One k step, the same in every kernel: each data row and weight column loaded once
        (split_d(r), split_w: lines deriving more from them), count(r, q) for every pair."""
        lines = []
        for r in range(mr):
            lines.append(f"  {vec} d{r} = {load(f'{A.ptr} + {r} * ({A.strides[0]}) + k')};")
            lines += [f"  {x}" for x in split_d(r)]
        for q in range(nr):
            lines.append(f"  {{ {vec} w = {load(f'{B.ptr} + {q} * ({B.strides[0]}) + k')};")
            lines += [f"    {x}" for x in split_w]
            lines += [f"    {count(r, q)}" for r in range(mr)]
            lines.append("  }")
        return lines

    def load256(p):
        return f"_mm256_loadu_si256((const __m256i*)({p}))"

    def avx2(ins, outs):
        A, B, C, pairs = operands(ins, outs)
        lines = [f"const __m256i tbl = _mm256_setr_epi8({_NIBBLE_COUNTS}, {_NIBBLE_COUNTS});",
                 "const __m256i lo = _mm256_set1_epi8(0x0f);",
                 "__m256i " + ", ".join(f"acc{r}_{q} = _mm256_setzero_si256(), "
                                        f"cnt{r}_{q} = _mm256_setzero_si256()" for r, q in pairs) + ";",
                 f"for (int k = 0; k < {kw}; k += 4) {{"]
        lines += step(A, B, "__m256i", load256, lambda r, q: (
            f"cnt{r}_{q} = _mm256_add_epi8(cnt{r}_{q}, _mm256_add_epi8("
            f"_mm256_shuffle_epi8(tbl, _mm256_and_si256(dl{r}, wl)), "
            f"_mm256_shuffle_epi8(tbl, _mm256_and_si256(dh{r}, wh))));"),
            split_d=lambda r: [f"__m256i dl{r} = _mm256_and_si256(d{r}, lo), dh{r} = "
                               f"_mm256_and_si256(_mm256_srli_epi16(d{r}, 4), lo);"],
            split_w=["__m256i wl = _mm256_and_si256(w, lo), "
                     "wh = _mm256_and_si256(_mm256_srli_epi16(w, 4), lo);"])
        lines.append("  if ((k & 63) == 60) {")
        for r, q in pairs:
            lines.append(f"    acc{r}_{q} = _mm256_add_epi64(acc{r}_{q}, _mm256_sad_epu8(cnt{r}_{q}, "
                         f"_mm256_setzero_si256())); cnt{r}_{q} = _mm256_setzero_si256();")
        lines += ["  }", "}"]
        for r, q in pairs:
            lines.append(f"{{ __m256i s = _mm256_add_epi64(acc{r}_{q}, _mm256_sad_epu8(cnt{r}_{q}, "
                         "_mm256_setzero_si256())); __m128i h = _mm_add_epi64("
                         "_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1)); "
                         f"{C.ptr}[{r} * ({C.strides[0]}) + {q} * ({C.strides[1]})] = (int32_t)"
                         "(_mm_cvtsi128_si64(h) + _mm_extract_epi64(h, 1)); }")
        return {"body": "\n".join(lines)}

    def pop512(r, q):
        return (f"acc{r}_{q} = _mm512_add_epi64(acc{r}_{q}, _mm512_popcnt_epi64("
                f"_mm512_and_si512(d{r}, w)));")

    def store_sums(C, pairs, total):
        return [f"{C.ptr}[{r} * ({C.strides[0]}) + {q} * ({C.strides[1]})] = (int32_t)"
                f"({total(r, q)});" for r, q in pairs]

    def avx512(ins, outs):
        """VPOPCNTDQ where asked (vpopcntdq: the target has it; SIMDe emulates it): an AND and
        a 64-bit lane count per pair and 512-bit step (a last one of 256 bits), the tile's
        sums added across lanes together (_lane_sums); else, or where the compiler was not
        given the extension, the AVX2 kernel (AVX-512 CPUs without it; SIMDe's emulated count
        is slower than the nibble lookups)."""
        if not vpopcntdq:
            return avx2(ins, outs)
        A, B, C, pairs = operands(ins, outs)
        lines = ["#if defined(__AVX512VPOPCNTDQ__) || defined(TEXPR_SIMDE)",
                 "__m512i " + ", ".join(f"acc{r}_{q} = _mm512_setzero_si512()" for r, q in pairs)
                 + ";",
                 f"for (int k = 0; k < {kw // 8 * 8}; k += 8) {{"]
        lines += step(A, B, "__m512i", lambda p: f"_mm512_loadu_si512((const void*)({p}))", pop512)
        lines.append("}")
        if kw % 8:          # the last 4 words: 256-bit loads, zeros above them
            lines.append(f"{{ const int k = {kw // 8 * 8};")
            lines += step(A, B, "__m512i", lambda p: "_mm512_inserti64x4(_mm512_setzero_si512(), "
                          f"{load256(p)}, 0)", pop512)
            lines.append("}")
        lines += _lane_sums([f"acc{r}_{q}" for r, q in pairs],
                            [f"{C.ptr}[{r} * ({C.strides[0]}) + {q} * ({C.strides[1]})]"
                             for r, q in pairs])
        lines += ["#else", avx2(ins, outs)["body"], "#endif"]
        return {"body": "\n".join(lines)}

    def neon(ins, outs):
        """vcnt per byte of each AND, byte counts summed for 16 steps (at most 128 a byte),
        then widened by pairwise adds (vpaddl / vpadal) into 64-bit sums."""
        A, B, C, pairs = operands(ins, outs)
        lines = ["uint64x2_t " + ", ".join(f"acc{r}_{q} = vdupq_n_u64(0)" for r, q in pairs) + ";",
                 "uint8x16_t " + ", ".join(f"cnt{r}_{q} = vdupq_n_u8(0)" for r, q in pairs) + ";",
                 f"for (int k = 0; k < {kw}; k += 2) {{"]
        lines += step(A, B, "uint64x2_t", lambda p: f"vld1q_u64((const uint64_t*)({p}))",
                      lambda r, q: f"cnt{r}_{q} = vaddq_u8(cnt{r}_{q}, vcntq_u8("
                                   f"vreinterpretq_u8_u64(vandq_u64(d{r}, w))));")
        lines.append("  if ((k & 31) == 30) {")
        for r, q in pairs:
            lines.append(f"    acc{r}_{q} = vpadalq_u32(acc{r}_{q}, vpaddlq_u16(vpaddlq_u8("
                         f"cnt{r}_{q}))); cnt{r}_{q} = vdupq_n_u8(0);")
        lines += ["  }", "}"]
        for r, q in pairs:
            lines.append(f"acc{r}_{q} = vpadalq_u32(acc{r}_{q}, vpaddlq_u16(vpaddlq_u8(cnt{r}_{q})));")
        lines += store_sums(C, pairs, lambda r, q: f"vaddvq_u64(acc{r}_{q})")
        return {"body": "\n".join(lines)}

    return decl_tensor_intrin(c.op, {"avx2": avx2, "avx512": avx512, "neon": neon}, name=who,
                              inputs=[a, b])
