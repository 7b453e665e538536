"""te.extern with te.call_packed (Python callbacks), te.call_extern (C functions),
te.call_pure_extern in a compute, and te.register_intrin_lowering, against NumPy."""
import shutil
import uuid

import numpy as np
import pytest

import texpr as te
from texpr.targets.build import emit_source
from texpr.targets.intrin_rules import remove_intrin_lowering
from texpr.targets.runtime.packed import remove_global_func

TARGETS = ["c", "native"]


@pytest.fixture
def packed():
    """Register Python functions under fresh names; unregistered after the test."""
    names = []

    def reg(fn, name=None):
        name = name or f"test.{fn.__name__}.{uuid.uuid4().hex[:8]}"
        te.register_func(name, fn)
        names.append(name)
        return name
    yield reg
    for n in names:
        remove_global_func(n)


def _rand(*shape, dtype="float32"):
    return np.random.default_rng(0).random(shape).astype(dtype)


# --------------------------------------------------------------------------- call_packed

@pytest.mark.parametrize("target", TARGETS)
def test_packed_callback_writes_the_output(packed, target):
    seen = []

    def scale_add(x, y, alpha, k):
        seen.append((type(x), x.shape, type(alpha), type(k)))
        y[...] = x * alpha + k
    name = packed(scale_add)
    n = te.var("n")
    A = te.placeholder((n, 3), name="A")
    B = te.extern((n, 3), [A], lambda ins, outs: te.call_packed(name, ins[0], outs[0], 2.5, 7),
                  name="B")
    s = te.create_schedule(B.op)
    f = te.build(s, [A, B], target=target)
    a = _rand(5, 3)
    b = np.zeros((5, 3), "float32")
    f(a, b)
    np.testing.assert_allclose(b, a * 2.5 + 7, rtol=1e-6)
    assert seen == [(np.ndarray, (5, 3), float, int)]
    assert f'texpr_packed("{name}"' in f.source


def test_packed_arrays_are_views_of_the_kernel_buffers(packed):
    """The callback's writes into an intermediate buffer reach the stage that reads it."""
    def fill(x):
        x[...] = np.arange(x.size, dtype=x.dtype).reshape(x.shape)
    name = packed(fill)
    T = te.extern((4, 6), [], lambda ins, outs: te.call_packed(name, outs[0]), name="T",
                  dtype="int32")
    A = te.placeholder((4, 6), "int32", name="A")
    B = te.compute((4, 6), lambda i, j: A[i, j] + T[i, j] * 2, name="B")
    s = te.create_schedule(B.op)
    f = te.build(s, [A, B], target="c")
    a = np.full((4, 6), 3, "int32")
    b = np.zeros((4, 6), "int32")
    f(a, b)
    np.testing.assert_array_equal(b, a + 2 * np.arange(24, dtype="int32").reshape(4, 6))


@pytest.mark.parametrize("target", TARGETS)
def test_extern_feeds_a_scheduled_compute(packed, target):
    def square(x, y):
        np.multiply(x, x, out=y)
    name = packed(square)
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    P = te.compute((n,), lambda i: A[i] + 1.0, name="P")
    E = te.extern((n,), [P], lambda ins, outs: te.call_packed(name, ins[0], outs[0]), name="E")
    C = te.compute((n,), lambda i: E[i] * 3.0 - A[i], name="C")
    s = te.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], factor=8)
    s[C].vectorize(xi)
    s[C].parallel(xo)
    po, pi = s[P].split(P.op.axis[0], factor=4)
    s[P].vectorize(pi)
    f = te.build(s, [A, C], target=target)
    for size in (1, 8, 37):
        a = _rand(size)
        c = np.zeros(size, "float32")
        f(a, c)
        np.testing.assert_allclose(c, (a + 1) ** 2 * 3 - a, rtol=1e-5)


def test_extern_with_two_outputs(packed):
    def split_sign(x, pos, neg):
        pos[...] = np.maximum(x, 0)
        neg[...] = np.minimum(x, 0)[: neg.shape[0]]
    name = packed(split_sign)
    A = te.placeholder((10,), name="A")
    P, N = te.extern([(10,), (4,)], [A],
                     lambda ins, outs: te.call_packed(name, ins[0], outs[0], outs[1]), name="S")
    assert P.shape[0].value == 10 and N.shape[0].value == 4
    D = te.compute((4,), lambda i: P[i] + N[i] * 10.0, name="D")
    s = te.create_schedule([D.op, P.op])
    f = te.build(s, [A, P, D], target="c")
    a = _rand(10) - 0.5
    p, d = np.zeros(10, "float32"), np.zeros(4, "float32")
    f(a, p, d)
    np.testing.assert_allclose(p, np.maximum(a, 0))
    np.testing.assert_allclose(d, np.maximum(a, 0)[:4] + np.minimum(a, 0)[:4] * 10, rtol=1e-6)


