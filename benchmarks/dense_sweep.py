#!/usr/bin/env python
"""dense (topi.nn.dense on a raw weight) over shapes off the other benchmarks' grid, beside
torch.nn.functional.linear in the same run: M = 1, 3, 7, 16, 33, 100, 257 rows by transformer
and classifier widths (768, 3072, 1000, 2048, 4096 x 1024), widths that are not multiples
of 8, and a reduction of 16 (a low-rank factor).

    python benchmarks/dense_sweep.py                       # the sweep, 1 and 2 threads
    python benchmarks/dense_sweep.py --threads 1 --shapes 64x512x512,512x1024x256

Each kernel is built with its registered schedule at each thread count it is timed at,
checked against NumPy, then timed interleaved with torch (median of rounds). Columns: median
ms, "x torch" = torch time / texpr time (> 1: texpr faster); the summary gives the geometric
mean and the worst ratio. The CPU model heads the output.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench  # noqa: E402

if __name__ == "__main__":
    _bench.reexec_without_openblas_overrides(__file__)

import argparse  # noqa: E402
import math  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, _bench.ROOT)
import texpr as te  # noqa: E402
import texpr.topi as topi  # noqa: E402

ROWS = (1, 3, 7, 16, 33, 100, 257)
#: (N, K): BERT-base projections and FFN, a classifier head, a ranking layer, odd widths, a
#: rank-16 factor
WIDTHS = ((768, 768), (3072, 768), (768, 3072), (1000, 2048), (4096, 1024), (1001, 999),
          (4096, 16))


def sweep_shapes():
    return [(m, n, k) for m in ROWS for n, k in WIDTHS]


def parse_shapes(text):
    return [tuple(int(v) for v in s.split("x")) for s in text.split(",") if s]


def build(m, n, k, target, rng, tcounts):
    """({threads: texpr call}, torch call) of one shape, sharing inputs: the kernel built at
    each thread count (_bench.per_threads), each build's output checked first."""
    import torch
    import torch.nn.functional as F
    a = rng.standard_normal((m, k), dtype=np.float32)
    wa = rng.standard_normal((n, k), dtype=np.float32)
    out = np.zeros((m, n), np.float32)

    def one():
        x, w = te.placeholder((m, k), name="x"), te.placeholder((n, k), name="w")
        y = topi.nn.dense(x, w)
        f = te.build(topi.schedule([y], target), [x, w, y], target=target, name="dense")
        f(a, wa, out)
        np.testing.assert_allclose(out, a @ wa.T, rtol=1e-3, atol=1e-3 * math.sqrt(k),
                                   err_msg=f"dense {m}x{n}x{k}")
        return lambda: f(a, wa, out)
    ta, tw = torch.from_numpy(a), torch.from_numpy(wa)
    return _bench.per_threads(one, tcounts), (lambda: F.linear(ta, tw))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    ap.add_argument("--shapes", default=None, help="MxNxK,... instead of the sweep")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--cpu-time", action="store_true",
                    help="time the calling thread's CPU time (1 thread only): on a machine shared "
                         "with other jobs, time spent descheduled does not count")
    _bench.add_target_options(ap)
    args = ap.parse_args(argv)
    import torch
    target = args.target or _bench.best_target()
    shapes = parse_shapes(args.shapes) if args.shapes else sweep_shapes()
    tcounts = [int(t) for t in args.threads.split(",")]
    if args.cpu_time:
        if tcounts != [1]:
            ap.error("--cpu-time measures one thread: use it with --threads 1")

    print(f"CPU: {_bench.cpu_model()}; {os.cpu_count()} cores; texpr target {target}; "
          f"PyTorch {torch.__version__}" + ("; thread CPU time" if args.cpu_time else ""))
    rng = np.random.default_rng(0)
    cases = [((m, n, k), build(m, n, k, target, rng, tcounts)) for m, n, k in shapes]
    print(f"{len(cases)} kernels built at each of {len(tcounts)} thread count(s), outputs "
          "checked against NumPy: ok")
    import time
    timer = _bench.Timer(rounds=args.rounds, calls=3, settle=_bench.SETTLE_S,
                         clock=time.thread_time if args.cpu_time else None)
    load = _bench.CpuLoad()
    load.start()
    summary = []
    with torch.no_grad():
        for t in tcounts:
            print(f"-- {t} thread{'s' * (t > 1)} (median ms of {timer.rounds} interleaved rounds)")
            print(f"  {'shape':<18}{'texpr':>9}{'torch':>9}{'x torch':>9}")
            ratios = []
            with _bench.threads(t):
                for (m, n, k), (fx, ft) in cases:
                    fns = {"texpr": fx[t], "torch": ft}
                    timer.warm_s = _bench.parallel_warm_s(fns, t)    # torch's spinning workers
                    r = {key: v[0] for key, v in timer.run(fns).items()}
                    x = r["torch"] / r["texpr"]
                    ratios.append((x, f"{m}x{n}x{k}"))
                    print(f"  {f'{m}x{n}x{k}':<18}{r['texpr'] * 1e3:9.3f}{r['torch'] * 1e3:9.3f}"
                          f"{x:8.2f}x", flush=True)
            geo = math.exp(sum(math.log(x) for x, _ in ratios) / len(ratios))
            worst = min(ratios)
            summary.append(f"  {t} thread{'s' * (t > 1)}: geometric mean {geo:.2f}x, worst "
                           f"{worst[0]:.2f}x ({worst[1]}), {len(ratios)} shapes")
    print("summary: texpr against torch (x > 1: texpr faster)")
    print("\n".join(summary))
    note = _bench.load_note(load.stop())
    if note:
        print(note)


if __name__ == "__main__":
    main()
