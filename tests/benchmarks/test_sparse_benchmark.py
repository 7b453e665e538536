"""benchmarks/sparse.py --quick runs end to end: every op builds and matches its reference
(NumPy, torch, scipy). Timings are printed by the script, never asserted."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("torch")


def test_sparse_benchmark_quick():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sparse.py"), "--quick",
                        "--keep-openblas-env"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    assert "sequential read bandwidth" in out
    for section in ("sparse_lengths_sum:", "embedding:", "batch_gather:", "dot_interaction:"):
        assert section in out and "checked against NumPy: ok" in out
    for name in ("torch embedding_bag", "NumPy add.reduceat", "texpr, no prefetch",
                 "random-row read", "row read, 16 ahead", "torch embedding ",
                 "torch.gather", "torch cat+bmm+index (DLRM)"):
        assert name in out
    try:
        import scipy  # noqa: F401
    except ImportError:
        assert "sparse_dense: skipped" in out
    else:
        assert "CSR at 99% sparsity" in out and "scipy.sparse csr (X @ W.T)" in out
