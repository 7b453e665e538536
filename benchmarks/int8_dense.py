"""int8 dense (u8 x s8 -> s32, M = N = K = 1024) by topi.qnn.DenseInt8, beside PyTorch's
quantized Linear on the FBGEMM engine, measured in the same run on the SAME inputs.

DenseInt8 packs the weight once (outside the timed call, as FBGEMM's prepacked weights) and
takes AVX2's vpmaddubsw kernel only where it is exact (pair sums within int16), else its
exact int16-pairs kernel; every texpr result is checked against NumPy bit for bit. Three
input sets show both: 7-bit weights [-64, 63] with full-range activations (the AVX2 range
FBGEMM and oneDNN recommend: vpmaddubsw), full-range weights and activations (the exact
fallback: FBGEMM's vpmaddubsw saturates there, texpr stays exact), and full-range weights
with 7-bit activations [0, 127] (torch's reduce_range: vpmaddubsw after a check of the
activations' maximum in each call). texpr's calls produce the int32 accumulators; torch's
Linear also requantizes to uint8, a little more work on the output (1M elements against 1G
multiply-adds). On an AVX-512 host the avx512 target (VNNI, exact) is compared with FBGEMM's
VNNI kernel too.

Usage: python benchmarks/int8_dense.py [--quick] [--rounds R] [--calls C] [--cpu-time]
(--cpu-time: the 1-thread figures are the calling thread's CPU time, so that time spent
descheduled on a shared machine does not count; 2-thread figures stay wall time)
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench  # noqa: E402
from texpr.targets.build import avx512_native  # noqa: E402
from texpr.topi.dense_int8 import DenseInt8  # noqa: E402

#: input sets: name -> (activations' range, weights' range), inclusive
INPUTS = {"7-bit weights": ((0, 255), (-64, 63)),
          "full range": ((0, 255), (-128, 127)),
          "7-bit activations": ((0, 127), (-128, 127))}

# FBGEMM picks its kernels from the CPU; FBGEMM_ENABLE_INSTRUCTIONS (read once, at its first
# use) forces an instruction set, so each texpr target is compared with FBGEMM's kernel for
# the same instructions: AVX2 with AVX2, AVX-512 VNNI (vpdpbusd) with VNNI.
FBGEMM_ISA = {"avx2": "AVX2", "avx512": "AVX512_E1"}


def inputs(n, name, seed=0):
    (alo, ahi), (wlo, whi) = INPUTS[name]
    rng = np.random.default_rng(seed)
    return (rng.integers(alo, ahi + 1, (n, n)).astype("uint8"),
            rng.integers(wlo, whi + 1, (n, n)).astype("int8"))


def torch_linear(n, a, w):
    """(torch, fn) running torch.ao's quantized Linear (FBGEMM) on a @ w.T, or None."""
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


def input_sets(target):
    """The input sets measured at `target` (AVX-512: one; its VNNI kernel is always exact)."""
    return list(INPUTS) if target == "avx2" else ["full range"]


def _pair(target, n, rounds, calls, cpu_time):
    """Child process (FBGEMM forced to the target's ISA before it first runs): prints
    {threads: {input set: [torch s or None, texpr s, texpr form]}} as JSON."""
    out = {}
    load = _bench.CpuLoad()
    load.start()
    for nt in (1, 2):
        row = out.setdefault(nt, {})
        for name in input_sets(target):
            a, w = inputs(n, name)
            dense = DenseInt8(w, target=target)
            c = np.empty((n, n), np.int32)
            fns = {"texpr": lambda: dense(a, c)}
            ref = torch_linear(n, a, w)
            if ref is not None:
                fns["torch"] = ref[1]
            with _bench.threads(nt):
                # (the quick smoke test skips the warm-up: it times nothing worth reading)
                warm = _bench.parallel_warm_s(fns, nt) if n >= 1024 else 0.0
                clock = time.thread_time if cpu_time and nt == 1 else None
                t = _bench.Timer(rounds, calls, warm_s=warm, clock=clock).run(fns)
            row[name] = [t["torch"][0] if "torch" in t else None, t["texpr"][0],
                         dense.kernel_for(a)]
    out["load"] = load.stop()
    print(json.dumps(out))


