#!/usr/bin/env python
"""The ResNet-50 convolution layers (batch 1) in texpr.topi beside oneDNN through PyTorch.

    python benchmarks/conv.py                  # all layers, 1 and all threads
    python benchmarks/conv.py --quick          # one small layer, 1 thread (smoke test)
    python benchmarks/conv.py --layers 0,4 --threads 2 --variants nchwc,wino4

Variants (each checked against torch's output, each timed in the same run, interleaved with
the references):
  nchw    topi.nn.conv2d_nchw: NCHW in and out; the schedule reads the input and the kernel
          through channel-blocked copies it makes on every call (register tile reg_w x oc)
  nchwc   topi.nn.conv2d_NCHWc: the graph is in NCHWc (input and kernel already blocked with
          topi.cpu.conv_blocks; no layout transform in the timed call)
  winoM   topi.nn.conv2d_winograd_nchw F(M,3), 3x3 stride 1 only, weights transformed once,
          offline (winograd_weight_transform layout "IO"); NCHW in and out
  cwinoM  topi.nn.conv2d_winograd_NCHWc F(M,3): NCHWc in and out (as nchwc), weights
          transformed offline into packed panels (winograd_weight_transform_NCHWc)
References: torch.nn.functional.conv2d on NCHW tensors, and the same convolution as a
torch.utils.mkldnn module on a blocked (to_mkldnn) input: oneDNN in its own best layout.
The ratio is to the faster of the two ("x oneDNN" > 1: texpr is faster).
GFLOP/s count the direct convolution's flops (2*N*O*C*R*S*P*Q) for every variant, so the
Winograd ones are "effective"; %peak is against the machine's fp32 FMA peak at the target's
vector width: threads x the single-thread peak measured in the run (Winograd can exceed 100%).
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
from texpr.topi import testing as ref  # noqa: E402
from texpr.topi.winograd import (winograd_weight_transform_NCHWc_ref,  # noqa: E402
                                 winograd_weight_transform_ref)

# (name, C, H, O, R, stride, pad)
LAYERS = [
    ("64x56x56->64 3x3", 64, 56, 64, 3, 1, 1),
    ("128x28x28->128 3x3", 128, 28, 128, 3, 1, 1),
    ("256x14x14->256 3x3", 256, 14, 256, 3, 1, 1),
    ("512x7x7->512 3x3", 512, 7, 512, 3, 1, 1),
    ("64x56x56->256 1x1", 64, 56, 256, 1, 1, 0),
    ("stem 3x224x224->64 7x7/2", 3, 224, 64, 7, 2, 3),
]
QUICK_LAYER = ("32x14x14->32 3x3", 32, 14, 32, 3, 1, 1)
VARIANTS = ["nchw", "nchwc", "wino2", "wino4", "wino6", "cwino2", "cwino4", "cwino6"]
# Winograd error grows with the tile size (F(6,3)'s transforms have entries up to ~10) and
# with the reduction length; relative to the output's magnitude
WINO_TOL = {2: 1e-4, 4: 1e-3, 6: 5e-3}


def out_size(H, R, s, p):
    return (H + 2 * p - R) // s + 1


class Layer:
    def __init__(self, spec, target, rng):
        self.name, self.C, self.H, self.O, self.R, self.s, self.p = spec
        C, H, O, R = self.C, self.H, self.O, self.R
        self.P = out_size(H, R, self.s, self.p)
        self.flops = 2.0 * O * C * R * R * self.P * self.P
        self.target = target
        self.a = rng.standard_normal((1, C, H, H), dtype=np.float32)
        self.k = (rng.standard_normal((O, C, R, R), dtype=np.float32) / np.sqrt(C * R * R)) \
            .astype(np.float32)
        self.winograd_ok = R == 3 and self.s == 1

    def build(self, variant):
        """(module, args, output array, function giving the output in NCHW)."""
        C, H, O, R, s, p, P, t = self.C, self.H, self.O, self.R, self.s, self.p, self.P, \
            self.target
        if variant == "nchw":
            x = te.placeholder((1, C, H, H), name="x")
            w = te.placeholder((O, C, R, R), name="w")
            out = topi.nn.conv2d_nchw(x, w, s, p)
            f = te.build(topi.schedule(out, t), [x, w, out], target=t, name="conv_nchw")
            c = np.empty((1, O, P, P), np.float32)
            return f, (self.a, self.k, c), c, lambda: c
        if variant == "nchwc":
            ic, oc = topi.cpu.conv_blocks(C, O, t)
            an = ref.nchw_to_nchwc_ref(self.a, ic)
            kn = ref.pack_kernel_nchwc_ref(self.k, ic, oc)
            x = te.placeholder(an.shape, name="x")
            w = te.placeholder(kn.shape, name="w")
            out = topi.nn.conv2d_NCHWc(x, w, s, p)
            f = te.build(topi.schedule(out, t), [x, w, out], target=t, name="conv_nchwc")
            c = np.empty((1, O // oc, P, P, oc), np.float32)
            return f, (an, kn, c), c, lambda: ref.nchwc_to_nchw_ref(c)
        m = int(variant[-1])
        if variant.startswith("cwino"):
            ic, oc = topi.cpu.conv_blocks(C, O, t)
            an = ref.nchw_to_nchwc_ref(self.a, ic)
            u = winograd_weight_transform_NCHWc_ref(ref.pack_kernel_nchwc_ref(self.k, ic, oc), m)
            x = te.placeholder(an.shape, name="x")
            U = te.placeholder(u.shape, name="U")
            out = topi.nn.conv2d_winograd_NCHWc(x, U, p, m, pre_transformed=True)
            f = te.build(topi.schedule(out, t), [x, U, out], target=t, name=f"conv_cwino{m}")
            c = np.empty((1, O // oc, P, P, oc), np.float32)
            return f, (an, u, c), c, lambda: ref.nchwc_to_nchw_ref(c)
        u = winograd_weight_transform_ref(self.k, m, "IO")
        x = te.placeholder((1, C, H, H), name="x")
        U = te.placeholder(u.shape, name="U")
        out = topi.nn.conv2d_winograd_nchw(x, U, p, m, pre_transformed=True, weight_layout="IO")
        f = te.build(topi.schedule(out, t), [x, U, out], target=t, name=f"conv_wino{m}")
        c = np.empty((1, O, P, P), np.float32)
        return f, (self.a, u, c), c, lambda: c

    def blocks(self):
        return topi.cpu.conv_blocks(self.C, self.O, self.target)


def torch_refs(layer):
    """{name: callable} running oneDNN through PyTorch, and the NCHW output."""
    import torch
    import torch.utils.mkldnn as mkldnn
    conv = torch.nn.Conv2d(layer.C, layer.O, layer.R, layer.s, layer.p, bias=False).eval()
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(layer.k))
    x = torch.from_numpy(layer.a)
    mconv = mkldnn.to_mkldnn(conv)
    xm = x.to_mkldnn()
    with torch.no_grad():
        want = conv(x).numpy()
        blocked = mconv(xm).to_dense().numpy()
    np.testing.assert_allclose(blocked, want, rtol=1e-4, atol=1e-4)
    return {"oneDNN NCHW": lambda: conv(x), "oneDNN blocked": lambda: mconv(xm)}, want


def check(name, got, want, tol):
    err = float(np.abs(got - want).max() / max(1e-6, np.abs(want).max()))
    if not err <= tol:
        raise SystemExit(f"{name}: output differs from torch (max error {err:.2e} of the "
                         f"largest output, tolerance {tol:.0e})")
    return err


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help=f"one small layer ({QUICK_LAYER[0]}), 1 thread, few rounds")
    ap.add_argument("--layers", default=None, help="indices into the layer list, e.g. 0,4")
    ap.add_argument("--variants", default=None,
                    help=f"comma-separated subset of {','.join(VARIANTS)}")
    ap.add_argument("--threads", default=None, help="e.g. 1,2 (default: 1 and all cores)")
    _bench.add_target_options(ap)
    args = ap.parse_args(argv)
    print(f"CPU: {_bench.cpu_model()}")
    import torch

    target = args.target or _bench.best_target()
    ncpu = os.cpu_count() or 1
    if args.threads:
        tcounts = sorted({int(x) for x in args.threads.split(",")})
    else:
        tcounts = [1] if args.quick else sorted({1, ncpu})
    if args.quick:
        specs = [QUICK_LAYER]
        variants = args.variants.split(",") if args.variants else ["nchw", "nchwc", "wino4",
                                                                    "cwino4"]
    else:
        idx = [int(i) for i in args.layers.split(",")] if args.layers else range(len(LAYERS))
        specs = [LAYERS[i] for i in idx]
        variants = args.variants.split(",") if args.variants else VARIANTS
    bad = set(variants) - set(VARIANTS)
    if bad:
        raise SystemExit(f"--variants: unknown {sorted(bad)}; known: {', '.join(VARIANTS)}")
    timer = _bench.Timer(rounds=3 if args.quick else 7, calls=2 if args.quick else 5,
                         settle=_bench.SETTLE_S)
    bits, peak, peak_note = _bench.peaks(target, tcounts, quick=args.quick)
    print(f"texpr conv2d (ResNet-50 layers, batch 1, float32), target={target} ({bits}-bit "
          f"vectors), {ncpu} cores")
    print(f"PyTorch {torch.__version__}, oneDNN {torch.backends.mkldnn.is_available() and 'on'}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    print(peak_note)

    rng = np.random.default_rng(0)
    load = _bench.CpuLoad()
    load.start()
    table = []
    for spec in specs:
        layer = Layer(spec, target, rng)
        refs, want = torch_refs(layer)
        mods = {}
        for v in variants:
            if "wino" in v and not layer.winograd_ok:
                continue
            t0 = time.perf_counter()
            f, fargs, c, as_nchw = layer.build(v)
            tb = time.perf_counter() - t0
            f(*fargs)
            tol = WINO_TOL[int(v[-1])] if "wino" in v else 1e-4
            err = check(f"{layer.name} {v}", as_nchw(), want, tol)
            mods[v] = (f, fargs)
            print(f"  {layer.name:<26} {v:<6} built in {tb:5.1f} s, max error vs torch "
                  f"{err:.1e}: ok", flush=True)
        for t in tcounts:
            fns = {v: (lambda f=f, a=a: f(*a)) for v, (f, a) in mods.items()}
            fns.update(refs)
            with _bench.threads(t), torch.no_grad():
                r = timer.run(fns)
            table.append((layer, t, r))
    share = load.stop()

    for t in tcounts:
        print()
        print(f"{t} thread{'s' * (t > 1)}   (median of {timer.rounds} interleaved rounds, and the "
              "best round; x oneDNN: the time of oneDNN in its faster layout / texpr's)")
        print(f"  {'layer':<26} {'variant':<16} {'ms':>8} {'GFLOP/s':>9} {'x oneDNN':>9} "
              f"{'%peak':>7} | {'best ms':>8} {'x oneDNN':>9}")
        for layer, tt, r in table:
            if tt != t:
                continue
            best_ref = min(r["oneDNN NCHW"][0], r["oneDNN blocked"][0])
            best_ref_min = min(r["oneDNN NCHW"][1], r["oneDNN blocked"][1])
            for name, (med, low) in r.items():
                g = layer.flops / med / 1e9
                label = {"wino2": "winograd F(2,3)", "wino4": "winograd F(4,3)",
                         "wino6": "winograd F(6,3)", "cwino2": "NCHWc wino2",
                         "cwino4": "NCHWc wino4", "cwino6": "NCHWc wino6"}.get(name, name)
                print(f"  {layer.name:<26} {label:<16} {med * 1e3:8.3f} {g:9.1f} "
                      f"{best_ref / med:8.2f}x {100 * g / peak[t]:6.1f}% | {low * 1e3:8.3f} "
                      f"{best_ref_min / low:8.2f}x")
    print()
    print("best texpr variant per layer (bars: 3x3 >= 1.3x oneDNN, 1x1 and stem >= 1.0x), by "
          "median and by best round (the best round is what a quiet machine gives):")
    for layer, t, r in table:
        ours = [k for k in r if not k.startswith("oneDNN")]
        if not ours:
            continue
        bar = 1.3 if layer.R == 3 else 1.0
        out = []
        for i, what in ((0, "median"), (1, "best rounds")):
            ref_t = min(r["oneDNN NCHW"][i], r["oneDNN blocked"][i])
            k = min(ours, key=lambda v: r[v][i])
            x = ref_t / r[k][i]
            out.append(f"{what} {x:5.2f}x ({k}, {'meets' if x >= bar else 'below'} {bar}x)")
        print(f"  {t}T {layer.name:<26} " + ";  ".join(out))
    note = _bench.load_note(share)
    if note:
        print(note)
    return table


if __name__ == "__main__":
    main()
