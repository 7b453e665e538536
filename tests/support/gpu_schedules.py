"""GPU schedules the GPU tests share: a shared-memory matmul and 1-D / 2-D stencils whose
block shapes and tile sizes are parameters (hypothesis draws them)."""
import numpy as np

import texpr as te
from texpr.topi.gpu import cooperative_fetch, schedule_matmul_tiled


def matmul(M, N, K, dtype="float32"):
    A = te.placeholder((M, K), dtype, name="A")
    B = te.placeholder((N, K), dtype, name="B")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * B[j, k], axis=k), name="C")
    return A, B, C


def shared_matmul(M, N, K, bm, bn, bk, tm, tn):
    """C = A B^T with (bm/tm) x (bn/tn) threads per block, tm x tn outputs per thread, A and B
    tiles staged through shared memory bk columns at a time."""
    A, B, C = matmul(M, N, K)
    s = te.create_schedule(C.op)
    schedule_matmul_tiled(s, C, C, A, B, (bm, bn, bk, tm, tn))
    return s, [A, B, C]


def stencil_1d(n, block, fetch_threads=None):
    """B[i] = A[i] + 2 A[i+1] + A[i+2]; each block stages its A window in shared memory."""
    A = te.placeholder((n + 2,), name="A")
    B = te.compute((n,), lambda i: A[i] + 2.0 * A[i + 1] + A[i + 2], name="B")
    s = te.create_schedule(B.op)
    AS = s.cache_read(A, "shared", [B])
    bx, tx = s[B].split(B.op.axis[0], factor=block)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    s[AS].compute_at(s[B], bx)
    o, i = s[AS].split(AS.op.axis[0], factor=block)
    s[AS].bind(i, te.thread_axis("threadIdx.x"))
    return s, [A, B]


def stencil_2d(h, w, by, bx):
    """3x3 box sum of a padded image; each block stages its (by+2) x (bx+2) window."""
    A = te.placeholder((h + 2, w + 2), name="A")
    ry = te.reduce_axis((0, 3), name="ry")
    rx = te.reduce_axis((0, 3), name="rx")
    B = te.compute((h, w), lambda y, x: te.sum(A[y + ry, x + rx], axis=[ry, rx]), name="B")
    s = te.create_schedule(B.op)
    AS = s.cache_read(A, "shared", [B])
    y, x = B.op.axis
    yo, xo, yi, xi = s[B].tile(y, x, by, bx)
    s[B].bind(yo, te.thread_axis("blockIdx.y"))
    s[B].bind(xo, te.thread_axis("blockIdx.x"))
    s[B].bind(yi, te.thread_axis("threadIdx.y"))
    s[B].bind(xi, te.thread_axis("threadIdx.x"))
    cooperative_fetch(s, AS, s[B], xo, by, bx)
    return s, [A, B]


def elementwise(n, threads=64):
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: te.exp(A[i]) * 2.0 + 1.0, name="B")
    s = te.create_schedule(B.op)
    bx, tx = s[B].split(B.op.axis[0], factor=threads)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    return s, [A, B]


