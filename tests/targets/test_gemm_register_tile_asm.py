"""The float32 GEMM register tile (targets/intrin.gemm_fp32) as GCC compiles it for AVX2.

dense, dense_pack and batch_matmul spend their time in this loop; on a Zen 3 the 6 x 16 tile
with its operands in L1 runs at ~98% of the FMA peak, so what the whole product loses lies
outside it (cache blocking, packing). These checks keep the loop that way: per k step the two
vector loads of the B panel row, one broadcast per tile row and 2 x 6 FMAs, nothing else but
the loop's pointer updates, and no stack access (the 12 accumulators stay in registers, no
spill). Assembly only (gcc -S of the emitted source): nothing is run.
"""
import platform
import re

import pytest

from texpr.targets.build import emit_source
from texpr.targets.registry import get_target, kernel_flags
from texpr.targets.toolchain import compile_to_assembly

from support.tensorize import tensorized_gemm_fp32

pytestmark = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                                reason="gcc -mavx2 assembly needs an x86-64 compiler")

MR, NR = 6, 16          # the AVX2 tile dense_config picks: 12 accumulators of 16 registers


def _k_loops(asm):
    """The bodies of the innermost loops (label .. backward jump to it, no label between) that
    contain an FMA."""
    lines = [ln.strip() for ln in asm.splitlines()]
    labels = {ln[:-1]: i for i, ln in enumerate(lines) if re.fullmatch(r"\.L\d+:", ln)}
    loops = []
    for i, ln in enumerate(lines):
        m = re.fullmatch(r"j\w+\s+(\.L\d+)", ln)
        if m and m.group(1) in labels and labels[m.group(1)] < i:
            inside = lines[labels[m.group(1)] + 1:i]
            body = [x for x in inside if x and not x.startswith(".")]
            innermost = not any(re.fullmatch(r"\.L\d+:", x) for x in inside)
            if innermost and any(x.startswith("vfmadd") for x in body):
                loops.append(body)
    return loops


@pytest.fixture(scope="module")
def avx2_asm():
    s, args = tensorized_gemm_fp32(2 * MR, 2 * NR, 128, MR, NR, 64, packed_input=True)
    src = emit_source(s, args, target="avx2", name="gemm_tile")
    return compile_to_assembly(src, kernel_flags(get_target("avx2")))


def test_k_loop_is_loads_broadcasts_and_fmas_only(avx2_asm):
    loops = _k_loops(avx2_asm)
    assert len(loops) >= 2, "expected the k loops of the first chunk and of the update"
    for body in loops:
        fma = sum(x.startswith("vfmadd") for x in body)
        assert fma % (MR * NR // 8) == 0, body
        steps = fma // (MR * NR // 8)           # GCC may unroll the k loop
        bcast = sum(x.startswith("vbroadcastss") for x in body)
        loads = sum(bool(re.match(r"vmov[au]ps\s+-?\d*\(%\w+\), %ymm\d+$", x)) for x in body)
        assert (bcast, loads) == (MR * steps, NR // 8 * steps), body
        other = len(body) - fma - bcast - loads
        assert other <= 4 * steps, \
            f"{other} instructions besides loads and FMAs (pointer updates: 4):\n" + "\n".join(body)


def test_accumulators_stay_in_registers(avx2_asm):
    for body in _k_loops(avx2_asm):
        assert not [x for x in body if "%rsp" in x or "%rbp" in x], "stack access (a spill):\n" \
            + "\n".join(body)
        accumulators = {x.split()[-1] for x in body if x.startswith("vfmadd")}
        assert len(accumulators) == MR * NR // 8, accumulators


# AVX-512 tiles: GCC folded each B vector load into every FMA that used it (a 3 x 32 tile: six
# 64-byte loads per k step instead of two), which left Zen 4 load-bound (gemm_fp32 pins the B
# vectors in registers). Compiled with the native AVX-512 flags on any x86 host.
AVX512_TILES = [(3, 32), (6, 16), (6, 32), (12, 32)]


@pytest.fixture(scope="module", params=AVX512_TILES, ids=lambda t: f"{t[0]}x{t[1]}")
def avx512_tile(request):
    from texpr.targets.registry import AVX512_FLAGS, BASE_FLAGS
    mr, nr = request.param
    s, args = tensorized_gemm_fp32(2 * mr, 2 * nr, 128, mr, nr, 64, packed_input=True)
    src = emit_source(s, args, target="avx512", name="gemm_tile")
    flags = ["-fopenmp-simd" if f == "-fopenmp" else f for f in BASE_FLAGS + AVX512_FLAGS]
    return mr, nr, compile_to_assembly(src, flags)


def test_avx512_k_loop_loads_each_b_vector_once(avx512_tile):
    mr, nr, asm = avx512_tile
    nv = nr // 16
    loops = _k_loops(asm)
    assert len(loops) >= 2, "expected the k loops of the first chunk and of the update"
    for body in loops:
        fma = [x for x in body if x.startswith("vfmadd")]
        assert len(fma) % (mr * nv) == 0, body
        steps = len(fma) // (mr * nv)
        # a memory operand of an FMA may only be a broadcast scalar of A ({1to16})
        folded = [x for x in fma if "(%" in x and "{1to16}" not in x]
        assert not folded, "B vectors loaded by the FMAs:\n" + "\n".join(body)
        loads = sum(bool(re.match(r"vmov[au]ps\s+-?\d*\(%\w+\), %zmm\d+$", x)) for x in body)
        bcast = sum(x.startswith("vbroadcastss") for x in body) + \
            sum("{1to16}" in x for x in fma)
        assert (loads, bcast) == (nv * steps, mr * steps), body
        assert not [x for x in body if "%rsp" in x or "%rbp" in x], "spill:\n" + "\n".join(body)