def test_packed_error_stops_the_kernel_and_names_the_function(packed):
    calls = []

    def boom(x):
        calls.append(1)
        raise ValueError("bad things")
    name = packed(boom)
    A = te.placeholder((3,), name="A")
    B = te.extern((3,), [A], lambda ins, outs: te.call_packed(name, outs[0]), name="B")
    s = te.create_schedule(B.op)
    f = te.build(s, [A, B], target="c")
    with pytest.raises(te.PackedFuncError, match=f"'{name}' raised ValueError: bad things") as ei:
        f(_rand(3), np.zeros(3, "float32"))
    assert isinstance(ei.value.__cause__, ValueError)
    # the module works again afterwards (the error does not stick)
    remove_global_func(name)
    te.register_func(name, lambda x: x.fill(4.0))
    b = np.zeros(3, "float32")
    f(_rand(3), b)
    np.testing.assert_array_equal(b, 4.0)


def test_packed_error_frees_the_heap_buffers(packed):
    """A failed call returns from the kernel after freeing the heap buffers around it."""
    def fail(x):
        raise RuntimeError("no")
    name = packed(fail)
    A = te.placeholder((20000,), name="A")
    P = te.compute((20000,), lambda i: A[i] + 1.0, name="P")          # 80 kB: on the heap
    B = te.extern((20000,), [P], lambda ins, outs: te.call_packed(name, ins[0]), name="B")
    C = te.compute((20000,), lambda i: B[i] * 2.0, name="C")
    f = te.build(te.create_schedule(C.op), [A, C], target="c")
    assert f'texpr_packed("{name}", 1, texpr_args) != 0) {{ texpr_free(B); texpr_free(P); return; }}' in f.source
    with pytest.raises(te.PackedFuncError, match="RuntimeError: no"):
        f(np.zeros(20000, "float32"), np.zeros(20000, "float32"))
    with pytest.raises(te.PackedFuncError, match="RuntimeError: no"):
        f.time(np.zeros(20000, "float32"), np.zeros(20000, "float32"), number=1, repeat=1)
    with pytest.raises(te.PackedFuncError, match="RuntimeError: no"):
        f.bind(np.zeros(20000, "float32"), np.zeros(20000, "float32"))()


def test_packed_wrong_argument_count_raises_inside(packed):
    name = packed(lambda x, y: None, name=f"test.two_args.{uuid.uuid4().hex[:8]}")
    A = te.placeholder((3,), name="A")
    B = te.extern((3,), [A], lambda ins, outs: te.call_packed(name, outs[0]), name="B")
    f = te.build(te.create_schedule(B.op), [A, B], target="c")
    with pytest.raises(te.PackedFuncError, match=f"{name}.*TypeError"):
        f(_rand(3), np.zeros(3, "float32"))


def test_packed_unknown_name_is_refused_at_build():
    A = te.placeholder((3,), name="A")
    B = te.extern((3,), [A], lambda ins, outs: te.call_packed("no.such.function", outs[0]),
                  name="B")
    with pytest.raises(te.TexprError, match="'no.such.function'.*register_func"):
        te.build(te.create_schedule(B.op), [A, B], target="c")


def test_register_func_forms_and_lookup():
    name = f"test.reg.{uuid.uuid4().hex[:8]}"
    try:
        @te.register_func(name)
        def f1(x):
            return 1
        assert te.get_global_func(name) is f1
        with pytest.raises(te.TexprError, match="already registered.*override=True"):
            te.register_func(name, lambda x: 2)
        f2 = te.register_func(name, lambda x: 2, override=True)
        assert te.get_global_func(name) is f2
    finally:
        remove_global_func(name)
    assert te.get_global_func(name, allow_missing=True) is None
    with pytest.raises(te.TexprError, match="no function is registered"):
        te.get_global_func(name)
    with pytest.raises(te.TexprError, match="not a valid name"):
        te.register_func("bad name!", lambda: 0)
    with pytest.raises(te.TexprError, match="expected a callable"):
        te.register_func(name + ".x", 3)


