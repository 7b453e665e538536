"""Hybrid script (TVM's te.hybrid): write an operator as a Python loop program.

    @te.hybrid.script
    def outer(n, m, a, b):
        c = output_tensor((n, m), a.dtype)
        for i in range(n):
            for j in range(m):
                c[i, j] = a[i] * b[j]
        return c

Called with texpr tensors (and te.vars / numbers), the function is parsed into a HybridOp
(texpr/lang/hybrid_op.py) and returns its output tensor(s), to schedule and build like any
other. Called with NumPy arrays, it runs as plain Python (runtime.py) and returns NumPy arrays:
the reference the compiled kernel is checked against.

te.hybrid.build(s, inputs, outputs) goes the other way: a schedule's loop nest written out as
a script (texpr/targets/hybrid_script.py), held in a HybridModule (module.py) that runs and
parses like a @script function.
"""
import functools

import numpy as np

from ..lang.expr import Expr
from ..lang.tensor import Tensor
from .module import HybridModule


class HybridFunction:
    """A function decorated with @script. source: its text, for a function made from
    generated source (te.hybrid.build) that inspect cannot find; None: read by inspect.

    >>> import numpy as np, texpr as te
    >>> @te.hybrid.script
    ... def double(a):
    ...     b = output_tensor(a.shape, a.dtype)
    ...     for i in range(a.shape[0]):
    ...         b[i] = a[i] * 2.0
    ...     return b
    >>> double, double(np.ones(3, "float32"))                  # NumPy in: runs as Python
    (<hybrid script double>, array([2., 2., 2.], dtype=float32))
    """

    def __init__(self, func, source=None):
        self.func = func
        self.source = source
        functools.update_wrapper(self, func)

    def __call__(self, *args):
        if _symbolic(args):
            from .parser import parse
            return parse(self, args)
        from .runtime import emulate
        return emulate(self.func, args)

    def __repr__(self):
        return f"<hybrid script {self.func.__name__}>"


def _symbolic(args):
    for a in args:
        if isinstance(a, (Tensor, Expr)):
            return True
        if isinstance(a, (tuple, list)) and not isinstance(a, np.ndarray) and _symbolic(a):
            return True
    return False


def script(func):
    """Decorator: the function becomes a hybrid script (see the module docstring).

    >>> import texpr as te
    >>> @te.hybrid.script
    ... def double(a):
    ...     b = output_tensor(a.shape, a.dtype)
    ...     for i in range(a.shape[0]):
    ...         b[i] = a[i] * 2.0
    ...     return b
    >>> B = double(te.placeholder((8,), name="A"))             # tensors in: a HybridOp
    >>> B.shape, B.dtype
    ((8,), 'float32')
    """
    if isinstance(func, HybridFunction):
        return func
    if not callable(func) or not hasattr(func, "__code__"):
        from ..errors import HybridScriptError
        raise HybridScriptError(f"te.hybrid.script decorates a Python function, got {func!r}")
    return HybridFunction(func)


def build(sch, inputs, outputs, name="hybrid_func"):
    """The schedule's loop nest written back as a hybrid script: a HybridModule whose
    get_source() is the Python text; called with NumPy arrays it runs that text in Python,
    called with tensors / te.vars it parses it into a new HybridOp (TVM's te.hybrid.build).
    inputs: the script's parameters (tensors, te.vars), outputs: the tensors it returns.

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> B = te.compute((4,), lambda i: A[i] + 1.0, name="B")
    >>> mod = te.hybrid.build(te.create_schedule(B.op), [A], [B], name="add_one")
    >>> print(mod.get_source(), end="")
    def add_one(A):
        B = output_tensor((4,), 'float32')
        # stage B
        for i in range(4):
            B[i] = A[i] + float32(1.0)
        return B
    """
    # the lowering is a later layer than the hybrid frontend: imported when used
    from ..targets.hybrid_script import build as build_script
    return build_script(sch, inputs, outputs, name)


__all__ = ["script", "HybridFunction", "HybridModule", "build"]
