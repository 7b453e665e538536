"""The finalists' re-measurement at the end of tuning (Tuner.tune(confirm=), on in
tune_tasks): a config whose one trial read fast by luck loses to the fallback measured again
beside it, and one within CONFIRM_MARGIN of the fallback does too; the winner's record is
marked confirmed, survive the JSON-lines log and the
SQLite database (an old database gains the column), and are what apply_history_best and
Database.best choose from; records of the kernel's thread count come before others. A fake builder and runner stand for the machine: each config has a
true cost, and one config's first reading is a lucky quarter of it."""
import sqlite3

import pytest

import texpr as te
from texpr import autotvm
from texpr.autotvm.measure import BuildResult, MeasureErrorNo, MeasureResult
from texpr.autotvm.record import Database, best_by_workload, load_from_file

TRUE_COST = {0: 1.0e-3, 1: 2.0e-3, 2: 1.5e-3, 3: 3.0e-3}     # config index -> seconds
LUCKY = 1                                                    # its first reading: a quarter


@autotvm.template("test.confirm_probe")
def confirm_probe(n):
    cfg = autotvm.get_config()
    cfg.define_knob("variant", [0, 1, 2, 3])
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] + 1.0, name="B")
    return te.create_schedule(B.op), [A, B]


class FakeBuilder(autotvm.Builder):
    def build(self, measure_inputs):
        return [BuildResult(object(), None, 0.0) for _ in measure_inputs]


class FakeRunner(autotvm.Runner):
    def __init__(self):
        super().__init__()
        self.seen = {}

    def run(self, measure_inputs, build_results):
        out = []
        for inp in measure_inputs:
            i = inp.config.index
            first = i not in self.seen
            self.seen[i] = self.seen.get(i, 0) + 1
            cost = TRUE_COST[i] / (4 if i == LUCKY and first else 1)
            out.append(MeasureResult([cost], MeasureErrorNo.NO_ERROR, cost, 0.0))
        return out


def _task():
    task = autotvm.task.create("test.confirm_probe", args=(16,), target="c")
    task.fallback_index = 0          # the heuristic: config 0, the truly fastest
    return task


def _tune(task, confirm, callbacks=()):
    tuner = autotvm.tuner.GridSearchTuner(task)
    option = autotvm.measure_option(builder=FakeBuilder(n_parallel=1), runner=FakeRunner())
    tuner.tune(4, option, callbacks=callbacks, confirm=confirm)
    return tuner


def test_a_lucky_trial_loses_to_the_fallback_measured_again(tmp_path):
    task = _task()
    assert _tune(task, confirm=0).best_config.index == LUCKY       # TVM's loop: fooled
    log = str(tmp_path / "t.log")
    tuner = _tune(task, confirm=2, callbacks=[autotvm.callback.log_to_file(log)])
    assert tuner.best_config.index == 0
    recs = list(load_from_file(log))
    # the 2 fastest readings (1: lucky, 0) and the fallback (0 again): 2 finalists, 3 rounds
    finals = [(inp.config.index, res) for inp, res in recs[4:]]
    assert sorted(i for i, _ in finals) == [0, 1]
    assert all(len(res.costs) == autotvm.tuner.tuner.CONFIRM_ROUNDS for _, res in finals)
    assert [i for i, res in finals if res.confirmed] == [0]           # the winner only
    assert len(recs) == 4 + 2
    from texpr.topi.cpu import parallel_units
    assert {res.threads for _, res in recs} == {parallel_units()}    # measured at that count
    (inp, res), = best_by_workload(recs).values()
    assert inp.config.index == 0 and res.confirmed
    with autotvm.apply_history_best(log):
        assert autotvm.ApplyHistoryBest(log).query("c", task.workload).index == 0


def test_confirmed_records_in_the_database(tmp_path):
    path = str(tmp_path / "t.db")
    task = _task()
    _tune(task, confirm=2, callbacks=[autotvm.callback.log_to_database(path)])
    inp, res = Database(path).best(task.workload, target="c")
    assert inp.config.index == 0 and res.confirmed
    assert sum(r.confirmed for _, r in Database(path).load()) == 1


