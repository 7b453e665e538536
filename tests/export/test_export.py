"""texpr.export: bundles built with their own Makefile and run from a C main (the bundle's
check program) against texpr's Python call: natively, under qemu-aarch64 and qemu-hexagon.
One bundle per module fixture, tiny shapes (each bundle costs gcc / cross compiles)."""
import glob
import os
import subprocess

import numpy as np
import pytest

import texpr as te
import texpr.topi as topi
from texpr.errors import ExportError, TexprError
from texpr.export import export_library
from texpr.export.__main__ import main as export_main
from texpr.topi import models
from texpr.topi.graph import Graph


def _conv_block_graph(target):
    """One conv block as a graph: conv 3x3 + bias + relu, its weights constants."""
    x = te.placeholder((1, 4, 8, 8), name="x")
    w = te.placeholder((8, 4, 3, 3), name="w")
    b = te.placeholder((1, 8, 1, 1), name="b")
    y = topi.nn.relu(topi.nn.add(topi.nn.conv2d_nchw(x, w, 1, 1), b))
    conv = te.build(topi.schedule(y, target), [x, w, b, y], target=target, name="conv_block")
    rng = np.random.default_rng(0)
    g = Graph("conv_block")
    gx = g.input("image", (1, 4, 8, 8))
    out = g.call(conv, gx, g.constant("w", rng.standard_normal((8, 4, 3, 3)).astype("float32")),
                 g.constant("b", rng.standard_normal((1, 8, 1, 1)).astype("float32")),
                 name="conv")
    return g.compile([out])


def _same_as_python(net, bundle, platform):
    x = np.random.default_rng(1).standard_normal((1, 4, 8, 8)).astype("float32")
    want = net(x)[0].copy()
    got, = bundle.run([x], platform=platform)
    assert got.shape == want.shape == (1, 8, 8, 8)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_conv_block_hvx_under_qemu_hexagon(tmp_path):
    net = _conv_block_graph("hvx")
    bundle = export_library(net, tmp_path / "block")
    assert bundle.platforms == ["hexagon"] and bundle.embedded_weights
    _same_as_python(net, bundle, "hexagon")


def test_conv_block_neon_under_qemu_aarch64(tmp_path):
    net = _conv_block_graph("neon")
    bundle = export_library(net, tmp_path / "block", threads="single")
    assert bundle.platforms == ["aarch64"]
    _same_as_python(net, bundle, "aarch64")


# ----------------------------------------------------------------------------- symbolic dims

@pytest.fixture(scope="module")
def dense_any_batch(tmp_path_factory):
    """topi dense with a symbolic batch m, built once for the portable C target (which the
    bundle builds for the host and AArch64)."""
    m = te.var("m")
    x = te.placeholder((m, 24), name="x")
    w = te.placeholder((16, 24), name="w")
    y = topi.nn.relu(topi.nn.dense(x, w))
    f = te.build(topi.schedule(y, "c"), [x, w, y], target="c", name="dense_relu")
    bundle = export_library(f, tmp_path_factory.mktemp("dense") / "dense", max_dims={"m": 64})
    return f, bundle


def test_symbolic_batch_two_sizes(dense_any_batch):
    """One program run per platform: m = 1, then m = 37 (set_dims), against the Python call.
    (One test for both platforms: the tests of a module may run in two pytest workers, each
    building its own bundle.)"""
    f, bundle = dense_any_batch
    assert bundle.dims == ["m"]
    rng = np.random.default_rng(2)
    w = rng.standard_normal((16, 24)).astype("float32")
    cases = [({"m": m}, [rng.standard_normal((m, 24)).astype("float32"), w]) for m in (1, 37)]
    for platform in ("host", "aarch64"):
        got = bundle.run_cases(cases, platform=platform, threads=2)
        for (dims, inputs), (y,) in zip(cases, got):
            assert y.shape == (dims["m"], 16)
            np.testing.assert_allclose(y, f(*inputs), rtol=1e-5, atol=1e-5)
    text = open(os.path.join(bundle.path, "dense_relu.h")).read()
    for api in ("dense_relu_init(", "dense_relu_set_dims(", "dense_relu_input(",
                "dense_relu_run(", "dense_relu_output(", "dense_relu_arena_bytes("):
        assert api in text
    assert "input 0: x  float32 [m, 24]" in text and "DENSE_RELU_STATIC_ARENA_BYTES" in text


