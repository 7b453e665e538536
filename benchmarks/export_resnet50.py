#!/usr/bin/env python
"""ResNet-50 exported as a C bundle (texpr.export) beside the same graph run from Python.

    python benchmarks/export_resnet50.py                 # 224x224, 1 thread
    python benchmarks/export_resnet50.py --threads 2
    python benchmarks/export_resnet50.py --quick         # a tiny ResNet (smoke test)
    python benchmarks/export_resnet50.py --aarch64 --image 32   # NEON kernels, the bundle
                                                         # run under qemu-aarch64 (no timing)
    python benchmarks/export_resnet50.py --any-size --quick     # built once for every batch
                                                         # and image size, run from C at two

Measures: building the graph (topi.models.resnet50), exporting it, building the bundle with
its Makefile (make -j host), then the run time of the exported C (a C main timing
<name>_run, in its own process) against the Python graph run (CompiledGraph.run) in
interleaved rounds (Python, C, Python, C, ...), medians; and checks that the C outputs equal
the Python ones within benchmarks/resnet50.py's tolerance.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench  # noqa: E402

if __name__ == "__main__":
    _bench.reexec_without_openblas_overrides(__file__)

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, _bench.ROOT)
from texpr.export import export_library  # noqa: E402
from texpr.topi import models  # noqa: E402

TOL = 2e-3          # benchmarks/resnet50.py: relative to the largest output

BENCH_MAIN = r"""
/* times NAME_run: ./bench WEIGHTS INPUT OUTPUT THREADS RUNS -> prints ms of each run */
#include "NAME.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static void* load(const char* path, size_t n) {
  void* p = aligned_alloc(128, (n + 127) / 128 * 128);
  FILE* f = fopen(path, "rb");
  if (!p || !f || fread(p, 1, n, f) != n) { fprintf(stderr, "cannot read %s\n", path); exit(1); }
  fclose(f);
  return p;
}
int main(int argc, char** argv) {
  if (argc != 6) return 2;
  size_t bytes = NAME_arena_bytes(0);
  void* arena = aligned_alloc(128, (bytes + 127) / 128 * 128);
  void* w = load(argv[1], NAMEU_WEIGHTS_BYTES);
  int rc = NAME_init(arena, bytes, w, NAMEU_WEIGHTS_BYTES, 0);
  if (rc) { fprintf(stderr, "%s\n", NAME_error_string(rc)); return 1; }
  NAME_set_num_threads(atoi(argv[4]));
  void* x = load(argv[2], NAME_input_bytes(0));
  NAME_set_input(0, x, NAME_input_bytes(0));
  int runs = atoi(argv[5]);
  for (int r = -1; r < runs; ++r) {          /* r = -1: warm-up */
    struct timespec t0, t1, c0, c1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    rc = NAME_run();
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc) { fprintf(stderr, "%s\n", NAME_error_string(rc)); return 1; }
    if (r >= 0) printf("%.6f %.6f\n", (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) * 1e-6,
                       (c1.tv_sec - c0.tv_sec) * 1e3 + (c1.tv_nsec - c0.tv_nsec) * 1e-6);
  }
  FILE* f = fopen(argv[3], "wb");
  fwrite(NAME_output(0), 1, NAME_output_bytes(0), f);
  fclose(f);
  return 0;
}
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", type=int, default=224)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5, help="runs per round")
    ap.add_argument("--dir", default=None, help="where to export (default: a temporary dir)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--aarch64", action="store_true",
                    help="build for target neon and check the bundle under qemu-aarch64")
    ap.add_argument("--any-size", action="store_true",
                    help="resnet50(batch=None, image_size=None) exported once, run from C at "
                         "(1, image) and (2, 2 * image)")
    ap.add_argument("--keep-openblas-env", action="store_true")
    args = ap.parse_args(argv)
    kw = dict(width=8, blocks=(1, 1, 1, 1), classes=10) if args.quick else {}
    image = 32 if args.quick else args.image
    print(f"# ResNet-50{' (quick: tiny)' if args.quick else ''}, {image}x{image}, "
          f"{args.threads} thread(s), {_bench.cpu_model()}")
    if args.aarch64:
        return check_aarch64(image, kw, args.dir)
    if args.any_size:
        return check_any_size(image, kw, args.dir)
    t0 = time.perf_counter()
    net = models.resnet50(image_size=image, target="native", **kw)
    t_build = time.perf_counter() - t0
    x = np.random.default_rng(0).standard_normal((1, 3, image, image)).astype(np.float32)
    want = net(x)[0].copy()
    out_dir = args.dir or tempfile.mkdtemp(prefix="texpr_export_")
    t0 = time.perf_counter()
    bundle = export_library(net, os.path.join(out_dir, "resnet50"))
    t_export = time.perf_counter() - t0
    t0 = time.perf_counter()
    bundle.build("host")
    t_make = time.perf_counter() - t0
    with open(os.path.join(bundle.path, "bench_main.c"), "w") as f:
        f.write(BENCH_MAIN.replace("NAMEU", bundle.name.upper()).replace("NAME", bundle.name))
    exe = os.path.join(bundle.path, "bench")
    subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(bundle.path, "bench_main.c"),
                    os.path.join(bundle.path, "build", "host", f"lib{bundle.name}.a"),
                    "-lm", "-pthread"], check=True, cwd=bundle.path)
    xin, yout = os.path.join(bundle.path, "x.bin"), os.path.join(bundle.path, "y.bin")
    x.tofile(xin)
    py, c, py_cpu, c_cpu = [], [], [], []
    with _bench.threads(args.threads):
        net.set_inputs(x)
        net.run()
        for _ in range(args.rounds):
            for _ in range(args.runs):
                t0, c0 = time.perf_counter(), time.process_time()
                net.run()
                py_cpu.append((time.process_time() - c0) * 1e3)
                py.append((time.perf_counter() - t0) * 1e3)
            r = subprocess.run([exe, f"{bundle.name}_weights.bin", xin, yout, str(args.threads),
                                str(args.runs)], cwd=bundle.path, capture_output=True, text=True,
                               check=True)
            vals = [float(t) for t in r.stdout.split()]
            c += vals[0::2]
            c_cpu += vals[1::2]
    got = np.fromfile(yout, np.float32).reshape(want.shape)
    err = float(np.abs(got - want).max() / np.abs(want).max())
    print(f"texpr graph build   {t_build:8.1f} s")
    print(f"export_library      {t_export:8.1f} s  ({len(bundle.plan.kernels)} kernels, "
          f"{len(bundle.plan.steps)} steps, weights {os.path.getsize(bundle.files[bundle.name + '_weights.bin']) / 1e6:.1f} MB)")
    print(f"make host (-j)      {t_make:8.1f} s")
    print(f"run: Python graph   {statistics.median(py):8.2f} ms (median of {len(py)})")
    print(f"run: exported C     {statistics.median(c):8.2f} ms (median of {len(c)})   "
          f"C / Python = {statistics.median(c) / statistics.median(py):.3f}")
    print(f"CPU time: Python    {statistics.median(py_cpu):8.2f} ms, C "
          f"{statistics.median(c_cpu):8.2f} ms   C / Python = "
          f"{statistics.median(c_cpu) / statistics.median(py_cpu):.3f} (all threads; less "
          f"disturbed by other processes than wall time)")
    report_error(err)