# --------------------------------------------------------------------------- call_extern

@pytest.mark.parametrize("target", TARGETS)
def test_call_extern_user_c_code(target):
    src = """
    static void axpy(const float* x, float* y, int32_t n, float a) {
      for (int32_t i = 0; i < n; ++i) y[i] = a * x[i] + 1.0f;
    }"""
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.extern((n,), [A], lambda ins, outs: te.call_extern("void", "axpy", ins[0], outs[0],
                                                              n, 3.0), name="B")
    C = te.compute((n,), lambda i: B[i] * 2.0, name="C")
    s = te.create_schedule(C.op)
    f = te.build(s, [A, C], target=target, extra_sources=[src])
    a = _rand(9)
    c = np.zeros(9, "float32")
    f(a, c)
    np.testing.assert_allclose(c, (3 * a + 1) * 2, rtol=1e-6)
    assert "static void axpy" in f.source


def test_call_extern_libc_with_buffer_offsets():
    """memcpy from libc, with access_ptr offsets into the buffers."""
    A = te.placeholder((8,), name="A")
    B = te.extern((8,), [A], lambda ins, outs: te.call_extern(
        "handle", "memcpy", outs[0].access_ptr("w", offset=4), ins[0].access_ptr("r"), 16),
        name="B")
    C = te.extern((8,), [A, B], lambda ins, outs: te.call_extern(
        "handle", "memcpy", outs[0].data, ins[1].access_ptr("r", 4), 16), name="C")
    s = te.create_schedule(C.op)
    f = te.build(s, [A, C], target="c")
    a = _rand(8)
    c = np.zeros(8, "float32")
    f(a, c)
    np.testing.assert_array_equal(c[:4], a[:4])


def test_extern_statement_with_vload_vstore():
    """fcompute may build a statement from buffer element access (vload / vstore)."""
    A = te.placeholder((2, 3), name="A")
    B = te.extern((2, 3), [A], lambda ins, outs: outs[0].vstore(
        (1, 2), ins[0].vload((0, 1)) + te.call_pure_extern("float32", "sqrtf", 16.0)), name="B")
    f = te.build(te.create_schedule(B.op), [A, B], target="c")
    a = _rand(2, 3)
    b = np.zeros((2, 3), "float32")
    f(a, b)
    assert b[1, 2] == pytest.approx(a[0, 1] + 4)


@pytest.mark.parametrize("target", TARGETS)
def test_call_pure_extern_in_compute(target):
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: te.call_pure_extern("float32", "expm1f", A[i]) +
                   te.call_pure_extern("float64", "atan2", A[i].astype("float64"), 2.0)
                   .astype("float32"), name="B")
    s = te.create_schedule(B.op)
    xo, xi = s[B].split(B.op.axis[0], factor=8)
    s[B].vectorize(xi)
    f = te.build(s, [A, B], target=target)
    a = _rand(19)
    b = np.zeros(19, "float32")
    f(a, b)
    np.testing.assert_allclose(b, np.expm1(a) + np.arctan2(a.astype("float64"), 2.0), rtol=1e-5)


def test_call_extern_without_a_declaration_gets_a_prototype():
    """A C function that neither the includes nor the user's sources declare (a library's)
    gets a prototype built from the argument types."""
    A = te.placeholder((4,), "int32", name="A")
    B = te.compute((4,), lambda i: te.call_pure_extern("int32", "twice", A[i]), name="B")
    src = "int32_t twice(int32_t x) { return 2 * x; }"
    source = emit_source(te.create_schedule(B.op), [A, B], target="c")
    assert "int32_t twice(int32_t);" in source
    f = te.build(te.create_schedule(B.op), [A, B], target="c", extra_sources=[src])
    assert "int32_t twice(int32_t);" not in f.source      # the user's source defines it
    a = np.arange(4, dtype="int32")
    b = np.zeros(4, "int32")
    f(a, b)
    np.testing.assert_array_equal(b, 2 * a)


# --------------------------------------------------------------------------- intrinsic rules

@pytest.fixture
def exp_rule():
    made = []

    def reg(target, **kw):
        te.register_intrin_lowering("tir.exp", target, **kw)
        made.append(target)
    yield reg
    for t in made:
        remove_intrin_lowering("exp", t)


