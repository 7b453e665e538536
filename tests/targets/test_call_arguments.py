"""What a built kernel takes and gives back (targets/runtime/arrays.py, module.py, fastcheck.py):
arrays of any framework without a copy (DLPack, the buffer protocol), outputs allocated when
omitted, the same strict checks for every kind of argument, and the C checker of NumPy
arguments agreeing with the Python checks on every argument it is shown."""
import array

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr.targets.runtime import fastcheck

try:
    import torch
except ImportError:         # pragma: no cover (torch is in the project's venv)
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def axpy_schedule():
    """C[n, 4] = A * 2 + B (n symbolic)."""
    n = te.var("n")
    A = te.placeholder((n, 4), name="A")
    B = te.placeholder((n, 4), name="B")
    C = te.compute((n, 4), lambda i, j: A[i, j] * 2.0 + B[i, j], name="C")
    return te.create_schedule(C.op), [A, B, C]


@pytest.fixture(scope="module")
def axpy():
    """One kernel for the whole file."""
    s, args = axpy_schedule()
    return te.build(s, args, target="c", name="axpy")


def arg_err(match):
    return pytest.raises(te.ArgumentError, match=match)


def data(n=3, dtype="float32", seed=0):
    return np.random.default_rng(seed).standard_normal((n, 4)).astype(dtype)


def test_numpy_arguments_take_the_checked_c_path(axpy):
    if fastcheck.checker() is None:
        pytest.skip("the C checker cannot be built here (no Python headers): Python checks")
    a, b, c = data(), data(seed=1), np.zeros((3, 4), "float32")
    assert axpy._plan.fast((a, b, c)) is not None and axpy._direct is not None
    axpy(a, b, c)                                  # checked and called by the extension
    np.testing.assert_array_equal(c, a * 2 + b)


def test_direct_call_refuses_a_changed_thread_count_variable(axpy):
    """A parallel kernel's direct call passes [environment, key, value synced]: the C
    checker runs the kernel only while the environment holds that very value object; another
    one (TEXPR_NUM_THREADS changed) gets None and nothing runs (the call then syncs first)."""
    if fastcheck.checker() is None:
        pytest.skip("the C checker cannot be built here (no Python headers): Python checks")
    run, plan = axpy._direct, axpy._direct_plan
    a, b, c = data(), data(seed=1), np.zeros((3, 4), "float32")
    env = {b"TEXPR_NUM_THREADS": b"2"}
    assert run(plan, axpy._address, (a, b, c), [env, b"TEXPR_NUM_THREADS", b"3"]) is None
    assert not c.any()                             # refused: the kernel did not run
    assert run(plan, axpy._address, (a, b, c), [env, b"TEXPR_NUM_THREADS",
                                                 env[b"TEXPR_NUM_THREADS"]]) is True
    np.testing.assert_array_equal(c, a * 2 + b)
    assert run(plan, axpy._address, (a, b, c), [{}, b"TEXPR_NUM_THREADS", None]) is True
    with pytest.raises(TypeError, match=r"threads: \[dict, key, value\]"):
        run(plan, axpy._address, (a, b, c), ["not", "a", "dict"])


def test_without_the_c_checker_calls_take_the_python_checks(axpy, monkeypatch):
    """(where the extension cannot be built: no Python headers)"""
    monkeypatch.setattr(fastcheck, "_LOADED", [None])
    s, args = axpy_schedule()
    f = te.build(s, args, target="c", name="axpy")
    assert f._direct is None and f._plan.fast((data(), data(), data())) is None
    a, b = data(), data(seed=1)
    np.testing.assert_array_equal(f(a, b), a * 2 + b)
    with arg_err(r"argument C: dimension 0 is 2, but n = 3"):
        f(a, b, np.zeros((2, 4), "float32"))