def test_size_report_runtime_is_small(dense_any_batch, capsys):
    """python -m texpr.export --report DIR: .text / .rodata per part, for speed and size."""
    _, bundle = dense_any_batch
    assert export_main(["--report", bundle.path]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["part", "kind", ".text", ".rodata"]
    totals = {ln.split()[1]: [int(x) for x in ln.split()[2:]] for ln in lines
              if ln.startswith("total ")}
    parts = {ln.split()[0]: ln.split()[1] for ln in lines[1:] if ln and not ln.startswith("total")}
    assert parts == {"k00_dense_relu": "kernel", "dense_relu_executor": "runtime",
                     "texpr_pool": "runtime", "dense_relu_weights.bin": "weights"}
    text, _, text_small, _ = totals["runtime"]
    assert 0 < text <= 20 * 1024 and text_small <= text
    # -Os and no unrolling: the kernel no larger than the speed build
    assert 0 < totals["kernel"][2] <= totals["kernel"][0]


# ----------------------------------------------------------------------------- models

@pytest.fixture(scope="module")
def resnet_bundle(tmp_path_factory):
    """ResNet-50's structure (bottleneck blocks, one per stage, width 8) on a 32x32 image, in
    portable C kernels: one bundle built for the host and for AArch64, with the size option
    (-Os, no unrolling: the smallest code, and the faster compile), single-threaded (the
    kernels' parallel loops run serially, no thread pool is linked)."""
    net = models.resnet50(image_size=32, width=8, blocks=(1, 1, 1, 1), classes=10, target="c")
    x = np.random.default_rng(3).standard_normal((1, 3, 32, 32)).astype("float32")
    want = net(x)[0].copy()
    bundle = export_library(net, tmp_path_factory.mktemp("resnet") / "resnet", optimize="size",
                            threads="single")
    assert "texpr_pool.c" not in bundle.files
    return bundle, x, want


def test_resnet_bundle_equals_python(resnet_bundle):
    bundle, x, want = resnet_bundle
    for platform in ("host", "aarch64"):
        got, = bundle.run([x], platform=platform, threads=2)
        assert got.shape == want.shape == (1, 10)
        # the tolerance of benchmarks/resnet50.py (here the same kernels: equal in practice)
        assert np.abs(got - want).max() / np.abs(want).max() <= 2e-3


DLRM = dict(num_tables=2, rows=50, dim=8, bottom_mlp=(16, 8), top_mlp=(16, 1), num_dense=5)


@pytest.fixture(scope="module")
def dlrm_bundle(tmp_path_factory):
    """A DLRM-style model built once for any batch (topi.models.dlrm(batch=None))."""
    net = models.dlrm(batch=None, target="c", **DLRM)
    return net, export_library(net, tmp_path_factory.mktemp("dlrm") / "dlrm")


def _dlrm_case(bundle, batch, **kw):
    inp = models.dlrm_inputs(batch, num_tables=2, rows=50, num_dense=5, seed=batch, **kw)
    dims = {"batch": batch, **{f"L{t}": len(inp[f"indices{t}"]) for t in range(2)}}
    return inp, (dims, [inp[n] for n in bundle.plan.inputs])


def test_dlrm_dynamic_batch_1_and_4096(dlrm_bundle):
    """Batch 1 and 4096 in one program run; no heap; a bad index is an error code. (One test:
    the tests of a module may run in two pytest workers, each building its own bundle.)"""
    net, bundle = dlrm_bundle
    assert bundle.dims == ["batch", "L0", "L1"]
    cases = [_dlrm_case(bundle, b, ragged=b > 1) for b in (1, 4096)]
    want = [net(**inp)[0].copy() for inp, _ in cases]
    got = bundle.run_cases([c for _, c in cases], threads=2)
    for (y,), w in zip(got, want):
        assert y.shape == w.shape
        np.testing.assert_allclose(y, w, rtol=1e-6, atol=1e-7)
    # the kernels' temporaries (embedding offsets, symbolic-size buffers) come from the arena:
    # no object of the bundle calls the C heap
    objs = glob.glob(os.path.join(bundle.path, "build", "host", "*.o"))
    undefined = subprocess.run(["nm", "-u"] + objs, capture_output=True, text=True,
                               check=True).stdout.split()
    assert "dlrm_scratch_alloc" in undefined
    assert not {"malloc", "calloc", "realloc", "free", "posix_memalign"} & set(undefined)
    # an embedding index past the table: the kernel's checked index, an error code from C
    inp, (dims, arrays) = _dlrm_case(bundle, 3)
    arrays[bundle.plan.inputs.index("indices1")][2] = 50        # one past the table
    with pytest.raises(TexprError, match="checked index was out of bounds"):
        bundle.run(arrays, dims=dims)


# ----------------------------------------------------------------------------- bad input

def test_gpu_kernel_is_refused(tmp_path):
    A = te.placeholder((16,), name="A")
    B = te.compute((16,), lambda i: A[i] * 2.0, name="B")
    s = te.create_schedule(B.op)
    xo, xi = s[B].split(B.op.axis[0], factor=4)
    s[B].bind(xo, te.thread_axis("blockIdx.x"))
    s[B].bind(xi, te.thread_axis("threadIdx.x"))
    f = te.build(s, [A, B], target="cuda", name="twice")
    with pytest.raises(ExportError, match="kernel twice was built for target 'cuda'"):
        export_library(f, tmp_path / "out")


def _small_kernel():
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: A[i] + 1.0, name="B")
    return te.build(te.create_schedule(B.op), [A, B], target="c", name="plus_one")


