#!/usr/bin/env python
"""Optimising a float32 matmul step by step with texpr schedules, beside NumPy/OpenBLAS.

    python benchmarks/matmul.py              # 1024 x 1024 x 1024, every step
    python benchmarks/matmul.py --quick      # 256^3, fewer repeats (what the tests run)
    python benchmarks/matmul.py --steps 1,5-6 --size 512

The steps are the classic ones (TVM's "How to optimize GEMM on CPU"): (1) naive, (2) blocked
(tile + reorder the reduction), (3) packed B layout, (4) vectorized, (5) register tile
(cache_write "local" + unroll + vectorize, with tails), (6) parallel. Every kernel is built
with target="native" and checked against NumPy. Each step is timed with 1 thread
(TEXPR_NUM_THREADS=1, OpenBLAS limited to 1 thread through threadpoolctl) and with all the
machine's threads, and printed as GFLOP/s, as a ratio to NumPy measured in the same run, and
as a fraction of the machine's peak, which is measured here (throughput of independent FMA
chains in the CPU's widest float vectors, compiled by the same gcc).

The machine may be shared: the script reports how much CPU other processes took while it
measured, marks the figures they disturbed, and with --wait-idle waits for quiet moments.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: when set they force an OpenBLAS kernel (e.g. Haswell on
an AVX-512 machine) and make NumPy slower than it is. The script re-executes itself without
them before NumPy is imported (pass --keep-openblas-env to keep them) and prints which
OpenBLAS kernel ran (threadpoolctl).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench  # noqa: E402

if __name__ == "__main__":
    _bench.reexec_without_openblas_overrides(__file__)

import argparse                         # noqa: E402
import statistics                       # noqa: E402
import time                             # noqa: E402

import numpy as np                      # noqa: E402

import texpr as te                      # noqa: E402
from texpr.targets import get_target    # noqa: E402
from _bench import CpuLoad, measure_peak  # noqa: E402

# ---------------------------------------------------------------------------- the schedules


def _matmul(M, N, K, packed=None):
    """C = A @ B; with packed=bn, B is read through a packed copy PB[N/bn, K, bn]."""
    A = te.placeholder((M, K), name="A")
    B = te.placeholder((K, N), name="B")
    k = te.reduce_axis((0, K), name="k")
    if packed is None:
        C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
        return A, B, None, C
    bn = packed
    PB = te.compute((N // bn, K, bn), lambda x, y, z: B[y, x * bn + z], name="packedB")
    C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * PB[j // bn, k, j % bn], axis=k), name="C")
    return A, B, PB, C


def step_naive(M, N, K, cfg):
    A, B, _, C = _matmul(M, N, K)
    s = te.create_schedule(C.op)
    return s, [A, B, C]


def step_blocked(M, N, K, cfg):
    bi, bj, kf = cfg["bi"], cfg["bj"], cfg["kf"]
    A, B, _, C = _matmul(M, N, K)
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], bi, bj)
    ko, ki = s[C].split(C.op.reduce_axis[0], factor=kf)
    # a bi x bj block of C is updated by kf steps of k at a time; ji (contiguous) innermost
    s[C].reorder(io, jo, ko, ii, ki, ji)
    return s, [A, B, C]


def step_packed(M, N, K, cfg, vectorize=False):
    bi, bj, kf = cfg["bi"], cfg["bj"], cfg["kf"]
    A, B, PB, C = _matmul(M, N, K, packed=bj)
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], bi, bj)
    ko, ki = s[C].split(C.op.reduce_axis[0], factor=kf)
    # the same loops as step 2; B's block is now one contiguous run of memory
    s[C].reorder(io, jo, ko, ii, ki, ji)
    if vectorize:
        s[C].vectorize(ji)
        s[PB].vectorize(PB.op.axis[2])
    return s, [A, B, C]


def step_vectorized(M, N, K, cfg):
    return step_packed(M, N, K, cfg, vectorize=True)


def step_register_tile(M, N, K, cfg, parallel=False):
    """mr x nr accumulators in registers (cache_write local), k outermost inside the tile."""
    mr, nr = cfg["mr"], cfg["nr"]
    A, B, PB, C = _matmul(M, N, K, packed=nr)
    s = te.create_schedule(C.op)
    CC = s.cache_write(C, "local")
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], mr, nr)   # M % mr: a tail tile
    s[CC].compute_at(s[C], jo)
    i2, j2 = s[CC].op.axis
    (kk,) = s[CC].op.reduce_axis
    s[CC].reorder(kk, i2, j2)
    s[CC].unroll(i2)
    s[CC].vectorize(j2)
    s[C].unroll(ii)
    s[C].vectorize(ji)
    s[PB].vectorize(PB.op.axis[2])
    if parallel:
        s[C].parallel(io)
        s[PB].parallel(PB.op.axis[0])
    return s, [A, B, C]


def step_parallel(M, N, K, cfg):
    return step_register_tile(M, N, K, cfg, parallel=True)


def step_tensorized(M, N, K, cfg):
    """The register tile as a hand-written micro-kernel (texpr.targets.intrin.gemm_fp32),
    brought in with tensorize, in BLIS's loop order: for each kc-deep slice of k, B's slice is
    packed into nr-wide panels (PB, stays in L2/L3); for each mc-row block of A (stays in L2)
    the micro-kernel walks every panel, the panel in L1 across the block's row tiles. A tile's
    first k slice starts from zero in registers (no pass zeroing C).

    Threads split the panels (jo), not the row blocks: with 2 threads and 1024 rows the row
    blocks did not divide evenly (the last, partial block ran on one thread) and the panels
    do (1024^3 AVX-512, 2 threads: 413 -> 452 GFLOP/s). A is not packed: the micro-kernel
    broadcasts from mr rows of A directly, which measured 1-3% faster than packing A per
    block (the copy costs more than the strided broadcasts)."""
    from texpr.targets.intrin import gemm_fp32
    mr, nr, kc, mc = cfg["tmr"], cfg["nr"], min(cfg["kc"], K), cfg["mc"]
    A = te.placeholder((M, K), name="A")
    B = te.placeholder((K, N), name="B")
    k = te.reduce_axis((0, K), name="k")
    PB = te.compute((N // nr, K, nr), lambda x, y, z: B[y, x * nr + z], name="packedB")
    C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * PB[j // nr, k, j % nr], axis=k),
                   name="C")
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], mr, nr)
    ko, ki = s[C].split(C.op.reduce_axis[0], factor=kc)
    ic, ir = s[C].split(io, factor=max(1, mc // mr))
    s[C].reorder(ko, ic, jo, ir, ii, ji, ki)
    s[C].tensorize(ii, gemm_fp32(mr, nr, kc))
    s[C].parallel(jo)
    s[PB].compute_at(s[C], ko)
    s[PB].vectorize(PB.op.axis[2])
    s[PB].parallel(PB.op.axis[0])
    return s, [A, B, C]


STEPS = [
    (1, "naive", step_naive, "default schedule: i, j, k loops"),
    (2, "blocked", step_blocked, "tile i,j by bi x bj, split k by kf: loops io,jo,ko,ii,ki,ji"),
    (3, "packed B", step_packed, "+ B copied to PB[N/bj][K][bj] (each block contiguous)"),
    (4, "vectorized", step_vectorized, "+ vectorize ji (and the packing copy)"),
    (5, "register tile", step_register_tile, "mr x nr tile in registers: cache_write local, "
     "compute_at, unroll, vectorize"),
    (6, "parallel", step_parallel, "+ parallel over row tiles and over the packing"),
    (7, "tensorized", step_tensorized, "the tile as the gemm_fp32 micro-kernel (tensorize), "
     "B packed per k slice, A read in L2-sized row blocks (BLIS order), threads split B's panels"),
]


def default_config(target):
    vb = get_target(target).vector_bits
    lanes = vb // 32
    # steps 2-4: 4 x 32 blocks of C, 4 steps of k at a time.
    # steps 5-6: 6 rows x 2 vectors of accumulators in registers (AVX2: 6x16, AVX-512: 6x32)
    # step 7: the micro-kernel's tile: AVX-512 8x32 (16 of 32 zmm registers accumulate; 8
    #   divides the usual sizes, so no tail rows), AVX2 6x16 (12 of 16 ymm); A blocks of mc
    #   rows and B slices of kc rows sized for L2
    return {"bi": 4, "bj": 32, "kf": 4, "mr": 6, "nr": 2 * lanes, "kc": 512, "mc": 128,
            "tmr": 8 if lanes >= 16 else 6}


# ---------------------------------------------------------------------------- measuring


def _median_time(fn, number, repeat):
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        ts.append((time.perf_counter() - t0) / number)
    return statistics.median(ts)


def _calibrate(seconds_per_call, budget):
    """(number, repeat) so that one measurement takes about `budget` seconds."""
    if seconds_per_call > 0.5:
        return 1, 3
    number = max(1, int(budget / 5 / max(seconds_per_call, 1e-7)))
    return number, 5




# Libraries loaded here stay loaded: the peak kernel starts OpenMP worker threads in libgomp,
# and unloading it (cffi dlcloses a library when its object is garbage collected) unmaps
# code those parked threads still run: the process crashes later.
_KEEP_LOADED = []


def machine_vector_bits():
    """The widest float vectors this CPU has (and the gcc flags that use them)."""
    if _host_has("avx512f"):
        return 512, ["-mavx512f", "-mfma"]
    if _host_has("avx2") and _host_has("fma"):
        return 256, ["-mavx2", "-mfma"]
    return 128, []


def _host_has(flag):
    from texpr.targets.build import host_has
    return host_has(flag)


def _blas_limits(n):
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=n, user_api="blas")


class Run:
    """Arrays, NumPy reference, and NumPy's timings for one problem size."""

    def __init__(self, size, budget):
        rng = np.random.default_rng(0)
        self.M = self.N = self.K = size
        self.a = rng.random((size, size), dtype=np.float32)
        self.b = rng.random((size, size), dtype=np.float32)
        self.ref = self.a @ self.b
        self.c_np = np.empty_like(self.ref)
        self.flops = 2.0 * size ** 3
        self.budget = budget
        self.np_times = {}
        self.np_loads = {}

    def time_numpy(self, threads):
        a, b, c = self.a, self.b, self.c_np
        with _blas_limits(threads):
            np.matmul(a, b, out=c)
            t = _median_time(lambda: np.matmul(a, b, out=c), *_calibrate(
                _median_time(lambda: np.matmul(a, b, out=c), 1, 1), self.budget))
        return t

    def numpy_gflops(self, threads):
        """From NumPy's undisturbed measurements if there are any, else from all of them."""
        return self.flops / statistics.median(self._np_pick(threads)) / 1e9

    def numpy_disturbed(self, threads):
        return all(x > 0.1 for x in self.np_loads[threads])

    def _np_pick(self, threads):
        quiet = [t for t, x in zip(self.np_times[threads], self.np_loads[threads]) if x <= 0.1]
        return quiet or self.np_times[threads]

    def check(self, c, what):
        np.testing.assert_allclose(c, self.ref, rtol=2e-4, atol=1e-3 * self.K / 256,
                                   err_msg=f"{what}: result differs from NumPy")


