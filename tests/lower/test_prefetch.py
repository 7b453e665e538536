"""lower/cpu/prefetch.py: pragma(axis, "prefetch", p) fetches the rows the loop's data-dependent
loads will read p iterations later, reading index arrays only in bounds."""
import importlib

import numpy as np
import pytest

import texpr as te
from texpr.lower.flatten import flatten_storage
from texpr.lang.ir import For, IfThenElse, Prefetch
from texpr.lower.schedule_ops import schedule_to_stmt
from texpr.lower.simplify_pass import simplify_stmt
from texpr.lang.visitor import free_vars, walk

inject_prefetch = importlib.import_module("texpr.lower.cpu.prefetch").inject_prefetch


def sls(D=32, distance=4, vector=8, V=None):
    V = V or te.var("V")
    B, L = te.var("B"), te.var("L")
    data = te.placeholder((V, D), name="data")
    idx = te.placeholder((L,), "int32", name="indices")
    lens = te.placeholder((B,), "int32", name="lengths")
    off = te.exclusive_scan(lens, name="offsets")

    def bag(b, d):
        k = te.reduce_axis((off[b], off[b + 1]), name="k")
        return te.sum(data[idx[k], d], axis=k)
    out = te.compute((B, D), bag, name="sls")
    s = te.create_schedule(out.op)
    b, d = out.op.axis
    (k,) = out.op.reduce_axis
    do, di = s[out].split(d, vector)
    s[out].reorder(b, k, do, di)
    s[out].vectorize(di)
    if distance is not None:
        s[out].pragma(k, "prefetch", distance)
    return s, [data, idx, lens, out]


def before_prefetch(s, args):
    low, body = schedule_to_stmt(s, args, "f")
    return simplify_stmt(flatten_storage(body), {v: (0, 10**9) for v in low.shape_vars})


def ref(x, ii, lens):
    off = np.concatenate([[0], np.cumsum(lens)]).astype(int)
    return np.stack([x[ii[off[b]:off[b + 1]]].sum(0) for b in range(len(lens))])


def test_prefetch_rows_ahead_guarded_by_the_index_array():
    s, args = sls(D=32, distance=4)
    body = inject_prefetch(before_prefetch(s, args))
    (k_loop,) = [n for n in walk(body) if isinstance(n, For) and n.var.name == "k"]
    first = k_loop.body.stmts[0]
    assert isinstance(first, IfThenElse)
    fetches = [n for n in walk(first.then_case) if isinstance(n, Prefetch)]
    # a row of 32 floats = 2 lines, plus the line of its last element (rows not aligned)
    assert len(fetches) == 3 and all(f.buffer.name == "data" for f in fetches)
    text = str(te.lower(s, args))
    assert "prefetch data[int64(indices[offsets[b] + k + 4]) * 32]" in text
    assert "prefetch data[int64(indices[offsets[b] + k + 4]) * 32 + 16]" in text
    # the index array is read only at a position inside it, the row only if it exists
    assert "if (uint32(offsets[b] + k + 4) < uint32(L) && uint32(indices[offsets[b] + k + 4]) " \
           "< uint32(V))" in text
    # guards and addresses use no variable of the loops inside the body
    inner = {n.var for n in walk(k_loop.body) if isinstance(n, For)}
    assert not (free_vars(first.cond) & inner)


def test_prefetch_reaches_c_and_results_are_unchanged():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 20)).astype("float32")
    lens = np.array([3, 0, 9, 1, 0, 4], "int32")
    ii = rng.integers(0, 30, int(lens.sum()) + 2).astype("int32")
    for target in ("c", "avx2", "avx512"):
        for p in (None, 0, 1, 4, 100):
            s, args = sls(D=20, distance=p, V=30)
            f = te.build(s, args, target=target)
            assert ("__builtin_prefetch(&data[" in f.source) == bool(p)
            out = np.empty((len(lens), 20), "float32")
            f(x, ii, lens, out)
            np.testing.assert_allclose(out, ref(x, ii, lens), rtol=1e-5, atol=1e-5)


