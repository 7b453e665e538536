"""Hybrid script -> loop program: walks the function's Python AST and builds texpr IR.

What a name can stand for while parsing:
- an input tensor (a texpr Tensor, read as TensorLoad; a placeholder may be written, in place:
  a Buffer standing for its array, Builder.input_buffer),
- a buffer the script made (output_tensor / allocate, or an output of an inlined hybrid call),
- a local scalar (a 1-element local buffer: a name assigned more than once, or from a buffer
  the script writes),
- a compile-time value: a Python number, string, tuple or list, a te.var or an expression
  without mutable state (a loop variable, `n = a.shape[0]`, `x = a[i] * 2`).
Compile-time values are computed in Python (so `constant_list[1][k]` and `if len(b) > 2:` are
resolved while parsing); everything else becomes IR.
"""
import ast
import inspect
import numbers
import textwrap

import numpy as np

from ..errors import HybridScriptError, TexprError
from ..lang import dtypes
from ..lang.expr import BinOp, Cmp, Const, Expr, Not, Var, convert, if_then_else, \
    logical_and, logical_or, structural_equal
from ..lang.expr import TensorLoad as _TensorLoad
from ..lang.hybrid_op import HybridOp
from ..lang.ir import Allocate, Buffer, BufferLoad, BufferStore, For, IfThenElse, seq
from ..lang.tensor import PlaceholderOp, Tensor
from ..lang.visitor import free_vars, walk
from .intrinsics import CAST_NAMES, EXPR_FUNCS, LOOP_KINDS, THREAD_TAGS

MAX_CALL_DEPTH = 16


class ScriptBuffer:
    """A buffer the script made: output_tensor (kind "output") or allocate ("alloc")."""

    def __init__(self, buffer, kind):
        self.buffer = buffer
        self.kind = kind

    @property
    def shape(self):
        return tuple(_py(d) for d in self.buffer.shape)

    @property
    def dtype(self):
        return self.buffer.dtype


class LocalScalar:
    """A scalar the script re-assigns: a 1-element local buffer."""

    def __init__(self, buffer):
        self.buffer = buffer

    def load(self):
        return BufferLoad(self.buffer, (Const(0, "int32"),), self.buffer.dtype)


class _LoopInfo:
    def __init__(self, var, lo, extent):
        self.var, self.lo, self.extent = var, lo, extent


def _py(e):
    """A constant expression as a Python number; anything else unchanged."""
    if isinstance(e, Const) and not dtypes.is_bool(e.dtype):
        return e.value
    return e


def _is_py_scalar(v):
    return isinstance(v, (bool, numbers.Number, np.generic)) and not isinstance(v, Expr)


class Builder:
    """State shared by a script and the hybrid functions it inlines: the buffer scopes
    (a buffer is allocated around the block that made it) and the names in use."""

    def __init__(self):
        self.scopes = []
        self.names = set()
        self.outputs = ()
        self.written = {}          # id(input tensor) -> (tensor, Buffer) written in place

    def input_buffer(self, tensor, parser, node):
        """The Buffer standing for an input tensor the script writes: only a placeholder (an
        array the caller passes) can be written in place."""
        got = self.written.get(id(tensor))
        if got is None:
            if not isinstance(tensor.op, PlaceholderOp):
                raise parser.error(f"cannot write to {tensor.name}: it is computed by "
                                   f"{tensor.op.name}; a script writes its output_tensor()s and, "
                                   "in place, the placeholders it takes", node)
            got = (tensor, Buffer(tensor.name, tensor.dtype, tensor.shape, "global"))
            self.written[id(tensor)] = got
        return got[1]

    def unique(self, name):
        base, k = name, 0
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def declare(self, buf):
        self.scopes[-1].append(buf)


