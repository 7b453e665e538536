/* texpr's thread pool for the `parallel` loops of CPU kernels (runtime/pool.py builds and
 * loads it once per process; a kernel calls texpr_parallel_for through the pointer the runtime
 * installs with <symbol>_set_parallel_runtime).
 *
 * Why not OpenMP: libgomp's workers spin-wait for each other at the join, so a worker that a
 * foreign process preempted stalls the whole loop (2-thread kernels 5-80x slower than 1 thread
 * beside one busy process on a 2-core machine), and two OpenMP runtimes in one process (torch
 * bundles its own) spin against each other.
 *
 * How: one job at a time. The loop's iterations are cut into chunks, a few per thread, and each
 * thread (the caller is one) has a contiguous home range of them, as OpenMP's static schedule
 * would give it. A thread claims its own chunks from its range's atomic counter, then takes
 * what is left in the others' ranges: a worker that is not running simply takes no chunk and
 * the others do its share. The join waits only for chunks already claimed. Workers are started
 * on first use, spin briefly for the next job, then sleep on a futex. Each counter carries the
 * job's generation in its upper half, so a worker still looking at the last job can never
 * claim a chunk of the next one.
 *
 * - A parallel loop inside a chunk (nested), or called while another thread of the process
 *   runs a job, runs serially in its caller (no deadlock, no second pool).
 * - After fork() the child starts with no workers (pthread_atfork) and starts new ones.
 * - All shared state is C11 atomics (ThreadSanitizer-clean by design).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef void (*texpr_body_fn)(void* closure, int64_t begin, int64_t end);

#define TEXPR_POOL_MAX_WORKERS 255
#define TEXPR_POOL_CHUNKS_PER_THREAD 4
#define TEXPR_POOL_SETUP 0xFFFFFFFFu   /* a range's index while the caller writes a job */

/* how long a worker spins for the next job before it sleeps (back-to-back calls find it
   awake), and the caller for the chunks workers claimed (short: a worker another process
   preempted may need this core); in nanoseconds. Time, not pause instructions: a pause costs
   10 ns on one machine and 200+ ns in a virtual machine that traps spin loops. */
static _Atomic int64_t worker_spin_ns = 200000;
static _Atomic int64_t caller_spin_ns = 50000;

/* a thread's range of chunks: generation << 32 | the next chunk of the range to claim */
typedef struct {
  _Atomic uint64_t next;
  char pad[64 - sizeof(uint64_t)];   /* one cache line each */
} texpr_pool_range;

