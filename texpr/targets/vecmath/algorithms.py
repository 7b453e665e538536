"""texpr's float32 math functions, written once in C over abstract types (vecmath/__init__.py
makes them C for one vector type or for scalars).

Tokens in the C text: `VF` the float vector (`float` for scalars), `VI` its int32 vector of
masks and bits, `VD` / `VL` the float64 / int64 vector of the same lane count (pow, sin and
cos compute in double), `vm_` the `texpr_vm_` prefix and `@` the type suffix (`_f32x8`,
`_f32`). The primitives (`vm_fma@`, `vm_sel@`, ... in __init__.py) are the only per-type or
per-ISA code. Masks (comparison results: -1/0 in vectors, 1/0 in scalars) only feed `sel`,
`seli`, `any`, `&` and `|`.

Method: Cody-Waite range reduction with `fma`, polynomials fitted by texpr (weighted least
squares in relative error on Chebyshev nodes, coefficients rounded to float32; Taylor where
the truncation error is far below the float32 rounding), and explicit fma for every
product that is added, so a scalar tail computes bit for bit what a vector lane computes.
"""


def horner(var, coeffs, fma="vm_fma@", const="vm_f@"):
    """C text of c0 + var*(c1 + var*(c2 + ...)) as nested fma calls."""
    text = f"{const}({coeffs[-1]})"
    for c in reversed(coeffs[:-1]):
        text = f"{fma}({text}, {var}, {const}({c}))"
    return text


def _f(v):
    return f"{v}f"


# e^r = 1 + r + r^2 Q(r) on |r| <= ln2/2
EXP_Q = ["0x1p-1", "0x1.555554p-3", "0x1.55548ep-5", "0x1.11127p-7", "0x1.6d8cf6p-10",
         "0x1.9f08acp-13"]
EXP_Q_FAST = ["0x1.fffdfcp-2", "0x1.5557aep-3", "0x1.5729f2p-5", "0x1.106288p-7"]
# 2^r = 1 + r Q(r) on |r| <= 1/2
EXP2_Q = ["0x1.62e43p-1", "0x1.ebfbep-3", "0x1.c6b08ap-5", "0x1.3b29f4p-7", "0x1.5d8a86p-10",
          "0x1.445c84p-13", "0x1.fde5fap-17"]
EXP2_Q_FAST = ["0x1.62e42ap-1", "0x1.ebf9bcp-3", "0x1.c6b752p-5", "0x1.3cea88p-7",
               "0x1.5bba0ep-10"]
# tanh(a) = a + a^3 Q(a^2) on a < 0.625
TANH_Q = ["-0x1.555554p-2", "0x1.111066p-3", "-0x1.b9ee9p-5", "0x1.638b58p-6", "-0x1.0bf4fep-7",
          "0x1.18e1dcp-9"]
TANH_Q_FAST = ["-0x1.5552bcp-2", "0x1.108d2ap-3", "-0x1.a98ea4p-5", "0x1.f1ebf4p-7"]
# erf(a) = a P(a^2) on a < 1; erfc(a) = exp(-a^2) R(1/a) on 1 <= a <= 4
ERF_P = ["0x1.20dd74p+0", "-0x1.81273ep-2", "0x1.ce2cf8p-4", "-0x1.b7f91p-6", "0x1.5405ccp-8",
         "-0x1.a3f7ap-11", "0x1.496bb6p-14"]
ERFC_R = ["0x1.096578p-12", "0x1.1e5eap-1", "0x1.48feccp-5", "-0x1.dbd294p-2", "0x1.ec7d74p-2",
          "-0x1.c0ad5ep-3", "0x1.088e1p-8", "0x1.37416cp-5", "-0x1.74b26ep-7"]