def test_omitted_outputs_are_allocated_and_returned(axpy):
    a, b = data(5), data(5, seed=1)
    c = axpy(a, b)
    assert type(c) is np.ndarray and c.dtype == np.float32
    np.testing.assert_array_equal(c, a * 2 + b)
    assert axpy(a, b, np.zeros((5, 4), "float32")) is None       # outputs given: nothing back
    with arg_err(r"expected 3 arrays \(A, B, C\), or the 2 input\(s\) alone"):
        axpy(a)


def test_an_output_shape_the_inputs_do_not_give_must_be_passed():
    m = te.var("m")
    O = te.compute((m,), lambda i: i.astype("float32"), name="O")
    f = te.build(te.create_schedule(O.op), [O], target="c", name="iota")
    with arg_err(r"output O: dimension 0 \(m\) is not given by the inputs' shapes; pass the "
                 "output array"):
        f()


@needs_torch
def test_torch_tensors_in_and_out_without_a_copy(axpy):
    a, b = torch.from_numpy(data()), torch.from_numpy(data(seed=1))
    c = torch.zeros(3, 4)
    ptr = c.data_ptr()
    axpy(a, b, c)                                  # written where the tensor lies
    assert c.data_ptr() == ptr
    torch.testing.assert_close(c, a * 2 + b, rtol=0, atol=0)
    out = axpy(a, b)                               # allocated: a tensor again
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    torch.testing.assert_close(out, a * 2 + b, rtol=0, atol=0)
    base = torch.zeros(6, 4)
    axpy(a, b, base[3:])                           # a view at an offset: written in place
    torch.testing.assert_close(base[3:], a * 2 + b, rtol=0, atol=0)
    assert not base[:3].any()


@needs_torch
def test_torch_tensors_are_checked_as_strictly(axpy):
    a, b, c = (torch.zeros(3, 4) for _ in range(3))
    with arg_err("argument A: dtype is float64, expected float32"):
        axpy(a.double(), b, c)
    with arg_err("argument B: array is not C-contiguous"):
        axpy(a, torch.zeros(4, 3).t(), c)
    with arg_err(r"argument C: dimension 0 is 2, but n = 3"):
        axpy(a, b, torch.zeros(2, 4))
    with arg_err("argument C: an output tensor that requires grad"):
        axpy(a, b, torch.zeros(3, 4, requires_grad=True))
    with arg_err("argument B: a torch tensor with its negative bit set"):
        axpy(a, torch._neg_view(b), c)
    with arg_err("argument C: output shares memory with argument A"):
        axpy(a, b, a)
    w = torch.ones(3, 4, requires_grad=True)       # an input that requires grad: its data read
    axpy(w, b, c)
    torch.testing.assert_close(c, torch.full((3, 4), 2.0), rtol=0, atol=0)


_TORCH_VARIANTS = ["ok", "numpy", "f64", "transposed", "strided", "overlap", "wrong_rows",
                   "inconsistent_n", "grad", "neg", "3d", "empty", "parameter", "expanded"]


@needs_torch
@settings(max_examples=10, deadline=None)
@given(st.lists(st.sampled_from(_TORCH_VARIANTS), min_size=3, max_size=3), st.integers(0, 3))
def test_c_checker_of_torch_tensors_agrees_with_the_python_checks(axpy, variants, n):
    """CPU tensors are read by the C checker through DLPack's C exchange API: it accepts what
    the Python checks accept, with the same addresses, and nothing they refuse."""
    if fastcheck.checker() is None:
        pytest.skip("the C checker cannot be built here (no Python headers)")
    fastcheck.take_torch()
    base = torch.zeros(2 * n + 2, 8)
    args = []
    for k, v in enumerate(variants):
        a = torch.zeros(n, 4)
        a = {"numpy": lambda: a.numpy(), "f64": a.double, "transposed": lambda: torch.zeros(4, n).t(),
             "strided": lambda: base[:n, ::2], "overlap": lambda: base[:n, :4],
             "wrong_rows": lambda: torch.zeros(n + 1, 4),
             "inconsistent_n": lambda: torch.zeros(n + k, 4), "grad": a.requires_grad_,
             "neg": lambda: torch._neg_view(a), "3d": lambda: a[None],
             "empty": lambda: torch.zeros(0, 4), "parameter": lambda: torch.nn.Parameter(a, False),
             "expanded": lambda: torch.zeros(1, 4).expand(n, 4)}.get(v, lambda: a)()
        args.append(a)
    args = tuple(args)
    fast = axpy._plan.fast(args)
    try:
        ptrs, vals = axpy._plan.check(args)
    except te.ArgumentError:
        assert fast is None
        return
    if fast is not None:                   # (an empty tensor's address is never read)
        used = [a.numel() > 0 if isinstance(a, torch.Tensor) else a.size > 0 for a in args]
        assert [x for x, u in zip(fast, used) if u] == [p for p, u in zip(ptrs, used) if u]
        assert list(fast[3:]) == list(vals)
    if all(type(a) is torch.Tensor and v != "grad" for a, v in zip(args, variants)) and n > 0:
        assert fast is not None           # plain CPU tensors take the C path


