"""The operators the property tests draw schedules for, each with its NumPy reference.

Each entry of OPERATORS is (extent names, build): build(dims) returns (outputs, args, ref),
where dims maps each name to an int or a te.var, args lists placeholders then outputs, and
ref(*input_arrays) is the NumPy result.
"""
import numpy as np

import texpr as te


def matmul(d):
    A = te.placeholder((d["m"], d["k"]), name="A")
    B = te.placeholder((d["k"], d["n"]), name="B")
    k = te.reduce_axis((0, d["k"]), name="k")
    C = te.compute((d["m"], d["n"]), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    return [C], [A, B, C], lambda a, b: a @ b


def stencil_ref(a, w):
    h, wd = a.shape
    p = np.zeros((h + 2, wd + 2), a.dtype)
    p[1:-1, 1:-1] = a
    out = np.zeros_like(a)
    for di in range(3):
        for dj in range(3):
            out += w[di, dj] * p[di:di + h, dj:dj + wd]
    return out


def stencil(d):
    """3x3 weighted stencil over a zero-padded input (padding as an if_then_else stage)."""
    H, W = d["h"], d["w"]
    A = te.placeholder((H, W), name="A")
    Wt = te.placeholder((3, 3), name="Wt")
    P = te.compute((H + 2, W + 2),
                   lambda i, j: te.if_then_else(te.all(i >= 1, i <= H, j >= 1, j <= W),
                                                A[i - 1, j - 1], 0.0), name="P")
    di = te.reduce_axis((0, 3), name="di")
    dj = te.reduce_axis((0, 3), name="dj")
    B = te.compute((H, W), lambda i, j: te.sum(P[i + di, j + dj] * Wt[di, dj], axis=[di, dj]),
                   name="B")
    return [B], [A, Wt, B], stencil_ref


def masked_sum(d):
    """Lower-triangular sum of the positive entries: where= mixes indices and data."""
    A = te.placeholder((d["n"], d["m"]), name="A")
    k = te.reduce_axis((0, d["m"]), name="k")
    B = te.compute((d["n"],),
                   lambda i: te.sum(A[i, k], axis=k, where=te.all(k <= i, A[i, k] > 0.0)),
                   name="B")

    def ref(a):
        n, m = a.shape
        mask = (np.arange(m)[None, :] <= np.arange(n)[:, None]) & (a > 0)
        return np.where(mask, a, 0).sum(axis=1)
    return [B], [A, B], ref


def chain(d):
    """Three elementwise stages; B is read by C and D, C by D."""
    A = te.placeholder((d["r"], d["c"]), name="A")
    B = te.compute(A.shape, lambda i, j: A[i, j] * 2.0 + 1.0, name="B")
    C = te.compute(A.shape, lambda i, j: te.if_then_else(B[i, j] > 0.0, B[i, j], B[i, j] * 0.25),
                   name="C")
    D = te.compute(A.shape, lambda i, j: C[i, j] * C[i, j] - A[i, j], name="D")

    def ref(a):
        b = a * np.float32(2) + np.float32(1)
        c = np.where(b > 0, b, b * np.float32(0.25))
        return c * c - a
    return [D], [A, D], ref


def int_matvec(d):
    """Integer matrix-vector product with mixed widths and floor // and % on signed values."""
    A = te.placeholder((d["n"], d["k"]), "int8", name="A")
    x = te.placeholder((d["k"],), "int16", name="x")
    k = te.reduce_axis((0, d["k"]), name="k")
    y = te.compute((d["n"],), lambda i: te.sum((A[i, k] // 3).astype("int32") * x[k]
                                               + A[i, k] % 4, axis=k), name="y")

    def ref(a, xv):
        a32 = a.astype("int32")
        return ((a32 // 3) * xv.astype("int32") + a32 % 4).sum(axis=1).astype("int32")
    return [y], [A, x, y], ref


def pool(d):
    """Strided window max (reduce axis starting at 1) feeding a ReLU-and-scale stage."""
    n = d["n"]
    A = te.placeholder((2 * n + 4,), name="A")
    r = te.reduce_axis((1, 4), name="r")
    B = te.compute((n,), lambda i: te.max(A[2 * i + r], axis=r), name="B")
    C = te.compute((n,), lambda i: te.max(B[i], 0.0) * 2.0, name="C")

    def ref(a):
        m = (a.shape[0] - 4) // 2
        b = np.stack([a[2 * np.arange(m) + r] for r in range(1, 4)]).max(0)
        return np.maximum(b, 0) * np.float32(2)
    return [C], [A, C], ref


def upsample(d):
    """Nearest-neighbour 2x upsampling: the consumer reads its producer at i // 2."""
    h, w = d["h"], d["w"]
    A = te.placeholder((h, w), name="A")
    B = te.compute((h, w), lambda i, j: A[i, j] + 1.0, name="B")
    U = te.compute((2 * h, 2 * w), lambda i, j: B[i // 2, j // 2] * 3.0, name="U")
    return [U], [A, U], lambda a: np.repeat(np.repeat(a + 1, 2, 0), 2, 1) * np.float32(3)


def transpose_sum(d):
    """Column sums of squares through a transposing stage."""
    A = te.placeholder((d["m"], d["n"]), name="A")
    T = te.compute((d["n"], d["m"]), lambda i, j: A[j, i], name="T")
    k = te.reduce_axis((0, d["m"]), name="k")
    S = te.compute((d["n"],), lambda i: te.sum(T[i, k] * T[i, k], axis=k), name="S")
    return [S], [A, S], lambda a: (a * a).sum(0)


def half(d):
    """float16 arithmetic."""
    A = te.placeholder((d["n"], 8), "float16", name="A")
    B = te.compute((d["n"], 8), lambda i, j: A[i, j] * 2.0 + 1.0, name="B")
    return [B], [A, B], lambda a: a * np.float16(2) + np.float16(1)


def bit_ops(d):
    """uint8 x int8 dot product in int32, then shifts and masks."""
    A = te.placeholder((d["n"], 8), "uint8", name="A")
    B = te.placeholder((8,), "int8", name="Bv")
    k = te.reduce_axis((0, 8), name="k")
    C = te.compute((d["n"],), lambda i: te.sum(A[i, k].astype("int32") * B[k].astype("int32"),
                                               axis=k), name="C")
    D = te.compute((d["n"],), lambda i: (C[i] >> 1) + (C[i] & 7), name="D")

    def ref(a, b):
        c = (a.astype("int32") * b.astype("int32")).sum(1)
        return ((c >> 1) + (c & 7)).astype("int32")
    return [D], [A, B, D], ref


OPERATORS = {
    "matmul": (["m", "n", "k"], matmul),
    "stencil": (["h", "w"], stencil),
    "masked_sum": (["n", "m"], masked_sum),
    "chain": (["r", "c"], chain),
    "int_matvec": (["n", "k"], int_matvec),
    "pool": (["n"], pool),
    "upsample": (["h", "w"], upsample),
    "transpose_sum": (["m", "n"], transpose_sum),
    "half": (["n"], half),
    "bit_ops": (["n"], bit_ops),
}

#: the operators the compiled property test runs at full strength; the others run fewer examples
CORE = ("matmul", "stencil", "masked_sum", "chain", "int_matvec")
