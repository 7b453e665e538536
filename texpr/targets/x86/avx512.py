"""AVX-512 emitter: 512-bit vectors as _mm512_* intrinsics, masked loads/stores for tails.

One source runs two ways. Natively: gcc -mavx512f -mavx512bw -mavx512vl -mavx512dq. On a CPU
without AVX-512: compiled with -DTEXPR_SIMDE, SIMDe implements the _mm512_* names on AVX2
(`#define SIMDE_ENABLE_NATIVE_ALIASES` + `<simde/x86/avx512.h>`). The few intrinsics the
installed SIMDe lacks (masked loads/stores, conversions in SIMDe 0.7.4) get small portable
definitions in the TEXPR_SIMDE branch of the source, only those the kernel uses and only when
SIMDe does not define them itself.

Vector types: float32x16 / float64x8 are __m512 / __m512d; integer vectors stay GCC vector
types and are reinterpreted as __m512i around intrinsics. Anything not overridden here (other
widths, other dtypes, other operators) falls back to the AVX2 and C emitters: GCC vector
extensions work on __m512 too (it is a GCC vector type natively and under SIMDe).
"""
import re

from ...lang import dtypes
from .avx2 import FMA_NAMES, LOAD_STRIDE2_BODY, AVX2Emitter
from .. import vecmath
from ..c.emitter import CEmitter, unparen

# float dtype -> (intrinsic suffix, register type, mask type)
_F512 = {"float32x16": ("ps", "__m512", "__mmask16"), "float64x8": ("pd", "__m512d", "__mmask8")}
# 256-bit float vectors (the AVX2 tables) under an AVX-512VL mask in tails
_F256 = {"float32x8": ("ps", "__m256", "__mmask8"), "float64x4": ("pd", "__m256d", "__mmask8")}
# integer element width -> (suffix of the element size, mask type)
_IW = {8: ("epi8", "__mmask64"), 16: ("epi16", "__mmask32"), 32: ("epi32", "__mmask16"),
       64: ("epi64", "__mmask8")}
_I512 = {f"{s}int{b}x{512 // b}": b for b in (8, 16, 32, 64) for s in ("", "u")}


_INTRINSICS_IN = {}     # table template -> the _mm512_ names in it


def _int512_ops(dt, w):
    """op -> intrinsic name (after _mm512_) of an integer vector dtype of w-bit lanes."""
    sfx = _IW[w][0]
    u = "epu" if dtypes.is_unsigned(dt) else "epi"
    names = {"+": f"add_{sfx}", "-": f"sub_{sfx}", "min": f"min_{u}{w}", "max": f"max_{u}{w}"}
    if w != 8:
        names["*"] = f"mullo_{sfx}"      # low half of the product: C's wrap-around
    return names

# (source dtype, target dtype) -> conversion intrinsic (and the register type of its operand)
_CONVERT = {
    ("int32x16", "float32x16"): ("_mm512_cvtepi32_ps", "__m512i"),
    ("float32x16", "int32x16"): ("_mm512_cvttps_epi32", None),     # truncates, like C
    ("float32x8", "float64x8"): ("_mm512_cvtps_pd", None),
    ("float64x8", "float32x8"): ("_mm512_cvtpd_ps", None),
    ("int32x8", "float64x8"): ("_mm512_cvtepi32_pd", "__m256i"),
    ("float64x8", "int32x8"): ("_mm512_cvttpd_epi32", None),
}


