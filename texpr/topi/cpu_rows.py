"""CPU schedules of the row operators (softmax, log_softmax, layer_norm, rms_norm) for the
vector targets: one row at a time, in cache.

A row operator is an output stage (tag "softmax", "log_softmax", "layer_norm", "rms_norm";
attrs["axis"]: the axes it reduces) and its parts (tag ROW_PART: the max, the exp, the sums,
the reciprocal standard deviation), which this schedule places; the parts' own tag schedules
nothing. Two shapes of loop nest:

- rows (the last axis is reduced): parallel over the kept axes, fused; every part computed
  at the row. A reduction runs as `accumulators` vectors of partial results (split by the
  vector width times that, rfactor, vectorized, unrolled: one pass over the row, independent
  dependency chains), then across the lanes; elementwise parts and the output vectorized
  along the row.
- columns (the last axis is kept, e.g. softmax over the channels of NCHW): vectors across
  the last axis, the reduced axes inside them; parallel over the other kept axes and the
  blocks of the last one, every part computed at the block. The lanes are independent rows,
  so a reduction is a plain vector loop (several vectors per block: independent chains).

An elementwise stage consuming the operator (an epilogue: a scale, a residual add, gelu) is
the loop nest's output; the operator's own output stage is inlined into it.

Rows that come from memory (data and output larger than the L2): the row's first pass (the
max, the sum) reads it from memory, the later ones from L1. A second pass over the data that
computes a math function (softmax's exp, log_softmax's sum of exps) prefetches the next row
(pragma prefetch_next, lower/cpu/prefetch.py) meanwhile, so that the memory works while the
core computes and the next first pass finds its row in cache. Data and output beyond the L3
(3/4 of it) on x86: the output rows are written by streaming stores from their first aligned
line on (pragma stream_stores, lower/cpu/stream_stores.py), not read before being written.
"""
from ..lang import dtypes
from ..lang.expr import Call, Const, Var, all as te_all
from ..lang.visitor import walk
from . import cpu_tuning as tuning
from ..targets.registry import get_target
from .cpu import cpu_info, epilogue_output
from .schedules import VECTOR_CPU_TARGETS, default_stage, register, register_size_classes
from .tag import ROW_PART

#: vectors of partial results a reduction keeps (independent chains hide the add latency)
ACCUMULATORS = 4
#: lanes a row's partial vector is folded to before its last, scalar, steps
FOLDED_LANES = 4


@register(ROW_PART, VECTOR_CPU_TARGETS)
def _scheduled_by_row_output(s, st, target):
    """Placed by the row operator that reads it (schedule_rows)."""
    return None


def row_parts(s, st):
    """The ROW_PART stages `st` reads, directly or through other parts, consumers first."""
    out, todo, seen = [], [st], set()
    while todo:
        cur = todo.pop(0)
        for t in cur.op.input_tensors:
            p = s[t]
            if p.op.tag == ROW_PART and id(p) not in seen:
                seen.add(id(p))
                out.append(p)
                todo.append(p)
    return out


def _constant(axes):
    return all(isinstance(a.dom.extent, Const) for a in axes)


@register_size_classes("softmax", VECTOR_CPU_TARGETS)
@register_size_classes("log_softmax", VECTOR_CPU_TARGETS)
@register_size_classes("layer_norm", VECTOR_CPU_TARGETS)
@register_size_classes("rms_norm", VECTOR_CPU_TARGETS)
def _row_size_classes(st, target):
    """Symbolic kept extents (the row count): a class where each is 1 (one row: no
    parallel loop, the kernel the concrete one-row build gets), then every other count."""
    axes = st.op.attrs.get("axis")
    if axes is None:
        return None
    kept = [a.dom.extent for d, a in enumerate(st.op.axis) if d not in axes]
    rows = [e for e in kept if isinstance(e, Var)]
    if not rows or any(not isinstance(e, (Var, Const)) for e in kept):
        return None
    return [te_all(*(v == 1 for v in rows)), te_all(*(v >= 0 for v in rows))]


