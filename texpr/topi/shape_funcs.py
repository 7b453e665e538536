"""Shape functions: an operator's output shape from its input shapes, without building or
running anything (what TVM relay registered per op as a `shape_func`, so that callers can
allocate outputs of dynamic-shape kernels).

texpr derives them from the operators themselves: the topi compute is declared on
placeholders of the given shapes (cheap: no schedule, no lowering) and its output shape is
read back, simplified. Symbolic extents (te.var) give symbolic output extents, e.g. the
floor-division formulas of a strided convolution; the operator's own checks run too, so a
shape it refuses raises its TexprError here.

    n, h = te.var("n"), te.var("h")
    topi.shape_func(topi.nn.conv2d_nchw, (n, 3, h, h), (64, 3, 7, 7), stride=2, padding=3)
    # -> (n, 64, (h + 1) // 2, (h + 1) // 2)
    topi.evaluate_shape(_, {n: 8, h: 224})          # -> (8, 64, 112, 112)
"""
from typing import Any, Mapping

from ..errors import TexprError
from ..lang.expr import Const, Expr, Var
from ..lang.tensor import Tensor, placeholder


def _is_shape(x):
    return isinstance(x, (tuple, list)) and all(isinstance(d, (int, Expr)) for d in x)


def _input(k, spec):
    """A Tensor for input k: a Tensor as it is, a shape (float32), or (shape, dtype)."""
    if isinstance(spec, Tensor):
        return spec
    if _is_shape(spec):
        return placeholder(tuple(spec), name=f"input{k}")
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and _is_shape(spec[0]) and \
            isinstance(spec[1], str):
        return placeholder(tuple(spec[0]), dtype=spec[1], name=f"input{k}")
    raise TexprError(f"shape_func: input {k} must be a shape (a tuple of ints and te.vars), "
                     f"(shape, dtype) or a Tensor, got {spec!r}; give the operator's other "
                     "arguments by keyword")


def simplify_dim(d):
    """An extent as an int when it is constant, else its simplified expression.

    >>> import texpr as te
    >>> from texpr.topi.shape_funcs import simplify_dim
    >>> h = te.var("h")
    >>> simplify_dim(te.const(3) * 4), simplify_dim(h + 2 - 2)
    (12, h)
    """
    from ..lower.analysis.arith import simplify
    if isinstance(d, int):
        return d
    d = simplify(d)
    return d.value if isinstance(d, Const) else d


def _shape(t):
    return tuple(simplify_dim(d) for d in t.shape)


def shape_func(op: Any, *inputs: Any, **attrs: Any) -> Any:
    """The output shape of topi operator `op` on inputs of these shapes: a tuple of ints
    (constant extents) and expressions (symbolic ones); a list of them for an operator with
    several outputs.

    inputs: one per tensor argument of `op`, in order: a shape (float32), (shape, dtype) or
    a Tensor. The operator's other arguments (stride, padding, pool_type, ...) by keyword.

    >>> import texpr as te, texpr.topi as topi
    >>> n, h = te.var("n"), te.var("h")
    >>> topi.shape_func(topi.nn.conv2d_NCHWc, (n, 4, h, h, 8), (8, 4, 3, 3, 8, 8), stride=2,
    ...                 padding=1)
    (n, 8, (h + 1) // 2, (h + 1) // 2, 8)
    >>> topi.shape_func(topi.nn.dense, (n, 64), (10, 64))
    (n, 10)
    >>> topi.shape_func(topi.sparse.sparse_lengths_sum, (1000, 16), ((te.var("L"),), "int32"),
    ...                 ((n,), "int32"))
    (n, 16)
    """
    if not callable(op):
        raise TexprError(f"shape_func: expected a topi operator (a function), got {op!r}")
    out = op(*(_input(k, x) for k, x in enumerate(inputs)), **attrs)
    if isinstance(out, Tensor):
        return _shape(out)
    if isinstance(out, (tuple, list)) and all(isinstance(t, Tensor) for t in out):
        return [_shape(t) for t in out]
    raise TexprError(f"shape_func: {getattr(op, '__name__', op)} returned {type(out).__name__}, "
                     "not a tensor")


def evaluate_shape(shape: Any, binding: Mapping[Any, int]) -> tuple[int, ...]:
    """A shape with its variables given values: binding maps te.vars (or their names) to ints.

    >>> import texpr as te, texpr.topi as topi
    >>> n, h = te.var("n"), te.var("h")
    >>> topi.evaluate_shape((n, 8, (h - 1) // 2 + 1), {n: 4, "h": 225})
    (4, 8, 113)
    >>> topi.evaluate_shape((n, h), {n: 4})
    Traceback (most recent call last):
      ...
    texpr.errors.TexprError: evaluate_shape: dimension 1 (h) needs a value of h
    """
    from ..lang.visitor import free_vars
    from ..targets.runtime.module import eval_int
    out = []
    for k, d in enumerate(shape):
        if isinstance(d, int):
            out.append(d)
            continue
        vals = {}
        for v in free_vars(d):
            x = binding.get(v, binding.get(v.name)) if isinstance(v, Var) else None
            if x is None:
                raise TexprError(f"evaluate_shape: dimension {k} ({d}) needs a value of {v.name}")
            vals[v] = int(x)
        r = eval_int(d, vals)
        if r is None:
            raise TexprError(f"evaluate_shape: dimension {k} ({d}) is not an integer expression")
        out.append(int(r))
    return tuple(out)