def report_error(err, what="outputs"):
    """Print the bundle's largest error relative to the Python run; exit if above TOL."""
    print(f"{what}: max error {err:.2e} of the largest (tolerance {TOL:.0e})")
    if not err <= TOL:
        raise SystemExit("the exported C differs from the Python run")


def check_aarch64(image, kw, out_dir):
    """ResNet-50 of NEON kernels: the graph run in Python (each kernel under qemu-aarch64)
    against the exported bundle's check program under qemu-aarch64."""
    t0 = time.perf_counter()
    net = models.resnet50(image_size=image, target="neon", **kw)
    x = np.random.default_rng(0).standard_normal((1, 3, image, image)).astype(np.float32)
    want = net(x)[0].copy()
    t1 = time.perf_counter()
    bundle = export_library(net, os.path.join(out_dir or tempfile.mkdtemp(prefix="texpr_export_"),
                                              "resnet50"))
    got, = bundle.run([x], platform="aarch64")
    t2 = time.perf_counter()
    err = float(np.abs(got - want).max() / np.abs(want).max())
    print(f"neon graph built and run in Python (qemu per kernel) {t1 - t0:.1f} s; exported, "
          f"built for aarch64 and run under qemu-aarch64 {t2 - t1:.1f} s "
          f"({len(bundle.plan.kernels)} kernels, {len(bundle.plan.steps)} steps)")
    report_error(err)


def check_any_size(image, kw, out_dir):
    """ResNet-50 built once for every batch and image size (portable C kernels), exported
    once, run from C at two sizes against the Python graph."""
    t0 = time.perf_counter()
    net = models.resnet50(batch=None, image_size=None, target="c", **kw)
    bundle = export_library(net, os.path.join(out_dir or tempfile.mkdtemp(prefix="texpr_export_"),
                                              "resnet50_any"))
    cases, want = [], []
    for n, hw in ((1, image), (2, 2 * image)):
        x = np.random.default_rng(hw).standard_normal((n, 3, hw, hw)).astype(np.float32)
        want.append(net(x)[0].copy())
        cases.append((dict(zip(bundle.dims, (n, hw, hw))), [x]))
    got = bundle.run_cases(cases, threads=2)
    for (dims, _), (y,), w in zip(cases, got, want):
        err = float(np.abs(y - w).max() / np.abs(w).max())
        report_error(err, f"dims {dims}")
    print(f"built, exported, run at two sizes in {time.perf_counter() - t0:.1f} s "
          f"({len(bundle.plan.kernels)} kernels; dims {bundle.dims})")


if __name__ == "__main__":
    main()