def test_prefetch_reads_nothing_out_of_bounds_and_reports_nothing():
    """Positions past the last bag are prefetched (their index is read, in bounds) but a bad
    index there is not an error: only the loads that execute are checked."""
    s, args = sls(D=8, distance=3, V=10)
    f = te.build(s, args, target="c")
    x = np.ones((10, 8), "float32")
    lens = np.array([2, 2], "int32")
    ii = np.array([1, 2, 3, 4, 999, -5], "int32")       # trailing bad indices, never used
    out = np.empty((2, 8), "float32")
    f(x, ii, lens, out)
    np.testing.assert_array_equal(out, np.full((2, 8), 2.0, "float32"))
    ii[3] = 10
    with pytest.raises(te.TexprError, match=r"indices\[3\] = 10 is out of range"):
        f(x, ii, lens, out)


def test_loops_without_data_dependent_loads_are_unchanged():
    A = te.placeholder((64, 16), name="A")
    B = te.compute((64, 16), lambda i, j: A[i, j] * 2.0, name="B")
    s = te.create_schedule(B.op)
    s[B].pragma(B.op.axis[0], "prefetch", 4)
    body = before_prefetch(s, [A, B])
    assert inject_prefetch(body) is body


def test_inner_reduction_loops_are_spanned_not_guarded():
    """A block row (two reduction loops, the inner one walking a block's columns): the guard
    uses the block's first column, the prefetches cover the block."""
    K, bc = 16, 4
    x = te.placeholder((K,), name="x")
    wi = te.placeholder((5,), "int32", name="wi")
    wp = te.placeholder((3,), "int32", name="wp")

    def f(n):
        j = te.reduce_axis((wp[n], wp[n + 1]), name="j")
        c = te.reduce_axis((0, bc), name="c")
        return te.sum(x[wi[j] * bc + c], axis=[j, c])
    y = te.compute((2,), f, name="y")
    s = te.create_schedule(y.op)
    s[y].pragma(y.op.reduce_axis[0], "prefetch", 2)
    body = inject_prefetch(before_prefetch(s, [x, wi, wp, y]))
    (j_loop,) = [n for n in walk(body) if isinstance(n, For) and n.var.name == "j"]
    guard = j_loop.body.stmts[0]
    assert isinstance(guard, IfThenElse)
    assert not any(v.name == "c" for v in free_vars(guard))
    mod = te.build(s, [x, wi, wp, y], target="c")
    xv = np.arange(K, dtype="float32")
    out = np.empty(2, "float32")
    mod(xv, np.array([0, 3, 1, 2, 0], "int32"), np.array([0, 2, 5], "int32"), out)
    blk = xv.reshape(4, 4).sum(1)
    np.testing.assert_allclose(out, [blk[0] + blk[3], blk[1] + blk[2] + blk[0]])


def test_prefetch_on_a_vectorized_loop_is_an_error():
    s, args = sls(D=16, distance=None)
    st = s[args[-1]]
    vec = st.leaf_iter_vars[-1]
    st.pragma(vec, "prefetch", 2)
    with pytest.raises(te.LoweringError, match="vectorized"):
        te.lower(s, args)


def test_prefetch_pair_fetches_the_first_line_further_ahead():
    s, args = sls(D=32, distance=(2, 5))
    body = inject_prefetch(before_prefetch(s, args))
    (k_loop,) = [n for n in walk(body) if isinstance(n, For) and n.var.name == "k"]
    far, near = k_loop.body.stmts[0], k_loop.body.stmts[1]
    assert isinstance(far, IfThenElse) and isinstance(near, IfThenElse)
    assert len([n for n in walk(far.then_case) if isinstance(n, Prefetch)]) == 1
    assert len([n for n in walk(near.then_case) if isinstance(n, Prefetch)]) == 3
    text = str(te.lower(s, args))
    assert "prefetch data[int64(indices[offsets[b] + k + 5]) * 32]\n" in text
    assert "prefetch data[int64(indices[offsets[b] + k + 5]) * 32 + 16]" not in text
    assert "prefetch data[int64(indices[offsets[b] + k + 2]) * 32 + 16]" in text
    assert "uint32(offsets[b] + k + 5) < uint32(L) && uint32(indices[offsets[b] + k + 5])" in text


