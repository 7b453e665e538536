"""Tensors and the operations that produce them: placeholder (an input) and compute."""
from __future__ import annotations

import inspect
import numbers
from typing import TYPE_CHECKING, Any, Callable, Sequence

from . import dtypes
from ..errors import DTypeError, TexprError
from .expr import BinOp, Const, Expr, Reduce, TensorLoad, Var, convert
from .visitor import walk

if TYPE_CHECKING:
    from .hints import DTypeLike, ExprLike, IntLike, ShapeLike


class Range:
    """[min, min + extent) with expression bounds."""
    __slots__ = ("min", "extent")

    def __init__(self, min: IntLike, extent: IntLike) -> None:
        self.min = convert(min)
        self.extent = convert(extent)

    def __repr__(self):
        return f"range(min={self.min}, ext={self.extent})"


class IterVar:
    """A loop variable with its domain. kind: 'data', 'reduce' or 'thread'.

    A compute's axes (`op.axis`), te.reduce_axis and te.thread_axis are IterVars; in
    arithmetic an IterVar stands for its variable.

    >>> import texpr as te
    >>> k = te.reduce_axis((0, 16), name="k")
    >>> k.name, k.kind, int(k.dom.extent)
    ('k', 'reduce', 16)
    """

    # TVM's iteration-type codes (what s[T].iter_var_attrs[axis].iter_type reports)
    DataPar, ThreadIndex, CommReduce, Ordered, DimInfo = 0, 1, 2, 3, 4
    Unrolled, Vectorized, Parallelized, Tensorized = 5, 6, 7, 8

    def __init__(self, var: Var, dom: Any, kind: str,
                 thread_tag: str | None = None) -> None:
        self.var = var
        self.dom = dom
        self.kind = kind
        self.thread_tag = thread_tag

    @property
    def name(self) -> str:
        """The name of the axis's variable.

        >>> import texpr as te
        >>> te.reduce_axis((0, 16), name="k").name
        'k'
        """
        return self.var.name

    def __repr__(self):
        tag = f", {self.thread_tag}" if self.thread_tag else ""
        return f"IterVar({self.var.name}, {self.dom}, {self.kind}{tag})"

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


def integral_extent(v, what):
    """A float of integral value (TVM programs write `N / bn` for an int extent) as that int;
    other values are returned as they are."""
    if isinstance(v, float) or (isinstance(v, Const) and dtypes.is_float(v.dtype)):
        f = float(v.value if isinstance(v, Const) else v)
        if not f.is_integer():
            raise TexprError(f"{what} is {f}, which is not a whole number; expected an int or te.var "
                             "(use // for integer division)")
        return int(f)
    return v


def _as_shape(shape: Any, what: str) -> tuple:
    if isinstance(shape, (numbers.Integral, numbers.Real, Expr)):
        shape = (shape,)
    out = []
    for d, s in enumerate(shape):
        if isinstance(s, IterVar):
            s = s.var
        s = integral_extent(s, f"{what}: dimension {d} of the shape")
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
    """Base of operations; each has a name and produces output tensors.

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> B = te.compute((4,), lambda i: A[i] + 1, name="B")
    >>> B.op.name, B.op.num_outputs, B.op.input_tensors[0] is A
    ('B', 1, True)
    """

    shape: Any
    dtype: Any
    # a compute's (and its kinds') loop axes, as TVM's op.axis / op.reduce_axis / op.body
    axis: list[IterVar]
    reduce_axis: list[IterVar]

    def __init__(self, name: str, tag: str = "", attrs: dict | None = None) -> None:
        self.name = name
        self.tag = tag
        self.attrs = dict(attrs or {})
        self._outputs = {}

    def output(self, i: int = 0) -> Tensor:
        """Output tensor number i of this operation."""
        t = self._outputs.get(i)
        if t is None:
            t = self._outputs[i] = Tensor(self, i)
        return t

    @property
    def num_outputs(self) -> int:
        """How many output tensors the operation has."""
        return 1

    def output_dtype(self, i: int) -> str:
        """The dtype of output i."""
        return self.dtype

    def output_shape(self, i: int) -> tuple:
        """The shape of output i (a tuple of extents)."""
        return self.shape

    @property
    def input_tensors(self) -> list[Tensor]:
        """The tensors this operation reads (a property, as in TVM)."""
        return []

    def __repr__(self):
        from .printer import op_text
        return op_text(self)


