"""te.IntImm / te.FloatImm: TVM's constant classes over texpr's one Const node."""
import pytest

import texpr as te


def test_isinstance_by_dtype():
    assert isinstance(te.const(3), te.IntImm) and not isinstance(te.const(3), te.FloatImm)
    assert isinstance(te.const(2.5), te.FloatImm) and not isinstance(te.const(2.5), te.IntImm)
    assert isinstance(te.const(True, "bool"), te.IntImm)             # TVM's bool is an IntImm
    assert not isinstance(te.var("n"), te.IntImm)
    assert not isinstance(3, te.IntImm)
    shape = te.placeholder((4, 5)).shape
    assert all(isinstance(d, te.IntImm) for d in shape) and shape[1].value == 5


def test_construct():
    c = te.IntImm("int64", 2)
    assert isinstance(c, te.IntImm) and c.dtype == "int64" and c.value == 2
    f = te.FloatImm("float32", 0.5)
    assert isinstance(f, te.FloatImm) and f.value == 0.5
    with pytest.raises(te.DTypeError, match="te.IntImm needs an integer or bool dtype, got "
                       "'float32'"):
        te.IntImm("float32", 1)
    with pytest.raises(te.DTypeError, match="te.FloatImm needs a float dtype"):
        te.FloatImm("int32", 1)
    with pytest.raises(te.TexprError):
        te.IntImm("int8", 300)                  # does not fit