@pytest.mark.parametrize("bad", [(0, 4), (4, 4), (5, 2), (1, 2, 3), (1, "x"), (True, 3)])
def test_prefetch_pair_must_be_increasing_positive(bad):
    s, args = sls(D=8, distance=None)
    k = args[-1].op.reduce_axis[0]
    with pytest.raises(te.TexprError, match=r"pragma prefetch on axis k: a pair must be \(p, q\)"):
        s[args[-1]].pragma(k, "prefetch", bad)


def test_prefetch_pair_results_are_unchanged():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 20)).astype("float32")
    lens = np.array([5, 0, 11, 1, 7], "int32")
    ii = rng.integers(0, 40, int(lens.sum())).astype("int32")
    for target in ("c", "avx512"):
        s, args = sls(D=20, distance=(3, 8), V=40)
        f = te.build(s, args, target=target)
        assert f.source.count("__builtin_prefetch(&data[") == 1 + 3    # first line + 2 lines + end
        out = np.empty((len(lens), 20), "float32")
        f(x, ii, lens, out)
        np.testing.assert_allclose(out, ref(x, ii, lens), rtol=1e-5, atol=1e-5)


def rows_scaled(cols=100, vector=16):
    """out[i, j] = x[i, j] * g[j]: rows of x (a stream that moves with the row loop too), g
    read the same for every row; the row loop split into vectors, pragma prefetch_next."""
    X = te.placeholder((6, cols), name="X")
    G = te.placeholder((cols,), name="G")
    out = te.compute((6, cols), lambda i, j: X[i, j] * G[j], name="out")
    s = te.create_schedule(out.op)
    jo, ji = s[out].split(out.op.axis[1], vector)
    s[out].vectorize(ji)
    s[out].pragma(jo, "prefetch_next", cols)
    return s, [X, G, out]


def test_prefetch_next_fetches_the_next_rows_lines_of_the_row_stream_only():
    """One prefetch per line the body reads (16 floats: one line; 32: two), cols elements
    further on (the next row); G (the same for every row) and unmarked loops get none."""
    for vector, lines in ((16, 1), (32, 2)):
        s, args = rows_scaled(vector=vector)
        body = inject_prefetch(before_prefetch(s, args))
        (jo,) = [n for n in walk(body) if isinstance(n, For) and n.var.name == "j.outer"]
        fetches = [n for n in walk(jo) if isinstance(n, Prefetch)]
        assert len(fetches) == lines and all(f.buffer.name == "X" for f in fetches)
        text = str(te.lower(s, args))
        assert f"prefetch X[i * 100 + j.outer * {vector} + 100]" in text
        assert (f"prefetch X[i * 100 + j.outer * {vector} + 116]" in text) == (lines == 2)
        assert "prefetch G" not in text


def test_prefetch_next_results_are_unchanged_and_bad_values_refused():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 100)).astype("float32")
    g = rng.standard_normal(100).astype("float32")
    for target in ("c", "avx2", "avx512"):
        s, args = rows_scaled()
        f = te.build(s, args, target=target)
        assert "__builtin_prefetch(&X[" in f.source and "__builtin_prefetch(&G[" not in f.source
        out = np.empty((6, 100), "float32")
        f(x, g, out)
        np.testing.assert_allclose(out, x * g, rtol=1e-6)
    s, args = rows_scaled()
    jo = s[args[-1]].leaf_iter_vars[1]
    for bad in (0, -3, 2.5, True, None):
        with pytest.raises(te.TexprError, match=r"pragma prefetch_next on axis j.outer: value "
                                                r"must be a positive int"):
            s[args[-1]].pragma(jo, "prefetch_next", bad)