class DeviceTensor:
    """Stands for a framework's CUDA tensor: all a CPU kernel may look at is its device."""

    def __dlpack__(self, stream=None):
        raise AssertionError("a CPU kernel must not export device memory")

    def __dlpack_device__(self):
        return (2, 0)


def test_device_memory_is_refused_by_a_cpu_kernel(axpy):
    with arg_err(r"argument B: a DeviceTensor in cuda:0 memory; this kernel runs on the host "
                 r"CPU: pass host memory \(e.g. tensor.cpu\(\)\), or build for target 'cuda'"):
        axpy(np.zeros((3, 4), "float32"), DeviceTensor(), np.zeros((3, 4), "float32"))


def test_buffer_protocol_arguments(axpy):
    a = array.array("f", range(12))
    b = memoryview(bytearray(48)).cast("f", (3, 4))
    out = bytearray(48)
    axpy(memoryview(a).cast("B").cast("f", (3, 4)), b, memoryview(out).cast("f", (3, 4)))
    np.testing.assert_array_equal(np.frombuffer(out, "float32"), np.arange(12) * 2)
    with arg_err("argument C: output array is read-only"):
        axpy(np.zeros((3, 4), "float32"), b, memoryview(bytes(48)).cast("f", (3, 4)))
    with arg_err("argument A: expected a numpy.ndarray, or an array with __dlpack__ or the "
                 "buffer protocol, got dict"):
        axpy({}, b, out)


def test_misaligned_arrays_are_refused(axpy):
    raw = np.zeros(3 * 4 * 4 + 1, "uint8")
    odd = raw[1:].view("float32").reshape(3, 4)          # a float32 array at an odd address
    assert not odd.flags.aligned
    with arg_err("argument A: data is not aligned to its 4-byte elements"):
        axpy(odd, np.zeros((3, 4), "float32"), np.zeros((3, 4), "float32"))