class BufferOutputOp(Operation):
    """An operation that writes whole output buffers with a statement of its own (te.extern,
    te.hybrid.script): its outputs' shapes and dtypes are those of `output_buffers`."""

    @property
    def num_outputs(self):
        return len(self.output_buffers)

    @property
    def shape(self):            # of output 0 (Tensor.shape of the others reads their buffer)
        return self.output_buffers[0].shape

    @property
    def dtype(self):
        return self.output_buffers[0].dtype

    def output_shape(self, i):
        return self.output_buffers[i].shape

    def output_dtype(self, i):
        return self.output_buffers[i].dtype


class PlaceholderOp(Operation):
    """The operation of an input tensor (te.placeholder): nothing to compute.

    >>> import texpr as te
    >>> isinstance(te.placeholder((2,), name="A").op, te.PlaceholderOp)
    True
    """

    def __init__(self, name: str, shape: tuple, dtype: str) -> None:
        super().__init__(name)
        self.shape = shape
        self.dtype = dtype


class ComputeOp(Operation):
    """out[axis] = body, where body may be a top-level Reduce over reduce_axis.

    A multi-output compute has several bodies (`bodies`, one per output, computed in one loop
    nest). `body` is that list, as TVM's `op.body` (an array: `op.body[0]`).

    >>> import texpr as te
    >>> A = te.placeholder((4, 8), name="A")
    >>> k = te.reduce_axis((0, 8), name="k")
    >>> B = te.compute((4,), lambda i: te.sum(A[i, k], axis=k), name="B")
    >>> isinstance(B.op, te.ComputeOp), [iv.name for iv in B.op.axis + B.op.reduce_axis]
    (True, ['i', 'k'])
    """

    def __init__(self, name, axis, body, tag="", attrs=None):
        super().__init__(name, tag, attrs)
        self.axis = list(axis)
        self.bodies = tuple(body) if isinstance(body, (tuple, list)) else (body,)
        body = self.bodies[0]
        self.reduce_axis = list(body.axis) if isinstance(body, Reduce) else []
        self.dtype = body.dtype
        self.shape = tuple(iv.dom.extent for iv in self.axis)

    @property
    def body(self) -> list[Expr]:
        """The output expressions as a list, as in TVM (`op.body[0]` is the first).

        >>> import texpr as te
        >>> A = te.placeholder((4, 8), name="A")
        >>> B = te.compute((4, 8), lambda i, j: A[i, j] * 2.0, name="B")
        >>> B.op.body
        [A[i, j] * 2.0f]
        """
        return list(self.bodies)

    @property
    def num_outputs(self) -> int:
        """How many outputs (bodies) the compute has.

        >>> import texpr as te
        >>> A = te.placeholder((8,), name="A")
        >>> lo, hi = te.compute((8,), lambda i: (A[i] - 1.0, A[i] + 1.0), name="range")
        >>> lo.op.num_outputs, hi.value_index
        (2, 1)
        """
        return len(self.bodies)

    def output_dtype(self, i: int) -> str:
        """The dtype of output i.

        >>> import texpr as te
        >>> A = te.placeholder((8,), name="A")
        >>> B = te.compute((8,), lambda i: A[i].astype("float64"), name="B")
        >>> B.op.output_dtype(0)
        'float64'
        """
        return self.bodies[i].dtype

    @property
    def input_tensors(self) -> list[Any]:
        """The tensors the bodies and the reduction bounds read.

        >>> import texpr as te
        >>> A = te.placeholder((4, 8), name="A")
        >>> B = te.compute((4, 8), lambda i, j: A[i, j] * 2.0, name="B")
        >>> C = te.compute((4,), lambda i: B[i, 0] + A[i, 1], name="C")
        >>> [t.name for t in C.op.input_tensors]
        ['B', 'A']
        """
        seen, out = set(), []
        for n in (n for b in self.bodies for n in walk(b)):
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
    """The output of an operation. Indexing gives a TensorLoad expression.

    >>> import texpr as te
    >>> A = te.placeholder((3, 4), dtype="float16", name="A")
    >>> A.name, A.dtype, A.ndim, [int(d) for d in A.shape]
    ('A', 'float16', 2, [3, 4])
    >>> A[1, 2].dtype
    'float16'
    """

    def __init__(self, op: Operation, value_index: int = 0) -> None:
        self.op = op
        self.value_index = value_index

    @property
    def shape(self) -> tuple:
        """The extents (Const or symbolic expressions; int() of a Const is its value).

        >>> import texpr as te
        >>> A = te.placeholder((3, 4), name="A")
        >>> A.shape, tuple(A.shape) == (3, 4)
        ((3, 4), True)
        """
        return self.op.output_shape(self.value_index)

    @property
    def dtype(self) -> str:
        """The element dtype's name.

        >>> import texpr as te
        >>> te.placeholder((3,), dtype="int8", name="A").dtype
        'int8'
        """
        return self.op.output_dtype(self.value_index)

    @property
    def name(self) -> str:
        """The name of the operation that produces the tensor.

        >>> import texpr as te
        >>> A = te.placeholder((4, 8), name="A")
        >>> B = te.compute((4, 8), lambda i, j: A[i, j] * 2.0, name="B")
        >>> A.name, B.name
        ('A', 'B')
        """
        return self.op.name

    @property
    def ndim(self) -> int:
        """The number of dimensions.

        >>> import texpr as te
        >>> te.placeholder((2, 3, 4), name="A").ndim
        3
        """
        return len(self.op.shape)

    def __getitem__(self, idx: Any) -> Any:
        if not isinstance(idx, tuple):
            idx = (idx,)
        if len(idx) < self.ndim and not any(isinstance(i, slice) for i in idx):
            return TensorSlice(self, idx)          # A[i][j]: completed by the last index
        if len(idx) != self.ndim:
            raise TexprError(f"tensor {self.name} has {self.ndim} dimension(s) but was indexed "
                             f"with {len(idx)} index(es)")
        out = []
        for d, i in enumerate(idx):
            if isinstance(i, slice):               # A[i, 0:16]: a tensor intrinsic's argument
                from .tensor_compute import TensorRegion
                return TensorRegion(self, idx)
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

    def __call__(self, *idx: Any) -> Any:
        return self[idx]

    def __repr__(self):
        from .printer import tensor_text
        return tensor_text(self)

    def _repr_html_(self):
        """Jupyter: the tensor and what its operation computes."""
        from ..display import code_html
        from .printer import definition
        return code_html("\n".join([repr(self)] + definition(self.op)), "text")

    # identity semantics (two tensors are the same only if they are the same object)
    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other

    # elementwise arithmetic with NumPy broadcasting (TVM's topi overloads); comparisons are
    # not overloaded (== is identity, as in TVM)
    def __add__(self, o): return _elementwise("+", self, o)
    def __radd__(self, o): return _elementwise("+", o, self)
    def __sub__(self, o): return _elementwise("-", self, o)
    def __rsub__(self, o): return _elementwise("-", o, self)
    def __mul__(self, o): return _elementwise("*", self, o)
    def __rmul__(self, o): return _elementwise("*", o, self)
    def __truediv__(self, o): return _elementwise("/", self, o)
    def __rtruediv__(self, o): return _elementwise("/", o, self)
    def __floordiv__(self, o): return _elementwise("//", self, o)
    def __rfloordiv__(self, o): return _elementwise("//", o, self)
    def __mod__(self, o): return _elementwise("%", self, o)
    def __rmod__(self, o): return _elementwise("%", o, self)
    def __neg__(self): return _elementwise("neg", self, None)


