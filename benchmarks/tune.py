#!/usr/bin/env python
"""Auto-tuning (texpr.autotvm) of a topi operator: the schedule before (the heuristic, the
fallback config) and after N measured trials, beside torch, in the same run.

    python benchmarks/tune.py                       # dense 1024^3, 64 trials, XGBTuner
    python benchmarks/tune.py --op conv --trials 32 # ResNet-50 3x3 conv, 256 ch, 14x14
    python benchmarks/tune.py --quick               # dense 256^3, 8 trials (a smoke test)
    python benchmarks/tune.py --tuner ga --threads 2 --log tune.db

The tuner measures each candidate in its own process (autotvm.LocalRunner) at the given
thread count; afterwards the fallback and the tuned kernel (built under
apply_history_best) are timed interleaved with torch (median ms over rounds). The machine
is shared: trust ratios measured in the same run, and repeat.
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench  # noqa: E402

import argparse  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, _bench.ROOT)
import texpr as te  # noqa: E402
from texpr import autotvm, topi  # noqa: E402


def _dense(M, N, K):
    args = (("TENSOR", (M, K), "float32"), ("TENSOR", (N, K), "float32"))
    a = np.random.rand(M, K).astype("float32")
    w = np.random.rand(N, K).astype("float32")

    def graph():
        x, y = te.placeholder((M, K), name="data"), te.placeholder((N, K), name="weight")
        out = topi.nn.dense(x, y)
        return [x, y, out]

    def torch_fn():
        import torch
        ta, tw = torch.from_numpy(a), torch.from_numpy(w)
        return lambda: torch.nn.functional.linear(ta, tw)
    return ("topi.dense", args, graph, [a, w, np.empty((M, N), "float32")], torch_fn,
            f"dense {M}x{K} by {N}x{K}", lambda o: np.allclose(o, a @ w.T, rtol=1e-3,
                                                                atol=1e-3))


def _conv(N, C, H, O, R, stride, pad):
    args = (("TENSOR", (N, C, H, H), "float32"), ("TENSOR", (O, C, R, R), "float32"),
            (stride, stride), (pad, pad, pad, pad), (1, 1))
    d = np.random.rand(N, C, H, H).astype("float32")
    k = np.random.rand(O, C, R, R).astype("float32")
    P = (H + 2 * pad - R) // stride + 1

    def graph():
        x, y = te.placeholder(d.shape, name="data"), te.placeholder(k.shape, name="kernel")
        return [x, y, topi.nn.conv2d_nchw(x, y, stride, pad)]

    def torch_fn():
        import torch
        td, tk = torch.from_numpy(d), torch.from_numpy(k)
        return lambda: torch.nn.functional.conv2d(td, tk, stride=stride, padding=pad)

    def check(o):
        import torch
        ref = torch.nn.functional.conv2d(torch.from_numpy(d), torch.from_numpy(k),
                                         stride=stride, padding=pad).numpy()
        return np.allclose(o, ref, rtol=1e-3, atol=1e-3)
    return ("topi.conv2d_nchw", args, graph, [d, k, np.empty((N, O, P, P), "float32")],
            torch_fn, f"conv2d {N}x{C}x{H}x{H}, {O}x{C}x{R}x{R}/{stride}", check)


TUNERS = {"xgb": autotvm.tuner.XGBTuner, "ga": autotvm.tuner.GATuner,
          "random": autotvm.tuner.RandomTuner}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--op", choices=("dense", "conv"), default="dense")
    ap.add_argument("--trials", type=int, default=64)
    ap.add_argument("--tuner", choices=sorted(TUNERS), default="xgb")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log", default=None, help="records (.log: JSON lines, .db: SQLite); "
                    "default: a temporary file")
    ap.add_argument("--quick", action="store_true")
    _bench.add_target_options(ap)
    args = ap.parse_args()
    target = args.target or "native"
    if args.quick:
        case = _dense(256, 256, 256)
        args.trials = min(args.trials, 8)
    else:
        case = _dense(1024, 1024, 1024) if args.op == "dense" else \
            _conv(1, 256, 14, 256, 3, 1, 1)
    name, targs, graph, arrays, torch_fn, what, check = case
    log = args.log or os.path.join(tempfile.mkdtemp(), "tune.db")
    print(f"CPU: {_bench.cpu_model()}; target {target}; {args.threads} thread(s)")
    with _bench.threads(args.threads):
        task = autotvm.task.create(name, targs, target)
        print(f"{what}: {len(task.config_space)} configs, {args.trials} trials with "
              f"{args.tuner}; records in {log}")
        tuner = TUNERS[args.tuner](task)
        cb = autotvm.callback.log_to_database(log) if log.endswith(".db") else \
            autotvm.callback.log_to_file(log)
        t0 = time.time()
        tuner.tune(args.trials, autotvm.measure_option(
            builder=autotvm.LocalBuilder(), runner=autotvm.LocalRunner(
                number=3, repeat=3, min_repeat_ms=20, timeout=20, check_correctness=True)),
            callbacks=[cb, autotvm.callback.progress_bar(args.trials, si_prefix="G")])
        print(f"tuning took {time.time() - t0:.0f} s; best config {tuner.best_config}")
        t = graph()
        before = te.build(topi.schedule(t[-1], target), t, target=target)
        with autotvm.apply_history_best(log):
            t = graph()
            after = te.build(topi.schedule(t[-1], target), t, target=target)
        for f in (before, after):
            f(*arrays)
            assert check(arrays[-1]), "wrong result"
        fns = {"texpr fallback (heuristic)": lambda: before(*arrays),
               "texpr tuned": lambda: after(*arrays)}
        try:
            fns["torch"] = torch_fn()
        except ImportError:
            pass
        res = _bench.Timer(rounds=5 if args.quick else 9, calls=3).run(fns)
    ref = res.get("torch", (None,))[0]
    for k, (med, _) in res.items():
        gf = task.flop / med / 1e9
        ratio = f"  {ref / med:5.2f}x torch" if ref else ""
        print(f"  {k:<28} {med * 1e3:9.3f} ms  {gf:7.1f} GFLOP/s{ratio}")


if __name__ == "__main__":
    main()
