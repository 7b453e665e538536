"""benchmarks/matmul.py --quick runs end to end: every schedule step builds and matches NumPy.

Timings are printed by the script, never asserted. The OpenBLAS variables of the environment
are left as they are (--keep-openblas-env).
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_matmul_benchmark_quick():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "matmul.py"), "--quick",
                        "--threads", "1", "--no-extras", "--keep-openblas-env"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for step in range(1, 8):
        assert f"step {step} " in r.stdout and "checked vs NumPy: ok" in r.stdout
    assert "NumPy (OpenBLAS)" in r.stdout


def test_int8_dense_benchmark_quick():
    """DenseInt8 on every x86 target builds, equals NumPy exactly on each input set (the
    vpmaddubsw kernel and the exact fallback), and is timed beside torch's quantized Linear
    (FBGEMM) on the same inputs."""
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "int8_dense.py"), "--quick",
                        "--rounds", "1", "--calls", "1"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.count("equals NumPy: ok") >= 3 and "torch, FBGEMM AVX2" in r.stdout
    assert "texpr avx2, sat16" in r.stdout and "texpr avx2, int16_pairs" in r.stdout


def test_dense_sweep_benchmark_one_shape():
    """benchmarks/dense_sweep.py on one shape (dot-product rows), thread CPU time: the kernel
    equals NumPy, its ratio to torch and the summary are printed."""
    script = str(ROOT / "benchmarks" / "dense_sweep.py")
    r = subprocess.run([sys.executable, script, "--shapes", "3x40x64", "--threads", "1",
                        "--rounds", "1", "--cpu-time", "--keep-openblas-env"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "outputs checked against NumPy: ok" in r.stdout and "3x40x64" in r.stdout
    assert "1 thread: geometric mean" in r.stdout and "thread CPU time" in r.stdout


def test_hvx_benchmark_quick():
    """benchmarks/hvx.py --quick: every HVX kernel and its scalar twin build, run under
    qemu-hexagon (checked vs NumPy) and have an inner loop whose packets are counted."""
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "hvx.py"), "--quick"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for name in ("int8 saturating add", "int8 dense (vrmpy)", "int8 dot product (vrmpy)"):
        assert f"{name:<28} checked vs NumPy: ok" in r.stdout
        assert f"{name:<28} HVX" in r.stdout and f"{name:<28} scalar" in r.stdout
