"""texpr.torch: built kernels and topi operators as PyTorch custom operators, in eager mode and
inside torch.compile (fullgraph, the aot_eager backend: inductor compiles C++ and is slow)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import texpr as te
from texpr.errors import DifferentiationError

torch = pytest.importorskip("torch", reason="PyTorch is not installed")
tt = pytest.importorskip("texpr.torch", reason="PyTorch is not installed")


def axpy_kernel():
    """C[n, 4] = A * 2 + B, n symbolic; portable C (no parallel loop)."""
    n = te.var("n")
    A = te.placeholder((n, 4), name="A")
    B = te.placeholder((n, 4), name="B")
    C = te.compute((n, 4), lambda i, j: A[i, j] * 2.0 + B[i, j], name="C")
    return te.build(te.create_schedule(C.op), [A, B, C], target="c", name="axpy")


@pytest.fixture(scope="module")
def axpy():
    f = axpy_kernel()
    return f, tt.register(f, "texpr_test::axpy"), tt.register(f, "texpr_test::axpy_out",
                                                                 outputs="given")


def test_registered_kernel_takes_and_returns_tensors_without_copies(axpy):
    f, op, op_out = axpy
    x, y = torch.randn(3, 4), torch.randn(3, 4)
    z = op(x, y)
    assert isinstance(z, torch.Tensor) and z.dtype == torch.float32 and z.shape == (3, 4)
    torch.testing.assert_close(z, x * 2 + y, rtol=0, atol=0)
    torch.testing.assert_close(torch.ops.texpr_test.axpy(x, y), x * 2 + y, rtol=0, atol=0)
    out = torch.zeros(5, 4)
    ptr = out.data_ptr()
    assert op_out(x, y, out[1:4]) is None           # written where the tensor lies
    assert out.data_ptr() == ptr and not out[0].any() and not out[4].any()
    torch.testing.assert_close(out[1:4], x * 2 + y, rtol=0, atol=0)
    # the checked call hands the kernel the tensors' own memory (no NumPy view, no copy)
    got = f._plan.fast((x, y, out[1:4]))
    assert got is not None and list(got[:3]) == [x.data_ptr(), y.data_ptr(), out[1:4].data_ptr()]
    # an input that is not contiguous is made contiguous; a strided output is refused
    xt = torch.randn(4, 3).t()
    torch.testing.assert_close(op(xt, y), xt * 2 + y, rtol=0, atol=0)
    with pytest.raises(te.ArgumentError, match="argument C: array is not C-contiguous"):
        op_out(x, y, torch.zeros(4, 3).t())


def test_registered_kernel_checks_its_arguments(axpy):
    _, op, _ = axpy
    x = torch.randn(3, 4)
    with pytest.raises(te.ArgumentError, match="argument B: dtype is torch.float64, expected "
                                               "torch.float32"):
        op(x, x.double())
    with pytest.raises(te.ArgumentError, match=r"argument A: dimension 1 is 5, expected 4"):
        op(torch.randn(3, 5), torch.randn(3, 5))
    with pytest.raises(te.ArgumentError, match=r"argument B: dimension 0 is 2, but n = 3"):
        op(x, torch.randn(2, 4))


def test_constant_shaped_outputs_are_allocated_without_reading_the_inputs():
    """Outputs of constant shapes (here the first argument) are allocated at once; the
    kernel's own checks then refuse a bad input."""
    A = te.placeholder((2, 3), name="A", dtype="float64")
    C = te.compute((3,), lambda j: A[0, j] + A[1, j], name="C")
    colsum = tt.register(te.build(te.create_schedule(C.op), [C, A], target="c", name="colsum"),
                         "texpr_test::colsum")
    assert repr(colsum) == "<texpr.torch operator texpr_test::colsum(Tensor A) -> Tensor>"
    x = torch.randn(3, 2, dtype=torch.float64).t()
    torch.testing.assert_close(colsum(x), x.sum(0), rtol=0, atol=1e-15)
    with pytest.raises(te.ArgumentError, match="argument A: dimension 0 is 3, expected 2"):
        colsum(torch.randn(3, 3, dtype=torch.float64))
    with pytest.raises(te.ArgumentError, match="argument A: dtype is float32, expected float64"):
        colsum(torch.randn(2, 3))


