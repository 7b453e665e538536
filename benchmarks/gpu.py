#!/usr/bin/env python
"""texpr's GPU schedules (topi.schedule(..., "cuda" / "opencl")): a float32 matmul and the
ResNet-50 convolution layers (batch 1).

    python benchmarks/gpu.py            # CUDA device: vs cuBLAS/cuDNN (torch); else PoCL vs NumPy
    python benchmarks/gpu.py --quick    # small sizes (smoke test)

With a CUDA device: texpr "cuda" modules beside torch.matmul (cuBLAS, TF32 off) and
torch.nn.functional.conv2d (cuDNN) in the same run, as ratios and as fractions of the
device's measured fp32 peak (the best cuBLAS sgemm rate measured here, at 8192^3: a lower
bound of the real peak, so the fractions are upper bounds).
Without one: the same schedules built for "opencl" run on whatever OpenCL device exists
(PoCL's CPU device on the project's machines), checked against NumPy and timed beside it.
Every result is checked before it is timed.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench  # noqa: E402
import texpr as te  # noqa: E402
import texpr.topi as topi  # noqa: E402
from texpr.topi import testing as ref  # noqa: E402

from conv import LAYERS  # noqa: E402  (the ResNet-50 layers; benchmarks/ is the script dir)

QUICK_LAYERS = [("16x14x14->16 3x3", 16, 14, 16, 3, 1, 1)]


def median_time(fn, number, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def build_dense(M, N, K, target):
    A = te.placeholder((M, K), name="A")
    W = te.placeholder((N, K), name="W")
    out = topi.nn.dense(A, W)
    return te.build(topi.schedule(out, target), [A, W, out], target, name="dense")


def build_conv(C, H, O, R, stride, pad, target):
    X = te.placeholder((1, C, H, H), name="X")
    Wt = te.placeholder((O, C, R, R), name="W")
    out = topi.nn.conv2d_nchw(X, Wt, stride, pad)
    f = te.build(topi.schedule(out, target), [X, Wt, out], target, name="conv")
    return f, tuple(int(d.value) for d in out.shape)


def run_cuda_without_torch(args):
    """A CUDA device but no CUDA build of PyTorch: texpr alone, checked against NumPy."""
    print("CUDA device found, but PyTorch has no CUDA (the pinned CPU build?): texpr's CUDA "
          "kernels alone, checked against NumPy; no cuBLAS/cuDNN reference")
    rng = np.random.default_rng(0)
    n = 512 if args.quick else args.size
    f = build_dense(n, n, n, "cuda")
    x = rng.standard_normal((n, n)).astype("float32")
    w = rng.standard_normal((n, n)).astype("float32")
    c = np.zeros((n, n), "float32")
    f(x, w, c)
    assert np.allclose(c, x @ w.T, rtol=1e-3, atol=1e-2 * np.sqrt(n)), "texpr matmul differs"
    t = f.time(x, w, c, number=5, repeat=5)
    print(f"matmul {n}^3 checked vs NumPy: ok; texpr {2 * n ** 3 / t / 1e9:.0f} GFLOP/s ({f})")
    for name, C, H, O, R, s, p in (QUICK_LAYERS if args.quick else LAYERS):
        g, oshape = build_conv(C, H, O, R, s, p, "cuda")
        xd = rng.standard_normal((1, C, H, H)).astype("float32")
        wd = rng.standard_normal((O, C, R, R)).astype("float32")
        y = np.zeros(oshape, "float32")
        g(xd, wd, y)
        assert np.allclose(y, ref.conv2d_nchw_ref(xd, wd, s, p), rtol=1e-3,
                           atol=1e-3 * np.sqrt(C * R * R)), f"{name}: differs from NumPy"
        t = g.time(xd, wd, y, number=5, repeat=5)
        fl = 2 * O * C * R * R * oshape[2] * oshape[3]
        print(f"conv {name:26s} checked vs NumPy: ok; texpr {fl / t / 1e9:7.0f} GFLOP/s")


def run_cuda(args):
    try:
        import torch
        has_torch_cuda = torch.cuda.is_available()
    except ImportError:
        has_torch_cuda = False
    if not has_torch_cuda:
        return run_cuda_without_torch(args)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")

    def ttime(fn, n=10, r=5):
        fn()
        torch.cuda.synchronize()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        out = []
        for _ in range(r):
            s.record()
            for _ in range(n):
                fn()
            e.record()
            torch.cuda.synchronize()
            out.append(s.elapsed_time(e) * 1e-3 / n)
        return statistics.median(out)

    P = 2048 if args.quick else 8192
    a = torch.randn(P, P, device=dev)
    peak = 2 * P ** 3 / ttime(lambda: a @ a, n=3) / 1e9
    print(f"device: {torch.cuda.get_device_name(0)}; measured fp32 peak (cuBLAS sgemm {P}^3, "
          f"TF32 off): {peak:.0f} GFLOP/s")
    n = 512 if args.quick else args.size
    f = build_dense(n, n, n, "cuda")
    x = np.random.default_rng(0).standard_normal((n, n)).astype("float32")
    w = np.random.default_rng(1).standard_normal((n, n)).astype("float32")
    c = np.zeros((n, n), "float32")
    f(x, w, c)
    xt, wt = torch.from_numpy(x).to(dev), torch.from_numpy(w).to(dev)
    want = (xt @ wt.T).cpu().numpy()
    assert np.allclose(c, want, rtol=1e-3, atol=1e-2 * np.sqrt(n)), \
        "texpr matmul differs from cuBLAS"
    t = f.time(x, w, c, number=5, repeat=5)
    tr = ttime(lambda: xt @ wt.T)
    fl = 2 * n ** 3
    print(f"matmul {n}^3: texpr {fl / t / 1e9:8.0f} GFLOP/s ({fl / t / 1e9 / peak:5.1%} of peak)"
          f"   cuBLAS {fl / tr / 1e9:8.0f} GFLOP/s ({fl / tr / 1e9 / peak:5.1%})   "
          f"texpr/cuBLAS {tr / t:5.2f}x")
    for name, C, H, O, R, s, p in (QUICK_LAYERS if args.quick else LAYERS):
        g, oshape = build_conv(C, H, O, R, s, p, "cuda")
        xd = np.random.default_rng(2).standard_normal((1, C, H, H)).astype("float32")
        wd = np.random.default_rng(3).standard_normal((O, C, R, R)).astype("float32")
        y = np.zeros(oshape, "float32")
        g(xd, wd, y)
        xt, wt = torch.from_numpy(xd).to(dev), torch.from_numpy(wd).to(dev)
        conv = torch.nn.functional.conv2d
        assert np.allclose(y, conv(xt, wt, stride=s, padding=p).cpu().numpy(), rtol=1e-3,
                           atol=1e-3 * np.sqrt(C * R * R)), f"{name}: differs from cuDNN"
        t = g.time(xd, wd, y, number=5, repeat=5)
        tr = ttime(lambda: conv(xt, wt, stride=s, padding=p))
        fl = 2 * O * C * R * R * oshape[2] * oshape[3]
        print(f"conv {name:26s}: texpr {fl / t / 1e9:7.0f} GFLOP/s ({fl / t / 1e9 / peak:5.1%})"
              f"   cuDNN {fl / tr / 1e9:7.0f} GFLOP/s   texpr/cuDNN {tr / t:5.2f}x")


def run_opencl(args):
    from texpr.targets.gpu.opencl_runtime import opencl_context
    ctx, _ = opencl_context()
    print(f"no CUDA device: texpr's GPU schedules on OpenCL ({ctx.devices[0].name.strip()}, "
          f"{ctx.devices[0].platform.name.strip()}) beside NumPy on the CPU")
    rng = np.random.default_rng(0)
    n = 64 if args.quick else min(args.size, 1024)
    f = build_dense(n, n, n, "opencl")
    x = rng.standard_normal((n, n)).astype("float32")
    w = rng.standard_normal((n, n)).astype("float32")
    c = np.zeros((n, n), "float32")
    f(x, w, c)
    ok = np.allclose(c, x @ w.T, rtol=1e-4, atol=1e-4 * np.sqrt(n))
    print(f"matmul {n}^3 checked vs NumPy: {'ok' if ok else 'MISMATCH'}")
    if not ok:
        raise SystemExit(1)
    t = f.time(x, w, c, number=2, repeat=3)
    tn = median_time(lambda: x @ w.T, 5, 3)
    fl = 2 * n ** 3
    print(f"  texpr opencl {fl / t / 1e9:7.2f} GFLOP/s   NumPy {fl / tn / 1e9:7.2f} GFLOP/s   "
          f"texpr/NumPy {tn / t:5.2f}x")
    for name, C, H, O, R, s, p in (QUICK_LAYERS if args.quick else LAYERS[:args.conv_layers]):
        g, oshape = build_conv(C, H, O, R, s, p, "opencl")
        xd = rng.standard_normal((1, C, H, H)).astype("float32")
        wd = rng.standard_normal((O, C, R, R)).astype("float32")
        y = np.zeros(oshape, "float32")
        g(xd, wd, y)
        want = ref.conv2d_nchw_ref(xd, wd, s, p)
        ok = np.allclose(y, want, rtol=1e-4, atol=1e-4 * np.sqrt(C * R * R))
        print(f"conv {name} checked vs NumPy: {'ok' if ok else 'MISMATCH'}")
        if not ok:
            raise SystemExit(1)
        t = g.time(xd, wd, y, number=1, repeat=3)
        tn = median_time(lambda: ref.conv2d_nchw_ref(xd, wd, s, p), 1, 3)
        fl = 2 * O * C * R * R * oshape[2] * oshape[3]
        print(f"  texpr opencl {fl / t / 1e9:7.2f} GFLOP/s   NumPy ref {fl / tn / 1e9:7.2f} GFLOP/s"
              f"   texpr/NumPy {tn / t:5.2f}x")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--size", type=int, default=4096, help="matmul size (default 4096; at most "
                    "1024 on OpenCL)")
    ap.add_argument("--conv-layers", type=int, default=2,
                    help="how many ResNet-50 layers on OpenCL (default 2; all on CUDA)")
    ap.add_argument("--opencl", action="store_true", help="use OpenCL even with a CUDA device")
    args = ap.parse_args()
    print(f"CPU: {_bench.cpu_model()}")
    from texpr.targets.gpu.cuda_runtime import cuda_available
    if cuda_available() and not args.opencl:
        run_cuda(args)
    else:
        run_opencl(args)


if __name__ == "__main__":
    main()
