"""texpr demo (`make demo` runs `python -m texpr.demo`): a few scheduled kernels, checked
against NumPy, one kernel's lowered program and generated C, and a speed table texpr vs
NumPy measured in the same run.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, when set, force an OpenBLAS kernel and can make NumPy
slower than it is; the demo re-executes itself without them (TEXPR_DEMO_KEEP_ENV=1 keeps them)
and prints which OpenBLAS kernel ran.
"""
import os
import sys

_OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _reexec_without_openblas_overrides():
    if os.environ.get("TEXPR_DEMO_KEEP_ENV") or not any(v in os.environ for v in _OPENBLAS_VARS):
        return
    env = {k: v for k, v in os.environ.items() if k not in _OPENBLAS_VARS}
    env["TEXPR_DEMO_UNSET"] = " ".join(f"{v}={os.environ[v]}" for v in _OPENBLAS_VARS
                                       if v in os.environ)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "texpr.demo"] + sys.argv[1:], env)


if __name__ == "__main__":
    _reexec_without_openblas_overrides()

import statistics   # noqa: E402
import time         # noqa: E402

import numpy as np  # noqa: E402

import texpr as te  # noqa: E402
from texpr.targets import get_target  # noqa: E402

TARGET = "native"

try:                                            # all threads, as texpr's runtime counts them
    from texpr.targets.runtime.module import num_threads as _num_threads
    NUM_THREADS = _num_threads()
except ImportError:                             # pragma: no cover
    NUM_THREADS = os.cpu_count() or 1


# ---------------------------------------------------------------------------- kernels

def vector_add(n):
    A = te.placeholder((n,), name="A")
    B = te.placeholder((n,), name="B")
    C = te.compute((n,), lambda i: A[i] + B[i], name="C")
    s = te.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], factor=64)
    xio, xii = s[C].split(xi, factor=16)
    s[C].vectorize(xii)
    s[C].unroll(xio)
    s[C].parallel(xo)
    return s, [A, B, C]


def row_sum(rows, cols):
    """S[i] = sum_k A[i, k]: the reduction split by 16 lanes with rfactor, lanes vectorized."""
    A = te.placeholder((rows, cols), name="A")
    k = te.reduce_axis((0, cols), name="k")
    S = te.compute((rows,), lambda i: te.sum(A[i, k], axis=k), name="S")
    s = te.create_schedule(S.op)
    ko, ki = s[S].split(S.op.reduce_axis[0], factor=16)
    SF = s.rfactor(S, ki, factor_axis=1)          # SF[i, l] = sum_ko A[i, ko*16 + l]
    i = S.op.axis[0]
    io, ii = s[S].split(i, factor=8)
    s[S].parallel(io)
    s[SF].compute_at(s[S], ii)
    fi, fl = s[SF].op.axis
    (fko,) = s[SF].op.reduce_axis
    s[SF].reorder(fi, fko, fl)
    s[SF].vectorize(fl)
    return s, [A, S]


def blur(h, w):
    """5-point stencil over the interior: out[i, j] = mean of A at (i+1, j+1) and 4 neighbours."""
    A = te.placeholder((h, w), name="A")
    B = te.compute((h - 2, w - 2), lambda i, j: (A[i, j + 1] + A[i + 1, j] + A[i + 1, j + 1]
                                                 + A[i + 1, j + 2] + A[i + 2, j + 1]) * 0.2,
                   name="blur")
    s = te.create_schedule(B.op)
    i, j = B.op.axis
    jo, ji = s[B].split(j, factor=16)
    s[B].vectorize(ji)
    s[B].parallel(i)
    return s, [A, B]


def elementwise_chain(n):
    """Bias, ReLU, scale and a residual, fused into one vectorized loop:
    y = max(x * 1.5 + 0.5, 0) * 0.25 + x  (NumPy makes one pass over memory per operation)."""
    X = te.placeholder((n,), name="X")
    T = te.compute((n,), lambda i: X[i] * 1.5 + 0.5, name="T")
    Y = te.compute((n,), lambda i: te.max(T[i], 0.0) * 0.25 + X[i], name="Y")
    s = te.create_schedule(Y.op)
    s[T].compute_inline()
    xo, xi = s[Y].split(Y.op.axis[0], factor=1024)
    xio, xii = s[Y].split(xi, factor=16)
    s[Y].vectorize(xii)
    s[Y].parallel(xo)
    return s, [X, Y]


