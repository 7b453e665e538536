"""benchmarks/dense.py and benchmarks/conv.py --quick run end to end: every variant builds
and matches its reference (NumPy / torch). Timings are printed, never asserted."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("torch")


def run(script, *args):
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick",
                        "--keep-openblas-env", *args],
                       capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout


def test_dense_benchmark_quick():
    out = run("dense.py", "--target", "native")
    assert "outputs checked against NumPy: ok" in out
    for name in ("texpr dense ", "texpr dense_pack", "NumPy (OpenBLAS)", "torch linear",
                 "texpr batch_matmul", "torch.bmm"):
        assert name in out


def test_conv_benchmark_quick():
    out = run("conv.py", "--target", "native")
    for v in ("nchw", "nchwc", "wino4", "cwino4"):
        assert f" {v} " in out and "ok" in out
    assert "oneDNN NCHW" in out and "oneDNN blocked" in out and "winograd F(4,3)" in out
