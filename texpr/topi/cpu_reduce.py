"""Vectorized CPU schedules of the reductions (tag "reduce": topi.sum, mean, prod, max, min,
argmax, argmin) for the vector CPU targets: one pass over the data, whatever axes are reduced.

Two layouts, told apart by the innermost index of the data the reduction reads:

- the innermost (contiguous) axis is reduced (a row sum): the reduction is split by
  `accumulators` vectors of lanes and rfactored, so each output element is computed from that
  many vector accumulators over its contiguous run (independent chains hide the add / max
  latency), combined lane by lane at the end; reduced axes that index the data's last
  dimensions whole (a global pool over (2, 3)) are fused first into one row (a 28 x 28 plane:
  784 contiguous floats, where rows of 28 are not two 16-lane vectors long);
- the innermost axis is kept (a column sum: sum over axis 0 of [K, N]): the reduction stays
  outside, the kept contiguous axis is tiled by vectors (a block of output columns accumulated
  across every reduced row, reading each row's block contiguously).

The outer kept axes run in parallel. An elementwise consumer (mean's division, argmax's index)
is computed in the same loops. Extents no tile divides get the lowering's tails.
"""

import math

from ..lang import dtypes
from ..lang.expr import Const, TensorLoad, Var
from ..lang.visitor import walk
from . import cpu_tuning as tuning
from .cpu import (_same_extent, cpu_info, epilogue_output, parallel_units, row_vector_info,
                  vector_partials)
from .reduction import REDUCE_TAG
from .schedules import VECTOR_CPU_TARGETS, default_stage, register

#: vector registers a row reduction accumulates in (independent add / max chains; a tuple
#: reduction, argmax's index and value, takes two per chain): 8 sums of 768-float rows took
#: 0.048 ms against 0.054 ms with 4 (Zen 3, AVX2)
ROW_ACCUMULATORS = 8
#: the same for a row of symbolic length: the last block's unrolled vectors are masked one
#: by one (loop_partition._masked_vectors), so the accumulators stay registers (split off,
#: they ran lane by lane from memory: hence 1 before); symbolic 64 x 56 x 56 global pool,
#: Zen 4, avx512, 1 thread: 0.0207 ms with 1, 0.0111 with 2, 0.0094 with 4, 0.0093 with 8;
#: rows of 4096: 0.0072 -> 0.0033 ms with 4; rows of 77 pay for the masked vectors, 0.0023
#: -> 0.0026
SYMBOLIC_ROW_ACCUMULATORS = 4
#: vectors of output columns a column reduction updates per unrolled step
COLUMN_VECTORS = 4
#: bytes of output columns a column reduction accumulates while it reads each row
COLUMN_BLOCK_BYTES = 16 * 1024
#: a column reduction with fewer column blocks than cores splits its rows when it reads at
#: least this many elements, into parts of at least COLUMN_ROWS_PER_PART rows
COLUMN_SPLIT_MIN = 1 << 18
COLUMN_ROWS_PER_PART = 64


def _data_load(op):
    """The first tensor element the reduction reads (the data it reduces)."""
    for b in op.bodies:
        for n in walk(b):
            if isinstance(n, TensorLoad):
                return n
    return None


def _innermost(st):
    """("row", reduce axis) when the data's innermost index is a reduce axis, ("column", data
    axis) when it is the stage's innermost data axis, else None."""
    load = _data_load(st.op)
    if load is None or not load.indices:
        return None
    last = load.indices[-1]
    if not isinstance(last, Var):
        return None
    for iv in st.op.reduce_axis:
        if iv.var is last:
            return "row", iv
    if st.op.axis and st.op.axis[-1].var is last:
        return "column", st.op.axis[-1]
    return None


def _const(e):
    return e.value if isinstance(e, Const) else None


def _contiguous_run(st, load):
    """The reduce axes that index the data's last dimensions, outer to inner, each inner one
    over its whole dimension (the last reduce axes of the stage too, so adjacent leaves): one
    contiguous run of the data per output (a global pool over (2, 3): a channel's H x W).
    Fewer than two: [] (nothing to fuse)."""
    red = list(st.op.reduce_axis)
    shape = load.tensor.shape
    run = []
    for d in range(len(load.indices) - 1, -1, -1):
        iv = red[len(red) - 1 - len(run)] if len(run) < len(red) else None
        if iv is None or load.indices[d] is not iv.var:
            break
        run.insert(0, iv)
        if not (isinstance(iv.dom.min, Const) and iv.dom.min.value == 0 and
                _same_extent(iv.dom.extent, shape[d])):
            break       # the run's outermost axis: its extent may be part of its dimension
    return run if len(run) > 1 else []


def reduce_lanes(st, target):
    """Lanes of the widest value the reduction holds (its outputs' and its data's dtypes)."""
    info = cpu_info(target)
    load = _data_load(st.op)
    dts = [st.op.output(k).dtype for k in range(st.op.num_outputs)]
    if load is not None:
        dts.append(load.dtype)
    return min(info.lanes_of(dt) for dt in dts)


