"""Measuring candidates: a Builder compiles them (in parallel processes: gcc is the
bottleneck), a Runner times them where a crash, a hang or a wrong result cannot stop the
tuning: each becomes a MeasureResult with an error number (TVM's MeasureErrorNo) and the
tuner goes on.

The interface a runner implements (LocalRunner here, a Ray runner elsewhere):
`set_task(task)` once, then `run(measure_inputs, build_results) -> [MeasureResult]`; a build
result carries a BuildArtifact, which loads in any process that sees the compiled library.
"""
import multiprocessing
import os
import time
import traceback
from typing import NamedTuple

from ..errors import TexprError
from .task import TuningError


class MeasureErrorNo:
    """Error numbers of a MeasureResult (TVM's values).

    >>> from texpr import autotvm
    >>> autotvm.MeasureErrorNo.RUN_TIMEOUT, autotvm.MeasureErrorNo.NAMES[5]
    (7, 'WRONG_ANSWER')
    """
    NO_ERROR = 0
    INSTANTIATION_ERROR = 1     # the template rejected the config (a TexprError)
    COMPILE_HOST = 2            # lowering or gcc failed
    COMPILE_DEVICE = 3
    RUNTIME_DEVICE = 4          # the kernel crashed (the process died) or raised
    WRONG_ANSWER = 5            # the output differs from the reference
    BUILD_TIMEOUT = 6
    RUN_TIMEOUT = 7
    UNKNOWN_ERROR = 8

    NAMES = {0: "NO_ERROR", 1: "INSTANTIATION_ERROR", 2: "COMPILE_HOST", 3: "COMPILE_DEVICE",
             4: "RUNTIME_DEVICE", 5: "WRONG_ANSWER", 6: "BUILD_TIMEOUT", 7: "RUN_TIMEOUT",
             8: "UNKNOWN_ERROR"}


class MeasureInput(NamedTuple):
    """What is measured: a task's config on a target.

    Example::

        task = autotvm.task.create("doc.scale", (64,), target="native")
        inp = autotvm.MeasureInput("native", task, task.config_space.get(3))
    """
    target: str
    task: object
    config: object


class MeasureResult(NamedTuple):
    """costs: seconds per run (one per repeat) or, on error, [the error message];
    all_cost: seconds the whole measurement took; timestamp: when it ended; confirmed: the
    winner of the finalists' re-measurement at the end of tuning (Tuner.tune(confirm=)), its
    costs one per round (the other finalists' re-measurements are logged unconfirmed): where a
    workload has such records, its best is the best of them; threads: the
    thread count the candidate was built and run for (0: not known), the tuner's
    parallel_units: a config tuned for 2 threads is no choice for 1 where a record of 1 is.

    >>> from texpr import autotvm
    >>> res = autotvm.MeasureResult([1.5e-6, 1.4e-6], autotvm.MeasureErrorNo.NO_ERROR, 0.8, 0.0)
    >>> min(res.costs), res.error_no
    (1.4e-06, 0)
    """
    costs: list
    error_no: int
    all_cost: float
    timestamp: float
    confirmed: bool = False
    threads: int = 0


class BuildArtifact(NamedTuple):
    """A compiled kernel that loads in another process (targets/build.module_of_record);
    inputs: per argument None or what the template declared with task.measure_input (the
    measuring process makes that argument from a drawn array)."""
    record: object
    lib_path: str
    target: str
    inputs: object = None

    def load(self):
        from ..targets.build import module_of_record
        return module_of_record(self.record, self.lib_path, self.target)

    def arg_specs(self):
        """[(shape, dtype, is_output)] of the kernel's arguments."""
        from ..lang.expr import Const
        func = self.record.func
        out = []
        for k, b in enumerate(func.args):
            if not all(isinstance(d, Const) for d in b.shape):
                raise TuningError(f"measuring {func.name}: argument {b.name} has a symbolic "
                                  f"shape {list(b.shape)}; a tuning workload needs constant "
                                  f"shapes")
            out.append((tuple(int(d.value) for d in b.shape), b.dtype, k in self.record.outputs))
        return out


