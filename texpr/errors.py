"""Every user mistake raises a subclass of TexprError, so callers can catch one type.

A failed check inside texpr itself (a compiler bug, not bad input) raises InternalError, which
is deliberately not a TexprError: catching TexprError must never swallow a texpr bug.
"""


class TexprError(Exception):
    """Base class of all errors texpr raises for bad input.

    >>> import texpr as te
    >>> try:
    ...     te.placeholder((4,), dtype="float7")
    ... except te.TexprError as e:
    ...     print(type(e).__name__)
    DTypeError
    """


class DTypeError(TexprError, TypeError):
    """An expression mixes dtypes in a way that has no safe meaning.

    >>> import texpr as te
    >>> try:
    ...     te.var("i") / 2
    ... except te.DTypeError as e:
    ...     print(str(e).split(":")[0])
    '/' on integers (i / 2)
    """


class ScheduleError(TexprError):
    """A schedule primitive was asked for something illegal.

    >>> import texpr as te
    >>> A = te.placeholder((8,), name="A")
    >>> B = te.compute((8,), lambda i: A[i] * 2.0, name="B")
    >>> s = te.create_schedule(B.op)
    >>> xo, xi = s[B].split(B.op.axis[0], factor=4)
    >>> try:
    ...     s[B].split(B.op.axis[0], factor=2)
    ... except te.ScheduleError as e:
    ...     print(e)
    stage B: split: axis i is not a leaf axis (it was already split or fused)
    """


class LoweringError(TexprError):
    """A schedule could not be lowered to a loop program.

    >>> import texpr as te
    >>> A = te.placeholder((8,), name="A")
    >>> B = te.compute((8,), lambda i: A[i] + 1.0, name="B")
    >>> try:
    ...     te.lower(te.create_schedule(B.op), [A, "B"])
    ... except te.LoweringError as e:
    ...     print(e)
    argument 1 is 'B'; expected a tensor or a scalar te.var
    """


class ArgumentError(TexprError, ValueError):
    """A compiled module was called with arrays that do not fit its signature.

    For example, a kernel built for float32 arrays of length n called with a float64 array::

        f = te.build(s, [A, B], target="c")
        f(np.zeros(8), np.zeros(8, "float32"))     # ArgumentError naming A and its dtype
    """


class TagScopeError(TexprError, ValueError):
    """te.tag_scope used inside another one (TVM raises ValueError too)."""


class DifferentiationError(TexprError):
    """te.gradient met an operation with no derivative (an extern call, fmod, a tuple reducer),
    or a gradient was asked of a texpr.torch operator (texpr kernels have no backward)."""


class SymbolicValueError(TexprError):
    """A symbolic expression (a te.var extent) was asked for a Python int (int(), an index, a
    NumPy shape) before a kernel call gives it a value. Not a TypeError, so that NumPy passes
    it on instead of replacing it with its own message.

    >>> import texpr as te
    >>> A = te.placeholder((te.var("n"),), name="A")
    >>> try:
    ...     int(A.shape[0])
    ... except te.SymbolicValueError as e:
    ...     print(e)
    int() of the symbolic expression n: its value is known only when the kernel is called
    """


class BuildError(TexprError):
    """The target compiler rejected generated source (a bug in texpr or a missing toolchain).

    Example (B's body calls a C function that nothing linked into the kernel defines)::

        B = te.compute((8,), lambda i: te.call_extern("float32", "my_scale", A[i]), name="B")
        try:
            f = te.build(te.create_schedule(B.op), [A, B], target="c")
        except te.BuildError as e:
            print(e)     # kernel ... calls my_scale, which nothing linked into it defines: ...
    """


REPORT_LINE = ("This is a bug in texpr, not in your code: please report it with the schedule "
               "that triggers it.")


class InternalError(RuntimeError):
    """A check inside texpr failed: a bug in texpr, not a mistake in the caller's input.

    Not a TexprError on purpose, so that `except TexprError` (and tests that accept a
    TexprError for bad input) never hide it. The message ends with a line asking for a report.

    >>> import texpr as te
    >>> print(te.InternalError("lowering: an unbound loop variable"))
    lowering: an unbound loop variable
    This is a bug in texpr, not in your code: please report it with the schedule that triggers it.
    """

    def __init__(self, message):
        message = str(message)
        if not message.endswith(REPORT_LINE):        # idempotent, so the error pickles
            message = f"{message}\n{REPORT_LINE}"
        super().__init__(message)


class PackedFuncError(TexprError, RuntimeError):
    """A Python function called by a kernel (te.call_packed) raised; the original exception
    is the __cause__. The kernel stopped at that call.

    Example (a kernel that calls back into Python, te.call_packed)::

        try:
            f(a, b)                         # the registered function raised ValueError
        except te.PackedFuncError as e:
            print(repr(e.__cause__))        # the original ValueError
    """


class HybridScriptError(TexprError):
    """A hybrid script (te.hybrid.script) uses syntax or names it does not support; the
    message names the function and the line."""


class ExportError(TexprError):
    """texpr.export was given something a self-contained C bundle cannot hold.

    A kernel built for a GPU target, or an output directory whose parent does not exist;
    for example::

        texpr.export.export_library(cuda_module, "out")   # ExportError naming the target
    """
