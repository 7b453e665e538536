"""Reductions (topi.sum / mean / prod / max / min / argmax / argmin), topk, transpose and where:
their registered CPU schedules against topi.testing's NumPy references (one kernel build for
all, on the native target, tails included), a build on avx512's 16 lanes, the lowered
programs reading their data once (counted by running the loop program's index arithmetic),
and bad arguments."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
import texpr.topi as topi
from texpr.demo import row_sum
from texpr.errors import TexprError
from texpr.targets import emit_source
from texpr.lang import dtypes
from texpr.lang import ir
from texpr.lang.expr import BinOp, Expr
from texpr.lang.visitor import walk
from texpr.topi import testing as ref
from texpr.topi import cpu_reduce
from texpr.topi.cpu_reduce import column_block, column_parts

from tests.support.irutil import evaluate

RNG = np.random.default_rng(16)


def shape_of(t):
    return tuple(int(d) for d in t.shape)


def run_all(cases, inputs, arrays, target):
    """Build topi.schedule of every case's output(s) into one kernel and compare each."""
    outs = []
    for got, _ in cases:
        outs.extend(got if isinstance(got, list) else [got])
    f = te.build(topi.schedule(outs, target), list(inputs) + outs, target=target, name="reduce_ops")
    res = [np.zeros(shape_of(o), o.dtype) for o in outs]
    f(*arrays, *res)
    k = 0
    for n, (got, want) in enumerate(cases):
        wants = want if isinstance(want, list) else [want]
        for w in wants:
            r = res[k]
            k += 1
            assert r.dtype == w.dtype or dtypes.is_float(str(r.dtype)), f"case {n}: dtype {r.dtype}"
            if r.dtype.kind in "iub":
                np.testing.assert_array_equal(r, w, err_msg=f"case {n}")
            else:
                np.testing.assert_allclose(r, w, rtol=2e-5, atol=1e-5, err_msg=f"case {n}")


def test_schedules_match_numpy_on_native(monkeypatch):
    # extents no vector or tile divides: 37-element rows, 21 columns, odd transposes; column
    # reductions of K split their 130 rows into parts as on a 2-core machine
    monkeypatch.setattr(cpu_reduce, "COLUMN_SPLIT_MIN", 1)
    monkeypatch.setenv("TEXPR_NUM_THREADS", "2")
    K = te.placeholder((130, 20), name="K")
    kk = RNG.integers(-4, 5, (130, 20)).astype("float32")
    A = te.placeholder((5, 37), name="A")
    B = te.placeholder((3, 4, 21), name="B")
    I = te.placeholder((6, 19), "int32", name="I")      # few distinct values: many ties
    P = te.placeholder((9, 7), name="P")
    C = te.placeholder((6, 19), "bool", name="C")
    R = te.placeholder((19,), "int32", name="R")
    F = te.placeholder((6, 19), name="F")       # a float condition: 0.5 and -0.25 are true
    a = RNG.standard_normal((5, 37)).astype("float32")
    b = RNG.standard_normal((3, 4, 21)).astype("float32")
    i = RNG.integers(-2, 3, (6, 19)).astype("int32")
    p = RNG.uniform(0.5, 1.5, (9, 7)).astype("float32")
    c = RNG.random((6, 19)) > 0.5
    r = RNG.integers(-50, 50, 19).astype("int32")
    f = RNG.choice(np.float32([0, 0.5, -0.25]), (6, 19))
    cases = [
        (topi.sum(A, axis=1), ref.sum_ref(a, 1)),                       # row: rfactor
        (topi.sum(B, axis=0), ref.sum_ref(b, 0)),                       # column blocks
        (topi.sum(B, axis=(0, 2), keepdims=True), ref.sum_ref(b, (0, 2), True)),
        (topi.sum(B), ref.sum_ref(b)),
        (topi.max(B, axis=1), ref.max_ref(b, 1)),
        (topi.min(A, axis=-1, keepdims=True), ref.min_ref(a, -1, True)),
        (topi.prod(P, axis=1), ref.prod_ref(p, 1)),
        (topi.prod(P, axis=0), ref.prod_ref(p, 0)),
        (topi.mean(B, axis=2), ref.mean_ref(b, 2)),                     # epilogue fused
        (topi.mean(B, axis=(0, 1)), ref.mean_ref(b, (0, 1))),
        (topi.sum(I, axis=1), ref.sum_ref(i, 1)),
        (topi.argmax(I, axis=1), ref.argmax_ref(i, 1)),                 # ties: first index
        (topi.argmax(I, axis=1, select_last_index=True), ref.argmax_ref(i, 1, False, True)),
        (topi.argmin(I, axis=0), ref.argmin_ref(i, 0)),
        (topi.argmin(I, axis=0, keepdims=True, select_last_index=True),
         ref.argmin_ref(i, 0, True, True)),
        (topi.argmax(B), ref.argmax_ref(b)),
        (topi.argmax(B, axis=(0, 2)), ref.argmax_ref(b, (0, 2))),
        (topi.argmin(A, axis=1), ref.argmin_ref(a, 1)),
        (topi.sum(K, axis=0), ref.sum_ref(kk, 0)),                      # rows split in 2
        (topi.mean(K, axis=0, keepdims=True), ref.mean_ref(kk, 0, True)),
        (topi.argmax(K, axis=0), ref.argmax_ref(kk, 0)),
        (topi.transpose(A), ref.transpose_ref(a)),
        (topi.transpose(B, (2, 0, 1)), ref.transpose_ref(b, (2, 0, 1))),
        (topi.transpose(B, (1, 0, 2)), ref.transpose_ref(b, (1, 0, 2))),
        (topi.where(C, I, R), ref.where_ref(c, i, r)),                  # broadcast y
        (topi.where(I, 7, R), ref.where_ref(i, np.int32(7), r)),       # non-bool condition
        (topi.where(F, F, 2.0), ref.where_ref(f, f, np.float32(2))),    # vectorized select
        (topi.topk(I, k=4), ref.topk_ref(i, 4)),                        # ties: index order
        (topi.topk(B, k=2, axis=1, is_ascend=True, dtype="int32"),
         ref.topk_ref(b, 2, 1, is_ascend=True, dtype="int32")),
        (topi.topk(I, k=0, axis=0, ret_type="indices"), ref.topk_ref(i, 0, 0, "indices")),
        (topi.topk(A, k=3, ret_type="values"), ref.topk_ref(a, 3, ret_type="values")),
    ]
    run_all(cases, [A, B, I, P, C, R, F, K], [a, b, i, p, c, r, f, kk], "native")


