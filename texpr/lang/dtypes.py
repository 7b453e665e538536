"""dtype names, vector lanes and NumPy-compatible promotion.

A dtype is a string: a scalar name ("float32") or a vector of lanes ("float32x8").
"""
import numpy as np

from ..errors import DTypeError

# (bfloat16 last: a dtype's position is its code in packed calls, extern_calls / packed.py)
SCALAR_DTYPES = ("bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
                 "uint64", "float16", "float32", "float64", "bfloat16")

#: 16-bit floats: stored as 16 bits, computed in float32 (lower/half_precision.py), each
#: result rounded to nearest even as NumPy / ml_dtypes do
HALF_FLOATS = ("float16", "bfloat16")
FLOATS = ("float16", "bfloat16", "float32", "float64")

C_TYPES = {
    "bool": "bool", "int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t",
    "uint16": "uint16_t", "int32": "int32_t", "uint32": "uint32_t", "int64": "int64_t",
    "uint64": "uint64_t", "float16": "_Float16",
    # bfloat16: its bits (C has no portable type); only converted, never computed with
    "bfloat16": "uint16_t", "float32": "float", "float64": "double",
}


def split_lanes(dtype):
    """'float32x8' -> ('float32', 8); 'float32' -> ('float32', 1)."""
    if "x" in dtype:
        base, lanes = dtype.rsplit("x", 1)
        return base, int(lanes)
    return dtype, 1


def element(dtype):
    return split_lanes(dtype)[0]


def lanes(dtype):
    return split_lanes(dtype)[1]


def with_lanes(dtype, n):
    base = element(dtype)
    return base if n == 1 else f"{base}x{n}"


def numpy_dtype(dtype):
    """NumPy's dtype of a scalar dtype name. NumPy has no bfloat16: ml_dtypes registers it,
    imported on first use (its import alone takes ~0.75 s, too much for every `import texpr`)."""
    if dtype == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(dtype)


def normalize(dtype):
    """Accept numpy dtypes and names; return the canonical scalar name or raise. A bfloat16
    (named) registers NumPy's bfloat16 (numpy_dtype), so np.dtype("bfloat16") works after."""
    if isinstance(dtype, str) and dtype in SCALAR_DTYPES:
        if dtype == "bfloat16":
            numpy_dtype(dtype)
        return dtype
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise DTypeError(f"unknown dtype {dtype!r}; expected one of {', '.join(SCALAR_DTYPES)}") from None
    if name not in SCALAR_DTYPES:
        raise DTypeError(f"unsupported dtype {dtype!r}; expected one of {', '.join(SCALAR_DTYPES)}")
    return name


def is_float(dtype):
    return element(dtype) in FLOATS


def is_half(dtype):
    """float16 or bfloat16 (scalar or vector): stored narrow, computed in float32."""
    return element(dtype) in HALF_FLOATS


def is_int(dtype):
    e = element(dtype)
    return e.startswith("int") or e.startswith("uint")


def is_unsigned(dtype):
    return element(dtype).startswith("uint")


def is_bool(dtype):
    return element(dtype) == "bool"


def bits(dtype):
    e = element(dtype)
    return 8 if e == "bool" else int("".join(c for c in e if c.isdigit()))


def promote(a, b):
    """Result dtype of a binary op, following NumPy 2's rules (NEP 50).

    `a`/`b` are dtype names, or Python scalars (weakly typed, as in NumPy).
    """
    ta = a if isinstance(a, str) else _py_scalar(a)
    tb = b if isinstance(b, str) else _py_scalar(b)
    try:
        return np.result_type(ta, tb).name
    except TypeError as e:
        raise DTypeError(f"cannot combine {a!r} and {b!r}: {e}") from None


def _py_scalar(v):
    # bool before int: bool is a subclass of int.
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, (int, np.integer)):
        return 0
    return 0.0


def check_fits(value, dtype):
    """Raise when a Python scalar cannot be represented in `dtype` (never truncate silently)."""
    if is_int(dtype) and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        info = np.iinfo(element(dtype))
        if not info.min <= int(value) <= info.max:
            raise DTypeError(f"constant {value} does not fit in {element(dtype)} "
                             f"(range {info.min}..{info.max})")
    if is_int(dtype) and isinstance(value, float):
        if value != int(value):
            raise DTypeError(f"constant {value} is not an integer; cannot make it {dtype}")
