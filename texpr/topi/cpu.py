"""Fast CPU schedules for "native"/"avx2", "avx512" and "neon" (registered by op tag).

Every schedule here is parameterised by the shape and by the target's vector width: the
register tile (rows x vectors of accumulators), the cache blocks and the reduction chunk are
chosen by the `*_config` functions below (call them to see what a shape gets).

Layout rewrites done by a schedule: a schedule may read an input through a packed copy that
it adds as a new stage (`pack_input`): e.g. dense reads its weight [N, K] through panels
[N/nr, K, nr] so that the register tile's vector loads are contiguous. In a real model the
weight is a constant: `topi.nn.dense_pack` takes the panels directly (packed once, offline).

Tails: register tiles are applied with tensorize on full tiles and fall back to the scalar
loops on partial tiles, so every shape is computed correctly. The GEMM schedules go further
and pad their operands with zeros to whole blocks (every tile is a full one); the
convolutions choose tiles that divide the output width / the Winograd tile blocks when a good
divisor exists.
"""
import copy
import math

from ..lang import dtypes

from ..errors import InternalError, TexprError
from ..lang.expr import (Const, TensorLoad, Var, all as te_all, if_then_else, min_value,
                         structural_equal)
from ..lang.reduction import max as te_max, sum as te_sum
from ..lang.tensor import ComputeOp, IterVar, Range, compute, reduce_axis
from ..lang.visitor import transform
from ..targets.intrin import gemm_fp32, transpose_fp32
from ..targets.half_intrin import gemm_fp16
from .schedules import (VECTOR_CPU_TARGETS, default_stage, known_facts, register,
                        register_size_classes)
from .nn import CHANNEL_REPEAT_TAG
from .util import cdiv
from . import cpu_tuning as tuning

_INTRIN_TARGETS = ("avx2", "avx512", "neon")


#: targets whose emitter also emits float vectors of half their width as native
#: instructions: bits of those vectors (avx512: float32x8 through the AVX2 emitter's
#: _mm256 intrinsics, ymm0-31 with AVX-512VL)
NARROW_VECTOR_BITS = {"avx512": 256}


