"""The derivative of a scalar expression with respect to one leaf of it.

The leaf is a tensor load (an input element read at given indices) or a variable (a reducer's
operand). Zero is None, so unrelated branches vanish instead of building `0 * x` terms.
Only value positions carry derivatives: indices, conditions and integer expressions do not.
"""
import math

from ...errors import DifferentiationError
from .. import dtypes
from ..expr import (BinOp, Call, Cast, Cmp, Const, ExternCall, Not, Reduce, Select, TensorLoad,
                    Var, call, if_then_else, structural_equal)


def is_float(e):
    return dtypes.is_float(dtypes.element(e.dtype))


def one(dt):
    return Const(1.0, dt)


def add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def mul(a, b):
    """a * b where either may be None (zero)."""
    if a is None or b is None:
        return None
    if isinstance(a, Const) and a.value == 1:
        return b
    if isinstance(b, Const) and b.value == 1:
        return a
    return a * b


def neg(a):
    return None if a is None else -a


def _unary_rule(name, x, s):
    """d name(x) / dx as an expression of x (s: the call itself); a fast_<name> variant
    (te.exp(x, fast=True) & co.) has the derivative of name, in terms of itself."""
    dt = x.dtype
    if name.startswith("fast_"):
        name = name[len("fast_"):]
    if name == "exp":
        return s
    if name == "log":
        return one(dt) / x
    if name == "sqrt":
        return Const(0.5, dt) / s
    if name == "tanh":
        return one(dt) - s * s
    if name == "sigmoid":
        return s * (one(dt) - s)
    if name == "abs":
        return if_then_else(x >= Const(0, dt), one(dt), Const(-1.0, dt))
    if name == "erf":
        return Const(2.0 / math.sqrt(math.pi), dt) * call("exp", -(x * x))
    if name == "sin":
        return call("cos", x)
    if name == "cos":
        return -call("sin", x)
    if name == "log1p":
        return one(dt) / (one(dt) + x)
    if name == "expm1":
        return call("exp", x)
    if name == "log2":
        return one(dt) / (x * Const(math.log(2.0), dt))
    if name == "log10":
        return one(dt) / (x * Const(math.log(10.0), dt))
    if name == "exp2":
        return s * Const(math.log(2.0), dt)
    if name == "rsqrt":
        return Const(-0.5, dt) * s / x
    return None


_STEP_FUNCTIONS = ("floor", "ceil", "trunc", "round", "nearbyint")


def derivative(e, is_leaf):
    """d e / d leaf, where is_leaf(node) says which node is the leaf; None when zero."""
    memo = {}

    def d(n):
        key = id(n)
        if key not in memo:
            memo[key] = (n, go(n))
        return memo[key][1]

    def go(n):
        if is_leaf(n):
            return one(n.dtype)
        if not is_float(n) or isinstance(n, (Const, Var, TensorLoad, Cmp, Not)):
            return None
        if isinstance(n, Cast):
            dv = d(n.value)
            return None if dv is None else dv.astype(n.dtype)
        if isinstance(n, Select):
            dt_, df_ = d(n.t), d(n.f)
            if dt_ is None and df_ is None:
                return None
            zero = Const(0.0, n.dtype)
            return if_then_else(n.cond, zero if dt_ is None else dt_, zero if df_ is None else df_)
        if isinstance(n, BinOp):
            return binop(n)
        if isinstance(n, ExternCall):
            raise DifferentiationError(f"cannot differentiate the external call {n.name!r} "
                                    f"in {e}")
        if isinstance(n, Call):
            return call_rule(n)
        if isinstance(n, Reduce):
            raise DifferentiationError(f"a reduction inside an expression ({n}) is not differentiable "
                                    "here; reductions are differentiated as a compute's body")
        raise DifferentiationError(f"cannot differentiate {type(n).__name__} node {n}")

    def binop(n):
        a, b = n.a, n.b
        if n.op in ("+", "-"):
            da, db = d(a), d(b)
            return add(da, db) if n.op == "+" else add(da, neg(db))
        if n.op == "*":
            return add(mul(d(a), b), mul(a, d(b)))
        if n.op == "/":
            da, db = d(a), d(b)
            return add(None if da is None else da / b,
                       None if db is None else -(a * db) / (b * b))
        if n.op in ("min", "max"):
            da, db = d(a), d(b)
            if da is None and db is None:
                return None
            zero = Const(0.0, n.dtype)
            take_a = a <= b if n.op == "min" else a >= b
            return if_then_else(take_a, zero if da is None else da, zero if db is None else db)
        raise DifferentiationError(f"cannot differentiate the operator {n.op!r} in {n}")

    def call_rule(n):
        if n.name in _STEP_FUNCTIONS:
            return None
        if n.name == "pow":
            a, b = n.args
            da, db = d(a), d(b)
            ta = None if da is None else mul(b * call("pow", a, b - one(b.dtype)), da)
            tb = None if db is None else mul(n * call("log", a), db)
            return add(ta, tb)
        if len(n.args) != 1:
            raise DifferentiationError(f"cannot differentiate the function {n.name!r} in {n}")
        (x,) = n.args
        dx = d(x)
        if dx is None:
            return None
        rule = _unary_rule(n.name, x, n)
        if rule is None:
            raise DifferentiationError(f"cannot differentiate the function {n.name!r} in {n}")
        return mul(rule, dx)

    return d(e)


def value_loads(e, tensor):
    """The distinct loads of `tensor` in value positions of e (those a derivative flows
    through), in order of first appearance."""
    out = []

    def visit(n):
        if isinstance(n, TensorLoad):
            if same_tensor(n.tensor, tensor) and not any(structural_equal(n, o) for o in out):
                out.append(n)
            return
        if not is_float(n) and not isinstance(n, Cast):
            return
        if isinstance(n, Select):
            visit(n.t)
            visit(n.f)
        elif isinstance(n, BinOp):
            visit(n.a)
            visit(n.b)
        elif isinstance(n, Cast):
            if is_float(n):
                visit(n.value)
        elif isinstance(n, Call):
            for a in n.args:
                visit(a)
        elif isinstance(n, Reduce):
            visit(n.source)
    visit(e)
    return out


def same_tensor(a, b):
    return a.op is b.op and a.value_index == b.value_index


def load_leaf(load):
    """is_leaf for one load: the same tensor read at structurally equal indices."""
    def is_leaf(n):
        return isinstance(n, TensorLoad) and same_tensor(n.tensor, load.tensor) and \
            len(n.indices) == len(load.indices) and \
            all(structural_equal(a, b) for a, b in zip(n.indices, load.indices))
    return is_leaf
