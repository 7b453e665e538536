"""texpr.schedule: what each primitive does to a stage, and every error it raises.

Errors must be ScheduleError (a TexprError) raised at the call, naming the stage and axis.
"""
import pytest

import texpr as te
from texpr.lang.expr import Const
from texpr.schedule import Fuse, Split


def graph():
    n = te.var("n")
    A = te.placeholder((n, 16), name="A")
    B = te.compute((n, 16), lambda i, j: A[i, j] + 1.0, name="B")
    k = te.reduce_axis((0, 16), name="k")
    C = te.compute((n,), lambda i: te.sum(B[i, k], axis=k), name="C")
    return n, A, B, C, k


# ----------------------------------------------------------------------------- structure

def test_create_schedule_orders_producers_first():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    assert [st.name for st in s.stages] == ["A", "B", "C"]
    assert s[C].is_output and not s[B].is_output
    assert s[C] is s[C.op] is s[s[C]]
    s2 = te.create_schedule([C.op, B.op])
    assert s2[B].is_output and s2[C].is_output


def test_split_factor_and_nparts_extents():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    i, j = B.op.axis
    jo, ji = s[B].split(j, factor=5)                  # 16 = 4*5 - 4: does not divide
    assert s[B].extent_of(jo).value == 4 and s[B].extent_of(ji).value == 5
    io, ii = s[B].split(i, nparts=3)
    assert s[B].extent_of(io).value == 3
    assert not isinstance(s[B].extent_of(ii), Const)   # ceil(n / 3) stays symbolic
    assert s[B].leaf_iter_vars == [io, ii, jo, ji]
    assert [type(r) for r in s[B].relations] == [Split, Split]
    assert jo.name == "j.outer" and ji.name == "j.inner"


def test_tile_reorder_fuse():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    i, j = B.op.axis
    io, jo, ii, ji = s[B].tile(i, j, 4, 8)
    assert s[B].leaf_iter_vars == [io, jo, ii, ji]
    s[B].reorder(ji, ii)
    assert s[B].leaf_iter_vars == [io, jo, ji, ii]
    f = s[B].fuse(ji, ii)
    assert s[B].leaf_iter_vars == [io, jo, f]
    assert s[B].extent_of(f).value == 32
    assert isinstance(s[B].relations[-1], Fuse)
    assert s[B].fuse(f) is f                            # fusing one axis is a no-op
    g = s[B].fuse([io, jo])                             # a list works too
    assert s[B].leaf_iter_vars == [g, f]


def test_reorder_data_inside_reduction_is_allowed():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    (i,) = C.op.axis
    io, ii = s[C].split(i, factor=4)
    s[C].reorder(io, k, ii)
    assert s[C].leaf_iter_vars == [io, k, ii]


def test_annotations_recorded():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    i, j = B.op.axis
    jo, ji = s[B].split(j, factor=8)
    s[B].vectorize(ji)
    s[B].unroll(jo)
    s[B].parallel(i)
    s[B].pragma(i, "comment", "hello")
    attrs = s[B].iter_attrs
    assert attrs[id(ji)]["kind"] == "vectorize"
    assert attrs[id(jo)]["kind"] == "unroll"
    assert attrs[id(i)]["kind"] == "parallel"
    assert ("comment", "hello") in attrs[id(i)]["pragmas"]
    s[B].vectorize(ji)                                  # same annotation twice is fine


def test_compute_at_inline_root():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    s[B].compute_at(s[C], C.op.axis[0])
    assert s[B].attach_type == "scope" and s[B].attach_stage is s[C]
    s[B].compute_root()
    assert s[B].attach_type == "root"
    s[B].compute_inline()
    assert s[B].attach_type == "inline"


def test_storage_align_recorded():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    s[B].storage_align(B.op.axis[0], 8, 1)
    assert s[B].storage_aligns == {0: (8, 1)}


# ----------------------------------------------------------------------------- errors

def err(match):
    return pytest.raises(te.ScheduleError, match=match)