class Parser:
    """Parses one hybrid function (the script, or a function it calls, inlined)."""

    def __init__(self, hfunc, args, builder, depth=0):
        self.hfunc = hfunc
        self.func = hfunc.func
        self.fname = self.func.__name__
        self.builder = builder
        self.depth = depth
        self.loops = {}            # loop Var -> _LoopInfo (for asserts)
        if hfunc.source is not None:
            lines, first = hfunc.source.splitlines(keepends=True), 1
        else:
            try:
                lines, first = inspect.getsourcelines(self.func)
            except (OSError, TypeError) as e:
                raise HybridScriptError(f"hybrid script {self.fname}: cannot read its source "
                                        f"({e}); define it in a file") from None
        self.first_line = first
        tree = ast.parse(textwrap.dedent("".join(lines)))
        fdef = tree.body[0]
        if not isinstance(fdef, ast.FunctionDef):
            raise HybridScriptError(f"hybrid script {self.fname}: expected a function definition")
        self.fdef = fdef
        self.assign_counts = _assign_counts(fdef)
        self.symbols = {}
        self.line = fdef.lineno
        self._bind_params(args)

    # ------------------------------------------------------------------ errors
    def error(self, msg, node=None):
        line = (getattr(node, "lineno", None) or self.line) + self.first_line - 1
        return HybridScriptError(f"hybrid script {self.fname}, line {line}: {msg}")

    def _bind_params(self, args):
        a = self.fdef.args
        if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs or a.defaults:
            raise self.error("only plain positional parameters are supported (no defaults, "
                             "*args, **kwargs or keyword-only parameters)", self.fdef)
        params = [p.arg for p in a.args]
        if len(params) != len(args):
            raise self.error(f"{self.fname} takes {len(params)} argument(s) "
                             f"({', '.join(params)}) but was called with {len(args)}", self.fdef)
        for p, v in zip(params, args):
            self.symbols[p] = _param_value(v, p, self)

    # ------------------------------------------------------------------ entry points
    def parse_script(self):
        """(body Stmt, output Buffers) of the script called from Python."""
        self.builder.scopes.append([])
        body, ret = self._function_body()
        outs = self._outputs(ret)
        self.builder.outputs = tuple(b.buffer for b in outs)
        return self._close_scope(body, keep=set(map(id, self.builder.outputs))), \
            [b.buffer for b in outs]

    def parse_inlined(self):
        """(statements, returned values) of a hybrid function called from a script; its
        buffers are allocated in the caller's current block."""
        return self._function_body()

    def _function_body(self):
        stmts = self.fdef.body
        if stmts and isinstance(stmts[0], ast.Expr) and isinstance(stmts[0].value, ast.Constant) \
                and isinstance(stmts[0].value.value, str):
            stmts = stmts[1:]                       # docstring
        ret = None
        out = []
        for k, s in enumerate(stmts):
            if isinstance(s, ast.Return):
                if k != len(stmts) - 1:
                    raise self.error("return must be the last statement of the function", s)
                ret = s
                break
            out.append(self.stmt(s))
        if ret is None or ret.value is None:
            raise self.error(f"{self.fname} must end with `return` of its output tensor(s)",
                             ret or self.fdef)
        self.line = ret.lineno
        value = self.expr(ret.value)
        return seq(*out), value

    def _outputs(self, ret):
        vals = ret if isinstance(ret, tuple) else (ret,)
        out = []
        for v in vals:
            if not isinstance(v, ScriptBuffer) or v.kind != "output":
                what = "an input tensor" if isinstance(v, Tensor) else \
                    "a buffer from allocate()" if isinstance(v, ScriptBuffer) else repr(v)
                raise self.error(f"{self.fname} returns {what}; a script returns the tensors it "
                                 "made with output_tensor()", None)
            if any(v is o for o in out):
                raise self.error("the same output tensor is returned twice")
            out.append(v)
        return out

    # ------------------------------------------------------------------ blocks
    def block(self, stmts):
        """The statements of one block; the buffers and names it makes end with it."""
        saved = set(self.symbols)
        self.builder.scopes.append([])
        body = self._close_scope(seq(*[self.stmt(s) for s in stmts]))
        self.symbols = {k: v for k, v in self.symbols.items() if k in saved}
        return body

    def _close_scope(self, body, keep=frozenset()):
        for b in reversed(self.builder.scopes.pop()):
            if id(b) not in keep:
                body = Allocate(b, body)
        return body

    # ------------------------------------------------------------------ statements
    def stmt(self, node):
        self.line = node.lineno
        fn = getattr(self, "stmt_" + type(node).__name__, None)
        if fn is None:
            raise self.error(f"{_describe(node)} is not supported in a hybrid script", node)
        try:
            return fn(node)
        except HybridScriptError:
            raise
        except (TexprError, TypeError, ValueError, ZeroDivisionError) as e:
            raise self.error(str(e), node) from e

    def stmt_Expr(self, node):
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return None                             # a string used as a comment
        raise self.error("an expression statement has no effect in a hybrid script (assign its "
                         "value to a tensor element)", node)

    def stmt_Pass(self, node):
        return None

    def stmt_Return(self, node):
        raise self.error("return must be the last statement of the function, outside loops "
                         "and branches", node)

    def stmt_Assert(self, node):
        cond = self.expr(node.test)
        if cond is True or (isinstance(cond, Const) and cond.value is True):
            return None
        if cond is False or (isinstance(cond, Const) and cond.value is False):
            raise self.error("this assert is always false", node)
        if isinstance(cond, Expr) and self._proven(cond):
            return None
        raise self.error(f"cannot prove the assert ({cond}) while compiling, and compiled "
                         "kernels do not check asserts at run time", node)

    def _proven(self, cond):
        """A conjunction of loop-range facts: 0 <= v, v < extent (v a loop variable)."""
        if isinstance(cond, BinOp) and cond.op == "&&":
            return self._proven(cond.a) and self._proven(cond.b)
        if not isinstance(cond, Cmp):
            return False
        a, b, op = cond.a, cond.b, cond.op
        if op in (">", ">="):
            a, b, op = b, a, {">": "<", ">=": "<="}[op]
        if op == "<" and isinstance(a, Var) and a in self.loops:
            info = self.loops[a]
            return structural_equal(b, info.extent)
        if op == "<=" and isinstance(b, Var) and b in self.loops:
            return isinstance(a, Const) and a.value <= 0
        return False

    def stmt_Assign(self, node):
        if len(node.targets) != 1:
            raise self.error("chained assignment (a = b = ...) is not supported", node)
        target = node.targets[0]
        if isinstance(node.value, ast.Call) and self._is_hybrid_call(node.value):
            return self._assign_call(target, node.value)
        if isinstance(target, ast.Tuple):
            value = self.expr(node.value)
            if not isinstance(value, (tuple, list)) or len(value) != len(target.elts):
                raise self.error(f"cannot unpack {value!r} into {len(target.elts)} names", node)
            for t, v in zip(target.elts, value):
                if not isinstance(t, ast.Name):
                    raise self.error("only names can be unpacked into", node)
                self._bind_name(t.id, v, node)
            return None
        if isinstance(target, ast.Subscript):
            return self._store(target, self.expr(node.value), node)
        if isinstance(target, ast.Name):
            alloc = _alloc_call(node.value)
            value = self.expr(node.value, name_hint=target.id) if alloc else self.expr(node.value)
            return self._assign_name(target.id, value, node)
        raise self.error(f"cannot assign to {_describe(target)}", node)

    def _assign_name(self, name, value, node):
        cur = self.symbols.get(name)
        if isinstance(cur, LocalScalar):
            return BufferStore(cur.buffer, self._as_dtype(value, cur.buffer.dtype, node),
                               (Const(0, "int32"),))
        if isinstance(cur, Tensor):
            raise self.error(f"cannot assign to {name}: it is an input tensor of {self.fname}",
                             node)
        if isinstance(cur, ScriptBuffer):
            raise self.error(f"cannot rebind {name}: it names a tensor made with "
                             f"{'output_tensor' if cur.kind == 'output' else 'allocate'}()", node)
        if isinstance(cur, Expr) and cur in self.loops:
            raise self.error(f"cannot assign to loop variable {name}", node)
        if isinstance(value, (ScriptBuffer, Tensor, tuple, list, str)) or value is None:
            if cur is not None and self.assign_counts.get(name, 0) > 1 and \
                    not isinstance(value, (tuple, list, str)):
                raise self.error(f"cannot rebind {name} to a tensor", node)
            self.symbols[name] = value
            return None
        if self.assign_counts.get(name, 0) <= 1 and cur is None and not _reads_buffers(value):
            self.symbols[name] = value              # a compile-time value or a pure expression
            return None
        if cur is not None and not isinstance(cur, LocalScalar):
            raise self.error(f"cannot re-assign {name}: it is a parameter or compile-time value "
                             "of the script", node)
        value = convert(value)
        dt = dtypes.element(value.dtype)
        buf = Buffer(self.builder.unique(name), dt, (Const(1, "int32"),), "local")
        self.builder.declare(buf)
        self.symbols[name] = LocalScalar(buf)
        return BufferStore(buf, value, (Const(0, "int32"),))

    def _bind_name(self, name, value, node):
        if name in self.symbols:
            raise self.error(f"cannot rebind {name}", node)
        self.symbols[name] = value

    def stmt_AugAssign(self, node):
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise self.error(f"augmented assignment {type(node.op).__name__} is not supported",
                             node)
        if isinstance(node.target, ast.Subscript):
            cur = self.expr(node.target)
            return self._store(node.target, op(cur, self.expr(node.value)), node)
        if isinstance(node.target, ast.Name):
            name = node.target.id
            cur = self.symbols.get(name)
            if not isinstance(cur, LocalScalar):
                if cur is None:
                    raise self.error(f"name {name} is not defined", node)
                raise self.error(f"cannot update {name} in place: it is not a local variable "
                                 "of the script", node)
            value = op(cur.load(), self.expr(node.value))
            return BufferStore(cur.buffer, self._as_dtype(value, cur.buffer.dtype, node),
                               (Const(0, "int32"),))
        raise self.error(f"cannot assign to {_describe(node.target)}", node)

    def _store(self, target, value, node):
        obj = self.expr(target.value)
        if isinstance(obj, Tensor):                 # in place, into the caller's array
            buf = self.builder.input_buffer(obj, self, node)
            idx = self._indices(target.slice, obj.shape, obj.name, node)
            return BufferStore(buf, self._as_dtype(value, obj.dtype, node), idx)
        if not isinstance(obj, ScriptBuffer):
            raise self.error(f"cannot assign to an element of {_describe(target.value)}", node)
        idx = self._indices(target.slice, obj.buffer.shape, obj.buffer.name, node)
        return BufferStore(obj.buffer, self._as_dtype(value, obj.dtype, node), idx)

    def _as_dtype(self, value, dt, node):
        if isinstance(value, (ScriptBuffer, Tensor, tuple, list, str)):
            raise self.error(f"cannot store {_describe_value(value)} in an element of "
                             f"dtype {dt}", node)
        if _is_py_scalar(value):
            if isinstance(value, np.generic):
                value = value.item()
            if dtypes.is_int(dt) and isinstance(value, float) and value != int(value):
                raise self.error(f"cannot store {value} in an element of dtype {dt}", node)
            dtypes.check_fits(value, dt)
            return Const(value, dt)
        return value if dtypes.element(value.dtype) == dt else value.astype(dt)

    def stmt_If(self, node):
        cond = self.expr(node.test)
        if _is_py_scalar(cond):
            return self.block(node.body if cond else node.orelse) if (cond or node.orelse) \
                else None
        cond = self._bool(cond, node)
        then = self.block(node.body)
        other = self.block(node.orelse) if node.orelse else None
        return IfThenElse(cond, then, other)

    def stmt_For(self, node):
        if node.orelse:
            raise self.error("for ... else is not supported", node)
        if not isinstance(node.target, ast.Name):
            raise self.error("a loop variable must be a single name", node)
        it = node.iter
        fname = it.func.id if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) else None
        if fname not in LOOP_KINDS or fname in self.symbols:
            raise self.error("a loop must iterate over range, const_range, parallel, vectorize, "
                             f"unroll or bind, not {_describe(it)}", node)
        if it.keywords:
            raise self.error(f"{fname}() takes no keyword arguments", node)
        args = [self.expr(a) for a in it.args]
        name = node.target.id
        if name in self.symbols:
            raise self.error(f"loop variable {name} hides another name of the script", node)
        tag = None
        if fname == "bind":
            if len(args) != 2 or not isinstance(args[0], str):
                raise self.error("bind takes a thread tag and an extent: bind(\"threadIdx.x\", n)",
                                 node)
            if args[0] not in THREAD_TAGS:
                raise self.error(f"bind: unknown thread tag {args[0]!r}; expected one of "
                                 f"{', '.join(THREAD_TAGS)}", node)
            tag, lo, hi = args[0], 0, args[1]
        elif len(args) == 1:
            lo, hi = 0, args[0]
        elif len(args) == 2:
            lo, hi = args
        else:
            raise self.error(f"{fname}() takes 1 or 2 arguments (extent, or begin and end), got "
                             f"{len(args)}", node)
        for v in (lo, hi):
            if isinstance(v, (bool, float)) or not (_is_py_scalar(v) or (
                    isinstance(v, Expr) and dtypes.is_int(v.dtype))):
                raise self.error(f"{fname}(): loop bounds must be integers, got {v!r}", node)
        lo, hi = _py(lo), _py(hi)
        if fname == "const_range":
            if not (_is_py_scalar(lo) and _is_py_scalar(hi)):
                raise self.error("const_range needs bounds known while compiling (Python ints, "
                                 f"constant shapes or len()), got {lo} .. {hi}", node)
            out = []
            for k in range(int(lo), int(hi)):
                self.symbols[name] = int(k)
                out.append(self.block(node.body))
                del self.symbols[name]
            return seq(*out) if out else None
        extent = hi - lo if not (_is_py_scalar(lo) and lo == 0) else hi
        extent = convert(extent)
        if fname == "vectorize" and not isinstance(extent, Const):
            raise self.error(f"vectorize needs a constant extent, got {extent}", node)
        var = Var(self.builder.unique(name), "int32")
        value = var if (_is_py_scalar(lo) and lo == 0) else var + lo
        self.loops[var] = _LoopInfo(var, 0, extent)
        self.symbols[name] = value
        if value is not var:
            self.loops[value] = _LoopInfo(var, lo, extent)
        body = self.block(node.body)
        del self.symbols[name]
        kind = LOOP_KINDS[fname]
        pragmas = (("thread", tag),) if tag else ()
        return For(var, Const(0, "int32"), extent, kind, body, pragmas)

    # ------------------------------------------------------------------ hybrid calls
    def _is_hybrid_call(self, call):
        from . import HybridFunction
        f = self._lookup_callable(call.func)
        return isinstance(f, HybridFunction)

    def _lookup_callable(self, fn):
        if isinstance(fn, ast.Name):
            if fn.id in self.symbols:
                return self.symbols[fn.id]
            return self._outer_value(fn.id, default=None)
        return None

    def _assign_call(self, target, call):
        callee = self._lookup_callable(call.func)
        if call.keywords:
            raise self.error(f"calls of hybrid function {callee.func.__name__} take positional "
                             "arguments only", call)
        if self.depth >= MAX_CALL_DEPTH:
            raise self.error(f"hybrid calls nest deeper than {MAX_CALL_DEPTH} (recursion?)", call)
        args = [self.expr(a) for a in call.args]
        sub = Parser(callee, args, self.builder, self.depth + 1)
        body, ret = sub.parse_inlined()
        names = [target] if not isinstance(target, ast.Tuple) else target.elts
        vals = ret if isinstance(ret, tuple) else (ret,)
        if len(names) != len(vals):
            raise self.error(f"{callee.func.__name__} returns {len(vals)} value(s), assigned to "
                             f"{len(names)} name(s)", call)
        for t, v in zip(names, vals):
            if not isinstance(t, ast.Name):
                raise self.error("the result of a hybrid call must be assigned to names", call)
            self._bind_name(t.id, v, call)
        return body

    # ------------------------------------------------------------------ expressions
    def expr(self, node, name_hint=None):
        fn = getattr(self, "expr_" + type(node).__name__, None)
        if fn is None:
            raise self.error(f"{_describe(node)} is not supported in a hybrid script", node)
        if name_hint is not None:
            return fn(node, name_hint)
        return fn(node)

    def expr_Constant(self, node):
        if isinstance(node.value, (bool, int, float, str)):
            return node.value
        raise self.error(f"constant {node.value!r} is not supported", node)

    def expr_Name(self, node):
        name = node.id
        if name in self.symbols:
            v = self.symbols[name]
            return v.load() if isinstance(v, LocalScalar) else v
        v = self._outer_value(name, default=_MISSING)
        if v is _MISSING:
            raise self.error(f"name {name} is not defined", node)
        return v

    def _outer_value(self, name, default):
        """A name from the function's closure or globals: a compile-time constant, a te.var
        or another hybrid function."""
        from . import HybridFunction
        if name in LOOP_KINDS or name in EXPR_FUNCS or name in ("output_tensor", "allocate",
                                                                  "len"):
            return default
        cl = inspect.getclosurevars(self.func)
        for scope in (cl.nonlocals, cl.globals):
            if name in scope:
                v = scope[name]
                if isinstance(v, (HybridFunction, Expr)) or _is_constant(v):
                    return v.item() if isinstance(v, np.generic) else v
                raise self.error(f"name {name} refers to {_describe_value(v)}; a script can "
                                 "capture numbers, strings, tuples and lists of them, te.vars "
                                 "and other hybrid functions")
        return default

    def expr_Tuple(self, node):
        return tuple(self.expr(e) for e in node.elts)

    def expr_List(self, node):
        return [self.expr(e) for e in node.elts]

    def expr_BinOp(self, node):
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise self.error(f"operator {type(node.op).__name__} is not supported", node)
        a, b = self.expr(node.left), self.expr(node.right)
        for v in (a, b):
            if not (_is_py_scalar(v) or isinstance(v, Expr)):
                raise self.error(f"cannot compute with {_describe_value(v)}", node)
        return op(a, b)

    def expr_UnaryOp(self, node):
        v = self.expr(node.operand)
        if isinstance(node.op, ast.Not):
            if _is_py_scalar(v):
                return not v
            return Not(self._bool(v, node))
        if isinstance(node.op, ast.USub):
            return -v
        if isinstance(node.op, ast.UAdd):
            return v
        if isinstance(node.op, ast.Invert):
            return ~v
        raise self.error(f"operator {type(node.op).__name__} is not supported", node)

    def expr_BoolOp(self, node):
        vals = [self.expr(v) for v in node.values]
        is_and = isinstance(node.op, ast.And)
        out = None
        for v in vals:
            if _is_py_scalar(v):
                if bool(v) != is_and:               # False in `and`, True in `or` decides
                    return bool(v)
                continue
            v = self._bool(v, node)
            out = v if out is None else (logical_and(out, v) if is_and else logical_or(out, v))
        return is_and if out is None else out

    def expr_Compare(self, node):
        left = self.expr(node.left)
        out = None
        for op, right_node in zip(node.ops, node.comparators):
            right = self.expr(right_node)
            fn = _CMPS.get(type(op))
            if fn is None:
                raise self.error(f"comparison {type(op).__name__} is not supported", node)
            c = fn(left, right)
            if _is_py_scalar(c):
                if not c:
                    return False
            else:
                out = c if out is None else logical_and(out, c)
            left = right
        return True if out is None else out

    def expr_IfExp(self, node):
        cond = self.expr(node.test)
        if _is_py_scalar(cond):
            return self.expr(node.body) if cond else self.expr(node.orelse)
        return if_then_else(self._bool(cond, node), self.expr(node.body), self.expr(node.orelse))

    def expr_Attribute(self, node):
        obj = self.expr(node.value)
        if node.attr in ("shape", "dtype") and isinstance(obj, (Tensor, ScriptBuffer)):
            if node.attr == "dtype":
                return obj.dtype
            return tuple(_py(d) for d in obj.shape)
        raise self.error(f"attribute {node.attr} of {_describe_value(obj)} is not supported "
                         "(tensors have .shape and .dtype)", node)

    def expr_Subscript(self, node):
        obj = self.expr(node.value)
        if isinstance(obj, (Tensor, ScriptBuffer)):
            shape = obj.shape if isinstance(obj, Tensor) else obj.buffer.shape
            name = obj.name if isinstance(obj, Tensor) else obj.buffer.name
            idx = self._indices(node.slice, shape, name, node)
            if isinstance(obj, Tensor):
                return _TensorLoad(obj, idx, obj.dtype)
            return BufferLoad(obj.buffer, idx, obj.dtype)
        if isinstance(obj, (tuple, list)):
            keys = self.expr(node.slice)
            for k in (keys if isinstance(keys, tuple) else (keys,)):    # b[i, j] of nested lists
                if not isinstance(k, numbers.Integral) or isinstance(k, bool):
                    raise self.error(f"a tuple or list can only be indexed by a number known "
                                     f"while compiling (a const_range variable), got {k}", node)
                if not isinstance(obj, (tuple, list)) or not -len(obj) <= k < len(obj):
                    raise self.error(f"index {k} is out of range of {_describe_value(obj)}", node)
                obj = obj[k]
            return obj
        raise self.error(f"{_describe_value(obj)} cannot be indexed", node)

    def _indices(self, sl, shape, name, node):
        if isinstance(sl, ast.Slice):
            raise self.error(f"slices of {name} are not supported; index one element", node)
        vals = self.expr(sl)
        vals = vals if isinstance(vals, tuple) else (vals,)
        if len(vals) != len(shape):
            raise self.error(f"{name} has {len(shape)} dimension(s) but is indexed with "
                             f"{len(vals)} index(es) (write {name}[i, j], not {name}[i][j])",
                             node)
        out = []
        for d, v in enumerate(vals):
            if isinstance(v, bool) or not (isinstance(v, numbers.Integral) or
                                           (isinstance(v, Expr) and dtypes.is_int(v.dtype))):
                raise self.error(f"index {d} of {name} must be an integer, got {v!r}", node)
            v = convert(int(v)) if isinstance(v, numbers.Integral) else v
            ext = shape[d]
            if isinstance(v, Const) and isinstance(ext, Const) and not 0 <= v.value < ext.value:
                raise self.error(f"index {v.value} is out of bounds for dimension {d} of {name} "
                                 f"(extent {ext.value})", node)
            out.append(v)
        return tuple(out)

    def expr_Call(self, node, name_hint=None):
        if not isinstance(node.func, ast.Name):
            raise self.error(f"calling {_describe(node.func)} is not supported (call the script "
                             "functions by name)", node)
        name = node.func.id
        if name in self.symbols:
            raise self.error(f"{name} is not a function", node)
        if self._is_hybrid_call(node):
            raise self.error(f"a call of hybrid function {name} must be assigned to names on "
                             f"its own line: `x = {name}(...)`", node)
        args = [self.expr(a) for a in node.args]
        kwargs = {k.arg: self.expr(k.value) for k in node.keywords}
        if name in ("output_tensor", "allocate"):
            return self._alloc(name, args, kwargs, name_hint or name, node)
        if name in LOOP_KINDS:
            raise self.error(f"{name}() can only be used as the iterable of a for loop", node)
        if kwargs and name != "max_num_threads":
            raise self.error(f"{name}() takes no keyword arguments", node)
        if name == "len":
            if len(args) != 1:
                raise self.error("len() takes one argument", node)
            v = args[0]
            if isinstance(v, (tuple, list, str)):
                return len(v)
            if isinstance(v, (Tensor, ScriptBuffer)):
                return _py(v.shape[0]) if isinstance(v, Tensor) else v.shape[0]
            raise self.error(f"len() of {_describe_value(v)}", node)
        fn = EXPR_FUNCS.get(name)
        if fn is None:
            raise self.error(f"function {name} is not supported in a hybrid script", node)
        for v in args:
            if not (_is_py_scalar(v) or isinstance(v, (Expr, str))):
                raise self.error(f"{name}() of {_describe_value(v)}", node)
        try:
            return fn(*args, **kwargs)
        except TypeError as e:
            raise self.error(f"{name}(): {e}", node) from None

    def _alloc(self, name, args, kwargs, hint, node):
        params = ["shape", "dtype"] + (["scope"] if name == "allocate" else [])
        if len(args) > len(params) or set(kwargs) - set(params):
            raise self.error(f"{name} takes ({', '.join(params)})", node)
        vals = dict(zip(params, args))
        for k, v in kwargs.items():
            if k in vals:
                raise self.error(f"{name}: {k} given twice", node)
            vals[k] = v
        if "shape" not in vals:
            raise self.error(f"{name} needs a shape", node)
        shape = vals["shape"]
        shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
        dims = []
        for d in shape:
            if isinstance(d, bool) or not (isinstance(d, numbers.Integral) or
                                           (isinstance(d, Expr) and dtypes.is_int(d.dtype))):
                raise self.error(f"{name}: the shape must be integers, got {d!r}", node)
            d = convert(int(d)) if isinstance(d, numbers.Integral) else d
            if isinstance(d, Const) and d.value <= 0:
                raise self.error(f"{name}: dimension {d.value} of the shape is not positive", node)
            dims.append(d)
        dt = vals.get("dtype", "float32")
        if not isinstance(dt, str):
            raise self.error(f"{name}: dtype must be a string, got {dt!r}", node)
        dt = dtypes.normalize(dt)
        scope = vals.get("scope", "global")
        if scope not in ("global", "local", "shared"):
            raise self.error(f"allocate: unknown scope {scope!r}; expected global, local or "
                             "shared", node)
        buf = Buffer(self.builder.unique(hint), dt, tuple(dims), scope)
        self.builder.declare(buf)
        return ScriptBuffer(buf, "output" if name == "output_tensor" else "alloc")

    def _bool(self, v, node):
        if not isinstance(v, Expr):
            raise self.error(f"a condition must be an expression or a compile-time value, got "
                             f"{_describe_value(v)}", node)
        if dtypes.is_bool(v.dtype):
            return v
        return v != 0


