"""Tensors and the operations that produce them: placeholder (an input) and compute."""
import inspect
import numbers

from . import dtypes
from ..errors import DTypeError, TexprError
from .expr import Const, Expr, Reduce, TensorLoad, Var, convert
from .visitor import walk


class Range:
    """[min, min + extent) with expression bounds."""
    __slots__ = ("min", "extent")

    def __init__(self, min, extent):
        self.min = convert(min)
        self.extent = convert(extent)

    def __repr__(self):
        return f"range(min={self.min}, ext={self.extent})"


class IterVar:
    """A loop variable with its domain. kind: 'data', 'reduce' or 'thread'."""

    def __init__(self, var, dom, kind, thread_tag=None):
        self.var = var
        self.dom = dom
        self.kind = kind
        self.thread_tag = thread_tag

    @property
    def name(self):
        return self.var.name

    def __repr__(self):
        return f"IterVar({self.var.name}, {self.dom}, {self.kind})"

    # An IterVar used in arithmetic behaves as its variable (TVM allows `i + 1` on axes).
    def _v(self):
        return self.var

    def __add__(self, o): return self.var + o
    def __radd__(self, o): return o + self.var
    def __sub__(self, o): return self.var - o
    def __rsub__(self, o): return o - self.var
    def __mul__(self, o): return self.var * o
    def __rmul__(self, o): return o * self.var
    def __floordiv__(self, o): return self.var // o
    def __mod__(self, o): return self.var % o
    def __lt__(self, o): return self.var < o
    def __le__(self, o): return self.var <= o
    def __gt__(self, o): return self.var > o
    def __ge__(self, o): return self.var >= o
    def __neg__(self): return -self.var

    # `axis == 0` builds a comparison (its truth value, if Python asks, is identity)
    def __eq__(self, o): return self.var == (o.var if isinstance(o, IterVar) else o)
    def __ne__(self, o): return self.var != (o.var if isinstance(o, IterVar) else o)
    __hash__ = object.__hash__


def _as_shape(shape, what):
    if isinstance(shape, (numbers.Integral, Expr)):
        shape = (shape,)
    out = []
    for d, s in enumerate(shape):
        if isinstance(s, IterVar):
            s = s.var
        if isinstance(s, bool) or not isinstance(s, (numbers.Integral, Expr)):
            raise TexprError(f"{what}: dimension {d} of the shape is {s!r}; expected an int or te.var")
        s = convert(s)
        if not dtypes.is_int(s.dtype):
            raise DTypeError(f"{what}: dimension {d} of the shape has dtype {s.dtype}; expected an integer")
        if isinstance(s, Const) and s.value < 0:
            raise TexprError(f"{what}: dimension {d} of the shape is negative ({s.value})")
        out.append(s)
    return tuple(out)


class Operation:
    """Base of operations; each has a name and produces output tensors."""

    def __init__(self, name, tag="", attrs=None):
        self.name = name
        self.tag = tag
        self.attrs = dict(attrs or {})
        self._outputs = {}

    def output(self, i=0):
        t = self._outputs.get(i)
        if t is None:
            t = self._outputs[i] = Tensor(self, i)
        return t

    @property
    def num_outputs(self):
        return 1

    def input_tensors(self):
        return []

    def __repr__(self):
        return f"{type(self).__name__}({self.name})"


class PlaceholderOp(Operation):
    def __init__(self, name, shape, dtype):
        super().__init__(name)
        self.shape = shape
        self.dtype = dtype


class ComputeOp(Operation):
    """out[axis] = body, where body may be a top-level Reduce over reduce_axis."""

    def __init__(self, name, axis, body, tag="", attrs=None):
        super().__init__(name, tag, attrs)
        self.axis = list(axis)
        self.body = body
        self.reduce_axis = list(body.axis) if isinstance(body, Reduce) else []
        self.dtype = body.dtype
        self.shape = tuple(iv.dom.extent for iv in self.axis)

    def input_tensors(self):
        seen, out = set(), []
        for n in walk(self.body):
            if isinstance(n, TensorLoad) and id(n.tensor) not in seen:
                seen.add(id(n.tensor))
                out.append(n.tensor)
        for iv in self.reduce_axis:
            for e in (iv.dom.min, iv.dom.extent):
                for n in walk(e):
                    if isinstance(n, TensorLoad) and id(n.tensor) not in seen:
                        seen.add(id(n.tensor))
                        out.append(n.tensor)
        return out


class Tensor:
    """The output of an operation. Indexing gives a TensorLoad expression."""

    def __init__(self, op, value_index=0):
        self.op = op
        self.value_index = value_index

    @property
    def shape(self):
        if self.value_index:            # another output of a multi-output op
            return self.op.output_shape(self.value_index)
        return self.op.shape

    @property
    def dtype(self):
        if self.value_index:
            return self.op.output_dtype(self.value_index)
        return self.op.dtype

    @property
    def name(self):
        return self.op.name

    @property
    def ndim(self):
        return len(self.op.shape)

    def __getitem__(self, idx):
        if not isinstance(idx, tuple):
            idx = (idx,)
        if len(idx) != self.ndim:
            raise TexprError(f"tensor {self.name} has {self.ndim} dimension(s) but was indexed "
                             f"with {len(idx)} index(es)")
        out = []
        for d, i in enumerate(idx):
            if isinstance(i, slice):
                raise TexprError(f"tensor {self.name}: slices are not supported as indices")
            if isinstance(i, bool):
                raise TexprError(f"tensor {self.name}: index {d} is a bool")
            e = convert(i)
            if not dtypes.is_int(e.dtype):
                raise DTypeError(f"tensor {self.name}: index {d} ({e}) has dtype {e.dtype}; "
                                 "indices must be integers")
            if isinstance(e, Const) and isinstance(self.shape[d], Const) and \
                    not 0 <= e.value < self.shape[d].value:
                raise TexprError(f"tensor {self.name}: constant index {e.value} is out of bounds "
                                 f"for dimension {d} of extent {self.shape[d].value}")
            out.append(e)
        return TensorLoad(self, tuple(out), self.dtype)

    def __call__(self, *idx):
        return self[idx]

    def __repr__(self):
        return f"Tensor({self.name}, shape={list(self.shape)}, dtype={self.dtype})"

    # identity semantics (two tensors are the same only if they are the same object)
    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other


