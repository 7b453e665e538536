"""te.ir_builder: write a loop program imperatively (TVM's tir.ir_builder).

    ib = te.ir_builder.create()
    a, c = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
    with ib.for_range(0, n, name="i", kind="parallel") as i:
        with ib.if_scope(a[i] > 0):
            c[i] = a[i]
        with ib.else_scope():
            c[i] = 0.0
    stmt = ib.get()

The result is made of texpr's own IR nodes (For, IfThenElse, Allocate, BufferStore,
Evaluate: lang/ir.py), so an extern op's body or a tensor intrinsic's part written this way
is lowered, bounds-checked (lower/access_bounds.py) and emitted like any other statement.
"""
import numbers

from . import dtypes
from ..errors import DTypeError, TexprError
from .expr import Call, Const, Expr, Var, convert
from .ir import Allocate, Buffer, BufferLoad, BufferStore, Evaluate, For, IfThenElse, Stmt, seq

#: for_range kinds (TVM's names) -> the For kinds of the IR
LOOP_KINDS = {"serial": "serial", "parallel": "parallel", "unroll": "unrolled",
              "vectorize": "vectorized"}


class IRBuilder:
    """Collects statements into nested scopes; `get()` returns the finished statement."""

    def __init__(self):
        self._scopes = [[]]       # open scopes, innermost last; an item: Stmt or body -> Stmt
        self._done = False
        self._loops = 0

    # ------------------------------------------------------------------ statements
    def emit(self, stmt):
        """Append a statement (or a call, run for its effect) to the current scope."""
        self._check_open("emit")
        if isinstance(stmt, Expr):
            if not isinstance(stmt, Call):
                raise TexprError(f"ir_builder.emit: an expression is emitted for its effect, so it "
                                 f"must be a call (te.call_extern, te.call_packed), got {stmt}")
            stmt = Evaluate(stmt)
        if not (isinstance(stmt, Stmt) or callable(stmt)):
            raise TexprError(f"ir_builder.emit: expected a statement or a call, got {stmt!r}")
        self._scopes[-1].append(stmt)

    def for_range(self, begin, end, name="i", dtype="int32", kind="serial"):
        """`with ib.for_range(begin, end) as i:` a loop over [begin, end); kind is serial,
        parallel, unroll or vectorize."""
        self._check_open("for_range")
        if kind not in LOOP_KINDS:
            raise TexprError(f"ir_builder.for_range: kind must be one of "
                             f"{', '.join(LOOP_KINDS)}, got {kind!r}")
        if not dtypes.is_int(dtypes.normalize(dtype)):
            raise DTypeError(f"ir_builder.for_range: the loop variable's dtype must be an "
                             f"integer type, got {dtype!r}")
        if name == "i":                      # TVM's default names: i, j, k, then i_0, i_1, ...
            name = "ijk"[self._loops] if self._loops < 3 else f"i_{self._loops - 3}"
            self._loops += 1
        begin, end = (_index(x, f"for_range {name}: bound") for x in (begin, end))
        var = Var(name, dtypes.normalize(dtype))
        if _is_zero(begin):
            extent = end
        elif isinstance(begin, Const) and isinstance(end, Const):
            extent = Const(end.value - begin.value, end.dtype)
        else:
            extent = end - begin
        self._scopes.append([])

        def close():
            body = self._pop()
            self.emit(For(var, begin, extent, LOOP_KINDS[kind], body))
        return _Scope(self, var, close)

    def if_scope(self, cond):
        """`with ib.if_scope(cond):` statements run where cond holds."""
        self._check_open("if_scope")
        cond = convert(cond)
        if cond.dtype != "bool":
            raise DTypeError(f"ir_builder.if_scope: the condition must be a comparison (bool), "
                             f"got {cond} of dtype {cond.dtype}")
        self._scopes.append([])

        def close():
            self.emit(IfThenElse(cond, self._pop()))
        return _Scope(self, None, close)

    def else_scope(self):
        """`with ib.else_scope():` right after an if_scope: where its condition fails."""
        self._check_open("else_scope")
        scope = self._scopes[-1]
        prev = scope[-1] if scope else None
        if not isinstance(prev, IfThenElse) or prev.else_case is not None:
            raise TexprError("ir_builder.else_scope must follow an if_scope (with no else yet) "
                             "in the same scope")
        scope.pop()
        self._scopes.append([])

        def close():
            self.emit(IfThenElse(prev.cond, prev.then_case, self._pop()))
        return _Scope(self, None, close)

    def new_scope(self):
        """`with ib.new_scope():` a block (an allocate inside lives until its end)."""
        self._check_open("new_scope")
        self._scopes.append([])
        return _Scope(self, None, lambda: self.emit(self._pop()))

    def allocate(self, dtype, shape, name="buf", scope=""):
        """A buffer the statement owns, live to the end of the current scope; returns its
        pointer (index it to read, assign to write)."""
        self._check_open("allocate")
        dt = dtypes.normalize(dtype)
        shape = shape if isinstance(shape, (list, tuple)) else [shape]
        shape = [_index(d, f"allocate {name}: shape") for d in shape]
        if scope not in ("", "global", "local", "shared"):
            raise TexprError(f"ir_builder.allocate {name}: scope must be global, local or shared, "
                             f"got {scope!r}")
        buf = Buffer(name, dt, shape, scope or "local")
        self.emit(lambda body: Allocate(buf, body))
        return BufferPointer(self, buf)

    def buffer_ptr(self, buf, shape=None):
        """The elements of `buf` (an extern op's ins[k] / outs[k], or a tensor intrinsic's
        operand): p[i] (one index per dimension, or a flat index) reads, p[i] = v writes.
        shape: view the buffer with another shape of the same size (row-major)."""
        target = getattr(buf, "buffer", buf)         # an intrinsic operand carries its view
        if not isinstance(target, Buffer):
            raise TexprError(f"ir_builder.buffer_ptr: expected a buffer (ins[k] / outs[k] of an "
                             f"extern op or tensor intrinsic), got {buf!r}")
        view = None if shape is None else tuple(
            _index(d, "buffer_ptr shape") for d in (shape if isinstance(shape, (list, tuple))
                                                    else [shape]))
        return BufferPointer(self, target, view)

    def pointer(self, content_type, name="ptr", scope=""):
        raise TexprError("ir_builder.pointer: texpr has no raw pointer variables; use "
                         "ib.allocate(dtype, shape) for a buffer of your own, or "
                         "ib.buffer_ptr(buf) for an operand")

    def scope_attr(self, node, attr_key, value):
        raise TexprError(f"ir_builder.scope_attr({attr_key!r}): texpr has no attribute "
                         "statements; loop kinds go in for_range(kind=...), buffer scopes in "
                         "allocate(scope=...), pragmas on a stage's loops (s[T].pragma)")

    def likely(self, expr):
        """A branch hint (TVM's): texpr leaves branch layout to the C compiler."""
        return convert(expr)

    def get(self):
        """The statement built (all scopes must be closed); the builder is then finished."""
        if self._done:
            raise TexprError("ir_builder.get: the statement was already taken (get() ends the "
                             "builder; create a new one)")
        if len(self._scopes) != 1:
            raise TexprError(f"ir_builder.get inside {len(self._scopes) - 1} open scope(s): "
                             "call it after the `with` blocks end")
        stmt = self._pop()
        self._done = True
        return stmt

    # ------------------------------------------------------------------ helpers
    def _check_open(self, what):
        if self._done:
            raise TexprError(f"ir_builder.{what}: the builder is finished (get() was called); "
                             "create a new one with te.ir_builder.create()")

    def _pop(self):
        """The statement of the innermost scope (emitted wrappers: allocate, around the rest)."""
        items = self._scopes.pop()
        body = None
        for item in reversed(items):
            if isinstance(item, Stmt):
                body = seq(item, body)
            else:
                body = item(body if body is not None else Evaluate(Const(0, "int32")))
        return body if body is not None else Evaluate(Const(0, "int32"))


