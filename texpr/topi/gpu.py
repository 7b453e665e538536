"""GPU schedules for "cuda" and "opencl" (the same schedule serves both: one GPU lowering).

- dense with a few rows and a long reduction (GEMV): a block per output element, a
  cross-thread reduction over K.
- dense / batch_matmul: the classic shared-memory tiled matmul. A block computes a bm x bn
  tile of the output with (bm/tm) x (bn/tn) threads, each thread a tm x tn register tile
  (local memory); for each bk-slice of the reduction the block's threads copy the A and B
  tiles into shared memory together, then every thread reads them from there.
- conv2d_nchw (direct): a block computes 32 output channels x a 4 x 8 spatial tile with
  8 x 32 threads (4 channels each); for every 8 input channels the block stages the input
  window (with its halo) and the weights in shared memory. Grouped convolutions: one thread
  per output element.
- depthwise, pool2d: one thread per output element, the reduction in the thread (the padding
  stage is inlined).
- conv2d_winograd_nchw: the transforms one thread per element, the batched GEMM tiled as
  above per Winograd point.
- softmax: one thread per row (max and sum per thread, exp recomputed); for rows of 256 or
  more, a block per row with cross-thread reductions.
- sparse_lengths_sum and the other poolings: a block per bag, threads along the row.
- anything else: the default GPU schedule, its data axes fused and split over blocks of
  DEFAULT_THREADS threads.
"""
from ..lang.expr import Const
from ..lang.tensor import ComputeOp, ExclusiveScanOp, thread_axis
from . import cpu_tuning as tuning
from .schedules import register

GPU_TARGETS = ("cuda", "opencl")
DEFAULT_THREADS = 128


def _bind(st, iv, tag):
    st.bind(iv, thread_axis(tag))


def _divisor_at_most(n, cap):
    """The largest power of two <= cap dividing n (1 if n is symbolic or odd)."""
    if not isinstance(n, Const):
        return 1
    d = 1
    while d * 2 <= cap and n.value % (d * 2) == 0:
        d *= 2
    return d


def matmul_config(M, N, K):
    """(bm, bn, bk, tm, tn): block tile, reduction slice, per-thread register tile.

    128x128 blocks of 16x16 threads (8x8 each) for large operands, 64x64 (4x4 each) for
    medium ones, smaller ones for small or symbolic shapes (the tails are guarded, so any
    config is correct). Chosen by reasoning, not tuned on a GPU (none was available)."""
    if all(isinstance(x, Const) and x.value >= 1024 for x in (M, N)):
        return 128, 128, 8, 8, 8      # 256 threads, 64 accumulators each, 8.4 KB shared
    if all(isinstance(x, Const) and x.value >= 64 for x in (M, N)):
        return 64, 64, 8, 4, 4
    return 16, 16, 8, 1, 1


def schedule_matmul_tiled(s, out, red, a, b, cfg, batch=False):
    """Shared-memory tiled matmul.

    out: the output tensor (the matmul itself or its elementwise epilogue), axes ([batch,] i, j);
    red: the reduction tensor, computed per thread into local memory; a, b: the two operands
    read by red (a indexed by i, b by j). cfg = (bm, bn, bk, tm, tn).

    Memory layout, for a real GPU: the tiles are staged k-major in shared memory ([k, rows],
    row stride padded to 4 mod 32 words: the cooperative stores hit 32 different banks), each
    thread copies its tm (tn) values of the current k into registers (float4 loads where tm is
    a multiple of 4), then does tm x tn FMAs from registers."""
    bm, bn, bk, tm, tn = cfg
    O = s[out]
    if red is out:
        red = s.cache_write(out, "local")
    R = s[red]
    k = R.op.reduce_axis[0].var
    AA = _stage_k_major(s, a, R, k)
    BB = _stage_k_major(s, b, R, k)
    AL = s.cache_read(AA, "local", [R])
    BL = s.cache_read(BB, "local", [R])
    axes = list(O.op.axis)
    i, j = axes[-2:]
    by, ii = O.split(i, factor=bm)
    bx, jj = O.split(j, factor=bn)
    ty, mi = O.split(ii, factor=tm)
    tx, ni = O.split(jj, factor=tn)
    O.reorder(*(axes[:-2] + [by, bx, ty, tx, mi, ni]))
    if batch:
        _bind(O, O.fuse(*axes[:-2]) if len(axes) > 3 else axes[0], "blockIdx.z")
    _bind(O, by, "blockIdx.y")
    _bind(O, bx, "blockIdx.x")
    _bind(O, ty, "threadIdx.y")
    _bind(O, tx, "threadIdx.x")
    R.compute_at(O, tx)
    ri, rj = R.op.axis[-2:]
    ko, ki = R.split(R.op.reduce_axis[0], factor=bk)
    R.reorder(ko, ki, ri, rj)
    if tm > 1:
        R.unroll(ri)
    if tn > 1:
        R.unroll(rj)
    nty, ntx = bm // tm, bn // tn
    for L, n in ((AL, tm), (BL, tn)):   # (the register copies first: they read the tiles)
        register_fetch(s, L, R, ki, n)
    for X in (AA, BB):
        cooperative_fetch(s, X, R, ko, nty, ntx, k_major=True)
    return [AA, BB, AL, BL]