def placeholder(shape, dtype="float32", name="placeholder"):
    """An input tensor of the given shape (ints or te.var) and dtype."""
    return PlaceholderOp(_check_name(name), _as_shape(shape, f"placeholder {name}"),
                         dtypes.normalize(dtype)).output(0)


def _check_name(name):
    if not isinstance(name, str) or not name:
        raise TexprError(f"a tensor name must be a non-empty string, got {name!r}")
    return name


def _arg_names(fcompute, n):
    try:
        sig = inspect.signature(fcompute)
    except (TypeError, ValueError):
        return [f"i{d}" for d in range(n)]
    params = list(sig.parameters.values())
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return [f"i{d}" for d in range(n)]
    # arguments with defaults (lambda i, scale=2.0: ...) and keyword-only ones are not indices
    required = [p for p in params if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(required) <= n <= len([p for p in params if p.kind in (p.POSITIONAL_ONLY,
                                                                   p.POSITIONAL_OR_KEYWORD)]):
        params = params[:n]
    if len(params) != n:
        raise TexprError(f"the compute function takes {len(params)} argument(s) but the shape has "
                         f"{n} dimension(s)")
    return [p.name for p in params]


def compute(shape, fcompute, name="compute", tag="", attrs=None):
    """A tensor whose element at index i is fcompute(*i)."""
    _check_name(name)
    shape = _as_shape(shape, f"compute {name}")
    names = _arg_names(fcompute, len(shape))
    axis = [IterVar(Var(nm), Range(0, ext), "data") for nm, ext in zip(names, shape)]
    body = fcompute(*[iv.var for iv in axis])
    if isinstance(body, (list, tuple)):
        raise TexprError(f"compute {name}: a compute must return one expression, got {len(body)}")
    try:
        body = convert(body)
    except TexprError:
        raise TexprError(f"compute {name}: the compute function returned {body!r}, "
                         "not an expression") from None
    for n in walk(body):
        if isinstance(n, Reduce) and n is not body:
            raise TexprError(f"compute {name}: a reduction (te.sum/max/min) must be the whole "
                             "body of a compute, not part of a larger expression; compute it in "
                             "its own stage")
    if isinstance(body, Reduce):
        for iv in body.axis:
            for ax in axis:
                if ax.var is iv.var:
                    raise TexprError(f"compute {name}: axis {iv.name} is both a data axis and a "
                                     "reduction axis")
    return ComputeOp(name, axis, body, tag, attrs).output(0)


def reduce_axis(dom, name="rv"):
    """A reduction axis over [lo, hi)."""
    if not isinstance(dom, (tuple, list)) or len(dom) != 2:
        raise TexprError(f"reduce_axis {name}: domain must be (begin, end), got {dom!r}")
    lo, hi = convert(dom[0]), convert(dom[1])
    from .visitor import free_vars
    return IterVar(Var(name), Range(lo, _simplify_sub(hi, lo)), "reduce")


def _simplify_sub(hi, lo):
    if isinstance(lo, Const) and lo.value == 0:
        return hi
    if isinstance(hi, Const) and isinstance(lo, Const):
        return Const(hi.value - lo.value, hi.dtype)
    return hi - lo


def thread_axis(tag, name=None):
    """An axis that maps to a GPU thread index (completed by the GPU targets)."""
    valid = ("blockIdx.x", "blockIdx.y", "blockIdx.z", "threadIdx.x", "threadIdx.y",
             "threadIdx.z", "vthread")
    if tag not in valid:
        raise TexprError(f"thread_axis: unknown tag {tag!r}; expected one of {', '.join(valid)}")
    return IterVar(Var(name or tag.replace(".", "_")), None, "thread", thread_tag=tag)


class ScanOp(ComputeOp):
    """Exclusive prefix sum of a 1-D tensor: out[0] = 0, out[i + 1] = out[i] + x[i].

    The output has n + 1 elements, so out[b] .. out[b + 1] bound bag b of a ragged reduction
    and out[n] is the total. It runs as one sequential loop (it cannot be scheduled).
    """

    def __init__(self, name, x, dtype):
        n = x.shape[0]
        i = IterVar(Var("i"), Range(0, n + 1 if not isinstance(n, Const) else n.value + 1), "data")
        super().__init__(name, [i], TensorLoad(x, (i.var,), x.dtype), tag="scan")
        self.x = x
        self.dtype = dtype


def exclusive_scan(x, dtype=None, name="scan"):
    """Offsets from lengths: [0, x0, x0 + x1, ..., sum(x)] (n + 1 elements)."""
    if not isinstance(x, Tensor) or x.ndim != 1:
        raise TexprError(f"exclusive_scan expects a 1-D tensor, got {x!r}")
    dt = dtypes.normalize(dtype) if dtype is not None else x.dtype
    if not dtypes.is_int(dt) and not dtypes.is_float(dt):
        raise DTypeError(f"exclusive_scan: cannot sum values of dtype {dt}")
    return ScanOp(_check_name(name), x, dt).output(0)
