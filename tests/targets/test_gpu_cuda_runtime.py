"""The CUDA module's host side (allocations, copies, kernel parameters, launch shapes, error
words, event timing) run against a stand-in for libcuda whose kernel launches execute the
OpenCL twin of each kernel (the same lowered program, the same parameters in the same order).

It checks the cffi marshalling of texpr/targets/gpu/cuda_runtime.py on machines without a GPU;
the CUDA C itself is checked by nvcc (test_gpu_cuda.py) and runs where a GPU is.
"""
import ctypes

import numpy as np
import pytest

import texpr as te
import texpr.topi as topi
from texpr.targets.gpu import cuda_runtime

from support.gpu_schedules import cross_thread_row_reduce, shared_matmul


class FakeCudaLib:
    """The driver calls CUDAModule makes, on host memory; launches run the OpenCL twin."""

    def __init__(self, ffi):
        self.ffi = ffi
        self.mem = {}
        self.next = 0x10000
        self.twins = []
        self.launches = []
        self.events = set()

    def cuMemAlloc_v2(self, p, n):
        p[0] = self.next
        self.mem[self.next] = bytearray(n)
        self.next += n + 4096
        return 0

    def cuMemFree_v2(self, p):
        del self.mem[p]
        return 0

    def cuMemcpyHtoD_v2(self, dst, src, n):
        self.mem[dst][:n] = bytes(self.ffi.buffer(src, n))
        return 0

    def cuMemcpyDtoH_v2(self, dst, src, n):
        self.ffi.buffer(dst, n)[:] = bytes(self.mem[src][:n])
        return 0

    def cuMemsetD8_v2(self, dst, v, n):
        self.mem[dst][:n] = bytes([v]) * n
        return 0

    def cuModuleLoadData(self, mod, image):
        return 0

    def cuModuleGetFunction(self, f, mod, name):
        name = name.decode()          # (a real libcuda gets a char*; cffi passes bytes here)
        for i, (k, _, _) in enumerate(self.twins):
            if k.symbol == name:
                f[0] = self.ffi.cast("CUfunction", i + 1)
                return 0
        return 500          # CUDA_ERROR_NOT_FOUND

    def cuLaunchKernel(self, fn, gx, gy, gz, bx, by, bz, shared, stream, params, extra):
        import pyopencl as cl
        from texpr.targets.gpu.opencl_runtime import opencl_context
        ctx, queue = opencl_context()
        k, clk, uses_err = self.twins[int(self.ffi.cast("intptr_t", fn)) - 1]
        assert (bx, by, bz) == k.block
        args, bufs, i = [], [], 0
        for _ in k.params:
            addr = self.ffi.cast("CUdeviceptr*", params[i])[0]
            bufs.append(addr)
            i += 1
        vals = []
        for v in k.shape_vars:
            vals.append(np.dtype(v.dtype).type(self.ffi.cast(f"{v.dtype}_t*", params[i])[0]))
            i += 1
        if uses_err:
            bufs.append(self.ffi.cast("CUdeviceptr*", params[i])[0])
        mf = cl.mem_flags
        cl_bufs = [cl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR,
                             hostbuf=np.frombuffer(self.mem[a], np.uint8).copy())
                   if len(self.mem[a]) else cl.Buffer(ctx, mf.READ_WRITE, 16) for a in bufs]
        all_args = cl_bufs[:len(k.params)] + vals + cl_bufs[len(k.params):]
        clk(queue, (gx * bx, gy * by, gz * bz), (bx, by, bz), *all_args)
        for a, b in zip(bufs, cl_bufs):
            if len(self.mem[a]):
                out = np.empty(len(self.mem[a]), np.uint8)
                cl.enqueue_copy(queue, out, b)
                self.mem[a][:] = out.tobytes()
        queue.finish()
        self.launches.append((k.name, (gx, gy, gz), (bx, by, bz)))
        return 0

    def cuCtxSynchronize(self):
        return 0

    def cuCtxSetCurrent(self, ctx):
        return 0

    def cuEventCreate(self, e, flags):
        self.next += 1
        e[0] = self.ffi.cast("CUevent", self.next)
        self.events.add(self.next)
        return 0

    def cuEventDestroy_v2(self, e):
        self.events.remove(int(self.ffi.cast("intptr_t", e)))
        return 0

    def cuEventRecord(self, e, s):
        return 0

    def cuEventSynchronize(self, e):
        return 0

    def cuEventElapsedTime(self, ms, a, b):
        ms[0] = 1.5
        return 0


class FakeDriver:
    def __init__(self):
        from cffi import FFI
        self.ffi = FFI()
        self.ffi.cdef(cuda_runtime._CDEF)
        self.lib = FakeCudaLib(self.ffi)
        self.name = "fake CUDA device (OpenCL twin)"
        self.ctx = None

    check = cuda_runtime._Driver.check

    def current(self):
        pass


@pytest.fixture
def fake_driver(monkeypatch):
    d = FakeDriver()
    monkeypatch.setattr(cuda_runtime, "_DRIVER", d)
    return d


def build_both(s, args, name, driver):
    cu = te.build(s, args, "cuda", name=name)
    ocl = te.build(s, args, "opencl", name=name)
    driver.lib.twins = [(k_cu, clk, ue) for k_cu, (_, clk, ue)
                        in zip(cu.program.kernels, ocl._kernels)]
    return cu


