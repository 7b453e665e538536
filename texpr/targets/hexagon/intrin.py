"""HVX tensor intrinsics: the fixed-point kernels quantised mobile models run on Hexagon.

- `dot_product_int8(kc)`: c[0] (+)= sum_k a[k] * b[k] (int8 or uint8 x int8 -> int32):
  `vrmpy` over 128-byte chunks, then a horizontal reduction of the 32 int32 lanes
  (five `vror` + `vadd` steps).
- `depthwise3x3_u8(lanes, x_zp, w_zp)`: one row of a uint8 depthwise 3x3 convolution with
  zero points, int32 accumulators: acc[j] (+)= sum_{r,s} (x[r, j+s] - x_zp) * (w[r, s] - w_zp).
- `requantize_u8(lanes, multiplier, shift, zero_point)`: acc + bias -> uint8 with a Q31
  fixed-point multiplier (gemmlowp's saturating rounding doubling high multiply, HVX
  `vmpye` + `vmpyo:rnd:sat` accumulate), a rounding right shift, the output zero point and
  saturation to [0, 255] (`vpack:sat` twice).

`requantize_expr` is the same requantisation as a texpr expression (int64 arithmetic): the
intrinsic is declared with it, topi's quantised ops compute with it, and
`topi.testing.requantize_ref` is its NumPy twin.
"""
from ...errors import TexprError
from ...lang.expr import Cast, const
from ...lang.intrin import decl_tensor_intrin
from ...lang.reduction import max as te_max, min as te_min, sum as te_sum
from ...lang.tensor import compute, placeholder, reduce_axis


def check_requant_params(multiplier, shift, zero_point):
    if not (isinstance(multiplier, int) and 0 < multiplier < 2 ** 31):
        raise TexprError(f"requantize: multiplier must be an int in (0, 2**31) (a Q31 fixed-point "
                         f"value), got {multiplier!r}")
    if not (isinstance(shift, int) and 0 <= shift < 31):
        raise TexprError(f"requantize: shift must be an int in [0, 31), got {shift!r}")
    if not (isinstance(zero_point, int) and 0 <= zero_point <= 255):
        raise TexprError(f"requantize: zero_point must be an int in [0, 255], got {zero_point!r}")


def requantize_expr(x, multiplier, shift, zero_point):
    """uint8 of int32 x: t = (2 * x * multiplier + 2**31) >> 32 (rounding doubling high
    multiply), t = min(t + 2**(shift-1), 2**31 - 1) >> shift (rounding shift), then
    clamp(t + zero_point, 0, 255)."""
    check_requant_params(multiplier, shift, zero_point)
    i64 = "int64"
    t = (Cast(x, i64) * const(2 * multiplier, i64) + const(2 ** 31, i64)) >> const(32, i64)
    if shift:
        t = te_min(t + const(1 << (shift - 1), i64), const(2 ** 31 - 1, i64)) >> const(shift, i64)
    t = t + const(zero_point, i64)
    return Cast(te_min(te_max(t, const(0, i64)), const(255, i64)), "uint8")


# ----------------------------------------------------------------------------- dot product

