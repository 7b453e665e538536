"""s[T].iter_var_attrs: TVM's view of loop annotations, and the classes TVM code checks."""
import pytest

import texpr as te


def _stage():
    A = te.placeholder((64, 30), name="A")
    k = te.reduce_axis((0, 30), name="k")
    B = te.compute((64,), lambda i: te.sum(A[i, k], axis=k), name="B")
    return A, B, te.create_schedule(B.op)


def test_iter_type_of_each_annotation():
    A, B, s = _stage()
    IV = te.schedule.IterVar
    assert IV is te.IterVar and IV.Unrolled == 5 and IV.Vectorized == 6
    io, ii = s[B].split(B.op.axis[0], factor=8)
    ko, ki = s[B].split(B.op.reduce_axis[0], factor=5)
    s[B].reorder(io, ko, ii, ki)
    s[B].parallel(io)
    s[B].vectorize(ii)
    s[B].unroll(ki)
    s[B].pragma(ko, "comment", "outer reduction")
    attrs = s[B].iter_var_attrs
    assert attrs[io].iter_type == IV.Parallelized
    assert attrs[ii].iter_type == IV.Vectorized
    assert attrs[ki].iter_type == IV.Unrolled
    assert attrs[ko].iter_type == IV.CommReduce
    assert attrs[ko].pragma_keys[0].value == "comment"
    assert attrs[ko].pragma_values[0] == "outer reduction"
    assert set(map(id, attrs)) == {id(io), id(ii), id(ki), id(ko)} and len(attrs) == 4
    assert ii in attrs and B.op.axis[0] not in attrs


def test_bound_axis_reports_its_thread():
    A, B, s = _stage()
    bx = te.thread_axis("blockIdx.x")
    s[B].bind(B.op.axis[0], bx)
    a = s[B].iter_var_attrs[B.op.axis[0]]
    assert a.iter_type == te.IterVar.ThreadIndex and a.bind_thread is bx


def test_unannotated_axis_is_a_key_error():
    A, B, s = _stage()
    with pytest.raises(KeyError, match="no annotation"):
        s[B].iter_var_attrs[B.op.axis[0]]


def test_operation_classes():
    A, B, s = _stage()
    assert isinstance(A.op, te.PlaceholderOp) and not isinstance(A.op, te.ComputeOp)
    assert isinstance(B.op, te.ComputeOp)
    assert all(isinstance(iv, te.IterVar) for iv in B.op.axis + B.op.reduce_axis)