class TensorSlice:
    """A tensor indexed in its leading dimensions only: A[i] of a 2-D A, so that A[i][j] is
    A[i, j] (TVM's chained indexing).

    >>> import texpr as te
    >>> A = te.placeholder((3, 4), name="A")
    >>> isinstance(A[1], te.TensorSlice), A[1][2].dtype
    (True, 'float32')
    """

    def __init__(self, tensor: Tensor, indices: Sequence[Any]) -> None:
        self.tensor = tensor
        self.indices = tuple(indices)

    def __getitem__(self, idx):
        return self.tensor[self.indices + (idx if isinstance(idx, tuple) else (idx,))]

    @property
    def dtype(self) -> str:
        """The dtype of the tensor.

        >>> import texpr as te
        >>> A = te.placeholder((3, 4), dtype="int16", name="A")
        >>> A[1].dtype, A[1][2].dtype
        ('int16', 'int16')
        """
        return self.tensor.dtype

    def __repr__(self):
        return f"TensorSlice({self.tensor.name}{list(self.indices)})"

    def _incomplete(self, *_: Any) -> Any:
        """Raises: a slice must be indexed in every dimension before it is used.

        >>> import texpr as te
        >>> A = te.placeholder((3, 4), name="A")
        >>> A[1] + 1.0
        Traceback (most recent call last):
          ...
        texpr.errors.TexprError: tensor A has 2 dimension(s) but was indexed with 1 index(es); ...
        """
        raise TexprError(f"tensor {self.tensor.name} has {self.tensor.ndim} dimension(s) but was "
                         f"indexed with {len(self.indices)} index(es); index it further "
                         f"(A[i][j]) before using it in an expression")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = _incomplete
    __rtruediv__ = __floordiv__ = __mod__ = __neg__ = astype = _incomplete


