#!/usr/bin/env python
"""ResNet-50 (batch 1, 224x224, random weights, batch norm folded) in texpr.topi beside the
same network in PyTorch (torch.jit frozen, eval, oneDNN), same weights, timed in the same run.

    python benchmarks/resnet50.py                  # 1 and 2 threads
    python benchmarks/resnet50.py --threads 2 --winograd 4
    python benchmarks/resnet50.py --quick          # a tiny ResNet (smoke test, < 30 s)

texpr side: the whole graph in NCHWc (one channel block for every activation; layout
transforms only at the input, nchw_to_nchwc, and at the head, where the global average pool
writes [N, C]); every convolution is one kernel with its folded batch norm (bias), relu and
residual add fused into the output loop nest; 3x3 stride-1 convolutions run as NCHWc
Winograd where it wins, their weights transformed offline. --winograd table (default): F(4,3)
for outputs at least 28 wide, F(2,3) at 14, direct below: what per-kernel profiles of the
whole network showed on this machine (F(6,3) no faster than F(4,3) and ~6x slower to build;
at 14x14x256 the F(4,3) weights, 9 MB, come from memory in the network and F(2,3)'s 4 MB
win; nothing beats direct at 7x7). --winograd auto times each distinct layer shape once,
alone (its weights in cache), 1 thread, as direct, F(2,3), F(4,3) and F(6,3), and keeps the
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
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, _bench.ROOT)
import texpr as te  # noqa: E402
import texpr.topi as topi  # noqa: E402
from texpr.topi import testing as ref  # noqa: E402
from texpr.topi.graph import Graph, KernelCache  # noqa: E402
from texpr.topi.winograd import winograd_weight_transform_NCHWc_ref  # noqa: E402

FULL = {"image": 224, "width": 64, "blocks": (3, 4, 6, 3), "classes": 1000}
QUICK = {"image": 128, "width": 16, "blocks": (1, 1, 1, 1), "classes": 10}
# error of the network's output relative to its largest magnitude (50 layers of float32,
# Winograd F(4,3)/F(6,3) on the 3x3 layers)
TOL = 2e-3


# ----------------------------------------------------------------------------- PyTorch model

def torch_resnet(cfg, seed=0):
    """ResNet-50 v1.5 (stride in the 3x3 convolution) with random weights and random batch
    norm statistics, in eval mode."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin, width, stride):
            super().__init__()
            cout = width * 4
            self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))
            self.stride = stride

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = torch.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return torch.relu(y + (self.down(x) if self.down is not None else x))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            w = cfg["width"]
            self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(w)
            self.pool = nn.MaxPool2d(3, 2, 1)
            blocks, cin = [], w
            for stage, n in enumerate(cfg["blocks"]):
                width = w * 2 ** stage
                for i in range(n):
                    blocks.append(Bottleneck(cin, width, 2 if (i == 0 and stage > 0) else 1))
                    cin = width * 4
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(cin, cfg["classes"])

        def forward(self, x):
            x = self.pool(torch.relu(self.bn1(self.conv1(x))))
            x = self.blocks(x)
            return self.fc(torch.flatten(torch.mean(x, dim=(2, 3), keepdim=True), 1))

    torch.manual_seed(seed)
    model = ResNet().eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2.0 / fan))
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + 0.5 * torch.rand(c, generator=g))
                m.bias.copy_(0.1 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))
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

def folded(conv, bn):
    """(OIHW kernel, bias) with the batch norm folded in (topi.nn.fold_batch_norm)."""
    k = conv.weight.detach().numpy().astype(np.float32)
    zero = np.zeros(k.shape[0], np.float32)
    return topi.nn.fold_batch_norm(k, zero, bn.weight.detach().numpy(), bn.bias.detach().numpy(),
                                   bn.running_mean.numpy(), bn.running_var.numpy(), bn.eps)