def test_row_and_column_schedules_on_avx512_lanes():
    """16 lanes (SIMDe where the host lacks AVX-512): row sum and argmax with tails."""
    A = te.placeholder((3, 70), name="A")
    a = RNG.integers(-3, 4, (3, 70)).astype("float32")
    cases = [(topi.sum(A, axis=1), ref.sum_ref(a, 1)), (topi.max(A, axis=0), ref.max_ref(a, 0)),
             (topi.argmax(A, axis=1), ref.argmax_ref(a, 1))]
    run_all(cases, [A], [a], "avx512")


# ----------------------------------------------------------------------------- one pass

def element_reads(stmt, buf_name, env=None):
    """Elements of buffer `buf_name` the loop program loads, loop by loop (vector loads count
    their lanes); extents and guards are evaluated, so tails count what they run."""
    env = {} if env is None else env
    t = type(stmt)
    if t is ir.For:
        lo, n = evaluate(stmt.min, env), evaluate(stmt.extent, env)
        total = 0
        for v in range(lo, lo + n):
            env[stmt.var] = v
            total += element_reads(stmt.body, buf_name, env)
        return total
    if t is ir.IfThenElse:
        if evaluate(stmt.cond, env):
            return element_reads(stmt.then_case, buf_name, env)
        return element_reads(stmt.else_case, buf_name, env) if stmt.else_case is not None else 0
    # straight-line statements loading an element twice (a tuple reduction's index and value
    # updates) read it once: their loads are counted once
    parts = stmt.stmts if t is ir.Seq else (stmt,)
    total, loads = 0, []
    for part in parts:
        if part is not stmt and type(part) in (ir.For, ir.IfThenElse, ir.Seq):
            total += element_reads(part, buf_name, env)
            continue
        for name in part._children:
            v = getattr(part, name)
            for x in (v if isinstance(v, tuple) else (v,)):
                if isinstance(x, ir.Stmt):
                    total += element_reads(x, buf_name, env)
                elif isinstance(x, Expr):
                    for n in walk(x):
                        if isinstance(n, ir.BufferLoad) and n.buffer.name == buf_name and \
                                not any(n.same_as(m) for m in loads):
                            loads.append(n)
    return total + sum(_active_lanes(n, env) for n in loads)


