"""A kernel of any name works: its library exports only two prefixed symbols
(names.kernel_symbol), everything else in the C is static, and the runtime takes its
functions from the kernel's own library (RTLD_LOCAL, checked with dladdr), so a kernel named
like a libc / libm / libgomp function is never replaced by it (on main: `dup` and `time`
silently called libc, `round` and `select` did not compile)."""
import re
import shutil
import subprocess

import numpy as np
import pytest
from cffi import FFI

import texpr as te
from texpr.errors import InternalError
from texpr.targets.build import emit_source
from texpr.targets.runtime.module import _own_symbol

# libc, libm, libgomp, libdl and CPython/cffi names, the C entry point, and a few that are
# not C identifiers at all
NAMES = ["dup", "time", "round", "select", "main", "exp", "free", "malloc", "printf", "memcpy",
         "abs", "sqrt", "GOMP_parallel", "omp_get_num_threads", "read", "write", "exit", "dlsym",
         "PyObject_Call", "_init", "texpr_num_threads", "my kernel!", "9lives"]


def scaled_sum(n=64, parallel=False):
    """out[i] = 2 * a[i] + b[i] over n elements, vectorized (and parallel: libgomp)."""
    A = te.placeholder((n,), name="a")
    B = te.placeholder((n,), name="b")
    C = te.compute((n,), lambda i: 2.0 * A[i] + B[i], name="out")
    s = te.create_schedule(C.op)
    o, i = s[C].split(C.op.axis[0], 8)
    s[C].vectorize(i)
    if parallel:
        s[C].parallel(o)
    return s, [A, B, C]


def check(f, n=64):
    a = np.arange(n, dtype="float32")
    b = np.full(n, 0.5, "float32")
    out = np.zeros(n, "float32")
    f(a, b, out)
    np.testing.assert_array_equal(out, 2 * a + b)


@pytest.mark.parametrize("target", ["c", "native"])
@pytest.mark.parametrize("name", NAMES)
def test_kernel_named_like_a_library_function_computes(name, target):
    s, args = scaled_sum(parallel=target == "native")
    f = te.build(s, args, target=target, name=name)
    check(f)
    assert f.name == name and repr(f).startswith(f"<texpr.Module {name} ")
    assert f"kernel {name}" in f.source.splitlines()[0] or not name.isidentifier()


@pytest.mark.parametrize("target", ["c", "native"])
def test_the_library_exports_only_its_two_prefixed_functions(target):
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("binutils' nm is not installed")
    data = te.placeholder((16, 8), name="data")
    idx = te.placeholder((4,), "int32", name="idx")
    out = te.compute((4, 8), lambda i, j: te.max(data[idx[i], j], 0.0) // 1.0, name="out")
    s = te.create_schedule(out.op)
    s[out].vectorize(out.op.axis[1])
    f = te.build(s, [data, idx, out], target=target, name="round")
    r = subprocess.run([nm, "-D", "--defined-only", f.lib_path], capture_output=True, text=True,
                       check=True)
    exported = {ln.split()[-1] for ln in r.stdout.splitlines() if ln.split()[1] in "TtDdBb"}
    assert exported == {"texpr_kernel_round_entry", "texpr_kernel_round_set_num_threads"}


@pytest.mark.parametrize("target", ["c", "avx2", "avx512", "neon", "hvx"])
def test_every_other_function_in_the_source_is_static(target):
    s, args = scaled_sum()
    src = emit_source(s, args, target, name="time")
    defined = re.findall(r"^(?!static|typedef|#)[A-Za-z_][\w \*]*?\b(\w+)\s*\([^;{]*\)\s*\{",
                         src, flags=re.M)
    assert set(defined) == {"texpr_kernel_time_entry", "texpr_kernel_time_set_num_threads"}


def test_two_kernels_with_one_name_stay_distinct():
    s1, args1 = scaled_sum()
    A = te.placeholder((64,), name="a")
    B = te.placeholder((64,), name="b")
    C = te.compute((64,), lambda i: A[i] - B[i], name="out")
    s2 = te.create_schedule(C.op)
    for target in ("c", "native"):
        f1 = te.build(s1, args1, target=target, name="dup")
        f2 = te.build(s2, [A, B, C], target=target, name="dup")
        a, b = np.arange(64, dtype="float32"), np.full(64, 3.0, "float32")
        o1, o2 = np.zeros(64, "float32"), np.zeros(64, "float32")
        f1(a, b, o1)
        f2(a, b, o2)
        f1(a, b, o1)
        np.testing.assert_array_equal(o1, 2 * a + b)
        np.testing.assert_array_equal(o2, a - b)


def test_a_symbol_found_outside_the_kernel_library_is_refused():
    """dlsym on a handle also searches the libraries it depends on (here libm, which a kernel
    calling exp links): such a function must never be taken for the kernel's."""
    A = te.placeholder((8,), "float64", name="a")
    B = te.compute((8,), lambda i: te.exp(A[i]), name="out")
    f = te.build(te.create_schedule(B.op), [A, B], target="c", name="exp")
    ffi = FFI()
    ffi.cdef("double exp(double);")
    lib = ffi.dlopen(f.lib_path, ffi.RTLD_NOW | ffi.RTLD_LOCAL)
    assert lib.exp(0.0) == 1.0                    # found, in libm
    with pytest.raises(InternalError, match=r"kernel symbol exp resolves to .*libm"):
        _own_symbol(ffi, lib, "exp", f.lib_path)


@pytest.mark.parametrize("target,tools", [
    ("neon", ("aarch64-linux-gnu-gcc", "qemu-aarch64")),
    ("hvx", ("clang", "ld.lld", "qemu-hexagon"))])
@pytest.mark.parametrize("name", ["main", "read", "write", "exit"])
def test_emulated_kernels_of_any_name(target, tools, name):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{target}: {', '.join(missing)} not installed (`make test` installs them as root)")
    s, args = scaled_sum()
    check(te.build(s, args, target=target, name=name))


def test_gpu_kernels_are_prefixed_and_run_on_opencl():
    """A GPU kernel is named <name>_<stage>: `get` + `global_id` would be OpenCL's builtin."""
    A = te.placeholder((64,), name="a")
    B = te.compute((64,), lambda i: A[i] * 3.0, name="global_id")
    s = te.create_schedule(B.op)
    bx, tx = s[B].split(B.op.axis[0], factor=32)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    for target in ("cuda", "opencl"):
        src = emit_source(s, [A, B], target, name="get")
        assert "texpr_kernel_get_global_id(" in src and " get_global_id(" not in src.replace(
            "= get_global_id(", "")
    try:
        f = te.build(s, [A, B], target="opencl", name="get")
        a = np.arange(64, dtype="float32")
        out = np.zeros(64, "float32")
        f(a, out)
    except te.TexprError as e:
        if "no OpenCL" in str(e) or "platform" in str(e).lower() or "pyopencl" in str(e):
            pytest.skip(f"no OpenCL device here: {e}")
        raise
    np.testing.assert_array_equal(out, a * 3)
