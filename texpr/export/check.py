"""A bundle's check program: a C main that feeds inputs to the bundle's C API, runs it and
writes the outputs to stdout, built for a platform and run natively or under its emulator
(qemu-aarch64, qemu-hexagon). What the tests compare with texpr's Python call."""
from __future__ import annotations

import os
import subprocess

import numpy as np

from ..errors import ExportError, TexprError


def check_main(bundle, cases, threads):
    """C text of the check program for these cases (dims are compiled in, the inputs are read
    from the file given as its second argument, straight into the arena)."""
    p, P, plan = bundle.name, bundle.name.upper(), bundle.plan
    arena = max(plan.arena_bytes(_dims(bundle, d)) for d, _ in cases)
    wbytes = os.path.getsize(os.path.join(bundle.path, f"{p}_weights.bin"))
    L = [f"/* check_main.c: runs bundle {p} on the inputs in argv[2] (texpr.export.check) */",
         f'#include "{p}.h"',
         "#ifdef __hexagon__",
         "int texpr_bundle_open(const char* path);",
         "long texpr_bundle_read(int fd, void* p, long n);",
         "long texpr_bundle_write(int fd, const void* p, long n);",
         "#else",
         "#include <fcntl.h>", "#include <unistd.h>",
         "static int texpr_bundle_open(const char* path) { return open(path, O_RDONLY); }",
         "static long texpr_bundle_read(int fd, void* p, long n) { return (long)read(fd, p, (size_t)n); }",
         "static long texpr_bundle_write(int fd, const void* p, long n) { return (long)write(fd, p, (size_t)n); }",
         "#endif",
         f"static unsigned char arena[{arena}] __attribute__((aligned(128)));",
         f"#ifndef {P}_EMBEDDED_WEIGHTS",
         f"static unsigned char weights[{wbytes}] __attribute__((aligned(128)));",
         "#endif",
         "static int say(const char* m) { long n = 0; while (m[n]) ++n; texpr_bundle_write(2, m, n);"
         " texpr_bundle_write(2, \"\\n\", 1); return 1; }",
         "static int read_all(int fd, unsigned char* p, long n) {",
         "  while (n > 0) { long r = texpr_bundle_read(fd, p, n > (1L << 30) ? (1L << 30) : n);",
         "    if (r <= 0) return 0; p += r; n -= r; }",
         "  return 1; }",
         "static int write_all(const unsigned char* p, long n) {",
         "  while (n > 0) { long r = texpr_bundle_write(1, p, n); if (r <= 0) return 0; p += r; n -= r; }",
         "  return 1; }",
         "int main(int argc, char** argv) {",
         "  if (argc != 3) return say(\"usage: check WEIGHTS INPUTS\");",
         "  const void* w = 0; size_t wn = 0;",
         f"#ifndef {P}_EMBEDDED_WEIGHTS",
         "  { int fd = texpr_bundle_open(argv[1]);",
         "    if (fd < 0 || !read_all(fd, weights, sizeof(weights))) return say(\"cannot read the weights\");",
         "    w = weights; wn = sizeof(weights); }",
         "#endif",
         "  int in = texpr_bundle_open(argv[2]);",
         "  if (in < 0) return say(\"cannot open the inputs\");",
         "  int rc;"]
    for c, (dims, _) in enumerate(cases):
        dv = _dims(bundle, dims)
        vals = ", ".join(str(dv[d]) for d in plan.dims) or "0"
        L.append(f"  {{ static const int64_t dims[{max(1, len(plan.dims))}] = {{{vals}}};")
        if c == 0:
            L += ["    rc = " + f"{p}_init(arena, sizeof(arena), w, wn, dims);",
                  f"    if (rc) return say({p}_error_string(rc));",
                  f"    {p}_set_num_threads({int(threads)});"]
        else:
            L += [f"    rc = {p}_set_dims(dims);", f"    if (rc) return say({p}_error_string(rc));"]
        L += [f"    for (int k = 0; k < {P}_NUM_INPUTS; ++k)",
              f"      if (!read_all(in, (unsigned char*){p}_input(k), (long){p}_input_bytes(k)))"
              " return say(\"inputs file is truncated\");",
              f"    rc = {p}_run();", f"    if (rc) return say({p}_error_string(rc));",
              f"    for (int k = 0; k < {P}_NUM_OUTPUTS; ++k)",
              f"      if (!write_all((const unsigned char*){p}_output(k), (long){p}_output_bytes(k)))"
              " return say(\"cannot write the outputs\");",
              "  }"]
    L += ["  return 0;", "}", ""]
    return "\n".join(L)


def _dims(bundle, dims):
    """{C dim name: value} of a case's dims ({user name: value})."""
    labels = {d[len("dim_"):]: d for d in bundle.plan.dims}
    if set(dims) != set(labels):
        raise ExportError(f"bundle {bundle.name}: dims {sorted(dims)} given; it takes "
                          f"{sorted(labels)}")
    return {labels[k]: int(v) for k, v in dims.items()}


def _shape(v, dv):
    return v.shape_for(dv)


def run_cases(bundle, cases, platform="host", threads=1):
    """Build the check program for `platform`, run it on the cases ([(dims, inputs)]) and
    return the outputs of each case."""
    bundle._check_platform(platform)
    plan = bundle.plan
    blobs = []
    for dims, inputs in cases:
        dv = _dims(bundle, dims)
        if len(inputs) != len(plan.inputs):
            raise ExportError(f"bundle {bundle.name}: {len(inputs)} inputs given, it takes "
                              f"{len(plan.inputs)} ({', '.join(plan.inputs)})")
        for a, n in zip(inputs, plan.inputs):
            v = plan.values[n]
            a = np.asarray(a)
            want = _shape(v, dv)
            if a.shape != want or a.dtype != v.dtype:
                raise ExportError(f"bundle {bundle.name}: input {n} must be {list(want)} "
                                  f"{v.dtype}, got {list(a.shape)} {a.dtype}")
            blobs.append(np.ascontiguousarray(a).tobytes())
    with open(os.path.join(bundle.path, "check_main.c"), "w") as f:
        f.write(check_main(bundle, cases, threads))
    with open(os.path.join(bundle.path, "check_inputs.bin"), "wb") as f:
        f.write(b"".join(blobs))
    bundle.make(f"check-{platform}")
    from .bundle import EMULATOR
    exe = os.path.join(bundle.path, "build", platform, "check")
    cmd = EMULATOR[platform] + [exe, f"{bundle.name}_weights.bin", "check_inputs.bin"]
    try:
        r = subprocess.run(cmd, capture_output=True, cwd=bundle.path)
    except OSError as e:
        raise TexprError(f"cannot run {cmd[0]}: {e}") from None
    if r.returncode != 0:
        raise TexprError(f"bundle {bundle.name}: the check program failed on {platform} (exit "
                         f"{r.returncode}): {r.stderr.decode(errors='replace')[-2000:]}")
    out, at = [], 0
    for dims, _ in cases:
        dv = _dims(bundle, dims)
        got = []
        for n in plan.outputs:
            v = plan.values[n]
            shape = _shape(v, dv)
            nb = int(np.prod(shape, dtype=np.int64)) * v.dtype.itemsize
            got.append(np.frombuffer(r.stdout[at:at + nb], v.dtype).reshape(shape).copy())
            at += nb
        out.append(got)
    if at != len(r.stdout):
        raise TexprError(f"bundle {bundle.name}: the check program wrote {len(r.stdout)} bytes, "
                         f"expected {at}")
    return out
