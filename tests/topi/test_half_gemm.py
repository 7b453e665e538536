"""topi dense / batch_matmul on the 16-bit micro-kernels (topi/cpu_half.py,
targets/half_intrin.py): float16 on NEON (float16 or float32 sums) under qemu-aarch64, bfloat16
with float32 sums on AVX-512 (vdpbf16ps through SIMDe on this CPU) and NEON -bf16=on (BFDOT).

Stated bounds against the exact (float64) product of the 16-bit inputs: float16 sums, each
step rounded to float16: |err| <= (K + 1) * 2^-11 * sum_k |a_k b_k|; float32 sums (exact
products): (K + 1) * 2^-24 * sum |a b|; BFDOT / vdpbf16ps / BFMMLA (pairs summed with round
to odd; BFMMLA is two BFDOT steps an output): (K + 1) * 2^-22 * sum |a b|. One tiny kernel per
cell: they compile slowly.
"""
import platform
import shutil

import ml_dtypes  # noqa: F401
import numpy as np
import pytest

import texpr as te
from texpr import topi
from texpr.targets.half_intrin import dot_bf16, gemm_bf16_mmla, gemm_fp16

BOUND_BITS = {"float16": 11, "float32": 24, "bf16dot": 22}


def _neon_missing():
    if platform.machine().lower() in ("aarch64", "arm64"):
        return None
    missing = [t for t in ("aarch64-linux-gnu-gcc", "qemu-aarch64") if shutil.which(t) is None]
    return f"{', '.join(missing)} not installed (`make test` installs them)" if missing else None


def _run(dt, target, out_dtype, batch, M, N, K, needle):
    shp = (lambda *d: (batch,) + d) if batch else (lambda *d: d)
    x = te.placeholder(shp(M, K), dt, name="x")
    w = te.placeholder(shp(N, K), dt, name="w")
    y = (topi.nn.batch_matmul(x, w, out_dtype=out_dtype) if batch
         else topi.nn.dense(x, w, out_dtype=out_dtype))
    f = te.build(topi.schedule([y], target), [x, w, y], target=target)
    assert needle in f.source                 # the micro-kernel, not the widening default
    rng = np.random.default_rng(M * N + K)
    a = rng.standard_normal(shp(M, K)).astype(dt)
    b = rng.standard_normal(shp(N, K)).astype(dt)
    c = np.empty(shp(M, N), y.dtype)
    f(a, b, c)
    a64, b64 = a.astype("float64"), np.swapaxes(b.astype("float64"), -1, -2)
    exact, mag = a64 @ b64, np.abs(a64) @ np.abs(b64)
    bits = BOUND_BITS["bf16dot" if dt == "bfloat16" else y.dtype]
    assert np.all(np.abs(c.astype("float64") - exact) <= (K + 1) * 2.0**-bits * mag + 1e-30)


@pytest.mark.parametrize("out_dtype,batch,needle", [(None, 0, "vfmaq_f16"),
                                                    ("float32", 2, "vcvt_high_f32_f16")])
def test_neon_float16_dense_and_batch_matmul(out_dtype, batch, needle):
    if _neon_missing():
        pytest.skip(_neon_missing())
    _run("float16", "neon", out_dtype, batch, 5, 16, 24, needle)


def test_bfloat16_dense_float32_sums_avx512():
    _run("bfloat16", "avx512", "float32", 0, 7, 32, 20, "TEXPR_DPBF16")


def _within_bf16_bound(got, a, b):
    """got (float32) against the exact product of a [.., M, K] and b [.., N, K]."""
    a64, b64 = a.astype("float64"), np.swapaxes(b.astype("float64"), -1, -2)
    exact, mag = a64 @ b64, np.abs(a64) @ np.abs(b64)
    return np.all(np.abs(got - exact) <= (a.shape[-1] + 1) * 2.0**-22 * mag + 1e-30)


