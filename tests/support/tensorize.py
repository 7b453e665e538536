"""The GEMV tensorize setting of TVM's tensorize tutorial, shared by the tests of intrinsic
parts: C[i, j] = sum_k A[i, k] * B[j, k], with (j, k) tiles handed to a GEMV intrinsic."""
import texpr as te


def gemv_decl(m, l):
    """The intrinsic's computation c[i] = sum_k a[k] * b[i, k], and its binds: b is a region
    of rows with a symbolic stride."""
    a = te.placeholder((l,), name="a")
    b = te.placeholder((m, l), name="b")
    k = te.reduce_axis((0, l), name="k")
    c = te.compute((m,), lambda i: te.sum(a[k] * b[i, k], axis=k), name="c")
    Bb = te.decl_buffer(b.shape, b.dtype, name="B", offset_factor=1, strides=[te.var("s1"), 1])
    return c.op, {b: Bb}


def tensorized_matmul(intrin, N, M, L, tile):
    """C = A B^T with j and k split by `tile` (a split reduction: reset + update) and the
    (j.inner, k.inner) tile tensorized; returns (s, A, B, C, x, j.outer)."""
    A = te.placeholder((N, L), name="A")
    B = te.placeholder((M, L), name="B")
    k = te.reduce_axis((0, L), name="k")
    C = te.compute((N, M), lambda i, j: te.sum(A[i, k] * B[j, k], axis=k), name="C")
    s = te.create_schedule(C.op)
    x, y = C.op.axis
    yo, yi = s[C].split(y, factor=tile)
    zo, zi = s[C].split(C.op.reduce_axis[0], factor=tile)
    s[C].reorder(x, yo, zo, yi, zi)
    s[C].tensorize(yi, intrin)
    return s, A, B, C, x, yo


def tensorized_gemm_fp32(M, N, K, mr, nr, kc, packed_input=False):
    """C = A B in gemm_fp32(mr, nr, kc) register tiles (C tiled mr x nr, k split by kc, the
    (jo, ko, io) loops outside): B packed into [N/nr, K, nr] panels by a stage, or taken
    already packed (packed_input: the placeholder PB); returns (s, [A, B or PB, C])."""
    from texpr.targets.intrin import gemm_fp32
    A = te.placeholder((M, K), name="A")
    if packed_input:
        B = PB = te.placeholder((N // nr, K, nr), name="PB")
    else:
        B = te.placeholder((K, N), name="B")
        PB = te.compute((N // nr, K, nr), lambda x, y, z: B[y, x * nr + z], name="PB")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * PB[j // nr, k, j % nr], axis=k), name="C")
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], mr, nr)
    ko, ki = s[C].split(k, factor=kc)
    s[C].reorder(jo, ko, io, ii, ji, ki)
    s[C].tensorize(ii, gemm_fp32(mr, nr, kc))
    return s, [A, B, C]
