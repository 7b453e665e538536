"""The bundle's Makefile: the same sources built for the host (gcc), AArch64 Linux
(aarch64-linux-gnu-gcc, static) and Hexagon v67 + HVX (clang, freestanding: the platform layer
of the HVX harness gives it _start, system calls, memcpy and integer division). Compiler flags
are the kernels' own (the Target record's, texpr's thread pool instead of OpenMP)."""
from __future__ import annotations

#: the platforms a bundle builds for, by the family of its kernels' target
PLATFORMS_OF_FAMILY = {"c": ("host", "aarch64"), "x86": ("host",), "arm": ("aarch64",),
                       "hexagon": ("hexagon",)}

RUNTIME_FLAGS = ["-std=gnu11", "-fno-strict-aliasing", "-Wall", "-Wno-unused-function"]


def platforms_of(targets):
    """The platforms every kernel of a bundle builds for (their Target records' families)."""
    out = None
    for t in targets:
        fam = PLATFORMS_OF_FAMILY.get(t.family, ())
        out = list(fam) if out is None else [p for p in out if p in fam]
    return out or []


def kernel_flags(tgt, platform):
    """Flags of a kernel of Target `tgt` on `platform`, without -O (the Makefile's KOPT)."""
    from ..targets.runtime.harness import AARCH64_LINUX, NEON_MARCH
    from ..targets.hexagon.harness import HVX_CFLAGS
    if platform == "hexagon":
        flags = list(HVX_CFLAGS)
    elif platform == "aarch64":
        flags = [f for f in AARCH64_LINUX.flags if f != "-static"] if tgt.family == "arm" else \
            list(tgt.flags) + [NEON_MARCH]
    else:
        flags = list(tgt.flags)
    flags = ["-fopenmp-simd" if f == "-fopenmp" else f for f in flags]
    if "-DTEXPR_SIMDE" in flags:
        flags.append("-DSIMDE_ENABLE_OPENMP")
    return [f for f in flags if not f.startswith("-O")] + ["-Wno-unknown-pragmas"]


