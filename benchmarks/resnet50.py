#!/usr/bin/env python
"""ResNet-50 (batch 1, 224x224, random weights, batch norm folded) in texpr.topi beside the
same network in PyTorch (torch.jit frozen, eval, oneDNN), same weights, timed in the same run.

    python benchmarks/resnet50.py                  # 1 and 2 threads
    python benchmarks/resnet50.py --threads 2 --winograd 4
    python benchmarks/resnet50.py --quick          # a tiny ResNet (smoke test, < 30 s)
    python benchmarks/resnet50.py --threads 1 --profile --alone   # each kernel in the graph
                                                   # and run by itself, warm
    python benchmarks/resnet50.py --tune 64 --log r50net.db   # the network's tunable layers
                                                   # tuned (autotvm) at each thread count,
                                                   # the tuned network timed too

texpr side: the whole graph in NCHWc (one channel block for every activation; layout
transforms only at the input, nchw_to_nchwc, and at the head, where the global average pool
writes [N, C]); every convolution is one kernel with its folded batch norm (bias), relu and
residual add fused into the output loop nest; 3x3 stride-1 convolutions run as NCHWc
Winograd where it wins, their weights transformed offline. --winograd model (default): the
cheapest by texpr.topi.cpu_conv3x3's cost model of the host (multiplies at the CPU's FMA
lanes, the weights streamed from memory, the transforms): on Zen 4 F(4,3) at 56x56 and
28x28, F(5,3) at 14x14 and F(2,3) at 7x7; with "model" a 3x3 stride-2 layer runs F(4,2) on the
space-to-depth input where cpu_conv3x3.conv3x3_s2_algorithm picks it (Zen 4 avx512: 28x28 out). --winograd table: the fixed rule of an earlier Zen 5 profile (F(4,3) for
outputs at least 28 wide, F(2,3) at 14, direct below). --winograd auto times each distinct layer shape once,
alone (its weights in cache), 1 thread, as direct, F(2,3), F(4,3), F(5,3) and F(6,3), and keeps the
fastest. Layers with the same shapes share one compiled kernel (KernelCache); the kernels
are chained by texpr.topi.graph, which allocates the activations once and reuses buffers.

PyTorch side: the same modules (conv without bias + BatchNorm2d with random statistics),
eval, torch.jit.trace + torch.jit.freeze (which folds the batch norms into the convolutions),
and torch.jit.optimize_for_inference of it (oneDNN's blocked layout); the reference time is
the faster of the two. Times are medians of interleaved rounds (texpr and torch alternate).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench  # noqa: E402

if __name__ == "__main__":
    _bench.reexec_without_openblas_overrides(__file__)

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, _bench.ROOT)
import texpr as te  # noqa: E402
import texpr.topi as topi  # noqa: E402
from texpr.topi.graph import KernelCache  # noqa: E402
from texpr.topi.models import ResNet50Builder, resnet50_config, resnet50_weights  # noqa: E402

FULL = {"image": 224, "width": 64, "blocks": (3, 4, 6, 3), "classes": 1000}
QUICK = {"image": 128, "width": 16, "blocks": (1, 1, 1, 1), "classes": 10}
# error of the network's output relative to its largest magnitude (50 layers of float32,
# Winograd F(4,3)/F(6,3) on the 3x3 layers)
TOL = 2e-3


# ----------------------------------------------------------------------------- PyTorch model

def torch_resnet(cfg, weights):
    """ResNet-50 v1.5 (stride in the 3x3 convolution) in eval mode, its modules named as
    torchvision's, loaded with `weights` (texpr.topi.models.resnet50_weights)."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin, width, stride, down):
            super().__init__()
            cout = width * 4
            self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
            self.downsample = None
            if down:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = torch.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return torch.relu(y + (self.downsample(x) if self.downsample is not None else x))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            w = cfg["width"]
            self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(w)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            layers = {}
            for p, cin, width, stride, down in resnet50_config(w, cfg["blocks"]):
                stage, i = p.split(".")
                layers.setdefault(stage, []).append(Bottleneck(cin, width, stride, down))
            for stage, blocks in layers.items():
                setattr(self, stage, nn.Sequential(*blocks))
            self.stages = list(layers)
            self.fc = nn.Linear(width * 4, cfg["classes"])

        def forward(self, x):
            x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
            for stage in self.stages:
                x = getattr(self, stage)(x)
            return self.fc(torch.flatten(torch.mean(x, dim=(2, 3), keepdim=True), 1))

    model = ResNet().eval()
    missing, unexpected = model.load_state_dict(
        {k: torch.from_numpy(v) for k, v in weights.items()}, strict=False)
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        raise SystemExit(f"weights do not fit the torch model: {missing} {unexpected}")
    return model


