"""Running kernels built for a CPU this host cannot execute: a static program under an emulator.

A cross target (NEON or HVX on x86-64) cannot be loaded with cffi. Instead, the first call
of its module cross-compiles one static executable (cached on disk by a hash of source,
compiler and flags, like native modules) made of

    the kernel source  +  an I/O layer (target specific)  +  the generic harness main below

and every call then

    1. validates the arrays exactly as a native Module does (same plan, same errors),
    2. writes all argument arrays and the shape values to an input file,
    3. runs `<emulator> ./harness INPUT OUTPUT` (e.g. `qemu-aarch64`),
    4. reads the output buffers back into the caller's output arrays.

File formats (little-endian int64 everywhere, all three architectures are little-endian):

    input:  "TXPRIN01" nargs nshape nthreads
            { nbytes is_output bytes[nbytes] } * nargs
            shape_value * nshape
    output: "TXPROUT1" nouts
            { arg_index nbytes bytes[nbytes] } * nouts

The generic harness code uses no C library at all. It calls seven primitives that an I/O
layer defines: `texpr_h_open_read`, `texpr_h_open_write`, `texpr_h_read`, `texpr_h_write`,
`texpr_h_close`, `texpr_h_alloc` (aligned for the target's vectors: 64 bytes here, 128 for
HVX; never freed) and `texpr_h_fail` (print a message, exit 2). The layer also provides the
program entry, which calls `texpr_harness_main(argc, argv)`. LIBC_IO_PRIMS / LIBC_IO_ENTRY
implement them with POSIX calls and `main`; a freestanding target (HVX: no libc) passes its own
raw-system-call layer and `_start` to HarnessSpec instead.
"""
import os
import shutil
import statistics
import struct
import subprocess
import tempfile
import time

import numpy as np

from ...errors import BuildError, InternalError, TexprError
from ..index_checks import raise_index_error
from .module import ValidationPlan, num_threads
from ..toolchain import compile_executable

MAGIC_IN = b"TXPRIN01"
MAGIC_OUT = b"TXPROUT1"

# ----------------------------------------------------------------------------- C parts

LIBC_IO_PRIMS = r"""
/* ---- texpr harness I/O layer: POSIX / libc ---- */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
static int texpr_h_open_read(const char* path) { return open(path, O_RDONLY); }
static int texpr_h_open_write(const char* path) { return open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644); }
static long texpr_h_read(int fd, void* p, long n) { return (long)read(fd, p, (size_t)n); }
static long texpr_h_write(int fd, const void* p, long n) { return (long)write(fd, p, (size_t)n); }
static void texpr_h_close(int fd) { close(fd); }
static void* texpr_h_alloc(long n) {
  void* p = NULL;
  if (posix_memalign(&p, 64, (size_t)(n > 0 ? n : 64)) != 0) return NULL;
  return p;
}
static void texpr_h_fail(const char* msg) { fprintf(stderr, "texpr harness: %s\n", msg); exit(2); }
"""

LIBC_IO_ENTRY = r"""
int main(int argc, char** argv) { return texpr_harness_main(argc, argv); }
"""

