"""CPU schedule of topi.nn.attention (topi/attention.py) for "native"/"avx2", "avx512", "neon".

Parallel over (batch, head, block of qb query rows); per block, everything stays in cache:

1. the block's queries copied transposed, [D, qb] (so the query positions are contiguous);
2. scores^T [T, qb] = k q^T: the register-tiled GEMM (gemm_fp32 tensorize, cpu.py's
   _gemm_tiles), k read as it lies;
3. the softmax down the columns of scores^T: max, exp (vectorized through
   targets/vecmath), sum, each a vector loop over the block's query positions;
4. pv [qb, Dv] = e^T v: the same GEMM with e^T as its strided first operand and v read as
   it lies, then out = pv / sum, vectorized along the head dimension.

Causal: both products get a `where` that holds for a whole register tile or key chunk (it
starts at or before the block's last query): tensorize guards the call with it, and the loop
partitioning cuts the tile loops there, so the keys after a block are not multiplied
(about half the GEMM work at S = T); max and sum skip those keys too and exp leaves them 0
(a sum over one point with the block's condition as `where`). The mask itself is in max and
exp (attention.py).
"""
from ..lang.expr import (Const, Reduce, TensorLoad, Var, all as te_all,
                         elementwise_min as te_min, if_then_else)
from ..lang.reduction import sum as te_sum
from ..lang.tensor import ComputeOp, IterVar, Range, reduce_axis
from ..lang.visitor import walk as walk_nodes
from .attention import INNER_TAGS, OUTPUT_TAG
from .cpu import (_dims_or_vars, _f32, _gemm_tiles, _vector_tile, cpu_info, pack_input,
                  pad_axis, register_tile)
from .schedules import (VECTOR_CPU_TARGETS, default_stage, known_facts, register,
                        register_size_classes)
from .util import cdiv

#: L1 data cache size assumed (32 KiB: Zen, Intel cores and big Arm cores alike)
L1_BYTES = 32 * 1024

#: accumulators a register tile needs to keep the FMA units busy (cpu.register_tile's model)
ENOUGH_ACCUMULATORS = 12

#: the query block aimed at: its scores^T and exp blocks (T x qb floats each) stay in L2
#: for T up to a few thousand keys, and the first GEMM has qb / nr column panels per key tile
TARGET_QUERY_BLOCK = 48

