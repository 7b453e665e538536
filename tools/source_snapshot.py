#!/usr/bin/env python
"""Snapshot of the source texpr generates for a catalogue of kernels, to prove that a
refactor changed no generated code.

Why (issue 14): a refactor of texpr/ (lowering passes, emitters, topi schedules) must leave
the generated C / CUDA / OpenCL byte-identical, unless its commit message says which kernels
change and why. Tests only check that results are right; this checks that the code is the same.

    python tools/source_snapshot.py write DIR      # before the refactor
    python tools/source_snapshot.py compare DIR    # after: exit 1 if any source differs
    python tools/source_snapshot.py compare DIR --only avx512__conv --jobs 2

`write` stores each kernel's source in DIR/<key>.c (key = target__name__variant) and
DIR/manifest.json (sha256 and lowering + emit seconds per kernel, the host CPU). `compare`
regenerates every kernel and prints, for each one that differs, a unified diff (its first
lines), the kernels added or missing, and the total lowering time before and now; it exits 1
when a source differs or a kernel is missing. --only SUBSTR keeps the keys containing SUBSTR.

Nothing is compiled: texpr.build is replaced by a recorder that lowers and emits the schedule
for its target (what build does before it calls the compiler) and returns a stub, so the
benchmarks' own builder functions (benchmarks/*.py) can be used as they are. The catalogue:
the demo's kernels (texpr/demo.py), the benchmarks' kernels, and texpr.topi's operators under
topi.schedule on every target (never "native", which depends on the host). A kernel that
fails to lower is stored as its error message, so a change in the failure shows too.
os.cpu_count() is fixed at 2 while the catalogue is built (the Winograd schedule reads it).
"""
import argparse
import contextlib
import difflib
import hashlib
import importlib.util
import json
import multiprocessing
import os
import re
import sys
import time
from typing import Callable, NamedTuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")
sys.path.insert(0, ROOT)
sys.path.insert(0, BENCH)       # benchmarks/gpu.py does `from conv import LAYERS`

import numpy as np  # noqa: E402

import texpr as te  # noqa: E402
import texpr.topi as topi  # noqa: E402
from texpr.targets import get_target, lower_for_target  # noqa: E402
from texpr.topi import testing as ref  # noqa: E402

FIXED_CPU_COUNT = 2
DIFF_LINES = 60
CPU = ("c", "avx2", "avx512", "neon")
GPU = ("cuda", "opencl")


# ----------------------------------------------------------------------------- lowering

def emit_source(sch, args, target, name):
    """The source te.build(sch, args, target, name) would compile (lower + emit, no compiler).
    texpr.targets.emit_source where the tree has it; the same steps spelled out in trees from
    before it existed (so a baseline can be written on an older commit)."""
    try:
        from texpr.targets import emit_source as emit
    except ImportError:
        emit = None
    if emit is not None:
        return emit(sch, args, target, name)
    if target in GPU:
        from texpr.lower.gpu import lower_gpu
        from texpr.targets.gpu_build import emit_gpu
        return emit_gpu(lower_gpu(sch, args, name, target), target)[0]
    func = lower_for_target(sch, args, name, target)
    return get_target(target).emitter(func).emit()[0]


def failure_text(what, exc):
    # addresses in a message (reprs of objects) change from run to run; the rest must not
    msg = re.sub(r"0x[0-9a-fA-F]+", "0x?", f"{type(exc).__name__}: {exc}")
    return f"/* {what} FAILED */\n{msg}\n"


def is_failure(source):
    return source.split("\n", 1)[0].endswith(" FAILED */")


class Stub:
    """What the recorder's build returns instead of a compiled module."""

    def __init__(self, source):
        self.source = source

    def __call__(self, *args):
        raise RuntimeError("source_snapshot: kernels are not compiled")


