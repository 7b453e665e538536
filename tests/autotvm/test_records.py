"""Records without measuring: the best record per (target, workload) skips errors and
other targets, a log cut mid-line still loads, and the database keeps errors and the CPU
model."""
import sqlite3

import pytest

from texpr import autotvm
from texpr.autotvm.measure import MeasureInput, MeasureResult
from texpr.autotvm.record import encode, load_from_file
from texpr.schedule.dispatch import config_for


@pytest.fixture(scope="module")
def task():
    @autotvm.template("test.records")
    def tmpl(n):
        cfg = autotvm.get_config()
        cfg.define_knob("k", [1, 2, 3, 4])
        return None, []
    return autotvm.task.create("test.records", args=(8,), target="c")


def _rec(task, index, cost, error_no=0, target="c"):
    return (MeasureInput(target, task, task.config_space.get(index)),
            MeasureResult([cost] if not error_no else ["boom"], error_no, 1.0, 0.0))


def test_apply_history_best_picks_the_fastest_valid_record(task, tmp_path):
    log = tmp_path / "t.log"
    recs = [_rec(task, 0, 3e-3), _rec(task, 1, 1e-3), _rec(task, 2, 0.0, error_no=4),
            _rec(task, 3, 1e-4, target="avx2")]
    with open(log, "w") as f:
        for r in recs:
            f.write(encode(*r) + "\n")
        f.write(encode(*recs[0])[:40])          # an interrupted write: half a line
    assert len(list(load_from_file(str(log)))) == 4
    with autotvm.apply_history_best(str(log)):
        assert config_for(task.workload, "c")["k"].val == 2
        assert config_for(task.workload, "avx2")["k"].val == 4
        assert config_for(task.workload, None)["k"].val == 4        # any target
        assert config_for(("test.records", 9), "c").is_fallback
    assert config_for(task.workload, "c").is_fallback                 # outside: fallback
    with pytest.raises(autotvm.TuningError, match="no tuning log"):
        list(load_from_file(str(tmp_path / "missing.log")))


def test_database_keeps_errors_and_the_machine(task, tmp_path):
    db = autotvm.Database(tmp_path / "t.db")
    for r in (_rec(task, 0, 2e-3), _rec(task, 1, 0.0, error_no=7), _rec(task, 2, 1e-3)):
        db.save(*r)
    assert len(db) == 3
    loaded = db.load(workload=task.workload)
    assert [r.error_no for _, r in loaded] == [0, 7, 0] and loaded[1][1].costs == ["boom"]
    inp, res = db.best(task.workload, "c")
    assert inp.config["k"].val == 3 and res.costs == [1e-3]
    assert db.best(task.workload, "neon") is None
    with sqlite3.connect(db.path) as con:
        (model,) = con.execute("SELECT DISTINCT cpu_model FROM records").fetchone()
    assert isinstance(model, str)
