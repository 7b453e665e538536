"""apply_history_best: templates (topi's schedules included) take the best measured config
of their workload from tuning records; a workload without one keeps its fallback."""
from ..schedule.dispatch import DispatchContext
from .measure import MeasureErrorNo
from .record import load_records, rank


def _target_names(target):
    """The names a record's target may carry for `target` ("native" is also its ISA)."""
    if target is None:
        return None
    from ..targets.registry import get_target
    names = {target}
    try:
        names.add(get_target(target).name)
    except Exception:  # noqa: BLE001  (an unknown name only matches itself)
        pass
    return names


class ApplyHistoryBest(DispatchContext):
    """The best config per (target, workload) of `records` (a JSON-lines path, a database or
    its path, or (MeasureInput, MeasureResult) pairs). A template asking without a target
    (a user template called directly) gets the best record of any target.

    Example (my_template: an @autotvm.template that tune.log has records of)::

        with autotvm.ApplyHistoryBest("tune.log"):
            s, args = my_template(64)        # the fastest config measured for this workload
        f = te.build(s, args)
    """

    def __init__(self, records):
        self.best = {}
        self.load(records)

    def load(self, records):
        """Add `records` (a path, a database or pairs), keeping the best per (target,
        workload, thread count measured at).

        Example::

            best = autotvm.ApplyHistoryBest("tune_monday.log")
            best.load("tune_tuesday.db")         # the faster of the two days' best configs
        """
        for inp, res in load_records(records):
            if res.error_no != MeasureErrorNo.NO_ERROR:
                continue
            key = (inp.target, inp.task.workload, res.threads)
            old = self.best.get(key)
            if old is None or rank(res) < rank(old[1]):
                self.best[key] = (inp, res)

    def query(self, target, workload):
        """The config of the best record (`record.rank`) of `workload` on `target` (None: any
        target) for the thread count kernels are built for now (`topi.cpu.parallel_units`),
        or None.

        Example::

            best = autotvm.ApplyHistoryBest("tune.log")
            cfg = best.query("native", ("topi.dense", ("TENSOR", (64, 64), "float32"), ...))
        """
        from ..topi.cpu import parallel_units
        names = _target_names(target)
        threads = parallel_units()
        found = None
        for (t, w, _), (inp, res) in self.best.items():
            if w != workload or (names is not None and t not in names and
                                 _target_names(t).isdisjoint(names)):
                continue
            if found is None or rank(res, threads) < rank(found[1], threads):
                found = (inp, res)
        return found[0].config if found else None


def apply_history_best(records):
    """`with apply_history_best("tune.log"):` (or a database path, or records).

    Example::

        with autotvm.apply_history_best("tune.log"):
            s = topi.schedule(out, "native")     # topi's templates read their tuned configs
    """
    return ApplyHistoryBest(records)