static struct {
  texpr_pool_range range[TEXPR_POOL_MAX_WORKERS + 1];   /* the caller's, then worker k's (k + 1) */
  int opened;                  /* ranges used by some job so far (under lock) */
  _Atomic int parts;           /* threads the current job is cut for (its ranges) */
  _Atomic uint32_t wake;       /* the last job's generation: the futex workers sleep on */
  _Atomic int sleepers;        /* workers asleep (or about to sleep) on `wake` */
  _Atomic(texpr_body_fn) fn;
  _Atomic(void*) closure;
  _Atomic int64_t begin, len;
  _Atomic uint32_t nchunks;
  _Atomic int helpers;         /* workers 0 .. helpers-1 take part in the current job */
  _Atomic uint32_t done;       /* chunks of this job finished: the futex the caller sleeps on */
  _Atomic int caller_sleeping;
  _Atomic int nworkers;        /* workers started in this process */
  _Atomic int last_threads;    /* threads (caller included) the last job was offered to */
  uint32_t generation;         /* under lock */
  pthread_mutex_t lock;        /* one job at a time */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local int in_parallel;   /* this thread runs a chunk (or is a worker) */
static _Thread_local int thread_id;     /* 0: a caller; k + 1: worker k */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* One step of a spin that lasts `budget` ns from its first step (*until = 0 before): pauses,
   and a look at the clock every 32 steps; returns 0 once the budget is spent. */
static int spin(int* steps, int64_t* until, int64_t budget) {
  cpu_relax();
  if ((++*steps & 31) != 0) return 1;
  int64_t t = now_ns();
  if (*until == 0) *until = t + budget;
  return t < *until;
}

static void futex_wait(_Atomic uint32_t* word, uint32_t expected) {
  syscall(SYS_futex, (uint32_t*)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t* word, int n) {
  syscall(SYS_futex, (uint32_t*)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* The first iteration (from 0) of chunk c of n over len iterations cut for `parts` threads:
   thread q's home range of chunks [q*n/parts, (q+1)*n/parts) covers its even share of the
   iterations, [q*len/parts, (q+1)*len/parts), cut evenly among its chunks. Chunks of even
   sizes instead put the larger ones in the first threads' ranges: 14 iterations in 8 chunks
   were 8 iterations for the caller and 6 for the worker, a run of 8 where 7 would do (a
   ResNet-50 1x1 convolution's 14 row blocks of ~40 us: the worker idle for one of them). */
static int64_t chunk_start(int64_t len, uint32_t n, int parts, uint32_t c) {
  if (c >= n) return len;
  int q = (int)((uint64_t)c * parts / n);
  while (q + 1 < parts && (uint64_t)(q + 1) * n / parts <= c) ++q;
  while (q > 0 && (uint64_t)q * n / parts > c) --q;
  uint32_t c0 = (uint32_t)((uint64_t)q * n / parts), c1 = (uint32_t)((uint64_t)(q + 1) * n / parts);
  int64_t i0 = q * len / parts, i1 = (q + 1) * len / parts;
  return i0 + (i1 - i0) * (int64_t)(c - c0) / (int64_t)(c1 - c0);
}

/* Chunk c of n over [begin, begin + len) (chunk_start). */
static void run_chunk(texpr_body_fn fn, void* closure, int64_t begin, int64_t len, uint32_t n,
                      int parts, uint32_t c) {
  int64_t lo = begin + chunk_start(len, n, parts, c);
  int64_t hi = begin + chunk_start(len, n, parts, c + 1);
  if (hi > lo) fn(closure, lo, hi);
  uint32_t finished = atomic_fetch_add(&pool.done, 1) + 1;
  if (finished == n && atomic_load(&pool.caller_sleeping)) futex_wake(&pool.done, 1);
}

/* Thread `self` claims and runs chunks of job `g`: its own range first, then the others',
   until none is left (or the job is no longer g). */
static void run_chunks(uint32_t g, int self) {
  uint64_t s = atomic_load_explicit(&pool.range[self].next, memory_order_acquire);
  if ((uint32_t)(s >> 32) != g || (uint32_t)s == TEXPR_POOL_SETUP) return;
  /* read after a range showed job g, and used only after a claim in job g succeeds: the
     caller closes every range (the generation moves on) before it writes the next job */
  int parts = atomic_load_explicit(&pool.parts, memory_order_acquire);
  uint32_t n = atomic_load_explicit(&pool.nchunks, memory_order_acquire);
  texpr_body_fn fn = atomic_load_explicit(&pool.fn, memory_order_acquire);
  void* closure = atomic_load_explicit(&pool.closure, memory_order_acquire);
  int64_t begin = atomic_load_explicit(&pool.begin, memory_order_acquire);
  int64_t len = atomic_load_explicit(&pool.len, memory_order_acquire);
  if (parts <= self || parts > TEXPR_POOL_MAX_WORKERS + 1) return;
  for (int hop = 0; hop < parts;) {
    int q = (self + hop) % parts;
    _Atomic uint64_t* next = &pool.range[q].next;
    s = atomic_load_explicit(next, memory_order_acquire);
    if ((uint32_t)(s >> 32) != g || (uint32_t)s == TEXPR_POOL_SETUP) return;
    uint32_t c = (uint32_t)((uint64_t)q * n / parts) + (uint32_t)s;
    if (c >= (uint32_t)((uint64_t)(q + 1) * n / parts)) { ++hop; continue; }   /* range done */
    if (!atomic_compare_exchange_weak(next, &s, s + 1)) continue;
    run_chunk(fn, closure, begin, len, n, parts, c);
    hop = 0;                                /* back to its own range */
  }
}

static void* worker_main(void* arg) {
  uint64_t a = (uint64_t)(uintptr_t)arg;
  int k = (int)(a >> 32);
  uint32_t seen = (uint32_t)a;            /* the generation before this worker was started */
  in_parallel = 1;
  thread_id = k + 1;
  int helped = 1;
  for (;;) {
    uint32_t g;
    int steps = 0;
    /* a worker the last job did not ask for (fewer threads than workers) sleeps at once */
    int64_t until = 0;
    int64_t budget = helped ? atomic_load_explicit(&worker_spin_ns, memory_order_relaxed) : 0;
    while ((g = atomic_load_explicit(&pool.wake, memory_order_acquire)) == seen) {
      if (!spin(&steps, &until, budget)) {
        atomic_fetch_add(&pool.sleepers, 1);
        if (atomic_load(&pool.wake) == seen) futex_wait(&pool.wake, seen);
        atomic_fetch_sub(&pool.sleepers, 1);
      }
    }
    seen = g;
    helped = k < atomic_load_explicit(&pool.helpers, memory_order_acquire);
    if (helped) run_chunks(g, k + 1);
  }
  return NULL;
}

/* Start workers up to `want` (under the lock); fewer where the system refuses threads. */
static void start_workers(int want) {
  int have = atomic_load(&pool.nworkers);
  for (int k = have; k < want; ++k) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    uint64_t arg = ((uint64_t)k << 32) | atomic_load(&pool.wake);
    int rc = pthread_create(&t, &attr, worker_main, (void*)(uintptr_t)arg);
    pthread_attr_destroy(&attr);
    if (rc != 0) break;
    atomic_store(&pool.nworkers, k + 1);
  }
}

static void serial(texpr_body_fn fn, void* closure, int64_t begin, int64_t end) {
  int outer = in_parallel;
  in_parallel = 1;
  fn(closure, begin, end);
  in_parallel = outer;
}

/* Run fn(closure, lo, hi) over chunks covering [begin, end) on up to `nthreads` threads (the
   caller is one of them); returns when every chunk has run. Returns 0. */
int texpr_parallel_for(texpr_body_fn fn, void* closure, int64_t begin, int64_t end, int nthreads) {
  int64_t len = end - begin;
  if (len <= 0) return 0;
  if (nthreads <= 1 || len == 1 || in_parallel || pthread_mutex_trylock(&pool.lock) != 0) {
    atomic_store_explicit(&pool.last_threads, 1, memory_order_relaxed);
    serial(fn, closure, begin, end);
    return 0;
  }
  int workers = nthreads - 1 < TEXPR_POOL_MAX_WORKERS ? nthreads - 1 : TEXPR_POOL_MAX_WORKERS;
  if (atomic_load(&pool.nworkers) < workers) start_workers(workers);
  int nw = atomic_load(&pool.nworkers);
  int helpers = workers < nw ? workers : nw;
  int64_t want = (int64_t)(helpers + 1) * TEXPR_POOL_CHUNKS_PER_THREAD;
  uint32_t n = (uint32_t)(len < want ? len : want);
  int parts = helpers + 1;
  uint32_t g = ++pool.generation;
  if (g == 0) g = ++pool.generation;       /* (0 is the state before any job) */
  /* close claims of the last job before its fields change, then publish this one */
  if (pool.opened < parts) pool.opened = parts;
  for (int q = 0; q < pool.opened; ++q)
    atomic_store(&pool.range[q].next, ((uint64_t)g << 32) | TEXPR_POOL_SETUP);
  atomic_store_explicit(&pool.parts, parts, memory_order_release);
  atomic_store_explicit(&pool.fn, fn, memory_order_release);
  atomic_store_explicit(&pool.closure, closure, memory_order_release);
  atomic_store_explicit(&pool.begin, begin, memory_order_release);
  atomic_store_explicit(&pool.len, len, memory_order_release);
  atomic_store_explicit(&pool.nchunks, n, memory_order_release);
  atomic_store_explicit(&pool.helpers, helpers, memory_order_release);
  atomic_store(&pool.done, 0);
  atomic_store_explicit(&pool.last_threads, helpers + 1, memory_order_relaxed);
  for (int q = 0; q < parts; ++q) atomic_store(&pool.range[q].next, (uint64_t)g << 32);
  atomic_store(&pool.wake, g);
  if (atomic_load(&pool.sleepers) > 0) futex_wake(&pool.wake, INT_MAX);
  in_parallel = 1;
  run_chunks(g, 0);
  in_parallel = 0;
  /* wait for the chunks the workers claimed */
  int steps = 0;
  int64_t until = 0, budget = atomic_load_explicit(&caller_spin_ns, memory_order_relaxed);
  uint32_t d;
  while ((d = atomic_load(&pool.done)) != n) {
    if (!spin(&steps, &until, budget)) {
      atomic_store(&pool.caller_sleeping, 1);
      d = atomic_load(&pool.done);
      if (d != n) futex_wait(&pool.done, d);
      atomic_store(&pool.caller_sleeping, 0);
    }
  }
  pthread_mutex_unlock(&pool.lock);
  return 0;
}

/* ---- introspection and settings (tests, benchmarks) ---- */

/* Workers started in this process. */
int texpr_pool_workers(void) { return atomic_load(&pool.nworkers); }

/* Threads (the caller included) the last job was offered to: 1 when it ran serially. */
int texpr_pool_last_threads(void) { return atomic_load(&pool.last_threads); }

/* 0 in a caller, k + 1 in worker k. */
int texpr_pool_thread_id(void) { return thread_id; }

/* Nanoseconds a worker spins for the next job, and the caller for the join, before sleeping
   (negative: unchanged). */
void texpr_pool_set_spin_ns(int64_t worker, int64_t caller) {
  if (worker >= 0) atomic_store(&worker_spin_ns, worker);
  if (caller >= 0) atomic_store(&caller_spin_ns, caller);
}

/* ---- fork ---- */

/* The child has only the forking thread: forget the workers and the job that may have been
   running (a job starts new workers). Nothing is locked before the fork: a fork from inside
   a chunk (a Python callback) must not wait for its own job. */
static void after_fork_child(void) {
  pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
  pool.lock = fresh;
  atomic_store(&pool.nworkers, 0);
  atomic_store(&pool.sleepers, 0);
  atomic_store(&pool.helpers, 0);
  pool.opened = 0;
  atomic_store(&pool.caller_sleeping, 0);
  in_parallel = 0;
}

__attribute__((constructor)) static void texpr_pool_init(void) {
  pthread_atfork(NULL, NULL, after_fork_child);
}
