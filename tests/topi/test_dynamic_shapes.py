"""topi operators with symbolic batch / sequence extents (issue 19): topi.schedule
specialises them by size class (Schedule.specialize), one build serves every size. Each
kernel is built once for the module and called at many sizes (1, primes, powers of two,
sizes no tile divides) against NumPy; the dispatch rules are checked on te.lower's text."""
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
import texpr.topi as topi
from texpr.topi import cpu

# the rules: K = 64 (dot products up to gemv_max_rows rows, transposed tiles, weight blocks);
# the kernel built: K = 8 (no dot products: three classes, a third of the C to compile)
N, K, K_BUILT = 48, 64, 8

SIZES = [1, 2, 3, 5, 6, 7, 8, 9, 13, 16, 17, 31, 64, 97, 128, 256, 257, 263, 300]

#: the attention kernel's head dimension: one vector of the native target (8 floats on
#: AVX2, 16 on AVX-512), so that pv is a register-tiled GEMM on every target (a head
#: dimension that is not whole vectors runs pv as a vector loop: no gemm kernel of it)
HEAD = cpu.cpu_info("native").lanes


def _row_classes(target):
    """The dispatch of the dense kernel built (K_BUILT: too short for dot products): one
    class per width of the transposed product's register tile (dense_rows_config's nr), one
    vector of data rows up to `lanes` rows, two after (the fallback takes the rest)."""
    lanes = cpu.cpu_info(target).lanes
    assert K_BUILT < 2 * lanes          # (gemv_max_rows does not apply)
    assert [cpu.dense_rows_config(m, N, K_BUILT, target)["nr"]
            for m in (1, lanes, lanes + 1, cpu.DENSE_ROWS_MAX)] == \
        [lanes, lanes, 2 * lanes, 2 * lanes]
    return [f"M >= 1 && M <= {lanes}", f"M >= {lanes + 1} && M <= {cpu.DENSE_ROWS_MAX}"]


def _dense(k=K):
    M = te.var("M")
    x, w = te.placeholder((M, k), name="x"), te.placeholder((N, k), name="w")
    y = topi.nn.dense(x, w)
    return M, x, w, y


@pytest.fixture(scope="module")
def dense_dyn():
    M, x, w, y = _dense(K_BUILT)
    return te.build(topi.schedule([y], "native"), [x, w, y], target="native", name="dense_dyn")


def test_dense_dispatch_rules_in_lower():
    M, x, w, y = _dense()
    s = topi.schedule([y], "native")
    g = cpu.gemv_max_rows("native")
    conds = [str(c) for c, _ in s.specializations]
    assert conds[:g] == [f"M == {m}" for m in range(1, g + 1)]
    assert conds[-1].endswith(f"M <= {cpu.DENSE_ROWS_MAX}")
    text = str(te.lower(s, [x, w, y], target="native", stop_after="loop_nest"))
    assert text.count("// specialisation ") == len(conds) + 1
    assert "} else if (M >= " in text and "// specialisation 0: M == 1" in text
    # the known M: the dot products of one row, no loop over M left
    one = text.split("// specialisation 1:")[0]
    assert "tensorize" not in one and "M" not in one.split("M == 1")[1]
    # the fallback: weight blocks, rows unpadded (partial row tiles by their run-time count)
    fallback = text.split("otherwise (the fallback schedule)")[1]
    assert "dense_packW" in fallback and "tensorize gemm_fp32" in fallback


def test_size_classes_off_schedules_the_fallback_only():
    """`-size-classes=off` (the smallest code): topi.schedule makes no size classes; the one
    schedule is the fallback's (weight blocks)."""
    M, x, w, y = _dense()
    s = topi.schedule([y], "native -size-classes=off")
    assert not s.specializations
    text = str(te.lower(s, [x, w, y], target="native -size-classes=off", stop_after="loop_nest"))
    assert "specialisation" not in text and "dense_packW" in text


@settings(max_examples=10, deadline=None)
@given(m=st.sampled_from(SIZES))
def test_dense_every_batch(dense_dyn, m):
    rng = np.random.default_rng(m)
    a = rng.standard_normal((m, K_BUILT), dtype=np.float32)
    w = rng.standard_normal((N, K_BUILT), dtype=np.float32)
    c = np.empty((m, N), np.float32)
    dense_dyn(a, w, c)
    np.testing.assert_allclose(c, a @ w.T, rtol=1e-4, atol=1e-4)


