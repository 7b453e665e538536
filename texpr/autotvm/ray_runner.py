"""RayRunner: measurements spread over a Ray cluster, each on a node that carries the
target (a node resource named after it: "avx2", "avx512", "neon", "cuda", ...), so a
heterogeneous cluster measures every target where it runs, all at once.

Candidates are built by the tuner's Builder (anywhere: the compiled library travels with the
job as bytes); on the node a Ray task writes it to a local file and measures it in an
isolated process (measure_worker.py, as LocalRunner does), so a candidate that crashes or
hangs costs that process, never the Ray worker. A Ray worker or node that dies mid-run has
its tasks run again elsewhere (Ray's retries): every input gets exactly one result.

    ray start --head --resources='{"avx2": 2}'        # and on other machines:
    ray start --address=HEAD:6379 --resources='{"avx512": 1}'
    runner = autotvm.RayRunner(address="HEAD:6379")   # resource: the task's target
"""
import hashlib
import os
import tempfile
import time

from .measure import (BuildArtifact, MeasureErrorNo, MeasureResult, Runner, TuningError,
                      result_of)

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def runtime_env():
    """Ray's runtime_env for jobs that measure with this texpr (its directory on the
    workers' PYTHONPATH): pass it to ray.init when you start Ray yourself."""
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(
        [_ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p])}}


def _ship(artifact):
    """A BuildArtifact as (record, library bytes, target, inputs): loadable on another
    machine."""
    if artifact is None:
        return None
    with open(artifact.lib_path, "rb") as f:
        return (artifact.record, f.read(), artifact.target, artifact.inputs)


def _land(shipped):
    """A shipped artifact written to this machine's temporary directory (by content)."""
    if shipped is None:
        return None
    record, data, target, inputs = shipped
    d = os.path.join(tempfile.gettempdir(), "texpr_ray_kernels")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, hashlib.sha256(data).hexdigest()[:24] + ".so")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return BuildArtifact(record, path, target, inputs)


def measure_on_node(job, timeout):
    """The Ray task: measure one candidate in an isolated process on this node;
    (status, value) as measure_worker.WorkerProcess.call gives it."""
    from .measure_worker import WorkerProcess
    global _WORKER
    job = dict(job, artifact=_land(job["artifact"]), reference=_land(job["reference"]))
    if _WORKER is None or not _WORKER.alive():
        _WORKER = WorkerProcess()
    status, value = _WORKER.measure(job, timeout)
    if status in ("timeout", "died"):
        _WORKER.close()
        _WORKER = None
    return status, value


_WORKER = None      # this Ray worker's measuring process, kept between its tasks


class RayRunner(Runner):
    """Measures on a Ray cluster (`address`: "auto", "HOST:PORT", or None to start a local
    one), only on nodes with `resource` (default: the task's target as the registry names
    it, e.g. "avx2" for "native" on an AVX2 host), up to n_parallel at once (default: all of
    that resource in the cluster). max_retries: runs of a measurement whose Ray worker or
    node died.

    Example::

        runner = autotvm.RayRunner(address="auto", timeout=10)
        tuner.tune(n_trial=256, measure_option=autotvm.measure_option(runner=runner))
    """

    def __init__(self, address=None, resource=None, timeout=10, number=4, repeat=3,
                 min_repeat_ms=0, check_correctness=False, n_parallel=None, max_retries=3):
        super().__init__(timeout, n_parallel, number, repeat, min_repeat_ms, check_correctness)
        self.address = address
        self.resource = resource
        self.max_retries = max_retries
        self._remote = None

    def _ray(self):
        try:
            import ray
        except ImportError:
            raise TuningError("RayRunner needs Ray: pip install ray") from None
        if not ray.is_initialized():
            ray.init(address=self.address, runtime_env=runtime_env(), log_to_driver=False,
                     include_dashboard=False)
        if self._remote is None:
            self._remote = ray.remote(measure_on_node)
        return ray

    def set_task(self, task):
        """Remember the task; the resource defaults to its target's registry name.

        Example::

            runner = autotvm.RayRunner(address="auto")
            runner.set_task(task)                # runner.resource: e.g. "avx2"
        """
        super().set_task(task)
        if self.resource is None:
            from ..targets.registry import get_target
            self.resource = get_target(task.target).name

    def run(self, measure_inputs, build_results):
        """[MeasureResult] of the built candidates, measured on the cluster's nodes that have
        the resource.

        Example::

            results = runner.run(inputs, builder.build(inputs))
        """
        ray = self._ray()
        have = ray.cluster_resources().get(self.resource, 0)
        if have <= 0:
            raise TuningError(f"no node of the Ray cluster has the resource "
                              f"{self.resource!r}; start one with "
                              f"--resources='{{\"{self.resource}\": 1}}'")
        out = [None] * len(measure_inputs)
        refs = {}
        t0 = time.perf_counter()
        for k, br in enumerate(build_results):
            if br.error is not None:
                out[k] = MeasureResult([br.error[1]], br.error[0], br.time_cost, time.time())
                continue
            job = self.job(br.artifact)
            job = dict(job, artifact=_ship(br.artifact), reference=_ship(self.reference))
            ref = self._remote.options(resources={self.resource: 1}, num_cpus=0,
                                       max_retries=self.max_retries).remote(job, self.timeout)
            refs[ref] = k
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                k = refs[ref]
                cost = time.perf_counter() - t0 + build_results[k].time_cost
                try:
                    status, value = ray.get(ref)
                except Exception as e:  # noqa: BLE001  (retries exhausted: an error result)
                    out[k] = MeasureResult([f"Ray: {type(e).__name__}: {e}"],
                                           MeasureErrorNo.RUNTIME_DEVICE, cost, time.time())
                    continue
                out[k] = result_of(status, value, cost, self.timeout)
        return out

