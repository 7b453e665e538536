"""texpr/targets/host.py: the host's cache sizes (sysfs) and FMA units (/proc/cpuinfo table),
read from files laid out as Linux does, with fallbacks when they are missing."""
import os

from texpr.targets import host


def write_cache(root, index, level, kind, size):
    d = os.path.join(root, f"index{index}")
    os.makedirs(d)
    for name, text in (("level", str(level)), ("type", kind), ("size", size)):
        with open(os.path.join(d, name), "w") as f:
            f.write(text + "\n")


def test_caches_read_from_sysfs_layout(tmp_path):
    root = str(tmp_path)
    write_cache(root, 0, 1, "Data", "48K")
    write_cache(root, 1, 1, "Instruction", "32K")
    write_cache(root, 2, 2, "Unified", "1024K")
    write_cache(root, 3, 3, "Unified", "32M")
    os.makedirs(os.path.join(root, "power"))        # not a cache entry
    assert host.read_caches(root) == {1: 48 * 1024, 2: 1024 ** 2, 3: 32 * 1024 ** 2}


def test_cache_ways_read_from_sysfs_layout(tmp_path):
    root = str(tmp_path)
    write_cache(root, 0, 1, "Data", "32K")
    write_cache(root, 2, 2, "Unified", "512K")
    with open(os.path.join(root, "index2", "ways_of_associativity"), "w") as f:
        f.write("8\n")
    assert host.read_caches(root, "ways_of_associativity") == {2: 8}     # L1's unreadable


def test_unreadable_caches_give_nothing(tmp_path):
    assert host.read_caches(str(tmp_path / "missing")) == {}
    write_cache(str(tmp_path), 0, 1, "Data", "lots")
    assert host.read_caches(str(tmp_path)) == {}
    assert host.parse_size("512") == 512 and host.parse_size("") is None


def test_fma_units_table():
    zen3 = {"vendor_id": "AuthenticAMD", "cpu family": "25", "model": "1"}
    zen1 = {"vendor_id": "AuthenticAMD", "cpu family": "23", "model": "1"}
    zen2 = {"vendor_id": "AuthenticAMD", "cpu family": "23", "model": "49"}
    xeon = {"vendor_id": "GenuineIntel", "cpu family": "6", "model": "143",
            "model name": "Intel(R) Xeon(R) Platinum 8480+", "flags": "avx2 avx512f"}
    client = {"vendor_id": "GenuineIntel", "cpu family": "6", "model": "140",
              "model name": "11th Gen Intel(R) Core(TM) i7", "flags": "avx2 avx512f"}
    n1 = {"CPU implementer": "0x41", "CPU part": "0xd0c"}
    zen4 = {"vendor_id": "AuthenticAMD", "cpu family": "25", "model": "17"}
    zen5 = {"vendor_id": "AuthenticAMD", "cpu family": "26", "model": "2"}
    assert host.fma_units_of(zen3, 256) == host.fma_units_of(zen2, 256) == 2
    assert host.fma_units_of(zen4, 256) == 2 and host.fma_units_of(zen4, 512) == 1
    assert host.fma_units_of(zen5, 512) == 2
    assert host.fma_units_of(zen1, 256) == 1
    assert host.fma_units_of(xeon, 512) == 2 and host.fma_units_of(client, 512) == 1
    assert host.fma_units_of(client, 256) == 2
    assert host.fma_units_of(n1, 128) == 2
    assert host.fma_units_of({}, 256) is None
    assert host.fma_units_of({"vendor_id": "Unknown"}, 256) is None


def test_denormal_fma_table():
    """Only the cores measured to run multiply-adds of denormals at full speed (Zen 3's family)."""
    zen3 = {"vendor_id": "AuthenticAMD", "cpu family": "25", "model": "1"}
    zen5 = {"vendor_id": "AuthenticAMD", "cpu family": "26", "model": "2"}
    intel = {"vendor_id": "GenuineIntel", "cpu family": "6", "model": "143"}
    assert host.denormal_fma_full_speed_of(zen3)
    assert not any(map(host.denormal_fma_full_speed_of, (zen5, intel, {})))


def test_cpuinfo_fields_of_the_first_processor(tmp_path):
    p = tmp_path / "cpuinfo"
    p.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n\n"
                 "processor\t: 1\nvendor_id\t: Other\n")
    f = host.cpuinfo_fields(str(p))
    assert f["vendor_id"] == "AuthenticAMD" and f["cpu family"] == "25"
    assert host.cpuinfo_fields(str(tmp_path / "none")) == {}


def test_this_host_is_read():
    h = host.host_cpu()
    if os.path.isdir(host.CACHE_DIR):
        assert h.l1d_bytes and h.l2_bytes
    for v in (h.l1d_bytes, h.l2_bytes, h.l3_bytes):
        assert v is None or 4 * 1024 <= v <= 4 * 1024 ** 3