@register("softmax", VECTOR_CPU_TARGETS)
@register("log_softmax", VECTOR_CPU_TARGETS)
@register("layer_norm", VECTOR_CPU_TARGETS)
@register("rms_norm", VECTOR_CPU_TARGETS)
def schedule_rows(s, st, target):
    """One row (or one block of columns) at a time: see the module's docstring."""
    parts = row_parts(s, st)
    axes = st.op.attrs.get("axis")
    dtype = st.op.output(0).dtype
    last = len(st.op.axis) - 1
    # the reduced axes and the last one need constant extents (the rows may be symbolic)
    if axes is None or not dtypes.is_float(dtype) or \
            not _constant([a for d, a in enumerate(st.op.axis) if d in axes or d == last]) or \
            any(p.attach_type != "root" for p in parts):
        for p in reversed(parts):
            default_stage(s, p, target)
        return default_stage(s, st, target)
    lanes = cpu_info(target).lanes_of(dtype)
    acc = tuning.rows_params(st, axes, target, ACCUMULATORS)
    final = epilogue_output(s, st)
    if final is not None:
        st.compute_inline()
    else:
        final = st
    fax = list(final.op.axis)
    kept = [a for d, a in enumerate(fax) if d not in axes]
    red = [a for d, a in enumerate(fax) if d in axes]
    if last in axes or not kept:
        # (before the parts' rfactor replaces their ops)
        ahead = _prefetch_rows(st, parts, axes, target) if kept else None
        stream = bool(kept) and _streams(st, parts, axes, target)
        at, loop = _rows_nest(final, kept, red, lanes, stream)
        passes = {st.op: (final, loop)}     # the loop of each stage's pass over the row
        for p in parts:
            if at is not None:
                p.compute_at(final, at)
            op = p.op
            passes[op] = _row_part(s, p, final, at, lanes, len(fax), acc)
        stage, loop = passes.get(ahead, (None, None))
        if loop is not None:
            stage.pragma(loop, "prefetch_next", _row_elements(st, axes))
    else:
        at = _columns_nest(final, kept, red, lanes, acc)
        for p in parts:
            p.compute_at(final, at)
            _column_part(p, lanes, acc)
    return parts + ([final] if final is not st else [])


def _vectors(st, iv, lanes, extent, unroll_max=ACCUMULATORS):
    """Vectorize `iv` (of `extent`) by the vector width; `extent` of several vectors: split
    them off and unroll up to unroll_max of them. Returns the loop over the vectors (None:
    one vector, or unrolled)."""
    if extent <= lanes:
        st.vectorize(iv)
        return None
    o, i = st.split(iv, factor=lanes)
    st.vectorize(i)
    if extent <= lanes * unroll_max:
        st.unroll(o)
        return None
    return o


def _rows_nest(final, kept, red, lanes, stream=False):
    """kept axes outer (fused, parallel), the reduced ones inside, the last vectorized (or,
    stream: left whole, marked stream_stores, which vectorizes it from the first aligned
    line of the output row on). Returns the row axis (None when nothing is kept: one row)
    and the loop over the row's vectors (None when streamed)."""
    final.reorder(*(kept + red))
    row = (final.fuse(*kept) if len(kept) > 1 else kept[0]) if kept else None
    if row is not None:
        final.parallel(row)
    if stream:
        final.pragma(red[-1], "stream_stores", lanes)
        return row, None
    return row, _vectors(final, red[-1], lanes, red[-1].dom.extent.value, unroll_max=1)


def _streams(st, parts, axes, target):
    """Whether the output rows are written by streaming stores: on x86 (the emitters with
    non-temporal stores), rows of several vectors, contiguous, and data and output of at
    least 3/4 of the L3 (glibc's memcpy threshold for non-temporal stores: what is written
    would be evicted before it is read again, so its lines are not read first; 1024 x 4096
    on Zen 4, 1 thread, NumPy's arrays: layer_norm 1.98 -> 1.27 ms, rms_norm 1.71 -> 1.32,
    softmax 2.10 -> 1.95)."""
    ndim = len(st.op.axis)
    out = st.op.output(0)
    if get_target(target).family != "x86" or not _constant(st.op.axis) or \
            sorted(axes) != list(range(ndim - len(axes), ndim)) or \
            st.op.axis[-1].dom.extent.value < 4 * cpu_info(target).lanes_of(out.dtype):
        return False
    data = _row_data(st, {p.op for p in parts})
    return sum(_nbytes(t) for t in list(data) + [out]) * 4 >= 3 * cpu_info(target).l3_bytes


