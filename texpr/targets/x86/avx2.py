"""AVX2/FMA emitter: the vector operations of the C emitter as x86 intrinsics."""
import math

from ..c.emitter import CEmitter, unparen, const_operand
from ...lang import dtypes
from ...lang.ir import Broadcast, Ramp
from ...lower.analysis.patterns import lane_bits

# dtype -> (intrinsic suffix, register type)
_FLOAT = {"float32x8": ("ps", "__m256"), "float64x4": ("pd", "__m256d")}
_INT256 = ("int32x8", "int64x4", "uint32x8", "int16x16", "int8x32", "uint8x32")
_FLOAT_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div"}
_INT32_OPS = {"+": "add_epi32", "-": "sub_epi32", "*": "mullo_epi32", "min": "min_epi32",
              "max": "max_epi32"}


# p[0], p[2], .., p[14]: reads p[0..14] only (the elements the strided access covers): the even
# elements of p[0..7] and the odd ones of p[7..14], in order after a 64-bit lane permute
LOAD_STRIDE2_BODY = """  __m256 t = _mm256_shuffle_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 7), _MM_SHUFFLE(3, 1, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));"""
_LOAD_STRIDE2 = ("static inline __m256 texpr_load_stride2_float32x8(const float* p) {\n"
                 + LOAD_STRIDE2_BODY + "\n}")


def _masked_forms():
    """dtype -> (intrinsic prefix, suffix, element pointer type, register type) of the AVX /
    AVX2 masked loads and stores (vmaskmovps/pd, vpmaskmovd/q): 128- and 256-bit vectors of
    32- and 64-bit elements, under a vector mask (the sign bit of each lane)."""
    forms = {}
    for bits, prefix in ((128, "_mm"), (256, "_mm256")):
        reg = "__m128" if bits == 128 else "__m256"
        for elem, sfx, ptr, r in (("float32", "ps", "float", reg), ("float64", "pd", "double", reg + "d"),
                                  ("int32", "epi32", "int", reg + "i"), ("uint32", "epi32", "int", reg + "i"),
                                  ("int64", "epi64", "long long", reg + "i"),
                                  ("uint64", "epi64", "long long", reg + "i")):
            lanes = bits // dtypes.bits(elem)
            forms[f"{elem}x{lanes}"] = (prefix, sfx, ptr, r)
    return forms


#: the vectors with masked loads and stores (lower/cpu: Target.masked_access, the AVX2 rule)
MASKED = _masked_forms()


def _lanemask(bits, lanes):
    """C of `texpr_lanemask_<bits>x<lanes>(n)`: the vector mask of lanes [0, n) (n clamped
    to [0, lanes]), a compare of n with the lane numbers."""
    p, reg = ("_mm", "__m128i") if bits * lanes == 128 else ("_mm256", "__m256i")
    if bits == 32:
        n, ids = f"{p}_set1_epi32((int)n)", f"{p}_setr_epi32({', '.join(map(str, range(lanes)))})"
    else:   # (SSE has no _mm_setr_epi64x: _mm_set_epi64x takes the high lane first)
        n = f"{p}_set1_epi64x(n)"
        ids = "_mm_set_epi64x(1, 0)" if p == "_mm" else "_mm256_setr_epi64x(0, 1, 2, 3)"
    return (f"static inline {reg} texpr_lanemask_{bits}x{lanes}(int64_t n) {{ "
            f"n = n < 0 ? 0 : n > {lanes} ? {lanes} : n; "
            f"return {p}_cmpgt_epi{bits}({n}, {ids}); }}")