# After a call, OpenBLAS's worker threads spin for a while (tens of ms) before they sleep. On a
# machine with few cores they take a core away from texpr's OpenMP threads, and a parallel
# kernel then waits for a descheduled thread at its barrier: calls right after a NumPy matmul
# are 10-100x slower. Let them fall asleep before timing texpr.
SETTLE_S = 0.25


def _time_texpr(run, mod, threads):
    os.environ["TEXPR_NUM_THREADS"] = str(threads)
    c = np.zeros_like(run.ref)
    mod(run.a, run.b, c)
    run.check(c, f"{mod.name} ({threads} thread{'s' if threads > 1 else ''})")
    warm, t_end = [], time.perf_counter() + 0.05
    while len(warm) < 3 or (time.perf_counter() < t_end and len(warm) < 50):
        t0 = time.perf_counter()
        mod(run.a, run.b, c)
        warm.append(time.perf_counter() - t0)
        if warm[-1] > 0.5:
            break
    number, repeat = _calibrate(min(warm), run.budget)
    return mod.time(run.a, run.b, c, number=number, repeat=repeat)


def wait_for_idle(max_wait, window=0.3, threshold=0.05):
    """Sleep until other processes use < threshold of the CPU over a window (or max_wait)."""
    t_end = time.perf_counter() + max_wait
    while True:
        load = CpuLoad()
        load.start()
        time.sleep(window)
        share = load.stop() or 0.0
        if share < threshold or time.perf_counter() > t_end:
            return share


