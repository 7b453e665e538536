"""rfactor, cache_read, cache_write, storage_align, pragma and parallel loops, built and run."""
import re
import numpy as np
import pytest

import texpr as te
from texpr import testing as tt
from texpr.lang import ir

from support.irutil import stmts
from support.parallel import parallel_loops
from texpr.targets.registry import get_target

RNG = np.random.default_rng(7)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


# ----------------------------------------------------------------------------- rfactor

def test_rfactor_inner_split_with_where_vectorized_and_parallel():
    n = te.var("n")
    A = te.placeholder((n, 37), name="A")
    k = te.reduce_axis((0, 37), name="k")
    B = te.compute((n,), lambda i: te.sum(A[i, k], axis=k, where=A[i, k] > 0), name="B")
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(k, factor=8)                  # 8 does not divide 37
    R = s.rfactor(B, ki)
    assert [st.name for st in s.stages] == ["A", "B.rf", "B"]
    assert R.ndim == 2 and R.shape[0].value == 8      # factor_axis=0: the rfactor axis first
    s[R].vectorize(s[R].op.axis[0])
    s[R].parallel(s[R].op.axis[1])
    a = rand(5, 37)
    for target in ("c", "native"):
        tt.check_kernel(s, [A, B], lambda a: np.where(a > 0, a, 0).sum(1), [a], target=target)


def test_rfactor_outer_part_of_max_at_factor_axis_1_computed_at_consumer():
    n = te.var("n")
    A = te.placeholder((n, 37), name="A")
    k = te.reduce_axis((0, 37), name="k")
    C = te.compute((n,), lambda i: te.max(A[i, k], axis=k), name="C")
    s = te.create_schedule(C.op)
    ko, ki = s[C].split(k, nparts=4)
    R = s.rfactor(C, ko, factor_axis=1)
    assert R.shape[1].value == 4
    s[R].compute_at(s[C], s[C].op.axis[0])
    tt.check_kernel(s, [A, C], lambda a: a.max(1), [rand(6, 37)], target="c")


def test_rfactor_of_an_unsplit_axis_of_two():
    A = te.placeholder((6, 5, 4), name="A")
    r1 = te.reduce_axis((0, 5), name="r1")
    r2 = te.reduce_axis((0, 4), name="r2")
    B = te.compute((6,), lambda i: te.sum(A[i, r1, r2], axis=[r1, r2]), name="B")
    s = te.create_schedule(B.op)
    R = s.rfactor(B, r2)
    assert len(s[R].op.reduce_axis) == 1               # r1 is still reduced in B.rf
    assert s[R].op.reduce_axis[0] is r1                # untouched: TVM keeps the same axis
    s[R].parallel(s[R].op.axis[0])
    tt.check_kernel(s, [A, B], lambda a: a.sum((1, 2)), [rand(6, 5, 4)], target="c")


def test_rfactor_keeps_untouched_axes_first_and_split_loop_variables():
    """As TVM: B.rf reduces over the root axes nothing split (the same IterVars), then the
    other leaves, whose loop variables it keeps."""
    n = te.var("n")
    A = te.placeholder((n, n, 5), name="A")
    k1, k2 = te.reduce_axis((0, n), name="k1"), te.reduce_axis((0, 5), name="k2")
    B = te.compute((n,), lambda i: te.sum(A[i, k1, k2], axis=[k1, k2]), name="B")
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(k1, factor=4)
    R = s.rfactor(B, ki)
    red = s[R].op.reduce_axis
    assert red[0] is k2 and red[1].var is ko.var and len(red) == 2
    a = rand(7, 7, 5)
    tt.check_kernel(s, [A, B], lambda a: a.sum((1, 2)), [a], target="c")


def _masked_rowsum():
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((n, m), name="A")
    k = te.reduce_axis((0, m), name="k")
    B = te.compute((n,), lambda i: te.sum(A[i, k], axis=k, where=te.all(k <= i, A[i, k] > 0.0)),
                   name="B")

    def ref(a):
        rows, cols = a.shape
        mask = (np.arange(cols)[None, :] <= np.arange(rows)[:, None]) & (a > 0)
        return np.where(mask, a, 0).sum(axis=1)
    return A, B, k, ref


def test_rfactor_of_a_fused_symbolic_split_keeps_its_bound_guard():
    """Regression: the guard k < m of a split by nparts of a symbolic extent was dropped
    (it mentions m, which rfactor did not count as a reduction variable): reads past the row."""
    A, B, k, ref = _masked_rowsum()
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(k, nparts=2)
    R = s.rfactor(B, s[B].fuse(ko, ki))
    f = te.lower(s, [A, B], simple_mode=True)
    from support.irutil import interpret
    a = RNG.random((5, 7), dtype="float32")           # 7 rows of 2 * 4 = 8 > 7 columns
    b = np.full(5, np.nan, "float32")
    interpret(f, [a, b], {v: {"n": 5, "m": 7}[v.name] for v in f.shape_vars})
    np.testing.assert_allclose(b, ref(a), rtol=1e-5)
    tt.check_kernel(s, [A, B], ref, [a], target="c")