def measure_pair(n, rounds, calls, target, cpu_time):
    env = dict(os.environ, FBGEMM_ENABLE_INSTRUCTIONS=FBGEMM_ISA[target])
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--pair", target, str(n),
                        str(rounds), str(calls), str(int(cpu_time))], env=env,
                       capture_output=True, text=True)
    out = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not out:
        raise SystemExit(f"int8 measurement for {target} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return json.loads(out[-1])


def check(n, target):
    """Every input set: DenseInt8's result equals NumPy's int32 product exactly."""
    for name in input_sets(target):
        a, w = inputs(n, name, seed=1)
        dense = DenseInt8(w, target=target)
        np.testing.assert_array_equal(dense(a), a.astype(np.int32) @ w.astype(np.int32).T,
                                      err_msg=f"{target} {name}")
        print(f"  {target} {name}: {dense!r}; this call: {dense.kernel_for(a)}; equals NumPy: ok")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="256^3, few repeats (smoke test)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 7)")
    ap.add_argument("--calls", type=int, default=None, help="calls per turn, best taken (5)")
    ap.add_argument("--cpu-time", action="store_true", help="1-thread figures: the calling "
                    "thread's CPU time (a shared machine's descheduled time not counted)")
    ap.add_argument("--pair", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pair:
        t, n, rounds, calls, cpu_time = args.pair
        return _pair(t, int(n), int(rounds), int(calls), cpu_time == "1")
    print(f"CPU: {_bench.cpu_model()}")
    n = 256 if args.quick else 1024
    rounds = args.rounds or (2 if args.quick else 7)
    calls = args.calls or (3 if args.quick else 5)
    targets = ["avx2"] + (["avx512"] if avx512_native() else [])
    for t in targets:
        check(n, t)
    ops = 2 * n ** 3
    print(f"int8 dense {n}^3 (u8 x s8 -> s32), GOP/s; texpr's DenseInt8 beside torch's quantized "
          f"Linear with FBGEMM forced to the same instruction set, both fed the same inputs "
          f"(activations / weights ranges per row), in one process, {rounds} interleaved rounds "
          f"(best of {calls} calls each), medians"
          + ("; 1 thread: thread CPU time" if args.cpu_time else ""))
    print(f"{'threads':>7} {'inputs (a; w)':>34} {'library, kernel':>34} {'ms':>8} {'GOP/s':>7} "
          f"{'vs torch':>8}")
    for t in targets:
        res = measure_pair(n, rounds, calls, t, args.cpu_time)
        for nt in ("1", "2"):
            for name, (ref_t, tt, form) in res[nt].items():
                (alo, ahi), (wlo, whi) = INPUTS[name]
                what = f"{name} [{alo},{ahi}]; [{wlo},{whi}]"
                if ref_t:
                    print(f"{nt:>7} {what:>34} {'torch, FBGEMM ' + FBGEMM_ISA[t]:>34} "
                          f"{ref_t * 1e3:8.3f} {ops / ref_t / 1e9:7.1f} {'1.00x':>8}")
                ratio = f"{ref_t / tt:.2f}x" if ref_t else "-"
                print(f"{nt:>7} {what:>34} {'texpr ' + t + ', ' + form:>34} {tt * 1e3:8.3f} "
                      f"{ops / tt / 1e9:7.1f} {ratio:>8}")
        print(_bench.load_note(res.get("load")))
    print("FBGEMM's AVX2 kernel saturates pair sums at int16 on the full-range inputs (its "
          "result may differ from the exact one); texpr's results equal NumPy's on every set.")
    flags = open("/proc/cpuinfo").read()
    print("CPU has avx512_vnni:", "avx512_vnni" in flags, "(FBGEMM's own choice when it does: VNNI)")


if __name__ == "__main__":
    main()
