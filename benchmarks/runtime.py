"""What a kernel call and a cached build cost (issue 17), beside a bare cffi call.

  call     a checked call f(a, b, c) of a 16-element float32 add (NumPy arrays), the same with
           torch tensors (checked in C through DLPack's C exchange API), with the output
           omitted (allocated), f.time's figure, and the bare cffi call of the same kernel
           (pointers made once: no checks at all); the kernel as a PyTorch operator
           (texpr.torch.register: torch's dispatcher into the op's Python kernel, output
           allocated) beside torch.add; 1000 calls per timing, interleaved
           (benchmarks/_bench.Timer), medians. --only call: these lines alone.
  build    te.build of the dense benchmark kernel (topi dense 64x1024x1024, native) from a
           warm cache: again in this process on a new, identical schedule, and in a new
           process (`python -c`: import, schedule, build; the build alone is printed).
           --quick: a few calls, and the add's build instead of dense (a check that it runs).
  parallel texpr's thread pool (TEXPR_PARALLEL_RUNTIME=texpr) beside libgomp (=openmp), the
           same kernels built both ways, 2 threads: the fork-join cost of an (almost) empty
           parallel loop (one element per thread, the kernel called through cffi without
           checks); topi dense (256x512x512) and conv2d (NCHW 1x64x28x28, 64 3x3 filters) at 1
           and 2 threads on the quiet machine and beside one foreign busy core (a spinning
           subprocess): the bar is 2-thread time <= 2x 1-thread time under that load. Each
           runtime runs in processes of its own, alternating. --fifo: the quiet figures under
           SCHED_FIFO (a quiet machine for the benchmark on a shared one).
           --quick: the fork-join figure only, few calls.

Run: python benchmarks/runtime.py [--quick]
"""
import argparse
import json
import os
import statistics
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


def runtime_target(runtime):
    from texpr.targets.registry import get_target
    return get_target("native").with_(parallel_runtime=runtime)


def empty_parallel(runtime, nthreads=2):
    """B[i] = A[i] over nthreads elements, one per thread: what is timed is the fork-join."""
    A = te.placeholder((nthreads,), name="A")
    B = te.compute((nthreads,), lambda i: A[i], name="B")
    s = te.create_schedule(B.op)
    s[B].parallel(B.op.axis[0])
    return te.build(s, [A, B], target=runtime_target(runtime), name=f"empty_parallel_{runtime}")


def fork_join_fn(runtime, calls):
    """`calls` calls of the empty parallel loop's entry through cffi (no argument checks)."""
    a, b = np.zeros(2, "float32"), np.zeros(2, "float32")
    f = empty_parallel(runtime)
    f(a, b)                             # sets the thread count (and installs the pool)
    ffi = FFI()
    entry = f"texpr_kernel_empty_parallel_{runtime}_entry"
    ffi.cdef(f"void {entry}(void*, void*);")
    fn = getattr(ffi.dlopen(f.lib_path), entry)
    pa, pb = ffi.from_buffer(a), ffi.from_buffer(b)

    def run():
        for _ in range(calls):
            fn(pa, pb)
    return run


def parallel_kernels(runtime):
    """(name, module, arrays) of the dense and conv benchmark kernels for one runtime."""
    rng = np.random.default_rng(0)
    x, w = te.placeholder((256, 512), name="x"), te.placeholder((512, 512), name="w")
    out = topi.nn.dense(x, w)
    dense = te.build(topi.schedule(out, "native"), [x, w, out], target=runtime_target(runtime),
                     name="dense_256")
    dense_args = [rng.standard_normal(t).astype("float32") for t in ((256, 512), (512, 512))]
    dense_args.append(np.empty((256, 512), "float32"))
    d, k = te.placeholder((1, 64, 28, 28), name="d"), te.placeholder((64, 64, 3, 3), name="k")
    out = topi.nn.conv2d_nchw(d, k, 1, 1)
    conv = te.build(topi.schedule(out, "native"), [d, k, out], target=runtime_target(runtime),
                    name="conv_64")
    conv_args = [rng.standard_normal(t).astype("float32") for t in ((1, 64, 28, 28),
                                                                     (64, 64, 3, 3))]
    conv_args.append(np.empty((1, 64, 28, 28), "float32"))
    return [("dense 256x512x512", dense, dense_args), ("conv 64x28x28 3x3", conv, conv_args)]


def measure_runtime(runtime, rounds, calls, kernels):
    """One runtime's figures, in this process alone (two runtimes in one process would each
    see the other's idle threads spinning): {name: (median s, best s)} at 2 threads for the
    fork-join (per call) and at 1 and 2 threads for the kernels."""
    os.environ["TEXPR_NUM_THREADS"] = "2"
    got = {}
    fj = Timer(rounds=rounds, calls=3).run({"fork-join": fork_join_fn(runtime, calls)})
    got["fork-join"] = tuple(t / calls for t in fj["fork-join"])
    if kernels:
        fns = {}
        for name, f, args in parallel_kernels(runtime):
            for n in (1, 2):
                def run(f=f, args=args, n=n):
                    os.environ["TEXPR_NUM_THREADS"] = str(n)
                    f(*args)
                fns[f"{name}|{n}"] = run
        got.update(Timer(rounds=rounds, calls=3).run(fns))
    return got


