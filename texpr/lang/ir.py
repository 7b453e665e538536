"""The loop program: statements and the lowering-level expressions (buffers, vectors, GPU
barriers and shuffles). Every node class the lowering creates is declared here; the compute
language's expressions are in expr.py; their text is printer.py's."""
from dataclasses import dataclass
from typing import ClassVar

from . import dtypes
from .expr import Expr, Node, Var
from .printer import to_str, to_text


class Buffer:
    """A region of memory: an argument array or a buffer the kernel allocates.

    shape/strides are in elements; scope is global, local or shared. Identity-compared.
    """

    def __init__(self, name, dtype, shape, scope="global", strides=None, is_arg=False,
                 logical_shape=None):
        self.name = name
        self.dtype = dtype
        self.shape = tuple(shape)
        self.scope = scope
        self.strides = strides
        self.is_arg = is_arg
        # transform_layout: the tensor's own shape, when the buffer holds it in another layout
        self.logical_shape = None if logical_shape is None else tuple(logical_shape)

    def layout_note(self):
        """How an argument relaid by transform_layout is passed (lowered text, errors)."""
        if self.logical_shape is None:
            return None
        return (f"{self.name} is passed in its physical layout [{_shape_str(self.shape)}] "
                f"(transform_layout of {self.name}[{_shape_str(self.logical_shape)}])")

    def __repr__(self):
        return f"Buffer({self.name}, {self.dtype}, {list(self.shape)}, {self.scope})"

    # What an extern op's fcompute uses (TVM's tir.Buffer): the data pointer, an address
    # inside the buffer, element reads and writes by (multi-dimensional) index.
    @property
    def data(self):
        from .expr import Const
        return BufferPtr(self, Const(0, "int32"))

    @property
    def ndim(self):
        return len(self.shape)

    def access_ptr(self, access_mask="rw", offset=0):
        """Address of the element at flat `offset` (elements); the mask is for TVM
        compatibility (texpr does not track it)."""
        from ..errors import TexprError
        from .expr import convert
        if not (isinstance(access_mask, str) and set(access_mask) <= set("rw")):
            raise TexprError(f"buffer {self.name}: access_ptr mask must be 'r', 'w' or 'rw', "
                             f"got {access_mask!r}")
        return BufferPtr(self, convert(offset))

    def vload(self, indices):
        from .expr import convert
        indices = tuple(convert(i) for i in (indices if isinstance(indices, (list, tuple))
                                             else (indices,)))
        self._check_indices(indices)
        return BufferLoad(self, indices, self.dtype)

    def vstore(self, indices, value):
        from .expr import convert
        indices = tuple(convert(i) for i in (indices if isinstance(indices, (list, tuple))
                                             else (indices,)))
        self._check_indices(indices)
        value = convert(value)
        if value.dtype != self.dtype:
            value = value.astype(self.dtype)
        return BufferStore(self, value, indices)

    def _check_indices(self, indices):
        from ..errors import TexprError
        if len(indices) != len(self.shape):
            raise TexprError(f"buffer {self.name} has {len(self.shape)} dimension(s) but was "
                             f"indexed with {len(indices)}")


def _shape_str(shape):
    return ", ".join(to_str(d) for d in shape)


def layout_notes(args):
    """Comment lines for the arguments relaid by transform_layout."""
    return "".join(f"  // {b.layout_note()}\n" for b in args
                   if isinstance(b, Buffer) and b.logical_shape is not None)


@dataclass(frozen=True, eq=False)
class BufferPtr(Expr):
    """The address of buffer[offset] (offset: flat, in elements), for an extern call.
    array=True: the whole buffer with its shape (how call_packed passes a buffer)."""
    buffer: Buffer
    offset: Expr
    array: bool = False
    dtype: str = "handle"
    _children: ClassVar[tuple[str, ...]] = ("offset",)


@dataclass(frozen=True, eq=False)
class BufferLoad(Expr):
    """predicate (vector loads only): a bool vector; inactive lanes are not read (they are 0)."""
    buffer: Buffer
    indices: tuple
    dtype: str
    predicate: Expr | None = None
    _children: ClassVar[tuple[str, ...]] = ("indices", "predicate")


@dataclass(frozen=True, eq=False)
class Ramp(Expr):
    """The vector (base, base+stride, ..., base+(lanes-1)*stride)."""
    base: Expr
    stride: int
    lanes: int
    dtype: str
    _children: ClassVar[tuple[str, ...]] = ("base",)


@dataclass(frozen=True, eq=False)
class Broadcast(Expr):
    value: Expr
    lanes: int
    dtype: str
    _children: ClassVar[tuple[str, ...]] = ("value",)


@dataclass(frozen=True, eq=False)
class CheckedIndex(Expr):
    """An index read from data, checked against the extent it indexes before it is used.

    Out of range, the kernel records (tensor, dim, value, position of `source`) for the
    runtime to raise, and uses 0 so nothing is read or written out of bounds.
    """
    value: Expr
    extent: Expr
    source: Expr          # the data load the index came from (for the message), or None
    tensor: str
    dim: int
    dtype: str = "int32"
    _children: ClassVar[tuple[str, ...]] = ("value", "extent", "source")


