"""The measuring process of LocalRunner: a fresh interpreter (no state, OpenMP pool or lock
of the tuner's process) that loads built candidates, checks them
against the reference and times them, one job at a time, until a candidate kills it."""
import time
import traceback

import numpy as np


class WorkerProcess:
    """A measuring process and the pipes to it. call(job, timeout) -> (status, value):
    ("ok", costs), ("error", (error_no, message)), ("timeout", None), ("died", how).

    Started as `python -m texpr.autotvm.measure_worker` (not multiprocessing's spawn, which
    would run the user's main script again in the child)."""

    def __init__(self):
        import os
        import subprocess
        import sys
        from multiprocessing.connection import Connection
        r1, w1 = os.pipe()          # parent -> child
        r2, w2 = os.pipe()          # child -> parent
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in
                                                      [env.get("PYTHONPATH")] if p])
        self.proc = subprocess.Popen([sys.executable, "-m", "texpr.autotvm.measure_worker",
                                      str(r1), str(w2)], pass_fds=(r1, w2), env=env,
                                     stdin=subprocess.DEVNULL)
        os.close(r1)
        os.close(w2)
        self.prepared = set()        # reference keys computed in the process
        self.send_conn = Connection(w1, readable=False)
        self.conn = Connection(r2, writable=False)
        if not self.conn.poll(120) or self._recv() != "ready":
            self.close()
            raise RuntimeError("the measuring process did not start")

    def _recv(self):
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            return None

    def alive(self):
        return self.proc.poll() is None

    def measure(self, job, timeout):
        """call(job) after the job's reference is computed in this process (once, with a
        limit of its own: the plain reference schedule may take longer than a candidate)."""
        if job["reference"] is not None:
            key = _reference_key(job)
            if key not in self.prepared:
                status, value = self.call(dict(job, kind="reference"),
                                          max(60.0, 10.0 * timeout))
                if status != "ok":
                    from .measure import MeasureErrorNo
                    return ("error", (MeasureErrorNo.UNKNOWN_ERROR,
                                      f"the reference failed ({status}: {value})"))
                self.prepared.add(key)
        return self.call(job, timeout)

    def call(self, job, timeout):
        try:
            self.send_conn.send(job)
        except (BrokenPipeError, OSError):
            return "died", _exit_text(self.proc.poll())
        if not self.conn.poll(timeout):
            self.close()
            return "timeout", None
        got = self._recv()
        if got is None:
            try:
                self.proc.wait(5)
            except Exception:  # noqa: BLE001
                pass
            return "died", _exit_text(self.proc.poll())
        return got

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(5)
        except Exception:  # noqa: BLE001
            pass
        self.send_conn.close()
        self.conn.close()


def _exit_text(code):
    import signal
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            pass
    return f"exit code {code}"


def random_inputs(specs, seed):
    """Arrays of the kernel's arguments: inputs drawn from a fixed seed, outputs zero."""
    rng = np.random.default_rng(seed)
    arrays = []
    for shape, dtype, is_output in specs:
        if is_output:
            arrays.append(np.zeros(shape, dtype))
        elif np.dtype(dtype).kind == "f":
            arrays.append(rng.uniform(-1, 1, shape).astype(dtype))
        elif np.dtype(dtype).kind == "b":
            arrays.append(rng.integers(0, 2, shape).astype(dtype))
        else:
            arrays.append(rng.integers(0, 8, shape).astype(dtype))
    return arrays


