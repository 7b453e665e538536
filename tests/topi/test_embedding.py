"""topi.nn.embedding (= topi.sparse.embedding): the rows of a table at an array of indices,
against topi.testing.embedding_ref; out-of-range indices raise ("check") or are clamped
("clip"); bad arguments are rejected when the compute is declared.

Two kernels in all (shapes symbolic, taken from the arrays at call time): 2-D int32 indices
into a table of width 20 (vectors and a scalar tail) in check mode, and 1-D int64 indices
into a table of symbolic width in clip mode."""
import functools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr import topi
from texpr.topi import testing as R
from support.parallel import parallel_loops


@functools.lru_cache(maxsize=None)
def checked_kernel():
    V, n, m = te.var("V"), te.var("n"), te.var("m")
    w = te.placeholder((V, 20), name="weight")
    idx = te.placeholder((n, m), "int32", name="indices")
    out = topi.nn.embedding(w, idx)
    return te.build(topi.schedule(out, "native"), [w, idx, out], target="native")


@functools.lru_cache(maxsize=None)
def clipped_kernel():
    V, D, n = te.var("V"), te.var("D"), te.var("n")
    w = te.placeholder((V, D), name="weight")
    idx = te.placeholder((n,), "int64", name="indices")
    out = topi.nn.embedding(w, idx, mode="clip")
    return te.build(topi.schedule(out, "native"), [w, idx, out], target="native")


def run_checked(table, idx):
    out = np.empty(idx.shape + (table.shape[1],), "float32")
    checked_kernel()(table, idx, out)
    return out


@settings(max_examples=10, deadline=None)
@given(V=st.integers(1, 50), n=st.integers(0, 5), m=st.integers(1, 40),
       seed=st.integers(0, 2**31 - 1))
def test_embedding_matches_numpy(V, n, m, seed):
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((V, 20)).astype("float32")
    idx = rng.integers(0, V, (n, m)).astype("int32")
    np.testing.assert_array_equal(run_checked(table, idx), R.embedding_ref(table, idx))


def test_embedding_is_parallel_vectorized_and_prefetched():
    src = checked_kernel().source
    assert parallel_loops(src) >= 1
    assert "__builtin_prefetch(&weight[" in src
    assert "_mm256_loadu_ps(&weight[" in src or "_mm512" in src


def test_embedding_out_of_range_index_raises():
    table = np.arange(7 * 20, dtype="float32").reshape(7, 20)
    idx = np.array([[0, 6, 3], [2, 1, 5]], "int32")
    for bad in (7, -1, 2**31 - 1):
        idx2 = idx.copy()
        idx2[1, 1] = bad
        # the position is the element's flat offset in indices (row 1, column 1: 4)
        with pytest.raises(te.TexprError, match=rf"indices\[4\] = {bad} is out of range "
                                                r"for dimension 0 of weight"):
            run_checked(table, idx2)
        with pytest.raises(IndexError):
            R.embedding_ref(table, idx2)
    np.testing.assert_array_equal(run_checked(table, idx), table[idx])   # good after bad


def test_embedding_clip_mode_clamps_without_narrowing():
    rng = np.random.default_rng(3)
    table = rng.standard_normal((9, 5)).astype("float32")
    # 2**32 + 1 would become 1 if narrowed to int32 before clamping: it must clamp to 8
    idx = np.array([0, 8, 9, -1, -(2**40), 2**32 + 1, 4] * 5, "int64")
    out = np.empty((len(idx), 5), "float32")
    clipped_kernel()(table, idx, out)
    want = R.embedding_ref(table, idx, mode="clip")
    np.testing.assert_array_equal(want, table[np.clip(idx, 0, 8)])
    np.testing.assert_array_equal(out, want)


def test_embedding_clip_mode_with_narrow_indices():
    """uint8 indices into a table of 300 rows: V - 1 = 299 does not fit in uint8, so the clamp
    is done in int32 (a uint8 clamp would wrap 299 to 43)."""
    w = te.placeholder((300, 3), name="weight")
    idx = te.placeholder((te.var("n"),), "uint8", name="indices")
    out = topi.nn.embedding(w, idx, mode="clip")
    f = te.build(topi.schedule(out, "c"), [w, idx, out], target="c")
    table = np.arange(900, dtype="float32").reshape(300, 3)
    i = np.array([0, 255, 43, 7], "uint8")
    got = np.empty((4, 3), "float32")
    f(table, i, got)
    np.testing.assert_array_equal(got, R.embedding_ref(table, i, mode="clip"))


def test_embedding_rejects_bad_arguments():
    w = te.placeholder((10, 4), name="w")
    with pytest.raises(te.TexprError,
                       match=r"embedding: w1 must be 2-D \(\[V, D\]\), got shape \[10\]"):
        topi.nn.embedding(te.placeholder((10,), name="w1"), te.placeholder((3,), "int32", name="i"))
    with pytest.raises(te.TexprError, match="embedding: fi must hold integers, got dtype float32"):
        topi.nn.embedding(w, te.placeholder((3,), "float32", name="fi"))
    with pytest.raises(te.TexprError, match="embedding: mode must be one of 'check', 'clip', "
                                            "got 'wrap'"):
        topi.nn.embedding(w, te.placeholder((3,), "int32", name="i"), mode="wrap")
    with pytest.raises(te.TexprError, match="embedding: s must have at least one dimension"):
        topi.nn.embedding(w, te.placeholder((), "int32", name="s"))
    assert topi.nn.embedding is topi.sparse.embedding