class Recorder:
    """Stands in for texpr.build: lowers and emits, records (name, source, seconds)."""

    def __init__(self, repeat=1):
        self.records = []
        self.repeat = repeat        # lower + emit this many times, keep the fastest

    def build(self, sch, args, target="native", name="main"):
        if target == "native":
            raise ValueError("source_snapshot: target 'native' depends on the host")
        best = float("inf")
        for _ in range(self.repeat):
            t0 = time.process_time()
            try:
                source = emit_source(sch, args, target, name)
            except Exception as e:      # noqa: BLE001  (the failure is the snapshot)
                source = failure_text("LOWERING", e)
            best = min(best, time.process_time() - t0)
        self.records.append((name, source, best))
        return Stub(source)


@contextlib.contextmanager
def recording(recorder):
    """Replace texpr.build wherever a module bound it (texpr.build, texpr.targets.build,
    `te.build` in the benchmarks, `from texpr import build`) by recorder.build."""
    from texpr.targets import build as real_build
    patched = []
    for mod in list(sys.modules.values()):
        for attr, val in list(getattr(mod, "__dict__", {}).items()):
            if val is real_build:
                patched.append((mod, attr))
                setattr(mod, attr, recorder.build)
    try:
        yield
    finally:
        for mod, attr in patched:
            setattr(mod, attr, real_build)


def build(sch_args, target, name):
    """te.build of a (schedule, args) pair; inside `recording` this is the recorder."""
    sch, args = sch_args
    return te.build(sch, args, target=target, name=name)


# ----------------------------------------------------------------------------- the catalogue

class Entry(NamedTuple):
    target: str
    name: str
    variant: str
    make: Callable[[], object]      # calls te.build once or more (recorded)

    @property
    def key(self):
        return safe_key(f"{self.target}__{self.name}__{self.variant}")


def safe_key(text):
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", text)


def bench(stem):
    """benchmarks/<stem>.py imported by path (as benchmarks_<stem>)."""
    name = f"benchmarks_{stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(BENCH, f"{stem}.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


def demo_entries():
    from texpr import demo
    out = []
    for t in ("avx2", "avx512", "neon"):      # "native" in the demo is one of these
        bits = get_target(t).vector_bits
        out += [
            Entry(t, "demo_vector_add", "n4194304",
                  lambda t=t: build(demo.vector_add(1 << 22), t, "vector_add")),
            Entry(t, "demo_row_sum", "4096x1024",
                  lambda t=t: build(demo.row_sum(4096, 1024), t, "row_sum")),
            Entry(t, "demo_blur", "2048x2048", lambda t=t: build(demo.blur(2048, 2048), t, "blur")),
            Entry(t, "demo_elementwise_chain", "n4194304",
                  lambda t=t: build(demo.elementwise_chain(1 << 22), t, "elementwise_chain")),
            Entry(t, "demo_matmul", "1024",
                  lambda t=t, b=bits: build(demo.matmul(1024, b), t, "matmul")),
            Entry(t, "demo_topi_dense", "1024",
                  lambda t=t: build(demo.topi_dense(1024, t), t, "dense")),
        ]
    return out


def matmul_entries(size=1024):
    mm = bench("matmul")
    out = []
    for t in ("avx2", "avx512"):
        for num, label, fn, _ in mm.STEPS:
            def make(t=t, num=num, fn=fn):
                return build(fn(size, size, size, mm.default_config(t)), t, f"matmul_step{num}")
            out.append(Entry(t, f"bench_matmul_step{num}", f"{label.replace(' ', '_')}_{size}",
                             make))
    return out


def dense_entries():
    dense, i8 = bench("dense"), bench("int8_dense")
    out = []
    for t in ("avx2", "avx512"):
        out.append(Entry(t, "bench_dense", "1024",
                         lambda t=t: dense.build_dense(1024, 1024, 1024, t)))
        out.append(Entry(t, "bench_bmm", "64x128",
                         lambda t=t: dense.build_bmm(64, 128, 128, 128, t)))
        out.append(Entry(t, "bench_int8_dense", "1024", lambda t=t: i8.build_dense(1024, t)))
    return out


CONV_LAYERS = (0, 3, 4, 5)      # indices into benchmarks/conv.py LAYERS: 3x3 early/late, 1x1, stem


