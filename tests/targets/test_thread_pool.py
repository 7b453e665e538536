"""texpr's thread pool for parallel loops (targets/runtime/pool.c, c/outline.py): results equal
NumPy, the chunks a loop is cut into cover it once, TEXPR_NUM_THREADS sizes it, nested loops
and concurrent callers, fork, and the OpenMP option."""
import os
import threading

import numpy as np
import pytest

import texpr as te
from texpr.errors import TexprError
from texpr.targets.registry import get_target
from texpr.targets.runtime import pool

from support.parallel import parallel_loops

pytestmark = pytest.mark.skipif(get_target("c").parallel_runtime != "texpr",
                                reason="TEXPR_PARALLEL_RUNTIME=openmp: the pool is not used")


def _schedule():
    """C = sum_k 2*A[i, k] with a nested parallel loop (rows of a block, inside parallel
    blocks) reading a buffer allocated in the outer one; D = max_k A[i, k], a second parallel
    loop writing a second output."""
    n = te.var("n")
    A = te.placeholder((n, 16), name="A")
    B = te.compute((n, 16), lambda i, j: A[i, j] * 2.0, name="B")
    k = te.reduce_axis((0, 16), name="k")
    C = te.compute((n,), lambda i: te.sum(B[i, k], axis=k), name="C")
    D = te.compute((n,), lambda i: te.max(A[i, k], axis=k), name="D")
    s = te.create_schedule([C.op, D.op])
    io, ii = s[C].split(C.op.axis[0], factor=4)
    s[B].compute_at(s[C], io)
    s[C].parallel(io)
    s[C].parallel(ii)
    do, _ = s[D].split(D.op.axis[0], factor=3)
    s[D].parallel(do)
    return s, [A, C, D]


@pytest.fixture(scope="module")
def kernel():
    s, args = _schedule()
    return te.build(s, args, target="c", name="pool_kernel")


