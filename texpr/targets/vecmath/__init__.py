"""Vector math: texpr's own float32 exp, log, tanh, erf, pow, sin, ... for the CPU targets.

The algorithms (algorithms.py) are C written once over abstract types; `helpers(name, dtype,
isa)` makes the C of one function for one type: a vector dtype (`float32x8`) or the scalar
`float32`, which is the same algorithm in scalars, so a loop's scalar tail computes bit for bit
what its vector body computes. The per-type primitives below are the only code that differs:
broadcast, select, bit casts, conversions, and fma / sqrt, which are the target's
instructions where the emitter names them for the dtype (`isa`: {"fma": ..., "sqrt": ...})
and a lane loop of `__builtin_fmaf` / `__builtin_sqrtf` otherwise. An emitter with vector math
(AVX2, AVX-512, NEON) routes here the float32 vector calls of these names, the scalar calls a
vectorized loop leaves (LaneMathCall) and the fast_* calls; other scalar calls and float64
stay libm.

Accuracy (max ULP against NumPy's float64 result rounded to float32, over the whole float
range): tests/targets/test_vecmath.py measures it, README.md ("Vector math") states it.
"""
import re

from ...errors import InternalError
from ...lang import dtypes
from ...lang.expr import VECTOR_MATH
from . import algorithms

#: the functions texpr computes itself on targets with vector math (te names: fast_* is
#: te.exp(x, fast=True) & co.)
NAMES = VECTOR_MATH
if set(NAMES) != set(algorithms.NAMES):
    raise InternalError("lang.expr.VECTOR_MATH and targets/vecmath name different functions")
#: max ULP error of each function against NumPy's float64 result rounded to float32: the
#: maximum measured over a sweep of the float range (README.md, "Vector math";
#: tests/targets/test_vecmath.py checks it on avx2, avx512 and neon)
ULP_BOUND = {"exp": 1, "exp2": 1, "log": 1, "log2": 1, "tanh": 1, "sigmoid": 2, "erf": 2,
             "pow": 1, "sqrt": 0, "rsqrt": 1, "sin": 1, "cos": 1, "fast_exp": 2,
             "fast_exp2": 2, "fast_tanh": 2, "fast_sigmoid": 3}


def suffix(dtype):
    """'float32x8' -> '_f32x8', 'float32' -> '_f32'."""
    base, n = dtypes.split_lanes(dtype)
    return "_f32" if n == 1 else f"_f32x{n}"


def c_name(name, dtype):
    return f"texpr_vm_{name}{suffix(dtype)}"


def helpers(name, dtype, vf, isa=None):
    """[(helper key, C text)] defining texpr_vm_<name> for `dtype` and everything it calls.
    Keys sort callees first (the emitter writes its helpers sorted by key): a function's key
    starts with its level, 1 + its callees' highest. vf: the C type of the float vector."""
    sfx = suffix(dtype)
    names = set()
    _callees(name, names)
    out = [(f"vm{_level(n)}_{n}{sfx}", _instantiate(algorithms.function(n)[0], dtype, vf))
           for n in names]
    out.append((f"vm0_prims{sfx}", _prims(dtype, vf, isa or {})))
    return sorted(out)


def _callees(name, names):
    names.add(name)
    for c in algorithms.function(name)[1]:
        _callees(c, names)


def _level(name):
    return 1 + max((_level(c) for c in algorithms.function(name)[1]), default=0)


def _types(dtype, vf):
    n = dtypes.lanes(dtype)
    if n == 1:
        return {"VF": "float", "VI": "int32_t", "VD": "double", "VL": "int64_t"}
    return {"VF": vf, "VI": f"vm_i32x{n}", "VD": f"vm_f64x{n}", "VL": f"vm_i64x{n}"}


def _instantiate(text, dtype, vf):
    t = _types(dtype, vf)
    text = re.sub(r"\b(VF|VI|VD|VL)\b", lambda m: t[m.group(1)], text)
    return text.replace("vm_", "texpr_vm_").replace("@", suffix(dtype))


def _prims(dtype, vf, isa):
    n = dtypes.lanes(dtype)
    if n == 1:
        text = _SCALAR_PRIMS.replace("SCALE2_BODY", SCALE2)
    else:
        lanes = ", ".join(["c"] * n)
        fma = isa.get("fma") or ("VF r; for (int k = 0; k < N; ++k) r[k] = __builtin_fmaf(a[k], "
                                 "b[k], c[k]); return r;")
        sqrt = isa.get("sqrt") or ("VF r; for (int k = 0; k < N; ++k) r[k] = __builtin_sqrtf(x[k]); "
                                   "return r;")
        text = (_VECTOR_PRIMS.replace("FMA_BODY", fma).replace("SQRT_BODY", sqrt)
                .replace("MAX_BODY", isa.get("max") or "return vm_sel@(a > b, a, b);")
                .replace("MIN_BODY", isa.get("min") or "return vm_sel@(a < b, a, b);")
                .replace("SCALE2_BODY", isa.get("scale2") or SCALE2)
                .replace("LANES", lanes).replace("N;", f"{n};")
                .replace("SIZE4", str(4 * n)).replace("SIZE8", str(8 * n)))
    return _instantiate(text, dtype, vf)


