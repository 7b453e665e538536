"""Running "cuda" modules: the cubin is loaded through the CUDA driver API (cffi to libcuda).

Where there is no libcuda or no CUDA device, the module still holds its compiled cubin (built
and checked by nvcc at te.build) and calling it raises TexprError saying there is no device.
"""
import statistics

import numpy as np

from ...errors import TexprError
from .module import GPUModule
from ..runtime.arrays import DeviceArray

_CDEF = """
typedef int CUresult; typedef int CUdevice; typedef struct CUctx_st* CUcontext;
typedef struct CUmod_st* CUmodule; typedef struct CUfunc_st* CUfunction;
typedef struct CUstream_st* CUstream; typedef struct CUevent_st* CUevent;
typedef unsigned long long CUdeviceptr;
CUresult cuInit(unsigned int flags);
CUresult cuDeviceGetCount(int* count);
CUresult cuDeviceGet(CUdevice* dev, int ordinal);
CUresult cuDeviceGetName(char* name, int len, CUdevice dev);
CUresult cuDevicePrimaryCtxRetain(CUcontext* ctx, CUdevice dev);
CUresult cuCtxSetCurrent(CUcontext ctx);
CUresult cuCtxSynchronize(void);
CUresult cuModuleLoadData(CUmodule* module, const void* image);
CUresult cuModuleGetFunction(CUfunction* f, CUmodule m, const char* name);
CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes);
CUresult cuMemFree_v2(CUdeviceptr p);
CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t bytes);
CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t bytes);
CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n);
CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                        unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared,
                        CUstream stream, void** params, void** extra);
CUresult cuEventCreate(CUevent* e, unsigned int flags);
CUresult cuEventRecord(CUevent e, CUstream s);
CUresult cuEventSynchronize(CUevent e);
CUresult cuEventElapsedTime(float* ms, CUevent start, CUevent end);
CUresult cuEventDestroy_v2(CUevent e);
CUresult cuGetErrorString(CUresult r, const char** s);
"""

_DRIVER = None


class _Driver:
    def __init__(self):
        from cffi import FFI
        ffi = FFI()
        ffi.cdef(_CDEF)
        try:
            lib = ffi.dlopen("libcuda.so.1")
        except OSError:
            raise TexprError("no CUDA device: the CUDA driver (libcuda.so.1) is not installed on "
                             "this machine; the cubin was built and checked, run it where a GPU "
                             "is (or use target 'opencl')") from None
        self.ffi, self.lib = ffi, lib
        self.check(lib.cuInit(0), "cuInit")
        n = ffi.new("int*")
        self.check(lib.cuDeviceGetCount(n), "cuDeviceGetCount")
        if n[0] == 0:
            raise TexprError("no CUDA device: the driver reports 0 devices")
        dev = ffi.new("CUdevice*")
        self.check(lib.cuDeviceGet(dev, 0), "cuDeviceGet")
        name = ffi.new("char[256]")
        lib.cuDeviceGetName(name, 256, dev[0])
        self.name = ffi.string(name).decode(errors="replace")
        ctx = ffi.new("CUcontext*")
        self.check(lib.cuDevicePrimaryCtxRetain(ctx, dev[0]), "cuDevicePrimaryCtxRetain")
        self.ctx = ctx[0]
        self.current()

    def current(self):
        self.check(self.lib.cuCtxSetCurrent(self.ctx), "cuCtxSetCurrent")

    def check(self, r, what):
        if r != 0:
            s = self.ffi.new("const char**")
            self.lib.cuGetErrorString(r, s)
            msg = self.ffi.string(s[0]).decode() if s[0] != self.ffi.NULL else f"error {r}"
            raise TexprError(f"CUDA driver: {what} failed: {msg}")


def cuda_driver():
    global _DRIVER
    if _DRIVER is None:
        try:
            _DRIVER = _Driver()
        except (ImportError, AttributeError) as e:
            # ImportError: cffi (or the pycparser its cdef needs) is missing; AttributeError: what
            # cffi raises when this libcuda lacks a function declared in _CDEF (an old driver).
            # No libcuda, no device and driver errors are TexprErrors raised by _Driver itself.
            raise TexprError(f"no CUDA device: the CUDA driver could not start ({e})") from None
    return _DRIVER


def cuda_available():
    try:
        cuda_driver()
        return True
    except TexprError:
        return False


class _DevicePointers(dict):
    """id(buffer) -> device pointer of a call; .owned: those the call allocated (and frees),
    not the caller's device arrays."""

    def __init__(self):
        super().__init__()
        self.owned = []


