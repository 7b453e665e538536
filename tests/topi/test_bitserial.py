"""topi.bitserial (1- and 2-bit operators) against NumPy: bit-exact integers."""
import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

import texpr as te
from texpr import topi
from texpr.topi import bitserial, testing as tt


def _build(out, ins, target="avx2"):
    return te.build(topi.schedule([out], target), ins + [out], target=target)


def test_bitpack_planes_and_padding():
    x = np.random.default_rng(0).integers(0, 4, (3, 21)).astype("uint8")   # 21: a partial word
    X = te.placeholder(x.shape, "uint8", name="X")
    P = bitserial.bitpack(X, 2, pack_axis=1, bit_axis=0, pack_type="uint8")
    assert tuple(int(d) for d in P.shape) == (2, 3, 3)
    mod = te.build(te.create_schedule(P.op), [X, P], target="c")
    got = np.empty((2, 3, 3), "uint8")
    mod(x, got)
    np.testing.assert_array_equal(got, tt.bitpack_ref(x, 2, 1, 0, "uint8"))
    # the first element of a word is its most significant bit
    assert got[0, 0, 0] >> 7 == x[0, 0] & 1


DENSE = [  # (data bits, weight bits, unipolar, pack type, Y, X, K)
    (2, 1, True, "uint16", 4, 8, 40),
    (1, 1, False, "uint32", 3, 5, 70),
]


@pytest.fixture(scope="module", params=DENSE, ids=lambda p: f"{p[0]}x{p[1]}-{'uni' if p[2] else 'bi'}")
def dense(request):
    db, wb, uni, pt, Y, X, K = request.param
    D = te.placeholder((Y, K), "int8", name="D")
    W = te.placeholder((X, K), "int8", name="W")
    out = bitserial.bitserial_dense(D, W, db, wb, pack_dtype=pt, out_dtype="int32", unipolar=uni)
    return request.param, _build(out, [D, W])


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_bitserial_dense(dense, seed):
    (db, wb, uni, pt, Y, X, K), mod = dense
    rng = np.random.default_rng(seed)
    # values past the bits are masked off, as TVM's bitpack does
    d = rng.integers(-8, 8, (Y, K)).astype("int8")
    w = rng.integers(-8, 8, (X, K)).astype("int8")
    got = np.empty((Y, X), "int32")
    mod(d, w, got)
    np.testing.assert_array_equal(got, tt.bitserial_dense_ref(d, w, db, wb, uni, "int32"))


def test_bitserial_dense_packed_weight_avx2_micro_kernel(monkeypatch):
    """A weight packed once (bitpack layout [X, weight_bits, words]) gives the same product;
    64-bit words in whole 256-bit steps run the AVX2 popcount micro-kernel (vpshufb counts in
    bytes, widened every 16 steps: 80 words = 20 steps cross one widening), here in two blocks
    of output columns (the L2 blocking of large weights, made small)."""
    from texpr.topi import cpu_bitserial
    monkeypatch.setattr(cpu_bitserial, "WEIGHT_BLOCK_BYTES", 4 * 80 * 8)
    rng = np.random.default_rng(1)
    d = rng.integers(0, 2, (2, 5120)).astype("uint8")
    w = rng.integers(0, 2, (8, 5120)).astype("uint8")
    D = te.placeholder(d.shape, "uint8", name="D")
    Wq = te.placeholder((8, 1, 80), "uint64", name="Wq")
    out = bitserial.bitserial_dense(D, Wq, 1, 1, pack_dtype="uint64", out_dtype="int16")
    mod = _build(out, [D, Wq])
    assert "_mm256_shuffle_epi8" in mod.source and "for (int32_t j_outer = 0; j_outer < 2;" in mod.source
    got = np.empty((2, 8), "int16")
    mod(d, tt.bitpack_ref(w, 1, 1, 1, "uint64"), got)
    np.testing.assert_array_equal(got, tt.bitserial_dense_ref(d, w, 1, 1, True, "int16"))