def attention_config(S, T, D, Dv, target="native", padded=False):
    """Blocking of attention with S queries, T keys, head dims D (q, k) and Dv (v).

    qb query rows per parallel block: a multiple of nr1 and of mr2, dividing S when one
    does (a partial block or tile makes the lowering compute its rows with scalar loops);
    mr1 x nr1: the register tile of scores^T (key rows x query columns, K = D), mr1
    dividing T when a good divisor exists; mr2 x nr2: the register tile of pv (query rows x
    head columns, K = T in chunks of kc2 keys), nr2 dividing Dv, or None when Dv is not a
    multiple of the vector width (pv is then a vector loop). padded: S is padded to whole
    blocks (a symbolic S), so qb need not divide it.
    """
    info = cpu_info(target)
    lanes = info.lanes
    width = 2 * lanes if S > lanes else lanes
    mr1, nr1 = register_tile(T, width, info, max_vectors=width // lanes, nr_divides=width)
    top = max(nr1, cdiv(min(S, 2 * TARGET_QUERY_BLOCK), nr1) * nr1)
    best = None
    for qb in range(nr1, top + 1, nr1):
        mr2 = nr2 = None
        acc = 0
        if Dv % lanes == 0:
            # a column tile dividing Dv (partial columns have no kernel), rows dividing qb
            mr2, nr2 = register_tile(qb, Dv, info, nr_divides=Dv)
            mr2 = max(m for m in range(1, mr2 + 1) if qb % m == 0)
            acc = mr2 * nr2 // lanes
        key = (S % qb != 0 and not padded, -min(acc, ENOUGH_ACCUMULATORS),
               abs(qb - TARGET_QUERY_BLOCK))
        if best is None or key < best[0]:
            best = (key, qb, mr2, nr2)
    _, qb, mr2, nr2 = best
    return {"qb": qb, "mr1": mr1, "nr1": nr1, "mr2": mr2, "nr2": nr2,
            "kc2": _key_chunk(T, qb + (nr2 or 0)), "lanes": lanes}


#: what a query of a partial register tile costs (its scores and pv as scalar loops) in
#: queries of whole tiles (Zen 3, 1 x 12 x S x 64: S = 3-15, 24, 40, 333 ran faster padded,
#: S = 1, 2, 9, 17, 20, 33, 50-200 not)
SCALAR_QUERY_COST = 3



def _pads_queries(S, qb, nr1):
    """Whether a constant S is computed over whole blocks of qb queries (padded, as for a
    symbolic S): when its partial tile's queries (S % nr1, scalar loops) cost more than the
    padding queries (whole tiles, their outputs not written)."""
    extra = cdiv(S, qb) * qb - S
    return extra > 0 and SCALAR_QUERY_COST * (S % nr1) > extra


def _key_chunk(T, width):
    """The keys pv takes per GEMM call: its rows of e and of v (width floats per key in all)
    fill at most half of L1 so that the v rows stay there for every query tile; a divisor of
    T (the chunk loop has no tail), else all of T."""
    fit = [c for c in range(16, T + 1) if T % c == 0 and c * width * 4 <= L1_BYTES // 2]
    return max(fit) if fit else T


#: the sequence length a schedule of a symbolic one is configured for, without a bound from
#: its size class
SYMBOLIC_SEQUENCE = 512

#: a symbolic query count above this many (a size class from here up): blocked for whole,
#: padded blocks (attention_config(padded=True)); up to it, for the class's bound
MANY_SYMBOLIC_QUERIES = 128


def _class_bound(n):
    """The largest value the size class being scheduled allows shape variable n, or None."""
    facts = known_facts()
    return facts.bounds(n)[1] if facts is not None and isinstance(n, Var) else None


def _multiple_of(n, k):
    """Whether the size class being scheduled says shape variable n is a multiple of k."""
    facts = known_facts()
    return facts is not None and isinstance(n, Var) and facts.divisors.get(n, 1) % k == 0


def _representative(n):
    """n, or for a symbolic length the largest value its size class allows (else
    SYMBOLIC_SEQUENCE): what the blocking is chosen for."""
    if isinstance(n, int):
        return n
    facts = known_facts()
    hi = facts.bounds(n)[1] if facts is not None and isinstance(n, Var) else None
    return hi if hi is not None else SYMBOLIC_SEQUENCE


#: keys per pv GEMM call for a symbolic key count of a bounded size class (padded to whole
#: chunks of it: _pad_keys)
SYMBOLIC_KEY_CHUNK = 16


#: attention of many queries (a symbolic length past MANY_SYMBOLIC_QUERIES): a size class of
#: multiples of this many, blocked for them (qb dividing it; keys in whole chunks of it: no
#: padding, no copies); others are padded to blocks of 48 (1 x 12 x S x 64 causal, Zen 3:
#: S = 512 padded to blocks of 48 ran 1.10x the concrete kernel's time, in blocks of 32
#: 1.01-1.05x; S = 333 in padded blocks of 32 1.10x, of 48 1.02-1.08x: the padding's waste
#: decides)
WHOLE_BLOCK_MULTIPLE = 32


#: keys per pv GEMM call for a symbolic key count without a bound (the keys padded to whole
#: chunks: no tail; a class of at most MANY_SYMBOLIC_QUERIES keys pads to SYMBOLIC_KEY_CHUNK):
#: the C tile is loaded and stored once a chunk (1 x 12 x S x 64, Zen 3: chunks of 16 ran
#: 1.07-1.10x the concrete kernel's time at S = 333-512, of 32 0.99-1.05x)
PADDED_KEY_CHUNK = 32


#: a symbolic key count up to this many: size classes that compute their bound of keys
#: (_padded_keys: whole register tiles, where partial ones would run as scalar loops)
FEW_SYMBOLIC_KEYS = 2 * SYMBOLIC_KEY_CHUNK


#: a symbolic key count up to this many: a size class for each value (the kernel built for
#: that T; with queries = keys, for that sequence length): padding these few keys to a whole
#: register tile, and copying k and v for it, cost up to 1.9x the concrete kernel's time
EXACT_SYMBOLIC_KEYS = 8


@register_size_classes(OUTPUT_TAG, VECTOR_CPU_TARGETS)
def attention_size_classes(st, target):
    """A symbolic key count T: each T up to EXACT_SYMBOLIC_KEYS (the concrete schedule),
    then ranges of T up to the vector width, twice that and FEW_SYMBOLIC_KEYS, each computed
    over its bound (keys padded: _padded_keys; a query count bounded with them: one block,
    padded); else pv as register tiles over whole key chunks (keys padded: _pad_keys; queries:
    whole blocks, padded), in two classes: up to MANY_SYMBOLIC_QUERIES keys (chunks of
    SYMBOLIC_KEY_CHUNK) and more (PADDED_KEY_CHUNK); before each, a class of the multiples
    of the chunk (of WHOLE_BLOCK_MULTIPLE past MANY_SYMBOLIC_QUERIES: whole blocks), which
    needs no padding and no copies (1 x 12 x 64 x 64 on Zen 3: the copies cost 2-6%)."""
    stages = _stages(st.schedule, st)
    scores = stages.get(INNER_TAGS[0])
    if scores is None or len(scores.op.input_tensors) != 2:
        return None
    k, _ = _keys_and_queries(scores)
    T = k.shape[2]
    if not isinstance(T, Var):
        return None
    lanes = cpu_info(target).lanes
    small = sorted({n for n in (lanes, 2 * lanes)
                    if EXACT_SYMBOLIC_KEYS < n < FEW_SYMBOLIC_KEYS}) + [FEW_SYMBOLIC_KEYS]
    whole = [te_all(T > MANY_SYMBOLIC_QUERIES, T % WHOLE_BLOCK_MULTIPLE == 0)]
    return [T == n for n in range(1, EXACT_SYMBOLIC_KEYS + 1)] + \
        [te_all(T >= 1, T <= n) for n in small] + \
        [te_all(T > FEW_SYMBOLIC_KEYS, T <= MANY_SYMBOLIC_QUERIES,
                T % SYMBOLIC_KEY_CHUNK == 0),
         te_all(T > FEW_SYMBOLIC_KEYS, T <= MANY_SYMBOLIC_QUERIES)] + whole + \
        [T > MANY_SYMBOLIC_QUERIES]


def _padded_keys(T, cfg):
    """The keys a size class of at most FEW_SYMBOLIC_KEYS keys computes: its bound rounded up
    to whole register tiles of scores^T (a constant), or None (T constant or many keys)."""
    hi = None if isinstance(T, int) else _class_bound(T)
    if hi is None or hi > FEW_SYMBOLIC_KEYS:
        return None
    return cdiv(hi, cfg["mr1"]) * cfg["mr1"]


def _pad_keys(s, st, scores, ex, pv, k, dims, Tp, at, lanes):
    """Every key stage over Tp >= T keys (whole register tiles or chunks, where partial ones
    would run as scalar loops): k copied with the last key repeated (finite scores, their e
    unused; a symbolic Tp: zero rows, e left 0 there), e computed for every row, v copied
    with zero rows (the padded e count nothing); max and sum read the rows of real keys
    only. The copies are computed at loop `at`.
    dims: (B, H, T, D, Dv). Returns their stages."""
    B, H, T, D, Dv = dims
    v = next(t for t in pv.op.input_tensors if getattr(t.op, "tag", "") not in INNER_TAGS)
    # a symbolic T: zero rows (their e is 0: _zero_after_keys), where the last key's index
    # could not be proved in bounds for every T
    _, kp = pack_input(s, scores, k, (B, H, Tp, D),
                       (lambda b_, h_, j_, d_: k[b_, h_, te_min(j_, T - 1), d_])
                       if isinstance(Tp, int) else
                       (lambda b_, h_, j_, d_: if_then_else(j_ < T, k[b_, h_, j_, d_], 0.0)),
                       lambda b_, h_, j_, d_: (b_, h_, j_, d_), "attention_kp")
    _, vp = pack_input(s, pv, v, (B, H, Tp, Dv),
                       lambda b_, h_, j_, e_: if_then_else(j_ < T, v[b_, h_, j_, e_], 0.0),
                       lambda b_, h_, j_, e_: (b_, h_, j_, e_), "attention_vp")
    for packed in (kp, vp):
        packed.compute_at(st, at)
        _vector_tile(packed, packed.op.axis[3], lanes, unroll=False)
    pad_axis(s, scores, 2, Tp)
    pad_axis(s, ex, 2, Tp)
    _pad_reduction(s, pv, Tp)
    return [kp, vp]


def _symbolic_axis(stage, dim):
    """Whether axis `dim` of the stage has a symbolic extent (in a size class that knows its
    value, the schedule sees the constant but the stage still has the shape variable)."""
    return not isinstance(stage.op.axis[dim].dom.extent, Const)


def _pad_reduction(s, stage, extent):
    """The reduction of `stage` over `extent` (its operands padded with zero terms there).
    Before the stage is split."""
    op = stage.op
    body = op.bodies[0]
    (rv,) = body.axis
    axis = (IterVar(rv.var, Range(0, extent), rv.kind),)
    new = ComputeOp(op.name, op.axis, [Reduce(body.combiner, body.source, axis, body.where,
                                              body.dtype, body.value_index)], op.tag, op.attrs)
    stage.op = new
    stage._reset_axes()
    s.stage_map[new] = stage


def _stages(s, st):
    """The attention graph's stages by tag, found from the output's producers."""
    found = {}
    todo = [st]
    while todo:
        x = todo.pop()
        for t in x.op.input_tensors:
            tag = getattr(t.op, "tag", "")
            if tag in INNER_TAGS and tag not in found:
                found[tag] = s[t]
                todo.append(s[t])
    return found


def _keys_and_queries(scores):
    """(k, q): scores^T[b, h, j, i] reads k at [b, h, j, d] and q at [b, h, i, d]."""
    j = scores.op.axis[2].var
    loads = [n for n in walk_nodes(scores.op.bodies[0]) if isinstance(n, TensorLoad)]
    k = next(n.tensor for n in loads if n.indices[2] is j)
    q = next(n.tensor for n in loads if n.tensor is not k)
    return k, q


def _block_last(i, qb, one_block):
    """The last query of the block of qb holding query i. one_block: the stage's queries are
    a single block (i // qb is 0 for every one of them): the constant qb - 1, which does not
    vary inside a register tile of queries wider than that block (qb = S < nr1, as S = 1-4
    keys-first tiles of 16 queries on AVX-512, or S = 1 before T = 40 keys on AVX2), where
    (i // qb) * qb would (a multi-block schedule has qb a multiple of nr1: the tile is in
    one block)."""
    return qb - 1 if one_block else (i // qb) * qb + (qb - 1)


def _skip_tiles(s, stage, j, tile, last):
    """Reduce `stage` only where the tile of keys holding j starts at or before `last`, the
    last query of the block (_block_last: the same for a whole register tile or chunk: the
    tensorized call is skipped, the tile left at zero). The stage is replaced before it is
    split."""
    op = stage.op
    body = op.bodies[0]
    where = te_all(body.where, (j // tile) * tile <= last)
    new = ComputeOp(op.name, op.axis, [Reduce(body.combiner, body.source, body.axis, where,
                                              body.dtype, body.value_index)], op.tag, op.attrs)
    stage.op = new
    s.stage_map[new] = stage


def _zero_after_block(s, stage, last):
    """The elementwise stage e[.., j, i] computed only for keys j up to `last` (of i: the
    last query of i's block, _block_last), 0 after: written as a sum over one point whose
    `where` is that condition (the loop partitioning cuts the key loop there; the rest is
    the sum's initial 0)."""
    op = stage.op
    _, _, j, i = (iv.var for iv in op.axis)
    one = reduce_axis((0, 1), "one")
    body = te_sum(op.bodies[0], axis=one, where=j <= last(i))
    new = ComputeOp(op.name, op.axis, [body], op.tag, op.attrs)
    stage.op = new
    stage._reset_axes()         # the new reduction axis among its loops
    s.stage_map[new] = stage


def _zero_after_keys(s, stage, T):
    """The elementwise stage e[.., j, i] computed for the real keys j < T, 0 after (padded
    keys: the loop partitioning cuts the key loop at T). Before the stage is split."""
    op = stage.op
    j = op.axis[2].var
    new = ComputeOp(op.name, op.axis, [if_then_else(j < T, op.bodies[0], 0.0)], op.tag,
                    op.attrs)
    stage.op = new
    s.stage_map[new] = stage


@register(OUTPUT_TAG, VECTOR_CPU_TARGETS)
def schedule_attention(s, st, target):
    """See the module docstring; other dtypes and symbolic shapes keep the default schedule."""
    stages = _stages(s, st)
    scores, mx, ex, sm, pv = (stages.get(t) for t in INNER_TAGS)
    info = cpu_info(target)
    ins = scores.op.input_tensors if scores is not None else []
    # batch, heads and sequence lengths may be symbolic (a size class bounds them), the head
    # dimensions not
    const = all(isinstance(a.dom.extent, Const) for a in st.op.axis[3:]) and \
        all(isinstance(d, Const) for t in ins for d in t.shape[3:])
    if None in (scores, mx, ex, sm, pv) or len(ins) != 2 or not const or \
            not _f32(st.op.output(0), *ins) or not info.has_gemm:
        for x in stages.values():
            default_stage(s, x, target)
        return default_stage(s, st, target)
    k, q = _keys_and_queries(scores)
    B, H, S, D = _dims_or_vars(q)
    T = _dims_or_vars(k)[2]
    Dv = int(st.op.axis[3].dom.extent.value)
    # a symbolic S of many queries: the blocking for whole blocks (padded; the waste of a
    # block is small beside them), not for a divisor of the representative length; a
    # multiple of WHOLE_BLOCK_MULTIPLE (a size class): for that divisor
    many = not isinstance(S, int) and _representative(S) > MANY_SYMBOLIC_QUERIES
    whole = many and _multiple_of(S, WHOLE_BLOCK_MULTIPLE) and \
        _multiple_of(T, WHOLE_BLOCK_MULTIPLE)
    cfg = attention_config(_representative(S), _representative(T), D, Dv, target,
                           padded=many and not whole)
    if not isinstance(T, int):          # key chunks of pv (whole ones where keys are padded)
        cfg["kc2"] = SYMBOLIC_KEY_CHUNK
    elif all(isinstance(d, int) for d in (B, H, S)):    # a constant shape: the tuning knobs
        from . import cpu_tuning
        f32 = "float32"
        cfg = cpu_tuning.attention_params(
            ("topi.attention", ("TENSOR", (B, H, S, D), f32), ("TENSOR", (B, H, T, D), f32),
             ("TENSOR", (B, H, T, Dv), f32), bool(st.op.attrs.get("causal"))),
            S, T, Dv, target, cfg, 2.0 * B * H * S * T * (D + Dv))
    lanes = cfg["lanes"]
    b, h, i, e = st.op.axis
    qb = cfg["qb"]
    # a constant S that is not whole blocks: the block's stages over whole blocks (queries
    # padded, as for a symbolic S), so that no partial register tile runs as scalar loops
    pad_s = isinstance(S, int) and _pads_queries(S, qb, cfg["nr1"])
    if isinstance(S, int) and S < qb and not pad_s:
        # fewer queries than a block, unpadded: one block of exactly S (what the bounds of
        # a block give anyway; a size class that knows S has a symbolic axis, whose block
        # would be qb queries long)
        qb = S
    # a symbolic S that the size class bounds by one block: no block loop (whose last,
    # partial block the lowering would compute apart, with loops of symbolic extent)
    one_block = not isinstance(S, int) and _class_bound(S) is not None and \
        _class_bound(S) <= qb
    bh = None           # the parallel (batch, head) loop when the query blocks are inside it
    if isinstance(S, int):
        io, ii = st.split(i, factor=qb)
        par = st.fuse(b, h, io)
        st.parallel(par)
    elif one_block:
        par = bh = st.fuse(b, h)
        st.parallel(par)
    else:
        # a symbolic S: parallel over (batch, head), the query blocks inside (the block
        # index then stays a loop variable: the simplifier proves its tiles whole)
        io, ii = st.split(i, factor=qb)
        bh = st.fuse(b, h)
        st.parallel(bh)
        par = io
    _vector_tile(st, e, lanes, unroll=False)
    # 1. the block's queries, transposed (a symbolic S: zero queries pad the last block, so
    # that every register tile of the block is a whole one; their outputs are not written)
    extra = []
    Sp = (cdiv(S, qb) * qb if pad_s else S) if isinstance(S, int) else \
        qb if one_block else (S + (qb - 1)) // qb * qb
    if isinstance(S, int) and not pad_s:
        _, qt = pack_input(s, scores, q, (B, H, D, S), lambda b_, h_, d_, i_: q[b_, h_, i_, d_],
                           lambda b_, h_, i_, d_: (b_, h_, d_, i_), "attention_qT")
    elif pad_s or (one_block and known_facts().bounds(S)[0] >= 1):
        # the padding queries: copies of the last one (finite; their outputs are not
        # written), so that the copy has no condition and a constant extent
        _, qt = pack_input(s, scores, q, (B, H, D, Sp),
                           lambda b_, h_, d_, i_: q[b_, h_, te_min(i_, S - 1), d_],
                           lambda b_, h_, i_, d_: (b_, h_, d_, i_), "attention_qT")
    else:
        _, qt = pack_input(s, scores, q, (B, H, D, Sp),
                           lambda b_, h_, d_, i_: if_then_else(i_ < S, q[b_, h_, i_, d_], 0.0),
                           lambda b_, h_, i_, d_: (b_, h_, d_, i_), "attention_qT")
    qt.compute_at(st, par)
    if pad_s or not isinstance(S, int) or _symbolic_axis(scores, 3):
        # the block's stages over whole blocks of queries (no guard at S inside a block);
        # a size class that knows S: over that constant (the concrete kernel's loops)
        for stage, dim in ((scores, 3), (mx, 2), (ex, 3), (sm, 2), (pv, 2)):
            pad_axis(s, stage, dim, Sp)
    if isinstance(T, int) and _symbolic_axis(scores, 2):
        # a size class that knows T: the key stages over that constant
        pad_axis(s, scores, 2, T)
        pad_axis(s, ex, 2, T)
        _pad_reduction(s, pv, T)
    Tp, keys_at = _padded_keys(T, cfg), par
    if whole:                           # whole chunks of keys: no tail, nothing to pad
        cfg["kc2"] = WHOLE_BLOCK_MULTIPLE
    elif Tp is None and not isinstance(T, int) and bh is not None and \
            not _multiple_of(T, SYMBOLIC_KEY_CHUNK):
        # more keys than FEW_SYMBOLIC_KEYS (symbolic): every key stage over whole chunks of
        # pv (else the keys after the last chunk run as a memory-bound loop: 1 x 12 x S x 64
        # on Zen 3, S = 47 1.38x the concrete kernel's time, now 1.13x; S = 95 1.06x, now
        # 0.97x); k and v copied once per (batch, head)
        kc = PADDED_KEY_CHUNK if _class_bound(T) is None else SYMBOLIC_KEY_CHUNK
        cfg["kc2"] = kc
        Tp, keys_at = (T + (kc - 1)) // kc * kc, bh
    if Tp is not None:
        extra = _pad_keys(s, st, scores, ex, pv, k, (B, H, T, D, Dv), Tp, keys_at, lanes)
        if isinstance(Tp, int):
            cfg["kc2"] = Tp
        else:               # (the padded keys' rows of k are zeros: e is 0 there)
            _zero_after_keys(s, ex, T)
    if st.op.attrs.get("causal"):
        # key tiles / chunks after a block's last query: skipped (scores and e are unused or
        # zero there)
        single = isinstance(Sp, int) and Sp <= qb

        def last(iq):
            return _block_last(iq, qb, single)
        _, _, js, is_ = (iv.var for iv in scores.op.axis)
        _skip_tiles(s, scores, js, cfg["mr1"], last(is_))
        if not (isinstance(T, int) and cfg["kc2"] >= T):
            # (one chunk of all keys starts at 0: nothing to skip, and in a size class of a
            # known length the condition would be in the symbolic block index, which
            # tensorize cannot prove whole for a tile)
            (jv,) = (iv.var for iv in pv.op.reduce_axis)
            _skip_tiles(s, pv, jv, cfg["kc2"], last(pv.op.axis[2].var))
        # and the softmax's keys after the block: max and sum skip them, exp leaves them 0
        for red in (mx, sm):
            (jr,) = (iv.var for iv in red.op.reduce_axis)
            _skip_tiles(s, red, jr, 1, last(red.op.axis[2].var))
        _zero_after_block(s, ex, last)
    # 2. scores^T = k q^T, register tiles of mr1 keys x nr1 queries
    scores.compute_at(st, par)
    _, _, j, iq = scores.op.axis
    (d,) = scores.op.reduce_axis
    _gemm_tiles(s, scores, j, iq, d, {"mr": cfg["mr1"], "nr": cfg["nr1"], "kc": D, "mb": 0, "nb": 0},
                blocked=False)
    # 3. softmax down the columns, vectors along the query positions
    for red in (mx, sm):
        red.compute_at(st, par)
        _, _, ir = red.op.axis
        (jr,) = red.op.reduce_axis
        red.reorder(jr, ir)
        _vector_tile(red, ir, lanes)
    ex.compute_at(st, par)
    if ex.op.reduce_axis:       # causal: see _zero_after_block
        ex.reorder(ex.op.axis[2], ex.op.reduce_axis[0], ex.op.axis[3])
    _vector_tile(ex, ex.op.axis[3], lanes)
    # 4. pv = e^T v
    pv.compute_at(st, par)
    _, _, ip, ep = pv.op.axis
    (jp,) = pv.op.reduce_axis
    if cfg["nr2"]:
        _gemm_tiles(s, pv, ip, ep, jp, {"mr": cfg["mr2"], "nr": cfg["nr2"], "kc": cfg["kc2"],
                                         "mb": 0, "nb": 0}, blocked=False)
    else:
        pv.reorder(ip, jp, ep)
        _vector_tile(pv, ep, lanes, unroll=False)
    return [scores, mx, ex, sm, pv, qt] + extra


@register(INNER_TAGS[0], VECTOR_CPU_TARGETS)
@register(INNER_TAGS[1], VECTOR_CPU_TARGETS)
@register(INNER_TAGS[2], VECTOR_CPU_TARGETS)
@register(INNER_TAGS[3], VECTOR_CPU_TARGETS)
@register(INNER_TAGS[4], VECTOR_CPU_TARGETS)
def _scheduled_by_attention_output(s, st, target):
    """Scheduled together with the output (schedule_attention)."""
    return None
