"""Scalar te.var arguments: te.build(s, [A, n, B]) takes n as a Python number."""
import functools
import shutil

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr.targets.build import emit_source

TARGETS = ["c", "native", "avx512"]


def _scaled():
    n = te.var("n")
    alpha = te.var("alpha", "float32")
    off = te.var("off", "int64")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * alpha + off.astype("float32"), name="B")
    s = te.create_schedule(B.op)
    xo, xi = s[B].split(B.op.axis[0], factor=8)
    s[B].vectorize(xi)
    return s, A, B, n, alpha, off


@pytest.mark.parametrize("target", TARGETS)
def test_value_scalars(target):
    s, A, B, n, alpha, off = _scaled()
    f = te.build(s, [A, alpha, B, off], target=target)
    a = np.random.default_rng(1).random(21).astype("float32")
    b = np.zeros(21, "float32")
    f(a, 2.5, b, 7)
    np.testing.assert_allclose(b, a * 2.5 + 7, rtol=1e-6)
    f(a, 3, b, np.int64(-2))                   # an int for a float, NumPy scalars
    np.testing.assert_allclose(b, a * 3 - 2, rtol=1e-6)
    assert "double s1" in f.source and "int64_t s2" in f.source


@functools.cache
def _extent_kernel():
    """F[i] = 2 * g(i + c) for i < k, g(x) = x // 3 * 10 + x % 3: k and c are scalar
    arguments (built once); c may be negative (floor semantics)."""
    k = te.var("k")
    c = te.var("c")
    E = te.compute((k,), lambda i: ((i + c) // 3 * 10 + (i + c) % 3).astype("float32"),
                   name="E")
    F = te.compute((k,), lambda i: E[i] * 2.0, name="F")
    s = te.create_schedule(F.op)
    s[F].vectorize(s[F].split(F.op.axis[0], factor=4)[1])
    return te.build(s, [k, c, F], target="c")


@settings(max_examples=10, deadline=None)
@given(size=st.integers(0, 40), start=st.integers(-50, 5))
def test_scalar_extent_and_offset(size, start):
    """A scalar sets the extent of a stage no argument's shape gives, and offsets values."""
    out = np.zeros(size, "float32")
    _extent_kernel()(size, start, out)
    x = np.arange(size) + start
    np.testing.assert_array_equal(out, (x // 3 * 10 + x % 3) * 2.0)


def test_shape_var_given_as_scalar_must_agree_with_arrays():
    n = te.var("n")
    A = te.placeholder((n, 2), name="A")
    B = te.compute((n, 2), lambda i, j: A[i, j] + n.astype("float32"), name="B")
    f = te.build(te.create_schedule(B.op), [A, n, B], target="c")
    a = np.ones((4, 2), "float32")
    b = np.zeros((4, 2), "float32")
    f(a, 4, b)
    np.testing.assert_array_equal(b, 5.0)
    with pytest.raises(te.ArgumentError, match="argument A: dimension 0 is 4, but n = 3 from the "
                                               "scalar argument"):
        f(a, 3, b)
    with pytest.raises(te.ArgumentError, match="scalar argument n = -1: it is a shape or loop "
                                               "extent, which cannot be negative"):
        f(a, -1, b)


def test_bad_scalar_values():
    s, A, B, n, alpha, off = _scaled()
    f = te.build(s, [A, alpha, B, off], target="c")
    a, b = np.ones(3, "float32"), np.zeros(3, "float32")
    with pytest.raises(te.ArgumentError, match="scalar argument alpha: expected a Python float "
                                               "for float32, got str"):
        f(a, "2", b, 1)
    with pytest.raises(te.ArgumentError, match="alpha: expected a Python float for float32, got bool"):
        f(a, True, b, 1)
    with pytest.raises(te.ArgumentError, match="scalar argument off: expected a Python int for "
                                               "int64, got float"):
        f(a, 1.0, b, 1.5)
    with pytest.raises(te.ArgumentError, match=r"off = 9223372036854775808 does not fit in int64"):
        f(a, 1.0, b, 2**63)
    with pytest.raises(te.ArgumentError, match=r"expected 4 arguments \(A, alpha, B, off\), or "
                                               r"the 3 input\(s\) alone .*, got 2"):
        f(a, 1.0)
    with pytest.raises(te.ArgumentError, match="scalar argument off: expected a Python int for "
                                               "int64, got ndarray"):
        f(a, 1.0, b)        # (taken as A, alpha, off, the output B omitted)
    with pytest.raises(te.ArgumentError, match="scalar argument off: expected a Python int"):
        f(a, 1.0, b, np.zeros(1, "int64"))


def test_scalar_args_in_lowering_errors():
    n = te.var("n")
    m = te.var("m")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * m.astype("float32"), name="B")
    s = te.create_schedule(B.op)
    with pytest.raises(te.LoweringError, match="variable m used by stage B is not a dimension of "
                                               "any argument nor a scalar argument"):
        te.build(s, [A, B], target="c")
    with pytest.raises(te.LoweringError, match="scalar argument m is given twice"):
        te.build(s, [A, m, B, m], target="c")
    with pytest.raises(te.LoweringError, match="argument 1 is 3; expected a tensor or a scalar te.var"):
        te.build(s, [A, 3, B], target="c")


def test_kernels_without_scalars_are_unchanged():
    """The entry of a kernel whose shape vars come from arrays keeps int64 parameters and
    no packed-call machinery."""
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] + 1.0, name="B")
    src = emit_source(te.create_schedule(B.op), [A, B], target="c")
    assert "void texpr_kernel_main_entry(void* a0, void* a1, int64_t s0)" in src
    assert "texpr_packed" not in src and "double" not in src


