"""TVM's generic conv2d entry (NCHW / NHWC / HWCN), conv2d_hwcn and conv2d_nhwc with their
CPU schedule, "SAME"/"VALID" padding, dilated pooling, topi.full / full_like and the
get_conv2d_nchw_implement helper: each against its NumPy reference."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
import texpr.topi as topi
from texpr.topi import testing as ref

RNG = np.random.default_rng(11)


def rand(shape, dtype="float32"):
    return RNG.standard_normal(shape).astype(dtype)


def run(out, inputs, arrays, target="native", sched=None):
    s = sched(out) if sched else topi.schedule(out, target)
    f = te.build(s, list(inputs) + [out], target=target)
    res = np.empty([int(d.value) for d in out.shape], out.dtype)
    f(*arrays, res)
    return res


def _pads(p, R, S, d):
    """The explicit padding a string means (as conv_padding), for the reference."""
    if p == "VALID":
        return 0
    if p == "SAME":
        ph, pw = (R - 1) * d, (S - 1) * d
        return ((ph + 1) // 2, (pw + 1) // 2, ph - (ph + 1) // 2, pw - (pw + 1) // 2)
    return p


conv_cases = st.tuples(
    st.integers(1, 9),                      # N (the vector axis of HWCN when >= 8)
    st.integers(1, 12),                     # C
    st.integers(5, 9),                      # H = W
    st.integers(1, 17),                     # O
    st.sampled_from([1, 2, 3]),             # kernel
    st.sampled_from([1, 2]),                # stride
    st.sampled_from([0, 1, (1, 0, 2, 1), "SAME", "VALID"]),
    st.sampled_from([1, 2]))                # dilation


@settings(max_examples=12, deadline=None)
@given(case=conv_cases, target=st.sampled_from(["c", "native"]))
def test_conv2d_hwcn(case, target):
    N, C, H, O, K, s, p, d = case
    A = te.placeholder((H, H, C, N), name="A")
    W = te.placeholder((K, K, C, O), name="W")
    out = topi.nn.conv2d_hwcn(A, W, s, p, d)
    a, w = rand((H, H, C, N)), rand((K, K, C, O))
    got = run(out, [A, W], [a, w], target)
    np.testing.assert_allclose(got, ref.conv2d_hwcn_ref(a, w, s, _pads(p, K, K, d), d),
                               rtol=1e-4, atol=1e-4)


@settings(max_examples=8, deadline=None)
@given(case=conv_cases)
def test_conv2d_nhwc(case):
    N, C, H, O, K, s, p, d = case
    A = te.placeholder((N, H, H, C), name="A")
    W = te.placeholder((K, K, C, O), name="W")
    out = topi.nn.conv2d_nhwc(A, W, s, p, d)
    a, w = rand((N, H, H, C)), rand((K, K, C, O))
    got = run(out, [A, W], [a, w])
    np.testing.assert_allclose(got, ref.conv2d_nhwc_ref(a, w, s, _pads(p, K, K, d), d),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC", "HWCN"])
def test_generic_conv2d_dispatches_on_the_layout(layout):
    N, C, H, O, K = 2, 3, 7, 4, 3
    shapes = {"NCHW": ((N, C, H, H), (O, C, K, K)), "NHWC": ((N, H, H, C), (K, K, C, O)),
              "HWCN": ((H, H, C, N), (K, K, C, O))}
    ds, ks = shapes[layout]
    A, W = te.placeholder(ds, name="A"), te.placeholder(ks, name="W")
    out = topi.nn.conv2d(A, W, 2, "SAME", 1, data_layout=layout)
    assert out.op.tag == f"conv2d_{layout.lower()}"
    a, w = rand(ds), rand(ks)
    got = run(out, [A, W], [a, w])
    want = {"NCHW": ref.conv2d_nchw_ref, "NHWC": ref.conv2d_nhwc_ref,
            "HWCN": ref.conv2d_hwcn_ref}[layout](a, w, 2, 1, 1)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_generic_conv2d_positional_form_and_out_dtype():
    A = te.placeholder((1, 4, 6, 6), "int8", name="A")
    W = te.placeholder((5, 4, 3, 3), "int8", name="W")
    out = topi.nn.conv2d(A, W, 1, 1, 1)
    assert out.dtype == "int32"
    a = RNG.integers(-20, 20, (1, 4, 6, 6)).astype("int8")
    w = RNG.integers(-20, 20, (5, 4, 3, 3)).astype("int8")
    np.testing.assert_array_equal(run(out, [A, W], [a, w]), ref.conv2d_nchw_ref(a, w, 1, 1))
    assert topi.nn.conv2d(A, W, 1, 1, 1, out_dtype="float32").dtype == "float32"


def test_conv2d_refusals():
    A = te.placeholder((1, 4, 6, 6), name="A")
    W = te.placeholder((5, 4, 3, 3), name="W")
    with pytest.raises(te.TexprError, match="data_layout 'NCHW4c' is not supported"):
        topi.nn.conv2d(A, W, 1, 1, 1, data_layout="NCHW4c")
    with pytest.raises(te.TexprError, match="NHWC takes a HWIO kernel"):
        topi.nn.conv2d(A, W, 1, 1, 1, data_layout="NHWC", kernel_layout="OIHW")
    with pytest.raises(te.TexprError, match="'SAME' or 'VALID', got 'FULL'"):
        topi.nn.conv2d(A, W, 1, "FULL", 1)
    H = te.placeholder((6, 6, 4, 1), name="H")
    with pytest.raises(te.TexprError, match="H has 4 channels .* expects 3"):
        topi.nn.conv2d_hwcn(H, te.placeholder((3, 3, 3, 2), name="K"), 1, 1)
    with pytest.raises(te.TexprError, match="must be 4-D"):
        topi.nn.conv2d_hwcn(te.placeholder((6, 6, 4), name="X"), W, 1, 1)
    with pytest.raises(te.TexprError, match="kernel is larger than the input"):
        topi.nn.conv2d_nhwc(te.placeholder((1, 2, 2, 4), name="X"),
                            te.placeholder((3, 3, 4, 2), name="K"), 1, 0)


def test_hwcn_schedule_vectorizes_a_contiguous_axis():
    A = te.placeholder((8, 8, 4, 16), name="A")
    W = te.placeholder((3, 3, 4, 8), name="W")
    out = topi.nn.conv2d_hwcn(A, W, 1, 1)
    s = topi.schedule(out, "native")
    kinds = {iv.name: s[out].iter_attrs.get(id(iv), {}).get("kind")
             for iv in s[out].leaf_iter_vars}
    assert kinds["n.inner"] == "vectorize" and "parallel" in kinds.values()
    assert [iv.name for iv in s[out].leaf_iter_vars][-1] == "n.inner"


def test_generic_schedule_names():
    A = te.placeholder((6, 6, 4, 1), name="A")
    W = te.placeholder((3, 3, 4, 8), name="W")
    B = te.placeholder((1, 8, 1), name="bias")
    out = topi.nn.relu(topi.add(topi.nn.conv2d_hwcn(A, W, 1, "SAME", 1), B))
    s = topi.generic.schedule_conv2d_hwcn([out])
    f = te.build(s, [A, W, B, out], target="native")
    a, w, b = rand((6, 6, 4, 1)), rand((3, 3, 4, 8)), rand((1, 8, 1))
    res = np.empty((6, 6, 8, 1), "float32")
    f(a, w, b, res)
    np.testing.assert_allclose(res, np.maximum(ref.conv2d_hwcn_ref(a, w, 1, 1) + b, 0),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("target", ["c", "opencl"])
def test_get_conv2d_nchw_implement(target):
    if target == "opencl":
        pytest.importorskip("pyopencl", reason="OpenCL runs on PoCL through pyopencl")
    compute, sched = topi.testing.get_conv2d_nchw_implement(target)
    A = te.placeholder((1, 3, 8, 8), name="A")
    W = te.placeholder((4, 3, 3, 3), name="W")
    out = compute(A, W, 1, 1, (1, 1), "float32")
    a, w = rand((1, 3, 8, 8)), rand((4, 3, 3, 3))
    got = run(out, [A, W], [a, w], target, sched=lambda o: sched([o]))
    np.testing.assert_allclose(got, ref.conv2d_nchw_python(a, w, 1, 1), rtol=1e-4, atol=1e-4)
    with pytest.raises(te.TexprError, match="nope"):
        topi.testing.get_conv2d_nchw_implement("nope")


@settings(max_examples=10, deadline=None)
@given(kind=st.sampled_from(["max", "avg"]), include=st.booleans(), k=st.sampled_from([2, 3]),
       s=st.sampled_from([1, 2]), d=st.sampled_from([(1, 1), (2, 2), (2, 3)]),
       pad=st.sampled_from([0, 1, (1, 0, 2, 1)]), target=st.sampled_from(["c", "native"]))
def test_dilated_pool2d(kind, include, k, s, d, pad, target):
    X = te.placeholder((2, 3, 11, 12), name="X")
    out = topi.nn.pool2d(X, k, s, pad, kind, include, dilation=d)
    x = rand((2, 3, 11, 12))
    got = run(out, [X], [x], target)
    np.testing.assert_allclose(got, ref.pool2d_ref(x, k, s, pad, kind, include, dilation=d),
                               rtol=1e-5, atol=1e-5)


def test_dilated_pool2d_refusals():
    X = te.placeholder((1, 1, 5, 5), name="X")
    with pytest.raises(te.TexprError, match="dilation must be positive"):
        topi.nn.pool2d(X, 2, 1, 0, dilation=(0, 1))
    with pytest.raises(te.TexprError, match="window is larger"):
        topi.nn.pool2d(X, 3, 1, 0, dilation=3)


@pytest.mark.parametrize("dtype,value", [("float32", 1.5), ("int32", -7), ("int8", 3.0)])
def test_full_and_full_like(dtype, value):
    X = te.placeholder((3, 4), dtype, name="X")
    like = topi.full_like(X, value)
    assert like.dtype == dtype and [int(v.value) for v in like.shape] == [3, 4]
    np.testing.assert_array_equal(run(like, [], []), np.full((3, 4), value, dtype))
    f = topi.full((2, 5), dtype, value)
    np.testing.assert_array_equal(run(f, [], []), np.full((2, 5), value, dtype))


def test_full_refusals():
    X = te.placeholder((3,), "int8", name="X")
    with pytest.raises(te.TexprError, match="not an integer"):
        topi.full_like(X, 0.5)
    with pytest.raises(te.TexprError, match="fill_value must be a number"):
        topi.full((2,), "float32", "1")
    with pytest.raises(te.TexprError, match="expected a tensor"):
        topi.full_like(np.zeros(3), 1.0)
    with pytest.raises(te.TexprError):
        topi.full_like(X, 300)