def _elementwise(op, a, b):
    from .broadcast import elementwise
    return elementwise(op, a, b)


def placeholder(shape: ShapeLike, dtype: DTypeLike = "float32",
                name: str = "placeholder") -> Tensor:
    """An input tensor of the given shape (ints or te.var) and dtype.

    >>> import texpr as te
    >>> n = te.var("n")
    >>> A = te.placeholder((n, 64), dtype="int8", name="A")
    >>> A.dtype, A.shape[0] is n
    ('int8', True)
    """
    return PlaceholderOp(_check_name(name), _as_shape(shape, f"placeholder {name}"),
                         dtypes.normalize(dtype)).output(0)


def _check_name(name):
    if not isinstance(name, str) or not name:
        raise TexprError(f"a tensor name must be a non-empty string, got {name!r}")
    return name


def _index_arity(fcompute):
    """How many indices fcompute takes at most (None: any number)."""
    try:
        params = list(inspect.signature(fcompute).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return None
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])


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


def compute(shape: ShapeLike, fcompute: Callable[..., Any], name: str = "compute",
            tag: str = "", attrs: dict | None = None) -> Any:
    """A tensor whose element at index i is `fcompute(*i)`. An empty tag takes the one of the
    enclosing te.tag_scope.

    fcompute takes one index variable per dimension and returns an expression (or a
    reduction, or a tuple of them: then a tuple of tensors is returned).

    >>> import texpr as te
    >>> A = te.placeholder((4, 8), name="A")
    >>> B = te.compute((8, 4), lambda i, j: A[j, i] * 2.0, name="B")
    >>> [int(d) for d in B.shape], [iv.name for iv in B.op.axis]
    ([8, 4], ['i', 'j'])
    """
    _check_name(name)
    if not tag:
        from .tag import current_tag
        tag = current_tag()
    shape = _as_shape(shape, f"compute {name}")
    k = _index_arity(fcompute)
    if k is not None and k < len(shape):
        from .tensor_compute import tensor_compute
        return tensor_compute(shape, fcompute, k, name, tag, attrs)
    names = _arg_names(fcompute, len(shape))
    axis = [IterVar(Var(nm), Range(0, ext), "data") for nm, ext in zip(names, shape)]
    body = fcompute(*[iv.var for iv in axis])
    bodies = tuple(body) if isinstance(body, (list, tuple)) else (body,)
    if not bodies:
        raise TexprError(f"compute {name}: the compute function returned an empty tuple")
    bodies = tuple(_compute_body(name, b, axis) for b in bodies)
    if len(bodies) > 1:
        _check_multi_output(name, bodies)
    else:
        _single_reduction(name, bodies[0])
    op = ComputeOp(name, axis, bodies, tag, attrs)
    if len(bodies) > 1:
        return tuple(op.output(k) for k in range(len(bodies)))
    return op.output(0)


def _compute_body(name, body, axis):
    if isinstance(body, TensorSlice):
        body._incomplete()
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
    return body


