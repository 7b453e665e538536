"""Running "opencl" modules through pyopencl on the first OpenCL device (PoCL's CPU device on
machines without a GPU). Kernels are launched in order on one in-order queue with profiling
on, so f.time reports the kernels' own device time (event start to end)."""
import statistics

import numpy as np

from ...errors import BuildError, TexprError
from .module import GPUModule

_CONTEXT = None


def opencl_context():
    """(context, profiling queue) on the first OpenCL device, created once."""
    global _CONTEXT
    if _CONTEXT is None:
        try:
            import pyopencl as cl
        except ImportError:
            raise TexprError("the opencl target needs pyopencl (pip install pyopencl) and an "
                             "OpenCL driver (Debian: pocl-opencl-icd)") from None
        try:
            ctx = cl.create_some_context(interactive=False)
        except cl.Error as e:       # no platform / device (pyopencl's errors all derive from it)
            raise TexprError(f"no OpenCL device found ({e}); install pocl-opencl-icd") from None
        queue = cl.CommandQueue(ctx, properties=cl.command_queue_properties.PROFILING_ENABLE)
        _CONTEXT = (ctx, queue)
    return _CONTEXT


_PROGRAMS = {}


def build_program(source):
    import pyopencl as cl
    ctx, _ = opencl_context()
    prg = _PROGRAMS.get(source)
    if prg is None:
        try:
            prg = cl.Program(ctx, source).build()
        except cl.RuntimeError as e:
            raise BuildError(f"the OpenCL compiler rejected generated source (a texpr bug):\n"
                             f"{str(e)[-4000:]}") from None
        _PROGRAMS[source] = prg
    return prg


class OpenCLModule(GPUModule):
    def __init__(self, program, source, outputs, checks, kernel_checks):
        super().__init__(program, source, "opencl", outputs, checks)
        self._ctx, self._queue = opencl_context()
        import pyopencl as cl
        prg = build_program(source)
        self._kernels = [(k, cl.Kernel(prg, k.symbol), kernel_checks[k.name])
                         for k in program.kernels]

    def device_name(self):
        d = self._ctx.devices[0]
        return f"OpenCL {d.platform.name.strip()} / {d.name.strip()}"

    def _device_buffers(self, arrays, binding):
        import pyopencl as cl
        ctx = self._ctx
        mf = cl.mem_flags
        bufs = {}
        for b, a in zip(self.program.args, arrays):
            if a.nbytes:
                bufs[id(b)] = cl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=a)
            else:
                bufs[id(b)] = cl.Buffer(ctx, mf.READ_WRITE, 16)
        for t in self.program.temps:
            n = self.temp_elems(t, binding) * np.dtype(t.dtype).itemsize
            bufs[id(t)] = cl.Buffer(ctx, mf.READ_WRITE, max(n, 16))
        err = self.new_error_words()
        err_buf = cl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=err)
        return bufs, err, err_buf

    def _launch(self, bufs, err_buf, binding):
        events = []
        for (k, fn, uses_err), binding in self.launches(self._kernels, binding):
            grid, block = self.launch_shape(k, binding)
            if 0 in grid:
                continue
            args = [bufs[id(b)] for b in k.params]
            args += [np.dtype(v.dtype).type(binding[v]) for v in k.shape_vars]
            if uses_err:
                args.append(err_buf)
            gsize = tuple(g * b for g, b in zip(grid, block))
            events.append(fn(self._queue, gsize, block, *args))
        return events

    def __call__(self, *arrays):
        import pyopencl as cl
        arrays, result = self.with_outputs(arrays)
        arrays, binding = self.bind(arrays)
        bufs, err, err_buf = self._device_buffers(arrays, binding)
        self._launch(bufs, err_buf, binding)
        if self._checks:
            cl.enqueue_copy(self._queue, err, err_buf)
            self._queue.finish()
            self.raise_if_error(err)
        for b, a, out in zip(self.program.args, arrays, self._outputs):
            if out and a.nbytes:
                cl.enqueue_copy(self._queue, a, bufs[id(b)])
        self._queue.finish()
        return result

    def time(self, *arrays, number=10, repeat=5):
        """Median seconds per call of the kernels (OpenCL profiling events), data on device."""
        arrays, _ = self.with_outputs(arrays)
        arrays, binding = self.bind(arrays)
        bufs, err, err_buf = self._device_buffers(arrays, binding)
        self._launch(bufs, err_buf, binding)
        self._queue.finish()
        times = []
        for _ in range(max(1, repeat)):
            total = 0.0
            for _ in range(max(1, number)):
                for ev in self._launch(bufs, err_buf, binding):
                    ev.wait()
                    total += (ev.profile.end - ev.profile.start) * 1e-9
            times.append(total / max(1, number))
        return statistics.median(times)
