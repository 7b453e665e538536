"""Vector math: texpr's vectorized float32 functions (targets/vecmath) against NumPy and torch.

Each function over 1M float32 values (one thread): ns per element (median of interleaved
rounds) and the ratio reference time / texpr time (> 1: texpr is faster); "libm lanes" is the
same vectorized schedule built for target c, whose loop calls libm lane by lane (what every
target did before texpr had vector math). Then a row softmax (128 x 1000) with the exp
vectorized. Prints the CPU model and the target.

    python benchmarks/vecmath.py [--quick] [--target native] [--functions exp,tanh]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import _bench  # noqa: E402
import texpr as te  # noqa: E402
from texpr.targets import get_target  # noqa: E402


def _erf_np(x):
    import math
    return np.frompyfunc(math.erf, 1, 1)(x).astype(np.float32)


# name -> (te function, input range or (x range, y range) for pow, NumPy, torch name)
FUNCTIONS = {
    "exp": (te.exp, (-10, 10), np.exp, "exp"),
    "fast exp": (lambda x: te.exp(x, fast=True), (-10, 10), np.exp, "exp"),
    "exp2": (te.exp2, (-20, 20), np.exp2, "exp2"),
    "log": (te.log, (1e-3, 100), np.log, "log"),
    "log2": (te.log2, (1e-3, 100), np.log2, "log2"),
    "tanh": (te.tanh, (-5, 5), np.tanh, "tanh"),
    "fast tanh": (lambda x: te.tanh(x, fast=True), (-5, 5), np.tanh, "tanh"),
    "sigmoid": (te.sigmoid, (-10, 10), lambda x: 1 / (1 + np.exp(-x)), "sigmoid"),
    "fast sigmoid": (lambda x: te.sigmoid(x, fast=True), (-10, 10),
                     lambda x: 1 / (1 + np.exp(-x)), "sigmoid"),
    "erf": (te.erf, (-3, 3), _erf_np, "erf"),
    "pow": (te.power, ((0, 10), (-4, 4)), np.power, "pow"),
    "sqrt": (te.sqrt, (0, 100), np.sqrt, "sqrt"),
    "rsqrt": (te.rsqrt, (1e-3, 100), lambda x: 1 / np.sqrt(x), "rsqrt"),
    "sin": (te.sin, (-10, 10), np.sin, "sin"),
    "cos": (te.cos, (-10, 10), np.cos, "cos"),
}


def elementwise_kernel(fn, n, target, binary):
    A = te.placeholder((n,), name="A")
    B = te.placeholder((n,), name="B")
    C = te.compute((n,), (lambda i: fn(A[i], B[i])) if binary else (lambda i: fn(A[i])), name="C")
    s = te.create_schedule(C.op)
    _, inner = s[C].split(C.op.axis[0], factor=get_target(target).vector_bits // 32 * 2)
    s[C].vectorize(inner)
    f = te.build(s, [A, B, C] if binary else [A, C], target=target)
    return (lambda a, b, c: f(a, b, c)) if binary else (lambda a, b, c: f(a, c))


def softmax_kernel(rows, cols, target, fast=False):
    """Row softmax in one pass per step: lane-wise partial max and sum (vectorized over the
    lanes, the data read once), then exp(x - max) and the division, vectorized."""
    lanes = get_target(target).vector_bits // 32
    assert cols % lanes == 0
    A = te.placeholder((rows, cols), name="A")
    k = te.reduce_axis((0, cols // lanes), name="k")
    P = te.compute((rows, lanes), lambda i, l: te.max(A[i, k * lanes + l], axis=k), name="P")
    m = te.reduce_axis((0, lanes), name="m")
    M = te.compute((rows,), lambda i: te.max(P[i, m], axis=m), name="M")
    E = te.compute((rows, cols), lambda i, j: te.exp(A[i, j] - M[i], fast=fast), name="E")
    k2 = te.reduce_axis((0, cols // lanes), name="k2")
    Q = te.compute((rows, lanes), lambda i, l: te.sum(E[i, k2 * lanes + l], axis=k2), name="Q")
    m2 = te.reduce_axis((0, lanes), name="m2")
    S = te.compute((rows,), lambda i: te.sum(Q[i, m2], axis=m2), name="S")
    O = te.compute((rows, cols), lambda i, j: E[i, j] / S[i], name="O")
    s = te.create_schedule(O.op)
    for T, kk in ((P, k), (Q, k2)):
        i, l = T.op.axis
        s[T].reorder(i, kk, l)
        s[T].vectorize(l)
    for T in (E, O):
        _, ji = s[T].split(T.op.axis[1], factor=lanes * 2)
        s[T].vectorize(ji)
    return te.build(s, [A, O], target=target)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _bench.add_target_options(ap)
    ap.add_argument("--quick", action="store_true", help="small sizes, few rounds (smoke test)")
    ap.add_argument("--functions", default=None, help="comma-separated subset of: " +
                    ", ".join(FUNCTIONS))
    args = ap.parse_args()
    _bench.reexec_without_openblas_overrides(__file__)
    target = args.target or _bench.best_target()
    try:
        import torch
    except ImportError:
        torch = None
    n = 4096 if args.quick else 1 << 20
    timer = _bench.Timer(rounds=2 if args.quick else 9, calls=1 if args.quick else 3)
    names = args.functions.split(",") if args.functions else list(FUNCTIONS)
    unknown = [x for x in names if x not in FUNCTIONS]
    if unknown:
        ap.error(f"unknown functions {unknown}; expected some of {list(FUNCTIONS)}")
    print(f"CPU: {_bench.cpu_model()}; texpr target {target} ({get_target(target).note or 'native'}); "
          f"torch {torch.__version__ if torch else 'not installed'}; one thread")
    print(f"{n} float32 per call; ns/element (median of {timer.rounds} rounds); ratio = "
          "reference time / texpr time (> 1: texpr faster)")
    rng = np.random.default_rng(0)
    print(f"{'function':<14}{'texpr':>9}{'libm lanes':>11}{'NumPy':>9}{'torch':>9}"
          f"{'vs NumPy':>10}{'vs torch':>10}{'max rel err':>13}")
    with _bench.threads(1):
        for name in names:
            fn, rng_, np_fn, torch_name = FUNCTIONS[name]
            binary = name == "pow"
            if binary:
                a = rng.uniform(*rng_[0], n).astype(np.float32)
                b = rng.uniform(*rng_[1], n).astype(np.float32)
            else:
                a = rng.uniform(*rng_, n).astype(np.float32)
                b = np.zeros(n, np.float32)
            c = np.zeros(n, np.float32)
            f = elementwise_kernel(fn, n, target, binary)
            lanes = elementwise_kernel(fn, n, "c", binary)
            fns = {"texpr": lambda: f(a, b, c), "lanes": lambda: lanes(a, b, np.empty_like(c))}
            if binary:
                fns["numpy"] = lambda: np.power(a, b, out=np.empty_like(a))
            else:
                fns["numpy"] = lambda: np_fn(a)
            if torch is not None:
                ta, tb = torch.from_numpy(a), torch.from_numpy(b)
                tfn = getattr(torch, torch_name)
                fns["torch"] = (lambda: tfn(ta, tb)) if binary else (lambda: tfn(ta))
            t = timer.run(fns)
            f(a, b, c)
            ref = (np.power(a.astype(np.float64), b) if binary else np_fn(a.astype(np.float64)))
            ref = np.asarray(ref, np.float64)
            err = np.max(np.abs(c - ref) / np.maximum(np.abs(ref), 1e-30))
            ns = {k: v[0] / n * 1e9 for k, v in t.items()}
            tt, tx = ns.get("torch"), ns["texpr"]
            torch_ns = f"{tt:.2f}" if tt else "-"
            vs_torch = f"{tt / tx:.2f}x" if tt else "-"
            print(f"{name:<14}{tx:>9.2f}{ns['lanes']:>11.2f}{ns['numpy']:>9.2f}{torch_ns:>9}"
                  f"{ns['numpy'] / tx:>9.2f}x{vs_torch:>10}{err:>13.2e}")

        rows, cols = (16, 256) if args.quick else (128, 1000)
        x = rng.standard_normal((rows, cols)).astype(np.float32) * 4
        out = np.zeros_like(x)
        sm, smf = softmax_kernel(rows, cols, target), softmax_kernel(rows, cols, target, fast=True)
        e = np.exp(x.astype(np.float64) - x.max(1, keepdims=True))
        want = e / e.sum(1, keepdims=True)
        for k in (sm, smf):
            k(x, out)
            np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-7)
        print(f"\nrow softmax {rows} x {cols} (checked vs NumPy: ok); microseconds per call")

        def np_softmax():
            ee = np.exp(x - x.max(1, keepdims=True))
            return ee / ee.sum(1, keepdims=True)
        fns = {"texpr": lambda: sm(x, out), "texpr fast exp": lambda: smf(x, out),
               "numpy": np_softmax}
        if torch is not None:
            tx = torch.from_numpy(x)
            fns["torch"] = lambda: torch.softmax(tx, dim=1)
        t = timer.run(fns)
        base = t["texpr"][0]
        for k, (med, _) in t.items():
            print(f"  {k:<16}{med * 1e6:>10.1f} us   texpr is {med / base:.2f}x as fast")


if __name__ == "__main__":
    main()
