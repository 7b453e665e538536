"""CPU schedule of topi.bitserial's dense: a register tile of output rows x columns whose
popcount sums stay in registers while the packed words of the reduction stream past.

Each step of the word loop loads BITSERIAL_TILE[0] data words and BITSERIAL_TILE[1] weight
words and makes their products (AND, popcount, add): 8 sums of 2 x 4 words keep 14 of x86-64's
16 general registers busy (popcount runs on the scalar ALUs: GCC emits popcnt per 64-bit word).
"""
from ..lang.tensor import ComputeOp
from .bitserial import POPCOUNT_TAG
from .schedules import CPU_TARGETS, register
from .util import const_value

#: (rows, columns) of the output tile
BITSERIAL_TILE = (2, 4)


@register(POPCOUNT_TAG, CPU_TARGETS)
def _scheduled_with_dense(s, st, target):
    """The popcount sums of a unipolar dense: bitserial_dense's schedule places them."""
    return None


@register("bitserial_dense", CPU_TARGETS)
def schedule_bitserial_dense(s, st, target):
    out = st.op.output(0)
    parts = [t for t in st.op.input_tensors
             if isinstance(t.op, ComputeOp) and t.op.tag == POPCOUNT_TAG]
    if parts:                                  # unipolar: 2 * sums - row bits (an epilogue)
        sums = next(t for t in parts if len(t.shape) == 2)
        acc = s[sums]
        for t in parts:
            if t is not sums:
                s[t].parallel(s[t].op.axis[0])
    else:
        acc = s[s.cache_write(out, "local")]
    Y, X = (const_value(st.extent_of(a)) for a in st.op.axis)
    mr, nr = BITSERIAL_TILE
    mr = mr if Y is not None and Y % mr == 0 else 1
    nr = nr if X is not None and X % nr == 0 else 1
    i, j = st.op.axis
    io, ii = st.split(i, factor=mr)
    jo, ji = st.split(j, factor=nr)
    st.reorder(io, jo, ii, ji)
    acc.compute_at(st, jo)
    pi, pj = acc.op.axis
    acc.reorder(*acc.op.reduce_axis, pi, pj)
    acc.unroll(pi)
    acc.unroll(pj)
    st.unroll(ii)
    st.unroll(ji)
    st.parallel(io)
    return [s[t] for t in parts]