def test_an_old_database_gains_the_confirmed_column(tmp_path):
    path = str(tmp_path / "old.db")
    with sqlite3.connect(path) as db:
        db.execute("""CREATE TABLE records (id INTEGER PRIMARY KEY AUTOINCREMENT,
            workload TEXT NOT NULL, target TEXT NOT NULL, cpu_model TEXT,
            task_name TEXT NOT NULL, task_args TEXT NOT NULL, config_index INTEGER NOT NULL,
            config TEXT NOT NULL, costs TEXT NOT NULL, mean_cost REAL,
            error_no INTEGER NOT NULL, all_cost REAL, timestamp REAL)""")
    task = _task()
    _tune(task, confirm=0, callbacks=[autotvm.callback.log_to_database(path)])
    recs = Database(path).load()
    assert len(recs) == 4 and not any(r.confirmed for _, r in recs)
    inp, _ = Database(path).best(task.workload)
    assert inp.config.index == LUCKY                 # unconfirmed: the fastest reading


@pytest.mark.parametrize("faster,winner", [(0.99, 0), (0.9, 2)])
def test_a_finalist_replaces_the_fallback_only_by_the_margin(monkeypatch, faster, winner):
    """Config 2 measured 1% below the fallback is a tie (the fallback stays); 10% below, it
    wins. apply_history_best then builds the winner."""
    monkeypatch.setitem(TRUE_COST, 2, faster * TRUE_COST[0])
    assert autotvm.tuner.tuner.CONFIRM_MARGIN > 0.01
    task = _task()
    log = []
    tuner = _tune(task, confirm=3, callbacks=[lambda t, i, r: log.extend(zip(i, r))])
    assert tuner.best_config.index == winner
    (inp, res), = best_by_workload(log).values()
    assert inp.config.index == winner and res.confirmed


@pytest.mark.parametrize("confirm", [1, 3])
def test_tune_tasks_confirms_by_default(tmp_path, confirm):
    task = _task()
    option = autotvm.measure_option(builder=FakeBuilder(n_parallel=1), runner=FakeRunner())
    log = str(tmp_path / "net.log")
    out = autotvm.tune_tasks([task], 4, log, tuner="grid", measure_option=option,
                             progress=False, **({} if confirm == 3 else {"confirm": confirm}))
    (cfg, _), = out.values()
    assert cfg.index == 0


def test_records_of_the_kernels_thread_count_come_first(tmp_path, monkeypatch):
    """A config tuned at 2 threads does not apply to a 1-thread kernel where a record of 1
    thread exists; a record of an unknown count (0: older logs) competes with either."""
    task = _task()
    inp = [autotvm.MeasureInput("c", task, task.config_space.get(i)) for i in range(3)]
    ok = MeasureErrorNo.NO_ERROR
    recs = [(inp[1], MeasureResult([1e-3], ok, 0.0, 0.0, threads=2)),
            (inp[2], MeasureResult([2e-3], ok, 0.0, 0.0, threads=1))]
    log = str(tmp_path / "t.log")
    autotvm.record.save_to_file(recs, log)
    db = Database(str(tmp_path / "t.db"))
    for r in recs:
        db.save(*r)
    for n, want in ((1, 2), (2, 1)):
        monkeypatch.setenv("TEXPR_NUM_THREADS", str(n))
        assert autotvm.ApplyHistoryBest(log).query("c", task.workload).index == want
        assert db.best(task.workload, threads=n)[0].config.index == want
    assert [r.threads for _, r in load_from_file(log)] == [2, 1]
    autotvm.record.save_to_file([(inp[0], MeasureResult([0.5e-3], ok, 0.0, 0.0))], log)
    monkeypatch.setenv("TEXPR_NUM_THREADS", "1")
    assert autotvm.ApplyHistoryBest(log).query("c", task.workload).index == 0
