"""Helpers shared by the benchmarks in benchmarks/.

- reexec_without_openblas_overrides(): OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE force an
  OpenBLAS kernel (e.g. Haswell on an AVX-512 machine) and make NumPy slower than it can be;
  they are read when NumPy loads, so the script re-executes itself without them.
- measure_peak(): the machine's fp32 FMA peak, measured (independent FMA chains per thread).
- Timer: interleaved measurements (texpr and its references alternate, rounds x calls, the
  median of the rounds), so that load from other processes hits all of them alike.
- threads(n): TEXPR_NUM_THREADS, torch.set_num_threads and OpenBLAS (threadpoolctl) at once.
- per_threads(build, counts): {t: build()} with each build under threads(t), so that each
  thread count's figures time kernels built for that count.
- parallel_warm_s(fns, n): at n > 1 threads, untimed calls before each turn for longer than
  the spin of every runtime's workers after a call (spin_seconds), so that no library is timed
  while another's threads still hold the cores, nor right after its own threads slept.
"""
import contextlib
import os
import platform
import statistics
import sys
import time

_OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_UNSET_NOTE = "TEXPR_BENCH_UNSET_OPENBLAS"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def reexec_without_openblas_overrides(script):
    """Run `script` again without the OpenBLAS overrides (unless --keep-openblas-env)."""
    if "--keep-openblas-env" in sys.argv or not any(v in os.environ for v in _OPENBLAS_VARS):
        return
    env = {k: v for k, v in os.environ.items() if k not in _OPENBLAS_VARS}
    env[_UNSET_NOTE] = " ".join(f"{v}={os.environ[v]}" for v in _OPENBLAS_VARS if v in os.environ)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, os.path.abspath(script)] + sys.argv[1:], env)


def openblas_note():
    """Which BLAS NumPy runs (kernel, threading), and whether overrides were dropped."""
    from threadpoolctl import threadpool_info
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    text = "; ".join(f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')} "
                     f"threading={i.get('threading_layer')} "
                     f"({os.path.basename(i.get('filepath', ''))})" for i in info) or \
        "no BLAS found by threadpoolctl"
    unset = os.environ.get(_UNSET_NOTE)
    if unset:
        text += f"\n  (re-executed without {unset} so that OpenBLAS picks its own kernel)"
    kept = {v: os.environ[v] for v in _OPENBLAS_VARS if v in os.environ}
    if kept:
        text += f"\n  (OpenBLAS overrides kept: {kept}; NumPy may be slower than it can be)"
    return text


def add_target_options(ap):
    """--target and --keep-openblas-env, as every benchmark comparing against NumPy/torch has."""
    ap.add_argument("--target", default=None, help="texpr target (default: avx512 when the "
                    "CPU has it, else native)")
    ap.add_argument("--keep-openblas-env", action="store_true",
                    help="do not drop OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE")


def best_target():
    """avx512 where the CPU runs it natively (oneDNN and OpenBLAS use it there), else native."""
    sys.path.insert(0, ROOT)
    from texpr.targets.build import avx512_native
    return "avx512" if avx512_native() else "native"


def cpu_model():
    """'model name (family F model M, avx2/avx512f)' from /proc/cpuinfo (a VM's model name
    may be generic: the family and model tell Zen 3 (25/1) from Zen 5 (26/...))."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or platform.machine()
    flags = info.get("flags", "").split()
    isa = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "no avx2"
    return (f"{info.get('model name', '?')} (family {info.get('cpu family', '?')} model "
            f"{info.get('model', '?')}, {isa})")


@contextlib.contextmanager
def threads(n):
    """n threads for texpr (TEXPR_NUM_THREADS), torch and OpenBLAS, for the block."""
    from threadpoolctl import threadpool_limits
    old = os.environ.get("TEXPR_NUM_THREADS")
    os.environ["TEXPR_NUM_THREADS"] = str(n)
    try:
        import torch
        tn = torch.get_num_threads()
        torch.set_num_threads(n)
    except ImportError:
        torch, tn = None, None
    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(tn)
        if old is None:
            os.environ.pop("TEXPR_NUM_THREADS", None)
        else:
            os.environ["TEXPR_NUM_THREADS"] = old


def calls_for(flops):
    """Calls per timed block of a kernel of `flops`: about 20 ms of them at 30 GFLOP/s,
    3 to 50."""
    return int(min(50, max(3, 0.02 / (flops / 30e9))))


def per_threads(build, thread_counts):
    """{t: build()} for each thread count t, each call under threads(t).

    texpr's CPU schedules split their parallel loops into blocks for the thread count in
    effect when the kernel is BUILT (topi.cpu.parallel_units: TEXPR_NUM_THREADS, else the
    cores), and a user running t threads gets kernels built for t. A kernel built once (for
    the default: all cores) and timed at 1 thread times a split that a 1-thread user never
    runs, so each thread count's figures need their own build. build() should check its
    kernel's output too: each build is a kernel of its own."""
    out = {}
    for t in thread_counts:
        with threads(t):
            out[t] = build()
    return out