#: p * 2^n for an integral n (exp's 2^n, n in [-151, 129], p near 1): two powers of two whose
#: first product is a normal float (exact), so p 2^n is rounded once, as AVX-512's vscalefps
#: (the "scale2" of its VECTOR_MATH_ISA) rounds it: the same bits from either
SCALE2 = ("VI k = vm_cvti@(n); VI k1 = k >> 1, k2 = k - k1; "
           "return p * vm_asf@((k1 + 127) << 23) * vm_asf@((k2 + 127) << 23);")

_VECTOR_PRIMS = """typedef int32_t VI __attribute__((vector_size(SIZE4)));
typedef double VD __attribute__((vector_size(SIZE8)));
typedef int64_t VL __attribute__((vector_size(SIZE8)));
static inline VF vm_f@(float c) { return (VF){LANES}; }
static inline VI vm_i@(int32_t c) { return (VI){LANES}; }
static inline VD vm_d@(double c) { return (VD){LANES}; }
static inline VF vm_fma@(VF a, VF b, VF c) { FMA_BODY }
static inline VF vm_hwsqrt@(VF x) { SQRT_BODY }
static inline VD vm_fmad@(VD a, VD b, VD c) { VD r; for (int k = 0; k < N; ++k) r[k] = __builtin_fma(a[k], b[k], c[k]); return r; }
static inline VF vm_sel@(VI m, VF a, VF b) { return (VF)((m & (VI)a) | (~m & (VI)b)); }
static inline VI vm_seli@(VI m, VI a, VI b) { return (m & a) | (~m & b); }
static inline VD vm_seld@(VL m, VD a, VD b) { return (VD)((m & (VL)a) | (~m & (VL)b)); }
static inline VL vm_widen@(VI m) { return __builtin_convertvector(m, VL); }
static inline VI vm_asi@(VF x) { return (VI)x; }
static inline VF vm_asf@(VI x) { return (VF)x; }
static inline VL vm_asl@(VD x) { return (VL)x; }
static inline VD vm_asd@(VL x) { return (VD)x; }
static inline VI vm_cvti@(VF x) { return __builtin_convertvector(x, VI); }
static inline VF vm_cvtf@(VI x) { return __builtin_convertvector(x, VF); }
static inline VD vm_cvtd@(VF x) { return __builtin_convertvector(x, VD); }
static inline VF vm_cvtdf@(VD x) { return __builtin_convertvector(x, VF); }
static inline VI vm_cvtdi@(VD x) { return __builtin_convertvector(x, VI); }
static inline VD vm_cvtid@(VI x) { return __builtin_convertvector(x, VD); }
static inline VF vm_abs@(VF x) { return vm_asf@(vm_asi@(x) & 0x7fffffff); }
static inline VF vm_max@(VF a, VF b) { MAX_BODY }
static inline VF vm_min@(VF a, VF b) { MIN_BODY }
static inline VF vm_scale2@(VF p, VF n) { SCALE2_BODY }
static inline int vm_any@(VI m) { for (int k = 0; k < N; ++k) if (m[k]) return 1; return 0; }
static inline VF vm_libm@(VI m, VF x, VF y, float (*fn)(float)) { for (int k = 0; k < N; ++k) if (m[k]) y[k] = fn(x[k]); return y; }"""

_SCALAR_PRIMS = """static inline float vm_f@(float c) { return c; }
static inline int32_t vm_i@(int32_t c) { return c; }
static inline double vm_d@(double c) { return c; }
static inline float vm_fma@(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
static inline float vm_hwsqrt@(float x) { return __builtin_sqrtf(x); }
static inline double vm_fmad@(double a, double b, double c) { return __builtin_fma(a, b, c); }
static inline float vm_sel@(int32_t m, float a, float b) { return m ? a : b; }
static inline int32_t vm_seli@(int32_t m, int32_t a, int32_t b) { return m ? a : b; }
static inline double vm_seld@(int64_t m, double a, double b) { return m ? a : b; }
static inline int64_t vm_widen@(int32_t m) { return m; }
static inline int32_t vm_asi@(float x) { int32_t i; memcpy(&i, &x, 4); return i; }
static inline float vm_asf@(int32_t i) { float x; memcpy(&x, &i, 4); return x; }
static inline int64_t vm_asl@(double x) { int64_t i; memcpy(&i, &x, 8); return i; }
static inline double vm_asd@(int64_t i) { double x; memcpy(&x, &i, 8); return x; }
static inline int32_t vm_cvti@(float x) { return (int32_t)x; }
static inline float vm_cvtf@(int32_t i) { return (float)i; }
static inline double vm_cvtd@(float x) { return x; }
static inline float vm_cvtdf@(double x) { return (float)x; }
static inline int32_t vm_cvtdi@(double x) { return (int32_t)x; }
static inline double vm_cvtid@(int32_t i) { return (double)i; }
static inline float vm_abs@(float x) { return vm_asf@(vm_asi@(x) & 0x7fffffff); }
static inline float vm_max@(float a, float b) { return a > b ? a : b; }
static inline float vm_min@(float a, float b) { return a < b ? a : b; }
static inline float vm_scale2@(float p, float n) { SCALE2_BODY }
static inline int vm_any@(int32_t m) { return m != 0; }
static inline float vm_libm@(int32_t m, float x, float y, float (*fn)(float)) { return m ? fn(x) : y; }"""