def matmul(n, vector_bits):
    """A readable matmul schedule (step 6 of benchmarks/matmul.py): packed B, a 6 x (2
    vectors) register tile (cache_write local + unroll + vectorize, with a tail tile),
    parallel row tiles. The fast one is topi's dense (a tensorized micro-kernel), below."""
    mr, nr = 6, 2 * (vector_bits // 32)
    A = te.placeholder((n, n), name="A")
    B = te.placeholder((n, n), name="B")
    k = te.reduce_axis((0, n), name="k")
    PB = te.compute((n // nr, n, nr), lambda x, y, z: B[y, x * nr + z], name="packedB")
    C = te.compute((n, n), lambda i, j: te.sum(A[i, k] * PB[j // nr, k, j % nr], axis=k),
                   name="C")
    s = te.create_schedule(C.op)
    CC = s.cache_write(C, "local")
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], mr, nr)
    s[CC].compute_at(s[C], jo)
    i2, j2 = s[CC].op.axis
    (kk,) = s[CC].op.reduce_axis
    s[CC].reorder(kk, i2, j2)
    s[CC].unroll(i2)
    s[CC].vectorize(j2)
    s[C].unroll(ii)
    s[C].vectorize(ji)
    x, _, z = s[PB].op.axis
    s[PB].vectorize(z)
    s[PB].parallel(x)
    s[C].parallel(io)
    return s, [A, B, C]


def topi_dense(n, target):
    """y = x w^T with texpr.topi: the operator and its registered schedule for the target
    (weight packed into panels, a hand-written micro-kernel brought in with tensorize)."""
    from texpr import topi
    x = te.placeholder((n, n), name="x")
    w = te.placeholder((n, n), name="w")
    y = topi.nn.dense(x, w)
    return topi.schedule(y, target), [x, w, y]


# ---------------------------------------------------------------------------- timing

def median_time(fn, budget=0.3):
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(budget / 5 / one))
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        ts.append((time.perf_counter() - t0) / number)
    return statistics.median(ts)


def settle():
    # OpenBLAS's worker threads spin for a while after a call; with few cores they would
    # steal the CPU from texpr's OpenMP threads. Let them fall asleep before timing texpr.
    time.sleep(0.25)


def time_texpr(fn, budget=0.3):
    """Median seconds per call with 1 thread and with all threads (TEXPR_NUM_THREADS)."""
    old = os.environ.get("TEXPR_NUM_THREADS")
    out = []
    try:
        for n in (1, NUM_THREADS):
            os.environ["TEXPR_NUM_THREADS"] = str(n)
            settle()
            out.append(median_time(fn, budget))
    finally:
        if old is None:
            os.environ.pop("TEXPR_NUM_THREADS", None)
        else:
            os.environ["TEXPR_NUM_THREADS"] = old
    return out


def cpu_busy():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    return sum(v) - v[3] - v[4], sum(v)


def openblas_kernel():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed: OpenBLAS kernel unknown"
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not infos:
        return "no BLAS library found by threadpoolctl"
    return "; ".join(f"{i.get('internal_api')} {i.get('version')}, kernel {i.get('architecture')}, "
                     f"{i.get('num_threads')} threads" for i in infos)


def main():
    t_start = time.perf_counter()
    tgt = get_target(TARGET)
    threads = NUM_THREADS
    print(f"texpr demo: target={TARGET} ({tgt.note or tgt.name}, {tgt.vector_bits}-bit vectors), "
          f"timed with 1 and {threads} thread(s)")
    print(f"NumPy {np.__version__}: {openblas_kernel()}")
    if os.environ.get("TEXPR_DEMO_UNSET"):
        print(f"  (re-executed without {os.environ['TEXPR_DEMO_UNSET']} so OpenBLAS picks its "
              "own kernel)")
    print()
    rng = np.random.default_rng(0)
    rows = []
    busy0, total0, ours0 = *cpu_busy(), os.times()

    # 1. vector add ---------------------------------------------------------------------
    n = 1 << 22
    s, args = vector_add(n)
    f = te.build(s, args, target=TARGET, name="vector_add")
    a, b = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    c = np.empty_like(a)
    f(a, b, c)
    np.testing.assert_allclose(c, a + b, rtol=1e-6)
    t = time_texpr(lambda: f(a, b, c))
    t_np = median_time(lambda: np.add(a, b, out=c))
    gb = 3 * 4 * n / 1e9
    rows.append(("vector add", f"n={n}", "GB/s", gb / t[0], gb / t[1], gb / t_np))
    print(f"[ok] vector add        n={n}: matches NumPy")

    # 2. row reduction ------------------------------------------------------------------
    R, K = 4096, 1024
    s, args = row_sum(R, K)
    f = te.build(s, args, target=TARGET, name="row_sum")
    a = rng.random((R, K), dtype=np.float32)
    out = np.empty(R, np.float32)
    f(a, out)
    np.testing.assert_allclose(out, a.sum(axis=1), rtol=1e-4)
    t = time_texpr(lambda: f(a, out))
    t_np = median_time(lambda: np.sum(a, axis=1, out=out))
    gb = 4 * R * K / 1e9
    rows.append(("row sum", f"{R}x{K}", "GB/s", gb / t[0], gb / t[1], gb / t_np))
    print(f"[ok] row sum           {R}x{K}: matches NumPy")

    # 3. 2-D stencil --------------------------------------------------------------------
    H = W = 2048
    s, args = blur(H, W)
    f = te.build(s, args, target=TARGET, name="blur")
    a = rng.random((H, W), dtype=np.float32)
    out = np.empty((H - 2, W - 2), np.float32)
    f(a, out)

    def blur_np(a, out):
        np.add(a[:-2, 1:-1], a[1:-1, :-2], out=out)
        out += a[1:-1, 1:-1]
        out += a[1:-1, 2:]
        out += a[2:, 1:-1]
        out *= np.float32(0.2)
    ref = np.empty_like(out)
    blur_np(a, ref)
    np.testing.assert_allclose(out, ref, rtol=1e-5)
    t = time_texpr(lambda: f(a, out))
    t_np = median_time(lambda: blur_np(a, ref))
    gb = 4 * (H * W + (H - 2) * (W - 2)) / 1e9
    rows.append(("5-point stencil", f"{H}x{W}", "GB/s", gb / t[0], gb / t[1], gb / t_np))
    print(f"[ok] 5-point stencil   {H}x{W}: matches NumPy")

    # 4. elementwise chain --------------------------------------------------------------
    n = 1 << 22
    s, args = elementwise_chain(n)
    f = te.build(s, args, target=TARGET, name="elementwise_chain")
    x = rng.standard_normal(n, dtype=np.float32)
    y = np.empty_like(x)
    f(x, y)

    def chain_np(x, y):
        np.multiply(x, np.float32(1.5), out=y)
        y += np.float32(0.5)
        np.maximum(y, np.float32(0), out=y)
        y *= np.float32(0.25)
        y += x
    ref = np.empty_like(y)
    chain_np(x, ref)
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)
    t = time_texpr(lambda: f(x, y))
    t_np = median_time(lambda: chain_np(x, ref))
    gb = 2 * 4 * n / 1e9
    rows.append(("elementwise chain", f"n={n}", "GB/s", gb / t[0], gb / t[1], gb / t_np))
    print(f"[ok] elementwise chain n={n}: matches NumPy (max(1.5x+0.5, 0)*0.25 + x, one loop)")

    # 5. matmul -------------------------------------------------------------------------
    n = 1024
    s, args = matmul(n, tgt.vector_bits)
    f = te.build(s, args, target=TARGET, name="matmul")
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    f(a, b, c)
    ref = a @ b
    np.testing.assert_allclose(c, ref, rtol=2e-4, atol=4e-3)
    t = time_texpr(lambda: f(a, b, c), budget=0.6)
    t_np = median_time(lambda: np.matmul(a, b, out=ref), budget=0.6)
    gf = 2 * n ** 3 / 1e9
    rows.append(("matmul float32", f"{n}^3", "GFLOP/s", gf / t[0], gf / t[1], gf / t_np))
    print(f"[ok] matmul            {n}x{n}x{n}: matches NumPy")

    # 6. dense from the operator library -------------------------------------------------
    s6, args6 = topi_dense(n, TARGET)
    f6 = te.build(s6, args6, target=TARGET, name="dense")
    f6(a, b, c)
    np.testing.assert_allclose(c, a @ b.T, rtol=2e-4, atol=4e-3)
    t = time_texpr(lambda: f6(a, b, c), budget=0.6)
    t_np = median_time(lambda: np.matmul(a, b.T, out=ref), budget=0.6)
    rows.append(("topi dense (x w^T)", f"{n}^3", "GFLOP/s", gf / t[0], gf / t[1], gf / t_np))
    print(f"[ok] topi.nn.dense     {n}x{n}x{n}: matches NumPy (x @ w.T)")

    # the matmul's lowered program and generated C ---------------------------------------
    print()
    print("=" * 30 + f" te.lower: the matmul's loop program ({tgt.vector_bits}-bit vectors) "
          + "=" * 30)
    print(te.lower(s, args, "matmul", target=TARGET))
    print("=" * 30 + " f.source: the C that texpr generated for it " + "=" * 30)
    print(f.source)

    # the table -------------------------------------------------------------------------
    busy1, total1 = cpu_busy()
    ours1 = os.times()
    ours = sum(getattr(ours1, k) - getattr(ours0, k) for k in ("user", "system", "children_user",
                                                                 "children_system"))
    others = (busy1 - busy0 - ours * os.sysconf("SC_CLK_TCK")) / max(1, total1 - total0)
    print("=" * 30 + " texpr vs NumPy, measured in this run " + "=" * 30)
    print(f"{'kernel':<18} {'size':>10} {'unit':>8} {'texpr 1T':>9} {f'texpr {threads}T':>9} "
          f"{'NumPy':>9} {f'{threads}T/NumPy':>10}")
    for name, size, unit, v1, vn, v_np in rows:
        print(f"{name:<18} {size:>10} {unit:>8} {v1:9.1f} {vn:9.1f} {v_np:9.1f} {vn / v_np:9.2f}x")
    print(f"(medians of 5; NumPy uses OpenBLAS's {threads} threads for matmul and one thread for "
          "the others)")
    if others > 0.1:
        print(f"warning: other processes used {100 * others:.0f}% of the CPU during the run; the "
              f"{threads}-thread figures are unreliable")
    print(f"demo finished in {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