def test_rfactor_checks_the_bound_before_the_where_condition_loads():
    """Regression: in `where && k < m` the load in `where` ran before the bound check."""
    A, B, k, ref = _masked_rowsum()
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(k, factor=2)
    R = s.rfactor(B, ko)
    cond = R.op.body[0].where
    assert cond.op == "&&" and "A[" not in str(cond.a)      # the bound comes first
    tt.check_kernel(s, [A, B], ref, [RNG.random((4, 5), dtype="float32")], target="c")


# ----------------------------------------------------------------------------- cache_read / write

@pytest.mark.parametrize("scope", ["global", "local", "shared"])
def test_cache_read_then_compute_at(scope):
    A = te.placeholder((12, 16), name="A")
    B = te.compute((12, 14), lambda i, j: A[i, j] + A[i, j + 1] + A[i, j + 2], name="B")
    s = te.create_schedule(B.op)
    AA = s.cache_read(A, scope, [B])
    assert AA.name == f"A.{scope}"
    assert [st.name for st in s.stages] == ["A", f"A.{scope}", "B"]
    io, ii = s[B].split(B.op.axis[0], factor=5)
    s[AA].compute_at(s[B], io)
    f = te.lower(s, [A, B], simple_mode=True)
    (alloc,) = stmts(f.body, ir.Allocate)
    assert alloc.buffer.scope == scope and alloc.buffer.shape[0].value == 5   # one row block
    ref = lambda a: a[:, :14] + a[:, 1:15] + a[:, 2:]
    tt.check_kernel(s, [A, B], ref, [rand(12, 16)], target="c")


def test_cache_read_for_two_readers():
    A = te.placeholder((10,), name="A")
    B = te.compute((10,), lambda i: A[i] * 2.0, name="B")
    C = te.compute((10,), lambda i: A[i] + B[i], name="C")
    s = te.create_schedule(C.op)
    AA = s.cache_read(A, "local", [B, C])
    assert s[AA] in s.readers(s[A]) and len(s.readers(s[AA])) == 2
    tt.check_kernel(s, [A, C], lambda a: a + 2 * a, [rand(10)], target="c")


def test_cache_write_register_tile_matmul():
    """The register-tiling recipe: cache_write local, tile, compute_at, unroll, vectorize."""
    M, N, K = 12, 24, 9
    A = te.placeholder((M, K), name="A")
    B = te.placeholder((K, N), name="B")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = te.create_schedule(C.op)
    CC = s.cache_write(C, "local")
    assert CC.name == "C.local" and s[CC].scope == "local"
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 8)
    s[CC].compute_at(s[C], jo)
    i2, j2 = s[CC].op.axis
    (kk,) = s[CC].op.reduce_axis
    s[CC].reorder(kk, i2, j2)
    s[CC].unroll(i2)
    s[CC].vectorize(j2)
    s[C].unroll(ii)
    s[C].vectorize(ji)
    s[C].parallel(io)
    f = te.lower(s, [A, B, C])
    assert stmts(f.body, ir.DeclareVars), "the 4x8 tile should live in registers"
    a, b = rand(M, K), rand(K, N)
    for target in ("c", "native"):
        tt.check_kernel(s, [A, B, C], lambda a, b: a @ b, [a, b], target=target)


# ----------------------------------------------------------------------------- storage_align

def test_storage_align_pads_the_intermediate_buffer():
    A = te.placeholder((6, 10), name="A")
    B = te.compute((6, 10), lambda i, j: A[i, j] * 3.0, name="B")
    C = te.compute((6, 10), lambda i, j: B[i, j] + 1.0, name="C")
    s = te.create_schedule(C.op)
    s[B].storage_align(B.op.axis[0], 16, 3)
    f = te.lower(s, [A, C])
    (alloc,) = stmts(f.body, ir.Allocate)
    assert alloc.buffer.strides[0].value == 19          # 10 rounded up to 16k + 3
    tt.check_kernel(s, [A, C], lambda a: a * 3 + 1, [rand(6, 10)], target="c")


def test_storage_align_with_compute_at():
    A = te.placeholder((8, 9), name="A")
    B = te.compute((8, 9), lambda i, j: A[i, j] * 3.0, name="B")
    C = te.compute((8, 9), lambda i, j: B[i, j] + 1.0, name="C")
    s = te.create_schedule(C.op)
    s[B].storage_align(B.op.axis[0], 4, 1)
    io, ii = s[C].split(C.op.axis[0], factor=3)
    s[B].compute_at(s[C], io)
    tt.check_kernel(s, [A, C], lambda a: a * 3 + 1, [rand(8, 9)], target="c")


# ----------------------------------------------------------------------------- pragma