class AVX2Emitter(CEmitter):
    target_name = "avx2"
    includes = CEmitter.includes + ["<immintrin.h>"]

    @classmethod
    def prefix_header(cls, flags):
        """The standard headers and immintrin.h, which gcc parses in ~0.6 s per kernel
        otherwise (7x the compile of a small kernel), in the order the source includes them."""
        return "".join(f"#include {h}\n" for h in cls.includes)

    def vector_typedef(self, dt):
        if dt in _FLOAT:
            return f"typedef {_FLOAT[dt][1]} {self.ty_name(dt)};"
        return super().vector_typedef(dt)

    def ty_name(self, dt):
        from ..c.emitter import vtype
        return vtype(dt)

    LOAD = {**{dt: f"_mm256_loadu_{sfx}(&{{buf}}[{{base}}])" for dt, (sfx, _) in _FLOAT.items()},
            **{dt: "(({ty})_mm256_loadu_si256((const __m256i*)&{buf}[{base}]))" for dt in _INT256}}
    STORE = {**{dt: f"_mm256_storeu_{sfx}(&{{buf}}[{{base}}], {{value}});"
                for dt, (sfx, _) in _FLOAT.items()},
             **{dt: "_mm256_storeu_si256((__m256i*)&{buf}[{base}], (__m256i)({value}));"
                for dt in _INT256}}
    # non-temporal (vmovntps: 32-byte aligned; stream_stores loops start on 64-byte lines)
    STREAM = {dt: f"_mm256_stream_{sfx}(&{{buf}}[{{base}}], {{value}});"
              for dt, (sfx, _) in _FLOAT.items()}
    STREAM_FENCE = "_mm_sfence();"
    BROADCAST = {**{dt: f"_mm256_set1_{sfx}({{s}})" for dt, (sfx, _) in _FLOAT.items()},
                 "int32x8": "(({ty})_mm256_set1_epi32({s}))"}
    BINOP = {**{(op, dt): f"_mm256_{name}_{sfx}({{a}}, {{b}})"
                for dt, (sfx, _) in _FLOAT.items() for op, name in _FLOAT_OPS.items()},
             **{(op, "int32x8"): f"(({{ty}})_mm256_{name}((__m256i)({{a}}), (__m256i)({{b}})))"
                for op, name in _INT32_OPS.items()}}

    #: float16 <-> float32 vector conversions as F16C instructions (every AVX2 CPU has F16C;
    #: the kernel then enables it: prelude), rounding to nearest even
    F16C = {("float16x8", "float32x8"): "_mm256_cvtph_ps((__m128i)({x}))",
            ("float32x8", "float16x8"):
                "(({ty})_mm256_cvtps_ph({x}, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))"}

    #: bfloat16 <-> float32 vectors in AVX2 integer instructions (the rule of c/half.py)
    BF16 = {("bfloat16x8", "float32x8"):
            "_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32((__m128i)({x})), 16))",
            ("float32x8", "bfloat16x8"): "texpr_narrow_bf16_avx2({x})"}

    def half_vector_cast(self, e, x):
        key = (e.value.dtype, e.dtype)
        if key in self.F16C:
            self.uses_f16c = True
            return self.F16C[key].format(x=x, ty=self.ty(e.dtype))
        if key in self.BF16:
            if key[1] == "bfloat16x8":
                self.helper("half_narrow_bf16_avx2", _NARROW_BF16.format(ty=self.ty(key[1])))
            return self.BF16[key].format(x=x)
        return super().half_vector_cast(e, x)

    def popcount(self, a, dt):
        self.uses_popcnt = True
        return super().popcount(a, dt)

    def prelude(self):
        # after the includes (the precompiled header), only in kernels that use them: F16C
        # converting float16 vectors, POPCNT for popcount (else a libgcc call per word)
        isa = [f for f, used in (("f16c", "uses_f16c"), ("popcnt", "uses_popcnt"))
               if getattr(self, used, False)]
        return [f'#pragma GCC target("{",".join(isa)}")'] if isa else []

    VECTOR_MATH_ISA = {"float32x8": {"fma": "return _mm256_fmadd_ps(a, b, c);",
                                     "sqrt": "return _mm256_sqrt_ps(x);",
                                     # maxps(a, b) = a > b ? a : b: b where unordered, as
                                     # the portable select of vm_max / vm_min
                                     "max": "return _mm256_max_ps(a, b);",
                                     "min": "return _mm256_min_ps(a, b);"}}

    # dtype -> C of `texpr_load_stride2_<dtype>(const float* p)`: p[0], p[2], ... (the last
    # element read is the last lane's: never p[2 * lanes - 1], which may lie past the row)
    LOAD_STRIDE2 = {"float32x8": _LOAD_STRIDE2}

    def expr_BufferLoad(self, e):
        """A float32x8 load of every other element (a stride-2 convolution or pooling reading
        its input columns) as two loads and two shuffles instead of eight scalar loads (wider
        vectors of LOAD_STRIDE2: their helper, after the narrower ones it may call)."""
        idx = e.indices[0]
        if e.dtype in self.LOAD_STRIDE2 and e.predicate is None and isinstance(idx, Ramp) \
                and isinstance(idx.stride, int) and idx.stride == 2:
            for dt, text in self.LOAD_STRIDE2.items():
                if dtypes.lanes(dt) <= dtypes.lanes(e.dtype):
                    self.helper("load_stride2_" + dt, text)
            return (f"texpr_load_stride2_{e.dtype}(&{self.buf(e.buffer)}"
                    f"[{unparen(self.idx(idx.base))}])")
        return super().expr_BufferLoad(e)

    #: movemask of a compare's lanes by vector bytes (_mm512 in AVX512Emitter)
    MOVEMASK = {16: "_mm_movemask_ps((__m128)", 32: "_mm256_movemask_ps((__m256)"}

    def expr_LaneReduce(self, e):
        """A bit per lane whose comparison holds (lane_bits: a vectorized loop's
        `m = m | (1 << lane if a cmp b else 0)`) as one movemask of the compare's lanes."""
        found = lane_bits(e)
        fn = found and self.MOVEMASK.get(found[2] * 4)
        if not fn:
            return super().expr_LaneReduce(e)
        c, base, n, negated = found
        it = self.ty(f"int32x{n}")
        bits = f"{fn}(({it})({self.expr(c.a)} {c.op} {self.expr(c.b)})))"
        if negated:
            bits = f"(~{bits} & {(1 << n) - 1})"
        return f"((int32_t){bits} << {base})" if base else f"((int32_t){bits})"

    def lane_mask(self, dt, count):
        """The vector mask of lanes [0, count) of dt's vectors (a helper per width)."""
        bits, lanes = dtypes.bits(dtypes.element(dt)), dtypes.lanes(dt)
        self.helper(f"lanemask_{bits}x{lanes}", _lanemask(bits, lanes))
        return f"texpr_lanemask_{bits}x{lanes}({unparen(count)})"

    def masked_vector_load(self, e, buf, base, count):
        """Lanes [0, count) by vmaskmov / vpmaskmov (the others 0; masked-off lanes are never
        read, so they may lie past the buffer's end), for 32- and 64-bit elements."""
        if e.dtype not in MASKED:
            return super().masked_vector_load(e, buf, base, count)
        prefix, sfx, ptr, _ = MASKED[e.dtype]
        return (f"(({self.ty(e.dtype)}){prefix}_maskload_{sfx}((const {ptr}*)&{buf}"
                f"[{unparen(base)}], {self.lane_mask(e.dtype, count)}))")

    def masked_vector_store(self, b, buf, base, value, count):
        dt = value.dtype
        if dt not in MASKED:
            return super().masked_vector_store(b, buf, base, value, count)
        prefix, sfx, ptr, reg = MASKED[dt]
        return (f"{prefix}_maskstore_{sfx}(({ptr}*)&{buf}[{unparen(base)}], "
                f"{self.lane_mask(dt, count)}, ({reg})({unparen(self.expr(value))}));")

    def vector_binop(self, e):
        if e.dtype in _FLOAT and e.op in ("min", "max"):
            sfx = _FLOAT[e.dtype][0]
            return self.float_minmax(e, f"_mm256_{e.op}_{sfx}", lambda m, b: (
                f"_mm256_blendv_{sfx}({m}, {b}, _mm256_cmp_{sfx}({b}, {b}, _CMP_UNORD_Q))"))
        return super().vector_binop(e)

    def expr_FusedMulAdd(self, e):
        if e.dtype in _FLOAT and e.form in FMA_NAMES:
            return self.fma_call(f"_mm256_{FMA_NAMES[e.form]}_{_FLOAT[e.dtype][0]}", e)
        return super().expr_FusedMulAdd(e)

    def fma_call(self, name, e):
        return (f"{name}({unparen(self.expr(e.a))}, {unparen(self.expr(e.b))}, "
                f"{unparen(self.expr(e.c))})")

    def float_minmax(self, e, fn, where_b_is_nan):
        """min/max of float vectors as NumPy's np.minimum(a, b): a NaN in either operand is the
        result, and of equal operands (-0.0 and 0.0) the second. x86's min/max(a, b) is
        `a < b ? a : b` (`>` for max): the second operand when equal or when either is NaN. So
        a constant first operand (never NaN) needs nothing; a constant second one is swapped
        first when it is not zero (equal operands are then the same bits), and +0.0 is
        swapped and 0.0 added (which turns the -0.0 the swap may give into 0.0 and keeps
        every other value); otherwise `where_b_is_nan(m, b)` (C text: m where b is not NaN,
        else b) puts a NaN a back into m = min/max(a, b)."""
        if const_operand(e.a):
            return f"{fn}({unparen(self.expr(e.a))}, {unparen(self.expr(e.b))})"
        if const_operand(e.b):
            c = e.b.value if isinstance(e.b, Broadcast) else e.b
            text = f"{fn}({unparen(self.expr(e.b))}, {unparen(self.expr(e.a))})"
            if c.value != 0:
                return text
            if math.copysign(1.0, c.value) > 0:
                return f"{fn.replace('_' + e.op + '_', '_add_')}({text}, {unparen(self.expr(e.b))})"
        t = self.ty(e.dtype)
        body = where_b_is_nan(f"{fn}(a, b)", "a")
        self.helper(f"nan{e.op}_{e.dtype}", f"static inline {t} texpr_nan{e.op}_{e.dtype}({t} a, "
                    f"{t} b) {{ return {body}; }}")
        return f"texpr_nan{e.op}_{e.dtype}({unparen(self.expr(e.a))}, {unparen(self.expr(e.b))})"


_NARROW_BF16 = (
    "static inline {ty} texpr_narrow_bf16_avx2(__m256 f) {{ __m256i u = _mm256_castps_si256(f); "
    "__m256i hi = _mm256_srli_epi32(u, 16); "
    "__m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), "
    "_mm256_and_si256(hi, _mm256_set1_epi32(1))), 16); "
    "__m256i nan = _mm256_castps_si256(_mm256_cmp_ps(f, f, _CMP_UNORD_Q)); "
    "r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan); "
    "return ({ty})_mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)); }}")

#: fused multiply-add forms (lower/cpu/isel.py) -> x86 intrinsic name part
FMA_NAMES = {"ab+c": "fmadd", "c+ab": "fmadd", "ab-c": "fmsub"}

