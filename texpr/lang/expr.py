"""Scalar expressions of the compute language.

Nodes are immutable. `==` between expressions builds a comparison (as in TVM); its truth
value, when Python asks for one (dict keys, `in`), is structural equality, so expressions
work as dictionary keys. Variables compare by identity: two vars named "n" are different.
"""
from __future__ import annotations

import builtins
from dataclasses import dataclass, fields, replace
import math
import numbers
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np

from . import dtypes
from ..errors import DTypeError, SymbolicValueError, TexprError

if TYPE_CHECKING:
    from .hints import DTypeLike, ExprLike, TensorOrExpr
    from .tensor import Tensor


class Node:
    """Base of every IR node: immutable, structurally hashable, printable."""

    _children: ClassVar[tuple[str, ...]] = ()          # names of fields holding child nodes (or tuples of them)
    __dataclass_fields__: ClassVar[dict[str, Any]]      # every node class is a dataclass

    def __init_subclass__(cls, **kwargs):
        # repr is the printer's text (A[i] + 1.0f), never @dataclass's field dump: set before
        # the decorator runs, which keeps a __repr__ the class already has
        super().__init_subclass__(**kwargs)
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = _printed

    def __hash__(self):
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((type(self),) + tuple(_hashable(getattr(self, f.name)) for f in fields(self)))
            object.__setattr__(self, "_hash", h)
        return h

    def same_as(self, other: object) -> bool:
        """Structural equality (TVM's same_as): same node kinds, fields and variables.

        >>> import texpr as te
        >>> x = te.var("x")
        >>> (x + 1).same_as(x + 1), (x + 1).same_as(x + 2)
        (True, False)
        """
        return structural_equal(self, other)

    def __getstate__(self):
        # (the cached hash is made from variables' ids: not valid in another process)
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    def replace(self, **changes: object) -> Node:
        """A copy of this node with the given fields changed (nodes are immutable).

        >>> import texpr as te
        >>> c = te.const(2, "int32")
        >>> c.replace(value=3).value
        3
        """
        for name in changes:
            if name not in self.__dataclass_fields__ or name == "_hash":
                raise TypeError(f"{type(self).__name__} has no field {name!r}")
        if type(self).__dict__.get("__post_init__") is not None:
            return replace(self, **changes)
        from .visitor import rebuilt
        return rebuilt(self, changes)

    def __str__(self):
        from .printer import to_str
        return to_str(self)

    __repr__ = __str__


def _printed(node):
    return str(node)


def _hashable(v):
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    return v


def _same_value(a, b):
    """==, except that floats are the same only bit for bit in sign: 0.0 and -0.0 differ (a
    select between them is not either one), and NaN is NaN."""
    if isinstance(a, float) and isinstance(b, float):
        if a != a or b != b:
            return a != a and b != b
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