_CORE = r"""
/* ---- texpr harness: read the arguments, call the kernel, write the outputs ---- */
#define TEXPR_H_NARGS {nargs}
#define TEXPR_H_NSHAPE {nshape}
static void texpr_h_read_all(int fd, void* p, int64_t n) {{
  char* c = (char*)p;
  while (n > 0) {{
    long r = texpr_h_read(fd, c, n > (1L << 30) ? (1L << 30) : (long)n);
    if (r <= 0) texpr_h_fail("input file is truncated");
    c += r; n -= r;
  }}
}}
static void texpr_h_write_all(int fd, const void* p, int64_t n) {{
  const char* c = (const char*)p;
  while (n > 0) {{
    long r = texpr_h_write(fd, c, n > (1L << 30) ? (1L << 30) : (long)n);
    if (r <= 0) texpr_h_fail("cannot write the output file");
    c += r; n -= r;
  }}
}}
static int64_t texpr_h_get(int fd) {{ int64_t v; texpr_h_read_all(fd, &v, 8); return v; }}
static void texpr_h_put(int fd, int64_t v) {{ texpr_h_write_all(fd, &v, 8); }}
static int texpr_h_same8(const char* a, const char* b) {{
  for (int k = 0; k < 8; ++k) if (a[k] != b[k]) return 0;
  return 1;
}}

static int texpr_harness_main(int argc, char** argv) {{
  void* buf[TEXPR_H_NARGS + 1];
  int64_t size[TEXPR_H_NARGS + 1], is_out[TEXPR_H_NARGS + 1], shape[TEXPR_H_NSHAPE + 1];
  char magic[8];
  if (argc != 3) texpr_h_fail("usage: harness INPUT OUTPUT");
  int in = texpr_h_open_read(argv[1]);
  if (in < 0) texpr_h_fail("cannot open the input file");
  texpr_h_read_all(in, magic, 8);
  if (!texpr_h_same8(magic, "{magic_in}")) texpr_h_fail("input file: bad magic");
  if (texpr_h_get(in) != TEXPR_H_NARGS) texpr_h_fail("input file: wrong number of arrays");
  if (texpr_h_get(in) != TEXPR_H_NSHAPE) texpr_h_fail("input file: wrong number of shape values");
  int64_t nthreads = texpr_h_get(in);
  for (int k = 0; k < TEXPR_H_NARGS; ++k) {{
    size[k] = texpr_h_get(in);
    is_out[k] = texpr_h_get(in);
    if (size[k] < 0) texpr_h_fail("input file: negative array size");
    buf[k] = texpr_h_alloc(size[k]);
    if (!buf[k]) texpr_h_fail("out of memory");
    texpr_h_read_all(in, buf[k], size[k]);
  }}
  for (int k = 0; k < TEXPR_H_NSHAPE; ++k) shape[k] = texpr_h_get(in);
  texpr_h_close(in);
  (void)shape; (void)buf;
  int64_t err[3] = {{0, 0, 0}};    /* this call's error words (index_checks.py) */
  (void)err;
  {fname}_set_num_threads((int)nthreads);
  {call};
  int out = texpr_h_open_write(argv[2]);
  if (out < 0) texpr_h_fail("cannot create the output file");
  int64_t nouts = 0;
  for (int k = 0; k < TEXPR_H_NARGS; ++k) nouts += is_out[k] != 0;
  texpr_h_write_all(out, "{magic_out}", 8);
  texpr_h_put(out, nouts);
  for (int k = 0; k < TEXPR_H_NARGS; ++k) {{
    if (!is_out[k]) continue;
    texpr_h_put(out, k);
    texpr_h_put(out, size[k]);
    texpr_h_write_all(out, buf[k], size[k]);
  }}
  texpr_h_write_all(out, err, 24);
  texpr_h_close(out);
  return 0;
}}
"""


def harness_source(kernel_source, fname, nargs, nshape, io_prims=LIBC_IO_PRIMS,
                   io_entry=LIBC_IO_ENTRY, checked=False):
    """Kernel source + I/O layer + generic harness main: one C translation unit.

    The kernel's own headers come first. Its symbols are prefixed (names.kernel_symbol), so
    a kernel named like a C library function (`read`, `write`, `main`, ...) can clash neither
    with the I/O layer nor, in a static link, with libc.
    """
    includes = [ln for ln in kernel_source.splitlines() if ln.startswith("#include")]
    call_args = [f"buf[{k}]" for k in range(nargs)] + [f"shape[{k}]" for k in range(nshape)]
    if checked:                 # the kernel takes the error words as its last argument
        call_args.append("err")
    core = _CORE.format(nargs=nargs, nshape=nshape, fname=fname,
                        call=f"{fname}_entry({', '.join(call_args)})",
                        magic_in=MAGIC_IN.decode(), magic_out=MAGIC_OUT.decode())
    title = "/* texpr emulator harness: kernel + I/O layer + main (targets/runtime/harness.py) */"
    return "\n".join([title] + includes + [kernel_source.rstrip("\n")]
                     + [io_prims.strip("\n"), core.strip("\n"), io_entry.strip("\n"), ""])


# ----------------------------------------------------------------------------- targets

