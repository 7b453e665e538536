"""Code size of a bundle: the .text / .rodata bytes of each kernel and of the runtime
(executor + thread pool), read from the ELF section headers of its objects, built for speed
(-O3) and for size (-Os, no unrolling), so a user sees what the size option buys."""
from __future__ import annotations

import os
import shutil
import struct

from ..errors import ExportError

#: the runtime part of a bundle (what must stay small): executor and thread pool
RUNTIME_PARTS = ("_executor.o", "texpr_pool.o")


def elf_sections(path):
    """{section name: size} of an ELF object (32 or 64 bit, little-endian)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[5] != 1:
        raise ExportError(f"{path} is not a little-endian ELF object")
    if data[4] == 2:
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        fmt, name_at, size_at, off_at = "<IIQQQQ", 0, 5, 4
    else:
        shoff, = struct.unpack_from("<I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
        fmt, name_at, size_at, off_at = "<IIIIII", 0, 5, 4
    heads = [struct.unpack_from(fmt, data, shoff + k * shentsize) for k in range(shnum)]
    stroff = heads[shstrndx][off_at]
    out = {}
    for h in heads:
        start = stroff + h[name_at]
        name = data[start:data.index(b"\0", start)].decode()
        out[name] = out.get(name, 0) + h[size_at]
    return out


def text_rodata(path):
    """(.text bytes, .rodata bytes) of an object: every .text* and .rodata* section."""
    secs = elf_sections(path)
    text = sum(n for s, n in secs.items() if s == ".text" or s.startswith(".text."))
    ro = sum(n for s, n in secs.items() if s == ".rodata" or s.startswith(".rodata."))
    return text, ro


def size_report(bundle_or_dir, platform="host"):
    """Rows (part, kind, {opt: (.text, .rodata)}) of a bundle built for `platform` with
    OPT=speed and OPT=size; kind is "kernel", "runtime" or "weights".

    Example (builds the bundle twice with its Makefile)::

        for part, kind, sizes in size_report("out/resnet"):
            print(part, kind, sizes["speed"], sizes["size"])
    """
    from .bundle import Bundle
    path = bundle_or_dir.path if isinstance(bundle_or_dir, Bundle) else os.fspath(bundle_or_dir)
    if not os.path.isfile(os.path.join(path, "Makefile")):
        raise ExportError(f"size report: {path} is not an exported bundle (no Makefile)")
    import re
    import subprocess
    with open(os.path.join(path, "Makefile")) as f:
        built = re.findall(r"^objects-(\w+):", f.read(), re.M)
    if platform not in built:
        raise ExportError(f"size report: the bundle in {path} builds for {built}, not for "
                          f"{platform!r} (its kernels' target)")
    rows = {}
    for opt in ("speed", "size"):
        # a build directory of its own: the user's build/ stays as it is
        build = f".size_report_{opt}"
        shutil.rmtree(os.path.join(path, build), ignore_errors=True)
        r = subprocess.run(["make", "-s", f"-j{min(4, os.cpu_count() or 1)}", "-C", path,
                            f"objects-{platform}", f"OPT={opt}", f"BUILD={build}",
                            "EMBED_WEIGHTS=0"], capture_output=True, text=True)
        if r.returncode != 0:
            raise ExportError(f"size report: make objects-{platform} failed in {path}:\n"
                              f"{(r.stdout + r.stderr)[-3000:]}")
        d = os.path.join(path, build, platform)
        for f in sorted(os.listdir(d)):
            if f.endswith(".o") and not f.endswith("_weights.o") and f != "check_main.o" \
                    and f != "texpr_hexagon_platform.o":
                kind = "runtime" if f.endswith(RUNTIME_PARTS) else "kernel"
                rows.setdefault(f[:-2], (kind, {}))[1][opt] = text_rodata(os.path.join(d, f))
        shutil.rmtree(os.path.join(path, build), ignore_errors=True)
    out = [(part, kind, sizes) for part, (kind, sizes) in rows.items()]
    wb = [f for f in os.listdir(path) if f.endswith("_weights.bin")]
    if wb:
        n = os.path.getsize(os.path.join(path, wb[0]))
        out.append((wb[0], "weights", {"speed": (0, n), "size": (0, n)}))
    return out


def size_classes(path):
    """{kernel part: the size classes its source dispatches to} of a bundle's kernels (1: one
    generic kernel; a target with `-size-classes=off` builds only that)."""
    d = os.path.join(os.fspath(path), "kernels")
    out = {}
    for f in sorted(os.listdir(d)) if os.path.isdir(d) else ():
        if f.endswith(".c"):
            with open(os.path.join(d, f)) as src:
                out[f[:-2]] = max(1, sum(ln.startswith("/* specialisation ") for ln in src))
    return out


def format_report(rows, classes=None):
    """The report as text: one line per part (and a kernel's size classes, when `classes`
    gives them), then the kernels' and the runtime's totals."""
    classes = classes or {}
    lines = [f"{'part':44} {'kind':8} {'.text':>9} {'.rodata':>9} {'.text -Os':>10} "
             f"{'.rodata -Os':>11}" + (f" {'classes':>7}" if classes else "")]
    totals = {}
    for part, kind, s in rows:
        (t, r), (ts, rs) = s.get("speed", (0, 0)), s.get("size", (0, 0))
        n = f" {classes[part]:7d}" if part in classes else ""
        lines.append(f"{part[:44]:44} {kind:8} {t:9d} {r:9d} {ts:10d} {rs:11d}{n}")
        tot = totals.setdefault(kind, [0, 0, 0, 0])
        for k, x in enumerate((t, r, ts, rs)):
            tot[k] += x
    lines.append("")
    for kind, (t, r, ts, rs) in totals.items():
        lines.append(f"{'total ' + kind:44} {'':8} {t:9d} {r:9d} {ts:10d} {rs:11d}")
    return "\n".join(lines)