@pytest.mark.parametrize("target", TARGETS)
def test_register_intrin_lowering_maps_exp_to_user_code(exp_rule, target):
    src = "static float my_exp(float x) { return 1.0f + x; }"
    exp_rule(target, f=lambda op: te.call_pure_extern("float32", "my_exp", op.args[0]))
    A = te.placeholder((16,), name="A")
    B = te.compute((16,), lambda i: te.exp(A[i]) * 2.0, name="B")
    s = te.create_schedule(B.op)
    s[B].vectorize(s[B].split(B.op.axis[0], factor=8)[1])
    f = te.build(s, [A, B], target=target, extra_sources=[src])
    a = _rand(16)
    b = np.zeros(16, "float32")
    f(a, b)
    np.testing.assert_allclose(b, (1 + a) * 2, rtol=1e-6)
    assert "my_exp(" in f.source and "expf(" not in f.source


def test_intrin_lowering_levels_and_default(exp_rule):
    exp_rule("default", f=lambda op: op.args[0] * 0.0 + 5.0, level=10)
    exp_rule("c", f=lambda op: op.args[0] * 0.0 + 7.0, level=20)
    te.register_intrin_lowering("exp", "c", f=lambda op: op.args[0] * 0.0 + 9.0, level=5)
    A = te.placeholder((4,), name="A")
    B = te.compute((4,), lambda i: te.exp(A[i]), name="B")
    b = np.zeros(4, "float32")
    te.build(te.create_schedule(B.op), [A, B], target="c")(_rand(4), b)
    np.testing.assert_array_equal(b, 7.0)               # the higher level stays
    remove_intrin_lowering("exp", "c")
    B2 = te.compute((4,), lambda i: te.exp(A[i]), name="B2")
    te.build(te.create_schedule(B2.op), [A, B2], target="c")(_rand(4), b)
    np.testing.assert_array_equal(b, 5.0)               # the default rule
    remove_intrin_lowering("exp", "default")
    B3 = te.compute((4,), lambda i: te.exp(A[i]), name="B3")
    a = _rand(4)
    te.build(te.create_schedule(B3.op), [A, B3], target="c")(a, b)
    np.testing.assert_allclose(b, np.exp(a), rtol=1e-6)  # no rule: libm's expf


def test_intrin_lowering_bad_input(exp_rule):
    with pytest.raises(te.TexprError, match="unknown op 'tir.frobnicate'"):
        te.register_intrin_lowering("tir.frobnicate", "c", f=lambda op: op)
    with pytest.raises(te.TexprError, match="unknown target"):
        te.register_intrin_lowering("exp", "vax", f=lambda op: op)
    with pytest.raises(te.TexprError, match="level must be an int"):
        te.register_intrin_lowering("exp", "c", f=lambda op: op, level="high")
    exp_rule("c", f=lambda op: "expf(x)")
    A = te.placeholder((4,), name="A")
    B = te.compute((4,), lambda i: te.exp(A[i]), name="B")
    with pytest.raises(te.TexprError, match="lowering of exp for target c returned 'expf"):
        te.build(te.create_schedule(B.op), [A, B], target="c")


# --------------------------------------------------------------------------- schedules, errors

def test_extern_stage_scheduling_is_limited():
    A = te.placeholder((8,), name="A")
    P = te.compute((8,), lambda i: A[i] * 2.0, name="P")
    B = te.extern((8,), [P], lambda ins, outs: te.call_extern("handle", "memcpy", outs[0],
                                                              ins[0], 32), name="B")
    C = te.compute((8,), lambda i: B[i] + 1.0, name="C")
    s = te.create_schedule(C.op)
    with pytest.raises(te.ScheduleError, match="extern op cannot be inlined"):
        s[B].compute_inline()
    with pytest.raises(te.ScheduleError, match="extern op is opaque code.*no loops"):
        s[B].split(P.op.axis[0], factor=2)
    with pytest.raises(te.ScheduleError, match="extern op B reads this stage's buffer"):
        s[P].compute_inline()
    with pytest.raises(te.ScheduleError, match="extern op is opaque"):
        s[B].compute_at(s[C], C.op.axis[0])
    f = te.build(s, [A, C], target="c")
    a = _rand(8)
    c = np.zeros(8, "float32")
    f(a, c)
    np.testing.assert_allclose(c, a * 2 + 1)
    text = str(te.lower(s, [A, C]))
    assert "extern:memcpy(B, P, 32)" in text