def busy_core():
    """A foreign process spinning on one core (until terminated)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def runtime_child(runtime, rounds, calls, kernels, fifo=False):
    """measure_runtime in a new process (each runtime alone in its process); fifo: under
    SCHED_FIFO (`chrt -f 1`), which stands in for a quiet machine on a shared one."""
    code = (f"import json, sys; sys.path.insert(0, {HERE!r}); import runtime; "
            f"print(json.dumps(runtime.measure_runtime({runtime!r}, {rounds}, {calls}, "
            f"{kernels})))")
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".."))
    r = subprocess.run((["chrt", "-f", "1"] if fifo else []) + [sys.executable, "-c", code],
                       capture_output=True, text=True, env=env, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def parallel_costs(rounds, quick, fifo=False):
    old = os.environ.get("TEXPR_NUM_THREADS")
    try:
        _parallel_costs(rounds, quick, fifo)
    finally:
        if old is None:
            os.environ.pop("TEXPR_NUM_THREADS", None)
        else:
            os.environ["TEXPR_NUM_THREADS"] = old


def _parallel_costs(rounds, quick, fifo):
    """Fork-join and thread scaling, texpr's pool and libgomp each in a process of its own,
    alternating (two processes per runtime; the figure is the median of their medians)."""
    calls = 100 if quick else 2000
    loads = ["quiet machine"] if quick else ["quiet machine", "one foreign busy core"]
    for load in loads:
        spinner = busy_core() if load != "quiet machine" else None
        runs = {"texpr": [], "openmp": []}
        try:
            for _ in range(1 if quick else 2):
                for rt in runs:         # (--quick: in this process, a check that it runs)
                    runs[rt].append(measure_runtime(rt, rounds, calls, False) if quick else
                                    runtime_child(rt, rounds, calls, True,
                                                  fifo and spinner is None))
        finally:
            if spinner is not None:
                spinner.terminate()
                spinner.wait()
        print(f"  {load}{' (SCHED_FIFO)' if fifo and spinner is None else ''}:")

        def fig(rt, key, k=0):
            return statistics.median(r[key][k] for r in runs[rt])
        for rt in runs:
            pool = "texpr pool" if rt == "texpr" else "libgomp"
            print(f"    empty parallel loop, 2 threads, {rt:<6} ({pool}) "
                  f"{fig(rt, 'fork-join') * 1e6:7.2f} us per call "
                  f"(best {fig(rt, 'fork-join', 1) * 1e6:.2f} us)")
        if quick:
            continue
        for name in ("dense 256x512x512", "conv 64x28x28 3x3"):
            for rt in runs:
                t1, t2 = fig(rt, f"{name}|1"), fig(rt, f"{name}|2")
                print(f"    {name:<18} {rt:<6} 1 thread {t1 * 1e3:7.3f} ms, 2 threads "
                      f"{t2 * 1e3:7.3f} ms (best {fig(rt, f'{name}|2', 1) * 1e3:.3f}): "
                      f"2-thread / 1-thread {t2 / t1:5.2f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few rounds (a check that it runs)")
    ap.add_argument("--no-new-process", action="store_true",
                    help="skip the build in a new process")
    ap.add_argument("--only", choices=("parallel", "call"),
                    help="run one part of the benchmark")
    ap.add_argument("--fifo", action="store_true",
                    help="the quiet-machine parallel figures under SCHED_FIFO (chrt -f 1: "
                         "needs the right to; other processes then wait) on a shared machine")
    args = ap.parse_args(argv)
    global CALLS
    rounds = 1 if args.quick else 15
    CALLS = 100 if args.quick else CALLS
    print(f"CPU: {cpu_model()}; TEXPR_NUM_THREADS={os.environ.get('TEXPR_NUM_THREADS', '-')}")
    if args.only in (None, "parallel"):
        print("parallel loops, texpr's thread pool beside libgomp (native):")
        parallel_costs(rounds, args.quick, args.fifo)
    if args.only == "parallel":
        return
    print("call of a 16-element add (native):")
    call_costs(rounds)
    if args.only == "call":
        return
    if args.quick:          # (the add: no dense kernel to compile in a check that it runs)
        print("cached build of the 16-element add (native):")
        build_costs(rounds, new_process=not args.no_new_process, schedule=add16_schedule,
                    name="add16")
        return
    print("cached build of the dense benchmark kernel (64x1024x1024, native):")
    build_costs(rounds, new_process=not args.no_new_process)


if __name__ == "__main__":
    main()
