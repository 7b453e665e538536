"""A tiny tuning run end to end (8 trials of a small dense: builds in parallel processes,
runs in the measuring process, checked against the reference), its records (JSON lines,
SQLite, pick_best, resume), the best record used by topi.schedule under
apply_history_best; and a template whose candidates segfault, hang or compute wrong: recorded
as errors, and the tuning goes on."""
import os
import re

import numpy as np
import pytest

import texpr as te
from texpr import autotvm, topi
from texpr.autotvm.record import best_by_workload, load_from_file, mean_cost
from texpr.targets.build import emit_source

T = "native"
M, N, K = 1, 16, 32
ARGS = (("TENSOR", (M, K), "float32"), ("TENSOR", (N, K), "float32"))


def _options(timeout=10):
    return autotvm.measure_option(
        builder=autotvm.LocalBuilder(n_parallel=2),
        runner=autotvm.LocalRunner(number=2, repeat=2, timeout=timeout, check_correctness=True))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    d = tmp_path_factory.mktemp("tune")
    log, db = str(d / "dense.log"), str(d / "dense.db")
    task = autotvm.task.create("topi.dense", args=ARGS, target=T)
    tuner = autotvm.tuner.RandomTuner(task, seed=3)
    tuner.tune(n_trial=8, measure_option=_options(),
               callbacks=[autotvm.callback.log_to_file(log),
                          autotvm.callback.log_to_database(db)])
    return task, tuner, log, db


def test_tuning_run_records_every_trial(tuned):
    task, tuner, log, db = tuned
    recs = list(load_from_file(log))
    assert len(recs) == 8 and len({inp.config.index for inp, _ in recs}) == 8
    assert task.fallback_index is not None
    assert recs[0][0].config.index == task.fallback_index     # the heuristic is measured
    assert all(res.error_no == autotvm.MeasureErrorNo.NO_ERROR for _, res in recs), \
        [res for _, res in recs]
    assert all(len(res.costs) == 2 and min(res.costs) > 0 for _, res in recs)
    best = best_by_workload(recs)[(T, task.workload)]
    assert best[0].config.index == tuner.best_config.index
    assert tuner.best_flops == pytest.approx(task.flop / mean_cost(best[1]))


def test_json_and_sqlite_records_round_trip(tuned, tmp_path):
    task, tuner, log, db = tuned
    from_log = list(load_from_file(log))
    from_db = autotvm.Database(db).load(workload=task.workload, target=T)
    assert [(i.config, r.costs, r.error_no) for i, r in from_log] == \
        [(i.config, r.costs, r.error_no) for i, r in from_db]
    assert all(i.task.workload == task.workload for i, _ in from_db)
    inp, _ = autotvm.Database(db).best(task.workload, T)
    assert inp.config == tuner.best_config
    out = str(tmp_path / "best.log")
    autotvm.record.pick_best(log, out)
    (only,) = list(load_from_file(out))
    assert only[0].config == tuner.best_config


def test_apply_history_best_drives_topi_schedule(tuned):
    task, tuner, log, db = tuned
    A = te.placeholder((M, K), name="data")
    W = te.placeholder((N, K), name="weight")
    C = topi.nn.dense(A, W)
    s_best, t_best = task.instantiate(tuner.best_config)
    want = emit_source(s_best, t_best, T)
    for history in (log, db):
        with autotvm.apply_history_best(history):
            s = topi.schedule(C, target=T)
        assert emit_source(s, [A, W, C], T) == want
    with autotvm.apply_history_best(log):
        f = te.build(topi.schedule(C, target=T), [A, W, C], target=T)
    a = np.random.rand(M, K).astype("float32")
    w = np.random.rand(N, K).astype("float32")
    c = np.empty((M, N), "float32")
    f(a, w, c)
    np.testing.assert_allclose(c, a @ w.T, rtol=1e-5, atol=1e-5)


def test_resume_skips_what_was_measured(tuned):
    task, tuner, log, db = tuned
    again = autotvm.tuner.RandomTuner(task, seed=3)      # the same seed would redo them
    assert again.load_history(db) == 8
    assert again.best_config == tuner.best_config
    again.tune(n_trial=1, measure_option=_options(),
               callbacks=[autotvm.callback.log_to_database(db)])
    idx = [inp.config.index for inp, _ in autotvm.Database(db).load(workload=task.workload)]
    assert len(idx) == 9 and len(set(idx)) == 9


_PROBE = r"""
#include <signal.h>
#include <unistd.h>
static void tune_probe(float* x, float* y, int mode, int n) {
  if (mode == 1) raise(SIGSEGV);
  if (mode == 2) for (;;) pause();
  for (int i = 0; i < n; i++) y[i] = x[i] * (mode == 3 ? 3.0f : 2.0f);
}
"""


@autotvm.template("test.misbehaving")
def misbehaving(n):
    """mode 0: right; 1: segfault; 2: hang; 3: wrong answer."""
    cfg = autotvm.get_config()
    cfg.define_knob("mode", [0, 1, 2, 3])
    A = te.placeholder((n,), name="A")
    B = te.extern((n,), [A], lambda ins, outs: te.call_extern(
        "void", "tune_probe", ins[0], outs[0], cfg["mode"].val, n), name="B",
        attrs={"extern_sources": [_PROBE]})
    return te.create_schedule(B.op), [A, B]


def test_crash_hang_and_wrong_answer_are_errors_and_tuning_goes_on(tmp_path):
    task = autotvm.task.create("test.misbehaving", args=(64,), target=T)
    log = str(tmp_path / "bad.log")
    tuner = autotvm.tuner.GridSearchTuner(task)
    tuner.tune(n_trial=4, measure_option=_options(timeout=1),
               callbacks=[autotvm.callback.log_to_file(log)])
    errs = {inp.config["mode"].val: (res.error_no, res.costs[0])
            for inp, res in load_from_file(log)}
    E = autotvm.MeasureErrorNo
    assert errs[0][0] == E.NO_ERROR
    assert errs[1][0] == E.RUNTIME_DEVICE and "SIGSEGV" in errs[1][1]
    assert errs[2][0] == E.RUN_TIMEOUT
    assert errs[3][0] == E.WRONG_ANSWER and "differs from the reference" in errs[3][1]
    assert tuner.best_config["mode"].val == 0
    assert os.path.getsize(log) > 0


def test_command_line_resumes_and_shows_the_best(tuned, capsys):
    from texpr.autotvm.__main__ import main
    task, tuner, log, db = tuned
    main(["tune", "topi.dense", "--args", '[["TENSOR", [1, 32], "float32"], '
          '["TENSOR", [16, 32], "float32"]]', "--trials", "1", "--tuner", "grid",
          "--log", db, "--resume", "--parallel", "1"])
    out = capsys.readouterr().out
    assert re.search(r"resumed (8|9) records", out) and "best:" in out
    main(["best", db])
    out = capsys.readouterr().out
    assert out.count("topi.dense") == 1 and re.search(r"[0-9.]+ ms +config \d+", out)
