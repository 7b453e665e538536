#!/usr/bin/env python
"""The operators ML models spend their time in, from texpr.topi, beside PyTorch and NumPy.

    python benchmarks/ml_ops.py                       # every group, 1 thread and all cores
    python benchmarks/ml_ops.py --quick               # small shapes, 1 thread (smoke test)
    python benchmarks/ml_ops.py --groups rows,dense --threads 1,2

Each operator is built with its registered schedule (topi.schedule) at each thread count (the
schedule splits its parallel blocks for the threads it is built for), its output checked
against the reference, then timed interleaved with the references (median of rounds) at that
thread count. Groups and shapes:
  rows       softmax, log_softmax, layer_norm, rms_norm, gelu (erf and tanh forms) at
             128 x 1000, 512 x 768, 1024 x 4096 (the issue's bars), BERT-base rows (seq 384:
             layer_norm 384 x 768, gelu 384 x 3072, softmax of 12 x 384 x 384 scores) and an
             image classifier's head (softmax 64 x 1000)
  attention  scaled dot-product attention, BERT-base (1 x 12 heads x seq x 64), seq 128 and
             384, with and without the causal mask, vs torch's scaled_dot_product_attention
  dense      torch.nn.functional.linear shapes: M (batch) 1, 16, 64 x N, K in 512, 1024,
             4096 (the bars), ranking MLP layers at batch 512, ResNet's 2048 -> 1000 head
  reduce     sum / mean / max over the last axis and over axis 0, argmax, topk (k = 5)
  index      embedding (1M x 64 table, 8192 lookups), transpose, where
Columns: median ms of texpr, torch and NumPy (where NumPy has the op); "x torch" = torch time /
texpr time (> 1: texpr faster); and the rate: GFLOP/s with the fraction of the machine's
measured fp32 peak for the compute-bound ops (attention, dense), GB/s (bytes read + written
once) with the fraction of the measured sequential read bandwidth for the others (shapes that
fit in cache can pass 100%). The CPU model heads the output.
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

F32 = np.float32


class Case:
    """One operator at one shape: the texpr kernel and its references, sharing the inputs."""

    def __init__(self, group, name, shape, inputs, outs, torch_fn, numpy_fn=None, flops=None,
                 check=None, rtol=1e-4, atol=1e-5, nbytes=None):
        self.group, self.name, self.shape = group, name, shape
        self.inputs = inputs            # [(placeholder, np.ndarray)]
        self.outs = outs if isinstance(outs, (list, tuple)) else [outs]
        self.torch_fn, self.numpy_fn = torch_fn, numpy_fn
        self.flops, self.check = flops, check
        self.rtol, self.atol = rtol, atol
        self._nbytes = nbytes           # bytes moved, where not every argument is read whole

    def build(self, target, tcounts):
        """The kernel built at each thread count (_bench.per_threads), each build verified."""
        self.out_arrays = [np.zeros(tuple(int(d) for d in o.shape), o.dtype) for o in self.outs]
        self.arrays = [a for _, a in self.inputs] + self.out_arrays

        def one():
            s = topi.schedule(self.outs, target)
            args = [p for p, _ in self.inputs] + list(self.outs)
            f = te.build(s, args, target=target, name=self.name.replace(" ", "_"))
            self.verify(f)
            return f
        self.fs = _bench.per_threads(one, tcounts)

    def runner(self, t):
        """A call of the kernel built for t threads."""
        f, arrays = self.fs[t], self.arrays
        return lambda: f(*arrays)

    @property
    def nbytes(self):
        return self._nbytes or sum(a.nbytes for a in self.arrays)

    def verify(self, f):
        """f's output against torch's (or the given check); raises on a mismatch."""
        import torch
        f(*self.arrays)
        with torch.no_grad():
            want = self.check() if self.check else self.torch_fn()
        if not isinstance(want, (list, tuple)):
            want = [want]
        for got, w in zip(self.out_arrays, want):
            w = w.numpy() if hasattr(w, "numpy") else np.asarray(w)
            np.testing.assert_allclose(got, w.reshape(got.shape), rtol=self.rtol, atol=self.atol,
                                       err_msg=f"{self.name} {self.shape}")


def _t(a):
    import torch
    return torch.from_numpy(a)


def rows_cases(quick, rng):
    import torch
    import torch.nn.functional as F
    shapes = [(16, 100), (32, 77)] if quick else \
        [(128, 1000), (512, 768), (1024, 4096), (64, 1000), (384, 768)]
    out = []
    for rows, cols in shapes:
        x = te.placeholder((rows, cols), name="x")
        a = rng.standard_normal((rows, cols), dtype=F32) * 3
        ta = _t(a)
        g, b = te.placeholder((cols,), name="gamma"), te.placeholder((cols,), name="beta")
        ga, ba = rng.standard_normal(cols, dtype=F32), rng.standard_normal(cols, dtype=F32)
        sh = f"{rows}x{cols}"
        out.append(Case("rows", "softmax", sh, [(x, a)], topi.nn.softmax(x, axis=-1),
                        lambda ta=ta: torch.softmax(ta, -1)))
        out.append(Case("rows", "log_softmax", sh, [(x, a)], topi.nn.log_softmax(x, axis=-1),
                        lambda ta=ta: torch.log_softmax(ta, -1)))
        out.append(Case("rows", "layer_norm", sh, [(x, a), (g, ga), (b, ba)],
                        topi.nn.layer_norm(x, g, b, axis=(-1,), epsilon=1e-5),
                        lambda ta=ta, ga=ga, ba=ba, c=cols: F.layer_norm(ta, (c,), _t(ga), _t(ba)),
                        atol=1e-4))
        out.append(Case("rows", "rms_norm", sh, [(x, a), (g, ga)],
                        topi.nn.rms_norm(x, g, axis=-1, epsilon=1e-5),
                        lambda ta=ta, ga=ga, c=cols: F.rms_norm(ta, (c,), _t(ga), eps=1e-5),
                        atol=1e-4))
        for approx in ("none", "tanh"):
            out.append(Case("rows", f"gelu {approx}", sh, [(x, a)],
                            topi.nn.gelu(x, approximate=approx),
                            lambda ta=ta, ap=approx: F.gelu(ta, approximate=ap), atol=1e-5))
    if not quick:        # BERT-base: the FFN's gelu and the scores' softmax at seq 384
        x = te.placeholder((384, 3072), name="x")
        a = rng.standard_normal((384, 3072), dtype=F32)
        out.append(Case("rows", "gelu none", "384x3072", [(x, a)], topi.nn.gelu(x),
                        lambda ta=_t(a): F.gelu(ta)))
        x = te.placeholder((12, 384, 384), name="x")
        a = rng.standard_normal((12, 384, 384), dtype=F32)
        out.append(Case("rows", "softmax", "12x384x384", [(x, a)], topi.nn.softmax(x, axis=-1),
                        lambda ta=_t(a): torch.softmax(ta, -1)))
        x = te.placeholder((64, 1000), name="x")     # softmax over a non-last axis
        a = rng.standard_normal((64, 1000), dtype=F32)
        out.append(Case("rows", "softmax axis 0", "64x1000", [(x, a)],
                        topi.nn.softmax(x, axis=0), lambda ta=_t(a): torch.softmax(ta, 0)))
    return out


def attention_cases(quick, rng):
    import torch.nn.functional as F
    out = []
    for seq in ((32,) if quick else (128, 384)):
        heads, d = (2, 16) if quick else (12, 64)
        shape = (1, heads, seq, d)
        ph = [te.placeholder(shape, name=n) for n in ("q", "k", "v")]
        arrs = [rng.standard_normal(shape, dtype=F32) for _ in range(3)]
        ts = [_t(a) for a in arrs]
        for causal in (False, True):
            flops = 4.0 * heads * seq * seq * d * (0.5 if causal else 1.0)
            out.append(Case("attention", "attention" + (" causal" if causal else ""),
                            f"1x{heads}x{seq}x{d}", list(zip(ph, arrs)),
                            topi.nn.attention(*ph, causal=causal),
                            lambda ts=ts, c=causal: F.scaled_dot_product_attention(*ts,
                                                                                  is_causal=c),
                            flops=flops, rtol=1e-3, atol=1e-4))
    return out


def dense_cases(quick, rng):
    import torch.nn.functional as F
    if quick:
        shapes = [(1, 64, 128), (16, 96, 64)]
    else:
        shapes = [(m, n, k) for m in (1, 16, 64) for n in (512, 1024, 4096)
                  for k in (512, 1024, 4096)]
        shapes += [(512, 1024, 256), (512, 512, 1024), (512, 256, 512),   # ranking MLP layers
                   (1, 1000, 2048), (64, 1000, 2048)]                     # ResNet-50's head
    out = []
    for m, n, k in shapes:
        x, w = te.placeholder((m, k), name="x"), te.placeholder((n, k), name="w")
        a = rng.standard_normal((m, k), dtype=F32)
        wa = rng.standard_normal((n, k), dtype=F32)
        out.append(Case("dense", "dense", f"{m}x{n}x{k}", [(x, a), (w, wa)],
                        topi.nn.dense(x, w), lambda ta=_t(a), tw=_t(wa): F.linear(ta, tw),
                        numpy_fn=lambda a=a, wt=np.ascontiguousarray(wa.T): a @ wt,
                        flops=2.0 * m * n * k, rtol=1e-3, atol=1e-3 * math.sqrt(k)))
    return out


def reduce_cases(quick, rng):
    import torch
    rows, cols = (64, 256) if quick else (1024, 4096)
    x = te.placeholder((rows, cols), name="x")
    a = rng.standard_normal((rows, cols), dtype=F32)
    ta = _t(a)
    sh = f"{rows}x{cols}"
    out = []
    for name, op, tfn, nfn in (("sum", topi.sum, torch.sum, np.sum),
                               ("mean", topi.mean, torch.mean, np.mean),
                               ("max", topi.max, torch.amax, np.max)):
        for axis in (1, 0):
            out.append(Case("reduce", f"{name} axis {axis}", sh, [(x, a)], op(x, axis=axis),
                            lambda tfn=tfn, ax=axis: tfn(ta, ax),
                            numpy_fn=lambda nfn=nfn, ax=axis: nfn(a, axis=ax),
                            rtol=1e-4, atol=1e-3))
    r2, c2 = (32, 100) if quick else (512, 1000)
    y = te.placeholder((r2, c2), name="y")
    b = rng.standard_normal((r2, c2), dtype=F32)
    tb = _t(b)
    out.append(Case("reduce", "argmax", f"{r2}x{c2}", [(y, b)], topi.argmax(y, axis=1),
                    lambda: torch.argmax(tb, 1), numpy_fn=lambda: np.argmax(b, axis=1)))
    vals, idx = topi.topk(y, k=5, axis=-1, ret_type="both", dtype="int64")
    out.append(Case("reduce", "topk 5", f"{r2}x{c2}", [(y, b)], [vals, idx],
                    lambda: torch.topk(tb, 5, -1)))
    return out


def index_cases(quick, rng):
    import torch
    import torch.nn.functional as F
    vocab, dim, n = (10000, 64, 512) if quick else (1_000_000, 64, 8192)
    w = te.placeholder((vocab, dim), name="table")
    ind = te.placeholder((n,), name="indices", dtype="int32")
    wa = rng.standard_normal((vocab, dim), dtype=F32)
    ia = rng.integers(0, vocab, n).astype(np.int32)
    out = [Case("index", "embedding", f"{vocab}x{dim}[{n}]", [(w, wa), (ind, ia)],
                topi.nn.embedding(w, ind),
                lambda ti=_t(ia).long(), tw=_t(wa): F.embedding(ti, tw), numpy_fn=lambda: wa[ia],
                nbytes=2 * n * dim * 4 + ia.nbytes)]     # rows read, output, indices
    rows, cols = (64, 256) if quick else (1024, 4096)
    x = te.placeholder((rows, cols), name="x")
    a = rng.standard_normal((rows, cols), dtype=F32)
    ta = _t(a)
    out.append(Case("index", "transpose", f"{rows}x{cols}", [(x, a)], topi.transpose(x),
                    lambda: ta.t().contiguous(), numpy_fn=lambda: np.ascontiguousarray(a.T)))
    c = te.placeholder((rows, cols), name="cond", dtype="bool")
    y = te.placeholder((rows, cols), name="y")
    ca = rng.random((rows, cols)) < 0.5
    ya = rng.standard_normal((rows, cols), dtype=F32)
    out.append(Case("index", "where", f"{rows}x{cols}", [(c, ca), (x, a), (y, ya)],
                    topi.where(c, x, y), lambda: torch.where(_t(ca), ta, _t(ya)),
                    numpy_fn=lambda: np.where(ca, a, ya)))
    return out


GROUPS = {"rows": rows_cases, "attention": attention_cases, "dense": dense_cases,
          "reduce": reduce_cases, "index": index_cases}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small shapes, 1 thread, few rounds")
    ap.add_argument("--threads", default=None, help="thread counts, e.g. 1,2 (default 1 and "
                    "all cores; --quick: 1)")
    ap.add_argument("--groups", default=",".join(GROUPS),
                    help=f"comma-separated subset of {', '.join(GROUPS)}")
    _bench.add_target_options(ap)
    args = ap.parse_args(argv)
    groups = args.groups.split(",")
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        ap.error(f"unknown groups {unknown}; expected some of {list(GROUPS)}")
    import torch
    from sparse import read_bandwidth

    target = args.target or _bench.best_target()
    ncpu = os.cpu_count() or 1
    if args.threads:
        tcounts = sorted({int(t) for t in args.threads.split(",")})
    else:
        tcounts = [1] if args.quick else sorted({1, ncpu})
    timer = _bench.Timer(rounds=3 if args.quick else 7, calls=2 if args.quick else 3,
                         settle=_bench.SETTLE_S)
    print(f"CPU: {_bench.cpu_model()}; {ncpu} cores; texpr target {target}")
    print(f"PyTorch {torch.__version__} (CPU capability {torch.backends.cpu.get_cpu_capability()})"
          f"; NumPy {np.__version__}: {_bench.openblas_note()}")
    bits, peak, peak_note = _bench.peaks(target, tcounts, quick=args.quick)
    bw, _ = read_bandwidth((64 if args.quick else 512) * 2**20, tcounts)
    print(peak_note)
    print("sequential read bandwidth: " + ", ".join(
        f"{v:.1f} GB/s ({t} thread{'s' * (t > 1)})" for t, v in bw.items()))

    rng = np.random.default_rng(0)
    ratios = {}              # (group, threads) -> [x torch]
    load = _bench.CpuLoad()
    load.start()
    with torch.no_grad():
        for g in groups:
            cases = GROUPS[g](args.quick, rng)
            for c in cases:
                c.build(target, tcounts)
            print(f"\n== {g}: {len(cases)} kernels built, outputs checked against torch: ok "
                  "(each built at every thread count)")
            for t in tcounts:
                print(f"-- {t} thread{'s' * (t > 1)} (median ms of {timer.rounds} interleaved "
                      "rounds)")
                print(f"  {'op':<18}{'shape':<18}{'texpr':>9}{'torch':>9}{'NumPy':>9}"
                      f"{'x torch':>9}{'x NumPy':>9}{'rate':>16}{'of peak':>9}")
                with _bench.threads(t):
                    for c in cases:
                        fns = {"texpr": c.runner(t), "torch": c.torch_fn}
                        if c.numpy_fn:
                            fns["numpy"] = c.numpy_fn
                        # at 2 threads each turn starts with untimed calls of its own for
                        # longer than the previous library's workers spin (OpenBLAS: ~0.1 s);
                        # a sleep instead left the second vCPU idle, and 2-thread work ran
                        # 1.6-2x slower right after it
                        timer.warm_s = _bench.parallel_warm_s(fns, t)
                        timer.settle = 0.0 if timer.warm_s else _bench.SETTLE_S
                        r = {k: v[0] for k, v in timer.run(fns).items()}
                        xt = r["torch"] / r["texpr"]
                        ratios.setdefault((g, t), []).append((xt, c))
                        npt = f"{r['numpy'] * 1e3:9.3f}" if "numpy" in r else f"{'-':>9}"
                        xn = f"{r['numpy'] / r['texpr']:8.2f}x" if "numpy" in r else f"{'-':>9}"
                        if c.flops:
                            rate = c.flops / r["texpr"] / 1e9
                            unit, frac = "GFLOP/s", rate / peak[t]
                        else:
                            rate = c.nbytes / r["texpr"] / 1e9
                            unit, frac = "GB/s", rate / bw[t]
                        print(f"  {c.name:<18}{c.shape:<18}{r['texpr'] * 1e3:9.3f}"
                              f"{r['torch'] * 1e3:9.3f}{npt}{xt:8.2f}x{xn}"
                              f"{rate:8.1f} {unit:<7}{100 * frac:8.0f}%")
    print("\nsummary: texpr against torch (x > 1: texpr faster)")
    for (g, t), rs in ratios.items():
        xs = [x for x, _ in rs]
        worst = min(rs, key=lambda p: p[0])
        geo = math.exp(sum(math.log(x) for x in xs) / len(xs))
        print(f"  {g:<10} {t} thread{'s' * (t > 1)}: geometric mean {geo:.2f}x, worst "
              f"{worst[0]:.2f}x ({worst[1].name} {worst[1].shape}), {len(xs)} kernels")
    note = _bench.load_note(load.stop())
    if note:
        print(note)
    return ratios


if __name__ == "__main__":
    main()
