"""The "cuda" target: every CUDA kernel built here compiles with nvcc -arch=sm_90 -cubin with
no warning (compile_cubin treats a warning as an error), is cached on disk, and runs where a
CUDA device exists; without one, calling raises TexprError saying so.

nvcc takes ~2 s per kernel: a handful of kernels, each covering a different feature.
"""
import numpy as np
import pytest

import texpr as te
import texpr.topi as topi
from texpr.targets.gpu.cuda_runtime import cuda_available
from texpr.targets.toolchain import compile_cubin

from support.gpu_schedules import (cross_thread_row_reduce, cross_thread_rows_reduce, elementwise, per_element, scalar_semantics,
                           shared_matmul, vectorized_elementwise, vectorized_staging)

HAVE_DEVICE = cuda_available()
RNG = np.random.default_rng(3)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def run_or_no_device(f, *arrays):
    """Run on a CUDA device when there is one; otherwise check the error says why not."""
    if HAVE_DEVICE:
        f(*arrays)
        return True
    with pytest.raises(te.TexprError, match="no CUDA device"):
        f(*arrays)
    return False


def check_cubin(f):
    assert f.cubin[:4] == b"\x7fELF"
    assert f.target == "cuda"


def test_elementwise_symbolic_extent():
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: te.exp(A[i]) * 2.0 + (i % 3).astype("float32"), name="B")
    s = te.create_schedule(B.op)
    bx, tx = s[B].split(B.op.axis[0], factor=128)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    f = te.build(s, [A, B], "cuda", name="ew")
    check_cubin(f)
    src = f.source
    assert 'extern "C" __global__ void __launch_bounds__(128)' in src
    assert "const float* __restrict__ A" in src and "(int)blockIdx.x" in src
    assert "cuda" in repr(f) and "device=" in repr(f)
    a = rand(1000)
    b = np.zeros_like(a)
    if run_or_no_device(f, a, b):
        np.testing.assert_allclose(b, np.exp(a) * 2 + np.arange(1000) % 3, rtol=1e-5)
    # validation happens before the device is needed: the same errors as every target
    with pytest.raises(te.ArgumentError, match="argument A: dtype is float64"):
        f(np.zeros(4), np.zeros(4, "float32"))


def test_shared_memory_matmul_with_register_tiles():
    s, args = shared_matmul(96, 80, 40, 32, 32, 8, 4, 2)
    f = te.build(s, args, "cuda", name="mm")
    check_cubin(f)
    assert "__shared__ __align__(16) float A_shared[288];" in f.source
    assert "*(float4*)(&A_shared_local[0]) = *(const float4*)(&A_shared[" in f.source
    assert f.source.count("__syncthreads();") == 2
    a, b = rand(96, 40), rand(80, 40)
    c = np.zeros((96, 80), "float32")
    if run_or_no_device(f, a, b, c):
        np.testing.assert_allclose(c, a @ b.T, rtol=1e-4, atol=1e-4)


def test_topi_schedules_compile_for_cuda():
    """softmax (math functions) and sparse_lengths_sum (checked data indices: atomicCAS into
    the error words; three kernels: check, scan on one thread, pooling)."""
    X = te.placeholder((7, 300), name="X")
    sm = topi.nn.softmax(X)
    f = te.build(topi.schedule(sm, "cuda"), [X, sm], "cuda", name="softmax")
    check_cubin(f)
    assert "__shfl_down_sync" in f.source          # long rows: block-wide max and sum
    x = rand(7, 300)
    y = np.zeros_like(x)
    if run_or_no_device(f, x, y):
        np.testing.assert_allclose(y, topi.testing.softmax_ref(x), rtol=1e-5)
    V, D, L, B = 20, 8, 12, 4
    data = te.placeholder((V, D), name="data")
    idx = te.placeholder((L,), "int32", name="indices")
    lens = te.placeholder((B,), "int32", name="lengths")
    out = topi.sparse.sparse_lengths_sum(data, idx, lens)
    g = te.build(topi.schedule(out, "cuda"), [data, idx, lens, out], "cuda", name="sls")
    check_cubin(g)
    assert "atomicCAS" in g.source and len(g.program.kernels) == 3
    dv, iv = rand(V, D), RNG.integers(0, V, L).astype("int32")
    lv = np.array([3, 0, 5, 4], "int32")
    o = np.zeros((B, D), "float32")
    if run_or_no_device(g, dv, iv, lv, o):
        np.testing.assert_allclose(o, topi.testing.sparse_lengths_sum_ref(dv, iv, lv), rtol=1e-5)


def test_cubins_are_cached_and_warnings_are_errors():
    s, args = elementwise(64)
    f1 = te.build(s, args, "cuda", name="ew64")
    _, cached = compile_cubin(f1.source)
    assert cached
    with pytest.raises(te.TexprError, match="unused_variable.*declared but never referenced"):
        compile_cubin('extern "C" __global__ void k(int* p) { int unused_variable; p[0] = 1; }\n'
                      "// texpr test: this kernel must warn\n")


