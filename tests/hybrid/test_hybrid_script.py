"""te.hybrid.script: each construct built with texpr and checked against the script's own
NumPy emulation and against an independent NumPy expression."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr import hybrid

RNG = np.random.default_rng(7)


def rand(shape, dtype="float32", lo=0.0, hi=10.0):
    if np.dtype(dtype).kind in "iu":
        return RNG.integers(int(lo), int(hi), size=shape).astype(dtype)
    return RNG.uniform(lo, hi, size=shape).astype(dtype)


def build_and_run(outs, inputs, arrays, target="c", sch=None, extra=()):
    """Build the default (or given) schedule of outs and run it on arrays; returns the outputs."""
    outs = tuple(outs) if isinstance(outs, (list, tuple)) else (outs,)   # several: a list
    sch = sch or te.create_schedule(outs[0].op)
    f = te.build(sch, list(inputs) + list(outs), target)
    res = [np.zeros([int(d.value) if hasattr(d, "value") else d for d in o.shape], o.dtype)
           for o in outs] if not extra else [np.zeros(s, o.dtype) for s, o in zip(extra, outs)]
    f(*arrays, *res)
    return res


def check(got, *refs, rtol=1e-5, atol=1e-5):
    for ref in refs:
        ref = ref if isinstance(ref, (tuple, list)) else (ref,)
        assert len(got) == len(ref)
        for g, r in zip(got, ref):
            np.testing.assert_allclose(g, r, rtol=rtol, atol=atol)


@hybrid.script
def outer_product(n, m, a, b):
    """A docstring is skipped."""
    c = output_tensor((n, m), a.dtype)
    for i in range(n):
        for j in range(m):
            assert i < n and j < m, "index out of range"
            c[i, j] = a[i] * b[j]
    return c


def test_outer_product_symbolic_shapes():
    n, m = te.var("n"), te.var("m")
    A, B = te.placeholder((n,), name="A"), te.placeholder((m,), name="B")
    c = outer_product(n, m, A, B)
    assert isinstance(c, te.Tensor) and c.op.num_outputs == 1
    assert c.op.input_tensors == [A, B] and c.dtype == "float32"
    assert [iv.var.name for iv in c.op.axis] == ["i", "j"]
    s = te.create_schedule(c.op)
    f = te.build(s, [A, B, c], "c")
    for nn, mm in ((5, 7), (1, 3), (16, 1)):
        a, b = rand(nn), rand(mm)
        out = np.zeros((nn, mm), "float32")
        f(a, b, out)
        check([out], outer_product(nn, mm, a, b), np.outer(a, b))


def test_reachable_as_te_hybrid():
    assert te.hybrid.script is hybrid.script
    assert isinstance(outer_product, hybrid.HybridFunction)


def test_emulation_returns_numpy_and_leaves_globals_alone():
    a, b = rand(3), rand(4)
    out = outer_product(3, 4, a, b)
    assert isinstance(out, np.ndarray) and out.shape == (3, 4)
    np.testing.assert_allclose(out, np.outer(a, b), rtol=1e-6)
    assert "output_tensor" not in globals()


def test_loop_carried_scalar_and_captured_constant():
    three = 3.0

    @hybrid.script
    def fanout(a):
        b = output_tensor((a.shape[0] - 3,), a.dtype)
        for i in range(a.shape[0] - 3):
            sigma = 0.0
            for j in range(3):
                sigma += a[i + j]
            sigma = sigma / three
            b[i] = sigma
        return b

    A = te.placeholder((12,), name="A")
    a = rand(12)
    got = build_and_run(fanout(A), [A], [a])
    ref = np.array([a[i:i + 3].sum() / 3 for i in range(9)])
    check(got, fanout(a), ref)


@hybrid.script
def looptype(a, b, c):
    d = output_tensor((16,), "int32")
    e = output_tensor((16,), "int32")
    f = output_tensor((16,), "int32")
    for i in parallel(16):
        d[i] = a[i] * 2
    for j in vectorize(16):
        e[j] = b[j] + c[j]
    for k in unroll(16):
        f[k] = c[k] - k
    return d, e, f


@pytest.mark.parametrize("target", ["c", "native"])
def test_loop_annotations_three_outputs(target):
    ts = [te.placeholder((16,), name=x, dtype="int32") for x in "abc"]
    outs = looptype(*ts)
    assert len(outs) == 3 and [o.value_index for o in outs] == [0, 1, 2]
    kinds = [loop.kind for loop in outs[0].op.body.stmts]
    assert kinds == ["parallel", "vectorized", "unrolled"]
    arrs = [rand(16, "int32", -50, 50) for _ in ts]
    got = build_and_run(outs, ts, arrs, target)
    a, b, c = arrs
    check(got, looptype(a, b, c), (a * 2, b + c, c - np.arange(16)))


def test_if_elif_else_conditional_expression_and_boolean_operators():
    @hybrid.script
    def branches(a):
        b = output_tensor((10,), "int32")
        c = output_tensor((10,), "int32")
        for i in range(10):
            if 0 <= i < 3:
                b[i] = a[i]
            elif i >= 3 and i < 6 or not i < 9:
                b[i] = a[i] + 1
            else:
                b[i] = -a[i]
        for i in unroll(10):
            c[i] = -1 if i % 2 == 0 else 1
        return b, c

    A = te.placeholder((10,), dtype="int32", name="A")
    a = rand(10, "int32", -20, 20)
    got = build_and_run(branches(A), [A], [a])
    i = np.arange(10)
    ref_b = np.where(i < 3, a, np.where((i < 6) | (i >= 9), a + 1, -a))
    check(got, branches(a), (ref_b, np.where(i % 2 == 0, -1, 1)))


def test_condition_on_data():
    @hybrid.script
    def relu_count(a):
        b = output_tensor(a.shape, a.dtype)
        cnt = output_tensor((1,), "int32")
        for i in range(a.shape[0]):
            if a[i] > 0.5 or a[i] * 2.0 < -3.0:
                b[i] = a[i]
                cnt[0] += 1
            else:
                b[i] = 0.0
        return b, cnt

    A = te.placeholder((40,), name="A")
    a = rand(40, lo=-3, hi=3)
    got = build_and_run(relu_count(A), [A], [a])
    keep = (a > 0.5) | (a * 2 < -3)
    check(got, relu_count(a), (np.where(keep, a, 0), [keep.sum()]))


def test_math_intrinsics_and_casts():
    @hybrid.script
    def intrin(a, k):
        b = output_tensor((9,), "float32")
        c = output_tensor((3,), "int32")
        b[0] = sqrt(a[0])
        b[1] = log(a[1])
        b[2] = exp(a[2])
        b[3] = sigmoid(a[3])
        b[4] = power(a[4], a[5])
        b[5] = tanh(a[5])
        b[6] = min(a[4], a[5])
        b[7] = max(a[5], a[6]) + abs(a[7] - 5.0)
        b[8] = float32(int32(a[6]) + len(k))
        c[0] = popcount(k[0])
        c[1] = popcount(k[1])
        c[2] = int32(a[2]) // 2
        return b, c

    A = te.placeholder((8,), name="A")
    K = te.placeholder((2,), dtype="int32", name="K")
    a = rand(8, lo=0.5, hi=3)
    k = np.array([114514, -3], "int32")
    got = build_and_run(intrin(A, K), [A, K], [a, k])
    ref_b = [np.sqrt(a[0]), np.log(a[1]), np.exp(a[2]), 1 / (1 + np.exp(-a[3])),
             a[4] ** a[5], np.tanh(a[5]), min(a[4], a[5]), max(a[5], a[6]) + abs(a[7] - 5),
             float(int(a[6]) + 2)]
    ref_c = [bin(114514).count("1"), 31, int(a[2]) // 2]
    check(got, intrin(a, k), (ref_b, ref_c))


def test_allocate_temporary_and_non_zero_loop_start():
    @hybrid.script
    def blur2d(a):
        b = output_tensor((6, 6), "float32")
        for i in range(1, 7):
            ha = allocate((3, 6), "float32", "local")
            for j in range(3):
                for k in range(6):
                    ha[j, k] = a[i - 1 + j, k] + a[i - 1 + j, k + 1] + a[i - 1 + j, k + 2]
            for j in range(6):
                b[i - 1, j] = (ha[0, j] + ha[1, j] + ha[2, j]) / 9.0
        return b

    A = te.placeholder((8, 8), name="A")
    a = rand((8, 8))
    got = build_and_run(blur2d(A), [A], [a])
    ref = np.array([[a[i:i + 3, j:j + 3].sum() / 9 for j in range(6)] for i in range(6)])
    check(got, blur2d(a), ref)


def test_triangular_loop():
    @hybrid.script
    def upper(a, b):
        c = output_tensor((10, 10), dtype="float32")
        for i in range(10):
            for j in range(i, 10):
                c[i, j] = a[i] * b[j]
        return c

    A, B = te.placeholder((10,), name="A"), te.placeholder((10,), name="B")
    a, b = rand(10), rand(10)
    check(build_and_run(upper(A, B), [A, B], [a, b]), upper(a, b), np.triu(np.outer(a, b)))


def test_const_range_unrolled_with_list_parameter():
    @hybrid.script
    def add_list(a, b):
        c = output_tensor(a.shape, a.dtype)
        d = output_tensor(a.shape, "int32")
        for i in const_range(2):
            for j in const_range(len(b[0])):
                c[i, j] = float32(int32(a[i, j]) + b[i, j])
                d[i, j] = int32(a[i, j]) * b[i][j]
        return c, d

    A = te.placeholder((2, 5), name="A")
    b = [[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]]
    c, d = add_list(A, b)
    assert not any(isinstance(x, te.lang.ir.For) for x in te.lang.visitor.walk(c.op.body))
    a = rand((2, 5))
    got = build_and_run((c, d), [A], [a])
    bb = np.array(b)
    check(got, add_list(a, b), (a.astype("int32") + bb, a.astype("int32") * bb))


def test_const_range_local_scalar_and_compile_time_branch():
    @hybrid.script
    def poly(a, coef):
        c = output_tensor(a.shape, a.dtype)
        n = len(coef)
        for i in range(a.shape[0]):
            acc = 0
            for j in const_range(n):
                if j % 2 == 0:
                    acc += a[i] * coef[j]
                else:
                    acc -= coef[j]
            c[i] = acc
        return c

    A = te.placeholder((6,), dtype="int32", name="A")
    coef = (3, 1, 4, 1)
    a = rand(6, "int32", -9, 9)
    check(build_and_run(poly(A, coef), [A], [a]), poly(a, list(coef)),
          a * 3 - 1 + a * 4 - 1)


def test_captured_tuple_and_list_constants():
    n = 8
    constant_tuple = (10, n)
    constant_list = [[1, 2], [3, n]]
    k = 1

    @hybrid.script
    def add_captured(a):
        c = output_tensor((constant_tuple[1],), "int32")
        for i in range(constant_tuple[1]):
            c[i] = a[i] + constant_list[1][k]
        return c

    A = te.placeholder((n,), dtype="int32", name="A")
    a = rand(n, "int32", 0, 100)
    check(build_and_run(add_captured(A), [A], [a]), add_captured(a), a + n)


@hybrid.script
def two_outputs(a):
    b = output_tensor((16,), "int32")
    c = output_tensor((4, 4), "int32")
    for i in range(16):
        b[i] = a[i] + 2
        c[i // 4, i % 4] = a[i] + 1
    return b, c


def test_two_outputs_feeding_another_script():
    @hybrid.script
    def combine(b, a):
        c = output_tensor((4, 4), "int32")
        for i in range(4):
            for j in range(4):
                c[i, j] = a[i * 4 + j] * b[i, j]
        return c

    A = te.placeholder((16,), "int32", name="A")
    outs = two_outputs(A)
    assert isinstance(outs, list) and len(outs) == 2       # several outputs: a list, as TVM's
    b, c = outs
    d = combine(c, b)
    a = rand(16, "int32", -9, 9)
    ref_b, ref_c = a + 2, (a + 1).reshape(4, 4)
    got = build_and_run(d, [A], [a])
    check(got, combine(*reversed(two_outputs(a))), ref_c * ref_b.reshape(4, 4))
    # all outputs as arguments, in any order
    s = te.create_schedule(d.op)
    f = te.build(s, [A, c, b, d], "c")
    outs = [np.zeros((4, 4), "int32"), np.zeros(16, "int32"), np.zeros((4, 4), "int32")]
    f(a, *outs)
    check(outs, (ref_c, ref_b, ref_c * ref_b.reshape(4, 4)))


def test_call_of_another_hybrid_function_is_inlined():
    @hybrid.script
    def plus_grid(a, b):
        c = outer_product(10, 10, a, b)
        d = output_tensor(c.shape, c.dtype)
        for i in range(10):
            for j in range(10):
                d[i, j] = c[i, j] + i * j
        return d

    A, B = te.placeholder((10,), name="A"), te.placeholder((10,), name="B")
    d = plus_grid(A, B)
    assert d.op.num_outputs == 1 and d.op.input_tensors == [A, B]
    a, b = rand(10), rand(10)
    i = np.arange(10)
    check(build_and_run(d, [A, B], [a, b]), plus_grid(a, b), np.outer(a, b) + np.outer(i, i))


def test_non_tensor_arguments_te_var_and_const():
    @hybrid.script
    def shift(a, k, n):
        c = output_tensor((n,), a.dtype)
        for i in range(n):
            c[i] = a[i] + k
        return c

    n = te.var("n")
    A = te.placeholder((n,), dtype="int32", name="A")
    c = shift(A, te.const(11, "int32"), n)
    f = te.build(te.create_schedule(c.op), [A, c], "c")
    a = rand(9, "int32", 0, 50)
    out = np.zeros(9, "int32")
    f(a, out)
    check([out], shift(a, 11, 9), a + 11)


def test_list_of_input_tensors():
    @hybrid.script
    def sum_array(inputs):
        out = output_tensor((10,), inputs[0].dtype)
        for i in range(10):
            out[i] = 0.0
            for j in const_range(len(inputs)):
                out[i] += inputs[j][i]
        return out

    ins = [te.placeholder((10,), name=f"t{k}") for k in range(4)]
    out = sum_array(ins)
    assert out.op.input_tensors == ins
    arrs = [rand(10) for _ in ins]
    check(build_and_run(out, ins, arrs), sum_array(arrs), sum(arrs))


def test_compute_upstream_default_and_inlined():
    @hybrid.script
    def scale(a):
        b = output_tensor((20,), "float32")
        for i in range(20):
            b[i] = a[i] * i
        return b

    A, B = te.placeholder((20,), name="A"), te.placeholder((20,), name="B")
    c = te.compute((20,), lambda x: A[x] + B[x], name="c")
    d = scale(c)
    a, b = rand(20), rand(20)
    for inline in (False, True):
        s = te.create_schedule(d.op)
        if inline:
            s[c].compute_inline()
        f = te.build(s, [A, B, d], "c")
        out = np.zeros(20, "float32")
        f(a, b, out)
        check([out], scale(a + b), (a + b) * np.arange(20))


@pytest.mark.parametrize("target", ["c", "native"])
def test_hybrid_output_feeds_scheduled_compute(target):
    @hybrid.script
    def scale(a):
        b = output_tensor((37,), "float32")
        for i in range(37):
            b[i] = a[i] * i
        return b

    A = te.placeholder((37,), name="A")
    b = scale(A)
    c = te.compute((37,), lambda x: b[x] + 1.0, name="c")
    s = te.create_schedule(c.op)
    xo, xi = s[c].split(c.op.axis[0], 8)
    s[c].vectorize(xi)
    s[c].parallel(xo)
    f = te.build(s, [A, c], target)
    a = rand(37)
    out = np.zeros(37, "float32")
    f(a, out)
    check([out], scale(a) + 1, a * np.arange(37) + 1)


def test_opencl_bind_loops_shared_and_local_buffers():
    @hybrid.script
    def share_vec_add(a, b):
        c = output_tensor((256,), "float32")
        shared = allocate((256,), "float32", "shared")
        for i in bind("threadIdx.x", 256):
            shared[i] = a[i]
        local = allocate((256,), "float32", "local")
        for i in bind("threadIdx.x", 256):
            local[i] = b[i]
        for i in bind("threadIdx.x", 256):
            c[i] = shared[255 - i] + local[i]
        return c

    A, B = te.placeholder((256,), name="A"), te.placeholder((256,), name="B")
    a, b = rand(256), rand(256)
    check(build_and_run(share_vec_add(A, B), [A, B], [a, b], "opencl"),
          share_vec_add(a, b), a[::-1] + b)


def test_opencl_bind_with_max_num_threads_and_ceil_div():
    @hybrid.script
    def double(a):
        b = output_tensor(a.shape, a.dtype)
        n = a.shape[0]
        m = min(max_num_threads(True), 256)
        for i in bind("blockIdx.x", ceil_div(n, m)):
            for j in bind("threadIdx.x", m):
                if i * m + j < n:
                    b[i * m + j] = a[i * m + j] + a[i * m + j]
        return b

    A = te.placeholder((1000,), name="A")
    a = rand(1000)
    check(build_and_run(double(A), [A], [a], "opencl"), double(a), 2 * a)


def test_scheduled_axis_bound_to_threads_on_opencl():
    A, B = te.placeholder((64,), name="A"), te.placeholder((64,), name="B")
    c = outer_product(64, 64, A, B)
    s = te.create_schedule(c.op)
    i, j = c.op.axis
    s[c].bind(i, te.thread_axis("blockIdx.x"))
    s[c].bind(j, te.thread_axis("threadIdx.x"))
    a, b = rand(64), rand(64)
    check(build_and_run(c, [A, B], [a, b], "opencl", sch=s), np.outer(a, b))


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 9), m=st.integers(1, 9), seed=st.integers(0, 2 ** 16))
def test_property_symbolic_outer_product_any_shape(n, m, seed):
    f = _symbolic_kernel()
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n).astype("float32")
    b = rng.standard_normal(m).astype("float32")
    out = np.zeros((n, m), "float32")
    f(a, b, out)
    check([out], outer_product(n, m, a, b), np.outer(a, b))


_KERNELS = {}


def _symbolic_kernel():
    if "outer" not in _KERNELS:
        n, m = te.var("n"), te.var("m")
        A, B = te.placeholder((n,), name="A"), te.placeholder((m,), name="B")
        c = outer_product(n, m, A, B)
        s = te.create_schedule(c.op)
        xo, xi = s[c].split(c.op.axis[1], 4)
        _KERNELS["outer"] = te.build(s, [A, B, c], "c")
    return _KERNELS["outer"]