def test_matmul_through_the_cuda_host_path(fake_driver):
    s, args = shared_matmul(50, 40, 30, 16, 16, 8, 2, 2)
    f = build_both(s, args, "mm", fake_driver)
    a = np.random.default_rng(0).standard_normal((50, 30)).astype("float32")
    b = np.random.default_rng(1).standard_normal((40, 30)).astype("float32")
    c = np.zeros((50, 40), "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b.T, rtol=1e-4, atol=1e-4)
    assert fake_driver.lib.launches[-1][1:] == ((3, 4, 1), (8, 8, 1))
    assert "fake CUDA device" in repr(f)
    assert f.time(a, b, c, number=2, repeat=3) == pytest.approx(1.5e-3 / 2)
    assert not fake_driver.lib.mem            # every allocation was freed
    assert not fake_driver.lib.events         # and every timing event destroyed


def test_symbolic_shapes_temporaries_and_index_errors(fake_driver):
    V, D, L = 20, 8, 12
    data = te.placeholder((V, D), name="data")
    idx = te.placeholder((L,), "int32", name="indices")
    lens = te.placeholder((te.var("b"),), "int32", name="lengths")
    out = topi.sparse.sparse_lengths_sum(data, idx, lens)
    f = build_both(topi.schedule(out, "cuda"), [data, idx, lens, out], "sls", fake_driver)
    rng = np.random.default_rng(2)
    dv, iv = rng.standard_normal((V, D)).astype("float32"), rng.integers(0, V, L).astype("int32")
    lv = np.array([3, 0, 5, 4], "int32")
    o = np.zeros((4, D), "float32")
    f(dv, iv, lv, o)
    np.testing.assert_allclose(o, topi.testing.sparse_lengths_sum_ref(dv, iv, lv), rtol=1e-5)
    iv[2] = V
    with pytest.raises(te.ArgumentError, match=r"indices\[2\] = 20 is out of range"):
        f(dv, iv, lv, o)


def test_cross_thread_reduction_host_path(fake_driver):
    s, args = cross_thread_row_reduce(3, 100, 24)
    f = build_both(s, args, "rs", fake_driver)
    a = np.random.default_rng(3).standard_normal((3, 100)).astype("float32")
    b = np.zeros(3, "float32")
    f(a, b)
    np.testing.assert_allclose(b, a.sum(1), rtol=1e-5, atol=1e-5)


def test_scan_time_loop_runs_on_the_host(fake_driver):
    """A scan's body kernel is launched once per time step, the step its last parameter."""
    from support.gpu_schedules import bound_cumsum
    s, args = bound_cumsum(threads=32)
    f = build_both(s, args, "cs", fake_driver)
    a = np.random.default_rng(4).standard_normal((6, 70)).astype("float32")
    b = np.zeros_like(a)
    f(a, b)
    np.testing.assert_allclose(b, np.cumsum(a, 0), rtol=1e-5, atol=1e-5)
    names = [k for k, _, _ in fake_driver.lib.launches]
    assert names == ["cs_init"] + ["cs_update"] * 5


class _DLTensor(ctypes.Structure):
    """dlpack.h's DLManagedTensor (DLTensor, manager_ctx, deleter), as a producer lays it out."""
    _fields_ = [("data", ctypes.c_void_p), ("device_type", ctypes.c_int32),
                ("device_id", ctypes.c_int32), ("ndim", ctypes.c_int32),
                ("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64),
                ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]


class FakeCudaTensor:
    """A framework's float32 CUDA tensor in the fake driver's memory, exported through DLPack."""

    def __init__(self, driver, host):
        p = driver.ffi.new("CUdeviceptr*")
        driver.lib.cuMemAlloc_v2(p, host.nbytes)
        self.ptr = p[0]
        driver.lib.mem[self.ptr][:] = host.tobytes()
        self.shape = (ctypes.c_int64 * host.ndim)(*host.shape)
        self.t = _DLTensor(self.ptr, 2, 0, host.ndim, 2, 32, 1, self.shape, None, 0, None, None)

    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, stream=None):
        new = ctypes.pythonapi.PyCapsule_New
        new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p,
                                                       ctypes.c_void_p]
        return new(ctypes.addressof(self.t), b"dltensor", None)


def test_cuda_tensors_are_used_where_they_lie(fake_driver):
    """Arrays in CUDA memory (DLPack device 2) are passed to the kernel as their device
    pointers: no copy in or out, no allocation for them, nothing of theirs freed."""
    s, args = cross_thread_row_reduce(3, 100, 24)
    f = build_both(s, args, "rs_dev", fake_driver)
    a = np.random.default_rng(5).standard_normal((3, 100)).astype("float32")
    da, db = FakeCudaTensor(fake_driver, a), FakeCudaTensor(fake_driver, np.zeros(3, "float32"))
    copies = []
    real_htod = fake_driver.lib.cuMemcpyHtoD_v2
    fake_driver.lib.cuMemcpyHtoD_v2 = lambda *x: copies.append(x) or real_htod(*x)
    f(da, db)
    assert not copies
    out = np.frombuffer(bytes(fake_driver.lib.mem[db.ptr]), "float32")
    np.testing.assert_allclose(out, a.sum(1), rtol=1e-5, atol=1e-5)
    assert set(fake_driver.lib.mem) == {da.ptr, db.ptr}      # the call freed only its own
    with pytest.raises(te.ArgumentError, match=r"argument B: dimension 0 is 2, expected 3"):
        f(da, FakeCudaTensor(fake_driver, np.zeros(2, "float32")))
    with pytest.raises(te.ArgumentError, match="output B: the inputs are in device memory"):
        f(da)
