"""The strongest tests: any legal schedule of an operator computes what NumPy computes.

Hypothesis draws the extents (constant or symbolic te.var, sizes that no split factor
divides included), the data, and a random legal schedule from texpr.testing; each kernel is
built for target "c" and "native" and compared with NumPy. Core operators (full example
count): matmul, a 3x3 stencil with zero padding via te.if_then_else, a reduction with where=,
a chain of three elementwise stages, an integer matrix-vector product with floor // and %.
The others (tests/operators.py) run fewer examples: every example costs two gcc runs.
"""
from hypothesis import given, settings, strategies as st
import pytest

from texpr import testing as tt

from support.operators import CORE, OPERATORS

TARGETS = ("c", "native")
MAX_SIDE = {"matmul": 11, "stencil": 12, "masked_sum": 13, "chain": 20, "int_matvec": 17}


def check_any_schedule(op, data):
    names, build = OPERATORS[op]
    dims, values = data.draw(tt.extents(names, max_side=MAX_SIDE.get(op, 9)), label="extents")
    outputs, args, ref = build(dims)
    drawn = data.draw(tt.legal_schedules(outputs), label="schedule")
    inputs = data.draw(tt.arrays_for([t for t in args if t not in outputs], values),
                       label="inputs")
    for target in TARGETS:
        tt.check_kernel(drawn.schedule, args, ref, inputs, values=values, target=target, name=op)


@pytest.mark.parametrize("op", CORE)
@given(data=st.data())
def test_any_legal_schedule_matches_numpy(op, data):
    check_any_schedule(op, data)


@pytest.mark.parametrize("op", sorted(set(OPERATORS) - set(CORE)))
@settings(max_examples=4)
@given(data=st.data())
def test_any_legal_schedule_matches_numpy_more_operators(op, data):
    check_any_schedule(op, data)