_PEAK_C = r"""
#include <stdint.h>
#include <omp.h>
typedef float texpr_peak_vf __attribute__((vector_size(%(bytes)d)));
volatile float texpr_peak_sink;
/* 12 independent FMA chains per thread, n iterations; returns wall seconds */
double texpr_peak(int64_t n, int nthreads) {
  double t0 = omp_get_wtime();
  #pragma omp parallel num_threads(nthreads)
  {
    texpr_peak_vf acc[12], x, y;
    for (int l = 0; l < %(lanes)d; ++l) { x[l] = 0.9999999f; y[l] = 1e-7f; }
    for (int i = 0; i < 12; ++i) acc[i] = x * (float)(i + omp_get_thread_num());
    for (int64_t k = 0; k < n; ++k) {
      #pragma GCC unroll 12
      for (int i = 0; i < 12; ++i) acc[i] = acc[i] * x + y;
    }
    texpr_peak_vf s = acc[0];
    for (int i = 1; i < 12; ++i) s += acc[i];
    texpr_peak_sink = s[0];
  }
  return omp_get_wtime() - t0;
}
"""


_KEEP_LOADED = []   # libgomp threads started by a library must never see it unloaded


def measure_peak(bits, nthreads, n=2_000_000, repeat=5, flags=None):
    """Best observed fp32 FMA throughput (GFLOP/s) with `nthreads` threads and `bits`-bit
    vectors (compiled by the same gcc texpr uses)."""
    import cffi
    sys.path.insert(0, ROOT)
    from texpr.targets.toolchain import compile_shared
    if flags is None:
        flags = {512: ["-mavx512f", "-mfma"], 256: ["-mavx2", "-mfma"]}.get(bits, [])
    lanes = bits // 32
    path, _ = compile_shared(_PEAK_C % {"bytes": lanes * 4, "lanes": lanes},
                             ["-O2", "-fopenmp"] + flags)
    ffi = cffi.FFI()
    ffi.cdef("double texpr_peak(int64_t, int);")
    lib = ffi.dlopen(path)
    _KEEP_LOADED.append((ffi, lib))
    lib.texpr_peak(1000, nthreads)
    best = min(lib.texpr_peak(n, nthreads) for _ in range(repeat))
    return nthreads * n * 12 * lanes * 2 / best / 1e9


def peaks(target, thread_counts, quick=False):
    """(bits, {threads: peak GFLOP/s}, note) at the vector width of `target`.

    The peak of t threads is t x the single-thread figure measured here (the machine's peak);
    the multi-thread measurement is printed beside it, since other processes on a shared
    machine can pull it far below.
    """
    sys.path.insert(0, ROOT)
    from texpr.targets import get_target
    bits = get_target(target).vector_bits
    n = 500_000 if quick else 2_000_000
    one = measure_peak(bits, 1, n=n)
    out, notes = {}, []
    for t in thread_counts:
        out[t] = t * one
        if t > 1:
            notes.append(f"{t} threads measured together: {measure_peak(bits, t, n=n):.0f}")
    note = (f"fp32 peak at {bits}-bit vectors: {one:.0f} GFLOP/s per core (measured, 1 thread)"
            + (f"; {', '.join(notes)} GFLOP/s" if notes else ""))
    return bits, out, note


