"""The host CPU as the schedules see it: cache sizes and the number of FMA units.

Cache sizes come from Linux sysfs (/sys/devices/system/cpu/cpu0/cache/index*/{level,type,size},
the L2's ways from ways_of_associativity);
the FMA units from a small table by vendor, family and model (/proc/cpuinfo). What cannot be
read is None, and the caller (topi.cpu.CpuInfo) takes the Target record's value instead, so a
machine without sysfs or an unknown CPU still gets sane tiles.
"""
import functools
import os
from dataclasses import dataclass

CACHE_DIR = "/sys/devices/system/cpu/cpu0/cache"
CPUINFO = "/proc/cpuinfo"


@dataclass(frozen=True)
class HostCpu:
    """What was read about the host (None: unknown). model: the CPU's name, for reports."""
    l1d_bytes: int = None
    l2_bytes: int = None
    l3_bytes: int = None
    model: str = ""
    fields: tuple = ()          # the /proc/cpuinfo fields of the first processor, as pairs
    l2_ways: int = None         # the L2's associativity (its sets: l2_bytes / l2_ways lines)

    def fma_units(self, vector_bits):
        """FMA instructions of `vector_bits`-wide vectors the core issues per cycle, or None."""
        return fma_units_of(dict(self.fields), vector_bits)

    def denormal_fma_full_speed(self):
        """Whether a multiply-add with a denormal operand runs at full speed (no microcode
        assist) on this host: denormal_fma_full_speed_of."""
        return denormal_fma_full_speed_of(dict(self.fields))


def parse_size(text):
    """A sysfs cache size ("32K", "1024K", "32M", "512") in bytes, or None."""
    text = text.strip().upper()
    scale = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in "KMG" and text else text
    try:
        value = int(digits) * scale
    except ValueError:
        return None
    return value if value > 0 else None


def read_caches(cache_dir=CACHE_DIR, field="size"):
    """{1: L1 data bytes, 2: L2 bytes, 3: L3 bytes} of cpu0, those that sysfs gives; field
    "ways_of_associativity": the ways of each level instead."""
    out = {}
    try:
        entries = sorted(os.listdir(cache_dir))
    except OSError:
        return out
    for e in entries:
        if not e.startswith("index"):
            continue
        try:
            with open(os.path.join(cache_dir, e, "level")) as f:
                level = int(f.read())
            with open(os.path.join(cache_dir, e, "type")) as f:
                kind = f.read().strip()
            with open(os.path.join(cache_dir, e, field)) as f:
                size = parse_size(f.read())
        except (OSError, ValueError):
            continue
        if kind == "Instruction" or size is None:
            continue
        out.setdefault(level, size)
    return out


def cpuinfo_fields(path=CPUINFO):
    """The "key: value" fields of the first processor in /proc/cpuinfo ({} if unreadable)."""
    fields = {}
    try:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    if fields:
                        break
                    continue
                key, sep, value = line.partition(":")
                if sep:
                    fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def _int(text, base=10):
    try:
        return int(text, base)
    except (TypeError, ValueError):
        return None


#: AArch64 cores by "CPU part" (ARM Ltd, implementer 0x41): 128-bit FMA pipes.
ARM_FMA_PIPES = {0xd03: 1, 0xd05: 1, 0xd08: 2, 0xd0b: 2, 0xd0c: 2, 0xd40: 4, 0xd49: 2,
                 0xd4f: 4, 0xd41: 2, 0xd44: 4}


def fma_units_of(fields, vector_bits):
    """FMA units for `vector_bits` vectors from /proc/cpuinfo fields, or None when unknown.

    AMD: Zen 2 to Zen 5 (family 0x17 model >= 0x30, 0x19, 0x1a) issue two 256-bit FMAs a
    cycle, Zen 1 one (its units are 128 bits wide: a 256-bit FMA takes both). Zen 4 (family
    0x19 with AVX-512) runs a 512-bit FMA through both 256-bit units, one a cycle (measured:
    113 GFLOP/s per core at 256 and at 512 bits), so 8-lane vectors do as much work a cycle
    there and waste fewer lanes (topi.cpu.CpuInfo.narrow); Zen 5 has 512-bit units. Intel
    cores with AVX2 two; AVX-512 two on Xeons, one on client parts. ARM by core part
    (ARM_FMA_PIPES, in 128-bit pipes)."""
    vendor = fields.get("vendor_id", "")
    family = _int(fields.get("cpu family"))
    model = _int(fields.get("model"))
    flags = set(fields.get("flags", "").split())
    if vendor in ("AuthenticAMD", "HygonGenuine") and family is not None:
        if family == 0x19:
            return 1 if vector_bits > 256 else 2
        if family == 0x1a or (family == 0x17 and (model or 0) >= 0x30):
            return 2
        if family in (0x17, 0x18):
            return 1 if vector_bits > 128 else 2
        return 1
    if vendor == "GenuineIntel" and family == 6:
        if vector_bits > 256:
            return 2 if "Xeon" in fields.get("model name", "") else 1
        return 2 if "avx2" in flags else 1
    if _int(fields.get("CPU implementer"), 16) == 0x41:
        pipes = ARM_FMA_PIPES.get(_int(fields.get("CPU part"), 16))
        if pipes:
            return max(1, pipes * 128 // max(128, vector_bits))
    return None


#: (vendor, family) of the cores measured to run a multiply-add with denormal inputs at full
#: speed: AMD Zen 3 / Zen 4 (family 0x19; on Zen 3 a vmulps with a denormal input is
#: microcoded, 10x slower, the vfmadd is not; on Zen 4, family 0x19 model 0x11, 8 chains of
#: vfmadd231ps with a denormal operand ran 0.82-1.15x the time of normal ones). Intel cores take a microcode assist for denormal
#: inputs unless DAZ is set; other cores are unmeasured.
DENORMAL_FMA_FULL_SPEED = {("AuthenticAMD", 0x19)}


def denormal_fma_full_speed_of(fields):
    """Whether the CPU of these /proc/cpuinfo fields is in DENORMAL_FMA_FULL_SPEED."""
    return (fields.get("vendor_id", ""), _int(fields.get("cpu family"))) in DENORMAL_FMA_FULL_SPEED


@functools.lru_cache(maxsize=None)
def host_cpu():
    """The host as read once (HostCpu)."""
    caches = read_caches()
    fields = cpuinfo_fields()
    model = fields.get("model name") or fields.get("CPU part", "")
    return HostCpu(caches.get(1), caches.get(2), caches.get(3), model,
                   tuple(sorted(fields.items())),
                   read_caches(field="ways_of_associativity").get(2))