def dot_product_int8(kc, a_dtype="int8", name=None):
    """c[0] (+)= sum_k int32(a[k]) * int32(b[k]) over kc (a multiple of 128) bytes."""
    if kc % 128 or kc <= 0:
        raise TexprError(f"dot_product_int8: kc={kc} must be a positive multiple of 128 "
                         "(one HVX vector of bytes)")
    if a_dtype not in ("int8", "uint8"):
        raise TexprError(f"dot_product_int8: a_dtype must be int8 or uint8, got {a_dtype!r}")
    a = placeholder((kc,), a_dtype, "a")
    b = placeholder((kc,), "int8", "b")
    k = reduce_axis((0, kc), "k")
    c = compute((1,), lambda i: te_sum(Cast(a[k], "int32") * Cast(b[k], "int32"), axis=k),
                name="c")
    who = name or f"dot_product_{a_dtype}_int8_{kc}"
    form = "Q6_Vw_vrmpyacc_VwVubVb" if a_dtype == "uint8" else "Q6_Vw_vrmpyacc_VwVbVb"

    def hvx(ins, outs):
        A, B = ins
        (C,) = outs
        for ref in (A, B):
            if ref.strides[0] != "1":
                raise TexprError(f"{who}: {ref.name} must be contiguous (stride 1)")
        loop = [f"for (int kb = 0; kb < {kc // 128}; ++kb)",
                f"  acc = {form}(acc, *(const texpr_hvx_uvec*)({A.ptr} + 128 * kb), "
                f"*(const texpr_hvx_uvec*)({B.ptr} + 128 * kb));"]
        hsum = ["/* horizontal sum of the 32 int32 lanes: rotate and add, 64..4 bytes */",
                "for (int sh = 64; sh >= 4; sh /= 2) acc = Q6_Vw_vadd_VwVw(acc, Q6_V_vror_VR(acc, sh));",
                "{ int32_t lanes[32] __attribute__((aligned(128))); *(HVX_Vector*)lanes = acc;"]
        head = ["HVX_Vector acc = Q6_V_vzero();"]
        return {"body": "\n".join(head + loop + hsum + [f"  {C.ptr}[0] = lanes[0]; }}"]),
                "update": "\n".join(head + loop + hsum + [f"  {C.ptr}[0] += lanes[0]; }}"])}

    return decl_tensor_intrin(c.op, {"hvx": hvx}, name=who, inputs=[a, b])


# ----------------------------------------------------------------------------- depthwise 3x3

def depthwise3x3_u8(lanes, x_zp, w_zp, name=None):
    """acc[j] (+)= sum_{r,s<3} (int32(x[r, j + s]) - x_zp) * (int32(w[r, s]) - w_zp), j < lanes
    (stride 1; x rows contiguous, lanes a multiple of 32)."""
    if lanes % 32 or lanes <= 0:
        raise TexprError(f"depthwise3x3_u8: lanes={lanes} must be a positive multiple of 32")
    for nm, v in (("x_zp", x_zp), ("w_zp", w_zp)):
        if not (isinstance(v, int) and 0 <= v <= 255):
            raise TexprError(f"depthwise3x3_u8: {nm} must be an int in [0, 255], got {v!r}")
    x = placeholder((3, lanes + 2), "uint8", "x")
    w = placeholder((3, 3), "uint8", "w")
    r = reduce_axis((0, 3), "r")
    s = reduce_axis((0, 3), "s")
    acc = compute((lanes,), lambda j: te_sum(
        (Cast(x[r, j + s], "int32") - const(x_zp, "int32"))
        * (Cast(w[r, s], "int32") - const(w_zp, "int32")), axis=[r, s]), name="acc")
    who = name or f"depthwise3x3_u8_{lanes}"

    def hvx(ins, outs):
        X, W = ins
        (A,) = outs
        for ref, d in ((X, 1), (A, 0)):
            if ref.strides[d] != "1":
                raise TexprError(f"{who}: {ref.name} rows must be contiguous (stride 1)")
        nv = lanes // 32
        lines = [f"HVX_Vector acc[{nv}];",
                 f"const HVX_Vector xzp = Q6_V_vsplat_R({x_zp});"]
        load = [f"for (int v = 0; v < {nv}; ++v) acc[v] = *(const texpr_hvx_uvec*)"
                f"({A.ptr} + 32 * v);"]
        zero = [f"for (int v = 0; v < {nv}; ++v) acc[v] = Q6_V_vzero();"]
        loop = ["for (int r = 0; r < 3; ++r)",
                "for (int s = 0; s < 3; ++s) {",
                f"  int32_t wv = (int32_t){W.ptr}[r * ({W.strides[0]}) + s * ({W.strides[1]})]"
                f" - {w_zp};",
                "  int32_t wpair = (wv & 0xffff) | (wv << 16);   /* the halfword, twice */",
                f"  const uint8_t* xr = {X.ptr} + r * ({X.strides[0]}) + s;",
                f"  for (int v = 0; v < {nv}; ++v) {{",
                "    /* 32 bytes -> 32 int32 lanes (two zero-extending unpacks), minus x_zp */",
                "    HVX_Vector xb = *(const texpr_hvx_uvec*)(xr + 32 * v);",
                "    HVX_Vector xw = Q6_V_lo_W(Q6_Wuw_vunpack_Vuh(Q6_V_lo_W(Q6_Wuh_vunpack_Vub(xb))));",
                "    acc[v] = Q6_Vw_vmpyiacc_VwVwRh(acc[v], Q6_Vw_vsub_VwVw(xw, xzp), wpair);",
                "  }",
                "}"]
        save = [f"for (int v = 0; v < {nv}; ++v) *(texpr_hvx_uvec*)({A.ptr} + 32 * v) = acc[v];"]
        return {"body": "\n".join(lines + zero + loop + save),
                "update": "\n".join(lines + load + loop + save)}

    return decl_tensor_intrin(acc.op, {"hvx": hvx}, name=who, inputs=[x, w])


