"""sparse_lengths_sum over 16-bit float tables summed in float32 (out_dtype), against NumPy."""
import ml_dtypes  # noqa: F401
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr import topi

V, D = 50, 20      # D: two 8-lane vectors and a tail of 4


@pytest.fixture(scope="module", params=["float16", "bfloat16"])
def sls(request):
    dt = request.param
    B, L = te.var("B"), te.var("L")
    data = te.placeholder((V, D), dt, name="data")
    idx = te.placeholder((L,), "int32", name="indices")
    lens = te.placeholder((B,), "int32", name="lengths")
    out = topi.sparse.sparse_lengths_sum(data, idx, lens, out_dtype="float32")
    assert out.dtype == "float32"
    return dt, te.build(topi.schedule(out, "avx2"), [data, idx, lens, out], target="avx2")


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
