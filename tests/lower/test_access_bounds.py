"""The access_bounds pass: every tensor access is proven in bounds, made a precondition of the
call (symbolic shapes), checked at run time, or refused at build time."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr.lang.ir import CheckedIndex
from texpr.lang.visitor import walk


def _build(out, args, target="c"):
    return te.build(te.create_schedule(out.op), args, target=target)


def _checked(out, args):
    func = te.lower(te.create_schedule(out.op), args, stop_after="access_bounds")
    return [n for n in walk(func.body) if isinstance(n, CheckedIndex)], func


def test_fixed_offset_past_the_end_is_refused_at_build():
    X = te.placeholder((8,), name="X")
    Y = te.compute((8,), lambda i: X[i + 1] - X[i], name="Y")
    with pytest.raises(te.LoweringError, match=r"tensor X is read at index i \+ 1 \(dimension 0"
                                               r"\), which reaches \[1, 8\].*\[0, 7\]"):
        _build(Y, [X, Y])


def test_far_index_is_refused_not_a_segfault():
    X = te.placeholder((8,), name="X")
    Y = te.compute((8,), lambda i: X[i * 100000], name="Y")
    with pytest.raises(te.LoweringError, match=r"reaches \[0, 700000\]"):
        _build(Y, [X, Y])


def test_negative_reach_is_refused():
    X = te.placeholder((4, 8), name="X")
    Y = te.compute((4, 8), lambda i, j: X[i, j - 2], name="Y")
    with pytest.raises(te.LoweringError, match=r"X is read at index j - 2 \(dimension 1\).*"
                                               r"\[-2, 5\]"):
        _build(Y, [X, Y])


def test_guarded_access_is_proven_and_computes():
    X = te.placeholder((8,), name="X")
    Y = te.compute((8,), lambda i: te.if_then_else(i < 7, X[i + 1], 0.0) - X[i], name="Y")
    checked, _ = _checked(Y, [X, Y])
    assert not checked
    f = _build(Y, [X, Y])
    x = np.random.rand(8).astype("float32")
    y = np.empty(8, "float32")
    f(x, y)
    np.testing.assert_allclose(y, np.append(x[1:], 0) - x, rtol=1e-6)


def test_padding_pattern_is_proven():
    X = te.placeholder((6, 6), name="X")
    P = te.compute((8, 8), lambda i, j: te.if_then_else(
        te.all(i >= 1, i < 7, j >= 1, j < 7), X[i - 1, j - 1], 0.0), name="P")
    checked, func = _checked(P, [X, P])
    assert not checked and not func.preconditions


def test_mismatched_symbolic_extents_become_a_precondition():
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((n,), name="A")
    B = te.placeholder((m,), name="B")
    C = te.compute((n,), lambda i: A[i] + B[i], name="C")
    text = str(te.lower(te.create_schedule(C.op), [A, B, C]))
    assert "requires" in text
    f = _build(C, [A, B, C])
    a, b = np.random.rand(5).astype("float32"), np.random.rand(7).astype("float32")
    c = np.empty(5, "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a + b[:5])
    big = np.random.rand(9).astype("float32")
    out = np.full(9, 42.0, "float32")
    with pytest.raises(te.ArgumentError, match=r"tensor B would be read out of bounds.*m = 7, "
                                               r"n = 9; nothing was run"):
        f(big, b, out)
    assert (out == 42.0).all()
    f(a[:0], b, c[:0])          # no iteration: nothing is read, the call is allowed


def test_matching_symbolic_extents_need_no_check():
    n = te.var("n")
    A = te.placeholder((n, 16), name="A")
    B = te.compute((n, 16), lambda i, j: A[i, j] * 2.0, name="B")
    s = te.create_schedule(B.op)
    xo, xi = s[B].split(B.op.axis[0], factor=4)
    func = te.lower(s, [A, B], stop_after="access_bounds")
    assert not func.preconditions
    assert not [x for x in walk(func.body) if isinstance(x, CheckedIndex)]


def test_nonlinear_index_is_checked_at_run_time():
    """i * (3 - i) over i < 4 stays in [0, 2], which interval arithmetic cannot show
    ([0, 9]): the index is checked at run time, and the kernel computes."""
    X = te.placeholder((3,), name="X")
    Y = te.compute((4,), lambda i: X[i * (3 - i)], name="Y")
    checked, _ = _checked(Y, [X, Y])
    assert checked
    f = _build(Y, [X, Y])
    x = np.random.rand(3).astype("float32")
    y = np.empty(4, "float32")
    f(x, y)
    np.testing.assert_allclose(y, x[[0, 2, 2, 0]])


def test_nonlinear_index_out_of_range_raises_at_run_time():
    X = te.placeholder((9,), name="X")
    Y = te.compute((3,), lambda i: X[i * i], name="Y")
    assert not _checked(Y, [X, Y])[0]           # [0, 4]: proven
    Z = te.compute((4,), lambda i: X[i * i], name="Z")
    assert _checked(Z, [X, Z])[0]
    g = _build(Z, [X, Z])
    with pytest.raises(te.ArgumentError, match=r"index 9 is out of range for dimension 0 of X"):
        g(np.random.rand(9).astype("float32"), np.empty(4, "float32"))


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 12), extra=st.integers(-3, 3), offset=st.integers(-3, 3))
def test_shifted_reads_are_refused_exactly_when_out_of_range(n, extra, offset):
    """Y[i] = X[i + offset] over i < n, X of n + extra elements: the build refuses exactly when
    some i reads outside X; otherwise the kernel equals NumPy."""
    size = max(n + extra, 1)
    X = te.placeholder((size,), name="X")
    Y = te.compute((n,), lambda i: X[i + offset], name="Y")
    in_range = offset >= 0 and n - 1 + offset <= size - 1
    if not in_range:
        with pytest.raises(te.LoweringError, match="outside the dimension's range"):
            _build(Y, [X, Y])
        return
    f = _build(Y, [X, Y])
    x = np.random.rand(size).astype("float32")
    y = np.empty(n, "float32")
    f(x, y)
    np.testing.assert_array_equal(y, x[offset:offset + n])


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 9), m=st.integers(0, 9), offset=st.integers(0, 2))
def test_symbolic_shifted_reads_run_or_refuse_the_call(n, m, offset):
    """The same with symbolic extents: the call runs when every read is in range and raises
    (writing nothing) when one is not."""
    nv, mv = te.var("n"), te.var("m")
    X = te.placeholder((mv,), name="X")
    Y = te.compute((nv,), lambda i: X[i + offset], name="Y")
    f = _build(Y, [X, Y])
    x = np.random.rand(m).astype("float32")
    y = np.full(n, -1.0, "float32")
    if n == 0 or n - 1 + offset <= m - 1:
        f(x, y)
        np.testing.assert_array_equal(y, x[offset:offset + n])
    else:
        with pytest.raises(te.ArgumentError, match="nothing was run"):
            f(x, y)
        assert (y == -1.0).all()


def test_scalar_offset_argument_becomes_a_precondition():
    """An offset passed as a scalar te.var argument: the call checks it (it may be negative or
    too large) before the kernel runs."""
    off = te.var("off")
    X = te.placeholder((10,), name="X")
    Y = te.compute((4,), lambda i: X[i + off], name="Y")
    f = te.build(te.create_schedule(Y.op), [X, off, Y], target="c")
    x = np.random.rand(10).astype("float32")
    y = np.empty(4, "float32")
    f(x, 6, y)
    np.testing.assert_array_equal(y, x[6:10])
    for bad in (7, -1):
        with pytest.raises(te.ArgumentError, match="tensor X would be read out of bounds"):
            f(x, bad, y)


def test_triangular_loop_is_proven():
    """for j in [i, 10): the loop's last value simplifies to 9 whatever i is."""
    X = te.placeholder((10,), name="X")
    k = te.reduce_axis((0, 10), name="k")
    Y = te.compute((10,), lambda i: te.sum(X[k], axis=k, where=k >= i), name="Y")
    assert not _checked(Y, [X, Y])[0]
    from texpr.lang.expr import Const, Var
    from texpr.lang.ir import Buffer, BufferLoad, BufferStore, For
    from texpr.lower.access_bounds import check_access_bounds
    i, j = Var("i"), Var("j")
    buf = Buffer("B", "float32", (Const(10, "int32"),), "global", is_arg=True)
    body = For(i, Const(0, "int32"), Const(10, "int32"), "serial",
               For(j, i, Const(10, "int32") - i, "serial",
                   BufferStore(buf, BufferLoad(buf, (j,), "float32"), (j,))))
    out, pre = check_access_bounds(body, {}, "tri")
    assert out is body and not pre