def test_neon_bfloat16_bfdot_and_bfmmla():
    """One qemu build: a single row on BFDOT (dense 1 x 6), rows in pairs on BFMMLA (dense of
    7 rows: an 8-row tile's partial case with an unpaired row, K = 22: a k tail of 2; a
    batch_matmul of 3 rows, odd K = 13, 4-column tiles) and gemm_bf16_mmla by hand over a
    split reduction (its update part: C loaded into the 2 x 2 accumulators)."""
    if _neon_missing():
        pytest.skip(_neon_missing())
    target = "neon -bf16=on"
    shapes = [((1, 6), (16, 6)), ((7, 22), (24, 22)), ((2, 3, 13), (2, 12, 13))]
    xs = [te.placeholder(a, "bfloat16", name=f"x{i}") for i, (a, _) in enumerate(shapes)]
    ws = [te.placeholder(b, "bfloat16", name=f"w{i}") for i, (_, b) in enumerate(shapes)]
    ys = [topi.nn.dense(x, w, out_dtype="float32") if len(x.shape) == 2 else
          topi.nn.batch_matmul(x, w, out_dtype="float32") for x, w in zip(xs, ws)]
    A = te.placeholder((3, 16), "bfloat16", name="A")
    B = te.placeholder((4, 2, 2, 4), "bfloat16", name="B")       # [K/4, N/2, 2, 4]
    k = te.reduce_axis((0, 16), "k")
    C = te.compute((1, 3, 4), lambda _, i, j: te.sum(      # topi's schedule: the 1 parallel
        A[i, k].astype("float32") * B[k // 4, j // 2, j % 2, k % 4].astype("float32"), axis=k),
        name="C")
    s = topi.schedule(ys + [C], target)
    ko, ki = s[C].split(k, factor=8)
    s[C].reorder(C.op.axis[0], ko, C.op.axis[1], C.op.axis[2], ki)
    s[C].tensorize(C.op.axis[1], gemm_bf16_mmla(3, 4, 8))
    f = te.build(s, xs + ws + [A, B] + ys + [C], target=target)
    src = f.source
    assert src.count("vbfdotq_f32") and src.count("vbfmmlaq_f32") and ".update" in src
    rng = np.random.default_rng(11)
    xa = [rng.standard_normal(a).astype("bfloat16") for a, _ in shapes]
    wa = [rng.standard_normal(b).astype("bfloat16") for _, b in shapes]
    a = rng.standard_normal((3, 16)).astype("bfloat16")
    w = rng.standard_normal((4, 16)).astype("bfloat16")
    b = np.ascontiguousarray(w.T.reshape(4, 4, 2, 2).transpose(0, 2, 3, 1))
    outs = [np.empty(x.shape[:-1] + (y.shape[-2],), "float32") for x, y in zip(xa, wa)]
    c = np.empty((1, 3, 4), "float32")
    f(*xa, *wa, a, b, *outs, c)
    for got, x, y in zip(outs + [c[0]], xa + [a], wa + [w]):
        assert _within_bf16_bound(got, x, y)


def test_other_16_bit_cases_keep_the_widening_schedule():
    """bfloat16 on NEON without -bf16=on, float16 on AVX2 (no fp16 arithmetic), or a K that
    does not pair: no micro-kernel (lowering only)."""
    from texpr.topi.cpu_half import half_gemm_kind
    for dt, target, K in (("bfloat16", "neon", 8), ("float16", "avx2", 8), ("bfloat16", "avx512", 7)):
        x = te.placeholder((4, K), dt, name="x")
        w = te.placeholder((16, K), dt, name="w")
        y = topi.nn.dense(x, w, out_dtype="float32")
        s = te.create_schedule(y.op)
        assert half_gemm_kind(s[y], target) is None


def test_micro_kernel_arguments_are_checked():
    with pytest.raises(te.TexprError, match="acc must be float16 or float32, got 'int32'"):
        gemm_fp16(4, 16, 8, acc="int32")
    with pytest.raises(te.TexprError, match="nr=12 must be a multiple of 8"):
        gemm_fp16(4, 12, 8)
    with pytest.raises(te.TexprError, match="kc=7 must be even"):
        dot_bf16(7)
    with pytest.raises(te.TexprError, match="lanes=6 must be a multiple of 4"):
        dot_bf16(8, lanes=6)
    with pytest.raises(te.TexprError, match="nr=6 must be a positive multiple of 4"):
        gemm_bf16_mmla(8, 6, 16)
    with pytest.raises(te.TexprError, match="mr=0 and kc=16 must be positive"):
        gemm_bf16_mmla(0, 8, 16)



def test_bfmmla_weights_must_be_packed_in_blocks():
    """A weight whose 2-column blocks are not contiguous (the column pair split across a
    dimension) is refused when the kernel's source is made (no compiling)."""
    from texpr.targets.build import emit_source
    A = te.placeholder((4, 8), "bfloat16", name="A")
    B = te.placeholder((2, 2, 2, 4), "bfloat16", name="B")        # [K/4, 2, N/2, 4]
    k = te.reduce_axis((0, 8), "k")
    C = te.compute((4, 4), lambda i, j: te.sum(
        A[i, k].astype("float32") * B[k // 4, j % 2, j // 2, k % 4].astype("float32"), axis=k),
        name="C")
    s = te.create_schedule(C.op)
    s[C].tensorize(C.op.axis[0], gemm_bf16_mmla(4, 4, 8))
    with pytest.raises(te.TexprError, match=r"weights must be packed \[ceil\(kc/4\)\]\[2\]\[2\]\[4\] "
                       r"contiguously \(got strides \['16', '4', '8', '1'\]\)"):
        emit_source(s, [A, B, C], target="neon -bf16=on")


def test_bfloat16_tile_rule():
    """BFMMLA on NEON -bf16=on from 2 rows on (any K), BFDOT for one row (even K), never on
    AVX-512; N not a multiple of 4 takes neither (lowering only)."""
    from texpr.topi.cpu_half import half_gemm_kind
    for target, M, N, K, kind in (("neon -bf16=on", 1, 16, 6, "bf16"),
                                  ("neon -bf16=on", 2, 8, 5, "bf16-mmla"),
                                  ("neon -bf16=on", 4, 6, 8, None),
                                  ("avx512", 4, 16, 8, "bf16")):
        x = te.placeholder((M, K), "bfloat16", name="x")
        w = te.placeholder((N, K), "bfloat16", name="w")
        y = topi.nn.dense(x, w, out_dtype="float32")
        assert half_gemm_kind(te.create_schedule(y.op)[y], target) == kind, (target, M, N, K)


def _conv_ref(d, k):
    """(exact float64 NCHW convolution, 3x3, padding 1; the sum of |products|)."""
    N, C, H, W = d.shape
    dp = np.pad(d.astype("float64"), ((0, 0), (0, 0), (1, 1), (1, 1)))
    kn = k.astype("float64")
    ref, mag = 0.0, 0.0
    for r in range(3):
        for c in range(3):
            win = dp[:, :, r:r + H, c:c + W]
            ref = ref + np.einsum("nchw,oc->nohw", win, kn[:, :, r, c])
            mag = mag + np.einsum("nchw,oc->nohw", np.abs(win), np.abs(kn[:, :, r, c]))
    return ref, mag


def test_neon_float16_conv2d_nchwc_and_winograd():
    """Both convolutions in float16 on NEON in one kernel (one qemu build): the direct NCHWc
    one's register tile of float16x8 vectors and Winograd F(2,3)'s batched GEMM on gemm_fp16.
    Bound: (terms + 16) * 2^-11 * sum |products| (terms = 9 C products; 16: the transforms)."""
    if _neon_missing():
        pytest.skip(_neon_missing())
    N, C, H, W, O, blk = 1, 8, 4, 4, 16, 8
    x = te.placeholder((N, C, H, W), "float16", name="x")
    k = te.placeholder((O, C, 3, 3), "float16", name="k")
    xb = te.placeholder((N, C // blk, H, W, blk), "float16", name="xb")
    kb = te.placeholder((O // blk, C // blk, 3, 3, blk, blk), "float16", name="kb")
    wino = topi.nn.conv2d_winograd_nchw(x, k, 1, 2)
    direct = topi.nn.conv2d_NCHWc(xb, kb, 1, 1)
    f = te.build(topi.schedule([wino, direct], "neon"), [x, k, xb, kb, wino, direct], target="neon")
    assert "vfmaq_f16" in f.source and "texpr_float32x" not in f.source
    rng = np.random.default_rng(3)
    d = rng.standard_normal((N, C, H, W)).astype("float16")
    w = rng.standard_normal((O, C, 3, 3)).astype("float16")
    db = np.ascontiguousarray(d.reshape(N, C // blk, blk, H, W).transpose(0, 1, 3, 4, 2))
    wb = np.ascontiguousarray(w.reshape(O // blk, blk, C // blk, blk, 3, 3).transpose(0, 2, 4, 5, 3, 1))
    ow, od = np.empty((N, O, H, W), "float16"), np.empty((N, O // blk, H, W, blk), "float16")
    f(d, w, db, wb, ow, od)
    ref, mag = _conv_ref(d, w)
    bound = (9 * C + 16) * 2.0**-11 * mag + 1e-30
    od = od.transpose(0, 1, 4, 2, 3).reshape(N, O, H, W)
    for got in (ow, od):
        assert np.all(np.abs(got.astype("float64") - ref) <= bound)


@pytest.mark.parametrize("target,oc", [("avx512", 16), ("neon -bf16=on", 8)])
def test_bfloat16_conv2d_nchwc_float32_sums(target, oc):
    """Channel pairs on vdpbf16ps / BFDOT, tiles of output columns x channels over (channel
    block, window). Bound: (terms + 1) * 2^-22 * sum |products| (terms = 9 C)."""
    if target.startswith("neon") and _neon_missing():
        pytest.skip(_neon_missing())
    N, C, H, W, O, ic = 1, 8, 3, 5, 2 * oc, 8
    xb = te.placeholder((N, C // ic, H, W, ic), "bfloat16", name="xb")
    kb = te.placeholder((O // oc, C // ic, 3, 3, ic, oc), "bfloat16", name="kb")
    y = topi.nn.conv2d_NCHWc(xb, kb, 1, 1, out_dtype="float32")
    f = te.build(topi.schedule([y], target), [xb, kb, y], target=target)
    assert "TEXPR_DPBF16" in f.source or "vbfdotq_f32" in f.source
    rng = np.random.default_rng(5)
    d = rng.standard_normal((N, C, H, W)).astype("bfloat16")
    w = rng.standard_normal((O, C, 3, 3)).astype("bfloat16")
    db = np.ascontiguousarray(d.reshape(N, C // ic, ic, H, W).transpose(0, 1, 3, 4, 2))
    wb = np.ascontiguousarray(w.reshape(O // oc, oc, C // ic, ic, 3, 3).transpose(0, 2, 4, 5, 3, 1))
    out = np.empty((N, O // oc, H, W, oc), "float32")
    f(db, wb, out)
    ref, mag = _conv_ref(d, w)
    got = out.transpose(0, 1, 4, 2, 3).reshape(N, O, H, W)
    assert np.all(np.abs(got - ref) <= (9 * C + 1) * 2.0**-22 * mag + 1e-30)


def test_conv2d_nchwc_of_two_16_bit_types_names_both():
    xb = te.placeholder((1, 1, 4, 4, 8), "float16", name="xb")
    kb = te.placeholder((1, 1, 3, 3, 8, 8), "bfloat16", name="kb")
    with pytest.raises(te.TexprError, match="inputs of dtype float16 and bfloat16"):
        topi.nn.conv2d_NCHWc(xb, kb, 1, 1)
    with pytest.raises(te.TexprError, match="out_dtype int32 for bfloat16 inputs"):
        topi.nn.conv2d_NCHWc(te.placeholder((1, 1, 4, 4, 8), "bfloat16", name="xc"), kb, 1, 1,
                             out_dtype="int32")


def _winograd_magnitude(d, k, m):
    """W = |A^T| (sum_c (|B^T| |d_c| |B|) * (|G| |g_c| |G^T|)) |A| per tile (float64), the
    output [N, O, H, W] (3x3, padding 1): what the rounded Winograd operands are scaled by."""
    from texpr.topi.winograd import winograd_matrices
    AT, G, BT = (np.abs(x) for x in winograd_matrices(m))
    N, C, H, W = d.shape
    a, nH, nW = m + 2, -(-H // m), -(-W // m)
    dp = np.zeros((N, C, nH * m + 2, nW * m + 2))
    dp[:, :, 1:H + 1, 1:W + 1] = np.abs(d.astype("float64"))
    tiles = np.stack([np.stack([dp[:, :, i * m:i * m + a, j * m:j * m + a] for j in range(nW)], 2)
                      for i in range(nH)], 2)                          # [N, C, nH, nW, a, a]
    v = np.einsum("ek,nchwkl,fl->nchwef", BT, tiles, BT)
    u = np.einsum("ek,ockl,fl->ocef", G, np.abs(k.astype("float64")), G)
    y = np.einsum("ie,nohwef,jf->nohwij", AT, np.einsum("nchwef,ocef->nohwef", v, u), AT)
    return y.transpose(0, 1, 2, 4, 3, 5).reshape(N, -1, nH * m, nW * m)[:, :, :H, :W]


def _bf16_winograd(layout="nchw", O=16, pairs=False):
    """A mixed-precision bfloat16 Winograd F(2,3) of 8 channels, 6x6, padding 1: NCHW from the
    OIHW kernel (layout "nchw") or pre-transformed ("OI"), or NCHWc from an offline U
    (5-D; pairs=True: the channel-pair layout)."""
    x = te.placeholder((1, 8, 6, 6), "bfloat16", name="x")
    if layout == "nchw":
        k = te.placeholder((O, 8, 3, 3), "bfloat16", name="k")
    elif layout == "OI":
        k = te.placeholder((4, 4, O, 8), "bfloat16", name="k")
    if layout != "nchwc":
        return x, k, topi.nn.conv2d_winograd_nchw(x, k, 1, 2, pre_transformed=layout == "OI",
                                                  out_dtype="float32")
    x = te.placeholder((1, 1, 6, 6, 8), "bfloat16", name="xb")
    shape = (4, 4, O // 16, 4, 16, 2) if pairs else (4, 4, O // 16, 8, 16)
    k = te.placeholder(shape, "bfloat16", name="u")
    return x, k, topi.nn.conv2d_winograd_NCHWc(x, k, 1, 2, pre_transformed=True,
                                               out_dtype="float32")


@pytest.mark.parametrize("target,needle", [("avx512", "TEXPR_DPBF16(acc0_0"),
                                           ("neon -bf16=on", "vbfdotq_f32(acc0_0")])
def test_bfloat16_winograd_float32_sums(target, needle):
    """Mixed-precision Winograd F(2,3) (float32 transforms, operands rounded to bfloat16,
    the batched GEMM on vdpbf16ps through SIMDe / BFDOT under qemu), NCHW from the OIHW kernel
    and NCHWc from the offline channel-pair U, in one kernel. Bound against the exact convolution:
    (2^-7 + 2^-15 + (C + 4 alpha) 2^-22) * W, W the Winograd magnitude (_winograd_magnitude):
    each rounded operand within 2^-8 of its float32 value, float32 transforms and pair sums."""
    from texpr.topi.winograd import winograd_weight_pairs_NCHWc_ref
    if target.startswith("neon") and _neon_missing():
        pytest.skip(_neon_missing())
    x, k, y = _bf16_winograd()
    xb, u, yb = _bf16_winograd("nchwc", pairs=True)
    f = te.build(topi.schedule([y, yb], target), [x, k, xb, u, y, yb], target=target)
    assert f.source.count(needle) >= 2                # a tile of each GEMM
    rng = np.random.default_rng(7)
    d = rng.standard_normal((1, 8, 6, 6)).astype("bfloat16")
    w = rng.standard_normal((16, 8, 3, 3)).astype("bfloat16")
    wb = np.ascontiguousarray(w.reshape(1, 16, 1, 8, 3, 3).transpose(0, 2, 4, 5, 3, 1))
    out, outb = np.empty((1, 16, 6, 6), "float32"), np.empty((1, 1, 6, 6, 16), "float32")
    f(d, w, d.reshape(1, 1, 8, 6, 6).transpose(0, 1, 3, 4, 2).copy(),
      winograd_weight_pairs_NCHWc_ref(wb, 2), out, outb)
    ref, _ = _conv_ref(d, w)
    bound = (2.0**-7 + 2.0**-15 + (8 + 16) * 2.0**-22) * _winograd_magnitude(d, w, 2)
    for got in (out, outb.transpose(0, 1, 4, 2, 3).reshape(1, 16, 6, 6)):
        assert np.all(np.abs(got - ref) <= bound + 1e-30)


def test_bfloat16_winograd_lowers_to_dot_bf16_only_where_it_applies():
    """Lowering only: the GEMM of a bfloat16 Winograd is on dot_bf16 on avx512 (its U packed
    as pairs in the kernel unless it comes so); on avx2 (no dot_bf16), with float16, or 8
    output channels (no 16-lane tile) it keeps the widening schedule."""
    from texpr.targets.registry import get_target
    from texpr.topi.cpu_half import bf16_winograd_tile

    for layout, pairs in (("OI", False), ("nchwc", False), ("nchwc", True)):
        x, k, y = _bf16_winograd(layout, pairs=pairs)
        ir = str(te.lower(topi.schedule([y], "avx512"), [x, k, y], target=get_target("avx512")))
        assert "dot_bf16_8x16x8" in ir and "winograd_V_bf16" in ir
        assert ("winograd_U_pairs" in ir) != pairs

    def gemm(y):
        s = te.create_schedule(y.op)
        return next(st for st in s.stages if st.op.name == "winograd_M")
    assert bf16_winograd_tile(gemm(y), "avx512") == (8, 16)
    assert bf16_winograd_tile(gemm(y), "avx2") is None
    x, k, y = _bf16_winograd(O=64)          # 32-lane tiles, or 16 a chunk of channels
    assert bf16_winograd_tile(gemm(y), "avx512") == (6, 32)
    assert bf16_winograd_tile(gemm(y), "avx512", 16) == (8, 16)
    ir = str(te.lower(topi.schedule([y], "avx512"), [x, k, y], target=get_target("avx512")))
    assert "dot_bf16_6x32x8" in ir or "dot_bf16_8x16x8" in ir
    assert bf16_winograd_tile(gemm(_bf16_winograd(O=8)[2]), "avx512") is None
    xh = te.placeholder((1, 8, 6, 6), "float16", name="xh")
    kh = te.placeholder((16, 8, 3, 3), "float16", name="kh")
    yh = topi.nn.conv2d_winograd_nchw(xh, kh, 1, 2, out_dtype="float32")
    assert yh.dtype == "float32" and bf16_winograd_tile(gemm(yh), "avx512") is None


def test_winograd_out_dtype_is_checked():
    x, k, _ = _bf16_winograd()
    with pytest.raises(te.TexprError, match="out_dtype int32 for bfloat16 inputs"):
        topi.nn.conv2d_winograd_nchw(x, k, 1, 2, out_dtype="int32")
    xf = te.placeholder((1, 8, 6, 6), "float32", name="xf")
    kf = te.placeholder((16, 8, 3, 3), "float32", name="kf")
    with pytest.raises(te.TexprError, match="out_dtype float64 for float32 inputs; expected "
                                            "float32"):
        topi.nn.conv2d_winograd_nchw(xf, kf, 1, 2, out_dtype="float64")
    with pytest.raises(te.TexprError, match="inputs of dtype bfloat16 and float32"):
        topi.nn.conv2d_winograd_nchw(x, kf, 1, 2, out_dtype="float32")
    xb = te.placeholder((1, 1, 6, 6, 8), "bfloat16", name="xb")
    with pytest.raises(te.TexprError, match="has last dimension 3, expected 2"):
        topi.nn.conv2d_winograd_NCHWc(xb, te.placeholder((4, 4, 1, 4, 16, 3), "bfloat16"), 1, 2,
                                      pre_transformed=True, out_dtype="float32")
    from texpr.topi.winograd import winograd_weight_pairs_NCHWc_ref
    with pytest.raises(te.TexprError, match="3 input channels do not pair"):
        winograd_weight_pairs_NCHWc_ref(np.ones((1, 1, 3, 3, 3, 16), "float32"), 2)