def structural_equal(a: Any, b: Any) -> bool:
    """Whether two IR values are the same tree (variables by identity, floats bit for bit)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and builtins.all(structural_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, Var) or not isinstance(a, Node):
        return a is b if isinstance(a, Var) else _same_value(a, b)
    if hash(a) != hash(b):
        return False
    return builtins.all(structural_equal(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))


def _const_like(value, other_dtype):
    """A Python scalar beside an expression takes the expression's dtype (NumPy's weak scalars)."""
    dt = dtypes.promote(other_dtype, value)
    dtypes.check_fits(value, dt)
    return Const(value, dt)


def convert(v: object, dtype: str | None = None) -> Expr:
    """Turn a Python number / IterVar / Expr into an Expr."""
    if isinstance(v, Expr):
        return v
    from .tensor import IterVar, TensorSlice
    if isinstance(v, IterVar):
        return v.var
    if isinstance(v, TensorSlice):
        v._incomplete()
    if isinstance(v, (bool, np.bool_)):
        return Const(bool(v), dtype or "bool")
    if isinstance(v, numbers.Integral):
        return Const(int(v), dtype or "int32")
    if isinstance(v, numbers.Real):
        return Const(float(v), dtype or "float32")
    raise TexprError(f"cannot use {v!r} (type {type(v).__name__}) as an expression")


def _binary(op: str, a: object, b: object) -> Expr:
    """Build a BinOp with NumPy promotion; operands are cast to the result dtype."""
    if not isinstance(a, Expr):
        a = _scalar_operand(a, b)
    if not isinstance(b, Expr):
        b = _scalar_operand(b, a)
    ea, eb = dtypes.element(a.dtype), dtypes.element(b.dtype)
    if op == "/" and not dtypes.is_float(ea) and not dtypes.is_float(eb):
        raise DTypeError(f"'/' on integers ({a} / {b}): use '//' for floor division, "
                         "or astype('float32') for true division")
    dt = dtypes.promote(ea, eb)
    if op in ("&", "|", "^", "<<", ">>") and dtypes.is_float(dt):
        raise DTypeError(f"bitwise '{op}' needs integer operands, got {ea} and {eb}")
    a, b = _cast_to(a, dt), _cast_to(b, dt)
    lanes = max(dtypes.lanes(a.dtype), dtypes.lanes(b.dtype))
    return BinOp(op, a, b, dtypes.with_lanes(dt, lanes))


def _operator(op, a, b):
    """An arithmetic operator of Expr: with a tensor operand, the tensor's elementwise
    operator takes over (`n * A`)."""
    o = b if isinstance(a, Expr) else a
    if not isinstance(o, (Expr, int, float)):
        from .tensor import Tensor
        if isinstance(o, Tensor):
            return NotImplemented
    return _binary(op, a, b)


def _scalar_operand(v: object, other: Any) -> Expr:
    from .tensor import IterVar, TensorSlice
    if isinstance(v, IterVar):
        return v.var
    if isinstance(v, TensorSlice):
        v._incomplete()
    if isinstance(v, (bool, numbers.Number, np.generic)):
        return _const_like(v.item() if isinstance(v, np.generic) else v, dtypes.element(other.dtype))
    raise TexprError(f"cannot use {v!r} (type {type(v).__name__}) in an expression")


def _cast_to(e: Expr, dt: str) -> Expr:
    if dtypes.element(e.dtype) == dt:
        return e
    if isinstance(e, Const):
        dtypes.check_fits(e.value, dt)
        return Const(e.value, dt)
    return Cast(e, dtypes.with_lanes(dt, dtypes.lanes(e.dtype)))


def _compare(op: str, a: object, b: object) -> Expr:
    if not isinstance(a, Expr):
        a = _scalar_operand(a, b)
    if not isinstance(b, Expr):
        b = _scalar_operand(b, a)
    dt = dtypes.promote(dtypes.element(a.dtype), dtypes.element(b.dtype))
    a, b = _cast_to(a, dt), _cast_to(b, dt)
    lanes = max(dtypes.lanes(a.dtype), dtypes.lanes(b.dtype))
    return Cmp(op, a, b, dtypes.with_lanes("bool", lanes))


class Expr(Node):
    """A scalar expression of the compute language; the base of every expression node.

    Python operators build expressions with NumPy's dtype promotion (`//` and `%` round
    towards minus infinity); `==` builds a comparison.

    >>> import texpr as te
    >>> i = te.var("i")
    >>> (i * 2 + 1).dtype, (i.astype("float32") / 2).dtype
    ('int32', 'float32')
    """

    dtype: str

    def __add__(self, o): return _operator("+", self, o)
    def __radd__(self, o): return _operator("+", o, self)
    def __sub__(self, o): return _operator("-", self, o)
    def __rsub__(self, o): return _operator("-", o, self)
    def __mul__(self, o): return _operator("*", self, o)
    def __rmul__(self, o): return _operator("*", o, self)
    def __truediv__(self, o): return _operator("/", self, o)
    def __rtruediv__(self, o): return _operator("/", o, self)
    def __floordiv__(self, o): return _operator("//", self, o)
    def __rfloordiv__(self, o): return _operator("//", o, self)
    def __mod__(self, o): return _operator("%", self, o)
    def __rmod__(self, o): return _operator("%", o, self)
    def __lshift__(self, o): return _operator("<<", self, o)
    def __rlshift__(self, o): return _operator("<<", o, self)
    def __rshift__(self, o): return _operator(">>", self, o)
    def __rrshift__(self, o): return _operator(">>", o, self)
    def __xor__(self, o): return _operator("^", self, o)
    def __rxor__(self, o): return _operator("^", o, self)

    def __and__(self, o):
        return logical_and(self, o) if dtypes.is_bool(self.dtype) else _binary("&", self, o)

    def __rand__(self, o): return convert(o).__and__(self)

    def __or__(self, o):
        return logical_or(self, o) if dtypes.is_bool(self.dtype) else _binary("|", self, o)

    def __ror__(self, o): return convert(o).__or__(self)

    def __invert__(self):
        if dtypes.is_bool(self.dtype):
            return Not(self, self.dtype)
        if dtypes.is_unsigned(self.dtype):      # every bit set: -1 does not fit an unsigned type
            return _binary("^", self, (1 << dtypes.bits(self.dtype)) - 1)
        return _binary("^", self, -1)

    def __neg__(self):
        # floats: -0.0 - x, which is -x for every x (0 - x would make -(+0.0) = +0.0)
        zero = -0.0 if dtypes.is_float(self.dtype) else 0
        return _binary("-", Const(zero, dtypes.element(self.dtype)), self)

    def __pos__(self): return self

    def __abs__(self): return call("abs", self)

    def __lt__(self, o): return _compare("<", self, o)
    def __le__(self, o): return _compare("<=", self, o)
    def __gt__(self, o): return _compare(">", self, o)
    def __ge__(self, o): return _compare(">=", self, o)
    def __eq__(self, o): return _compare("==", self, o)
    def __ne__(self, o): return _compare("!=", self, o)

    __hash__ = Node.__hash__

    def __bool__(self):
        raise TexprError(f"the symbolic expression {self} has no Python truth value; "
                         "use te.if_then_else / te.all / te.any to branch on it")

    def __int__(self):
        # arithmetic of constant extents is a Python int too: int(A.shape[0] * 2 + 1)
        value = _constant_int(self)
        if value is None:
            raise SymbolicValueError(f"int() of the symbolic expression {self}: its value is "
                                     "known only when the kernel is called")
        return value

    def __index__(self):
        # a NumPy shape, range(), operator.index: constant extents and their arithmetic
        if not dtypes.is_int(self.dtype) or dtypes.is_bool(self.dtype):
            raise DTypeError(f"the expression {self} of dtype {self.dtype} is not an integer "
                             "index")
        value = _constant_int(self)
        if value is None:
            raise SymbolicValueError(
                f"the symbolic expression {self} (dtype {self.dtype}) used as a Python int "
                "(a NumPy shape, range, an index): its value is known only when the kernel is "
                "called; give the dimension a constant extent, or take it from the array")
        return value

    def astype(self, dtype: DTypeLike) -> Expr:
        """This expression converted to `dtype` (C's conversion; itself if already of it).

        >>> import texpr as te
        >>> te.var("i").astype("float64").dtype
        'float64'
        """
        dt = dtypes.normalize(dtype)
        if dtypes.element(self.dtype) == dt:
            return self
        return Cast(self, dtypes.with_lanes(dt, dtypes.lanes(self.dtype)))

    def equal(self, other: ExprLike) -> Expr:
        """Elementwise equality as an expression (alias of ==, like TVM).

        >>> import texpr as te
        >>> i = te.var("i")
        >>> e = i.equal(0)
        >>> e, e.dtype
        (i == 0, 'bool')
        """
        return _compare("==", self, other)


@dataclass(frozen=True, eq=False)
class Var(Expr):
    """A scalar variable: loop index or symbolic extent. Compares by identity.

    >>> import texpr as te
    >>> n = te.var("n")
    >>> n.name, n.dtype, n.same_as(te.var("n"))
    ('n', 'int32', False)
    """
    name: str
    dtype: str = "int32"

    def __hash__(self):
        return id(self)


@dataclass(frozen=True, eq=False)
class Const(Expr):
    """A constant of a dtype; an integer constant is a Python int where one is needed.

    >>> import texpr as te
    >>> A = te.placeholder((3, 4), name="A")
    >>> int(A.shape[0]), tuple(int(d) for d in A.shape)
    (3, (3, 4))
    """
    value: Any
    dtype: str

    # a constant extent is a Python int where one is needed: int(A.shape[0]),
    # np.empty(tuple(A.shape)), range(A.shape[0])
    def __int__(self):
        if dtypes.is_float(self.dtype):
            raise TexprError(f"int() of the float constant {self}: use astype or float()")
        return int(self.value)

    def __index__(self):
        if not dtypes.is_int(self.dtype):
            raise TexprError(f"the constant {self} of dtype {self.dtype} is not an integer index")
        return int(self.value)

    def __float__(self):
        return float(self.value)

    def __post_init__(self):
        e = dtypes.element(self.dtype)
        if dtypes.is_float(e):
            object.__setattr__(self, "value", float(self.value))
        elif e == "bool":
            object.__setattr__(self, "value", bool(self.value))
        else:
            object.__setattr__(self, "value", int(self.value))


@dataclass(frozen=True, eq=False)
class BinOp(Expr):
    """Arithmetic / logical binary op. op: + - * / // % min max & | ^ << >> && ||."""
    op: str
    a: Expr
    b: Expr
    dtype: str
    _children: ClassVar[tuple[str, ...]] = ("a", "b")


@dataclass(frozen=True, eq=False)
class Cmp(Expr):
    """Comparison: < <= > >= == !=. Its Python truth (== / != only) is structural equality."""
    op: str
    a: Expr
    b: Expr
    dtype: str = "bool"
    _children: ClassVar[tuple[str, ...]] = ("a", "b")

    def __bool__(self):
        if self.op == "==":
            return structural_equal(self.a, self.b)
        if self.op == "!=":
            return not structural_equal(self.a, self.b)
        return Expr.__bool__(self)


@dataclass(frozen=True, eq=False)
class Not(Expr):
    a: Expr
    dtype: str = "bool"
    _children: ClassVar[tuple[str, ...]] = ("a",)


@dataclass(frozen=True, eq=False)
class Select(Expr):
    """cond ? t : f, evaluated lazily in C (only the chosen branch runs)."""
    cond: Expr
    t: Expr
    f: Expr
    dtype: str
    _children: ClassVar[tuple[str, ...]] = ("cond", "t", "f")


@dataclass(frozen=True, eq=False)
class Cast(Expr):
    value: Expr
    dtype: str
    _children: ClassVar[tuple[str, ...]] = ("value",)


@dataclass(frozen=True, eq=False)
class Call(Expr):
    """A pure math function: exp log sqrt tanh sigmoid abs floor ceil erf pow fabs..."""
    name: str
    args: tuple
    dtype: str
    _children: ClassVar[tuple[str, ...]] = ("args",)


@dataclass(frozen=True, eq=False)
class LaneMathCall(Call):
    """A float32 call of VECTOR_MATH left scalar in a vectorized loop (its tail, or lanes run
    one by one): computed with texpr's vector-math code in scalars, so it equals what a vector
    lane computes (lower/cpu/vectorize.py makes them; elsewhere scalar calls are libm's)."""


@dataclass(frozen=True, eq=False)
class ExternCall(Call):
    """A call of code texpr does not see into (TVM's call_extern / call_pure_extern /
    call_packed). kind: "extern" (a C function, may have side effects), "pure_extern" (a pure
    scalar C function, usable inside a compute) or "packed" (a function registered with
    te.register_func, called through the runtime; its value is 0 on success)."""
    kind: str = "extern"


@dataclass(frozen=True, eq=False)
class TensorLoad(Expr):
    """tensor[indices] before storage flattening."""
    tensor: object
    indices: tuple
    dtype: str
    _children: ClassVar[tuple[str, ...]] = ("indices",)


@dataclass(frozen=True, eq=False)
class CommReducer(Node):
    """A commutative reducer: combine(lhs, rhs) with an identity element.

    A tuple reducer (argmax: index and value reduced together) holds tuples in lhs, rhs, result
    and identity, one entry per value; a Reduce names the entry it produces (value_index).
    """
    name: str
    lhs: Var
    rhs: Var
    result: Expr
    identity: Expr

    @property
    def size(self):
        return len(self.lhs) if isinstance(self.lhs, tuple) else 1

    def combine(self, a, b):
        from .visitor import substitute
        return substitute(self.result, {self.lhs: a, self.rhs: b})

    def combine_all(self, a, b):
        """The combined values (a tuple) from the tuples a (accumulators) and b (sources)."""
        from .visitor import substitute
        if not isinstance(self.lhs, tuple):
            return (self.combine(a[0], b[0]),)
        vmap = dict(zip(self.lhs, a))
        vmap.update(zip(self.rhs, b))
        return tuple(substitute(r, vmap) for r in self.result)

    def identities(self):
        return self.identity if isinstance(self.identity, tuple) else (self.identity,)

    def substituted(self, vmap):
        """This reducer with vmap applied to its combination and identity: both may use the
        compute's own index variables (an identity that depends on i)."""
        from .visitor import substitute
        def sub(x):
            return tuple(substitute(e, vmap) for e in x) if isinstance(x, tuple) \
                else substitute(x, vmap)
        result, identity = sub(self.result), sub(self.identity)
        if isinstance(result, tuple) and builtins.all(
                a is b for a, b in zip(result + identity, self.result + self.identity)):
            return self
        if result is self.result and identity is self.identity:
            return self
        return CommReducer(self.name, self.lhs, self.rhs, result, identity)


@dataclass(frozen=True, eq=False)
class Reduce(Expr):
    """combiner over `axis` (IterVars) of `source`, counting only points where `where` holds."""
    combiner: CommReducer
    source: Expr
    axis: tuple
    where: Expr
    dtype: str
    value_index: int = 0        # which value of a tuple reducer this is (argmax: 0 index, 1 value)
    _children: ClassVar[tuple[str, ...]] = ("source", "where")


# ----------------------------------------------------------------------------- constructors

def const(value: int | float | bool, dtype: DTypeLike | None = None) -> Expr:
    """A constant expression; without a dtype: int32, float32 or bool from the value.

    >>> import texpr as te
    >>> te.const(1.5).dtype, te.const(3, "int8").dtype
    ('float32', 'int8')
    """
    if dtype is None:
        return convert(value)
    dt = dtypes.normalize(dtype)
    dtypes.check_fits(value, dt)
    return Const(value, dt)


def var(name: str = "v", dtype: DTypeLike = "int32") -> Var:
    """A scalar variable: a symbolic extent (its value is taken from the arrays at call time)
    or a scalar kernel argument.

    >>> import texpr as te
    >>> n = te.var("n")
    >>> A = te.placeholder((n, 4), name="A")
    >>> A.shape[0] is n
    True
    """
    dt = dtypes.normalize(dtype)
    if not isinstance(name, str):
        raise TexprError(f"var name must be a string, got {name!r}")
    return Var(name, dt)


def size_var(name: str = "size", dtype: DTypeLike = "int32") -> Var:
    """TVM's size_var: a var for an extent (texpr takes every extent var's value from the
    arrays, which are never negative).

    >>> import texpr as te
    >>> te.size_var("n").dtype
    'int32'
    """
    return var(name, dtype)


def _bool_operand(x: object, what: str) -> Expr:
    x = convert(x)
    if not dtypes.is_bool(x.dtype):
        raise DTypeError(f"{what} needs boolean operands, got {x} of dtype {x.dtype}")
    return x


def logical_and(a: object, b: object) -> Expr:
    """a && b of boolean expressions."""
    a, b = _bool_operand(a, "and"), _bool_operand(b, "and")
    return BinOp("&&", a, b, "bool")


def logical_or(a: object, b: object) -> Expr:
    """a || b of boolean expressions."""
    a, b = _bool_operand(a, "or"), _bool_operand(b, "or")
    return BinOp("||", a, b, "bool")


def all(*conds: ExprLike | list | tuple) -> Expr:
    """The conjunction of boolean conditions (given one by one or as one list).

    >>> import texpr as te
    >>> i = te.var("i")
    >>> te.all(i >= 0, i < 10).dtype
    'bool'
    """
    if len(conds) == 1 and isinstance(conds[0], (list, tuple)):
        conds = tuple(conds[0])
    if not conds:
        raise TexprError("te.all needs at least one condition")
    out = _bool_operand(conds[0], "te.all")
    for c in conds[1:]:
        out = logical_and(out, c)
    return out


def any(*conds: ExprLike | list | tuple) -> Expr:
    """The disjunction of boolean conditions (given one by one or as one list).

    >>> import texpr as te
    >>> i = te.var("i")
    >>> te.any([i < 0, i >= 10]).dtype
    'bool'
    """
    if len(conds) == 1 and isinstance(conds[0], (list, tuple)):
        conds = tuple(conds[0])
    if not conds:
        raise TexprError("te.any needs at least one condition")
    out = _bool_operand(conds[0], "te.any")
    for c in conds[1:]:
        out = logical_or(out, c)
    return out


def if_then_else(cond: ExprLike, t: ExprLike, f: ExprLike) -> Expr:
    """`t` where `cond` holds, else `f` (only the chosen branch is evaluated: a guard may
    protect a load); the branches are promoted to one dtype.

    >>> import texpr as te
    >>> A = te.placeholder((8,), name="A")
    >>> B = te.compute((8,), lambda i: te.if_then_else(i > 0, A[i] - A[i - 1], 0.0), name="B")
    >>> B.dtype
    'float32'
    """
    cond = _bool_operand(cond, "if_then_else condition")
    if not isinstance(t, Expr) and not isinstance(f, Expr):
        t, f = convert(t), convert(f)
    elif not isinstance(t, Expr):
        t = _scalar_operand(t, f)
    elif not isinstance(f, Expr):
        f = _scalar_operand(f, t)
    t, f = convert(t), convert(f)       # (both are Exprs now: for the type checker)
    dt = dtypes.promote(dtypes.element(t.dtype), dtypes.element(f.dtype))
    return Select(cond, _cast_to(t, dt), _cast_to(f, dt), dt)


# ----------------------------------------------------------------------------- math

_FLOAT_FUNCS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh,
                "sigmoid": np.exp, "erf": np.exp, "floor": np.floor, "ceil": np.ceil}


