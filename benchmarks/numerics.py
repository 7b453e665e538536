"""Low-precision numerics (issue 20), each case beside the fp32 kernel of the same shape in the
same run (interleaved Timer, medians):

  sparse_lengths_sum  a 16-bit table (fp16, bf16) and a row-wise int4 one (scale and bias
                      per row) summed in fp32 against the fp32 table: memory-bound (table
                      larger than L3), the gain is the bytes
                      (bar: fp16 >= 1.6x the fp32 kernel's rows/s)
  dense batch 1       fp16 / bf16 weights, fp32 sums (out_dtype="float32") against fp32
                      weights: a weight larger than L3, read once per call
  dense_int4 batch 1  int4 weights (signed, a scale per 128) against fp32 weights, 4096 x
                      4096 (bar: >= 3x the fp32 kernel), with fp32 activations and with
                      int8 ones (int4 x i8)
  bitserial dense     1024 x 1024 x 4096 bits, 1-bit x 1-bit and 2-bit activations x 1-bit
                      weights (unipolar, weight packed once), binary ops/s (2 per bit pair:
                      AND and count) against the fp32 dense's FLOP/s of the same shape
                      (bars: 1x1 >= 10x, 2x1 >= 4x)
  NEON GEMM tiles     instructions per output of the fp16 micro-kernel (gemm_fp16, fp16 and
                      fp32 sums) and of the fp32 one (gemm_fp32), the same mr x nv register
                      tile, counted in the inner loop of aarch64-linux-gnu-gcc -S output
                      (bar: fp16 <= half the fp32 count); no timing, no qemu. bf16 into
                      fp32 the same way: BFDOT (dot_bf16, 4 rows x 16 columns) against
                      BFMMLA (gemm_bf16_mmla, 8 x 8), both 16 accumulator registers

    python benchmarks/numerics.py [--threads 1,2] [--quick] [--cpu-time]

Every kernel is built at each thread count it is timed at (its schedule splits its parallel
loops for the threads in effect when it is built).

(--cpu-time: the calling thread's CPU time, with --threads 1: on a machine shared with other
jobs, time spent descheduled does not count.)
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from _bench import CpuLoad, Timer, cpu_model, load_note, per_threads, threads  # noqa: E402

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


def build_sls_4bit(V, D, target):
    B, L = te.var("B"), te.var("L")
    data = te.placeholder((V, D // 8), "uint32", name="data_q")
    scale, bias = te.placeholder((V,), name="scale"), te.placeholder((V,), name="bias")
    idx = te.placeholder((L,), "int32", name="indices")
    lens = te.placeholder((B,), "int32", name="lengths")
    out = topi.sparse.sparse_lengths_sum_4bit_rowwise(data, scale, bias, idx, lens)
    return te.build(topi.schedule(out, target), [data, scale, bias, idx, lens, out],
                    target=target, name="sls_int4")


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
    tables = {dt: aligned(table32 if dt == "float32" else table32.astype(dt))
              for dt in ("float32",) + HALF}
    q, scale, bias = topi.testing.quantize_4bit_rowwise_ref(table32)
    words = aligned(q).view(np.uint32)             # the packed bytes as words: the fast form

    def build():
        """(calls, max |err| of each) of the kernels built for the thread count in effect."""
        fns, check = {}, {}
        for dt, table in tables.items():
            mod = build_sls(V, D, dt, target)
            fns[dt] = (lambda m=mod, t=table: m(t, idx(), lens, out))
            mod(table, sets[0], lens, out)
            want = topi.testing.sparse_lengths_sum_ref(table.astype(np.float32), sets[0], lens)
            check[dt] = float(np.abs(out - want).max())
        mod4 = build_sls_4bit(V, D, target)
        fns["int4"] = lambda: mod4(words, scale, bias, idx(), lens, out)
        mod4(words, scale, bias, sets[0], lens, out)
        want = topi.testing.sparse_lengths_sum_4bit_rowwise_ref(q, scale, bias, sets[0], lens)
        check["int4"] = float(np.abs(out - want).max())
        return fns, check
    built = per_threads(build, args.threads)
    print(f"\nsparse_lengths_sum: table {V} x {D} ({V * D * 4 / 2**20:.0f} MiB fp32, "
          f"{V * D * 2 / 2**20:.0f} MiB 16-bit, {V * D / 2**21:.0f} MiB int4 + row scale and "
          f"bias), {B} bags of {L} uniform indices (8 sets in turn), tables 64-byte aligned, "
          "fp32 sums (int4: max |err| against its own dequantised table)")
    for t in args.threads:
        fns, check = built[t]
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
    arrays = {dt: (x32, w32) if dt == "float32" else (x32.astype(dt), w32.astype(dt))
              for dt in ("float32",) + HALF}

    want = x32 @ w32.T

    def build():
        """(calls, error of each relative to the largest output) of the kernels built for
        the thread count in effect."""
        fns, errs = {}, {}
        for dt, (x, w) in arrays.items():
            mod = build_dense(N, K, dt, target)
            fns[dt] = (lambda m=mod, a=x, b=w: m(a, b, out))
            mod(x, w, out)
            errs[dt] = float(np.abs(out - want).max() / np.abs(want).max())
        if errs["float32"] > 1e-5:
            sys.exit(f"dense float32: relative error {errs['float32']:.1e} against NumPy")
        return fns, errs
    built = per_threads(build, args.threads)
    print(f"\ndense batch 1: 1 x {K} by {N} x {K} weight ({N * K * 4 / 2**20:.0f} MiB fp32), "
          "fp32 sums; error: relative to the largest output, against NumPy's product of the "
          "float32 data")
    for t in args.threads:
        fns, errs = built[t]
        with threads(t):
            res = timer.run(fns)
        base = res["float32"][0]
        for dt in fns:
            sec = res[dt][0]
            print(f"  {t} thread{'s' * (t > 1)}  {dt:9s} {sec * 1e3:8.3f} ms  "
                  f"{N * K * 2 / sec / 1e9:7.1f} GFLOP/s  {base / sec:5.2f}x fp32  "
                  f"(error {errs[dt]:.1e})")


def int4_dense_case(args, target, timer):
    """dense at batch 1: int4 weights (signed, a float32 scale per group of 128) against the
    float32 weight of the same shape; with float32 activations, and with int8 ones (int4 x
    int8 products summed exactly in int32 per group)."""
    N, K = (2048, 4096) if args.quick else (4096, 4096)
    gs = 128
    rng = np.random.default_rng(3)
    w32 = rng.standard_normal((N, K), dtype=np.float32)
    x = rng.standard_normal((1, K), dtype=np.float32)
    x8 = rng.integers(-128, 128, (1, K)).astype(np.int8)
    packed, scale, _ = topi.testing.quantize_int4_ref(w32, gs)
    out = np.empty((1, N), np.float32)
    wants = {"int4": topi.testing.dense_int4_ref(x, packed, scale),
             "int4 x i8": topi.testing.dense_int4_ref(x8, packed, scale)}

    def build():
        """(calls, errors) of the kernels built for the thread count in effect."""
        fp32 = build_dense(N, K, "float32", target)
        Wq = te.placeholder((N, K // 2), "uint8", name="Wq")
        S = te.placeholder((N, K // gs), name="S")
        mods, errs = {}, []
        for name, data in (("int4", x), ("int4 x i8", x8)):
            X = te.placeholder((1, K), str(data.dtype), name="X")
            D = topi.nn.dense_int4(X, Wq, S, group_size=gs)
            mods[name] = te.build(topi.schedule([D], target), [X, Wq, S, D], target=target,
                                  name="dense_int4")
            mods[name](data, packed, scale, out)
            want = wants[name]
            errs.append(f"{name} {float(np.abs(out - want).max() / np.abs(want).max()):.1e}")
        return {"float32": lambda: fp32(x, w32, out),
                "int4": lambda: mods["int4"](x, packed, scale, out),
                "int4 x i8": lambda: mods["int4 x i8"](x8, packed, scale, out)}, errs
    built = per_threads(build, args.threads)
    print(f"\ndense_int4 batch 1: 1 x {K} by {N} x {K} weight ({N * K * 4 / 2**20:.0f} MiB fp32, "
          f"{N * K / 2 / 2**20:.0f} MiB int4 + scales per {gs}), fp32 sums; int4 x i8: int8 "
          f"activations (max |err| / max |out| of the build for each thread count: "
          + "; ".join(f"{t}: {', '.join(e)}" for t, (_, e) in built.items()) + ")")
    for t in args.threads:
        fns = built[t][0]
        with threads(t):
            res = timer.run(fns)
        base = res["float32"][0]
        for name, (sec, _) in res.items():
            print(f"  {t} thread{'s' * (t > 1)}  {name:9s} {sec * 1e3:8.3f} ms  "
                  f"{N * K * 2 / sec / 1e9:7.1f} GFLOP/s  {base / sec:5.2f}x fp32")


def bitserial_case(args, target, timer):
    from texpr.topi import bitserial, testing as tt
    M, N, K = (256, 256, 2048) if args.quick else (1024, 1024, 4096)
    rng = np.random.default_rng(2)
    a = rng.standard_normal((M, K), dtype=np.float32)
    b = rng.standard_normal((N, K), dtype=np.float32)
    f = np.empty((M, N), np.float32)
    bits = {}                   # db -> (data, weight, packed weight, want, out)
    for db in (1, 2):
        d = rng.integers(0, 1 << db, (M, K)).astype(np.uint8)
        w = rng.integers(0, 2, (N, K)).astype(np.uint8)
        bits[db] = (d, tt.bitpack_ref(w, 1, 1, 1, "uint64"),
                    tt.bitserial_dense_ref(d, w, db, 1, True, "int32"),
                    np.empty((M, N), np.int32))

    def build():
        A = te.placeholder((M, K), name="A")
        B = te.placeholder((N, K), name="B")
        F = topi.nn.dense(A, B)
        fp32 = te.build(topi.schedule([F], target), [A, B, F], target=target, name="dense_fp32")
        fns = {"fp32 dense": lambda: fp32(a, b, f)}
        for db, (d, wq, want, o) in bits.items():
            D = te.placeholder((M, K), "uint8", name="D")
            Wq = te.placeholder((N, 1, K // 64), "uint64", name="Wq")
            out = bitserial.bitserial_dense(D, Wq, db, 1, pack_dtype="uint64", out_dtype="int32")
            mod = te.build(topi.schedule([out], target), [D, Wq, out], target=target,
                           name=f"bitserial_{db}x1")
            mod(d, wq, o)
            assert np.array_equal(o, want)
            fns[f"{db}-bit x 1-bit"] = (lambda m=mod, x=d, y=wq, z=o: m(x, y, z))
        return fns
    built = per_threads(build, args.threads)
    print(f"\nbitserial dense {M} x {N} x {K} bits (unipolar, int32 out; data packed per call)")
    ops = 2.0 * M * N * K
    for t in args.threads:
        fns = built[t]
        with threads(t):
            res = timer.run(fns)
        base = ops / res["fp32 dense"][0]
        for name, (sec, _) in res.items():
            db = 2 if name.startswith("2") else 1
            rate = ops * db / sec if name != "fp32 dense" else ops / sec
            unit = "GFLOP/s" if name == "fp32 dense" else "G binary ops/s"
            print(f"  {t} thread{'s' * (t > 1)}  {name:15s} {sec * 1e3:8.2f} ms  "
                  f"{rate / 1e9:8.1f} {unit:15s} {rate / base:5.2f}x fp32")


def neon_tile_asm(kind, mr=4, nv=4, kc=256):
    """The AArch64 assembly of one micro-kernel call C[mr, nr] = A[mr, kc] @ B[kc, nr] (kind:
    "fp32" gemm_fp32, "fp16" gemm_fp16 with fp16 sums, "fp16-fp32" with fp32 sums; nv vectors
    of 4 fp32 or 8 fp16 lanes a row; "bf16-dot" dot_bf16 and "bf16-mmla" gemm_bf16_mmla: B
    packed as they take it, nv float32 vectors of accumulators a row for BFDOT, mr x 4 nv / mr
    columns for BFMMLA), compiled with the neon target's flags."""
    import subprocess
    import tempfile
    from texpr.targets.intrin import gemm_fp32
    from texpr.targets.half_intrin import gemm_fp16
    from texpr.targets.registry import get_target
    if kind.startswith("bf16"):
        A, B, C, s = _bf16_tile(kind, mr, nv, kc)
    else:
        lanes = 4 if kind == "fp32" else 8
        nr = nv * lanes
        dt = "float32" if kind == "fp32" else "float16"
        acc = "float16" if kind == "fp16" else "float32"
        A = te.placeholder((mr, kc), dt, name="A")
        B = te.placeholder((kc, nr), dt, name="B")
        k = te.reduce_axis((0, kc), "k")
        C = te.compute((mr, nr), lambda i, j: te.sum(A[i, k].astype(acc) * B[k, j].astype(acc),
                                                     axis=k), name="C")
        s = te.create_schedule(C.op)
        s[C].tensorize(C.op.axis[0], gemm_fp32(mr, nr, kc) if kind == "fp32" else
                       gemm_fp16(mr, nr, kc, acc))
    from texpr.targets.build import emit_source
    src = emit_source(s, [A, B, C], target="neon", name=f"tile_{kind.replace('-', '_')}")
    flags = [f for f in get_target("neon").flags if f.startswith(("-O", "-march", "-std", "-f"))]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "k.c")
        with open(path, "w") as f:
            f.write(src)
        subprocess.run(["aarch64-linux-gnu-gcc", *flags, "-S", path, "-o", path + ".s"], check=True)
        with open(path + ".s") as f:
            return f.read()