def test_missing_parent_and_bad_options(tmp_path):
    f = _small_kernel()
    with pytest.raises(ExportError, match="parent directory .*missing.* does not exist"):
        export_library(f, tmp_path / "missing" / "out")
    with pytest.raises(ExportError, match=r"threads='many'; expected one of \['pool', 'single'\]"):
        export_library(f, tmp_path / "out", threads="many")
    with pytest.raises(ExportError, match="built for target 'c', but the export asks for target 'neon'"):
        export_library(f, tmp_path / "out", target="neon")
    with pytest.raises(ExportError, match="expected a kernel built by te.build"):
        export_library(lambda x: x, tmp_path / "out")


def test_report_of_a_directory_that_is_no_bundle(tmp_path, capsys):
    assert export_main(["--report", str(tmp_path)]) == 2
    assert "is not an exported bundle (no Makefile)" in capsys.readouterr().err


def test_python_only_step_is_refused(tmp_path):
    f = _small_kernel()

    class NumpyStep:             # a graph step computed by NumPy: no C to export
        name = "numpy_plus_one"
        _plan = f._plan

        def __call__(self, a, out):
            out[:] = a + 1

    g = Graph("mixed")
    x = g.input("x", (8,))
    y = g.call(f, x, name="y")
    z = g.call(NumpyStep(), y, name="z")
    net = g.compile([z])
    with pytest.raises(ExportError, match="graph mixed: step z runs .*a Python-only step"):
        export_library(net, tmp_path / "out")


def test_packed_call_is_refused(tmp_path):
    te.register_func("texpr_test_export_noop", lambda *a: 0, override=True)
    A = te.placeholder((4,), name="A")
    B = te.extern((4,), [A], lambda ins, outs: te.call_packed("texpr_test_export_noop", ins[0], outs[0]),
                  name="B", dtype="float32")
    f = te.build(te.create_schedule(B.op), [A, B], target="c", name="calls_python")
    with pytest.raises(ExportError, match="calls Python functions"):
        export_library(f, tmp_path / "out")


def test_target_options_reach_the_makefile(tmp_path):
    """A kernel built for "avx2 -fp-contract=off" is compiled by the bundle with that flag
    (the Target record the module keeps), its headers precompiled with it."""
    A = te.placeholder((16,), name="A")
    B = te.compute((16,), lambda i: A[i] * A[i] + A[i], name="B")
    f = te.build(te.create_schedule(B.op), [A, B], target="avx2 -fp-contract=off", name="madd")
    bundle = export_library(f, tmp_path / "madd")
    assert bundle.platforms == ["host"]
    lines = open(os.path.join(bundle.path, "Makefile")).read().splitlines()
    kernel = lines[next(i for i, ln in enumerate(lines) if "kernels/k00_madd.c" in ln) + 2]
    header = next(ln for ln in lines if "-x c-header" in ln)
    for cmd in (kernel, header):
        assert "-mavx2" in cmd and "-ffp-contract=off" in cmd


def test_temporaries_in_a_parallel_loop_come_from_the_arena(tmp_path):
    """A 48 KB row buffer computed at each row of a parallel loop (over the emitter's stack
    limit: te.build's kernel takes it from posix_memalign) comes from each thread's scratch
    stack in the arena; three threads run it."""
    n = te.var("n")
    A = te.placeholder((n, 12000), name="A")
    B = te.compute((n, 12000), lambda i, j: A[i, j] * 2.0, name="B")
    C = te.compute((n, 12000), lambda i, j: B[i, 11999 - j] + 1.0, name="C")
    s = te.create_schedule(C.op)
    s[B].compute_at(s[C], C.op.axis[0])
    s[C].parallel(C.op.axis[0])
    f = te.build(s, [A, C], target="c", name="reverse_rows")
    assert "posix_memalign" in f.source
    bundle = export_library(f, tmp_path / "rev", max_dims={"n": 16})
    x = np.random.default_rng(4).random((13, 12000)).astype("float32")
    y, = bundle.run([x], dims={"n": 13}, threads=3)
    np.testing.assert_array_equal(y, f(x))
    source = open(os.path.join(bundle.path, "kernels", "k00_reverse_rows.c")).read()
    assert "posix_memalign" not in source and "reverse_rows_scratch_alloc" in source


