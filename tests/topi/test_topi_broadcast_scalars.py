"""topi's broadcasting elementwise ops take a scalar operand (a Python number or an Expr) on
either side, as TVM's topi does; anything else is refused by name."""
import numpy as np
import pytest

import texpr as te
import texpr.topi as topi


def test_a_scalar_operand_is_used_at_every_element():
    A = te.placeholder((3, 5), name="A")
    s = te.var("s", dtype="float32")
    B = topi.add(topi.multiply(2.0, A), s)          # number on the left, Expr on the right
    f = te.build(te.create_schedule(B.op), [A, s, B], target="c")
    a = np.random.default_rng(0).random((3, 5), dtype="float32")
    out = np.empty_like(a)
    f(a, np.float32(0.5), out)
    np.testing.assert_array_equal(out, a * np.float32(2) + np.float32(0.5))


def test_operands_that_are_not_tensors_or_scalars_are_refused():
    A = te.placeholder((4,), name="A")
    assert tuple(topi.add(A, 1).shape) == (4,)
    with pytest.raises(te.TexprError, match="add: operand 'x' .*neither a tensor nor a scalar"):
        topi.add(A, "x")
    with pytest.raises(te.TexprError, match="multiply: expected at least one tensor operand"):
        topi.multiply(2, 3)