class HarnessSpec:
    """How to build and run the harness program of one cross target.

    cc / flags: the cross compiler and its flags (flags must make a static executable);
    emulator: argv prefix that runs it (the program, input and output paths are appended);
    install: what to install when a tool is missing (goes into the error message);
    io_prims / io_entry: the I/O layer (C text) placed before / after the generic main;
    check_libc: look for the target's libc.a; libs: link arguments (none when freestanding);
    precompile_includes: precompile the kernel's #include lines once per flags (a GCC
    precompiled header: arm_neon.h alone is ~0.2 s of each compile).
    """

    def __init__(self, name, cc, flags, emulator, install, io_prims=LIBC_IO_PRIMS,
                 io_entry=LIBC_IO_ENTRY, check_libc=True, libs=("-lm",),
                 precompile_includes=False):
        self.name = name
        self.cc = cc
        self.flags = list(flags)
        self.emulator = list(emulator)
        self.install = install
        self.io_prims = io_prims
        self.io_entry = io_entry
        self.check_libc = check_libc
        self.libs = tuple(libs)
        self.precompile_includes = precompile_includes

    def module(self, func, source, fname, target, outputs, uses_parallel=False, checks=(),
               extra_flags=()):
        """extra_flags: the target's compiler options beyond the harness's (-ffp-contract=off)."""
        return EmulatedModule(func, source, fname, target, outputs, self,
                              uses_parallel=uses_parallel, checks=checks, extra_flags=extra_flags)

    # tool checks, each done once per process
    _checked = {}

    def require_compiler(self):
        key = ("cc", self.cc)
        if key in self._checked:
            return
        if shutil.which(self.cc) is None:
            raise TexprError(f"{self.cc} not found: {self.install}")
        if self.check_libc:
            # a static program needs the target's libc.a (libc6-dev-<arch>-cross on Debian)
            try:
                r = subprocess.run([self.cc, "-print-file-name=libc.a"], capture_output=True,
                                   text=True, timeout=60)
                found = os.path.isabs(r.stdout.strip())
            except (OSError, subprocess.SubprocessError):
                found = False
            if not found:
                raise TexprError(f"{self.cc} has no C library to link a static program with "
                                 f"(libc.a not found): {self.install}")
        self._checked[key] = True

    def require_emulator(self):
        prog = self.emulator[0]
        if ("emu", prog) in self._checked:
            return
        if shutil.which(prog) is None:
            raise TexprError(f"{prog} not found: {self.install}")
        self._checked[("emu", prog)] = True


# +fp16: half-precision arithmetic (the fp16_arithmetic feature); every core with the dot
# product extension (Cortex-A55/A75 and later, Neoverse N1) has it
NEON_MARCH = "-march=armv8.2-a+dotprod+fp16"

#: AArch64 Linux user mode: aarch64-linux-gnu-gcc -static (glibc, static libgomp), qemu-aarch64.
AARCH64_LINUX = HarnessSpec(
    "aarch64-linux", "aarch64-linux-gnu-gcc",
    ["-O3", "-static", NEON_MARCH, "-fopenmp", "-std=gnu11", "-fno-strict-aliasing", "-fno-tree-loop-distribution",
     "-fno-tree-loop-if-convert", "-Wno-psabi"],    # the same GCC 12 as on x86 (build.py)
    ["qemu-aarch64"],
    "apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user",
    precompile_includes=True)


# ----------------------------------------------------------------------------- the module

