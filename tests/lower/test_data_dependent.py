"""Data-dependent indexing, ragged reductions, exclusive scan, and the index checks."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te


def sls_kernel(V, D, target="native", vector=8, symbolic=True):
    B = te.var("B") if symbolic else 5
    L = te.var("L") if symbolic else 12
    data = te.placeholder((V, D), name="data")
    idx = te.placeholder((L,), "int32", name="indices")
    lengths = te.placeholder((B,), "int32", name="lengths")
    off = te.exclusive_scan(lengths, name="offsets")

    def bag(b, d):
        k = te.reduce_axis((off[b], off[b + 1]), name="k")
        return te.sum(data[idx[k], d], axis=k)
    out = te.compute((B, D), bag, name="sls")
    s = te.create_schedule(out.op)
    b, d = out.op.axis
    if vector:
        do, di = s[out].split(d, vector)
        s[out].vectorize(di)
    s[out].parallel(b)
    return te.build(s, [data, idx, lengths, out], target=target)


def sls_ref(x, ii, lens):
    off = np.concatenate([[0], np.cumsum(lens)]).astype(int)
    return np.stack([x[ii[off[b]:off[b + 1]]].sum(0) for b in range(len(lens))]) \
        if len(lens) else np.zeros((0, x.shape[1]), x.dtype)


@settings(max_examples=10, deadline=None)
@given(V=st.integers(1, 30), D=st.integers(1, 20), lens=st.lists(st.integers(0, 6), max_size=8),
       extra=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_ragged_sum_matches_numpy(V, D, lens, extra, seed):
    f = sls_kernel(V, D)
    rng = np.random.default_rng(seed)
    lens = np.array(lens, "int32")
    x = rng.standard_normal((V, D)).astype("float32")
    ii = rng.integers(0, V, int(lens.sum()) + extra).astype("int32")   # duplicates included
    out = np.empty((len(lens), D), "float32")
    f(x, ii, lens, out)
    np.testing.assert_allclose(out, sls_ref(x, ii, lens), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("target", ["c", "native", "neon"])
def test_bad_index_is_reported_without_out_of_bounds_access(target):
    f = sls_kernel(10, 16, target=target)
    x = np.ones((10, 16), "float32")
    lens = np.array([2, 3], "int32")
    ii = np.array([1, 2, 3, 10, 4], "int32")
    out = np.empty((2, 16), "float32")
    with pytest.raises(te.TexprError, match=r"indices\[3\] = 10 is out of range for dimension 0 "
                                            r"of data"):
        f(x, ii, lens, out)
    ii[3] = -1
    with pytest.raises(te.TexprError, match=r"indices\[3\] = -1"):
        f(x, ii, lens, out)
    ii[3] = 0
    f(x, ii, lens, out)     # the error state is reset after being reported
    np.testing.assert_allclose(out, sls_ref(x, ii, lens))


def test_lengths_that_overrun_the_indices_are_reported():
    f = sls_kernel(10, 4)
    x = np.ones((10, 4), "float32")
    ii = np.zeros(5, "int32")
    out = np.empty((2, 4), "float32")
    with pytest.raises(te.TexprError, match=r"computed from offsets\[1\]\) is out of range for "
                                            r"dimension 0 of indices"):
        f(x, ii, np.array([2, 4], "int32"), out)


def test_exclusive_scan_stage():
    n = te.var("n")
    x = te.placeholder((n,), "int64", name="x")
    y = te.exclusive_scan(x, name="y")
    s = te.create_schedule(y.op)
    f = te.build(s, [x, y])
    a = np.arange(7, dtype="int64")
    out = np.empty(8, "int64")
    f(a, out)
    np.testing.assert_array_equal(out, np.concatenate([[0], np.cumsum(a)]))
    with pytest.raises(te.TexprError, match="scan"):
        s[y].split(y.op.axis[0], 2)
    with pytest.raises(te.TexprError, match="1-D"):
        te.exclusive_scan(te.placeholder((2, 2), name="m"))


def test_gather_rows_by_index_vectorizes():
    V, D, M = 20, 16, 7
    data = te.placeholder((V, D), name="data")
    idx = te.placeholder((M,), "int32", name="idx")
    out = te.compute((M, D), lambda m, d: data[idx[m], d], name="gather")
    s = te.create_schedule(out.op)
    do, di = s[out].split(out.op.axis[1], 8)
    s[out].vectorize(di)
    f = te.build(s, [data, idx, out], target="avx2")
    assert "_mm256_loadu_ps(&data[" in f.source
    x = np.random.rand(V, D).astype("float32")
    ii = np.random.randint(0, V, M).astype("int32")
    o = np.empty((M, D), "float32")
    f(x, ii, o)
    np.testing.assert_array_equal(o, x[ii])
