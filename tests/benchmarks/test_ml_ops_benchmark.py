"""benchmarks/ml_ops.py --quick runs end to end for one group: its kernels build and match torch,
and the table names the CPU and the ratio to torch. Timings are printed, never asserted."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ml_ops_benchmark_quick_index_group():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ml_ops.py"), "--quick",
                        "--groups", "index", "--keep-openblas-env"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.startswith("CPU: ") and "family" in r.stdout.splitlines()[0]
    assert "== index: 3 kernels built, outputs checked against torch: ok" in r.stdout
    ops = {line.split()[0] for line in r.stdout.splitlines() if line.startswith("  ")}
    assert {"embedding", "transpose", "where"} <= ops
    assert "index      1 thread: geometric mean" in r.stdout
