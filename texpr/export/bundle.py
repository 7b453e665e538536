"""export_library: write a built kernel or a compiled topi.graph as a self-contained C bundle
(kernel sources, one header, the static executor, the weights, texpr's thread pool, a
Makefile), and Bundle: the directory written, which builds and runs it for a platform."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess

import numpy as np

from ..errors import BuildError, ExportError
from . import csource, makefile
from .plan import ALIGN, plan_of_graph, plan_of_module
from .pool_source import pool_source

THREADS = ("pool", "single")
WEIGHTS = ("blob", "c_array", "both")
OPTIMIZE = ("speed", "size")
#: kernel families whose includes (immintrin.h, arm_neon.h) are precompiled by the Makefile
PRECOMPILED = ("x86", "arm")
EMULATOR = {"host": [], "aarch64": ["qemu-aarch64"], "hexagon": ["qemu-hexagon"]}


def export_library(obj, path, target=None, name=None, threads="pool", weights="blob",
                   optimize="speed", max_dims=None, max_threads=4):
    """Write `obj` (a kernel built by te.build for a CPU target, or a compiled topi.graph) as a
    self-contained C library in the directory `path` (created; its parent must exist).

    target: the texpr target the kernels must have been built for (None: theirs). threads:
    "pool" (texpr's thread pool, runtime/pool.c) or "single" (parallel loops run serially, no
    pthreads). weights: "blob" (NAME_weights.bin, read in place), "c_array" (NAME_weights.c,
    compiled in) or "both"; Hexagon builds always link the C array. optimize: the Makefile's
    default, "speed" (-O3) or "size" (-Os, no unrolling). max_dims: {dim: largest value} sizes
    a static arena for a bundle with symbolic dims (one without has one of its exact size).
    max_threads: the most threads the kernels' parallel loops use (each has scratch space
    for the kernels' temporaries in the arena). Returns the Bundle.

    Example (gcc builds it; not run as a doctest)::

        f = te.build(s, [A, B], target="c", name="double")
        bundle = texpr.export.export_library(f, "out/double")
        bundle.build("host")                 # make host: build/host/libdouble.a
        y, = bundle.run([x])                 # its check program run on x (tests do this)
    """
    from ..targets.registry import get_target, kernel_flags
    from ..topi.graph import CompiledGraph
    for opt, allowed, val in (("threads", THREADS, threads), ("weights", WEIGHTS, weights),
                              ("optimize", OPTIMIZE, optimize)):
        if val not in allowed:
            raise ExportError(f"export_library: {opt}={val!r}; expected one of {list(allowed)}")
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise ExportError(f"export_library: the parent directory {parent} of the output "
                          f"directory does not exist; create it first")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ExportError(f"export_library: {path} exists and is not a directory")
    tgt = get_target(target) if target is not None else None
    base = name or getattr(getattr(obj, "graph", None), "name", None) or getattr(obj, "name", None)
    cname = _c_name(base or "model")
    if isinstance(obj, CompiledGraph):
        _check_graph(obj)
        plan = plan_of_graph(obj, cname, tgt)
    else:
        plan = plan_of_module(obj, cname, tgt)
    targets = [k.target for k in plan.kernels]
    platforms = makefile.platforms_of([k.record for k in plan.kernels])
    if not platforms:
        raise ExportError(f"export_library: the kernels were built for targets {sorted(set(targets))}, "
                          f"which no one platform builds (host: c/x86, aarch64: c/neon, "
                          f"hexagon: hvx); build them for one family")
    if "hexagon" in platforms and weights == "blob":
        weights = "both"            # no file system to read a blob from on the simulator
    pool = threads == "pool" and any(k.pool for k in plan.kernels)
    if not isinstance(max_threads, int) or max_threads < 1:
        raise ExportError(f"export_library: max_threads={max_threads!r}; expected an int >= 1")
    plan.max_threads = max_threads if pool else 1
    static_arena = _static_arena(plan, max_dims)
    blob, offsets, wid = weights_blob(plan)
    os.makedirs(os.path.join(path, "kernels"), exist_ok=True)
    files = {}

    def write(rel, text, mode="w"):
        with open(os.path.join(path, rel), mode) as f:
            f.write(text)
        files[rel] = os.path.join(path, rel)

    kfiles, prefixes = [], {}
    for i, k in enumerate(plan.kernels):
        rel = f"kernels/k{i:02d}_{_c_name(k.name)[:40]}.c"
        write(rel, k.source)
        kfiles.append((rel, k.record))
        ktgt = k.record
        key = (ktgt.name, tuple(ktgt.flags))   # (a target's options change its flags)
        if ktgt.family in PRECOMPILED and key not in prefixes:
            # what texpr's own build precompiles (the emitter's prefix_header: SIMDe with its
            # defines), else the kernel's #include lines (as the NEON harness does)
            text = ktgt.emitter.prefix_header(tuple(kernel_flags(ktgt))) or "".join(
                ln + "\n" for ln in k.source.splitlines() if ln.startswith("#include"))
            prefixes[key] = (f"texpr_prefix_{_c_name(ktgt.name)}_{len(prefixes)}.h", ktgt)
            write(prefixes[key][0], text)
    write(f"{cname}.h", csource.header(plan, len(blob), static_arena))
    write(f"{cname}_executor.c", csource.executor(plan, wid, len(blob), offsets, static_arena,
                                                  pool))
    write(f"{cname}_weights.bin", blob, "wb")
    embedded = weights in ("c_array", "both")
    if embedded:
        write(f"{cname}_weights.c", weights_c_array(cname, blob))
    if pool:
        write("texpr_pool.c", pool_source(cname))
    if "hexagon" in platforms:
        write("texpr_hexagon_platform.c", makefile.hexagon_platform())
    mk = makefile.makefile(cname, kfiles, platforms, pool, embedded, prefixes)
    if optimize == "size":
        mk = mk.replace("OPT ?= speed", "OPT ?= size")
    write("Makefile", mk)
    return Bundle(path, cname, plan, platforms, files, embedded)


def _check_graph(net):
    """Every step of a graph must be a kernel call (no Python-only step)."""
    for kernel, _, out in net.graph.steps:
        if getattr(kernel, "_plan", None) is None or not isinstance(getattr(kernel, "source", None), str):
            raise ExportError(f"export: graph {net.graph.name}: step {out.name} runs "
                              f"{getattr(kernel, '__name__', kernel)!r}, a Python-only step; a "
                              f"bundle holds kernels built by te.build only")


def _c_name(s):
    s = re.sub(r"[^0-9A-Za-z_]", "_", str(s)).strip("_").lower() or "model"
    return s if not s[0].isdigit() else "m_" + s


def _static_arena(plan, max_dims):
    if not plan.dims:
        return plan.arena_bytes({})
    if max_dims is None:
        return None
    labels = {d[len("dim_"):]: d for d in plan.dims}
    unknown = sorted(set(max_dims) - set(labels))
    missing = sorted(set(labels) - set(max_dims))
    if unknown or missing:
        raise ExportError(f"export_library: max_dims names {sorted(max_dims)}; the bundle's dims "
                          f"are {sorted(labels)}" + (f" (unknown: {unknown})" if unknown else "")
                          + (f" (missing: {missing})" if missing else ""))
    return plan.arena_bytes({labels[k]: int(v) for k, v in max_dims.items()})


def weights_blob(plan):
    """(blob bytes, {constant name: offset}, weights id): a 128-byte header (magic, total
    size, id), then every constant at a 128-byte aligned offset."""
    offsets, at = {}, csource.BLOB_HEADER
    for v in plan.constants:
        offsets[v.name] = at
        at += -(-max(v.array.nbytes, 1) // ALIGN) * ALIGN
    body = bytearray(at)
    h = hashlib.blake2b(digest_size=8)
    for v in plan.constants:
        a = np.ascontiguousarray(v.array)
        raw = a.view(np.uint8).reshape(-1).tobytes() if a.size else b""
        body[offsets[v.name]:offsets[v.name] + len(raw)] = raw
        h.update(v.name.encode() + b"\0" + raw)
    wid = int.from_bytes(h.digest(), "little")
    body[0:8] = csource.BLOB_MAGIC
    body[8:16] = len(body).to_bytes(8, "little")
    body[16:24] = wid.to_bytes(8, "little")
    return bytes(body), offsets, wid


def weights_c_array(cname, blob):
    """The weights blob as a C array (what a program without a file system links)."""
    a = np.frombuffer(blob, np.uint8)
    rows = [",".join(map(str, a[i:i + 32].tolist())) for i in range(0, len(a), 32)]
    return (f"/* {cname}_weights.c: {cname}_weights.bin as a C array (texpr.export) */\n"
            f"const unsigned char {cname}_weights_embedded[{len(a)}] "
            f"__attribute__((aligned({ALIGN}))) = {{\n" + ",\n".join(rows) + "\n};\n")


class Bundle:
    """A directory written by export_library: build it with its Makefile, or run its check
    program (check.py) on inputs to compare the C with texpr's Python call.

    Example (gcc builds it; not run as a doctest)::

        bundle = texpr.export.export_library(net, "out/resnet")
        bundle.build("aarch64")              # make aarch64
        logits, = bundle.run([image], platform="aarch64")     # under qemu-aarch64
    """

    def __init__(self, path, name, plan, platforms, files, embedded):
        self.path = path
        self.name = name
        self.plan = plan
        self.platforms = list(platforms)
        self.files = files
        self.embedded_weights = embedded

    def __repr__(self):
        return (f"<texpr.export.Bundle {self.name} at {self.path}: {len(self.plan.kernels)} "
                f"kernels, {len(self.plan.steps)} steps, platforms {self.platforms}>")

    @property
    def dims(self):
        """The names of the bundle's symbolic dims, in the order the C API takes them.

        Example::

            bundle = export_library(dense_any_batch, "out/dense")
            bundle.dims                      # ['m']
        """
        return [d[len("dim_"):] for d in self.plan.dims]

    def make(self, *goals, opt=None):
        """Run the bundle's Makefile for `goals` (e.g. "host", "check-aarch64").

        Example::

            bundle.make("host", opt="size")  # make host OPT=size
        """
        cmd = ["make", "-s", f"-j{min(4, os.cpu_count() or 1)}", "-C", self.path] + list(goals) + ([f"OPT={opt}"] if opt else [])
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as e:
            raise BuildError(f"cannot run make: {e}") from None
        if r.returncode != 0:
            raise BuildError(f"bundle {self.name}: {' '.join(cmd[3:])} failed:\n"
                             f"{(r.stdout + r.stderr)[-4000:]}")

    def build(self, platform="host", opt=None):
        """Build the bundle's library for a platform; returns the paths of its objects.

        Example::

            objects = bundle.build("host")   # build/host/*.o and build/host/lib<name>.a
        """
        self._check_platform(platform)
        self.make(platform, opt=opt)
        d = os.path.join(self.path, "build", platform)
        return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".o"))

    def _check_platform(self, platform):
        if platform not in self.platforms:
            raise ExportError(f"bundle {self.name}: platform {platform!r}; its kernels build for "
                              f"{self.platforms}")

    def run(self, inputs, dims=None, platform="host", threads=1):
        """Run the bundle's C on `inputs` (arrays, in the order of its inputs) through a check
        program (a C main, check.py) built for `platform` and run natively or under its
        emulator; returns the outputs as NumPy arrays.

        Example::

            y, = bundle.run([x])                              # host
            y, = bundle.run([x], dims={"m": 7}, platform="aarch64")
        """
        from .check import run_cases
        return run_cases(self, [(dims or {}, list(inputs))], platform, threads)[0]

    def run_cases(self, cases, platform="host", threads=1):
        """Like run, for several (dims, inputs) cases in one program run; returns one list of
        outputs per case.

        Example::

            (y1,), (y4096,) = bundle.run_cases([({"batch": 1}, [x1]), ({"batch": 4096}, [x2])])
        """
        from .check import run_cases
        return run_cases(self, cases, platform, threads)
