"""The registered fast CPU schedules (topi/cpu.py) compute what the NumPy references say, on
odd shapes: tails of the register tiles, of the cache blocks and of the reduction chunks,
fused epilogues, and layouts the schedules rewrite (packed weights, channel blocks).

Targets: "native" (the host's: avx2 on Zen 3, avx512 on Zen 4), "avx512" (native when the
CPU has it, else the same source through SIMDe) and "neon" (qemu-aarch64; skipped when the
cross tools are missing).
"""
import os
import platform
import shutil

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

import texpr as te
import texpr.topi as topi
from texpr.topi import testing as ref
from texpr.topi.winograd import winograd_weight_transform_ref
from support.parallel import parallel_loops

RNG = np.random.default_rng(11)
HAVE_NEON = platform.machine().lower() in ("aarch64", "arm64") or all(
    shutil.which(t) for t in ("aarch64-linux-gnu-gcc", "qemu-aarch64"))
neon = pytest.param("neon", marks=pytest.mark.skipif(not HAVE_NEON, reason="no NEON toolchain"))
X86 = ["native", "avx512"]


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def run(out, inputs, arrays, target):
    s = topi.schedule(out, target)
    f = te.build(s, list(inputs) + [out], target=target)
    res = np.full([int(d.value) for d in out.shape], np.nan, out.dtype)
    f(*arrays, res)
    return res, f


def close(got, want, tol=1e-4):
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


# ----------------------------------------------------------------------------- dense

def test_dense_transposed_only_where_the_output_transpose_is_cheap():
    """The transposed product copies the M x N output once more (about 1/K of the product),
    packing the weight costs about 1/M: transposed up to 384 rows and K / 2 of them."""
    from texpr.topi.cpu import dense_transposed
    assert dense_transposed(16, 768) and dense_transposed(384, 768) and dense_transposed(64, 128)
    assert not dense_transposed(256, 16) and not dense_transposed(200, 256)
    assert not dense_transposed(385, 4096)


@pytest.mark.parametrize("target", X86)
@pytest.mark.parametrize("M,N,K,epi", [(1, 17, 9, None), (1, 37, 70, "bias_relu"),
                                       (1, 29, 100, None), (2, 20, 33, None), (13, 50, 70, "bias"),
                                       (37, 65, 300, "bias_relu"), (64, 96, 520, None),
                                       (130, 33, 1031, "relu"),
                                       # rows over K / 2 (dense_transposed false): the weight
                                       # packed, not read as it lies
                                       (256, 100, 16, None), (64, 37, 8, "bias_relu"),
                                       (129, 70, 33, "bias"), (40, 96, 64, None)])
def test_dense(target, M, N, K, epi):
    xd = te.placeholder((M, K), name="x")
    w = te.placeholder((N, K), name="w")
    b = te.placeholder((N,), name="b")
    out = topi.nn.dense(xd, w, b if epi and "bias" in epi else None)
    if epi and "relu" in epi:
        out = topi.nn.relu(out)
    a, ww, bb = rand(M, K), rand(N, K), rand(N)
    ins, arrs = [xd, w], [a, ww]
    if epi and "bias" in epi:
        ins, arrs = ins + [b], arrs + [bb]
    got, f = run(out, ins, arrs, target)
    want = ref.dense_ref(a, ww, bb if epi and "bias" in epi else None)
    if epi and "relu" in epi:
        want = np.maximum(want, 0)
    close(got, want)
    lanes = 16 if target == "avx512" else 8
    if M <= topi.cpu.gemv_max_rows(target) and K >= 2 * lanes:
        # dot products over the weight's rows as they lie: no packed copy of the weight
        assert "dense.rf" in f.source and "pack" not in f.source
        return
    if topi.cpu.dense_transposed(M, K):
        # the product transposed, the weight read as it lies: only the data is packed
        assert "dense_packA" in f.source and "packW" not in f.source
        assert "tensorize gemm_fp32" in f.source
        return
    assert "dense_packW" in f.source            # the weight packed (blocks or whole)
    cfg = topi.cpu.dense_config(M, N, K, target)
    if M >= cfg["mr"] and N >= cfg["nr"]:
        assert "tensorize gemm_fp32" in f.source


