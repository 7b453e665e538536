"""int8 dense (u8 x s8 -> s32, M = N = K = 1024) from the dot_int8 micro-kernel, beside
PyTorch's quantized Linear on the FBGEMM engine, measured in the same run.

texpr's kernel produces the int32 accumulators; torch's Linear also requantizes to uint8,
a little more work on the output (1M elements against 1G multiply-adds). The weight packing
is done once, outside the timed call, as FBGEMM does with its prepacked weights.

Usage: python benchmarks/int8_dense.py [--quick]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench  # noqa: E402
import texpr as te  # noqa: E402
from texpr.targets.build import avx512_native  # noqa: E402
from texpr.targets.intrin import dot_int16_pairs, dot_int8  # noqa: E402


TILES = {"avx2": (4, 16), "avx512": (4, 64)}   # (rows, lanes): fits the 16 / 32 vector registers
# dot_int16_pairs on AVX2 (16 registers): 2 weight vectors of 8 lanes, the broadcast and the
# asm's temporary leave (16 - 2*2 - 2) // 2 = 5 rows of accumulators; kc = the whole K up to
# 1024, blocks of 128 weight rows (128 x 1024 int16 = 256 KiB: half an L2 of 512 KiB)
PAIRS_TILE = (1024, (16 - 2 * 2 - 2) // 2, 16, 128)


def build_dense(n, target, kc=512, rows=None, lanes=None):
    kc = min(kc, n)
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


def build_dense_pairs(n, kc=512, rows=4, lanes=16, nb=256, order="blocks"):
    """AVX2: the activations widened to int16 in the call (a vectorized pass over A), the
    weights widened and packed [N/lanes, K/2, lanes, 2] once (pack_pairs); the product from
    dot_int16_pairs. order "blocks": parallel over blocks of nb weight rows (nb x kc of
    weights stay in L2), each row tile of A used against all of them; "panels": parallel
    over weight panels, all of A streamed past each."""
    kc = min(kc, n)
    A = te.placeholder((n, n), "uint8", name="A")
    A16 = te.compute((n, n), lambda i, k: A[i, k].astype("int16"), name="A16")
    WP = te.placeholder((n // lanes, n // 2, lanes, 2), "int16", name="WP")
    k = te.reduce_axis((0, n), name="k")
    C = te.compute((n, n), lambda i, j: te.sum(
        A16[i, k].astype("int32") * WP[j // lanes, k // 2, j % lanes, k % 2].astype("int32"),
        axis=k), name="C")
    s = te.create_schedule(C.op)
    ai, ak = A16.op.axis
    ako, aki = s[A16].split(ak, 16)
    s[A16].parallel(ai)
    s[A16].vectorize(aki)
    i, j = C.op.axis
    io, ii = s[C].split(i, rows)
    jo, ji = s[C].split(j, lanes)
    ko, ki = s[C].split(k, kc)
    kg, kk = s[C].split(ki, 2)
    if order == "blocks":
        jb, jo2 = s[C].split(jo, nb // lanes)
        s[C].reorder(jb, ko, io, jo2, ii, ji, kg, kk)
        s[C].parallel(jb)
    else:
        s[C].reorder(jo, ko, io, ii, ji, kg, kk)
        s[C].parallel(jo)
    s[C].tensorize(ii, dot_int16_pairs(kc, lanes, rows))
    return te.build(s, [A, WP, C], target="avx2", name=f"int8_dense_pairs_{order}")


def pack_pairs(w, lanes=16):
    """[N, K] int8 -> [N/lanes, K/2, lanes, 2] int16 (widened once, like a prepacked weight)."""
    n, k = w.shape
    return w.astype(np.int16).reshape(n // lanes, lanes, k // 2, 2).transpose(0, 2, 1, 3).copy()


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


# FBGEMM picks its kernels from the CPU; FBGEMM_ENABLE_INSTRUCTIONS (read once, at its first
# use) forces an instruction set, so each texpr target is compared with FBGEMM's kernel for
# the same instructions: AVX2 with AVX2, AVX-512 VNNI (vpdpbusd) with VNNI. (texpr's AVX2
# kernel is exact, vpmaddwd on 16-bit halves; FBGEMM's vpmaddubsw saturates pairs at int16.)
FBGEMM_ISA = {"avx2": "AVX2", "avx512": "AVX512_E1"}


def torch_linear(n, a, w):
    """torch.ao quantized Linear (FBGEMM) computing a @ w.T, or None if unavailable."""
    try:
        import torch
        torch.backends.quantized.engine = "fbgemm"
        qx = torch.quantize_per_tensor(torch.from_numpy(a.astype(np.float32)), 1.0, 0, torch.quint8)
        lin = torch.ao.nn.quantized.Linear(n, n)
        lin.set_weight_bias(torch.quantize_per_tensor(torch.from_numpy(w.astype(np.float32)), 1.0, 0,
                                                      torch.qint8), None)
        lin.scale, lin.zero_point = float(n * 127 * 64 / 127 + 1), 0
    except Exception as e:  # noqa: BLE001 - report and carry on without the reference
        print(f"PyTorch quantized Linear unavailable ({e}); texpr figures only")
        return None
    return torch, lambda: lin(qx)


def measure_pair(n, rounds, calls, target, isa):
    """{threads: (torch s, texpr s)}: medians over `rounds` interleaved rounds (each the median
    of `calls` calls), both timed in one child process with FBGEMM forced to `isa` (the
    variable must be set before FBGEMM first runs), None where torch is unavailable."""
    env = dict(os.environ, FBGEMM_ENABLE_INSTRUCTIONS=isa)
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--pair", target, str(n),
                        str(rounds), str(calls)], env=env, capture_output=True, text=True)
    out = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not out:
        raise SystemExit(f"int8 measurement for {target} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return {int(k): v for k, v in json.loads(out[-1]).items()}


# After a parallel call an OpenMP runtime's threads spin for a moment before they sleep;
# torch and texpr each have their own, so each measurement waits for the other's to settle.
SETTLE_S = 0.05


def variants(n, target, w):
    """[(name, kernel, its packed weight)] of texpr at `target`: dot_int8 on the int8 panels;
    on AVX2 also dot_int16_pairs on weights widened once (PAIRS_TILE)."""
    out = [("dot_int8", build_dense(n, target), pack(w, TILES[target][1]))]
    if target == "avx2":
        kc, rows, lanes, nb = PAIRS_TILE
        out.append(("int16 pairs", build_dense_pairs(n, kc, rows, lanes, nb),
                    pack_pairs(w, lanes)))
    return out


def _pair(target, n, rounds, calls):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 128, (n, n)).astype("uint8")
    w = rng.integers(-64, 64, (n, n)).astype("int8")
    kernels = variants(n, target, w)
    c = np.empty((n, n), np.int32)
    ref = torch_linear(n, a, w)
    times = {}
    for nt in (1, 2):
        os.environ["TEXPR_NUM_THREADS"] = str(nt)
        tr, tt = [], {name: [] for name, _, _ in kernels}
        for _ in range(rounds):
            if ref is not None:
                torch, run = ref
                torch.set_num_threads(nt)
                time.sleep(SETTLE_S)
                tr.append(median_time(run, calls))
            for name, f, wp in kernels:
                time.sleep(SETTLE_S)
                tt[name].append(median_time(lambda: f(a, wp, c), calls))
        times[nt] = (statistics.median(tr) if tr else None,
                     {k: statistics.median(v) for k, v in tt.items()})
    print(json.dumps(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="256^3, few repeats (smoke test)")
    ap.add_argument("--pair", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pair:
        t, n, rounds, calls = args.pair
        return _pair(t, int(n), int(rounds), int(calls))
    print(f"CPU: {_bench.cpu_model()}")
    n = 256 if args.quick else 1024
    rounds, calls = (2, 3) if args.quick else (7, 5)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 128, (n, n)).astype("uint8")
    w = rng.integers(-64, 64, (n, n)).astype("int8")
    want = a.astype(np.int32) @ w.astype(np.int32).T
    targets = ["avx2"] + (["avx512"] if avx512_native() else [])
    for t in targets:
        for name, f, wp in variants(n, t, w):
            c = np.empty((n, n), np.int32)
            f(a, wp, c)
            np.testing.assert_array_equal(c, want, err_msg=f"{t} {name}")
    ops = 2 * n ** 3
    print(f"int8 dense {n}^3 (u8 x s8 -> s32), GOP/s; each texpr target beside torch's quantized "
          f"Linear with FBGEMM forced to the same instruction set, in one process, {rounds} "
          f"interleaved rounds (median of {calls} calls each), medians")
    print(f"{'threads':>7} {'variant':>34} {'ms':>8} {'GOP/s':>8} {'vs torch':>9}")
    for t in targets:
        isa = FBGEMM_ISA[t]
        for nt, (ref_t, tts) in measure_pair(n, rounds, calls, t, isa).items():
            if ref_t:
                print(f"{nt:>7} {'torch Linear, FBGEMM ' + isa:>34} {ref_t * 1e3:8.3f} "
                      f"{ops / ref_t / 1e9:8.1f} {'1.00x':>9}")
            for name, tt in tts.items():
                ratio = f"{ref_t / tt:.2f}x" if ref_t else "-"
                print(f"{nt:>7} {'texpr ' + t + ' ' + name:>34} {tt * 1e3:8.3f} "
                      f"{ops / tt / 1e9:8.1f} {ratio:>9}")
    flags = open("/proc/cpuinfo").read()
    print("CPU has avx512_vnni:", "avx512_vnni" in flags, "(FBGEMM's own choice when it does: VNNI)")


if __name__ == "__main__":
    main()