def _shim_masked(sfx, vec, elem, lanes, mask, bits=512):
    """Portable masked load/store of `bits`-wide vectors: inactive lanes are never touched
    (0 when loaded)."""
    v = f"texpr_shim_v{lanes}_{elem}"
    vt = f"typedef {elem} {v} __attribute__((vector_size({bits // 8})));"
    mm = f"mm{bits}"
    load = (f"{vt}\nstatic inline {vec} texpr_shim_{mm}_maskz_loadu_{sfx}({mask} k, const void* p) "
            f"{{ {v} r = {{0}}; const {elem}* q = (const {elem}*)p; "
            f"for (int l = 0; l < {lanes}; ++l) if ((k >> l) & 1) r[l] = q[l]; return ({vec})r; }}")
    store = (f"{vt}\nstatic inline void texpr_shim_{mm}_mask_storeu_{sfx}(void* p, {mask} k, {vec} a) "
             f"{{ {v} x = ({v})a; {elem}* q = ({elem}*)p; "
             f"for (int l = 0; l < {lanes}; ++l) if ((k >> l) & 1) q[l] = x[l]; }}")
    return {f"_{mm}_maskz_loadu_{sfx}": ("(k, p)", load),
            f"_{mm}_mask_storeu_{sfx}": ("(p, k, a)", store)}


def _shim_convert(name, ret, arg, src_vec):
    """A conversion as __builtin_convertvector (C's conversion: truncation for float->int)."""
    fn = "texpr_shim" + name
    if src_vec is None:
        body = f"return ({ret})__builtin_convertvector(a, {ret});"
        if ret in ("__m512i", "__m256i"):
            n = 16 if ret == "__m512i" else 8
            body = (f"typedef int32_t v __attribute__((vector_size({4 * n}))); "
                    f"return ({ret})__builtin_convertvector(a, v);")
        return {name: ("(a)", f"static inline {ret} {fn}({arg} a) {{ {body} }}")}
    n = 16 if src_vec == "__m512i" else 8
    return {name: ("(a)", f"static inline {ret} {fn}({arg} a) {{ typedef int32_t v __attribute__("
                          f"(vector_size({4 * n}))); return __builtin_convertvector((v)a, {ret}); }}")}


_SHIMS = {}
for _sfx, _vec, _elem, _lanes, _mask in (("ps", "__m512", "float", 16, "__mmask16"),
                                         ("pd", "__m512d", "double", 8, "__mmask8"),
                                         ("epi32", "__m512i", "int32_t", 16, "__mmask16"),
                                         ("epi64", "__m512i", "int64_t", 8, "__mmask8"),
                                         ("epi16", "__m512i", "int16_t", 32, "__mmask32"),
                                         ("epi8", "__m512i", "int8_t", 64, "__mmask64")):
    _SHIMS.update(_shim_masked(_sfx, _vec, _elem, _lanes, _mask))
for _dt, (_sfx, _vec, _mask) in _F256.items():
    _SHIMS.update(_shim_masked(_sfx, _vec, dtypes.C_TYPES[dtypes.element(_dt)],
                               dtypes.lanes(_dt), _mask, bits=256))
_SHIMS.update(_shim_convert("_mm512_cvtepi32_ps", "__m512", "__m512i", "__m512i"))
_SHIMS.update(_shim_convert("_mm512_cvttps_epi32", "__m512i", "__m512", None))
_SHIMS.update(_shim_convert("_mm512_cvtps_pd", "__m512d", "__m256", None))
_SHIMS.update(_shim_convert("_mm512_cvtpd_ps", "__m256", "__m512d", None))
_SHIMS.update(_shim_convert("_mm512_cvtepi32_pd", "__m512d", "__m256i", "__m256i"))
_SHIMS.update(_shim_convert("_mm512_cvttpd_epi32", "__m256i", "__m512d", None))
# float16 <-> float32 (AVX512F's vcvtph2ps / vcvtps2ph, missing in SIMDe 0.7.4) as C conversions
# of _Float16 vectors: round to nearest even, as the instruction with _MM_FROUND_TO_NEAREST_INT
# (GCC converts them lane by lane: right, not fast; emulation is for tests)
_F16_V16 = "typedef _Float16 texpr_shim_v16__Float16 __attribute__((vector_size(32)));"
_F32_V16 = "typedef float texpr_shim_v16_float __attribute__((vector_size(64)));"
_SHIMS["_mm512_cvtph_ps"] = ("(a)", f"{_F16_V16}\n{_F32_V16}\nstatic inline __m512 "
                             "texpr_shim_mm512_cvtph_ps(__m256i a) { return (__m512)"
                             "__builtin_convertvector((texpr_shim_v16__Float16)a, "
                             "texpr_shim_v16_float); }")