def cross_thread_row_reduce(rows, K, threads, reducer=None):
    """B[i] = reduce_k A[i, k]: rfactor by `threads`, the rfactor axis bound to threadIdx.x (a
    shared-memory tree reduction per block), rows over blocks."""
    reducer = reducer or te.sum
    A = te.placeholder((rows, K), name="A")
    k = te.reduce_axis((0, K), name="k")
    B = te.compute((rows,), lambda i: reducer(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(B.op.reduce_axis[0], factor=threads)
    BF = s.rfactor(B, ki)
    tx = s[B].op.reduce_axis[0]
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    s[BF].compute_at(s[B], tx)
    s[B].bind(s[B].op.axis[0], te.thread_axis("blockIdx.x"))
    return s, [A, B]


def cross_thread_rows_reduce(rows, K, threads, ty, reducer=None):
    """B[i] = reduce_k A[i, k] with `ty` rows per block on threadIdx.y and the reduction of
    each row across `threads` threads on threadIdx.x (a tree per row of threads)."""
    reducer = reducer or te.sum
    A = te.placeholder((rows, K), name="A")
    k = te.reduce_axis((0, K), name="k")
    B = te.compute((rows,), lambda i: reducer(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(k, factor=threads)
    BF = s.rfactor(B, ki)
    xo, xi = s[B].split(B.op.axis[0], factor=ty)
    s[B].bind(xo, te.thread_axis("blockIdx.x"))
    s[B].bind(xi, te.thread_axis("threadIdx.y"))
    tx = s[B].op.reduce_axis[0]
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    s[BF].compute_at(s[B], tx)
    return s, [A, B]


def vectorized_staging(M, N, lanes=4, offset=0):
    """B = 2 A[:, offset:offset+N] through a shared tile (8 x 16 per block) loaded with
    vectorized rows (lanes wide): a float4 / vload4 copy where it is contiguous."""
    A = te.placeholder((M, N + offset), name="A")
    B = te.compute((M, N), lambda i, j: A[i, j + offset] * 2.0, name="B")
    s = te.create_schedule(B.op)
    AS = s.cache_read(A, "shared", [B])
    i, j = B.op.axis
    bi, bj, ti, tj = s[B].tile(i, j, 8, 16)
    for ax, tag in ((bi, "blockIdx.y"), (bj, "blockIdx.x"), (ti, "threadIdx.y"),
                    (tj, "threadIdx.x")):
        s[B].bind(ax, te.thread_axis(tag))
    s[AS].compute_at(s[B], bj)
    r, c = AS.op.axis
    co, v = s[AS].split(c, factor=lanes)
    s[AS].vectorize(v)
    f = s[AS].fuse(r, co)
    o, x = s[AS].split(f, factor=16)
    o, y = s[AS].split(o, factor=8)
    s[AS].bind(x, te.thread_axis("threadIdx.x"))
    s[AS].bind(y, te.thread_axis("threadIdx.y"))
    return s, [A, B]


def per_element(outs, threads=32):
    """Each output's single axis over blocks of `threads` threads."""
    s = te.create_schedule([o.op for o in outs])
    for o in outs:
        bx, tx = s[o].split(o.op.axis[0], factor=threads)
        s[o].bind(bx, te.thread_axis("blockIdx.x"))
        s[o].bind(tx, te.thread_axis("threadIdx.x"))
    return s


def scalar_semantics(n=97):
    """(outputs, args, input arrays) of kernels exercising the scalar helpers and math."""
    ia = te.placeholder((n,), "int32", name="ia")
    ib = te.placeholder((n,), "int32", name="ib")
    c8 = te.placeholder((n,), "int8", name="c8")
    fa = te.placeholder((n,), "float32", name="fa")
    da = te.placeholder((n,), "float64", name="da")
    outs = [
        te.compute((n,), lambda i: ia[i] // ib[i] + ia[i] % ib[i] * 3 + te.max(ia[i], ib[i]),
                   name="o_int"),
        te.compute((n,), lambda i: c8[i] * c8[i] + c8[i], name="o_i8"),
        # shift counts from data, negative and past 32 included (NumPy's rules, not C's)
        te.compute((n,), lambda i: (ia[i] << ib[i] * 9) + (ia[i] >> ib[i] * 9), name="o_shift"),
        te.compute((n,), lambda i: te.sigmoid(fa[i]) + te.tanh(fa[i]) + te.erf(fa[i])
                   + te.sqrt(te.abs(fa[i])) + te.floor(fa[i] * 3.0) + fa[i] // 0.7
                   + fa[i] % 0.7, name="o_f32"),
        te.compute((n,), lambda i: te.exp(da[i]) + te.log(te.abs(da[i]) + 1.0), name="o_f64"),
    ]
    rng = np.random.default_rng(5)
    inputs = [rng.integers(-50, 50, n).astype("int32"), rng.integers(-4, 5, n).astype("int32"),
              rng.integers(-128, 128, n).astype("int8"),
              (rng.standard_normal(n) * 3).astype("float32"), rng.standard_normal(n)]
    return outs, [ia, ib, c8, fa, da] + outs, inputs


def vectorized_elementwise(lanes=4, threads=32):
    """C = 2A + AB + B[0] over a symbolic n: each thread `lanes` contiguous elements
    (vectorize), the last partial group guarded."""
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.placeholder((n,), name="B")
    C = te.compute((n,), lambda i: A[i] * 2.0 + B[i] * A[i] + B[0], name="C")
    s = te.create_schedule(C.op)
    o, v = s[C].split(C.op.axis[0], factor=lanes)
    bx, tx = s[C].split(o, factor=threads)
    s[C].bind(bx, te.thread_axis("blockIdx.x"))
    s[C].bind(tx, te.thread_axis("threadIdx.x"))
    s[C].vectorize(v)
    return s, [A, B, C]


def bound_cumsum(threads=64):
    """te.scan of a cumulative sum over rows (symbolic m x n), init and update each split
    over blockIdx.x / threadIdx.x."""
    m, n = te.var("m"), te.var("n")
    X = te.placeholder((m, n), name="X")
    state = te.placeholder((m, n), name="state")
    init = te.compute((1, n), lambda _, i: X[0, i], name="init")
    update = te.compute((m, n), lambda t, i: state[t - 1, i] + X[t, i], name="update")
    res = te.scan(init, update, state, inputs=[X], name="cumsum")
    s = te.create_schedule(res.op)
    for st in (init, update):
        xo, xi = s[st].split(st.op.axis[1], factor=threads)
        s[st].bind(xo, te.thread_axis("blockIdx.x"))
        s[st].bind(xi, te.thread_axis("threadIdx.x"))
    return s, [X, res]