def _fused_rows(n, extra):
    """Y[r, c] = X[r, c] * 2 over a loop fused from Y's (n + extra) x 64 elements, X of n
    rows: the row index is the fused loop's // 64."""
    X = te.placeholder((n, 64), name="X")
    Y = te.compute((n + extra, 64), lambda r, c: X[r, c] * 2.0, name="Y")
    s = te.create_schedule(Y.op)
    s[Y].parallel(s[Y].fuse(*Y.op.axis))
    return s, X, Y


def test_floor_of_a_fused_loop_is_proven():
    """fused // 64 over a loop fused from n x 64 stays below n ((64 n - 1) // 64 = n - 1):
    proven, not checked at run time (a checked kernel also misses the C fast path of the
    call); the kernel computes at every n."""
    n = te.var("n")
    s, X, Y = _fused_rows(n, 0)
    body = te.lower(s, [X, Y], stop_after="access_bounds").body
    assert "//" in str(body) and not [c for c in walk(body) if isinstance(c, CheckedIndex)], body
    f = te.build(s, [X, Y], target="c")
    for m in (1, 2, 5):
        x = np.random.default_rng(m).standard_normal((m, 64)).astype("float32")
        y = np.empty_like(x)
        f(x, y)
        np.testing.assert_array_equal(y, x * 2)


