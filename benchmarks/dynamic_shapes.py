#!/usr/bin/env python
"""Kernels built once for a symbolic batch / sequence length (topi.schedule specialises
them: Schedule.specialize) beside the kernel built for each concrete size, and OpenBLAS
(NumPy's matmul) for dense, all in the same run.

    python benchmarks/dynamic_shapes.py                 # 1 and 2 threads
    python benchmarks/dynamic_shapes.py --threads 1 --ops dense
    python benchmarks/dynamic_shapes.py --quick         # small shapes, few rounds
    python benchmarks/dynamic_shapes.py --threads 1 --cpu-time --only pool   # pooling rows

Cases: dense (symbolic M), softmax (symbolic rows), batch-1 attention (symbolic sequence
length), pooling (max / avg, NCHW / NCHWc, global) and a 3x3 convolution (symbolic batch and
image size): --ops picks them, --only keeps the cases whose label holds one of its words.
Rows: ms of the symbolic build ("dyn"), of the concrete build ("fixed"), their ratio
(dyn / fixed: 1.00 = the same speed, the bar is <= 1.10) and the reference's time over the
symbolic build's (>= 1: texpr faster): NumPy for dense, torch (when installed) for pooling.
--cpu-time times the thread's CPU time (1 thread only: other processes' load then counts less). Interleaved Timer (benchmarks/_bench.py), medians.
The CPU model and the load from other processes head the output.
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

DENSE_ROWS = (1, 7, 64, 333, 1024)


def _build(outs, args, target, name):
    return te.build(topi.schedule(outs, target), args, target=target, name=name)


def dense_cases(target, n, k, rows, rng):
    """(label, dyn call, fixed call, numpy call) per M: one symbolic build for every M."""
    M = te.var("M")
    x, w = te.placeholder((M, k), name="x"), te.placeholder((n, k), name="w")
    y = topi.nn.dense(x, w)
    dyn = _build([y], [x, w, y], target, "dense_dyn")
    wa = rng.standard_normal((n, k), dtype=np.float32)
    out = []
    for m in rows:
        xf = te.placeholder((m, k), name="x")
        wf = te.placeholder((n, k), name="w")
        yf = topi.nn.dense(xf, wf)
        fixed = _build([yf], [xf, wf, yf], target, "dense_fixed")
        a = rng.standard_normal((m, k), dtype=np.float32)
        c1, c2 = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
        dyn(a, wa, c1)
        fixed(a, wa, c2)
        np.testing.assert_allclose(c1, a @ wa.T, rtol=1e-3, atol=1e-2)
        np.testing.assert_allclose(c1, c2, rtol=1e-4, atol=1e-3)
        out.append((f"dense M={m} N={n} K={k}", lambda a=a, c=c1: dyn(a, wa, c),
                    lambda a=a, c=c2, f=fixed: f(a, wa, c), lambda a=a: a @ wa.T))
    return out


def softmax_cases(target, width, rows, rng):
    """softmax over rows of `width`, the row count symbolic."""
    B = te.var("B")
    x = te.placeholder((B, width), name="x")
    y = topi.nn.softmax(x)
    dyn = _build([y], [x, y], target, "softmax_dyn")
    out = []
    for b in rows:
        xf = te.placeholder((b, width), name="x")
        yf = topi.nn.softmax(xf)
        fixed = _build([yf], [xf, yf], target, "softmax_fixed")
        a = rng.standard_normal((b, width), dtype=np.float32)
        c1, c2 = np.empty_like(a), np.empty_like(a)
        dyn(a, c1)
        fixed(a, c2)
        np.testing.assert_allclose(c1, c2, rtol=1e-5, atol=1e-6)
        out.append((f"softmax {b}x{width}", lambda a=a, c=c1: dyn(a, c),
                    lambda a=a, c=c2, f=fixed: f(a, c), None))
    return out


def attention_cases(target, heads, dim, seqs, rng):
    """batch-1 attention, the sequence length symbolic (queries = keys = S)."""
    S = te.var("S")
    q = te.placeholder((1, heads, S, dim), name="q")
    k = te.placeholder((1, heads, S, dim), name="k")
    v = te.placeholder((1, heads, S, dim), name="v")
    o = topi.nn.scaled_dot_product_attention(q, k, v)
    dyn = _build([o], [q, k, v, o], target, "attention_dyn")
    out = []
    for s_ in seqs:
        qf, kf, vf = (te.placeholder((1, heads, s_, dim), name=nm) for nm in "qkv")
        of = topi.nn.scaled_dot_product_attention(qf, kf, vf)
        fixed = _build([of], [qf, kf, vf, of], target, "attention_fixed")
        arrs = [rng.standard_normal((1, heads, s_, dim), dtype=np.float32) for _ in range(3)]
        c1, c2 = np.empty_like(arrs[0]), np.empty_like(arrs[0])
        dyn(*arrs, c1)
        fixed(*arrs, c2)
        np.testing.assert_allclose(c1, c2, rtol=1e-4, atol=1e-5)
        out.append((f"attention 1x{heads}x{s_}x{dim}", lambda a=arrs, c=c1: dyn(*a, c),
                    lambda a=arrs, c=c2, f=fixed: f(*a, c), None))
    return out


def _torch_pool(kind):
    """The torch call of a pooling case (NCHW arrays; NCHWc ones as NCHW of the same
    channels), or None: torch not installed, or not a pooling case."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    fns = {"maxpool": lambda t: F.max_pool2d(t, 3, 2, 1),
           "avgpool": lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad="incl" in kind),
           "global": lambda t: F.adaptive_avg_pool2d(t, 1)}
    fn = fns.get(kind.split()[0])
    if fn is None:
        return None

    def call(a):
        t = torch.from_numpy(a if a.ndim == 4 else np.ascontiguousarray(
            a.transpose(0, 1, 4, 2, 3)).reshape(a.shape[0], -1, a.shape[2], a.shape[3]))
        return lambda: fn(t)
    return call