def _math_dtype(name, dtype):
    """dtype NumPy gives for func(array of dtype): ints become floats for exp etc."""
    if name == "abs":
        return dtype
    fn = _FLOAT_FUNCS[name]
    return fn(np.ones(1, dtype=dtypes.element(dtype))).dtype.name   # ones: log(0) would warn


# the rest of TVM's te math namespace: float in, float out (ints become floats as in NumPy);
# C's libm names (with an f suffix for float32). round is nearbyint (halves to even, as
# np.round); vectorized loops compute them lane by lane.
UNARY_MATH = ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh",
              "atanh", "log2", "log10", "log1p", "exp2", "expm1", "rsqrt", "trunc", "round",
              "nearbyint")
_FLOAT_FUNCS.update({name: np.sin for name in UNARY_MATH})
FLOAT_TESTS = ("isnan", "isinf", "isfinite")      # float -> bool


def call(name: str, *args: Any) -> Expr:
    """The math function `name` (te.exp, te.sin, ...) applied to args, with NumPy's dtype
    rule (integers become floats)."""
    args = tuple(convert(a) for a in args)
    if name in FLOAT_TESTS:
        (x,) = args
        if not dtypes.is_float(x.dtype):
            return Const(name == "isfinite", "bool")     # an integer is finite, never NaN
        return Call(name, (x,), "bool")
    if name == "popcount":
        (x,) = args
        if not dtypes.is_int(x.dtype) or dtypes.is_bool(x.dtype):
            raise DTypeError(f"te.popcount needs an integer operand, got {x} of dtype {x.dtype}")
        return Call("popcount", (x,), x.dtype)
    if name == "fmod":
        a, b = args
        dt = dtypes.promote(a.dtype, b.dtype)
        if not dtypes.is_float(dt):
            raise DTypeError(f"te.fmod needs float operands, got {a.dtype} and {b.dtype}; "
                             "use te.truncmod for integers")
        return Call("fmod", (_cast_to(a, dt), _cast_to(b, dt)), dt)
    if name in ("abs",) + tuple(_FLOAT_FUNCS):
        (x,) = args
        if dtypes.is_bool(x.dtype):
            raise DTypeError(f"te.{name} is not defined for bool input {x}")
        dt = _math_dtype(name, x.dtype)
        if name in ("floor", "ceil", "trunc", "round", "nearbyint") and dtypes.is_int(x.dtype):
            return x.astype(dt)
        return Call(name, (_cast_to(x, dt),), dt)
    if name == "pow":
        a, b = args
        dt = dtypes.promote(a.dtype, b.dtype)
        if not dtypes.is_float(dt):
            dt = "float64"
        return Call("pow", (_cast_to(a, dt), _cast_to(b, dt)), dt)
    raise TexprError(f"unknown math function {name!r}")