def test_split_errors():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    i, j = B.op.axis
    s[B].split(i, factor=4)
    with err("stage B: split: axis i is not a leaf axis"):
        s[B].split(i, factor=2)                         # split twice
    with err("stage C: split: axis j does not belong to this stage"):
        s[C].split(j, factor=2)                         # axis of another stage
    with err("factor must be a positive int, got 0"):
        s[B].split(j, factor=0)
    with err("nparts must be a positive int, got -2"):
        s[B].split(j, nparts=-2)
    with err("factor is 2.5, which is not a whole number"):    # 2.0 (N / bn) is accepted
        s[B].split(j, factor=2.5)
    with err("factor must be a positive int, got True"):
        s[B].split(j, factor=True)
    with err("exactly one of factor= or nparts="):
        s[B].split(j, factor=2, nparts=2)
    with err("exactly one of factor= or nparts="):
        s[B].split(j)
    with err(r"expected an axis \(IterVar\), got 'j'"):
        s[B].split("j", factor=2)
    with err("stage A: split: a placeholder has no loops"):
        s[A].split(A.op.shape[0], factor=2)


def test_fuse_errors():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    i, j = B.op.axis
    io, ii = s[B].split(i, factor=4)
    with err("stage B: fuse: axes i.outer, j must be adjacent"):
        s[B].fuse(io, j)                                # not adjacent
    with err("must be adjacent leaf axes given from outer to inner"):
        s[B].fuse(ii, io)                               # wrong order
    with err("stage C: vectorize: axis i.k.fused is a reduction axis"):
        s[C].vectorize(s[C].fuse(C.op.axis[0], k))     # data + reduction fuse to a reduction
    assert s[B].fuse().dom.extent.value == 1           # no axes: TVM's new unit outer loop
    with err("not a leaf axis"):
        s[B].fuse(i, j)


def test_reorder_errors():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    i, j = B.op.axis
    with err("reorder: an axis is given twice"):
        s[B].reorder(i, i)
    with err("does not belong to this stage"):
        s[B].reorder(j, k)


def test_vectorize_errors():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    i, j = B.op.axis
    with err("stage C: vectorize: axis k is a reduction axis"):
        s[C].vectorize(k)
    with err("vectorize: axis i has non-constant extent n"):
        s[B].vectorize(i)                               # symbolic extent
    io, ii = s[B].split(i, factor=4)
    with err(r"vectorize: axis i.outer has non-constant extent"):
        s[B].vectorize(io)
    s[B].unroll(ii)
    with err("vectorize: axis i.inner is already marked unroll"):
        s[B].vectorize(ii)


def test_parallel_and_bind_errors():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    with err("stage C: parallel: axis k is a reduction axis"):
        s[C].parallel(k)
    with err("bind: expected a te.thread_axis for axis i"):
        s[C].bind(C.op.axis[0], C.op.axis[0])
    with err("bind: axis k is a reduction axis"):
        s[C].bind(k, te.thread_axis("threadIdx.x"))
    s[C].parallel(C.op.axis[0])
    with err("already marked parallel"):
        s[C].unroll(C.op.axis[0])
    with err("tensorize: expected an intrinsic from te.decl_tensor_intrin, got None"):
        s[C].tensorize(k, None)


def test_pragma_errors():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    j = B.op.axis[1]
    with err("stage B: pragma on axis j: the key must be a name, got 'no pe'"):
        s[B].pragma(j, "no pe")
    with err("pragma unroll on axis j: value must be a non-negative int, got -1"):
        s[B].pragma(j, "unroll", -1)
    with err("pragma prefetch on axis j: value must be a non-negative int"):
        s[B].pragma(j, "prefetch", "x")
    with err("pragma comment on axis j: value must be a string"):
        s[B].pragma(j, "comment", 3)