def conv_entries(targets=("avx2", "avx512")):
    conv = bench("conv")
    out = []
    for t in targets:
        for i in CONV_LAYERS:
            spec = conv.LAYERS[i]
            variants = conv.VARIANTS if spec[4] == 3 and spec[5] == 1 else ["nchw", "nchwc"]
            for v in variants:
                def make(t=t, spec=spec, v=v):
                    return conv.Layer(spec, t, np.random.default_rng(0)).build(v)
                out.append(Entry(t, f"bench_conv_{v}", f"layer{i}", make))
    return out


def sparse_entries():
    """build_sls is the benchmark's builder; its other sections build inline and then time
    (bench_gather, bench_sparse_dense, bench_interaction): their graphs are rebuilt here."""
    sp = bench("sparse")
    out = []
    for t in ("avx2", "avx512"):
        out.append(Entry(t, "bench_sparse_lengths_sum", "1000000x64",
                         lambda t=t: sp.build_sls(1_000_000, 64, t)))
        out.append(Entry(t, "bench_batch_gather", "256x512x64", lambda t=t: build(
            topi_batch_gather(256, 512, 64, 64)(t), t, "batch_gather")))
        for case in range(3):
            def make(t=t, c=case):
                return build(bench_sparse_dense(c)(t), t, "sparse_dense")
            out.append(Entry(t, "bench_sparse_dense", SPARSE_CASES[case][0], make))
        out.append(Entry(t, "bench_dot_interaction", "2048x26x64", lambda t=t: build(
            topi_dot_interaction(2048, 26, 64)(t), t, "dot_interaction")))
    return out


# benchmarks/sparse.py bench_sparse_dense: M, K, N = 128, 2048, 2048; (format, sparsity, bs)
SPARSE_CASES = [("csr90", 0.9, 1, 1), ("csr99", 0.99, 1, 1), ("bsr4x1_90", 0.9, 4, 1)]


