"""Low-precision numerics (issue 20), each case beside the fp32 kernel of the same shape in the
same run (interleaved Timer, medians):

  sparse_lengths_sum  a 16-bit table (fp16, bf16) summed in fp32 against the fp32 table:
                      memory-bound (table larger than L3), the gain is the bytes
                      (bar: fp16 >= 1.6x the fp32 kernel's rows/s)
  dense batch 1       fp16 / bf16 weights, fp32 sums (out_dtype="float32") against fp32
                      weights: a weight larger than L3, read once per call

    python benchmarks/numerics.py [--threads 1,2] [--quick]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from _bench import Timer, cpu_model, threads  # noqa: E402

import ml_dtypes  # noqa: E402,F401
import texpr as te  # noqa: E402
from texpr import topi  # noqa: E402

HALF = ("float16", "bfloat16")


def build_sls(V, D, dt, target):
    B, L = te.var("B"), te.var("L")
    data = te.placeholder((V, D), dt, name="data")
    idx = te.placeholder((L,), "int32", name="indices")
    lens = te.placeholder((B,), "int32", name="lengths")
    out = topi.sparse.sparse_lengths_sum(data, idx, lens, out_dtype="float32")
    return te.build(topi.schedule(out, target), [data, idx, lens, out], target=target,
                    name=f"sls_{dt}")


def build_dense(N, K, dt, target):
    X = te.placeholder((1, K), dt, name="X")
    W = te.placeholder((N, K), dt, name="W")
    out = topi.nn.dense(X, W, out_dtype="float32")
    return te.build(topi.schedule([out], target), [X, W, out], target=target, name=f"dense_{dt}")


def aligned(a, align=64):
    """A copy of `a` starting on a cache line (as torch's tables do; NumPy's large arrays start
    16 bytes into one, so a row would touch one line more than its bytes need)."""
    buf = np.empty(a.nbytes + align, np.uint8)
    off = -buf.ctypes.data % align
    out = buf[off:off + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def sls_case(args, target, timer):
    V, D, B, L = (250_000, 64, 1024, 40) if args.quick else (1_000_000, 64, 2048, 40)
    rng = np.random.default_rng(0)
    table32 = rng.standard_normal((V, D), dtype=np.float32)
    # several index sets, one per call in turn: the rows of one set (B * L rows) would stay in
    # L3 from one call to the next
    sets = [rng.integers(0, V, B * L).astype(np.int32) for _ in range(8)]
    turn = [0]

    def idx():
        turn[0] = (turn[0] + 1) % len(sets)
        return sets[turn[0]]
    lens = np.full(B, L, np.int32)
    out = np.empty((B, D), np.float32)
    fns, check = {}, {}
    for dt in ("float32",) + HALF:
        table = aligned(table32 if dt == "float32" else table32.astype(dt))
        mod = build_sls(V, D, dt, target)
        fns[dt] = (lambda m=mod, t=table: m(t, idx(), lens, out))
        mod(table, sets[0], lens, out)
        want = topi.testing.sparse_lengths_sum_ref(table.astype(np.float32), sets[0], lens)
        check[dt] = float(np.abs(out - want).max())
    print(f"\nsparse_lengths_sum: table {V} x {D} ({V * D * 4 / 2**20:.0f} MiB fp32, "
          f"{V * D * 2 / 2**20:.0f} MiB 16-bit), {B} bags of {L} uniform indices (8 sets in turn), "
          "tables 64-byte aligned, fp32 sums")
    for t in args.threads:
        with threads(t):
            res = timer.run(fns)
        base = res["float32"][0]
        for dt in fns:
            sec = res[dt][0]
            print(f"  {t} thread{'s' * (t > 1)}  {dt:9s} {sec * 1e3:8.3f} ms  "
                  f"{B * L / sec / 1e6:7.1f} M rows/s  {base / sec:5.2f}x fp32  "
                  f"(max |err| {check[dt]:.1e})")


def dense_case(args, target, timer):
    N, K = (2048, 4096) if args.quick else (4096, 8192)
    rng = np.random.default_rng(1)
    w32 = rng.standard_normal((N, K), dtype=np.float32)
    x32 = rng.standard_normal((1, K), dtype=np.float32)
    out = np.empty((1, N), np.float32)
    fns = {}
    for dt in ("float32",) + HALF:
        w, x = (w32, x32) if dt == "float32" else (w32.astype(dt), x32.astype(dt))
        mod = build_dense(N, K, dt, target)
        fns[dt] = (lambda m=mod, a=x, b=w: m(a, b, out))
    print(f"\ndense batch 1: 1 x {K} by {N} x {K} weight ({N * K * 4 / 2**20:.0f} MiB fp32), "
          "fp32 sums")
    for t in args.threads:
        with threads(t):
            res = timer.run(fns)
        base = res["float32"][0]
        for dt in fns:
            sec = res[dt][0]
            print(f"  {t} thread{'s' * (t > 1)}  {dt:9s} {sec * 1e3:8.3f} ms  "
                  f"{N * K * 2 / sec / 1e9:7.1f} GFLOP/s  {base / sec:5.2f}x fp32")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--target", default="native")
    ap.add_argument("--quick", action="store_true", help="smaller shapes, fewer rounds")
    ap.add_argument("--only", default="sls,dense")
    args = ap.parse_args()
    args.threads = [int(t) for t in args.threads.split(",")]
    print(f"CPU: {cpu_model()}; target {args.target}")
    timer = Timer(rounds=5 if args.quick else 9, calls=3)
    if "sls" in args.only:
        sls_case(args, args.target, timer)
    if "dense" in args.only:
        dense_case(args, args.target, timer)


if __name__ == "__main__":
    main()
