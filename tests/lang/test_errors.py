"""texpr.errors: user mistakes are TexprErrors; a failed check inside texpr is an InternalError."""
import pickle

import pytest

import texpr as te
from texpr.errors import REPORT_LINE, InternalError
from texpr.targets.gpu.build import emit_gpu
from texpr.targets.registry import get_target


def test_internal_error_is_not_a_texpr_error():
    assert issubclass(te.InternalError, RuntimeError)
    assert not issubclass(te.InternalError, te.TexprError)
    with pytest.raises(InternalError):          # `except TexprError` must not swallow it
        try:
            raise InternalError("a check failed")
        except te.TexprError:
            pytest.fail("InternalError was caught as a TexprError")


def test_internal_error_message_asks_for_a_report():
    e = InternalError("loop i is still bound")
    lines = str(e).splitlines()
    assert lines[0] == "loop i is still bound"
    assert lines[-1] == REPORT_LINE
    assert "bug in texpr" in lines[-1] and "report" in lines[-1] and "schedule" in lines[-1]
    assert str(pickle.loads(pickle.dumps(e))) == str(e)       # the line is added once


def _opencl_emitter():
    A = te.placeholder((64,), name="A")
    B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
    s = te.create_schedule(B.op)
    o, i = s[B].split(B.op.axis[0], factor=16)
    s[B].bind(o, te.thread_axis("blockIdx.x"))
    s[B].bind(i, te.thread_axis("threadIdx.x"))
    target = get_target("opencl")
    _, em = emit_gpu(te.lower(s, [A, B], target="opencl"), target)
    return em


def test_an_internal_check_raises_internal_error():
    # vector loops are unrolled before GPU code is emitted: a vector type there is a texpr bug
    em = _opencl_emitter()
    assert em.ty("float32") == "float"
    with pytest.raises(InternalError, match="vector type float32x4 in GPU code") as info:
        em.ty("float32x4")
    assert not isinstance(info.value, te.TexprError)
    assert str(info.value).endswith(REPORT_LINE)