def bench_sparse_dense(case):
    """The benchmark's case `case`: its random sparsity pattern (same seed, same draws)."""
    M, K, N = 128, 2048, 2048
    rng = np.random.default_rng(2)
    rng.standard_normal((M, K), dtype=np.float32)
    for _, sparsity, bs_r, bs_c in SPARSE_CASES[:case + 1]:
        mask = rng.random((N // bs_r, K // bs_c)) >= sparsity
        W = rng.standard_normal((N, K), dtype=np.float32) * \
            np.repeat(np.repeat(mask, bs_r, 0), bs_c, 1)
    return topi_sparse_dense(M, K, W, bs_r, bs_c)


def hvx_entries(n=4096):
    """The makers' schedules built as measure() builds them (it then runs qemu and objdump)."""
    hvx = bench("hvx")
    out = []
    for label, make in hvx.KERNELS:
        for vector in (True, False):
            def run(make=make, vector=vector):
                return build(make(vector, n)[:2], "hvx", "kernel")
            out.append(Entry("hvx", f"bench_hvx_{make.__name__}",
                             f"{'vector' if vector else 'scalar'}_{n}", run))
    return out


def gpu_entries():
    """build_dense at OpenCL's size (run_cuda uses --size 4096: the same schedule, larger
    grid), build_conv on the CPU conv layers."""
    gpu, conv = bench("gpu"), bench("conv")
    out = []
    for t in GPU:
        out.append(Entry(t, "bench_gpu_dense", "1024",
                         lambda t=t: gpu.build_dense(1024, 1024, 1024, t)))
        for i in CONV_LAYERS:
            spec = conv.LAYERS[i]
            out.append(Entry(t, "bench_gpu_conv", f"layer{i}",
                             lambda t=t, spec=spec: gpu.build_conv(*spec[1:], t)))
    return out


# ----------------------------------------------------------------------------- topi operators
# each returns (schedule, args) for a target; shapes as in tests/test_topi*.py, a little larger

def ph(shape, name, dtype="float32"):
    return te.placeholder(tuple(shape), dtype, name=name)


def scheduled(out, ins, target):
    return topi.schedule(out, target), list(ins) + [out]


def topi_dense(t, bias_relu=False, dtype="float32"):
    x, w, b = ph((150, 96), "x", dtype), ph((64, 96), "w", dtype), ph((64,), "b")
    if bias_relu:
        return scheduled(topi.nn.relu(topi.nn.dense(x, w, b)), [x, w, b], t)
    return scheduled(topi.nn.dense(x, w), [x, w], t)


def topi_dense_pack(t):
    x, wp = ph((150, 96), "x"), ph((4, 96, 16), "wp")
    return scheduled(topi.nn.dense_pack(x, wp, units=64), [x, wp], t)


def topi_batch_matmul(t):
    x, y = ph((4, 32, 48), "x"), ph((4, 40, 48), "y")
    return scheduled(topi.nn.batch_matmul(x, y), [x, y], t)


def topi_conv2d_nchw(t, dtype="float32"):
    x, w, b = ph((1, 16, 14, 14), "x", dtype), ph((32, 16, 3, 3), "w", dtype), ph((32,), "b")
    out = topi.nn.conv2d_nchw(x, w, 1, 1)
    if dtype != "float32":
        return scheduled(out, [x, w], t)
    return scheduled(topi.nn.relu(topi.nn.bias_add(out, b)), [x, w, b], t)


def topi_conv2d_nchw_strided(t):
    x, w = ph((1, 8, 15, 13), "x"), ph((16, 4, 3, 3), "w")
    return scheduled(topi.nn.conv2d_nchw(x, w, 2, 1, groups=2), [x, w], t)


def topi_conv2d_NCHWc(t, dtype="float32", oc=16):
    x, w = ph((1, 2, 10, 10, 16), "x", dtype), ph((2, 2, 3, 3, 16, oc), "w", dtype)
    return scheduled(topi.nn.conv2d_NCHWc(x, w, 1, 1), [x, w], t)


def topi_winograd_nchw(t):
    from texpr.topi.winograd import winograd_weight_transform_ref
    u = winograd_weight_transform_ref(np.zeros((32, 16, 3, 3), np.float32), 4, "IO")
    x, U = ph((1, 16, 12, 12), "x"), ph(u.shape, "U")
    out = topi.nn.conv2d_winograd_nchw(x, U, 1, 4, pre_transformed=True, weight_layout="IO")
    return scheduled(out, [x, U], t)


def topi_winograd_NCHWc(t):
    u = ref.winograd_weight_transform_NCHWc_ref(np.zeros((2, 2, 3, 3, 16, 16), np.float32), 4)
    x, U = ph((1, 2, 12, 12, 16), "x"), ph(u.shape, "U")
    return scheduled(topi.nn.conv2d_winograd_NCHWc(x, U, 1, 4, pre_transformed=True), [x, U], t)


def topi_depthwise_nchw(t, dtype="float32"):
    x, w = ph((1, 8, 14, 19), "x", dtype), ph((8, 1, 3, 3), "w", dtype)
    return scheduled(topi.nn.depthwise_conv2d_nchw(x, w, 1, 1), [x, w], t)


def topi_depthwise_NCHWc(t):
    x, w = ph((1, 2, 10, 9, 16), "x"), ph((2, 3, 3, 16), "w")
    return scheduled(topi.nn.depthwise_conv2d_NCHWc(x, w, 2, 1), [x, w], t)


def topi_pool2d(t, kind="max", blocked=False, dtype="float32"):
    shape = (1, 3, 9, 40) + ((16,) if blocked else ())
    x = ph(shape, "x", dtype)
    return scheduled(topi.nn.pool2d(x, 3, 2, 1, kind, True), [x], t)


def topi_global_pool(t):
    x = ph((2, 32, 7, 7), "x")
    return scheduled(topi.nn.global_pool(x), [x], t)


def topi_softmax(t):
    x = ph((16, 1000), "x")
    return scheduled(topi.nn.softmax(x), [x], t)


def topi_relu_add(t, dtype="float32"):
    a, b = ph((3, 200), "a", dtype), ph((3, 200), "b", dtype)
    return scheduled(topi.nn.relu(topi.nn.add(a, b)), [a, b], t)


def topi_sls(t, kind="sum"):
    B, L = te.var("B"), te.var("L")
    idx, lens = ph((L,), "indices", "int32"), ph((B,), "lengths", "int32")
    if kind == "8bit":
        data, scale, bias = ph((1000, 64), "data_q", "uint8"), ph((1000,), "scale"), \
            ph((1000,), "bias")
        out = topi.sparse.sparse_lengths_sum_8bit_rowwise(data, scale, bias, idx, lens)
        return scheduled(out, [data, scale, bias, idx, lens], t)
    data = ph((1000, 64), "data")
    if kind == "weighted":
        w = ph((L,), "weights")
        return scheduled(topi.sparse.sparse_lengths_weighted_sum(data, w, idx, lens),
                         [data, w, idx, lens], t)
    op = topi.sparse.sparse_lengths_mean if kind == "mean" else topi.sparse.sparse_lengths_sum
    return scheduled(op(data, idx, lens), [data, idx, lens], t)


def topi_batch_gather(B, N, M, D):
    def make(t):
        d, i = ph((B, N, D), "data"), ph((B, M), "indices", "int32")
        return scheduled(topi.sparse.batch_gather(d, i), [d, i], t)
    return make


def topi_sparse_dense(M, K, W, bs_r, bs_c):
    """sparse_dense with W [N, K] in BSR (CSR when 1 x 1): the placeholders' shapes are
    those of topi.testing.dense_to_bsr_ref(W, bs_r, bs_c) (computed here without its loops)."""
    N = W.shape[0]
    nnzb = int((W.reshape(N // bs_r, bs_r, K // bs_c, bs_c) != 0).any(axis=(1, 3)).sum())
    data_shape = (nnzb,) if bs_r * bs_c == 1 else (nnzb, bs_r, bs_c)

    def make(t):
        X, a = ph((M, K), "x"), ph(data_shape, "w_data")
        b, c = ph((nnzb,), "w_indices", "int32"), ph((N // bs_r + 1,), "w_indptr", "int32")
        return scheduled(topi.sparse.sparse_dense(X, a, b, c), [X, a, b, c], t)
    return make


def topi_dot_interaction(B, F, D):
    def make(t):
        dn, em = ph((B, D), "dense"), ph((B, F, D), "embs")
        return scheduled(topi.sparse.dot_interaction(dn, em), [dn, em], t)
    return make


def _small_sparse_w():
    rng = np.random.default_rng(4)
    return rng.standard_normal((64, 96)).astype(np.float32) * (rng.random((64, 96)) >= 0.8)


def topi_qnn_depthwise(t):
    X, K = ph((1, 4, 8, 128), "X", "uint8"), ph((4, 1, 3, 3), "K", "uint8")
    B = ph((4,), "B", "int32")
    O = topi.qnn.depthwise_conv2d_nchw_u8(X, K, B, padding=1, x_zp=7, w_zp=120,
                                          multiplier=1518500250, shift=6, out_zp=30)
    return scheduled(O, [X, K, B], t)


def topi_dense_int8_packed(t):
    A, WP = ph((8, 96), "A", "uint8"), ph((2, 24, 64, 4), "WP", "int8")
    return scheduled(topi.qnn.dense_int8_packed(A, WP), [A, WP], t)


# (name, variant, make(target)): float operators, on every target
TOPI_FLOAT = [
    ("dense", "bias_relu", lambda t: topi_dense(t, bias_relu=True)),
    ("dense_pack", "150x64x96", topi_dense_pack),
    ("batch_matmul", "4x32x40x48", topi_batch_matmul),
    ("conv2d_nchw", "bias_relu", topi_conv2d_nchw),
    ("conv2d_nchw", "stride2_groups2", topi_conv2d_nchw_strided),
    ("conv2d_NCHWc", "32x10x10", topi_conv2d_NCHWc),
    ("winograd_nchw", "m4", topi_winograd_nchw),
    ("winograd_NCHWc", "m4", topi_winograd_NCHWc),
    ("depthwise_nchw", "8x14x19", topi_depthwise_nchw),
    ("depthwise_NCHWc", "32x10x9", topi_depthwise_NCHWc),
    ("pool2d", "max", topi_pool2d),
    ("pool2d", "avg_NCHWc", lambda t: topi_pool2d(t, "avg", blocked=True)),
    ("global_pool", "avg", topi_global_pool),
    ("softmax", "16x1000", topi_softmax),
    ("sparse_lengths_sum", "1000x64", topi_sls),
    ("sparse_lengths_weighted_sum", "1000x64", lambda t: topi_sls(t, "weighted")),
    ("sparse_lengths_sum_8bit_rowwise", "1000x64", lambda t: topi_sls(t, "8bit")),
    ("batch_gather", "16x128x32x64", lambda t: topi_batch_gather(16, 128, 32, 64)(t)),
    ("sparse_dense", "csr_32x96x64",
     lambda t: topi_sparse_dense(32, 96, _small_sparse_w(), 1, 1)(t)),
    ("dot_interaction", "256x26x64", lambda t: topi_dot_interaction(256, 26, 64)(t)),
]

# integer / quantised operators: the HVX schedules, and the same graphs on avx2
TOPI_INT = [
    ("qnn_depthwise_u8", "4x8x128", topi_qnn_depthwise),
    ("dense_int8_packed", "8x128x96", topi_dense_int8_packed),
    ("dense", "int8", lambda t: topi_dense(t, dtype="int8")),
    ("conv2d_nchw", "int8", lambda t: topi_conv2d_nchw(t, dtype="int8")),
    ("conv2d_NCHWc", "int8_oc64", lambda t: topi_conv2d_NCHWc(t, dtype="int8", oc=64)),
    ("depthwise_nchw", "int16", lambda t: topi_depthwise_nchw(t, dtype="int16")),
    ("pool2d", "max_uint8", lambda t: topi_pool2d(t, dtype="uint8")),
    ("relu_add", "int8", lambda t: topi_relu_add(t, dtype="int8")),
]


def topi_entries():
    out = []
    for targets, ops in ((CPU + GPU, TOPI_FLOAT), (("hvx", "avx2"), TOPI_INT)):
        for t in targets:
            for name, variant, make in ops:
                out.append(Entry(t, f"topi_{name}", variant,
                                 lambda t=t, make=make, name=name: build(make(t), t, name)))
    return out


def elementwise(fn, dtypes_, n=64, lanes=None, name="k"):
    """out[i] = fn(*inputs[i]) over n elements of the given input dtypes, vectorized by lanes
    (a schedule per target: its vector width when lanes is None)."""
    def make(t):
        ins = [te.placeholder((n,), dtype=d, name=f"X{k}") for k, d in enumerate(dtypes_)]
        out = te.compute((n,), lambda i: fn(*[x[i] for x in ins]), name=name)
        s = te.create_schedule(out.op)
        width = lanes or max(1, get_target(t).vector_bits // 8 // np.dtype(out.dtype).itemsize)
        _, ii = s[out].split(out.op.axis[0], factor=width)
        s[out].vectorize(ii)
        return s, ins + [out]
    return make


def isel_entries():
    """Patterns instruction selection rewrites (fused multiply-add in every form, widening
    multiplies and multiply-accumulates, saturating narrowings and additions), vectorized on
    every CPU target, 128- and 256-bit vectors of each element width."""
    def wide(d):
        return lambda x: x.astype(d)
    cases = {
        "fma_ab_plus_c": (lambda a, b, c: a * b + c, ["float32"] * 3),
        "fma_c_plus_ab": (lambda a, b, c: c + a * b, ["float32"] * 3),
        "fma_ab_minus_c": (lambda a, b, c: a * b - c, ["float32"] * 3),
        "fma_c_minus_ab": (lambda a, b, c: c - a * b, ["float32"] * 3),
        "fma_f64": (lambda a, b, c: c - a * b + a * c, ["float64"] * 3),
        "fma_nested": (lambda a, b, c: (a * b + c) * c - a * (b + c), ["float32"] * 3),
    }
    for nb, wb in ((8, 16), (16, 32), (32, 64)):
        for sa, sb in (("", ""), ("u", "u"), ("", "u"), ("u", "")):
            da, db = f"{sa}int{nb}", f"{sb}int{nb}"
            w = f"int{wb}"
            cases[f"wmul_{da}_{db}"] = (lambda a, b, w=w: a.astype(w) * b.astype(w), [da, db])
            cases[f"wmla_{da}_{db}"] = (lambda a, b, c, w=w: c + a.astype(w) * b.astype(w),
                                        [da, db, w])
            cases[f"wmla2_{da}_{db}"] = (lambda a, b, c, w=w: a.astype(w) * b.astype(w) + c,
                                         [da, db, w])
        cases[f"wmul_scalar_{nb}"] = (lambda a, w=f"int{wb}", d=f"int{nb}":
                                      a.astype(w) * te.const(3, d).astype(w), [f"int{nb}"])
    for nd, wd in (("int8", "int16"), ("uint8", "int16"), ("int16", "int32"), ("uint16", "int32"),
                   ("int8", "int32"), ("uint8", "int32")):
        lo, hi = (np.iinfo(nd).min, np.iinfo(nd).max)
        cases[f"sat_narrow_{wd}_{nd}"] = (
            lambda x, nd=nd, wd=wd, lo=lo, hi=hi: te.min(te.max(x, te.const(int(lo), wd)),
                                                          te.const(int(hi), wd)).astype(nd), [wd])
        cases[f"sat_add_{nd}"] = (
            lambda a, b, nd=nd, wd=wd, lo=lo, hi=hi: te.max(te.min(
                a.astype(wd) + b.astype(wd), te.const(int(hi), wd)), te.const(int(lo), wd)).astype(nd),
            [nd, nd])
        cases[f"sat_sub_{nd}"] = (
            lambda a, b, nd=nd, wd=wd, lo=lo, hi=hi: te.min(te.max(
                a.astype(wd) - b.astype(wd), te.const(int(lo), wd)), te.const(int(hi), wd)).astype(nd),
            [nd, nd])
    out = []
    for t in ("c", "avx2", "avx512", "neon", "hvx"):
        for name, (fn, dts) in cases.items():
            if t == "hvx" and "float" in "".join(dts):
                continue
            for lanes in (None, 8, 16):
                out.append(Entry(t, f"isel_{name}", f"lanes{lanes or 'native'}",
                                 lambda t=t, fn=fn, dts=dts, lanes=lanes:
                                 build(elementwise(fn, dts, lanes=lanes)(t), t, "k")))
    return out


def catalogue():
    entries = (demo_entries() + matmul_entries() + dense_entries() + conv_entries()
               + sparse_entries() + hvx_entries() + gpu_entries() + topi_entries()
               + isel_entries())
    keys = [e.key for e in entries]
    dup = {k for k in keys if keys.count(k) > 1}
    assert not dup, f"duplicate keys: {sorted(dup)}"
    return entries


# ----------------------------------------------------------------------------- running

RECORDER = Recorder()


def run_entry(entry):
    """[(key, source, seconds)] for the kernels one entry builds (one key per te.build);
    runs inside `recording(RECORDER)`."""
    RECORDER.records = []
    error = None
    try:
        entry.make()
    except Exception as e:      # noqa: BLE001
        error = failure_text("SCHEDULE", e)
    recs = RECORDER.records
    if len(recs) == 1:
        out = [(entry.key, recs[0][1], recs[0][2])]
    else:                           # a builder with several kernels: one key per build name
        out = [(safe_key(f"{entry.key}-{name}"), src, sec) for name, src, sec in recs]
    if error is not None:
        out.append((entry.key + "-error" if out else entry.key, error, 0.0))
    return out


_ENTRIES = []       # the selected entries (module level: forked workers see them)


def _run_index(i):
    return run_entry(_ENTRIES[i])


def generate(only=None, jobs=1, repeat=1):
    """{key: (source, seconds)} for the catalogue (keys containing `only`); seconds is the
    least CPU time of `repeat` lowerings (the machines are shared: the minimum is stable)."""
    RECORDER.repeat = repeat
    os.cpu_count = lambda: FIXED_CPU_COUNT      # schedules that count cores see a fixed machine
    _ENTRIES[:] = [e for e in catalogue() if not only or only in e.key]
    with recording(RECORDER):
        if jobs > 1:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                parts = pool.map(_run_index, range(len(_ENTRIES)), chunksize=1)
        else:
            parts = [_run_index(i) for i in range(len(_ENTRIES))]
    return {key: (src, sec) for part in parts for key, src, sec in part}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def summary(kernels, wall):
    by_target = {}
    for key in kernels:
        t = key.split("__", 1)[0]
        by_target[t] = by_target.get(t, 0) + 1
    lowering = sum(sec for _, sec in kernels.values())
    failed = sorted(k for k, (src, _) in kernels.items() if is_failure(src))
    print(f"{len(kernels)} kernels (" + ", ".join(f"{t} {n}" for t, n in sorted(by_target.items()))
          + f"); lowering + emit {lowering:.1f} s, wall {wall:.1f} s")
    if failed:
        print(f"{len(failed)} kernels fail to lower (stored as their error): " + ", ".join(failed))


# ----------------------------------------------------------------------------- commands

def write(directory, only, jobs, repeat):
    t0 = time.perf_counter()
    kernels = generate(only, jobs, repeat)
    wall = time.perf_counter() - t0
    os.makedirs(directory, exist_ok=True)
    for key, (src, _) in kernels.items():
        with open(os.path.join(directory, key + ".c"), "w") as f:
            f.write(src)
    manifest = {"cpu": cpu_model(), "only": only, "wall_seconds": round(wall, 2),
                "kernels": {k: {"sha256": sha(src), "seconds": round(sec, 4)}
                            for k, (src, sec) in sorted(kernels.items())}}
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    summary(kernels, wall)
    print(f"written to {directory}")
    return 0


def compare(directory, only, jobs, repeat):
    with open(os.path.join(directory, "manifest.json")) as f:
        old = json.load(f)
    old_k = {k: v for k, v in old["kernels"].items() if not only or only in k}
    t0 = time.perf_counter()
    new = generate(only, jobs, repeat)
    wall = time.perf_counter() - t0
    differ = []
    for key in sorted(set(old_k) & set(new)):
        src = new[key][0]
        if sha(src) == old_k[key]["sha256"]:
            continue
        differ.append(key)
        with open(os.path.join(directory, key + ".c")) as f:
            before = f.read()
        diff = list(difflib.unified_diff(before.splitlines(), src.splitlines(), f"before/{key}.c",
                                         f"now/{key}.c", lineterm=""))
        print(f"=== {key}: differs ({len(diff)} diff lines)")
        print("\n".join(diff[:DIFF_LINES]) + ("\n..." if len(diff) > DIFF_LINES else ""))
    added, missing = sorted(set(new) - set(old_k)), sorted(set(old_k) - set(new))
    for key in added:
        print(f"added:   {key}")
    for key in missing:
        print(f"missing: {key}")
    common = set(old_k) & set(new)
    t_old = sum(old_k[k]["seconds"] for k in common)
    t_new = sum(new[k][1] for k in common)
    ratio = t_new / max(t_old, 1e-9)
    print(f"lowering + emit of the {len(common)} common kernels: before {t_old:.1f} s "
          f"({old['cpu']}), now {t_new:.1f} s ({cpu_model()}): ratio {ratio:.2f}")
    summary(new, wall)
    print(f"{len(differ)} differ, {len(added)} added, {len(missing)} missing")
    return 1 if differ or missing else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["write", "compare"])
    ap.add_argument("directory")
    ap.add_argument("--only", default=None, help="only the kernels whose key contains this")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="lower each kernel this many times and record the least CPU time "
                         "(for comparing lowering time between trees; default 1)")
    args = ap.parse_args(argv)
    cmd = write if args.command == "write" else compare
    return cmd(args.directory, args.only, args.jobs, args.repeat)


if __name__ == "__main__":
    sys.exit(main())
