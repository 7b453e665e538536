#!/usr/bin/env python
"""Sparse and ranking ops from texpr.topi.sparse beside PyTorch, NumPy and SciPy.

    python benchmarks/sparse.py                  # full sizes, 1 and 2 threads
    python benchmarks/sparse.py --quick          # small sizes, 1 thread (smoke test)
    python benchmarks/sparse.py --threads 2 --target avx512 --hugepages

Measured in the same run, interleaved with their references (median of rounds; the best
round beside it):
  memory bandwidth    sequential read of a large array (a C loop with 8 vector accumulators,
                      OpenMP threads; and NumPy's np.sum for comparison)
  sparse_lengths_sum  1,000,000 x 64 fp32 table, 2048 bags of 40 uniform indices (int32):
                      texpr (its prefetch; the previous default, rows 20 ahead and their
                      first line 32 ahead; no prefetch),
                      torch.nn.functional.embedding_bag(mode="sum"),
                      NumPy np.add.reduceat(data[indices], offsets). Each call draws its
                      indices from the next of several index sets, so the rows come from
                      memory as in a model (one set repeated: its 21 MB of rows stay in a
                      32 MB L3, shown too as "same indices"). Effective GB/s counts the
                      gathered rows + the indices + the output.
                      The memory bound: the cache lines the rows touch + indices + output at
                      the rate a plain C kernel reads those same rows (every line of each
                      row, prefetched 8/16/24/32 rows ahead, the fastest median; nothing
                      computed). A gather of random 256-byte rows is bound by latency, TLB
                      and the misses a core keeps in flight, not by the sequential read rate
                      (which the bound used before, 2-3x too low a time: not reachable).
  embedding           topi.nn.embedding, 1,000,000 x 64 fp32 table, 8192 indices, vs
                      torch.nn.functional.embedding; bound: the row-read kernel as above on
                      the same rows (the 2 MB output is written to cache meanwhile)
  batch_gather        data [256, 512, 64], indices [256, 64] vs torch.gather, NumPy
  sparse_dense        X [128, 2048] @ W^T, W [2048, 2048] at 90% and 99% sparsity (CSR, and
                      BSR 4x1 at 90%) vs scipy.sparse (X @ W.T, single-threaded) and the
                      dense matmul of the same shape (NumPy/OpenBLAS)
  dot_interaction     B=2048, F=26, D=64 (DLRM) vs torch: cat + bmm + triangle index
Ratios are reference time / texpr time (x > 1: texpr is faster).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench  # noqa: E402

if __name__ == "__main__":
    _bench.reexec_without_openblas_overrides(__file__)

import argparse  # noqa: E402
import mmap  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, _bench.ROOT)
import texpr as te  # noqa: E402
import texpr.topi as topi  # noqa: E402
from texpr.topi import cpu_sparse as tsparse  # noqa: E402

_BW_C = r"""
#include <stdint.h>
#include <omp.h>
typedef float bw_vf __attribute__((vector_size(32)));
volatile float texpr_bw_sink;
/* sum of n floats (n a multiple of 64) with 8 independent vector accumulators per thread */
double texpr_bw(const float* p, int64_t n, int nthreads) {
  double t0 = omp_get_wtime();
  float total = 0;
  #pragma omp parallel num_threads(nthreads) reduction(+:total)
  {
    bw_vf a[8] = {{0}};
    #pragma omp for schedule(static)
    for (int64_t i = 0; i < n; i += 64) {
      const bw_vf* q = (const bw_vf*)(p + i);
      a[0] += q[0]; a[1] += q[1]; a[2] += q[2]; a[3] += q[3];
      a[4] += q[4]; a[5] += q[5]; a[6] += q[6]; a[7] += q[7];
    }
    bw_vf s = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
    for (int l = 0; l < 8; ++l) total += s[l];
  }
  texpr_bw_sink = total;
  return omp_get_wtime() - t0;
}
"""


def read_bandwidth(nbytes, thread_counts, repeat=5):
    """{threads: GB/s} of a sequential read of nbytes (best of repeat), and np.sum's GB/s."""
    import cffi
    from texpr.targets.toolchain import compile_shared
    path, _ = compile_shared(_BW_C, ["-O2", "-fopenmp", "-mavx2"] if _avx2() else ["-O2", "-fopenmp"])
    ffi = cffi.FFI()
    ffi.cdef("double texpr_bw(const float*, int64_t, int);")
    lib = ffi.dlopen(path)
    a = np.ones(nbytes // 4 // 64 * 64, np.float32)
    p = ffi.cast("const float*", ffi.from_buffer(a))
    out = {}
    for t in thread_counts:
        if WAIT_IDLE:
            wait_for_idle(WAIT_IDLE)
        lib.texpr_bw(p, a.size, t)
        out[t] = a.nbytes / min(lib.texpr_bw(p, a.size, t) for _ in range(repeat)) / 1e9
    a.sum()
    ts = []
    for _ in range(3):
        t0 = time.perf_counter()
        a.sum()
        ts.append(time.perf_counter() - t0)
    return out, a.nbytes / min(ts) / 1e9


_ROW_READ_C = r"""
#include <stdint.h>
#include <omp.h>
volatile float texpr_row_read_sink;
/* Reads every cache line of the rows data[idx[i]] (ROW_BYTES each, a compile-time constant:
   the loops below unroll), i in [0, n), each row's lines prefetched `dist` rows ahead; the
   n indices split evenly between the threads. One load per line, nothing computed: what the
   memory system delivers for this access pattern (random rows: latency, TLB and the misses
   a core keeps in flight bound it, not the sequential read rate). */
double texpr_row_read(const char* data, const int32_t* idx, int64_t n, int dist, int nthreads) {
  double t0 = omp_get_wtime();
  float total = 0;
  #pragma omp parallel num_threads(nthreads) reduction(+:total)
  {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t lo = n * t / nt, hi = n * (t + 1) / nt;
    float s = 0;
    for (int64_t i = lo; i < hi; ++i) {
      if (i + dist < hi) {
        const char* q = data + (int64_t)idx[i + dist] * ROW_BYTES;
        #pragma GCC unroll 64
        for (int b = 0; b < ROW_BYTES; b += 64) __builtin_prefetch(q + b, 0, 3);
        __builtin_prefetch(q + ROW_BYTES - 1, 0, 3);
      }
      const char* r = data + (int64_t)idx[i] * ROW_BYTES;
      #pragma GCC unroll 64
      for (int b = 0; b < ROW_BYTES; b += 64) s += *(const float*)(r + b);
      s += *(const float*)(r + ROW_BYTES - 4);
    }
    total = s;
  }
  texpr_row_read_sink = total;
  return omp_get_wtime() - t0;
}
"""

ROW_READ_DISTANCES = (8, 16, 24, 32)   # rows ahead; the bound takes the fastest


def row_reader(row_bytes):
    """read(data, idx, dist, nthreads) -> seconds: the row-read kernel of _ROW_READ_C for rows
    of row_bytes (compiled for that size)."""
    import cffi
    from texpr.targets.toolchain import compile_shared
    path, _ = compile_shared(_ROW_READ_C, ["-O2", "-fopenmp", f"-DROW_BYTES={int(row_bytes)}"])
    ffi = cffi.FFI()
    ffi.cdef("double texpr_row_read(const char*, const int32_t*, int64_t, int, int);")
    lib = ffi.dlopen(path)
    _bench._KEEP_LOADED.append((ffi, lib))

    def read(data, idx, dist, nthreads):
        assert data.strides[0] == row_bytes and idx.dtype == np.int32
        return lib.texpr_row_read(ffi.cast("const char*", data.ctypes.data),
                                  ffi.cast("const int32_t*", idx.ctypes.data), idx.size,
                                  dist, nthreads)
    return read


def row_read_fns(read, data, sets, cycle, nthreads):
    """Timer entries of the row-read kernel at each of ROW_READ_DISTANCES (the index sets in
    turn, like the kernels measured beside them)."""
    return {f"row read, {d} ahead": (lambda d=d: read(data, sets[cycle.next()], d, nthreads))
            for d in ROW_READ_DISTANCES}


def fastest_row_read(r):
    """(name, (median, best)) of the fastest row-read entry of Timer results r."""
    return min(((k, v) for k, v in r.items() if k.startswith("row read")), key=lambda kv: kv[1][0])


def _avx2():
    from texpr.targets.build import host_has
    return host_has("avx2")


def table(V, D, hugepages, rng):
    """The embedding table (float32 [V, D]); with hugepages, in 2 MB pages (madvise)."""
    if hugepages and hasattr(mmap, "MADV_HUGEPAGE"):
        m = mmap.mmap(-1, V * D * 4)
        m.madvise(mmap.MADV_HUGEPAGE)
        t = np.frombuffer(m, np.float32).reshape(V, D)
        t[:] = rng.standard_normal((V, D), dtype=np.float32)
        return t
    return rng.standard_normal((V, D), dtype=np.float32)


def build_sls(V, D, target, rows=None, first_line=None):
    """texpr's sparse_lengths_sum; rows / first_line override cpu_sparse's prefetch distances
    (PREFETCH_ROWS, else from the row size; PREFETCH_FIRST_LINE_ROWS) for this build."""
    B, L = te.var("B"), te.var("L")
    data = te.placeholder((V, D), name="data")
    idx = te.placeholder((L,), "int32", name="indices")
    lens = te.placeholder((B,), "int32", name="lengths")
    out = topi.sparse.sparse_lengths_sum(data, idx, lens)
    old = tsparse.PREFETCH_ROWS, tsparse.PREFETCH_FIRST_LINE_ROWS
    if rows is not None:
        tsparse.PREFETCH_ROWS = rows
    if first_line is not None:
        tsparse.PREFETCH_FIRST_LINE_ROWS = first_line
    try:
        s = topi.schedule(out, target)
    finally:
        tsparse.PREFETCH_ROWS, tsparse.PREFETCH_FIRST_LINE_ROWS = old
    return te.build(s, [data, idx, lens, out], target=target, name="sparse_lengths_sum")


def line(name, t, ref, extra=""):
    """t, ref: (median, best) seconds."""
    ratio = f"{ref[0] / t[0]:6.2f}x" if ref else "   ref "
    ratio_b = f"{ref[1] / t[1]:6.2f}x" if ref else "   ref "
    return f"  {name:<34} {t[0] * 1e3:9.3f} {ratio:>8} {extra} | {t[1] * 1e3:9.3f} {ratio_b:>8}"


WAIT_IDLE = 0.0     # --wait-idle: seconds to wait for a quiet machine before each block


def wait_for_idle(max_wait, window=0.3, threshold=0.05):
    """Sleep until other processes use < threshold of the CPU over a window (or max_wait)."""
    t_end = time.perf_counter() + max_wait
    while True:
        load = _bench.CpuLoad()
        load.start()
        time.sleep(window)
        share = load.stop() or 0.0
        if share < threshold or time.perf_counter() > t_end:
            return share


def measure(timer, fns, tries=3):
    """timer.run(fns); with --wait-idle, after waiting for a quiet machine, and redone (up to
    `tries` times) when other processes took more than 10% of the CPU meanwhile (the quietest
    attempt is kept). Returns (results, share of the CPU other processes used)."""
    best = None
    for _ in range(tries if WAIT_IDLE else 1):
        if WAIT_IDLE:
            wait_for_idle(WAIT_IDLE)
        load = _bench.CpuLoad()
        load.start()
        r = timer.run(fns)
        share = load.stop() or 0.0
        if best is None or share < best[1]:
            best = (r, share)
        if share < 0.1:
            break
    return best


def busy(share):
    return f"   (other processes: {100 * share:.0f}% of the CPU)" if share >= 0.1 else ""


class Cycle:
    """Calls fn(i) with i = 0, 1, ..., n-1, 0, ... (a fresh index set per call)."""

    def __init__(self, n):
        self.n, self.i = n, 0

    def next(self):
        self.i = (self.i + 1) % self.n
        return self.i


def bench_sls(args, target, tcounts, timer, bw, torch, fractions):
    """Ratios to torch by thread count; fractions[t] gets texpr's fraction of the bound."""
    import torch.nn.functional as F
    V, D, nbags, bag = (100_000, 64, 256, 40) if args.quick else (1_000_000, 64, 2048, 40)
    nsets = 4 if args.quick else 16
    rng = np.random.default_rng(0)
    data = table(V, D, args.hugepages, rng)
    sets = [rng.integers(0, V, nbags * bag).astype(np.int32) for _ in range(nsets)]
    lens = np.full(nbags, bag, np.int32)
    offs = np.arange(0, nbags * bag, bag).astype(np.int32)
    out, out0 = np.empty((nbags, D), np.float32), np.empty((nbags, D), np.float32)
    td, toffs = torch.from_numpy(data), torch.from_numpy(offs)
    tsets = [torch.from_numpy(s) for s in sets]
    want = topi.testing.sparse_lengths_sum_ref(data, sets[0], lens)

    def build():
        f = build_sls(V, D, target)
        f1 = build_sls(V, D, target, rows=20, first_line=32)    # the default before prefetch_rows
        f0 = build_sls(V, D, target, rows=0)
        for g, o in ((f, out), (f1, out0), (f0, out0)):
            g(data, sets[0], lens, o)
            np.testing.assert_allclose(o, want, rtol=1e-4, atol=1e-4)
        return f, f1, f0
    kernels = _bench.per_threads(build, tcounts)     # each thread count's own builds
    tout = F.embedding_bag(tsets[0], td, toffs, mode="sum").numpy()
    npout = np.add.reduceat(data[sets[0]], offs, axis=0)
    for o in (tout, npout):
        np.testing.assert_allclose(o, want, rtol=1e-4, atol=1e-4)
    nbytes = nbags * bag * D * 4 + sets[0].nbytes + out.nbytes
    # what the memory system must deliver: every cache line a gathered row touches (a row of
    # 4 lines touches 5 when the table does not start on a line), the indices, the output
    lines = touched_lines(data, sets[0])
    mem_bytes = lines * 64 + sets[0].nbytes + out.nbytes
    print(f"\nsparse_lengths_sum: table {V} x {D} fp32 ({V * D * 4 / 2**20:.0f} MiB"
          f"{', huge pages' if args.hugepages else ''}, row offset {data.ctypes.data % 64} B "
          f"from a cache line), {nbags} bags x {bag} indices, {nsets} index sets in turn; "
          f"effective bytes {nbytes / 1e6:.1f} MB; texpr prefetches rows "
          f"{tsparse.prefetch_rows(D * 4)} indices ahead"
          + (f", their first line {tsparse.PREFETCH_FIRST_LINE_ROWS} ahead"
             if tsparse.PREFETCH_FIRST_LINE_ROWS else "") + "; checked against NumPy: ok")
    c = Cycle(nsets)
    read = row_reader(data.strides[0])
    results = {}
    with torch.no_grad():
        for t in tcounts:
            f, f1, f0 = kernels[t]
            with _bench.threads(t):
                fns = {
                    "texpr": lambda: f(data, sets[c.next()], lens, out),
                    "texpr, before: rows 20, line 32": lambda: f1(data, sets[c.next()], lens, out0),
                    "texpr, no prefetch": lambda: f0(data, sets[c.next()], lens, out0),
                    "torch embedding_bag": lambda: F.embedding_bag(tsets[c.next()], td, toffs,
                                                                   mode="sum"),
                    "texpr, same indices": lambda: f(data, sets[0], lens, out),
                    "torch, same indices": lambda: F.embedding_bag(tsets[0], td, toffs, mode="sum"),
                }
                fns.update(row_read_fns(read, data, sets, c, t))
                timer.warm_s = _bench.parallel_warm_s(fns, t)
                r, share = measure(timer, fns)
                rn = _bench.Timer(rounds=3, calls=1).run(
                    {"NumPy add.reduceat": lambda: np.add.reduceat(data[sets[c.next()]], offs, axis=0)})
            ref = r["torch embedding_bag"]
            rr_name, rr = fastest_row_read(r)
            # the bound: what the gather must move (touched lines + indices + output) at the
            # rate the row-read kernel reads these rows (lines + indices in its median time)
            rate = (lines * 64 + sets[0].nbytes) / rr[0] / 1e9
            bound = mem_bytes / (rate * 1e9)
            print(f"{t} thread{'s' * (t > 1)}: random-row read {rate:.1f} GB/s ({rr_name}; "
                  f"sequential read {bw[t]:.1f} GB/s)"
                  + busy(share))
            print(f"  {'':34} {'ms':>9} {'xtorch':>8} {'GB/s':>6} {'%bnd':>5} | {'best ms':>9} "
                  f"{'xtorch':>8}")
            for name in ("texpr", "texpr, before: rows 20, line 32", "texpr, no prefetch",
                         "torch embedding_bag"):
                g = nbytes / r[name][0] / 1e9
                print(line(name, r[name], ref if name != "torch embedding_bag" else None,
                           f"{g:6.1f} {100 * bound / r[name][0]:4.0f}%"))
            g = nbytes / rn["NumPy add.reduceat"][0] / 1e9
            print(line("NumPy add.reduceat", rn["NumPy add.reduceat"], ref,
                       f"{g:6.1f} {100 * bound / rn['NumPy add.reduceat'][0]:4.0f}%"))
            for name in (n for n in r if n.startswith("row read")):
                print(line(name, r[name], ref, f"{nbytes / r[name][0] / 1e9:6.1f}      "))
            rs = r["torch, same indices"]
            for name in ("texpr, same indices", "torch, same indices"):
                g = nbytes / r[name][0] / 1e9
                print(line(name + " (L3)", r[name], rs if name.startswith("texpr") else None,
                           f"{g:6.1f}      "))
            print(f"  memory bound: the {lines / (nbags * bag):.0f} lines per row + indices + "
                  f"output ({mem_bytes / 1e6:.1f} MB) at the random-row read rate: "
                  f"{bound * 1e3:.3f} ms, {ref[0] / bound:.2f}x torch's median; texpr at "
                  f"{100 * bound / r['texpr'][0]:.0f}% of it, torch at {100 * bound / ref[0]:.0f}% "
                  f"(at the sequential rate it would be {mem_bytes / (bw[t] * 1e9) * 1e3:.3f} ms: "
                  "no gather of random rows reaches that)")
            results[t] = ref[0] / r["texpr"][0]
            fractions.setdefault(t, []).append(bound / r["texpr"][0])
    return results


def touched_lines(data, indices):
    """Cache lines the rows data[indices] span, from the table's address."""
    row = data.strides[0]
    start = data.ctypes.data + indices.astype(np.int64) * row
    return int(((start + data.shape[1] * data.itemsize - 1) // 64 - start // 64 + 1).sum())


def bench_embedding(args, target, tcounts, timer, torch):
    """topi.nn.embedding (1M x 64 fp32 table, 8192 int32 indices) vs torch.nn.functional.embedding
    (int64 indices, its only kind), the index sets in turn; the bound: the time of the
    row-read kernel on the same rows (the output, 2 MB, is written to cache meanwhile).
    Returns {threads: (ratio to torch, fraction of the bound)}."""
    import torch.nn.functional as F
    V, D, n = (100_000, 64, 2048) if args.quick else (1_000_000, 64, 8192)
    nsets = 4 if args.quick else 16
    rng = np.random.default_rng(3)
    data = table(V, D, args.hugepages, rng)
    sets = [rng.integers(0, V, n).astype(np.int32) for _ in range(nsets)]
    out = np.empty((n, D), np.float32)

    def build():
        w = te.placeholder((V, D), name="weight")
        i = te.placeholder((te.var("n"),), "int32", name="indices")
        e = topi.nn.embedding(w, i)
        f = te.build(topi.schedule(e, target), [w, i, e], target=target, name="embedding")
        f(data, sets[0], out)
        np.testing.assert_array_equal(out, topi.testing.embedding_ref(data, sets[0]))
        return f
    fs = _bench.per_threads(build, tcounts)
    td = torch.from_numpy(data)
    tsets = [torch.from_numpy(x.astype(np.int64)) for x in sets]
    np.testing.assert_array_equal(F.embedding(tsets[0], td).numpy(), out)
    lines = touched_lines(data, sets[0])
    nbytes = n * D * 4 + sets[0].nbytes + out.nbytes
    print(f"\nembedding: table {V} x {D} fp32, {n} indices -> [{n}, {D}], {nsets} index sets in "
          f"turn; texpr prefetches rows "
          f"{tsparse.EMBEDDING_PREFETCH_ROWS or tsparse.prefetch_rows(D * 4)} ahead; checked "
          "against NumPy: ok")
    c = Cycle(nsets)
    read = row_reader(data.strides[0])
    res = {}
    with torch.no_grad():
        for t in tcounts:
            f = fs[t]
            with _bench.threads(t):
                fns = {"texpr": lambda: f(data, sets[c.next()], out),
                       "torch embedding": lambda: F.embedding(tsets[c.next()], td)}
                fns.update(row_read_fns(read, data, sets, c, t))
                timer.warm_s = _bench.parallel_warm_s(fns, t)
                r, share = measure(timer, fns)
            ref = r["torch embedding"]
            rr_name, rr = fastest_row_read(r)
            bound = rr[0]
            rate = (lines * 64 + sets[0].nbytes) / rr[0] / 1e9
            print(f"{t} thread{'s' * (t > 1)}: random-row read {rate:.1f} GB/s "
                  f"({rr_name}); memory bound {bound * 1e3:.3f} ms" + busy(share))
            print(f"  {'':34} {'ms':>9} {'xtorch':>8} {'GB/s':>6} {'%bnd':>5} | {'best ms':>9} "
                  f"{'xtorch':>8}")
            for name in ("texpr", "torch embedding"):
                print(line(name, r[name], ref if name == "texpr" else None,
                           f"{nbytes / r[name][0] / 1e9:6.1f} {100 * bound / r[name][0]:4.0f}%"))
            res[t] = (ref[0] / r["texpr"][0], bound / r["texpr"][0])
    return res


def bench_gather(args, target, tcounts, timer, torch):
    B, N, M, D = (16, 128, 32, 64) if args.quick else (256, 512, 64, 64)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, N, D), dtype=np.float32)
    idx = rng.integers(0, N, (B, M)).astype(np.int32)
    out = np.empty((B, M, D), np.float32)

    def build():
        d = te.placeholder((B, N, D), name="data")
        i = te.placeholder((B, M), "int32", name="indices")
        o = topi.sparse.batch_gather(d, i)
        f = te.build(topi.schedule(o, target), [d, i, o], target=target, name="batch_gather")
        f(x, idx, out)
        np.testing.assert_array_equal(out, topi.testing.batch_gather_ref(x, idx))
        return f
    fs = _bench.per_threads(build, tcounts)
    tx = torch.from_numpy(x)
    ti = torch.from_numpy(idx.astype(np.int64))[:, :, None].expand(B, M, D)
    np.testing.assert_array_equal(torch.gather(tx, 1, ti).numpy(), out)
    idx3 = idx[:, :, None].astype(np.int64)
    print(f"\nbatch_gather: data [{B}, {N}, {D}], indices [{B}, {M}] -> [{B}, {M}, {D}]; "
          "checked against NumPy: ok")
    for t in tcounts:
        f = fs[t]
        with _bench.threads(t):
            r, share = measure(timer, {
                "texpr": lambda: f(x, idx, out),
                "torch.gather": lambda: torch.gather(tx, 1, ti),
                "NumPy take_along_axis": lambda: np.take_along_axis(x, idx3, axis=1),
            })
        ref = r["torch.gather"]
        print(f"{t} thread{'s' * (t > 1)}:{'':27} {'ms':>9} {'xtorch':>8} | {'best ms':>9} {'xtorch':>8}"
              + busy(share))
        for name in ("texpr", "torch.gather", "NumPy take_along_axis"):
            print(line(name, r[name], ref if name != "torch.gather" else None))


def bench_sparse_dense(args, target, tcounts, timer):
    import scipy
    import scipy.sparse as sp
    from threadpoolctl import threadpool_limits
    M, K, N = (32, 256, 256) if args.quick else (128, 2048, 2048)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((M, K), dtype=np.float32)
    print(f"\nsparse_dense: X [{M}, {K}] @ W^T, W [{N}, {K}] sparse; SciPy {scipy.__version__} "
          "(csr @ dense is single-threaded)")
    cases = [("CSR", 0.9, 1, 1), ("CSR", 0.99, 1, 1), ("BSR 4x1", 0.9, 4, 1)]
    out = {}
    for fmt, sparsity, bs_r, bs_c in cases:
        mask = rng.random((N // bs_r, K // bs_c)) >= sparsity
        W = rng.standard_normal((N, K), dtype=np.float32) * \
            np.repeat(np.repeat(mask, bs_r, 0), bs_c, 1)
        wd, wi, wp = topi.testing.dense_to_bsr_ref(W, bs_r, bs_c)
        res = np.empty((M, N), np.float32)
        want = x @ W.T

        def build():
            X = te.placeholder((M, K), name="x")
            a = te.placeholder(wd.shape, name="w_data")
            b = te.placeholder(wi.shape, "int32", name="w_indices")
            c = te.placeholder(wp.shape, "int32", name="w_indptr")
            y = topi.sparse.sparse_dense(X, a, b, c)
            f = te.build(topi.schedule(y, target), [X, a, b, c, y], target=target,
                         name="sparse_dense")
            f(x, wd, wi, wp, res)
            np.testing.assert_allclose(res, want, rtol=1e-3, atol=1e-3 * np.sqrt(K))
            return f
        fs = _bench.per_threads(build, tcounts)
        Wcsr = sp.csr_matrix(W)
        Wbsr = sp.bsr_matrix(W, blocksize=(bs_r, bs_c)) if bs_r * bs_c > 1 else None
        np.testing.assert_allclose(np.asarray(x @ Wcsr.T), want, rtol=1e-3, atol=1e-3 * np.sqrt(K))
        WdT = np.ascontiguousarray(W.T)
        dense_out = np.empty((M, N), np.float32)
        nnz = int(mask.sum()) * bs_r * bs_c
        print(f"{fmt} at {100 * sparsity:.0f}% sparsity ({nnz} nonzeros); checked against "
              "NumPy: ok")
        for t in tcounts:
            f = fs[t]
            fns = {"texpr": lambda: f(x, wd, wi, wp, res),
                   "scipy.sparse csr (X @ W.T)": lambda: x @ Wcsr.T,
                   "dense matmul (NumPy)": lambda: np.matmul(x, WdT, out=dense_out)}
            if Wbsr is not None:
                fns["scipy.sparse bsr (X @ W.T)"] = lambda: x @ Wbsr.T
            with _bench.threads(t), threadpool_limits(limits=t, user_api="blas"):
                r, share = measure(timer, fns)
            ref = r["scipy.sparse csr (X @ W.T)"]
            print(f"  {t} thread{'s' * (t > 1)}:{'':25} {'ms':>9} {'xscipy':>8} | {'best ms':>9} "
                  f"{'xscipy':>8}" + busy(share))
            for name in fns:
                print(line(name, r[name], ref if not name.startswith("scipy.sparse csr") else None))
            out[(fmt, sparsity, t)] = ref[0] / r["texpr"][0]
    return out


def bench_interaction(args, target, tcounts, timer, torch):
    B, F, D = (256, 26, 64) if args.quick else (2048, 26, 64)
    rng = np.random.default_rng(3)
    dense = rng.standard_normal((B, D), dtype=np.float32)
    embs = rng.standard_normal((B, F, D), dtype=np.float32)
    want = topi.testing.dot_interaction_ref(dense, embs)
    out = np.empty(want.shape, np.float32)

    def build():
        dn = te.placeholder((B, D), name="dense")
        em = te.placeholder((B, F, D), name="embs")
        o = topi.sparse.dot_interaction(dn, em)
        f = te.build(topi.schedule(o, target), [dn, em, o], target=target,
                     name="dot_interaction")
        f(dense, embs, out)
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-3)
        return f
    fs = _bench.per_threads(build, tcounts)
    tdn, tem = torch.from_numpy(dense), torch.from_numpy(embs)
    pairs = topi.sparse.interaction_pairs(F)
    li = torch.tensor([p[0] for p in pairs])
    lj = torch.tensor([p[1] for p in pairs])

    def torch_dlrm():
        T = torch.cat([tdn.view(B, 1, D), tem], dim=1)
        return torch.bmm(T, T.transpose(1, 2))[:, li, lj]

    def torch_bmm_only():
        T = torch.cat([tdn.view(B, 1, D), tem], dim=1)
        return torch.bmm(T, T.transpose(1, 2))
    np.testing.assert_allclose(torch_dlrm().numpy(), want, rtol=1e-4, atol=1e-3)
    print(f"\ndot_interaction: B={B}, F={F}, D={D} -> [{B}, {len(pairs)}]; checked against "
          "NumPy: ok")
    for t in tcounts:
        f = fs[t]
        with torch.no_grad(), _bench.threads(t):
            r, share = measure(timer, {"texpr": lambda: f(dense, embs, out),
                           "torch cat+bmm+index (DLRM)": torch_dlrm,
                           "torch cat+bmm only": torch_bmm_only})
        ref = r["torch cat+bmm+index (DLRM)"]
        print(f"{t} thread{'s' * (t > 1)}:{'':27} {'ms':>9} {'xtorch':>8} | {'best ms':>9} {'xtorch':>8}"
              + busy(share))
        for name in r:
            print(line(name, r[name], ref if not name.startswith("torch cat+bmm+") else None))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, 1 thread, few rounds")
    ap.add_argument("--threads", default=None, help="thread counts (default 1,2; --quick: 1)")
    _bench.add_target_options(ap)
    ap.add_argument("--hugepages", action="store_true",
                    help="put the embedding table in 2 MB pages (madvise; both texpr and torch "
                    "read the same table)")
    ap.add_argument("--only", default=None, help="comma list of sections: bw,sls,embedding,gather,"
                    "sparse_dense,interaction")
    ap.add_argument("--sls-repeat", type=int, default=1, metavar="N",
                    help="run the sparse_lengths_sum section N times (bandwidth measured again "
                    "each time) and report every ratio and their median: on a shared machine "
                    "the ratio moves between runs minutes apart more than within one")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="S",
                    help="before each measurement wait up to S seconds for other processes to "
                    "go quiet, and redo measurements they disturbed (shared machines)")
    args = ap.parse_args(argv)
    print(f"CPU: {_bench.cpu_model()}")
    import torch
    global WAIT_IDLE
    WAIT_IDLE = args.wait_idle

    target = args.target or _bench.best_target()
    if args.threads:
        tcounts = sorted({int(x) for x in args.threads.split(",")})
    else:
        tcounts = [1] if args.quick else [1, 2]
    only = set(args.only.split(",")) if args.only else None
    timer = _bench.Timer(rounds=3 if args.quick else 9, calls=2 if args.quick else 5,
                         settle=_bench.SETTLE_S)
    print(f"texpr.topi.sparse, target={target}, {os.cpu_count()} cores; PyTorch "
          f"{torch.__version__} (CPU capability {torch.backends.cpu.get_cpu_capability()}); "
          f"NumPy {np.__version__}")
    load = _bench.CpuLoad()
    load.start()
    bw, np_bw = read_bandwidth((64 if args.quick else 1024) * 2**20, tcounts)
    print("sequential read bandwidth: " + ", ".join(f"{v:.1f} GB/s ({t} thread{'s' * (t > 1)})"
                                                    for t, v in bw.items())
          + f"; NumPy np.sum {np_bw:.1f} GB/s (1 thread)")
    summary = {}
    if only is None or "sls" in only:
        runs, fractions = [], {}
        for r in range(max(1, args.sls_repeat)):
            if r:
                bw, _ = read_bandwidth((64 if args.quick else 1024) * 2**20, tcounts)
            runs.append(bench_sls(args, target, tcounts, timer, bw, torch, fractions))
        summary["sls"] = {t: float(np.median([x[t] for x in runs])) for t in tcounts}
        if len(runs) > 1:
            for t in tcounts:
                print(f"sparse_lengths_sum, {t} thread{'s' * (t > 1)}, {len(runs)} runs: "
                      + ", ".join(f"{x[t]:.2f}x" for x in runs) + " torch embedding_bag")
    if only is None or "embedding" in only:
        summary["embedding"] = bench_embedding(args, target, tcounts, timer, torch)
    if only is None or "gather" in only:
        bench_gather(args, target, tcounts, timer, torch)
    if only is None or "sparse_dense" in only:
        try:
            summary["sparse_dense"] = bench_sparse_dense(args, target, tcounts, timer)
        except ImportError as e:
            print(f"\nsparse_dense: skipped ({e}; pip install scipy)")
    if only is None or "interaction" in only:
        bench_interaction(args, target, tcounts, timer, torch)
    print()
    for t, x in summary.get("sls", {}).items():
        fr = float(np.median(fractions[t]))
        print(f"sparse_lengths_sum, {t} thread{'s' * (t > 1)}: {x:.2f}x torch embedding_bag, "
              f"{100 * fr:.0f}% of the memory bound "
              + ("(medians of the runs) " if args.sls_repeat > 1 else "")
              + "(bar: >= 95% of the bound)")
    for t, (x, fr) in summary.get("embedding", {}).items():
        print(f"embedding, {t} thread{'s' * (t > 1)}: {x:.2f}x torch embedding, "
              f"{100 * fr:.0f}% of the memory bound")
    for (fmt, sp_, t), x in summary.get("sparse_dense", {}).items():
        print(f"sparse_dense {fmt} {100 * sp_:.0f}%, {t} thread{'s' * (t > 1)}: {x:.2f}x "
              "scipy.sparse CSR" + (" (bar at 99%: > 1x)" if sp_ == 0.99 else ""))
    note = _bench.load_note(load.stop())
    if note:
        print(note)
    return summary


if __name__ == "__main__":
    main()
