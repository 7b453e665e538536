"""A user program that mypy must accept (`make typecheck`), with calls it must reject.

Not a test module (pytest collects test_*.py only): mypy checks it against texpr's hints.
The lines marked `# type: ignore[...]` are wrong calls; with warn_unused_ignores an ignore
that is not needed fails the check, so the hints cannot silently accept anything.
"""
from __future__ import annotations

import numpy as np

import texpr as te
import texpr.topi as topi
from texpr.schedule import Schedule
from texpr.targets.runtime.module import Module


def row_sum(rows: int) -> te.Tensor:
    n = te.var("n")
    A = te.placeholder((n, 64), dtype="float32", name="A")
    k = te.reduce_axis((0, 64), name="k")
    B: te.Tensor = te.compute((n,), lambda i: te.sum(A[i, k] * 2.0, axis=k), name="B")
    s = te.create_schedule(B.op)
    xo, xi = s[B].split(B.op.axis[0], factor=8)
    s[B].vectorize(xi)
    s[B].parallel(xo)
    program = te.lower(s, [A, B], name="row_sum")
    print(program)
    f: Module = te.build(s, [A, B], target="c", name="row_sum")
    a = np.zeros((rows, 64), "float32")
    b = np.empty(rows, "float32")
    f(a, b)
    seconds: float = f.time(a, b, number=10, repeat=3)
    print(f.source, seconds)
    return B


def expressions() -> te.Expr:
    x = te.var("x")
    y: te.Expr = te.if_then_else(x > 0, x * 2, te.const(0, "int32"))
    z = te.exp(y.astype("float32"), fast=True) + te.sqrt(te.const(2.0))
    return te.max(z, te.min_value("float32"))


def errors() -> str:
    try:
        te.placeholder((4,), dtype="no such dtype")
    except te.DTypeError as e:
        return str(e)
    return ""


def operators() -> Schedule:
    data = te.placeholder((4, 16), name="data")
    weight = te.placeholder((8, 16), name="weight")
    out = topi.nn.dense(data, weight)
    return topi.schedule([out], target="c")


def language_extras() -> list[te.Tensor]:
    x = te.placeholder((3,), name="x")
    y = te.compute((3,), lambda i: x[i] * x[i], name="y")
    with te.tag_scope("elemwise"):
        z = te.compute((3,), lambda i: te.call_pure_extern("float32", "expf", y[i]), name="z")
    product = te.comm_reducer(lambda a, b: a * b, lambda dt: te.const(1, dt), name="product")
    k = te.reduce_axis((0, 3), name="k")
    p = te.compute((1,), lambda _: product(z[k], axis=k), name="p")

    @te.register_func("usage.twice", override=True)
    def twice(v: int) -> int:
        return 2 * v

    assert te.get_global_func("usage.twice") is not None
    return te.gradient(p, [x]) + [te.exclusive_scan(te.placeholder((4,), "int32", name="n"))]


def wrong_calls() -> None:
    te.var(3)  # type: ignore[arg-type]
    A = te.placeholder((4,), name="A")
    s = te.create_schedule(A.op)
    s[A].split(A.op.axis[0], factor="8")  # type: ignore[arg-type]
    te.build(s, [A], target=5)  # type: ignore[arg-type]