# After a call, OpenBLAS's and torch's OpenMP worker threads spin for a while before they
# sleep; on a machine with few cores they take a core from the next kernel's threads, which
# then wait at a barrier. Let them fall asleep before timing something else multithreaded.
SETTLE_S = 0.05


def spin_seconds(fn, limit=1.0, poll=0.005):
    """Seconds the worker threads of fn's parallel runtime keep running after fn() returns:
    libgomp's workers spin (GOMP_SPINCOUNT pauses: tens of ms in a VM, where a pause is slow)
    before they sleep, and so do OpenBLAS's and texpr's pool's for a while. Measured as the
    time during which the process gains CPU time while this thread sleeps."""
    fn()
    t0 = time.perf_counter()
    last = t0
    cpu = time.process_time()
    while True:
        time.sleep(poll)
        now, c = time.perf_counter(), time.process_time()
        if c - cpu > 0.25 * poll:           # other threads of this process ran meanwhile
            last = now
        elif now - last > 4 * poll or now - t0 > limit:
            return last - t0
        cpu = c


def parallel_warm_s(fns, threads, margin=1.5, cap=0.5):
    """The warm-up (Timer's `warm_s`) of a multithreaded comparison: each library runs
    untimed for longer than any of fns's runtimes spins after a call (spin_seconds, x margin)
    right before its timed calls. Waiting asleep instead leaves the second
    vCPU idle, and in this VM a 2-thread kernel after 50 ms or more of idleness ran 1.6-2x
    slower for its next tens of ms (a 1.8 ms conv: 3.0-3.6 ms, Zen 3); busy, the library's
    own threads stay awake while the previous library's spinning workers go to sleep.
    0 at 1 thread (no workers)."""
    if threads <= 1:
        return 0.0
    spin = max(spin_seconds(f) for f in fns.values() for _ in range(2))
    return min(cap, max(0.05, margin * spin))


class Timer:
    """Interleaved timing of several callables: `rounds` rounds, in each every callable is
    timed (best of `calls` consecutive calls); the figure is the median over the rounds.
    settle: seconds of sleep before each callable's turn, or {name: seconds}.
    warm_s: seconds of untimed calls of the callable itself right before its timed calls
    (parallel_warm_s): its worker threads awake and the other libraries' asleep."""

    def __init__(self, rounds=7, calls=3, settle=0.0, clock=None, warm_s=0.0):
        self.rounds, self.calls, self.settle = rounds, calls, settle
        self.clock = clock or time.perf_counter     # time.thread_time: CPU time of 1 thread
        self.warm_s = warm_s

    def run(self, fns):
        """fns: {name: callable}; returns {name: (median seconds, best seconds)}."""
        times = {k: [] for k in fns}
        for f in fns.values():            # warm up (and first-touch of buffers)
            f()
        for _ in range(self.rounds):
            for name, f in fns.items():
                settle = self.settle.get(name, 0.0) if isinstance(self.settle, dict) \
                    else self.settle
                if settle:
                    time.sleep(settle)
                if self.warm_s:
                    end = time.perf_counter() + self.warm_s
                    while time.perf_counter() < end:
                        f()
                best = float("inf")
                for _ in range(self.calls):
                    t0 = self.clock()
                    f()
                    best = min(best, self.clock() - t0)
                times[name].append(best)
        return {k: (statistics.median(v), min(v)) for k, v in times.items()}


class CpuLoad:
    """Share of the machine's CPU time used by other processes between start() and stop()."""

    def start(self):
        self.t0 = self._busy(), os.times()

    def stop(self):
        (busy0, total0), o0 = self.t0
        busy1, total1 = self._busy()
        o1 = os.times()
        tick = os.sysconf("SC_CLK_TCK")
        ours = (o1.user + o1.system + o1.children_user + o1.children_system
                - o0.user - o0.system - o0.children_user - o0.children_system) * tick
        if total1 <= total0:
            return None
        return max(0.0, (busy1 - busy0 - ours) / (total1 - total0))

    @staticmethod
    def _busy():
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return 0, 0
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v[:8]) - idle, sum(v[:8])


def load_note(share):
    if share is None:
        return ""
    return (f"other processes used {100 * share:.0f}% of the machine's CPU time during the "
            "measurements" + (" (figures with all threads are unreliable)" if share > 0.1 else ""))
