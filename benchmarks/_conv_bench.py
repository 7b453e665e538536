"""Shared by benchmarks/resnet50_layers.py and benchmarks/conv_sweep.py: one convolution case
(NCHW in and out, batch 1, float32) built with texpr.topi and timed beside torch's conv2d
(oneDNN) on NCHW and on channels_last tensors, interleaved, 1 and 2 threads.

texpr variants of a case:
  direct  topi.nn.conv2d_nchw (groups = C: topi.nn.depthwise_conv2d_nchw) via topi.schedule
  packed  topi.nn.conv2d_nchw_packed: the constant weight packed once, offline, into the
          channel blocks the schedule reads (what Graph.conv2d does; where the schedule
          reads the weight as it lies, topi.cpu.conv2d_weight_blocks is None: no variant)
  winoM   topi.nn.conv2d_winograd_nchw F(M,3), M = 2, 4, 5 (3x3, stride 1, groups 1; a
          dilated one on each of its phases), F(M,5), M = 2, 4 (5x5, stride 1), the weights transformed once, offline, into panels of output channels
          (topi.cpu.winograd_weight_block: what Graph.conv2d does)
  stemw   topi.stem_winograd.conv2d_stem_winograd: the 7x7 stride-2 stem of few channels as
          space-to-depth + a 1-D Winograd F(4,4), the weights transformed offline
  wino4s2 3x3 stride 2 where topi.cpu_conv3x3.conv3x3_s2_algorithm picks it (the cost model
          of the target's CPU): topi.nn.conv2d_winograd_nchw(stride=2), F(4,2) on the
          space-to-depth input, the weights transformed offline
References: torch's conv2d on NCHW and on channels_last tensors, and the same convolution as
a torch.utils.mkldnn module on a blocked (to_mkldnn) input, oneDNN in its own layout (torch's
conv2d takes a slower path for some shapes, e.g. the RGB stem). The ratio is the fastest
reference / texpr's fastest variant (> 1: texpr is faster), by medians and by best rounds.

Timing: rounds in which each variant and reference in turn runs a block of calls (best of
the block; medians over rounds). At 2 threads each block starts with untimed calls of its
own for longer than any of the libraries' worker threads spin after a call
(_bench.parallel_warm_s, measured per case; a sleep instead left the second vCPU idle, and
the VM ran the next tens of ms of 2-thread work 1.6-2x slower): right after a torch call its libgomp workers spin for tens of ms and, on a 2-core
machine, take a core from the next library's threads. Two-thread figures on a machine busy
with other jobs are meaningless; 1-thread ratios under load are indicative.
"""
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench  # noqa: E402

sys.path.insert(0, _bench.ROOT)
import texpr as te  # noqa: E402
import texpr.topi as topi  # noqa: E402
from texpr.topi.stem_winograd import (conv2d_stem_winograd, stem_weight_transform_ref,  # noqa: E402
                                      stem_winograd_applies)
from texpr.topi.cpu_conv3x3 import conv3x3_s2_algorithm  # noqa: E402
from texpr.topi.winograd import TILE_SIZES, winograd_weight_transform_ref  # noqa: E402


def out_size(n, k, s, p, d):
    return (n + 2 * p - ((k - 1) * d + 1)) // s + 1