def makefile(name, kernels, platforms, pool, embedded, prefixes=None):
    """Makefile text. kernels: [(file, target)]; pool: pool.c is part of the runtime;
    embedded: the weights C array exists (hexagon always links it); prefixes: {(target name,
    flags): (header file, Target)} of the includes its kernels start with, precompiled once per
    platform (gcc: immintrin.h / arm_neon.h are most of a small kernel's compile time)."""
    prefixes = prefixes or {}
    from ..targets.hexagon.harness import HVX_CFLAGS
    P = name.upper()
    L = [f"# texpr bundle {name}: make [{' | '.join(platforms)} | all] [OPT=size]",
         "#   $(BUILD)/<platform>/lib" + name + ".a  the kernels, executor"
         + (" and thread pool" if pool else "") + " (host, aarch64)",
         "#   $(BUILD)/<platform>/check          check_main.c linked with them, if present",
         "# BUILD=DIR: where objects go (default build)",
         "# OPT=size: -Os and no unrolling by the compiler, for the smallest code (slower).",
         "OPT ?= speed",
         "BUILD ?= build",
         "ifeq ($(OPT),size)", "KOPT := -Os -fno-unroll-loops", "ROPT := -Os", "else",
         "KOPT := -O3", "ROPT := -O2", "endif",
         "HOST_CC ?= gcc", "HOST_AR ?= ar",
         "AARCH64_CC ?= aarch64-linux-gnu-gcc", "AARCH64_AR ?= aarch64-linux-gnu-ar",
         "HEXAGON_CC ?= clang", "HEXAGON_AR ?= llvm-ar",
         f"HEXAGON_FLAGS := {' '.join(HVX_CFLAGS[:4])} -ffreestanding -fwrapv -fno-strict-aliasing",
         f"RFLAGS := {' '.join(RUNTIME_FLAGS)}",
         f"EMBED_WEIGHTS ?= {1 if embedded else 0}",
         f"ifeq ($(EMBED_WEIGHTS),1)", f"WDEF := -D{P}_EMBEDDED_WEIGHTS", "endif",
         "", f".PHONY: all {' '.join(platforms)} clean", f"all: {' '.join(platforms)}", ""]
    for plat in platforms:
        cc, ar = f"$({plat.upper()}_CC)", f"$({plat.upper()}_AR)"
        d = f"$(BUILD)/{plat}"
        objs = []
        rflags = "$(HEXAGON_FLAGS) $(RFLAGS)" if plat == "hexagon" else "$(RFLAGS)"
        pch = {}
        for key, (header, target) in prefixes.items():
            if plat == "hexagon":
                continue
            flags = " ".join(kernel_flags(target, plat))
            h = f"{d}/{header}"
            pch[key] = h
            L += [f"{h}.gch: {header}", "\t@mkdir -p $(@D)", "\tcp $< " + h,
                  f"\t{cc} $(KOPT) {flags} -x c-header -o $@ {h}"]
        for src, target in kernels:
            obj = f"{d}/{src.rsplit('/', 1)[-1][:-2]}.o"
            objs.append(obj)
            key = (target.name, tuple(target.flags))
            dep, inc = (f" {pch[key]}.gch", f" -include {pch[key]}") if key in pch else ("", "")
            L += [f"{obj}: {src}{dep}", "\t@mkdir -p $(@D)",
                  f"\t{cc} $(KOPT) {' '.join(kernel_flags(target, plat))}{inc} -c $< -o $@"]
        L += [f"{d}/{name}_executor.o: {name}_executor.c {name}.h", "\t@mkdir -p $(@D)",
              f"\t{cc} $(ROPT) {rflags} $(WDEF) -c $< -o $@"]
        objs.append(f"{d}/{name}_executor.o")
        if pool and plat != "hexagon":
            L += [f"{d}/texpr_pool.o: texpr_pool.c", "\t@mkdir -p $(@D)",
                  f"\t{cc} $(ROPT) {rflags} -pthread -c $< -o $@"]
            objs.append(f"{d}/texpr_pool.o")
        extra = []
        if plat == "hexagon":
            L += [f"{d}/{name}_weights.o: {name}_weights.c", "\t@mkdir -p $(@D)",
                  f"\t{cc} -O0 {rflags} -c $< -o $@",
                  f"{d}/texpr_hexagon_platform.o: texpr_hexagon_platform.c", "\t@mkdir -p $(@D)",
                  f"\t{cc} -O2 {rflags} -c $< -o $@"]
            extra = [f"{d}/{name}_weights.o", f"{d}/texpr_hexagon_platform.o"]
        else:
            L += ["ifeq ($(EMBED_WEIGHTS),1)",
                  f"{d}/{name}_weights.o: {name}_weights.c", "\t@mkdir -p $(@D)",
                  f"\t{cc} -O0 {rflags} -c $< -o $@",
                  f"{plat.upper()}_WOBJ := {d}/{name}_weights.o", "endif"]
            extra = [f"$({plat.upper()}_WOBJ)"]
        L += [f"{plat.upper()}_OBJS := {' '.join(objs)} {' '.join(extra)}",
              f"{d}/lib{name}.a: $({plat.upper()}_OBJS)", f"\trm -f $@ && {ar} rcs $@ $^",
              f"{d}/check_main.o: check_main.c {name}.h", "\t@mkdir -p $(@D)",
              f"\t{cc} $(ROPT) {rflags} $(WDEF) -c $< -o $@"]
        if plat == "host":
            link = f"\t{cc} -o $@ $^ -lm -pthread"
        elif plat == "aarch64":
            link = f"\t{cc} -static -o $@ $^ -lm -pthread"
        else:
            link = f"\t{cc} $(HEXAGON_FLAGS) -nostdlib -fuse-ld=lld -static -o $@ $^"
        L += [f"{d}/check: {d}/check_main.o $({plat.upper()}_OBJS)", link,
              f"{plat}: {d}/lib{name}.a", f"check-{plat}: {d}/check",
              f"objects-{plat}: $({plat.upper()}_OBJS)", ""]
    L += ["clean:", "\trm -rf $(BUILD)", ""]
    return "\n".join(L)


def hexagon_platform():
    """What a freestanding Hexagon program of the bundle needs (no libc there): the HVX
    harness's system calls, memcpy / memset / integer division and _start, calling main."""
    from ..targets.hexagon.harness import IO_ENTRY, IO_PRIMS
    return "\n".join([
        "/* texpr_hexagon_platform.c: freestanding Hexagon Linux support for a bundle's program",
        "   (texpr's HVX harness layer: _start, system calls through trap0, memcpy, division) */",
        "#include <stdint.h>", "#include <stddef.h>",
        IO_PRIMS.strip("\n"),
        "/* the program's I/O, for its main */",
        "int texpr_bundle_open(const char* path) { return texpr_h_open_read(path); }",
        "long texpr_bundle_read(int fd, void* p, long n) { return texpr_h_read(fd, p, n); }",
        "long texpr_bundle_write(int fd, const void* p, long n) { return texpr_h_write(fd, p, n); }",
        "int main(int argc, char** argv);",
        "static int texpr_harness_main(int argc, char** argv) { return main(argc, argv); }",
        IO_ENTRY.strip("\n"), ""])
