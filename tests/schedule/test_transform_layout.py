"""Stage.transform_layout on placeholders, outputs and intermediates (TVM's semantics): the
argument arrays are in the physical shape, a compute stage loops over the physical indices,
every read goes through the map. Index maps are checked without compiling; each behaviour
builds one small kernel on `c`."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr.lang.expr import Const, Var
from texpr.schedule.index_map import IndexMap
from texpr.targets.runtime.module import eval_int


def _imap(fn, shape):
    return IndexMap(fn, [Const(n, "int32") for n in shape], "stage X")


def _flatten(shape):
    def fn(*idx):
        out = 0
        for i, n in zip(idx, shape):
            out = out * n + i
        return [out]
    return fn


def _unflatten(shape):
    def fn(i):
        out = []
        for n in reversed(shape):
            out.append(i % n)
            i = i // n
        return out[::-1]
    return fn


MAPS = [  # (mapping, logical shape, physical shape, NumPy: logical array -> physical array)
    (lambda i, j: [j, i], (3, 4), (4, 3), lambda a: a.T),
    (lambda i, j: [i // 2, j, i % 2], (4, 3), (2, 3, 2),
     lambda a: a.reshape(2, 2, 3).transpose(0, 2, 1)),
    (lambda *idx, n: [*idx, n // 4, n % 4], (2, 3, 8), (2, 3, 2, 4),
     lambda a: a.reshape(2, 3, 2, 4)),
    (_flatten((2, 3, 4)), (2, 3, 4), (24,), lambda a: a.reshape(24)),
    (_unflatten((2, 3, 4)), (24,), (2, 3, 4), lambda a: a.reshape(2, 3, 4)),
    (lambda i, j: [j, te.AXIS_SEPARATOR, i], (1, 5), (5, 1), lambda a: a.T),
    (lambda i, j, k: [k % 2, (i * 3 + j), k // 2], (2, 3, 4), (2, 6, 2),
     lambda a: a.reshape(6, 2, 2).transpose(2, 0, 1)),
]


@pytest.mark.parametrize("fn, logical, physical, to_phys", MAPS)
def test_index_map_is_the_bijection_numpy_computes(fn, logical, physical, to_phys):
    m = _imap(fn, logical)
    assert tuple(int(d) for d in m.physical_shape) == physical
    _check_against_numpy(m, logical, to_phys)


def _check_against_numpy(m, logical, to_phys):
    """Each logical element lands where NumPy's relayout puts it, and comes back."""
    where = to_phys(np.arange(int(np.prod(logical))).reshape(logical))
    assert tuple(int(d) for d in m.physical_shape) == where.shape
    pv = [Var(f"p{d}") for d in range(where.ndim)]
    inv = m.inverse(pv)
    for idx in itertools.product(*map(range, logical)):
        p = tuple(eval_int(e, {}) for e in m.forward([Const(i, "int32") for i in idx]))
        assert where[p] == np.ravel_multi_index(idx, logical)
        assert tuple(eval_int(e, dict(zip(pv, p))) for e in inv) == idx