@dataclass(frozen=True, eq=False)
class VarLoad(Expr):
    """Read of a register variable (a promoted local buffer element)."""
    var: Var
    dtype: str


class Stmt(Node):
    def __str__(self):
        return to_text(self)

    __repr__ = __str__


@dataclass(frozen=True, eq=False)
class For(Stmt):
    """kind: serial, parallel, vectorized, unrolled. pragmas: ((key, value), ...)."""
    var: Var
    min: Expr
    extent: Expr
    kind: str
    body: Stmt
    pragmas: tuple = ()
    _children: ClassVar[tuple[str, ...]] = ("min", "extent", "body")


@dataclass(frozen=True, eq=False)
class BufferStore(Stmt):
    """predicate (vector stores only): a bool vector; inactive lanes are not written."""
    buffer: Buffer
    value: Expr
    indices: tuple
    predicate: Expr | None = None
    _children: ClassVar[tuple[str, ...]] = ("value", "indices", "predicate")


@dataclass(frozen=True, eq=False)
class VarStore(Stmt):
    var: Var
    value: Expr
    _children: ClassVar[tuple[str, ...]] = ("value",)


@dataclass(frozen=True, eq=False)
class Allocate(Stmt):
    buffer: Buffer
    body: Stmt
    _children: ClassVar[tuple[str, ...]] = ("body",)


@dataclass(frozen=True, eq=False)
class DeclareVars(Stmt):
    """Register variables (from promoted local buffers) live in body."""
    vars: tuple
    body: Stmt
    _children: ClassVar[tuple[str, ...]] = ("body",)


@dataclass(frozen=True, eq=False)
class IfThenElse(Stmt):
    cond: Expr
    then_case: Stmt
    else_case: Stmt | None = None
    _children: ClassVar[tuple[str, ...]] = ("cond", "then_case", "else_case")


@dataclass(frozen=True, eq=False)
class Seq(Stmt):
    stmts: tuple
    _children: ClassVar[tuple[str, ...]] = ("stmts",)


@dataclass(frozen=True, eq=False)
class StageRegion(Stmt):
    """Marks the code computing one stage (shown as a comment in the output)."""
    name: str
    body: Stmt
    _children: ClassVar[tuple[str, ...]] = ("body",)


@dataclass(frozen=True, eq=False)
class SpecializedBody(Stmt):
    """The program of one size class (Schedule.specialize), run when the condition of the
    if that holds it is true. `bindings`: (Var, Expr) the class's own parameters, computed by
    the caller from the shape variables (M % 8 == 0: M_q = M / 8). The C emitter makes it a
    static function the entry calls."""
    index: int
    label: str
    body: Stmt
    bindings: tuple = ()
    _children: ClassVar[tuple[str, ...]] = ("body",)


@dataclass(frozen=True, eq=False)
class Evaluate(Stmt):
    value: Expr
    _children: ClassVar[tuple[str, ...]] = ("value",)


@dataclass(frozen=True, eq=False)
class LineGap(Expr):
    """Elements of `buffer` from buffer[index] up to the next address that is a multiple of
    `line` bytes (0 when it is one; a huge value when the address is not a multiple of the
    element size, so that no element is aligned): where a loop of streaming stores starts
    (lower/cpu/stream_stores.py)."""
    buffer: Buffer
    index: Expr
    line: int = 64
    dtype: str = "int32"
    _children: ClassVar[tuple[str, ...]] = ("index",)


@dataclass(frozen=True, eq=False)
class Prefetch(Stmt):
    """A hint that buffer[index] (flat) will be read soon: the cache line holding it is
    fetched ahead (`__builtin_prefetch(&buffer[index], 0, locality)` in C). It reads nothing
    and never faults; lower/cpu/prefetch.py emits it for loops marked pragma("prefetch", p)."""
    buffer: Buffer
    index: Expr
    locality: int = 3
    _children: ClassVar[tuple[str, ...]] = ("index",)


@dataclass(frozen=True, eq=False)
class IntrinOperand(Node):
    """The region of `buffer` an intrinsic argument covers: its first element (indices) and,
    for each dimension of the intrinsic's placeholder, which buffer dimension it walks."""
    buffer: Buffer
    indices: tuple
    dims: tuple
    strides: tuple | None = None
    _children: ClassVar[tuple[str, ...]] = ("indices",)


@dataclass(frozen=True, eq=False)
class IntrinCall(Stmt):
    """A tensorized loop nest: `part` (body, reset, update or first) of a TensorIntrin.

    "first" is the first accumulation into a tile the reduction has not touched yet: the
    intrinsic's body (which starts from zero in registers) when it has one, else its reset and
    update, else `init` (scalar loops setting the tile to the identity) and its update.
    extents: for a partial tile (an intrinsic declared with partial_axes), the number of
    valid elements along each output axis (the declared extent where the tile is complete).
    """
    intrin: object
    part: str
    outputs: tuple
    inputs: tuple
    init: object = None
    extents: tuple | None = None
    _children: ClassVar[tuple[str, ...]] = ("outputs", "inputs", "init", "extents")


