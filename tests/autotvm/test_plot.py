"""The tuning-curve plot from records (nothing compiled: records of a small user template
made by hand), through the API and the CLI, and its error without matplotlib."""
import sys

import pytest

import texpr as te
from texpr import autotvm
from texpr.autotvm import plot
from texpr.autotvm.__main__ import main

T = "native"


@autotvm.template("test_plot.scale")
def scale(n):
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * 2.0, name="B")
    s = te.create_schedule(B.op)
    cfg = autotvm.get_config()
    cfg.define_knob("unroll", [1, 2, 4, 8])
    cfg.add_flop(n)
    return s, [A, B]


def _log(path, costs):
    """A log of one trial per cost (None: a failed trial), written as a tuner would."""
    task = autotvm.task.create("test_plot.scale", (1000,), T)
    recs = []
    for k, c in enumerate(costs):
        ok = c is not None
        recs.append((autotvm.MeasureInput(T, task, task.config_space.get(k % 4)),
                     autotvm.MeasureResult([c] if ok else ["boom"],
                                           0 if ok else autotvm.MeasureErrorNo.RUNTIME_DEVICE,
                                           0.1, 100.0 + k)))
    autotvm.record.save_to_file(recs, str(path))
    return str(path)


def test_curves_are_the_best_gflops_so_far(tmp_path):
    log = _log(tmp_path / "a.log", [None, 2e-6, 4e-6, 1e-6])
    got, unit = plot.curves(log)
    (key,) = got
    assert unit == "GFLOP/s" and key[1][0] == "test_plot.scale"
    # 1000 flop: 0 before a success, then 0.5, 0.5 (a slower trial), 1.0 GFLOP/s
    assert got[key] == pytest.approx([0.0, 0.5, 0.5, 1.0])


def test_plot_one_curve_per_tuner_and_the_cli(tmp_path):
    a = _log(tmp_path / "random.log", [3e-6, 2e-6])
    b = _log(tmp_path / "xgb.log", [2e-6, 1e-6, 1e-6])
    fig = autotvm.plot_tuning_curve({"random": a, "xgb": b}, title="scale")
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == [f"random ({T})", f"xgb ({T})"]
    assert list(lines[1].get_ydata()) == pytest.approx([0.5, 1.0, 1.0])
    out = tmp_path / "curve.png"
    assert main(["plot", a, b, "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(autotvm.TuningError, match="2 sources but 1 labels"):
        autotvm.plot_tuning_curve([a, b], labels=["x"])
    with pytest.raises(autotvm.TuningError, match="no records of workload"):
        autotvm.plot_tuning_curve(a, workload=("other", 1))


def test_plot_without_matplotlib_says_what_to_install(tmp_path, monkeypatch):
    log = _log(tmp_path / "a.log", [1e-6])
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(autotvm.TuningError, match="needs matplotlib.*pip install matplotlib"):
        autotvm.plot_tuning_curve(log)