def _stage_k_major(s, t, R, k):
    """t staged into shared memory with its reduction dimension second to last."""
    from ..lang.expr import TensorLoad
    from ..lang.visitor import free_vars, walk
    from ..schedule.cache import cache_read_permuted
    n = len(t.shape)
    for nd in walk(R.op.bodies[0]):
        if isinstance(nd, TensorLoad) and nd.tensor.op is t.op:
            if n >= 2 and k in free_vars(nd.indices[n - 1]):
                perm = list(range(n - 2)) + [n - 1, n - 2]
                return cache_read_permuted(s, t, "shared", [R.op.output(0)], perm)
            break
    return s.cache_read(t, "shared", [R.op.output(0)])


def cooperative_fetch(s, t, consumer_stage, at, nty, ntx, k_major=False):
    """Compute shared tensor t at loop `at` of the consumer, its elements spread over the
    block's nty x ntx threads. k_major: t is [..., k, rows]: consecutive threads copy along
    k (consecutive addresses of the source rows) and the rows are padded (see above)."""
    X = s[t]
    X.compute_at(consumer_stage, at)
    axes = list(X.op.axis)
    if k_major and len(axes) >= 2:
        X.storage_align(axes[-2], 32, 4)
        X.reorder(*(axes[:-2] + [axes[-1], axes[-2]]))
        axes = axes[:-2] + [axes[-1], axes[-2]]
    fused = X.fuse(*axes)
    rest, tx = X.split(fused, factor=ntx)
    rest, ty = X.split(rest, factor=nty)
    X.reorder(rest, ty, tx)
    _bind(X, ty, "threadIdx.y")
    _bind(X, tx, "threadIdx.x")


def register_fetch(s, t, consumer_stage, at, length):
    """Local copy of the `length` values of a shared tile a thread uses at loop `at`
    (vectorized by 4 where the length allows, else unrolled)."""
    L = s[t]
    L.compute_at(consumer_stage, at)
    inner = L.op.axis[-1]
    if length % 4 == 0:
        o, v = L.split(inner, factor=4)
        L.unroll(o)
        L.vectorize(v)
    else:
        L.unroll(inner)


def _operands(st):
    """The two tensors a matmul-like reduction reads (in body order)."""
    return [t for t in st.op.input_tensors]


def _output_of(s, st):
    """The stage's elementwise output consumer (an epilogue, through inlined elementwise
    stages), or the stage itself."""
    cons = s.consumers(st)
    if len(cons) == 1:
        o = cons[0]
        if o.is_output and isinstance(o.op, ComputeOp) and o is not st and \
                not o.op.reduce_axis and len(o.op.axis) == len(st.op.axis):
            return o
    return st


