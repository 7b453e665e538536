"""sparse_lengths_sum over 16-bit float tables summed in float32 (out_dtype), against NumPy."""
import re

import ml_dtypes  # noqa: F401
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr import topi
from texpr.targets.build import emit_source

V, D = 50, 20      # D: two 8-lane vectors and a tail of 4 (AVX-512: one 16-lane vector)


def _sls(dt, D, target, build=True):
    B, L = te.var("B"), te.var("L")
    data = te.placeholder((V, D), dt, name="data")
    idx = te.placeholder((L,), "int32", name="indices")
    lens = te.placeholder((B,), "int32", name="lengths")
    out = topi.sparse.sparse_lengths_sum(data, idx, lens, out_dtype="float32")
    assert out.dtype == "float32"
    args = (topi.schedule(out, target), [data, idx, lens, out])
    return te.build(*args, target=target) if build else emit_source(*args, target=target)


@pytest.fixture(scope="module", params=[(dt, t) for dt in ("float16", "bfloat16")
                                        for t in ("avx2", "avx512")], ids="-".join)
def sls(request):
    dt, target = request.param
    return dt, _sls(dt, D, target)


@pytest.mark.parametrize("dt", ["float16", "bfloat16"])
@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_sls_16_bit_rows_convert_as_vectors(dt, target):
    """Rows of whole vectors are converted by vector instructions (float16: F16C's / AVX512F's
    vcvtph2ps), never lane by lane (GCC converts a 16-lane _Float16 vector a lane at a time)."""
    src = _sls(dt, 64, target, build=False)
    assert not re.search(r"for \(int32_t \w+_lane = 0", src)
    if dt == "float16":
        assert ("_mm512_cvtph_ps" if target == "avx512" else "_mm256_cvtph_ps") in src
        assert "__builtin_convertvector(texpr_load_float16" not in src


@settings(max_examples=10, deadline=None)
@given(lens=st.lists(st.integers(0, 9), min_size=1, max_size=12), seed=st.integers(0, 2**16))
def test_sls_16_bit_table_float32_sums(sls, lens, seed):
    dt, mod = sls
    rng = np.random.default_rng(seed)
    table = (rng.standard_normal((V, D)) * 100).astype(dt)
    lens = np.array(lens, "int32")
    idx = rng.integers(0, V, int(lens.sum())).astype("int32")
    out = np.empty((len(lens), D), "float32")
    mod(table, idx, lens, out)
    # each row is exact in float32; the sums round in float32 (NumPy sums in float64 here)
    want = topi.testing.sparse_lengths_sum_ref(table.astype("float32"), idx, lens)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-3)


def test_sls_out_dtype_rules():
    data = te.placeholder((4, 8), "float16", name="data")
    table32 = te.placeholder((4, 8), "float32", name="table32")
    idx = te.placeholder((6,), "int32", name="indices")
    lens = te.placeholder((2,), "int32", name="lengths")
    with pytest.raises(te.TexprError, match="out_dtype int32 for a float16 table; expected "
                                            "float16 or float32"):
        topi.sparse.sparse_lengths_sum(data, idx, lens, out_dtype="int32")
    with pytest.raises(te.TexprError, match="out_dtype float16 for a float32 table; expected "
                                            "float32$"):
        topi.sparse.sparse_lengths_sum(table32, idx, lens, out_dtype="float16")