class GPUArtifact(NamedTuple):
    """A GPU candidate (targets/gpu/build.py): its lowered program and emitted source, made in
    the builder; the measuring process compiles it for the device (OpenCL: pyopencl, on
    PoCL's CPU device where there is no GPU) and times its kernels with the device's
    profiling events. CUDA's cubin is compiled by the builder (binary), run where a CUDA
    device is. outputs: the indices of the program's arguments the kernels write."""
    program: object
    source: str
    outputs: tuple
    checks: object
    kernel_checks: object
    target: str
    binary: object = None

    @property
    def device_timed(self):
        """True: the runner times it with the module's time() (its kernels' device time)."""
        return True

    def load(self):
        from ..targets.registry import get_target
        ids = {id(self.program.args[k]) for k in self.outputs}
        if get_target(self.target).runs == "opencl":
            from ..targets.gpu.opencl_runtime import OpenCLModule
            return OpenCLModule(self.program, self.source, ids, self.checks,
                                self.kernel_checks)
        from ..targets.gpu.cuda_runtime import CUDAModule
        return CUDAModule(self.program, self.source, self.binary, ids, self.checks,
                          self.kernel_checks)

    def arg_specs(self):
        """[(shape, dtype, is_output)] of the program's arguments."""
        from ..lang.expr import Const
        out = []
        for k, b in enumerate(self.program.args):
            if not all(isinstance(d, Const) for d in b.shape):
                raise TuningError(f"measuring a GPU candidate: argument {b.name} has a "
                                  f"symbolic shape {list(b.shape)}")
            out.append((tuple(int(d.value) for d in b.shape), b.dtype, k in self.outputs))
        return out


def build_gpu_candidate(s, tensors, target):
    """Lower and emit a GPU candidate (and compile CUDA's cubin): a GPUArtifact."""
    from ..lower import lower
    from ..targets.build import output_buffers
    from ..targets.gpu.build import CUDA_ARCH, emit_gpu
    from ..targets.registry import get_target
    tgt = get_target(target)
    program = lower(s, tensors, "candidate", target=tgt)
    source, em = emit_gpu(program, tgt)
    written = output_buffers(s, program, tensors)
    outputs = tuple(k for k, b in enumerate(program.args) if id(b) in written)
    binary = None
    if tgt.runs != "opencl":
        from ..targets.toolchain import compile_cubin
        binary, _ = compile_cubin(source, CUDA_ARCH)
    return GPUArtifact(program, source, outputs, em.checks, em.kernel_checks, target, binary)


class BuildResult(NamedTuple):
    """A candidate compiled by a Builder: artifact (a BuildArtifact, or None on error), error
    (None, or (error_no, message)) and the seconds the build took.

    Example::

        builder = autotvm.LocalBuilder()
        builder.set_task(task)
        br, = builder.build([inp])           # br.error is None when it compiled
    """
    artifact: object        # a BuildArtifact, or None on error
    error: object           # None, or (error_no, message)
    time_cost: float


# ----------------------------------------------------------------------------- builders

class Builder:
    """Compiles measure inputs. `build(inputs) -> [BuildResult]`.

    Example (a builder of your own: compile here, one by one)::

        class MyBuilder(autotvm.Builder):
            def build(self, measure_inputs):
                return [my_compile(inp) for inp in measure_inputs]     # [BuildResult]
    """

    def __init__(self, timeout=30, n_parallel=None):
        self.timeout = timeout
        self.n_parallel = n_parallel or os.cpu_count() or 1
        self.task = None

    def set_task(self, task):
        """Remember the task whose candidates build() will get (called by the tuner).

        Example::

            builder.set_task(task)
        """
        self.task = task

    def build(self, measure_inputs):
        """[BuildResult] of `measure_inputs`, in order (a subclass implements it).

        Example::

            results = autotvm.LocalBuilder().build(inputs)
        """
        raise NotImplementedError


def build_candidate(inp):
    """Instantiate and compile one candidate in this process: a BuildResult."""
    t0 = time.perf_counter()
    from ..targets.build import build_kernel
    try:
        s, tensors, inputs = inp.task.instantiate_measured(inp.config)
    except TexprError as e:
        return BuildResult(None, (MeasureErrorNo.INSTANTIATION_ERROR, str(e)),
                           time.perf_counter() - t0)
    from ..targets.registry import get_target
    try:
        if get_target(inp.target).is_gpu:
            return BuildResult(build_gpu_candidate(s, tensors, inp.target), None,
                               time.perf_counter() - t0)
        rec, path = build_kernel(s, tensors, inp.target, name="candidate")
    except Exception as e:  # noqa: BLE001  (any failure of a candidate is its result)
        return BuildResult(None, (MeasureErrorNo.COMPILE_HOST, f"{type(e).__name__}: {e}"),
                           time.perf_counter() - t0)
    return BuildResult(BuildArtifact(rec, path, inp.target, _declared(inputs)), None,
                       time.perf_counter() - t0)