@pytest.mark.parametrize("M,K,epi", [(3, 40, False), (5, 70, True)])
def test_dense_few_rows_dot_product_tiles(M, K, epi):
    """3 to gemv_max_rows data rows (6 on Zen 3, 4 and 5): dot products of every data row
    with one or a few weight rows at once (gemv_tile: one where every row's two partial sums
    already keep the FMA unit busy, Zen 4 at 512 bits), the weight read as it lies; N, K no
    multiple of the tile; bias + relu fused."""
    M = min(M, topi.cpu.gemv_max_rows("native"))
    rows, unroll = topi.cpu.gemv_tile(M, topi.cpu.cpu_info("native"))
    N = 4 * rows + 1
    assert rows == 1 or N % rows
    xd, w, b = te.placeholder((M, K), name="x"), te.placeholder((N, K), name="w"), \
        te.placeholder((N,), name="b")
    out = topi.nn.relu(topi.nn.dense(xd, w, b)) if epi else topi.nn.dense(xd, w)
    a, ww, bb = rand(M, K), rand(N, K), rand(N)
    got, f = run(out, [xd, w] + ([b] if epi else []), [a, ww] + ([bb] if epi else []), "native")
    want = ref.dense_ref(a, ww, bb if epi else None)
    close(got, np.maximum(want, 0) if epi else want)
    assert "dense.rf" in f.source and "pack" not in f.source


@pytest.mark.parametrize("target", X86 + [neon])
def test_dense_small_all_targets(target):
    M, N, K = 9, 21, 13
    xd, w, b = te.placeholder((M, K), name="x"), te.placeholder((N, K), name="w"), \
        te.placeholder((N,), name="b")
    out = topi.nn.relu(topi.nn.dense(xd, w, b))
    a, ww, bb = rand(M, K), rand(N, K), rand(N)
    got, _ = run(out, [xd, w, b], [a, ww, bb], target)
    close(got, np.maximum(ref.dense_ref(a, ww, bb), 0))


@pytest.mark.parametrize("target", X86)
@pytest.mark.parametrize("M,N,K,nb,bias", [(5, 48, 40, 16, False), (29, 70, 33, 32, True)])
def test_dense_pack(target, M, N, K, nb, bias):
    """The pre-packed path: weight panels made once (pack_dense_weight), N not a multiple."""
    w = te.placeholder((N, K), name="w")
    wp = topi.layout.pack_dense_weight(w, nb)
    ww = rand(N, K)
    panels, _ = run(wp, [w], [ww], "native")
    np.testing.assert_array_equal(panels, ref.pack_dense_weight_ref(ww, nb))
    xd = te.placeholder((M, K), name="x")
    wpp = te.placeholder(panels.shape, name="wp")
    b = te.placeholder((N,), name="b")
    out = topi.nn.dense_pack(xd, wpp, b if bias else None, units=N)
    a, bb = rand(M, K), rand(N)
    got, f = run(out, [xd, wpp] + ([b] if bias else []), [a, panels] + ([bb] if bias else []),
                 target)
    close(got, ref.dense_ref(a, ww, bb if bias else None))
    assert "packA" not in f.source          # rows unpadded: the data is read in place
    close(got, ref.dense_pack_ref(a, panels, bb if bias else None, units=N))


@pytest.mark.parametrize("target", X86)
@pytest.mark.parametrize("B,M,N,K", [(3, 7, 19, 5), (2, 30, 40, 33), (4, 16, 64, 128),
                                     (5, 1, 33, 96), (2, 4, 70, 130)])
def test_batch_matmul(target, B, M, N, K):
    x, y = te.placeholder((B, M, K), name="x"), te.placeholder((B, N, K), name="y")
    a, b = rand(B, M, K), rand(B, N, K)
    got, _ = run(topi.nn.batch_matmul(x, y), [x, y], [a, b], target)
    close(got, ref.batch_matmul_ref(a, b))


@pytest.mark.parametrize("target", ["avx2", "avx512"])
@pytest.mark.parametrize("M", [1, 3])
def test_batch_matmul_of_few_rows_reads_y_as_it_lies(target, M):
    """A few rows a batch (a decoding step's one query): dot products over y's rows, no
    panel of y packed per call; a fused epilogue on the dot products."""
    B, N, K = 4, 37, 160
    x, y = te.placeholder((B, M, K), name="x"), te.placeholder((B, N, K), name="y")
    a, b = rand(B, M, K), rand(B, N, K)
    got, f = run(topi.nn.relu(topi.nn.batch_matmul(x, y)), [x, y], [a, b], target)
    close(got, np.maximum(ref.batch_matmul_ref(a, b), 0))
    assert "_gemm" not in f.source and "pack" not in f.source


