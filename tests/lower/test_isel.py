"""Instruction selection (lower/cpu/isel.py): the patterns each target has one instruction for
become one node, by the target record's features; the node keeps what it replaced, and an
emitter without the instruction emits that."""
import numpy as np
import pytest

import texpr as te
from texpr.lang.ir import FusedMulAdd, SaturatingNarrow, WideningMul
from texpr.lang.visitor import walk
from texpr.targets import emit_source, get_target


def vectorized(fn, dtypes, lanes=8, n=64):
    ins = [te.placeholder((n,), dtype=d, name=f"X{k}") for k, d in enumerate(dtypes)]
    out = te.compute((n,), lambda i: fn(*[x[i] for x in ins]), name="out")
    s = te.create_schedule(out.op)
    _, ii = s[out].split(out.op.axis[0], factor=lanes)
    s[out].vectorize(ii)
    return s, ins + [out]


def selected(sch_args, target, kind):
    body = te.lower(*sch_args, target=target).body
    return [n for n in walk(body) if isinstance(n, kind)]


F3 = ["float32"] * 3


@pytest.mark.parametrize("fn,forms", [
    (lambda a, b, c: a * b + c, {"avx2": "ab+c", "neon": "ab+c"}),
    (lambda a, b, c: c + a * b, {"avx2": "c+ab", "neon": "c+ab"}),
    (lambda a, b, c: a * b - c, {"avx2": "ab-c", "neon": None}),
    (lambda a, b, c: c - a * b, {"avx2": None, "neon": "c-ab"}),
])
def test_fused_multiply_add_forms_follow_the_target_features(fn, forms):
    for target, form in forms.items():
        found = selected(vectorized(fn, F3, 8 if target == "avx2" else 4), target, FusedMulAdd)
        assert [n.form for n in found] == ([form] if form else []), target
        for n in found:                 # what it replaced, kept for emitters without it
            assert n.original.op in "+-" and n.original.dtype == n.dtype
    assert selected(vectorized(fn, F3), "c", FusedMulAdd) == []         # c has no "fma"


def test_scalar_code_is_not_selected():
    A = te.placeholder((16,), name="A")
    B = te.compute((16,), lambda i: A[i] * A[i] + 1.0, name="B")
    s = te.create_schedule(B.op)
    assert selected((s, [A, B]), "avx2", FusedMulAdd) == []


def test_widening_multiplies_on_neon_and_hvx_only():
    mul = vectorized(lambda a, b: a.astype("int16") * b.astype("int16"), ["int8", "int8"], 8)
    for target in ("neon", "hvx"):
        (w,) = selected(mul, target, WideningMul)
        assert w.a.dtype == "int8x8" and w.dtype == "int16x8"
    assert selected(mul, "avx2", WideningMul) == []
    assert "vmull_s8(" in emit_source(*mul, target="neon")


def test_saturating_narrowing_on_hvx_only():
    sat = vectorized(lambda x: te.min(te.max(x, te.const(-128, "int16")),
                                      te.const(127, "int16")).astype("int8"), ["int16"], 64)
    (n,) = selected(sat, "hvx", SaturatingNarrow)
    assert n.dtype == "int8x64" and n.value.dtype == "int16x64"
    assert selected(sat, "neon", SaturatingNarrow) == []
    assert "vpack" in emit_source(*sat, target="hvx") and "_sat" in emit_source(*sat, target="hvx")
    wrong_range = vectorized(lambda x: te.min(te.max(x, te.const(-100, "int16")),
                                              te.const(127, "int16")).astype("int8"), ["int16"], 64)
    assert selected(wrong_range, "hvx", SaturatingNarrow) == []


@pytest.mark.parametrize("target", ["c", "avx2", "avx512", "neon"])
def test_selected_and_unselected_code_compute_the_same(target):
    """A target without an instruction for a dtype emits the expression the node replaced: the
    fused and unfused kernels agree with NumPy (float64 FMA on AVX2 has no 512-bit table entry
    in the avx2 target, int widening is plain C there)."""
    rng = np.random.default_rng(1)
    cases = [(lambda a, b, c: c - a * b + a * c, ["float64"] * 3, np.float64),
             (lambda a, b, c: c + a.astype("int32") * b.astype("int32"), ["int16", "int16", "int32"],
              None)]
    for fn, dts, _ in cases:
        sch, args = vectorized(fn, dts, 4)
        f = te.build(sch, args, target=target)
        xs = [rng.integers(-300, 300, 64).astype(d) if "int" in d else rng.random(64).astype(d)
              for d in dts]
        out = np.empty(64, args[-1].dtype)
        f(*xs, out)
        a, b, c = xs
        want = (c - a * b + a * c) if dts[0] == "float64" else \
            c + a.astype(np.int32) * b.astype(np.int32)
        np.testing.assert_allclose(out, want, rtol=1e-12)