class CUDAModule(GPUModule):
    def __init__(self, program, source, cubin_path, outputs, checks, kernel_checks, note=""):
        super().__init__(program, source, "cuda", outputs, checks, note=note)
        self.cubin_path = cubin_path
        with open(cubin_path, "rb") as f:
            self.cubin = f.read()
        self._kernel_checks = kernel_checks
        self._loaded = None

    def device_name(self):
        return _DRIVER.name if _DRIVER is not None else "none (cubin built, no CUDA device here)"

    def _load(self):
        if self._loaded is None:
            d = cuda_driver()
            ffi, lib = d.ffi, d.lib
            mod = ffi.new("CUmodule*")
            image = ffi.from_buffer(self.cubin)
            d.check(lib.cuModuleLoadData(mod, image), "cuModuleLoadData")
            fns = []
            for k in self.program.kernels:
                f = ffi.new("CUfunction*")
                d.check(lib.cuModuleGetFunction(f, mod[0], k.symbol.encode()),
                        "cuModuleGetFunction")
                fns.append((k, f[0], self._kernel_checks[k.name]))
            self._loaded = (d, mod, fns, image)
        return self._loaded

    def _alloc(self, d, nbytes):
        p = d.ffi.new("CUdeviceptr*")
        d.check(d.lib.cuMemAlloc_v2(p, max(nbytes, 16)), "cuMemAlloc")
        return p[0]

    def _setup(self, arrays, binding):
        d, _, fns, _ = self._load()
        d.current()                 # the context follows the calling thread
        ptrs = _DevicePointers()
        owned = ptrs.owned
        for b, a in zip(self.program.args, arrays):
            if isinstance(a, DeviceArray):      # CUDA memory given (DLPack): used where it is
                ptrs[id(b)] = a.ptr
                continue
            p = self._alloc(d, a.nbytes)
            owned.append(p)
            if a.nbytes:
                d.check(d.lib.cuMemcpyHtoD_v2(p, d.ffi.from_buffer(a), a.nbytes), "cuMemcpyHtoD")
            ptrs[id(b)] = p
        for t in self.program.temps:
            ptrs[id(t)] = self._alloc(d, self.temp_elems(t, binding) * np.dtype(t.dtype).itemsize)
            owned.append(ptrs[id(t)])
        err = self._alloc(d, 32)
        d.check(d.lib.cuMemsetD8_v2(err, 0, 32), "cuMemsetD8")
        return d, fns, ptrs, err

    def _launch(self, d, fns, ptrs, err, binding):
        ffi = d.ffi
        for (k, fn, uses_err), binding in self.launches(fns, binding):
            grid, block = self.launch_shape(k, binding)
            if 0 in grid:
                continue
            vals = [ffi.new("CUdeviceptr*", ptrs[id(b)]) for b in k.params]
            for v in k.shape_vars:
                ct = {"int32": "int32_t*", "int64": "int64_t*", "float32": "float*",
                      "float64": "double*"}[v.dtype]
                vals.append(ffi.new(ct, binding[v]))
            if uses_err:
                vals.append(ffi.new("CUdeviceptr*", err))
            params = ffi.new("void*[]", [ffi.cast("void*", x) for x in vals] or [ffi.NULL])
            d.check(d.lib.cuLaunchKernel(fn, *grid, *block, 0, ffi.NULL, params, ffi.NULL),
                    f"cuLaunchKernel({k.symbol})")

    def _free(self, d, ptrs, err):
        for p in ptrs.owned + [err]:
            d.lib.cuMemFree_v2(p)

    def __call__(self, *arrays):
        arrays, result = self.with_outputs(arrays)
        arrays, binding = self.bind(arrays)
        d, fns, ptrs, err = self._setup(arrays, binding)
        try:
            self._launch(d, fns, ptrs, err, binding)
            d.check(d.lib.cuCtxSynchronize(), "kernel execution")
            if self._checks:
                words = self.new_error_words()
                d.check(d.lib.cuMemcpyDtoH_v2(d.ffi.from_buffer(words), err, 32), "cuMemcpyDtoH")
                self.raise_if_error(words)
            for b, a, out in zip(self.program.args, arrays, self._outputs):
                if out and a.nbytes and not isinstance(a, DeviceArray):
                    d.check(d.lib.cuMemcpyDtoH_v2(d.ffi.from_buffer(a), ptrs[id(b)], a.nbytes),
                            "cuMemcpyDtoH")
        finally:
            self._free(d, ptrs, err)
        return result

    def time(self, *arrays, number=10, repeat=5):
        """Median seconds per call of the kernels (CUDA events), data on device."""
        arrays, _ = self.with_outputs(arrays)
        arrays, binding = self.bind(arrays)
        d, fns, ptrs, err = self._setup(arrays, binding)
        ffi, lib = d.ffi, d.lib
        try:
            self._launch(d, fns, ptrs, err, binding)
            d.check(lib.cuCtxSynchronize(), "kernel execution")
            events = []
            try:
                for _ in range(2):
                    e = ffi.new("CUevent*")
                    d.check(lib.cuEventCreate(e, 0), "cuEventCreate")
                    events.append(e[0])
                e0, e1 = events
                ms = ffi.new("float*")
                times = []
                for _ in range(max(1, repeat)):
                    d.check(lib.cuEventRecord(e0, ffi.NULL), "cuEventRecord")
                    for _ in range(max(1, number)):
                        self._launch(d, fns, ptrs, err, binding)
                    d.check(lib.cuEventRecord(e1, ffi.NULL), "cuEventRecord")
                    d.check(lib.cuEventSynchronize(e1), "kernel execution")
                    d.check(lib.cuEventElapsedTime(ms, e0, e1), "cuEventElapsedTime")
                    times.append(ms[0] * 1e-3 / max(1, number))
                return statistics.median(times)
            finally:
                for e in events:
                    lib.cuEventDestroy_v2(e)
        finally:
            self._free(d, ptrs, err)