TWO_BUNDLES_MAIN = r"""
#include <stdio.h>
#include "scale.h"
#include "shift.h"
/* both bundles in one program, each on its own pool: y = 2 x, then z = y + 1 */
int main(void) {
  int64_t n = 40;
  static unsigned char a[1 << 16] __attribute__((aligned(128)));
  static unsigned char b[1 << 16] __attribute__((aligned(128)));
  int rc = scale_init(a, sizeof a, NULL, 0, &n);
  if (rc || (rc = shift_init(b, sizeof b, NULL, 0, &n))) { printf("init: %d\n", rc); return 2; }
  scale_set_num_threads(2);
  shift_set_num_threads(2);
  float* x = (float*)scale_input(0);
  for (int i = 0; i < 40 * 8; ++i) x[i] = (float)i;
  if (scale_run() || shift_set_input(0, scale_output(0), scale_output_bytes(0)) || shift_run())
    return 3;
  const float* z = (const float*)shift_output(0);
  for (int i = 0; i < 40 * 8; ++i)
    if (z[i] != 2.0f * i + 1.0f) { printf("z[%d] = %g\n", i, z[i]); return 1; }
  printf("ok\n");
  return 0;
}
"""


def test_two_bundles_link_into_one_program(tmp_path):
    """Each bundle's thread pool has its functions named after the bundle (texpr_<name>_*): two
    bundles with parallel kernels link into one C main and both run on two threads. Linked
    as objects (archives would pull one bundle's pool only and hide a clash)."""
    n = te.var("n")
    A = te.placeholder((n, 8), name="A")
    libs, objects = [], []
    for name, fn in (("scale", lambda i, j: A[i, j] * 2.0), ("shift", lambda i, j: A[i, j] + 1.0)):
        B = te.compute((n, 8), fn, name="B")
        s = te.create_schedule(B.op)
        s[B].parallel(B.op.axis[0])
        bundle = export_library(te.build(s, [A, B], target="c", name=name), tmp_path / name,
                                max_dims={"n": 64}, weights="c_array")
        objects += bundle.build("host")
        pool = open(os.path.join(bundle.path, "texpr_pool.c")).read()
        assert f"int texpr_{name}_parallel_for(" in pool and "int texpr_parallel_for(" not in pool
        libs.append(bundle)
    main = tmp_path / "main.c"
    main.write_text(TWO_BUNDLES_MAIN)
    exe = tmp_path / "two"
    cmd = ["gcc", "-O1", "-o", str(exe), str(main)] + \
        [f"-I{b.path}" for b in libs] + objects + ["-lm", "-pthread"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout.strip()) == (0, "ok"), r.stdout + r.stderr


def test_size_classes_off_keeps_one_generic_kernel(tmp_path, capsys):
    """A target with `-size-classes=off` builds a specialised schedule's fallback only (one
    generic kernel, right for every size); `python -m texpr.export --report` shows each
    kernel's classes and the smaller code."""
    n = te.var("n")
    A = te.placeholder((n, 16), name="A")
    B = te.compute((n, 16), lambda i, j: A[i, j] * 2.0 + 1.0, name="B")
    s = te.create_schedule(B.op)
    s8 = s.specialize(n == 8)
    s8[B].unroll(B.op.axis[0])
    s8[B].vectorize(B.op.axis[1])
    assert "specialisation" in str(te.lower(s, [A, B], target="c"))
    assert "specialisation" not in str(te.lower(s, [A, B], target="c -size-classes=off"))
    x = np.random.default_rng(5).standard_normal((8, 16)).astype("float32")
    sizes = {}
    for tgt in ("c", "c -size-classes=off"):
        f = te.build(s, [A, B], target=tgt, name="affine")
        np.testing.assert_allclose(f(x), x * 2 + 1, rtol=1e-6)
        bundle = export_library(f, tmp_path / tgt.split()[-1].strip("-"), threads="single")
        assert export_main(["--report", bundle.path]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split()[-1] == "classes"
        kernel = next(ln.split() for ln in lines if ln.startswith("k00_affine"))
        sizes[tgt] = (int(kernel[2]), int(kernel[-1]))      # .text (speed), classes
    assert sizes["c"][1] == 2 and sizes["c -size-classes=off"][1] == 1
    assert sizes["c -size-classes=off"][0] < sizes["c"][0]
    with pytest.raises(TexprError, match="size-classes=on|off"):
        te.build(s, [A, B], target="c -size-classes=maybe")
