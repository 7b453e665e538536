"""HVX kernels: VLIW packets of the inner loop per output vector, beside the scalar version.

QEMU's time says nothing about a Hexagon DSP's speed, so this benchmark reads the code: each
kernel is built twice for target "hvx" (the HVX schedule, and the same computation with no
vectorize/tensorize, compiled without auto-vectorization: the scalar core), both objects are
disassembled with llvm-objdump and the packets of the innermost loop are counted. A packet
issues in one cycle when nothing stalls, so

    packets per output vector = inner-loop packets x inner-loop trips per output vector

(one output vector = 128 bytes of output, or 32 int32 accumulators). Every kernel is also run
under qemu-hexagon and checked against NumPy. Loops are compiled with -fno-unroll-loops so
one trip is one schedule step.

Usage: python benchmarks/hvx.py [--quick]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench  # noqa: E402
import texpr as te  # noqa: E402
from texpr.targets.hexagon import disasm as hvx_disasm  # noqa: E402
from texpr.targets.hvx_intrin import dot_product_int8  # noqa: E402
from texpr.targets.intrin import dot_int8  # noqa: E402


def _ints(dtype, shape, seed):
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(info.min, info.max, shape, dtype=dtype,
                                                endpoint=True)


# ----------------------------------------------------------------------------- kernels
# each returns (schedule, args, inputs, want, trips per output vector of the HVX inner loop,
#               trips per output vector of the scalar inner loop)

def sat_add_int8(vector, n):
    A = te.placeholder((n,), "int8", "A")
    B = te.placeholder((n,), "int8", "B")
    C = te.compute((n,), lambda i: te.min(te.max(A[i].astype("int16") + B[i].astype("int16"),
                                                 te.const(-128, "int16")),
                                          te.const(127, "int16")).astype("int8"), name="C")
    s = te.create_schedule(C.op)
    if vector:
        _, xi = s[C].split(C.op.axis[0], factor=128)
        s[C].vectorize(xi)
    a, b = _ints("int8", n, 1), _ints("int8", n, 2)
    want = np.clip(a.astype(np.int16) + b, -128, 127).astype(np.int8)
    return s, [A, B, C], [a, b], want, 1, 128


def widening_mac_int8(vector, n):
    A = te.placeholder((n,), "int8", "A")
    B = te.placeholder((n,), "int8", "B")
    Acc = te.placeholder((n,), "int16", "Acc")
    C = te.compute((n,), lambda i: Acc[i] + A[i].astype("int16") * B[i].astype("int16"),
                   name="C")
    s = te.create_schedule(C.op)
    if vector:
        _, xi = s[C].split(C.op.axis[0], factor=64)
        s[C].vectorize(xi)
    a, b, acc = _ints("int8", n, 3), _ints("int8", n, 4), _ints("int16", n, 5)
    with np.errstate(all="ignore"):
        want = acc + a.astype(np.int16) * b
    return s, [A, B, Acc, C], [a, b, acc], want, 1, 64


def mul_add_int32(vector, n):
    A = te.placeholder((n,), "int32", "A")
    B = te.placeholder((n,), "int32", "B")
    C = te.compute((n,), lambda i: A[i] * B[i] + A[i], name="C")
    s = te.create_schedule(C.op)
    if vector:
        _, xi = s[C].split(C.op.axis[0], factor=32)
        s[C].vectorize(xi)
    a, b = _ints("int32", n, 6), _ints("int32", n, 7)
    with np.errstate(all="ignore"):
        want = a * b + a
    return s, [A, B, C], [a, b], want, 1, 32


def dense_int8_vrmpy(vector, n):
    """[4, n] x [n, 64] int8 -> int32: one output vector = 32 accumulators over K = n."""
    M, N, K, lanes = 4, 64, n, 32
    A = te.placeholder((M, K), "int8", "A")
    WP = te.placeholder((N // lanes, K // 4, lanes, 4), "int8", "WP")
    k = te.reduce_axis((0, K), "k")
    C = te.compute((M, N), lambda i, j: te.sum(
        A[i, k].astype("int32") * WP[j // lanes, k // 4, j % lanes, k % 4].astype("int32"),
        axis=k), name="C")
    s = te.create_schedule(C.op)
    if vector:
        i, j = C.op.axis
        io, ii = s[C].split(i, 1)
        jo, ji = s[C].split(j, lanes)
        ko, ki = s[C].split(k, K)
        kg, kk = s[C].split(ki, 4)
        s[C].reorder(io, jo, ko, ii, ji, kg, kk)
        s[C].tensorize(ii, dot_int8(K, lanes, "int8"))
    a, w = _ints("int8", (M, K), 8), _ints("int8", (N, K), 9)
    wp = np.ascontiguousarray(w.reshape(N // lanes, lanes, K // 4, 4).transpose(0, 2, 1, 3))
    want = a.astype(np.int32) @ w.astype(np.int32).T
    return s, [A, WP, C], [a, wp], want, K // 4, K * lanes


def dot_product_int8_kernel(vector, n):
    """sum_k a[k] * b[k] over n bytes: the output 'vector' is the one int32 result."""
    A = te.placeholder((n,), "int8", "A")
    B = te.placeholder((n,), "int8", "B")
    k = te.reduce_axis((0, n), "k")
    C = te.compute((1,), lambda i: te.sum(A[k].astype("int32") * B[k].astype("int32"), axis=k),
                   name="C")
    s = te.create_schedule(C.op)
    if vector:
        s[C].tensorize(C.op.axis[0], dot_product_int8(n, "int8"))
    a, b = _ints("int8", n, 10), _ints("int8", n, 11)
    want = np.array([int(a.astype(np.int64) @ b.astype(np.int64))], np.int32)
    return s, [A, B, C], [a, b], want, n // 128, n


def depthwise_u8_requant(vector, n):
    """uint8 depthwise 3x3 (topi.qnn), 4 channels of 8 x n: the accumulation loop only (the
    requantisation is a separate, cheaper loop). HVX: 9 trips of the row kernel per 32
    accumulators, 36 per 128 uint8 outputs; scalar: 9 trips per output."""
    import texpr.topi as topi
    X = te.placeholder((1, 4, 8, n), "uint8", "X")
    K = te.placeholder((4, 1, 3, 3), "uint8", "K")
    B = te.placeholder((4,), "int32", "B")
    prm = dict(x_zp=7, w_zp=120, multiplier=1518500250, shift=6, out_zp=30)
    O = topi.qnn.depthwise_conv2d_nchw_u8(X, K, B, padding=1, **prm)
    s = topi.schedule(O, target="hvx") if vector else te.create_schedule(O.op)
    x = np.random.default_rng(12).integers(0, 255, (1, 4, 8, n), dtype=np.uint8, endpoint=True)
    k = np.random.default_rng(13).integers(0, 255, (4, 1, 3, 3), dtype=np.uint8, endpoint=True)
    b = np.random.default_rng(14).integers(-3000, 3000, 4).astype(np.int32)
    want = topi.testing.depthwise_conv2d_nchw_u8_ref(x, k, b, padding=1, **prm)
    return s, [X, K, B, O], [x, k, b], want, 36, 9 * 128


KERNELS = [("int8 saturating add", sat_add_int8), ("int8->int16 widening mac", widening_mac_int8),
           ("int32 multiply-add", mul_add_int32), ("int8 dense (vrmpy)", dense_int8_vrmpy),
           ("int8 dot product (vrmpy)", dot_product_int8_kernel),
           ("u8 depthwise 3x3 (acc loop)", depthwise_u8_requant)]
# which loop is the accumulation (not the requantisation): HVX vmpyi, scalar byte loads + mac
NEEDLE = {"u8 depthwise 3x3 (acc loop)": ("vmpyi", ("memub", "+= mpyi"))}


def measure(name, make, n):
    rows = {}
    for vector in (True, False):
        s, args, ins, want, trips_vec, trips_scalar = make(vector, n)
        f = te.build(s, args, target="hvx", name="kernel")
        out = np.zeros(want.shape, want.dtype)
        f(*ins, out)
        np.testing.assert_array_equal(out, want)
        flags = hvx_disasm.COUNT_FLAGS if vector else hvx_disasm.SCALAR_FLAGS
        text = hvx_disasm.disassemble(f.source, flags)
        needle = NEEDLE.get(name, (None, None))[0 if vector else 1]
        packets, body = hvx_disasm.inner_loop(text, "kernel", vector=vector, needle=needle)
        trips = trips_vec if vector else trips_scalar
        rows[vector] = (packets, trips, packets * trips)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (the smoke test)")
    args = p.parse_args(argv)
    print(f"CPU: {_bench.cpu_model()}")
    n = 512 if args.quick else 4096
    print(f"objdump: {hvx_disasm.find_objdump()}; HVX v67, 128-byte vectors; n = {n}")
    print(f"{'kernel':<28} {'version':<7} {'loop pk':>8} {'trips/vec':>10} {'pk/out vec':>11}"
          f" {'scalar/HVX':>11}")
    for name, make in KERNELS:
        rows = measure(name, make, n)
        hv, sc = rows[True], rows[False]
        for tag, r in (("HVX", hv), ("scalar", sc)):
            ratio = f"{sc[2] / hv[2]:10.1f}x" if tag == "HVX" else ""
            print(f"{name:<28} {tag:<7} {r[0]:>8} {r[1]:>10} {r[2]:>11} {ratio:>11}")
        print(f"{name:<28} checked vs NumPy: ok")


if __name__ == "__main__":
    main()