def _first_rows(start, fits):
    """The first row count M >= start for which fits(M) holds: a shape the test derives from
    the target's configuration (register tiles differ with the lanes and registers)."""
    return next(m for m in range(start, start + 256) if fits(m))


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_batch_matmul_partial_row_tile_is_not_padded(target):
    """M no multiple of the tile's rows (N and K exact): the last row tile runs the gemm
    kernel for its row count; no padded copy of x, no copy of the output. N is two vectors
    of the target's lanes; M the fewest rows dense would pad (its tile's rows differ per
    target: 6 of 8 lanes on AVX2, up to 14 of 16 on AVX-512)."""
    from texpr.topi.cpu import batch_matmul_config, cpu_info, dense_config
    B, N, K = 2, 2 * cpu_info(target).lanes, 64
    M = _first_rows(2, lambda m: dense_config(m, N, K, target)["Mp"] != m)   # dense pads
    cfg = batch_matmul_config(M, N, K, target)
    assert cfg["Mp"] == M and not cfg["pack_a"] and M % cfg["mr"]
    x, y = te.placeholder((B, M, K), name="x"), te.placeholder((B, N, K), name="y")
    a, b = rand(B, M, K), rand(B, N, K)
    got, f = run(topi.nn.batch_matmul(x, y), [x, y], [a, b], target)
    close(got, ref.batch_matmul_ref(a, b))
    assert "packA" not in f.source and "_gemm" not in f.source


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_batch_matmul_rows_of_a_batch_are_one_block_when_the_batches_share_the_threads(
        target, monkeypatch):
    """With batches for two parallel blocks a thread, a batch's rows are one block (each
    row block packs the batch's y again) where M x kc fits half the L2; fewer batches keep
    dense's row blocks. M = 260: the last row tile partial, not padded."""
    from texpr.topi.cpu import batch_matmul_config
    monkeypatch.setenv("TEXPR_NUM_THREADS", "2")
    M, N, K = 260, 64, 64
    few, many = (batch_matmul_config(M, N, K, target, batches=b) for b in (3, 4))
    assert few["mb"] < M <= many["mb"] < M + many["mr"]
    x, y = te.placeholder((4, M, K), name="x"), te.placeholder((4, N, K), name="y")
    a, b = rand(4, M, K), rand(4, N, K)
    got, f = run(topi.nn.batch_matmul(x, y), [x, y], [a, b], target)
    close(got, ref.batch_matmul_ref(a, b))
    assert "packA" not in f.source and "_gemm" not in f.source


@pytest.mark.parametrize("target", ["avx2", "avx512"])
@pytest.mark.parametrize("B,M,N,K", [(2, 260, 48, 96), (1, 9, 1024, 24)])
def test_batch_matmul_packs_y_by_transposed_blocks(target, B, M, N, K):
    """N and K whole panels and 8-value blocks: each batch's y is packed inside the parallel
    loop, on AVX2 by 8 x 8 transposed blocks (transpose_fp32, as dense's weight blocks), on
    AVX-512 by the vectorized copy, which also prefetches the next batch's lines of y (N x K
    values further on); each parallel block packs its part: two row blocks per batch (M =
    260) or two column blocks (N = 1024)."""
    from texpr.topi.cpu import batch_matmul_config
    cfg = batch_matmul_config(M, N, K, target)
    assert (cfg["Np"], cfg["Kp"]) == (N, K) and (cfg["mb"] < M or cfg["nb"] < N)
    x, y = te.placeholder((B, M, K), name="x"), te.placeholder((B, N, K), name="y")
    a, b = rand(B, M, K), rand(B, N, K)
    got, f = run(topi.nn.batch_matmul(x, y), [x, y], [a, b], target)
    close(got, ref.batch_matmul_ref(a, b))
    assert parallel_loops(f.source) == 1
    assert ("transpose_fp32_8x8" in f.source) == (target == "avx2")
    ahead = [line for line in f.source.splitlines() if "__builtin_prefetch(&y[" in line]
    assert bool(ahead) == (target == "avx512")
    assert not ahead or any(line.rstrip().endswith(f"+ {N * K}], 0, 3);") for line in ahead)