def time_step(run, mod, threads, wait_idle=0.0, tries=3):
    """Seconds per call of `mod` with `threads` threads (median), NumPy timed right before.

    With wait_idle > 0, each measurement waits for an idle machine first and is redone (up to
    `tries` times) when other processes took more than 10% of the CPU meanwhile; the
    quietest attempt is kept. Returns (seconds, share of the CPU other processes used)."""
    best = None
    for _ in range(tries if wait_idle else 1):
        if wait_idle:
            wait_for_idle(wait_idle)
        load = CpuLoad()
        load.start()
        t_np = run.time_numpy(threads)
        time.sleep(SETTLE_S)
        t = _time_texpr(run, mod, threads)
        share = load.stop() or 0.0
        if best is None or share < best[2]:
            best = (t, t_np, share)
        if share < 0.1:
            break
    run.np_times.setdefault(threads, []).append(best[1])
    run.np_loads.setdefault(threads, []).append(best[2])
    return best[0], best[2]


def compile_timings(sched_fn, size, cfg, target, repeat=7):
    """Lowering + C emission, and a rebuild that hits the disk cache: median seconds, as wall
    time and as this process's CPU time (which other processes on the machine do not inflate)."""
    tgt = get_target(target)
    s, args = sched_fn(size, size, size, cfg)
    te.build(s, args, target=target, name="matmul_best")         # make sure it is cached
    rows = {"lower": [], "emit": [], "rebuild": []}

    def clock():
        return time.perf_counter(), time.process_time()
    for _ in range(repeat):
        t0 = clock()
        func = te.lower(s, args, "matmul_best", target=tgt)
        t1 = clock()
        tgt.emitter(func).emit()
        t2 = clock()
        te.build(s, args, target=target, name="matmul_best")
        t3 = clock()
        for k, (a, b) in zip(rows, ((t0, t1), (t1, t2), (t2, t3))):
            rows[k].append((b[0] - a[0], b[1] - a[1]))
    return {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
            for k, v in rows.items()}