def test_storage_align_errors():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    i, j = B.op.axis
    with err(r"need factor > 0 and offset < factor \(got 0, 0\)"):
        s[B].storage_align(i, 0, 0)
    with err(r"need factor > 0 and offset < factor \(got 4, 4\)"):
        s[B].storage_align(i, 4, 4)
    with err("factor must be a non-negative int, got -1"):
        s[B].storage_align(i, -1, 0)
    with err("offset must be a non-negative int, got 1.5"):
        s[B].storage_align(i, 4, 1.5)
    with err("'k' is not an original data axis"):
        s[B].storage_align(k, 4, 1)
    io, ii = s[B].split(i, factor=2)
    with err("'i.outer' is not an original data axis"):
        s[B].storage_align(io, 4, 1)
    with err("stage C: storage_align: an output's layout is fixed"):
        s[C].storage_align(C.op.axis[0], 4, 1)


def test_compute_inline_errors():
    n, A, B, C, k = graph()
    D = te.compute((n,), lambda i: C[i] * 2.0, name="D")
    s = te.create_schedule(D.op)
    with err("stage C: compute_inline: a reduction cannot be inlined"):
        s[C].compute_inline()
    with err("stage D: compute_inline: an output stage cannot be inlined"):
        s[D].compute_inline()
    with err("stage A: compute_inline: a placeholder cannot be inlined"):
        s[A].compute_inline()
    # a stage that another stage is computed at cannot disappear
    E = te.compute((n, 16), lambda i, j: B[i, j] * 3.0, name="E")
    F = te.compute((n, 16), lambda i, j: E[i, j] + 1.0, name="F")
    s3 = te.create_schedule(F.op)
    s3[B].compute_at(s3[E], E.op.axis[0])
    with err("stage E: compute_inline: stage B is computed at this stage"):
        s3[E].compute_inline()


def test_compute_at_errors():
    n, A, B, C, k = graph()
    D = te.compute((n,), lambda i: C[i] * 2.0, name="D")
    s = te.create_schedule(D.op)
    with err("stage D: compute_at: an output stage must stay at the root"):
        s[D].compute_at(s[C], C.op.axis[0])
    with err("compute_at: a stage cannot be computed at itself"):
        s[C].compute_at(s[C], C.op.axis[0])
    with err(r"compute_at: expected a stage \(s\[T\]\) as parent"):
        s[C].compute_at(D, D.op.axis[0])
    with err("stage D: compute_at: axis i does not belong to this stage"):
        s[C].compute_at(s[D], C.op.axis[0])
    with err("compute_at: a placeholder has no loops"):
        s[A].compute_at(s[D], D.op.axis[0])
    # into a loop that does not enclose every consumer: B is read by C and by D2
    # (checked when lowering: a later compute_inline may still remove that consumer)
    D2 = te.compute((n, 16), lambda i, j: B[i, j] * 3.0, name="D2")
    s2 = te.create_schedule([C.op, D2.op])
    s2[B].compute_at(s2[C], C.op.axis[0])
    with pytest.raises(te.LoweringError, match="stage B is computed at loop i of stage C, but its "
                       "consumer D2 runs outside that loop"):
        te.lower(s2, [A, C, D2])
    # into a stage computed before it (its own producer)
    s3 = te.create_schedule(D.op)
    with pytest.raises(te.ScheduleError, match="stage C: compute_at"):
        s3[C].compute_at(s3[B], B.op.axis[0])
    # into an inlined stage
    E = te.compute((n, 16), lambda i, j: B[i, j] * 3.0, name="E")
    F = te.compute((n, 16), lambda i, j: E[i, j] + 1.0, name="F")
    s4 = te.create_schedule(F.op)
    s4[E].compute_inline()
    with err("compute_at: stage E is inlined; it has no loops"):
        s4[B].compute_at(s4[E], E.op.axis[0])


def test_cache_errors():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    s[B].compute_inline()
    with err("cache_write of B: the stage is inlined"):
        s.cache_write(B, "local")
    s = te.create_schedule(C.op)
    with err("cache_write of C: unknown scope 'weird'"):
        s.cache_write(C, "weird")
    with err("cache_write: A is a placeholder"):
        s.cache_write(A, "local")
    with err("cache_write expects a tensor"):
        s.cache_write(s[C], "local")
    with err("cache_read of A: stage C does not read it"):
        s.cache_read(A, "local", [C])
    with err("cache_read of A: give at least one reader"):
        s.cache_read(A, "local", [])
    with err("cache_read of A: unknown scope 'bogus'"):
        s.cache_read(A, "bogus", [B])
    with err("cache_read expects a tensor"):
        s.cache_read("A", "local", [B])