# log(1 + f) = f - f^2/2 + s (f^2/2 + z R(z)), s = f / (2 + f), z = s^2 (R: Taylor, 2/(2k+1))
LOG_R = ["0x1.555556p-1", "0x1.99999ap-2", "0x1.24924ap-2", "0x1.c71c72p-3"]
# in double: log(1+f) = 2s + s z R(z)
LOG_R_D = [repr(2.0 / (2 * k + 1)) for k in range(1, 7)]     # truncation < 2^-40
# in double: 2^r = sum (r ln2)^k / k!
EXP2_D = [repr(0.6931471805599453 ** k / __import__("math").factorial(k)) for k in range(11)]
# in double: sin(r) = r + r^3 S(r^2), cos(r) = 1 + r^2 C(r^2), |r| <= pi/4 (Taylor)
SIN_D = [repr((-1) ** k / __import__("math").factorial(2 * k + 1)) for k in range(1, 6)]
COS_D = [repr((-1) ** k / __import__("math").factorial(2 * k)) for k in range(1, 7)]


def _exp_body(name, q):
    return f"""static inline VF vm_{name}@(VF x) {{
  VF xc = vm_min@(vm_max@(x, vm_f@(-104.0f)), vm_f@(89.0f));   /* NaN: fixed at the end */
  VF n = vm_fma@(xc, vm_f@(0x1.715476p+0f), vm_f@(0x1.8p23f)) - vm_f@(0x1.8p23f);
  VF r = vm_fma@(n, vm_f@(-0x1.62e43p-1f), xc);
  r = vm_fma@(n, vm_f@(0x1.05c61p-29f), r);
  VF p = vm_fma@(r * r, {horner('r', [_f(c) for c in q])}, r) + vm_f@(1.0f);
  VF y = vm_scale2@(p, n);
  return vm_sel@(x == x, y, x + x);
}}"""


def _exp2_body(name, q):
    return f"""static inline VF vm_{name}@(VF x) {{
  VF xc = vm_min@(vm_max@(x, vm_f@(-151.0f)), vm_f@(129.0f));
  VF n = (xc + vm_f@(0x1.8p23f)) - vm_f@(0x1.8p23f);
  VF r = xc - n;
  VF p = vm_fma@(r, {horner('r', [_f(c) for c in q])}, vm_f@(1.0f));
  VF y = vm_scale2@(p, n);
  return vm_sel@(x == x, y, x + x);
}}"""


# log: x = 2^k m, m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact); invalid inputs computed as 1
_LOG_REDUCE = """  VI ok = (x > vm_f@(0.0f)) & (x < vm_f@(__builtin_inff()));
  VF xs = vm_sel@(ok, x, vm_f@(1.0f));
  VI sub = xs < vm_f@(0x1p-126f);
  xs = vm_sel@(sub, xs * vm_f@(0x1p23f), xs);
  VI ix = vm_asi@(xs);
  VI k = (ix - 0x3f3504f3) >> 23;
  VF m = vm_asf@(ix - k * 8388608);
  VF kf = vm_cvtf@(k - vm_seli@(sub, vm_i@(23), vm_i@(0)));
  VF f = m - vm_f@(1.0f);
  VF s = f / (f + vm_f@(2.0f));
  VF z = s * s;
  VF hfsq = vm_f@(0.5f) * f * f;
  VF hR = vm_fma@(z, """ + horner("z", [_f(c) for c in LOG_R]) + """, hfsq);   /* hfsq + R */
  VF special = vm_sel@(x == vm_f@(0.0f), vm_f@(-__builtin_inff()),
                       vm_sel@(x < vm_f@(0.0f), vm_f@(__builtin_nanf("")), x + x));
"""

_FUNCS = {
    "exp": (_exp_body("exp", EXP_Q), ()),
    "fast_exp": (_exp_body("fast_exp", EXP_Q_FAST), ()),
    "exp2": (_exp2_body("exp2", EXP2_Q), ()),
    "fast_exp2": (_exp2_body("fast_exp2", EXP2_Q_FAST), ()),
    "log": ("""static inline VF vm_log@(VF x) {
""" + _LOG_REDUCE + """  VF lo = vm_fma@(s, hR, kf * vm_f@(-0x1.bd0106p-13f));
  VF y = vm_fma@(kf, vm_f@(0x1.63p-1f), -((hfsq - lo) - f));
  return vm_sel@(ok, y, special);
}""", ()),
    "log2": ("""static inline VF vm_log2@(VF x) {
""" + _LOG_REDUCE + """  VF L = f - vm_fma@(-s, hR, hfsq);
  VF t = vm_fma@(L, vm_f@(0x1.715476p+0f), L * vm_f@(0x1.4ae0cp-26f));
  return vm_sel@(ok, kf + t, special);
}""", ()),
    "sqrt": ("""static inline VF vm_sqrt@(VF x) { return vm_hwsqrt@(x); }""", ()),
    "rsqrt": ("""static inline VF vm_rsqrt@(VF x) { return vm_f@(1.0f) / vm_hwsqrt@(x); }""", ()),
}


