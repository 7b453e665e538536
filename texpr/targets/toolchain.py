"""Compiling generated C with the host compiler, cached on disk.

A module is cached under a hash of (source, compiler version, flags). It is written to a
temporary name and renamed into place, so processes building the same kernel at once never
see a half-written file.

TEXPR_SANITIZE=address,undefined (any comma list of gcc sanitizers) builds shared kernels
with those sanitizers, a report being fatal (sanitizer_flags); the flags are part of the cache
key. Python is not instrumented, so ASan's runtime must be preloaded: sanitizer_env gives the
environment a process needs (tools/sanitized_tests.py runs the property suites that way).
"""
import hashlib
import os
import re
import shutil
import subprocess
import tempfile

from ..errors import BuildError

_COMPILER_ID = {}


def cache_dir():
    d = os.environ.get("TEXPR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "texpr")
    os.makedirs(d, exist_ok=True)
    return d


def compiler_id(cc):
    cid = _COMPILER_ID.get(cc)
    if cid is None:
        path = shutil.which(cc)
        if path is None:
            raise BuildError(f"C compiler {cc!r} not found; install gcc (make test does it)")
        try:
            out = subprocess.run([cc, "--version"], capture_output=True, text=True, check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            raise BuildError(f"cannot run {cc} --version: {e}") from None
        cid = _COMPILER_ID[cc] = path + "|" + out.stdout.splitlines()[0]
    return cid


#: sanitizers whose runtime must be loaded before anything else (LD_PRELOAD into Python)
_PRELOADED_RUNTIME = {"address": "libasan.so", "thread": "libtsan.so", "leak": "liblsan.so"}


def sanitizers():
    """The sanitizers TEXPR_SANITIZE names (empty: none), validated."""
    text = os.environ.get("TEXPR_SANITIZE", "").strip()
    names = [s.strip() for s in text.split(",") if s.strip()]
    for s in names:
        if not re.fullmatch(r"[a-z][a-z0-9-]*", s):
            raise BuildError(f"TEXPR_SANITIZE={text!r}: {s!r} is not a sanitizer name; expected "
                             "a comma list of gcc sanitizers such as address,undefined")
    return names


def sanitizer_flags(names=None):
    """gcc flags for the sanitizers `names` (default: TEXPR_SANITIZE): instrumented code with
    frame pointers and line tables for readable reports, and every report fatal (a test that
    triggers one fails instead of printing and going on)."""
    names = sanitizers() if names is None else list(names)
    if not names:
        return []
    return [f"-fsanitize={','.join(names)}", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer", "-g1"]


def sanitizer_env(names=None, cc="gcc"):
    """Environment variables a fresh (uninstrumented) Python needs to load kernels built with
    the sanitizers `names` (default: TEXPR_SANITIZE): TEXPR_SANITIZE itself, LD_PRELOAD of the
    runtimes that must come first (ASan, TSan), and options: leaks are not checked (the
    interpreter keeps memory to its exit), a report aborts with its stack trace."""
    names = sanitizers() if names is None else list(names)
    env = {"TEXPR_SANITIZE": ",".join(names),
           "ASAN_OPTIONS": "detect_leaks=0",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    preload = []
    for s in names:
        lib = _PRELOADED_RUNTIME.get(s)
        if lib is None:
            continue
        path = subprocess.run([cc, f"-print-file-name={lib}"], capture_output=True,
                              text=True).stdout.strip()
        if not os.path.isabs(path) or not os.path.exists(path):
            raise BuildError(f"{cc} has no {lib} (the runtime of -fsanitize={s}); install "
                             f"the compiler's sanitizer libraries (libasan/libtsan)")
        preload.append(path)
    if preload:
        env["LD_PRELOAD"] = " ".join(preload + [os.environ.get("LD_PRELOAD", "")]).strip()
    return env


def require_sanitizer_runtime():
    """Raise BuildError when TEXPR_SANITIZE names a sanitizer whose runtime must be preloaded
    and this process has not loaded it (loading the kernel would make ASan end the process)."""
    need = [_PRELOADED_RUNTIME[s] for s in sanitizers() if s in _PRELOADED_RUNTIME]
    if not need:
        return
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return                      # cannot tell: let the loader decide
    missing = [lib for lib in need if lib not in maps]
    if missing:
        raise BuildError(f"TEXPR_SANITIZE={os.environ.get('TEXPR_SANITIZE')}: kernels built with "
                         f"it need {', '.join(missing)} loaded first, and this process has not "
                         "(set the environment of texpr.targets.toolchain.sanitizer_env before "
                         "starting Python: LD_PRELOAD and options; tools/sanitized_tests.py "
                         "runs tests that way)")


def compile_shared(source, flags, cc="gcc", suffix=".so", prefix_header=None, libs=("-lm",)):
    """Compile C source into a shared library; returns its path (cached).

    prefix_header: C text (includes) that every such source starts with; it is precompiled
    once per compiler and flags (cached like a kernel) and force-included, so the compiler
    does not parse it again for each kernel (SIMDe's AVX-512 header: ~0.5 s per kernel). It
    changes how fast a kernel compiles, not what it compiles to, so it is not in the key.
    TEXPR_SANITIZE adds its flags (sanitizer_flags), which are in the key."""
    flags = list(flags) + sanitizer_flags()
    kind = ["-shared", "-fPIC"]
    extra = []
    if prefix_header is not None:
        extra = ["-include", precompiled_header(prefix_header, list(flags) + kind, cc)]
    return _compile_cached(source, flags, cc, suffix, kind, libs=tuple(libs), extra_flags=extra)


def precompiled_header(text, flags, cc="gcc"):
    """A header file holding `text` with its precompiled form (NAME.gch) beside it, built with
    exactly `flags` (GCC uses a .gch only for the flags it was made with); returns NAME."""
    def failed(r, cmd):
        if r.returncode != 0:
            return f"{cc} could not precompile a header:\n{' '.join(cmd)}\n{r.stderr[-4000:]}"
        return None
    gch, _ = _cached_build(text, [compiler_id(cc), " ".join(flags), "pch"], ".h.gch", ".h",
                           lambda src, obj: [cc] + flags + ["-x", "c-header", "-o", obj, src],
                           failed)
    return gch[:-len(".gch")]


def compile_executable(source, flags, cc, suffix=".exe", libs=("-lm",), prefix_header=None):
    """Compile C source into a program (e.g. a static cross executable); returns (path, cached).

    `flags` must say how to link it (-static for an emulator harness); `libs` are appended
    (none for a freestanding program); prefix_header: as for compile_shared (gcc only)."""
    extra = []
    if prefix_header is not None:
        extra = ["-include", precompiled_header(prefix_header, list(flags), cc)]
    return _compile_cached(source, flags, cc, suffix, [], libs, extra_flags=extra)


def compile_to_assembly(source, flags, cc="gcc", what=None):
    """Compile C source to assembly (`cc FLAGS -S`, not cached); returns the assembly text.

    Raises BuildError with the command and the compiler's stderr when cc fails, and when it
    cannot be run at all. `what` names the compiler in that message (default: cc)."""
    with tempfile.TemporaryDirectory(prefix="texpr_asm_") as d:
        src, asm = os.path.join(d, "kernel.c"), os.path.join(d, "kernel.s")
        with open(src, "w") as f:
            f.write(source)
        cmd = [cc] + list(flags) + ["-S", "-o", asm, src]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as e:
            raise BuildError(f"cannot run {cc}: {e}\n{' '.join(cmd)}") from None
        if r.returncode != 0:
            raise BuildError(f"{what or cc} failed:\n{' '.join(cmd)}\n{r.stderr[-4000:]}")
        with open(asm) as f:
            return f.read()


def _compile_cached(source, flags, cc, suffix, kind_flags, libs=("-lm",), extra_flags=()):
    def failed(r, cmd):
        if r.returncode != 0:
            return (f"{cc} failed on generated source (this is a texpr bug):\n"
                    f"{' '.join(cmd)}\n{r.stderr[-4000:]}")
        return None
    return _cached_build(source, [compiler_id(cc), " ".join(flags), " ".join(libs)], suffix, ".c",
                         lambda src, obj: ([cc] + flags + kind_flags + list(extra_flags)
                                           + ["-o", obj, src] + list(libs)),
                         failed)


def _cached_build(source, key_parts, suffix, src_suffix, command, failed):
    """Build `source` once per (source, key_parts) into the disk cache; returns (path, cached).

    command(src, obj) is the compiler's argv; failed(result, argv) says why a run failed (None:
    it did not). Concurrent builders each compile in a private temporary folder and rename the
    product into place (atomic), so a reader never sees a partial file."""
    key = hashlib.sha256("\0".join([source] + list(key_parts)).encode()).hexdigest()[:32]
    d = cache_dir()
    out = os.path.join(d, f"texpr_{key}{suffix}")
    if os.path.exists(out):
        return out, True
    with tempfile.TemporaryDirectory(dir=d) as tmp:
        src = os.path.join(tmp, "kernel" + src_suffix)
        with open(src, "w") as f:
            f.write(source)
        obj = os.path.join(tmp, "kernel" + suffix)
        cmd = command(src, obj)
        r = subprocess.run(cmd, capture_output=True, text=True)
        why = failed(r, cmd)
        if why:
            raise BuildError(why)
        copy = os.path.join(tmp, "copy" + src_suffix)    # the source beside its product
        with open(copy, "w") as f:
            f.write(source)
        os.replace(copy, os.path.join(d, f"texpr_{key}{src_suffix}"))
        os.replace(obj, out)
    return out, False


def compile_import(kind, code, c_flags=(), cc="gcc", clang="clang"):
    """Code a pragma imports -> a position-independent object file, cached on disk like a
    kernel (its name is a hash of the code, the compiler's version and the flags, so a
    kernel's library, keyed by its link line, changes with the code). kind "import_c": C
    source compiled by gcc with the target's `c_flags`; "import_llvm": LLVM IR text compiled
    by clang (-x ir -O2). BuildError, with the compiler's message, when the compiler is
    missing or the code does not compile."""
    if kind == "import_c":
        tool, flags, suffix = cc, list(c_flags) + ["-c", "-fPIC"], ".c"
        what = "the imported C source"
    else:
        tool, flags, suffix = clang, ["-c", "-x", "ir", "-O2", "-fPIC"], ".ll"
        what = "the imported LLVM IR"
    if shutil.which(tool) is None:
        raise BuildError(f"pragma {kind}: {tool!r} not found; it compiles {what} (install it: "
                         "make's sysdeps do)")

    def failed(r, cmd):
        if r.returncode != 0:
            return (f"pragma {kind}: {tool} could not compile {what}:\n"
                    f"{' '.join(cmd)}\n{r.stderr[-4000:]}")
        return None
    path, _ = _cached_build(code, [compiler_id(tool), " ".join(flags)], ".o", suffix,
                            lambda src, obj: [tool] + flags + ["-o", obj, src], failed)
    return path


def kernel_exports_flags():
    """The linker flags making a shared library export only texpr_kernel_* (its entry
    points): every other function in it (imported code) is local to it; of two definitions
    of one function, the first linked is used. The exports list is written once into the
    cache directory."""
    text = "{ global: texpr_kernel_*; local: *; };\n"
    path = os.path.join(cache_dir(), "texpr_kernel_exports.map")
    if not os.path.exists(path):
        fd, tmp = tempfile.mkstemp(dir=cache_dir(), suffix=".map")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    return [f"-Wl,--version-script={path}", "-Wl,-z,muldefs"]


_NVCC_ID = {}


def compile_cubin(source, arch="sm_90", nvcc="nvcc", extra_flags=()):
    """CUDA C -> cubin with `nvcc -arch=ARCH -cubin`, cached on disk like compile_shared.

    Any warning is an error (BuildError): generated code must compile cleanly. Returns
    (path, cached)."""
    nid = _NVCC_ID.get(nvcc)
    if nid is None:
        path = shutil.which(nvcc)
        if path is None:
            raise BuildError(f"CUDA compiler {nvcc!r} not found (TOOLCHAINS.md: nvcc 13.0 at "
                             "/usr/local/bin/nvcc); the cuda target needs it to build")
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True)
        nid = _NVCC_ID[nvcc] = path + "|" + out.stdout.strip().replace("\n", "|")
    flags = [f"-arch={arch}", "-cubin", "-O3", "-Werror", "all-warnings"] + list(extra_flags)

    def failed(r, cmd):
        msg = (r.stderr + r.stdout).strip()
        if r.returncode != 0 or "warning" in msg.lower():
            return (f"{nvcc} failed or warned on generated CUDA source (a texpr bug):\n"
                    f"{' '.join(cmd)}\n{msg[-4000:]}")
        return None
    return _cached_build(source, [nid, " ".join(flags)], ".cubin", ".cu",
                         lambda src, obj: [nvcc] + flags + ["-o", obj, src], failed)
