"""CPU schedule of topi.bitserial's dense: a register tile of output rows x columns whose
popcount sums stay in registers while the packed words of the reduction stream past.

On AVX2 with 64-bit words the tile is the popcount_dot_u64 micro-kernel (targets/intrin.py:
256 bits of each pair per step, vpshufb nibble counts summed in bytes; AVX-512: VPOPCNTDQ;
NEON: vcnt). Elsewhere (the c target, other word sizes) the sums are
scalar (GCC emits popcnt per 64-bit word on x86): 8 sums of 2 x 4 words keep 14 of x86-64's 16
general registers busy.
"""
from ..lang.tensor import ComputeOp
from ..targets import get_target
from .bitserial import POPCOUNT_TAG
from .schedules import CPU_TARGETS, register
from .util import const_value

#: (rows, columns) of the output tile
BITSERIAL_TILE = (2, 4)
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


def _micro_kernel(sums, mr, nr, target):
    """popcount_dot_u64 for this tile, or None (not AVX2 / AVX-512 / NEON, not 64-bit words,
    not 256-bit steps)."""
    from ..targets.intrin import popcount_dot_u64
    kw = const_value(sums.op.reduce_axis[0].dom.extent)
    words = sums.op.input_tensors[0].dtype
    if get_target(target).name not in ("avx2", "avx512", "neon") or words != "uint64" or \
            kw is None or kw % 4:
        return None
    return popcount_dot_u64(mr, nr, kw)


@register("bitserial_dense", CPU_TARGETS)
def schedule_bitserial_dense(s, st, target):
    parts = [t for t in st.op.input_tensors
             if isinstance(t.op, ComputeOp) and t.op.tag == POPCOUNT_TAG]
    sums = next(t for t in parts if len(t.shape) == 4)
    for t in parts:
        if t is not sums:                       # the data rows' bits (unipolar)
            s[t].parallel(s[t].op.axis[0])
    Y, X = (const_value(st.extent_of(a)) for a in st.op.axis)
    mr, nr = BITSERIAL_TILE
    full = Y is not None and X is not None and Y % mr == 0 and X % nr == 0
    mr, nr = (mr, nr) if full else (1, 1)
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