@dataclass(frozen=True, eq=False)
class Barrier(Stmt):
    """GPU: all threads of a block wait here; shared-memory writes before it are visible after."""
    _children: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True, eq=False)
class VectorCopy(Stmt):
    """GPU: store (lane 0: dst[d] = src[s]) done for `lanes` consecutive elements at once.
    aligned: d and s are multiples of lanes (a 16-byte-aligned float4 access in CUDA)."""
    store: BufferStore
    lanes: int
    aligned: bool
    _children: ClassVar[tuple[str, ...]] = ("store",)


@dataclass(frozen=True, eq=False)
class ShuffleDown(Expr):
    """GPU: the value of `value` in the lane `offset` above this one, within a warp (CUDA
    __shfl_down_sync over the full warp; every lane of the warp must execute it)."""
    value: Expr
    offset: int
    dtype: str
    _children: ClassVar[tuple[str, ...]] = ("value",)


@dataclass(frozen=True, eq=False)
class LaneReduce(Expr):
    """CPU: the lanes of the integer vector `value` combined into one value by `op` ("+",
    "*", "&", "|", "^", "min", "max"): what a vectorized loop's scalar accumulation
    `m = m op e(lane)` adds to m (lower/cpu/vectorize.py); + and * wrap, as the loop did."""
    op: str
    value: Expr
    dtype: str
    _children: ClassVar[tuple[str, ...]] = ("value",)


# ----------------------------------------------------------------------------- selected
# Instruction selection (lower/cpu/isel.py) replaces a pattern by one of these nodes. Each
# keeps the expression it replaced as `original` (not a child: it is only read), which an
# emitter without the instruction for that dtype emits instead.

@dataclass(frozen=True, eq=False)
class FusedMulAdd(Expr):
    """One fused multiply-add: form "ab+c" or "c+ab" is a*b + c, "ab-c" is a*b - c and
    "c-ab" is c - a*b (the order of `original`'s operands)."""
    a: Expr
    b: Expr
    c: Expr
    form: str
    dtype: str
    original: Expr
    _children: ClassVar[tuple[str, ...]] = ("a", "b", "c")


@dataclass(frozen=True, eq=False)
class WideningMul(Expr):
    """a * b in dtype, where a and b are integer vectors of half the element width (a
    Broadcast where the factor was a widened scalar): NEON vmull, HVX vmpy."""
    a: Expr
    b: Expr
    dtype: str
    original: Expr
    _children: ClassVar[tuple[str, ...]] = ("a", "b")


@dataclass(frozen=True, eq=False)
class SaturatingNarrow(Expr):
    """value (a wider integer) clamped to dtype's range and narrowed to it (HVX vpack:sat,
    vadd:sat when value is a sum of widened narrow values)."""
    value: Expr
    dtype: str
    original: Expr
    _children: ClassVar[tuple[str, ...]] = ("value",)


def seq(*stmts):
    flat = []
    for s in stmts:
        if s is None:
            continue
        if isinstance(s, Seq):
            flat.extend(s.stmts)
        else:
            flat.append(s)
    if len(flat) == 1:
        return flat[0]
    return Seq(tuple(flat))


class LoweredFunc:
    """A lowered kernel: name, parameters (Buffers and shape Vars) and the loop program."""

    def __init__(self, name, args, body, shape_vars, params=None, extent_vars=frozenset(),
                 externs=None, preconditions=()):
        self.name = name
        self.args = args              # Buffers in call order
        self.body = body
        self.shape_vars = shape_vars  # Vars taken from argument shapes (then scalar args)
        # the call's arguments in order: Buffers, and Vars for scalar arguments (te.var)
        self.params = list(args) if params is None else list(params)
        self.extent_vars = extent_vars  # Vars bounding a shape or loop (never negative)
        self.externs = externs          # ExternLinkage of extern calls, or None
        # conditions on the shape variables that a call must meet to stay in bounds
        # (lower/access_bounds.py); the runtime checks them before the kernel runs
        self.preconditions = tuple(preconditions)

    def __str__(self):
        def show(p):
            if isinstance(p, Var):
                return f"{p.name}: {p.dtype}"
            return f"{p.name}: {p.dtype}[{', '.join(to_str(s) for s in p.shape)}]"
        # the call's arguments in order (scalar te.vars among them), then the shape vars
        given = {id(p) for p in self.params}
        shown = list(self.params) + [v for v in self.shape_vars if id(v) not in given]
        params = ", ".join(show(p) for p in shown)
        requires = "".join(f"  requires {to_str(p.cond)}\n" for p in self.preconditions)
        return f"func {self.name}({params}) {{\n{layout_notes(self.args)}{requires}" \
               f"{to_text(self.body, 1)}}}\n"

    __repr__ = __str__

    def _repr_html_(self):
        """Jupyter: the loop program, highlighted."""
        from ..display import code_html
        return code_html(str(self), "c")

    def replace_body(self, body):
        return LoweredFunc(self.name, self.args, body, self.shape_vars, self.params,
                           self.extent_vars, self.externs, self.preconditions)
