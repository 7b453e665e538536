"""Arbitrary sequences of schedule primitives, legal or not, on every operator of
tests/operators.py: each call either works or raises TexprError (and a call that raises leaves
the schedule usable), and whatever schedule results either builds and computes what NumPy
computes or is refused with a TexprError. Never another exception, never a wrong answer.

Arguments are drawn to be wrong often: axes of other stages or already split/fused away,
factors of 0 and -1, unknown scopes and pragmas, compute_at a stage's own consumer's
consumer, rfactor of a data axis. Kernels are built for target "c" (one gcc run each).
"""
from hypothesis import HealthCheck, given, note, settings, strategies as st

import texpr as te
from texpr import testing as tt
from texpr.errors import TexprError
from texpr.lang.tensor import PlaceholderOp

from support.operators import OPERATORS

PRIMITIVES = ("split", "split_nparts", "tile", "fuse", "reorder", "vectorize", "unroll",
              "parallel", "pragma", "storage_align", "compute_at", "compute_inline",
              "compute_root", "cache_read", "cache_write", "rfactor")


def _axis(draw, stage, schedule):
    """Mostly one of the stage's current loops, sometimes any stage's (illegal for this one)."""
    own = list(stage.leaf_iter_vars)
    if own and draw(st.integers(0, 3)):
        return draw(st.sampled_from(own))
    every = [iv for s in schedule.stages for iv in s.leaf_iter_vars]
    return draw(st.sampled_from(every))


def _apply(draw, s):
    """One primitive with drawn arguments; returns what was called (for the failure report)."""
    stages = [g for g in s.stages if not isinstance(g.op, PlaceholderOp)]
    stage = draw(st.sampled_from(stages))
    p = draw(st.sampled_from(PRIMITIVES))
    f = draw(st.integers(-1, 9))
    ax = lambda: _axis(draw, stage, s)       # noqa: E731
    name = stage.op.name
    if p == "split":
        a = ax()
        return f"{name}.split({a}, factor={f})", lambda: stage.split(a, factor=f)
    if p == "split_nparts":
        a = ax()
        return f"{name}.split({a}, nparts={f})", lambda: stage.split(a, nparts=f)
    if p == "tile":
        a, b = ax(), ax()
        return f"{name}.tile({a}, {b}, {f}, 4)", lambda: stage.tile(a, b, f, 4)
    if p == "fuse":
        a, b = ax(), ax()
        return f"{name}.fuse({a}, {b})", lambda: stage.fuse(a, b)
    if p == "reorder":
        xs = [ax() for _ in range(draw(st.integers(1, 4)))]
        return f"{name}.reorder({xs})", lambda: stage.reorder(*xs)
    if p in ("vectorize", "unroll", "parallel"):
        a = ax()
        return f"{name}.{p}({a})", lambda: getattr(stage, p)(a)
    if p == "pragma":
        a = ax()
        key = draw(st.sampled_from(["unroll", "prefetch", "no_such_pragma"]))
        val = draw(st.sampled_from([None, 0, 4, (2, 4), (4, 2), -1, "x"]))
        args = (a, key) if val is None else (a, key, val)
        return f"{name}.pragma{args}", lambda: stage.pragma(*args)
    if p == "storage_align":
        a = ax()
        return f"{name}.storage_align({a}, {f}, 0)", lambda: stage.storage_align(a, f, 0)
    if p == "compute_at":
        target = draw(st.sampled_from(stages))
        a = draw(st.sampled_from(list(target.leaf_iter_vars))) if target.leaf_iter_vars else ax()
        return f"{name}.compute_at({target.op.name}, {a})", lambda: stage.compute_at(target, a)
    if p in ("compute_inline", "compute_root"):
        return f"{name}.{p}()", getattr(stage, p)
    if p == "cache_read":
        t = draw(st.sampled_from(stage.op.input_tensors or [stage.op.output(0)]))
        scope = draw(st.sampled_from(["local", "global", "no_such_scope"]))
        return f"cache_read({t.name}, {scope}, [{name}])", lambda: s.cache_read(t, scope, [stage.op])
    if p == "cache_write":
        scope = draw(st.sampled_from(["local", "global", "no_such_scope"]))
        return f"cache_write({name}, {scope})", lambda: s.cache_write(stage.op.output(0), scope)
    a = ax()
    return f"rfactor({name}, {a})", lambda: s.rfactor(stage.op.output(0), a)


@settings(max_examples=settings.default.max_examples * 4,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_any_primitive_sequence_raises_texpr_error_or_matches_numpy(data):
    op = data.draw(st.sampled_from(sorted(OPERATORS)), label="operator")
    names, build = OPERATORS[op]
    dims, values = data.draw(tt.extents(names, max_side=7), label="extents")
    outputs, args, ref = build(dims)
    s = te.create_schedule([o.op for o in outputs])
    calls = []
    for _ in range(data.draw(st.integers(1, 8), label="steps")):
        what, call = _apply(data.draw, s)
        try:
            call()
            calls.append(what)
        except TexprError:
            calls.append(what + "  -> TexprError")
    note("\n".join(calls))
    inputs = data.draw(tt.arrays_for([t for t in args if t not in outputs], values),
                       label="inputs")
    try:
        tt.check_kernel(s, args, ref, inputs, values=values, target="c", name=op)
    except TexprError as e:
        assert str(e), "a TexprError must say what is wrong"


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_compute_at_split_fuse_and_cache_write_in_any_order_match_numpy(data):
    """The orders TVM accepts (compute_at before splitting or fusing its axis, cache_write
    after splitting, fusing data with reduction axes) always build and compute what NumPy
    computes: no TexprError here."""
    import numpy as np
    rows, cols, K = (data.draw(st.integers(1, 6), label=n) for n in ("rows", "cols", "K"))
    A = te.placeholder((rows, K), name="A")
    B = te.compute((rows, K), lambda i, k: A[i, k] + 1.0, name="B")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((rows, cols), lambda i, j: te.sum(B[i, k] * (j + 1).astype("float32"),
                                                      axis=k), name="C")
    s = te.create_schedule(C.op)
    comp = s[C]                       # the stage that computes C (the cache stage after cache_write)
    calls = []
    for _ in range(data.draw(st.integers(1, 6), label="steps")):
        leaves = comp.leaf_iter_vars
        p = data.draw(st.sampled_from(["attach", "split", "fuse", "cache_write"]))
        if p == "attach":
            a = data.draw(st.sampled_from(leaves))
            s[B].compute_at(comp, a)
        elif p == "split":
            a = data.draw(st.sampled_from(leaves))
            comp.split(a, factor=data.draw(st.integers(1, 5)))
        elif p == "fuse" and len(leaves) > 1:
            pos = data.draw(st.integers(0, len(leaves) - 2))
            a = leaves[pos]
            comp.fuse(leaves[pos], leaves[pos + 1])
        elif p == "cache_write" and comp is s[C]:
            a = None
            comp = s[s.cache_write(C, "local")]
        else:
            continue
        calls.append(f"{p} {getattr(a, 'name', '')}")
    note("\n".join(calls))
    a = np.random.default_rng(0).standard_normal((rows, K)).astype("float32")
    tt.check_kernel(s, [A, C], lambda a: (a + 1).sum(1)[:, None] * np.arange(1, cols + 1),
                    [a], target="c", name="orders")