def test_bound_module_with_scalars():
    s, A, B, n, alpha, off = _scaled()
    f = te.build(s, [A, alpha, B, off], target="c")
    a, b = np.arange(5, dtype="float32"), np.zeros(5, "float32")
    run = f.bind(a, 2.0, b, 1)
    run()
    np.testing.assert_array_equal(b, a * 2 + 1)


def _gpu_scaled():
    n = te.var("n")
    alpha = te.var("alpha", "float32")
    off = te.var("off")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * alpha + off.astype("float32"), name="B")
    s = te.create_schedule(B.op)
    bx, tx = s[B].split(B.op.axis[0], factor=32)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    return s, [A, alpha, B, off]


def test_scalar_args_on_opencl():
    s, args = _gpu_scaled()
    f = te.build(s, args, target="opencl")
    assert "float alpha, int32_t off" in f.source
    a = np.random.default_rng(2).random(70).astype("float32")
    b = np.zeros(70, "float32")
    f(a, 2.5, b, -3)
    np.testing.assert_allclose(b, a * 2.5 - 3, rtol=1e-6)
    with pytest.raises(te.ArgumentError, match="scalar argument off: expected a Python int"):
        f(a, 2.5, b, 1.5)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (the CUDA compiler) is not "
                    "installed")
def test_scalar_args_compile_for_cuda():
    from texpr.targets.toolchain import compile_cubin
    s, args = _gpu_scaled()
    src = emit_source(s, args, target="cuda")
    assert "float alpha, int32_t off" in src
    compile_cubin(src)


def test_gpu_scalar_of_a_narrow_dtype_is_refused():
    s, (A, alpha, B, off) = _gpu_scaled()
    flag = te.var("flag", "int8")
    with pytest.raises(te.TexprError, match="target opencl: scalar argument flag has dtype int8"):
        te.build(s, [A, alpha, B, off, flag], target="opencl")


def test_float_scalar_under_emulator_is_refused():
    s, A, B, n, alpha, off = _scaled()
    with pytest.raises(te.TexprError, match="target neon: scalar argument alpha of dtype "
                                            "float32; under the emulator"):
        te.build(s, [A, alpha, B, off], target="neon")


