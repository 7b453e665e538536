"""The tuning loop every tuner shares: ask the tuner for a batch of configs, measure it,
keep the best, tell the tuner (update) and the callbacks, stop after n_trial or when
`early_stopping` trials brought nothing better; then the finalists (the fastest few and the
fallback) are measured again side by side, and the best of that decides."""
import statistics
import time

from ..measure import MeasureErrorNo, MeasureInput, MeasureResult, create_measure_batch
from ..task import TuningError

#: the fastest configs of a tuning run measured again beside the fallback at its end, and the
#: rounds they are measured in. Of 64 trials the fastest reading is often a lucky one: ResNet-50
#: layers tuned on Zen 4 (64 trials, 2 threads) read up to 0.78x the fallback when measured
#: again afterwards, the "best" a noisy trial's
CONFIRM_FINALISTS = 3
CONFIRM_ROUNDS = 3
#: a finalist replaces the fallback only where its median is this much below the
#: fallback's: within it the two are a tie on a shared machine (a config 3% faster in the
#: tuner's processes read 2-5% slower in the benchmark's, Zen 4), and the heuristic stays
CONFIRM_MARGIN = 0.03


def _threads():
    """The thread count the candidates are built and measured for (the runner's processes
    inherit TEXPR_NUM_THREADS)."""
    from ...topi.cpu import parallel_units
    return parallel_units()


def _at_threads(results):
    """results, each marked with the thread count it was measured at."""
    n = _threads()
    return [r._replace(threads=n) for r in results]