@st.composite
def _split_permute_fuse(draw):
    """A random layout: split one axis, permute the parts, fuse two neighbours; with the
    NumPy reshape/transpose/reshape that makes the physical array."""
    shape = draw(st.lists(st.sampled_from([1, 2, 3, 4, 6]), min_size=1, max_size=3))
    a = draw(st.integers(0, len(shape) - 1))
    f = draw(st.sampled_from([d for d in (1, 2, 3) if shape[a] % d == 0]))
    digit_shape = shape[:a] + [shape[a] // f, f] + shape[a + 1:]
    perm = draw(st.permutations(range(len(digit_shape))))
    fuse = draw(st.integers(0, len(perm) - 1))     # fuse physical fuse and fuse + 1 (if any)

    def mapping(*idx):
        digits = list(idx[:a]) + [idx[a] // f, idx[a] % f] + list(idx[a + 1:])
        phys = [digits[p] for p in perm]
        if fuse + 1 < len(phys):
            phys[fuse:fuse + 2] = [phys[fuse] * digit_shape[perm[fuse + 1]] + phys[fuse + 1]]
        return phys

    def to_phys(x):
        y = x.reshape(digit_shape).transpose(perm)
        ps = list(y.shape)
        if fuse + 1 < len(ps):
            ps[fuse:fuse + 2] = [ps[fuse] * ps[fuse + 1]]
        return y.reshape(ps)
    return mapping, tuple(shape), to_phys


@settings(max_examples=10, deadline=None)
@given(_split_permute_fuse())
def test_random_layouts_match_numpy(layout):
    fn, logical, to_phys = layout
    _check_against_numpy(_imap(fn, logical), logical, to_phys)


def test_symbolic_extents_fuse_and_permute_whole():
    n = te.var("n")
    m = IndexMap(lambda i, j: [(i * 4 + j) // 2, j % 2], (n, Const(4, "int32")), "stage X")
    assert [str(d) for d in m.physical_shape] == ["n * 2", "2"]
    assert m.axis_names() == ["i.j.fused", "j.inner"]
    with pytest.raises(te.ScheduleError, match="i // 2 needs a constant extent, not n"):
        IndexMap(lambda i, j: [i // 2, j, i % 2], (n, Const(4, "int32")), "stage X")


@pytest.mark.parametrize("fn, shape, message", [
    (lambda c, h: [c // 4, h, c % 4], (3, 8), "4 does not divide the extent 3 .*would pad"),
    (lambda i, j: [i, j // 5, j % 5], (8, 12), "5 does not divide the extent 12"),
    (lambda i, j: [i + j, i], (8, 12), r"physical index 0 is i \+ j: .*overlap"),
    (lambda i, j: [j, j], (8, 12), "index i is missing"),
    (lambda i, j: [i, j, j % 2], (8, 12), "index j is not covered exactly once"),
    (lambda i, j: [i, j * 2], (8, 12), "does not count through its range once"),
    (lambda i, j: [i, j, 1], (8, 12), "the constant 1 would pad"),
    (lambda i, j: [i * j], (8, 12), "by a non-negative integer constant"),
    (lambda i: [i], (8, 12), r"takes 1 index argument\(s\) but the tensor has 2"),
    (lambda i, j: ["x", i, j], (8, 12), "returned 'x'; expected index expressions"),
])
def test_bad_maps_are_refused_with_what_is_wrong(fn, shape, message):
    with pytest.raises(te.ScheduleError, match="stage X: transform_layout: .*" + message):
        _imap(fn, shape)


# ----------------------------------------------------------------------------- kernels

def test_placeholder_and_output_are_passed_in_the_physical_layout():
    A = te.placeholder((4, 6, 8), name="A", dtype="int32")
    B = te.compute(A.shape, lambda i, j, k: A[i, j, k] * 2 + k, name="B")
    s = te.create_schedule(B.op)
    assert s[A].transform_layout(lambda *idx, n: [*idx, n // 4, n % 4]) == []
    axes = s[B].transform_layout(_flatten((4, 6, 8)))
    assert [int(a.dom.extent) for a in axes] == [192] and s[B].leaf_iter_vars == axes
    xo, xi = s[B].split(axes[0], factor=16)         # the returned axes are the stage's loops
    s[B].unroll(xi)
    text = str(te.lower(s, [A, B]))
    assert "A: int32[4, 6, 2, 4], B: int32[192]" in text
    assert "B is passed in its physical layout [192] (transform_layout of B[4, 6, 8])" in text
    f = te.build(s, [A, B], target="c")
    a = np.arange(192, dtype="int32").reshape(4, 6, 8)
    b = np.zeros(192, "int32")
    f(a.reshape(4, 6, 2, 4), b)
    np.testing.assert_array_equal(b, (a * 2 + np.arange(8)).reshape(192))
    with pytest.raises(te.ArgumentError, match=r"argument A: expected shape \(4, 6, 2, 4\) "
                       r"\(A's physical layout after transform_layout of A\[4, 6, 8\]\), "
                       r"got \(4, 6, 8\)"):
        f(a, b)


def test_symbolic_placeholder_and_multi_output_intermediate():
    n = te.var("n")
    A = te.placeholder((n, 4), name="A")
    B1, B2 = te.compute((n, 4), lambda i, j: (A[i, j] + 1.0, A[i, j] * 2.0), name="B")
    C = te.compute((n, 4), lambda i, j: B1[i, j] - B2[i, j], name="C")
    s = te.create_schedule(C.op)
    s[A].transform_layout(lambda i, j: [i * 4 + j])
    s[B1].transform_layout(lambda i, j: [j, i])
    f = te.build(s, [A, C, n], target="c")
    a = np.random.default_rng(1).random((3, 4), dtype="float32")
    c = np.zeros((3, 4), "float32")
    f(a.reshape(12), c, 3)
    np.testing.assert_allclose(c, 1.0 - a, rtol=1e-6)
    with pytest.raises(te.ArgumentError, match=r"expected shape \(n \* 4,\) \(A's physical "
                       r"layout after transform_layout of A\[n, 4\]\), got \(3, 4\)"):
        f(a, c, 3)


def test_relaid_reduction_output_keeps_its_reduction_inside():
    A = te.placeholder((4, 6, 5), name="A")
    k = te.reduce_axis((0, 5), name="k")
    B = te.compute((4, 6), lambda i, j: te.sum(A[i, j, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    j, i = s[B].transform_layout(lambda i, j: [j, i])
    assert s[B].leaf_iter_vars == [j, i, k]
    s[B].reorder(i, j)
    f = te.build(s, [A, B], target="c")
    a = np.random.default_rng(0).random((4, 6, 5), dtype="float32")
    b = np.zeros((6, 4), "float32")
    f(a, b)
    np.testing.assert_allclose(b, a.sum(-1).T, rtol=1e-5)


def test_cache_read_and_cache_write_around_relaid_tensors():
    """cache_read after relaying a placeholder copies its physical layout;
    cache_write before relaying an output computes the cache, the output copies it."""
    A = te.placeholder((16,), name="A", dtype="int32")
    B = te.compute((16,), lambda i: A[i] + A[15 - i], name="B")
    s = te.create_schedule(B.op)
    BB = s.cache_write(B, "local")
    s[A].transform_layout(lambda i: [i % 4, i // 4])
    AA = s.cache_read(A, "local", [BB])
    s[B].transform_layout(lambda i: [i // 4, i % 4])
    f = te.build(s, [A, B], target="c")
    a = np.arange(16, dtype="int32") * 3
    b = np.zeros((4, 4), "int32")
    f(np.ascontiguousarray(a.reshape(4, 4).T), b)
    np.testing.assert_array_equal(b, (a + a[::-1]).reshape(4, 4))
    assert tuple(AA.shape) == (4, 4)        # the cache copies the relaid layout


def test_gpu_kernels_take_the_physical_shapes():
    A = te.placeholder((8, 4), name="A")
    B = te.compute(A.shape, lambda i, j: A[i, j] + 1.0, name="B")
    s = te.create_schedule(B.op)
    s[A].transform_layout(lambda i, j: [j, i])
    jo, i = s[B].transform_layout(lambda i, j: [j, i])
    s[B].bind(jo, te.thread_axis("blockIdx.x"))
    s[B].bind(i, te.thread_axis("threadIdx.x"))
    for target in ("cuda", "opencl"):
        src = te.targets.emit_source(s, [A, B], target=target)
        assert "blockIdx" in src or "get_group_id" in src
    prog = te.lower(s, [A, B], target="cuda")
    assert "host main(A: float32[4, 8], B: float32[4, 8])" in str(prog)
    assert "// A is passed in its physical layout [4, 8] (transform_layout of A[8, 4])" in str(prog)


def test_stages_that_cannot_be_relaid():
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: A[i] * 2.0, name="B")
    E = te.extern((8,), [B], lambda ins, outs: te.call_packed("texpr.noop", ins[0], outs[0]),
                  name="E")
    s = te.create_schedule(E.op)
    with pytest.raises(te.ScheduleError, match="stage E .an extern op. reads this tensor as a "
                       "whole buffer"):
        s[B].transform_layout(lambda i: [i // 2, i % 2])
    with pytest.raises(te.ScheduleError, match="an extern op writes its buffers itself"):
        s[E].transform_layout(lambda i: [i // 2, i % 2])
    C = te.compute((8,), lambda i: A[i] + 1.0, name="C")
    s = te.create_schedule(C.op)
    s[C].transform_layout(lambda i: [i // 2, i % 2])
    with pytest.raises(te.ScheduleError, match="already relaid; give one mapping"):
        s[C].transform_layout(lambda i, j: [j, i])