def _check_multi_output(name, bodies):
    """The outputs of one compute share its loops: either none reduces, or all are the values
    of one tuple reduction (te.comm_reducer over a tuple), in order."""
    reds = [b for b in bodies if isinstance(b, Reduce)]
    if not reds:
        return
    if len(reds) != len(bodies):
        plain = ", ".join(str(k) for k, b in enumerate(bodies) if not isinstance(b, Reduce))
        raise TexprError(f"compute {name}: output(s) {plain} are not reductions while others are; the outputs of one compute are "
                         "either all plain expressions or all the values of one tuple reduction")
    first = reds[0]
    for k, b in enumerate(reds):
        if b.combiner is not first.combiner or b.value_index != k or \
                b.combiner.size != len(bodies) or b.axis != first.axis:
            raise TexprError(f"compute {name}: output {k} is not value {k} of the same tuple "
                             "reduction as output 0; return the whole tuple a reducer gives "
                             "(T0, T1 = te.compute(shape, lambda i: argmax((a, b), axis=k)))")


def _single_reduction(name, body):
    if isinstance(body, Reduce) and body.combiner.size > 1:
        raise TexprError(f"compute {name}: a tuple reduction gives {body.combiner.size} values; "
                         "return them all (the compute then has that many outputs)")


def reduce_axis(dom: tuple | list, name: str = "rv") -> IterVar:
    """A reduction axis over [lo, hi) (dom = (lo, hi)), for te.sum & co.

    >>> import texpr as te
    >>> k = te.reduce_axis((2, 10), name="k")
    >>> int(k.dom.min), int(k.dom.extent)
    (2, 8)
    """
    if not isinstance(dom, (tuple, list)) or len(dom) != 2:
        raise TexprError(f"reduce_axis {name}: domain must be (begin, end), got {dom!r}")
    lo, hi = (convert(integral_extent(d, f"reduce_axis {name}: the domain's {w}"))
              for d, w in zip(dom, ("begin", "end")))
    from .visitor import free_vars
    return IterVar(Var(name), Range(lo, _simplify_sub(hi, lo)), "reduce")


def _simplify_sub(hi, lo):
    if isinstance(lo, Const) and lo.value == 0:
        return hi
    if isinstance(hi, Const) and isinstance(lo, Const):
        return Const(hi.value - lo.value, hi.dtype)
    return hi - lo


def thread_axis(dom: Any = None, tag: str = "", name: str | None = None) -> IterVar:
    """An axis that maps to a GPU thread index (completed by the GPU targets).

    As in TVM: thread_axis("threadIdx.x") or thread_axis((0, n), "threadIdx.x"); a domain
    given here is the extent the bound loop must have.

    >>> import texpr as te
    >>> tx = te.thread_axis("threadIdx.x")
    >>> tx.kind, tx.thread_tag
    ('thread', 'threadIdx.x')
    """
    if isinstance(dom, str):
        dom, tag = None, dom if not tag else tag
    valid = ("blockIdx.x", "blockIdx.y", "blockIdx.z", "threadIdx.x", "threadIdx.y",
             "threadIdx.z", "vthread")
    if tag not in valid:
        raise TexprError(f"thread_axis: unknown tag {tag!r}; expected one of {', '.join(valid)}")
    rng = None
    if dom is not None:
        if isinstance(dom, Range):
            rng = dom
        elif isinstance(dom, (tuple, list)) and len(dom) == 2:
            lo, hi = (convert(integral_extent(d, f"thread_axis {tag}: the domain")) for d in dom)
            if not (isinstance(lo, Const) and lo.value == 0):
                raise TexprError(f"thread_axis {tag}: the domain must start at 0, got {dom!r}")
            rng = Range(lo, hi)
        else:
            raise TexprError(f"thread_axis {tag}: the domain must be (0, extent), got {dom!r}")
    return IterVar(Var(name or tag.replace(".", "_")), rng, "thread", thread_tag=tag)


class ExclusiveScanOp(ComputeOp):
    """Exclusive prefix sum of a 1-D tensor: out[0] = 0, out[i + 1] = out[i] + x[i].

    The output has n + 1 elements, so out[b] .. out[b + 1] bound bag b of a ragged reduction
    and out[n] is the total. It runs as one sequential loop (it cannot be scheduled).
    """

    def __init__(self, name, x, dtype):
        n = x.shape[0]
        i = IterVar(Var("i"), Range(0, n + 1 if not isinstance(n, Const) else n.value + 1), "data")
        super().__init__(name, [i], TensorLoad(x, (i.var,), x.dtype), tag="exclusive_scan")
        self.x = x
        self.dtype = dtype


