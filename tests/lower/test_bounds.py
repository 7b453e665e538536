"""Bound inference is as tight as TVM's: a stage computes the region its consumers read, never a
multiple of it. The work is measured by running the lowered program in the IR interpreter and
counting the elements each stage stores; the allocations are read off the lowered program."""
import numpy as np
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr import testing as tt
from texpr.lang import ir
from texpr.lang.expr import Const

from support.irutil import Interpreter, stmts

RNG = np.random.default_rng(5)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


class _Counting(Interpreter):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.stores = {}

    def s_BufferStore(self, s):
        self.stores[s.buffer.name] = self.stores.get(s.buffer.name, 0) + 1
        super().s_BufferStore(s)


def stores(s, args, arrays, shape_values=None):
    """{buffer name: stores executed} when the lowered program runs on `arrays`."""
    func = te.lower(s, args)
    interp = _Counting(func, arrays, shape_values or {})
    interp.run()
    return interp.stores


def alloc_shape(s, args, name):
    bufs = [a.buffer for a in stmts(te.lower(s, args).body, ir.Allocate) if a.buffer.name == name]
    assert len(bufs) == 1, [a.buffer.name for a in stmts(te.lower(s, args).body, ir.Allocate)]
    return [d.value if isinstance(d, Const) else str(d) for d in bufs[0].shape]


# ----------------------------------------------------------------------------- split factor > extent

def test_a_split_factor_larger_than_the_extent_allocates_the_extent():
    A = te.placeholder((8,), name="A")
    E = te.compute((8,), lambda i: A[i] + 1.0, name="E")
    F = te.compute((8,), lambda i: E[i] * 2.0, name="F")
    s = te.create_schedule(F.op)
    xo, xi = s[F].split(F.op.axis[0], factor=32)
    s[E].compute_at(s[F], xo)
    assert alloc_shape(s, [A, F], "E") == [8]                 # not the factor, 32
    a = rand(8)
    f = np.zeros(8, "float32")
    assert stores(s, [A, F], [a, f]) == {"E": 8, "F": 8}
    np.testing.assert_allclose(f, (a + 1) * 2, rtol=1e-6)
    tt.check_kernel(s, [A, F], lambda a: (a + 1) * 2, [a], target="c")


def test_a_region_sticking_out_of_the_tensor_is_cut_to_it():
    """B is read at i - 1 and i + 1 (clamped): the region of one 8-wide tile is 10 wide, more
    than the 8 elements of B; the buffer holds at most the tensor."""
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: A[i] * 3.0, name="B")
    C = te.compute((8,), lambda i: B[te.max(i - 1, 0)] + B[te.min(i + 1, 7)], name="C")
    s = te.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], factor=8)
    s[B].compute_at(s[C], xo)
    assert alloc_shape(s, [A, C], "B") == [8]
    a = rand(8)
    ref = lambda a: 3 * a[np.maximum(np.arange(8) - 1, 0)] + 3 * a[np.minimum(np.arange(8) + 1, 7)]
    tt.check_kernel(s, [A, C], ref, [a], target="c")


# ----------------------------------------------------------------------------- fused, then split

def test_compute_at_under_a_fused_then_split_axis_computes_one_piece_of_a_row():
    A = te.placeholder((4, 6), name="A")
    B = te.compute((4, 6), lambda i, j: A[i, j] + 1.0, name="B")
    C = te.compute((4, 6), lambda i, j: B[i, j] * 2.0, name="C")
    s = te.create_schedule(C.op)
    f = s[C].fuse(*C.op.axis)
    fo, fi = s[C].split(f, factor=3)
    s[B].compute_at(s[C], fo)
    assert alloc_shape(s, [A, C], "B") == [1, 3]              # TVM's region too
    a = rand(4, 6)
    c = np.zeros((4, 6), "float32")
    assert stores(s, [A, C], [a, c]) == {"B": 24, "C": 24}    # each element once
    np.testing.assert_allclose(c, (a + 1) * 2, rtol=1e-6)
    tt.check_kernel(s, [A, C], lambda a: (a + 1) * 2, [a], target="c")


def test_compute_at_under_a_fused_axis_split_into_whole_rows():
    A = te.placeholder((6, 4), name="A")
    B = te.compute((6, 4), lambda i, j: A[i, j] + 1.0, name="B")
    C = te.compute((6, 4), lambda i, j: B[i, j] * 2.0, name="C")
    s = te.create_schedule(C.op)
    fo, fi = s[C].split(s[C].fuse(*C.op.axis), factor=8)
    s[B].compute_at(s[C], fo)
    assert alloc_shape(s, [A, C], "B") == [2, 4]
    a = rand(6, 4)
    c = np.zeros((6, 4), "float32")
    assert stores(s, [A, C], [a, c])["B"] == 24
    tt.check_kernel(s, [A, C], lambda a: (a + 1) * 2, [a], target="c")


