"""NCHWc Winograd convolution and NCHWc depthwise convolution: compute definitions, offline
weight transform, registered CPU schedules, against the NumPy references.

Winograd tolerances (error relative to the output's largest magnitude) grow with the tile
size: F(6,3)'s transform matrices have entries up to ~10, so its rounding error is larger.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
import texpr.topi as topi
from texpr.topi import testing as ref

RNG = np.random.default_rng(5)
WINO_TOL = {2: 1e-4, 4: 5e-4, 5: 1e-3, 6: 2e-3}


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def run(out, inputs, arrays, target):
    f = te.build(topi.schedule(out, target), list(inputs) + [out], target=target)
    res = np.full([int(d.value) for d in out.shape], np.nan, out.dtype)
    f(*arrays, res)
    return res, f


def close(got, want, tol):
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


def wino_case(N, C, H, W, O, ic, oc):
    a, k = rand(N, C, H, W), rand(O, C, 3, 3)
    return ref.nchw_to_nchwc_ref(a, ic), ref.pack_kernel_nchwc_ref(k, ic, oc)


# ----------------------------------------------------------------------------- direct NCHWc, few channels

@pytest.mark.parametrize("target", ["native", "avx2"])
@pytest.mark.parametrize("N,C,H,W,O,R,stride,pad", [
    (1, 3, 30, 29, 32, 7, 2, 3),       # the RGB stem's 7x7/2 (columns not whole tiles)
    (2, 3, 13, 17, 16, 3, 1, 1),
    (1, 2, 11, 12, 16, 5, 2, 2),
    (1, 4, 9, 10, 32, 1, 2, 0),
])
def test_conv2d_NCHWc_few_channel_block(target, N, C, H, W, O, R, stride, pad):
    """An input block of all of few channels (topi.models' stem, cin_block=3): on 16 vector
    registers its window columns and channels are unrolled (cpu.few_channel_taps_unrolled),
    on 32 rolled; both against the NumPy convolution, with a bias and relu fused."""
    from texpr.topi.cpu import cpu_info, few_channel_taps_unrolled
    oc = 16
    a, k, b = rand(N, C, H, W), rand(O, C, R, R), rand(O)
    x = te.placeholder((N, 1, H, W, C), name="x")
    w = te.placeholder((O // oc, 1, R, R, C, oc), name="w")
    bias = te.placeholder((1, O // oc, 1, 1, oc), name="bias")
    out = topi.nn.relu(topi.nn.add(topi.nn.conv2d_NCHWc(x, w, stride, pad), bias))
    got, f = run(out, [x, w, bias], [ref.nchw_to_nchwc_ref(a, C),
                                     ref.pack_kernel_nchwc_ref(k, C, oc),
                                     b.reshape(1, O // oc, 1, 1, oc)], target)
    want = np.maximum(ref.conv2d_nchw_ref(a, k, stride, pad) + b[None, :, None, None], 0)
    close(ref.nchwc_to_nchw_ref(got), want, 1e-4)
    unrolled = few_channel_taps_unrolled(C, cpu_info(target))
    assert unrolled == (cpu_info(target).nregs <= 16)
    assert ("for (int32_t rx" in f.source) == (not unrolled and R > 1)


# ----------------------------------------------------------------------------- Winograd NCHWc

def test_winograd_weight_transform_NCHWc_matches_reference():
    _, kn = wino_case(1, 8, 4, 4, 32, 4, 16)
    w = te.placeholder(kn.shape, name="w")
    for m in (2, 4, 5, 6):
        got, _ = run(topi.nn.winograd_weight_transform_NCHWc(w, m), [w], [kn], "native")
        want = ref.winograd_weight_transform_NCHWc_ref(kn, m)
        assert want.shape == (m + 2, m + 2, 2, 8, 16)
        close(got, want, 1e-5)


# avx512 is emulated (SIMDe) on hosts without it: one tile size there keeps the build short
@pytest.mark.parametrize("m,target", [(2, "native"), (4, "native"), (5, "native"), (6, "native"),
                                      (4, "avx512"), (2, "neon")])
def test_winograd_NCHWc_pre_transformed(m, target):
    """Offline transform into the packed layout; tiles past the border (13 = 2*6 + 1;
    F(5,3): 9 = 2*5 - 1, 13 = 3*5 - 2)."""
    an, kn = wino_case(1, 32, 9, 13, 32, 16, 16)
    u = ref.winograd_weight_transform_NCHWc_ref(kn, m)
    x, U = te.placeholder(an.shape, name="x"), te.placeholder(u.shape, name="U")
    got, f = run(topi.nn.conv2d_winograd_NCHWc(x, U, 1, m, pre_transformed=True),
                 [x, U], [an, u], target)
    close(got, ref.conv2d_NCHWc_ref(an, kn, 1, 1), WINO_TOL[m])
    assert "tensorize gemm_fp32" in f.source
    # each k step of the GEMM prefetches the next weight panel (C = 32 rows of oc = 16 on):
    # past U's end at the last panel, which the result above shows is harmless
    assert "__builtin_prefetch(bk + (32) * (16)" in f.source


def test_winograd_NCHWc_chunked_gemm_prefetches_its_next_panel(monkeypatch):
    """2 threads and one block of tiles: the output channels are split in 2 chunks; each
    chunk's GEMM runs its weight panels by (e, nu) and prefetches the same panel of the next
    (e, nu), O/oc = 16 panels of C = 32 rows on (cpu._winograd_prefetching_tile)."""
    from texpr.topi.cpu import winograd_config
    monkeypatch.setenv("TEXPR_NUM_THREADS", "2")
    an, kn = wino_case(1, 32, 8, 8, 256, 16, 16)
    assert winograd_config(1, 2, 2, 32, 256, "native")["ochunks"] == 2
    u = ref.winograd_weight_transform_NCHWc_ref(kn, 4)
    x, U = te.placeholder(an.shape, name="x"), te.placeholder(u.shape, name="U")
    got, f = run(topi.nn.conv2d_winograd_NCHWc(x, U, 1, 4, pre_transformed=True),
                 [x, U], [an, u], "native")
    close(got, ref.conv2d_NCHWc_ref(an, kn, 1, 1), WINO_TOL[4])
    gemm = f.source.split("// stage winograd_M")[1]
    assert "__builtin_prefetch(bk + (512) * (16)" in gemm
    assert gemm.index("for (int32_t o_outer") < gemm.index("for (int32_t e ")


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_winograd_blocks_give_every_thread_work(target):
    """A small image in one block of tiles whose output channels cannot be split: blocks of
    fewer tile rows, at least one per thread (the 5x5 32x28->64 layer ran on one core of
    two); where channel chunks already give each thread work (ResNet-50's 7x7 layers), the
    blocks stay whole."""
    from texpr.topi.cpu import winograd_config
    for nH, C, O in ((7, 128, 64), (4, 64, 64), (7, 100, 200)):
        c = winograd_config(1, nH, nH, C, O, target, units=2)
        assert (nH // c["hb"]) * c["ochunks"] >= 2, (nH, C, O, c)
        assert winograd_config(1, nH, nH, C, O, target, units=1)["hb"] >= c["hb"]
    c = winograd_config(1, 4, 4, 512, 512, target, units=2)
    assert c["hb"] == 4 and c["ochunks"] == 2


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_winograd_blocks_are_shared_evenly(target):
    """Blocks the threads would not share evenly (ResNet-50's 56x56 F(4,3): 7 blocks of 2
    tile rows, 4 + 3 on 2 threads, 16% slower than 14 blocks of one row) become smaller ones
    of at least 8 tiles that they do; one thread keeps the larger blocks."""
    from texpr.topi.cpu import winograd_config
    for nH, C in ((14, 64), (10, 64), (7, 128), (3, 256)):
        c = winograd_config(1, nH, nH, C, C, target, units=2)
        blocks = (nH // c["hb"]) * c["ochunks"]
        assert blocks % 2 == 0 and c["hb"] * nH >= 8, (nH, C, c)
    assert winograd_config(1, 14, 14, 64, 64, target, units=2)["hb"] == 1
    assert winograd_config(1, 14, 14, 64, 64, target, units=1)["hb"] == 2


def test_winograd_NCHWc_in_graph_transform_and_odd_blocks():
    """Weight transform inside the graph, batch 2, blocks that are not a vector wide (the
    schedule falls back to plain loops for them), asymmetric padding."""
    an, kn = wino_case(2, 6, 8, 7, 12, 3, 4)
    x, w = te.placeholder(an.shape, name="x"), te.placeholder(kn.shape, name="w")
    pad = (1, 0, 2, 1)
    got, _ = run(topi.nn.conv2d_winograd_NCHWc(x, w, pad, 4), [x, w], [an, kn], "native")
    close(got, ref.conv2d_NCHWc_ref(an, kn, 1, pad), WINO_TOL[4])


@settings(max_examples=5)        # each example compiles a kernel; F(6,3) is covered above
@given(m=st.sampled_from([2, 4]), cb=st.integers(1, 3), ob=st.integers(1, 2),
       hw=st.tuples(st.integers(3, 12), st.integers(3, 12)), pad=st.integers(0, 2),
       n=st.integers(1, 2))
def test_winograd_NCHWc_property(m, cb, ob, hw, pad, n):
    """Any shape: channel blocks of one vector, any size and padding, batch 1 or 2."""
    an, kn = wino_case(n, 16 * cb, hw[0] + 2, hw[1] + 2, 16 * ob, 16, 16)
    x, w = te.placeholder(an.shape, name="x"), te.placeholder(kn.shape, name="w")
    got, _ = run(topi.nn.conv2d_winograd_NCHWc(x, w, pad, m), [x, w], [an, kn], "native")
    close(got, ref.conv2d_NCHWc_ref(an, kn, 1, pad), WINO_TOL[m])


def test_winograd_NCHWc_fused_bias_relu_residual():
    an, kn = wino_case(1, 32, 14, 14, 32, 32, 32)
    u = ref.winograd_weight_transform_NCHWc_ref(kn, 4)
    res_in, bb = rand(*an.shape), rand(1, 1, 1, 1, 32)
    x, U = te.placeholder(an.shape, name="x"), te.placeholder(u.shape, name="U")
    r, b = te.placeholder(an.shape, name="r"), te.placeholder(bb.shape, name="b")
    out = topi.nn.relu(topi.nn.add(topi.nn.add(
        topi.nn.conv2d_winograd_NCHWc(x, U, 1, 4, pre_transformed=True), b), r))
    got, f = run(out, [x, U, b, r], [an, u, bb, res_in], "native")
    want = np.maximum(ref.conv2d_NCHWc_ref(an, kn, 1, 1) + bb + res_in, 0)
    close(got, want, WINO_TOL[4])


@pytest.mark.parametrize("target,block", [("native", None), ("avx2", 16)])
def test_winograd_NCHWc_input_transform_reads_whole_blocks(target, block):
    """Data blocks two vectors wide (ResNet's NCHWc graph: 2 x lanes channels), several of
    them: the input transform reads each block's channels as vectors (its split follows the
    blocks; split by the lanes alone, c // block and c % block were gathered lane by lane)."""
    from texpr.topi.cpu import cpu_info
    block = block or 2 * cpu_info("native").lanes
    an, kn = wino_case(1, 3 * block, 10, 10, block, block, block)
    u = ref.winograd_weight_transform_NCHWc_ref(kn, 4)
    x, U = te.placeholder(an.shape, name="x"), te.placeholder(u.shape, name="U")
    got, f = run(topi.nn.conv2d_winograd_NCHWc(x, U, 1, 4, pre_transformed=True),
                 [x, U], [an, u], target)
    close(got, ref.conv2d_NCHWc_ref(an, kn, 1, 1), WINO_TOL[4])
    body = f.source.split("// stage winograd_T")[1].split("// stage")[0]
    assert "winograd_data_pad[" in body and "_lane" not in body


def test_winograd_NCHWc_rejects_bad_input():
    x = te.placeholder((1, 2, 8, 8, 4), name="x")
    with pytest.raises(te.TexprError, match="3x3"):
        topi.nn.conv2d_winograd_NCHWc(x, te.placeholder((1, 2, 5, 5, 4, 4), name="w"), 1, 2)
    with pytest.raises(te.TexprError, match="tile size"):
        topi.nn.conv2d_winograd_NCHWc(x, te.placeholder((1, 2, 3, 3, 4, 4), name="w"), 1, 3)
    with pytest.raises(te.TexprError, match="input block"):
        topi.nn.conv2d_winograd_NCHWc(x, te.placeholder((1, 4, 3, 3, 2, 4), name="w"), 1, 2)
    with pytest.raises(te.TexprError, match="alpha"):
        topi.nn.conv2d_winograd_NCHWc(x, te.placeholder((4, 4, 1, 8, 4), name="U"), 1, 4,
                                      pre_transformed=True)
    with pytest.raises(te.TexprError, match="input channels"):
        topi.nn.conv2d_winograd_NCHWc(x, te.placeholder((6, 6, 1, 6, 4), name="U"), 1, 4,
                                      pre_transformed=True)
    with pytest.raises(te.TexprError, match="5-D"):
        topi.nn.conv2d_winograd_NCHWc(te.placeholder((1, 8, 8, 8), name="x"),
                                      te.placeholder((1, 2, 3, 3, 4, 4), name="w"), 1, 2)


# ----------------------------------------------------------------------------- depthwise NCHWc

@pytest.mark.parametrize("target", ["native", "avx512", "neon"])
@pytest.mark.parametrize("N,C,H,W,cb,R,stride,pad,dil,M,ob", [
    (1, 32, 9, 11, 16, 3, 1, 1, 1, 1, 16),
    (2, 12, 10, 7, 4, 3, 2, 1, 1, 1, 4),
    (1, 8, 8, 8, 8, 5, 1, (2, 1, 0, 3), 2, 1, 8),
    (1, 8, 9, 10, 4, 3, 1, 1, 1, 2, 8),          # channel multiplier 2, output blocks of 8
    (2, 6, 7, 9, 2, 3, 2, 0, 1, 4, 4),           # multiplier 4, no padding
    (1, 16, 6, 6, 8, 3, 1, 1, 1, 1, 16),         # multiplier 1, output blocks != input's
])
def test_depthwise_conv2d_NCHWc(target, N, C, H, W, cb, R, stride, pad, dil, M, ob):
    a, k, bb = rand(N, C, H, W), rand(C, M, R, R), rand(1, C * M // ob, 1, 1, ob)
    an, kn = ref.nchw_to_nchwc_ref(a, cb), ref.pack_depthwise_kernel_nchwc_ref(k, ob)
    x, w, b = (te.placeholder(v.shape, name=nm) for v, nm in ((an, "x"), (kn, "w"), (bb, "b")))
    out = topi.nn.relu(topi.nn.add(topi.nn.depthwise_conv2d_NCHWc(x, w, stride, pad, dil), b))
    got, _ = run(out, [x, w, b], [an, kn, bb], target)
    want = ref.nchw_to_nchwc_ref(ref.depthwise_conv2d_nchw_ref(a, k, stride, pad, dil), ob)
    np.testing.assert_allclose(ref.depthwise_conv2d_NCHWc_ref(an, kn, stride, pad, dil), want,
                               rtol=1e-5, atol=1e-5)
    close(got, np.maximum(want + bb, 0), 1e-5)


def test_depthwise_conv2d_NCHWc_rejects_bad_input():
    x = te.placeholder((1, 2, 8, 8, 4), name="x")
    with pytest.raises(te.TexprError, match="do not match"):    # 12 channels: not 8 * M
        topi.nn.depthwise_conv2d_NCHWc(x, te.placeholder((3, 3, 3, 4), name="w"), 1, 1)
    with pytest.raises(te.TexprError, match="do not match"):    # fewer than the data's
        topi.nn.depthwise_conv2d_NCHWc(x, te.placeholder((1, 3, 3, 4), name="w"), 1, 1)
    with pytest.raises(te.TexprError, match="larger than the input"):
        topi.nn.depthwise_conv2d_NCHWc(x, te.placeholder((2, 11, 11, 4), name="w"), 1, 0)
    with pytest.raises(te.TexprError, match="4-D"):
        topi.nn.depthwise_conv2d_NCHWc(x, te.placeholder((2, 1, 3, 3, 4), name="w"), 1, 1)


# ----------------------------------------------------------------------------- pooling NCHWc

@pytest.mark.parametrize("pool_type,kernel,stride,pad", [("max", 3, 2, 1), ("avg", 2, 1, 0),
                                                         ("max", (3, 2), (1, 2), (1, 0, 2, 1))])
def test_pool2d_NCHWc_schedule(pool_type, kernel, stride, pad):
    a = rand(1, 48, 11, 10)
    an = ref.nchw_to_nchwc_ref(a, 16)
    x = te.placeholder(an.shape, name="x")
    got, _ = run(topi.nn.pool2d(x, kernel, stride, pad, pool_type), [x], [an], "native")
    want = ref.nchw_to_nchwc_ref(ref.pool2d_ref(a, kernel, stride, pad, pool_type), 16)
    close(got, want, 1e-5)


@pytest.mark.parametrize("layout,pool_type", [("NCHWc", "avg"), ("NCHWc", "max"),
                                              ("NCHW", "avg")])
def test_global_pool_flatten(layout, pool_type):
    a = rand(2, 48, 5, 7)
    an = ref.nchw_to_nchwc_ref(a, 16) if layout == "NCHWc" else a
    x = te.placeholder(an.shape, name="x")
    got, _ = run(topi.nn.global_pool_flatten(x, pool_type), [x], [an], "native")
    want = a.mean(axis=(2, 3)) if pool_type == "avg" else a.max(axis=(2, 3))
    np.testing.assert_allclose(ref.global_pool_flatten_ref(an, pool_type), want, rtol=1e-5)
    close(got, want, 1e-5)
    with pytest.raises(te.TexprError, match="pool_type"):
        topi.nn.global_pool_flatten(x, "sum")
