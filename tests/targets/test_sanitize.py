"""TEXPR_SANITIZE: kernels built with gcc's sanitizers, a report fatal (toolchain.py); the
mode is not a no-op: an out-of-bounds write and a signed overflow compiled through the same
toolchain path are reported and end the process, while texpr kernels run clean (a bad index
read from data is still a TexprError, not an access)."""
import os
import subprocess
import sys
import textwrap

import pytest

import texpr as te
from texpr.errors import BuildError
from texpr.targets import toolchain

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_sanitizer_flags_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("TEXPR_SANITIZE", raising=False)
    assert toolchain.sanitizer_flags() == []
    monkeypatch.setenv("TEXPR_SANITIZE", "address, undefined")
    flags = toolchain.sanitizer_flags()
    assert flags[0] == "-fsanitize=address,undefined"
    assert "-fno-sanitize-recover=all" in flags and "-fno-omit-frame-pointer" in flags
    monkeypatch.setenv("TEXPR_SANITIZE", "address;rm -rf")
    with pytest.raises(BuildError, match=r"'address;rm -rf' is not a sanitizer name"):
        toolchain.sanitizer_flags()


def test_the_cache_key_includes_the_sanitizer_flags(monkeypatch):
    src = "int texpr_kernel_key_entry(int x) { return x + 1; }\n"
    monkeypatch.delenv("TEXPR_SANITIZE", raising=False)
    plain, _ = toolchain.compile_shared(src, ["-O2"])
    monkeypatch.setenv("TEXPR_SANITIZE", "undefined")
    sanitized, _ = toolchain.compile_shared(src, ["-O2"])
    assert plain != sanitized
    syms = subprocess.run(["nm", "-D", sanitized], capture_output=True, text=True).stdout
    assert "__ubsan_" in syms                       # really instrumented


def test_asan_kernels_are_refused_in_a_process_without_its_runtime(monkeypatch):
    if "libasan" in open("/proc/self/maps").read():
        pytest.skip("this process has ASan loaded (a sanitized run)")
    monkeypatch.setenv("TEXPR_SANITIZE", "address")
    A = te.placeholder((4,), name="a")
    B = te.compute((4,), lambda i: A[i] + 1.0, name="b")
    with pytest.raises(BuildError, match=r"need libasan.so loaded first.*sanitizer_env"):
        te.build(te.create_schedule(B.op), [A, B], target="c", name="unloaded")


_CHILD = textwrap.dedent(r'''
    import sys, numpy as np
    from cffi import FFI
    from texpr.targets.toolchain import compile_shared
    case = sys.argv[1]
    if case == "kernel":                  # a texpr kernel: checked gather, good and bad index
        import texpr as te
        data = te.placeholder((64, 8), name="data")
        idx = te.placeholder((16,), "int32", name="idx")
        out = te.compute((16, 8), lambda i, j: data[idx[i], j], name="out")
        s = te.create_schedule(out.op)
        s[out].vectorize(out.op.axis[1])
        f = te.build(s, [data, idx, out], target="native", name="gather")
        d = np.arange(512, dtype="float32").reshape(64, 8)
        i = np.arange(16, dtype="int32") * 3
        o = np.empty((16, 8), "float32")
        f(d, i, o)
        assert (o == d[i]).all()
        i[7] = 10**6
        try:
            f(d, i, o)
        except te.TexprError as e:
            print("texpr error:", e)
        sys.exit(0)
    body = {"overflow_write": "for (int64_t i = 0; i <= n; ++i) out[i] = 1.0f;",
            "in_bounds": "for (int64_t i = 0; i < n; ++i) out[i] = 1.0f;",
            "signed_overflow": "int32_t x = 2147483600; x += (int32_t)n; out[0] = (float)x;"}[case]
    src = "#include <stdint.h>\nvoid texpr_kernel_t_entry(float* out, int64_t n) { " + body + " }\n"
    path, _ = compile_shared(src, ["-O1"])
    ffi = FFI()
    ffi.cdef("void texpr_kernel_t_entry(void*, int64_t);")
    lib = ffi.dlopen(path)
    a = np.zeros(1000, "float32")          # > NumPy's small-block cache: its own malloc
    lib.texpr_kernel_t_entry(ffi.from_buffer(a), a.size)
    print("returned normally")
''')


def run_child(case, sanitizers=("address", "undefined")):
    env = dict(os.environ)
    env.update(toolchain.sanitizer_env(list(sanitizers)))
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", _CHILD, case], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def test_an_out_of_bounds_write_is_reported_and_fails():
    r = run_child("overflow_write")
    assert r.returncode != 0 and "returned normally" not in r.stdout
    assert "AddressSanitizer: heap-buffer-overflow" in r.stderr, r.stderr[-2000:]
    ok = run_child("in_bounds")
    assert ok.returncode == 0 and "returned normally" in ok.stdout, ok.stderr[-2000:]


def test_undefined_behaviour_is_reported_and_fails():
    r = run_child("signed_overflow", ("undefined",))
    assert r.returncode != 0 and "returned normally" not in r.stdout
    assert "runtime error: signed integer overflow" in r.stderr, r.stderr[-2000:]


def test_a_sanitized_texpr_kernel_runs_clean():
    r = run_child("kernel")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "idx[7] = 1000000 is out of range for dimension 0 of data" in r.stdout
    assert "Sanitizer" not in r.stderr