class EmulatedModule:
    """Callable kernel for a cross target: f(*arrays) runs it in the emulator (TVM style).

    Same call signature, argument validation and errors as a native Module. The executable is
    cross-compiled on the first call (or first access of `exe_path`) and cached on disk.
    """

    def __init__(self, func, source, fname, target, outputs, spec, uses_parallel=False, checks=(),
                 extra_flags=()):
        self.name = func.name
        self._flags = list(spec.flags) + list(extra_flags)
        self.source = source
        self.target = target
        self.spec = spec
        self.note = f"runs under {spec.emulator[0]}"
        self._fname = fname
        self._uses_parallel = uses_parallel
        self._plan = ValidationPlan(func, outputs)
        self._is_out = [id(b) in outputs for b in func.args]
        self._nargs = len(func.args)
        self._nshape = len(func.shape_vars)
        self._exe = None
        self._checks = list(checks)

    def __repr__(self):
        return f"<texpr.Module {self.name} target={self.target}, {self.note}>"

    def _repr_html_(self):
        """Jupyter: the generated kernel source, highlighted."""
        from ...display import module_html
        return module_html(self)

    @property
    def harness_source(self):
        """The whole C program: kernel source + I/O layer + harness main."""
        return harness_source(self.source, self._fname, self._nargs, self._nshape,
                              self.spec.io_prims, self.spec.io_entry, checked=bool(self._checks))

    @property
    def exe_path(self):
        """Path of the cached static executable (cross-compiled on first use)."""
        if self._exe is None:
            self.spec.require_compiler()
            try:
                prefix = None
                if self.spec.precompile_includes:   # the harness source starts with them
                    prefix = "".join(ln + "\n" for ln in self.source.splitlines()
                                     if ln.startswith("#include"))
                self._exe, _ = compile_executable(self.harness_source, self._flags,
                                                  cc=self.spec.cc, libs=self.spec.libs,
                                                  prefix_header=prefix)
            except BuildError as e:
                raise BuildError(f"{e}\n(if a header or library is missing: "
                                 f"{self.spec.install})") from None
        return self._exe

    lib_path = exe_path

    def __call__(self, *arrays):
        result = None
        if len(arrays) != self._plan.ncall:             # outputs omitted: allocated here
            arrays, result = self._plan.with_outputs(arrays)
        arrays, shape_vals = self._plan.check(arrays)
        exe = self.exe_path
        self.spec.require_emulator()
        self._run(exe, arrays, shape_vals)
        return result

    def time(self, *arrays, number=10, repeat=5):
        """Median seconds per call over `repeat` timings of `number` calls each.

        Under emulation this measures the *emulated* call: writing the input file, starting
        the emulator (tens of milliseconds), running the translated kernel and reading the
        outputs back. It says nothing about the speed on real hardware.
        """
        if len(arrays) != self._plan.ncall:
            arrays, _ = self._plan.with_outputs(arrays)
        arrays, shape_vals = self._plan.check(arrays)
        exe = self.exe_path
        self.spec.require_emulator()
        self._run(exe, arrays, shape_vals)
        times = []
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            for _ in range(max(1, number)):
                self._run(exe, arrays, shape_vals)
            times.append((time.perf_counter() - t0) / max(1, number))
        return statistics.median(times)

    # ------------------------------------------------------------------ one emulated call
    def _run(self, exe, arrays, shape_vals):
        nthreads = num_threads() if self._uses_parallel else 1
        with tempfile.TemporaryDirectory(prefix="texpr_run_") as tmp:
            inp, outp = os.path.join(tmp, "in.bin"), os.path.join(tmp, "out.bin")
            with open(inp, "wb") as f:
                f.write(MAGIC_IN + struct.pack("<qqq", self._nargs, self._nshape, nthreads))
                for a, is_out in zip(arrays, self._is_out):
                    f.write(struct.pack("<qq", a.nbytes, int(is_out)))
                    if a.nbytes:
                        f.write(_bytes_view(a))
                f.write(struct.pack(f"<{self._nshape}q", *shape_vals))
            try:
                r = subprocess.run(self.spec.emulator + [exe, inp, outp], capture_output=True)
            except OSError as e:
                raise TexprError(f"cannot run {self.spec.emulator[0]}: {e}; "
                                 f"{self.spec.install}") from None
            if r.returncode != 0:
                why = (f"killed by signal {-r.returncode}" if r.returncode < 0
                       else f"exit status {r.returncode}")
                err = r.stderr.decode(errors="replace").strip()[-2000:]
                raise TexprError(f"kernel {self.name} failed under {self.spec.emulator[0]} "
                                 f"({why}); this is a texpr bug" + (f":\n{err}" if err else ""))
            self._read_outputs(outp, arrays)

    def _read_outputs(self, path, arrays):
        outs = [k for k, o in enumerate(self._is_out) if o]
        expect = 16 + sum(16 + arrays[k].nbytes for k in outs) + 24
        try:
            size = os.path.getsize(path)
        except OSError:
            size = -1
        if size != expect:
            raise InternalError(f"kernel {self.name}: the harness wrote {size} bytes of output, "
                                f"expected {expect}")
        with open(path, "rb") as f:
            magic, n = f.read(8), struct.unpack("<q", f.read(8))[0]
            if magic != MAGIC_OUT or n != len(outs):
                raise InternalError(f"kernel {self.name}: malformed harness output")
            for k in outs:
                idx, nbytes = struct.unpack("<qq", f.read(16))
                if idx != k or nbytes != arrays[k].nbytes:
                    raise InternalError(f"kernel {self.name}: harness output names array "
                                        f"{idx} of {nbytes} bytes, expected {k}")
                if nbytes and f.readinto(_bytes_view(arrays[k])) != nbytes:
                    raise InternalError(f"kernel {self.name}: harness output is truncated")
            err = struct.unpack("<qqq", f.read(24))
        if err[0] and self._checks:
            raise_index_error(self._checks, err, self.name)


def _bytes_view(a):
    """The bytes of a C-contiguous array, as a writable-if-a-is uint8 view (no copy)."""
    return a.reshape(-1).view(np.uint8)
