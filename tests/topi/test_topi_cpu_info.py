"""topi.cpu.CpuInfo reads the machine (host targets) or the Target record (cross targets), and
the schedules' parameters follow the cache sizes and FMA units it reports (no compiling)."""
import pytest

import texpr.topi as topi
from texpr.targets import host
from texpr.targets.registry import get_target
from texpr.topi import cpu


@pytest.mark.parametrize("target", ["native", "avx2", "avx512", "neon", "hvx"])
def test_cpu_info_values_are_sane(target):
    info = cpu.cpu_info(target)
    assert 16 * 1024 <= info.l1d_bytes <= info.l2_bytes <= info.l3_bytes <= 4 * 1024 ** 3
    assert 1 <= info.fma_units <= 4 and info.busy_accumulators == 6 * info.fma_units
    assert "FMA units" in repr(info) and "L2" in repr(info)


def test_host_targets_read_the_host_and_cross_targets_their_record(monkeypatch):
    fake = host.HostCpu(l1d_bytes=16 * 1024, l2_bytes=256 * 1024, l3_bytes=None, model="fake",
                        fields=(("vendor_id", "AuthenticAMD"), ("cpu family", "23"),
                                ("model", "1")))
    monkeypatch.setattr(host, "host_cpu", lambda: fake)
    avx2 = cpu.cpu_info("avx2")
    assert (avx2.l1d_bytes, avx2.l2_bytes, avx2.fma_units) == (16 * 1024, 256 * 1024, 1)
    assert avx2.l3_bytes == get_target("avx2").l3_bytes          # unread: the record's
    neon = cpu.cpu_info("neon")                                      # under qemu: the record
    t = get_target("neon")
    if t.runs != "native":
        assert (neon.l1d_bytes, neon.l2_bytes, neon.fma_units) == \
            (t.l1d_bytes, t.l2_bytes, t.fma_units)


def with_caches(monkeypatch, **sizes):
    real = cpu.CpuInfo

    class Sized(real):
        def __init__(self, target):
            super().__init__(target)
            for k, v in sizes.items():
                setattr(self, k, v)
    monkeypatch.setattr(cpu, "CpuInfo", Sized)


def configs():
    return (cpu.dense_config(1024, 1024, 1024, "avx2"),
            cpu.dense_rows_config(64, 4096, 4096, "avx2", units=2),
            cpu.winograd_config(1, 28, 28, 64, 64, "avx2", units=2))


def test_configs_follow_the_cache_sizes(monkeypatch):
    with_caches(monkeypatch, l1d_bytes=32 * 1024, l2_bytes=512 * 1024, l3_bytes=32 * 1024 ** 2)
    dense, rows, wino = configs()
    # a 512-long chunk of 128 rows fills half of 512 KiB (the chunk measured best on Zen 3)
    assert dense["kc"] == 512 and dense["mb"] <= 128 + dense["mr"]
    assert rows["kc"] * rows["nr"] * 4 <= 64 * 1024              # data panel: L2 / 8
    assert (rows["nb"] - rows["mr"]) * rows["kc"] * 4 <= 256 * 1024   # weight block: half L2
    with_caches(monkeypatch, l1d_bytes=16 * 1024, l2_bytes=128 * 1024, l3_bytes=2 * 1024 ** 2)
    small_dense, small_rows, small_wino = configs()
    assert (small_dense["mr"], small_dense["nr"]) == (dense["mr"], dense["nr"])   # same tile
    assert small_dense["kc"] < dense["kc"]
    assert small_dense["kc"] * (small_dense["nb"] - small_dense["nr"]) * 4 <= 2 * 1024 ** 2 // 8
    assert small_rows["kc"] < rows["kc"] and small_rows["nb"] <= rows["nb"]
    assert small_wino["kc"] <= wino["kc"] and small_wino["block_tiles"] <= wino["block_tiles"]
    with_caches(monkeypatch, l1d_bytes=64 * 1024, l2_bytes=2 * 1024 ** 2, l3_bytes=64 * 1024 ** 2)
    big_dense, big_rows, _ = configs()
    assert big_rows["kc"] > rows["kc"] and big_rows["nb"] >= rows["nb"]
    assert big_dense["kc"] == 512                  # capped: longer chunks measured no faster


