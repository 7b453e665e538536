"""CPU schedule of topi.bitserial's dense: a register tile of output rows x columns whose
popcount sums stay in registers while the packed words of the reduction stream past.

With 64-bit words the tile is the popcount_dot_u64 micro-kernel (targets/intrin.py): where
the target has a vector popcount (AVX-512 VPOPCNTDQ: Ice Lake, Zen 4, Zen 5) an AND, a
vpopcntq and an add per pair and 512 bits, in a tile sized from the registers (_tile: 4 x 4
of 32); AVX2: 256 bits of each pair per step, vpshufb nibble counts summed in bytes; NEON:
vcnt. Elsewhere (the c target, other word sizes) the sums are scalar (GCC emits popcnt per
64-bit word on x86): 8 sums of 2 x 4 words keep 14 of x86-64's 16 general registers busy.

Without a vector popcount (AVX2; AVX-512 CPUs without VPOPCNTDQ, and AVX-512 through SIMDe,
whose emulated count is slower), outputs in whole LUT_TILE tiles take popcount_dot_lut
instead (targets/lut_intrin.py: table lookups, 4 bits of 32 rows x 2 columns per vpshufb;
1.8x the pair kernel on Zen 3). On Zen 4 (1024 x 1024 x 4096 bits, 1 thread): VPOPCNTDQ 4.7
ms, the lookups 6.2 ms, the AVX2 pair kernel 11.7 ms. 8-bit data is packed by vpmovmskb
(targets/bitpack_intrin.py; 8x the C packing).
"""
from ..lang.tensor import ComputeOp
from ..targets import get_target
from .bitserial import BITPACK_TAG, POPCOUNT_TAG
from .schedules import CPU_TARGETS, default_stage, register
from .util import const_value

#: (rows, columns) of the output tile
BITSERIAL_TILE = (2, 4)
#: (rows, columns) of the output tile on AVX2: popcount_dot_lut's table lookups
LUT_TILE = (64, 64)
#: bytes of packed weight columns a block of output columns reads (kept in L2 while every
#: data row passes): 1024 x 1024 x 4096 bits, 1 thread, Zen 3: see benchmarks/numerics.py
WEIGHT_BLOCK_BYTES = 128 * 1024


def _bytes(dtype):
    from ..lang import dtypes
    return dtypes.bits(dtype) // 8


@register(POPCOUNT_TAG, CPU_TARGETS)
def _scheduled_with_dense(s, st, target):
    """The popcount sums of bitserial_dense: its schedule places them."""
    return None


@register(BITPACK_TAG, CPU_TARGETS)
def _packing(s, st, target):
    """A packing that only bitserial_dense's popcount sums read is placed by the dense's
    schedule (_packing_intrinsic); any other (the convolutions') by default_stage."""
    readers = s.consumers(st)
    if readers and all(r.op.tag == POPCOUNT_TAG for r in readers):
        return None
    return default_stage(s, st, target)


def _micro_kernel(sums, mr, nr, target):
    """popcount_dot_u64 for this tile, or None (not AVX2 / AVX-512 / NEON, not 64-bit words,
    not 256-bit steps)."""
    from ..targets.intrin import popcount_dot_u64
    kw = const_value(sums.op.reduce_axis[0].dom.extent)
    words = sums.op.input_tensors[0].dtype
    t = get_target(target)
    if t.name not in ("avx2", "avx512", "neon") or words != "uint64" or kw is None or kw % 4:
        return None
    return popcount_dot_u64(mr, nr, kw, vpopcntdq=t.has("vector_popcount"))


def _packing_intrinsic(s, packed, target):
    """Pack the rows of an 8-bit [R, K] tensor into [R, bits, K / 64] (bitpack's pack_axis=1,
    bit_axis=1, as bitserial_dense packs) by vpmovmskb (bitpack_intrin.py) where the target
    has AVX2 and the words are whole 64-bit ones; True if it does."""
    from ..targets.bitpack_intrin import WORD_BITS, bit_words, packing_words_u64
    from .cpu import replace_computation
    op = packed.op
    axes = (op.attrs.get("pack_axis"), op.attrs.get("bit_axis"))
    if get_target(target).name not in ("avx2", "avx512") or packed.dtype != "uint64" or \
            len(op.input_tensors) != 1 or axes != (1, 1):
        return False
    (x,) = op.input_tensors
    K = const_value(x.shape[-1]) if len(x.shape) == 2 else None
    if x.dtype not in ("int8", "uint8") or K is None or K % WORD_BITS:
        return False
    bits, words = op.attrs["bits"], K // WORD_BITS
    st = s[packed]
    form = bit_words(lambda idx, e: x[idx[0], idx[2] * WORD_BITS + e], packed.shape,
                     lambda idx: idx[1], op.name, op.tag, op.attrs)
    replace_computation(s, st, form, [])
    r, b, _ = st.op.axis
    st.tensorize(b, packing_words_u64(bits, words, x.dtype))
    st.parallel(r)
    return True


