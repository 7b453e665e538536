"""te.hybrid.build: a schedule's loop nest written back out as a hybrid script (TVM's
HybridModule), the Python that texpr's hybrid frontend (texpr/hybrid/) parses and emulates.

The program is taken after the `loop_nest` pass (texpr/lower/pipeline.py), simplified but not
flattened: accesses keep one index per dimension, so the script indexes tensors as the user
does. Splits appear as `i_outer * f + i_inner`, fused loops as `//` and `%`, split tails as
`if` guards, intermediate stages as `allocate(...)`, the outputs as `output_tensor(...)`;
parallel, vectorized, unrolled and thread-bound loops keep their kind (parallel(), vectorize(),
unroll(), bind()). What a script cannot say (extern calls, tensorized loops) is refused with a
LoweringError naming it.
"""
import keyword
import math

from ..errors import InternalError, LoweringError
from ..hybrid.intrinsics import CAST_NAMES, EXPR_FUNCS, LOOP_KINDS, THREAD_TAGS
from ..hybrid.module import HybridModule
from ..lang import dtypes
from ..lang.expr import BinOp, Call, Cast, Cmp, Const, ExternCall, Not, Select, Var
from ..lang.extern import ExternOp
from ..lang.ir import (Allocate, BufferLoad, BufferStore, CheckedIndex, Evaluate, For,
                       IfThenElse, IntrinCall, Seq, SpecializedBody, StageRegion)
from ..lang.tensor import PlaceholderOp, Tensor
from ..lang.visitor import free_vars, walk
from ..lower.analysis.arith import simplify
from ..lower.pipeline import lower
from ..lower.simplify_pass import simplify_stmt
from ..schedule.schedule import Schedule

INDENT = "    "
# texpr's math Call names -> the script function of the same meaning
_CALL_NAMES = {"sqrt": "sqrt", "exp": "exp", "log": "log", "tanh": "tanh",
               "sigmoid": "sigmoid", "abs": "abs", "pow": "power", "popcount": "popcount"}
_LOOP_FUNCS = {"serial": "range", "parallel": "parallel", "vectorized": "vectorize",
               "unrolled": "unroll"}
# Python's operator precedence (higher binds tighter); calls, names and literals are atoms
_PREC = {"if": 1, "or": 2, "and": 3, "not": 4, "<": 5, "|": 6, "^": 7, "&": 8, "<<": 9, ">>": 9,
         "+": 10, "-": 10, "*": 11, "/": 11, "//": 11, "%": 11}
_ATOM = 20
_RESERVED = set(keyword.kwlist) | set(LOOP_KINDS) | set(EXPR_FUNCS) | set(CAST_NAMES) | {
    "output_tensor", "allocate", "len", "bool", "int", "float", "print"}


def build(sch, inputs, outputs, name="hybrid_func"):
    """The schedule's loop nest as a HybridModule: a script taking `inputs` (tensors and
    te.vars, in order) and returning `outputs` (tensors)."""
    if not isinstance(sch, Schedule):
        raise LoweringError(f"te.hybrid.build expects a Schedule (te.create_schedule), got "
                            f"{sch!r}")
    inputs, outputs = _as_list(inputs, "inputs"), _as_list(outputs, "outputs")
    for t in inputs:
        if not isinstance(t, (Tensor, Var)):
            raise LoweringError(f"te.hybrid.build: an input is a tensor or a te.var, got {t!r}")
    for t in outputs:
        if not isinstance(t, Tensor):
            raise LoweringError(f"te.hybrid.build: an output is a tensor, got {t!r}")
    if not outputs:
        raise LoweringError("te.hybrid.build: a hybrid script returns at least one output "
                            "tensor")
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise LoweringError(f"te.hybrid.build: name must be a Python identifier, got {name!r}")
    for st in sch.stages:
        if isinstance(st.op, ExternOp) and st.attach_type != "inline":
            raise LoweringError(f"te.hybrid.build: stage {st.name} is an extern op (its body "
                                "calls code texpr cannot see into); a hybrid script cannot "
                                "express it")
    func = lower(sch, list(inputs) + list(outputs), name, stop_after="loop_nest")
    body = simplify_stmt(func.body)
    params = func.params[:len(inputs)]
    computed = {id(b) for t, b in zip(inputs, params) if not isinstance(t, Var) and
                not isinstance(t.op, PlaceholderOp)}
    return HybridModule(emit_hybrid_script(body, params, func.params[len(inputs):], name,
                                           computed), name)


