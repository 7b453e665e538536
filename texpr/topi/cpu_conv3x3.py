"""Which algorithm a 3x3 stride-1 convolution runs on a CPU: direct, or Winograd F(2,3),
F(4,3), F(5,3), F(6,3) (topi/winograd.py), from a cost model of the host (CpuInfo), not a table of
one machine's measurements; and a 3x3 stride-2 one: direct or F(4,2) on the space-to-depth
input (conv3x3_s2_algorithm).

The model, in cycles of one core, per layer:

- multiplies: direct 9 per output and input channel; Winograd alpha^2 per tile (tiles of
  m x m outputs, the last ones padded: a 7-wide output is two 4-wide tiles, 8 of F(4,3)'s
  outputs computed for 7), at `CpuInfo.fma_lanes()` a cycle;
- the weights, 9 (direct) or alpha^2 (Winograd) floats per input x output channel, streamed
  from memory at STREAM_BYTES_PER_CYCLE: in a network the other layers' weights evict them
  between calls (ResNet-50's are 100 MB), and at 7x7 F(4,3)'s 38 MB outweigh its 3x fewer
  multiplies. Streaming and multiplying overlap in part: max + min / 2;
- the input and output transforms: their adds and multiplies by the matrices' non-zero
  entries (B^T d B per input tile and channel, A^T M A per output tile and channel), each
  TRANSFORM_CYCLES times the cost of a GEMM multiply (they load and store every value and
  their chains are short).

Calibrated on Zen 4 (1 core, avx512 and avx2 targets, per-layer times inside ResNet-50):
it picks F(4,3) at 56 and 28, F(5,3) at 14 (3 x 3 tiles of 5 cover it: 441 multiplies per
channel pair, F(4,3)'s 4 x 4 tiles 576; in the network 0.62-0.69 ms a layer against F(4,3)'s
0.75-0.81 on avx512, 0.65-0.79 against 0.80-0.92 on avx2, both with the GEMM's weight
prefetch) and F(2,3) at 7 (F(4,3) within 3% there), the fastest or tied; with Zen 5's twice
as many FMA lanes at 512 bits the multiplies weigh half and the weight stream makes F(4,3)
the choice at 14 (F(5,3) streams 49/36 of its weights) and F(2,3) at 7. F(6,3) (entries up
to ~10 in its matrices: 4x the rounding error of F(4,3), and ~6x the build time) must be
WINO6_MARGIN cheaper than the best of the others; F(5,3)'s error measured as F(4,3)'s
(ResNet-50's 14x14 layers: 1.3e-5 of the largest output against 1.2e-5).
"""
from __future__ import annotations

import numpy as np

from .cpu import cpu_info
from .util import cdiv

ALGORITHMS = ("direct", "wino2", "wino4", "wino5", "wino6")
# one core's stream of weights from memory, bytes a cycle (~25-30 GB/s at 3.5-4 GHz: Zen 3,
# Zen 4 measured 25 GB/s streaming F(4,3)'s 7x7 weights)
STREAM_BYTES_PER_CYCLE = 8.0
# a transform operation (one non-zero matrix entry applied to one value) in GEMM multiplies:
# Zen 4, avx512, F(4,3) at 28x28 and 14x14 (perf: 12-23% of the layer outside the GEMM)
TRANSFORM_CYCLES = 4.5
WINO6_MARGIN = 0.9


def _overlap(compute, stream):
    return max(compute, stream) + min(compute, stream) / 2