def row_lanes(ext, lanes, target):
    """The lanes a row reduction of `ext` contiguous elements (None: symbolic) runs: `lanes`,
    or where its rows are not whole vectors of the target's (CpuInfo) lanes, the narrower
    vectors that cpu.row_vector_info finds faster per row (avx512 on Zen 4 and under SIMDe: a channel's
    56 x 56 global pool summed in 8-lane vectors in 0.038 ms against 0.10 with 16 lanes and a
    masked tail per row)."""
    info = cpu_info(target)
    if lanes != info.lanes or (ext is not None and ext % lanes == 0):
        return lanes
    # a row of symbolic length: as for a row of whole vectors, where the narrow ones
    # run as many lanes a cycle (their tail wastes less)
    return row_vector_info(ext or info.lanes, info).lanes


@register(REDUCE_TAG, VECTOR_CPU_TARGETS)
def schedule_reduce(s, st, target):
    layout = _innermost(st)
    lanes = reduce_lanes(st, target)
    if layout is not None:
        kind, iv = layout
        ext = _const(iv.dom.extent)
        run = _contiguous_run(st, _data_load(st.op)) if kind == "row" else []
        if run:
            exts = [_const(r.dom.extent) for r in run]
            ext = None if None in exts else math.prod(exts)
            if ext is None or ext >= 2 * lanes:
                # one row of the run's elements (a 28 x 28 plane: 784 floats, whole
                # vectors, where its rows of 28 were not two vectors long)
                iv = st.fuse(*run)
        if ext is None and kind == "row":
            # a symbolic row (one build for every length): vectors and the lowering's tail
            return _schedule_rows(s, st, iv, row_lanes(None, lanes, target), None,
                                  SYMBOLIC_ROW_ACCUMULATORS)
        if ext is not None and (ext >= 2 * lanes if kind == "row" else ext >= lanes):
            knobs = tuning.reduce_params(st, _data_load(st.op), target, kind, {
                "accumulators": ROW_ACCUMULATORS, "column_vectors": COLUMN_VECTORS,
                "column_block_kb": COLUMN_BLOCK_BYTES // 1024})
            if kind == "row":
                return _schedule_rows(s, st, iv, row_lanes(ext, lanes, target),
                                      ext, knobs["accumulators"])
            return _schedule_columns(s, st, lanes, ext, knobs["column_vectors"],
                                     knobs["column_block_kb"] * 1024)
    out = epilogue_output(s, st)
    if out is None:
        return default_stage(s, st, target)
    _attach(st, out, _fused_data_axes(out))
    return [out]


def _fused_data_axes(st):
    """The stage's data axes fused into one (parallel) loop; None when it has none."""
    axes = [iv for iv in st.leaf_iter_vars if iv.kind != "reduce"]
    if not axes:
        return None
    f = st.fuse(*axes) if len(axes) > 1 else axes[0]
    st.parallel(f)
    return f


def _attach(st, out, at):
    if at is not None:
        st.compute_at(out, at)


def _schedule_rows(s, st, k, lanes, ext, accumulators=ROW_ACCUMULATORS):
    """Row reduction: rfactor over `accumulators` x lanes partial results, vectorized."""
    acc = max(1, accumulators // st.op.num_outputs if ext is None else
              min(accumulators // st.op.num_outputs, ext // (4 * lanes)))
    _, ki = st.split(k, factor=lanes * acc)
    rf = s.rfactor(st.op.output(0), ki)
    rs = s[rf[0] if isinstance(rf, (tuple, list)) else rf]
    partials = [rs]
    if ext is None and st.op.num_outputs == 1:
        # a symbolic row: the accumulators in a local cache (registers: promote.py; the
        # masked tail blends into them, vectorize._whole_private), copied out once; in the
        # rfactor buffer GCC kept them in memory around the row's two loops (vectors, tail),
        # a global average pool of 64 x 56 x 56 at 1.6x the time of its constant-shape build
        # (Zen 4, avx2 and avx512), 1.05x so
        partials.insert(0, s[s.cache_write(rf, "local")])
    for r in partials:
        _lanes_innermost(r, lanes)
    if acc > 1:     # the accumulators added as vectors first: `lanes` scalars left per row
        partials.append(vector_partials(s, st, lanes))
    out = epilogue_output(s, st)
    if out is None:
        at = _fused_data_axes(st)
        for r in partials:
            _attach(r, st, at)
        return partials
    _attach(st, out, _fused_data_axes(out))
    if st.op.axis:
        for r in partials:
            r.compute_at(st, st.leaf_iter_vars[len(st.op.axis) - 1])
    return partials + [out]


def _lanes_innermost(rs, lanes):
    """The lane axis of an rfactor stage (its first) innermost, in unrolled vectors."""
    lane, kept = rs.op.axis[0], rs.op.axis[1:]
    rs.reorder(*kept, *rs.op.reduce_axis, lane)
    lo, li = rs.split(lane, factor=lanes)
    rs.unroll(lo)
    rs.vectorize(li)


def _column_tiles(st, j, lanes, width, vectors=COLUMN_VECTORS):
    """j split into blocks of `width` columns, each a loop over runs of COLUMN_VECTORS
    unrolled vectors: (block, run, vector within the run, lane)."""
    jo, ji = st.split(j, factor=width)
    jio, jii = st.split(ji, factor=lanes)
    run, vec = st.split(jio, factor=vectors)
    st.unroll(vec)
    st.vectorize(jii)
    return jo, run, vec, jii


def column_block(ext, dtype, lanes, vectors=COLUMN_VECTORS, block_bytes=COLUMN_BLOCK_BYTES):
    """Output columns a column reduction accumulates while it reads each reduced row: whole
    rows up to COLUMN_BLOCK_BYTES (then the block stays in L1 while rows stream in: reading
    rows in part, a block at a time, was 1.5x slower on Zen 3), a multiple of the vector runs."""
    run = lanes * vectors
    cap = max(run, block_bytes * 8 // dtypes.bits(dtype) // run * run)
    return ext if ext <= cap else cap


def column_parts(data_blocks, first_reduce, total, cores):
    """Parts the reduced rows are split into (rfactor) so that a column reduction with fewer
    blocks of columns than cores still runs on every core, each part streaming its own rows;
    1 when the blocks already give every core work or the reduction is small."""
    if data_blocks >= cores or total < COLUMN_SPLIT_MIN:
        return 1
    return max(1, min(cores, first_reduce // COLUMN_ROWS_PER_PART))


def _column_nest(st, lanes, width, vectors=COLUMN_VECTORS):
    """The loops of a root column reduction: blocks (fused with the outer kept axes, in
    parallel), the reduced rows, then the block's vector runs."""
    red = [iv for iv in st.leaf_iter_vars if iv.kind == "reduce"]
    *others, j = [iv for iv in st.leaf_iter_vars if iv.kind != "reduce"]
    jo, run, vec, lane = _column_tiles(st, j, lanes, width, vectors)
    st.reorder(*others, jo, *red, run, vec, lane)
    st.parallel(st.fuse(*others, jo) if others else jo)


def _split_rows(s, st, ext, width, lanes, vectors=COLUMN_VECTORS):
    """rfactor of the reduced rows into column_parts parts (a stage of partial results per
    part, scheduled as a column reduction itself), or None."""
    red = [iv for iv in st.leaf_iter_vars if iv.kind == "reduce"]
    exts = [_const(st.extent_of(iv)) for iv in st.leaf_iter_vars]
    if not red or any(e is None for e in exts):
        return None
    blocks, total = -(-ext // width), 1
    for iv, e in zip(st.leaf_iter_vars, exts):
        total *= e
        if iv.kind != "reduce" and iv is not st.op.axis[-1]:
            blocks *= e
    parts = column_parts(blocks, _const(st.extent_of(red[0])), total, parallel_units())
    if parts < 2:
        return None
    ko, _ = st.split(red[0], nparts=parts)
    rf = s.rfactor(st.op.output(0), ko)
    rs = s[rf[0] if isinstance(rf, (tuple, list)) else rf]
    _column_nest(rs, lanes, width, vectors)
    return rs


def _schedule_columns(s, st, lanes, ext, vectors=COLUMN_VECTORS,
                      block_bytes=COLUMN_BLOCK_BYTES):
    """Column reduction: a block of output columns accumulated over every reduced row (each
    row's block read contiguously), blocks and the outer kept axes in parallel; with fewer
    blocks than cores, the rows split into parts first (each part's sums in parallel)."""
    width = column_block(ext, st.op.output(0).dtype, lanes, vectors, block_bytes)
    part = _split_rows(s, st, ext, width, lanes, vectors)
    extra = [part] if part is not None else []
    out = epilogue_output(s, st)
    red = [iv for iv in st.leaf_iter_vars if iv.kind == "reduce"]
    if out is None:
        _column_nest(st, lanes, width, vectors)
        return extra
    *o_others, oj = out.op.axis
    ojo, _, _, _ = _column_tiles(out, oj, lanes, width, vectors)
    f = out.fuse(*o_others, ojo) if o_others else ojo
    out.parallel(f)
    st.compute_at(out, f)
    *others, j = [iv for iv in st.leaf_iter_vars if iv.kind != "reduce"]
    jio, jii = st.split(j, factor=lanes)
    run, vec = st.split(jio, factor=vectors)
    st.reorder(*others, *red, run, vec, jii)
    st.unroll(vec)
    st.vectorize(jii)
    return extra + [out]
