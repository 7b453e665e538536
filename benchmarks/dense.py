#!/usr/bin/env python
"""dense and batch_matmul from texpr.topi (registered schedules) beside NumPy and PyTorch.

    python benchmarks/dense.py                 # dense 1024^3, batch_matmul 64 x 128^3
    python benchmarks/dense.py --quick         # small sizes, 1 thread (smoke test)
    python benchmarks/dense.py --threads 1,2 --target avx512
    python benchmarks/dense.py --sweep         # M in 1, 16, 64 x N, K in 512, 1024, 4096

Rows, each measured in the same run, interleaved with its references:
  texpr dense           topi.nn.dense + topi.schedule: the weight is packed into panels on
                        every call (a stage of the kernel)
  texpr dense_pack      topi.nn.dense_pack: the panels packed once, offline (a model's weight)
  NumPy                 a @ w.T  (OpenBLAS; threads set with threadpoolctl)
  torch                 torch.nn.functional.linear(a, w)
  texpr batch_matmul    topi.nn.batch_matmul (y packed per batch inside the kernel)
  torch.bmm             torch.bmm(x, y.transpose(1, 2)): MKL's SGEMM_BATCH (MKL_VERBOSE=1 shows
                        it), whatever ATEN_CPU_CAPABILITY says (that picks ATen's own kernels):
                        with =avx2 the same call ran as fast (Zen 4, 4.1-5.1 ms either way)
Figures: median ms over interleaved rounds, GFLOP/s, ratio to the reference (x > 1: texpr is
faster), and the fraction of the machine's fp32 peak at the target's vector width (measured).
The default target is avx512 where the CPU runs it (as OpenBLAS and oneDNN do), else native.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench  # noqa: E402

if __name__ == "__main__":
    _bench.reexec_without_openblas_overrides(__file__)

import argparse  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, _bench.ROOT)
import texpr as te  # noqa: E402
import texpr.topi as topi  # noqa: E402


def build_dense(M, N, K, target):
    x = te.placeholder((M, K), name="x")
    w = te.placeholder((N, K), name="w")
    out = topi.nn.dense(x, w)
    f = te.build(topi.schedule(out, target), [x, w, out], target=target, name="dense")
    nb = topi.cpu.dense_weight_block(N, K, target, M=M)
    wp = te.placeholder((-(-N // nb), K, nb), name="w_panels")
    out2 = topi.nn.dense_pack(x, wp, units=N)
    f2 = te.build(topi.schedule(out2, target), [x, wp, out2], target=target, name="dense_pack")
    return f, f2, nb


def build_bmm(B, M, N, K, target):
    x = te.placeholder((B, M, K), name="x")
    y = te.placeholder((B, N, K), name="y")
    out = topi.nn.batch_matmul(x, y)
    return te.build(topi.schedule(out, target), [x, y, out], target=target, name="batch_matmul")


SWEEP_M = (1, 16, 64)
SWEEP_NK = (512, 1024, 4096)


def sweep(target, tcounts, timer):
    """topi.nn.dense on a raw weight (the schedule topi picks for each batch size) beside
    torch.nn.functional.linear, for every M x N x K of the sweep; returns the ratios."""
    import torch
    import torch.nn.functional as F
    rng = np.random.default_rng(0)
    ratios = {t: [] for t in tcounts}
    print(f"{'M':>4} {'N':>5} {'K':>5} | " + " | ".join(
        f"{t} thr: {'texpr ms':>9} {'torch ms':>9} {'x torch':>7}" for t in tcounts))
    for M in SWEEP_M:
        for N in SWEEP_NK:
            for K in SWEEP_NK:
                a = rng.standard_normal((M, K), dtype=np.float32)
                b = rng.standard_normal((N, K), dtype=np.float32)
                c = np.empty((M, N), np.float32)

                def build():
                    x = te.placeholder((M, K), name="x")
                    w = te.placeholder((N, K), name="w")
                    out = topi.nn.dense(x, w)
                    f = te.build(topi.schedule(out, target), [x, w, out], target=target,
                                 name="dense")
                    f(a, b, c)
                    np.testing.assert_allclose(c, a @ b.T, rtol=1e-3, atol=1e-3 * np.sqrt(K))
                    return f
                fs = _bench.per_threads(build, tcounts)    # each count's own build
                ta, tb = torch.from_numpy(a), torch.from_numpy(b)
                cells = []
                for t in tcounts:
                    f = fs[t]
                    with _bench.threads(t), torch.no_grad():
                        r = timer.run({"texpr": lambda: f(a, b, c),
                                       "torch": lambda: F.linear(ta, tb)})
                    ratio = r["torch"][0] / r["texpr"][0]
                    ratios[t].append(ratio)
                    cells.append(f"        {r['texpr'][0] * 1e3:9.3f} {r['torch'][0] * 1e3:9.3f} "
                                 f"{ratio:6.2f}x")
                print(f"{M:4d} {N:5d} {K:5d} | " + " | ".join(cells), flush=True)
    for t, rs in ratios.items():
        geo = float(np.exp(np.mean(np.log(rs))))
        print(f"{t} thread{'s' * (t > 1)}: geometric mean {geo:.2f}x torch, worst {min(rs):.2f}x "
              "(bar >= 1.0)")
    return ratios


def row(name, t, flops, ref_t, peak):
    """t, ref_t: (median, best) seconds."""
    g = flops / t[0] / 1e9
    ratio = f"{ref_t[0] / t[0]:6.2f}x" if ref_t else "   ref "
    ratio_b = f"{ref_t[1] / t[1]:6.2f}x" if ref_t else "   ref "
    return (f"  {name:<22} {t[0] * 1e3:9.3f} {g:9.1f} {ratio:>8} {100 * g / peak:6.1f}% |"
            f" {t[1] * 1e3:9.3f} {ratio_b:>8}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, 1 thread, few rounds")
    ap.add_argument("--sweep", action="store_true", help="dense of M in 1, 16, 64 rows by "
                    "N, K in 512, 1024, 4096 beside torch linear (topi.nn.dense, raw weight)")
    ap.add_argument("--threads", default=None, help="thread counts, e.g. 1,2 (default 1 and "
                    "all cores; --quick: 1)")
    _bench.add_target_options(ap)
    args = ap.parse_args(argv)
    print(f"CPU: {_bench.cpu_model()}")
    import torch
    import torch.nn.functional as F

    target = args.target or _bench.best_target()
    ncpu = os.cpu_count() or 1
    if args.threads:
        tcounts = sorted({int(x) for x in args.threads.split(",")})
    else:
        tcounts = [1] if args.quick else sorted({1, ncpu})
    M = N = K = 256 if args.quick else 1024
    B, bm = (8, 64) if args.quick else (64, 128)
    timer = _bench.Timer(rounds=3 if args.quick else 9, calls=2 if args.quick else 3,
                         settle=_bench.SETTLE_S)

    if args.sweep:
        from texpr.topi.cpu import cpu_info
        print(f"texpr dense sweep, target={target}, {ncpu} cores, {cpu_info(target)} "
              f"{cpu_info(target).model}")
        print(f"PyTorch {torch.__version__} (CPU capability "
              f"{torch.backends.cpu.get_cpu_capability()})")
        return sweep(target, tcounts, timer)
    bits, peak, peak_note = _bench.peaks(target, tcounts, quick=args.quick)
    print(f"texpr dense / batch_matmul, target={target} ({bits}-bit vectors), {ncpu} cores")
    print(f"NumPy {np.__version__}: {_bench.openblas_note()}")
    print(f"PyTorch {torch.__version__} (CPU capability {torch.backends.cpu.get_cpu_capability()})")
    print(peak_note)
    cfg = topi.cpu.dense_config(M, N, K, target)
    print(f"dense schedule parameters: {cfg}")

    rng = np.random.default_rng(0)
    a = rng.standard_normal((M, K), dtype=np.float32)
    w = rng.standard_normal((N, K), dtype=np.float32)
    want = a @ w.T
    c1, c2, c3 = (np.empty((M, N), np.float32) for _ in range(3))
    tol = dict(rtol=1e-3, atol=1e-3 * np.sqrt(K))
    wt = np.ascontiguousarray(w.T)
    ta, tw = torch.from_numpy(a), torch.from_numpy(w)

    x = rng.standard_normal((B, bm, bm), dtype=np.float32)
    y = rng.standard_normal((B, bm, bm), dtype=np.float32)
    cb = np.empty((B, bm, bm), np.float32)

    def build():
        """(dense, dense_pack, its packed weight, batch_matmul), outputs checked."""
        f_dense, f_pack, nb = build_dense(M, N, K, target)
        wp = topi.testing.pack_dense_weight_ref(w, nb)    # the panels' width: per build
        f_dense(a, w, c1)
        f_pack(a, wp, c2)
        np.testing.assert_allclose(c1, want, **tol)
        np.testing.assert_allclose(c2, want, **tol)
        f_bmm = build_bmm(B, bm, bm, bm, target)
        f_bmm(x, y, cb)
        np.testing.assert_allclose(cb, topi.testing.batch_matmul_ref(x, y), rtol=1e-3,
                                   atol=1e-3)
        return f_dense, f_pack, wp, f_bmm
    built = _bench.per_threads(build, tcounts)      # each thread count's own kernels
    tx, ty = torch.from_numpy(x), torch.from_numpy(y).transpose(1, 2)
    tcb = torch.empty(B, bm, bm)
    print("outputs checked against NumPy: ok")

    load = _bench.CpuLoad()
    load.start()
    summary = {}
    with torch.no_grad():
        for t in tcounts:
            f_dense, f_pack, wp, f_bmm = built[t]
            with _bench.threads(t):
                fns = {
                    "texpr dense": lambda: f_dense(a, w, c1),
                    "texpr dense_pack": lambda: f_pack(a, wp, c2),
                    "NumPy (OpenBLAS)": lambda: np.matmul(a, wt, out=c3),
                    "torch linear": lambda: F.linear(ta, tw),
                }
                timer.warm_s = _bench.parallel_warm_s(fns, t)
                r = timer.run(fns)
                fns = {
                    "texpr batch_matmul": lambda: f_bmm(x, y, cb),
                    "torch.bmm": lambda: torch.bmm(tx, ty, out=tcb),
                }
                timer.warm_s = _bench.parallel_warm_s(fns, t)
                rb = timer.run(fns)
            fl = 2.0 * M * N * K
            fb = 2.0 * B * bm * bm * bm
            print()
            print(f"{t} thread{'s' * (t > 1)}:   (median of {timer.rounds} interleaved rounds, "
                  "and the best round)")
            print(f"  {'dense ' + f'{M}x{N}x{K}':<22} {'ms':>9} {'GFLOP/s':>9} {'xNumPy':>8} "
                  f"{'%peak':>7} | {'best ms':>9} {'xNumPy':>8}")
            ref_np = r["NumPy (OpenBLAS)"]
            for name in ("texpr dense", "texpr dense_pack", "torch linear"):
                print(row(name, r[name], fl, ref_np, peak[t]))
            print(row("NumPy (OpenBLAS)", ref_np, fl, None, peak[t]))
            print(f"  {'batch_matmul ' + f'{B}x{bm}^3':<22} {'ms':>9} {'GFLOP/s':>9} "
                  f"{'xbmm':>8} {'%peak':>7} | {'best ms':>9} {'xbmm':>8}")
            ref_b = rb["torch.bmm"]
            print(row("texpr batch_matmul", rb["texpr batch_matmul"], fb, ref_b, peak[t]))
            print(row("torch.bmm", ref_b, fb, None, peak[t]))
            summary[t] = (ref_np[0] / r["texpr dense"][0], ref_np[0] / r["texpr dense_pack"][0],
                          ref_b[0] / rb["texpr batch_matmul"][0])
    print()
    for t, (d, dp, bmm) in summary.items():
        print(f"{t} thread{'s' * (t > 1)}: dense {d:.2f}x NumPy, dense_pack {dp:.2f}x NumPy "
              f"(bar >= 1.0), batch_matmul {bmm:.2f}x torch.bmm (bar >= 1.0)")
    note = _bench.load_note(load.stop())
    if note:
        print(note)
    return summary


if __name__ == "__main__":
    main()
