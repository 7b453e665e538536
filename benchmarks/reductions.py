"""Reductions and indexing ops (topi.sum over rows and columns, argmax, mean, topk, transpose)
with their registered schedules, beside NumPy and torch in the same run, 1 and 2 threads.

Prints ms (median of interleaved rounds) and each reference's time / texpr's (> 1: texpr is
faster), and the CPU model and target.

    python benchmarks/reductions.py [--quick] [--target native] [--threads 1,2]
"""
import argparse
import os
import platform
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import _bench  # noqa: E402
import texpr as te  # noqa: E402
import texpr.topi as topi  # noqa: E402


def build(op, shape, target, **kw):
    A = te.placeholder(shape, name="A")
    outs = op(A, **kw)
    outs = outs if isinstance(outs, list) else [outs]
    f = te.build(topi.schedule(outs, target), [A] + outs, target=target)
    res = [np.empty([int(d) for d in o.shape], o.dtype) for o in outs]
    return f, res


def cases(target):
    """(title, texpr op, shape, kwargs, NumPy fn(a), torch fn(t))"""
    import torch
    return [
        ("sum axis=1 (1024x4096)", topi.sum, (1024, 4096), {"axis": 1},
         lambda a: a.sum(1), lambda t: t.sum(1)),
        ("sum axis=0 (1024x4096)", topi.sum, (1024, 4096), {"axis": 0},
         lambda a: a.sum(0), lambda t: t.sum(0)),
        ("argmax axis=1 (512x1000)", topi.argmax, (512, 1000), {"axis": 1},
         lambda a: a.argmax(1), lambda t: t.argmax(1)),
        ("mean axis=-1 (512x768)", topi.mean, (512, 768), {"axis": -1},
         lambda a: a.mean(-1), lambda t: t.mean(-1)),
        ("topk k=5 (512x1000)", topi.topk, (512, 1000), {"k": 5},
         None, lambda t: torch.topk(t, 5)),
        ("transpose (512x768)", topi.transpose, (512, 768), {},
         lambda a: np.ascontiguousarray(a.T), lambda t: t.t().contiguous()),
    ]


def check(title, f, a, res, want):
    """Stop the benchmark where a kernel's first output differs from torch's (topk: its
    values; the order of ties is each library's own)."""
    f(a, *res)
    want = (want[0] if isinstance(want, tuple) else want).numpy()
    if not np.allclose(res[0], want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max())):
        sys.exit(f"{title}: texpr's output differs from torch's "
                 f"(max |err| {float(np.abs(res[0] - want).max()):.3g})")


def main():
    _bench.reexec_without_openblas_overrides(__file__)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _bench.add_target_options(ap)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    import torch
    target = args.target or _bench.best_target()
    print(f"CPU: {_bench.cpu_model()}; {platform.machine()}; texpr target {target}")
    timer = _bench.Timer(rounds=5 if args.quick else 9, calls=3, settle=_bench.SETTLE_S)
    rng = np.random.default_rng(0)
    tcounts = [int(x) for x in args.threads.split(",")]
    built = []
    for title, op, shape, kw, np_fn, torch_fn in cases(target):
        # {threads: (f, res)}: each thread count times the kernel built for it
        fs = _bench.per_threads(lambda: build(op, shape, target, **kw), tcounts)
        a = rng.random(shape, dtype=np.float32)
        for f, res in fs.values():
            check(title, f, a, res, torch_fn(torch.from_numpy(a)))
        built.append((title, fs, a, torch.from_numpy(a), np_fn, torch_fn))
    load = _bench.CpuLoad()
    load.start()
    for nt in tcounts:
        print(f"\n{nt} thread(s)")
        with _bench.threads(nt):
            for title, fs, a, t, np_fn, torch_fn in built:
                f, res = fs[nt]
                fns = {"texpr": lambda f=f, a=a, res=res: f(a, *res),
                       "torch": lambda t=t, fn=torch_fn: fn(t)}
                if np_fn is not None:
                    fns["numpy"] = lambda a=a, fn=np_fn: fn(a)
                # torch's spinning OpenMP workers took the second core from texpr's pool
                timer.warm_s = _bench.parallel_warm_s(fns, nt)
                r = timer.run(fns)
                own = r["texpr"][0]
                refs = "  ".join(f"{k} {v[0] * 1e3:.3f} ms ({v[0] / own:.2f}x)"
                                 for k, v in r.items() if k != "texpr")
                print(f"  {title:<26} texpr {own * 1e3:.3f} ms   {refs}")
    note = _bench.load_note(load.stop())
    if note:
        print(f"\n{note}")


if __name__ == "__main__":
    main()