#: functions with a cheaper, less accurate float32 variant: te.exp(x, fast=True) & co.
FAST_MATH = ("exp", "exp2", "tanh", "sigmoid")
#: float32 calls texpr computes with its own code on targets with vector math (in vectors
#: and scalars alike: targets/vecmath); other calls and dtypes are libm's
VECTOR_MATH = ("exp", "exp2", "log", "log2", "tanh", "sigmoid", "erf", "pow", "sqrt", "rsqrt",
               "sin", "cos") + tuple("fast_" + n for n in FAST_MATH)


def _maybe_fast(name: str, x: ExprLike, fast: bool) -> Expr:
    """call(name, x), or with fast=True its `fast_<name>` Call: texpr's cheaper float32 version
    on targets with vector math (targets/vecmath; ULP bounds in README.md), the accurate
    function elsewhere (lower/math_calls.py) and for other dtypes."""
    if not isinstance(fast, bool):
        raise TexprError(f"te.{name}: fast must be True or False, got {fast!r}")
    e = call(name, x)
    if fast and isinstance(e, Call) and e.dtype == "float32":
        return Call("fast_" + name, e.args, e.dtype)
    return e


def exp(x: ExprLike, fast: bool = False) -> Expr:
    """Elementwise e**x (float result, as NumPy). fast=True: texpr's cheaper float32 version on
    targets with vector math (accuracy in README), the accurate one elsewhere.

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> te.exp(A[0]).dtype
    'float32'
    """
    return _maybe_fast("exp", x, fast)