def test_gradients_are_refused_with_a_clear_error(axpy):
    """No backward formula: an output of inputs that require grad raises in backward; an op
    writing in place refuses them at once. Without grad mode nothing is recorded, and a write
    in place moves the tensor's version on (once)."""
    _, op, op_out = axpy
    x, y, out = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4), torch.empty(3, 4)
    z = op(x, y)
    assert z.requires_grad
    torch.testing.assert_close(z.detach(), x.detach() * 2 + y, rtol=0, atol=0)
    with pytest.raises(DifferentiationError, match="operator texpr_test::axpy has no backward "
                                                   "formula.*torch.no_grad"):
        z.sum().backward()
    with pytest.raises(DifferentiationError, match="texpr_test::axpy_out writes its outputs in "
                                                   "place .* an input requires grad"):
        op_out(x, y, out)
    with torch.no_grad():
        assert not op(x, y).requires_grad
        version = out._version
        op_out(x, y, out)
        assert out._version == version + 1
    torch.testing.assert_close(out, x.detach() * 2 + y, rtol=0, atol=0)
    with torch.inference_mode():        # (the CPU kernel directly: no Autograd key)
        torch.testing.assert_close(op(x, y), x * 2 + y, rtol=0, atol=0)


def test_registrations_pass_torch_opcheck(axpy):
    """torch's own check of an operator's registrations: schema (what it mutates), the
    Autograd kernel, the shape-only implementation, tracing with dynamic shapes."""
    _, op, op_out = axpy
    x, y = torch.randn(3, 4), torch.randn(3, 4)
    for o, args in ((op, (x, y)), (op_out, (x, y, torch.empty(3, 4)))):
        got = torch.library.opcheck(o._opoverload, args)
        assert set(got.values()) == {"SUCCESS"} and len(got) == 4, got


def test_register_errors(axpy):
    f, op, _ = axpy
    assert tt.register(f, "texpr_test::axpy") is op      # same schema: the kernel replaced
    with pytest.raises(te.TexprError, match="registered with schema .*pick another name"):
        tt.register(f, "texpr_test::axpy", outputs="given")
    with pytest.raises(te.TexprError, match="outputs must be 'return' or 'given'"):
        tt.register(f, "texpr_test::x", outputs="both")
    with pytest.raises(te.TexprError, match="is not 'namespace::op' of identifiers"):
        tt.register(f, "texpr_test::my op")
    with pytest.raises(te.TexprError, match="expected a kernel built by te.build, got int"):
        tt.register(3, "texpr_test::three")
    with pytest.raises(AttributeError, match="no operator 'conv9d'; known: add, batch_matmul"):
        tt.ops.conv9d


def test_shape_only_implementation_traces_symbolic_sizes(axpy):
    """torch.compile with dynamic shapes: the output's rows are the inputs' symbolic n."""
    _, op, _ = axpy

    def fn(x, y):
        return op(x, y) + 1

    compiled = torch.compile(fn, backend="aot_eager", fullgraph=True, dynamic=True)
    for n in (2, 5):
        x, y = torch.randn(n, 4), torch.randn(n, 4)
        torch.testing.assert_close(compiled(x, y), x * 2 + y + 1, rtol=0, atol=0)
    with torch._subclasses.fake_tensor.FakeTensorMode():
        z = op(torch.empty(7, 4), torch.empty(7, 4))
    assert z.shape == (7, 4) and z.dtype == torch.float32
    z = op(torch.empty(6, 4, device="meta"), torch.empty(6, 4, device="meta"))
    assert z.shape == (6, 4) and z.device.type == "meta"


