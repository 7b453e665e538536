"""The strongest tests: any legal schedule of an operator computes what NumPy computes.

Hypothesis draws the extents (constant or symbolic te.var, sizes that no split factor
divides included), the data, and a random legal schedule from texpr.testing; each kernel is
built for target "c" and "native" and compared with NumPy. Operators: matmul, a 3x3 stencil
with zero padding via te.if_then_else, a reduction with where=, a chain of three elementwise
stages (tests/operators.py).
"""
from hypothesis import given, strategies as st
import pytest

from texpr import testing as tt

from operators import OPERATORS

TARGETS = ("c", "native")
MAX_SIDE = {"matmul": 11, "stencil": 12, "masked_sum": 13, "chain": 20, "int_matvec": 17}


@pytest.mark.parametrize("op", sorted(OPERATORS))
@given(data=st.data())
def test_any_legal_schedule_matches_numpy(op, data):
    names, build = OPERATORS[op]
    dims, values = data.draw(tt.extents(names, max_side=MAX_SIDE[op]), label="extents")
    outputs, args, ref = build(dims)
    drawn = data.draw(tt.legal_schedules(outputs), label="schedule")
    inputs = data.draw(tt.arrays_for([t for t in args if t not in outputs], values),
                       label="inputs")
    for target in TARGETS:
        tt.check_kernel(drawn.schedule, args, ref, inputs, target=target, name=op)