@pytest.mark.parametrize("threads,shuffles", [(64, True), (24, False)])
def test_cross_thread_reduction(threads, shuffles):
    """Blocks of a multiple of 32 threads reduce with warp shuffles (one shared value per
    warp); others with the shared-memory tree (the one OpenCL runs and the tests execute)."""
    s, args = cross_thread_row_reduce(5, 300, threads, te.max)
    f = te.build(s, args, "cuda", name="rowmax")
    check_cubin(f)
    assert ("__shfl_down_sync(0xffffffffu" in f.source) is shuffles
    size = threads // 32 if shuffles else threads
    assert f"__shared__ __align__(16) float B_red_shared[{size}];" in f.source
    a = rand(5, 300)
    b = np.zeros(5, "float32")
    if run_or_no_device(f, a, b):
        np.testing.assert_allclose(b, a.max(1))


def test_cross_thread_reduction_next_to_threadIdx_y_compiles_and_runs():
    """Rows on threadIdx.y, each reduced by two warps on threadIdx.x with shuffles: one
    shared slot per warp and row; rows past the tensor (10 = 3 * 3 + 1) still shuffle."""
    s, args = cross_thread_rows_reduce(10, 300, 64, 3, te.sum)
    f = te.build(s, args, "cuda", name="rowssum")
    check_cubin(f)
    assert "__shfl_down_sync(0xffffffffu" in f.source
    assert "__shared__ __align__(16) float B_red_shared[6];" in f.source
    a = rand(10, 300)
    b = np.zeros(10, "float32")
    if run_or_no_device(f, a, b):
        np.testing.assert_allclose(b, a.sum(1), rtol=1e-4, atol=1e-4)


def test_float4_loads_where_provably_aligned():
    s, args = vectorized_staging(64, 48, 4, 0)
    f = te.build(s, args, "cuda", name="vcopy")
    check_cubin(f)
    assert "*(float4*)(&A_shared[" in f.source and "*(const float4*)(&A[" in f.source
    s, args = vectorized_staging(64, 48, 4, 1)       # rows start at offset 1: not 16-byte aligned
    g = te.build(s, args, "cuda", name="vcopy1")
    assert "float4" not in g.source
    a = rand(64, 49)
    b = np.zeros((64, 48), "float32")
    if run_or_no_device(g, a, b):
        np.testing.assert_array_equal(b, 2 * a[:, 1:])


def test_winograd_conv_compiles():
    X, W = te.placeholder((1, 8, 14, 14), name="X"), te.placeholder((16, 8, 3, 3), name="W")
    out = topi.nn.conv2d_winograd_nchw(X, W, 1, 4)
    f = te.build(topi.schedule(out, "cuda"), [X, W, out], "cuda", name="wino")
    check_cubin(f)
    assert len(f.program.kernels) == 6 and f.source.count("__global__") == 6


def test_scalar_helpers_and_math_compile():
    outs, args, inputs = scalar_semantics()
    f = te.build(per_element(outs), args, "cuda", name="sem")
    check_cubin(f)
    assert "static __device__ __forceinline__ int32_t texpr_floordiv_int32" in f.source
    assert "static __device__ __forceinline__ int32_t texpr_shl_int32" in f.source
    o = [np.zeros(97, t.dtype) for t in outs]
    if run_or_no_device(f, *inputs, *o):
        c = [np.zeros(97, t.dtype) for t in outs]
        te.build(te.create_schedule([t.op for t in outs]), args, "c", name="sem")(*inputs, *c)
        np.testing.assert_array_equal(o[0], c[0])
        np.testing.assert_array_equal(o[1], c[1])
        np.testing.assert_array_equal(o[2], c[2])
        np.testing.assert_allclose(o[3], c[3], rtol=1e-5, atol=1e-5)


def test_cpu_pragmas_are_dropped_and_unroll_kept():
    A = te.placeholder((64, 600), name="A")
    k = te.reduce_axis((0, 600), name="k")
    B = te.compute((64,), lambda i: te.sum(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    s[B].bind(B.op.axis[0], te.thread_axis("threadIdx.x"))
    for key, val in (("omp_simd", None), ("ivdep", None), ("comment", "sum a row"),
                     ("unroll", 4)):
        s[B].pragma(k, key, val)
    f = te.build(s, [A, B], "cuda", name="rowsum")      # nvcc would warn on an omp pragma
    assert "/* sum a row */\n  #pragma unroll 4\n  for (" in f.source
    assert "omp" not in f.source and "ivdep" not in f.source


def test_float4_loads_and_stores_of_a_vectorized_computation():
    s, args = vectorized_elementwise(4)
    f = te.build(s, args, "cuda", name="vew")
    check_cubin(f)
    for operand in ("*(const float4*)(&A[", "*(const float4*)(&B[", "*(float4*)(&C["):
        assert operand in f.source
    a, b = rand(130), rand(130)
    c = np.zeros(130, "float32")
    if run_or_no_device(f, a, b, c):
        np.testing.assert_allclose(c, 2 * a + b * a + b[0], rtol=1e-6)
