"""benchmarks/runtime.py --quick runs (in this process, without its new-process build): the call
and cached-build figures are printed beside the bare cffi call, never asserted."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_runtime_benchmark_quick(capsys):
    spec = importlib.util.spec_from_file_location("runtime_bench", ROOT / "benchmarks" / "runtime.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--quick", "--no-new-process"])
    out = capsys.readouterr().out
    for line in ("bare cffi call (no checks)", "f(a, b, c) NumPy", "f(a, b) output allocated",
                 "f.time(a, b, c)", "warm process, new identical schedule: te.build",
                 "empty parallel loop, 2 threads, texpr ",
                 "empty parallel loop, 2 threads, openmp "):
        assert line in out
    bench.main(["--quick", "--only", "call"])        # the call figures alone
    out = capsys.readouterr().out
    assert "f(a, b, c) NumPy" in out and "te.build" not in out and "parallel" not in out