def _label(kind, C, size):
    return f"{kind} {C}x{size}x{size}"


def conv_pool_cases(target, channels, sizes, rng, only=None):
    """Pooling 3x3/2 pad 1 (max and average, NCHW and NCHWc, count_include_pad or not),
    global average pooling and a 3x3 NCHW convolution of `channels` channels, batch and image
    size symbolic (one build each), at each image size; `only`: words, one of which a case's
    label holds."""
    n, h, w = te.var("n"), te.var("h"), te.var("w")
    C = channels

    def ops(n_, h_, w_):
        x5 = te.placeholder((n_, C // 8, h_, w_, 8), name="x")
        x4 = te.placeholder((n_, C, h_, w_), name="x")
        k4 = te.placeholder((C, C, 3, 3), name="k")
        pool = topi.nn.pool2d
        return {"maxpool NCHWc": (pool(x5, 3, 2, 1, "max"), [x5]),
                "maxpool NCHW": (pool(x4, 3, 2, 1, "max"), [x4]),
                "avgpool NCHW": (pool(x4, 3, 2, 1, "avg", count_include_pad=False), [x4]),
                "avgpool NCHW incl": (pool(x4, 3, 2, 1, "avg"), [x4]),
                "avgpool NCHWc": (pool(x5, 3, 2, 1, "avg", count_include_pad=False), [x5]),
                "global avg NCHW": (topi.nn.global_pool(x4, "avg"), [x4]),
                "global avg NCHWc": (topi.nn.global_pool(x5, "avg"), [x5]),
                "conv3x3 NCHW": (topi.nn.conv2d_nchw(x4, k4, 1, 1), [x4, k4])}
    keep = [k for k in ops(n, h, w) if not only or any(
        o in _label(k, C, size) for o in only for size in sizes)]
    dyn = {k: _build([y], args + [y], target, k.split()[0] + "_dyn")
           for k, (y, args) in ops(n, h, w).items() if k in keep}
    out = []
    for size in sizes:
        for k, (y, args) in ops(1, size, size).items():
            if k not in keep:
                continue
            fixed = _build([y], args + [y], target, k.split()[0] + "_fixed")
            arrs = [rng.standard_normal(tuple(int(d) for d in a.shape), dtype=np.float32)
                    for a in args]
            c1, c2 = dyn[k](*arrs), fixed(*arrs)
            np.testing.assert_allclose(c1, c2, rtol=1e-4, atol=1e-4)
            ref = _torch_pool(k)
            out.append((_label(k, C, size), lambda a=arrs, c=c1, f=dyn[k]: f(*a, c),
                        lambda a=arrs, c=c2, f=fixed: f(*a, c), ref and ref(arrs[0])))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _bench.add_target_options(ap)
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--ops", default="dense,softmax,attention,convpool")
    ap.add_argument("--quick", action="store_true", help="small shapes, few rounds")
    ap.add_argument("--only", default="", help="comma-separated words: the cases whose label "
                    "holds one of them (e.g. pool, avgpool, NCHWc)")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time the thread's CPU time (1 thread only)")
    args = ap.parse_args()
    only = [w for w in args.only.split(",") if w]
    if args.cpu_time and args.threads != [1]:
        ap.error("--cpu-time times one thread: use --threads 1")
    target = args.target or _bench.best_target()
    print(f"CPU: {_bench.cpu_model()}; target {target}")
    print(f"NumPy BLAS: {_bench.openblas_note()}")
    ops = args.ops.split(",")

    def make_cases():
        """Every case built (and checked) for the thread count in effect, on the same inputs
        (a fresh generator of the same seed) at each."""
        rng = np.random.default_rng(0)
        cases = []
        if "dense" in ops:
            cases += dense_cases(target, 128 if args.quick else 1024,
                                 128 if args.quick else 1024,
                                 (1, 7, 64) if args.quick else DENSE_ROWS, rng)
        if "softmax" in ops:
            cases += softmax_cases(target, 1000, (1, 7, 64) if args.quick else (1, 7, 64, 333),
                                   rng)
        if "attention" in ops:
            cases += attention_cases(target, 4 if args.quick else 12, 64,
                                     (7, 64) if args.quick else (1, 2, 3, 7, 64, 333, 384), rng)
        if "convpool" in ops:
            cases += conv_pool_cases(target, 16 if args.quick else 64,
                                     (14,) if args.quick else (56, 28), rng, only)
        return [c for c in cases if not only or any(o in c[0] for o in only)]
    cases_at = _bench.per_threads(make_cases, args.threads)   # {threads: cases built for it}
    timer = _bench.Timer(rounds=3 if args.quick else 9, calls=3 if args.quick else 5,
                         clock=_bench.time.thread_time if args.cpu_time else None)
    for nt in args.threads:
        load = _bench.CpuLoad()
        load.start()
        print(f"\n{nt} thread(s)")
        print(f"{'case':<32} {'dyn ms':>9} {'fixed ms':>9} {'dyn/fixed':>9} {'x ref':>8}")
        with _bench.threads(nt):
            for label, dyn, fixed, ref in cases_at[nt]:
                fns = {"dyn": dyn, "fixed": fixed}
                if ref is not None:
                    fns["ref"] = ref
                # at 2 threads each turn starts with untimed calls of its own for longer than
                # the previous library's workers spin (OpenBLAS: ~0.1 s); a sleep instead left
                # the second vCPU idle, and 2-thread work ran 1.6-2x slower right after it
                timer.warm_s = _bench.parallel_warm_s(fns, nt)
                timer.settle = 0.0 if timer.warm_s else _bench.SETTLE_S
                t = timer.run(fns)
                ratio = t["dyn"][0] / t["fixed"][0]
                vs = f"{t['ref'][0] / t['dyn'][0]:8.2f}" if ref is not None else " " * 8
                print(f"{label:<32} {t['dyn'][0] * 1e3:9.3f} {t['fixed'][0] * 1e3:9.3f} "
                      f"{ratio:9.2f} {vs}")
        print(_bench.load_note(load.stop()))


if __name__ == "__main__":
    main()