def _active_lanes(load, env):
    """The lanes a load reads: all of a vector, those [0, bound - base) of a masked one (its
    predicate `ramp(base, 1, n) < xn(bound)`: a masked tail reads only its active lanes)."""
    lanes, pred = dtypes.lanes(load.dtype), load.predicate
    if pred is None:
        return lanes
    return max(0, min(lanes, evaluate(pred.b.value, env) - evaluate(pred.a.base, env)))


def vector_loads(stmt, buf_name):
    return [n for n in walk(stmt) if isinstance(n, ir.BufferLoad) and n.buffer.name == buf_name
            and dtypes.lanes(n.dtype) > 1]


def lowered(s, args):
    return te.lower(s, args, target="avx2").body


def test_obvious_rfactor_of_a_vectorized_split_reads_the_input_once():
    """Split the reduction by 8, rfactor the inner part, vectorize the new stage's lane axis
    (its outermost loop): the lanes go inside, and each element of A is loaded once."""
    A = te.placeholder((16, 100), name="A")
    k = te.reduce_axis((0, 100), name="k")
    S = te.compute((16,), lambda i: te.sum(A[i, k], axis=k), name="S")
    s = te.create_schedule(S.op)
    _, ki = s[S].split(k, factor=8)
    SF = s.rfactor(S, ki)
    s[SF].vectorize(s[SF].op.axis[0])
    body = lowered(s, [A, S])
    assert element_reads(body, "A") == 16 * 100
    assert vector_loads(body, "A")


def test_the_demo_row_sum_reads_the_input_once():
    s, args = row_sum(24, 200)
    body = lowered(s, args)
    assert element_reads(body, "A") == 24 * 200
    assert vector_loads(body, "A")


@settings(max_examples=10, deadline=None)
@given(shape=st.lists(st.integers(1, 24), min_size=1, max_size=3),
       data=st.data(), op=st.sampled_from(["sum", "max", "argmax", "mean"]))
def test_topi_schedule_of_any_reduction_reads_its_data_once(shape, data, op):
    n = len(shape)
    axes = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    if op == "argmax":
        axes = axes[0]
    A = te.placeholder(tuple(shape), name="A")
    out = getattr(topi, op)(A, axis=axes)
    body = lowered(topi.schedule(out, "avx2"), [A, out])
    assert element_reads(body, "A") == int(np.prod(shape))


def test_row_and_column_reductions_load_vectors():
    A = te.placeholder((64, 256), name="A")
    for axis in (0, 1):
        out = topi.sum(A, axis=axis)
        assert vector_loads(lowered(topi.schedule(out, "avx2"), [A, out]), "A")
    out = topi.argmax(A, axis=1)
    body = lowered(topi.schedule(out, "avx2"), [A, out])
    assert vector_loads(body, "A")
    assert not lane_loops(body)     # the index update is a vector select too


def lane_loops(stmt):
    """Loops the vectorizer left running lane by lane."""
    return [n for n in walk(stmt) if isinstance(n, ir.For) and n.var.name.endswith("_lane")]


def test_where_of_same_shaped_operands_is_a_vector_select():
    C, X, Y = (te.placeholder((4, 64), name=n) for n in "CXY")
    out = topi.where(C, X, Y)
    body = lowered(topi.schedule(out, "avx2"), [C, X, Y, out])
    assert not lane_loops(body) and vector_loads(body, "Y")


def test_column_rows_split_only_where_cores_would_idle():
    assert column_parts(1, 1024, 1024 * 4096, cores=2) == 2
    assert column_parts(1, 1024, 1024 * 4096, cores=1) == 1
    assert column_parts(2, 1024, 1024 * 4096, cores=2) == 1      # two blocks: both cores busy
    assert column_parts(1, 100, 100 * 4096, cores=4) == 1        # parts of at least 64 rows
    assert column_parts(1, 1024, 1024 * 16, cores=2) == 1        # small: not worth a split


def test_split_column_reduction_reads_its_data_once(monkeypatch):
    monkeypatch.setenv("TEXPR_NUM_THREADS", "2")
    A = te.placeholder((512, 520), name="A")
    out = topi.sum(A, axis=0)
    s = topi.schedule(out, "avx2")
    assert len(s.stages) == 3      # A, the parts' partial sums, their sum
    assert element_reads(lowered(s, [A, out]), "A") == 512 * 520


