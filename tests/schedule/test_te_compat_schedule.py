"""Classic TVM schedule API in texpr (issue 15): fuse() of no axes, normalize, set_scope,
create_group / Stage.group, transform_layout, TVM's pragmas, and decl_tensor_intrin's TVM
forms (three-part impl, binds with te.decl_buffer, scalar_params refused)."""
import numpy as np
import pytest

import texpr as te
from texpr import testing as tt


def _chain(shape=(8, 12)):
    A = te.placeholder(shape, name="A")
    B = te.compute(shape, lambda i, j: A[i, j] * 2.0, name="B")
    k = te.reduce_axis((0, shape[1]), "k")
    C = te.compute(shape[:1], lambda i: te.sum(B[i, k], axis=k), name="C")
    D = te.compute(shape, lambda i, j: B[i, j] + C[i], name="D")
    return A, B, C, D


def _chain_ref(a):
    return 2 * a + (2 * a).sum(1, keepdims=True)


# ----------------------------------------------------------------------------- fuse, normalize

def test_fuse_of_no_axes_adds_a_unit_outer_loop():
    A = te.placeholder((8,), name="A")
    k = te.reduce_axis((0, 8), "k")
    S = te.compute((), lambda: te.sum(A[k], axis=k), name="S")
    s = te.create_schedule(S.op)
    unit = s[S].fuse()
    assert s[S].leaf_iter_vars[0] is unit and unit.dom.extent.value == 1
    tt.check_kernel(s, [A, S], lambda a: a.sum(), target="c")
    # on a stage with loops too; the unit loop can be split and annotated like any other
    B = te.compute((6, 5), lambda i, j: A[i] + A[j], name="B")
    s = te.create_schedule(B.op)
    u = s[B].fuse()
    s[B].parallel(u)
    s[B].vectorize(B.op.axis[1])
    tt.check_kernel(s, [A, B], lambda a: a[:6, None] + a[None, :5], target="native")


def test_normalize_returns_the_schedule():
    A, B, C, D = _chain()
    s = te.create_schedule(D.op)
    s[D].split(D.op.axis[1], factor=4)
    assert s.normalize() is s
    tt.check_kernel(s.normalize(), [A, D], _chain_ref, target="c")


# ----------------------------------------------------------------------------- set_scope

def test_set_scope():
    A, B, C, D = _chain()
    s = te.create_schedule(D.op)
    s[B].set_scope("local")
    s[C].set_scope("global")
    assert "allocate B: float32[8, 12] in local" in str(te.lower(s, [A, D]))
    tt.check_kernel(s, [A, D], _chain_ref, target="c")
    with pytest.raises(te.ScheduleError, match="stage B: set_scope: unknown scope 'texture'"):
        s[B].set_scope("texture")
    with pytest.raises(te.ScheduleError, match="output is written into the caller's array"):
        s[D].set_scope("shared")
    with pytest.raises(te.ScheduleError, match="placeholder"):
        s[A].set_scope("local")


# ----------------------------------------------------------------------------- groups

def _group_chain():
    m, n = te.var("m"), te.var("n")
    x = te.compute((m, n), lambda i, j: (i * 3 + j).astype("float32"), name="x")
    x1 = te.compute(x.shape, lambda *i: x(*i) + 1.0, name="x1")
    x2 = te.compute(x.shape, lambda *i: x1(*i) * 2.0, name="x2")
    return m, n, x, x1, x2


def _group_ref(m, n):
    i, j = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    return ((i * 3 + j) + 1.0) * 2.0


def test_group_compute_at_places_all_its_stages():
    m, n, x, x1, x2 = _group_chain()
    s = te.create_schedule(x2.op)
    g = s.create_group(outputs=x1, inputs=x, include_inputs=True)
    assert s[x1].group is g and s[x].group is g and s.groups == [g]
    g.compute_at(s[x2], x2.op.axis[1])
    assert g.attach_stage is s[x2] and g.num_child_stages == 2
    assert s[x].attach_stage is s[x2] and s[x1].attach_stage is s[x2]
    f = te.build(s, [x2, m, n], target="c") if False else te.build(s, [x2], target="c")
    out = np.empty((5, 7), "float32")
    f(out)
    np.testing.assert_array_equal(out, _group_ref(5, 7))
    g.compute_root()
    assert s[x].attach_type == s[x1].attach_type == "root"