_SHIMS["_mm512_cvtps_ph"] = ("(a, r)", f"{_F16_V16}\n{_F32_V16}\nstatic inline __m256i "
                             "texpr_shim_mm512_cvtps_ph(__m512 a, int r) { (void)r; return (__m256i)"
                             "__builtin_convertvector((texpr_shim_v16_float)a, "
                             "texpr_shim_v16__Float16); }")
for _sfx, _vec, _elem in (("ps", "__m512", "float"), ("pd", "__m512d", "double")):
    # SIMDe has no streaming store: an ordinary one (emulation only checks results)
    _SHIMS[f"_mm512_stream_{_sfx}"] = ("(p, a)", f"static inline void texpr_shim_mm512_stream_"
                                       f"{_sfx}({_elem}* p, {_vec} a) {{ _mm512_storeu_{_sfx}(p, a); }}")

def _balanced_at_end(s, k):
    """True when the parenthesis opened at s[k] closes at the end of s."""
    depth = 0
    for j in range(k, len(s)):
        depth += s[j] == "("
        depth -= s[j] == ")"
        if depth == 0:
            return j == len(s) - 1
    return False


def _paren(s):
    """s as an operand of a cast: parenthesized unless it already is one unit."""
    if s.startswith("(") and _balanced_at_end(s, 0):
        return s
    m = re.match(r"[A-Za-z_]\w*\(", s)
    if m and _balanced_at_end(s, m.end() - 1):
        return s
    return f"({s})"


def _as_m512i(s):
    """An integer vector as __m512i: `((texpr_int32x16)_mm512_...(...))` is one already."""
    s = unparen(s)
    m = re.match(r"\(texpr_u?int\d+x\d+\)(_mm512_\w+\()", s)
    if m and _balanced_at_end(s, m.end() - 1):
        return s[m.start(1):]
    return f"(__m512i){_paren(s)}"


_LANEMASK = ("static inline uint64_t texpr_lanemask(int64_t n, int lanes) { /* lanes [0, n) */ "
             "return n <= 0 ? 0 : n >= lanes ? (lanes >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << lanes) - 1) "
             ": (UINT64_C(1) << n) - 1; }")


# stride-2 loads (p[0], p[2], ..., never p[2 * lanes - 1]): one two-source lane permute of
# p[0..lanes-1] and p[lanes-1..2*lanes-2] (vpermt2ps; AVX-512VL for 8 lanes); under SIMDe
# (no AVX-512) the AVX2 shuffles, for 16 lanes GCC's vector shuffle of the same two loads
_LOAD_STRIDE2 = {
    "float32x8": "static inline __m256 texpr_load_stride2_float32x8(const float* p) {\n"
                 "#if defined(TEXPR_SIMDE)\n" + LOAD_STRIDE2_BODY + "\n#else\n"
                 "  return _mm256_permutex2var_ps(_mm256_loadu_ps(p), "
                 "_mm256_setr_epi32(0, 2, 4, 6, 9, 11, 13, 15), _mm256_loadu_ps(p + 7));\n"
                 "#endif\n}",
    "float32x16": "static inline __m512 texpr_load_stride2_float32x16(const float* p) {\n"
                  "#if defined(TEXPR_SIMDE)\n"
                  "  typedef float f16v __attribute__((vector_size(64)));\n"
                  "  typedef int32_t i16v __attribute__((vector_size(64)));\n"
                  "  f16v a, b, r; __m512 out;\n"
                  "  memcpy(&a, p, 64); memcpy(&b, p + 15, 64);\n"
                  "  r = __builtin_shuffle(a, b, (i16v){0, 2, 4, 6, 8, 10, 12, 14, "
                  "17, 19, 21, 23, 25, 27, 29, 31});\n"
                  "  memcpy(&out, &r, 64); return out;\n"
                  "#else\n"
                  "  return _mm512_permutex2var_ps(_mm512_loadu_ps(p), _mm512_setr_epi32("
                  "0, 2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29, 31), "
                  "_mm512_loadu_ps(p + 15));\n"
                  "#endif\n}"}