def test_column_block_is_whole_rows_up_to_the_cap():
    assert column_block(100, "float32", 8) == 100
    assert column_block(4096, "float32", 8) == 4096
    assert column_block(100000, "float32", 8) == 4096
    assert column_block(100000, "float64", 4) == 2048


# ----------------------------------------------------------------------------- bad arguments

def test_bad_arguments_are_named():
    A = te.placeholder((4, 5), name="A")
    I = te.placeholder((4, 5), "int32", name="I")
    with pytest.raises(TexprError, match=r"argmax: axis 2 is out of range for 2 dimension"):
        topi.argmax(A, axis=2)
    with pytest.raises(TexprError, match=r"mean: axis -3 is out of range"):
        topi.mean(A, axis=-3)
    with pytest.raises(TexprError, match=r"prod: axis 'x' is out of range"):
        topi.prod(A, axis="x")
    with pytest.raises(TexprError, match=r"argmin: axis is an empty list"):
        topi.argmin(A, axis=[])
    with pytest.raises(TexprError, match=r"mean: I has dtype int32; expected a float dtype"):
        topi.mean(I)
    with pytest.raises(TexprError, match=r"topk: k=6 is larger than axis 1 of A \(extent 5\)"):
        topi.topk(A, k=6)
    with pytest.raises(TexprError, match=r"topk: axis 2 is out of range"):
        topi.topk(A, k=1, axis=2)
    with pytest.raises(TexprError, match=r"topk: ret_type must be one of"):
        topi.topk(A, ret_type="value")
    with pytest.raises(TexprError, match=r"topk: dtype \(of the indices\) must be an integer"):
        topi.topk(A, dtype="float32")
    with pytest.raises(TexprError, match=r"where: shapes \[4, 5\] and \[4\] cannot be broadcast"):
        topi.where(I, A, te.placeholder((4,), name="Y"))
    with pytest.raises(TexprError, match=r"where: x \(A, float32\) and y \(I, int32\) must have "
                                          "one dtype"):
        topi.where(I, A, I)
    with pytest.raises(TexprError, match=r"where: condition must be a tensor"):
        topi.where(True, A, A)
    with pytest.raises(TexprError, match=r"transpose: axes \[0, 0\] must name each of the 2 axes"):
        topi.transpose(A, (0, 0))
    with pytest.raises(TexprError, match=r"transpose: axes \[1\] must name each of the 2 axes"):
        topi.transpose(A, (1,))


@pytest.mark.parametrize("target", ["avx2", "avx512"])
@pytest.mark.parametrize("dtype,tile", [("float32", 16), ("int8", 64)])
def test_transpose_tiles_are_one_cache_line_each_way(target, dtype, tile):
    """cpu_transpose.TILE_BYTES: a tile of 64 bytes of elements each way whatever the vector
    width (two AVX-512 vectors each way, 32 x 32 fp32, shared the L1's sets between rows 16
    KiB apart); emitted only."""
    A = te.placeholder((256, 1024), name="A", dtype=dtype)
    B = topi.transpose(A, (1, 0))
    src = emit_source(topi.schedule(B, target), [A, B], target=target, name="kernel")
    assert f"i1_outer < {256 // tile};" in src


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_global_pool_nchw_is_a_one_pass_vectorized_reduction(target):
    """topi.nn.global_pool of NCHW float data runs on the reductions' schedule: each
    channel's H x W read once, in vectors, with no lane-by-lane loop (rows of 56 are no whole
    number of 16-lane vectors: cpu_reduce.row_lanes), equal to NumPy; before, a scalar loop
    nest (0.64 ms for 256 x 56 x 56 against 0.04, Zen 4)."""
    shape = (2, 5, 9, 56)
    A = te.placeholder(shape, name="A")
    a = RNG.standard_normal(shape).astype("float32")
    outs = [topi.nn.global_pool(A, "avg"), topi.nn.global_pool(A, "max")]
    s = topi.schedule(outs, target)
    body = te.lower(s, [A] + outs, target=target).body
    assert vector_loads(body, "A") and not lane_loops(body)
    assert element_reads(body, "A") == 2 * a.size          # once per pool
    f = te.build(s, [A] + outs, target=target, name="global_pools")
    got = [np.zeros((2, 5, 1, 1), "float32") for _ in outs]
    f(a, *got)
    np.testing.assert_allclose(got[0], a.mean(axis=(2, 3), keepdims=True), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[1], a.max(axis=(2, 3), keepdims=True))