def test_dense_sizes_outside_every_class_and_bad_shapes(dense_dyn):
    w = np.ones((N, K_BUILT), np.float32)
    c = np.empty((0, N), np.float32)
    dense_dyn(np.ones((0, K_BUILT), np.float32), w, c)    # M = 0: the fallback, nothing done
    with pytest.raises(te.TexprError, match=r"\bM\b"):
        dense_dyn(np.ones((5, K_BUILT), np.float32), w, np.empty((6, N), np.float32))
    rows = "; ".join(_row_classes("native"))
    assert f"dispatch: {rows}; otherwise" in repr(dense_dyn)


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_dense_row_classes_follow_the_register_tile_width(target):
    """The size classes of a short-K dense are the ranges of one register tile width, on
    every vector width (scheduled only, nothing built)."""
    M, x, w, y = _dense(K_BUILT)
    s = topi.schedule([y], target)
    assert [str(c) for c, _ in s.specializations] == _row_classes(target)


@pytest.fixture(scope="module")
def bmm_dyn():
    B, M = te.var("B"), te.var("M")
    x = te.placeholder((B, M, 32), name="x")
    y = te.placeholder((B, 16, 32), name="y")
    z = topi.nn.batch_matmul(x, y)
    s = topi.schedule([z], "native")
    assert "tensorize gemm_fp32" in str(te.lower(s, [x, y, z], "native", stop_after="loop_nest"))
    return te.build(s, [x, y, z], target="native", name="bmm_dyn")


@settings(max_examples=8, deadline=None)
@given(b=st.sampled_from([1, 2, 3]), m=st.sampled_from([1, 5, 7, 16, 33]))
def test_batch_matmul_every_batch_and_rows(bmm_dyn, b, m):
    rng = np.random.default_rng(b * 100 + m)
    a = rng.standard_normal((b, m, 32), dtype=np.float32)
    w = rng.standard_normal((b, 16, 32), dtype=np.float32)
    c = np.empty((b, m, 16), np.float32)
    bmm_dyn(a, w, c)
    np.testing.assert_allclose(c, a @ w.transpose(0, 2, 1), rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def attention_dyn():
    S = te.var("S")
    q, k, v = (te.placeholder((1, 1, S, HEAD), name=n) for n in "qkv")
    o = topi.nn.scaled_dot_product_attention(q, k, v)
    s = topi.schedule([o], "native")
    assert [str(c) for c, _ in s.specializations] == \
        [f"S == {n}" for n in range(1, 9)] + [f"S >= 1 && S <= {n}" for n in (16, 32)] + \
        ["S > 32 && S <= 128 && S % 16 == 0", "S > 32 && S <= 128", "S > 128 && S % 32 == 0"]
    return te.build(s, [q, k, v, o], target="native", name="attention_dyn")


@settings(max_examples=10, deadline=None)
@given(s_=st.sampled_from([1, 2, 3, 5, 8, 13, 32, 33, 47, 64, 97, 150]))
def test_attention_every_sequence_length(attention_dyn, s_):
    rng = np.random.default_rng(s_)
    q, k, v = (rng.standard_normal((1, 1, s_, HEAD), dtype=np.float32) for _ in range(3))
    o = np.empty_like(q)
    attention_dyn(q, k, v, o)
    np.testing.assert_allclose(o, topi.testing.attention_ref(q, k, v), rtol=1e-4, atol=1e-5)


def test_attention_many_keys_run_whole_padded_chunks(attention_dyn):
    """Past the last size class the keys are padded to whole pv chunks (zero k and v rows,
    e 0 there): no scalar tail, and lengths that are not whole chunks stay exact."""
    from texpr.topi.cpu_attention import PADDED_KEY_CHUNK
    assert re.search(rf"gemm_fp32_\d+x\d+x{PADDED_KEY_CHUNK}\b", attention_dyn.source)
    for s_ in (129, 161, 160):          # (160: the class of whole blocks)
        rng = np.random.default_rng(s_)
        q, k, v = (rng.standard_normal((1, 1, s_, HEAD), dtype=np.float32) for _ in range(3))
        # every score below -160: exp(0 - max) of a padded (zero) key would overflow
        q, k = 60 * (np.abs(q) + 1), -(np.abs(k) + 1)
        o = np.empty_like(q)
        attention_dyn(q, k, v, o)
        assert np.isfinite(o).all()
        # (scores this large: the float32 rounding of them shows in the weights)
        np.testing.assert_allclose(o, topi.testing.attention_ref(q, k, v), rtol=5e-3,
                                   atol=1e-4)
