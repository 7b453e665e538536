"""Whole-network tuning: each distinct tunable layer of a network tuned once, into one log,
which then serves every layer of that workload (`with apply_history_best(log):` around the
building of the network: topi.schedule of each layer reads its record).

A topi.graph.Graph chains kernels that are already built, so its layers are tuned from the
tensor graphs they are built from: `tune_network(outs)` with the output tensors of every
layer (extract_from_program finds the distinct workloads), or `tune_tasks(tasks)` with
tasks made by hand. A workload that already has records in the log, measured at the
thread count kernels are built for now, is skipped (resume after an interruption; tune
more with a larger n_trial and skip_tuned=False)."""
import os

from .callback import log_to_database, log_to_file, progress_bar
from .measure import LocalBuilder, LocalRunner, measure_option as make_option
from .record import load_records
from .task import TuningError, extract_from_program
from .tuner.tuner import CONFIRM_FINALISTS

#: the tuners by name (tune_tasks' `tuner`)
TUNER_NAMES = ("xgb", "ga", "random", "grid")


def _tuner(name, task):
    from . import tuner as t
    classes = {"xgb": t.XGBTuner, "ga": t.GATuner, "random": t.RandomTuner,
               "grid": t.GridSearchTuner}
    if callable(name) and not isinstance(name, str):
        return name(task)
    if name not in classes:
        raise TuningError(f"tune_tasks: tuner must be one of {TUNER_NAMES} or a Tuner class, "
                          f"got {name!r}")
    return classes[name](task)


def _tuned_workloads(log):
    """(target, workload) pairs with at least one record in `log` measured at the thread
    count kernels are built for now (topi.cpu.parallel_units; a record of an unknown count,
    0: an older log, counts for any), none if it is absent. A log tuned at 1 thread does not
    stop the tuning at 2: the 2-thread kernels had run on the 1-thread configs."""
    from ..topi.cpu import parallel_units
    if not os.path.exists(os.fspath(log)):
        return set()
    threads = parallel_units()
    return {(inp.target, inp.task.workload) for inp, res in load_records(log)
            if res.threads in (0, threads)}


def tune_tasks(tasks, n_trial, log, tuner="xgb", measure_option=None, early_stopping=None,
               skip_tuned=True, progress=True, confirm=CONFIRM_FINALISTS):
    """Tune each task for up to n_trial trials (fewer where its space is smaller) into `log`
    (a path: .db / .sqlite a SQLite database, else JSON lines), its fastest `confirm`
    configs and the fallback then measured again side by side (Tuner.tune(confirm=): the
    best record is never a lucky reading of a slower config). Returns {workload: (best
    config, best flop/s)} of the tasks tuned now (a skipped task is absent: records of it
    at this thread count are in the log already).

    Example::

        tasks = autotvm.task.extract_from_program(outs, target="native")
        autotvm.tune_tasks(tasks, n_trial=200, log="net.db")
        with autotvm.apply_history_best("net.db"):
            ...build every layer with topi.schedule...
    """
    if not isinstance(log, (str, os.PathLike)):
        raise TuningError(f"tune_tasks: log must be a file path, got {log!r}")
    log = os.fspath(log)
    done = _tuned_workloads(log) if skip_tuned else set()
    option = measure_option or make_option(
        builder=LocalBuilder(), runner=LocalRunner(number=3, repeat=3, check_correctness=True))
    out = {}
    for k, task in enumerate(tasks):
        if (task.target, task.workload) in done:
            continue
        trials = min(n_trial, len(task.config_space))
        cbs = [log_to_database(log) if log.endswith((".db", ".sqlite", ".sqlite3"))
               else log_to_file(log)]
        if progress:
            cbs.append(progress_bar(trials, prefix=f"[{k + 1}/{len(tasks)}] "))
        t = _tuner(tuner, task)
        t.tune(trials, option, early_stopping=early_stopping, callbacks=cbs, confirm=confirm)
        out[task.workload] = (t.best_config, t.best_flops)
    return out


def tune_network(outs, n_trial, log, target="native", **kwargs):
    """extract_from_program(outs, target) (the distinct dense / batch_matmul / conv2d /
    depthwise layers of the tensor graph of `outs`), then tune_tasks; returns the tasks.

    Example::

        tasks = autotvm.tune_network([logits], n_trial=300, log="resnet.db")
        with autotvm.apply_history_best("resnet.db"):
            s = topi.schedule(logits, "native")       # every layer at its best record
    """
    tasks = extract_from_program(outs, target)
    tune_tasks(tasks, n_trial, log, **kwargs)
    return tasks
