"""C/C++ source to LLVM IR text with clang (TVM's tvm.contrib.clang.create_llvm).

The IR it returns is what `s[T].pragma(axis, "import_llvm", ir)` links into a kernel's library
(texpr/targets/llvm_import.py), so the kernel can te.call_extern the functions it defines.
"""
import os
import shutil
import subprocess
import tempfile

from ..errors import BuildError, TexprError

_CPP_SUFFIXES = (".cc", ".cpp", ".cxx", ".C")


def create_llvm(inputs, output=None, options=None, cc="clang"):
    """LLVM IR text (`clang -S -emit-llvm -O2`) of `inputs`: one source text or file path, or a
    list of them (a path is a string naming an existing .c/.cc/.cpp file; any other string is
    source, compiled as C++, so `extern "C"` works as in TVM's tutorial). options: more clang
    arguments (e.g. ["--target=aarch64-linux-gnu"]). With `output`, the IR is also written
    there. Raises BuildError when clang is missing or the source does not compile (with
    clang's message)."""
    items = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(items, (list, tuple)) or not items or \
            not all(isinstance(x, str) for x in items):
        raise TexprError(f"create_llvm: inputs must be source text or a file path, or a list of "
                         f"them, got {inputs!r}")
    if options is None:
        options = []
    if isinstance(options, str) or not all(isinstance(o, str) for o in options):
        raise TexprError(f"create_llvm: options must be a list of strings, got {options!r}")
    if output is not None and not isinstance(output, (str, os.PathLike)):
        raise TexprError(f"create_llvm: output must be a file path, got {output!r}")
    if shutil.which(cc) is None:
        raise BuildError(f"create_llvm: {cc!r} not found; install clang (make's sysdeps do: "
                         "apt-get install clang)")
    with tempfile.TemporaryDirectory(prefix="texpr_clang_") as d:
        texts = []
        for k, item in enumerate(items):
            if _is_source_path(item):
                src = item
            else:
                src = os.path.join(d, f"input{k}.cc")
                with open(src, "w") as f:
                    f.write(item)
            out = os.path.join(d, f"output{k}.ll")
            cmd = [cc, "-S", "-emit-llvm", "-O2", "-fPIC"] + list(options) + ["-o", out, src]
            try:
                r = subprocess.run(cmd, capture_output=True, text=True)
            except OSError as e:
                raise BuildError(f"create_llvm: cannot run {cc}: {e}") from None
            if r.returncode != 0:
                raise BuildError(f"create_llvm: {cc} could not compile input {k}:\n"
                                 f"{' '.join(cmd)}\n{r.stderr[-4000:]}")
            with open(out) as f:
                texts.append(f.read())
        if len(texts) > 1:                       # one module, as TVM's llvm-link makes
            texts = [_link(texts, d, cc)]
    code = texts[0]
    if output is not None:
        with open(output, "w") as f:
            f.write(code)
    return code


def _is_source_path(s):
    return "\n" not in s and len(s) < 4096 and s.endswith((".c",) + _CPP_SUFFIXES) and \
        os.path.isfile(s)


def _link(texts, d, cc):
    """One IR module of several (llvm-link, or clang's own linking of IR with -emit-llvm)."""
    paths = []
    for k, t in enumerate(texts):
        p = os.path.join(d, f"part{k}.ll")
        with open(p, "w") as f:
            f.write(t)
        paths.append(p)
    out = os.path.join(d, "linked.ll")
    linker = shutil.which("llvm-link") or next(
        (p for p in (f"/usr/lib/llvm-{v}/bin/llvm-link" for v in range(20, 10, -1))
         if os.path.exists(p)), None)
    if linker is None:
        raise BuildError("create_llvm: several inputs need llvm-link to make one module, and it "
                         "is not installed; pass one source text (concatenate them)")
    r = subprocess.run([linker, "-S", "-o", out] + paths, capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError(f"create_llvm: llvm-link failed:\n{r.stderr[-4000:]}")
    with open(out) as f:
        return f.read()
