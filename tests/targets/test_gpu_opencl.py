"""GPU schedules executed for real: OpenCL on whatever device exists (PoCL's CPU device in CI).

Thread binding, shared memory and barriers run here; every result is compared with NumPy.
Hypothesis draws the block shapes and tile sizes of a shared-memory matmul and of stencils.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te

from support.gpu_schedules import (cross_thread_row_reduce, cross_thread_rows_reduce, elementwise, per_element, scalar_semantics,
                           shared_matmul, stencil_1d, stencil_2d, vectorized_elementwise,
                           vectorized_staging)

RNG = np.random.default_rng(7)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


# ----------------------------------------------------------------------------- properties

@st.composite
def matmul_configs(draw):
    tm = draw(st.sampled_from([1, 2, 4]))
    tn = draw(st.sampled_from([1, 2, 4]))
    bm = tm * draw(st.sampled_from([2, 4, 8]))
    bn = tn * draw(st.sampled_from([2, 4, 8]))
    bk = draw(st.sampled_from([1, 4, 8]))
    M = draw(st.integers(1, 3 * bm + 1))
    N = draw(st.integers(1, 3 * bn + 1))
    K = draw(st.integers(1, 3 * bk + 3))
    return M, N, K, bm, bn, bk, tm, tn


@given(matmul_configs())
def test_shared_memory_matmul_equals_numpy(cfg):
    M, N, K, *tiles = cfg
    s, args = shared_matmul(M, N, K, *tiles)
    f = te.build(s, args, "opencl", name="mm")
    a, b = rand(M, K), rand(N, K)
    c = np.full((M, N), np.nan, "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b.T, rtol=1e-4, atol=1e-4)


@given(st.integers(1, 300), st.sampled_from([1, 3, 16, 32, 64, 128]))
def test_stencil_1d_through_shared_memory(n, block):
    s, args = stencil_1d(n, block)
    f = te.build(s, args, "opencl", name="st1")
    a = rand(n + 2)
    b = np.full(n, np.nan, "float32")
    f(a, b)
    np.testing.assert_allclose(b, a[:-2] + 2 * a[1:-1] + a[2:], rtol=1e-5, atol=1e-5)


@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from([1, 2, 4, 8]),
       st.sampled_from([1, 4, 8, 16]))
def test_stencil_2d_through_shared_memory(h, w, by, bx):
    s, args = stencil_2d(h, w, by, bx)
    f = te.build(s, args, "opencl", name="st2")
    a = rand(h + 2, w + 2)
    b = np.full((h, w), np.nan, "float32")
    f(a, b)
    ref = sum(a[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))
    np.testing.assert_allclose(b, ref, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- module behaviour

def test_symbolic_extent_and_the_call_contract():
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: te.exp(A[i]) * 2.0 + 1.0, name="B")
    s = te.create_schedule(B.op)
    bx, tx = s[B].split(B.op.axis[0], factor=64)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    f = te.build(s, [A, B], "opencl", name="ew")
    for size in (1, 63, 64, 1000):
        a = rand(size)
        b = np.zeros(size, "float32")
        f(a, b)
        np.testing.assert_allclose(b, np.exp(a) * 2 + 1, rtol=1e-5)
    f(np.zeros(0, "float32"), np.zeros(0, "float32"))        # nothing to launch
    assert "__kernel" in f.source and "get_group_id(0)" in f.source
    assert "OpenCL" in repr(f) and "target=opencl" in repr(f)
    t = f.time(rand(4096), np.zeros(4096, "float32"), number=2, repeat=2)
    assert isinstance(t, float) and t > 0
    # validation: the same plan and messages as CPU modules
    with pytest.raises(te.ArgumentError, match="expected 2 arrays"):
        f()
    x = rand(4)
    np.testing.assert_allclose(f(x), np.exp(x) * 2 + 1, rtol=1e-5)      # the output allocated
    with pytest.raises(te.ArgumentError, match="argument A: dtype is float64, expected float32"):
        f(np.zeros(4), np.zeros(4, "float32"))
    with pytest.raises(te.ArgumentError, match="argument B: dimension 0 is 5, but n = 4"):
        f(rand(4), np.zeros(5, "float32"))
    with pytest.raises(te.ArgumentError, match="not C-contiguous"):
        f(rand(8)[::2], np.zeros(4, "float32"))
    ro = np.zeros(4, "float32")
    ro.setflags(write=False)
    with pytest.raises(te.ArgumentError, match="read-only"):
        f(rand(4), ro)


def test_same_errors_as_the_c_target():
    s, args = elementwise(16)
    g = te.build(s, args, "opencl", name="ew")
    A, B = args
    sc = te.create_schedule(B.op)
    c = te.build(sc, [A, B], "c", name="ew")
    for bad in ((rand(15), np.zeros(16, "float32")), (), (rand(15),),
                (rand(16), np.zeros(16, "int32"))):
        with pytest.raises(te.ArgumentError) as e_gpu:
            g(*bad)
        with pytest.raises(te.ArgumentError) as e_cpu:
            c(*bad)
        assert str(e_gpu.value) == str(e_cpu.value)


def test_two_kernels_through_a_device_temporary():
    A = te.placeholder((8, 50), name="A")
    k = te.reduce_axis((0, 50), name="k")
    S = te.compute((8,), lambda i: te.sum(A[i, k], axis=k), name="S")
    B = te.compute((8, 50), lambda i, j: A[i, j] / S[i], name="B")
    s = te.create_schedule(B.op)
    s[S].bind(S.op.axis[0], te.thread_axis("threadIdx.x"))
    s[B].bind(B.op.axis[0], te.thread_axis("blockIdx.x"))
    s[B].bind(B.op.axis[1], te.thread_axis("threadIdx.x"))
    f = te.build(s, [A, B], "opencl", name="norm")
    assert len(f.program.kernels) == 2
    a = np.abs(rand(8, 50)) + 0.1
    b = np.zeros_like(a)
    f(a, b)
    np.testing.assert_allclose(b, a / a.sum(1, keepdims=True), rtol=1e-5)


def test_register_tile_and_unrolled_vector_loop():
    """cache_write into local memory, a vectorized inner loop (unrolled on the GPU)."""
    A = te.placeholder((32, 24), name="A")
    B = te.compute((32, 24), lambda i, j: A[i, j] * 3.0, name="B")
    s = te.create_schedule(B.op)
    BL = s.cache_write(B, "local")
    i, j = B.op.axis
    jo, ji = s[B].split(j, factor=4)
    s[B].bind(i, te.thread_axis("blockIdx.x"))
    s[B].bind(jo, te.thread_axis("threadIdx.x"))
    s[B].vectorize(ji)
    s[BL].compute_at(s[B], jo)
    s[BL].vectorize(BL.op.axis[1])
    f = te.build(s, [A, B], "opencl", name="rt")
    a = rand(32, 24)
    b = np.zeros_like(a)
    f(a, b)
    np.testing.assert_allclose(b, a * 3)
    assert "B_local[4]" in f.source


def test_out_of_range_data_index_raises_and_writes_nothing_out_of_bounds():
    idx = te.placeholder((6,), "int32", name="idx")
    D = te.placeholder((10, 4), name="D")
    G = te.compute((6, 4), lambda i, j: D[idx[i], j], name="G")
    s = te.create_schedule(G.op)
    s[G].bind(G.op.axis[0], te.thread_axis("blockIdx.x"))
    s[G].bind(G.op.axis[1], te.thread_axis("threadIdx.x"))
    f = te.build(s, [idx, D, G], "opencl", name="gather")
    d = rand(10, 4)
    ix = np.array([0, 9, 3, 3, 1, 2], "int32")
    g = np.zeros((6, 4), "float32")
    f(ix, d, g)
    np.testing.assert_array_equal(g, d[ix])
    ix[4] = 10
    with pytest.raises(te.ArgumentError, match=r"idx\[4\] = 10 is out of range for dimension 0 "
                                               r"of D"):
        f(ix, d, g)


def test_hostile_names_are_sanitised():
    A = te.placeholder((16,), name='A"); __kernel void x(')
    B = te.compute((16,), lambda i: A[i] + 1.0, name="int")
    s = te.create_schedule(B.op)
    s[B].bind(B.op.axis[0], te.thread_axis("threadIdx.x"))
    f = te.build(s, [A, B], "opencl", name="k; //")
    a = rand(16)
    b = np.zeros(16, "float32")
    f(a, b)
    np.testing.assert_allclose(b, a + 1)


@given(st.integers(1, 6), st.integers(1, 300), st.sampled_from([1, 5, 16, 24, 64, 128]),
       st.sampled_from(["sum", "max", "min"]))
def test_cross_thread_reduction_equals_numpy(rows, K, threads, kind):
    s, args = cross_thread_row_reduce(rows, K, threads, getattr(te, kind))
    f = te.build(s, args, "opencl", name="rowred")
    a = rand(rows, K)
    b = np.full(rows, np.nan, "float32")
    f(a, b)
    np.testing.assert_allclose(b, getattr(np, kind)(a, axis=1), rtol=1e-4, atol=1e-4)


def test_cross_thread_reduction_lowering():
    from texpr.lang.ir import Barrier
    from texpr.lang.visitor import walk
    s, args = cross_thread_row_reduce(4, 100, 16)
    k, = te.lower(s, args, "rowred", target="opencl").kernels
    assert [(b.name, b.size.value) for b in k.shared] == [("B.red", 16)]
    assert sum(isinstance(n, Barrier) for n in walk(k.body)) == 5   # after the partials + 4 steps
    A = args[0]
    B = args[1]
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(B.op.reduce_axis[0], factor=16)
    BF = s.rfactor(B, ki)
    with pytest.raises(te.ScheduleError, match="reduction axis"):
        s[B].bind(s[B].op.reduce_axis[0], te.thread_axis("blockIdx.x"))


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 11), st.integers(1, 80), st.sampled_from([1, 5, 16, 32]),
       st.sampled_from([1, 3, 4]), st.sampled_from(["sum", "max"]))
def test_cross_thread_reduction_next_to_a_threadIdx_y_binding(rows, K, threads, ty, kind):
    """Rows on threadIdx.y, each reduced across threadIdx.x; rows that stick out of the tensor
    (ty not dividing rows) still reach every barrier."""
    s, args = cross_thread_rows_reduce(rows, K, threads, ty, getattr(te, kind))
    f = te.build(s, args, "opencl", name="rowsred")
    a = rand(rows, K)
    b = np.full(rows, np.nan, "float32")
    f(a, b)
    np.testing.assert_allclose(b, getattr(np, kind)(a, axis=1), rtol=1e-4, atol=1e-4)


def test_cross_thread_reduction_rows_get_their_own_shared_slices():
    from texpr.lang.ir import Barrier, IfThenElse
    from texpr.lang.visitor import walk
    s, args = cross_thread_rows_reduce(10, 70, 16, 4)
    k, = te.lower(s, args, "rowsred", target="opencl").kernels
    assert [(b.name, b.size.value) for b in k.shared] == [("B.red", 64)]     # 4 rows x 16
    # no barrier sits under the guard of the rows that stick out (10 = 2 * 4 + 2)
    guards = [n for n in walk(k.body) if isinstance(n, IfThenElse) and "threadIdx_y" in str(n.cond)]
    assert guards and not any(isinstance(x, Barrier) for g in guards for x in walk(g.then_case))
    assert sum(isinstance(n, Barrier) for n in walk(k.body)) == 5
    # CUDA: the warp-shuffle tree, one slot per warp and row
    s, args = cross_thread_rows_reduce(10, 70, 64, 2)
    k, = te.lower(s, args, "rowsred", target="cuda").kernels
    assert [(b.name, b.size.value) for b in k.shared] == [("B.red", 4)]      # 2 rows x 2 warps


@pytest.mark.parametrize("lanes,offset", [(4, 0), (4, 1), (2, 0)])
def test_vectorized_loads_into_shared_memory(lanes, offset):
    s, args = vectorized_staging(64, 48, lanes, offset)
    f = te.build(s, args, "opencl", name="vcopy")
    assert f"vload{lanes}(" in f.source and f"vstore{lanes}(" in f.source
    a = rand(64, 48 + offset)
    b = np.zeros((64, 48), "float32")
    f(a, b)
    np.testing.assert_array_equal(b, 2 * a[:, offset:])



def test_scalar_semantics_match_the_c_target():
    """Integer floor division/modulo (also by 0 and negatives), narrow integer wrap-around,
    shifts by any count, float64, math functions: OpenCL C computes what the C target
    computes."""
    outs, args, inputs = scalar_semantics()
    results = []
    for target in ("opencl", "c"):
        s = per_element(outs) if target == "opencl" else te.create_schedule([o.op for o in outs])
        f = te.build(s, args, target, name="sem")
        o = [np.zeros(int(t.shape[0].value), t.dtype) for t in outs]
        f(*inputs, *o)
        results.append(o)
    gpu, cpu = results
    np.testing.assert_array_equal(gpu[0], cpu[0])
    np.testing.assert_array_equal(gpu[1], cpu[1])
    ia, ib = inputs[0], inputs[1] * 9
    np.testing.assert_array_equal(gpu[2], np.left_shift(ia, ib) + np.right_shift(ia, ib))
    np.testing.assert_array_equal(gpu[2], cpu[2])
    np.testing.assert_allclose(gpu[3], cpu[3], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gpu[4], cpu[4], rtol=1e-12)


def test_cache_write_into_shared_memory():
    """A block computes its 16 results into shared memory (2 per thread), then its threads
    copy them out in another order: the copy reads values other threads wrote."""
    A = te.placeholder((64, 40), name="A")
    k = te.reduce_axis((0, 40), name="k")
    B = te.compute((64,), lambda i: te.sum(A[i, k] * A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    BS = s.cache_write(B, "shared")
    bo, bi = s[B].split(B.op.axis[0], factor=16)
    s[B].bind(bo, te.thread_axis("blockIdx.x"))
    o2, i2 = s[B].split(bi, factor=8)
    s[B].bind(i2, te.thread_axis("threadIdx.x"))
    s[BS].compute_at(s[B], bo)
    so, si = s[BS].split(BS.op.axis[0], nparts=8)
    s[BS].bind(so, te.thread_axis("threadIdx.x"))
    f = te.build(s, [A, B], "opencl", name="sumsq")
    assert f.program.kernels[0].shared[0].size.value == 16
    a = rand(64, 40)
    b = np.zeros(64, "float32")
    f(a, b)
    np.testing.assert_allclose(b, (a * a).sum(1), rtol=1e-5)


def test_bool_arrays():
    A = te.placeholder((50,), name="A")
    M = te.placeholder((50,), "bool", name="M")
    B = te.compute((50,), lambda i: te.if_then_else(M[i], A[i] > 0.5, False), name="B")
    s = te.create_schedule(B.op)
    s[B].bind(B.op.axis[0], te.thread_axis("threadIdx.x"))
    f = te.build(s, [A, M, B], "opencl", name="masked")
    assert "__global uchar* restrict B" in f.source
    a = rand(50)
    m = a > -0.3
    b = np.zeros(50, "bool")
    f(a, m, b)
    np.testing.assert_array_equal(b, m & (a > 0.5))


def test_texpr_testing_checks_gpu_kernels_too():
    """Users test their GPU kernels with texpr.testing, as CPU ones."""
    from texpr import testing as tt
    s, args = stencil_2d(9, 13, 4, 8)
    mod, _ = tt.check_kernel(s, args, lambda a: sum(a[dy:dy + 9, dx:dx + 13]
                                                    for dy in range(3) for dx in range(3)),
                             target="opencl")
    assert mod.target == "opencl"


@pytest.mark.parametrize("lanes", [2, 4])
def test_vectorized_elementwise_with_a_tail(lanes):
    s, args = vectorized_elementwise(lanes)
    f = te.build(s, args, "opencl", name="vew")
    assert f"vload{lanes}(0, A + " in f.source and f"vstore{lanes}(" in f.source
    for n in (1, 7, 128, 130):
        a, b = rand(n), rand(n)
        c = np.full(n, np.nan, "float32")
        f(a, b, c)
        np.testing.assert_allclose(c, 2 * a + b * a + b[0], rtol=1e-6)


def test_scan_runs_its_time_loop_on_the_host():
    """te.scan on a GPU: the host runs the time loop, launching the body's kernels each step
    (a launch is the only grid-wide barrier); symbolic shapes, one build for every size."""
    from support.gpu_schedules import bound_cumsum
    s, args = bound_cumsum(threads=16)
    assert "for (cumsum.idx, 0, m - 1) {\n    launch" in str(te.lower(s, args, target="opencl"))
    f = te.build(s, args, "opencl")
    for shape in ((1, 5), (7, 40)):
        a = rand(*shape)
        b = np.zeros_like(a)
        f(a, b)
        np.testing.assert_allclose(b, np.cumsum(a, 0), rtol=1e-5, atol=1e-5)


def test_scan_with_a_multi_stage_cell_and_two_states():
    """An intermediate stage of the cell is a device temporary; two states step together."""
    m = te.var("m")
    X = te.placeholder((m, 24), name="X")
    s1, s2 = te.placeholder((m, 24), name="s1"), te.placeholder((m, 24), name="s2")
    i1 = te.compute((1, 24), lambda _, i: X[0, i], name="i1")
    i2 = te.compute((1, 24), lambda _, i: 0.0 * X[0, i], name="i2")
    h = te.compute((m, 24), lambda t, i: s1[t - 1, i] * 0.5 + X[t, i], name="h")
    u1 = te.compute((m, 24), lambda t, i: h[t, i] + 1.0, name="u1")
    u2 = te.compute((m, 24), lambda t, i: s2[t - 1, i] + s1[t - 1, i], name="u2")
    r1, r2 = te.scan([i1, i2], [u1, u2], [s1, s2], inputs=[X], name="r")
    s = te.create_schedule(r1.op)
    for st in (i1, i2, h, u1, u2):
        s[st].bind(s[st].op.axis[1], te.thread_axis("threadIdx.x"))
    f = te.build(s, [X, r1, r2], "opencl")
    x = rand(5, 24)
    w1, w2 = np.empty_like(x), np.empty_like(x)
    w1[0], w2[0] = x[0], 0.0
    for t in range(1, 5):
        w1[t] = w1[t - 1] * 0.5 + x[t] + 1.0
        w2[t] = w2[t - 1] + w1[t - 1]
    o1, o2 = np.zeros_like(x), np.zeros_like(x)
    f(x, o1, o2)
    np.testing.assert_allclose(o1, w1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(o2, w2, rtol=1e-5, atol=1e-5)
