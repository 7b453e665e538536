"""A hybrid script may write a placeholder it takes, in place (as TVM's may): the kernel writes
the caller's array, and later reads in the script see the new values. An input some operation
computes cannot be written."""
import numpy as np
import pytest

import texpr as te
from texpr import hybrid


@hybrid.script
def ramp_then_scale(a, b):
    for i in range(6):
        a[i] = a[i] + i
    c = output_tensor((6,), a.dtype)
    for i in range(6):
        c[i] = a[i] * b[i]
    return c


A = te.placeholder((6,), name="A")
B = te.placeholder((6,), name="B")


def test_written_placeholder_is_updated_and_read_back():
    c = ramp_then_scale(A, B)
    assert [t.name for t in c.op.input_tensors] == ["A", "B"]
    s = te.create_schedule(c.op)
    f = te.build(s, [A, B, c], "c")
    x = np.arange(6, dtype="float32")
    y = np.full(6, 2.0, "float32")
    out = np.zeros(6, "float32")
    f(x, y, out)
    np.testing.assert_allclose(x, 2 * np.arange(6))            # written in place
    np.testing.assert_allclose(out, 4 * np.arange(6))
    emu_x = np.arange(6, dtype="float32")
    np.testing.assert_allclose(ramp_then_scale(emu_x, y), out)  # emulation agrees
    np.testing.assert_allclose(emu_x, x)
    frozen = np.arange(6, dtype="float32")
    frozen.flags.writeable = False
    with pytest.raises(te.ArgumentError, match="argument A: output array is read-only"):
        f(frozen, y, out)
    # te.hybrid.build writes the in-place update back out
    mod = te.hybrid.build(s, [A, B], [c])
    assert "A[i] = float32(float64(A[i]) + float64(i))" in mod.get_source()
    again = np.arange(6, dtype="float32")
    np.testing.assert_allclose(mod(again, y), out)
    np.testing.assert_allclose(again, x)


def test_written_placeholder_must_be_an_argument():
    c = ramp_then_scale(A, B)
    s = te.create_schedule(c.op)
    with pytest.raises(te.LoweringError, match="placeholder A is read by stage "
                       "ramp_then_scale but is not in args"):
        te.lower(s, [B, c])


@hybrid.script
def only_writes(a):
    for i in range(6):
        a[i] = 0.0
    c = output_tensor((6,), "float32")
    for i in range(6):
        c[i] = 1.0
    return c


def test_a_placeholder_only_written_must_be_an_argument():
    c = only_writes(A)
    assert c.op.input_tensors == [A]
    with pytest.raises(te.LoweringError, match="hybrid op only_writes writes placeholder A in "
                       "place, but it is not in args"):
        te.lower(te.create_schedule(c.op), [c])


def test_dump_refuses_writing_an_input_a_stage_computes():
    g = te.compute((6,), lambda i: A[i] * 2.0, name="g")
    h = te.compute((6,), lambda i: g[i] + 1.0, name="h")
    with pytest.raises(te.LoweringError, match="stage g writes g, which is given as an input"):
        te.hybrid.build(te.create_schedule(h.op), [A, g], [h])


def test_an_unordered_reader_of_a_written_placeholder_is_refused():
    c = ramp_then_scale(A, B)
    d = te.compute((6,), lambda i: A[i] * 3.0, name="d")          # before or after c?
    s = te.create_schedule([c.op, d.op])
    with pytest.raises(te.LoweringError, match="hybrid op ramp_then_scale writes placeholder A "
                       "in place and stage d also uses it"):
        te.lower(s, [A, B, c, d])
    e = te.compute((6,), lambda i: c[i] + A[i], name="e")         # after c: defined
    te.lower(te.create_schedule(e.op), [A, B, e])