class AVX512Emitter(AVX2Emitter):
    target_name = "avx512"
    includes = list(CEmitter.includes)

    # scale2 (p 2^n of exp): vscalefps, one instruction for the integer shifts, adds and two
    # products of the portable code; under SIMDe the portable code (SIMDe's scalef goes
    # through exp2 and flushes denormals)
    VECTOR_MATH_ISA = {**AVX2Emitter.VECTOR_MATH_ISA,
                       "float32x16": {"fma": "return _mm512_fmadd_ps(a, b, c);",
                                      "sqrt": "return _mm512_sqrt_ps(x);",
                                      "max": "return _mm512_max_ps(a, b);",
                                      "min": "return _mm512_min_ps(a, b);",
                                      "scale2": "\n#if defined(TEXPR_SIMDE)\n  "
                                                + vecmath.SCALE2 +
                                                "\n#else\n  return _mm512_scalef_ps(p, n);"
                                                "\n#endif\n"}}

    def __init__(self, func, parallel_runtime="openmp"):
        super().__init__(func, parallel_runtime)
        self.used_intrinsics = set()

    @classmethod
    def prefix_header(cls, flags):
        """The standard headers and SIMDe's AVX-512 (parsed in ~1 s per kernel otherwise) or,
        on a CPU with AVX-512, immintrin.h, in the order the source includes them."""
        if "-DTEXPR_SIMDE" not in flags:
            return "".join(f"#include {h}\n" for h in cls.includes + ["<immintrin.h>"])
        return "\n".join([f"#include {h}" for h in cls.includes]
                         + ["#define SIMDE_ENABLE_NATIVE_ALIASES", "#include <simde/x86/avx512.h>",
                            ""])

    #: float16 <-> float32 vectors: 8 lanes by AVX2's F16C instructions, 16 by AVX512F's zmm
    #: forms. As C conversions GCC converts a 16-lane _Float16 vector one lane at a time: on
    #: Zen 4 (1 thread, CPU time) the fp16 sparse_lengths_sum of benchmarks/numerics.py took
    #: 3.06 ms (AVX2 kernel 1.84), now 1.34; the fp16 dense at batch 1 19.1 ms (3.24), now 3.14
    F16C = {**AVX2Emitter.F16C,
            ("float16x16", "float32x16"): "_mm512_cvtph_ps((__m256i)({x}))",
            ("float32x16", "float16x16"):
                "(({ty})_mm512_cvtps_ph({x}, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))"}
    BF16 = {}    # bfloat16: the C vector helpers of c/half.py (integer shifts at any width)

    def half_vector_cast(self, e, x):
        """AVX2's (F16C's table), its _mm512_ intrinsics noted (the SIMDe prelude shims them)."""
        out = super().half_vector_cast(e, x)
        self.used_intrinsics.update(re.findall(r"_mm512_\w+", out))
        return out
    LOAD_STRIDE2 = _LOAD_STRIDE2

    def prelude(self):
        """SIMDe in place of immintrin.h where the CPU has no AVX-512 (-DTEXPR_SIMDE), with shims
        for the intrinsics this SIMDe version lacks, only those the kernel used; F16C enabled
        (as the AVX2 prelude does) in kernels that convert float16 vectors: -mavx512f does not
        imply it, and the 8-lane conversions (_mm256_cvtph_ps) need it."""
        f16c = ['#pragma GCC target("f16c")'] if getattr(self, "uses_f16c", False) else []
        typedefs, shims = [], []
        for name in sorted(self.used_intrinsics & set(_SHIMS)):
            params, text = _SHIMS[name]
            lines = text.split("\n")
            typedefs += [ln for ln in lines if ln.startswith("typedef") and ln not in typedefs]
            shims += [f"#ifndef {name}   /* not in this SIMDe version */"]
            shims += [ln for ln in lines if not ln.startswith("typedef")]
            shims += [f"#define {name}{params} texpr_shim{name}{params}", "#endif"]
        shims = typedefs + shims
        return (f16c + ["#if defined(TEXPR_SIMDE)   /* no AVX-512 on this CPU: SIMDe implements it */",
                        "#define SIMDE_ENABLE_NATIVE_ALIASES", "#include <simde/x86/avx512.h>"]
                + shims + ["#else", "#include <immintrin.h>", "#endif"])

    def intrin(self, name):
        self.used_intrinsics.add(name)
        return name

    def stream_store(self, dt, buf, base, value):
        if dt in _F512:
            self.intrin("_mm512_stream_" + _F512[dt][0])
        return super().stream_store(dt, buf, base, value)

    def stmt_IntrinCall(self, s):
        """A tensor intrinsic's C, its _mm intrinsics noted (the SIMDe prelude shims those
        missing, e.g. the masked loads of a GEMM tile of fewer columns)."""
        lines, start = self.lines, len(self.lines)
        super().stmt_IntrinCall(s)
        for ln in lines[start:]:
            if "_mm" in ln:
                self.used_intrinsics.update(re.findall(r"_mm(?:256|512)_\w+", ln))

    # ------------------------------------------------------------------ types
    def vector_typedef(self, dt):
        if dt in _F512:
            return f"typedef {_F512[dt][1]} {self.ty_name(dt)};"
        return super().vector_typedef(dt)

    def _mask(self, dt, count):
        lanes = dtypes.lanes(dt)
        floats = {**_F512, **_F256}
        mask = floats[dt][2] if dt in floats else _IW[_I512[dt]][1]
        self.helper("lanemask", _LANEMASK)
        return f"({mask})texpr_lanemask({unparen(count)}, {lanes})"

    # ------------------------------------------------------------------ instruction tables
    LOAD = {**AVX2Emitter.LOAD,
            **{dt: f"_mm512_loadu_{sfx}(&{{buf}}[{{base}}])" for dt, (sfx, _, _) in _F512.items()},
            **{dt: "(({ty})_mm512_loadu_si512((const void*)&{buf}[{base}]))" for dt in _I512}}
    STORE = {**AVX2Emitter.STORE,
             **{dt: f"_mm512_storeu_{sfx}(&{{buf}}[{{base}}], {{value}});"
                for dt, (sfx, _, _) in _F512.items()},
             **{dt: "_mm512_storeu_si512((void*)&{buf}[{base}], {value:m512i});" for dt in _I512}}
    STREAM = {**AVX2Emitter.STREAM,
              **{dt: f"_mm512_stream_{sfx}(&{{buf}}[{{base}}], {{value}});"
                 for dt, (sfx, _, _) in _F512.items()}}
    BROADCAST = {**AVX2Emitter.BROADCAST,
                 **{dt: f"_mm512_set1_{sfx}({{s}})" for dt, (sfx, _, _) in _F512.items()},
                 **{dt: f"(({{ty}})_mm512_set1_{_IW[w][0]}({{s}}))" for dt, w in _I512.items()}}
    BINOP = {**AVX2Emitter.BINOP,
             **{(op, dt): f"_mm512_{name}_{sfx}({{a}}, {{b}})"
                for dt, (sfx, _, _) in _F512.items()
                for op, name in {"+": "add", "-": "sub", "*": "mul", "/": "div"}.items()},
             **{(op, dt): f"(({{ty}})_mm512_{name}({{a:m512i}}, {{b:m512i}}))"
                for dt, w in _I512.items() for op, name in _int512_ops(dt, w).items()}}

    def fill(self, template, dtype, **fields):
        """A table entry, its _mm512_ intrinsics noted (the SIMDe prelude shims those missing)."""
        out = super().fill(template, dtype, **fields)
        names = _INTRINSICS_IN.get(template)
        if names is None:
            names = _INTRINSICS_IN[template] = frozenset(re.findall(r"_mm512_\w+", template))
        self.used_intrinsics.update(names)
        return out

    def operand_m512i(self, text):
        return _as_m512i(text)

    MOVEMASK = {**AVX2Emitter.MOVEMASK, 64: "_mm512_movepi32_mask((__m512i)"}

    def masked_vector_load(self, e, buf, base, count):
        dt = e.dtype
        if dt in _F512:
            name = self.intrin("_mm512_maskz_loadu_" + _F512[dt][0])
            return f"{name}({self._mask(dt, count)}, &{buf}[{unparen(base)}])"
        if dt in _F256:     # AVX-512VL: a masked 256-bit load, not a lane loop
            name = self.intrin("_mm256_maskz_loadu_" + _F256[dt][0])
            return f"{name}({self._mask(dt, count)}, &{buf}[{unparen(base)}])"
        if dt in _I512:
            name = self.intrin("_mm512_maskz_loadu_" + _IW[_I512[dt]][0])
            return f"(({self.ty(dt)}){name}({self._mask(dt, count)}, (const void*)&{buf}[{unparen(base)}]))"
        return super().masked_vector_load(e, buf, base, count)

    def masked_vector_store(self, b, buf, base, value, count):
        dt = value.dtype
        if dt in _F512:
            name = self.intrin("_mm512_mask_storeu_" + _F512[dt][0])
            return (f"{name}(&{buf}[{unparen(base)}], {self._mask(dt, count)}, "
                    f"{unparen(self.expr(value))});")
        if dt in _F256:     # AVX-512VL: a masked 256-bit store, not a lane loop
            name = self.intrin("_mm256_mask_storeu_" + _F256[dt][0])
            return (f"{name}(&{buf}[{unparen(base)}], {self._mask(dt, count)}, "
                    f"{unparen(self.expr(value))});")
        if dt in _I512:
            name = self.intrin("_mm512_mask_storeu_" + _IW[_I512[dt]][0])
            return (f"{name}((void*)&{buf}[{unparen(base)}], {self._mask(dt, count)}, "
                    f"{_as_m512i(self.expr(value))});")
        return super().masked_vector_store(b, buf, base, value, count)

    # ------------------------------------------------------------------ arithmetic
    def vector_binop(self, e):
        if e.dtype in _F512 and e.op in ("min", "max"):
            sfx = _F512[e.dtype][0]
            blend = self.intrin(f"_mm512_mask_blend_{sfx}")
            cmp = self.intrin(f"_mm512_cmp_{sfx}_mask")
            return self.float_minmax(e, self.intrin(f"_mm512_{e.op}_{sfx}"), lambda m, b: (
                f"{blend}({cmp}({b}, {b}, _CMP_UNORD_Q), {m}, {b})"))
        return super().vector_binop(e)

    def expr_FusedMulAdd(self, e):
        if e.dtype in _F512 and e.form in FMA_NAMES:
            return self.fma_call(self.intrin(f"_mm512_{FMA_NAMES[e.form]}_{_F512[e.dtype][0]}"), e)
        return super().expr_FusedMulAdd(e)

    def expr_Cast(self, e):
        conv = _CONVERT.get((e.value.dtype, e.dtype))
        if conv is not None:
            name, arg_type = conv
            arg = unparen(self.expr(e.value))
            if arg_type is not None:
                arg = _as_m512i(arg) if arg_type == "__m512i" else f"({arg_type}){_paren(arg)}"
            out = f"{self.intrin(name)}({arg})"
            if dtypes.is_int(e.dtype):
                out = f"({self.ty(e.dtype)}){out}"
            self.ty(e.dtype)
            return f"({out})"
        return super().expr_Cast(e)