class Tuner:
    """Base of the tuners: subclasses give next_batch(n) (configs not measured before) and
    may learn from update(inputs, results)."""

    def __init__(self, task):
        if task.config_space is None:
            raise TuningError(f"{task!r} has no config space; make tasks with "
                              f"autotvm.task.create")
        self.task = task
        self.space = task.config_space
        self.visited = set()
        self.best_config = None
        self.best_flops = 0.0
        self.best_measure_pair = None
        self.best_iter = 0
        self.trials_done = 0

    # --- what a tuner decides
    def has_next(self):
        return len(self.visited) < len(self.space)

    def next_batch(self, batch_size):
        raise NotImplementedError

    def update(self, inputs, results):
        """Learn from measured results (model-based tuners)."""

    # --- the loop
    def tune(self, n_trial, measure_option, early_stopping=None, callbacks=(),
             measure_fallback=True, confirm=0):
        """Measure up to n_trial configs of the task; returns the best (config, flops).

        measure_fallback: the first trial is the template's fallback (the heuristic's
        choice, when it is a point of the space), so the best record is never slower than
        the untuned schedule as measured.
        confirm: the `confirm` fastest configs and the fallback are then measured again in
        CONFIRM_ROUNDS interleaved rounds; the lowest median wins, and their records are
        marked confirmed (the ones apply_history_best chooses from). 0 (TVM's loop, every
        trial logged once): no confirmation; tune_tasks, tune_network and the command line
        confirm CONFIRM_FINALISTS."""
        measure_batch = create_measure_batch(self.task, measure_option)
        batch = max(1, measure_option["builder"].n_parallel)
        done = 0
        first = getattr(self.task, "fallback_index", None)
        measured = {}               # config index -> (flops, config) of this run's trials
        fallback = first
        while done < n_trial and self.has_next():
            configs = []
            if measure_fallback and first is not None and first not in self.visited:
                configs.append(self.space.get(first))
                self.visited.add(first)
            first = None
            configs += self.next_batch(min(batch, n_trial - done) - len(configs))
            if not configs:
                break
            for c in configs:
                self.visited.add(c.index)
            inputs = [MeasureInput(self.task.target, self.task, c) for c in configs]
            results = _at_threads(measure_batch(inputs))
            for inp, res in zip(inputs, results):
                self._note(inp, res, self.trials_done)
                self.trials_done += 1
                if res.error_no == MeasureErrorNo.NO_ERROR:
                    measured[inp.config.index] = (self._flops(res), inp.config)
            done += len(configs)
            self.update(inputs, results)
            for cb in callbacks:
                cb(self, inputs, results)
            if early_stopping is not None and self.trials_done - self.best_iter >= early_stopping:
                break
        if confirm:
            self._confirm(measure_batch, measured, fallback, confirm, callbacks)
        close = getattr(measure_batch.runner, "close", None)
        if close:
            close()
        return self.best_config, self.best_flops

    def _flops(self, res):
        cost = sum(res.costs) / len(res.costs)
        return (self.task.flop or 1.0) / cost

    def _confirm(self, measure_batch, measured, fallback, k, callbacks):
        """The k fastest configs of this run and the fallback measured again in
        CONFIRM_ROUNDS rounds (each round all of them, in a rotated order); the lowest
        median cost becomes the best, the fallback where none is CONFIRM_MARGIN below its
        median. Each finalist's record (its costs: one per round) goes to the callbacks, the
        winner's marked confirmed (the one apply_history_best chooses)."""
        ranked = sorted(measured.values(), key=lambda fc: -fc[0])
        finalists = [c for _, c in ranked[:k]]
        if fallback in measured and fallback not in [c.index for c in finalists]:
            finalists.append(measured[fallback][1])
        if len(finalists) < 2:
            return
        costs = {c.index: [] for c in finalists}
        for r in range(CONFIRM_ROUNDS):
            order = finalists[r % len(finalists):] + finalists[:r % len(finalists)]
            inputs = [MeasureInput(self.task.target, self.task, c) for c in order]
            for inp, res in zip(inputs, _at_threads(measure_batch(inputs))):
                ok = res.error_no == MeasureErrorNo.NO_ERROR
                costs[inp.config.index].append(sum(res.costs) / len(res.costs) if ok
                                               else float("inf"))
        done = [c for c in finalists if all(x != float("inf") for x in costs[c.index])]
        if not done:
            return
        median = {c.index: statistics.median(costs[c.index]) for c in done}
        best = min(done, key=lambda c: median[c.index])
        if fallback in median and median[best.index] > (1 - CONFIRM_MARGIN) * median[fallback]:
            best = next(c for c in done if c.index == fallback)
        inputs = [MeasureInput(self.task.target, self.task, c) for c in done]
        results = [MeasureResult(costs[c.index], MeasureErrorNo.NO_ERROR, sum(costs[c.index]),
                                 time.time(), confirmed=c is best, threads=_threads())
                   for c in done]
        self.best_config = best
        self.best_flops = (self.task.flop or 1.0) / median[best.index]
        self.best_measure_pair = next(ir for ir in zip(inputs, results) if ir[1].confirmed)
        for cb in callbacks:
            if getattr(cb, "logs_records", True):
                cb(self, inputs, results)

    def _note(self, inp, res, iteration):
        if res.error_no != MeasureErrorNo.NO_ERROR:
            return
        flops = self._flops(res)
        if flops > self.best_flops:
            self.best_flops = flops
            self.best_config = inp.config
            self.best_measure_pair = (inp, res)
            self.best_iter = iteration

    def load_history(self, records):
        """Continue from earlier records (a log path, a database, or (inp, res) pairs) of
        this task's workload: their configs count as measured (not proposed again), the best
        of them is the best so far, and a model-based tuner learns from them."""
        from ..record import load_records
        inputs, results = [], []
        for inp, res in load_records(records):
            if inp.task.workload != self.task.workload or inp.target != self.task.target:
                continue
            idx = self.space.index_of(inp.config._entity_map)
            if idx is None:
                continue
            cfg = self.space.get(idx)
            inp = MeasureInput(inp.target, self.task, cfg)
            self.visited.add(idx)
            self._note(inp, res, -1)
            inputs.append(inp)
            results.append(res)
        if inputs:
            self.update(inputs, results)
        return len(inputs)