@register("dense", GPU_TARGETS)
def schedule_dense(s, st, target):
    """The tiled matmul; for a few rows over a long reduction (batch-1 inference, a GEMV),
    a block per output element with a cross-thread reduction over K instead."""
    M, K = st.op.axis[0].dom.extent, st.op.reduce_axis[0].dom.extent
    if isinstance(M, Const) and M.value <= 4 and isinstance(K, Const) and K.value >= 256:
        row_reduce_cross_thread(s, st.op.output(0))
        return None          # an epilogue gets its own (per-element) kernel
    out_st = _output_of(s, st)
    data, weight = _operands(st)[:2]
    M, N = st.op.axis[0].dom.extent, st.op.axis[1].dom.extent
    K = st.op.reduce_axis[0].dom.extent
    red = st.op.output(0)
    out = out_st.op.output(0) if out_st is not st else red
    schedule_matmul_tiled(s, out, red, data, weight, _tuned_matmul(
        "topi.dense", (data, weight), M, N, K, 1, target))
    return [out_st]


def _tuned_matmul(name, operands, M, N, K, batches, target):
    """matmul_config, or the tuning record's tile (cpu_tuning.gpu_matmul_params) for
    constant shapes."""
    cfg = matmul_config(M, N, K)
    if not all(isinstance(d, Const) for t in operands for d in t.shape):
        return cfg
    workload = (name,) + tuple(tuning.tensor_arg(t) for t in operands)
    return tuning.gpu_matmul_params(workload, M, N, K, batches, cfg, target)


@register("batch_matmul", GPU_TARGETS)
def schedule_batch_matmul(s, st, target):
    x, y = _operands(st)[:2]
    M, N = st.op.axis[1].dom.extent, st.op.axis[2].dom.extent
    K = st.op.reduce_axis[0].dom.extent
    t = st.op.output(0)
    batches = 1
    for a in st.op.axis[:-2]:
        batches *= a.dom.extent.value if isinstance(a.dom.extent, Const) else 1
    schedule_matmul_tiled(s, t, t, x, y, _tuned_matmul("topi.batch_matmul", (x, y), M, N, K,
                                                       batches, target), batch=True)


@register("winograd_batch_gemm", GPU_TARGETS)
def schedule_winograd_gemm(s, st, target):
    """The Winograd batched GEMM M[e, nu, tile, o] = sum_c V[e, nu, tile, c] U[...]: the tiled
    matmul per (e, nu) (shared tiles of V and U; bound inference finds their regions whatever
    the weight layout)."""
    V, U = _operands(st)[:2]
    P, O = st.op.axis[2].dom.extent, st.op.axis[3].dom.extent
    C = st.op.reduce_axis[0].dom.extent
    t = st.op.output(0)
    schedule_matmul_tiled(s, t, t, V, U, matmul_config(P, O, C), batch=True)


def schedule_per_element(s, st, target, threads=DEFAULT_THREADS):
    """Data axes fused and spread over blocks of `threads` threads; reductions in the thread."""
    axes = [iv for iv in st.leaf_iter_vars if iv.kind != "reduce"]
    if not axes:
        return
    fused = st.fuse(*axes) if len(axes) > 1 else axes[0]
    bx, tx = st.split(fused, factor=threads)
    _bind(st, bx, "blockIdx.x")
    _bind(st, tx, "threadIdx.x")


for _tag in ("elemwise", "sparse_lengths_check", "sparse_pool_out"):
    register(_tag, GPU_TARGETS)(schedule_per_element)


@register("depthwise_conv2d_nchw", GPU_TARGETS)
@register("pool", GPU_TARGETS)
def schedule_per_element_tuned(s, st, target):
    """One thread per element, the threads per block a tuning knob (depthwise, pooling)."""
    from .cpu import _pad_of, conv_workload
    if not all(isinstance(a.dom.extent, Const) for a in st.op.axis + st.op.reduce_axis):
        return schedule_per_element(s, st, target)
    n = 1
    for a in st.op.axis + st.op.reduce_axis:
        n *= a.dom.extent.value
    if st.op.tag == "pool":
        workload = tuning.pool_workload(st)
    else:
        pad_t, data = _pad_of(s, st)
        src = data if pad_t is not None else st.op.input_tensors[0]
        kernel = st.op.input_tensors[1]
        if not all(isinstance(d, Const) for t in (src, kernel) for d in t.shape):
            return schedule_per_element(s, st, target)
        workload = conv_workload("topi.depthwise_conv2d_nchw", st, src, kernel, pad_t)
    threads = tuning.gpu_threads_params(workload, DEFAULT_THREADS, 2.0 * n, target)
    return schedule_per_element(s, st, target, threads)