def test_extern_bad_inputs():
    A = te.placeholder((3,), name="A")
    with pytest.raises(te.TexprError, match="fcompute must return a call"):
        te.extern((3,), [A], lambda ins, outs: 42, name="B")
    with pytest.raises(te.TexprError, match="input 0 is 5; expected a tensor"):
        te.extern((3,), [5], lambda ins, outs: te.call_packed("f"), name="B")
    with pytest.raises(te.TexprError, match="argument A is a tensor; pass the buffers"):
        te.extern((3,), [A], lambda ins, outs: te.call_packed("f", A), name="B")
    other = te.extern((3,), [A], lambda ins, outs: te.call_packed("f", outs[0]), name="O")
    leaked = other.op.output_buffers[0]
    with pytest.raises(te.TexprError, match="uses buffer O, which is not one of the buffers"):
        te.extern((3,), [A], lambda ins, outs: te.call_packed("f", leaked), name="B")
    with pytest.raises(te.TexprError, match="reads tensor A directly; read the buffers"):
        te.extern((3,), [A], lambda ins, outs: outs[0].vstore(0, A[1]), name="B")
    with pytest.raises(te.TexprError, match="must be a C identifier"):
        te.call_extern("float32", "system; rm", 1)
    with pytest.raises(te.TexprError, match="must be a C identifier"):
        te.call_extern("float32", "texpr_alloc", 1)
    with pytest.raises(te.TexprError, match="function name must be a string"):
        te.call_packed("a b")
    with pytest.raises(te.DTypeError, match="argument 0 is a buffer; a pure extern call"):
        te.extern((3,), [A], lambda ins, outs: te.call_pure_extern("float32", "f", ins[0]))
    with pytest.raises(te.TexprError, match=r"cannot infer the output dtype from the inputs "
                                            r"\(float32, int8\); pass dtype="):
        te.extern((3,), [A, te.placeholder((3,), "int8", name="I")],
                  lambda ins, outs: te.call_packed("f"))
    with pytest.raises(te.TexprError, match=r"inputs \(none\); pass dtype="):
        te.extern((3,), [], lambda ins, outs: te.call_packed("f"))
    one = te.extern([(3,)], [A], lambda ins, outs: te.call_packed("f", outs[0]))
    assert isinstance(one, te.Tensor) and one.dtype == "float32"     # one output: a tensor
    with pytest.raises(te.TexprError, match="2 dtypes for 1 outputs"):
        te.extern((3,), [A], lambda ins, outs: te.call_packed("f"), dtype=["int32", "int8"])
    with pytest.raises(te.TexprError, match="indexed with 1"):
        te.extern((3, 2), [A], lambda ins, outs: outs[0].vstore(0, 1.0))
    with pytest.raises(te.TexprError, match="access_ptr mask"):
        te.extern((3,), [A], lambda ins, outs: te.call_extern("handle", "f", ins[0].access_ptr("x")))


def test_packed_call_inside_an_expression_is_refused(packed):
    name = packed(lambda x: None, name=f"test.expr.{uuid.uuid4().hex[:8]}")
    A = te.placeholder((3,), name="A")
    B = te.extern((3,), [A], lambda ins, outs: outs[0].vstore(0, te.call_packed(name, ins[0])
                                                              .astype("float32")), name="B")
    with pytest.raises(te.TexprError, match="a packed call is a statement"):
        te.build(te.create_schedule(B.op), [A, B], target="c")


@pytest.mark.parametrize("target", ["cuda", "opencl"])
def test_extern_on_gpu_is_refused(target):
    A = te.placeholder((3,), name="A")
    B = te.extern((3,), [A], lambda ins, outs: te.call_extern("handle", "memcpy", outs[0],
                                                              ins[0], 12), name="B")
    with pytest.raises(te.TexprError, match=f"target {target}: extern op B runs host code"):
        te.build(te.create_schedule(B.op), [A, B], target=target)


def test_packed_on_emulated_target_is_refused(packed):
    name = packed(lambda x: None, name=f"test.emu.{uuid.uuid4().hex[:8]}")
    A = te.placeholder((3,), name="A")
    B = te.extern((3,), [A], lambda ins, outs: te.call_packed(name, outs[0]), name="B")
    with pytest.raises(te.TexprError, match="target neon: te.call_packed calls Python functions"):
        te.build(te.create_schedule(B.op), [A, B], target="neon")