@pytest.mark.parametrize("layout,uni", [("nchw", True), ("nhwc", False)])
def test_bitserial_conv2d(layout, uni):
    rng = np.random.default_rng(2)
    N, C, H, W, O, R = 1, 12, 6, 5, 3, 3     # 12 channels: a word and a partial one
    if layout == "nchw":
        d, k = rng.integers(0, 4, (N, C, H, W)), rng.integers(0, 2, (O, C, R, R))
        op, ref = bitserial.bitserial_conv2d_nchw, tt.bitserial_conv2d_nchw_ref
    else:
        d, k = rng.integers(0, 4, (N, H, W, C)), rng.integers(0, 2, (R, R, C, O))
        op, ref = bitserial.bitserial_conv2d_nhwc, tt.bitserial_conv2d_nhwc_ref
    d, k = d.astype("uint8"), k.astype("uint8")
    D = te.placeholder(d.shape, "uint8", name="D")
    K = te.placeholder(k.shape, "uint8", name="K")
    out = op(D, K, (2, 1), (1, 0, 1, 2), 2, 1, pack_dtype="uint8", out_dtype="int32", unipolar=uni)
    got = np.empty(tuple(int(x) for x in out.shape), "int32")
    _build(out, [D, K])(d, k, got)
    np.testing.assert_array_equal(got, ref(d, k, (2, 1), (1, 0, 1, 2), 2, 1, uni, "int32"))


def test_bad_arguments():
    f = te.placeholder((2, 64), "float32", name="f")
    i = te.placeholder((2, 64), "int8", name="i")
    with pytest.raises(te.TexprError, match="bitpack: f is float32; expected an integer dtype"):
        bitserial.bitpack(f, 1, 1, 1)
    with pytest.raises(te.TexprError, match="pack_type 'int32'; expected one of uint8"):
        bitserial.bitpack(i, 1, 1, 1, "int32")
    with pytest.raises(te.TexprError, match="out_dtype uint16; expected a signed integer"):
        bitserial.bitserial_dense(i, i, 1, 1, out_dtype="uint16")
    wq = te.placeholder((2, 2, 2), "uint32", name="wq")
    with pytest.raises(te.TexprError, match="packed weight wq is uint32 with 2 bit planes; "
                                            "expected uint32 with weight_bits=1"):
        bitserial.bitserial_dense(i, wq, 1, 1)


def test_bitserial_dense_int32_micro_kernel_after_a_parallel_loop():
    """int32 sums: the data rows' bits are summed in a parallel loop over a `k` before the
    micro-kernel, whose own C declares a `k`: a name declared inside an outlined parallel
    body is out of scope for the next one (was: captured, and gcc failed on the closure)."""
    rng = np.random.default_rng(3)
    d = rng.integers(0, 2, (4, 256)).astype("uint8")
    w = rng.integers(0, 2, (4, 256)).astype("uint8")
    D = te.placeholder(d.shape, "uint8", name="D")
    Wq = te.placeholder((4, 1, 4), "uint64", name="Wq")
    out = bitserial.bitserial_dense(D, Wq, 1, 1, pack_dtype="uint64", out_dtype="int32")
    mod = _build(out, [D, Wq])
    got = np.empty((4, 4), "int32")
    mod(d, tt.bitpack_ref(w, 1, 1, 1, "uint64"), got)
    np.testing.assert_array_equal(got, tt.bitserial_dense_ref(d, w, 1, 1, True, "int32"))


@pytest.mark.parametrize("target,instruction", [("avx512 -vpopcntdq=on", "_mm512_popcnt_epi64"),
                                                ("neon", "vcntq_u8")])
