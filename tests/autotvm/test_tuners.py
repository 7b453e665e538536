"""Tuners propose valid, distinct configs; the tuning loop (batches, callbacks, early
stopping, best) runs with a Builder / Runner that need no compiler (the interface a remote
runner implements), on a synthetic cost: a cost model must learn it."""
import io
import time

import pytest

from texpr import autotvm
from texpr.autotvm.measure import BuildResult, MeasureResult

ARGS = (("TENSOR", (500, 64), "float32"), ("TENSOR", (48, 64), "float32"))


@pytest.fixture(scope="module")
def task():
    return autotvm.task.create("topi.dense", args=ARGS, target="avx2")


def _synthetic_cost(cfg):
    """Seconds that fall with the register tile's size (and a little with kc)."""
    mr, nr = cfg["tile"].val
    return 1e-3 / (mr * nr) * (1.0 + 0.01 * (cfg["kc"].val == 64))


class NoBuild(autotvm.Builder):
    def build(self, inputs):
        return [BuildResult(None, None, 0.0) for _ in inputs]


class SyntheticRunner(autotvm.Runner):
    def run(self, inputs, build_results):
        return [MeasureResult([_synthetic_cost(i.config)], 0, 0.0, time.time())
                for i in inputs]


def _options(n=4):
    return autotvm.measure_option(builder=NoBuild(n_parallel=n), runner=SyntheticRunner())


@pytest.mark.parametrize("make", [
    lambda t: autotvm.tuner.RandomTuner(t, seed=0),
    lambda t: autotvm.tuner.GridSearchTuner(t),
    lambda t: autotvm.tuner.GATuner(t, pop_size=8, seed=0),
], ids=["random", "grid", "ga"])
def test_tuners_propose_valid_distinct_configs(task, make):
    tuner = make(task)
    seen = []
    out = io.StringIO()
    tuner.tune(n_trial=24, measure_option=_options(),
               callbacks=[lambda t, i, r: seen.extend(x.config.index for x in i),
                          autotvm.callback.progress_bar(24, file=out)])
    assert len(seen) == 24 and len(set(seen)) == 24
    assert all(0 <= i < len(task.config_space) for i in seen)
    assert seen[0] == task.fallback_index
    best = min(seen, key=lambda i: _synthetic_cost(task.config_space.get(i)))
    assert tuner.best_config.index == best
    assert "(24/24)" in out.getvalue() and "GFLOPS" in out.getvalue()


def test_early_stopping_ends_the_run(task):
    tuner = autotvm.tuner.GridSearchTuner(task)
    done = []
    tuner.tune(n_trial=100, measure_option=_options(n=2), early_stopping=6,
               callbacks=[lambda t, i, r: done.extend(i)])
    assert len(done) < 100 and len(done) - 1 - tuner.best_iter >= 5


def test_cost_model_tuner_learns_the_synthetic_cost(task):
    tuner = autotvm.tuner.XGBTuner(task, plan_size=8, sa_chains=8, sa_steps=8, min_train=8,
                                   epsilon=0.0, seed=1)     # passes for seeds 1-8
    seen = []
    tuner.tune(n_trial=16, measure_option=_options(n=8),
               callbacks=[lambda t, i, r: seen.extend(x.config for x in i)])
    assert len({c.index for c in seen}) == 16
    first, second = seen[:8], seen[8:]          # random, then the model's plan

    def mean(cs):
        return sum(_synthetic_cost(c) for c in cs) / len(cs)
    assert mean(second) < mean(first)


def test_cost_model_transfers_from_another_workload(task, tmp_path):
    """Records of another dense shape train the model before anything is measured: the
    first batch is already better than random."""
    other = autotvm.task.create("topi.dense", args=(("TENSOR", (600, 64), "float32"),
                                                    ("TENSOR", (48, 64), "float32")),
                                target="avx2")
    log = str(tmp_path / "other.log")
    autotvm.tuner.RandomTuner(other, seed=2).tune(
        n_trial=24, measure_option=_options(n=8),
        callbacks=[autotvm.callback.log_to_file(log)])
    tuner = autotvm.tuner.XGBTuner(task, feature_type="knob", plan_size=8, min_train=8,
                                   epsilon=0.0, seed=1)
    assert tuner.load_history(log) == 0 and len(tuner.transfer_xs) == 24 and tuner.trained
    first = tuner.next_batch(8)
    rand = autotvm.tuner.RandomTuner(task, seed=5).next_batch(8)

    def mean(cs):
        return sum(_synthetic_cost(c) for c in cs) / len(cs)
    assert mean(first) < mean(rand)