def _row_part(s, p, final, at, lanes, ndim, acc=ACCUMULATORS):
    """A part in the rows nest: a reduction as vectors of partial results (rfactor, computed
    where the part is), an elementwise part over the data (ndim axes) vectorized along the
    row, a per-row scalar left as it is. Returns (stage, loop) of its pass over the row
    (loop None: no loop over it)."""
    op = p.op
    if op.reduce_axis:
        k = op.reduce_axis[-1]
        L = k.dom.extent.value
        if L < lanes:
            return p, None
        width = lanes * max(1, min(_accumulators(op, acc), L // lanes))
        _, ki = p.split(k, factor=width)
        rf = s[s.rfactor(op.output(0), ki)]
        lane, data = rf.op.axis[0], list(rf.op.axis[1:])
        rf.reorder(*(data + list(rf.op.reduce_axis) + [lane]))
        _vectors(rf, lane, lanes, width, max(acc, ACCUMULATORS))
        stages = [rf]
        # the partial vectors summed into one first (vector adds), then its lanes folded to
        # FOLDED_LANES (adds of narrower vectors), then those one by one: a chain of a few
        # adds per row instead of `lanes` (latency paid once per row: short rows feel it)
        folds = ([lanes] if width > lanes else []) + \
            ([FOLDED_LANES] if lanes > FOLDED_LANES else [])
        for fold in folds:
            _, li = p.split(p.op.reduce_axis[0], factor=fold)
            rf2 = s[s.rfactor(op.output(0), li)]
            lane2, data2 = rf2.op.axis[0], list(rf2.op.axis[1:])
            rf2.reorder(*(data2 + list(rf2.op.reduce_axis) + [lane2]))
            rf2.vectorize(lane2)
            stages.append(rf2)
        if at is not None:
            for st in stages:
                st.compute_at(final, at)
        over = rf.op.reduce_axis[-1]
        return rf, (over if over.dom.extent.value > 1 else None)
    if len(op.axis) == ndim:
        return p, _vectors(p, op.axis[-1], lanes, op.axis[-1].dom.extent.value, unroll_max=1)
    return p, None


def _row_elements(st, axes):
    """Elements of one row: the product of the reduced extents."""
    n = 1
    for d in axes:
        n *= st.op.axis[d].dom.extent.value
    return n


def _prefetch_rows(st, parts, axes, target):
    """The op of the second pass over the row's data (a part's, or st's), which prefetches
    the next row while it computes; None where the rows are not contiguous (the reduced axes
    not the last ones), where the data and output fit the L2 (they stay in cache from call
    to call) or the row count is symbolic, where one pass reads the data, or where that pass
    calls no math function (layer_norm's squares, rms_norm's output: too little work to hide
    the fetch, and measured slower with it, 1024 x 4096 on Zen 4: 2.7 -> 3.2 ms, 1.7 -> 2.5
    ms)."""
    ndim = len(st.op.axis)
    if sorted(axes) != list(range(ndim - len(axes), ndim)) or not _constant(st.op.axis):
        return None
    out = st.op.output(0)
    ops = {p.op for p in parts}
    data = _row_data(st, ops)
    if not data or sum(_nbytes(t) for t in list(data) + [out]) <= cpu_info(target).l2_bytes:
        return None
    depth = {}

    def depth_of(op):
        """Passes before op's: 1 + those of the parts it reads (0: it reads none)."""
        if op not in depth:
            depth[op] = 1 + max((depth_of(t.op) for t in op.input_tensors if t.op in ops),
                                default=-1)
        return depth[op]
    readers = sorted((o for o in list(ops) + [st.op] if data & set(o.input_tensors)),
                     key=depth_of)
    if len(readers) < 2 or not _calls_math(readers[1]):
        return None
    return readers[1]


def _row_data(st, ops):
    """The tensors the row operator reads whole (shaped as its output: not gamma, beta),
    other than its parts (ops)."""
    shape = tuple(st.op.output(0).shape)
    return {t for o in list(ops) + [st.op] for t in o.input_tensors
            if t.op not in ops and tuple(t.shape) == shape}


def _nbytes(t):
    n = dtypes.bits(t.dtype) // 8
    for e in t.shape:
        n *= e.value
    return n


def _accumulators(op, acc=ACCUMULATORS):
    """Vectors of partial results for a reduction: ACCUMULATORS for a cheap body (a load, a
    product), one when the body calls a math function (its own latency hides the add's, and
    unrolled copies of it would not fit the registers)."""
    return 1 if _calls_math(op) else acc


def _calls_math(op):
    return any(isinstance(n, Call) for n in walk(op.bodies[0]))


def _columns_nest(final, kept, red, lanes, acc=ACCUMULATORS):
    """Blocks of the last (kept) axis in vectors, the reduced axes inside them; parallel over
    the other kept axes and the blocks. Returns the block axis."""
    last = kept[-1]
    block = _column_block(last.dom.extent.value, lanes, acc)
    jo, ji = final.split(last, factor=block)
    final.reorder(*(kept[:-1] + [jo] + red + [ji]))
    par = final.fuse(*(kept[:-1] + [jo])) if len(kept) > 1 else jo
    final.parallel(par)
    _vectors(final, ji, lanes, block, max(acc, ACCUMULATORS))
    return par


def _column_part(p, lanes, acc=ACCUMULATORS):
    """A part in the columns nest: its last axis (the kept one) innermost, vectorized."""
    data = list(p.op.axis)
    if not data:
        return
    p.reorder(*(data[:-1] + list(p.op.reduce_axis) + [data[-1]]))
    _vectors(p, data[-1], lanes, _column_block(data[-1].dom.extent.value, lanes, acc),
             max(acc, ACCUMULATORS))


def _column_block(n, lanes, acc=ACCUMULATORS):
    """Columns per block of a last axis of n: up to `acc` whole vectors (all n when
    shorter than one)."""
    return lanes * max(1, min(acc, n // lanes)) if n >= lanes else n