CONV_TILE = dict(f=32, ft=4, y=4, x=8, rc=8)


@register("conv2d_nchw", GPU_TARGETS)
def schedule_conv2d_nchw(s, st, target):
    """Direct convolution through shared-memory tiles (see the module docstring)."""
    out_st = _output_of(s, st)
    data, kernel = _operands(st)[:2]
    if len(st.op.reduce_axis) != 3 or _grouped(st, kernel):
        return schedule_per_element(s, st, target)
    t = _tuned_conv_tile(s, st, data, kernel, target)
    red = st.op.output(0)
    out = out_st.op.output(0) if out_st is not st else red
    O = s[out]
    if red is out:
        red = s.cache_write(out, "local")
    R = s[red]
    AA = s.cache_read(data, "shared", [red])
    WW = s.cache_read(kernel, "shared", [red])
    n, f, y, x = O.op.axis
    bf, fi = O.split(f, factor=t["f"])
    tf, fr = O.split(fi, factor=t["ft"])
    by, yi = O.split(y, factor=t["y"])
    bx, xi = O.split(x, factor=t["x"])
    O.reorder(n, bf, by, bx, tf, yi, xi, fr)
    txy = O.fuse(yi, xi)
    bz = O.fuse(n, bf)
    _bind(O, bz, "blockIdx.z")
    _bind(O, by, "blockIdx.y")
    _bind(O, bx, "blockIdx.x")
    _bind(O, tf, "threadIdx.y")
    _bind(O, txy, "threadIdx.x")
    R.compute_at(O, txy)
    rc, ry, rx = R.op.reduce_axis
    rco, rci = R.split(rc, factor=_conv_rc_tile(R, t))
    R.reorder(rco, rci, ry, rx, *R.op.axis)
    R.unroll(R.op.axis[1])
    nty, ntx = t["f"] // t["ft"], t["y"] * t["x"]
    for X in (AA, WW):
        cooperative_fetch(s, X, R, rco, nty, ntx)
    return [out_st] if out_st is not st else None


def _tuned_conv_tile(s, st, data, kernel, target):
    """CONV_TILE, or the tuning record's tile (cpu_tuning.gpu_conv_params)."""
    from .cpu import _dims, _pad_of, conv_workload
    pad_t, src = _pad_of(s, st)
    src = src if pad_t is not None else data
    if not all(isinstance(d, Const) for t in (src, kernel) for d in t.shape) or \
            not all(isinstance(a.dom.extent, Const) for a in st.op.axis):
        return CONV_TILE
    N, O, P, Q = (a.dom.extent.value for a in st.op.axis)
    _, C, R, S = _dims(kernel)
    return tuning.gpu_conv_params(conv_workload("topi.conv2d_nchw", st, src, kernel, pad_t),
                                  CONV_TILE, 2.0 * N * O * P * Q * C * R * S, target)


def _conv_rc_tile(st, t, budget=40 * 1024):
    """Input channels per shared tile: up to t["rc"], fewer where the window and the
    weights would not fit in `budget` bytes (a 7x7 kernel)."""
    _, ry, rx = st.op.reduce_axis
    R, S = ry.dom.extent.value, rx.dom.extent.value
    stride = 2 if R > 3 else 1          # a bound: the window of stride 2 is the larger one
    per_c = t["f"] * R * S + (t["y"] * stride + R) * (t["x"] * stride + S)
    rc = t["rc"]
    while rc > 1 and rc * per_c * 4 > budget:
        rc //= 2
    return rc


def _grouped(st, kernel):
    """Grouped convolution: the kernel's input channels are fewer than the data's."""
    from ..lower.analysis.arith import simplify
    c = st.op.reduce_axis[0].dom.extent
    dc = simplify(_operands(st)[0].shape[1])
    return not (isinstance(c, Const) and isinstance(dc, Const) and c.value == dc.value)


@register("*", GPU_TARGETS)
def schedule_default_gpu(s, st, target):
    """Any stage without its own GPU schedule: per-element threads (a scan runs on one
    thread: it is sequential)."""
    if isinstance(st.op, ExclusiveScanOp) or _feeds(s, st, "softmax"):
        return          # a scan is sequential; softmax's schedule places its own stages
    schedule_per_element(s, st, target)