def _tanh(name, exp, q):
    return (f"""static inline VF vm_{name}@(VF x) {{
  VF a = vm_abs@(x);
  VF a2 = a * a;
  VF small = vm_fma@(a * a2, {horner('a2', [_f(c) for c in q])}, a);
  VF big = vm_f@(1.0f) - vm_f@(2.0f) / (vm_{exp}@(a + a) + vm_f@(1.0f));
  VF y = vm_sel@(a < vm_f@(0.625f), small, big);
  return vm_asf@(vm_asi@(y) | (vm_asi@(x) & (-2147483647 - 1)));
}}""", (exp,))


def _sigmoid(name, exp):
    return (f"""static inline VF vm_{name}@(VF x) {{
  VF e = vm_{exp}@(-vm_abs@(x));          /* e^-|x|: never overflows */
  return vm_sel@(x < vm_f@(0.0f), e, vm_f@(1.0f)) / (e + vm_f@(1.0f));
}}""", (exp,))


_FUNCS["tanh"] = _tanh("tanh", "exp", TANH_Q)
_FUNCS["fast_tanh"] = _tanh("fast_tanh", "fast_exp", TANH_Q_FAST)
_FUNCS["sigmoid"] = _sigmoid("sigmoid", "exp")
_FUNCS["fast_sigmoid"] = _sigmoid("fast_sigmoid", "fast_exp")
_FUNCS["erf"] = (f"""static inline VF vm_erf@(VF x) {{
  VF a = vm_abs@(x);
  VF small = a * {horner('(a * a)', [_f(c) for c in ERF_P])};
  VF ab = vm_max@(vm_min@(a, vm_f@(4.0f)), vm_f@(1.0f));
  VF t = vm_f@(1.0f) / ab;
  VF R = {horner('t', [_f(c) for c in ERFC_R])};
  VF hi = ab * ab;
  VF lo = vm_fma@(ab, ab, -hi);                 /* a^2 = hi + lo exactly */
  VF big = vm_fma@(-vm_exp@(-hi), vm_fma@(-lo, R, R), vm_f@(1.0f));  /* 1 - e^-(hi+lo) R */
  VF y = vm_sel@(a < vm_f@(1.0f), small, big);
  y = vm_asf@(vm_asi@(y) | (vm_asi@(x) & (-2147483647 - 1)));
  return vm_sel@(x == x, y, x + x);
}}""", ("exp",))


def _sincos(name, libm, shift, zero):
    return (f"""static inline VF vm_{name}@(VF x) {{
  VI big = (vm_abs@(x) > vm_f@(1048576.0f)) | (x != x);   /* and inf, NaN: libm per lane */
  VD xd = vm_cvtd@(vm_sel@(big, vm_f@(0.0f), x));
  VD q = vm_fmad@(xd, vm_d@(0x1.45f306dc9c883p-1), vm_d@(0x1.8p52)) - vm_d@(0x1.8p52);
  VD r = vm_fmad@(q, vm_d@(-0x1.921fb544p+0), xd);   /* exact: the constant has 33 bits */
  r = vm_fmad@(q, vm_d@(-0x1.0b4611a626331p-34), r);
  VI qi = vm_cvtdi@(q){shift};
  VD r2 = r * r;
  VD s = vm_fmad@(r * r2, {horner('r2', SIN_D, 'vm_fmad@', 'vm_d@')}, r);
  VD c = vm_fmad@(r2, {horner('r2', COS_D, 'vm_fmad@', 'vm_d@')}, vm_d@(1.0));
  VF y = vm_cvtdf@(vm_seld@(vm_widen@((qi & 1) == 0), s, c));
  y = vm_asf@(vm_asi@(y) ^ vm_seli@((qi & 2) == 2, vm_i@(-2147483647 - 1), vm_i@(0)));
  if (vm_any@(big)) y = vm_libm@(big, x, y, {libm});
  return {zero};
}}""", ())