def call_overhead(target, calls=20000, repeat=7):
    """Seconds per call: a 16-element vector add through texpr, and a bare cffi empty call."""
    import cffi
    from texpr.targets.toolchain import compile_shared
    n = 16
    A = te.placeholder((n,), name="A")
    B = te.placeholder((n,), name="B")
    C = te.compute((n,), lambda i: A[i] + B[i], name="C")
    s = te.create_schedule(C.op)
    s[C].vectorize(C.op.axis[0])
    f = te.build(s, [A, B, C], target=target, name="tiny_add")
    a, b, c = (np.ones(n, np.float32) for _ in range(3))
    f(a, b, c)
    path, _ = compile_shared("void texpr_bench_empty(void* a, void* b, void* c) "
                             "{ (void)a; (void)b; (void)c; }\n", ["-O2"])
    ffi = cffi.FFI()
    ffi.cdef("void texpr_bench_empty(void*, void*, void*);")
    lib = ffi.dlopen(path)
    _KEEP_LOADED.append((ffi, lib))
    empty = lib.texpr_bench_empty
    pa, pb, pc = ffi.from_buffer(a), ffi.from_buffer(b), ffi.from_buffer(c)
    t_texpr = _median_time(lambda: f(a, b, c), calls, repeat)
    t_bare = _median_time(lambda: empty(pa, pb, pc), calls, repeat)
    return t_texpr, t_bare


# ---------------------------------------------------------------------------- main