def test_rfactor_errors():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    with err("stage C: rfactor: axis i is not a reduction axis"):
        s.rfactor(C, C.op.axis[0])
    with err("rfactor: stage B has no reduction"):
        s.rfactor(B, B.op.axis[0])
    with err(r"rfactor: factor_axis must be in 0..1"):
        s.rfactor(C, k, factor_axis=5)
    ko, ki = s[C].split(k, factor=4)
    with err("rfactor: axis k is not a leaf axis"):
        s.rfactor(C, k)
    s[C].unroll(ki)
    with err("annotate reduction axes after rfactor"):
        s.rfactor(C, ko)
    with err("rfactor expects a tensor"):
        s.rfactor("C", ko)


def test_schedule_level_errors():
    n, A, B, C, k = graph()
    with err("create_schedule: A is a placeholder"):
        te.create_schedule(A.op)
    with err("create_schedule expects operations"):
        te.create_schedule("x")
    s = te.create_schedule(C.op)
    X = te.placeholder((4,), name="X")
    with err("'X' is not part of this schedule"):
        s[X]


def test_errors_are_texpr_errors():
    assert issubclass(te.ScheduleError, te.TexprError)
    assert issubclass(te.LoweringError, te.TexprError)
    assert issubclass(te.ArgumentError, ValueError)
    assert issubclass(te.DTypeError, TypeError)


# ----------------------------------------------------------------------------- lowering checks

def test_lowering_errors():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    s[B].compute_inline()
    with pytest.raises(te.LoweringError, match="tensor B is an argument, so stage B cannot be "
                       "inlined"):
        te.lower(s, [A, B, C])
    s = te.create_schedule(C.op)
    with pytest.raises(te.LoweringError, match="output C is not in args"):
        te.lower(s, [A])
    with pytest.raises(te.LoweringError, match="placeholder A is read by stage B but is not in args"):
        te.lower(s, [C])
    with pytest.raises(te.LoweringError, match="tensor C is given twice"):
        te.lower(s, [A, C, C])
    with pytest.raises(te.LoweringError, match="argument 1 is 'x'"):
        te.lower(s, [A, "x"])
    with pytest.raises(te.LoweringError, match="args must be a list"):
        te.lower(s, A)
    with pytest.raises(te.LoweringError, match="lower expects a Schedule"):
        te.lower("s", [A])
    X = te.placeholder((4,), name="X")      # unread placeholder: a parameter, as in TVM
    assert "X: float32[4]" in str(te.lower(s, [A, C, X], simple_mode=True))
    with pytest.raises(te.LoweringError, match=r"argument 2 \(B\) is not part of this schedule"):
        te.lower(s, [A, C, te.compute((4,), lambda i: X[i], name="B")])
    m = te.var("m")
    D = te.compute((n, 16), lambda i, j: A[i, j] * m.astype("float32"), name="D")
    with pytest.raises(te.LoweringError, match="variable m used by stage D is not a dimension"):
        te.lower(te.create_schedule(D.op), [A, D])


def test_build_errors():
    n, A, B, C, k = graph()
    s = te.create_schedule(C.op)
    with pytest.raises(te.TexprError, match="unknown target 'nope'"):
        te.build(s, [A, C], target="nope")
    with pytest.raises(te.TexprError, match="target must be a string"):
        te.build(s, [A, C], target=3)
    with pytest.raises(te.TexprError, match="name must be a non-empty string"):
        te.build(s, [A, C], name="")
    with pytest.raises(te.TexprError, match="build expects a Schedule"):
        te.build("s", [A, C])
    s[C].bind(C.op.axis[0], te.thread_axis("blockIdx.x"))
    with pytest.raises(te.TexprError, match="GPU"):
        te.build(s, [A, C], target="c")
