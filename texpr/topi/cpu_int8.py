"""x86 schedules of the int8 dense forms of topi.qnn, each one micro-kernel of targets.intrin:

- dense_int8_sat16 (AVX2): dot_u8s8_sat16, vpmaddubsw + vpmaddwd(ones) + vpaddd;
- dense_int16_pairs (AVX2): the data widened to int16 by a vectorized stage, dot_int16_pairs;
- dense_int8_packed (AVX2 or AVX-512): dot_int8 (AVX-512 VNNI vpdpbusd; SIMDe without it).

All three share one loop order: parallel over blocks of output columns whose weights
(block x kc) fit in a quarter of L2 (and over blocks of rows too where there are fewer than
INT8_MIN_BLOCKS column blocks), a reduction chunk kc, then register tiles of rows x lanes
(the weights of a tile stay in L1 while every row tile of the data goes past them). The tile
is sized from the target's vector registers (CpuInfo): accumulators, the weight vectors and
the micro-kernel's temporaries must fit.
"""
from ..targets import get_target
from ..targets.intrin import dot_int8, dot_int16_pairs, dot_u8s8_sat16
from .cpu import CpuInfo
from .schedules import default_stage, register
from .util import const_value

#: vector registers a micro-kernel uses besides its accumulators and weight vectors: the
#: broadcast activations, a temporary and (vpmaddubsw) the vector of ones
INT8_KERNEL_TEMPS = 3
#: parallel blocks a schedule makes at least where the shape has them (the threads share them)
INT8_MIN_BLOCKS = 8
#: the longest reduction chunk (the whole K up to it: C is loaded and stored once per chunk)
INT8_MAX_KC = 1024


def int8_register_tile(target, lanes):
    """Rows of a rows x `lanes` int32 tile of accumulators that fit in the target's vector
    registers beside the tile's weight vectors and INT8_KERNEL_TEMPS (AVX2: 5 rows of 16)."""
    cpu = CpuInfo(target)
    nv = max(1, lanes * 32 // cpu.vector_bits)
    return max(1, min(6, (cpu.nregs - nv - INT8_KERNEL_TEMPS) // nv))


def int8_reduction_chunk(K, group):
    """The reduction chunk: the largest multiple of `group` dividing K up to INT8_MAX_KC
    (all of a short K); where that is under a quarter of INT8_MAX_KC, all of K up to twice
    INT8_MAX_KC (a tile's weights still fit L1), else INT8_MAX_KC and a tail of plain loops."""
    best = next(c for c in range(min(K, INT8_MAX_KC) // group * group, 0, -group) if K % c == 0)
    if best >= min(K, INT8_MAX_KC // 4):
        return best
    return K if K <= 2 * INT8_MAX_KC else INT8_MAX_KC


def int8_column_block(N, lanes, kc, weight_bytes, target):
    """Output columns per parallel block: a multiple of lanes dividing N whose weights
    (columns x kc x weight_bytes) fit in a quarter of L2."""
    budget = CpuInfo(target).l2_bytes // 4
    tiles = N // lanes
    fit = max(1, budget // (lanes * kc * weight_bytes))
    return lanes * next(t for t in range(min(tiles, fit), 0, -1) if tiles % t == 0)


def _schedule_blocks(st, target, lanes, group, weight_bytes, intrin_of, pair_axis=False):
    """The shared loop order (module docstring); intrin_of(kc, rows) -> the micro-kernel.
    pair_axis: the reduction is (k groups, pair in group) rather than one k axis."""
    i, j = st.op.axis
    M, N = const_value(st.op.output(0).shape[0]), const_value(st.op.output(0).shape[1])
    red = st.op.reduce_axis
    K = const_value(red[0].dom.extent) * (4 if pair_axis else 1)
    kc = int8_reduction_chunk(K, group)
    rows = min(int8_register_tile(target, lanes), M)
    nb = int8_column_block(N, lanes, kc, weight_bytes, target)
    io, ii = st.split(i, factor=rows)
    jo, ji = st.split(j, factor=lanes)
    jb, jt = st.split(jo, factor=nb // lanes)
    # few column blocks (a narrow N): blocks of row tiles in parallel too
    row_parts = min(-(-M // rows), -(-INT8_MIN_BLOCKS // (N // nb)))
    outer = [jb]
    if row_parts > 1:
        ib, io = st.split(io, nparts=row_parts)
        outer = [ib, jb]
    if pair_axis:
        kg, h = red
        ko, ki = st.split(kg, factor=kc // 4)
        st.reorder(*outer, ko, io, jt, ii, ji, ki, h)
    else:
        ko, ki = st.split(red[0], factor=kc)
        kg, kk = st.split(ki, factor=group)
        st.reorder(*outer, ko, io, jt, ii, ji, kg, kk)
    st.parallel(st.fuse(*outer) if len(outer) > 1 else jb)
    st.tensorize(ii, intrin_of(kc, rows))


def _fits_vectors(st, target, isas):
    """Whether the target is one of `isas` (the micro-kernel's implementations; "native" is
    the host's) and the packed lanes are whole vectors of int32 on it (else plain loops)."""
    return get_target(target).name in isas and \
        st.op.attrs["lanes"] % CpuInfo(target).lanes_of("int32") == 0


@register("dense_int8_sat16", ("native", "avx2"))
def schedule_dense_int8_sat16(s, st, target):
    lanes = st.op.attrs["lanes"]
    if not _fits_vectors(st, target, ("avx2",)):
        return default_stage(s, st, target)
    _schedule_blocks(st, target, lanes, 4, 1,
                     lambda kc, rows: dot_u8s8_sat16(kc, lanes, rows), pair_axis=True)
    return ()


@register("dense_int16_pairs", ("native", "avx2"))
def schedule_dense_int16_pairs(s, st, target):
    lanes = st.op.attrs["lanes"]
    if not _fits_vectors(st, target, ("avx2",)):
        return default_stage(s, st, target)
    wide = next(t for t in st.op.input_tensors if t.op.name == "data_i16")
    ws = s[wide]
    ws.compute_root()
    wi, wk = wide.op.axis
    wko, wki = ws.split(wk, factor=CpuInfo(target).lanes_of("int16"))
    ws.parallel(wi)
    ws.vectorize(wki)
    _schedule_blocks(st, target, lanes, 2, 2, lambda kc, rows: dot_int16_pairs(kc, lanes, rows))
    return (ws,)


@register("dense_int8_packed", ("native", "avx2", "avx512"))
def schedule_dense_int8_packed(s, st, target):
    lanes = st.op.attrs["lanes"]
    dtype = st.op.input_tensors[0].dtype
    if dtype != "uint8" or not _fits_vectors(st, target, ("avx2", "avx512")):
        return default_stage(s, st, target)      # dot_int8 on x86 reads uint8 activations
    _schedule_blocks(st, target, lanes, 4, 1,
                     lambda kc, rows: dot_int8(kc, lanes, dtype, rows=rows))
    return ()