def log(x: ExprLike) -> Expr:
    """Elementwise natural logarithm (float result, as NumPy).

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> te.log(A[0]).dtype
    'float32'
    """
    return call("log", x)

def sqrt(x: ExprLike) -> Expr:
    """Elementwise square root (float result, as NumPy).

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> te.sqrt(A[0]).dtype
    'float32'
    """
    return call("sqrt", x)

def tanh(x: ExprLike, fast: bool = False) -> Expr:
    """Elementwise hyperbolic tangent; fast=True: see exp.

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> te.tanh(A[0]).dtype
    'float32'
    """
    return _maybe_fast("tanh", x, fast)

def sigmoid(x: ExprLike, fast: bool = False) -> Expr:
    """Elementwise logistic function 1 / (1 + e**-x); fast=True: see exp.

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> te.sigmoid(A[0]).dtype
    'float32'
    """
    return _maybe_fast("sigmoid", x, fast)

def erf(x: ExprLike) -> Expr:
    """Elementwise Gauss error function (float result).

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> te.erf(A[0]).dtype
    'float32'
    """
    return call("erf", x)

def floor(x: ExprLike) -> Expr:
    """Elementwise rounding down (an integer stays itself, converted as NumPy does).

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> te.floor(A[0]).dtype
    'float32'
    """
    return call("floor", x)