class _Scope:
    def __init__(self, builder, value, close):
        self.builder = builder
        self.value = value
        self.close = close
        self.depth = None

    def __enter__(self):
        self.depth = len(self.builder._scopes)
        return self.value

    def __exit__(self, kind, value, trace):
        if kind is not None:
            return False
        if len(self.builder._scopes) != self.depth:
            raise TexprError("ir_builder: scopes closed out of order")
        self.close()
        return False


class BufferPointer:
    """Element access to a Buffer from an ir_builder (TVM's BufferVar)."""

    def __init__(self, builder, buffer, view_shape=None):
        self._builder = builder
        self.buffer = buffer
        self._view = view_shape

    @property
    def dtype(self):
        return self.buffer.dtype

    def asobject(self):
        return self.buffer

    def _indices(self, index):
        idx = index if isinstance(index, tuple) else (index,)
        idx = tuple(_index(i, f"buffer {self.buffer.name}: index") for i in idx)
        shape = self._view if self._view is not None else self.buffer.shape
        if len(idx) == len(self.buffer.shape) and self._view is None:
            return idx
        if len(idx) != 1 and len(idx) != len(shape):
            raise TexprError(f"buffer {self.buffer.name} has {len(shape)} dimension(s) but was "
                             f"indexed with {len(idx)}")
        flat = idx[0]
        if len(idx) > 1:                 # row-major over the view's shape
            flat = idx[0]
            for i, d in zip(idx[1:], shape[1:]):
                flat = flat * d + i
        if len(self.buffer.shape) == 1:
            return (flat,)
        out, rest = [], flat             # a flat index into a multi-dimensional buffer
        for d in range(len(self.buffer.shape) - 1, 0, -1):
            out.append(rest % self.buffer.shape[d])
            rest = rest // self.buffer.shape[d]
        out.append(rest)
        return tuple(reversed(out))

    def __getitem__(self, index):
        return BufferLoad(self.buffer, self._indices(index), self.buffer.dtype)

    def __setitem__(self, index, value):
        if isinstance(value, (bool, numbers.Number)):
            value = convert(value, self.buffer.dtype)
        value = convert(value)
        if value.dtype != self.buffer.dtype:
            raise DTypeError(f"ir_builder: storing a {value.dtype} value into buffer "
                             f"{self.buffer.name} of {self.buffer.dtype}; convert it first "
                             f"(value.astype({self.buffer.dtype!r}))")
        self._builder.emit(BufferStore(self.buffer, value, self._indices(index)))

    def __repr__(self):
        return f"BufferPointer({self.buffer.name})"


def _index(x, what):
    if isinstance(x, bool) or not isinstance(x, (numbers.Integral, Expr)) and not hasattr(x, "var"):
        raise TexprError(f"ir_builder {what} must be an integer or an integer expression, got {x!r}")
    e = convert(x)
    if not dtypes.is_int(e.dtype):
        raise DTypeError(f"ir_builder {what} must be an integer expression, got {e} of dtype "
                         f"{e.dtype}")
    return e


def _is_zero(e):
    return isinstance(e, Const) and e.value == 0


def create():
    """A new IRBuilder."""
    return IRBuilder()


__all__ = ["create", "IRBuilder", "BufferPointer"]
