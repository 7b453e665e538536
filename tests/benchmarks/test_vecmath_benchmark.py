"""benchmarks/vecmath.py --quick runs end to end: its kernels build, the softmax matches NumPy
and the table names the CPU and the references. Timings are printed, never asserted."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_vecmath_benchmark_quick():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "vecmath.py"), "--quick",
                        "--functions", "exp,pow", "--keep-openblas-env"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.startswith("CPU: ") and "family" in r.stdout.splitlines()[0]
    rows = {line.split()[0] for line in r.stdout.splitlines() if line.strip()}
    assert {"exp", "pow"} <= rows
    assert "row softmax 16 x 256 (checked vs NumPy: ok)" in r.stdout