_FUNCS["sin"] = _sincos("sin", "sinf", "", "vm_sel@(x == vm_f@(0.0f), x, y)")  # sin(-0) = -0
_FUNCS["cos"] = _sincos("cos", "cosf", " + 1", "y")

_FUNCS["pow"] = (f"""static inline VF vm_pow@(VF x, VF y) {{
  VF ax = vm_abs@(x), ay = vm_abs@(y);
  VI ok = (ax > vm_f@(0.0f)) & (ax < vm_f@(__builtin_inff()));
  VF xs = vm_sel@(ok, ax, vm_f@(1.0f));
  VI sub = xs < vm_f@(0x1p-126f);
  xs = vm_sel@(sub, xs * vm_f@(0x1p23f), xs);
  VI ix = vm_asi@(xs);                    /* |x| = 2^k m, m in [sqrt(1/2), sqrt(2)) */
  VI k = (ix - 0x3f3504f3) >> 23;
  VD f = vm_cvtd@(vm_asf@(ix - k * 8388608)) - vm_d@(1.0);   /* exact, in double from here */
  k = k - vm_seli@(sub, vm_i@(23), vm_i@(0));
  VD s = f / (f + vm_d@(2.0));
  VD z = s * s;
  VD lnm = vm_fmad@(s * z, {horner('z', LOG_R_D, 'vm_fmad@', 'vm_d@')}, s + s);
  VD lg = vm_fmad@(lnm, vm_d@(0x1.71547652b82fep+0), vm_cvtid@(k));   /* log2 |x| */
  VD t = vm_cvtd@(y) * lg;
  VF tf = vm_cvtdf@(t);                   /* float compares: a double one is lane by lane */
  t = vm_seld@(vm_widen@(tf < vm_f@(-160.0f)), vm_d@(-160.0), t);
  t = vm_seld@(vm_widen@(tf > vm_f@(130.0f)), vm_d@(130.0), t);
  t = vm_seld@(vm_widen@(tf != tf), vm_d@(0.0), t);     /* 0 * inf: fixed below */
  VD nd = (t + vm_d@(0x1.8p52)) - vm_d@(0x1.8p52);
  VD r = t - nd;
  VD p = {horner('r', EXP2_D, 'vm_fmad@', 'vm_d@')};
  VL n = vm_asl@(nd + vm_d@(0x1.8p52)) - 0x4338000000000000LL;
  VF res = vm_cvtdf@(p * vm_asd@((n + 1023) * 4503599627370496LL));
  VF inf = vm_f@(__builtin_inff()), zero = vm_f@(0.0f), one = vm_f@(1.0f);
  res = vm_sel@(ax == zero, vm_sel@(y < zero, inf, zero), res);
  res = vm_sel@(ax == inf, vm_sel@(y < zero, zero, inf), res);
  res = vm_sel@((ax == one) & (ay == inf), one, res);
  VI yi = vm_cvti@(vm_sel@(ay < vm_f@(16777216.0f), y, zero));
  VI yint = vm_cvtf@(yi) == y;
  VI odd = (ay < vm_f@(16777216.0f)) & yint & ((yi & 1) == 1);
  res = vm_asf@(vm_asi@(res) ^ vm_seli@(odd, vm_asi@(x) & (-2147483647 - 1), vm_i@(0)));
  VI nonint = (ay < vm_f@(16777216.0f)) & (vm_cvtf@(yi) != y);
  res = vm_sel@((x < zero) & (ax < inf) & nonint, vm_f@(__builtin_nanf("")), res);
  res = vm_sel@((x != x) | (y != y), x + y, res);
  res = vm_sel@((x == one) | (y == zero), one, res);
  return res;
}}""", ())


def function(name):
    """(C text of texpr's `name` over the abstract types, names of the functions it calls)."""
    return _FUNCS[name]


NAMES = tuple(_FUNCS)
