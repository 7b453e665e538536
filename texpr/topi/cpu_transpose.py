"""CPU schedule of topi.transpose on the vector CPU targets: square tiles, so that both the
rows it reads and the rows it writes stay in cache while a tile is copied.

When the input's innermost axis stays innermost the copy reads and writes runs of contiguous
elements: the default schedule (vectorized inner axis) fits. Otherwise the two output axes
that move (the one reading the input's contiguous axis, and the innermost one, written
contiguously) are tiled by TILE_BYTES of elements each way (at least a vector); each tile row
is vector stores of elements gathered from the tile's input rows.
"""
from ..lang import dtypes
from .cpu import cpu_info
from .schedules import VECTOR_CPU_TARGETS, default_stage, register
from .transform import TRANSPOSE_TAG

#: a tile is one cache line of elements wide and as many rows tall (16 x 16 fp32: on AVX2 3x
#: torch's copy at 512 x 768, Zen 3, where 8 x 8 and 32 x 32 were no faster; on Zen 4 the
#: 32 x 32 tiles of two AVX-512 vectors took 1.4-1.7x the time of 16 x 16 at 1024 x 4096 and
#: 4096 x 1024, 1 thread: input rows 16 KiB apart share the L1's sets)
TILE_BYTES = 64


def _input_axis_order(op):
    """For each output axis, the input axis it reads (from the body's load)."""
    load = op.bodies[0]
    pos = {iv.var: d for d, iv in enumerate(op.axis)}
    return [pos.get(e) for e in load.indices]


@register(TRANSPOSE_TAG, VECTOR_CPU_TARGETS)
def schedule_transpose(s, st, target):
    reads = _input_axis_order(st.op)    # reads[p]: output axis indexing input axis p
    n = len(st.op.axis)
    q = reads[-1] if reads else None     # output axis reading the input's contiguous axis
    if n < 2 or q is None or q == n - 1:
        return default_stage(s, st, target)
    dtype = st.op.output(0).dtype
    tile = max(cpu_info(target).lanes_of(dtype), TILE_BYTES * 8 // dtypes.bits(dtype))
    i, j = st.op.axis[q], st.op.axis[-1]
    io, ii = st.split(i, factor=tile)
    jo, ji = st.split(j, factor=tile)
    others = [iv for d, iv in enumerate(st.op.axis) if d not in (q, n - 1)]
    st.reorder(*others, io, jo, ii, ji)
    st.parallel(st.fuse(*others, io) if others else io)
    st.vectorize(ji)