def input_arrays(artifact, seed):
    """The arguments of a measured kernel: random_inputs of its specs, where the template
    declared a measure_input (artifact.inputs) drawn for that spec and made into the
    argument by its function (the same drawn arrays for every candidate and the
    reference)."""
    specs = artifact.arg_specs()
    inputs = getattr(artifact, "inputs", None) or (None,) * len(specs)
    drawn = [s if d is None else (tuple(d[0][1]), d[0][2], s[2])
             for s, d in zip(specs, inputs)]
    arrays = random_inputs(drawn, seed)
    for k, (d, (shape, dtype, _)) in enumerate(zip(inputs, specs)):
        if d is not None:
            made = np.ascontiguousarray(d[1](arrays[k]))
            if made.shape != tuple(shape) or made.dtype != np.dtype(dtype):
                raise ValueError(f"measure_input of argument {k} made a {made.dtype} array of "
                                 f"shape {made.shape}; the kernel takes {dtype} {tuple(shape)}")
            arrays[k] = made
    return arrays


def _reference_key(job):
    return (job["reference"].lib_path, job["seed"])


def reference_outputs(job, references):
    """The reference's outputs on the job's inputs (computed once per process)."""
    key = _reference_key(job)
    if key not in references:
        ref = job["reference"]
        rarr = input_arrays(ref, job["seed"])
        ref.load()(*rarr)
        references[key] = [a for a, s in zip(rarr, ref.arg_specs()) if s[2]]
    return references[key]


def measure(job, references):
    """One job in this process: (status, value) as WorkerProcess.call returns it. A job of
    kind "reference" only computes the reference (its own, longer, time limit)."""
    from .measure import MeasureErrorNo
    if job.get("kind") == "reference":
        reference_outputs(job, references)
        return "ok", None
    art = job["artifact"]
    try:
        f = art.load()
        specs = art.arg_specs()
        arrays = input_arrays(art, job["seed"])
        f(*arrays)
    except Exception as e:  # noqa: BLE001  (the candidate's failure is its result)
        return "error", (MeasureErrorNo.RUNTIME_DEVICE, f"{type(e).__name__}: {e}")
    if job["reference"] is not None:
        got = [a for a, s in zip(arrays, specs) if s[2]]
        want = reference_outputs(job, references)
        if len(got) != len(want):
            return "error", (MeasureErrorNo.WRONG_ANSWER, f"{len(got)} outputs, the reference "
                                                          f"has {len(want)}")
        for k, (g, w) in enumerate(zip(got, want)):
            tol = 1e-3 if np.dtype(w.dtype).kind == "f" else 0
            scale = float(np.max(np.abs(w))) if w.size and tol else 1.0
            if g.shape != w.shape or not np.allclose(g, w, rtol=tol, atol=tol * max(scale, 1.0)):
                return "error", (MeasureErrorNo.WRONG_ANSWER,
                                 f"output {k} differs from the reference (max abs error "
                                 f"{float(np.max(np.abs(g.astype('float64') - w))):.3g})")
    number, repeat = max(1, job["number"]), max(1, job["repeat"])
    min_s = job["min_repeat_ms"] / 1000.0
    if getattr(art, "device_timed", False):     # a GPU candidate: its kernels' device time
        return "ok", [f.time(*arrays, number=number, repeat=1) for _ in range(repeat)]
    costs = []
    for _ in range(repeat):
        # the fastest of at least `number` calls (and min_repeat_ms): on a shared machine a
        # call that another process preempted says nothing about the candidate
        best, n, start = float("inf"), 0, time.perf_counter()
        while n < number or (time.perf_counter() - start < min_s and n < 1 << 20):
            t0 = time.perf_counter()
            f(*arrays)
            best = min(best, time.perf_counter() - t0)
            n += 1
        costs.append(best)
    return "ok", costs


def serve(recv_conn, send_conn):
    references = {}
    send_conn.send("ready")
    while True:
        try:
            job = recv_conn.recv()
        except (EOFError, OSError):
            return
        try:
            out = measure(job, references)
        except BaseException as e:  # noqa: BLE001
            from .measure import MeasureErrorNo
            out = "error", (MeasureErrorNo.UNKNOWN_ERROR,
                            f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        send_conn.send(out)


if __name__ == "__main__":
    import sys
    from multiprocessing.connection import Connection
    serve(Connection(int(sys.argv[1]), writable=False),
          Connection(int(sys.argv[2]), readable=False))
