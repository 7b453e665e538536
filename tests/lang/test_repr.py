"""Readable objects: expressions repr as math (the printer's text), tensors, operations and
axes in one line; shape extents convert to Python ints, symbolic ones raise a clear error."""
import operator

import numpy as np
import pytest

import texpr as te


@pytest.fixture(scope="module")
def tensors():
    A = te.placeholder((16, 8), name="A")
    k = te.reduce_axis((0, 8), name="k")
    B = te.compute((16,), lambda i: te.sum(A[i, k] * 2, axis=k), name="B")
    return A, k, B


def test_expressions_repr_as_math(tensors):
    A, k, B = tensors
    x, y = te.var("x"), te.var("y")
    i = te.var("i")
    cases = [
        (A[0, 1] + 1, "A[0, 1] + 1.0f"),                     # float32 constant: 1.0f
        (x * 2 + y, "x * 2 + y"),                            # int32 constant: 2
        ((x + 2) * y, "(x + 2) * y"),                        # parentheses only where needed
        (x - (y - 1), "x - (y - 1)"),
        (te.exp(A[i, 0]), "exp(A[i, 0])"),
        (A[i, 0].astype("float64"), "float64(A[i, 0])"),     # a cast: the dtype as a function
        (te.const(3, "int64") + x.astype("int64"), "3:int64 + int64(x)"),   # other dtypes: v:dtype
        (te.if_then_else(x < y, x, y), "select(x < y, x, y)"),
        (te.sum(A[i, k], axis=k), "sum(A[i, k], axis=[k])"),
        (te.max(A[i, k], axis=k, where=k > 2), "max(A[i, k], axis=[k], where=k > 2)"),
        (te.const(True), "True"),
    ]
    for e, text in cases:
        assert repr(e) == text and str(e) == text
    assert repr([x, te.const(16)]) == "[x, 16]"             # inside containers too


def test_no_dataclass_dumps(tensors):
    A, k, B = tensors
    s = te.create_schedule(B.op)
    program = te.lower(s, [A, B])
    texts = [repr(A[0, 0] + 1), repr(B.op.body[0]), repr(program.body), repr(A.shape)]
    for text in texts:
        assert "Const(" not in text and "dtype=" not in text and "BinOp(" not in text, text
    assert repr(program.body) == str(program.body) and "for (k, 0, 8)" in repr(program.body)


def test_tensors_operations_and_axes(tensors):
    A, k, B = tensors
    n = te.var("n")
    S = te.placeholder((n, 3), "int8", name="S")
    assert repr(A) == "Tensor(A, shape=(16, 8), float32)"
    assert repr(S) == "Tensor(S, shape=(n, 3), int8)"
    assert repr(B) == str(B) == "Tensor(B, shape=(16,), float32)"
    assert repr(A.op) == "placeholder(A, shape=(16, 8), float32)"
    assert repr(B.op) == ("compute(B, body=[sum(A[i, k] * 2.0f, axis=[k])], axis=[i: 16], "
                          "reduce_axis=[k: 8])")
    assert repr(k) == "IterVar(k, range(min=0, ext=8), reduce)"
    tx = te.thread_axis("threadIdx.x")
    assert "threadIdx.x" in repr(tx) and "thread" in repr(tx)
    q, r = te.compute((4,), lambda i: (A[i, 0], A[i, 1] * 2), name="Q")
    assert repr(r) == "Tensor(Q.v1, shape=(4,), float32)"
    html = B._repr_html_()
    assert "Tensor(B, shape=(16,), float32)" in html and "B[i] = sum(" in html


def test_shape_extents_are_python_ints():
    A = te.placeholder((3, 4), name="A")
    assert np.zeros(A.shape).shape == (3, 4) and np.empty(A.shape, "int8").shape == (3, 4)
    assert operator.index(A.shape[1]) == 4 and len(A.shape) == 2
    assert list(range(A.shape[0])) == [0, 1, 2] and [10, 20, 30, 40][A.shape[0]] == 40
    assert np.zeros(A.shape[0] * 2 + 1).shape == (7,)        # constant arithmetic too
    n = te.var("n")
    S = te.placeholder((n, 3), name="S")
    for convert in (lambda: np.empty(S.shape), lambda: range(S.shape[0]),
                    lambda: operator.index(S.shape[0]), lambda: np.zeros(S.shape[0] * 2)):
        with pytest.raises(te.SymbolicValueError, match=r"symbolic expression n.* known only "
                                                        r"when the kernel is called"):
            convert()
    with pytest.raises(te.TexprError, match=r"int\(\) of the symbolic expression n"):
        int(S.shape[0])
    with pytest.raises(te.DTypeError, match=r"A\[0, 0\] of dtype float32 is not an integer"):
        operator.index(A[0, 0])