class TexprResNet:
    """The texpr graph of a torch_resnet model (see the module docstring)."""

    def __init__(self, model, cfg, target, winograd="table", cache=None, log=print):
        self.target, self.winograd, self.log = target, winograd, log
        self.cache = cache if cache is not None else KernelCache()
        self.choice = {}                 # 3x3 stride-1 layer shape -> algorithm
        self.build_s = 0.0
        lanes = topi.cpu.cpu_info(target).lanes
        chans = [3, cfg["width"]] + [cfg["width"] * 2 ** s * k for s in range(4) for k in (1, 4)]
        self.block = next(b for b in (2 * lanes, lanes, 8, 4, 2, 1)
                          if all(c % b == 0 for c in chans[1:]))
        img = cfg["image"]
        g = self.graph = Graph("resnet50")
        x = g.input("image", (1, 3, img, img))
        h = g.call(self._layout_in(img), x, name="image_nchwc")
        h = self._conv(h, model.conv1, model.bn1, stride=2, pad=3, relu=True, name="stem", cin_block=3)
        h = g.call(self._maxpool(h.shape), h, name="maxpool")
        for i, b in enumerate(model.blocks):
            h = self._bottleneck(h, b, f"block{i}")
        pooled = g.call(self._head_pool(h.shape), h, name="avgpool")
        fc = model.fc
        out = self._fc(pooled, fc.weight.detach().numpy(), fc.bias.detach().numpy())
        self.net = g.compile(out)

    # -- building blocks ------------------------------------------------------------------

    def _built(self, key, fn):
        def build():
            t0 = time.perf_counter()
            k = fn()
            self.build_s += time.perf_counter() - t0
            return k
        return self.cache.get(key, build)

    def _layout_in(self, img):
        def build():
            x = te.placeholder((1, 3, img, img), name="x")
            out = topi.layout.nchw_to_nchwc(x, 3)
            return te.build(topi.schedule(out, self.target), [x, out], target=self.target,
                            name="nchw_to_nchwc")
        return self._built(("layout_in", img), build)

    def _maxpool(self, shape):
        def build():
            x = te.placeholder(shape, name="x")
            out = topi.nn.pool2d(x, 3, 2, 1, "max")
            return te.build(topi.schedule(out, self.target), [x, out], target=self.target,
                            name="maxpool")
        return self._built(("maxpool", shape), build)

    def _head_pool(self, shape):
        def build():
            x = te.placeholder(shape, name="x")
            out = topi.nn.global_pool_flatten(x, "avg")
            return te.build(topi.schedule(out, self.target), [x, out], target=self.target,
                            name="avgpool_flatten")
        return self._built(("avgpool", shape), build)

    def _fc(self, h, w, b):
        N, K = w.shape
        nb = topi.cpu.dense_weight_block(N, K, self.target, M=1)
        wp = ref.pack_dense_weight_ref(w.astype(np.float32), nb)

        def build():
            x = te.placeholder((1, K), name="x")
            W = te.placeholder(wp.shape, name="w")
            B = te.placeholder((N,), name="b")
            out = topi.nn.dense_pack(x, W, B, units=N)
            return te.build(topi.schedule(out, self.target), [x, W, B, out], target=self.target,
                            name="fc")
        k = self._built(("fc", N, K, nb), build)
        g = self.graph
        return g.call(k, h, g.constant("fc_w", wp), g.constant("fc_b", b.astype(np.float32)),
                      name="logits")

    def _conv_kernel(self, xshape, O, R, stride, pad, residual, relu, algo, ocb):
        key = ("conv", xshape, O, R, stride, pad, residual, relu, algo, ocb)

        def build():
            N, Cb, H, W, icb = xshape
            x = te.placeholder(xshape, name="x")
            if algo == "direct":
                w = te.placeholder((O // ocb, Cb, R, R, icb, ocb), name="w")
                y = topi.nn.conv2d_NCHWc(x, w, stride, pad)
            else:
                m = int(algo[-1])
                w = te.placeholder((m + 2, m + 2, O // ocb, Cb * icb, ocb), name="U")
                y = topi.nn.conv2d_winograd_NCHWc(x, w, pad, m, pre_transformed=True)
            b = te.placeholder((1, O // ocb, 1, 1, ocb), name="bias")
            y = topi.nn.add(y, b)
            args = [x, w, b]
            if residual:
                r = te.placeholder(tuple(int(d.value) for d in y.shape), name="residual")
                y = topi.nn.add(y, r)
                args.append(r)
            if relu:
                y = topi.nn.relu(y)
            return te.build(topi.schedule(y, self.target), args + [y], target=self.target,
                            name=f"conv{R}x{R}_{algo}")
        return self._built(key, build)

    def _weights(self, kernel, algo, icb, ocb):
        kn = ref.pack_kernel_nchwc_ref(kernel, icb, ocb)
        if algo == "direct":
            return kn
        return winograd_weight_transform_NCHWc_ref(kn, int(algo[-1]))

    def _algorithm(self, xshape, O, R, stride, pad, kernel, bias, ocb):
        """direct, or the Winograd tile size for a 3x3 stride-1 layer (see --winograd)."""
        if R != 3 or stride != 1:
            return "direct"
        key = (xshape, O)
        if key not in self.choice:
            if self.winograd in ("none", "direct"):
                self.choice[key] = "direct"
            elif self.winograd == "table":
                W = xshape[3]
                self.choice[key] = "wino4" if W >= 28 else "wino2" if W >= 14 else "direct"
            elif self.winograd == "auto":
                self.choice[key] = self._measure(xshape, O, R, stride, pad, kernel, bias, ocb)
            else:
                self.choice[key] = "wino" + self.winograd
        return self.choice[key]

    def _measure(self, xshape, O, R, stride, pad, kernel, bias, ocb):
        """The fastest of direct, F(2,3), F(4,3), F(6,3) for this layer shape."""
        x = np.random.default_rng(1).standard_normal(xshape).astype(np.float32)
        runs = {}
        for algo in ("direct", "wino2", "wino4", "wino6"):
            k = self._conv_kernel(xshape, O, R, stride, pad, False, True, algo, ocb)
            w = self._weights(kernel, algo, xshape[4], ocb)
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
        self.log(f"  3x3 {xshape[1] * xshape[4]}x{xshape[2]}x{xshape[3]}->{O}: " + ", ".join(
            f"{a} {t * 1e3:.2f} ms" for a, t in times.items()) + f" -> {best}")
        return best

    def _conv(self, h, conv, bn, stride, pad, relu, name, residual=None, cin_block=None):
        kernel, bias = folded(conv, bn)
        O, _, R, _ = kernel.shape
        icb = cin_block or self.block
        ocb = self.block
        algo = self._algorithm(h.shape, O, R, stride, pad, kernel, bias, ocb)
        k = self._conv_kernel(h.shape, O, R, stride, pad, residual is not None, relu, algo, ocb)
        g = self.graph
        args = [h, g.constant(name + "_w", self._weights(kernel, algo, icb, ocb)),
                g.constant(name + "_b", bias.reshape(1, O // ocb, 1, 1, ocb))]
        if residual is not None:
            args.append(residual)
        return g.call(k, *args, name=name)

    def _bottleneck(self, x, b, name):
        y = self._conv(x, b.conv1, b.bn1, 1, 0, True, name + "_conv1")
        y = self._conv(y, b.conv2, b.bn2, b.stride, 1, True, name + "_conv2")
        sc = x
        if b.down is not None:
            sc = self._conv(x, b.down[0], b.down[1], b.stride, 0, False, name + "_down")
        return self._conv(y, b.conv3, b.bn3, 1, 0, True, name + "_conv3", residual=sc)

    def __call__(self, image):
        return self.net(image)[0]


# ----------------------------------------------------------------------------- main

def check(got, want, tol=TOL):
    err = float(np.abs(got - want).max() / max(1e-6, np.abs(want).max()))
    if not err <= tol:
        raise SystemExit(f"texpr ResNet output differs from torch: max error {err:.2e} of the "
                         f"largest output (tolerance {tol:.0e})")
    return err


def print_profile(net, threads, runs=5):
    """Each kernel's time, the best of `runs` runs of the graph, and the sum per kind."""
    best = None
    with _bench.threads(threads):
        for _ in range(runs):
            p = net.net.profile()
            best = p if best is None else [(k, o, min(t, b[2])) for (k, o, t), b in zip(p, best)]
    print(f"\nper kernel, {threads} thread{'s' * (threads > 1)} (best of {runs} graph runs): "
          f"sum {sum(t for _, _, t in best) * 1e3:.2f} ms")
    kinds = {}
    for k, o, t in best:
        print(f"  {o:<18} {k:<18} {t * 1e3:7.3f} ms")
        kinds[k] = kinds.get(k, 0.0) + t
    print("  by kernel kind: " + ", ".join(f"{k} {t * 1e3:.2f} ms" for k, t in
                                          sorted(kinds.items(), key=lambda kv: -kv[1])))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="a tiny ResNet (128x128 image, width 16, one block per stage), 1 thread")
    ap.add_argument("--threads", default=None, help="e.g. 1,2 (default: 1 and all cores)")
    ap.add_argument("--winograd", default="table", choices=["table", "auto", "none", "2", "4", "6"],
                    help="3x3 stride-1 layers: F(4,3) / F(2,3) / direct by output width (table), measure "
                    "and pick (auto), direct only (none), or F(m,3) everywhere")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved timing rounds")
    ap.add_argument("--profile", action="store_true",
                    help="also print each kernel's time (best of 5 runs of the graph)")
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

    model = torch_resnet(cfg)
    img = np.random.default_rng(0).standard_normal((1, 3, cfg["image"], cfg["image"])) \
        .astype(np.float32)
    xt = torch.from_numpy(img)
    with torch.no_grad():
        want = model(xt).numpy()
    t0 = time.perf_counter()
    with _bench.threads(max(tcounts)):
        net = TexprResNet(model, cfg, target, winograd=args.winograd)
    total = time.perf_counter() - t0
    n_steps = len(net.graph.steps)
    print(f"texpr graph: {n_steps} kernels ({len(net.cache)} distinct, built or loaded in "
          f"{net.build_s:.1f} s; graph ready in {total:.1f} s), channel block {net.block}, "
          f"activation buffers {net.net.intermediate_bytes / 2**20:.1f} MiB after reuse "
          f"(one per kernel: {net.net.naive_bytes() / 2**20:.1f} MiB)")
    got = net(img).copy()
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
        fns = {"texpr": lambda: net.net.run()}
        fns.update(refs)
        with _bench.threads(t), torch.no_grad():
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
        tref = min(v[0] for k, v in r.items() if k != "texpr")
        tref_low = min(v[1] for k, v in r.items() if k != "texpr")
        ratio, ratio_low = r["texpr"][0] / tref, r["texpr"][1] / tref_low
        summary.append((t, ratio, ratio_low))
        print(f"  {t:>7} {'texpr / torch':<30} {ratio:8.2f}x {ratio_low:8.2f}x  "
              f"({'meets' if ratio <= 0.8 else 'above'} the 0.8 bar by the median)")
    note = _bench.load_note(share)
    if note:
        print(note)
    if args.profile:
        for t in tcounts:
            print_profile(net, t)
    if net.choice:
        print("3x3 stride-1 algorithms: " + ", ".join(
            f"{k[0][1] * k[0][4]}x{k[0][2]}->{k[1]}: {v}" for k, v in net.choice.items()))
    return summary


if __name__ == "__main__":
    main()