_MISSING = object()


_BINOPS = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
    ast.BitAnd: lambda a, b: a & b, ast.BitOr: lambda a, b: a | b,
    ast.BitXor: lambda a, b: a ^ b, ast.LShift: lambda a, b: a << b,
    ast.RShift: lambda a, b: a >> b,
}
_CMPS = {
    ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b, ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
}


def _assign_counts(fdef):
    """How many times each name is assigned (plain, augmented or as a loop variable)."""
    counts = {}

    def add(t):
        if isinstance(t, ast.Name):
            counts[t.id] = counts.get(t.id, 0) + 1
        elif isinstance(t, ast.Tuple):
            for e in t.elts:
                add(e)
    for n in ast.walk(fdef):
        if isinstance(n, ast.Assign):
            for t in n.targets:
                add(t)
        elif isinstance(n, ast.AugAssign):
            add(n.target)
            add(n.target)
        elif isinstance(n, ast.For):
            add(n.target)
    return counts


def _alloc_call(node):
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
        node.func.id in ("output_tensor", "allocate")


def _reads_buffers(v):
    """Does v read a buffer the script may write (so it cannot stand for its expression)?"""
    return isinstance(v, Expr) and any(isinstance(n, BufferLoad) for n in walk(v))


def _is_constant(v):
    if isinstance(v, (bool, numbers.Number, np.generic, str)):
        return True
    if isinstance(v, (tuple, list)):
        return all(_is_constant(x) or isinstance(x, Expr) for x in v)
    return False