def test_group_members_attach_inside_their_group():
    m, n, x, x1, x2 = _group_chain()
    s = te.create_schedule(x2.op)
    g = s.create_group(outputs=x1, inputs=x, include_inputs=True)
    s[x].compute_at(s[x1], x1.op.axis[1])          # within the group: allowed
    g.compute_at(s[x2], x2.op.axis[0])              # moves x1 only; x stays inside x1
    assert s[x].attach_stage is s[x1] and s[x1].attach_stage is s[x2]
    f = te.build(s, [x2], target="c")
    out = np.empty((4, 3), "float32")
    f(out)
    np.testing.assert_array_equal(out, _group_ref(4, 3))
    with pytest.raises(te.ScheduleError, match=r"belongs to group\(x\+x1.*not into x2"):
        s[x].compute_at(s[x2], x2.op.axis[1])


def test_nested_groups():
    m, n, x, x1, x2 = _group_chain()
    s = te.create_schedule(x2.op)
    g1 = s.create_group(outputs=x1, inputs=x)
    g2 = s.create_group(outputs=x1, inputs=x, include_inputs=True)
    assert set(s.groups) == {g1, g2}
    assert s[x].group is g2 and s[x1].group is g1 and g1.group is g2
    assert (g2.num_child_stages, g1.num_child_stages) == (2, 1)


def test_group_errors():
    m, n, x, x1, x2 = _group_chain()
    s = te.create_schedule(x2.op)
    with pytest.raises(te.ScheduleError, match="x2 is an output"):
        s.create_group(outputs=x2, inputs=x)
    A = te.placeholder((4,), name="A")
    B = te.compute((4,), lambda i: A[i] + 1.0, name="B")
    C = te.compute((4,), lambda i: B[i] * 2.0, name="C")
    s = te.create_schedule(C.op)
    with pytest.raises(te.ScheduleError, match="placeholder A is reached.*inputs="):
        s.create_group(outputs=B, inputs=[])
    g = s.create_group(outputs=B, inputs=A)
    with pytest.raises(te.ScheduleError, match="cannot be inlined"):
        g.compute_inline()
    with pytest.raises(te.ScheduleError, match="own member B"):
        g.compute_at(s[B], B.op.axis[0])


# ----------------------------------------------------------------------------- transform_layout