def _feeds(s, st, tag):
    """Is st read (directly or through other stages) by a stage tagged `tag`?"""
    todo, seen = list(s.readers(st)), set()
    while todo:
        r = todo.pop()
        if id(r) in seen:
            continue
        seen.add(id(r))
        if r.op.tag == tag:
            return True
        todo.extend(s.readers(r))
    return False


SOFTMAX_BLOCK_ROW = 256     # rows at least this long: a block per row (cross-thread reductions)


@register("softmax", GPU_TARGETS)
def schedule_softmax(s, st, target):
    """Short rows: one thread per row, max and sum per thread (local), exp recomputed
    (inlined). Long rows: a block per row; max and sum are cross-thread reductions (rfactor
    + threadIdx), each its own kernel, then one thread per output element."""
    out = st
    ex_t = next(t for t in out.op.input_tensors if t.op.name == "softmax_exp")
    ex = s[ex_t]
    mx_t = next(t for t in ex.op.input_tensors if t.op.name == "softmax_max")
    sm_t = next(t for t in out.op.input_tensors if t.op.name == "softmax_sum")
    ex.compute_inline()
    n = s[mx_t].op.reduce_axis[0].dom.extent
    long_rows = isinstance(n, Const) and n.value >= SOFTMAX_BLOCK_ROW
    threads = 128 if long_rows else 32
    if all(isinstance(a.dom.extent, Const) for a in out.op.axis) and "axis" in out.op.attrs:
        threads = tuning.gpu_threads_params(tuning.rows_workload(out, out.op.attrs["axis"]),
                                            threads, 4 * tuning.elements(out.op.output(0)),
                                            target)
    if long_rows:
        for t in (mx_t, sm_t):
            row_reduce_cross_thread(s, t, threads)
        schedule_per_element(s, out, target)
        return [s[mx_t], s[sm_t], ex]
    axes = list(out.op.axis)
    red_dim = _softmax_axis(out, s[mx_t])
    rows = [a for d, a in enumerate(axes) if d != red_dim]
    col = axes[red_dim]
    out.reorder(*(rows + [col]))
    row = out.fuse(*rows) if len(rows) > 1 else rows[0]
    bx, tx = out.split(row, factor=threads)
    _bind(out, bx, "blockIdx.x")
    _bind(out, tx, "threadIdx.x")
    for t in (sm_t, mx_t):         # the sum reads the max: attach it first
        s[t].compute_at(out, tx)
    return [s[mx_t], s[sm_t], ex]


def row_reduce_cross_thread(s, t, threads=128):
    """A block per output element of reduction t; its `threads` threads each reduce a strided
    part of the reduction (rfactor), then combine in a cross-thread reduction."""
    st = s[t]
    ko, ki = st.split(st.op.reduce_axis[0], factor=threads)
    rf = s.rfactor(t, ki)
    tx = st.op.reduce_axis[0]
    st.bind(tx, thread_axis("threadIdx.x"))
    s[rf].compute_at(st, tx)
    data = [iv for iv in st.leaf_iter_vars if iv.kind != "reduce"]
    _bind(st, st.fuse(*data) if len(data) > 1 else data[0], "blockIdx.x")


def _softmax_axis(out, mx):
    """The axis softmax reduces: where the max stage indexes x with its reduction variable."""
    from ..lang.expr import TensorLoad
    from ..lang.visitor import walk
    k = mx.op.reduce_axis[0].var
    for n in walk(mx.op.bodies[0]):
        if isinstance(n, TensorLoad):
            for d, i in enumerate(n.indices):
                if i is k:
                    return d
    return len(out.op.axis) - 1


@register("sparse_pool", GPU_TARGETS)
def schedule_sparse_pool(s, st, target):
    """A block per bag, threads along the embedding row (the ragged reduction per thread)."""
    b, d = st.op.axis
    D = st.op.axis[1].dom.extent
    nt = _divisor_at_most(D, 64) if isinstance(D, Const) else 32
    dxo, dxi = st.split(d, factor=nt)
    st.reorder(b, dxo, dxi)
    fused = st.fuse(b, dxo)
    _bind(st, fused, "blockIdx.x")
    _bind(st, dxi, "threadIdx.x")