def conv3x3_costs(N, C, H, W, O, target="native", info=None, r=3):
    """{algorithm: modelled cycles} of a 3x3 (r = 5: 5x5) stride-1 convolution (N images,
    C -> O channels, H x W outputs) on `target`'s CPU (see the module docstring); "wino<m>"
    is F(m, r).

    >>> from texpr.topi.cpu_conv3x3 import conv3x3_costs
    >>> sorted(conv3x3_costs(1, 64, 56, 56, 64, "avx2"))
    ['direct', 'wino2', 'wino4', 'wino5', 'wino6']
    >>> sorted(conv3x3_costs(1, 64, 56, 56, 64, "avx2", r=5))
    ['direct', 'wino2', 'wino4']
    """
    from .winograd import TILE_SIZES, winograd_matrices
    info = info or cpu_info(target)
    fma = float(info.fma_lanes())
    costs = {"direct": _overlap(N * H * W * C * O * r * r / fma,
                                4.0 * r * r * C * O / STREAM_BYTES_PER_CYCLE)}
    for m in TILE_SIZES[r]:
        a = m + r - 1
        AT, _, BT = winograd_matrices(m, r)
        tiles = N * cdiv(H, m) * cdiv(W, m)
        gemm = tiles * a * a * C * O / fma
        stream = 4.0 * a * a * C * O / STREAM_BYTES_PER_CYCLE
        ops = tiles * (C * 2 * a * np.count_nonzero(BT) + O * (a + m) * np.count_nonzero(AT))
        costs[f"wino{m}"] = float(_overlap(gemm, stream) + TRANSFORM_CYCLES * ops / fma)
    return costs


def conv3x3_algorithm(N, C, H, W, O, target="native", algorithms=ALGORITHMS, info=None, r=3):
    """The cheapest of `algorithms` by conv3x3_costs ("direct" or "wino<m>": F(m, r), r = 3
    or 5), the 8-point ones (F(6,3), F(4,5): 4x F(4,3)'s rounding error) only where they
    are WINO6_MARGIN cheaper than the rest.

    >>> from texpr.topi.cpu_conv3x3 import conv3x3_algorithm
    >>> conv3x3_algorithm(1, 64, 56, 56, 64, "avx2")
    'wino4'
    """
    costs = conv3x3_costs(N, C, H, W, O, target, info, r)
    wide = "wino6" if r == 3 else "wino4"
    algorithms = [a for a in algorithms if a in costs]
    rest = {a: costs[a] for a in algorithms if a != wide}
    best = min(rest, key=rest.get) if rest else wide
    if wide in algorithms and rest and costs[wide] < WINO6_MARGIN * costs[best]:
        best = wide
    return best


# the loads a cycle the Winograd batched GEMM's register tile sustains (broadcasts of V's
# rows and U's rows read in place, O floats apart): Zen 4, F(4,2) at 28x28, 128 -> 128
# channels, 1 thread: the avx512 tile (7 x 2 vectors: 9 loads to 14 FMAs on one unit) ran at
# ~95% of the FMA peak, the avx2 one (5 x 2: 7 loads to 10 FMAs on two units) at ~62%
GEMM_LOADS_PER_CYCLE = 1.0


def winograd_gemm_efficiency(bt, O, info):
    """The share of the FMA peak the Winograd GEMM's register tile (cpu.winograd_gemm_tile:
    bt tiles x O output channels) reaches when its loads bound it: a reduction step runs
    mr x nr/lanes FMAs on `fma_units` units and mr broadcasts + nr/lanes loads at
    GEMM_LOADS_PER_CYCLE."""
    from .cpu import winograd_gemm_tile
    mr, nr = winograd_gemm_tile(bt, O, info)
    vecs = cdiv(nr, info.lanes)
    fma = mr * vecs / max(1, info.fma_units)
    return fma / max(fma, (mr + vecs) / GEMM_LOADS_PER_CYCLE)