def exclusive_scan(x: Tensor, dtype: DTypeLike | None = None, name: str = "scan") -> Tensor:
    """Offsets from lengths: [0, x0, x0 + x1, ..., sum(x)] (n + 1 elements).

    >>> import texpr as te
    >>> lengths = te.placeholder((5,), dtype="int32", name="lengths")
    >>> [int(d) for d in te.exclusive_scan(lengths).shape]
    [6]
    """
    if not isinstance(x, Tensor) or x.ndim != 1:
        raise TexprError(f"exclusive_scan expects a 1-D tensor, got {x!r}")
    dt = dtypes.normalize(dtype) if dtype is not None else x.dtype
    if not dtypes.is_int(dt) and not dtypes.is_float(dt):
        raise DTypeError(f"exclusive_scan: cannot sum values of dtype {dt}")
    return ExclusiveScanOp(_check_name(name), x, dt).output(0)


class ScanOp(ComputeOp):
    """TVM's scan: output k is state k; its first rows are init k, and row t (t from the init's
    row count on, one after another) is row t of update k, which reads earlier rows of the
    states through their placeholders.

    axis is [scan_axis] + spatial_axis_ (the non-time axes of every state, in order); bodies
    are the reads of the updates at row scan_axis (what the scan consumes each step).
    """

    def __init__(self, name, init, update, state_placeholder, inputs, tag="", attrs=None):
        Operation.__init__(self, name, tag, attrs)
        self.init = list(init)
        self.update = list(update)
        self.state_placeholder = list(state_placeholder)
        self.inputs = list(inputs)
        steps, first = state_placeholder[0].shape[0], init[0].shape[0]
        self.scan_axis = IterVar(Var(f"{name}.idx"), Range(first, _simplify_sub(steps, first)),
                                 "data")
        self.spatial_axis_ = []
        bodies = []
        for k, (state, up) in enumerate(zip(state_placeholder, update)):
            sp = [IterVar(Var(f"{name}.v{k}.i{d}"), Range(0, ext), "data")
                  for d, ext in enumerate(state.shape[1:], 1)]
            self.spatial_axis_ += sp
            bodies.append(TensorLoad(up, (self.scan_axis.var,) + tuple(iv.var for iv in sp),
                                     up.dtype))
        self.axis = [self.scan_axis] + self.spatial_axis_
        self.bodies = tuple(bodies)
        self.reduce_axis = []
        self.dtype = state_placeholder[0].dtype

    @property
    def num_outputs(self):
        return len(self.state_placeholder)

    @property
    def shape(self):
        return self.state_placeholder[0].shape

    def output_shape(self, i):
        return self.state_placeholder[i].shape

    def output_dtype(self, i):
        return self.state_placeholder[i].dtype

    @property
    def input_tensors(self):
        out = []
        for t in self.init + self.update:
            if not any(t is o for o in out):
                out.append(t)
        return out