def test_bitserial_dense_popcount_micro_kernel_slow_targets(target, instruction):
    """popcount_dot_u64 on AVX-512 (VPOPCNTDQ, through SIMDe on hosts without it) and NEON
    (vcnt under qemu-aarch64): one tiny kernel each, 36 words (AVX-512: 4 steps of 8 and one
    of 4; NEON's byte counts are widened after 16 of its 18 steps)."""
    if target == "neon":
        import platform
        import shutil
        if platform.machine().lower() not in ("aarch64", "arm64"):
            missing = [t for t in ("aarch64-linux-gnu-gcc", "qemu-aarch64") if shutil.which(t) is None]
            if missing:
                pytest.skip(f"{', '.join(missing)} not installed (`make test` installs them)")
    rng = np.random.default_rng(4)
    d = rng.integers(0, 2, (4, 2304)).astype("uint8")
    w = rng.integers(0, 2, (4, 2304)).astype("uint8")
    D = te.placeholder(d.shape, "uint8", name="D")
    Wq = te.placeholder((4, 1, 36), "uint64", name="Wq")
    out = bitserial.bitserial_dense(D, Wq, 1, 1, pack_dtype="uint64", out_dtype="int32")
    mod = _build(out, [D, Wq], target)
    assert instruction in mod.source
    got = np.empty((4, 4), "int32")
    mod(d, tt.bitpack_ref(w, 1, 1, 1, "uint64"), got)
    np.testing.assert_array_equal(got, tt.bitserial_dense_ref(d, w, 1, 1, True, "int32"))


@pytest.mark.parametrize("Y,X,tile", [(8, 12, "4x4"), (6, 6, "2x2"), (2, 8, "2x8")])
@pytest.mark.parametrize("fill", ["random", "ones"])
def test_bitserial_dense_vpopcntdq_tiles(Y, X, tile, fill):
    """The VPOPCNTDQ kernel's tiles from the target's registers (4 x 4 of AVX-512's 32, smaller
    where the shape asks): 16 pairs (4 x 4, 2 x 8) summed across lanes in two groups of 8, 4
    in one padded group; 2-bit data (two planes, rows 2 * 68 words apart), 68 words (8 steps
    of 8 and one of 4), every bit set or random, against NumPy."""
    rng = np.random.default_rng(5)
    K = 68 * 64
    if fill == "ones":
        d, w = np.full((Y, K), 3, "uint8"), np.ones((X, K), "uint8")
    else:
        d = rng.integers(0, 4, (Y, K)).astype("uint8")
        w = rng.integers(0, 2, (X, K)).astype("uint8")
    D = te.placeholder(d.shape, "uint8", name="D")
    Wq = te.placeholder((X, 1, 68), "uint64", name="Wq")
    out = bitserial.bitserial_dense(D, Wq, 2, 1, pack_dtype="uint64", out_dtype="int32")
    mod = _build(out, [D, Wq], "avx512 -vpopcntdq=on")
    assert f"popcount_dot_u64_{tile}x68" in mod.source and "_mm512_inserti64x4" in mod.source
    got = np.empty((Y, X), "int32")
    mod(d, tt.bitpack_ref(w, 1, 1, 1, "uint64"), got)
    np.testing.assert_array_equal(got, tt.bitserial_dense_ref(d, w, 2, 1, True, "int32"))


def test_bitserial_dense_without_vpopcntdq():
    """AVX-512 without VPOPCNTDQ (a CPU that lacks it; SIMDe, whose emulated count is slower):
    the nibble lookups, popcount_dot_lut's 64 x 64 tiles where the shape has them (here 64
    rows, and a partial tile of 36), else the AVX2 body of popcount_dot_u64."""
    rng = np.random.default_rng(6)
    for Y, X, kernel in ((100, 64, "texpr_nibble_pair_counts"), (4, 8, "_mm256_sad_epu8")):
        d = rng.integers(0, 2, (Y, 1280)).astype("uint8")
        w = rng.integers(0, 2, (X, 1280)).astype("uint8")
        D = te.placeholder(d.shape, "uint8", name="D")
        Wq = te.placeholder((X, 1, 20), "uint64", name="Wq")
        out = bitserial.bitserial_dense(D, Wq, 1, 1, pack_dtype="uint64", out_dtype="int32")
        mod = _build(out, [D, Wq], "avx512 -vpopcntdq=off")
        assert kernel in mod.source and "_mm512_popcnt_epi64" not in mod.source
        got = np.empty((Y, X), "int32")
        mod(d, tt.bitpack_ref(w, 1, 1, 1, "uint64"), got)
        np.testing.assert_array_equal(got, tt.bitserial_dense_ref(d, w, 1, 1, True, "int32"))