def test_shapes_convert_to_python_ints():
    A = te.placeholder((3, 4), "int16", name="A")
    assert np.zeros(A.shape, A.dtype).shape == (3, 4)
    assert int(A.shape[0]) * int(A.shape[1]) == 12 and tuple(A.shape) == (3, 4)
    assert np.empty(A.shape[1]).shape == (4,) and list(range(A.shape[0])) == [0, 1, 2]
    assert int(A.shape[0] * 2 + A.shape[1] // 3) == 7        # arithmetic of constant extents
    n = te.var("n")
    with pytest.raises(te.TexprError, match=r"int\(\) of the symbolic expression n \* 2"):
        int(n * 2)


# what the C checker accepts, the Python checks accept with the same addresses; what they
# refuse, it does not accept (it gives no messages: the Python checks tell every refusal)
_VARIANTS = ["ok", "f64", "int_dtype", "transposed", "strided", "read_only_out", "overlap",
             "wrong_rows", "inconsistent_n", "misaligned", "3d", "empty", "big_endian"]


@settings(max_examples=10, deadline=None)
@given(st.lists(st.sampled_from(_VARIANTS), min_size=3, max_size=3), st.integers(0, 3))
def test_c_checker_agrees_with_the_python_checks(axpy, variants, n):
    if fastcheck.checker() is None:
        pytest.skip("the C checker cannot be built here (no Python headers)")
    base = np.zeros((2 * n + 2, 8), "float32")
    args = []
    for k, v in enumerate(variants):
        a = np.zeros((n, 4), "float32")
        if v == "f64":
            a = a.astype("float64")
        elif v == "int_dtype":
            a = a.astype("int32")
        elif v == "transposed":
            a = np.zeros((4, n), "float32").T
        elif v == "strided":
            a = base[:n, ::2]
        elif v == "read_only_out":
            a.setflags(write=False)
        elif v == "overlap":
            a = base[:n, :4]
        elif v == "wrong_rows":
            a = np.zeros((n + 1, 4), "float32")
        elif v == "inconsistent_n":
            a = np.zeros((n + k, 4), "float32")
        elif v == "misaligned":
            a = np.zeros(n * 16 + 1, "uint8")[1:].view("float32").reshape(n, 4)
        elif v == "3d":
            a = a[None]
        elif v == "empty":
            a = np.zeros((0, 4), "float32")
        elif v == "big_endian":
            a = a.astype(">f4")
        args.append(a)
    args = tuple(args)
    fast = axpy._plan.fast(args)
    try:
        ptrs, vals = axpy._plan.check(args)
    except te.ArgumentError:
        assert fast is None
        return
    if fast is not None:
        assert list(fast) == list(ptrs) + list(vals)


def test_a_kernel_of_many_arguments_is_called_through_cffi():
    """(the extension calls kernels of up to 12 words; more go through cffi, checked in C)"""
    ins = [te.placeholder((2,), name=f"X{k}") for k in range(12)]
    out = te.compute((2,), lambda i: sum((x[i] for x in ins[1:]), ins[0][i]), name="S")
    f = te.build(te.create_schedule(out.op), ins + [out], target="c", name="sum12")
    arrays = [np.full(2, k, "float32") for k in range(12)]
    assert f._plan.fast(tuple(arrays) + (np.zeros(2, "float32"),)) is not None
    np.testing.assert_array_equal(f(*arrays), [66, 66])
    o = np.zeros(2, "float32")
    assert f(*arrays, o) is None
    np.testing.assert_array_equal(o, [66, 66])


def test_output_extents_given_by_expressions_are_checked_in_c():
    """An output extent that is an expression of the shape variables (a pooled size) is
    checked by the C checker's stack machine (fastcheck.extent_code): the call takes the
    direct path, and a wrong extent is refused there and told by the Python checks."""
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute(((n - 1) // 2 + 1,), lambda i: A[i * 2] + 1.0, name="B")
    f = te.build(te.create_schedule(B.op), [A, B], target="c", name="every_other")
    if fastcheck.checker() is None:
        pytest.skip("the C checker cannot be built here (no Python headers): Python checks")
    assert f._direct is not None
    for size in (1, 2, 7, 8):
        a = np.arange(size, dtype="float32")
        out = np.zeros((size + 1) // 2, "float32")
        assert f._plan.fast((a, out)) is not None
        f(a, out)
        np.testing.assert_array_equal(out, a[::2] + 1)
    a = np.zeros(7, "float32")
    assert f._plan.fast((a, np.zeros(3, "float32"))) is None
    with arg_err(r"argument B: dimension 0 is 3, expected"):
        f(a, np.zeros(3, "float32"))
    # the stack machine's code of the extent: n, 1, -, 2, //, 1, +
    code = fastcheck.extent_code((n - 1) // 2 + 1, {n: 0}.__getitem__)
    assert [op for op, _ in code] == [1, 0, 3, 0, 5, 0, 2]
    assert fastcheck.extent_code(te.var("m") + 1, {n: 0}.__getitem__) is None
