"""Tuning curves: the best speed found so far against the trial number, one curve per tuner
(per log) and workload, drawn with matplotlib (an optional dependency: imported on use).

A record holds no flop count, so the curve's GFLOP/s come from the workload's task (its
template collected once per workload); where the template is not registered in this process
the curve shows runs per second instead."""
import os

from ..errors import TexprError
from .measure import MeasureErrorNo
from .record import load_records, mean_cost
from .task import TuningError


def _flop(inp, cache):
    """The flop count of a record's workload (0 when its template cannot be collected)."""
    if inp.task.flop:
        return inp.task.flop
    key = (inp.target, inp.task.workload)
    if key not in cache:
        from .task import create
        try:
            cache[key] = create(inp.task.name, inp.task.args, inp.target).flop
        except TexprError:
            cache[key] = 0.0
    return cache[key]


def curves(records, workload=None):
    """{(target, workload): [best speed after each trial]} of `records` in the order they
    were measured (a failed trial keeps the best so far; before the first success it is 0).
    Speeds in GFLOP/s, or runs per second where the flop count is unknown; the second
    value says which: (curves, "GFLOP/s" | "runs/s")."""
    out, cache, unit = {}, {}, "GFLOP/s"
    recs = sorted(load_records(records), key=lambda r: r[1].timestamp)
    best = {}
    for inp, res in recs:
        key = (inp.target, inp.task.workload)
        if res.confirmed or (workload is not None and inp.task.workload != tuple(workload)):
            continue                # a finalist's re-measurement is no trial
        speed = 0.0
        if res.error_no == MeasureErrorNo.NO_ERROR and res.costs:
            flop = _flop(inp, cache)
            if not flop:
                unit = "runs/s"
            speed = (flop / 1e9 if flop else 1.0) / mean_cost(res)
        best[key] = max(best.get(key, 0.0), speed)
        out.setdefault(key, []).append(best[key])
    return out, unit


def _short(workload):
    """A workload as a short label: the template name and the tensor shapes."""
    parts = [str(workload[0])]
    for a in workload[1:]:
        if isinstance(a, tuple) and len(a) == 3 and a[0] == "TENSOR":
            parts.append("x".join(str(d) for d in a[1]))
    return " ".join(parts)


def plot_tuning_curve(records, labels=None, workload=None, ax=None, title=None):
    """Plot the best GFLOP/s so far against the trial number and return the matplotlib
    Figure. `records`: one source (a JSON-lines log, a Database or its path, or (inp, res)
    pairs) or a dict {label: source} / a list of sources (one curve per tuner: tune each
    into its own log); `labels` names a list's sources (default: their file names);
    `workload` keeps one workload (default: a curve per workload of each source); `ax`: an
    Axes to draw on.

    Example::

        fig = autotvm.plot_tuning_curve({"xgb": "xgb.log", "random": "random.log"})
        fig.savefig("curve.png")
    """
    try:
        import matplotlib
        if ax is None and not os.environ.get("DISPLAY") and "MPLBACKEND" not in os.environ:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TuningError("plot_tuning_curve needs matplotlib; install it with "
                          "`pip install matplotlib`") from None
    if isinstance(records, dict):
        sources = list(records.items())
    elif isinstance(records, (list, tuple)) and records and \
            all(isinstance(r, (str, os.PathLike)) or hasattr(r, "load") for r in records):
        names = labels or [os.path.basename(os.fspath(r)) if isinstance(r, (str, os.PathLike))
                           else f"records {k}" for k, r in enumerate(records)]
        if len(names) != len(records):
            raise TuningError(f"plot_tuning_curve: {len(records)} sources but {len(names)} "
                              f"labels")
        sources = list(zip(names, records))
    else:
        sources = [((labels or [None])[0], records)]
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    units, drawn = set(), 0
    for label, source in sources:
        got, unit = curves(source, workload)
        units.add(unit)
        for (target, wl), ys in got.items():
            name = label if len(got) == 1 and label else \
                " ".join(x for x in (label, _short(wl)) if x)
            ax.plot(range(1, len(ys) + 1), ys, label=f"{name} ({target})")
            drawn += 1
    if not drawn:
        raise TuningError("plot_tuning_curve: no records" +
                          (f" of workload {workload!r}" if workload is not None else ""))
    ax.set_xlabel("trial")
    ax.set_ylabel("best " + (" / ".join(sorted(units))) + " so far")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig
