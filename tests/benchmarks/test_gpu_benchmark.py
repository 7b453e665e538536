"""benchmarks/gpu.py --quick runs end to end: the GPU schedules build, match their reference
(NumPy on OpenCL; cuBLAS/cuDNN where a CUDA device exists) and are timed. Timings are printed,
never asserted."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_benchmark_quick():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--quick"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    if "no CUDA device" in r.stdout:
        assert r.stdout.count("checked vs NumPy: ok") == 2
        assert "texpr/NumPy" in r.stdout
    else:
        assert "texpr/cuBLAS" in r.stdout and "texpr/cuDNN" in r.stdout