def _declared(inputs):
    """The measure_input declarations of a kernel's arguments, or None when it has none."""
    return tuple(inputs) if any(x is not None for x in inputs) else None


def _build_child(conn, inp):
    try:
        res = build_candidate(inp)
    except BaseException as e:  # noqa: BLE001
        res = BuildResult(None, (MeasureErrorNo.UNKNOWN_ERROR,
                                 f"{type(e).__name__}: {e}\n{traceback.format_exc()}"), 0.0)
    try:
        conn.send(res)
    finally:
        conn.close()
        os._exit(0)          # no atexit handlers of the parent's state in a forked child


class LocalBuilder(Builder):
    """Compiles candidates in up to n_parallel forked processes at once (the parent's
    templates are there without pickling them); a build longer than `timeout` seconds is
    killed and recorded as BUILD_TIMEOUT. Compiled libraries land in texpr's kernel cache
    (TEXPR_CACHE_DIR), where the runner loads them.

    Example::

        option = autotvm.measure_option(builder=autotvm.LocalBuilder(timeout=60, n_parallel=2))
    """

    def build(self, measure_inputs):
        """[BuildResult] of `measure_inputs`: each compiled in a forked process, n_parallel at once.

        Example::

            builder = autotvm.LocalBuilder(timeout=30)
            builder.set_task(task)
            results = builder.build([autotvm.MeasureInput("native", task, task.config_space.get(i))
                                     for i in range(4)])
        """
        ctx = multiprocessing.get_context("fork")
        results = [None] * len(measure_inputs)
        pending = list(enumerate(measure_inputs))
        running = {}        # index -> (process, conn, start)
        while pending or running:
            while pending and len(running) < self.n_parallel:
                k, inp = pending.pop(0)
                parent, child = ctx.Pipe(duplex=False)
                p = ctx.Process(target=_build_child, args=(child, inp), daemon=True)
                p.start()
                child.close()
                running[k] = (p, parent, time.perf_counter())
            multiprocessing.connection.wait([c for _, c, _ in running.values()], timeout=0.05)
            for k, (p, conn, t0) in list(running.items()):
                res = None
                if conn.poll():
                    try:
                        res = conn.recv()
                    except EOFError:
                        res = BuildResult(None, (MeasureErrorNo.COMPILE_HOST,
                                                 f"the build process died (exit code "
                                                 f"{p.exitcode})"), time.perf_counter() - t0)
                elif time.perf_counter() - t0 > self.timeout:
                    p.kill()
                    res = BuildResult(None, (MeasureErrorNo.BUILD_TIMEOUT,
                                             f"build took over {self.timeout} s"), self.timeout)
                elif not p.is_alive() and not conn.poll():
                    res = BuildResult(None, (MeasureErrorNo.COMPILE_HOST,
                                             f"the build process died (exit code "
                                             f"{p.exitcode})"), time.perf_counter() - t0)
                if res is not None:
                    results[k] = res
                    conn.close()
                    p.join(1)
                    del running[k]
        return results


# ----------------------------------------------------------------------------- runners

class Runner:
    """Times built candidates. `run(inputs, build_results) -> [MeasureResult]`.

    Example (a runner of your own: time each built candidate somewhere else)::

        class MyRunner(autotvm.Runner):
            def run(self, measure_inputs, build_results):
                return [my_time(self.job(br.artifact)) for br in build_results]   # [MeasureResult]
    """

    def __init__(self, timeout=10, n_parallel=None, number=4, repeat=3, min_repeat_ms=0,
                 check_correctness=False):
        self.timeout = timeout
        self.n_parallel = n_parallel or 1
        self.number = number
        self.repeat = repeat
        self.min_repeat_ms = min_repeat_ms
        self.check_correctness = check_correctness
        self.task = None
        self.reference = None

    def set_task(self, task):
        """Remember the task (and, with check_correctness, build its reference output).

        Example::

            runner = autotvm.LocalRunner(check_correctness=True)
            runner.set_task(task)                # the plain schedule's kernel, built once
        """
        self.task = task
        self.reference = reference_artifact(task) if self.check_correctness else None

    def job(self, artifact):
        """What a measuring process needs for one candidate (a dict of picklable values).

        Example::

            runner.set_task(task)
            job = runner.job(build_result.artifact)      # {"artifact": ..., "number": 4, ...}
        """
        return {"artifact": artifact, "reference": self.reference, "number": self.number,
                "repeat": self.repeat, "min_repeat_ms": self.min_repeat_ms,
                "seed": hash(self.task.workload) & 0xFFFF if self.task else 0}

    def run(self, measure_inputs, build_results):
        """[MeasureResult] of the built candidates, in order (a subclass implements it).

        Example::

            results = runner.run(inputs, builder.build(inputs))
        """
        raise NotImplementedError