def scan(init: Any, update: Any, state_placeholder: Any, inputs: Any = None, name: str = "scan",
         tag: str = "", attrs: dict | None = None) -> Any:
    """A sequential scan over the first (time) axis of the states (TVM's te.scan).

    init, update and state_placeholder are tensors, or lists of them for several states
    (then a list of outputs is returned). The state placeholder's shape is the output's;
    init gives its first rows, update row t for the later rows, reading the state (and the
    inputs) at rows before t.

    >>> import texpr as te
    >>> m, n = te.var("m"), te.var("n")
    >>> X = te.placeholder((m, n), name="X")
    >>> state = te.placeholder((m, n), name="state")
    >>> init = te.compute((1, n), lambda _, i: X[0, i], name="init")
    >>> update = te.compute((m, n), lambda t, i: state[t - 1, i] + X[t, i], name="update")
    >>> cumsum = te.scan(init, update, state, inputs=[X])
    >>> cumsum.dtype
    'float32'
    """
    _check_name(name)
    many = isinstance(state_placeholder, (list, tuple))
    lists = [list(x) if isinstance(x, (list, tuple)) else [x]
             for x in (init, update, state_placeholder)]
    init, update, states = lists
    what = f"scan {name}"
    if not states:
        raise TexprError(f"{what}: give at least one state placeholder")
    if not len(init) == len(update) == len(states):
        raise TexprError(f"{what}: {len(init)} init tensor(s), {len(update)} update tensor(s) and "
                         f"{len(states)} state placeholder(s); expected one of each per state")
    for k, (ini, up, state) in enumerate(zip(init, update, states)):
        for role, t in (("init", ini), ("update", up), ("state_placeholder", state)):
            if not isinstance(t, Tensor):
                raise TexprError(f"{what}: {role} {k} is {t!r}; expected a tensor")
        if not isinstance(state.op, PlaceholderOp):
            raise TexprError(f"{what}: state_placeholder {k} ({state.name}) must be a "
                             "te.placeholder (the scan's output takes its place)")
        if not isinstance(up.op, ComputeOp) or isinstance(up.op, ScanOp):
            raise TexprError(f"{what}: update {k} ({up.name}) must be a te.compute")
        if state.ndim < 1:
            raise TexprError(f"{what}: state {state.name} has no axis to scan over")
        for role, t in (("init", ini), ("update", up)):
            if t.dtype != state.dtype:
                raise DTypeError(f"{what}: {role} {t.name} has dtype {t.dtype} but state "
                                 f"{state.name} has dtype {state.dtype}")
            if t.ndim != state.ndim:
                raise TexprError(f"{what}: {role} {t.name} has {t.ndim} dimension(s) but state "
                                 f"{state.name} has {state.ndim}")
        dims = [(d, a, b, "update", up) for d, (a, b) in enumerate(zip(up.shape, state.shape))] + \
            [(d, a, b, "init", ini) for d, (a, b) in enumerate(zip(ini.shape, state.shape)) if d]
        for d, a, b, role, t in dims:
            if not _same_extent(a, b):
                raise TexprError(f"{what}: dimension {d} of {role} {t.name} is {a} but the state "
                                 f"{state.name} has {b} (shapes: {role} {list(t.shape)}, state "
                                 f"{list(state.shape)}; init may differ only in dimension 0)")
        if not _same_extent(ini.shape[0], init[0].shape[0]) or \
                not _same_extent(state.shape[0], states[0].shape[0]):
            raise TexprError(f"{what}: every state must have the same number of time steps and "
                             "every init the same number of rows (dimension 0)")
        t0, tn = ini.shape[0], state.shape[0]
        if isinstance(t0, Const) and (t0.value < 1 or isinstance(tn, Const) and t0.value > tn.value):
            raise TexprError(f"{what}: init {ini.name} has {t0.value} row(s); expected between 1 "
                             f"and the state's {tn} time steps")
        _check_reads_earlier_rows(what, up, states)
    if len({id(s) for s in states}) != len(states):
        raise TexprError(f"{what}: a state placeholder is given twice")
    if inputs is not None and not all(isinstance(t, Tensor) for t in
                                      (inputs if isinstance(inputs, (list, tuple)) else [inputs])):
        raise TexprError(f"{what}: inputs must be a list of tensors")
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else ([] if inputs is None
                                                                     else [inputs])
    op = ScanOp(name, init, update, states, inputs, tag, attrs)
    outs = [op.output(k) for k in range(len(states))]
    return outs if many else outs[0]


def _same_extent(a, b):
    if isinstance(a, Const) and isinstance(b, Const):
        return a.value == b.value
    return a is b or a.same_as(b)


def _check_reads_earlier_rows(what, update, states):
    """update[t] may read the states only at rows before t (row t is what it computes)."""
    t = update.op.axis[0].var
    for n in (n for b in update.op.bodies for n in walk(b)):
        if isinstance(n, TensorLoad) and any(n.tensor is s for s in states):
            i = n.indices[0]
            ahead = 0 if i is t else (i.b.value if isinstance(i, BinOp) and i.op == "+" and
                                      i.a is t and isinstance(i.b, Const) else None)
            if ahead is not None and ahead >= 0:
                raise TexprError(f"{what}: update {update.name} reads {n.tensor.name}[{i}, ...] "
                                 "at its own time step or later; an update may read only "
                                 f"earlier rows ({n.tensor.name}[{t.name} - 1, ...])")
