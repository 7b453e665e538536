"""topi.shape_func: output shapes from input shapes without building anything; symbolic
extents give formulas that evaluate (topi.evaluate_shape) to the shape NumPy's reference
computes for every drawn size; bad shapes raise the operator's TexprError."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
import texpr.topi as topi
from texpr.topi import testing as ref

SIZES = st.sampled_from([1, 2, 3, 5, 7, 8, 13, 16, 31, 32, 224])


@settings(max_examples=20, deadline=None)
@given(n=SIZES, h=SIZES, w=SIZES, k=st.sampled_from([1, 3, 7]), stride=st.sampled_from([1, 2]),
       pad=st.sampled_from([0, 1, 3]))
def test_conv_and_pool_formulas_match_numpy(n, h, w, k, stride, pad):
    N, H, W = te.var("n"), te.var("h"), te.var("w")
    if h + 2 * pad < k or w + 2 * pad < k:
        return
    conv = topi.shape_func(topi.nn.conv2d_nchw, (N, 2, H, W), (4, 2, k, k), stride=stride,
                           padding=pad)
    nchwc = topi.shape_func(topi.nn.conv2d_NCHWc, (N, 1, H, W, 2), (2, 1, k, k, 2, 2),
                            stride=stride, padding=pad)
    pool = topi.shape_func(topi.nn.pool2d, (N, 2, H, W), kernel=k, stride=stride, padding=pad)
    vals = {N: n, H: h, W: w}
    x = np.zeros((n, 2, h, w), np.float32)
    want = ref.conv2d_nchw_ref(x, np.zeros((4, 2, k, k), np.float32), stride, pad).shape
    assert topi.evaluate_shape(conv, vals) == want
    assert topi.evaluate_shape(nchwc, vals) == (n, 2) + want[2:] + (2,)
    assert topi.evaluate_shape(pool, vals) == ref.pool2d_ref(x, k, stride, pad, "max").shape


def test_shapes_of_other_operators():
    n, L = te.var("n"), te.var("L")
    assert topi.shape_func(topi.nn.dense, (n, 64), (10, 64)) == (n, 10)
    assert topi.shape_func(topi.nn.global_pool_flatten, (n, 4, te.var("h"), 7, 8)) == (n, 32)
    assert topi.shape_func(topi.sparse.sparse_lengths_sum, (100, 16), ((L,), "int32"),
                           ((n,), "int32")) == (n, 16)
    assert topi.shape_func(topi.sparse.dot_interaction, (n, 8), (n, 3, 8)) == (n, 6)
    assert topi.shape_func(topi.layout.nchw_to_nchwc, (1, 16, 7, 7), block=8) == (1, 2, 7, 7, 8)
    parts = topi.shape_func(topi.split, (4, 6), indices_or_sections=3, axis=1)
    assert parts == [(4, 2)] * 3                      # several outputs: a list of shapes


def test_bad_shapes_and_arguments_raise():
    n = te.var("n")
    with pytest.raises(te.TexprError, match="conv2d_nchw: 3 input channels.*kernel input "
                                            "channels 4"):
        topi.shape_func(topi.nn.conv2d_nchw, (n, 3, 8, 8), (8, 4, 3, 3), stride=1, padding=1)
    with pytest.raises(te.TexprError, match="output would be"):
        topi.shape_func(topi.nn.conv2d_nchw, (n, 3, 2, 2), (8, 3, 5, 5), stride=1, padding=0)
    with pytest.raises(te.TexprError, match="input 1 must be a shape"):
        topi.shape_func(topi.nn.pool2d, (n, 3, 8, 8), 3, stride=1, padding=0)
    with pytest.raises(te.TexprError, match="expected a topi operator"):
        topi.shape_func("conv", (1, 2))
    with pytest.raises(te.TexprError, match=r"dimension 0 \(n\) needs a value of n"):
        topi.evaluate_shape((n, 3), {})