def torch_references(model, x):
    """{name: callable} of the frozen model and its optimize_for_inference version."""
    import torch
    with torch.no_grad():
        traced = torch.jit.trace(model, x)
        frozen = torch.jit.freeze(traced)
        opt = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
        for f in (frozen, opt):          # let the JIT specialize
            for _ in range(3):
                f(x)
    return {"torch jit.freeze": lambda: frozen(x), "torch optimize_for_inference": lambda: opt(x)}


# ----------------------------------------------------------------------------- texpr network

def measure_winograd(builder, xshape, O, kernel, bias, ocb, log=print):
    """--winograd auto: the fastest of direct, F(2,3), F(4,3), F(5,3), F(6,3) for this layer
    shape."""
    x = np.random.default_rng(1).standard_normal(xshape).astype(np.float32)
    runs = {}
    for algo in ("direct", "wino2", "wino4", "wino5", "wino6"):
        k = builder._conv_kernel(xshape, O, 3, 1, 1, False, True, algo, ocb)
        w = builder.conv_weights(kernel, algo, xshape[4], ocb)
        out = np.empty((1, O // ocb, xshape[2], xshape[3], ocb), np.float32)
        runs[algo] = k.bind(x, w, bias.reshape(1, -1, 1, 1, ocb), out)
    # interleaved, 1 thread, the best of the rounds: on a shared machine the fastest
    # round is the one least disturbed by other processes
    times = {a: float("inf") for a in runs}
    with _bench.threads(1):
        for _ in range(5):
            for a, run in runs.items():
                t0 = time.perf_counter()
                run()
                run()
                times[a] = min(times[a], (time.perf_counter() - t0) / 2)
    best = min(times, key=times.get)
    log(f"  3x3 {xshape[1] * xshape[4]}x{xshape[2]}x{xshape[3]}->{O}: " + ", ".join(
        f"{a} {t * 1e3:.2f} ms" for a, t in times.items()) + f" -> {best}")
    return best


def texpr_resnet(cfg, weights, target, winograd="model"):
    """The texpr graph (texpr.topi.models.ResNet50Builder) of the same network."""
    return ResNet50Builder(1, cfg["image"], weights, target,
                           measure_winograd if winograd == "auto" else winograd,
                           cfg["width"], cfg["blocks"], cfg["classes"], cache=KernelCache())


# ----------------------------------------------------------------------------- main

def check(got, want, tol=TOL):
    err = float(np.abs(got - want).max() / max(1e-6, np.abs(want).max()))
    if not err <= tol:
        raise SystemExit(f"texpr ResNet output differs from torch: max error {err:.2e} of the "
                         f"largest output (tolerance {tol:.0e})")
    return err


def print_profile(net, threads, runs=5, alone=False):
    """Each kernel's time, the best of `runs` runs of the graph, and the sum per kind.
    alone: also each kernel run by itself, warm (its operands in cache and its TLB entries
    loaded by its own previous call; the best of `runs` calls): the difference is what the
    network costs a kernel (operands written or last read kernels ago)."""
    best = None
    with _bench.threads(threads):
        warm_until = time.perf_counter() + (0.3 if threads > 1 else 0.0)
        while time.perf_counter() < warm_until:     # texpr's workers awake, torch's asleep
            net.net.run()
        for _ in range(runs):
            p = net.net.profile()
            best = p if best is None else [(k, o, min(t, b[2])) for (k, o, t), b in zip(p, best)]
        warm = [alone_time(r, runs) for r in net.net._run] if alone else None
    print(f"\nper kernel, {threads} thread{'s' * (threads > 1)} (best of {runs} graph runs): "
          f"sum {sum(t for _, _, t in best) * 1e3:.2f} ms"
          + (f"; alone (warm): sum {sum(warm) * 1e3:.2f} ms" if alone else ""))
    kinds = {}
    for i, (k, o, t) in enumerate(best):
        print(f"  {o:<18} {k:<18} {t * 1e3:7.3f} ms" +
              (f"  alone {warm[i] * 1e3:7.3f} ms" if alone else ""))
        kinds[k] = kinds.get(k, 0.0) + t
    print("  by kernel kind: " + ", ".join(f"{k} {t * 1e3:.2f} ms" for k, t in
                                          sorted(kinds.items(), key=lambda kv: -kv[1])))


def alone_time(run, calls):
    """The best of `calls` calls of one graph step, each after one call of its own."""
    best = float("inf")
    for _ in range(calls):
        run()
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def tune_network(nets, cfg, weights, target, args):
    """--tune: {threads: the network built under apply_history_best} after tuning, at each
    thread count (records carry it), the distinct layers of nets[threads] that have tuning
    templates (autotvm.task.extract_from_program of its kernels: the direct NCHWc
    convolutions and the classifier; the Winograd layers and the stem have none)."""
    import tempfile
    from texpr import autotvm
    log = args.log or os.path.join(tempfile.mkdtemp(), "resnet50_net.db")
    out = {}
    for t, net in nets.items():
        with _bench.threads(t):
            tasks = autotvm.task.extract_from_program(net.kernel_outputs, target)
            t0 = time.perf_counter()
            autotvm.tune_tasks(tasks, args.tune, log, measure_option=autotvm.measure_option(
                builder=autotvm.LocalBuilder(),
                runner=autotvm.LocalRunner(number=3, repeat=3, min_repeat_ms=20, timeout=20,
                                           check_correctness=True)), progress=False)
            print(f"tuned {len(tasks)} layers at {t} thread(s), at most {args.tune} trials "
                  f"each, in {time.perf_counter() - t0:.0f} s; records in {log}")
            with autotvm.apply_history_best(log):
                out[t] = texpr_resnet(cfg, weights, target, winograd=args.winograd)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="a tiny ResNet (128x128 image, width 16, one block per stage), 1 thread")
    ap.add_argument("--threads", default=None, help="e.g. 1,2 (default: 1 and all cores)")
    ap.add_argument("--winograd", default="model",
                    choices=["model", "table", "auto", "none", "2", "4", "5", "6"],
                    help="3x3 stride-1 layers: the host's cost model (model), F(4,3) / F(2,3) / "
                    "direct by output width (table), measure and pick (auto), direct only "
                    "(none), or F(m,3) everywhere")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved timing rounds")
    ap.add_argument("--profile", action="store_true",
                    help="also print each kernel's time (best of 5 runs of the graph)")
    ap.add_argument("--alone", action="store_true",
                    help="with --profile: also each kernel's time run by itself, warm")
    ap.add_argument("--tune", type=int, default=0, metavar="TRIALS",
                    help="tune the network's layers that have templates (autotvm, at most "
                    "TRIALS each, at each thread count; a layer with records in --log is not "
                    "tuned again) and time the network built with the best records too")
    ap.add_argument("--log", default=None, help="--tune: the records (.db: SQLite, else JSON "
                    "lines; default a temporary file)")
    _bench.add_target_options(ap)
    args = ap.parse_args(argv)
    print(f"CPU: {_bench.cpu_model()}")
    import torch

    target = args.target or _bench.best_target()
    cfg = QUICK if args.quick else FULL
    ncpu = os.cpu_count() or 1
    if args.threads:
        tcounts = sorted({int(t) for t in args.threads.split(",")})
    else:
        tcounts = [1] if args.quick else sorted({1, min(2, ncpu), ncpu})
    rounds = args.rounds or (3 if args.quick else 7)
    print(f"ResNet-50{' (tiny: ' + str(cfg) + ')' if args.quick else ''}, batch 1, "
          f"{cfg['image']}x{cfg['image']}, float32, target={target}, {ncpu} cores")
    print(f"PyTorch {torch.__version__}, oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}"
          f", CPU capability {torch.backends.cpu.get_cpu_capability()}")

    weights = resnet50_weights(cfg["width"], cfg["blocks"], cfg["classes"])
    model = torch_resnet(cfg, weights)
    img = np.random.default_rng(0).standard_normal((1, 3, cfg["image"], cfg["image"])) \
        .astype(np.float32)
    xt = torch.from_numpy(img)
    with torch.no_grad():
        want = model(xt).numpy()
    # a graph per thread count, built at it: a schedule splits its blocks for the threads
    # of its build (topi.cpu.parallel_units; 1 thread: 56.5 ms built for 1, 57.1 for 2, Zen 4)
    t0 = time.perf_counter()
    nets = _bench.per_threads(lambda: texpr_resnet(cfg, weights, target,
                                                   winograd=args.winograd), tcounts)
    total = (time.perf_counter() - t0) / len(tcounts)
    net = nets[max(tcounts)]
    n_steps = len(net.graph.steps)
    print(f"texpr graph: {n_steps} kernels ({len(net.cache)} distinct, built or loaded in "
          f"{net.build_s:.1f} s; graph ready in {total:.1f} s per thread count), channel block {net.block}, "
          f"activation buffers {net.net.intermediate_bytes / 2**20:.1f} MiB after reuse "
          f"(one per kernel: {net.net.naive_bytes() / 2**20:.1f} MiB)")
    tuned = tune_network(nets, cfg, weights, target, args) if args.tune else {}
    for t, n in list(nets.items()) + list(tuned.items()):
        with _bench.threads(t):
            got = n.net(img)[0].copy()
        err = check(got, want)
    refs = torch_references(model, xt)
    with torch.no_grad():
        for name, f in refs.items():
            check(f().numpy(), want, 1e-3)
    print(f"outputs checked: texpr vs torch eager max error {err:.1e} of the largest logit "
          f"(tolerance {TOL:.0e}); frozen torch models vs eager ok")

    timer = _bench.Timer(rounds=rounds, calls=2 if args.quick else 3, settle=_bench.SETTLE_S)
    load = _bench.CpuLoad()
    load.start()
    results = {}
    for t in tcounts:
        fns = {"texpr": nets[t].net.run}
        if t in tuned:
            fns["texpr tuned"] = tuned[t].net.run
        fns.update(refs)
        with _bench.threads(t), torch.no_grad():
            # 2 threads: each turn warmed by its own calls (a sleep left the second vCPU idle)
            timer.warm_s = _bench.parallel_warm_s(fns, t)
            results[t] = timer.run(fns)
    share = load.stop()
    print()
    print(f"median of {rounds} interleaved rounds (best of {timer.calls} calls each), and the "
          "best round; ratio = texpr's time / torch's (the faster torch variant); bar <= 0.8")
    print(f"  {'threads':>7} {'what':<30} {'ms':>9} {'best ms':>9}")
    summary = []
    for t in tcounts:
        r = results[t]
        for name, (med, low) in r.items():
            print(f"  {t:>7} {name:<30} {med * 1e3:9.2f} {low * 1e3:9.2f}")
        tref = min(v[0] for k, v in r.items() if not k.startswith("texpr"))
        tref_low = min(v[1] for k, v in r.items() if not k.startswith("texpr"))
        for ours in (k for k in r if k.startswith("texpr")):
            ratio, ratio_low = r[ours][0] / tref, r[ours][1] / tref_low
            if ours == "texpr":
                summary.append((t, ratio, ratio_low))
            print(f"  {t:>7} {ours + ' / torch':<30} {ratio:8.2f}x {ratio_low:8.2f}x  "
                  f"({'meets' if ratio <= 0.8 else 'above'} the 0.8 bar by the median)")
    note = _bench.load_note(share)
    if note:
        print(note)
    if args.profile:
        for t in tcounts:
            print_profile(nets[t], t, alone=args.alone)
    for kind, label in (("7x7/2", "7x7 stride-2 stem"), ("3x3", "3x3 stride-1"),
                        ("3x3/2", "3x3 stride-2")):      # choice keys: (xshape, O, kind)
        picks = [(k, v) for k, v in net.choice.items() if k[2] == kind]
        if picks:
            print(f"{label} algorithms: " + ", ".join(
                f"{k[0][1] * k[0][4]}x{k[0][2]}->{k[1]}: {v}" for k, v in picks))
    return summary


if __name__ == "__main__":
    main()