def test_floor_of_a_fused_loop_past_the_rows_stays_checked():
    """Y of n + 1 rows reads X's row n ((64 (n + 1) - 1) // 64 = n): not proven, and the
    call raises instead of reading past X."""
    n = te.var("n")
    s, X, Y = _fused_rows(n, 1)
    body = te.lower(s, [X, Y], stop_after="access_bounds").body
    assert [c for c in walk(body) if isinstance(c, CheckedIndex)], body
    f = te.build(s, [X, Y], target="c")
    with pytest.raises(te.ArgumentError, match="out of range"):
        f(np.zeros((2, 64), "float32"), np.empty((3, 64), "float32"))


def _plane_as_row(H):
    """Y[c] = sum of X[c]'s h x w plane, its two reduce axes fused into one of h * w (the
    index a // w, a % w), split by 8 (a guarded tail)."""
    C, h, w = te.var("C"), te.var("h"), te.var("w")
    X = te.placeholder((C, H(h), w), name="X")
    ry, rx = te.reduce_axis((0, h), "ry"), te.reduce_axis((0, w), "rx")
    Y = te.compute((C,), lambda c: te.sum(X[c, ry, rx], axis=[ry, rx]), name="Y")
    s = te.create_schedule(Y.op)
    s[Y].split(s[Y].fuse(ry, rx), factor=8)
    return s, X, Y


def test_plane_read_as_one_fused_row_is_proven():
    """X[c, a // w, a % w] for a < h * w (a guarded split of the fused plane): both indices
    in range, with no run-time check (the pair proven together: a in [0, h * w), so w > 0);
    the kernel computes at every size, empty planes too."""
    s, X, Y = _plane_as_row(lambda h: h)
    body = te.lower(s, [X, Y], stop_after="access_bounds").body
    assert "//" in str(body) and not [c for c in walk(body) if isinstance(c, CheckedIndex)], body
    f = te.build(s, [X, Y], target="c")
    for shape in ((2, 3, 5), (1, 1, 1), (3, 4, 8), (2, 0, 3), (2, 3, 0)):
        x = np.random.default_rng(sum(shape)).standard_normal(shape).astype("float32")
        y = np.empty(shape[:1], "float32")
        f(x, y)
        np.testing.assert_allclose(y, x.sum(axis=(1, 2)), rtol=1e-5, atol=1e-5)


def test_plane_read_as_a_fused_row_past_the_rows_stays_checked():
    """X of h - 1 rows read over h x w: a // w reaches row h - 1: not proven, checked at
    run time."""
    s, X, Y = _plane_as_row(lambda h: h - 1)
    body = te.lower(s, [X, Y], stop_after="access_bounds").body
    assert [c for c in walk(body) if isinstance(c, CheckedIndex)], body
