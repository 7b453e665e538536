"""An output stage that another stage reads may be left out of the arguments: a temporary holds
it (as in TVM); an output nothing reads must still be an argument."""
import numpy as np
import pytest

import texpr as te
from texpr.lang.ir import Allocate
from texpr.lang.visitor import walk


def test_an_output_read_by_another_stage_becomes_a_temporary():
    a = te.placeholder((6,), name="a")
    b = te.placeholder((6,), name="b")
    c = te.compute((6,), lambda i: a[i] + b[i], name="c")
    d = te.compute((6,), lambda i: c[i] * 3.0, name="d")
    s = te.create_schedule([c.op, d.op])          # c is an output op of the schedule
    low = te.lower(s, [a, b, d], stop_after="loop_nest")
    assert [n.buffer.name for n in walk(low.body) if isinstance(n, Allocate)] == ["c"]
    f = te.build(s, [a, b, d], "c")
    x, y = np.arange(6, dtype="float32"), np.ones(6, "float32")
    out = np.zeros(6, "float32")
    f(x, y, out)
    np.testing.assert_allclose(out, (x + y) * 3.0)
    with pytest.raises(te.LoweringError, match="output d is not in args"):
        te.lower(s, [a, b, c])                    # nothing reads d: it must be passed