def reference_artifact(task):
    """The task's output under the plainest schedule (no knob applied: create_schedule of
    its outputs) on portable C, built once: what check_correctness compares with (its
    arguments made from the drawn arrays as the template declares: task.measure_input)."""
    from ..lang.tensor import PlaceholderOp
    from ..schedule import create_schedule
    from ..targets.build import build_kernel
    from ..schedule.config_space import ConfigSpace
    _, tensors, inputs = task.instantiate_measured(ConfigSpace())
    outs = [t for t in tensors if not isinstance(t.op, PlaceholderOp)]
    s = create_schedule([t.op for t in outs])
    rec, path = build_kernel(s, tensors, "c", name="reference")
    return BuildArtifact(rec, path, "c", _declared(inputs))


class LocalRunner(Runner):
    """Times each candidate in a separate measuring process (a fresh interpreter, started
    again after a candidate kills it): `repeat` costs, each the fastest of at least `number`
    calls (and of min_repeat_ms of calls); more than `timeout` seconds for a candidate is RUN_TIMEOUT (the
    process is killed), a dead process is RUNTIME_DEVICE, an output that differs from the
    reference (check_correctness) is WRONG_ANSWER.

    Example::

        runner = autotvm.LocalRunner(number=10, repeat=3, timeout=5, check_correctness=True)
        tuner.tune(n_trial=32, measure_option=autotvm.measure_option(runner=runner))
    """

    def __init__(self, timeout=10, number=4, repeat=3, min_repeat_ms=0, check_correctness=False,
                 n_parallel=1):
        super().__init__(timeout, n_parallel, number, repeat, min_repeat_ms, check_correctness)
        self._worker = None

    def run(self, measure_inputs, build_results):
        """[MeasureResult] of the built candidates, timed one at a time in the measuring process.

        Example::

            runner = autotvm.LocalRunner()
            runner.set_task(task)
            results = runner.run(inputs, build_results)
        """
        out = []
        for inp, br in zip(measure_inputs, build_results):
            if br.error is not None:
                out.append(MeasureResult([br.error[1]], br.error[0], br.time_cost, time.time()))
                continue
            out.append(self._measure(br))
        return out

    def _measure(self, br):
        from .measure_worker import WorkerProcess
        t0 = time.perf_counter()
        if self._worker is None or not self._worker.alive():
            self._worker = WorkerProcess()
        status, value = self._worker.measure(self.job(br.artifact), self.timeout)
        if status in ("timeout", "died"):
            self._worker.close()
            self._worker = None
        return result_of(status, value, time.perf_counter() - t0 + br.time_cost, self.timeout)

    def close(self):
        """End the measuring process (a later run starts a new one).

        Example::

            runner.close()
        """
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


def result_of(status, value, cost, timeout):
    """The MeasureResult of a measuring process's answer (measure_worker.WorkerProcess)."""
    if status == "ok":
        return MeasureResult(value, MeasureErrorNo.NO_ERROR, cost, time.time())
    if status == "timeout":
        return MeasureResult([f"run took over {timeout} s"], MeasureErrorNo.RUN_TIMEOUT, cost,
                             time.time())
    if status == "died":
        return MeasureResult([f"the measuring process died ({value})"],
                             MeasureErrorNo.RUNTIME_DEVICE, cost, time.time())
    error_no, msg = value
    return MeasureResult([msg], error_no, cost, time.time())


def measure_option(builder=None, runner=None):
    """{"builder": ..., "runner": ...} for Tuner.tune (defaults: LocalBuilder(),
    LocalRunner()).

    Example::

        option = autotvm.measure_option(runner=autotvm.LocalRunner(number=10))
        tuner.tune(n_trial=64, measure_option=option)
    """
    return {"builder": builder or LocalBuilder(), "runner": runner or LocalRunner()}


def create_measure_batch(task, option):
    """A function measuring a list of MeasureInputs of `task` with option's builder and
    runner: [MeasureResult]."""
    builder, runner = option["builder"], option["runner"]
    if not isinstance(builder, Builder) or not isinstance(runner, Runner):
        raise TuningError(f"measure_option needs a Builder and a Runner, got {builder!r} and "
                          f"{runner!r}")
    builder.set_task(task)
    runner.set_task(task)

    def measure_batch(inputs):
        return runner.run(inputs, builder.build(inputs))
    measure_batch.runner = runner
    return measure_batch