@pytest.fixture(scope="module", params=[(2, 1), (1, 1)], ids=["2x1", "1x1"])
def lut_dense(request):
    """Data (int8, sign bits included) x packed weights in tiles of popcount_dot_lut, 100 rows:
    a 64-row tile and a partial one of 36 (rows past them never read nor written; checked
    under ASan by hand); 20 words a row, a chunk of 16 and one of 4, 320 and 80 lookup steps
    (byte counts widened after 63), the data packed by vpmovmskb; 1 x 1 bits store the sums by
    8 x 8 transposes (contiguous columns), 2 x 1 one by one (the planes interleaved). (2 x 2
    bits, 1 x 2 and these under ASan + UBSan: checked by hand; 2 x 2 takes gcc 6 s.) The
    16-bit sums go to int32 once at the end (1 x 1) or after every chunk (2 x 1, WIDEN_CHUNKS
    set to 1: the path of rows longer than WIDEN_CHUNKS chunks, whose 64 counts a word would
    pass 65 535 in 16 bits, without their 4 MiB rows)."""
    from texpr.targets import lut_intrin
    assert lut_intrin.WIDEN_CHUNKS * lut_intrin.CHUNK * 64 <= 0xffff
    db, wb = request.param
    D = te.placeholder((100, 1280), "int8", name="D")
    Wq = te.placeholder((64, wb, 20), "uint64", name="Wq")
    out = bitserial.bitserial_dense(D, Wq, db, wb, pack_dtype="uint64", out_dtype="int32")
    with pytest.MonkeyPatch.context() as mp:
        if db == 2:
            mp.setattr(lut_intrin, "WIDEN_CHUNKS", 1)
        mod = _build(out, [D, Wq])
    assert ("k0 / 16 % 1 == 0" in mod.source) == (db == 2)
    assert "texpr_nibble_pair_counts" in mod.source and "_mm256_movemask_epi8" in mod.source
    assert "valid_rows" in mod.source
    assert ("_mm256_permute2x128_si256(b0, b4, 0x20)" in mod.source) == (db * wb == 1)
    return db, wb, mod


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), fill=st.sampled_from(["random", "ones", "stripes"]))
@example(seed=0, fill="stripes")
@example(seed=3, fill="stripes")
@example(seed=0, fill="ones")
def test_bitserial_dense_lut_tile(lut_dense, seed, fill):
    """Bit-exact, also with every bit set (each lookup 4 in both nibbles of a byte: 252 in
    each count before widening) and in stripes (rows of ones beside rows of zeros, columns
    too: one count of a byte at its maximum, the other at 0, where the sums wrap mod 256)."""
    db, wb, mod = lut_dense
    rng = np.random.default_rng(seed)
    if fill == "random":
        d = rng.integers(-128, 128, (100, 1280)).astype("int8")
        w = rng.integers(0, 1 << wb, (64, 1280)).astype("uint8")
    else:
        d = np.full((100, 1280), -1, "int8")
        w = np.full((64, 1280), (1 << wb) - 1, "uint8")
        if fill == "stripes":
            flip = seed % 2
            d[(np.arange(100) + flip) % 2 == 1] = 0
            w[(np.arange(64) + seed // 2) % 2 == 1] = 0
    got = np.empty((100, 64), "int32")
    mod(d, np.ascontiguousarray(tt.bitpack_ref(w, wb, 1, 1, "uint64")), got)
    np.testing.assert_array_equal(got, tt.bitserial_dense_ref(d, w, db, wb, True, "int32"))


def test_popcount_dot_lut_tile_shape():
    from texpr.targets.lut_intrin import popcount_dot_lut
    with pytest.raises(te.TexprError, match="tile 32 x 64 x 8 words; expected rows a multiple "
                                            "of 64, columns of 4, words of 4"):
        popcount_dot_lut(32, 64, 8)