def _lookups_apply(t):
    """True where popcount_dot_lut runs: AVX2 instructions (the avx2 target; avx512 natively
    or through SIMDe on an AVX2 CPU) and no vector popcount (VPOPCNTDQ counts faster)."""
    return t.name in ("avx2", "avx512") and not t.has("vector_popcount") and \
        any(f in t.flags for f in ("-mavx2", "-mavx512f"))


def _lut_tiles(s, st, sums, Y, X, target):
    """Tiles of LUT_TILE outputs whose popcount sums are popcount_dot_lut's table lookups
    (AVX2, 64-bit words, whole columns of tiles; a last row of tiles may be partial, costing a
    whole one: not under one tile of rows); True if the stage is scheduled so."""
    from ..targets.lut_intrin import popcount_dot_lut
    mr, nr = LUT_TILE
    kw = const_value(sums.op.reduce_axis[0].dom.extent)
    if not _lookups_apply(get_target(target)) or sums.op.input_tensors[0].dtype != "uint64" or \
            Y is None or X is None or Y < mr or X % nr or kw is None or kw % 4:
        return False
    i, j = st.op.axis
    io, ii = st.split(i, factor=mr)
    jo, ji = st.split(j, factor=nr)
    st.reorder(io, jo, ii, ji)
    tile = st.fuse(io, jo)      # every tile a parallel task: a thread another job slows
    acc = s[sums]               # holds one tile up, not a row of them
    acc.compute_at(st, tile)
    pi, pj, pb, pc = acc.op.axis
    acc.reorder(pb, pc, pi, pj, *acc.op.reduce_axis)
    acc.tensorize(pi, popcount_dot_lut(mr, nr, kw))
    st.vectorize(ji)
    st.parallel(tile)
    return True


def _tile(Y, X, target):
    """(rows, columns) of the register tile: with a vector popcount (an AND, a count and an
    add per pair and vector of words) the most accumulators that leave registers for a row's
    and a column's words, as square as may be (fewer loads a pair): 4 x 4 of AVX-512's 32
    (1.2x 2 x 8, 1.6x 2 x 4 on Zen 4); else BITSERIAL_TILE. A tile dividing Y and X, else
    (1, 1): scalar sums."""
    from .cpu import CpuInfo
    tiles = [BITSERIAL_TILE]
    if get_target(target).has("vector_popcount"):
        regs = CpuInfo(target).nregs
        pow2 = [1 << e for e in range(5)]
        tiles = sorted(((m, n) for m in pow2 for n in pow2 if m * n + m + 1 <= regs),
                       key=lambda t: (-t[0] * t[1], abs(t[0] - t[1]))) + tiles
    if Y is None or X is None:
        return 1, 1
    return next(((m, n) for m, n in tiles if Y % m == 0 and X % n == 0), (1, 1))


@register("bitserial_dense", CPU_TARGETS)
def schedule_bitserial_dense(s, st, target):
    parts = [t for t in st.op.input_tensors
             if isinstance(t.op, ComputeOp) and t.op.tag == POPCOUNT_TAG]
    sums = next(t for t in parts if len(t.shape) == 4)
    for t in sums.op.input_tensors:
        if isinstance(t.op, ComputeOp) and t.op.tag == BITPACK_TAG and \
                not _packing_intrinsic(s, t, target):
            default_stage(s, s[t], target)
    for t in parts:
        if t is not sums:                       # the data rows' bits (unipolar)
            s[t].parallel(s[t].op.axis[0])
    Y, X = (const_value(st.extent_of(a)) for a in st.op.axis)
    if _lut_tiles(s, st, sums, Y, X, target):
        return [s[t] for t in parts]
    mr, nr = _tile(Y, X, target)
    full = (mr, nr) != (1, 1)
    i, j = st.op.axis
    col_bytes = 1
    for d in sums.op.input_tensors[1].shape[1:]:
        col_bytes *= const_value(d) or 1
    col_bytes *= _bytes(sums.op.input_tensors[1].dtype)
    cols = max(1, WEIGHT_BLOCK_BYTES // col_bytes) // nr * nr
    io, ii = st.split(i, factor=mr)
    if full and X > cols >= nr:
        jb, j = st.split(j, factor=cols)
        jo, ji = st.split(j, factor=nr)
        st.reorder(jb, io, jo, ii, ji)
    else:
        jo, ji = st.split(j, factor=nr)
        st.reorder(io, jo, ii, ji)
    acc = s[sums]
    acc.compute_at(st, jo)
    pi, pj, pb, pc = acc.op.axis
    (k,) = acc.op.reduce_axis
    acc.reorder(pb, pc, pi, pj, k)
    intrin = _micro_kernel(sums, mr, nr, target) if full else None
    if intrin is not None:
        acc.tensorize(pi, intrin)
    else:
        acc.reorder(pb, pc, k, pi, pj)
        acc.unroll(pi)
        acc.unroll(pj)
    st.unroll(ii)
    st.unroll(ji)
    st.parallel(io)
    return [s[t] for t in parts]