def test_scalar_arguments_and_an_out_op_inside_compile(axpy):
    """A te.var argument is a float in the schema; an outputs='given' op mutates its output
    (torch.compile functionalizes it)."""
    _, _, op_out = axpy
    n, alpha = te.var("n"), te.var("alpha", "float32")
    A = te.placeholder((n,), name="A")
    D = te.compute((n,), lambda i: A[i] * alpha, name="D")
    scale = tt.register(te.build(te.create_schedule(D.op), [A, alpha, D], target="c",
                                 name="scale"), "texpr_test::scale")
    assert str(scale._opoverload._schema) == "texpr_test::scale(Tensor A, float alpha) -> Tensor"

    def fn(x, y):
        z = torch.empty_like(x)
        op_out(x, y, z)
        return scale(z.flatten(), 0.5)

    x, y = torch.randn(3, 4), torch.randn(3, 4)
    want = ((x * 2 + y) * 0.5).flatten()
    torch.testing.assert_close(fn(x, y), want, rtol=0, atol=0)
    compiled = torch.compile(fn, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(x, y), want, rtol=0, atol=0)


class GeluSoftmax(torch.nn.Module):
    """linear -> texpr gelu -> texpr softmax (last axis)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(16, 24)

    def forward(self, x):
        return tt.ops.softmax(tt.ops.gelu(self.linear(x)))

    def reference(self, x):
        return torch.softmax(torch.nn.functional.gelu(self.linear(x)), dim=-1)


def test_compiled_model_with_texpr_operators_equals_eager_pytorch():
    m = GeluSoftmax()
    x = torch.randn(5, 16)
    with torch.no_grad():
        want = m.reference(x)
        torch.testing.assert_close(m(x), want, rtol=1e-5, atol=1e-6)
        compiled = torch.compile(m, backend="aot_eager", fullgraph=True)
        torch.testing.assert_close(compiled(x), want, rtol=1e-5, atol=1e-6)
    # one kernel per operator and signature, built on the first call
    assert len(tt.ops.gelu.texpr_kernels.built) == 1
    assert len(tt.ops.softmax.texpr_kernels.built) == 1


def test_op_builds_per_signature_and_checks():
    def scale_add(a, b, factor=3.0):
        return te.compute(a.shape, lambda *i: a(*i) * factor + b(*i), name="scale_add")

    op = tt.op(scale_add, target="c", factor=0.5)
    assert op._name == "scale_add_factor_0_5"
    x, y = torch.arange(6.0).reshape(2, 3), torch.ones(2, 3)
    torch.testing.assert_close(op(x, y), x * 0.5 + y, rtol=0, atol=0)
    torch.testing.assert_close(op(x + 1, y), (x + 1) * 0.5 + y, rtol=0, atol=0)
    xd = torch.arange(4, dtype=torch.float64)
    torch.testing.assert_close(op(xd, xd), xd * 1.5, rtol=0, atol=0)
    assert len(op.texpr_kernels.built) == 2              # float32 [2, 3] and float64 [4]
    with pytest.raises(te.LoweringError, match=r"tensor b is read at index i1 \(dimension 1\), "
                                               r"which reaches \[0, 2\]"):
        op(x, torch.ones(2, 2))
    with pytest.raises(te.TexprError, match="returned 1 tensors; the operator was made with "
                                            "outputs=2"):
        tt.op(scale_add, name="texpr_test::two", target="c", outputs=2)(x, y)
    def scale_add2(a, b):
        return te.compute(a.shape, lambda *i: a(*i) - b(*i), name="scale_sub")
    again = tt.op(scale_add2, name="texpr::scale_add_factor_0_5", target="c")
    assert again is op and op.texpr_kernels.fn is scale_add2 and not op.texpr_kernels.built
    with pytest.raises(te.TexprError, match=r"texpr::gelu is registered \(texpr.torch.ops.gelu"):
        tt.op(scale_add, name="texpr::gelu")
    with pytest.raises(te.TexprError, match="registered by texpr.torch.op: pick another name"):
        tt.register(axpy_kernel(), "texpr::scale_add_factor_0_5")
    with pytest.raises(te.TexprError, match="a lambda has no name"):
        tt.op(lambda a: a)
    cuda = tt.op(scale_add, name="texpr_test::on_cuda", target="cuda")
    with pytest.raises(te.ArgumentError, match="CPU tensors for an op made with target 'cuda'"):
        cuda(x, y)


def test_importing_texpr_does_not_import_torch():
    code = "import sys, texpr; sys.exit('torch' in sys.modules)"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0
    assert np.dtype("float32").name == "float32" and tt.torch_dtype("int8") is torch.int8