def test_pragmas_reach_the_source_and_compile():
    A = te.placeholder((20, 12), name="A")
    B = te.compute((20, 12), lambda i, j: A[i, j] * 2.0, name="B")
    s = te.create_schedule(B.op)
    i, j = B.op.axis
    s[B].pragma(j, "unroll", 4)
    s[B].pragma(j, "ivdep")
    s[B].pragma(i, "comment", "rows */ of A")
    s[B].pragma(i, "prefetch", 2)
    mod, _ = tt.check_kernel(s, [A, B], lambda a: a * 2, [rand(20, 12)], target="c")
    src = mod.source
    assert "#pragma GCC unroll 4" in src and "#pragma GCC ivdep" in src
    assert "/* rows * / of A */" in src


@pytest.mark.parametrize("target", ["c", "avx2"])
def test_no_predictive_commoning_compiles_the_kernel_without_it(target):
    """The pragma on any loop (parallel included) puts GCC's optimize pragma before the
    kernel's functions, once; a kernel without it has none; the result is unchanged."""
    A = te.placeholder((20, 12), name="A")
    B = te.compute((20, 12), lambda i, j: A[i, j] * 3.0, name="B")
    s = te.create_schedule(B.op)
    i, j = B.op.axis
    s[B].parallel(i)
    s[B].pragma(i, "no_predictive_commoning")
    s[B].pragma(j, "no_predictive_commoning")
    mod, _ = tt.check_kernel(s, [A, B], lambda a: a * 3, [rand(20, 12)], target=target)
    assert mod.source.count('#pragma GCC optimize ("no-predictive-commoning")') == 1
    assert mod.source.index("#pragma GCC optimize") < mod.source.index("static void")
    plain = te.create_schedule(B.op)
    mod, _ = tt.check_kernel(plain, [A, B], lambda a: a * 3, [rand(20, 12)], target=target)
    assert "predictive" not in mod.source


def test_pragmas_on_a_parallel_loop_still_compile():
    A = te.placeholder((20, 12), name="A")
    B = te.compute((20, 12), lambda i, j: A[i, j] + 1.0, name="B")
    s = te.create_schedule(B.op)
    i, j = B.op.axis
    s[B].parallel(i)
    s[B].pragma(i, "unroll", 2)
    s[B].pragma(i, "ivdep")
    s[B].pragma(i, "omp_simd")
    s[B].pragma(j, "omp_simd")
    s[B].pragma(j, "unroll", 3)
    mod, _ = tt.check_kernel(s, [A, B], lambda a: a + 1, [rand(20, 12)], target="c")
    # the parallel loop keeps its simd pragma (in the outlined body with texpr's pool)
    assert parallel_loops(mod.source) == 1
    assert re.search(r"#pragma omp (parallel for )?simd[^\n]*\n\s*for \(int32_t i\b", mod.source)


def test_unroll_pragma_twice_and_with_unroll_annotation():
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] - 1.0, name="B")
    s = te.create_schedule(B.op)
    (i,) = B.op.axis
    io, ii = s[B].split(i, factor=4)
    s[B].unroll(ii)                     # partitioned tail: a symbolic extent, so a pragma
    s[B].pragma(ii, "unroll", 1)
    s[B].pragma(ii, "unroll", 2)
    tt.check_kernel(s, [A, B], lambda a: a - 1, [rand(11)], target="c")


# ----------------------------------------------------------------------------- parallel

def _parallel_kernel():
    n = te.var("n")
    A = te.placeholder((n, 64), name="A")
    k = te.reduce_axis((0, 64), name="k")
    B = te.compute((n,), lambda i: te.sum(A[i, k] * A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    io, ii = s[B].split(B.op.axis[0], factor=3)
    s[B].parallel(io)
    return te.build(s, [A, B], target="c", name="sumsq")


@pytest.mark.parametrize("threads", ["1", "2", "7"])
def test_parallel_loop_with_texpr_num_threads(monkeypatch, threads):
    from texpr.targets.runtime.module import num_threads
    monkeypatch.setenv("TEXPR_NUM_THREADS", threads)
    assert num_threads() == int(threads)
    f = _parallel_kernel()
    assert parallel_loops(f.source) == 1
    a = rand(50, 64)
    b = np.full(50, np.nan, "float32")
    f(a, b)
    np.testing.assert_allclose(b, (a * a).sum(1), rtol=1e-5)
    assert f._threads == int(threads)       # the module passed the count to the kernel
    if get_target("c").parallel_runtime == "texpr":
        from texpr.targets.runtime import pool
        assert pool.last_threads() == int(threads)      # and the pool ran on that many


@pytest.mark.parametrize("value", ["", "0", "-3", "many"])
def test_bad_texpr_num_threads_falls_back_to_cpu_count(monkeypatch, value):
    import os
    from texpr.targets.runtime.module import num_threads
    monkeypatch.setenv("TEXPR_NUM_THREADS", value)
    assert num_threads() == (os.cpu_count() or 1)


def test_parallel_fused_outer_axes():
    A = te.placeholder((5, 7, 3), name="A")
    B = te.compute((5, 7, 3), lambda i, j, k: A[i, j, k] * 0.5, name="B")
    s = te.create_schedule(B.op)
    i, j, k = B.op.axis
    f = s[B].fuse(i, j)
    s[B].parallel(f)
    tt.check_kernel(s, [A, B], lambda a: a * 0.5, [rand(5, 7, 3)], target="native")
