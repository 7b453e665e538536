"""The functions a hybrid script may call, in their two meanings: building texpr expressions
(parsing) and computing on NumPy values (software emulation, runtime.py). One table, so the two
cannot drift apart."""
import math

import numpy as np

from ..lang import dtypes
from ..lang.expr import (Cast, Const, Expr, convert, elementwise_max, elementwise_min,
                         max_value, min_value)
from ..lang import expr as E

# loop functions: name -> the For kind of the loop (const_range is unrolled while parsing)
LOOP_KINDS = {"range": "serial", "const_range": None, "parallel": "parallel",
              "vectorize": "vectorized", "unroll": "unrolled", "bind": "thread"}
THREAD_TAGS = ("blockIdx.x", "blockIdx.y", "blockIdx.z", "threadIdx.x", "threadIdx.y",
               "threadIdx.z")
CAST_NAMES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
              "float16", "float32", "float64")
# TVM's Target.current().max_num_threads for its GPU targets; texpr's GPU Target records say
# the same (Target.max_threads_per_block).
MAX_NUM_THREADS = 1024


def _is_py(v):
    return isinstance(v, (bool, int, float, np.generic))


def _unary(name, py):
    def build(x):
        if _is_py(x):
            return py(x)
        return E.call(name, x)
    return build


def popcount(x):
    """The number of set bits of an integer expression (in its own width)."""
    if _is_py(x):
        return bin(int(x) & 0xFFFFFFFF).count("1")
    x = convert(x)
    if not dtypes.is_int(x.dtype):
        raise TypeError(f"popcount needs an integer operand, got dtype {x.dtype}")
    if hasattr(E, "popcount"):                    # te.popcount, where the language has it
        return E.popcount(x)
    # SWAR bit count on the unsigned value (any target, no intrinsic needed)
    bits = dtypes.bits(x.dtype)
    ut = f"uint{bits}"
    u = Cast(x, ut) if x.dtype != ut else x
    m1, m2, m4 = (int("55" * (bits // 8), 16), int("33" * (bits // 8), 16),
                  int("0f" * (bits // 8), 16))
    u = u - ((u >> Const(1, ut)) & Const(m1, ut))
    u = (u & Const(m2, ut)) + ((u >> Const(2, ut)) & Const(m2, ut))
    u = (u + (u >> Const(4, ut))) & Const(m4, ut)
    total = u
    for s in (8, 16, 32)[:{8: 0, 16: 1, 32: 2, 64: 3}[bits]]:
        total = total + (total >> Const(s, ut))
    total = total & Const(0xFF if bits <= 8 else 0x7F, ut)
    return Cast(total, x.dtype)


def cast(dtype, x):
    if _is_py(x):
        return Const(x, dtype)
    if not isinstance(x, Expr):
        raise TypeError(f"{dtype}() casts one expression, got {x!r}")
    return x.astype(dtype)


def _minmax(pick, build):
    def fn(*args):
        if len(args) != 2:
            raise TypeError(f"takes 2 arguments, got {len(args)}")
        a, b = args
        if _is_py(a) and _is_py(b):
            return pick(a, b)
        return build(a, b)
    return fn


def ceil_div(a, b):
    return (a + b - 1) // b


# name -> function building the value while parsing (arguments: parsed values)
EXPR_FUNCS = {
    "sqrt": _unary("sqrt", math.sqrt), "exp": _unary("exp", math.exp),
    "log": _unary("log", math.log), "tanh": _unary("tanh", math.tanh),
    "sigmoid": _unary("sigmoid", lambda x: 1.0 / (1.0 + math.exp(-x))),
    "abs": _unary("abs", abs),
    "power": lambda a, b: a ** b if _is_py(a) and _is_py(b) else E.power(a, b),
    "popcount": popcount,
    "max": _minmax(max, elementwise_max), "min": _minmax(min, elementwise_min),
    "ceil_div": ceil_div,
    "likely": lambda c: c,
    "inf": lambda dt: max_value(dt), "ninf": lambda dt: min_value(dt),
    "max_num_threads": lambda allow_none=True: MAX_NUM_THREADS,
}
for _n in CAST_NAMES:
    EXPR_FUNCS[_n] = (lambda dt: lambda x: cast(dt, x))(_n)


# ----------------------------------------------------------------------------- emulation

def _np_popcount(x):
    v = int(x)
    bits = np.asarray(x).dtype.itemsize * 8 if isinstance(x, np.generic) else 32
    return bin(v & ((1 << bits) - 1)).count("1")


def _np_alloc(shape, dtype="float32", scope="global"):
    return np.zeros(tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else
                                            (shape,))), dtype=dtype)


class _bind:
    def __init__(self, tag, extent):
        self.extent = int(extent)

    def __iter__(self):
        return iter(range(self.extent))


def _np_minmax(pick):
    return lambda a, b: pick(a, b)


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


EMULATION_GLOBALS = {
    "output_tensor": _np_alloc, "allocate": _np_alloc,
    "const_range": range, "parallel": range, "vectorize": range, "unroll": range,
    "bind": _bind,
    "sqrt": np.sqrt, "exp": np.exp, "log": np.log, "tanh": np.tanh, "sigmoid": _np_sigmoid,
    "power": np.power, "popcount": _np_popcount,
    "ceil_div": ceil_div, "likely": lambda c: c,
    "inf": lambda dt: np.iinfo(dt).max if np.dtype(dt).kind in "iu" else np.inf,
    "ninf": lambda dt: np.iinfo(dt).min if np.dtype(dt).kind in "iu" else -np.inf,
    "max_num_threads": lambda allow_none=True: MAX_NUM_THREADS,
}
for _n in CAST_NAMES:
    EMULATION_GLOBALS[_n] = getattr(np, _n)