def _as_list(v, what):
    if isinstance(v, (Tensor, Var)):
        return [v]
    if not isinstance(v, (list, tuple)):
        raise LoweringError(f"te.hybrid.build: {what} must be a list, got {v!r}")
    return list(v)


def emit_hybrid_script(body, inputs, outputs, name, computed=frozenset()):
    """The source of `def name(inputs): ... return outputs` for the loop program `body`;
    inputs: its Buffers and Vars (the script's parameters), outputs: Buffers. A script may
    write an input placeholder in place, but not an input some stage computes (ids in
    `computed`): its stage would be lost."""
    return _ScriptWriter(name, computed).function(body, inputs, outputs)


class _ScriptWriter:
    def __init__(self, name, computed):
        self.name = name
        self.lines = []
        self.names = {}            # id(Var or Buffer) -> identifier
        self.used = set(_RESERVED) | {name}
        self.computed = computed   # ids of input Buffers a stage computes (never written)
        self.stage = None

    # ------------------------------------------------------------------ names
    def ident(self, obj):
        key = id(obj)
        got = self.names.get(key)
        if got is None:
            base = "".join(c if c.isalnum() or c == "_" else "_" for c in obj.name) or "v"
            if base[0].isdigit():
                base = "v" + base
            got, k = base, 0
            while got in self.used:
                k += 1
                got = f"{base}_{k}"
            self.used.add(got)
            self.names[key] = got
        return got

    def line(self, depth, text):
        self.lines.append(INDENT * depth + text)

    # ------------------------------------------------------------------ function
    def function(self, body, inputs, outputs):
        params = [self.ident(p) for p in inputs]
        self.line(0, f"def {self.name}({', '.join(params)}):")
        self._shape_vars(body, inputs, outputs)
        for b in outputs:
            self.line(1, f"{self.ident(b)} = output_tensor({self._shape(b.shape)}, "
                         f"{b.dtype!r})")
        self.stmt(body, 1)
        self.line(1, "return " + ", ".join(self.ident(b) for b in outputs))
        return "\n".join(self.lines) + "\n"

    def _shape_vars(self, body, inputs, outputs):
        """`n = a.shape[0]` for each size variable the program uses that is not a parameter
        (the dimension of an input that it is); TVM scripts take them as parameters."""
        given = {id(p) for p in inputs if isinstance(p, Var)}
        nodes = list(walk(body))
        loops = {id(n.var) for n in nodes if isinstance(n, For)}
        shapes = [d for b in outputs for d in b.shape] + \
            [d for n in nodes if isinstance(n, Allocate) for d in n.buffer.shape]
        wanted = {}                         # id -> Var, in order of first use
        for e in [body] + shapes:
            for v in sorted(free_vars(e), key=lambda v: v.name):
                if id(v) not in given and id(v) not in loops:
                    wanted.setdefault(id(v), v)
        for b in inputs:                    # in the order of the inputs' dimensions
            for k, d in enumerate(() if isinstance(b, Var) else b.shape):
                if wanted.pop(id(d), None) is not None:
                    self.line(1, f"{self.ident(d)} = {self.ident(b)}.shape[{k}]")
        if wanted:
            v = next(iter(wanted.values()))
            raise LoweringError(f"te.hybrid.build: variable {v.name} is neither an input nor "
                                "a dimension of an input tensor; pass it in inputs")

    def _shape(self, shape):
        dims = [self.expr(d) for d in shape]
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"

    # ------------------------------------------------------------------ statements
    def stmt(self, s, depth):
        t = type(s)
        if t is Seq:
            for x in s.stmts:
                self.stmt(x, depth)
            if not s.stmts:
                self.line(depth, "pass")
        elif t is StageRegion:
            saved, self.stage = self.stage, s.name
            self.line(depth, f"# stage {s.name}")
            self.stmt(s.body, depth)
            self.stage = saved
        elif t is SpecializedBody:          # a size class of Schedule.specialize
            self.line(depth, f"# specialisation {s.index}: {s.label}")
            for v, e in s.bindings:
                self.line(depth, f"{v.name} = {self.expr(e)}")
            self.stmt(s.body, depth)
        elif t is For:
            self._for(s, depth)
        elif t is IfThenElse:
            self.line(depth, f"if {self.expr(s.cond)}:")
            self.stmt(s.then_case, depth + 1)
            if s.else_case is not None:
                self.line(depth, "else:")
                self.stmt(s.else_case, depth + 1)
        elif t is Allocate:
            b = s.buffer
            scope = "" if b.scope == "global" else f", {b.scope!r}"
            self.line(depth, f"{self.ident(b)} = allocate({self._shape(b.shape)}, "
                             f"{b.dtype!r}{scope})")
            self.stmt(s.body, depth)
        elif t is BufferStore:
            if id(s.buffer) in self.computed:
                raise LoweringError(f"te.hybrid.build: stage {self.stage} writes {s.buffer.name}, "
                                    "which is given as an input; a hybrid script writes its "
                                    "outputs, the buffers it allocates and, in place, input "
                                    "placeholders, not an input a stage computes")
            self.line(depth, f"{self._access(s.buffer, s.indices)} = {self.expr(s.value)}")
        elif t is Evaluate and isinstance(s.value, Const):
            self.line(depth, "pass")
        elif t is IntrinCall:
            raise LoweringError(f"te.hybrid.build: stage {self.stage} is tensorized "
                                f"({s.intrin.name}); a hybrid script cannot call a tensor "
                                "intrinsic")
        elif t is Evaluate and isinstance(s.value, ExternCall):
            raise LoweringError(f"te.hybrid.build: stage {self.stage} calls {s.value.name} "
                                "(an extern call); a hybrid script cannot express it")
        else:
            raise InternalError(f"te.hybrid.build: no hybrid-script form for the statement "
                                f"{t.__name__} after the loop_nest pass")

    def _for(self, s, depth):
        lo, ext = s.min, s.extent
        bounds = self.expr(ext) if _is_zero(lo) else \
            f"{self.expr(lo)}, {self.expr(simplify(BinOp('+', lo, ext, ext.dtype)))}"
        tag = dict(s.pragmas).get("thread") if s.kind == "thread" else None
        if tag in THREAD_TAGS:
            if not _is_zero(lo):
                raise InternalError(f"thread loop {s.var.name} starts at {lo}, not 0")
            it = f"bind({tag!r}, {bounds})"
        elif s.kind == "thread":
            if tag != "vthread":
                raise InternalError(f"loop {s.var.name} is bound to unknown thread tag {tag!r}")
            it = f"range({bounds})"         # virtual threads: a loop over them is what they mean
        else:
            fn = _LOOP_FUNCS.get(s.kind)
            if fn is None:
                raise InternalError(f"te.hybrid.build: unknown loop kind {s.kind!r}")
            if fn == "vectorize" and not isinstance(ext, Const):
                fn = "range"                # vectorize() takes a constant extent only
            it = f"{fn}({bounds})"
        self.line(depth, f"for {self.ident(s.var)} in {it}:")
        self.stmt(s.body, depth + 1)

    def _access(self, buf, indices):
        return f"{self.ident(buf)}[{', '.join(self.expr(i) for i in indices)}]"

    # ------------------------------------------------------------------ expressions
    def expr(self, e):
        return self._term(e)[0]

    def _operand(self, e, prec):
        """e's text, in parentheses unless it binds at least as tightly as prec."""
        text, p = self._term(e)
        return text if p >= prec else f"({text})"

    def _infix(self, a, op, b, prec):
        # left-associative: the right operand binds strictly tighter (a - (b - c));
        # comparisons chain in Python, so neither side may be one
        left = prec + 1 if prec == _PREC["<"] else prec
        return f"{self._operand(a, left)} {op} {self._operand(b, prec + 1)}", prec

    def _term(self, e):
        """(text, precedence) of e: Python's binding strength of its outermost operator."""
        t = type(e)
        if t is Const:
            return _const(e), _ATOM
        if t is Var:
            return self.ident(e), _ATOM
        if t is BinOp:
            op = e.op
            if op in ("tdiv", "tmod") and isinstance(e.b, Const) and e.b.value > 0:
                # the simplifier truncates only a dividend it proved non-negative, by a positive
                # constant: the same as floor division (Python's // and %)
                op = "//" if op == "tdiv" else "%"
            op = {"&&": "and", "||": "or"}.get(op, op)
            if op in _PREC:
                return self._infix(e.a, op, e.b, _PREC[op])
            if op in ("min", "max"):
                return f"{op}({self.expr(e.a)}, {self.expr(e.b)})", _ATOM
            raise InternalError(f"te.hybrid.build: no hybrid-script form for operator {e.op!r}")
        if t is Cmp:
            return self._infix(e.a, e.op, e.b, _PREC["<"])
        if t is Not:
            return f"not {self._operand(e.a, _PREC['not'])}", _PREC["not"]
        if t is Select:
            p = _PREC["if"] + 1
            return (f"{self._operand(e.t, p)} if {self._operand(e.cond, p)} else "
                    f"{self._operand(e.f, p)}"), _PREC["if"]
        if t is Cast:
            if e.dtype == e.value.dtype:
                return self._term(e.value)
            if dtypes.is_bool(e.dtype):
                return self._infix(e.value, "!=", Const(0, e.value.dtype), _PREC["<"])
            return f"{_dtype_name(e.dtype)}({self.expr(e.value)})", _ATOM
        if t is BufferLoad:
            return self._access(e.buffer, e.indices), _ATOM
        if t is CheckedIndex:
            return self._term(e.value)      # the parsed op checks its indices again
        if t is Call:
            fn = _CALL_NAMES.get(e.name)
            if fn is None:
                raise LoweringError(f"te.hybrid.build: stage {self.stage} calls the math "
                                    f"function {e.name}, which hybrid scripts do not have "
                                    f"(they have {', '.join(sorted(set(_CALL_NAMES.values())))})")
            return f"{fn}({', '.join(self.expr(a) for a in e.args)})", _ATOM
        if t is ExternCall:
            raise LoweringError(f"te.hybrid.build: stage {self.stage} calls {e.name} (an "
                                "extern call); a hybrid script cannot express it")
        raise InternalError(f"te.hybrid.build: no hybrid-script form for {t.__name__} "
                            f"({e}) after the loop_nest pass")

def _is_zero(e):
    return isinstance(e, Const) and e.value == 0


def _dtype_name(dt):
    if dtypes.lanes(dt) != 1 or dt not in CAST_NAMES:
        raise LoweringError(f"te.hybrid.build: dtype {dt} has no hybrid-script name (scripts "
                         f"have {', '.join(CAST_NAMES)})")
    return dt


def _const(c):
    dt, v = c.dtype, c.value
    if dtypes.is_bool(dt):
        return "True" if v else "False"
    if dtypes.is_float(dt):
        if math.isnan(v):
            raise LoweringError("te.hybrid.build: a NaN constant has no hybrid-script form")
        if math.isinf(v):
            return f"{'inf' if v > 0 else 'ninf'}({dt!r})"
        return f"{_dtype_name(dt)}({v!r})"
    text = str(v) if v >= 0 else f"({v})"
    return text if dt == "int32" else f"{_dtype_name(dt)}({text})"