def parse_steps(text):
    out = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.update(range(int(lo), int(hi) + 1))
        else:
            out.add(int(part))
    bad = out - {s[0] for s in STEPS}
    if bad:
        raise SystemExit(f"--steps: no step {sorted(bad)}; steps are 1-{len(STEPS)}")
    return sorted(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="256^3 and short timings (for tests)")
    p.add_argument("--size", type=int, default=None, help="M = N = K (multiple of 32)")
    p.add_argument("--steps", default="1-7", help="e.g. 1,5-7 (default: all)")
    p.add_argument("--threads", default=None,
                   help="thread counts to run, e.g. 1,2 (default: 1 and all cores)")
    p.add_argument("--target", default="native",
                   help="texpr target for every step (default: native)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="before each measurement wait up to SECONDS for other processes to go "
                        "idle, and redo measurements disturbed by them (shared machines)")
    p.add_argument("--rounds", type=int, default=1,
                   help="measure every step this many times, each right after a NumPy "
                        "measurement, and report medians (noisy machines)")
    p.add_argument("--no-extras", action="store_true",
                   help="skip the lowering / rebuild / call-overhead timings")
    p.add_argument("--keep-openblas-env", action="store_true",
                   help="do not drop OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE")
    args = p.parse_args(argv)
    print(f"CPU: {_bench.cpu_model()}")

    size = args.size or (256 if args.quick else 1024)
    if size % 32:
        raise SystemExit("--size must be a multiple of 32")
    steps = parse_steps(args.steps)
    ncpu = os.cpu_count() or 1
    threads = sorted({int(x) for x in args.threads.split(",")}) if args.threads else \
        sorted({1, ncpu})
    budget = 0.1 if args.quick else 0.5       # seconds per timing measurement
    target = args.target
    tgt = get_target(target)
    cfg = default_config(target)

    print(f"texpr matmul: float32 M=N=K={size}, target={target} ({tgt.note or tgt.name}, "
          f"{tgt.vector_bits}-bit vectors), {ncpu} cores")
    print(f"schedule parameters: {cfg}")
    if tgt.vector_bits < 512 and _host_has("avx512f"):
        print(f"  note: this CPU has AVX-512 (and OpenBLAS's SkylakeX kernel uses it) but target "
              f"{target} has {tgt.vector_bits}-bit vectors: its peak is half of the CPU's; "
              "--target avx512 compares like with like")
    print(f"NumPy {np.__version__}: {_bench.openblas_note()}")

    bits, flags = machine_vector_bits()
    iters = 1_000_000 if args.quick else 4_000_000
    def single_core_peak():
        if args.wait_idle:
            wait_for_idle(args.wait_idle)
        return measure_peak(bits, 1, n=iters, flags=flags)

    p1 = single_core_peak()
    print(f"machine peak, measured: {p1:.0f} GFLOP/s per core (12 independent FMA chains, "
          f"{bits}-bit vectors, best of 5; measured again at the end, the higher one counts)")
    print(f"  (= {p1 / (2 * bits // 32):.2f} G vector FMAs/s per core; the 2.5 GHz x 16 "
          "flop/cycle rule of thumb would say 40 GFLOP/s per core)")
    if tgt.vector_bits < bits:
        p_t = measure_peak(tgt.vector_bits, 1, n=iters,
                           flags=["-mavx2", "-mfma"] if tgt.vector_bits == 256 else [])
        print(f"  peak with target {target}'s {tgt.vector_bits}-bit vectors: {p_t:.0f} GFLOP/s "
              "per core")
    print()

    load = CpuLoad()
    load.start()
    run = Run(size, budget)
    results, loads = {}, {}
    for num, name, fn, what in STEPS:
        if num not in steps:
            continue
        s, sargs = fn(size, size, size, cfg)
        t0 = time.perf_counter()
        mod = te.build(s, sargs, target=target, name=f"matmul_step{num}")
        tb = time.perf_counter() - t0
        res = {}
        for t in threads:
            rounds = [time_step(run, mod, t, wait_idle=args.wait_idle)
                      for _ in range(max(1, args.rounds))]
            res[t] = statistics.median(run.flops / sec / 1e9 for sec, _ in rounds)
            loads[(num, t)] = statistics.median(share for _, share in rounds)
        results[num] = res
        print(f"  step {num} {name:<14} built in {tb:5.2f} s, checked vs NumPy: ok   "
              + "  ".join(f"{t}T {res[t]:7.1f} GFLOP/s" + ("*" if loads[(num, t)] > 0.1 else "")
                          for t in threads), flush=True)
    os.environ.pop("TEXPR_NUM_THREADS", None)
    p1 = max(p1, single_core_peak())
    peaks = {t: t * p1 for t in threads}      # T cores: T x the best single-core rate

    print()
    head = f"{'step':<24}"
    sub = f"{'':<24}"
    for t in threads:
        label = f"{t} thread{'s' if t > 1 else ''}"
        head += f" | {label:^26}"
        sub += f" | {'GFLOP/s':>8} {'xNumPy':>7} {'%peak':>8}"
    print(head)
    print(sub)
    print("-" * len(sub))
    for num, name, fn, what in STEPS:
        if num not in results:
            continue
        row = f"{num} {name:<22}"
        for t in threads:
            g = results[num][t]
            mark = "*" if loads[(num, t)] > 0.1 else " "
            row += f" | {g:8.1f}{mark}{g / run.numpy_gflops(t):7.3f} {100 * g / peaks[t]:7.1f}%"
        print(row)
    row = f"{'NumPy (OpenBLAS)':<24}"
    for t in threads:
        g = run.numpy_gflops(t)
        mark = "*" if run.numpy_disturbed(t) else " "
        row += f" | {g:8.1f}{mark}{1.0:7.3f} {100 * g / peaks[t]:7.1f}%"
    print(row)
    row = f"{'machine peak':<24}"
    for t in threads:
        row += f" | {peaks[t]:8.1f} {peaks[t] / run.numpy_gflops(t):7.3f} {100.0:7.1f}%"
    print(row)
    print("(NumPy: median of " + ", ".join(
        f"{len(run._np_pick(t))} ({t}T)" for t in threads) + " measurements taken between the "
        "steps, undisturbed ones only where there are some; xNumPy = texpr GFLOP/s / NumPy "
        f"GFLOP/s; %peak: peak = threads x {p1:.0f} GFLOP/s)")
    others = load.stop()
    if others is not None:
        print(f"other processes used {100 * others:.0f}% of the machine's CPU time during the "
              "measurements" + (": figures with all threads are unreliable" if others > 0.1 else ""))
    if any(v > 0.1 for v in loads.values()):
        print("* = measured while other processes took > 10% of the CPU (use --wait-idle)")
    print()
    for num, name, fn, what in STEPS:
        if num in results:
            print(f"  step {num} {name}: {what}")
    # the best schedule for each thread count: the step with the highest GFLOP/s there
    if results and max(results) >= 5:
        best = {t: max(results, key=lambda n: results[n][t]) for t in threads}
        print()
        print("best schedule: " + ", ".join(
            f"{t} thread{'s' if t > 1 else ''} step {best[t]} "
            f"{results[best[t]][t] / run.numpy_gflops(t):.2f}x NumPy" for t in threads)
            + "  (goal >= 0.7x)")
        if 7 in results:
            print("tensorized micro-kernel (step 7): " + ", ".join(
                f"{t} thread{'s' if t > 1 else ''} {results[7][t] / run.numpy_gflops(t):.2f}x NumPy"
                for t in threads) + "  (goal >= 1.0x)")

    if not args.no_extras:
        print()
        fn = step_parallel
        ct = compile_timings(fn, size, cfg, target)
        t_call, t_bare = call_overhead(target)
        overhead = t_call - t_bare

        def verdict(x, bar):
            return "ok" if x < bar else "OVER the bar"
        (lw, lc), (ew, ec), (rw, rc) = ct["lower"], ct["emit"], ct["rebuild"]
        print(f"lowering + C emission of the best schedule: {1e3 * (lw + ew):6.1f} ms wall, "
              f"{1e3 * (lc + ec):6.1f} ms CPU (lower {1e3 * lw:.1f}, emit {1e3 * ew:.1f} ms wall)"
              f"   bar < 300 ms: {verdict(lw + ew, 0.3)}")
        print(f"cached rebuild (te.build again, disk cache hit):  {1e3 * rw:6.1f} ms wall, "
              f"{1e3 * rc:6.1f} ms CPU   bar < 20 ms: {verdict(rw, 0.020)}")
        print(f"per-call overhead: texpr call of a 16-element add {1e6 * t_call:.2f} us, bare cffi "
              f"call of an empty C function {1e6 * t_bare:.2f} us, overhead {1e6 * overhead:.2f} us"
              f"   bar < 5 us: {verdict(overhead, 5e-6)}")
    return results


if __name__ == "__main__":
    main()
