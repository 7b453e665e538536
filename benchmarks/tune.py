#!/usr/bin/env python
"""Auto-tuning (texpr.autotvm) of a topi operator: the schedule before (the heuristic, the
fallback config) and after N measured trials, beside torch, in the same run.

    python benchmarks/tune.py                       # dense 1024^3, 64 trials, XGBTuner
    python benchmarks/tune.py --op conv --trials 32 # ResNet-50 3x3 conv, 256 ch, 14x14
    python benchmarks/tune.py --quick               # dense 256^3, 8 trials (a smoke test)
    python benchmarks/tune.py --tuner ga --threads 2 --log tune.db
    python benchmarks/tune.py --resnet50-layers --trials 300 --log r50.db
                                                    # every distinct ResNet-50 conv layer
                                                    # and dense 1024^3 / bmm 64x128^3
    python benchmarks/tune.py --conv-sweep --trials 64 --threads 2 --threads-list 2
                                                    # the shapes of conv_sweep.py (depthwise,
                                                    # dilated, 5x5, stems, odd channels)

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


def _network_tasks(cases, target, wino, gemms=("dense", "bmm")):
    """The tuning tasks of the convolution cases (_conv_bench.Case: direct NCHW or
    depthwise convolution; Winograd F(m,3) per m of `wino` for the 3x3 stride-1 layers, and
    the variants' other Winograd tiles), dense 1024^3 and batch_matmul 64 x 128^3 (those of
    `gemms`). A grouped (not depthwise) case has no template: it runs the heuristic."""
    tasks = []
    for c in cases:
        d = ("TENSOR", (1, c.C, c.H, c.W), "float32")
        k = ("TENSOR", (c.O, c.C // c.g, c.R, c.R), "float32")
        conv = (d, k, (c.s, c.s), (c.p,) * 4, (c.d, c.d))
        if c.depthwise:
            tasks.append(autotvm.task.create("topi.depthwise_conv2d_nchw", conv, target))
            continue
        if c.g > 1:
            continue
        tasks.append(autotvm.task.create("topi.conv2d_nchw", conv, target))
        for v in (v for v in c.variants(wino, target) if v.startswith("wino")):
            tasks.append(autotvm.task.create("topi.conv2d_winograd_nchw",
                                             (d, k, (c.p,) * 4, int(v[4]), c.s, c.d), target))
    for _, template, shape_a, shape_b, _ in gemm_cases(gemms):
        tasks.append(autotvm.task.create(template, (("TENSOR", shape_a, "float32"),
                                                    ("TENSOR", shape_b, "float32")), target))
    return tasks


def gemm_cases(gemms):
    """(name, template, shape_a, shape_b, flop) of each of `gemms`: "dense" (1024^3), "bmm"
    (64 x 128^3), "dense:MxNxK" (M x K times N x K), "bmm:BxMxNxK"."""
    out = []
    for g in gemms:
        kind, _, dims = g.partition(":")
        dims = tuple(int(v) for v in dims.split("x")) if dims else \
            {"dense": (1024, 1024, 1024), "bmm": (64, 128, 128, 128)}.get(kind, ())
        if kind == "dense" and len(dims) == 3:
            M, N, K = dims
            out.append((f"dense {M}x{N}x{K}" if dims != (1024,) * 3 else "dense 1024^3",
                        "topi.dense", (M, K), (N, K), 2.0 * M * N * K))
        elif kind == "bmm" and len(dims) == 4:
            B, M, N, K = dims
            out.append((f"batch_matmul {B}x{M}x{N}x{K}" if dims != (64, 128, 128, 128) else
                        "batch_matmul 64x128^3", "topi.batch_matmul", (B, M, K), (B, N, K),
                        2.0 * B * M * N * K))
        else:
            raise SystemExit(f"--gemm {g!r}: expected dense, bmm, dense:MxNxK or bmm:BxMxNxK")
    return out


def resnet50_layers(args, target, all_cases=None):
    """--resnet50-layers (--conv-sweep: conv_sweep.py's cases instead, `all_cases`): tune
    every task of _network_tasks into one log (a workload with records there is not tuned
    again: --log resumes), then time the fallback (heuristic) and the tuned kernels beside
    torch (oneDNN: best of NCHW, channels_last and its blocked layout; NCHW in and out for
    texpr) and, for dense / batch_matmul, NumPy (OpenBLAS) and torch, interleaved, at each
    thread count."""
    import math
    import torch
    import _conv_bench
    if all_cases is None:
        from resnet50_layers import CASES as all_cases
    cases = all_cases if args.only is None else \
        [all_cases[int(i)] for i in args.only.split(",") if i]     # --only '': GEMMs only
    wino = (2, 4)
    tcounts = sorted({int(x) for x in args.threads_list.split(",")})
    log = args.log or os.path.join(tempfile.mkdtemp(), "resnet50.db")
    if args.cpu_time and tcounts != [1]:
        raise SystemExit("--cpu-time measures one thread: use it with --threads-list 1")
    clock = time.thread_time if args.cpu_time else None
    print(f"CPU: {_bench.cpu_model()}; target {target}; PyTorch {torch.__version__}; "
          f"tuned at {args.threads} thread(s), {args.trials} trials per task with "
          f"{args.tuner}; records in {log}" + ("; timed by thread CPU time" if clock else ""))
    gemms = tuple(g for g in (args.gemm if args.gemm is not None else
                              "" if args.conv_sweep else "dense,bmm").split(",") if g)
    tasks = _network_tasks(cases, target, wino, gemms)
    t0 = time.time()
    with _bench.threads(args.threads):
        autotvm.tune_tasks(tasks, args.trials, log, tuner=args.tuner,
                           measure_option=autotvm.measure_option(
                               builder=autotvm.LocalBuilder(n_parallel=args.build_workers),
                               runner=autotvm.LocalRunner(
                                   number=3, repeat=3, min_repeat_ms=20, timeout=20,
                                   check_correctness=True)))
    print(f"tuning took {time.time() - t0:.0f} s")
    rng = np.random.default_rng(0)
    rows = []       # (name, flop, threads, {name: (median, best)}, fallback, tuned, same)
    for case in cases:
        a, k = case.data(rng)
        refs, want = case.torch_refs(a, k)
        calls = _bench.calls_for(case.flops)
        for t in tcounts:
            # each thread count's kernels built at it (the heuristic, the fallback, splits
            # its blocks for the build's threads; the records of that count apply first)
            with _bench.threads(t), torch.no_grad():
                fns, kinds, sources = {}, {"fallback": [], "tuned": []}, {}
                for kind in ("fallback", "tuned"):
                    for v in case.variants(wino, target):
                        if kind == "tuned":
                            with autotvm.apply_history_best(log):
                                f, fargs, c = case.build(v, a, k, target)
                        else:
                            f, fargs, c = case.build(v, a, k, target)
                        f(*fargs)
                        err = float(np.abs(c - want).max() / max(1e-6, np.abs(want).max()))
                        if not err <= _conv_bench.tolerance(v):
                            raise SystemExit(f"{case.name} {kind} {v}: differs from torch "
                                             f"({err:.1e})")
                        fns[f"{kind} {v}"] = (lambda f=f, fargs=fargs: f(*fargs))
                        kinds[kind].append(f"{kind} {v}")
                        sources[kind, v] = f.source
                fns.update(refs)
                # at 2 threads each turn starts with untimed calls of its own for longer than
                # torch's OpenMP workers spin (they took the second core from texpr's)
                timer = _bench.Timer(rounds=args.rounds, calls=calls, settle=_bench.SETTLE_S,
                                     clock=clock)
                timer.warm_s = _bench.parallel_warm_s(fns, t)
                r = timer.run(fns)
            same = all(sources["fallback", v] == sources["tuned", v]
                       for v in case.variants(wino, target))
            rows.append((case.name, case.flops, t, r, kinds["fallback"], kinds["tuned"], same))
    rows += _gemm_rows(target, log, tcounts, args.rounds, gemms, clock)
    for t in tcounts:
        print(f"\n{t} thread{'s' * (t > 1)}: medians of interleaved rounds (ms); texpr's "
              "fastest variant (direct / Winograd) of the fallback and of the tuned configs; "
              "reference = torch's fastest layout (oneDNN) for convolutions, the faster of "
              "NumPy (OpenBLAS) and torch for dense / batch_matmul")
        print(f"  {'layer':<34} {'fallback':>9} {'tuned':>9} {'ref':>9} {'GFLOP/s':>8} | "
              f"{'tuned/fb':>8} {'x ref':>6}")
        ratios, differ, alike = [], [], []
        for name, flop, tt, r, fb, tu, same in rows:
            if tt != t:
                continue
            fbt = min(r[n][0] for n in fb)
            tut = min(r[n][0] for n in tu)
            ref = min(v[0] for n, v in r.items() if n not in fb and n not in tu)
            ratios.append(ref / tut)
            (alike if same else differ).append(fbt / tut)
            print(f"  {name:<34} {fbt * 1e3:9.3f} {tut * 1e3:9.3f} {ref * 1e3:9.3f} "
                  f"{flop / tut / 1e9:8.1f} | {fbt / tut:7.2f}x {ref / tut:5.2f}x"
                  + ("  (tuned = fallback: the same kernel)" if same else ""))
        geo = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
        print(f"  geometric mean {geo:.2f}x the reference, worst {min(ratios):.2f}x, "
              f"{sum(x >= 1.0 for x in ratios)}/{len(ratios)} at >= 1.0x")
        for what, xs in (("tuned kernels", differ), ("kernels the tuning kept (the noise)",
                                                     alike)):
            if xs:
                print(f"  tuned / fallback over the {len(xs)} {what}: "
                      f"{min(xs):.2f}x-{max(xs):.2f}x")


def _gemm_rows(target, log, tcounts, rounds, gemms=("dense", "bmm"), clock=None):
    """The GEMMs of `gemms` (gemm_cases): fallback, tuned, NumPy, torch."""
    import torch
    rng = np.random.default_rng(1)
    out = []
    for name, _, shape_a, shape_b, flop in gemm_cases(gemms):
        a = rng.random(shape_a, dtype=np.float32)
        b = rng.random(shape_b, dtype=np.float32)
        want = a @ np.swapaxes(b, -1, -2)
        bt = np.ascontiguousarray(np.swapaxes(b, -1, -2))
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        for t in tcounts:
            with _bench.threads(t), torch.no_grad():
                fns, sources = {}, []
                for kind in ("fallback", "tuned"):      # built at t threads (see above)
                    x, y = te.placeholder(shape_a, name="x"), te.placeholder(shape_b, name="y")
                    o = topi.nn.dense(x, y) if len(shape_a) == 2 else topi.nn.batch_matmul(x, y)
                    if kind == "tuned":
                        with autotvm.apply_history_best(log):
                            s = topi.schedule(o, target)
                    else:
                        s = topi.schedule(o, target)
                    f = te.build(s, [x, y, o], target=target)
                    c = np.empty(want.shape, np.float32)
                    f(a, b, c)
                    if not np.allclose(c, want, rtol=1e-3, atol=1e-3):
                        raise SystemExit(f"{name} {kind}: wrong result")
                    fns[kind] = (lambda f=f, c=c: f(a, b, c))
                    sources.append(f.source)
                fns["numpy"] = lambda: np.matmul(a, bt)
                fns["torch"] = (lambda: torch.nn.functional.linear(ta, tb)) \
                    if len(shape_a) == 2 else (lambda: torch.bmm(ta, tb.transpose(1, 2)))
                timer = _bench.Timer(rounds=rounds, calls=_bench.calls_for(flop), clock=clock)
                timer.warm_s = _bench.parallel_warm_s(fns, t)
                r = timer.run(fns)
            out.append((name, flop, t, r, ["fallback"], ["tuned"], sources[0] == sources[1]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--op", choices=("dense", "conv"), default="dense")
    ap.add_argument("--trials", type=int, default=64)
    ap.add_argument("--tuner", choices=sorted(TUNERS), default="xgb")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log", default=None, help="records (.log: JSON lines, .db: SQLite); "
                    "default: a temporary file")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--resnet50-layers", action="store_true",
                    help="tune every distinct ResNet-50 conv layer (and dense 1024^3, "
                    "batch_matmul 64x128^3), then time fallback / tuned / oneDNN")
    ap.add_argument("--conv-sweep", action="store_true",
                    help="as --resnet50-layers, over the shapes of benchmarks/conv_sweep.py "
                    "(no GEMMs unless --gemm names them)")
    ap.add_argument("--threads-list", default="1,2", help="--resnet50-layers: the thread "
                    "counts timed (tuning runs at --threads)")
    ap.add_argument("--only", default=None, help="--resnet50-layers: indices of the layers "
                    "(benchmarks/resnet50_layers.py --list), e.g. 0,2; '' for the GEMMs only")
    ap.add_argument("--gemm", default=None, help="--resnet50-layers: the GEMMs tuned "
                    "and timed besides the layers (dense: 1024^3, bmm: 64x128^3, "
                    "dense:MxNxK, bmm:BxMxNxK; '' for none; default dense,bmm, with "
                    "--conv-sweep none)")
    ap.add_argument("--build-workers", type=int, default=None, help="candidates compiled at "
                    "once (default: one per core; 1 on a shared machine)")
    ap.add_argument("--cpu-time", action="store_true", help="--resnet50-layers at "
                    "--threads-list 1: time the thread's CPU time (a machine shared with "
                    "other jobs preempts the wall clock)")
    ap.add_argument("--rounds", type=int, default=7)
    _bench.add_target_options(ap)
    args = ap.parse_args()
    target = args.target or "native"
    if args.conv_sweep:
        from conv_sweep import CASES
        return resnet50_layers(args, target, CASES)
    if args.resnet50_layers:
        return resnet50_layers(args, target)
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
            builder=autotvm.LocalBuilder(n_parallel=args.build_workers),
            runner=autotvm.LocalRunner(number=3, repeat=3, min_repeat_ms=20, timeout=20,
                                       check_correctness=True)),
            callbacks=[cb, autotvm.callback.progress_bar(args.trials, si_prefix="G")],
            confirm=autotvm.tuner.tuner.CONFIRM_FINALISTS)
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
        timer = _bench.Timer(rounds=5 if args.quick else 9, calls=3)
        timer.warm_s = _bench.parallel_warm_s(fns, args.threads)
        res = timer.run(fns)
    ref = res.get("torch", (None,))[0]
    for k, (med, _) in res.items():
        gf = task.flop / med / 1e9
        ratio = f"  {ref / med:5.2f}x torch" if ref else ""
        print(f"  {k:<28} {med * 1e3:9.3f} ms  {gf:7.1f} GFLOP/s{ratio}")


if __name__ == "__main__":
    main()