def ceil(x: ExprLike) -> Expr:
    """Elementwise rounding up (an integer stays itself, converted as NumPy does).

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> te.ceil(A[0]).dtype
    'float32'
    """
    return call("ceil", x)

def abs(x: ExprLike) -> Expr:
    """Elementwise absolute value, of the operand's dtype.

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> te.abs(A[0]).dtype
    'float32'
    """
    return call("abs", x)

def power(a: ExprLike, b: ExprLike) -> Expr:
    """Elementwise a**b (te.pow); integer operands give float64, as NumPy.

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> te.power(A[0], 2.0).dtype
    'float32'
    """
    return call("pow", a, b)

def fmod(a: ExprLike, b: ExprLike) -> Expr:
    """Elementwise C fmod of floats: the remainder with the sign of a (te.truncmod for integers).

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> te.fmod(A[0], 3.0).dtype
    'float32'
    """
    return call("fmod", a, b)

def isnan(x: ExprLike) -> Expr:
    """Elementwise test for NaN (bool; always false for integers).

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> te.isnan(A[0]).dtype
    'bool'
    """
    return call("isnan", x)

def isinf(x: ExprLike) -> Expr:
    """Elementwise test for an infinity (bool; always false for integers).

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> te.isinf(A[0]).dtype
    'bool'
    """
    return call("isinf", x)