@pytest.mark.parametrize("op", ["sum", "mean", "max", "argmax"])
def test_reductions_of_symbolic_extents_match_numpy(op):
    """topi's reductions take te.var extents (one build for every size, issue 19): the rows
    run in vectors with the lowering's tail, equal to NumPy at sizes no vector divides,
    1 and powers of two; the global pool of a symbolic NCHW plane is such a mean / max."""
    R, W = te.var("R"), te.var("W")
    A = te.placeholder((3, R, W), name="A")
    out = topi.argmax(A, axis=2) if op == "argmax" else getattr(topi, op)(A, axis=(1, 2))
    f = te.build(topi.schedule(out, "native"), [A, out], target="native", name="sym_" + op)
    for r, w in ((1, 1), (2, 37), (5, 16), (4, 64), (3, 129)):
        a = RNG.standard_normal((3, r, w)).astype("float32")
        want = a.argmax(axis=2) if op == "argmax" else getattr(np, op)(a, axis=(1, 2))
        got = np.zeros(want.shape, out.dtype)
        f(a, got)
        if op in ("max", "argmax"):
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("target", ["avx2", "avx512", "native"])
def test_symbolic_global_pool_accumulates_in_registers(target):
    """global_pool / max over H, W of a symbolic N x C x H x W: the row's vector accumulators
    are register variables (the rfactor's local cache, promoted; the masked tail of each row
    blends into them: vectorize._whole_private), with no lane loop and no run-time index
    check (the fused loop's // 1 // C is proven below N); equal to NumPy at sizes no vector
    divides."""
    n, h, w = te.var("n"), te.var("h"), te.var("w")
    A = te.placeholder((n, 3, h, w), name="A")
    outs = [topi.nn.global_pool(A, "avg"), topi.max(A, axis=(2, 3))]
    s = topi.schedule(outs, target)
    body = te.lower(s, [A] + outs, target=target).body
    regs = [x for x in walk(body) if isinstance(x, ir.DeclareVars)]
    assert len(regs) == 2 and not lane_loops(body), body
    assert not [x for x in walk(body) if isinstance(x, ir.CheckedIndex)], body
    assert not [x for x in walk(body) if isinstance(x, ir.BufferStore) and
                x.predicate is not None and "rf" in x.buffer.name], body
    f = te.build(s, [A] + outs, target=target, name="sym_global_pools")
    for shape in ((1, 3, 1, 1), (2, 3, 5, 7), (1, 3, 3, 17), (2, 3, 9, 8), (1, 3, 4, 33)):
        a = RNG.standard_normal(shape).astype("float32")
        got = [np.zeros(shape[:2] + (1, 1), "float32"), np.zeros(shape[:2], "float32")]
        f(a, *got)
        np.testing.assert_allclose(got[0], a.mean(axis=(2, 3), keepdims=True), rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_array_equal(got[1], a.max(axis=(2, 3)))


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_global_pool_of_short_rows_reads_the_plane_as_one_row(target):
    """Rows of 28 are shorter than two 16-lane vectors, but a channel's 28 x 28 plane is one
    contiguous row of 784 floats (cpu_reduce._contiguous_run): whole vectors, no lane loop,
    no index division left (before: the scalar default schedule, 0.039 ms for 64 x 28 x 28
    against 0.003, Zen 4); equal to NumPy."""
    shape = (1, 6, 28, 28)
    A = te.placeholder(shape, name="A")
    out = topi.nn.global_pool(A, "avg")
    s = topi.schedule(out, target)
    body = te.lower(s, [A, out], target=target).body
    assert vector_loads(body, "A") and not lane_loops(body), body
    assert not [x for x in walk(body) if isinstance(x, BinOp) and x.op in ("//", "%")], body
    assert element_reads(body, "A") == np.prod(shape)
    a = RNG.standard_normal(shape).astype("float32")
    got = te.build(s, [A, out], target=target, name="short_rows")(a)
    np.testing.assert_allclose(got, a.mean(axis=(2, 3), keepdims=True), rtol=1e-5, atol=1e-6)


def test_reduce_axes_over_part_of_a_dimension_are_not_one_row():
    """sum over rows 0..4 of 8 and columns 1..36 of 40: each column run is apart, so the
    axes are not fused (the rows' stride is 40, not the run's 36); equal to NumPy."""
    A = te.placeholder((3, 8, 40), name="A")
    ry, rx = te.reduce_axis((0, 5), "ry"), te.reduce_axis((0, 40), "rx")
    out = te.compute((3,), lambda i: te.sum(A[i, ry, rx], axis=[ry, rx]), name="part",
                     tag="reduce")
    a = RNG.standard_normal((3, 8, 40)).astype("float32")
    for target in ("avx2", "avx512"):
        got = te.build(topi.schedule(out, target), [A, out], target=target, name="part")(a)
        np.testing.assert_allclose(got, a[:, :5].sum(axis=(1, 2)), rtol=1e-5, atol=1e-5)
    assert [iv.var.name for iv in cpu_reduce._contiguous_run(
        te.create_schedule(out.op)[out], cpu_reduce._data_load(out.op))] == ["ry", "rx"]
    ry2, rx2 = te.reduce_axis((0, 5), "ry"), te.reduce_axis((1, 37), "rx")
    out2 = te.compute((3,), lambda i: te.sum(A[i, ry2, rx2], axis=[ry2, rx2]), name="part2",
                      tag="reduce")
    assert not cpu_reduce._contiguous_run(te.create_schedule(out2.op)[out2],
                                          cpu_reduce._data_load(out2.op))
    got = te.build(topi.schedule(out2, "avx512"), [A, out2], target="avx512", name="part2")(a)
    np.testing.assert_allclose(got, a[:, :5, 1:37].sum(axis=(1, 2)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_symbolic_rows_accumulate_in_several_registers(target):
    """A row sum of symbolic length keeps SYMBOLIC_ROW_ACCUMULATORS vector accumulators in
    registers: the unrolled vectors of its last block are masked one by one
    (loop_partition._masked_vectors), none runs lane by lane; equal to NumPy at lengths
    below, between and above the blocks."""
    n, w = te.var("n"), te.var("w")
    A = te.placeholder((n, w), name="A")
    out = topi.sum(A, axis=1)
    s = topi.schedule(out, target)
    body = te.lower(s, [A, out], target=target).body
    regs = [x for x in walk(body) if isinstance(x, ir.DeclareVars)]
    assert cpu_reduce.SYMBOLIC_ROW_ACCUMULATORS > 1
    assert len(regs) == 1 and len(regs[0].vars) == cpu_reduce.SYMBOLIC_ROW_ACCUMULATORS, body
    assert not lane_loops(body), body
    f = te.build(s, [A, out], target=target, name="sym_rows")
    for shape in ((3, 1), (2, 7), (2, 8), (3, 33), (2, 100), (1, 1000)):
        a = RNG.standard_normal(shape).astype("float32")
        np.testing.assert_allclose(f(a), a.sum(axis=1), rtol=1e-5, atol=1e-5)


def test_constant_row_tail_blends_into_its_accumulator():
    """avx512 masks a constant row's partial last vector (196 = 4 x 48 + 4 floats of a 14 x 14
    plane, 6 accumulators): the unrolled block is unrolled before partitioning
    (loop_partition._masked_vectors), so the tail's accumulator index is a constant and the
    tail blends into it and stores it whole (a masked store read back whole stalled store
    forwarding: 0.0029 ms against 0.0016, Zen 4); equal to NumPy."""
    shape = (1, 6, 14, 14)
    A = te.placeholder(shape, name="A")
    out = topi.nn.global_pool(A, "avg")
    s = topi.schedule(out, "avx512")
    body = te.lower(s, [A, out], target="avx512").body
    assert not [x for x in walk(body) if isinstance(x, ir.BufferStore) and
                x.predicate is not None and "rf" in x.buffer.name], body
    assert not lane_loops(body) and element_reads(body, "A") == np.prod(shape)
    a = RNG.standard_normal(shape).astype("float32")
    got = te.build(s, [A, out], target="avx512", name="row_tail")(a)
    np.testing.assert_allclose(got, a.mean(axis=(2, 3), keepdims=True), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("target", ["native", "avx512"])
def test_argmax_and_argmin_give_the_first_nan_as_numpy(target):
    """A NaN is the answer of argmax and argmin (NumPy: the first NaN; select_last_index:
    the last), in the vector body, its tail and across the lanes; NaN rows, rows of equal
    values and NaN at either end included; the index update stays vector selects."""
    n = 77
    a = RNG.random((8, n), dtype=np.float32)
    a[0, 1] = a[1, n - 1] = a[2, 0] = np.nan
    a[3, n // 3] = a[3, n // 2] = np.nan
    a[4, :] = np.nan
    a[5, :] = 1.0
    a[6, 40:] = np.nan
    A = te.placeholder(a.shape, name="A")
    cases = [(topi.argmax(A, axis=1), ref.argmax_ref(a, 1)),
             (topi.argmin(A, axis=1), ref.argmin_ref(a, 1)),
             (topi.argmax(A, axis=1, select_last_index=True), ref.argmax_ref(a, 1, False, True)),
             (topi.argmin(A, axis=0), ref.argmin_ref(a, 0))]
    run_all(cases, [A], [a], target)
    assert ref.argmax_ref(a, 1)[3] == n // 3 and ref.argmax_ref(a, 1, False, True)[3] == n // 2
    out = topi.argmax(A, axis=1)
    assert not lane_loops(lowered(topi.schedule(out, target), [A, out]))


def test_topk_orders_nan_above_every_number():
    """NaN is the greatest value (NumPy's sort order, torch.topk's): first among the k
    greatest in index order, never among the k least while numbers are left; the reference
    agrees with NumPy's stable sort."""
    a = RNG.standard_normal((5, 23)).astype(np.float32)
    a[0, 4] = a[0, 17] = np.nan
    a[1, :] = np.nan
    a[2, 22] = np.nan
    a[3, 0], a[3, 1] = np.inf, np.nan
    a[4, ::3] = np.nan
    want = ref.topk_ref(a, 4)
    assert np.isnan(want[0][0, :2]).all() and list(want[1][0, :2]) == [4, 17]
    assert list(ref.topk_ref(a, 23, is_ascend=True)[1][2]) == list(np.argsort(a[2], kind="stable"))
    A = te.placeholder(a.shape, name="A")
    cases = [(topi.topk(A, k=4), want),
             (topi.topk(A, k=3, is_ascend=True), ref.topk_ref(a, 3, is_ascend=True)),
             (topi.topk(A, k=2, axis=0), ref.topk_ref(a, 2, axis=0))]
    outs = [o for got, _ in cases for o in got]
    f = te.build(topi.schedule(outs, "native"), [A] + outs, target="native")
    res = [np.empty([int(d) for d in o.shape], o.dtype) for o in outs]
    f(a, *res)
    for got, w in zip(res, [x for _, want_ in cases for x in want_]):
        np.testing.assert_array_equal(got, w)


@settings(max_examples=8, deadline=None)
@given(shape=st.lists(st.integers(1, 70), min_size=1, max_size=3), data=st.data(),
       ascend=st.booleans())
def test_topk_equals_the_stable_sort_on_ties_nans_and_infinities(shape, data, ascend):
    """topk's fill of the first k, its chunks of 16 compared with the k-th in one vector
    (a movemask), its held k-th and its insertions from the bottom agree with the reference
    (a stable sort, NaN greatest) on data of many ties, NaNs and infinities, any axis and k
    (axes up to 70 long: whole chunks and a partial last one)."""
    axis = data.draw(st.integers(0, len(shape) - 1))
    k = data.draw(st.integers(0, shape[axis]))
    seed = data.draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    pool = np.array([0.0, 1.0, -1.0, 2.5, np.nan, np.inf, -np.inf], np.float32)
    if data.draw(st.booleans()):        # few ties: most chunks have no candidate
        a = rng.standard_normal(shape).astype(np.float32)
        a.flat[rng.integers(0, a.size, 2)] = np.nan
    else:
        a = rng.choice(pool, size=shape)
    A = te.placeholder(shape, name="A")
    outs = topi.topk(A, k=k, axis=axis, is_ascend=ascend)
    f = te.build(topi.schedule(outs, "native"), [A] + outs, target="native")
    res = [np.empty([int(d) for d in o.shape], o.dtype) for o in outs]
    f(a, *res)
    for got, want in zip(res, ref.topk_ref(a, k, axis, is_ascend=ascend)):
        np.testing.assert_array_equal(got, want)
