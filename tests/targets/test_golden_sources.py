"""The generated source of representative kernels, compared with golden files.

Each kernel below is emitted for each target it applies to (nothing is compiled) and must
equal tests/golden/<target>/<kernel>.<ext> byte for byte: a change in the code texpr
generates shows here as a diff, and a commit that means it updates the files with

    python -m pytest tests/targets/test_golden_sources.py --update-golden

(and says in its message what changed and why). tools/source_snapshot.py checks the same
over the benchmark and topi kernels.
"""
import difflib
from pathlib import Path

import pytest

import texpr as te
import texpr.topi as topi
from texpr.targets import emit_source, host

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CPU = ("c", "avx2", "avx512", "neon", "hvx")
GPU = ("cuda", "opencl")
EXT = {"cuda": "cu", "opencl": "cl"}


def vector_add_tail():
    """Vectorized elementwise with a symbolic extent: the main loop and its tail."""
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.placeholder((n,), name="B")
    C = te.compute((n,), lambda i: A[i] * B[i] + A[i], name="C")
    s = te.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], factor=16)
    s[C].vectorize(xi)
    s[C].parallel(xo)
    return s, [A, B, C]


def row_sum():
    """A reduction kept in a register, the data axis vectorized."""
    A = te.placeholder((64, 48), name="A")
    k = te.reduce_axis((0, 48), name="k")
    B = te.compute((64,), lambda i: te.sum(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    io, ii = s[B].split(B.op.axis[0], factor=8)
    s[B].reorder(io, k, ii)
    s[B].vectorize(ii)
    return s, [A, B]


def int8_widening_mac():
    """int16 accumulation of int8 products: widening multiplies where the ISA has them."""
    A = te.placeholder((256,), dtype="int8", name="A")
    B = te.placeholder((256,), dtype="int8", name="B")
    C = te.placeholder((256,), dtype="int16", name="C")
    D = te.compute((256,), lambda i: C[i] + A[i].astype("int16") * B[i].astype("int16"), name="D")
    s = te.create_schedule(D.op)
    _, ii = s[D].split(D.op.axis[0], factor=64)
    s[D].vectorize(ii)
    return s, [A, B, C, D]


def uint8_saturating_add():
    """A saturating add of uint8 (HVX vadd:sat), plain clamps elsewhere."""
    A = te.placeholder((256,), dtype="uint8", name="A")
    B = te.placeholder((256,), dtype="uint8", name="B")
    C = te.compute((256,), lambda i: te.min(te.max(A[i].astype("int16") + B[i].astype("int16"),
                                                   te.const(0, "int16")),
                                            te.const(255, "int16")).astype("uint8"), name="C")
    s = te.create_schedule(C.op)
    _, ii = s[C].split(C.op.axis[0], factor=128)
    s[C].vectorize(ii)
    return s, [A, B, C]


def gather_checked():
    """An index read from data: checked against the extent it indexes."""
    data = te.placeholder((100, 16), name="data")
    idx = te.placeholder((32,), dtype="int32", name="idx")
    out = te.compute((32, 16), lambda i, j: data[idx[i], j], name="out")
    s = te.create_schedule(out.op)
    s[out].vectorize(out.op.axis[1])
    return s, [data, idx, out]


def topi_dense_bias_relu(target):
    """topi's dense with a fused bias + relu epilogue, under its registered schedule."""
    x = te.placeholder((32, 64), name="x")
    w = te.placeholder((48, 64), name="w")
    b = te.placeholder((48,), name="b")
    out = topi.nn.relu(topi.nn.dense(x, w, b))
    return topi.schedule(out, target), [x, w, b, out]


CPU_KERNELS = {"vector_add_tail": vector_add_tail, "row_sum": row_sum,
               "int8_widening_mac": int8_widening_mac,
               "uint8_saturating_add": uint8_saturating_add, "gather_checked": gather_checked}
CASES = ([(t, name, fn) for t in CPU for name, fn in CPU_KERNELS.items()
          if not (t == "hvx" and name in ("vector_add_tail", "row_sum"))]
         + [(t, "topi_dense_bias_relu", topi_dense_bias_relu) for t in CPU + GPU if t != "hvx"])


#: the machine the golden files were written for (an AMD Zen 5: two FMA units at 256 and at
#: 512 bits): topi's schedules read the host's FMA units and caches, so the golden sources
#: are emitted as for this host on every machine
GOLDEN_HOST = host.HostCpu(l1d_bytes=48 * 1024, l2_bytes=1024 * 1024, l3_bytes=32 << 20,
                           model="AMD EPYC (golden host)",
                           fields=(("vendor_id", "AuthenticAMD"), ("cpu family", "26"),
                                   ("model", "2")))


@pytest.fixture(autouse=True)
def golden_host(monkeypatch):
    monkeypatch.setattr(host, "host_cpu", lambda: GOLDEN_HOST)


def _source(target, make):
    sch_args = make(target) if make is topi_dense_bias_relu else make()
    return emit_source(*sch_args, target=target, name="kernel")


@pytest.mark.parametrize("target,name,make", CASES, ids=[f"{t}-{n}" for t, n, _ in CASES])
def test_generated_source_matches_golden(target, name, make, request):
    source = _source(target, make)
    path = GOLDEN / target / f"{name}.{EXT.get(target, 'c')}"
    if request.config.getoption("--update-golden"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    assert path.exists(), f"{path} is missing: run with --update-golden to write it"
    golden = path.read_text()
    if source != golden:
        diff = "".join(difflib.unified_diff(golden.splitlines(True), source.splitlines(True),
                                            str(path), "generated", n=2))
        pytest.fail(f"the generated source of {name} for {target} changed:\n{diff[:6000]}\n"
                    "If the change is intended, rerun with --update-golden and say why in the "
                    "commit message.")