def _check(f, rows, seed=0):
    a = np.random.default_rng(seed).standard_normal((rows, 16)).astype("float32")
    c = np.full(rows, np.nan, "float32")
    d = np.full(rows, np.nan, "float32")
    f(a, c, d)
    np.testing.assert_allclose(c, (2 * a).sum(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(d, a.max(1))


def test_outlined_parallel_loops_equal_numpy(kernel, monkeypatch):
    monkeypatch.setenv("TEXPR_NUM_THREADS", "2")
    assert parallel_loops(kernel.source) == 4       # outer, inner (body and tail), D's
    assert "#pragma omp parallel" not in kernel.source
    for rows in (1, 4, 23, 64):                     # one chunk; tails; many chunks
        _check(kernel, rows, rows)
    assert pool.last_threads() == 2


def test_many_calls_and_concurrent_callers(kernel, monkeypatch):
    """Two Python threads calling parallel kernels at once (one runs on the pool, the other
    serially while the pool is busy) and hundreds of calls in a row: every result right."""
    monkeypatch.setenv("TEXPR_NUM_THREADS", "2")
    errors = []

    def calls(seed):
        try:
            for k in range(150):
                _check(kernel, 9 + k % 20, seed + k)
        except Exception as e:      # noqa: BLE001 (reported by the main thread)
            errors.append(e)
    threads = [threading.Thread(target=calls, args=(1000 * t,)) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a kernel call did not return"
    assert errors == []


def _pool_run(nthreads, begin, end, body):
    ffi, lib = pool.library()
    cb = ffi.callback("void(void*, int64_t, int64_t)", body)
    lib.texpr_parallel_for(cb, ffi.NULL, begin, end, nthreads)


def test_chunks_cover_the_loop_once_on_the_threads_asked_for():
    """The pool's C API through cffi: chunks of [3, 40) claimed by the caller and workers
    (each chunk sleeps, so a worker gets some), nothing run twice or left out."""
    import time
    ran, ids = [], set()
    lib = pool.library()[1]

    def body(_, lo, hi):
        ran.append((lo, hi))
        ids.add(lib.texpr_pool_thread_id())
        time.sleep(0.002)
    _pool_run(3, 3, 40, body)
    covered = sorted(i for lo, hi in ran for i in range(lo, hi))
    assert covered == list(range(3, 40))
    assert pool.last_threads() == 3 and pool.workers() >= 2
    assert len(ids) >= 2 and ids <= {0, 1, 2}       # the caller and workers 0, 1
    ran.clear()
    ids.clear()
    _pool_run(1, 0, 10, body)                       # one thread: one chunk, in the caller
    assert ran == [(0, 10)] and ids == {0} and pool.last_threads() == 1


@pytest.mark.parametrize("nthreads,length", [(2, 14), (2, 7), (3, 20), (2, 100), (4, 3)])
def test_each_threads_chunks_cover_an_even_share(nthreads, length):
    """Thread q's home chunks (the q-th of `nthreads` equal runs of the chunks, in order)
    hold q's even share of the iterations, [q*len/n, (q+1)*len/n): chunks of even sizes put
    the larger ones first (14 iterations, 2 threads: 8 for the caller, 6 for the worker)."""
    ran = []
    _pool_run(nthreads, 0, length, lambda _, lo, hi: ran.append((lo, hi)))
    ran.sort()
    assert [i for lo, hi in ran for i in range(lo, hi)] == list(range(length))
    starts = [lo for lo, _ in ran] + [length]
    chunks = min(length, nthreads * 4)              # TEXPR_POOL_CHUNKS_PER_THREAD
    assert len(ran) == chunks
    for q in range(nthreads):
        c0, c1 = q * chunks // nthreads, (q + 1) * chunks // nthreads
        assert starts[c0] == q * length // nthreads and starts[c1] == (q + 1) * length // nthreads
        sizes = [hi - lo for lo, hi in ran[c0:c1]]
        assert not sizes or max(sizes) - min(sizes) <= 1


def test_nested_loop_runs_serially_in_its_chunk():
    inner = []

    def inner_body(_, lo, hi):
        inner.append((lo, hi))

    def outer_body(_, lo, hi):
        for _i in range(lo, hi):
            _pool_run(2, 0, 5, inner_body)
    _pool_run(2, 0, 6, outer_body)
    assert inner == [(0, 5)] * 6


def test_a_forked_child_runs_parallel_kernels(kernel, monkeypatch):
    monkeypatch.setenv("TEXPR_NUM_THREADS", "2")
    _check(kernel, 30)                          # workers started in the parent
    pid = os.fork()
    if pid == 0:                                # the child: no workers until it needs them
        code = 1
        try:
            _check(kernel, 31)
            code = 0 if pool.last_threads() == 2 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    _check(kernel, 32)                          # and the parent's pool still works


def test_openmp_option_builds_the_same_kernel(monkeypatch):
    monkeypatch.setenv("TEXPR_PARALLEL_RUNTIME", "openmp")
    assert get_target("native").parallel_runtime == "openmp"
    s, args = _schedule()
    f = te.build(s, args, target="c", name="pool_kernel")
    assert "#pragma omp parallel for" in f.source and "texpr_parallel_for" not in f.source
    _check(f, 23)


def test_bad_parallel_runtime_names_are_refused(monkeypatch):
    monkeypatch.setenv("TEXPR_PARALLEL_RUNTIME", "tbb")
    with pytest.raises(TexprError, match=r"TEXPR_PARALLEL_RUNTIME='tbb': expected one of"):
        get_target("c")
    monkeypatch.delenv("TEXPR_PARALLEL_RUNTIME")
    with pytest.raises(TexprError, match=r"parallel_runtime must be one of .*got 'gomp'"):
        get_target("c").with_(parallel_runtime="gomp")


# two threads start loops on the pool at once (one gets it, the other runs serially), then
# nested loops, then a forked child: every element incremented exactly as often as asked
_STRESS = r"""
#include <stdio.h>
#include <sys/wait.h>
static void add_one(void* c, int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i) ((int*)c)[i] += 1;
}
static void nested(void* c, int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i) texpr_parallel_for(add_one, (int*)c + 100 * i, 0, 100, 2);
}
static void* caller(void* a) {
  for (int r = 0; r < 300; ++r) texpr_parallel_for(add_one, a, 0, 1000, 3);
  return 0;
}
int main(int argc, char** argv) {
  static int a[1000], b[1000], c[1000], d[1000];
  pthread_t t1, t2;
  pthread_create(&t1, 0, caller, a);
  pthread_create(&t2, 0, caller, b);
  pthread_join(t1, 0);
  pthread_join(t2, 0);
  for (int r = 0; r < 50; ++r) texpr_parallel_for(nested, c, 0, 10, 2);
  for (int i = 0; i < 1000; ++i)
    if (a[i] != 300 || b[i] != 300 || c[i] != 50) { printf("wrong at %d\n", i); return 1; }
  if (argc > 1) {                         /* (ThreadSanitizer does not follow a fork) */
    pid_t p = fork();
    if (p == 0) {
      for (int r = 0; r < 20; ++r) texpr_parallel_for(add_one, d, 0, 1000, 2);
      _exit(d[999] == 20 ? 0 : 3);
    }
    int st;
    waitpid(p, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { printf("child failed\n"); return 1; }
  }
  printf("ok\n");
  return 0;
}
"""


@pytest.mark.parametrize("sanitizer", ["thread", "address,undefined"])
def test_pool_c_api_under_sanitizers(sanitizer):
    """pool.c alone in a C program (no Python): ThreadSanitizer finds no race (its shared
    state is C11 atomics), ASan/UBSan no bad access, and the counts are exact."""
    import subprocess
    from texpr.errors import BuildError
    from texpr.targets.toolchain import compile_executable
    with open(pool.SOURCE_PATH) as f:
        source = f.read() + _STRESS
    try:
        exe, _ = compile_executable(source, ["-O1", "-g", "-pthread", f"-fsanitize={sanitizer}"],
                                    "gcc", libs=["-pthread"])
    except BuildError as e:
        pytest.skip(f"gcc cannot build with -fsanitize={sanitizer} here: {str(e)[-200:]}")
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1", ASAN_OPTIONS="detect_leaks=0")
    env.pop("LD_PRELOAD", None)
    args = [exe] if sanitizer == "thread" else [exe, "fork"]
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr[-3000:]


def test_thread_count_follows_every_change_of_the_variable(kernel, monkeypatch):
    """num_threads() caches the count of the variable's raw value, and a call re-syncs the
    kernel's count only when that value changed: each new value is read."""
    from texpr.targets.runtime.module import num_threads
    for value, want in (("3", 3), ("5", 5), ("0", os.cpu_count()), ("x", os.cpu_count()),
                        ("3", 3), ("2", 2)):
        monkeypatch.setenv("TEXPR_NUM_THREADS", value)
        assert num_threads() == want
        if value in ("2", "3"):
            _check(kernel, 40)
            assert pool.last_threads() == want
    monkeypatch.delenv("TEXPR_NUM_THREADS")
    assert num_threads() == (os.cpu_count() or 1)


def test_kernels_sharing_a_library_follow_the_count_of_each_call(monkeypatch):
    """A kernel built again (the same source: the library loaded once is shared, and its
    thread count with it) and called at another count: each module's call runs on its own
    count (a per-module record of the count had left the first module's calls on the
    second's)."""
    s, args = _schedule()
    a = te.build(s, args, target="c", name="pool_shared")
    s, args = _schedule()
    b = te.build(s, args, target="c", name="pool_shared")
    assert a is not b and a.lib_path == b.lib_path
    for f, value in ((a, "3"), (b, "2"), (a, "3"), (b, "2"), (a, "3")):
        monkeypatch.setenv("TEXPR_NUM_THREADS", value)
        _check(f, 40)
        assert pool.last_threads() == int(value)


def test_a_heap_buffer_of_each_iteration_is_allocated_once_per_chunk(monkeypatch):
    """A stage computed in each iteration of a parallel loop into a buffer of a run-time
    size (here a row of symbolic length m) gets it allocated once per chunk of iterations a
    thread runs, before the chunk's loop (outline._chunk_buffers), not once per iteration."""
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((n, m), name="A")
    B = te.compute((n, m), lambda i, j: A[i, j] * 2.0, name="B")
    k = te.reduce_axis((0, m), name="k")
    C = te.compute((n,), lambda i: te.sum(B[i, k], axis=k), name="C")
    s = te.create_schedule(C.op)
    s[B].compute_at(s[C], C.op.axis[0])
    s[C].parallel(C.op.axis[0])
    f = te.build(s, [A, C], target="c", name="row_buffer")
    src = f.source
    assert src.count("texpr_alloc(") == 1 + src.count("static inline void* texpr_alloc")
    assert src.index("B = (float*)texpr_alloc(") < src.index("= (int32_t)texpr_begin;")
    monkeypatch.setenv("TEXPR_NUM_THREADS", "2")
    for rows, cols in ((1, 1), (5, 3), (37, 20)):
        a = np.random.default_rng(rows).standard_normal((rows, cols)).astype("float32")
        np.testing.assert_allclose(f(a), (2 * a).sum(1), rtol=1e-5, atol=1e-5)
