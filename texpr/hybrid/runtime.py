"""Software emulation: a hybrid script called with NumPy arrays runs as plain Python, with the
script's functions (output_tensor, allocate, const_range, bind, sqrt, ...) bound to NumPy
versions. The function's module globals are not touched: it runs on a copy of them. A list
argument becomes a NumPy array, so `b[i, j]` means what it means to the compiled script."""
import types

import numpy as np

from .intrinsics import EMULATION_GLOBALS


def emulate(func, args):
    env = dict(func.__globals__)
    env.update(EMULATION_GLOBALS)
    run = types.FunctionType(func.__code__, env, func.__name__, func.__defaults__,
                             func.__closure__)
    return run(*[np.array(a) if isinstance(a, list) else a for a in args])