def test_build_link_options_are_checked():
    A = te.placeholder((3,), name="A")
    B = te.compute((3,), lambda i: A[i], name="B")
    s = te.create_schedule(B.op)
    with pytest.raises(te.TexprError, match="is not a library to link"):
        te.build(s, [A, B], target="c", libs=["-lm; rm -rf /"])
    with pytest.raises(te.TexprError, match="extra_sources must be a list of strings"):
        te.build(s, [A, B], target="c", extra_sources=[3])


def _gpu_elementwise(body):
    A = te.placeholder((64,), name="A")
    B = te.compute((64,), lambda i: body(A[i]), name="B")
    s = te.create_schedule(B.op)
    bx, tx = s[B].split(B.op.axis[0], factor=32)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    return s, A, B


def test_call_pure_extern_and_intrin_rule_on_opencl(exp_rule):
    """On a GPU target the function must exist in its dialect (OpenCL's exp, fmax)."""
    s, A, B = _gpu_elementwise(lambda x: te.call_pure_extern("float32", "exp", x)
                               + te.call_pure_extern("float32", "fmax", x, 0.5))
    f = te.build(s, [A, B], target="opencl")
    a = np.random.default_rng(3).random(64).astype("float32")
    b = np.zeros(64, "float32")
    f(a, b)
    np.testing.assert_allclose(b, np.exp(a) + np.maximum(a, 0.5), rtol=1e-5)
    exp_rule("opencl", f=lambda op: op.args[0] * 3.0)
    s, A, B = _gpu_elementwise(lambda x: te.exp(x) + 1.0)
    te.build(s, [A, B], target="opencl")(a, b)
    np.testing.assert_allclose(b, a * 3 + 1, rtol=1e-6)


def test_extern_op_headers_from_attrs():
    """An extern op may name the headers that declare what it calls (attrs extern_headers):
    they are included, and no prototype of ours is emitted."""
    import os
    P = te.extern((1,), [], lambda ins, outs: outs[0].vstore(0, te.call_extern("int32", "getpid")),
                  name="P", dtype="int32", attrs={"extern_headers": ["unistd.h"]})
    f = te.build(te.create_schedule(P.op), [P], target="c")
    assert "#include <unistd.h>" in f.source and "int32_t getpid(void);" not in f.source
    p = np.zeros(1, "int32")
    f(p)
    assert p[0] == os.getpid()
    bad = te.extern((1,), [], lambda ins, outs: te.call_extern("void", "f"), name="Q",
                    dtype="int32", attrs={"extern_headers": ["x.h>\n#include <y.h"]})
    with pytest.raises(te.TexprError, match="is not a header name"):
        te.build(te.create_schedule(bad.op), [bad], target="c")


@pytest.mark.skipif(not (shutil.which("aarch64-linux-gnu-gcc") and shutil.which("qemu-aarch64")),
                    reason="the NEON cross toolchain (gcc-aarch64-linux-gnu, qemu-user) is not "
                           "installed")
def test_extern_and_pure_extern_under_the_neon_emulator():
    A = te.placeholder((16,), name="A")
    B = te.extern((16,), [A], lambda ins, outs: te.call_extern("handle", "memcpy", outs[0],
                                                               ins[0], 64), name="B")
    C = te.compute((16,), lambda i: te.call_pure_extern("float32", "expm1f", B[i]), name="C")
    s = te.create_schedule(C.op)
    s[C].vectorize(s[C].split(C.op.axis[0], factor=4)[1])
    f = te.build(s, [A, C], target="neon")
    a = _rand(16)
    c = np.zeros(16, "float32")
    f(a, c)
    np.testing.assert_allclose(c, np.expm1(a), rtol=1e-6)


def test_intrin_lowering_decorator_and_passthrough():
    """As a decorator; a rule that returns the call itself (or None) keeps the default code."""
    try:
        @te.register_intrin_lowering("tir.log", "c")
        def keep(op):
            return op if op.dtype == "float32" else None
        A = te.placeholder((5,), name="A")
        B = te.compute((5,), lambda i: te.log(A[i] + 1.0), name="B")
        f = te.build(te.create_schedule(B.op), [A, B], target="c")
        a = _rand(5)
        b = np.zeros(5, "float32")
        f(a, b)
        np.testing.assert_allclose(b, np.log(a + 1), rtol=1e-6)
        assert "logf(" in f.source
    finally:
        remove_intrin_lowering("log", "c")
