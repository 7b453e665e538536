"""What a kernel call and a cached build cost (issue 17), beside a bare cffi call.

  call     a checked call f(a, b, c) of a 16-element float32 add (NumPy arrays), the same with
           torch tensors (checked in C through DLPack's C exchange API), with the output
           omitted (allocated), f.time's figure, and the bare cffi call of the same kernel
           (pointers made once: no checks at all); the kernel as a PyTorch operator
           (texpr.torch.register: torch's custom-op dispatch, output allocated) beside
           torch.add; 1000 calls per timing, interleaved (benchmarks/_bench.Timer), medians.
  build    te.build of the dense benchmark kernel (topi dense 64x1024x1024, native) from a
           warm cache: again in this process on a new, identical schedule, and in a new
           process (`python -c`: import, schedule, build; the build alone is printed).
           --quick: a few calls, and the add's build instead of dense (a check that it runs).

Run: python benchmarks/runtime.py [--quick]
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
from cffi import FFI  # noqa: E402

import texpr as te  # noqa: E402
import texpr.topi as topi  # noqa: E402
from _bench import Timer, cpu_model  # noqa: E402

CALLS = 1000


def add16_schedule():
    A, B = te.placeholder((16,), name="A"), te.placeholder((16,), name="B")
    C = te.compute((16,), lambda i: A[i] + B[i], name="C")
    return te.create_schedule(C.op), [A, B, C]


def add16():
    s, args = add16_schedule()
    return te.build(s, args, target="native", name="add16")


def repeated(fn):
    def run():
        for _ in range(CALLS):
            fn()
    return run


def call_costs(rounds):
    f = add16()
    a, b = np.random.rand(16).astype("float32"), np.random.rand(16).astype("float32")
    c = np.empty(16, "float32")
    ffi = FFI()
    ffi.cdef("void texpr_kernel_add16_entry(void*, void*, void*);")
    bare = ffi.dlopen(f.lib_path).texpr_kernel_add16_entry
    pa, pb, pc = ffi.from_buffer(a), ffi.from_buffer(b), ffi.from_buffer(c)
    fns = {"bare cffi call (no checks)": repeated(lambda: bare(pa, pb, pc)),
           "f(a, b, c) NumPy": repeated(lambda: f(a, b, c)),
           "f(a, b) output allocated": repeated(lambda: f(a, b))}
    try:
        import torch
        import texpr.torch as tt
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.empty(16)
        fns["f(ta, tb, tc) torch"] = repeated(lambda: f(ta, tb, tc))
        op = tt.register(f, "texpr_bench::add16")
        fns["texpr.torch op(ta, tb)"] = repeated(lambda: op(ta, tb))
        fns["torch.add(ta, tb) (torch)"] = repeated(lambda: torch.add(ta, tb))
    except ImportError:
        print("  (torch not installed: no torch figure)")
    f(a, b, c)
    np.testing.assert_array_equal(c, a + b)
    got = Timer(rounds=rounds, calls=3).run(fns)
    bare_t = got["bare cffi call (no checks)"][0] / CALLS
    for name, (med, _) in got.items():
        t = med / CALLS
        print(f"  {name:<28} {t * 1e6:7.3f} us   {t / bare_t:5.2f}x the bare call")
    print(f"  {'f.time(a, b, c)':<28} {f.time(a, b, c, number=CALLS, repeat=rounds) * 1e6:7.3f} us"
          "   (the checked call, as f.time measures it)")


def dense_schedule():
    x, w = te.placeholder((64, 1024), name="x"), te.placeholder((1024, 1024), name="w")
    out = topi.nn.dense(x, w)
    return topi.schedule(out, "native"), [x, w, out]


NEW_PROCESS = """
import time
t0 = time.perf_counter()
import texpr as te, texpr.topi as topi
t1 = time.perf_counter()
x, w = te.placeholder((64, 1024), name="x"), te.placeholder((1024, 1024), name="w")
out = topi.nn.dense(x, w)
s = topi.schedule(out, "native")
t2 = time.perf_counter()
f = te.build(s, [x, w, out], target="native", name="dense")
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def build_costs(rounds, new_process=True, schedule=dense_schedule, name="dense"):
    s, args = schedule()
    te.build(s, args, target="native", name=name)               # warms the disk cache
    warm = []
    for _ in range(rounds):
        s, args = schedule()
        t0 = time.perf_counter()
        te.build(s, args, target="native", name=name)
        warm.append(time.perf_counter() - t0)
    print(f"  warm process, new identical schedule: te.build {min(warm) * 1e3:6.2f} ms (best), "
          f"{sorted(warm)[len(warm) // 2] * 1e3:6.2f} ms (median)")
    if not new_process:
        return
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".."))
    runs = []
    for _ in range(max(1, rounds // 2)):
        r = subprocess.run([sys.executable, "-c", NEW_PROCESS], capture_output=True, text=True,
                           env=env, check=True)
        runs.append([float(v) for v in r.stdout.split()])
    imp, sched, build = (sorted(col)[len(col) // 2] for col in zip(*runs))
    print(f"  new process (median of {len(runs)}): import texpr {imp * 1e3:.0f} ms, schedule "
          f"{sched * 1e3:.1f} ms, te.build {build * 1e3:.1f} ms (schedule to callable "
          f"{(sched + build) * 1e3:.1f} ms)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few rounds (a check that it runs)")
    ap.add_argument("--no-new-process", action="store_true",
                    help="skip the build in a new process")
    args = ap.parse_args(argv)
    global CALLS
    rounds = 1 if args.quick else 15
    CALLS = 100 if args.quick else CALLS
    print(f"CPU: {cpu_model()}; TEXPR_NUM_THREADS={os.environ.get('TEXPR_NUM_THREADS', '-')}")
    print("call of a 16-element add (native):")
    call_costs(rounds)
    if args.quick:          # (the add: no dense kernel to compile in a check that it runs)
        print("cached build of the 16-element add (native):")
        build_costs(rounds, new_process=not args.no_new_process, schedule=add16_schedule,
                    name="add16")
        return
    print("cached build of the dense benchmark kernel (64x1024x1024, native):")
    build_costs(rounds, new_process=not args.no_new_process)


if __name__ == "__main__":
    main()
