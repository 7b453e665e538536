#!/usr/bin/env python
"""A sweep of convolutions off the ResNet-50 path (batch 1, float32, NCHW in and out): odd
channel counts, 5x5, dilated 3x3, depthwise 3x3 (stride 1 and 2) and 7x7 (ConvNeXt), 3-channel
stride-2 stems, strided layers, grouped (ResNeXt's 32 groups, ShuffleNet's 3). texpr.topi
(conv2d_nchw / depthwise_conv2d_nchw via topi.schedule; the weight packed offline
(conv2d_nchw_packed) and Winograd with offline weights where they apply, the fastest counts)
beside torch's conv2d (oneDNN, NCHW and channels_last, the faster counts), interleaved;
geometric mean and worst ratio.

    python benchmarks/conv_sweep.py                  # 1 thread
    python benchmarks/conv_sweep.py --threads 1,2
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench  # noqa: E402

if __name__ == "__main__":
    _bench.reexec_without_openblas_overrides(__file__)

from _conv_bench import Case, main  # noqa: E402

CASES = [
    Case("stem 3x224->32 3x3/2", 3, 224, 32, 3, 2, 1),
    Case("stem 3x224->24 5x5/2", 3, 224, 24, 5, 2, 2),
    Case("stem 3x112->64 7x7/2", 3, 112, 64, 7, 2, 3),
    Case("odd 35x31->61 3x3", 35, 31, 61, 3, 1, 1),
    Case("odd 17x28->33 1x1", 17, 28, 33, 1, 1, 0),
    Case("odd 100x14->200 3x3", 100, 14, 200, 3, 1, 1),
    Case("5x5 32x28->64", 32, 28, 64, 5, 1, 2),
    Case("5x5 64x14->64", 64, 14, 64, 5, 1, 2),
    Case("dilated 64x28->64 3x3 d2", 64, 28, 64, 3, 1, 2, dilation=2),
    Case("dilated 128x14->128 3x3 d2", 128, 14, 128, 3, 1, 2, dilation=2),
    Case("depthwise 32x112 3x3", 32, 112, 32, 3, 1, 1, groups=32),
    Case("depthwise 96x112 3x3/2", 96, 112, 96, 3, 2, 1, groups=96),
    Case("depthwise 144x56 3x3", 144, 56, 144, 3, 1, 1, groups=144),
    Case("depthwise 240x28 3x3/2", 240, 28, 240, 3, 2, 1, groups=240),
    Case("depthwise 96x56 7x7", 96, 56, 96, 7, 1, 3, groups=96),
    Case("depthwise 384x14 7x7", 384, 14, 384, 7, 1, 3, groups=384),
    Case("strided 64x56->128 3x3/2", 64, 56, 128, 3, 2, 1),
    Case("strided 128x28->256 1x1/2", 128, 28, 256, 1, 2, 0),
    Case("small 16x224->16 3x3", 16, 224, 16, 3, 1, 1),
    Case("small 24x56->24 3x3", 24, 56, 24, 3, 1, 1),
    Case("grouped 128x28->128 3x3 g4", 128, 28, 128, 3, 1, 1, groups=4),
    Case("grouped 128x56->128 3x3 g32", 128, 56, 128, 3, 1, 1, groups=32),
    Case("grouped 240x28->240 1x1 g3", 240, 28, 240, 1, 1, 0, groups=3),
]

if __name__ == "__main__":
    main(CASES, __doc__.split("\n\n")[0], default_threads="1")
