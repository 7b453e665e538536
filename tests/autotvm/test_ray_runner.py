"""RayRunner on a real local Ray cluster (a head and its worker processes): a tuning run
measures through it, and a Ray worker killed in the middle of a measurement (by the
candidate itself, once) loses no measurement and duplicates none: Ray runs it again."""
import os

import pytest

import texpr as te
from texpr import autotvm
from texpr.autotvm.record import load_from_file
from texpr.targets.registry import get_target

ray = pytest.importorskip("ray", reason="RayRunner needs Ray (pip install ray: test extra)")

T = "native"

_PROBE = r"""
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
static void ray_probe(float* x, float* y, int mode, int n) {
  /* mode 1, first run: kill the Ray worker that started this measuring process */
  if (mode == 1 && access(RAY_PROBE_MARKER, F_OK) != 0) {
    close(open(RAY_PROBE_MARKER, O_CREAT | O_WRONLY, 0644));
    kill(getppid(), SIGKILL);
  }
  for (int i = 0; i < n; i++) y[i] = x[i] * 2.0f;
}
"""


@autotvm.template("test.ray_probe")
def ray_probe(n, marker):
    cfg = autotvm.get_config()
    cfg.define_knob("mode", [0, 1])
    A = te.placeholder((n,), name="A")
    src = f'#define RAY_PROBE_MARKER "{marker}"\n' + _PROBE
    B = te.extern((n,), [A], lambda ins, outs: te.call_extern(
        "void", "ray_probe", ins[0], outs[0], cfg["mode"].val, n), name="B",
        attrs={"extern_sources": [src]})
    return te.create_schedule(B.op), [A, B]


@pytest.fixture(scope="module")
def cluster():
    from texpr.autotvm.ray_runner import runtime_env
    resource = get_target(T).name
    ray.init(num_cpus=2, resources={resource: 2}, runtime_env=runtime_env(),
             include_dashboard=False, log_to_driver=False)
    yield resource
    ray.shutdown()


def test_tuning_through_ray_survives_a_killed_worker(cluster, tmp_path):
    marker = str(tmp_path / "killed_once")
    task = autotvm.task.create("test.ray_probe", args=(64, marker), target=T)
    log = str(tmp_path / "ray.log")
    runner = autotvm.RayRunner(number=2, repeat=1, timeout=20, check_correctness=True)
    tuner = autotvm.tuner.GridSearchTuner(task)
    tuner.tune(n_trial=2, measure_option=autotvm.measure_option(
        builder=autotvm.LocalBuilder(n_parallel=2), runner=runner),
        callbacks=[autotvm.callback.log_to_file(log)])
    assert runner.resource == cluster
    assert os.path.exists(marker)                   # a worker was killed mid-measurement
    recs = list(load_from_file(log))
    assert sorted(inp.config.index for inp, _ in recs) == [0, 1]    # once each
    assert all(res.error_no == autotvm.MeasureErrorNo.NO_ERROR for _, res in recs), recs


def test_a_resource_no_node_has_is_an_error(cluster):
    task = autotvm.task.create("test.ray_probe", args=(8, "/nonexistent/m"), target=T)
    runner = autotvm.RayRunner(resource="neon")
    tuner = autotvm.tuner.GridSearchTuner(task)
    with pytest.raises(autotvm.TuningError, match="no node of the Ray cluster has the "
                                                  "resource 'neon'"):
        tuner.tune(n_trial=1, measure_option=autotvm.measure_option(
            builder=autotvm.LocalBuilder(n_parallel=1), runner=runner))
