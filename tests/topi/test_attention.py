"""topi.nn.attention against its NumPy reference, the CPU schedule's blocking, bad inputs."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
import texpr.topi as topi
from texpr.topi import testing as ref
from texpr.topi.cpu import cpu_info
from texpr.topi.cpu_attention import (WHOLE_BLOCK_MULTIPLE, _pads_queries,
                                      attention_config)

RNG = np.random.default_rng(16)

# (S queries, T keys, D, Dv, causal, scale, dtype): tails of every block and tile (21, 13,
# 19 and 23 divide nothing), S != T both ways, a negative scale, a Dv that is not a whole
# vector (pv as a vector loop), whole tiles only, causal blocks that skip key tiles and
# chunks (64 queries in blocks, 128 keys in two chunks), and float64 (the default schedule)
CASES = {
    "tails_causal": (21, 13, 8, 16, True, -0.3, "float32"),
    "tails_odd_dv": (19, 23, 16, 12, False, None, "float32"),
    "whole_tiles": (32, 32, 16, 8, False, 0.7, "float32"),
    "blocks_causal": (64, 128, 16, 16, True, None, "float32"),
    "float64": (5, 7, 4, 3, False, None, "float64"),
}


def _arrays(S, T, D, Dv, dtype, B=1, H=2):
    return [RNG.standard_normal(s).astype(dtype) for s in ((B, H, S, D), (B, H, T, D), (B, H, T, Dv))]


def _placeholders(S, T, D, Dv, dtype, B=1, H=2):
    return [te.placeholder(s, dtype, n) for s, n in
            (((B, H, S, D), "q"), ((B, H, T, D), "k"), ((B, H, T, Dv), "v"))]


@pytest.fixture(scope="module")
def results():
    """Each case built once for the native target: (texpr's output, the reference)."""
    out = {}
    for name, (S, T, D, Dv, causal, scale, dtype) in CASES.items():
        q, k, v = _placeholders(S, T, D, Dv, dtype)
        o = topi.nn.attention(q, k, v, causal=causal, scale=scale)
        f = te.build(topi.schedule(o, "native"), [q, k, v, o], target="native")
        arrs = _arrays(S, T, D, Dv, dtype)
        got = np.empty((1, 2, S, Dv), dtype)
        f(*arrs, got)
        out[name] = got, ref.attention_ref(*arrs, causal=causal, scale=scale), arrs
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_attention_matches_numpy(results, case):
    got, want, _ = results[case]
    tol = 1e-12 if got.dtype == np.float64 else 2e-6
    np.testing.assert_allclose(got, want, rtol=tol * 10, atol=tol)


def test_causal_first_query_sees_only_the_first_key(results):
    """Top-left mask: query 0 attends to key 0 alone, so its output is v[.., 0, :]."""
    got, _, (q, k, v) = results["tails_causal"]
    np.testing.assert_allclose(got[:, :, 0], v[:, :, 0], rtol=1e-6)


def test_reference_causal_is_attention_over_the_visible_keys():
    """torch's is_causal (top-left mask): query i attends to keys 0..i, also when S > T."""
    q, k, v = _arrays(6, 4, 8, 8, "float64")
    got = ref.attention_ref(q, k, v, causal=True, scale=0.5)
    for i in range(6):
        want = ref.attention_ref(q[:, :, i:i + 1], k[:, :, :i + 1], v[:, :, :i + 1], scale=0.5)
        np.testing.assert_allclose(got[:, :, i:i + 1], want, rtol=1e-12)


def test_alias_and_output_shape():
    q, k, v = _placeholders(3, 5, 4, 6, "float32")
    assert topi.nn.scaled_dot_product_attention is topi.nn.attention
    assert [int(d.value) for d in topi.nn.attention(q, k, v).shape] == [1, 2, 3, 6]


def test_bert_blocks_lower_to_register_tiles_and_vectors():
    """seq 128 (BERT-base): both products tensorized, the masked softmax vectorized (no lane
    run one by one), no partial block; checked on the lowered program, nothing compiled."""
    q, k, v = _placeholders(128, 128, 64, 64, "float32", H=1)
    o = topi.nn.attention(q, k, v, causal=True)
    text = str(te.lower(topi.schedule(o, "avx2"), [q, k, v, o], target="avx2"))
    stages = dict(part.split("\n", 1) for part in text.split("// stage ")[1:])
    assert "tensorize gemm_fp32" in stages["attention_scores"]
    assert "tensorize gemm_fp32" in stages["attention_pv"]
    assert "exp(" in text and "_lane" not in text


def test_constant_queries_padded_where_a_partial_tile_costs_more():
    """A constant S that is not whole blocks is computed over whole blocks (as a symbolic S
    is) when its partial tile's queries, scalar loops, would cost more than the padding:
    S = 7 (7 of a tile of 8) padded, S = 1 and 9 (one query past whole tiles) not; the
    padded S = 7 runs both products as whole register tiles (lowered, nothing compiled)."""
    assert _pads_queries(7, 8, 8) and _pads_queries(333, 48, 16)
    assert not _pads_queries(1, 8, 8) and not _pads_queries(9, 16, 8)
    assert not _pads_queries(64, 32, 16)          # whole blocks: nothing to pad
    q, k, v = _placeholders(7, 7, 64, 64, "float32", H=1)
    o = topi.nn.attention(q, k, v)
    text = str(te.lower(topi.schedule(o, "avx2"), [q, k, v, o], target="avx2"))
    assert "allocate attention_qT: float32[1, 1, 64, 8]" in text
    assert "tensorize gemm_fp32_7x8x64" in text and "tensorize gemm_fp32_4x16x7" in text


def test_size_class_of_a_known_length_lowers_as_the_concrete_kernel():
    """A symbolic sequence length's class S == 7 lowers to the concrete S = 7 kernel's
    loops and register tiles (its stages get the constant extents), not to padded keys."""
    S = te.var("S")
    q, k, v = _placeholders(S, S, 64, 64, "float32", H=1)
    o = topi.nn.attention(q, k, v)
    s = topi.schedule(o, "avx2")
    assert str(s.specializations[6][0]) == "S == 7"
    s.specializations = s.specializations[6:7]     # (lowering the other classes takes seconds)
    text = str(te.lower(s, [q, k, v, o], target="avx2"))
    cls = text.split("S == 7")[-1].split("} else {")[0]
    q7, k7, v7 = _placeholders(7, 7, 64, 64, "float32", H=1)
    o7 = topi.nn.attention(q7, k7, v7)
    fixed = str(te.lower(topi.schedule(o7, "avx2"), [q7, k7, v7, o7], target="avx2"))
    for line in ("tensorize gemm_fp32_7x8x64", "tensorize gemm_fp32_4x16x7",
                 "allocate attention_scores: float32[1, 1, 7, 8]"):
        assert line in cls and line in fixed
    assert "attention_kp" not in cls


@settings(max_examples=10, deadline=None)
@given(S=st.integers(1, 700), T=st.integers(1, 700), Dv=st.integers(1, 160),
       target=st.sampled_from(["avx2", "avx512", "neon"]))
def test_config_blocks_fit(S, T, Dv, target):
    cfg = attention_config(S, T, 64, Dv, target)
    info = cpu_info(target)
    lanes = info.lanes
    assert cfg["qb"] % cfg["nr1"] == 0 and cfg["nr1"] % lanes == 0
    assert cfg["mr1"] * (cfg["nr1"] // lanes) + cfg["nr1"] // lanes < info.nregs
    if Dv % lanes:
        assert cfg["nr2"] is None
    else:
        assert Dv % cfg["nr2"] == 0 and cfg["qb"] % cfg["mr2"] == 0
        assert cfg["mr2"] * (cfg["nr2"] // lanes) + cfg["nr2"] // lanes < info.nregs
    if S % cfg["nr1"] == 0 and S <= 96:
        assert S % cfg["qb"] == 0       # a block that divides S is found when there is one


def test_bad_inputs_are_named():
    q, k, v = _placeholders(4, 6, 8, 8, "float32")
    with pytest.raises(te.TexprError, match=r"attention: q must be 4-D .*\[1, 4, 8\]"):
        topi.nn.attention(te.placeholder((1, 4, 8), name="q"), k, v)
    with pytest.raises(te.TexprError, match=r"same heads .*k \[1, 3, 6, 8\]"):
        topi.nn.attention(q, te.placeholder((1, 3, 6, 8), name="k"), v)
    with pytest.raises(te.TexprError, match=r"same batch .*v \[2, 2, 6, 8\]"):
        topi.nn.attention(q, k, te.placeholder((2, 2, 6, 8), name="v"))
    with pytest.raises(te.TexprError, match=r"q and k must have the same head_dim .*k \[1, 2, 6, 5\]"):
        topi.nn.attention(q, te.placeholder((1, 2, 6, 5), name="k"), v)
    with pytest.raises(te.TexprError, match=r"k and v must have the same sequence length .*v \[1, 2, 7, 8\]"):
        topi.nn.attention(q, k, te.placeholder((1, 2, 7, 8), name="v"))
    with pytest.raises(te.TexprError, match="one float dtype; got q float32, k float32, v int32"):
        topi.nn.attention(q, k, te.placeholder((1, 2, 6, 8), "int32", name="v"))
    with pytest.raises(te.TexprError, match="scale must be a finite number or None, got nan"):
        topi.nn.attention(q, k, v, scale=float("nan"))
    with pytest.raises(te.TexprError, match="scale=None needs a constant head_dim"):
        d = te.var("d")
        topi.nn.attention(*(te.placeholder((1, 2, 4, d), name=n) for n in "qkv"))


def test_causal_symbolic_length_of_one_key_of_whole_blocks_and_of_padded_keys():
    """Causal attention of a symbolic length: the class S == 1 (one pv chunk of every key:
    nothing skipped), the class of whole blocks past 128 queries and the fallback (keys
    padded to whole chunks, key chunks after a block skipped) against NumPy. Only those
    classes are built (the others take seconds)."""
    S = te.var("S")
    q, k, v = _placeholders(S, S, 8, 8, "float32", H=1)
    o = topi.nn.attention(q, k, v, causal=True)
    s = topi.schedule(o, "native")
    names = [str(c) for c, _ in s.specializations]
    whole = f"S > 128 && S % {WHOLE_BLOCK_MULTIPLE} == 0"
    assert names[0] == "S == 1" and names[-1] == whole
    s.specializations = [s.specializations[0], s.specializations[-1]]
    f = te.build(s, [q, k, v, o], target="native")
    for n in (1, 5 * WHOLE_BLOCK_MULTIPLE, 161):
        arrs = [RNG.standard_normal((1, 1, n, 8), dtype=np.float32) for _ in range(3)]
        got = np.empty_like(arrs[0])
        f(*arrs, got)
        np.testing.assert_allclose(got, ref.attention_ref(*arrs, causal=True), rtol=1e-4,
                                   atol=1e-5)


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_causal_queries_of_one_block_narrower_than_a_query_tile(target):
    """Causal attention whose queries are a single block narrower than the register tile of
    scores^T (qb = S < nr1): the condition that skips the key tiles after the block is the
    block's constant last query, the same for every tile. (It was i // qb * qb + qb - 1,
    which varies inside a tile of nr1 queries, and tensorize refused it: S = 2 before 40 keys
    on both targets, and the classes S == 1..4 of a symbolic length with Dv = 8 on AVX-512,
    whose 16-query tile is wider than their block.) The concrete kernel against NumPy; the
    classes lowered, their scores^T still register tiles."""
    S, T = 2, 40
    assert attention_config(S, T, 8, 8, target)["nr1"] > S      # the case described
    q, k, v = _placeholders(S, T, 8, 8, "float32", H=1)
    o = topi.nn.attention(q, k, v, causal=True)
    f = te.build(topi.schedule(o, target), [q, k, v, o], target=target)
    arrs = _arrays(S, T, 8, 8, "float32", H=1)
    got = np.empty((1, 1, S, 8), np.float32)
    f(*arrs, got)
    np.testing.assert_allclose(got, ref.attention_ref(*arrs, causal=True), rtol=2e-5,
                               atol=2e-6)
    n = te.var("S")
    q, k, v = _placeholders(n, n, 8, 8, "float32", H=1)
    o = topi.nn.attention(q, k, v, causal=True)
    s = topi.schedule(o, target)
    s.specializations = s.specializations[:4]
    assert [str(c) for c, _ in s.specializations] == [f"S == {m}" for m in range(1, 5)]
    text = str(te.lower(s, [q, k, v, o], target=target, stop_after="loop_nest"))
    for m in range(1, 5):
        cls = text.split(f"S == {m}")[-1].split("// specialisation")[0]
        assert f"tensorize gemm_fp32_{m}x" in cls
