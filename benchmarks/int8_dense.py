"""int8 dense (u8 x s8 -> s32, M = N = K = 1024) from the dot_int8 micro-kernel, beside
PyTorch's quantized Linear on the FBGEMM engine, measured in the same run.

texpr's kernel produces the int32 accumulators; torch's Linear also requantizes to uint8,
a little more work on the output (1M elements against 1G multiply-adds). The weight packing
is done once, outside the timed call, as FBGEMM does with its prepacked weights.

Usage: python benchmarks/int8_dense.py [--quick]
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import texpr as te  # noqa: E402
from texpr.targets.build import avx512_native  # noqa: E402
from texpr.targets.intrin import dot_int8  # noqa: E402


TILES = {"avx2": (4, 16), "avx512": (4, 64)}   # (rows, lanes): fits the 16 / 32 vector registers


def build_dense(n, target, kc=512, rows=None, lanes=None):
    rows = rows or TILES[target][0]
    lanes = lanes or TILES[target][1]
    A = te.placeholder((n, n), "uint8", name="A")
    WP = te.placeholder((n // lanes, n // 4, lanes, 4), "int8", name="WP")
    k = te.reduce_axis((0, n), name="k")
    C = te.compute((n, n), lambda i, j: te.sum(
        A[i, k].astype("int32") * WP[j // lanes, k // 4, j % lanes, k % 4].astype("int32"), axis=k),
        name="C")
    s = te.create_schedule(C.op)
    i, j = C.op.axis
    io, ii = s[C].split(i, rows)
    jo, ji = s[C].split(j, lanes)
    ko, ki = s[C].split(k, kc)
    kg, kk = s[C].split(ki, 4)
    s[C].reorder(jo, ko, io, ii, ji, kg, kk)
    s[C].tensorize(ii, dot_int8(kc, lanes, "uint8", rows=rows))
    s[C].parallel(jo)
    return te.build(s, [A, WP, C], target=target, name=f"int8_dense_{target}")


def pack(w, lanes=16):
    n, k = w.shape
    return w.reshape(n // lanes, lanes, k // 4, 4).transpose(0, 2, 1, 3).copy()


def median_time(fn, repeat):
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="256^3, few repeats (smoke test)")
    args = ap.parse_args()
    n = 256 if args.quick else 1024
    repeat = 3 if args.quick else 10
    rng = np.random.default_rng(0)
    a = rng.integers(0, 128, (n, n)).astype("uint8")
    w = rng.integers(-64, 64, (n, n)).astype("int8")
    want = a.astype(np.int32) @ w.astype(np.int32).T
    targets = ["avx2"] + (["avx512"] if avx512_native() else [])
    mods = {}
    for t in targets:
        mods[t] = (build_dense(n, t), pack(w, TILES[t][1]))
        c = np.empty((n, n), np.int32)
        mods[t][0](a, mods[t][1], c)
        np.testing.assert_array_equal(c, want)
    try:
        import torch
        torch.backends.quantized.engine = "fbgemm"
        qx = torch.quantize_per_tensor(torch.from_numpy(a.astype(np.float32)), 1.0, 0, torch.quint8)
        lin = torch.ao.nn.quantized.Linear(n, n)
        lin.set_weight_bias(torch.quantize_per_tensor(torch.from_numpy(w.astype(np.float32)), 1.0, 0,
                                                      torch.qint8), None)
        lin.scale, lin.zero_point = float(np.abs(want).max() / 127 + 1), 0
    except Exception as e:  # noqa: BLE001 - report and carry on without the reference
        print(f"PyTorch quantized Linear unavailable ({e}); texpr figures only")
        lin = None
    ops = 2 * n ** 3
    print(f"int8 dense {n}^3 (u8 x s8 -> s32), GOP/s, median of {repeat}")
    print(f"{'threads':>7} {'variant':>24} {'ms':>8} {'GOP/s':>8} {'vs torch':>9}")
    for nt in (1, 2):
        os.environ["TEXPR_NUM_THREADS"] = str(nt)
        ref_t = None
        if lin is not None:
            torch.set_num_threads(nt)
            ref_t = median_time(lambda: lin(qx), repeat)
            print(f"{nt:>7} {'torch fbgemm Linear':>24} {ref_t * 1e3:8.3f} {ops / ref_t / 1e9:8.1f} {'1.00x':>9}")
        for t, (f, wp) in mods.items():
            c = np.empty((n, n), np.int32)
            tt = f.time(a, wp, c, number=1, repeat=repeat)
            ratio = f"{ref_t / tt:.2f}x" if ref_t else "-"
            print(f"{nt:>7} {'texpr ' + t + ' dot_int8':>24} {tt * 1e3:8.3f} {ops / tt / 1e9:8.1f} {ratio:>9}")
    flags = open("/proc/cpuinfo").read()
    print("CPU has avx512_vnni:", "avx512_vnni" in flags, "(FBGEMM picks VNNI kernels when it does)")


if __name__ == "__main__":
    main()