class Case:
    """A convolution: C x H x W input, O outputs, R x R kernel, stride, padding, dilation,
    groups (groups == C == O: depthwise)."""

    def __init__(self, name, C, H, O, R, stride=1, pad=0, dilation=1, groups=1, W=None):
        self.name, self.C, self.H, self.W, self.O, self.R = name, C, H, W or H, O, R
        self.s, self.p, self.d, self.g = stride, pad, dilation, groups
        self.P = out_size(self.H, R, stride, pad, dilation)
        self.Q = out_size(self.W, R, stride, pad, dilation)
        self.flops = 2.0 * O * (C // groups) * R * R * self.P * self.Q

    @property
    def depthwise(self):
        return self.g > 1 and self.g == self.C == self.O

    def variants(self, wino=(2, 4, 5), target="native"):
        v = ["direct"]
        if self.g == 1 and self.blocks(target) is not None:
            v.append("packed")
        if self.R == 3 and self.s == 1 and self.g == 1:
            v += [f"wino{m}" for m in wino]
        if self.R == 5 and self.s == 1 and self.g == 1:
            v += [f"wino{m}" for m in TILE_SIZES[5]]
        if self.g == 1 and stem_winograd_applies(self.C, self.R, self.s, self.H, self.W,
                                                 self.d):
            v.append("stemw")           # space-to-depth + 1-D Winograd, offline weights
        if (self.R == 3 and self.s == 2 and self.p == 1 and self.d == 1 and self.g == 1
                and conv3x3_s2_algorithm(1, self.C, self.H, self.W, self.O,
                                         target) == "wino4s2"):
            v.append("wino4s2")
        return v

    def blocks(self, target):
        """(ic, oc) of the packed variant's weight, or None."""
        return topi.cpu.conv2d_weight_blocks((1, self.C, self.H, self.W),
                                             (self.O, self.C, self.R, self.R), self.s, self.p,
                                             self.d, target)

    def data(self, rng):
        a = rng.standard_normal((1, self.C, self.H, self.W), dtype=np.float32)
        k = rng.standard_normal((self.O, self.C // self.g, self.R, self.R), dtype=np.float32)
        return a, (k / np.sqrt(k[0].size)).astype(np.float32)

    def build(self, variant, a, k, target):
        """(module, args, output array)."""
        out_shape = (1, self.O, self.P, self.Q)
        c = np.empty(out_shape, np.float32)
        x = te.placeholder(a.shape, name="x")
        if variant == "direct":
            if self.depthwise:
                kd = k.reshape(self.C, 1, self.R, self.R)
                w = te.placeholder(kd.shape, name="w")
                out = topi.nn.depthwise_conv2d_nchw(x, w, self.s, self.p, self.d)
            else:
                kd = k
                w = te.placeholder(k.shape, name="w")
                out = topi.nn.conv2d_nchw(x, w, self.s, self.p, self.d, self.g)
            f = te.build(topi.schedule(out, target), [x, w, out], target=target, name="conv")
            return f, (a, kd, c), c
        if variant == "packed":
            kp = topi.testing.pack_kernel_nchwc_ref(k, *self.blocks(target))
            w = te.placeholder(kp.shape, name="w")
            out = topi.nn.conv2d_nchw_packed(x, w, self.s, self.p, self.d)
            f = te.build(topi.schedule(out, target), [x, w, out], target=target, name="convp")
            return f, (a, kp, c), c
        if variant == "stemw":
            u = stem_weight_transform_ref(k)
            U = te.placeholder(u.shape, name="U")
            out = conv2d_stem_winograd(x, U, self.p)
            f = te.build(topi.schedule(out, target), [x, U, out], target=target, name="stemw")
            return f, (a, u, c), c
        m, stride = int(variant[4]), (2 if variant.endswith("s2") else 1)
        oc = topi.cpu.winograd_weight_block(self.O, target)      # panels, as Graph.conv2d
        layout = "IOo" if oc else "IO"
        u = winograd_weight_transform_ref(k, m, layout, stride, oc=oc)
        U = te.placeholder(u.shape, name="U")
        out = topi.nn.conv2d_winograd_nchw(x, U, self.p, m, pre_transformed=True,
                                           weight_layout=layout, stride=stride,
                                           dilation=self.d, kernel_size=self.R)
        f = te.build(topi.schedule(out, target), [x, U, out], target=target, name=f"wino{m}")
        return f, (a, u, c), c

    def torch_refs(self, a, k):
        """{name: callable} for torch NCHW and channels_last, and torch's output."""
        import torch
        import torch.nn.functional as F
        x, w = torch.from_numpy(a), torch.from_numpy(k)
        xl = x.contiguous(memory_format=torch.channels_last)
        wl = w.contiguous(memory_format=torch.channels_last)
        s, p, d, g = self.s, self.p, self.d, self.g
        with torch.no_grad():
            want = F.conv2d(x, w, None, s, p, d, g).numpy()
        refs = {"torch NCHW": lambda: F.conv2d(x, w, None, s, p, d, g),
                "torch NHWC": lambda: F.conv2d(xl, wl, None, s, p, d, g)}
        # oneDNN in its own blocked layout (torch.utils.mkldnn; input converted outside the
        # timing): for some shapes (the RGB stem) torch's conv2d takes another, slower path
        import torch.utils.mkldnn as mkldnn
        conv = torch.nn.Conv2d(self.C, self.O, self.R, s, p, d, g, bias=False).eval()
        with torch.no_grad():
            conv.weight.copy_(w)
            mconv, xm = mkldnn.to_mkldnn(conv), x.to_mkldnn()
            got = mconv(xm).to_dense().numpy()
        if np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max()):
            refs["oneDNN blocked"] = lambda: mconv(xm)
        return refs, want


def tolerance(variant):
    return {"wino2": 1e-4, "wino4": 1e-3, "wino5": 2e-3, "wino6": 5e-3,
            "wino4s2": 1e-3}.get(variant, 1e-4)


def run_cases(cases, tcounts, target, rounds=7, wino=(2, 4, 5), quiet=False, clock=None):
    """Build, check against torch and time every case; returns [(case, threads, {name:
    (median s, best s)}, texpr names)]. Each thread count times kernels built at it (a
    schedule splits its blocks for the threads of its build: topi.cpu.parallel_units)."""
    import torch
    rng = np.random.default_rng(0)
    rows = []
    for case in cases:
        a, k = case.data(rng)
        refs, want = case.torch_refs(a, k)
        timer = _bench.Timer(rounds=rounds, calls=_bench.calls_for(case.flops),
                             settle=_bench.SETTLE_S, clock=clock)
        built = _bench.per_threads(lambda: {v: _built_variant(case, v, a, k, want, target,
                                                              quiet) for v in
                                            case.variants(wino, target)}, tcounts)
        for t in tcounts:
            with _bench.threads(t), torch.no_grad():
                fns = dict(built[t])
                ours = list(fns)
                fns.update(refs)
                # at 2 threads each turn starts with untimed calls of its own for longer than
                # the previous library's OpenMP workers spin (torch's libgomp: tens of ms)
                timer.warm_s = _bench.parallel_warm_s(fns, t)
                rows.append((case, t, timer.run(fns), ours))
    return rows


def _built_variant(case, v, a, k, want, target, quiet):
    """A call of texpr's variant v of the case, built now and checked against torch."""
    t0 = time.perf_counter()
    f, args, c = case.build(v, a, k, target)
    tb = time.perf_counter() - t0
    f(*args)
    err = float(np.abs(c - want).max() / max(1e-6, np.abs(want).max()))
    if not err <= tolerance(v):
        raise SystemExit(f"{case.name} {v}: output differs from torch (max error "
                         f"{err:.2e} of the largest output)")
    if not quiet:
        print(f"  built {case.name:<34} {v:<6} for {topi.cpu.parallel_units()} thread(s) in "
              f"{tb:5.1f} s, error {err:.1e}", flush=True)
    return lambda: f(*args)


def print_table(rows, tcounts):
    """Per thread count: every case's best texpr variant and torch's faster layout (ms,
    GFLOP/s, ratio), then the geometric mean and the worst ratio. Returns {threads: ratios}."""
    ratios = {}
    for t in tcounts:
        print()
        print(f"{t} thread{'s' * (t > 1)} (medians of interleaved rounds; x torch = torch's "
              "fastest of NCHW, channels_last (NHWC) and oneDNN's blocked layout / texpr's "
              "fastest variant; best rd: the same from each one's best round)")
        print(f"  {'case':<36} {'texpr':<6} {'ms':>8} {'GFLOP/s':>8} | {'NCHW ms':>8} "
              f"{'NHWC ms':>8} {'blocked':>8} {'GFLOP/s':>8} | {'x torch':>7} {'best rd':>7}")
        rs = []
        for case, tt, r, ours in rows:
            if tt != t:
                continue
            v = min(ours, key=lambda n: r[n][0])
            mine = r[v][0]
            tn, tl = r["torch NCHW"][0], r["torch NHWC"][0]
            ref_t = min(v[0] for k, v in r.items() if k not in ours)
            x = ref_t / mine
            rs.append(x)
            tb = r["oneDNN blocked"][0] * 1e3 if "oneDNN blocked" in r else float("nan")
            best = min(v[1] for k, v in r.items() if k not in ours) / r[v][1]
            print(f"  {case.name:<36} {v:<6} {mine * 1e3:8.3f} {case.flops / mine / 1e9:8.1f} | "
                  f"{tn * 1e3:8.3f} {tl * 1e3:8.3f} {tb:8.3f} {case.flops / ref_t / 1e9:8.1f} | "
                  f"{x:6.2f}x {best:6.2f}x")
        if rs:
            geo = math.exp(sum(math.log(x) for x in rs) / len(rs))
            print(f"  geometric mean {geo:.2f}x, worst {min(rs):.2f}x, "
                  f"{sum(x >= 1.0 for x in rs)}/{len(rs)} at >= 1.0x")
        ratios[t] = rs
    return ratios


def main(cases, description, argv=None, default_threads="1,2"):
    import argparse
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--threads", default=default_threads, help="e.g. 1,2")
    ap.add_argument("--only", default=None, help="indices of cases, e.g. 0,3,5")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time the calling thread's CPU time (1 thread only): on a machine shared "
                         "with other jobs, time spent descheduled does not count")
    _bench.add_target_options(ap)
    args = ap.parse_args(argv)
    if args.list:
        for i, c in enumerate(cases):
            print(i, c.name)
        return None
    import torch
    target = args.target or _bench.best_target()
    tcounts = sorted({int(x) for x in args.threads.split(",")})
    if args.cpu_time and tcounts != [1]:
        ap.error("--cpu-time measures one thread: use it with --threads 1")
    if args.only:
        cases = [cases[int(i)] for i in args.only.split(",")]
    print(f"CPU: {_bench.cpu_model()}")
    print(f"texpr target={target}; PyTorch {torch.__version__} (oneDNN), CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}; threads {tcounts}"
          + ("; thread CPU time" if args.cpu_time else ""))
    load = _bench.CpuLoad()
    load.start()
    rows = run_cases(cases, tcounts, target, rounds=args.rounds,
                     clock=time.thread_time if args.cpu_time else None)
    share = load.stop()
    ratios = print_table(rows, tcounts)
    note = _bench.load_note(share)
    if note:
        print(note)
    return ratios