def test_in_place_rows_reach_a_share_of_the_l2_sets(monkeypatch):
    """A block of A read in place, rows `row_bytes` apart in chunks of kc floats, maps to
    chunk / gcd(row, set period) of the L2's sets (period = L2 / ways): the weight blocks'
    row block fills half of that share. Zen 3 (512 KiB, 8 ways: a 64 KiB period), K = 1024
    in chunks of 512: half the sets, so about 64 rows (a 132-row block, 264 KiB, would fill
    the 256 KiB those rows reach); Zen 4 (1 MiB) keeps its 128 rows (132: whole tiles)."""
    with_caches(monkeypatch, l1d_bytes=32 * 1024, l2_bytes=512 * 1024, l2_ways=8)
    info = cpu.cpu_info("avx2")
    assert cpu.in_place_l2_share(info, 4096, 2048) == 0.5
    assert cpu.in_place_l2_share(info, 1024, 1024) == 1.0       # whole rows: every set
    assert cpu.in_place_l2_share(info, 4 * 1000, 2048) == 1.0   # odd strides spread
    assert cpu.row_block_target(info, 512) == 128               # packed A: half the L2
    assert cpu.row_block_target(info, 512, row_bytes=4096) == 64
    zen3 = cpu.dense_weight_blocks_config(1024, 1024, 1024, "avx2", units=1)
    assert zen3["kc"] == 512 and zen3["mb"] * 512 * 4 <= 256 * 1024 // 2 + zen3["mr"] * 2048
    with_caches(monkeypatch, l1d_bytes=32 * 1024, l2_bytes=1024 * 1024, l2_ways=8)
    zen4 = cpu.dense_weight_blocks_config(1024, 1024, 1024, "avx2", units=1)
    assert zen4["mb"] == 132 and zen3["mb"] < zen4["mb"]
    assert cpu.dense_weight_blocks_config(1024, 1024, 2048, "avx2", units=1)["mb"] < 132
    assert "8-way" in repr(cpu.cpu_info("avx2"))


def test_register_tile_follows_the_fma_units(monkeypatch):
    with_caches(monkeypatch, fma_units=1)
    one = cpu.register_tile(1024, 1024, cpu.cpu_info("avx2"))
    with_caches(monkeypatch, fma_units=2)
    two = cpu.register_tile(1024, 1024, cpu.cpu_info("avx2"))
    assert one[0] * one[1] <= two[0] * two[1]


def test_register_tile_row_tail(monkeypatch):
    """row_tail: a tile that leaves M % mr rows to a smaller run of the same kernel, where no
    tile dividing M keeps the FMA units busy (AVX2, two units: 16 or 28 Winograd tiles); at
    equal cost the tile that divides M."""
    with_caches(monkeypatch, fma_units=2)
    info = cpu.cpu_info("avx2")
    for M in (16, 28):
        whole = cpu.register_tile(M, 16, info, max_vectors=2)
        tail = cpu.register_tile(M, 16, info, max_vectors=2, row_tail=True)
        assert M % whole[0] == 0 and whole != (6, 16)
        assert tail == (6, 16)           # 12 accumulators of 16 registers, 4 rows left over
    assert cpu.register_tile(24, 16, info, max_vectors=2, row_tail=True) == \
        cpu.register_tile(24, 16, info, max_vectors=2)


def test_dense_rows_config_tiles_and_blocks():
    for M, N, K in [(3, 7, 20), (16, 512, 512), (64, 4096, 4096), (37, 1000, 1021)]:
        for t in ("avx2", "avx512", "neon"):
            c = cpu.dense_rows_config(M, N, K, t, units=2)
            info = cpu.cpu_info(t)
            assert c["nr"] % info.lanes == 0 and c["Mp"] >= M and c["Mp"] % c["nr"] == 0
            assert K % c["kc"] == 0 and c["nb"] % c["mr"] == 0
            assert c["mr"] * c["nr"] // info.lanes <= max(info.busy_accumulators,
                                                          2 * cpu.DENSE_ROWS_TILE_ROWS)
    assert topi.cpu.gemv_max_rows("native") < topi.cpu.DENSE_ROWS_MAX