@pytest.mark.parametrize("target,units,rows,want", [
    # one 512-bit FMA unit (Zen 4): 6 weight rows, one vector of data rows where two would
    # pad more, two where they pad no more (not 3 x 2: the FMA units' 6 accumulators)
    ("avx512", 1, 40, (6, 16)), ("avx512", 1, 100, (6, 16)), ("avx512", 1, 64, (6, 32)),
    ("avx512", 1, 24, (6, 32)), ("avx512", 1, 16, (6, 16)),
    # two units (Zen 5; AVX2 on Zen 3/4): 12 accumulators, two vectors from 2 x lanes rows up
    ("avx512", 2, 40, (6, 32)), ("avx512", 2, 64, (6, 32)), ("avx2", 2, 40, (6, 16)),
    ("avx2", 2, 8, (12, 8))])
def test_dense_rows_register_tile_by_fma_units(monkeypatch, target, units, rows, want):
    """dense_rows_config's tile (weight rows, data rows) from the machine's FMA units and
    lanes, not from the host: CpuInfo given."""
    info = topi.cpu.CpuInfo(target)
    info.fma_units = units
    monkeypatch.setattr(topi.cpu, "cpu_info", lambda t: info)
    cfg = topi.cpu.dense_rows_config(rows, 1024, 1024, target)
    assert (cfg["mr"], cfg["nr"]) == want
    assert cfg["Mp"] == -(-rows // cfg["nr"]) * cfg["nr"]


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_dense_many_rows_packs_weight_blocks_in_parallel_loop(target):
    """M above DENSE_ROWS_MAX on a raw weight: each parallel block of weight rows packs its
    panels per reduction chunk (K = 2560: chunks of an eighth of the L2, e.g. 640 on
    AVX-512 at 1 MiB) inside the parallel loop, on AVX2 by 8 x 8 transposed blocks
    (transpose_fp32); M is the first row count above DENSE_ROWS_MAX + 2 that is no multiple
    of the tile's rows: no padded copy of the data, no copy of the output. N = 6 vectors of
    the target's lanes (two blocks)."""
    from texpr.topi.cpu import DENSE_ROWS_MAX, cpu_info, dense_weight_blocks_config
    N, K = 6 * cpu_info(target).lanes, 2560

    def config(m):
        return dense_weight_blocks_config(m, N, K, target, units=2)
    M = _first_rows(DENSE_ROWS_MAX + 3, lambda m: m % config(m)["mr"] != 0)
    cfg = config(M)
    assert M > DENSE_ROWS_MAX
    assert cfg["Mp"] == M and M % cfg["mr"] and cfg["kc"] < K and K % cfg["kc"] == 0
    assert N // cfg["nb"] >= 2                       # a block per core at least
    xd, w = te.placeholder((M, K), name="x"), te.placeholder((N, K), name="w")
    a, ww = rand(M, K), rand(N, K)
    got, f = run(topi.nn.dense(xd, w), [xd, w], [a, ww], target)
    close(got, ref.dense_ref(a, ww, None))
    assert "packA" not in f.source and "_gemm" not in f.source
    assert parallel_loops(f.source) == 1 and "dense_packW" in f.source
    assert ("transpose_fp32_8x8" in f.source) == (target == "avx2")
    assert dense_weight_blocks_config(M, N + 2, K, target) is None   # N % nr: padded


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_dense_many_rows_odd_width_pads_the_last_weight_panel(target, monkeypatch):
    """M above DENSE_ROWS_MAX, N = 1001 (no multiple of any tile, a classifier's width):
    the weight blocks pad their last panel with zeros (Np > N by under
    WEIGHT_BLOCKS_MAX_PADDING) and each block's product goes through a buffer copied to the
    output, instead of the whole weight packed and padded per call; at 2 threads the rows
    of each block are split where the blocks alone do not share evenly (row_parts)."""
    from texpr.topi.cpu import DENSE_ROWS_MAX, WEIGHT_BLOCKS_MAX_PADDING, \
        dense_weight_blocks_config
    monkeypatch.setenv("TEXPR_NUM_THREADS", "2")
    M, N, K = DENSE_ROWS_MAX + 3, 1001, 640
    cfg = dense_weight_blocks_config(M, N, K, target)
    assert N < cfg["Np"] <= N * (1 + WEIGHT_BLOCKS_MAX_PADDING) and cfg["Mp"] == M
    assert (cfg["Np"] // cfg["nb"] * cfg["row_parts"]) % 2 == 0
    xd, w = te.placeholder((M, K), name="x"), te.placeholder((N, K), name="w")
    a, ww = rand(M, K), rand(N, K)
    got, f = run(topi.nn.dense(xd, w), [xd, w], [a, ww], target)
    close(got, ref.dense_ref(a, ww, None))
    assert "dense_packW" in f.source and "packA" not in f.source
    assert parallel_loops(f.source) == 1
    # 21 panels of 48 (AVX-512): 3 blocks, each block's rows in 2 parts for 2 threads
    if target == "avx512":
        assert dense_weight_blocks_config(M, 1008, 999, target, units=2)["row_parts"] == 2
        assert dense_weight_blocks_config(M, 1008, 999, target, units=1)["row_parts"] == 1


def test_dense_many_rows_odd_width_long_reduction_is_transposed():
    """M above DENSE_ROWS_MAX, N no multiple of the tile, K >= DENSE_ROWS_MIN_K: computed
    transposed (the data packed, the weight read as it lies), not the weight packed whole."""
    M, N, K = topi.cpu.DENSE_ROWS_MAX + 3, 21, topi.cpu.DENSE_ROWS_MIN_K
    xd, w = te.placeholder((M, K), name="x"), te.placeholder((N, K), name="w")
    a, ww = rand(M, K), rand(N, K)
    got, f = run(topi.nn.dense(xd, w), [xd, w], [a, ww], "native")
    close(got, ref.dense_ref(a, ww, None))
    assert "dense_packA" in f.source and "packW" not in f.source


def test_register_tile_choice_follows_vector_width():
    avx2 = topi.cpu.dense_config(1024, 1024, 1024, "avx2")
    avx512 = topi.cpu.dense_config(1024, 1024, 1024, "avx512")
    assert avx2["nr"] % 8 == 0 and avx512["nr"] % 16 == 0 and avx512["nr"] > avx2["nr"] // 2
    assert (avx512["Mp"], avx512["Np"], avx512["Kp"]) == (1024, 1024, 1024)   # no padding
    for M, N, K in [(1024, 1024, 1024), (37, 65, 300), (1, 1000, 2049), (200, 7, 9)]:
        for t in ("avx2", "avx512", "neon"):
            c = topi.cpu.dense_config(M, N, K, t)
            lanes = {"avx2": 8, "avx512": 16, "neon": 4}[t]
            assert c["nr"] % lanes == 0
            # whole tiles in whole blocks: no partial register tile anywhere
            assert c["mb"] % c["mr"] == 0 and c["Mp"] % c["mb"] == 0 and c["Mp"] >= M
            assert c["nb"] % c["nr"] == 0 and c["Np"] % c["nb"] == 0 and c["Np"] >= N
            assert c["Kp"] % c["kc"] == 0 and c["Kp"] >= K
            assert c["Mp"] * c["Np"] <= 1.5 * (M + c["mr"]) * (N + c["nr"])  # little waste


# ----------------------------------------------------------------------------- conv2d NCHWc

def nchwc_case(N, C, H, W, O, R, stride, pad, dil, ic, oc):
    a, k = rand(N, C, H, W), rand(O, C, R, R)
    return a, k, ref.nchw_to_nchwc_ref(a, ic), ref.pack_kernel_nchwc_ref(k, ic, oc)


@pytest.mark.parametrize("target", X86)
@pytest.mark.parametrize("N,C,H,W,O,R,stride,pad,dil,ic,oc,epi", [
    (1, 8, 9, 11, 16, 3, 1, 1, 1, 8, 16, None),
    (2, 6, 10, 13, 32, 3, 2, 1, 1, 3, 32, "bias_relu"),
    (1, 16, 7, 7, 16, 1, 1, 0, 1, 16, 16, "relu"),
    (1, 3, 17, 15, 8, 5, 2, 2, 1, 3, 8, None),
    (1, 8, 12, 12, 16, 3, 1, 2, 2, 4, 8, "bias"),
])
def test_conv2d_NCHWc(target, N, C, H, W, O, R, stride, pad, dil, ic, oc, epi):
    a, k, an, kn = nchwc_case(N, C, H, W, O, R, stride, pad, dil, ic, oc)
    x = te.placeholder(an.shape, name="x")
    w = te.placeholder(kn.shape, name="w")
    b = te.placeholder((O // oc, 1, 1, oc), name="b")
    out = topi.nn.conv2d_NCHWc(x, w, stride, pad, dil)
    bb = rand(O)
    ins, arrs = [x, w], [an, kn]
    if epi and "bias" in epi:
        out = topi.nn.add(out, b)
        ins, arrs = ins + [b], arrs + [bb.reshape(O // oc, 1, 1, oc)]
    if epi and "relu" in epi:
        out = topi.nn.relu(out)
    got, _ = run(out, ins, arrs, target)
    want = ref.conv2d_nchw_ref(a, k, stride, pad, dil)
    if epi and "bias" in epi:
        want = want + bb.reshape(1, -1, 1, 1)
    if epi and "relu" in epi:
        want = np.maximum(want, 0)
    close(got, ref.nchw_to_nchwc_ref(want, oc))


@pytest.mark.parametrize("target", ["avx512", neon])
def test_conv2d_NCHWc_small_other_targets(target):
    a, k, an, kn = nchwc_case(1, 4, 6, 7, 8, 3, 1, 1, 1, 4, 8)
    x, w = te.placeholder(an.shape, name="x"), te.placeholder(kn.shape, name="w")
    got, _ = run(topi.nn.relu(topi.nn.conv2d_NCHWc(x, w, 1, 1)), [x, w], [an, kn], target)
    close(got, ref.nchw_to_nchwc_ref(np.maximum(ref.conv2d_nchw_ref(a, k, 1, 1), 0), 8))


# ----------------------------------------------------------------------------- conv2d NCHW

@pytest.mark.parametrize("target", X86)
@pytest.mark.parametrize("N,C,H,W,O,R,stride,pad,dil,epi", [
    (1, 5, 9, 11, 12, 3, 1, 1, 1, None),
    (2, 3, 15, 13, 16, 7, 2, 3, 1, "bias_relu"),
    (1, 32, 7, 7, 48, 1, 1, 0, 1, "relu"),
    (1, 16, 10, 9, 8, 3, 1, (1, 0, 2, 1), 2, None),
])
def test_conv2d_nchw(target, N, C, H, W, O, R, stride, pad, dil, epi):
    a, k, bb = rand(N, C, H, W), rand(O, C, R, R), rand(O)
    x, w, b = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w"), \
        te.placeholder((O,), name="b")
    out = topi.nn.conv2d_nchw(x, w, stride, pad, dil)
    ins, arrs = [x, w], [a, k]
    if epi and "bias" in epi:
        out = topi.nn.bias_add(out, b)
        ins, arrs = ins + [b], arrs + [bb]
    if epi and "relu" in epi:
        out = topi.nn.relu(out)
    got, _ = run(out, ins, arrs, target)
    want = ref.conv2d_nchw_ref(a, k, stride, pad, dil)
    if epi and "bias" in epi:
        want = want + bb.reshape(1, -1, 1, 1)
    if epi and "relu" in epi:
        want = np.maximum(want, 0)
    close(got, want)


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_direct_conv_tiles_are_compiled_without_predictive_commoning(target):
    """The channel-block route's kernel carries the pragma (GCC spilled the stride-2 input
    values it carried across the kernel-column loop of a wide tile) and stays correct."""
    a, k = rand(1, 64, 11, 11), rand(32, 64, 3, 3)
    x, w = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w")
    got, f = run(topi.nn.conv2d_nchw(x, w, 2, 1), [x, w], [a, k], target)
    close(got, ref.conv2d_nchw_ref(a, k, 2, 1))
    assert "data_blocked" in f.source and "no-predictive-commoning" in f.source


def _grouped_stage_names(C, H, W, O, R, groups, stride, pad, dilation, target):
    x = te.placeholder((1, C, H, W), name="x")
    w = te.placeholder((O, C // groups, R, R), name="w")
    s = topi.schedule(topi.nn.conv2d_nchw(x, w, stride, pad, dilation, groups=groups), target)
    return {stage.op.name for stage in s.stages}


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_grouped_conv2d_nchw_takes_a_vector_route(target):
    """Groups of whole channel vectors run the channel-block route (each block reading its
    group's input blocks: ResNeXt's 32 groups of 8 take AVX-512's 8-lane vectors), groups of
    fewer channels the few-channel one (output rows as vectors); only rows narrower than a
    vector keep the default (scalar) schedule."""
    assert "data_blocked" in _grouped_stage_names(128, 28, 28, 128, 3, 4, 1, 1, 1, target)
    assert "data_blocked" in _grouped_stage_names(256, 14, 14, 256, 3, 32, 1, 1, 1, target)
    assert "data_blocked" in _grouped_stage_names(240, 28, 28, 240, 1, 3, 1, 0, 1, target)
    assert "data_phases" in _grouped_stage_names(48, 30, 30, 48, 5, 12, 2, 2, 1, target)
    names = _grouped_stage_names(12, 5, 5, 24, 3, 6, 1, 1, 1, target)
    assert not {"data_blocked", "data_phases"} & names


@settings(max_examples=int(os.environ.get("TEXPR_GROUPED_CONV_EXAMPLES", "12")), deadline=None)
@given(groups=st.sampled_from([2, 3, 4, 8]), cg=st.sampled_from([1, 2, 3, 4, 8, 16, 24]),
       og=st.sampled_from([1, 2, 4, 5, 8, 16, 24, 32]), hw=st.tuples(st.integers(3, 19),
                                                                      st.integers(3, 37)),
       kernel=st.sampled_from([(1, 0), (3, 1), (3, 0), (5, 2)]), stride=st.sampled_from([1, 2]),
       dilation=st.sampled_from([1, 2]), target=st.sampled_from(["avx2", "avx512"]),
       epi=st.sampled_from([None, "bias_relu"]))
def test_grouped_conv2d_nchw_equals_the_reference(groups, cg, og, hw, kernel, stride, dilation,
                                                  target, epi):
    """A grouped convolution on any route (channel blocks of one group, the few-channel row
    tiles, the default) equals NumPy's, fused epilogue included: a block that read another
    group's channels would be caught here."""
    (H, W), (R, pad) = hw, kernel
    if (R - 1) * dilation + 1 > min(H, W) + 2 * pad:
        return
    C, O = groups * cg, groups * og
    a, k, b = rand(1, C, H, W), rand(O, cg, R, R), rand(O)
    x, w = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w")
    out = topi.nn.conv2d_nchw(x, w, stride, pad, dilation, groups=groups)
    ins, arrs = [x, w], [a, k]
    if epi:
        bt = te.placeholder((O,), name="b")
        out = topi.nn.relu(topi.nn.bias_add(out, bt))
        ins, arrs = ins + [bt], arrs + [b]
    got, _ = run(out, ins, arrs, target)
    want = ref.conv2d_nchw_ref(a, k, stride, pad, dilation, groups=groups)
    if epi:
        want = np.maximum(want + b.reshape(1, -1, 1, 1), 0)
    close(got, want)


# ----------------------------------------------------------------------------- Winograd

# F(6,3)'s transforms have entries up to ~10: its error grows faster with the channels
WINO_TOL = {2: 1e-4, 4: 5e-4, 5: 1e-3, 6: 2e-3}


# avx512 (SIMDe: its compiles are the suite's slowest) runs F(2,3) only: the transforms of
# F(4,3) and F(6,3) are the target-independent ones checked on native, and the avx512 emitter
# is checked on this schedule by m = 2 and at F(4,3) by the pre-transformed (OI) and fused tests
@pytest.mark.parametrize("target, m", [("native", 2), ("native", 4), ("native", 5), ("native", 6),
                                       ("avx512", 2)])
def test_winograd(target, m):
    """Batch 2, channels no vector divides, asymmetric padding, tiles past the border."""
    a, k = rand(2, 5, 8, 7), rand(6, 5, 3, 3)
    x, w = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w")
    pad = (1, 0, 2, 1)
    got, _ = run(topi.nn.conv2d_winograd_nchw(x, w, pad, m), [x, w], [a, k], target)
    close(got, ref.conv2d_nchw_ref(a, k, 1, pad), WINO_TOL[m])


# the layouts differ only in the target-independent compute (OI is transposed by the
# schedule): both on native; avx512 takes OI, the one with the transposing stage
@pytest.mark.parametrize("target, layout", [("native", "IO"), ("native", "OI"),
                                            ("avx512", "OI")])
def test_winograd_pre_transformed(target, layout):
    """Offline weight transform in both layouts (OI is transposed by the schedule)."""
    a, k = rand(1, 16, 9, 13), rand(32, 16, 3, 3)
    u = winograd_weight_transform_ref(k, 4, layout)
    x, U = te.placeholder(a.shape, name="x"), te.placeholder(u.shape, name="U")
    out = topi.nn.conv2d_winograd_nchw(x, U, 1, 4, pre_transformed=True, weight_layout=layout)
    got, f = run(out, [x, U], [a, u], target)
    close(got, ref.conv2d_nchw_ref(a, k, 1, 1), WINO_TOL[4])
    assert "tensorize gemm_fp32" in f.source


def test_winograd_gemm_masks_the_last_output_channels():
    """avx512, 21 output channels (not whole 16-lane vectors) and 5 x 5 tiles (a block of
    rows the register tile does not divide): where AVX-512 runs natively the batched GEMM's
    last column tile runs the register tile under lane masks (gemm_fp32(masked_cols=True)),
    not the scalar loops (under SIMDe: the scalar loops); equal to NumPy either way."""
    from texpr.topi.cpu import cpu_info, winograd_gemm_tile
    a, k = rand(1, 7, 19, 19), rand(21, 7, 3, 3)
    u = winograd_weight_transform_ref(k, 4, "IO")
    x, U = te.placeholder(a.shape, name="x"), te.placeholder(u.shape, name="U")
    out = topi.nn.conv2d_winograd_nchw(x, U, 1, 4, pre_transformed=True, weight_layout="IO")
    got, f = run(out, [x, U], [a, u], "avx512")
    close(got, ref.conv2d_nchw_ref(a, k, 1, 1), WINO_TOL[4])
    info = cpu_info("avx512")
    masked = info.masked_gemm_columns
    assert masked == (not info.emulated) and not cpu_info("avx2").masked_gemm_columns
    assert ("_masked" in f.source and "_mm512_maskz_loadu_ps" in f.source) == masked
    if masked:      # whole vectors are the masked tile's cost: not 16 + 5 scalar columns
        assert "(partial tile)" in f.source
        assert winograd_gemm_tile(16, 61, info)[1] % 16 == 0


@pytest.mark.parametrize("target", [neon])
def test_conv_small_neon(target):
    a, k = rand(1, 8, 9, 9), rand(8, 8, 3, 3)
    x, w = te.placeholder(a.shape, name="x"), te.placeholder(k.shape, name="w")
    want = ref.conv2d_nchw_ref(a, k, 1, 1)
    got, _ = run(topi.nn.conv2d_winograd_nchw(x, w, 1, 4), [x, w], [a, k], target)
    close(got, want, WINO_TOL[4])
    got, _ = run(topi.nn.conv2d_nchw(x, w, 1, 1), [x, w], [a, k], target)
    close(got, want)


# native only: the epilogue rides on the output tiling that avx512 builds in
# test_winograd_pre_transformed[avx512-OI], and fused epilogues on avx512 are checked by the
# dense and direct conv tests (a SIMDe build of this kernel took ~30 s of the suite's budget)
@pytest.mark.parametrize("target", ["native"])
def test_winograd_fused_epilogue(target):
    a, k, bb = rand(1, 32, 14, 14), rand(32, 32, 3, 3), rand(32)
    u = winograd_weight_transform_ref(k, 4, "IO")
    x, U, b = te.placeholder(a.shape, name="x"), te.placeholder(u.shape, name="U"), \
        te.placeholder((32,), name="b")
    out = topi.nn.relu(topi.nn.bias_add(
        topi.nn.conv2d_winograd_nchw(x, U, 1, 4, pre_transformed=True, weight_layout="IO"), b))
    got, f = run(out, [x, U, b], [a, u, bb], target)
    close(got, np.maximum(ref.conv2d_nchw_ref(a, k, 1, 1) + bb.reshape(1, -1, 1, 1), 0),
          WINO_TOL[4])
    assert "tensorize gemm_fp32" in f.source


def test_winograd_weight_transform_layouts():
    k = rand(8, 4, 3, 3)
    w = te.placeholder(k.shape, name="w")
    for layout in ("OI", "IO"):
        got, _ = run(topi.nn.winograd_weight_transform(w, 4, layout), [w], [k], "native")
        close(got, winograd_weight_transform_ref(k, 4, layout), 1e-5)
    with pytest.raises(te.TexprError, match="layout"):
        topi.nn.winograd_weight_transform(w, 4, "XY")