def isfinite(x: ExprLike) -> Expr:
    """Elementwise test for a finite value (bool; always true for integers).

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> te.isfinite(A[0]).dtype
    'bool'
    """
    return call("isfinite", x)

def popcount(x: ExprLike) -> Expr:
    """Elementwise count of set bits of an integer, of its dtype.

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> te.popcount(A[0].astype("int32")).dtype
    'int32'
    """
    return call("popcount", x)



def _unary(name: str) -> Callable[[ExprLike], Expr]:
    def fn(x: ExprLike) -> Expr:
        return call(name, x)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"Elementwise {name} (C's libm {name}; float result, as NumPy).\n\n"
                  f"    >>> import texpr as te\n    >>> te.{name}(te.const(0.5)).dtype\n"
                  f"    'float32'\n")
    return fn


sin, cos, tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh, log2, log10, log1p, _exp2, \
    expm1, rsqrt, trunc, round, nearbyint = (_unary(n) for n in UNARY_MATH)


def exp2(x: ExprLike, fast: bool = False) -> Expr:
    """Elementwise 2**x (float result, as NumPy); fast=True: see exp.

    >>> import texpr as te
    >>> te.exp2(te.const(3.0)).dtype
    'float32'
    """
    return _maybe_fast("exp2", x, fast)


def max_value(dtype: DTypeLike) -> Const:
    """The largest value of a dtype (inf for floats): the identity of a min reduction.

    >>> import texpr as te
    >>> te.max_value("int8").value
    127
    """
    dt = dtypes.normalize(dtype)
    if dtypes.is_float(dt):
        return Const(math.inf, dt)
    if dt == "bool":
        return Const(True, dt)
    return Const(int(np.iinfo(dt).max), dt)


def min_value(dtype: DTypeLike) -> Const:
    """The smallest value of a dtype (-inf for floats): the identity of a max reduction.

    >>> import texpr as te
    >>> te.min_value("uint8").value
    0
    """
    dt = dtypes.normalize(dtype)
    if dtypes.is_float(dt):
        return Const(-math.inf, dt)
    if dt == "bool":
        return Const(False, dt)
    return Const(int(np.iinfo(dt).min), dt)


def elementwise_min(a: ExprLike, b: ExprLike) -> Expr:
    return _binary("min", a, b)


def elementwise_max(a: ExprLike, b: ExprLike) -> Expr:
    return _binary("max", a, b)


# ----------------------------------------------------------------------------- TVM's division

def _int_operands(a: object, b: object, what: str) -> tuple[Expr, Expr]:
    a = convert(a) if not isinstance(a, Expr) and not isinstance(b, Expr) else a
    if not isinstance(a, Expr):
        a = _scalar_operand(a, b)
    if not isinstance(b, Expr):
        b = _scalar_operand(b, a)
    for x in (a, b):
        if not dtypes.is_int(x.dtype) or dtypes.is_bool(x.dtype):
            raise DTypeError(f"te.{what} needs integer operands, got {x} of dtype {x.dtype}"
                             + ("; use te.fmod for floats" if what == "truncmod" else
                                "; use / for floats" if what == "truncdiv" else ""))
    return a, b


_INT_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
            "//": lambda a, b: a // b if b else 0, "%": lambda a, b: a % b if b else 0,
            "min": min, "max": max}


def _constant_int(e):
    """The value of an integer expression of constants only (what int() of an extent's
    arithmetic gives: no wrapping, extents are small), else None."""
    if isinstance(e, Const):
        return e.value if dtypes.is_int(e.dtype) else None
    if isinstance(e, BinOp) and e.op in _INT_OPS and dtypes.is_int(e.dtype):
        a, b = _constant_int(e.a), _constant_int(e.b)
        return None if a is None or b is None else _INT_OPS[e.op](a, b)
    return None


def _arith(op: str, a: object, b: object) -> Any:
    """a op b of expressions or numbers; with a tensor operand, the elementwise tensor op."""
    from .tensor import Tensor
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        from .broadcast import elementwise
        return elementwise(op, a, b)
    return _binary(op, a if isinstance(a, Expr) or isinstance(b, Expr) else convert(a), b)