@pytest.mark.parametrize("layout", [lambda i, j: [j, i], lambda i, j: [j // 4, i, j % 4],
                                    lambda i, j: [i % 2, j, i // 2]])
def test_transform_layout_keeps_results(layout):
    A, B, C, D = _chain()
    s = te.create_schedule(D.op)
    axes = s[B].transform_layout(layout)
    assert s[B].leaf_iter_vars == axes
    s[C].transform_layout(lambda i: [i % 4, i // 4])
    s[D].vectorize(D.op.axis[1])
    for target in ("c", "native"):
        tt.check_kernel(s, [A, D], _chain_ref, target=target)


def test_transform_layout_stores_the_physical_shape():
    A, B, C, D = _chain()
    s = te.create_schedule(D.op)
    jo, i, ji = s[B].transform_layout(lambda i, j: [j // 4, i, j % 4])
    assert [int(a.dom.extent) for a in (jo, i, ji)] == [3, 8, 4]
    s[B].vectorize(ji)                         # the new axes are the stage's loops
    assert "allocate B: float32[3, 8, 4]" in str(te.lower(s, [A, D]))
    tt.check_kernel(s, [A, D], _chain_ref, target="native")


def test_transform_layout_errors():
    A, B, C, D = _chain()
    s = te.create_schedule(D.op)
    # (placeholders and outputs can be relaid: tests/schedule/test_transform_layout.py)
    with pytest.raises(te.ScheduleError, match="index i is missing"):
        s[B].transform_layout(lambda i, j: [j, j])
    with pytest.raises(te.ScheduleError, match=r"physical index 0 is i \+ j"):
        s[B].transform_layout(lambda i, j: [i + j, i])
    with pytest.raises(te.ScheduleError, match="5 does not divide the extent 12"):
        s[B].transform_layout(lambda i, j: [i, j // 5, j % 5])
    s[C].split(C.op.axis[0], factor=2)
    with pytest.raises(te.ScheduleError, match="before any other primitive"):
        s[C].transform_layout(lambda i: [i])


# ----------------------------------------------------------------------------- pragmas

def test_auto_unroll_max_step_unrolls_small_inner_nests():
    A, B, C, D = _chain()
    s = te.create_schedule(D.op)
    io, ii = s[D].split(D.op.axis[0], factor=2)
    s[D].pragma(io, "auto_unroll_max_step", 24)         # ii x j = 2 x 12 iterations: unrolled
    s[D].pragma(io, "unroll_explicit", True)
    k_outer, k_inner = s[C].split(C.op.reduce_axis[0], factor=4)
    s[C].pragma(C.op.axis[0], "auto_unroll_max_step", 3)  # k.inner has 4: kept a loop
    text = str(te.lower(s, [A, D]))
    stage_c, stage_d = text.split("// stage C")[1].split("// stage D")
    assert "for (j," not in stage_d and "for (i.inner" not in stage_d
    assert "for (k.inner, 0, 4)" in stage_c
    for target in ("c", "native"):
        tt.check_kernel(s, [A, D], _chain_ref, target=target)


@pytest.mark.parametrize("key", ["unroll_explicit", "parallel_launch_point",
                                 "parallel_stride_pattern", "parallel_barrier_when_finish"])
def test_tvm_pragmas_without_effect_are_accepted(key):
    A, B, C, D = _chain()
    s = te.create_schedule(D.op)
    s[D].parallel(D.op.axis[0])
    s[D].pragma(D.op.axis[0], key, 1)
    before = te.build(te.create_schedule(D.op), [A, D], target="c").source
    s2 = te.create_schedule(D.op)
    s2[D].pragma(D.op.axis[0], key, True)
    assert te.build(s2, [A, D], target="c").source == before
    tt.check_kernel(s, [A, D], _chain_ref, target="c")


def test_refused_and_bad_pragmas():
    A, B, C, D = _chain()
    s = te.create_schedule(D.op)
    ax = D.op.axis[0]
    with pytest.raises(te.ScheduleError, match="debug_skip_region.*not supported.*never skips"):
        s[D].pragma(ax, "debug_skip_region")
    with pytest.raises(te.ScheduleError, match="import_llvm.*must be the LLVM IR text"):
        s[D].pragma(ax, "import_llvm", 3)
    with pytest.raises(te.ScheduleError, match="auto_unroll_max_step.*non-negative int"):
        s[D].pragma(ax, "auto_unroll_max_step", -1)
    # any other key is recorded as TVM does (iter_var_attrs shows it), with a warning that
    # texpr does not use it; "vectorize" vectorizes the loop, as in TVM
    with pytest.warns(UserWarning, match="pragma 'bogus' on axis .* recorded but not used"):
        s[D].pragma(ax, "bogus")
    assert s[D].iter_var_attrs[ax].pragma_keys[0].value == "bogus"
    xo, xi = s[D].split(D.op.axis[1], factor=4)
    s[D].pragma(xi, "vectorize")
    assert s[D].iter_var_attrs[xi].iter_type == te.schedule.IterVar.Vectorized


# ----------------------------------------------------------------------------- decl_tensor_intrin

def _gemv_intrin(n, k, binds_strides=None, parts=("body", "reset", "update")):
    a = te.placeholder((k,), name="a")
    b = te.placeholder((n, k), name="b")
    r = te.reduce_axis((0, k), "r")
    c = te.compute((n,), lambda i: te.sum(a[r] * b[i, r], axis=r), name="c")
    binds = None
    if binds_strides is not None:
        binds = {b: te.decl_buffer(b.shape, b.dtype, name="Bb", offset_factor=1,
                                   strides=binds_strides),
                 a: te.decl_buffer(a.shape, a.dtype, name="Ab")}

    def impl(ins, outs):
        A, B = ins
        (C,) = outs
        loop = (f"for (int i = 0; i < {n}; ++i) {{ float s = 0; for (int r = 0; r < {k}; ++r) "
                f"s += {A.access_ptr('r')}[r*({A.strides[0]})] * "
                f"{B.access_ptr('r')}[i*({B.strides[0]}) + r*({B.strides[1]})];")
        out = f"{C.access_ptr('w')}[i*({C.strides[0]})]"
        body = loop + f" {out} = s; }}"
        reset = f"for (int i = 0; i < {n}; ++i) {out} = 0;"
        update = loop + f" {out} += s; }}"
        code = {"body": body, "reset": reset, "update": update}
        return tuple(code.get(p) for p in parts)
    return te.decl_tensor_intrin(c.op, impl, name="gemv", binds=binds)


def _gemv(M=16, K=8):
    A = te.placeholder((K,), name="A")
    B = te.placeholder((M, K), name="B")
    k = te.reduce_axis((0, K), "k")
    C = te.compute((M,), lambda i: te.sum(A[k] * B[i, k], axis=k), name="C")
    return A, B, C, k


# TVM's form: where the reduction is split, a tile starts with reset then update (TVM never
# uses body there, so a body that accumulates, as in TVM's tutorial, stays right)
@pytest.mark.parametrize("parts,first", [(("body", "reset", "update"), "reset+update"),
                                         ((None, "reset", "update"), "reset+update"),
                                         (("body", None, "update"), "body")])
def test_three_part_intrinsic_with_binds(parts, first):
    A, B, C, k = _gemv()
    s = te.create_schedule(C.op)
    io, ii = s[C].split(C.op.axis[0], factor=4)
    ko, ki = s[C].split(k, factor=4)
    s[C].reorder(io, ko, ii, ki)
    s[C].tensorize(ii, _gemv_intrin(4, 4, [te.var("s0"), 1], parts))
    mod, _ = tt.check_kernel(s, [A, B, C], lambda a, b: b @ a, target="c")
    assert "tensorize gemv.update" in mod.source
    assert f"tensorize gemv.{first}\n" in mod.source


def test_binds_constant_stride_must_match_the_region():
    A, B, C, k = _gemv()
    s = te.create_schedule(C.op)
    io, ii = s[C].split(C.op.axis[0], factor=4)
    s[C].tensorize(ii, _gemv_intrin(4, 8, [8, 1]))        # B's rows are 8 apart: matches
    tt.check_kernel(s, [A, B, C], lambda a, b: b @ a, target="c")
    s = te.create_schedule(C.op)
    io, ii = s[C].split(C.op.axis[0], factor=4)
    s[C].tensorize(ii, _gemv_intrin(4, 8, [16, 1]))
    with pytest.raises(te.TexprError, match="dimension 0 of Bb must have stride 16.*te.var"):
        te.build(s, [A, B, C], target="c")


def test_decl_tensor_intrin_tvm_form_errors():
    a = te.placeholder((4,), name="a")
    c = te.compute((4,), lambda i: a[i] * 2.0, name="c")
    other = te.placeholder((4,), name="other")
    with pytest.raises(te.TexprError, match="scalar_params is not supported"):
        te.decl_tensor_intrin(c.op, lambda ins, outs: "", scalar_params=[te.var("m")])
    with pytest.raises(te.TexprError, match="binds key .*other.* not an input or the output"):
        te.decl_tensor_intrin(c.op, lambda ins, outs: "", binds={other: te.decl_buffer((4,))})
    with pytest.raises(te.TexprError, match=r"binds\[a\] has dtype int8"):
        te.decl_tensor_intrin(c.op, lambda ins, outs: "", binds={a: te.decl_buffer((4,), "int8")})
    with pytest.raises(te.TexprError, match=r"binds\[a\] has shape \['8'\]"):
        te.decl_tensor_intrin(c.op, lambda ins, outs: "", binds={a: te.decl_buffer((8,))})
    with pytest.raises(te.TexprError, match="offset_factor must be a non-negative int"):
        te.decl_buffer((4,), offset_factor=-1)
    with pytest.raises(te.TexprError, match="2 strides for 1 dimensions"):
        te.decl_buffer((4,), strides=[1, 1])
    intrin = te.decl_tensor_intrin(c.op, lambda ins, outs: ("x", "y"), name="two")
    C = te.compute((8,), lambda i: te.placeholder((8,), name="X")[i] * 2.0, name="C")
    s = te.create_schedule(C.op)
    io, ii = s[C].split(C.op.axis[0], factor=4)
    s[C].tensorize(ii, intrin)
    with pytest.raises(te.TexprError, match="returned 2 parts.*reduce_update"):
        te.build(s, [C.op.input_tensors[0], C], target="c")


# ----------------------------------------------------------------------------- TensorComputeOp

def _vadd_intrin(n):
    x = te.placeholder((n,), name="x")
    y = te.placeholder((n,), name="y")
    z = te.compute((n,), lambda i: x[i] + y[i], name="z")

    def impl(ins, outs):
        X, Y = ins
        (Z,) = outs
        return (f"for (int t = 0; t < {n}; ++t) {Z.access_ptr('w')}[t*({Z.strides[0]})] = "
                f"{X.access_ptr('r')}[t*({X.strides[0]})] + {Y.access_ptr('r')}[t*({Y.strides[0]})];")
    return te.decl_tensor_intrin(z.op, impl, name="vadd", default_buffer_params={"offset_factor": n})


def _gemm_intrin(m, n, l):
    k = te.reduce_axis((0, l), "k")
    x = te.placeholder((m, l), name="x")
    y = te.placeholder((n, l), name="y")
    z = te.compute((m, n), lambda i, j: te.sum(x[i][k] * y[j][k], axis=k), name="z")

    def impl(ins, outs):
        X, Y = ins
        (Z,) = outs
        loops = f"for (int ti = 0; ti < {m}; ++ti) for (int tj = 0; tj < {n}; ++tj)"
        acc = (f"{loops} {{ float s = 0; for (int r = 0; r < {l}; ++r) s += "
               f"{X.access_ptr('r')}[ti*({X.strides[0]}) + r*({X.strides[1]})] * "
               f"{Y.access_ptr('r')}[tj*({Y.strides[0]}) + r*({Y.strides[1]})];")
        out = f"{Z.access_ptr('w')}[ti*({Z.strides[0]}) + tj*({Z.strides[1]})]"
        return acc + f" {out} = s; }}", f"{loops} {out} = 0;", acc + f" {out} += s; }}"
    return te.decl_tensor_intrin(z.op, impl, name="gemm")


def test_tensor_compute_op_elementwise():
    n, m = 16, 96
    vadd = _vadd_intrin(n)
    A = te.placeholder((m // n, n), name="A")
    B = te.placeholder((m // n, n), name="B")
    C = te.compute((m // n, n), lambda i: vadd(A[i, 0:n], B[i, 0:n]), name="C")
    s = te.create_schedule(C.op)
    io, ii = s[C].split(C.op.axis[0], factor=2)      # the outer loops stay schedulable
    s[C].parallel(io)
    mod, _ = tt.check_kernel(s, [A, B, C], lambda a, b: a + b, target="c")
    assert "tensorize vadd.body" in mod.source


def test_tensor_compute_op_with_an_outer_reduction():
    f0, f1, f2 = 4, 4, 8
    M, N, L = 8, 16, 12
    gemm = _gemm_intrin(f1, f2, f0)
    A = te.placeholder((M // f1, L // f0, f1, f0), name="A")
    B = te.placeholder((N // f2, L // f0, f2, f0), name="B")
    k = te.reduce_axis((0, L // f0), name="kk")
    C = te.compute((M // f1, N // f2, f1, f2),
                   lambda i, j: gemm(A[i, k, 0:f1, 0:f0], B[j, k, 0:f2, 0:f0], reduce_axis=k),
                   name="C")
    s = te.create_schedule(C.op)
    mod, _ = tt.check_kernel(s, [A, B, C], lambda a, b: np.einsum("ikxr,jkyr->ijxy", a, b),
                             target="c")
    assert "tensorize gemm.update" in mod.source


def test_tensor_compute_op_errors():
    vadd = _vadd_intrin(4)
    A = te.placeholder((2, 8), name="A")
    with pytest.raises(te.TexprError, match=r"region of A has sliced extents \[8\]; x has shape \[4\]"):
        te.compute((2, 4), lambda i: vadd(A[i, 0:8], A[i, 0:8]))
    with pytest.raises(te.TexprError, match=r"takes 2 region\(s\) \(x, y\), got 1"):
        te.compute((2, 4), lambda i: vadd(A[i, 0:4]))
    with pytest.raises(te.TexprError, match="argument for y must be a tensor region"):
        te.compute((2, 4), lambda i: vadd(A[i, 0:4], A[i, 0]))
    with pytest.raises(te.TexprError, match="must be the output shape of vadd, \\[4\\]"):
        te.compute((2, 8), lambda i: vadd(A[i, 0:4], A[i, 4:8]))
    with pytest.raises(te.TexprError, match="takes 1 argument.*must then return a tensor intrinsic"):
        te.compute((2, 8), lambda i: A[i, 0])
    with pytest.raises(te.TexprError, match="indexed with a slice is a region"):
        te.compute((2,), lambda i: A[i, 0:4] * 2.0)
    with pytest.raises(te.TexprError, match="constant positive extent"):
        A[0, 4:2]
    with pytest.raises(te.TexprError, match="reduce_axis= needs a reducing intrinsic"):
        te.compute((2, 4), lambda i: vadd(A[i, 0:4], A[i, 4:8],
                                          reduce_axis=te.reduce_axis((0, 2), "r")))
    with pytest.raises(te.TexprError, match="default_buffer_params strides not supported"):
        te.decl_tensor_intrin(te.compute((4,), lambda i: A[0, i] * 2.0).op, lambda i, o: "",
                              default_buffer_params={"strides": [1]})
