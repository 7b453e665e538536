"""TVM's constant classes, IntImm and FloatImm, over texpr's one Const node.

texpr has a single Const class for every dtype; TVM programs ask `isinstance(x, te.IntImm)`
(an integer or bool constant) and build `te.IntImm("int64", 2)`. These classes answer the
check by the constant's dtype and construct a Const; `.value` is Const's own field.
"""
from ..errors import DTypeError
from . import dtypes
from .expr import Const


class _ConstKind(type):
    """isinstance(x, cls) holds for a Const whose dtype cls.accepts."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Const) and cls.accepts(dtypes.element(obj.dtype))

    def __call__(cls, dtype, value):
        dt = dtypes.normalize(dtype)
        if not cls.accepts(dt):
            raise DTypeError(f"te.{cls.__name__} needs {cls.expected} dtype, got {dtype!r}")
        dtypes.check_fits(value, dt)
        return Const(value, dt)


class IntImm(metaclass=_ConstKind):
    """An integer (or bool) constant: IntImm(dtype, value) makes one, isinstance checks one.

    >>> import texpr as te
    >>> c = te.IntImm("int8", 5)
    >>> isinstance(c, te.IntImm), c.value, c.dtype
    (True, 5, 'int8')
    """
    expected = "an integer or bool"

    @staticmethod
    def accepts(dt):
        """Whether a constant of dtype `dt` is an IntImm (integers and bool).

        >>> import texpr as te
        >>> te.IntImm.accepts("int8"), te.IntImm.accepts("bool"), te.IntImm.accepts("float32")
        (True, True, False)
        """
        return dtypes.is_int(dt) or dtypes.is_bool(dt)


class FloatImm(metaclass=_ConstKind):
    """A floating-point constant: FloatImm(dtype, value) makes one, isinstance checks one.

    >>> import texpr as te
    >>> isinstance(te.const(1.5), te.FloatImm), isinstance(te.const(1), te.FloatImm)
    (True, False)
    """
    expected = "a float"

    @staticmethod
    def accepts(dt):
        """Whether a constant of dtype `dt` is a FloatImm (floats).

        >>> import texpr as te
        >>> te.FloatImm.accepts("float16"), te.FloatImm.accepts("int32")
        (True, False)
        """
        return dtypes.is_float(dt)