def _bf16_tile(kind, mr, nv, kc):
    """(A, B, C, schedule) of one bf16 tile into fp32: "bf16-dot" mr rows x 4 nv columns on
    dot_bf16 (B [kc/2, nr, 2]); "bf16-mmla" the same 4 mr nv outputs as 2 mr rows x 2 nv
    columns on gemm_bf16_mmla (B [kc/4, nr/2, 2, 4])."""
    from texpr.targets.half_intrin import dot_bf16, gemm_bf16_mmla
    k = te.reduce_axis((0, kc), "k")
    if kind == "bf16-dot":
        nr = 4 * nv
        A = te.placeholder((mr, kc), "bfloat16", name="A")
        B = te.placeholder((kc // 2, nr, 2), "bfloat16", name="B")
        kg, kk = te.reduce_axis((0, kc // 2), "kg"), te.reduce_axis((0, 2), "kk")
        C = te.compute((mr, nr), lambda i, j: te.sum(A[i, kg * 2 + kk].astype("float32")
                                                     * B[kg, j, kk].astype("float32"),
                                                     axis=[kg, kk]), name="C")
        intrin = dot_bf16(kc, nr, mr)
    else:
        mr, nr = 2 * mr, 2 * nv
        A = te.placeholder((mr, kc), "bfloat16", name="A")
        B = te.placeholder((kc // 4, nr // 2, 2, 4), "bfloat16", name="B")
        C = te.compute((mr, nr), lambda i, j: te.sum(
            A[i, k].astype("float32") * B[k // 4, j // 2, j % 2, k % 4].astype("float32"), axis=k),
            name="C")
        intrin = gemm_bf16_mmla(mr, nr, kc)
    s = te.create_schedule(C.op)
    s[C].tensorize(C.op.axis[0], intrin)
    return A, B, C, s


#: multiply-adds of outputs one instruction does (fmla: its lanes, by the tile's kind)
MULTIPLY_ADDS = {"bfdot": 8, "bfmmla": 16}


def inner_loop(asm):
    """The instructions of the innermost loop that does multiply-adds: the shortest span from a
    label to a branch back to it that contains an fmla, bfdot or bfmmla."""
    lines = [ln.strip() for ln in asm.splitlines()]
    labels = {ln[:-1]: i for i, ln in enumerate(lines) if ln.endswith(":") and ln.startswith(".L")}
    best = None
    for i, ln in enumerate(lines):
        parts = ln.replace(",", " ").split()
        if not parts or not parts[0].startswith(("b", "cb")) or parts[-1] not in labels:
            continue
        start = labels[parts[-1]]
        body = [x for x in lines[start + 1:i + 1] if x and not x.startswith((".", "//"))
                and not x.endswith(":")]
        if start < i and any(x.startswith(("fmla", "bfdot", "bfmmla")) for x in body) and (
                best is None or len(body) < len(best)):
            best = body
    return best or []


def neon_tile_counts(kind, mr=4, nv=4):
    """(instructions in the inner loop, multiply-adds of outputs they do, instructions per
    output multiply-add) of the NEON micro-kernel `kind` (neon_tile_asm)."""
    body = inner_loop(neon_tile_asm(kind, mr, nv))
    per = dict(MULTIPLY_ADDS, fmla={"fp32": 4, "fp16": 8}.get(kind, 4))
    outputs = sum(per.get(x.split()[0], 0) for x in body)
    return len(body), outputs, len(body) / max(outputs, 1)


def neon_case(args):
    print("\nNEON GEMM micro-kernels, 4 rows x 16 accumulator registers: instructions per "
          "output multiply-add in the inner loop (aarch64-linux-gnu-gcc -S)")
    base = None
    # fp16 sums: 8 outputs a register; fp32 sums of fp16 inputs: 4 (16 columns = 2 x 8 halves)
    for kind, nv in (("fp32", 4), ("fp16", 4), ("fp16-fp32", 2)):
        n, outs, per = neon_tile_counts(kind, nv=nv)
        base = base or per
        print(f"  {kind:10s} {n:3d} instructions for {outs:3d} outputs: {per:.3f} per output "
              f"({per / base:.2f}x fp32)")
    # bf16 into fp32, 16 accumulator registers each: BFDOT 4 rows x 16 columns, BFMMLA 8 x 8
    dot = None
    for kind in ("bf16-dot", "bf16-mmla"):
        n, outs, per = neon_tile_counts(kind)
        dot = dot or per
        print(f"  {kind:10s} {n:3d} instructions for {outs:3d} outputs: {per:.3f} per output "
              f"({per / base:.2f}x fp32, {per / dot:.2f}x BFDOT)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--target", default="native")
    ap.add_argument("--quick", action="store_true", help="smaller shapes, fewer rounds")
    ap.add_argument("--only", default="sls,dense,int4,bitserial,neon")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time the calling thread's CPU time (1 thread only)")
    args = ap.parse_args()
    args.threads = [int(t) for t in args.threads.split(",")]
    if args.cpu_time and args.threads != [1]:
        ap.error("--cpu-time measures one thread: use it with --threads 1")
    print(f"CPU: {cpu_model()}; target {args.target}" + ("; thread CPU time" if args.cpu_time else ""))
    timer = Timer(rounds=5 if args.quick else 9, calls=3,
                  clock=time.thread_time if args.cpu_time else None)
    load = CpuLoad()
    load.start()
    if "sls" in args.only:
        sls_case(args, args.target, timer)
    if "dense" in args.only.split(","):
        dense_case(args, args.target, timer)
    if "int4" in args.only:
        int4_dense_case(args, args.target, timer)
    if "bitserial" in args.only:
        bitserial_case(args, args.target, timer)
    if "neon" in args.only:
        neon_case(args)
    note = load_note(load.stop())
    if note:
        print(note)


if __name__ == "__main__":
    main()
