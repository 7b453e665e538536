"""The half_arithmetic pass: float16 / bfloat16 computed in float32 (no compile), the dtype
rules of mixed precision in topi, and the targets that refuse 16-bit floats."""
import ml_dtypes  # noqa: F401
import numpy as np
import pytest

import texpr as te
from texpr import topi
from texpr.lang import dtypes
from texpr.lang.expr import BinOp, Call, Cast, Cmp, Const
from texpr.lang.visitor import walk
from texpr.targets.build import emit_source


@pytest.mark.parametrize("dt", ["float16", "bfloat16"])
def test_no_arithmetic_left_in_16_bits(dt):
    A = te.placeholder((8,), dt, name="A")
    B = te.compute((8,), lambda i: te.sqrt(A[i] * 0.1 + A[i]), name="B")
    C = te.compute((8,), lambda i: (A[i] > B[i]).astype("int32") + A[i].astype("int8"), name="C")
    s = te.create_schedule([B.op, C.op])
    body = te.lower(s, [A, B, C], stop_after="half_arithmetic").body
    nodes = list(walk(body))
    computed = [n for n in nodes if isinstance(n, (BinOp, Cmp, Call))]
    assert computed
    for n in computed:
        operands = n.args if isinstance(n, Call) else (n.a, n.b)
        assert not any(dtypes.is_half(c.dtype) for c in (n,) + tuple(operands)), n
    # the Python scalar is first rounded to the 16-bit type (NumPy's weak scalar), then exact
    consts = [n.value for n in nodes if isinstance(n, Const) and n.dtype == "float32"]
    assert float(np.array(0.1, dt)) in consts
    # int8 from a 16-bit float goes through float32; every narrowing ends in one Cast
    casts = {(n.value.dtype, n.dtype) for n in nodes if isinstance(n, Cast)}
    assert (dt, "float32") in casts and ("float32", dt) in casts and ("float32", "int8") in casts
    assert (dt, "int8") not in casts


def test_mixed_precision_dense_and_batch_matmul():
    X = te.placeholder((3, 16), "float16", name="X")
    W = te.placeholder((5, 16), "float16", name="W")
    D = topi.nn.dense(X, W, out_dtype="float32")
    assert D.dtype == "float32"
    Xb = te.placeholder((2, 3, 16), "bfloat16", name="Xb")
    Yb = te.placeholder((2, 4, 16), "bfloat16", name="Yb")
    M = topi.nn.batch_matmul(Xb, Yb, out_dtype="float32")
    s = topi.schedule([D, M], "avx2")
    mod = te.build(s, [X, W, Xb, Yb, D, M], target="avx2")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 16)).astype("float16"), rng.standard_normal((5, 16)).astype("float16")
    xb = rng.standard_normal((2, 3, 16)).astype("bfloat16")
    yb = rng.standard_normal((2, 4, 16)).astype("bfloat16")
    d, m = np.empty((3, 5), "float32"), np.empty((2, 3, 4), "float32")
    mod(x, w, xb, yb, d, m)
    # the products of 16-bit values are exact in float32: only the sum's order differs
    np.testing.assert_allclose(d, x.astype("float32") @ w.astype("float32").T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m, xb.astype("float32") @ yb.astype("float32").transpose(0, 2, 1),
                               rtol=1e-5, atol=1e-5)


def test_dense_batch1_half_weights_are_dot_products():
    X = te.placeholder((1, 64), "bfloat16", name="X")
    W = te.placeholder((32, 64), "bfloat16", name="W")
    D = topi.nn.dense(X, W, out_dtype="float32")
    src = emit_source(topi.schedule([D], "avx2"), [X, W, D], target="avx2")
    assert "_mm256_cvtepu16_epi32" in src and "_mm256_fmadd_ps" in src   # widened in vectors


def test_bad_dtype_combinations_name_both():
    h = te.placeholder((2, 4), "float16", name="h")
    b = te.placeholder((2, 4), "bfloat16", name="b")
    f = te.placeholder((2, 4), "float32", name="f")
    with pytest.raises(te.TexprError, match=r"dense: inputs of dtype float16 and bfloat16"):
        topi.nn.dense(h, b)
    with pytest.raises(te.TexprError, match=r"dense: inputs of dtype bfloat16 and float32"):
        topi.nn.dense(b, f, out_dtype="float32")
    with pytest.raises(te.TexprError, match=r"out_dtype int32 for float16 inputs; expected "
                                            r"float16 or float32"):
        topi.nn.dense(h, h, out_dtype="int32")
    h3 = te.placeholder((1, 2, 4), "float16", name="h3")
    b3 = te.placeholder((1, 2, 4), "bfloat16", name="b3")
    with pytest.raises(te.TexprError, match=r"batch_matmul: inputs of dtype float16 and bfloat16"):
        topi.nn.batch_matmul(h3, b3)


@pytest.mark.parametrize("dt,cuda_type,opencl_load", [("float16", "__half", "vload_half("),
                                                        ("bfloat16", "__nv_bfloat16", "texpr_bf16_to_f32(")])
def test_gpu_targets_store_16_bit_floats_and_compute_in_float32(dt, cuda_type, opencl_load):
    """CUDA: the cuda_fp16.h / cuda_bf16.h types and conversions; OpenCL: core half storage
    (vload_half / vstore_half_rte), bfloat16 as bits (runs: tests/targets/test_half_gpu.py)."""
    A = te.placeholder((64,), dt, name="A")
    B = te.compute((64,), lambda i: A[i] + 1.0, name="B")
    s = te.create_schedule(B.op)
    bx, tx = s[B].split(B.op.axis[0], factor=32)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    cuda = emit_source(s, [A, B], target="cuda")
    assert f"const {cuda_type}* __restrict__ A" in cuda and "+ 1.0f" in cuda
    assert ("<cuda_fp16.h>" if dt == "float16" else "<cuda_bf16.h>") in cuda
    opencl = emit_source(s, [A, B], target="opencl")
    assert opencl_load in opencl and "+ 1.0f" in opencl


def test_native_float16_arithmetic_where_the_target_has_it():
    """fp16_arithmetic (NEON): float16 + - * / min max and compares stay float16; calls and
    bfloat16 still go through float32."""
    A = te.placeholder((8,), "float16", name="A")
    H = te.placeholder((8,), "bfloat16", name="H")
    B = te.compute((8,), lambda i: te.max(A[i] * A[i] / 3.0 - A[i], A[i]) + te.exp(A[i]), name="B")
    C = te.compute((8,), lambda i: (A[i] < B[i]).astype("float16") + H[i].astype("float16") * 2.0,
                   name="C")
    D = te.compute((8,), lambda i: H[i] * H[i], name="D")
    s = te.create_schedule([B.op, C.op, D.op])
    body = te.lower(s, [A, H, B, C, D], target="neon", stop_after="half_arithmetic").body
    ops = [n for n in walk(body) if isinstance(n, (BinOp, Cmp, Call))]
    native = {(type(n).__name__, n.op) for n in ops if isinstance(n, (BinOp, Cmp))
              and n.a.dtype == "float16"}
    assert native == {("BinOp", o) for o in ("*", "/", "-", "max", "+")} | {("Cmp", "<")}
    assert all(a.dtype == "float32" for n in ops if isinstance(n, Call) for a in n.args)
    assert not any(dtypes.element(n.dtype) == "bfloat16" for n in ops)
    assert te.lower(s, [A, H, B, C, D], target="c", stop_after="half_arithmetic").body != body