@settings(max_examples=10, deadline=None)
@given(rows=st.integers(1, 6), cols=st.integers(1, 8), factor=st.integers(1, 9))
def test_a_flat_producer_read_at_y_times_cols_plus_x_computes_one_piece(rows, cols, factor):
    """C[y, x] reads a flat B[y * cols + x]; under C's fused (y, x) split by `factor`, B's
    region is the piece (`factor` elements), not the rows it touches whole: each element
    of B is computed once (the 1x1 convolution's flat product per pixel tile)."""
    A = te.placeholder((rows * cols,), name="A")
    B = te.compute((rows * cols,), lambda j: A[j] + 1.0, name="B")
    C = te.compute((rows, cols), lambda y, x: B[y * cols + x] * 2.0, name="C")
    s = te.create_schedule(C.op)
    fo, fi = s[C].split(s[C].fuse(*C.op.axis), factor=factor)
    s[B].compute_at(s[C], fo)
    shapes = [[int(d.value) for d in a.buffer.shape]
              for a in stmts(te.lower(s, [A, C]).body, ir.Allocate) if a.buffer.name == "B"]
    assert shapes and all(sh == [min(factor, rows * cols)] for sh in shapes), shapes
    a = rand(rows * cols)
    c = np.zeros((rows, cols), "float32")
    assert stores(s, [A, C], [a, c]) == {"B": rows * cols, "C": rows * cols}
    np.testing.assert_allclose(c, ((a + 1) * 2).reshape(rows, cols), rtol=1e-6)


@settings(max_examples=15, deadline=None)
@given(rows=st.integers(1, 7), cols=st.integers(1, 9), factor=st.integers(1, 12),
       at_inner=st.booleans())
def test_fused_then_split_attach_any_shape(rows, cols, factor, at_inner):
    """Whatever the factor (dividing a row, whole rows, neither) the result is right, and each
    element of B is computed once when the tiles are pieces of rows or whole rows."""
    A = te.placeholder((rows, cols), name="A")
    B = te.compute((rows, cols), lambda i, j: A[i, j] + 1.0, name="B")
    C = te.compute((rows, cols), lambda i, j: B[i, j] * 2.0, name="C")
    s = te.create_schedule(C.op)
    fo, fi = s[C].split(s[C].fuse(*C.op.axis), factor=factor)
    s[B].compute_at(s[C], fi if at_inner else fo)
    a = rand(rows, cols)
    c = np.zeros((rows, cols), "float32")
    n = stores(s, [A, C], [a, c])
    np.testing.assert_allclose(c, (a + 1) * 2, rtol=1e-6)
    if at_inner or cols % factor == 0 or factor % cols == 0:
        assert n["B"] == rows * cols            # tiles are pieces of one row, or whole rows
    else:
        # a tile that crosses rows computes the box around it (as in TVM): the rows that
        # `factor` consecutive elements can touch, whole
        tiles = -(-rows * cols // factor)
        assert n["B"] <= tiles * min(rows, (cols + factor - 2) // cols + 1) * cols


# ----------------------------------------------------------------------------- intermediate stages at the root

def test_a_root_intermediate_computes_only_what_its_consumer_reads():
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] + 1.0, name="B")
    C = te.compute((n - 2,), lambda i: B[i + 1] * 2.0, name="C")
    s = te.create_schedule(C.op)
    assert alloc_shape(s, [A, C], "B") == ["n - 2"]
    a = rand(9)
    c = np.zeros(7, "float32")
    assert stores(s, [A, C], [a, c], {n: 9}) == {"B": 7, "C": 7}
    tt.check_kernel(s, [A, C], lambda a: (a[1:-1] + 1) * 2, [a], target="c")


def test_a_root_intermediate_read_in_a_window_of_two_consumers():
    A = te.placeholder((16,), name="A")
    B = te.compute((16,), lambda i: A[i] * 2.0, name="B")
    C = te.compute((4,), lambda i: B[i + 3], name="C")
    D = te.compute((4,), lambda i: B[i + 8], name="D")
    s = te.create_schedule([C.op, D.op])
    assert alloc_shape(s, [A, C, D], "B") == [9]               # B[3] .. B[11]
    a = rand(16)
    out = [np.zeros(4, "float32"), np.zeros(4, "float32")]
    assert stores(s, [A, C, D], [a] + out)["B"] == 9
    tt.check_kernel(s, [A, C, D], lambda a: (2 * a[3:7], 2 * a[8:12]), [a], target="c")


def test_outputs_and_arguments_keep_their_whole_extent():
    A = te.placeholder((16,), name="A")
    B = te.compute((16,), lambda i: A[i] * 2.0, name="B")
    C = te.compute((4,), lambda i: B[i + 3], name="C")
    s = te.create_schedule(C.op)
    a = rand(16)
    b, c = np.zeros(16, "float32"), np.zeros(4, "float32")
    assert stores(s, [A, B, C], [a, b, c])["B"] == 16          # B is the caller's array
    np.testing.assert_allclose(b, 2 * a)