# ----------------------------------------------------------------------------- requantize

def requantize_u8(lanes, multiplier, shift, zero_point, name=None):
    """out[j] = requantize_expr(acc[j] + bias[0], ...) for j < lanes (a multiple of 32)."""
    check_requant_params(multiplier, shift, zero_point)
    if lanes % 32 or lanes <= 0:
        raise TexprError(f"requantize_u8: lanes={lanes} must be a positive multiple of 32")
    acc = placeholder((lanes,), "int32", "acc")
    bias = placeholder((1,), "int32", "bias")
    out = compute((lanes,), lambda j: requantize_expr(acc[j] + bias[0], multiplier, shift,
                                                      zero_point), name="out")
    who = name or f"requantize_u8_{lanes}"

    def hvx(ins, outs):
        A, B = ins
        (O,) = outs
        for ref in (A, O):
            if ref.strides[0] != "1":
                raise TexprError(f"{who}: {ref.name} must be contiguous (stride 1)")
        rnd = [f"  t = Q6_Vw_vasr_VwR(Q6_Vw_vadd_VwVw_sat(t, Q6_V_vsplat_R({1 << (shift - 1)})), "
               f"{shift});"] if shift else []
        return "\n".join([
            f"const HVX_Vector m = Q6_V_vsplat_R({multiplier});",
            f"const HVX_Vector b = Q6_V_vsplat_R({B.ptr}[0]);",
            f"for (int v = 0; v < {lanes // 32}; ++v) {{",
            f"  HVX_Vector a = Q6_Vw_vadd_VwVw(*(const texpr_hvx_uvec*)({A.ptr} + 32 * v), b);",
            "  /* saturating rounding doubling high multiply: (2 a m + 2^31) >> 32 */",
            "  HVX_Vector t = Q6_Vw_vmpyoacc_VwVwVh_s1_rnd_sat_shift(Q6_Vw_vmpye_VwVuh(a, m), a, m);",
            *rnd,
            f"  t = Q6_Vw_vadd_VwVw_sat(t, Q6_V_vsplat_R({zero_point}));",
            "  /* int32 -> int16 -> uint8, saturating both times: clamp to [0, 255] */",
            "  HVX_Vector h = Q6_Vh_vpack_VwVw_sat(t, t);",
            "  HVX_Vector u = Q6_Vub_vpack_VhVh_sat(h, h);",
            f"  memcpy({O.ptr} + 32 * v, &u, 32);",
            "}"])

    return decl_tensor_intrin(out.op, {"hvx": hvx}, name=who, inputs=[acc, bias])