def floordiv(a: TensorOrExpr, b: TensorOrExpr) -> Expr | Tensor:
    """a // b rounded towards minus infinity (texpr's `//`; floor(a / b) on floats).

    >>> import texpr as te
    >>> i = te.var("i")
    >>> te.floordiv(i, 4).dtype, te.floordiv(i, 4).same_as(i // 4)
    ('int32', True)
    """
    return _arith("//", a, b)


def floormod(a: TensorOrExpr, b: TensorOrExpr) -> Expr | Tensor:
    """a - floordiv(a, b) * b: the sign of b (texpr's `%`).

    >>> import texpr as te
    >>> i = te.var("i")
    >>> te.floormod(i, 4).same_as(i % 4)
    True
    """
    return _arith("%", a, b)


indexdiv, indexmod = floordiv, floormod        # TVM's index arithmetic is floor division


def _trunc_fix(a, b):
    """Where C's truncation differs from floor division: a nonzero floor remainder whose sign
    (b's) differs from a's. Built from floor operations, so every analysis of `//` and `%`
    (which assume nothing of the operands' signs) stays right."""
    r = _binary("%", a, b)
    if isinstance(b, Const):
        if b.value > 0:
            return r, logical_and(_compare("<", a, 0), _compare("!=", r, 0))
        return r, logical_and(_compare(">", a, 0), _compare("!=", r, 0))
    return r, logical_and(_compare("!=", r, 0), _compare("!=", _compare("<", a, 0),
                                                           _compare("<", b, 0)))


def truncdiv(a: ExprLike, b: ExprLike) -> Expr:
    """a / b rounded towards zero, as C's integer division.

    >>> import texpr as te
    >>> te.truncdiv(te.var("i"), 4).dtype
    'int32'
    """
    a, b = _int_operands(a, b, "truncdiv")
    if dtypes.is_unsigned(a.dtype) and dtypes.is_unsigned(b.dtype):
        return _binary("//", a, b)
    q = _binary("//", a, b)
    r, fix = _trunc_fix(a, b)
    return if_then_else(fix, q + 1, q)


def truncmod(a: ExprLike, b: ExprLike) -> Expr:
    """a - truncdiv(a, b) * b: the sign of a, as C's `%`.

    >>> import texpr as te
    >>> te.truncmod(te.var("i"), 4).dtype
    'int32'
    """
    a, b = _int_operands(a, b, "truncmod")
    if dtypes.is_unsigned(a.dtype) and dtypes.is_unsigned(b.dtype):
        return _binary("%", a, b)
    r, fix = _trunc_fix(a, b)
    return if_then_else(fix, r - b, r)


def div(a: ExprLike, b: ExprLike) -> Expr:
    """TVM's div: true division on floats, truncdiv (C's /) on integers.

    >>> import texpr as te
    >>> te.div(te.var("i"), 2).dtype, te.div(te.const(1.0), 2).dtype
    ('int32', 'float32')
    """
    ea = a if isinstance(a, Expr) else convert(a)
    eb = b if isinstance(b, Expr) else convert(b)
    if dtypes.is_float(ea.dtype) or dtypes.is_float(eb.dtype):
        return _binary("/", a if isinstance(a, Expr) or isinstance(b, Expr) else ea, b)
    return truncdiv(a, b)


def add(a: TensorOrExpr, b: TensorOrExpr) -> Expr | Tensor:
    """a + b of expressions or numbers; with a tensor operand, the elementwise tensor
    (NumPy broadcasting), as TVM's te.add.

    >>> import texpr as te
    >>> A = te.placeholder((2, 3), name="A")
    >>> te.add(A, 1.0).shape == A.shape, te.add(te.var("i"), 1).dtype
    (True, 'int32')
    """
    return _arith("+", a, b)


def subtract(a: TensorOrExpr, b: TensorOrExpr) -> Expr | Tensor:
    """a - b of expressions or numbers; with a tensor operand, the elementwise tensor
    (NumPy broadcasting), as TVM's te.subtract.

    >>> import texpr as te
    >>> A = te.placeholder((2, 3), name="A")
    >>> te.subtract(A, 1.0).shape == A.shape, te.subtract(te.var("i"), 1).dtype
    (True, 'int32')
    """
    return _arith("-", a, b)


def multiply(a: TensorOrExpr, b: TensorOrExpr) -> Expr | Tensor:
    """a * b of expressions or numbers; with a tensor operand, the elementwise tensor
    (NumPy broadcasting), as TVM's te.multiply.

    >>> import texpr as te
    >>> A = te.placeholder((2, 3), name="A")
    >>> te.multiply(A, 1.0).shape == A.shape, te.multiply(te.var("i"), 1).dtype
    (True, 'int32')
    """
    return _arith("*", a, b)
