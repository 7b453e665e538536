"""depthwise_conv2d_nchw on the vector CPU targets (topi/cpu.py): tiles of rows x vectors of
output columns, a padded or strided input read through a copy of a band of rows split into
column phases (made in the band's loop)."""
import numpy as np
import pytest

import texpr as te
import texpr.topi as topi
from texpr.topi import testing as ref
from texpr.topi.cpu import cpu_info, depthwise_row_tile, depthwise_rows

RNG = np.random.default_rng(11)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


@pytest.mark.parametrize("C,M,H,W,stride,pad,dil,epi", [
    # stride 2 over an odd width (a partial vector tile, the phases one short), bias + relu
    (3, 1, 23, 37, 2, 1, 1, "bias_relu"),
    # channel multiplier 2, dilation 2, stride 1, rows the band does not divide
    (2, 2, 13, 20, 1, 2, 2, None),
])
def test_depthwise_against_numpy(C, M, H, W, stride, pad, dil, epi):
    a, k, bb = rand(1, C, H, W), rand(C, M, 3, 3), rand(C * M)
    x, w, b = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w"), \
        te.placeholder((C * M,), name="b")
    out = topi.nn.depthwise_conv2d_nchw(x, w, stride, pad, dil)
    ins, arrs = [x, w], [a, k]
    want = ref.depthwise_conv2d_nchw_ref(a, k, stride, pad, dil)
    if epi:
        out = topi.nn.relu(topi.nn.bias_add(out, b))
        ins, arrs = ins + [b], arrs + [bb]
        want = np.maximum(want + bb.reshape(1, -1, 1, 1), 0)
    f = te.build(topi.schedule(out, "native"), ins + [out], target="native")
    assert "data_phases" in f.source
    got = np.full(want.shape, np.nan, "float32")
    f(*arrs, got)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("target", ["native", "avx512", "neon"])
def test_tile_comes_from_the_target(target):
    info = cpu_info(target)
    for P, Q in ((112, 112), (56, 56), (14, 14), (9, 19)):
        width = depthwise_row_tile(Q, info.lanes)
        rows = depthwise_rows(P, width // info.lanes, info)
        assert width % info.lanes == 0 and width <= 4 * info.lanes
        assert rows * width // info.lanes <= info.accumulators
        assert rows <= P