class CpuInfo:
    """What a schedule needs to know about the machine a kernel runs on: fp32 lanes and
    vector registers (a register tile must leave room for its operands), the FMA units
    (accumulators enough to hide the FMA latency) and the cache sizes (blocks that stay in
    them). A target that runs on this host (target.runs == "native": native, avx2, avx512
    through SIMDe, c) reads the host (targets/host.py: sysfs, /proc/cpuinfo); a cross target
    (neon under qemu, hvx) and whatever the host does not tell take the Target record's
    values."""

    def __init__(self, target):
        from ..targets.registry import get_target
        t = get_target(target)
        self.name = t.name
        self.vector_bits = t.vector_bits
        self.lanes = t.vector_bits // 32
        self.nregs = t.vector_registers
        self.has_gemm = t.name in _INTRIN_TARGETS
        self.l1d_bytes, self.l2_bytes, self.l3_bytes = t.l1d_bytes, t.l2_bytes, t.l3_bytes
        self.l2_ways = L2_WAYS
        self.fma_units = t.fma_units
        self.model = ""
        self.denormal_fma = False   # multiply-adds of denormal operands at full speed (host)
        self._host = None
        # an FMA may read an operand from memory (x86): the compiler folds loads into them
        self.memory_operands = t.family == "x86"
        self.family = t.family
        # the instruction set the GEMM intrinsics are written for (intrin.gemm_fp32's keys),
        # and whether the CPU runs it (not SIMDe, whose masked loads are scalar loops)
        self.gemm_isa = getattr(t.emitter, "target_name", None)
        self.emulated = "-DTEXPR_SIMDE" in t.flags
        if t.runs == "native" and not t.is_gpu:
            from ..targets.host import host_cpu
            host = self._host = host_cpu()
            self.l1d_bytes = host.l1d_bytes or self.l1d_bytes
            self.l2_bytes = host.l2_bytes or self.l2_bytes
            self.l3_bytes = host.l3_bytes or self.l3_bytes
            self.l2_ways = host.l2_ways or self.l2_ways
            self.fma_units = host.fma_units(t.vector_bits) or self.fma_units
            self.model = host.model
            self.denormal_fma = host.denormal_fma_full_speed()

    def narrow(self):
        """The CpuInfo of the half-width float vectors this target's emitter also emits as
        native instructions (NARROW_VECTOR_BITS: AVX-512's 256-bit vectors, the AVX2
        emitter's intrinsics), or None: the FMA units of that width (the host's), its
        registers (32 with AVX-512VL; 16 where SIMDe runs the target on an AVX2 host)."""
        bits = NARROW_VECTOR_BITS.get(self.name)
        if bits is None:
            return None
        info = copy.copy(self)
        info.vector_bits, info.lanes = bits, bits // 32
        if self.emulated:
            info.nregs = 16
        if self._host is not None:
            info.fma_units = self._host.fma_units(bits) or self.fma_units
        return info

    def fma_lanes(self):
        """fp32 multiply-adds a cycle: lanes x FMA units (Zen 4 at 512 bits: 16 x 1, as at
        256 bits: 8 x 2; Zen 5: 16 x 2)."""
        return self.lanes * self.fma_units

    def lanes_of(self, dtype):
        """Lanes of a vector of `dtype` elements."""
        return max(1, self.vector_bits // dtypes.bits(dtype))

    @property
    def accumulators(self):
        """Vector accumulators a register tile may use (the rest hold operands)."""
        return self.nregs * 3 // 4

    @property
    def tile_fma_units(self):
        """FMA units of the target's vectors or of its narrow ones, the more: Zen 4 issues one
        512-bit FMA a cycle but two 256-bit ones. Tiles bound by loads rather than by the FMA
        latency were measured fastest sized for these there (dot products of 4-6 data rows,
        gemv_max_rows; the int4 unpacking tile's chains)."""
        narrow = self.narrow()
        return max(self.fma_units, narrow.fma_units if narrow else 0)

    @property
    def busy_accumulators(self):
        """Independent accumulators that keep every FMA unit busy: about 6 per unit (FMA
        latency 4-5 cycles, one issue per unit and cycle, with some slack)."""
        return 6 * self.fma_units

    @property
    def masked_gemm_columns(self):
        """Whether intrin.gemm_fp32(masked_cols=True) runs a tile of fewer columns under lane
        masks here (AVX-512, 16-lane vectors, run natively: under SIMDe the masked loads
        are lane loops, 8% slower than the scalar columns on a 61-channel Winograd), so a
        GEMM over N that is not whole tiles need not leave its last columns to the scalar
        loops."""
        return self.gemm_isa == "avx512" and self.lanes == 16 and not self.emulated

    def __repr__(self):
        return (f"CpuInfo({self.name}, {self.lanes} fp32 lanes, {self.nregs} registers, "
                f"{self.fma_units} FMA units, L1d {self.l1d_bytes >> 10} KiB, "
                f"L2 {self.l2_bytes >> 10} KiB {self.l2_ways}-way, L3 {self.l3_bytes >> 10} KiB)")


#: the L2's associativity where the host does not tell (Zen 2-4: 8; Zen 5: 16)
L2_WAYS = 8


def cpu_info(target):
    return CpuInfo(target)


def parallel_units():
    """The threads a kernel built now will run its parallel loops on (the runtime's
    num_threads: TEXPR_NUM_THREADS, else the cores), which schedules share their blocks
    among. A machine of many cores running 2 threads would otherwise get blocks for all of
    them (each copying its input again), a 1-thread run a split it pays for and never uses."""
    from ..targets.runtime.module import num_threads
    return num_threads()


# ----------------------------------------------------------------------------- parameter choice

def register_tile(M, N, info, max_vectors=4, m_cap=None, pad_ok=False, nr_divides=None,
                  acc_cap=None, loads_per_fma=0.7, partial_rows=False, row_tail=False):
    """(mr, nr): a register tile of mr rows x nr = nv*lanes columns of accumulators
    (nr_divides: only widths nr that divide it, for an operand read in place, unpadded).

    Cost model per useful flop: the kernel's efficiency (enough accumulators to hide the FMA
    latency, few loads per FMA) on the complete tiles, and for what is left over either the
    scalar fallback of partial tiles (very slow: a large penalty) or, with pad_ok (the
    schedule pads the operands with zeros to whole tiles), the wasted work of the padding.
    acc_cap: at most that many accumulators (mr * nv). loads_per_fma: the loads (broadcasts
    and vectors) per FMA the kernel runs at full speed with (0.7: two FMA units, Zen 3).
    partial_rows (with pad_ok): the rows are not padded, a last tile of fewer rows runs the
    kernel for its row count (gemm_fp32), so only the columns' padding is wasted work.
    row_tail (without pad_ok): the same kernel runs the last M % mr rows (gemm_fp32), costed
    at its efficiency for that many rows; at equal cost a tile that divides M wins (the
    Winograd GEMM: on AVX2, 16 registers, a 6 x 2-vector tile with a tail beats the 4 x 2 or
    14 x 1 tiles that divide 16 or 28 tiles, whose FMAs wait on latency or loads).
    """
    lanes, nregs = info.lanes, info.nregs

    def eff(mr, nv):
        acc = mr * nv
        return (min(1.0, acc / float(info.busy_accumulators))
                * min(1.0, loads_per_fma / ((mr + nv) / acc)))
    best = None
    for nv in range(1, max_vectors + 1):
        nr = nv * lanes
        if nv > 1 and nr > cdiv(N, lanes) * lanes:
            break                           # wider than the whole N: no use
        if nr_divides and nr_divides % nr:
            continue
        mr_max = (nregs - nv - 1) // nv
        if m_cap:
            mr_max = min(mr_max, m_cap)
        if acc_cap:
            mr_max = min(mr_max, max(1, acc_cap // nv))
        for mr in range(1, min(mr_max, M) + 1):
            acc = mr * nv
            e = eff(mr, nv)
            tail = 0
            if pad_ok:
                rows = M if partial_rows else cdiv(M, mr) * mr
                cost = rows * (cdiv(N, nr) * nr) / float(M * N) / e
            elif row_tail:
                tail = M % mr
                cols = (N // nr * nr) / float(N)
                rows = (M - tail) / e + (tail / eff(tail, nv) if tail else 0.0)
                cost = rows / M * cols + (1.0 - cols) * 150.0
            else:
                full = (M // mr * mr) * (N // nr * nr) / float(M * N)
                cost = full / e + (1.0 - full) * 150.0
            key = (round(cost, 3), tail > 0, -acc, abs(nv - 2))
            if best is None or key < best[0]:
                best = (key, mr, nr)
    return best[1], best[2]


def reduction_chunk(K, target=512, lo=64, hi=512):
    """A chunk of the reduction close to `target` that divides K when one does (else the
    schedules pad K with zeros to a multiple of it)."""
    if K <= hi:
        return K
    divs = [d for d in range(lo, hi + 1) if K % d == 0]
    if divs:
        return min(divs, key=lambda d: (abs(math.log(d / target)), -d))
    n = cdiv(K, target)
    return cdiv(K, n)


def chunk_target(info):
    """The reduction chunk the GEMM schedules aim at: a block of 128 rows x kc of A fills half
    the L2 (kc = 512 at 512 KiB); at most 512 (longer chunks measured no faster, Zen 3 and 5)."""
    return max(64, min(512, info.l2_bytes // (2 * 4 * 128)))


def row_block_target(info, kc, row_bytes=None):
    """Rows of A per cache block: mb x kc floats fill half the L2 (half the part of it that
    rows read in place, `row_bytes` apart, can reach: in_place_l2_share); at most 128 (a
    parallel unit of a 1024-row product still leaves 8 row blocks)."""
    share = 1.0 if row_bytes is None else in_place_l2_share(info, row_bytes, 4 * kc)
    return max(8, min(128, int(info.l2_bytes * share) // (2 * 4 * kc)))


def in_place_l2_share(info, row_bytes, chunk_bytes):
    """The share of the L2's sets that chunks of `chunk_bytes` of rows `row_bytes` apart (a
    block of A read in place) map to: the L2 set of an address repeats every l2_bytes / ways
    bytes (the set period), so the rows' chunks all start at the same few offsets in it and
    cover chunk_bytes / gcd(row_bytes, period) of it. Rows of 4 KiB (K = 1024) in chunks of
    2 KiB (kc = 512) reach half the sets: on a 512 KiB L2 (Zen 3) a 132-row block of 264 KiB
    fills that half and its lines evict each other; on a 1 MiB L2 (Zen 4) so do rows of
    8 KiB (K = 2048), where blocks of half the rows measured 1-3% faster at 1024 x 1024 x
    2048-4096 and within noise (+-1%) at 333 rows (avx2 and avx512, 1 thread). Exact where the rows lie in huge pages (NumPy asks for them on large arrays);
    with 4 KiB pages the set bits above the page offset scatter and the share is larger."""
    period = max(1, info.l2_bytes // max(1, info.l2_ways))
    return min(1.0, chunk_bytes / math.gcd(row_bytes, period))


def col_block_target(info, kc):
    """Columns of the weight per cache block: the B block kc x nb (1 MiB at kc = 512) in an
    eighth of the L3 (a core's share); at most 512."""
    return max(64, min(512, info.l3_bytes // (8 * 4 * kc)))


def _block(total, unit, target):
    """A multiple of `unit` near `target` (at most the padded total) that wastes little."""
    units = cdiv(total, unit)
    best = None
    for d in range(1, units + 1):
        size = d * unit
        waste = cdiv(units, d) * d - units
        key = (waste > 0.05 * units, abs(math.log(size / float(target))), waste)
        if best is None or key < best[0]:
            best = (key, size)
    return best[1]


def dense_config(M, N, K, target="native", info=None):
    """Schedule parameters of dense / batch_matmul [M,K] x [N,K] on `target`.

    mr x nr register tile (nr a multiple of the vector width), kc reduction chunk (the
    B micro-panel kc x nr stays in L1), mb x nb cache block of the output (the A block
    mb x kc in L2; the unit of parallel work). Shapes they do not divide are padded with zeros
    to whole blocks (Mp, Np, Kp) by the schedule, so every tile is a full register tile.
    info: the CpuInfo to size them by (default the target's; 16-bit tiles: cpu_half.py).
    """
    info = info or cpu_info(target)
    mr, nr = register_tile(M, N, info, pad_ok=True)
    kc = reduction_chunk(K, chunk_target(info))
    mb = _block(M, mr, row_block_target(info, kc))
    nb = _block(N, nr, col_block_target(info, kc))
    Mp, Np, Kp = cdiv(M, mb) * mb, cdiv(N, nb) * nb, cdiv(K, kc) * kc
    return {"mr": mr, "nr": nr, "kc": kc, "mb": mb, "nb": nb, "Mp": Mp, "Np": Np, "Kp": Kp,
            "lanes": info.lanes,
            # copying A into row panels costs a pass over A; the rows are read in place
            # unless A must be padded anyway
            "pack_a": Mp != M or Kp != K}


# ----------------------------------------------------------------------------- graph helpers

def pack_input(s, stage, tensor, shape, fpack, fread, name):
    """Make `stage` read `tensor` through a new stage `name` = compute(shape, fpack).

    fread(*indices) maps an index of `tensor` to the index tuple of the packed tensor.
    Must be called before `stage` is split. Returns (packed tensor, its stage).
    """
    if stage.relations:
        raise TexprError(f"pack_input: stage {stage.name} is already split")
    packed = compute(shape, fpack, name=name, tag="injective,pack")
    op = stage.op

    def fn(n):
        if isinstance(n, TensorLoad) and n.tensor.op is tensor.op:
            return TensorLoad(packed, tuple(fread(*n.indices)), n.dtype)
        return None
    new_op = ComputeOp(op.name, op.axis, [transform(b, fn) for b in op.bodies], op.tag, op.attrs)
    stage.op = new_op
    s.stage_map[new_op] = stage
    pst = s._insert_stage(packed.op, stage)
    return packed, pst


def pad_axis(s, stage, dim, extent):
    """The stage computed over `extent` along axis `dim` (the positions beyond the tensor's
    shape are computed too, from padded operands; its consumers read only inside), so that a
    register tile past the end of a row runs whole vectors, unguarded. Before the stage is
    split."""
    op = stage.op
    axis = list(op.axis)
    axis[dim] = IterVar(axis[dim].var, Range(0, extent), axis[dim].kind)
    new = ComputeOp(op.name, axis, op.bodies, op.tag, op.attrs)
    stage.op = new
    stage._reset_axes()
    s.stage_map[new] = stage


def _dims(t):
    """The constant shape of a tensor as ints (folding extents such as 56 + 1 + 1; a shape
    variable whose value the size class being scheduled knows counts as constant)."""
    from ..lower.analysis.arith import simplify
    out = []
    for d in _known(t.shape):
        d = simplify(d)
        if not isinstance(d, Const):
            raise TexprError(f"{t.name}: shape {list(t.shape)} is not constant")
        out.append(int(d.value))
    return out


def _known(shape):
    """shape with the values the size class being scheduled gives its variables."""
    facts = known_facts()
    if facts is None or not facts.values:
        return list(shape)
    from ..lang.visitor import substitute
    return [substitute(d, {v: Const(c, v.dtype) for v, c in facts.values.items()})
            for d in shape]


def _dims_or_vars(t):
    """The shape of a tensor: ints where constant (or known to the size class), the shape
    variable where not (a symbolic batch or row count)."""
    from ..lower.analysis.arith import simplify
    out = []
    for d in _known(t.shape):
        d = simplify(d)
        out.append(int(d.value) if isinstance(d, Const) else d)
    return out


def _const_shape(t):
    return all(isinstance(d, Const) for d in _known(t.shape))


def _extents(t):
    """The shape of a tensor: ints where constant, simplified expressions where symbolic."""
    from .shape_funcs import simplify_dim
    return [simplify_dim(d) for d in t.shape]


#: the output width a symbolic-width convolution's register tile is chosen for
SYMBOLIC_WIDTH = 64


def epilogue_output(s, st):
    """The output stage that consumes `st` elementwise (through inlined stages), or None."""
    if st.is_output:
        return None
    cons = s.consumers(st)
    if len(cons) != 1:
        return None
    out = cons[0]
    if not out.is_output or not isinstance(out.op, ComputeOp) or out.op.reduce_axis:
        return None
    if len(out.op.axis) != len(st.op.axis) or not all(
            _same_extent(a.dom.extent, b.dom.extent) for a, b in zip(out.op.axis, st.op.axis)):
        return None
    return out


def _same_extent(a, b):
    """Equal constant extents, the same shape variable (a symbolic batch) or the same
    expression of them (a pooled size, (h - 1) // 2 + 1)."""
    if isinstance(a, Const) and isinstance(b, Const):
        return a.value == b.value
    return a is b or structural_equal(a, b)


# ----------------------------------------------------------------------------- dense

def _gemm_tiles(s, C, i, j, k, cfg, blocked=True):
    """Tile C's (i, j, k) loops BLIS-style and tensorize the mr x nr x kc register tile.

    Returns the outermost (block) axes so the caller can parallelise them.
    """
    mr, nr, kc, mb, nb = cfg["mr"], cfg["nr"], cfg["kc"], cfg["mb"], cfg["nb"]
    io, ii = C.split(i, factor=mr)
    jo, ji = C.split(j, factor=nr)
    K = k.dom.extent
    if not isinstance(K, Const) or kc < K.value:     # (a symbolic K: chunks and a tail)
        ko, ki = C.split(k, factor=kc)
        ko = [ko]
    else:                       # the whole reduction in one call: the intrinsic's "body"
        ko, ki = [], k
    if blocked:
        ib, io2 = C.split(io, factor=max(1, mb // mr))
        jb, jo2 = C.split(jo, factor=max(1, nb // nr))
        C.reorder(ib, jb, *ko, jo2, io2, ii, ji, ki)
        outer = [ib, jb]
    else:
        C.reorder(*ko, jo, io, ii, ji, ki)
        outer = []
    C.tensorize(ii, cfg.get("tile_intrin", gemm_fp32)(mr, nr, kc))
    return outer


def _f32(*ts):
    return all(t.dtype == "float32" for t in ts)


def _panels(t, lead, R, K, block, Rp, Kp, name):
    """t [.., R, K] as zero-padded row panels [.., Rp/block, Kp, block]: panel p holds rows
    p*block .. p*block+block-1, each k a contiguous run of `block` values. The padding is a
    sum over one point with `where` = in bounds (the lowering splits off the border; the
    interior copies with plain loads)."""
    nl = len(lead)

    def f(*idx):
        b, (p, k, z) = idx[:nl], idx[nl:]
        r = p * block + z
        conds = ([r < R] if Rp != R else []) + ([k < K] if Kp != K else [])
        v = t[tuple(b) + (r, k)]
        if not conds:
            return v
        one = reduce_axis((0, 1), name + "_r")
        return te_sum(v, axis=one, where=te_all(*conds))
    return compute(tuple(lead) + (Rp // block, Kp, block), f, name=name, tag="injective,pack")


def _schedule_panels(st, lanes, parallel=True):
    """Row panels: vectors along k (contiguous loads of a row; the stores go `block` apart),
    the rows of a panel inside; parallel over (batch,) panels unless packed inside a parallel
    loop already. A batch's panels packed inside the parallel loop (batch_matmul) prefetch
    the same lines of the next batch (pragma prefetch_next): its operands come from the L3 or
    memory, in rows too short for the hardware prefetchers to follow (64 x 128^3, Zen 4, 1
    thread: 72 -> 84 GFLOP/s)."""
    ax = list(st.op.axis)
    lead, (p, k, z) = ax[:-3], ax[-3:]
    ko, ki = st.split(k, factor=lanes)
    st.reorder(*(lead + [p, ko, z] + list(st.op.reduce_axis) + [ki]))
    if parallel:
        st.parallel(st.fuse(*(lead + [p])) if lead else p)
    elif lead and _const_shape(st.op.input_tensors[0]):
        st.pragma(z, "prefetch_next", math.prod(_dims(st.op.input_tensors[0])[len(lead):]))
    st.vectorize(ki)


def gemm_rewrite(s, st, data, weight, cfg, weight_panels=None):
    """Rewrite the GEMM stage `st` (out[.., i, j] = sum_k data[.., i, k] * weight[.., j, k])
    for the register-tile schedule; returns (gemm stage, packing stages, padded).

    The weight is read as zero-padded panels [.., Np/nr, Kp, nr] (a packing stage, or
    `weight_panels` when they come packed); when the shape is not a multiple of the blocks
    the data is read as zero-padded panels [.., Mp/mr, Kp, mr] and the product is computed
    in a new stage over the padded shape [.., Mp, Np], of which `st` becomes the copy of the
    valid part (like cache_write). Every register tile is then a complete one.
    """
    mr, nr, Mp, Np, Kp = cfg["mr"], cfg["nr"], cfg["Mp"], cfg["Np"], cfg["Kp"]
    dshape = _dims_or_vars(data)
    lead = dshape[:-2]
    M, K = dshape[-2:]
    N = int(st.op.axis[-1].dom.extent.value)
    nl = len(lead)
    packs = []
    padded = (Mp, Np, Kp) != (M, N, K)
    if weight_panels is None:
        PW = _panels(weight, lead, N, K, nr, Np, Kp, st.name + "_packW")
        packs.append(PW)
    else:
        PW = weight_panels
    if cfg["pack_a"]:
        PA = _panels(data, lead, M, K, mr, Mp, Kp, st.name + "_packA")
        packs.insert(0, PA)

        def aload(b, i, k):
            return PA[tuple(b) + (i // mr, k, i % mr)]
    else:
        def aload(b, i, k):
            return data[tuple(b) + (i, k)]
    k = reduce_axis((0, Kp), "k")
    odt = st.op.output(0).dtype     # the sum's type (16-bit inputs may sum in float32)

    def fg(*idx):
        b, (i, j) = idx[:nl], idx[nl:]
        return te_sum(aload(b, i, k).astype(odt) * PW[tuple(b) + (j // nr, k, j % nr)].astype(odt),
                      axis=k)
    if padded:
        G = compute(tuple(lead) + (Mp, Np), fg, name=st.name + "_gemm", tag="gemm")
        axes = [iv.var for iv in st.op.axis]
        copy = ComputeOp(st.op.name, st.op.axis, G[tuple(axes)], st.op.tag, st.op.attrs)
        st.op = copy
        st._reset_axes()
        s.stage_map[copy] = st
        stages = [s._insert_stage(t.op, st) for t in packs + [G]]
        return stages[-1], stages[:-1], True
    # same shape: st computes the product itself, reading the panels
    G = compute(tuple(lead) + (M, N), fg, name=st.name, tag=st.op.tag)
    return st, replace_computation(s, st, G, packs), False


def replace_computation(s, st, G, inputs):
    """Make stage st compute G (same shape) instead, reading the new stages of `inputs`
    (packed operands, inserted before st); returns those stages."""
    new_op = ComputeOp(st.op.name, G.op.axis, G.op.bodies, st.op.tag, st.op.attrs)
    old = st.op
    st.op = new_op
    st._reset_axes()
    s.stage_map[new_op] = st
    s.stage_map[old] = st
    return [s._insert_stage(t.op, st) for t in inputs]


def _schedule_gemm(s, st, target, data, weight, cfg, weight_panels=None, packs_inside=False):
    """The GEMM schedules of dense, dense_pack and batch_matmul.

    Output cache blocks mb x nb are the parallel unit (with the batch axes); in each block
    the product runs as a tensorized mr x nr x kc register tile, BLIS loop order. A fused
    elementwise epilogue (bias, relu, ...) and the copy of a padded product run on the block
    while it is in cache, vectorized. packs_inside: pack the operands per block (per batch)
    instead of once, so that each thread packs what it uses and the copy stays in cache.
    """
    lanes = cpu_info(target).lanes
    rows_only = cfg.get("parallel") == "rows"       # tuning knob: column blocks inside
    out = epilogue_output(s, st)
    g, packs, padded = gemm_rewrite(s, st, data, weight, cfg, weight_panels)
    if out is None and not padded:
        axes = list(g.op.axis)
        (k,) = g.op.reduce_axis
        outer = _gemm_tiles(s, g, axes[-2], axes[-1], k, cfg)
        par_axes = _const_axes(axes[:-2]) + (outer[:1] if rows_only else outer)
        par = g.fuse(*par_axes) if len(par_axes) > 1 else par_axes[0]
        g.parallel(par)
        for p in packs:
            if packs_inside:
                p.compute_at(g, par)
                _schedule_block_panels(p, target, cfg["Kp"])
            else:
                _schedule_panels(p, lanes)
        return [st] + packs
    if out is None:
        out = st                # the copy of the valid part is the output
    elif padded:
        st.compute_inline()     # the copy is read by the epilogue
    oax = list(out.op.axis)
    ib, ii = out.split(oax[-2], factor=cfg["mb"])
    jb, ji = out.split(oax[-1], factor=cfg["nb"])
    out.reorder(*(oax[:-2] + [ib, jb, ii, ji]))
    par_axes = _const_axes(oax[:-2]) + ([ib] if rows_only else [ib, jb])
    par = out.fuse(*par_axes) if len(par_axes) > 1 else par_axes[0]
    out.parallel(par)
    _vector_tile(out, ji, lanes, unroll=False)
    g.compute_at(out, par)
    for p in packs:
        if packs_inside:
            p.compute_at(out, par)
            _schedule_block_panels(p, target, cfg["Kp"])
        else:
            _schedule_panels(p, lanes)
    axes = list(g.op.axis)
    (k,) = g.op.reduce_axis
    _gemm_tiles(s, g, axes[-2], axes[-1], k, cfg, blocked=False)
    return [st, out, g] + packs


def _const_axes(axes):
    """The batch axes of constant extent (a symbolic batch stays a serial loop outside the
    parallel one: the bounds of a fused symbolic index are not proven)."""
    return [a for a in axes if isinstance(a.dom.extent, Const)]


def _half_gemv(st, target):
    """dense of float16 / bfloat16 inputs summed in float32 at batch 1-2: the dot products of
    the float32 kernel, each vector of 16-bit values widened as it is loaded (memory-bound: half
    the bytes of the float32 weight). Larger batches take the default schedule."""
    ins = st.op.input_tensors
    if len(ins) != 2 or not cpu_info(target).has_gemm or st.op.output(0).dtype != "float32":
        return False
    if not all(dtypes.is_half(t.dtype) and _const_shape(t) for t in ins):
        return False
    M, K = _dims(ins[0])
    return M <= GEMV_MAX_ROWS and K >= 2 * cpu_info(target).lanes


def _gemm_operands(st):
    ins = st.op.input_tensors
    if len(ins) != 2 or not _f32(st.op.output(0), *ins) or not all(_const_shape(t) for t in ins):
        return None
    return ins


@register("dense", VECTOR_CPU_TARGETS)
def schedule_dense(s, st, target):
    """dense on a raw weight [N, K], by the number of rows M: up to gemv_max_rows dot products
    over the weight's rows; up to DENSE_ROWS_MAX rows and K / 2 the product transposed, the
    weight read as it lies (dense_rows_config, dense_transposed); otherwise blocks of weight
    panels packed inside the parallel
    loop (dense_weight_blocks_config), else transposed from DENSE_ROWS_MIN_K on, else the
    weight packed whole into [N/nr, K, nr] panels (once per call: in a real model use
    dense_pack with panels packed once), register tile over (rows, panel columns)."""
    if _half_gemv(st, target):
        rows, unroll = gemv_tile(_dims(st.op.input_tensors[0])[0], cpu_info(target))
        return _schedule_gemv(s, st, target, unroll, rows)
    from .cpu_half import schedule_half_gemm
    half = schedule_half_gemm(s, st, target)
    if half is not None:
        return half
    ins = _gemm_operands(st)
    if ins is None and cpu_info(target).has_gemm and _symbolic_rows(st) is not None:
        return _schedule_dense_symbolic(s, st, target)
    if ins is None or not cpu_info(target).has_gemm:
        return default_stage(s, st, target)
    data, weight = ins
    M, K = _dims(data)
    N = _dims(weight)[0]
    workload = ("topi.dense", tuning.tensor_arg(data), tuning.tensor_arg(weight))
    if M <= gemv_max_rows(target) and K >= 2 * cpu_info(target).lanes:
        rows, unroll = gemv_tile(M, cpu_info(target))
        unroll, rows = tuning.gemv_params(workload, M, N, K, target, unroll, rows)
        return _schedule_gemv(s, st, target, unroll, rows)
    transposed = dense_transposed(M, K)
    cfg = dense_weight_blocks_config(M, N, K, target) if not transposed else None
    if cfg is not None and epilogue_output(s, st) is None:
        cfg = tuning.weight_blocks_params(workload, M, N, K, target, cfg)
        return _schedule_dense_weight_blocks(s, st, target, data, weight, cfg)
    if transposed or K >= DENSE_ROWS_MIN_K:
        cfg = tuning.dense_rows_params(workload, M, N, K, target,
                                       dense_rows_config(M, N, K, target))
        return _schedule_dense_rows(s, st, target, data, weight, cfg)
    cfg = tuning.gemm_params(workload, M, N, K, target, dense_config(M, N, K, target))
    return _schedule_gemm(s, st, target, data, weight, cfg)


def dense_transposed(M, K):
    """Whether dense of M rows and a reduction of K is computed transposed (the weight read
    as it lies; the data packed and the M x N output transposed per call, about 1/K of the
    product, where packing the weight costs about 1/M of it): up to DENSE_ROWS_MAX rows, at
    most K / DENSE_TRANSPOSED_ROWS_PER_K of them. Zen 4, avx512, 1 thread (transposed ->
    weight blocks or packed, ms): 256x4096x16 2.08 -> 0.39, 64x4096x16 0.234 -> 0.099,
    384x1000x8 0.331 -> 0.101, 128x1024x32 0.156 -> 0.086, 100x3072x48 0.504 -> 0.304,
    384x768x128 0.867 -> 0.696, 384x3072x256 6.80 -> 5.97; kept transposed: 16x768x128
    0.034 (packed 0.055), 64x3072x256 1.008 (1.176), 16x3072x512 0.505 (1.019); 64x3072x128,
    100x768x512 and 384x768x512 the same either way."""
    return M <= DENSE_ROWS_MAX and DENSE_TRANSPOSED_ROWS_PER_K * M <= K


#: dense_transposed: the most rows of the transposed product per unit of K, times this
DENSE_TRANSPOSED_ROWS_PER_K = 2


def _symbolic_rows(st):
    """(data, weight) of a float32 dense whose row count alone is a shape variable (not
    known to the size class being scheduled), else None."""
    ins = st.op.input_tensors
    if len(ins) != 2 or not _f32(st.op.output(0), *ins):
        return None
    data, weight = ins
    M, K = _dims_or_vars(data)
    if not isinstance(M, Var) or not isinstance(K, int) or not _const_shape(weight):
        return None
    return data, weight


@register_size_classes("dense", VECTOR_CPU_TARGETS)
def dense_size_classes(st, target):
    """The size classes of a dense with a symbolic row count M: each M the dot products
    serve (gemv_max_rows; M known: the kernel of that M), ranges of M with one transposed
    register tile (dense_rows_config's nr: M padded to it), and the fallback M >
    DENSE_ROWS_MAX (weight blocks, rows unpadded). The widths are taken as a running maximum
    over M: where the concrete tile alternates (avx512 on one FMA unit: one vector of data
    rows at 33-48 rows, two at 49-64, ...) a class per run would multiply the kernels built,
    so a narrower run inside wider ones joins the wider class (M padded further)."""
    if not cpu_info(target).has_gemm or _symbolic_rows(st) is None:
        return None
    data, weight = st.op.input_tensors
    M, K = _dims_or_vars(data)
    N = _dims(weight)[0]
    g = gemv_max_rows(target) if K >= 2 * cpu_info(target).lanes else 0
    conds = [M == m for m in range(1, g + 1)]
    groups = []
    for m in range(g + 1, DENSE_ROWS_MAX + 1):
        nr = dense_rows_config(m, N, K, target)["nr"]
        if groups and groups[-1][2] >= nr:
            groups[-1][1] = m
        else:
            groups.append([m, m, nr])
    conds += [M == a if a == b else te_all(M >= a, M <= b) for a, b, _ in groups]
    return conds + [M > DENSE_ROWS_MAX]


def _schedule_dense_symbolic(s, st, target):
    """dense with a symbolic row count M, for the bounds the size class gives it: up to
    DENSE_ROWS_MAX rows the transposed product (configured for the class's largest M, the
    data panels padded to whole tiles); more rows the weight blocks (rows unpadded, the
    last row tile by its run-time row count), else transposed."""
    data, weight = _symbolic_rows(st)
    M, K = _dims_or_vars(data)
    N = _dims(weight)[0]
    facts = known_facts()
    lo, hi = facts.bounds(M) if facts is not None else (0, None)
    if hi is None or hi > DENSE_ROWS_MAX:
        rep = max(lo, 4 * DENSE_ROWS_MAX)
        cfg = dense_weight_blocks_config(rep, N, K, target)
        if cfg is not None and cfg["Np"] == N and epilogue_output(s, st) is None:
            cfg.update(Mp=M, row_parts=1)   # (no loop split in parts of a symbolic extent)
            return _schedule_dense_weight_blocks(s, st, target, data, weight, cfg)
        hi = DENSE_ROWS_MAX
    cfg = dense_rows_config(hi, N, K, target)
    nr = cfg["nr"]
    cfg["Mp"] = cdiv(hi, nr) * nr if cdiv(max(lo, 1), nr) == cdiv(hi, nr) else \
        (M + (nr - 1)) // nr * nr
    return _schedule_dense_rows(s, st, target, data, weight, cfg)


#: dense with at least up to this many rows runs as dot products over the weight's rows as
#: they lie (gemv_max_rows: more where the FMA units want more accumulators): packing the
#: whole weight into panels would cost more than the product (batch 1: 1.09 ms packed
#: against 0.08 ms, 1x1024 by 1000x1024, Zen 3).
GEMV_MAX_ROWS = 2
# Below this many multiply-adds (~0.05 ms on one core) a second thread costs more than it
# saves (Zen 3, 2 threads: 1x512x512 took 0.096 ms against 0.046 ms on one), so the dot
# products run serially; torch's parallel_for applies a grain size for the same reason.
PARALLEL_MIN_MACS = 1 << 20
#: weight rows a dot-product tile reads at once (they share the data's vectors)
GEMV_TILE_ROWS = 4
#: dense with at most this many rows is computed transposed (no copy of the weight): at 128
#: and 256 rows it measured faster than packing the weight per call (Zen 3, 1 thread), and at
#: 257-384 rows faster than the weight blocks (257x1000x2048 93 -> 102 GF/s at 1 thread, 152
#: -> 190 at 2; 384x4096x1024 95 -> 108, 191 -> 211; 384x256x512 104 -> 99: Zen 4); at 512
#: rows the weight blocks are as fast or faster (512x1024x1024 106 against 99). AVX2 code on
#: the same machine is mixed at 300-384 rows (300x4096x1024 89 -> 105, 352x1000x2048 95 ->
#: 105; 384x768x3072 104 -> 76, 384x256x512 104 -> 91): Zen 3 unmeasured
DENSE_ROWS_MAX = 384
#: more rows where the weight blocks do not apply (N no multiple of the tile, an epilogue) are
#: computed transposed too from this K on: its per-call copies (data packed, output
#: transposed) cost about 1/K of the product, less than packing and padding the whole weight
#: (257-512 x 1000 x 1024-2048: 0.85-0.89x -> 0.97-1.06x torch; at K = 512 0.94x -> 0.90x;
#: Zen 3, 1 thread)
DENSE_ROWS_MIN_K = 1024


#: weight rows the transposed product's register tile may take beyond the accumulators the
#: FMA units need (busy_accumulators), up to two data vectors of them: each data vector comes
#: from the L2 (the data panels of a reduction chunk outgrow the L1) and feeds one FMA per
#: weight row. With one 512-bit FMA unit (Zen 4: 6 accumulators) the 3 x 2-vector tile
#: measured 1-6% slower than 5-6 x 2 (64 x 4096 x 512: 3.17 -> 2.98 ms, 1 thread), which reads
#: the data half as often; with two FMA units the tile is unchanged. The same machines keep
#: one FMA a cycle fed with twice the loads per FMA of two units (dense_rows_config's
#: loads_per_fma): the 6 x 1-vector tile ran as fast as 6 x 2, so a row count that two
#: vectors would pad by a third or more takes one (33 x 1024 x 1024: 0.81x -> 1.10x torch).
DENSE_ROWS_TILE_ROWS = 6


def gemv_max_rows(target):
    """dense with at most this many data rows runs as dot products (_schedule_gemv): a tile
    of every data row by two weight rows or more fits the accumulators that keep the FMA
    units busy. Above it the transposed product (its register tile pads the rows to a
    multiple of the vector width: 3 rows of 8 lanes used 3/8 of each FMA; on Zen 4, N = K =
    1024, 1 thread: 4-6 rows as dot products 156-238 us against 296-299 us transposed, 7-9
    rows even, 12 rows 2x slower)."""
    return max(GEMV_MAX_ROWS, 3 * cpu_info(target).tile_fma_units)


def gemv_tile(M, info):
    """(weight rows, vectors per weight row) of the dot-product tile over all M data rows:
    the most accumulators (M x rows x vectors) up to busy_accumulators, then the fewest loads
    per FMA; at most GEMV_TILE_ROWS weight rows."""
    best = None
    for unroll in (1, 2):
        for rows in range(1, GEMV_TILE_ROWS + 1):
            acc = M * rows * unroll
            if acc > max(info.busy_accumulators, M):
                continue
            key = (acc, -float(M + rows) / (M * rows), unroll)
            if best is None or key > best[0]:
                best = (key, rows, unroll)
    return best[1], best[2]


#: the dot products' partial sums (unroll vectors per output) are added as vectors first where
#: there are more than this many: the scalar sum of 2 x 16 lanes (avx512) per output came out
#: of GCC as lane permutes through the stack (1x4096x512: 0.33 -> 0.23 ms folded, Zen 4,
#: 1 thread); 2 x 8 (avx2) measured no faster folded
GEMV_SCALAR_SUM = 16


def vector_partials(s, st, lanes, factor_axis=0):
    """rfactor of the lane partial sums that `st` reduces (unroll x lanes values per output)
    into one vector of lanes per output, the unroll vectors added as vectors (unrolled); the
    scalar sum across lanes is what is left to `st`. Returns the new stage (axes: the lane
    at factor_axis, vectorized)."""
    _, vi = st.split(st.op.reduce_axis[0], factor=lanes)
    rf = s.rfactor(st.op.output(0), vi, factor_axis=factor_axis)
    r2 = s[rf[0] if isinstance(rf, (tuple, list)) else rf]
    ax = list(r2.op.axis)
    lane = ax.pop(factor_axis)
    r2.reorder(*ax, *r2.op.reduce_axis, lane)
    r2.unroll(r2.op.reduce_axis[0])
    r2.vectorize(lane)
    return r2


def _schedule_gemv(s, st, target, unroll, rows):
    """dense (and batch_matmul: leading batch axes) as dot products: the reduction split
    into `unroll` vectors of partial sums (rfactor, vectorized, one pass over each weight
    row), `rows` weight rows by every data row at a time (gemv_tile's choice, or a tuned one:
    each vector loaded is used by several accumulators), summed across lanes at the end;
    parallel over (batch,) blocks of output columns, a fused epilogue computed with them."""
    info = cpu_info(target)
    lanes = info.lanes
    data, weight = st.op.input_tensors
    *batch, M, K = _dims(data)
    parallel = math.prod(batch) * M * _dims(weight)[-2] * K >= PARALLEL_MIN_MACS
    nax = len(st.op.axis)
    k = st.op.reduce_axis[0]
    _, ki = st.split(k, factor=lanes * unroll)
    R = s.rfactor(st.op.output(0), ki, factor_axis=nax)    # [.., m, n, lane]: lanes contiguous
    rs = s[R]
    *rb, m, n, lane = rs.op.axis
    if M == 1:
        rs.reorder(*rb, m, rs.op.reduce_axis[0], n, lane)
    else:
        rs.reorder(*rb, rs.op.reduce_axis[0], m, n, lane)
        rs.unroll(m)
    rs.unroll(n)
    lo, li = rs.split(lane, factor=lanes)
    rs.unroll(lo)
    rs.vectorize(li)
    partials = [rs]
    if unroll * lanes > GEMV_SCALAR_SUM:
        partials.append(vector_partials(s, st, lanes, factor_axis=nax))
    out = epilogue_output(s, st)
    if out is None:
        *sb, sm, sn = st.op.axis
        no, ni = st.split(sn, factor=rows)
        st.reorder(*sb, no, sm, ni)
        par = st.fuse(*sb, no) if sb else no
        for r in partials:
            r.compute_at(st, par)
        if parallel:
            st.parallel(par)
        return partials
    *ob, om, on = out.op.axis
    no, ni = out.split(on, factor=rows)
    out.reorder(*ob, no, om, ni)
    par = out.fuse(*ob, no) if ob else no
    st.compute_at(out, par)
    for r in partials:
        if M == 1:
            r.compute_at(st, st.op.axis[len(ob)])
        else:
            r.compute_at(out, par)
    if parallel:
        out.parallel(par)
    return partials + [out]


def dense_rows_config(M, N, K, target="native", units=None):
    """Parameters of dense with few rows (M <= DENSE_ROWS_MAX), computed transposed:
    C^T[N, M] = W[N, K] @ A^T[K, M], so that the weight is read as it lies (no copy of it)
    and only the data, M x K, is packed (into panels [Mp/nr, K, nr]).

    mr x nr register tile: mr weight rows (broadcast) x nr data rows (one or two vectors,
    M padded to a multiple of nr); kc the reduction chunk: the data panel kc x nr fills an
    eighth of the L2 (divides K, else the whole K): each weight row is read in runs of kc
    (4 KiB at 512 KiB of L2, which measured 3-9% faster than the L1d-sized 1 KiB runs at
    K = 1024-4096, Zen 3, 1 thread); nb weight rows per parallel block: the weight block
    nb x kc fills half the L2 (it is read once per data panel), and there are blocks for two
    per core (`units`, default: parallel_units).
    """
    info = cpu_info(target)
    lanes = info.lanes
    mr, nr = register_tile(N, M, info, max_vectors=2, pad_ok=True,
                           m_cap=max(info.busy_accumulators, DENSE_ROWS_TILE_ROWS),
                           acc_cap=max(info.busy_accumulators, 2 * DENSE_ROWS_TILE_ROWS),
                           loads_per_fma=max(0.7, 1.4 / info.fma_units), partial_rows=True)
    kc = panel_chunk(K, nr, info)
    if K % kc:
        kc = K
    units = units or parallel_units()
    tiles = cdiv(N, mr)
    blocks = max(cdiv(N, max(mr, info.l2_bytes // (2 * 4 * kc))), min(2 * units, tiles))
    nb = mr * cdiv(tiles, blocks)
    return {"mr": mr, "nr": nr, "kc": kc, "nb": nb, "Mp": cdiv(M, nr) * nr, "lanes": lanes}


def _schedule_dense_rows(s, st, target, data, weight, cfg):
    """dense of few rows, transposed (dense_rows_config): the weight is read as it lies."""
    lanes, nr, Mp = cfg["lanes"], cfg["nr"], cfg["Mp"]
    M, K = _dims_or_vars(data)
    N = _dims(weight)[0]
    PA = _panels(data, [], M, K, nr, Mp, K, st.name + "_packA")
    k = reduce_axis((0, K), "k")
    CT = compute((N, Mp), lambda j, i: te_sum(weight[j, k] * PA[i // nr, k, i % nr], axis=k),
                 name=st.name + "_gemm", tag="gemm")
    i_, j_ = (iv.var for iv in st.op.axis)
    copy = ComputeOp(st.op.name, st.op.axis, CT[j_, i_], st.op.tag, st.op.attrs)
    st.op = copy
    st._reset_axes()
    s.stage_map[copy] = st
    spa = s._insert_stage(PA.op, st)
    g = s._insert_stage(CT.op, st)
    out = epilogue_output(s, st)
    if out is None:
        out = st
    else:
        st.compute_inline()
    oi, oj = out.op.axis
    jb, ji = out.split(oj, factor=cfg["nb"])
    # rows split by Mp: the block needs CT over all Mp (padded) data rows, whole tiles (a
    # symbolic Mp: split by the tile, which covers the same padded rows)
    io, ii = out.split(oi, factor=Mp if isinstance(Mp, int) else nr)
    out.reorder(jb, io, ii, ji)
    out.parallel(jb)
    g.compute_at(out, jb)
    gj, gi = g.op.axis
    (gk,) = g.op.reduce_axis
    _gemm_tiles(s, g, gj, gi, gk, {"mr": cfg["mr"], "nr": nr, "kc": cfg["kc"], "mb": 0, "nb": 0},
                blocked=False)
    _schedule_panels(spa, lanes)
    return [st, out, g, spa]


def panel_chunk(K, nr, info, hi=None):
    """A reduction chunk for which a packed micro-panel kc x nr fills an eighth of the L2 (it
    is read once per register tile of the other operand, whose rows are read in place in runs
    of kc), at most `hi`, dividing K where a divisor is near. Runs of 4 KiB at 512 KiB of L2
    measured 3-9% faster than the L1d-sized 1 KiB runs in the transposed product (K =
    1024-4096, Zen 3, 1 thread). The weight blocks and dense_pack cap it at chunk_target
    (kc = 512 on Zen 3's 16-wide tiles, as the L1d panel gave them); their L1d-sized panel
    of AVX-512's wide tiles (kc = 128 at nr = 48) ran 257x1000x2048 at 66 GF/s against 88
    (1000^3: 94 -> 96, 512x1024x1024 dense_pack 105 -> 109; Zen 4, 1 thread)."""
    t = max(info.lanes, info.l2_bytes // (8 * 4 * nr))
    if hi is not None:
        t = min(t, hi)
    return reduction_chunk(K, t, lo=max(info.lanes, t // 4), hi=t)


def dense_weight_blocks_config(M, N, K, target="native", units=None):
    """Parameters of dense with many rows on a raw weight, BLIS order, or None where the
    shape needs padding beyond the rows and the last weight panel (then the weight is packed
    whole: dense_config, or the product is transposed).

    The weight is packed per cache block, inside the parallel loop: each thread packs its
    nb x kc block of weight rows into panels (in L2) and runs every row of the data against
    it, so the weight is read once from memory and its copy never leaves the cache. M is
    not padded (the last row tile runs the kernel for its row count), the data is read in
    place. nb: at most col_block_target, and at least `units` (default: parallel_units)
    blocks of whole register tiles; mb: row_block_target of the rows as they lie (K apart).
    N no multiple of the tile's columns: the last panel is zero-padded (Np, at most
    WEIGHT_BLOCKS_MAX_PADDING of N more) and each block's product goes through a buffer
    copied to the output (_schedule_dense_weight_blocks); without it a 1000- or 1001-wide
    weight was packed whole and padded per call: 257x1001x999 0.82x torch, 1000^3 0.89x
    (Zen 4, 1 thread).
    """
    info = cpu_info(target)
    cfg = dense_config(M, N, K, target)
    nr = cfg["nr"]
    kc = panel_chunk(K, nr, info, hi=chunk_target(info))
    panels = cdiv(N, nr)
    if K % kc or panels * nr > N * (1 + WEIGHT_BLOCKS_MAX_PADDING):
        return None
    units = units or parallel_units()
    per_block = max(1, min(col_block_target(info, kc) // nr, panels // units))
    while panels % per_block:
        per_block -= 1
    mb = _block(M, cfg["mr"], row_block_target(info, kc, row_bytes=4 * K))
    cfg.update(kc=kc, Kp=K, mb=mb, nb=per_block * nr, Np=panels * nr, Mp=M, pack_a=False,
               row_parts=weight_block_row_parts(M, cfg["mr"], panels // per_block, units))
    return cfg


def weight_block_row_parts(M, mr, blocks, units):
    """The parts the rows of each weight block are split into, each a parallel iteration
    packing the block again (dense_weight_blocks_config): the fewest (at most 4, each at
    least 4 row tiles) that make blocks x parts a multiple of the threads. 21 panels of 48
    (N = 1001 or 1008) are 3 blocks of 7: two threads ran them 2 : 1 (257x1008x999 at 2
    threads 0.74x torch, Zen 4)."""
    for parts in range(1, 5):
        if (blocks * parts) % units == 0 and (parts == 1 or M >= 4 * mr * parts):
            return parts
    return 1


#: the share of N the weight blocks' last panel may pad (dense_weight_blocks_config): a
#: narrow weight (N = 21 in panels of 48) is computed transposed instead
WEIGHT_BLOCKS_MAX_PADDING = 0.125


def _schedule_dense_weight_blocks(s, st, target, data, weight, cfg):
    """dense_weight_blocks_config: parallel over blocks of weight rows; per reduction chunk
    the block's panels are packed, then every row block of the data runs against them. A
    padded last panel (Np > N): each block's product [M, nb] is computed into a buffer of
    the block (in the block's loop) and copied to the output."""
    g, packs, padded = gemm_rewrite(s, st, data, weight, cfg)
    if len(packs) != 1 or (padded and (cfg["Mp"], cfg["Kp"]) != tuple(_dims_or_vars(data))):
        raise InternalError(f"dense {st.name}: weight blocks expected one packing stage and "
                            f"no padding but the weight's last panel, got {len(packs)} "
                            f"and padded={padded}")
    mr, nr, kc, mb, nb = cfg["mr"], cfg["nr"], cfg["kc"], cfg["mb"], cfg["nb"]
    parts = cfg.get("row_parts", 1)
    i, j = g.op.axis
    (k,) = g.op.reduce_axis
    if padded:                  # the block loop is the copy's; g computed in it
        oi, oj = st.op.axis
        jb, oji = st.split(oj, factor=nb)
        par = [jb]
        if parts > 1:
            oip, oi = st.split(oi, nparts=parts)
            par.append(oip)
        st.reorder(*par, oi, oji)
        par = st.fuse(*par) if parts > 1 else jb
        st.parallel(par)
        _vector_tile(st, oji, cpu_info(target).lanes, unroll=False)
        g.compute_at(st, par)
    io, ii = g.split(i, factor=mr)
    jo, ji = g.split(j, factor=nr)
    if not padded and parts > 1:
        iop, io = g.split(io, nparts=parts)
    ib, io2 = g.split(io, factor=max(1, mb // mr))
    if padded:
        outer, block = [], jo
    else:
        jb, block = g.split(jo, factor=max(1, nb // nr))
        outer = [jb, iop] if parts > 1 else [jb]
    K = k.dom.extent.value
    if kc < K:
        ko, ki = g.split(k, factor=kc)
        g.reorder(*outer, ko, ib, block, io2, ii, ji, ki)
        at = (g, ko)
    else:
        ki = k
        g.reorder(*outer, ib, block, io2, ii, ji, ki)
        at = None
    g.tensorize(ii, gemm_fp32(mr, nr, kc))
    if not padded:
        par = g.fuse(*outer) if parts > 1 else jb
        g.parallel(par)
    if at is None:
        at = (st, par) if padded else (g, par)
    (pw,) = packs
    pw.compute_at(*at)
    _schedule_block_panels(pw, target, kc)
    return [st, g, pw] if padded else [st, pw]


#: the block of the transposing copy (transpose_fp32: 8 x 8, AVX2)
TRANSPOSE_BLOCK = 8


def _transposes_blocks(st, target, kc):
    """Whether the panel packing stage `st` ([.., R/nr, K, nr] from rows [.., R, K], unpadded,
    packed kc values of k at a time) copies by transpose_fp32 blocks: float32 on an AVX2
    target and whole blocks along both the chunk and the panel width."""
    if cpu_info(target).name != "avx2" or st.op.reduce_axis or st.op.output(0).dtype != "float32":
        return False
    nr = int(st.op.axis[-1].dom.extent.value)
    return kc % TRANSPOSE_BLOCK == 0 and nr % TRANSPOSE_BLOCK == 0


def _schedule_block_panels(st, target, kc):
    """Row panels packed inside a parallel loop (per weight block, per batch), kc values of k
    at a time: by transposed blocks where _transposes_blocks allows (AVX2), else the
    vectorized copy."""
    if _transposes_blocks(st, target, kc):
        _schedule_panels_transposed(st, TRANSPOSE_BLOCK)
    else:
        _schedule_panels(st, cpu_info(target).lanes, parallel=False)


def _schedule_panels_transposed(st, block):
    """Row panels copied by transposed blocks (transpose_fp32): block x block values of
    `block` rows at a time (row loads and row stores, where _schedule_panels stores each value
    on its own: the weight blocks' packing took ~5% of dense 1024^3 that way, Zen 3)."""
    ax = list(st.op.axis)
    lead, (p, k, z) = ax[:-3], ax[-3:]
    ko, ki = st.split(k, factor=block)
    zo, zi = st.split(z, factor=block)
    st.reorder(*(lead + [p, ko, zo, ki, zi]))
    st.tensorize(ki, transpose_fp32())


def dense_pack_config(M, N, K, target="native"):
    """dense_config for pre-packed weights: nr is the panel width the weight is packed with
    (dense_weight_block), K is not padded (the panels hold exactly K)."""
    cfg = dense_config(M, N, K, target)
    if cfg["Kp"] != K:
        cfg["kc"], cfg["Kp"] = K, K
    return cfg


def dense_weight_block(N, K, target="native", M=256):
    """The panel width to pack a dense weight [N, K] with (topi.layout.pack_dense_weight)
    for `target`, for batches of about M rows."""
    return dense_config(M, N, K, target)["nr"]


@register("dense_pack", VECTOR_CPU_TARGETS)
def schedule_dense_pack(s, st, target):
    """dense_pack: the weight comes as zero-padded panels [ceil(N/nb), K, nb] (packed once)."""
    ins = st.op.input_tensors
    info = cpu_info(target)
    if len(ins) != 2 or not _f32(st.op.output(0), *ins) or not info.has_gemm:
        return default_stage(s, st, target)
    data, wp = ins
    M, K = _dims(data)
    P, _, nr = _dims(wp)
    N = int(st.op.axis[1].dom.extent.value)
    if nr % info.lanes:
        return default_stage(s, st, target)
    cfg = dense_pack_config(M, N, K, target)
    kc = panel_chunk(K, nr, info, hi=chunk_target(info))
    if K % kc == 0:
        cfg.update(kc=kc, Kp=K)
    mr = register_tile(M, nr, info, max_vectors=nr // info.lanes, pad_ok=True)[0] \
        if nr // info.lanes <= 4 else cfg["mr"]
    # blocks of whole panels that divide the panels there are (no read past the last)
    d = max(1, col_block_target(info, cfg["kc"]) // nr)
    while P % d:
        d -= 1
    mb = _block(M, mr, row_block_target(info, cfg["kc"]))
    # rows unpadded (the last row tile runs the kernel for its row count) where K needs no
    # padding: no padded copy of the data on every call
    Mp = M if cfg["Kp"] == K else cdiv(M, mb) * mb
    cfg.update(mr=mr, nr=nr, nb=nr * d, Np=P * nr, mb=mb, Mp=Mp)
    cfg["pack_a"] = cfg["Mp"] != M
    workload = ("topi.dense_pack", tuning.tensor_arg(data), tuning.tensor_arg(wp), N)
    cfg = tuning.dense_pack_params(workload, M, P, K, nr, target, cfg)
    return _schedule_gemm(s, st, target, data, None, cfg, weight_panels=wp)


@register("batch_matmul", VECTOR_CPU_TARGETS)
def schedule_batch_matmul(s, st, target):
    """batch_matmul: y read as per-batch panels [B, N/nr, K, nr], packed inside the parallel
    loop (each thread packs the batch it computes, which stays in cache)."""
    from .cpu_half import schedule_half_gemm
    half = schedule_half_gemm(s, st, target)
    if half is not None:
        return half
    ins = _gemm_operands(st)
    if ins is None and cpu_info(target).has_gemm and _symbolic_batch_matmul(st) is not None:
        return _schedule_batch_matmul_symbolic(s, st, target)
    if ins is None or not cpu_info(target).has_gemm:
        return default_stage(s, st, target)
    x, y = ins
    B, M, K = _dims(x)
    N = _dims(y)[1]
    if M <= gemv_max_rows(target) and K >= 2 * cpu_info(target).lanes:
        # a few rows a batch (attention's decoding step: one query): dot products over y's
        # rows as they lie, no panels packed (8x1x512 by 8x300x512: 1.008 -> 0.063 ms,
        # Zen 4, avx512, 1 thread; torch.bmm 0.105)
        rows, unroll = gemv_tile(M, cpu_info(target))
        return _schedule_gemv(s, st, target, unroll, rows)
    workload = ("topi.batch_matmul", tuning.tensor_arg(x), tuning.tensor_arg(y))
    cfg = tuning.gemm_params(workload, M, N, K, target,
                             batch_matmul_config(M, N, K, target, batches=B),
                             batches=B)
    if cfg["Mp"] != M and cfg["Np"] == N and cfg["Kp"] == K:    # batch_matmul_config's rule
        cfg.update(Mp=M, pack_a=False)
    return _schedule_gemm(s, st, target, x, y, cfg, packs_inside=True)


#: the row count a batch_matmul of a symbolic M is configured for, without a bound from its
#: size class
SYMBOLIC_ROWS = 256


def _symbolic_batch_matmul(st):
    """(x, y) of a float32 batch_matmul whose batch or rows are symbolic and whose N, K are
    constant (K needing no padding), else None."""
    ins = st.op.input_tensors
    if len(ins) != 2 or not _f32(st.op.output(0), *ins) or len(ins[0].shape) != 3:
        return None
    x, y = ins
    _, M, K = _dims_or_vars(x)
    N, K2 = _dims_or_vars(y)[1:]
    if not all(isinstance(d, int) for d in (N, K, K2)) or _const_shape(x) and _const_shape(y):
        return None
    return x, y


def _schedule_batch_matmul_symbolic(s, st, target):
    """batch_matmul with a symbolic batch and/or row count: the schedule of the concrete
    shape (configured for the class's largest M, else SYMBOLIC_ROWS), rows unpadded (the
    last row tile runs the kernel for its row count at run time)."""
    x, y = _symbolic_batch_matmul(st)
    _, M, K = _dims_or_vars(x)
    N = _dims(y)[1] if _const_shape(y) else _dims_or_vars(y)[1]
    rep = M
    if not isinstance(M, int):
        facts = known_facts()
        hi = facts.bounds(M)[1] if facts is not None and isinstance(M, Var) else None
        rep = hi if hi is not None else SYMBOLIC_ROWS
    cfg = batch_matmul_config(rep, N, K, target)
    if cfg["Kp"] != K:
        return default_stage(s, st, target)
    cfg.update(Mp=M, pack_a=False)
    return _schedule_gemm(s, st, target, x, y, cfg, packs_inside=True)


def batch_matmul_config(M, N, K, target="native", info=None, batches=1):
    """dense_config for one batch of batch_matmul, where only M is not a multiple of the
    register tile: M is not padded. The tile rows left over (M % mr) run the gemm intrinsic's
    kernel for that row count; padding would add a packed copy of x and a copy of the output
    on every call (64 x 128^3, mr = 6: 1.3x the time of the unpadded kernel, Zen 3).

    With `batches` enough for two parallel blocks a thread, a batch's rows are one block
    where they fit half the L2 (M x kc): each row block packs the batch's y panels again
    (12x384x384x64: 80 -> 93 GFLOP/s at 1 thread, 162 -> 186 at 2; 8x512x512x64 83 -> 96,
    157 -> 190; 16x256^3 87 -> 92, 134 -> 157; Zen 4)."""
    info = info or cpu_info(target)
    cfg = dense_config(M, N, K, target, info)
    if batches >= 2 * parallel_units() and M * cfg["kc"] * 4 <= info.l2_bytes // 2:
        cfg["mb"] = cdiv(M, cfg["mr"]) * cfg["mr"]
        cfg["Mp"] = cfg["mb"]
        cfg["pack_a"] = cfg["Mp"] != M or cfg["Kp"] != K
    if cfg["Mp"] != M and cfg["Np"] == N and cfg["Kp"] == K:
        cfg.update(Mp=M, pack_a=False)
    return cfg


# ----------------------------------------------------------------------------- conv2d NCHWc

#: vector loads a core issues per cycle (two on the x86 and Arm cores texpr targets)
LOAD_PORTS = 2


def conv_tile_cycles(w, nv, info):
    """Cycles of one reduction step (one input channel of one tap) of a direct convolution's
    register tile of w output columns x nv vectors of output channels: its w*nv FMAs on the
    FMA units, its w broadcasts and nv weight loads on the load ports, and at least the time
    in which the FMA units would run busy_accumulators FMAs (each accumulator takes one FMA
    per step: fewer of them leave the units idle for the FMA latency; on Zen 3 a tile of 8
    accumulators, 2 units x the 4-cycle latency, ran 10% slower per FMA than one of 12)."""
    f = float(info.fma_units)
    return max(w * nv / f, info.busy_accumulators / f, (w + nv) / float(LOAD_PORTS))


def conv_row_cycles(Q, w, nv, info):
    """Cycles of a reduction step over an output row of Q columns, per vector of output
    channels: Q // w tiles of w columns and a partial tile of Q % w (a short tile is bound by
    the FMA latency: the cost of a tail)."""
    t = (Q // w) * conv_tile_cycles(w, nv, info)
    if Q % w:
        t += conv_tile_cycles(Q % w, nv, info)
    return t / nv


def _conv_reg_w(Q, nv, info):
    """The register tile width (output columns) of the fewest cycles per row for nv vectors
    of output channels; among equals one without a partial tile, then the widest (fewer
    tiles read the weights fewer times). The accumulators, the nv weight vectors and the
    broadcast input leave a register spare (a tile that filled all 16 AVX2 registers
    measured slower than the next smaller one, Zen 3)."""
    cap = max(1, (info.nregs - nv - 2) // nv)
    return min(range(1, min(Q, cap) + 1), key=lambda w: _conv_tile_key(Q, w, nv, info))


def _conv_tile_key(Q, w, nv, info):
    return (round(conv_row_cycles(Q, w, nv, info), 6), Q % w != 0, -w)


#: a group of output rows tiled as one run keeps at least this many parallel iterations
#: (batch x channel blocks x row groups)
ROW_GROUP_MIN_PARALLEL = 16

#: the least fraction of the modelled cycles per row a group of rows must save (its tiles
#: cross rows: an index register per pixel, a local buffer; at 28 columns, 5% modelled,
#: they measured 3-6% slower, at 20 columns, 12.5%, no faster; at 14, 9 and 7 columns,
#: 16.7% and more, 8-24% faster, Zen 3)
ROW_GROUP_MIN_SAVING = 0.16


def conv_row_group(N, Ob, P, Q, nv, info):
    """(rows, reg_w): the output rows of a direct NCHW convolution tiled as one run of
    rows * Q pixels (register tiles of reg_w pixels may cross a row's end; the partial tile
    is paid once per group instead of once per row), and the tile width. rows divides P;
    among the groups that save ROW_GROUP_MIN_SAVING of the cycles per output row
    (conv_row_cycles over the group's pixels), the fewest rows within 3% of the fewest
    cycles, else 1 (the per-row tile); a group keeps N * Ob * P / rows parallel iterations
    and its accumulators (rows * Q * nv vectors, a local buffer) within a quarter of the
    L1d. At 512 x 14 x 14 3x3/2 (7 x 7 outputs) one group of the 49 pixels in 6-wide tiles
    of two vectors replaces 7 latency-bound tiles of 7 x one vector per row."""
    costs = {1: conv_row_cycles(Q, _conv_reg_w(Q, nv, info), nv, info)}
    for g in range(2, P + 1):
        if P % g or N * Ob * (P // g) < ROW_GROUP_MIN_PARALLEL or \
                g * Q * nv * info.lanes * 4 > info.l1d_bytes // 4:
            continue
        costs[g] = conv_row_cycles(g * Q, _conv_reg_w(g * Q, nv, info), nv, info) / g
    most = (1 - ROW_GROUP_MIN_SAVING) * costs[1]
    costs = {g: c for g, c in costs.items() if g == 1 or c <= most}
    low = min(costs.values())
    if len(costs) == 1:
        return 1, _conv_reg_w(Q, nv, info)
    # within 3% of the fewest cycles, the fewest rows (a smaller local buffer, more
    # parallel iterations)
    g = min(g for g, c in costs.items() if g > 1 and c <= low * 1.03)
    return g, _conv_reg_w(g * Q, nv, info)


def conv_NCHWc_config(P, Q, oc, target="native", info=None):
    """Register tile of a direct convolution: reg_w output columns x oc channels (oc / lanes
    vectors), the width of the fewest cycles per output row (conv_row_cycles: a partial last
    tile costs what its FMA latency costs). info: the CpuInfo to size it by (default the
    target's; 16-bit lanes: cpu_half.py)."""
    info = info or cpu_info(target)
    nv = max(1, -(-oc // info.lanes))
    return {"reg_w": _conv_reg_w(Q, nv, info), "oc": oc, "lanes": info.lanes}


def conv_blocks(C, O, target="native", Q=None, P=None, info=None):
    """(ic, oc) channel blocks of the NCHWc layout for `target`: oc two vectors or one,
    whichever runs an output row of Q columns (when given) in fewer cycles per channel
    (conv_row_cycles; among equals the one without a partial tile: 7 columns take one vector
    by 7 columns, 4.3 ms against 5.0-6.1 ms for two vectors by 4 or 6 and a tail at
    512 x 14 x 14 3x3/2, Zen 3), two vectors when equal or Q is not given (twice the
    accumulators per broadcast input), else what divides O; ic the same as oc when it divides
    C (a layer's output feeds the next one unchanged), else one vector, else all of C when C
    is small (the RGB stem), else what divides C. P (the output rows, when given): the rows
    may be tiled in groups (conv_row_group), the cycles compared are those of the group.
    info: the CpuInfo of the vectors (default the target's)."""
    info = info or cpu_info(target)
    lanes = info.lanes
    cands = [b for b in (2 * lanes, lanes) if O % b == 0]
    if cands and Q is not None:
        def key(b):
            nv = b // lanes
            if P is not None:       # rows tiled in groups (conv_row_group), batch 1
                g, w = conv_row_group(1, O // b, P, Q, nv, info)
                return (round(conv_row_cycles(g * Q, w, nv, info) / g, 6), False, -b)
            return _conv_tile_key(Q, _conv_reg_w(Q, nv, info), nv, info)[:2] + (-b,)
        oc = min(cands, key=key)
    elif cands:
        oc = cands[0]
    else:
        oc = next(b for b in range(min(O, lanes), 0, -1) if O % b == 0)
    if C % oc == 0:
        ic = oc
    elif C % lanes == 0:
        ic = lanes
    elif C <= 2 * lanes:
        ic = C
    else:
        ic = next(b for b in range(lanes, 0, -1) if C % b == 0)
    return ic, oc


def padded_channel_block(O, target="native", Q=None):
    """The output channel block (one or two vectors) to pad O to where no vector block
    divides O (an odd count: 61, 33): the kernel's blocks are padded with zeros, the
    accumulators run whole vectors and only the last block's stores are partial; None where
    a vector block divides O or O is under half a vector (the divisor blocks of such an O
    are 1-4 channels: scalar tiles, 0.12-0.22x torch at 35 -> 61 channels 3x3, Zen 3). Of
    one and two vectors, the fewer cycles for a row of Q columns (conv_row_cycles) over
    the padded channels; one vector without Q."""
    info = cpu_info(target)
    lanes = info.lanes
    if O % lanes == 0 or 2 * O < lanes:
        return None
    if Q is None:
        return lanes

    def cycles(b):
        nv = b // lanes
        return conv_row_cycles(Q, _conv_reg_w(Q, nv, info), nv, info) * nv * cdiv(O, b)
    return min((lanes, 2 * lanes), key=lambda b: (round(cycles(b), 6), b))


def winograd_weight_block(O, target="native"):
    """The panel width oc of a constant NCHW Winograd weight in the "IOo" layout ([alpha,
    alpha, O/oc, C, oc]: conv2d_winograd_nchw, winograd_weight_transform_ref): two of the
    target's vectors (the batched GEMM's register tile, as the NCHWc network's channel block),
    else one; None where O is not whole vectors ("IO" then). Each panel is then one
    contiguous run that the GEMM prefetches; read from "IO" (rows O floats apart) a 256- or
    512-channel layer ran 2.3-3x slower (F(5,3) at 14x14, F(2,3) at 7x7; Zen 4, 1 thread).

    >>> from texpr.topi.cpu import winograd_weight_block
    >>> winograd_weight_block(64, "avx2"), winograd_weight_block(24, "avx2")
    (16, 8)
    """
    lanes = cpu_info(target).lanes
    return next((v * lanes for v in (2, 1) if O % (v * lanes) == 0), None)


def conv2d_weight_blocks(data_shape, kernel_shape, stride, padding, dilation=1,
                         target="native", dtype="float32"):
    """(ic, oc): the channel blocks to pack a constant conv2d_nchw kernel [O, C, R, S] with
    for `target` (topi.layout.pack_kernel_nchwc, read by topi.nn.conv2d_nchw_packed), or
    None where its schedule reads the kernel as it lies: an input of few channels
    (cpu_conv_few_channels), a 1x1 convolution without padding (cpu_conv_1x1), a target
    without the register-tiled schedules, an odd output channel count (padded_channel_block:
    the kernel is padded per call). The blocks are the conv2d_nchw workload's knobs
    tile_ic / tile_oc: a tuning record's under apply_history_best, else the heuristic's
    (conv_blocks)."""
    from .nn import _out_size
    from .util import padding4, pair
    from .cpu_conv_few_channels import rows_as_vectors
    from ..targets.registry import get_target
    if get_target(target).name not in VECTOR_CPU_TARGETS:
        return None
    N, C, H, W = data_shape
    O, Cg, R, S = kernel_shape
    (sh, sw), (dh, dw) = pair(stride, "stride"), pair(dilation, "dilation")
    pt, pl, pb, pr = padding4(padding)
    Q = _out_size(W, S, sw, pl, pr, dw)
    P = _out_size(H, R, sh, pt, pb, dh)
    if Cg != C or P <= 0 or Q <= 0 or rows_as_vectors(C, O, P, Q, R, S, target):
        return None
    if R == S == 1 and not any((pt, pl, pb, pr)) and P * Q >= cpu_info(target).lanes:
        return None
    if padded_channel_block(O, target) is not None:     # packed per call, padded
        return None
    workload = nchw_workload(data_shape, kernel_shape, (sh, sw), (pt, pl, pb, pr), (dh, dw),
                             dtype)
    return tuning.conv_nchw_blocks(workload, C, O, target, conv_blocks(C, O, target, Q, P))


def nchw_workload(data_shape, kernel_shape, strides, pads, dilation, dtype="float32"):
    """The "topi.conv2d_nchw" tuning workload of a convolution given by its shapes (what
    conv_workload computes from its stage; pads (top, left, bottom, right))."""
    return ("topi.conv2d_nchw", ("TENSOR", tuple(int(d) for d in data_shape), dtype),
            ("TENSOR", tuple(int(d) for d in kernel_shape), dtype),
            tuple(int(v) for v in strides), tuple(int(v) for v in pads),
            tuple(int(v) for v in dilation))


def _pad_of(s, st):
    """The (inlined) padding stage `st` reads, with its source, or (None, None)."""
    for t in st.op.input_tensors:
        op = t.op
        if isinstance(op, ComputeOp) and "pad" in op.tag and "pad_before" in op.attrs:
            return t, op.input_tensors[0]
    return None, None


def padded_copy(s, consumer, dp, shape, to_pad_index, fread, name, select=False,
                shape_reach=False):
    """Make `consumer` read the padded tensor `dp` (topi.nn.pad, value 0) through a new
    stage of `shape`: element j holds dp[to_pad_index(j)], and consumer's read dp[i] becomes
    copy[fread(i)] (a layout change, e.g. channel blocks).

    The copy is written as a sum over one point whose `where` is the padding condition: the
    lowering splits the loops into the border and the interior, where the copy is a plain
    (vectorizable) load. select=True writes it as a select of the padding condition instead,
    which the loop partitioning splits the same way: one store per element, where the sum
    zeroes the whole copy first and then adds the interior (twice the stores; what a copy
    made per band of a convolution, in its loop, pays on every call). shape_reach=True (with
    select): the copy reaches past dp's shape (zeros there, every dimension bounded).
    Returns the copy's stage.
    """
    src = dp.op.input_tensors[0]
    before, after = dp.op.attrs["pad_before"], dp.op.attrs["pad_after"]
    sshape = _dims(src) if _const_shape(src) else _extents(src)

    def f(*j):
        d = to_pad_index(*j)
        conds, sidx = [], []
        for k, i in enumerate(d):
            if before[k] or after[k]:
                conds.append(i >= before[k])
                conds.append(i < sshape[k] + before[k])
            elif select and shape_reach:
                conds.append(i < sshape[k])
            sidx.append(i - before[k] if before[k] else i)
        if not conds:
            return src[tuple(sidx)]
        if select:
            return if_then_else(te_all(*conds), src[tuple(sidx)], Const(0.0, src.dtype))
        r = reduce_axis((0, 1), name + "_r")
        return te_sum(src[tuple(sidx)], axis=r, where=te_all(*conds))
    _, st = pack_input(s, consumer, dp, tuple(shape), f, fread, name)
    return st


def _schedule_copy(st, lanes):
    """A layout/padding copy: parallel over all but its two inner axes (at least the outer
    two: an NCHWc copy runs its rows in parallel, also when N and the channel blocks are 1, as
    in the RGB stem), inner axis vectorized."""
    ax = list(st.op.axis)
    nout = max(2, len(ax) - 2) if len(ax) > 2 else 1
    while nout > 2 and not isinstance(st.extent_of(ax[nout - 1]), Const):
        nout -= 1           # no fused loop divided by a symbolic extent (see above)
    outer, inner = ax[:nout], ax[nout:]
    st.parallel(st.fuse(*outer) if len(outer) > 1 else outer[0])
    if st.op.reduce_axis:
        st.reorder(*(inner[:-1] + list(st.op.reduce_axis) + [inner[-1]]))
    _vector_tile(st, ax[-1], lanes)


def _materialize_pad(s, conv_stage, lanes):
    """The padded input as a real stage (the register tile reads it with plain loads)."""
    dp, src = _pad_of(s, conv_stage)
    if dp is None:
        return None
    if dp.op.attrs.get("pad_value", 0) == 0:
        shape = _dims(dp) if _const_shape(dp) else _extents(dp)
        st = padded_copy(s, conv_stage, dp, shape, lambda *j: j, lambda *i: i, "data_pad_copy")
        _schedule_copy(st, lanes)
        return st
    st = s[dp]
    st.compute_root()
    ax = st.op.axis
    st.parallel(st.fuse(ax[0], ax[1]))
    return st


def _row_tiles(out, rows, width):
    """Tiles of `rows` output rows x `width` columns of an NCHW stage, the rows unrolled
    inside (the register tiles of depthwise convolution and pooling): (yo, xo, yi, xi)."""
    n_, c_, y_, x_ = out.op.axis
    yo, yi = out.split(y_, factor=rows)
    xo, xi = out.split(x_, factor=width)
    out.reorder(n_, c_, yo, xo, yi, xi)
    out.unroll(yi)
    return yo, xo, yi, xi


def _vector_tile(st, iv, lanes, unroll=True):
    """Vectorize `iv` by the vector width and (unroll=True) unroll the vectors (registers, not
    memory)."""
    ext = st.extent_of(iv)
    if isinstance(ext, Const) and ext.value <= lanes:
        st.vectorize(iv)
        return
    o, i = st.split(iv, factor=lanes)
    if unroll:
        st.unroll(o)
    st.vectorize(i)


def _output_and_accumulator(s, st):
    """(out, conv): the stage a register tile is written to (the fused epilogue, or st itself)
    and the stage accumulating in registers ("local": st, or st's cache_write copy)."""
    out = epilogue_output(s, st)
    if out is None:
        acc = s.cache_write(st.op.output(0), "local")
        return st, s[acc]
    st.scope = "local"
    return out, st


def _register_tile(s, st, out, info, tile_axis, rows_axis, vec_axis, reduce_order, par_axes):
    """Shared by the direct convolutions: `out` (the output, or the fused epilogue) is tiled;
    `st` (the accumulating stage, "local") is computed at the tile and keeps it in registers
    across the whole reduction: loops reduce_order..., rows (unrolled), vector (vectorized)."""
    par = out.fuse(*par_axes) if len(par_axes) > 1 else par_axes[0]
    out.parallel(par)
    st.compute_at(out, tile_axis)
    st.reorder(*(reduce_order + [rows_axis, vec_axis]))
    st.unroll(rows_axis)
    _vector_tile(st, vec_axis, info.lanes)


@register("conv2d_NCHWc", VECTOR_CPU_TARGETS)
def schedule_conv2d_NCHWc(s, st, target):
    """Direct NCHWc convolution: a reg_w x oc register tile of accumulators (unrolled output
    columns x oc vectors) kept over the whole reduction (ic blocks, kernel window, ic),
    parallel over (n, oc block, output rows); a fused epilogue (bias, relu, residual add)
    runs on the tile while it is in registers."""
    ins = st.op.input_tensors
    if not _f32(st.op.output(0), *ins):
        from .cpu_half import half_vector_info, schedule_bf16_conv
        bf16 = schedule_bf16_conv(s, st, target)     # bfloat16 pairs (vdpbf16ps, BFDOT)
        if bf16 is not None:
            return bf16
        info = half_vector_info(st, target)      # float16 computed in float16 (NEON)
        if info is None:
            return default_stage(s, st, target)
        ic = int(ins[1].shape[4].value)
        return _nchwc_register_tile(
            s, st, target, lambda conv: _split_channels(conv, ic), info=info)
    ic = int(ins[1].shape[4].value)
    unroll_taps = few_channel_taps_unrolled(ic, cpu_info(target))

    def reduce_loops(conv):
        loops = _split_channels(conv, ic)
        if unroll_taps:
            conv.unroll(loops[-2])
            conv.unroll(loops[-1])
        return loops
    pad_t, data = _pad_of(s, st)
    if not _const_shape(st.op.output(0)):      # symbolic batch / spatial extents: untuned
        return _nchwc_register_tile(s, st, target, reduce_loops)
    workload = conv_workload("topi.conv2d_NCHWc", st, data if pad_t is not None else ins[0],
                             ins[1], pad_t)

    def tuned(Q, reg_w):
        N, Ob, P, _, oc = (int(a.dom.extent.value) for a in st.op.axis)
        R, S_ = _dims(ins[1])[2:4]
        flop = 2.0 * N * Ob * oc * P * Q * int(ins[1].shape[1].value) * ic * R * S_
        return tuning.conv_nchwc_params(workload, Q, target, reg_w, flop)
    _strided_pixels_copy(s, st, cpu_info(target))
    return _nchwc_register_tile(s, st, target, reduce_loops, tuned, group=True)


#: a strided 1x1 NCHWc convolution reads its input's pixels through a dense copy where a
#: pixel of the channel block is narrower than this (two 64-byte cache lines)
STRIDED_PIXEL_BYTES = 128


def _strided_pixels_copy(s, st, info):
    """A strided 1x1 conv2d_NCHWc (ResNet's projection shortcuts) whose input pixel (ic
    floats) is narrower than STRIDED_PIXEL_BYTES reads the pixels it uses through a dense
    copy [N, Cb, P, Q, ic] (computed first, parallel): read in place, its tiles broadcast
    from every other 64-byte pixel of every other row and ran 14-35% slower than the
    stride-1 layer of the same work (AVX2's blocks of 16 channels, Zen 4: 2.3-2.7 ms against
    1.9-2.2 ms with the copy at ResNet-50's three projections); AVX-512's 128-byte pixels
    ran as fast as the stride-1 layer in place (1.80 against 1.78 ms), the copy would only
    add its time. x86 only (measured there; the pixel pairs are the x86 L2 prefetchers'
    adjacent lines)."""
    data, kernel = st.op.input_tensors[:2]
    sh, sw = (int(v) for v in st.op.attrs.get("strides", (1, 1)))
    _, _, R, S_, ic, _ = _dims(kernel)
    if info.family != "x86" or (R, S_) != (1, 1) or (sh, sw) == (1, 1) or \
            _pad_of(s, st)[0] is not None or \
            ic * dtypes.bits(data.dtype) // 8 >= STRIDED_PIXEL_BYTES:
        return
    N, _, P, Q, _ = (int(a.dom.extent.value) for a in st.op.axis)
    _, copy = pack_input(s, st, data, (N, _dims(data)[1], P, Q, ic),
                         lambda n, c, y, x, i: data[n, c, y * sh, x * sw, i],
                         lambda n, c, h, w, i: (n, c, h // sh, w // sw, i), "data_strided")
    _schedule_copy(copy, info.lanes)


def few_channel_taps_unrolled(ic, info):
    """Whether a direct NCHWc convolution over an input block of few channels (ic <=
    FEW_CHANNELS_MAX: the RGB stem, topi.models' cin_block=3) unrolls the innermost loops of
    its reduction, the kernel's columns and the block's channels. Rolled, GCC carries from one
    column of the window to the next the input scalars a later tap of the tile reads again
    (output column x + 1 at tap r is column x at tap r + stride) and, with 16 vector
    registers (AVX2: a 6 x 2-vector tile, 12 accumulators), spills them to the stack:
    ResNet-50's 7x7/2 stem ran 3.5 ms so, 2.1 ms unrolled (the NCHW few-channel route's
    time, at the FMA peak; 7x7/1, 3x3/2 and 3x3/1 stems 18-40% faster), AVX2 on Zen 4,
    1 thread. With 32 registers (AVX-512) the rolled loop ran at the FMA peak already and
    unrolled 13-27% slower (the 7x7/2 stem 2.08 against 2.64 ms): it stays rolled."""
    from .cpu_conv_few_channels import FEW_CHANNELS_MAX
    return ic <= FEW_CHANNELS_MAX and info.nregs <= 16


def _split_channels(conv, ic):
    """The NCHWc reduction loops, outermost first: input channel blocks, window, channels."""
    rc, ry, rx = conv.op.reduce_axis
    rco, rci = conv.split(rc, factor=ic)
    return [rco, ry, rx, rci]


def conv_workload(name, st, data, kernel, pad_t):
    """The tuning workload of a direct convolution stage (cpu_tuning.py): (name, data,
    kernel, strides, (top, left, bottom, right) padding, dilation); data is the unpadded
    input, pad_t the padding stage (or None)."""
    pads = (0, 0, 0, 0)
    if pad_t is not None:
        b, a = pad_t.op.attrs["pad_before"], pad_t.op.attrs["pad_after"]
        pads = (b[2], b[3], a[2], a[3])
    return (name, tuning.tensor_arg(data), tuning.tensor_arg(kernel),
            tuple(st.op.attrs.get("strides", (1, 1))), pads,
            tuple(st.op.attrs.get("dilation", (1, 1))))


@register("depthwise_conv2d_NCHWc", VECTOR_CPU_TARGETS)
def schedule_depthwise_conv2d_NCHWc(s, st, target):
    """Depthwise NCHWc: a reg_w x cb tile of accumulators (output columns x the channel block
    in vectors) over the kernel window, parallel over (n, channel block, output rows); the
    fused epilogue runs on the tile."""
    if not _f32(st.op.output(0), *st.op.input_tensors):
        return default_stage(s, st, target)
    for t in st.op.input_tensors:      # channel multiplier > 1, no padding: copy the repeat
        if t.op.tag == CHANNEL_REPEAT_TAG:
            rep = s[t]
            rep.compute_root()
            _schedule_copy(rep, cpu_info(target).lanes)
    tuned = None
    pad_t, data = _pad_of(s, st)
    kernel = st.op.input_tensors[-1]
    src = data if pad_t is not None else st.op.input_tensors[0]
    if _const_shape(st.op.output(0)) and src.op.tag != CHANNEL_REPEAT_TAG:
        workload = conv_workload("topi.depthwise_conv2d_NCHWc", st, src, kernel, pad_t)

        def tuned(Q, reg_w):
            N, Ob, P, _, ob = (int(a.dom.extent.value) for a in st.op.axis)
            R, S_ = _dims(kernel)[1:3]
            return tuning.conv_nchwc_params(workload, Q, target, reg_w,
                                            2.0 * N * Ob * ob * P * Q * R * S_)
    return _nchwc_register_tile(s, st, target, lambda conv: list(conv.op.reduce_axis), tuned)


def nchwc_chunk_bytes(info):
    """The weights of a reduction chunk of the NCHWc row groups: half the L2. The NCHWc
    layout is the graph's (topi.models): a layer's weights are read once per inference, from
    memory; chunks of half the L1d (row_group_chunk's default, measured on weights in the
    caches) made every chunk's first tile wait on memory, and ran 3-10% slower at ResNet-50's
    3x3 layers of 7 x 7 outputs on weights read from memory (AVX2, Zen 4)."""
    return info.l2_bytes // 2


def _nchwc_register_tile(s, st, target, reduce_loops, tuned=None, info=None, group=False):
    """The direct NCHWc convolutions' schedule: the output (or its fused epilogue) tiled
    reg_w columns x the channel block, parallel over (n, block, row); the accumulating stage
    computed at the tile over reduce_loops(conv) (outermost first), kept in registers.
    tuned(Q, heuristic reg_w) -> (reg_w, "rows" | "blocks"): the tuning knobs
    (cpu_tuning.py). info: the CpuInfo to tile by (default the target's). group (conv2d_NCHWc,
    constant shapes): where conv_row_group tiles groups of rows (_row_group: the heuristic
    tile leaves a partial tile per row that costs ROW_GROUP_MIN_SAVING of its cycles), the
    tiles of reg_w pixels run over the group's fused pixels (_group_tiles), as the NCHW
    convolutions' do: on AVX2 (16 registers: 6 x 2-vector tiles) ResNet-50's 1x1 layers at
    14 x 14 and 7 x 7 ran 2 + 2 + 2 and 6 + 1 columns per row, their last tile bound by the
    FMA latency."""
    info = info or cpu_info(target)
    _, _, y, x, o = st.op.axis
    P, Q, oc = (a.dom.extent.value if isinstance(a.dom.extent, Const) else None
                for a in (y, x, o))
    # a symbolic output width: the tile of a wide row (the last tile of a row runs guarded)
    reg_w = conv_NCHWc_config(P, Q or SYMBOLIC_WIDTH, oc, target, info)["reg_w"]
    # symbolic rows: parallel over (n, block) only (a loop fused with the rows would be
    # split again by a division by the symbolic extent in every index of the tile)
    parallel = "rows" if P is not None else "blocks"
    if tuned is not None:
        reg_w, parallel = tuned(Q, reg_w)
    rows = 0
    if group:
        N, Ob = (int(a.dom.extent.value) for a in st.op.axis[:2])
        kernel = st.op.input_tensors[1]
        _, Cb, R, S_, ic, _ = _dims(kernel)
        rows, reg_w = _row_group(N, Cb * ic, Ob * oc, P, Q, R * S_, ic, oc, reg_w, parallel,
                                 info)
    _materialize_pad(s, st, info.lanes)
    out, conv = _output_and_accumulator(s, st)
    n_, ob_, y_, x_, o_ = out.op.axis
    if rows:
        _group_tiles(out, conv, out.op.axis, conv.op.axis, ic, oc, rows, reg_w, info, False,
                     nchwc_chunk_bytes(info))
        return [st, out]
    xo, xi = out.split(x_, factor=reg_w)
    out.reorder(n_, ob_, y_, xo, xi, o_)
    out.unroll(xi)
    _vector_tile(out, o_, info.lanes)
    cn, cob, cy, cx, co = conv.op.axis
    _register_tile(s, conv, out, info, xo, cx, co, [cn, cob, cy] + reduce_loops(conv),
                   [n_, ob_, y_] if parallel == "rows" else [n_, ob_])
    return [st, out]


def _schedule_symbolic_nchw(s, st, target):
    """An NCHW convolution (direct or depthwise) of symbolic batch / spatial extents:
    parallel over (batch, channel), each output element's reduction inside (correct for
    every size; not register-tiled: the NCHWc path is the fast one for symbolic shapes)."""
    n, c = st.op.axis[:2]
    st.parallel(st.fuse(n, c))
    return [st]


@register("depthwise_conv2d_nchw", VECTOR_CPU_TARGETS)
def schedule_depthwise_conv2d_nchw(s, st, target):
    """Depthwise NCHW: vectors along the output row (a few vectors of accumulators kept over
    the kernel window), parallel over (n, channel); the fused epilogue runs on the tile while
    it is in registers. A padded or strided input is read through a copy of the rows a band
    of tiles reads, made in the band's loop (it stays in L1): zeros around it, its columns split
    into stride phases (cpu_conv_few_channels.column_phases), so that every tap of the tile
    is whole vector loads, none guarded."""
    from .cpu_conv_few_channels import column_phases, phase_offset
    ins = st.op.input_tensors
    if not _const_shape(st.op.output(0)):
        return _schedule_symbolic_nchw(s, st, target)
    if not _f32(st.op.output(0), *ins):
        return default_stage(s, st, target)
    P, Q = (int(a.dom.extent.value) for a in st.op.axis[2:])
    info = row_vector_info(Q, cpu_info(target))
    lanes = info.lanes
    pad_t, data = _pad_of(s, st)
    sh, sw = st.op.attrs.get("strides", (1, 1))
    copied = (pad_t is not None and pad_t.op.attrs.get("pad_value", 0) == 0) or sw > 1
    workload = conv_workload("topi.depthwise_conv2d_nchw", st,
                             data if pad_t is not None else ins[0], ins[1], pad_t)
    R = int(ins[1].shape[2].value)
    stationary = R >= DEPTHWISE_STATIONARY_ROWS
    if stationary:
        dh = st.op.attrs.get("dilation", (1, 1))[0]
        rows, width = depthwise_stationary_tile(P, Q, R, sh, dh, info)
    else:
        # strided: one vector per row, so the most rows per band (a band copies the rows
        # its taps reach; 5x5/2 over 2-row bands copied 7 input rows per 4)
        width = depthwise_row_tile(Q, lanes, 1 if sh > 1 else 4, extended=copied)
    width, parallel = tuning.depthwise_params(workload, st, info, width, target)
    rows = tuning.depthwise_rows_param(
        workload, P, target, rows if stationary
        else depthwise_rows(P, width // lanes, info))
    copy = None
    Qp = Q
    if copied:
        # the row's last tile computed whole (zeros read past the input), stored in part
        Qp = cdiv(Q, width) * width
        S, dw = int(ins[1].shape[3].value), st.op.attrs.get("dilation", (1, 1))[1]
        reach = (Qp - 1) * sw + (S - 1) * dw + 1
        offset = phase_offset(s, st, sw, reach, lanes)
        copy = column_phases(s, st, ins[0], sw, reach, offset, lanes)
    out, conv = _output_and_accumulator(s, st)
    if Qp > Q:
        pad_axis(s, conv, 3, Qp)
    n_, c_ = out.op.axis[:2]
    yo, xo, yi, xi = _row_tiles(out, rows, width)
    _vector_tile(out, xi, lanes)
    cn, cc, cy, cx = conv.op.axis
    ry, rx = conv.op.reduce_axis
    # a tall kernel: its columns outside, its rows unrolled, so that each input vector a
    # column loads serves every output row of the tile it reaches (depthwise_stationary_tile)
    _register_tile(s, conv, out, info, xo, cy, cx,
                   [cn, cc, rx, ry] if stationary else [cn, cc, ry, rx],
                   [n_, c_, yo] if parallel == "rows" else [n_, c_])
    if stationary:
        conv.unroll(ry)
    if copy is None:
        return [st, out]
    _band_phase_copy(copy, out, yo, lanes, whole_vectors=offset > 0)
    return [st, out, copy]


def _band_phase_copy(copy, out, yo, lanes, whole_vectors):
    """The depthwise NCHW input copy (column_phases) made per band of output rows (at `yo`:
    the rows the band reads, in L1), each phase's border and interior loops constants, in
    vectors of `lanes`, each phase's row from a vector boundary: a tap's load then crosses a
    cache line only where its column offset shifts it (rows of 114 floats: most loads did;
    9-13% faster on Zen 4, 8-lane vectors). whole_vectors (a copy with phase_offset's
    columns): its rows kept as vectors x lanes, so that bound inference keeps every vector
    whole from the row's first (else the band's region would start at the first column
    read, the padding, and undo the offset); without them a row ends where the reads do
    (its last vector stored whole past them: 672 x 14 5x5, 6% slower, Zen 4)."""
    if whole_vectors:
        ax = copy.transform_layout(lambda *i: list(i[:-1]) + [i[-1] // lanes, i[-1] % lanes])
        copy.compute_at(out, yo)
        copy.unroll(ax[-3])
        copy.vectorize(ax[-1])
        return
    copy.compute_at(out, yo)
    ax = list(copy.op.axis)
    if copy.op.reduce_axis:
        copy.reorder(*(ax[:-1] + list(copy.op.reduce_axis) + [ax[-1]]))
    copy.unroll(ax[-2])
    copy.storage_align(ax[-2], lanes, 0)
    _vector_tile(copy, ax[-1], lanes, unroll=False)


def row_vector_info(Q, info):
    """The CpuInfo of the vectors that compute rows of Q columns fastest, vectors along the
    row: the target's, or the half as wide ones its emitter also emits natively
    (CpuInfo.narrow) where those run at least as many multiply-adds a cycle per row
    (fma_lanes over the lanes the row rounds up to); a tie goes to the narrow vectors, which
    waste less at the row's ends (scalar borders, partial tiles). On Zen 4 (16 lanes x 1 FMA
    unit, 8 x 2) and under SIMDe avx512 runs 8-lane vectors here; Zen 5 (16 x 2) 16-lane
    ones unless a row wastes half of them (depthwise NCHW, few-channel convolutions)."""
    narrow = info.narrow()
    if narrow is None:
        return info

    def per_cycle(i):
        return i.fma_lanes() * Q / float(cdiv(Q, i.lanes) * i.lanes)
    return narrow if per_cycle(narrow) >= per_cycle(info) else info


def depthwise_rows(P, nv, info):
    """Output rows of a depthwise tile of nv vectors per row: enough accumulators to cover
    the FMA latency (each tap is one FMA per accumulator), a divisor of P when one is close."""
    want = max(1, min(P, info.busy_accumulators // nv, info.accumulators // nv))
    for r in range(want, max(1, want // 2) - 1, -1):
        if P % r == 0:
            return r
    return want


def depthwise_stationary_tile(P, Q, R, stride, dilation, info):
    """(rows, width): the depthwise tile for a kernel of R >= DEPTHWISE_STATIONARY_ROWS rows,
    whose rows are unrolled inside its columns: an input vector loaded for a column then
    feeds every output row of the tile it reaches, so the tile's loads per FMA are
    ((input rows it reaches) x nv + the column's R broadcast weights) / (rows x nv x R).
    For nv = 1, 2, 4 vectors a row, the most rows dividing P (else the most) whose
    accumulators, the R weights and the nv input vectors fit the registers; the fewest loads
    per FMA, over the share of the FMA latency the accumulators cover and the row's vectors
    padded to whole tiles. 7x7, Zen 4, 1 thread, ms (kernel rows outside, as smaller
    kernels run -> this tile): avx512 (8-lane vectors) 192x28x28 0.252 -> 14 x 8 0.159,
    96x56x56 0.399 -> 0.281, 384x14x14 0.204 -> 0.082, 240x14x14 5x5 0.048 -> 0.028; avx2
    (16 registers: 7 x 8) 0.295 -> 0.187, 0.601 -> 0.329, 0.160 -> 0.105, 0.049 -> 0.034."""
    best = None
    for nv in (1, 2, 4):
        cap = min(P, (info.nregs - R - nv - 1) // nv)
        if cap < 1:
            continue
        rows = max(r for r in range(1, cap + 1) if P % r == 0)
        rows = rows if 2 * rows >= cap else cap
        reach = min(rows * R, (rows - 1) * stride + (R - 1) * dilation + 1)
        loads = (reach * nv + R) / float(rows * nv * R)
        busy = min(1.0, rows * nv / float(info.busy_accumulators))
        waste = cdiv(Q, nv * info.lanes) * nv * info.lanes / float(Q)
        key = (round(loads * waste / busy, 6), nv)
        if best is None or key < best[0]:
            best = (key, rows, nv * info.lanes)
    if best is None:        # a kernel as tall as the registers: one row of one vector
        return 1, info.lanes
    return best[1], best[2]


#: kernels of at least this many rows run depthwise_stationary_tile's tiles
DEPTHWISE_STATIONARY_ROWS = 5




def depthwise_row_tile(Q, lanes, max_vectors=4, extended=True):
    """Output columns of a depthwise tile: the most vectors (up to max_vectors) that divide
    the row's vectors. extended: the row's last tile is computed past its end (a partial
    last vector counts whole), so no tile is partial; else (the input read in place) a row
    that is not whole tiles takes as many vectors as it needs, up to max_vectors, and its
    last tile runs guarded."""
    if extended or Q % lanes == 0:
        qv = cdiv(Q, lanes)
        return max(nv for nv in range(1, max_vectors + 1) if qv % nv == 0) * lanes
    return min(cdiv(Q, lanes), max_vectors) * lanes


@register("pool", VECTOR_CPU_TARGETS)
def schedule_pool(s, st, target):
    """Pooling in NCHWc: the window loops outside the channel block, which is vectorized
    (contiguous loads; the padding test is the same for every lane); parallel over (n, block,
    output rows). NCHW: the default schedule, or a tuning record's (_schedule_pool_nchw);
    of a symbolic size, the size classes' schedules (pool_size_classes) or, for average
    pooling, _schedule_symbolic_avg_rows; other layouts keep the default schedule."""
    ax = st.op.axis
    if len(ax) == 4 and len(st.op.reduce_axis) == 2:
        w = _padded_pool_width(st)
        facts = known_facts()
        if w is not None and facts is not None and \
                facts.bounds(w)[0] >= pool_vector_min_width(target):
            return _schedule_symbolic_pool_nchw(s, st, target)
        if not _const_shape(st.op.output(0)) and epilogue_output(s, st) is not None:
            return _schedule_symbolic_avg_rows(s, st, target)
        return _schedule_pool_nchw(s, st, target)
    if len(ax) != 5 or not isinstance(ax[4].dom.extent, Const) or len(st.op.reduce_axis) != 2:
        return default_stage(s, st, target)
    lanes = cpu_info(target).lanes
    knobs = tuning.pool_params(st, target)
    n, cb, y, x, c = ax
    ry, rx = st.op.reduce_axis
    st.reorder(n, cb, y, x, ry, rx, c)
    # symbolic rows: not fused (the fused loop would be divided by them in every index); a
    # symbolic batch: its loop outside the parallel one (fused, its bound is a run-time
    # check of every access)
    rows = knobs["parallel"] == "rows" and isinstance(y.dom.extent, Const)
    par = [n, cb, y] if rows else [n, cb]
    if not isinstance(n.dom.extent, Const):
        par = par[1:]
    st.parallel(st.fuse(*par) if len(par) > 1 else par[0])
    _vector_tile(st, c, lanes, unroll=knobs["unroll"])


@register("pool_count", VECTOR_CPU_TARGETS)
def schedule_pool_count(s, st, target):
    """The taps inside the input per output position of an average pooling of a symbolic
    size (nn's pool_count plane: a few hundred elements, once per call) run serially: the
    default schedule's parallel loop was a second parallel region in every call."""
    return None


def _schedule_pool_nchw(s, st, target):
    """Pooling in NCHW: the default schedule (batches in parallel) unless a tuning config
    says otherwise (cpu_tuning.pool_nchw_params): (n, c[, output row]) in parallel, and
    vectors of output columns with the window loops outside them."""
    knobs = tuning.pool_nchw_params(st, target)
    if knobs is None:
        return default_stage(s, st, target)
    lanes = cpu_info(target).lanes
    n, c, y, x = st.op.axis
    ry, rx = st.op.reduce_axis
    if knobs["vectors"]:
        xo, xi = st.split(x, factor=knobs["vectors"] * lanes)
        st.reorder(n, c, y, xo, ry, rx, xi)
        _vector_tile(st, xi, lanes)
    par = {"n": [n], "nc": [n, c], "ncy": [n, c, y]}[knobs["parallel"]]
    st.parallel(st.fuse(*par) if len(par) > 1 else par[0])


def _schedule_symbolic_pool_nchw(s, st, target):
    """NCHW window pooling of a symbolic image size (one build for every size), max or
    average: the window's rows reduced first, per output row and input column, into a
    channel's buffer (_pool_column_windows: the padding in it, the row's start at a vector
    boundary), then tiles of POOL_ROWS output rows x one vector of output columns kept in
    registers over the window's columns, each tap a whole (strided) vector load from that
    buffer; a row's last tile computed whole over the buffer's padding past the row
    (pad_axis) and stored in part; average pooling's division (nn's pool_count plane or a
    constant) on the tile. So every row runs whole vectors at any width (gcc kept the
    scalar row loop of a run-time length slower than the one of a constant length: 1.3-4x),
    and a kh x kw window costs kh vector adds per input column and kw taps per output
    vector instead of kh * kw taps (the concrete builds' loop nests, which gcc vectorizes,
    run all kh * kw)."""
    info = cpu_info(target)
    lanes = info.lanes
    _, sw = st.op.attrs["strides"]
    dw = st.op.attrs["dilation"][1]
    kw = int(st.op.reduce_axis[1].dom.extent.value)
    Qp = (st.op.axis[3].dom.extent + (lanes - 1)) // lanes * lanes
    cols = _pool_column_windows(s, st, lanes, (Qp - 1) * sw + (kw - 1) * dw + 1)
    out, acc = _output_and_accumulator(s, st)
    pad_axis(s, acc, 3, Qp)
    n_, c_ = out.op.axis[:2]
    yo, xo, yi, xi = _row_tiles(out, POOL_ROWS, lanes)
    out.vectorize(xi)
    cn, cc, cy, cx = acc.op.axis
    # a symbolic batch: its loop outside the parallel one (see schedule_pool)
    batch = isinstance(n_.dom.extent, Const)
    _register_tile(s, acc, out, info, xo, cy, cx, [cn, cc] + list(acc.op.reduce_axis),
                   [n_, c_] if batch else [c_])
    cols.compute_at(out, out.leaf_iter_vars[0 if batch else 1])     # a channel's rows, in cache
    _vector_tile(cols, cols.op.axis[-1], lanes, unroll=False)
    return [st, out, cols]


def _schedule_symbolic_avg_rows(s, st, target):
    """NCHW average pooling of a symbolic size on the loop nest (inputs narrower than
    pool_vector_min_width, windows without padding, global pooling): the sums a root stage
    whose interior rows gcc vectorizes, over the channels in parallel (a symbolic batch
    outside, see schedule_pool); the division (pool_avg, by nn's pool_count plane or a
    constant) in vectors along each row, the row's last one masked where the target masks
    tails. Before, the division ran one element at a time (its divisor's min / max too) and
    the sums in one thread."""
    out = epilogue_output(s, st)
    lanes = cpu_info(target).lanes
    for stage in (st, out):
        n, c = stage.op.axis[:2]
        if isinstance(n.dom.extent, Const):
            stage.parallel(stage.fuse(n, c))
        else:
            stage.parallel(c)
    _, xi = out.split(out.op.axis[3], factor=lanes)
    out.vectorize(xi)
    return [st, out]


def _pool_column_windows(s, st, lanes, width):
    """Split the pooling stage `st` (NCHW, over a padded input, the window [ry, rx]) into
    a stage "pool_cols" [N, C, P, Wc]: for output row y and padded input column j, the
    reduction (sum or max) over the window's rows, y * sh + ry * dh, of column j, the pad
    value outside the input; and `st` reducing over the window's columns only,
    pool_cols[n, c, y, x * sw + rx * dw]. The columns start at a vector boundary (off >=
    the left padding) and run up to `width` padded columns read: whole vectors but for each
    row's last (a masked load: the vectorizer's _masked_select) and the left padding's
    first (a whole vector of the pad value). Sums in another order than the loop nest's
    (rows first): within float32 rounding of it; max exactly. Returns the new stage."""
    pad_t, src = _pad_of(s, st)
    N, C, H, W = _extents(src)
    pt, pl = pad_t.op.attrs["pad_before"][2:4]
    sh, sw = st.op.attrs["strides"]
    dh, dw = st.op.attrs["dilation"]
    kh = int(st.op.reduce_axis[0].dom.extent.value)
    P = st.op.axis[2].dom.extent
    off = cdiv(pl, lanes) * lanes if pl else 0
    cols = (width - pl + off + (lanes - 1)) // lanes * lanes
    red = te_max if st.op.name == "pool_max" else te_sum
    # the pad value is the reduction's identity (_padded_pool_width): rows of the window
    # outside the input are left out (the where), columns read as the pad value
    fill = Const(pad_t.op.attrs.get("pad_value", 0), src.dtype)

    def fcols(n, c, y, j):
        ry = reduce_axis((0, kh), "pool_cols_ry")
        h = y * sh + ry * dh - pt
        conds = [j >= off] if off else []
        conds.append(j < W + off)
        return red(if_then_else(te_all(*conds), src[n, c, h, j - off], fill), axis=ry,
                   where=te_all(h >= 0, h < H))
    cols_t = compute((N, C, P, cols), fcols, name="pool_cols", tag="injective,pack")
    rx = reduce_axis((0, int(st.op.reduce_axis[1].dom.extent.value)), "rx")
    op = st.op

    def body(n, c, y, x):
        j = x * sw + (rx * dw if dw != 1 else rx) - pl + off
        return red(cols_t[n, c, y, j], axis=rx)
    axes = [a.var for a in op.axis]
    new_op = ComputeOp(op.name, op.axis, [body(*axes)], op.tag, op.attrs)
    st.op = new_op
    st._reset_axes()
    s.stage_map[new_op] = st
    return s._insert_stage(cols_t.op, st)


#: output rows of a symbolic pooling tile (one vector each; _schedule_symbolic_pool_nchw)
POOL_ROWS = 4

#: the input width from which max and average pooling of a symbolic width over a padded
#: input take the vector route (_schedule_symbolic_pool_nchw) on targets without masked
#: tails (AVX2: the column buffer's last partial vector runs lane by lane). Zen 4, avx2
#: target, 64 channels 3x3/2, 1 thread (CPU time), time over the concrete build's, vector
#: route / loop nest: average 2.6x / 2.5x at 8, 1.8x / 2.5x at 11, 1.8x / 2.2x at 28; max
#: 1.7x / 1.3x at 8, 1.4x / 1.7x at 11, 1.25x / 1.6x at 13 (Zen 3, the earlier route: 1.14x
#: against 2.1x at 15, 1.39x both at 14)
POOL_VECTOR_MIN_WIDTH = 12

#: the same on targets that mask vector tails (AVX-512: that vector a masked load). Zen 4,
#: avx512: average 2.6x / 2.8x at 5, 2.0x / 2.6x at 8, 1.3x / 2.4x at 11, 1.1x / 2.8x at
#: 28; max 2.0x both at 5, 1.2x / 1.4x at 8; the loop nest faster below (avg 2.7x / 3.2x at
#: 4, max 2.9x / 1.4x at 2)
POOL_VECTOR_MIN_WIDTH_MASKED = 5


def pool_vector_min_width(target):
    """POOL_VECTOR_MIN_WIDTH, or POOL_VECTOR_MIN_WIDTH_MASKED where the target masks tails
    natively (not SIMDe, whose masked loads are scalar loops)."""
    from ..targets.registry import get_target
    masked = get_target(target).has("masked_tails") and not cpu_info(target).emulated
    return POOL_VECTOR_MIN_WIDTH_MASKED if masked else POOL_VECTOR_MIN_WIDTH


@register_size_classes("pool", VECTOR_CPU_TARGETS)
def pool_size_classes(st, target):
    """NCHW max and average pooling over a padded input of a symbolic width: a class of
    inputs at least pool_vector_min_width wide (the vector route,
    _schedule_symbolic_pool_nchw: the window's rows reduced into a buffer with the padding
    in it, then register tiles over its columns), then the others (the loop nest, every tap
    testing the padding; average pooling: _schedule_symbolic_avg_rows). Other pooling: no
    classes (windows without padding, global pooling: the loop nest)."""
    w = _padded_pool_width(st)
    return None if w is None else [w >= pool_vector_min_width(target), w >= 0]


def _padded_pool_width(st):
    """The input width (a shape variable) of a float32 NCHW max pooling or average pooling
    sum stage over a padded input of symbolic extents, else None."""
    if st.op.name not in ("pool_max", "pool_sum") or len(st.op.axis) != 4 or len(st.op.reduce_axis) != 2 or \
            "strides" not in st.op.attrs or _const_shape(st.op.output(0)) or \
            not _f32(st.op.output(0), *st.op.input_tensors):
        return None
    op = st.op.input_tensors[0].op
    if not (isinstance(op, ComputeOp) and "pad" in op.tag and "pad_before" in op.attrs):
        return None
    identity = min_value(op.output(0).dtype).value if st.op.name == "pool_max" else 0
    if op.attrs.get("pad_value", 0) != identity:    # (nn.pool2d's always is)
        return None
    w = op.input_tensors[0].shape[3]
    return w if isinstance(w, Var) else None


# ----------------------------------------------------------------------------- Winograd

def _producer(s, st, name_prefix):
    for t in st.op.input_tensors:
        if t.op.name.startswith(name_prefix):
            return t, s[t]
    return None, None


# weight panels ahead that the Winograd GEMM prefetches (0: none). In a network its
# transformed weight (ResNet-50's 14x14 layers: 9.4 MB) comes from DRAM; the hardware
# prefetchers did not keep up with the bursts of a panel's first row tile (ResNet-50, Zen 4,
# 1 thread: the Winograd layers 11.4 -> 10.4 ms; two panels ahead measured no better)
WINO_PREFETCH_PANELS = 1


def winograd_config(N, nH, nW, C, O, target="native", units=None, info=None):
    """Blocking of the Winograd pipeline.

    hb tile rows per block (block_tiles = hb * nW tiles are the rows of the GEMM register
    tile, 16 to 64 of them where possible, and hb divides nH: no partial block) and ochunks
    output-channel chunks. The parallel unit is (image, tile block, channel chunk); its V and M
    stay in cache. `units` (default: parallel_units) parallel units are wanted: blocks of
    tiles first; when the image has too few tiles (late ResNet layers) the output channels are
    split too (each chunk then redoes the input transform of its block, which is why it is
    not the first choice). mr x nr: the GEMM register tile over (tiles of a block, O);
    ic / oc: the vector blocks of the input / output transforms. info: the CpuInfo to size
    them by (default the target's; float16 lanes: cpu_half.py)."""
    info = info or cpu_info(target)
    lanes = info.lanes
    units = units or parallel_units()
    divs = [d for d in range(1, nH + 1) if nH % d == 0]
    # 16..64 tiles per block: enough GEMM rows to reuse each weight panel (the weights of a
    # late layer are megabytes: a block of few tiles would stream them per block), few
    # enough that the block's V and M stay in L2; then blocks that the units share evenly
    most = max(16, min(64, info.l2_bytes // (8 * 1024)))    # 64 at 512 KiB of L2
    big = ([d for d in divs if 16 <= d * nW <= most] or [d for d in divs if d * nW >= 8]
           or [nH])
    even = [d for d in big if (N * nH // d) % units == 0]
    hb = even[0] if even else next((d for d in big if N * nH // d >= units), big[-1])
    if N * nH // hb >= units and (N * nH // hb) % units:
        # blocks the threads do not share evenly (56x56 F(4,3): 7 of 2 tile rows, 4 + 3 on 2
        # threads): smaller ones of at least 8 tiles that they do (14 of 1 row: 0.570 ->
        # 0.480 ms at 2 threads, the same at 1; Zen 4)
        fit = [d for d in divs if d < hb and d * nW >= 8 and (N * nH // d) % units == 0]
        hb = fit[-1] if fit else hb
    for _ in range(2):
        bt = hb * nW
        blocks = N * nH // hb
        mr, nr = winograd_gemm_tile(bt, O, info)
        oco = 1
        while blocks * oco < units and O % (2 * oco * nr) == 0 and O // (2 * oco) >= 2 * nr:
            oco *= 2
        # still fewer parallel units than threads (a small image in one block, too few
        # output channels to split): blocks of fewer tile rows, as many as the threads want.
        # The 5x5 32x28->64 and 3x3 100x14->200 layers ran on one core at 2 threads: 1.7-2x
        # slower than with such blocks (autotvm's pick, Zen 4)
        fewer = [d for d in divs if N * nH // d >= units]
        if blocks * oco >= units or not fewer:
            break
        hb = max([d for d in fewer if (N * nH // d) % units == 0] or fewer)
    # the transforms are unrolled per vector of channels: one vector keeps the code small
    return {"hb": hb, "block_tiles": bt, "ochunks": oco, "mr": mr, "nr": nr,
            "kc": reduction_chunk(C, chunk_target(info)), "ic": lanes, "oc": lanes, "lanes": lanes}


def _winograd_prefetching_tile(cfg, C, panels, info):
    """The Winograd GEMM's register tile prefetching the weight panel it reads next (U
    [alpha, alpha, O/oc, C, oc] read in place, one reduction chunk: C rows a panel) while
    the other row tiles reuse the current one from cache. The GEMM runs (e, nu) by panels:
    the next panel follows in memory. Where the output channels are split in chunks and V's
    block of one (e, nu) (block_tiles x C) takes at most half the L1d, it runs panels by
    (e, nu) instead (cfg["panel_major"]: _schedule_winograd_tiles), so that the next one,
    the same panel of the next (e, nu), lies `panels` panels on: in (e, nu)-major order a
    chunk's last panel prefetched the other chunk's first, a part of the stream not fetched
    and as much fetched for nothing. Zen 4, ResNet-50, kernels for 2 threads: the 14x14
    F(5,3) layers (V blocks of 9 KB) 5% faster at 1 and at 2 threads, avx512 and avx2; the
    7x7 F(2,3) ones (32 KB, read again for every panel) 7% slower on avx2, the 28x28 F(4,3)
    ones (25 KB) even; without chunks (its V then read once a panel) slower."""
    ahead = C * WINO_PREFETCH_PANELS
    small_v = cfg["block_tiles"] * C * 4 <= info.l1d_bytes // 2
    if cfg["ochunks"] > 1 and panels % cfg["ochunks"] == 0 and small_v:
        cfg["panel_major"] = True
        ahead = C * panels * WINO_PREFETCH_PANELS
    return lambda mr, nr, kc: gemm_fp32(mr, nr, kc, prefetch_rows=ahead)


def winograd_v_root(cfg, C, a, info):
    """Whether the input transform V of a stride-2 Winograd (F(m, 2) on 4C space-to-depth
    channels, alpha = a) runs once, in parallel over its tiles, before the blocks' GEMMs,
    instead of in each parallel block: where the output channels are split in chunks (each
    chunk would redo it: with 4C channels it is the largest transform) or the block's V
    outgrows the L2 (so computing it in the block keeps nothing in cache). Zen 4, ResNet-50's
    128x56x56 -> 128 layer (V 2.5 MB; kernel built for 2 threads, run at 1, thread CPU time,
    medians with other jobs running): 2.10 -> 1.92 ms, the direct kernel 2.19 ms."""
    v_bytes = a * a * cfg["block_tiles"] * C * 4
    return cfg["ochunks"] > 1 or v_bytes > info.l2_bytes


def winograd_gemm_tile(bt, O, info):
    """(mr, nr): the register tile of the Winograd batched GEMM (bt tiles x O output channels,
    the operands read in place, not padded). Where the last columns run under lane masks
    (CpuInfo.masked_gemm_columns: schedule_winograd then tensorizes that tile too) the
    whole vectors it computes are the cost; else the scalar loops of a partial tile are."""
    pad_ok = info.masked_gemm_columns and O % info.lanes != 0
    return register_tile(bt, O, info, pad_ok=pad_ok, row_tail=not pad_ok)


def _winograd_stages(s, st):
    S, sS = _producer(s, st, "winograd_S")
    if S is None:
        return None
    M, sM = _producer(s, sS, "winograd_M")
    V, sV = _producer(s, sM, "winograd_V")
    T, sT = _producer(s, sV, "winograd_T")
    if None in (M, V, T):
        return None
    return sS, sM, sV, sT


@register("winograd_input_rows", VECTOR_CPU_TARGETS)
@register("winograd_input", VECTOR_CPU_TARGETS)
@register("winograd_batch_gemm", VECTOR_CPU_TARGETS)
@register("winograd_output_cols", VECTOR_CPU_TARGETS)
def _scheduled_by_winograd_output(s, st, target):
    """Scheduled together with the output transform (schedule_winograd)."""
    return None


@register("winograd_output", VECTOR_CPU_TARGETS)
@register("winograd_output_NCHWc", VECTOR_CPU_TARGETS)
def schedule_winograd(s, st, target):
    """Winograd F(m,3), NCHW or NCHWc: per block of hb tile rows (parallel), the input
    transform (vectors over input channels, the small transform loops unrolled so the
    constant selects fold), the batched GEMM (tensorized register tile: tiles x output
    channels, per (e, nu)) and the output transform (vectors over output channels, fused
    epilogue), all in cache."""
    from .cpu_half import bf16_winograd_tile, half_vector_info
    stages = _winograd_stages(s, st)
    info = cpu_info(target)
    f32 = _f32(st.op.output(0), *st.op.input_tensors)
    half = None if f32 else half_vector_info(st, target)    # float16 in float16 (NEON)
    bf16 = None
    if stages is not None and stages[1].op.attrs.get("half_operands"):
        bf16 = bf16_winograd_tile(stages[1], target)        # the GEMM on dot_bf16, or widen
        f32 = f32 and bf16 is not None
    if stages is None or not (f32 or half) or not info.has_gemm:
        for x in (stages or ()):
            default_stage(s, x, target)
        return default_stage(s, st, target)
    sS, sM, sV, sT = stages
    info = half or info
    lanes = info.lanes
    nchwc = len(st.op.axis) == 5
    m, nH, nW = (st.op.attrs[k] for k in ("tile_size", "nH", "nW"))
    N = int(st.op.axis[0].dom.extent.value)
    O = int(sM.op.axis[3].dom.extent.value)
    C = int(sV.op.axis[3].dom.extent.value)
    cfg = winograd_config(N, nH, nW, C, O, target, info=info)
    cfg = tuning.winograd_params(
        ("topi.conv2d_winograd_" + ("NCHWc" if nchwc else "nchw"),
         tuning.tensor_arg(st.op.output(0)), C, m), nH, nW, O, target, cfg,
        2.0 * N * O * C // st.op.attrs.get("stride", 1) ** 2
        * st.op.attrs.get("kernel_size", 3) ** 2 * nH * nW * m * m)
    if half:
        cfg["tile_intrin"] = lambda mr, nr, kc: gemm_fp16(mr, nr, kc, "float16")
    elif f32 and not bf16 and O % cfg["nr"] and info.masked_gemm_columns:
        # the last output channels (O not whole tiles: 61 = 48 + 13) under lane masks
        cfg["tile_intrin"] = lambda mr, nr, kc: gemm_fp32(mr, nr, kc, masked_cols=True)
    if bf16:                                # a dot_bf16 tile of each chunk's channels
        chunk = (bf16_winograd_tile(sM, target, O // cfg["ochunks"])
                 if O % cfg["ochunks"] == 0 else None)
        if chunk is None:
            cfg["ochunks"] = 1
        cfg["bf16_tile"] = chunk or bf16
    ic = cfg["ic"]
    packed_oc = sM.op.attrs.get("oc") if sM.op.attrs.get("weight_layout") == "IOo" else None
    if packed_oc:
        if packed_oc % lanes or packed_oc // lanes > 4:
            for x in stages:
                default_stage(s, x, target)
            return default_stage(s, st, target)
        # the GEMM's register tile is one panel of the packed weight wide
        mr = register_tile(cfg["block_tiles"], packed_oc, info,
                           max_vectors=packed_oc // lanes, row_tail=True)[0]
        cfg.update(mr=mr, nr=packed_oc)
        if f32 and not bf16 and cfg["kc"] >= C and WINO_PREFETCH_PANELS:
            cfg["tile_intrin"] = _winograd_prefetching_tile(cfg, C, O // packed_oc, info)
    dp, _ = _pad_of(s, sT)
    if nchwc:
        # the input transform's channels split at the data's channel blocks first: a vector
        # of lanes then reads one block's contiguous channels (c // block and c % block fold
        # to the block loop and the lanes; split only by the lanes, a 32-channel block read
        # 16 lanes at a time was a lane-by-lane gather, a quarter of a 14x14 F(4,3) layer)
        block = _dims(dp if dp is not None else sT.op.input_tensors[0])[4]
        if block % lanes == 0:
            cfg["ic_block"] = block
    if st.op.attrs.get("stride", 1) == 2:
        # the 4C space-to-depth channels split at the C of each phase first (then at the
        # data's blocks, then the lanes), so that a vector reads one phase's contiguous
        # channels of a block
        cfg["phase_block"] = C // 4
        cfg.setdefault("v_root", winograd_v_root(cfg, C, m + 1, info))
    if dp is not None and nchwc and dp.op.attrs.get("pad_value", 0) == 0:
        # the input is in channel blocks already: materialize the padding
        pd = padded_copy(s, sT, dp, _dims(dp), lambda *j: j, lambda *i: i, "winograd_data_pad")
        _schedule_copy(pd, lanes)
    elif dp is not None and dp.op.attrs.get("pad_value", 0) == 0:
        # the padded input in channel blocks: the input transform reads vectors of channels,
        # and no padding condition (channels that are not whole blocks: the last block's
        # tail zero-filled; read in place, the padded transform was partitioned at every
        # border, unrolled: 7 channels, 19x19 F(4,3), a 1.8 MB source gcc took 60 s over)
        shp = _dims(dp)
        tail = shp[1] % ic != 0
        pd = padded_copy(s, sT, dp, (shp[0], cdiv(shp[1], ic), shp[2], shp[3], ic),
                         lambda n, cb, h, w, ci: (n, cb * ic + ci, h, w),
                         lambda n, c, h, w: (n, c // ic, h, w, c % ic), "winograd_data_blocked",
                         select=tail, shape_reach=tail)
        _schedule_copy(pd, lanes)
    # weights in [alpha, alpha, C, O] (output channels contiguous) unless they come that way
    U = next(t for t in sM.op.input_tensors if t.op is not sV.op)
    if sM.op.attrs.get("weight_layout") == "OI" and not bf16:    # bf16: packed as pairs
        a_, _, O_, C_ = (int(d.value) for d in U.shape)
        _, pu = pack_input(s, sM, U, (a_, a_, C_, O_), lambda e, nu, c, o: U[e, nu, o, c],
                           lambda e, nu, o, c: (e, nu, c, o), "winograd_U_IO")
        ax = pu.op.axis
        pu.parallel(pu.fuse(ax[0], ax[1]))
    out, y = _output_and_accumulator(s, st)   # y = A^T S accumulates in registers
    if nchwc:
        n, ob, h, w, oi = out.op.axis
        ho, hi = out.split(h, factor=m)
        wo, wi = out.split(w, factor=m)
        hoo, hoi = out.split(ho, factor=cfg["hb"])
        oio, oii = out.split(oi, factor=lanes)
        if cfg["ochunks"] > 1 and int(ob.dom.extent.value) % cfg["ochunks"] == 0:
            oco, ob = out.split(ob, nparts=cfg["ochunks"])
            out.reorder(n, hoo, oco, hoi, wo, ob, oio, hi, wi, oii)
            par = out.fuse(n, hoo, oco)
        else:
            out.reorder(n, hoo, hoi, wo, ob, oio, hi, wi, oii)
            par = out.fuse(n, hoo)
        attach = oio
        oi = oii
    else:
        n, o, h, w = out.op.axis
        ho, hi = out.split(h, factor=m)
        wo, wi = out.split(w, factor=m)
        hoo, hoi = out.split(ho, factor=cfg["hb"])
        oc = cfg["oc"]
        if cfg["ochunks"] > 1:
            oco, o = out.split(o, nparts=cfg["ochunks"])
            ob, oi = out.split(o, factor=oc)
            out.reorder(n, hoo, oco, hoi, wo, ob, hi, wi, oi)
            par = out.fuse(n, hoo, oco)
        else:
            ob, oi = out.split(o, factor=oc)
            out.reorder(n, hoo, hoi, wo, ob, hi, wi, oi)
            par = out.fuse(n, hoo)
        attach = ob
    out.parallel(par)
    out.unroll(hi)
    out.unroll(wi)
    _vector_tile(out, oi, lanes)
    _schedule_winograd_tiles(s, stages, y, out, par, attach, cfg, lanes)
    return [st, out, sS, sM, sV, sT, y]


def _schedule_winograd_tiles(s, stages, y, out, par, attach, cfg, lanes):
    """The pipeline under the output's loops: the output transform per (tile, vector of
    output channels) at `attach`, the batched GEMM and the input transform per parallel
    block `par`."""
    sS, sM, sV, sT = stages
    ic = cfg["ic"]
    # output transform per (tile, output channel block): S = M A, then A^T S in registers
    y.compute_at(out, attach)
    sS.compute_at(out, attach)
    e1, swi, sp, so = sS.op.axis
    (e2,) = sS.op.reduce_axis
    sS.reorder(sp, e1, swi, e2, so)
    for ax in (e1, swi, e2):
        sS.unroll(ax)
    _vector_tile(sS, so, lanes)
    yax = list(y.op.axis)
    (ye1,) = y.op.reduce_axis
    yh, yw = yax[2], yax[3]
    ych = yax[1:2] + yax[4:]        # the output channel axes (o, or ob and oi)
    y.reorder(*([yax[0]] + ych[:-1] + [yh, yw, ye1, ych[-1]]))
    for ax in (yh, yw, ye1):
        y.unroll(ax)
    _vector_tile(y, ych[-1], lanes)
    # batched GEMM on the block
    sM.compute_at(out, par)
    e, nu, p, o2 = sM.op.axis
    (rc,) = sM.op.reduce_axis
    if "bf16_tile" in cfg:
        from .cpu_half import schedule_bf16_winograd_gemm
        schedule_bf16_winograd_gemm(s, sM, sV, out, par, cfg["bf16_tile"], lanes)
    else:
        tile = {"mr": cfg["mr"], "nr": cfg["nr"], "kc": cfg["kc"], "mb": 0, "nb": 0}
        if "tile_intrin" in cfg:
            tile["tile_intrin"] = cfg["tile_intrin"]
        _gemm_tiles(s, sM, p, o2, rc, tile, blocked=False)
        if cfg.get("panel_major"):          # (_winograd_prefetching_tile)
            jo = sM.leaf_iter_vars[2]       # e, nu, jo, io, ...: one reduction chunk
            sM.reorder(jo, e, nu)
    # input transform on the block: V = T B per (tile, channel block), T = B^T d inside it
    ve, vnu, vp, vc = sV.op.axis
    if cfg.get("v_root"):
        sV.parallel(vp)
    else:
        sV.compute_at(out, par)
    (vr2,) = sV.op.reduce_axis
    outer, rest, extent = [], vc, None
    for f in (cfg.get("phase_block"), cfg.get("ic_block")):     # splits that fold the reads
        if f and f % ic == 0 and f > ic and (extent is None or extent % f == 0) and f != extent:
            vb, rest = sV.split(rest, factor=f)
            outer.append(vb)
            extent = f
    vco, vci = sV.split(rest, factor=ic)
    sV.reorder(vp, *outer, vco, ve, vnu, vr2, vci)
    for ax in (ve, vnu, vr2):
        sV.unroll(ax)
    _vector_tile(sV, vci, lanes)
    sT.compute_at(sV, vco)
    te_, tr2, tp, tc = sT.op.axis
    (tr1,) = sT.op.reduce_axis
    sT.reorder(tp, te_, tr2, tr1, tc)
    for ax in (te_, tr2, tr1):
        sT.unroll(ax)
    _vector_tile(sT, tc, lanes)


# ----------------------------------------------------------------------------- conv2d NCHW

@register("conv2d_nchw", VECTOR_CPU_TARGETS)
def schedule_conv2d_nchw(s, st, target):
    """Direct NCHW convolution computed like the NCHWc one: the schedule reads the (padded)
    input through a channel-blocked copy [N, C/ic, H, W, ic] and the kernel through
    [O/oc, C/ic, R, S, ic, oc] (both stages it adds), keeps a reg_w x oc tile of accumulators
    in registers over the whole reduction and writes the tile to the NCHW output (fused
    epilogue included). groups > 1 keeps the default schedule. An input of few channels (the
    RGB stem) has its own schedule (cpu_conv_few_channels.py), and so has a 1x1 convolution
    without padding (a GEMM over the flattened image, cpu_conv_1x1.py)."""
    from . import cpu_conv_1x1 as one, cpu_conv_few_channels as few
    if not _const_shape(st.op.output(0)):
        return _schedule_symbolic_conv_nchw(s, st, target)
    if few.applies(s, st, target):
        return few.schedule_conv2d_nchw_few_channels(s, st, target)
    if one.applies(s, st, target):
        return one.schedule_conv2d_nchw_1x1(s, st, target)
    ins = st.op.input_tensors
    info = cpu_info(target)
    if len(ins) != 2 or not _f32(st.op.output(0), *ins):
        return default_stage(s, st, target)
    dp, kernel = ins
    N, O, P, Q = (int(a.dom.extent.value) for a in st.op.axis)
    Ok, Cg, R, S_ = _dims(kernel)
    pad_t, data = _pad_of(s, st)
    C = _dims(data if pad_t is not None else dp)[1]
    groups = C // Cg
    if groups > 1:
        return _schedule_grouped_conv_nchw(s, st, target, info, C // groups, O // groups)
    ic, oc = conv_blocks(C, O, target, Q, P)
    workload = conv_workload("topi.conv2d_nchw", st, data if pad_t is not None else dp, kernel,
                             pad_t)
    pad_oc = padded_channel_block(O, target, Q)
    if pad_oc is not None:
        # output channels padded to whole vectors: the tile's knobs (tile_ow, parallel)
        reg_w, parallel = tuning.conv_nchw_tile(
            workload, N, C, O, P, Q, R * S_, target,
            conv_NCHWc_config(P, Q, pad_oc, target)["reg_w"])
        rows, reg_w = _row_group(N, C, O, P, Q, R * S_, ic, pad_oc, reg_w, parallel, info,
                                 _strided(st))
        return _conv_nchw_blocked(s, st, info, ic, pad_oc, reg_w, parallel, workload, target,
                                  kernel, rows)
    ic, oc, reg_w, parallel = tuning.conv_nchw_params(
        workload, N, C, O, P, Q, R * S_, target, (ic, oc),
        conv_NCHWc_config(P, Q, oc, target)["reg_w"])
    rows, reg_w = _row_group(N, C, O, P, Q, R * S_, ic, oc, reg_w, parallel, info,
                             _strided(st))
    return _conv_nchw_blocked(s, st, info, ic, oc, reg_w, parallel, workload, target, kernel,
                              rows)


def _schedule_grouped_conv_nchw(s, st, target, info, Cg, Og):
    """A grouped convolution (Cg input and Og output channels a group): the channel-block
    route where a register tile of one or two vectors of output channels (oc) divides Og and
    an input channel block (ic) divides Cg (in the target's vectors, or on AVX-512 its
    8-lane ones: groups of 8), each block of output channels reading the input channel
    blocks of its group only; else the output rows are the vectors (the few-channel
    schedule: a tile of ot channels of one group x vectors of columns, each input vector
    reused by the tile's channels)."""
    from . import cpu_conv_few_channels as few
    N, O, P, Q = (int(a.dom.extent.value) for a in st.op.axis)
    kernel = st.op.input_tensors[1]
    RS = _dims(kernel)[2] * _dims(kernel)[3]
    for vec in (info, info.narrow()):
        if vec is None:
            continue
        ic, oc = conv_blocks(Cg, Og, target, Q, P, info=vec)
        if Og % oc == 0 and Cg % ic == 0 and oc % vec.lanes == 0:
            reg_w = conv_NCHWc_config(P, Q, oc, info=vec)["reg_w"]
            rows, reg_w = _row_group(N, Cg, O, P, Q, RS, ic, oc, reg_w, "rows", vec,
                                     _strided(st))
            return _conv_nchw_blocked(s, st, vec, ic, oc, reg_w, "rows", None, target, kernel,
                                      rows)
    if Q >= few.few_channels_vectors(Q, target).lanes:
        return few.schedule_conv2d_nchw_few_channels(s, st, target)
    return default_stage(s, st, target)


def _schedule_symbolic_conv_nchw(s, st, target):
    """conv2d_nchw of a symbolic batch / image size, channels and kernel constant: the
    channel-block route of the concrete schedule (its register tile chosen for a row of
    SYMBOLIC_WIDTH columns, the last tile of a row guarded; symbolic rows: parallel over
    (batch, channel block)). Otherwise the plain schedule (_schedule_symbolic_nchw)."""
    ins = st.op.input_tensors
    if len(ins) != 2 or not _f32(st.op.output(0), *ins) or not _const_shape(ins[1]):
        return _schedule_symbolic_nchw(s, st, target)
    dp, kernel = ins
    O, Cg, R, S_ = _dims(kernel)
    pad_t, data = _pad_of(s, st)
    C = _dims_or_vars(data if pad_t is not None else dp)[1]
    if C != Cg:                         # grouped, or symbolic channels
        return _schedule_symbolic_nchw(s, st, target)
    P, Q = (d if isinstance(d, int) else None for d in _dims_or_vars(st.op.output(0))[2:])
    ic, oc = conv_blocks(C, O, target, Q or SYMBOLIC_WIDTH)
    if C % ic or O % oc:
        return _schedule_symbolic_nchw(s, st, target)
    reg_w = conv_NCHWc_config(P, Q or SYMBOLIC_WIDTH, oc, target)["reg_w"]
    return _conv_nchw_blocked(s, st, cpu_info(target), ic, oc, reg_w,
                              "rows" if P is not None else "blocks", None, target, kernel)


@register("conv2d_nchw_packed", VECTOR_CPU_TARGETS)
def schedule_conv2d_nchw_packed(s, st, target):
    """conv2d_nchw_packed: schedule_conv2d_nchw's channel-block route on a kernel that comes
    in its blocks (packed once): only the input is copied into channel blocks per call."""
    ins = st.op.input_tensors
    info = cpu_info(target)
    if len(ins) != 2 or not _f32(st.op.output(0), *ins):
        return default_stage(s, st, target)
    dp, kernel = ins
    N, O, P, Q = (int(a.dom.extent.value) for a in st.op.axis)
    _, Cb, R, S_, ic, oc = _dims(kernel)
    pad_t, data = _pad_of(s, st)
    src = data if pad_t is not None else dp
    reg_w = conv_NCHWc_config(P, Q, oc, target)["reg_w"]
    # the weight packed in the blocks of a conv2d_nchw record (or of the template measuring
    # one): that workload's knobs, so its record serves the network's packed layer
    raw = conv_workload("topi.conv2d_nchw", st, src, kernel, pad_t)
    raw = raw[:2] + (("TENSOR", (O, Cb * ic, R, S_), kernel.dtype),) + raw[3:]
    if tuning.conv_nchw_blocks_known(raw, target, (ic, oc)):
        reg_w, parallel = tuning.conv_nchw_tile(raw, N, Cb * ic, O, P, Q, R * S_, target, reg_w)
        rows, reg_w = _row_group(N, Cb * ic, O, P, Q, R * S_, ic, oc, reg_w, parallel, info,
                                 _strided(st))
        return _conv_nchw_blocked(s, st, info, ic, oc, reg_w, parallel, raw, target, rows=rows)
    workload = conv_workload("topi.conv2d_nchw_packed", st, src, kernel, pad_t)
    reg_w, parallel = tuning.conv_nchwc_params(
        workload, Q, target, reg_w, 2.0 * N * O * P * Q * Cb * ic * R * S_)
    rows, reg_w = _row_group(N, Cb * ic, O, P, Q, R * S_, ic, oc, reg_w, parallel, info,
                             _strided(st))
    return _conv_nchw_blocked(s, st, info, ic, oc, reg_w, parallel, workload, target,
                              rows=rows)


def _strided(st):
    return max(int(v) for v in st.op.attrs.get("strides", (1, 1))) > 1


def _row_group(N, C, O, P, Q, RS, ic, oc, reg_w, parallel, info, strided=False):
    """(rows, reg_w) for _conv_nchw_blocked: rows 0 keeps the register tile of one row
    that takes the whole reduction; else tiles over groups of `rows` output rows
    (conv_row_group) with the reduction in chunks (_row_group_tiles), where the heuristic
    tile runs (a tuned tile width or "blocks" parallelism keeps the tile of one row) and
    either rows > 1 or, strided, a channel block's weights (C x R x S x oc floats) do not
    fit half the L1d (chunks of one row: 6-10% faster at 128 x 56 x 56 3x3/2, whose tile
    reads twice the input columns; 1-4% slower at stride 1, 3x3 and 5x5 over 28 columns,
    Zen 3)."""
    if parallel != "rows" or oc % info.lanes or \
            reg_w != conv_NCHWc_config(P, Q, oc, info=info)["reg_w"]:
        return 0, reg_w
    rows, w = conv_row_group(N, cdiv(O, oc), P, Q, oc // info.lanes, info)
    if rows == 1 and (not strided or C * RS * oc * 4 <= info.l1d_bytes // 2):
        return 0, reg_w
    return rows, w


def _conv_nchw_blocked(s, st, info, ic, oc, reg_w, parallel, workload, target, kernel=None,
                       rows=0):
    """The channel-block route of conv2d_nchw (and conv2d_nchw_packed): the (padded) input
    copied into channel blocks [N, C/ic, H, W, ic], the kernel read in blocks
    [O/oc, C/ic, R, S, ic, oc] (an OIHW `kernel` is packed into them per call), a reg_w x oc
    register tile kept over the whole reduction and written to the NCHW output (fused
    epilogue included); workload: the tuning knobs' (unroll_kw). rows > 0 (_row_group): the
    tiles run over the pixels of `rows` output rows as one run, the reduction in chunks
    (_row_group_tiles), the input copied per band of output rows where copy_band_rows
    gives bands (_band_copy; a select of the padding, one store per element)."""
    lanes = info.lanes
    dp = st.op.input_tensors[0]
    pad_t, data = _pad_of(s, st)
    C = _dims_or_vars(data if pad_t is not None else dp)[1]
    band, parts = _copy_band(st, rows, oc, info)
    if pad_t is not None and pad_t.op.attrs.get("pad_value", 0) == 0:
        shp = _dims_or_vars(pad_t)
        pd = padded_copy(s, st, pad_t, (shp[0], C // ic, shp[2], shp[3], ic),
                         lambda n, cb, h, w, ci: (n, cb * ic + ci, h, w),
                         lambda n, c, h, w: (n, c // ic, h, w, c % ic), "data_blocked",
                         select=bool(band))
    else:
        src = pad_t if pad_t is not None else dp
        shp = _dims_or_vars(src)
        _, pd = pack_input(s, st, src, (shp[0], C // ic, shp[2], shp[3], ic),
                           lambda n, cb, h, w, ci: src[n, cb * ic + ci, h, w],
                           lambda n, c, h, w: (n, c // ic, h, w, c % ic), "data_blocked")
    if not band:
        _schedule_copy(pd, lanes)
    Op = None
    if kernel is not None:
        O, C, R, S_ = _dims(kernel)
        Op = cdiv(O, oc) * oc

        def fpack(ob, cb, r, q, i, o):
            k = kernel[ob * oc + o, cb * ic + i, r, q]
            # output channels padded to whole blocks (padded_channel_block): zero weights
            return k if Op == O else if_then_else(ob * oc + o < O, k, Const(0.0, kernel.dtype))
        _, pk = pack_input(s, st, kernel, (Op // oc, C // ic, R, S_, ic, oc), fpack,
                           lambda o, c, r, q: (o // oc, c // ic, r, q, c % ic, o % oc),
                           "kernel_blocked")
        _schedule_copy(pk, lanes)
    out, conv = _output_and_accumulator(s, st)
    if Op is not None and Op > O:
        pad_axis(s, conv, 1, Op)        # whole vectors of accumulators, stores partial
    unroll_kw = tuning.conv_nchw_unroll_kw(workload, target) if workload is not None else False
    if rows:
        par = _row_group_tiles(out, conv, ic, oc, rows, reg_w, info, unroll_kw, band, parts)
        if band:
            _band_copy(pd, out, par, lanes)
        _without_predictive_commoning(out, conv)
        return [st, out]
    n_, o_, y_, x_ = out.op.axis
    ob, oi = out.split(o_, factor=oc)
    xo, xi = out.split(x_, factor=reg_w)
    out.reorder(n_, ob, y_, xo, xi, oi)
    out.unroll(xi)
    _vector_tile(out, oi, lanes)
    cn, co, cy, cx = conv.op.axis
    rc, ry, rx = conv.op.reduce_axis
    rco, rci = conv.split(rc, factor=ic)
    par = [n_, ob, y_] if parallel == "rows" else [n_, ob]
    if not isinstance(out.extent_of(n_), Const):
        # a symbolic batch: its loop outside the parallel one (fused, its bound is a guard
        # in the tile that keeps the accumulators out of registers)
        par = par[1:]
    _register_tile(s, conv, out, info, xo, cx, co,
                   [cn, cy, rco, ry, rci, rx] if unroll_kw else [cn, cy, rco, ry, rx, rci], par)
    if unroll_kw:
        conv.unroll(rx)
    _without_predictive_commoning(out, conv)
    return [st, out]


def _without_predictive_commoning(out, conv):
    """The kernel compiled without GCC's predictive commoning (pragma
    no_predictive_commoning on the stage's outermost loop): over a tile of reg_w output
    columns GCC carried the input values that the next kernel column reads again from one
    iteration of the column loop to the next, and spilled them: 37x57x57 -> 83 3x3/2 (29
    accumulators) 0.955 -> 0.52 ms (Zen 4, avx512, 1 thread). For the whole kernel it slowed
    other operators (a depthwise 3x3/2, a stride-2 Winograd), so only these tiles ask. On
    the output's outermost loop and the tile's kernel-row loop: a loop of one iteration
    (a single parallel block) disappears with its pragmas, the row loop stays (1x1: the
    parallel one)."""
    out.pragma(out.leaf_iter_vars[0], "no_predictive_commoning")
    ry = conv.op.reduce_axis[1]
    if ry in conv.leaf_iter_vars:
        conv.pragma(ry, "no_predictive_commoning")


def row_group_chunk(Cb, ic, R, S, oc, info, budget=None):
    """Input channel blocks (of Cb) per reduction chunk of _row_group_tiles: the chunk's
    weights (chunk x ic x R x S x oc floats) in `budget` bytes (default half the L1d), a
    divisor of Cb."""
    budget = budget or info.l1d_bytes // 2
    most = max(1, budget // (ic * R * S * oc * 4))
    return max(d for d in range(1, min(Cb, most) + 1) if Cb % d == 0)


def _copy_band(st, rows, oc, info):
    """copy_band_rows for the convolution stage st of output channel blocks of oc ((0, 1)
    where rows is 0 or the shape symbolic; the threads: parallel_units)."""
    if not rows or not _const_shape(st.op.output(0)):
        return 0, 1
    N, O, P, _ = (int(a.dom.extent.value) for a in st.op.axis)
    _, C, _, W = _dims(st.op.input_tensors[0])
    R = int(st.op.reduce_axis[1].dom.extent.value)
    sh = int(st.op.attrs.get("strides", (1, 1))[0])
    dh = int(st.op.attrs.get("dilation", (1, 1))[0])
    return copy_band_rows(N, P, C, W, R, sh, dh, rows, parallel_units(), info, cdiv(O, oc))


def copy_band_rows(N, P, C, W, R, stride, dilation, rows, threads, info, channel_blocks=None):
    """(band, parts): output rows per band of _band_copy (the channel-blocked input copied
    per band of output rows, inside the band's parallel iteration), and the parts the
    band's output channel blocks (channel_blocks of them) are split into, each its own
    parallel iteration copying the band again; band 0: the input copied once, in a
    parallel loop of its own. The most rows (whole groups of `rows`, dividing P) whose band
    of the copy (the input rows it reads, halo included, W padded columns, C channels) fits
    half the L2 and whose N * P / band bands are a multiple of the threads (parts 1), else
    the same with the bands x parts a multiple, for the fewest parts (at most
    COPY_BAND_PARTS, dividing channel_blocks). A copy made once, parallel over channel
    blocks, left each band of the convolution (parallel over channel blocks x rows) reading
    lines the other core had just written. Zen 4, 2 threads (first quartiles of interleaved
    rounds): 128x56x56 -> 128 3x3/2 1.14 -> 1.07 ms (avx512, 4 bands of 7 rows; 14 rows the
    same, 7 bands of 4 rows 1.29), avx2 1.17 -> 1.07; in 2 parts (an odd number of bands):
    avx2 256x28x28 -> 256 3x3/2 1.17 -> 1.11, 256x14x14 3x3 1.06 -> 1.04, 512x14x14 3x3/2
    1.16 -> 1.12, 512x7x7 3x3 1.10 -> 1.10, avx512 512x14x14 3x3/2 (best rounds) 1.035 ->
    1.011; neutral at 1 thread (avx2: 2.09-2.51 ms, -2.6% to +2%)."""
    fits = [b for b in range(P, 0, -1) if P % b == 0 and b % rows == 0 and
            ((b - 1) * stride + (R - 1) * dilation + 1) * W * C * 4 <= info.l2_bytes // 2]
    for parts in range(1, COPY_BAND_PARTS + 1):
        if channel_blocks is not None and channel_blocks % parts:
            continue
        for b in fits:
            if (N * P // b * parts) % threads == 0:
                return b, parts
    return 0, 1


#: the most parts the output channel blocks of a band are split into (copy_band_rows), each
#: copying the band's input again
COPY_BAND_PARTS = 2


def _band_copy(pd, out, par, lanes):
    """The channel-blocked input copy made per band of output rows, inside the band's
    parallel iteration (its input rows, the halo included), by the thread that computes the
    band."""
    pd.compute_at(out, par)
    _vector_tile(pd, pd.op.axis[-1], lanes)


def _row_group_tiles(out, conv, ic, oc, rows, reg_w, info, unroll_kw, band=0, parts=1):
    """Tiles over a group of output rows (conv_row_group): the accumulating stage kept as
    [.., rows, Q, oc] (channels innermost: transform_layout) in a local buffer per (batch,
    channel block, group of rows; the parallel loop: over those, or over bands of `band`
    rows, _group_tiles), its rows x Q pixels fused and split into tiles of reg_w
    pixels. The reduction runs in chunks of input channel blocks (row_group_chunk), each over
    every tile of the group: the chunk's weights stay in the L1d for all of them (a tile
    that took the whole reduction streamed the channel block's weights, 73-295 KB at
    ResNet-50's 3x3/2 layers, from the L2 per tile); a tile's accumulators stay in registers
    over its chunk (GCC promotes the unrolled tile's vectors: a load and a store per chunk).
    The group is then written to the NCHW output."""
    conv_axes = conv.transform_layout(lambda n, o, y, x: [n, o // oc, y, x, o % oc])
    n_, o_, y_, x_ = out.op.axis
    ob, oi = out.split(o_, factor=oc)
    return _group_tiles(out, conv, (n_, ob, y_, x_, oi), conv_axes, ic, oc, rows, reg_w, info,
                        unroll_kw, band=band, parts=parts)


def _group_tiles(out, conv, out_axes, conv_axes, ic, oc, rows, reg_w, info, unroll_kw,
                 chunk_bytes=None, band=0, parts=1):
    """The tiles over groups of `rows` output rows shared by the NCHW (_row_group_tiles) and
    NCHWc (_nchwc_register_tile) convolutions: out_axes (n, channel block, y, x, channel in the
    block) of the output / fused epilogue, conv_axes the same of the accumulating stage
    (channel blocks innermost); chunk_bytes: the reduction chunk's weights (row_group_chunk's
    budget); band > 0 (copy_band_rows): parallel over bands of `band` output rows (x `parts`
    of the channel blocks), each band's channel blocks and groups of rows inside it.
    Returns the parallel loop."""
    lanes = info.lanes
    cn, cob, cy, cx, co = conv_axes
    n_, ob, y_, x_, oi = out_axes
    outer = [n_]
    if band:
        yb, y_ = out.split(y_, factor=band)
        outer.append(yb)
        if parts > 1:
            obp, ob = out.split(ob, nparts=parts)
            outer.append(obp)
    yo, yi = out.split(y_, factor=rows)
    out.reorder(*outer, ob, yo, yi, x_, oi)
    _vector_tile(out, oi, lanes)
    par = out.fuse(*outer) if band else out.fuse(n_, ob, yo)
    out.parallel(par)
    conv.compute_at(out, yo if band else par)
    fo, fi = conv.split(conv.fuse(cy, cx), factor=reg_w)
    rc, ry, rx = conv.op.reduce_axis
    rco, rci = conv.split(rc, factor=ic)
    chunk = row_group_chunk(conv.extent_of(rco).value, ic, int(ry.dom.extent.value),
                            int(rx.dom.extent.value), oc, info, chunk_bytes)
    rcc, rco = conv.split(rco, factor=chunk)
    conv.reorder(*([cn, cob, rcc, fo] + ([rco, ry, rci, rx] if unroll_kw else [rco, ry, rx, rci])
                   + [fi, co]))
    if unroll_kw:
        conv.unroll(rx)
    conv.unroll(fi)
    _vector_tile(conv, co, lanes)
    return par