def conv3x3_s2_costs(N, C, H, W, O, target="native", info=None):
    """{"direct", "wino4s2": modelled cycles} of a 3x3 stride-2 convolution with padding 1
    (H x W in, ceil(H/2) x ceil(W/2) out): direct as in conv3x3_costs; F(4,2) on the
    space-to-depth input (topi.winograd.conv2d_winograd_nchw(stride=2): 4C channels, 5 x 5
    points a tile of 4 x 4 outputs, the last tiles padded) as there, its GEMM at
    winograd_gemm_efficiency. Only where the tiles fit the output and the multiplies weigh it
    wins: 6.25 multiplies an output and channel against 9, but 4x the input transform and
    25 x 4C x O weights (6.5 MB at 128 -> 128).

    >>> from texpr.topi.cpu_conv3x3 import conv3x3_s2_costs
    >>> sorted(conv3x3_s2_costs(1, 128, 56, 56, 128, "avx512"))
    ['direct', 'wino4s2']
    """
    from .cpu import winograd_config
    from .winograd import winograd_matrices
    info = info or cpu_info(target)
    fma = float(info.fma_lanes())
    P, Q = cdiv(H, 2), cdiv(W, 2)
    costs = {"direct": _overlap(N * P * Q * C * O * 9 / fma,
                                4.0 * 9 * C * O / STREAM_BYTES_PER_CYCLE)}
    m, r, C4 = 4, 2, 4 * C
    a = m + r - 1
    AT, _, BT = winograd_matrices(m, r)
    nH, nW = cdiv(P, m), cdiv(Q, m)
    tiles = N * nH * nW
    bt = winograd_config(N, nH, nW, C4, O, units=1, info=info)["block_tiles"]
    gemm = tiles * a * a * C4 * O / fma / winograd_gemm_efficiency(bt, O, info)
    stream = 4.0 * a * a * C4 * O / STREAM_BYTES_PER_CYCLE
    ops = tiles * (C4 * 2 * a * np.count_nonzero(BT) + O * (a + m) * np.count_nonzero(AT))
    costs["wino4s2"] = float(_overlap(gemm, stream) + TRANSFORM_CYCLES * ops / fma)
    return costs


def conv3x3_s2_algorithm(N, C, H, W, O, target="native", info=None):
    """"direct" or "wino4s2", the cheaper by conv3x3_s2_costs.

    >>> from texpr.topi.cpu_conv3x3 import conv3x3_s2_algorithm
    >>> conv3x3_s2_algorithm(1, 256, 28, 28, 256, "avx512")     # 14x14 out: padded tiles
    'direct'
    """
    costs = conv3x3_s2_costs(N, C, H, W, O, target, info)
    return min(costs, key=costs.get)


def conv2d_algorithm(N, C, H, W, O, R, stride=1, padding=0, dilation=1, target="native",
                     info=None):
    """How a float32 NCHW convolution with a constant weight runs on this CPU (constant
    sizes; H x W in, R x R kernel, one stride, padding and dilation for both axes): a
    Winograd "wino<m>" (3x3 or 5x5 stride 1, F(m, R): conv3x3_algorithm on its outputs;
    dilated d: on the d x d phases' outputs, d^2 images of ceil(P/d) x ceil(Q/d)), "wino4s2" (3x3 stride 2,
    padding 1: conv3x3_s2_algorithm), "stemw" (7x7 stride 2 of at most 4 input channels:
    cpu_conv_stem.stem_algorithm), else "direct". The weight is transformed once, where it
    is made constant (Graph.conv2d, the ResNet-50 builder).

    >>> from texpr.topi.cpu_conv3x3 import conv2d_algorithm
    >>> conv2d_algorithm(1, 64, 56, 56, 64, 3, 1, 1, target="avx2")
    'wino4'
    >>> conv2d_algorithm(1, 64, 56, 56, 64, 3, 1, 2, dilation=2, target="avx2")
    'wino4'
    >>> conv2d_algorithm(1, 64, 56, 56, 64, 5, 1, 2, target="avx2") in ("wino2", "wino4")
    True
    >>> conv2d_algorithm(1, 64, 56, 56, 64, 7, 1, 3, target="avx2")
    'direct'
    """
    d = dilation
    if not all(isinstance(v, int) for v in (N, C, H, W, O, d)) or d < 1:
        return "direct"
    P, Q = H + 2 * padding - d * (R - 1), W + 2 * padding - d * (R - 1)
    if R in (3, 5) and stride == 1 and P > 0 and Q > 0:
        return conv3x3_algorithm(N * d * d, C, cdiv(P, d), cdiv(Q, d), O, target, info=info,
                                 r=R)
    if d != 1:
        return "direct"
    if R == 3 and stride == 2 and padding == 1:
        return conv3x3_s2_algorithm(N, C, H, W, O, target, info)
    if R == 7 and stride == 2:
        from .cpu_conv_stem import stem_algorithm
        return stem_algorithm(N, C, H, W, O, target, info, pad=padding)
    return "direct"
