"""benchmarks/resnet50.py --quick: a tiny ResNet (128x128 image, width 16, one bottleneck per
stage: stem, max pool, 1x1 / 3x3 Winograd / 3x3 stride-2 / downsample convolutions with fused
epilogues, head pool, fc) built from topi ops in NCHWc, chained by topi.graph, equals the
same network in PyTorch (the script exits non-zero when it does not). --winograd 4: the
default cost model runs its one 16-channel 3x3 layer direct (the transforms outweigh the
multiplies saved at so few channels). Timings are printed, never asserted."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("torch")


def test_resnet50_benchmark_quick():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "resnet50.py"), "--quick",
                        "--keep-openblas-env", "--target", "native", "--winograd", "4",
                        "--profile", "--alone"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    assert "outputs checked: texpr vs torch eager" in out
    assert "3x3 stride-1 algorithms: " in out and "wino4" in out and "7x7 stride-2 stem algorithms: " in out
    for name in ("texpr ", "torch jit.freeze", "torch optimize_for_inference", "texpr / torch"):
        assert name in out
    # --profile --alone: each step's time in the graph and run by itself
    assert "alone (warm): sum" in out
    assert "layer1_0_conv1" in out and " alone " in out.split("alone (warm): sum")[1]