@pytest.mark.skipif(not (shutil.which("aarch64-linux-gnu-gcc") and shutil.which("qemu-aarch64")),
                    reason="the NEON cross toolchain (gcc-aarch64-linux-gnu, qemu-user) is not "
                           "installed")
def test_int_scalar_on_neon():
    k = te.var("k")
    A = te.placeholder((k,), "int32", name="A")
    B = te.compute((k,), lambda i: A[i] * k, name="B")
    s = te.create_schedule(B.op)
    s[B].vectorize(s[B].split(B.op.axis[0], factor=4)[1])
    f = te.build(s, [A, k, B], target="neon")
    a = np.arange(11, dtype="int32")
    b = np.zeros(11, "int32")
    f(a, 11, b)
    np.testing.assert_array_equal(b, a * 11)
    with pytest.raises(te.ArgumentError, match="but k = 10 from the scalar argument"):
        f(a, 10, b)


@pytest.mark.skipif(any(shutil.which(t) is None for t in ("clang", "ld.lld", "qemu-hexagon")),
                    reason="the HVX toolchain (clang, lld, qemu-hexagon) is not installed")
def test_int_scalar_on_hvx():
    k = te.var("k")
    A = te.placeholder((k,), "int32", name="A")
    B = te.compute((k,), lambda i: A[i] * k, name="B")
    f = te.build(te.create_schedule(B.op), [A, k, B], target="hvx")
    a = np.arange(7, dtype="int32")
    b = np.zeros(7, "int32")
    f(a, 7, b)
    np.testing.assert_array_equal(b, a * 7)


def test_scalar_var_in_an_extern_call():
    """A scalar argument passed on to C code in an extern op."""
    alpha = te.var("alpha", "float64")
    A = te.placeholder((6,), "float64", name="A")
    src = ("static void scale(const double* x, double* y, double a) "
           "{ for (int i = 0; i < 6; ++i) y[i] = a * x[i]; }")
    B = te.extern((6,), [A], lambda ins, outs: te.call_extern("void", "scale", ins[0], outs[0],
                                                              alpha), name="B")
    f = te.build(te.create_schedule(B.op), [A, B, alpha], target="c", extra_sources=[src])
    a = np.arange(6, dtype="float64")
    b = np.zeros(6)
    f(a, b, -1.5)
    np.testing.assert_array_equal(b, -1.5 * a)
    B2 = te.extern((6,), [A], lambda ins, outs: te.call_extern("void", "scale", ins[0], outs[0],
                                                               alpha), name="B2")
    with pytest.raises(te.LoweringError, match="variable alpha used by extern op B2 is not a "
                                               "dimension of any argument nor a scalar argument"):
        te.build(te.create_schedule(B2.op), [A, B2], target="c", extra_sources=[src])


def test_unsigned_64_bit_scalar():
    u = te.var("u", "uint64")
    A = te.placeholder((3,), "uint64", name="A")
    B = te.compute((3,), lambda i: A[i] ^ u, name="B")
    f = te.build(te.create_schedule(B.op), [A, B, u], target="c")
    a = np.array([0, 1, 2**64 - 1], "uint64")
    b = np.zeros(3, "uint64")
    f(a, b, 2**64 - 2)
    np.testing.assert_array_equal(b, a ^ np.uint64(2**64 - 2))
    with pytest.raises(te.ArgumentError, match="u = -1 does not fit in uint64"):
        f(a, b, -1)


def test_lowered_signature_lists_the_call_order():
    n = te.var("n")
    a = te.var("a", "float32")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * a, name="B")
    s = te.create_schedule(B.op)
    assert str(te.lower(s, [A, a, B])).startswith(
        "func main(A: float32[n], a: float32, B: float32[n], n: int32) {")