def _param_value(v, name, parser):
    from . import HybridFunction
    if isinstance(v, (Tensor, Expr, ScriptBuffer, HybridFunction)):
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (bool, numbers.Number, str)):
        return v
    if isinstance(v, (tuple, list)):
        return type(v)(_param_value(x, name, parser) for x in v)
    raise parser.error(f"argument {name} is {_describe_value(v)}; a script takes tensors "
                       "(te.placeholder or compute outputs), te.vars, numbers, and tuples or "
                       "lists of them")


def _describe(node):
    names = {"While": "a while loop", "Break": "break", "Continue": "continue",
             "With": "a with statement", "Try": "try", "FunctionDef": "a nested function",
             "Lambda": "a lambda", "ListComp": "a list comprehension", "Raise": "raise",
             "Import": "import", "ImportFrom": "import", "Global": "global",
             "Nonlocal": "nonlocal", "Delete": "del", "ClassDef": "a class definition",
             "Starred": "*unpacking", "Dict": "a dict", "Set": "a set", "JoinedStr": "an f-string"}
    k = type(node).__name__
    if k in names:
        return names[k]
    try:
        return f"`{ast.unparse(node)}`"
    except Exception:            # pragma: no cover - unparse handles every parsed node
        return k


def _describe_value(v):
    if isinstance(v, Tensor):
        return f"tensor {v.name}"
    if isinstance(v, ScriptBuffer):
        return f"tensor {v.buffer.name}"
    if isinstance(v, (tuple, list)):
        return f"a {type(v).__name__}"
    if isinstance(v, str):
        return f"the string {v!r}"
    return f"{type(v).__name__} {v!r}" if not isinstance(v, Expr) else f"expression {v}"


def parse(hfunc, args):
    """The HybridOp of hfunc called with args; returns its output tensor(s)."""
    builder = Builder()
    for a in _flat(args):             # keep the script's names apart from its arguments'
        if isinstance(a, Tensor):
            builder.names.add(a.name)
            builder.names.update(v.name for d in a.shape for v in free_vars(d))
        elif isinstance(a, Expr):
            builder.names.update(v.name for v in free_vars(a))
    parser = Parser(hfunc, list(args), builder)
    body, outs = parser.parse_script()
    inputs = [a for a in _flat(args) if isinstance(a, Tensor)]
    op = HybridOp(hfunc.func.__name__, inputs, outs, body,
                  written_inputs=list(builder.written.values()))
    res = [op.output(i) for i in range(op.num_outputs)]
    return res[0] if len(res) == 1 else res          # several outputs: a list, as TVM's


def _flat(args):
    for a in args:
        if isinstance(a, (tuple, list)):
            yield from _flat(a)
        else:
            yield a
