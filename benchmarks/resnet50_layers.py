#!/usr/bin/env python
"""Every distinct convolution layer of ResNet-50 v1.5 (batch 1, 224x224, float32), NCHW in and
out, texpr.topi (topi.nn.conv2d_nchw via topi.schedule; the same on a weight packed offline
into its channel blocks, topi.nn.conv2d_nchw_packed, as Graph.conv2d does; Winograd
F(2,3)/F(4,3) with offline weights for the 3x3 stride-1 layers; the fastest variant counts)
beside torch's conv2d (oneDNN) on NCHW and on channels_last tensors (the faster counts),
interleaved, at 1 and 2 threads: ms, GFLOP/s, ratio; the CPU model is printed. At 2 threads
each library's turn starts with its own untimed calls for longer than the other's OpenMP
workers spin (_bench.parallel_warm_s); --cpu-time (1 thread) times the thread's CPU time.

    python benchmarks/resnet50_layers.py                 # all layers, 1 and 2 threads
    python benchmarks/resnet50_layers.py --threads 2 --only 0,5
    python benchmarks/resnet50_layers.py --list
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench  # noqa: E402

if __name__ == "__main__":
    _bench.reexec_without_openblas_overrides(__file__)

from _conv_bench import Case, main  # noqa: E402


def resnet50_layers():
    """The distinct (C, H, O, R, stride, pad) of ResNet-50 v1.5 (stride in the 3x3)."""
    specs = [(3, 224, 64, 7, 2, 3)]
    cin, H = 64, 56
    for width, first_stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        cout = 4 * width
        Ho = H // first_stride
        specs += [(cin, H, width, 1, 1, 0),                 # first block's 1x1 in
                  (width, H, width, 3, first_stride, 1),    # its 3x3 (strided)
                  (width, Ho, cout, 1, 1, 0),               # 1x1 out
                  (cin, H, cout, 1, first_stride, 0),       # projection shortcut
                  (cout, Ho, width, 1, 1, 0),               # later blocks' 1x1 in
                  (width, Ho, width, 3, 1, 1)]              # later blocks' 3x3
        cin, H = cout, Ho
    seen, out = set(), []
    for C, H, O, R, s, p in specs:
        if (C, H, O, R, s, p) in seen:
            continue
        seen.add((C, H, O, R, s, p))
        name = f"{C}x{H}x{H}->{O} {R}x{R}" + (f"/{s}" if s > 1 else "")
        out.append(Case(name, C, H, O, R, s, p))
    return out


CASES = resnet50_layers()

if __name__ == "__main__":
    main(CASES, __doc__.split("\n\n")[0])
