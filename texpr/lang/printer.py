"""Readable text for every IR node, in one place: expressions (str(), te.lower) and the
statements of the loop program. One method per node class, found by the node's class
(lang/visitor.method_for): expr_<Class>(node, prec) and stmt_<Class>(node, pad)."""
from . import expr as E
from .visitor import method_for

_PREC = {"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, "<=": 7, ">": 7,
         ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "//": 10, "%": 10,
         "tdiv": 10, "tmod": 10}
_SHOW = {"tdiv": "//", "tmod": "%"}


def to_str(n, prec=0):
    """An expression (or intrinsic operand) as text; prec: the binding strength around it."""
    fn = method_for(Printer, "expr_", type(n))
    if fn is None:
        return object.__repr__(n)
    return fn(_PRINTER, n, prec)


def to_text(s, indent=0):
    """A statement as indented lines of the loop program."""
    pad = "  " * indent
    fn = method_for(Printer, "stmt_", type(s))
    if fn is None:
        return f"{pad}{object.__repr__(s)}\n"
    return fn(_PRINTER, s, indent)


def _args(xs):
    return ", ".join(to_str(x) for x in xs)


class Printer:
    # ------------------------------------------------------------------ expressions
    def expr_Var(self, n, prec):
        return n.name

    def expr_Const(self, n, prec):
        if n.dtype in ("int32", "bool", "float32"):
            return repr(n.value) if n.dtype != "float32" else f"{n.value!r}f"
        return f"{n.value!r}:{n.dtype}"

    def expr_BinOp(self, n, prec):
        if n.op in ("min", "max"):
            return f"{n.op}({to_str(n.a)}, {to_str(n.b)})"
        p = _PREC[n.op]
        s = f"{to_str(n.a, p)} {_SHOW.get(n.op, n.op)} {to_str(n.b, p + 1)}"
        return f"({s})" if p < prec else s

    expr_Cmp = expr_BinOp

    def expr_Not(self, n, prec):
        return f"!{to_str(n.a, 11)}"

    def expr_Select(self, n, prec):
        return f"select({to_str(n.cond)}, {to_str(n.t)}, {to_str(n.f)})"

    def expr_Cast(self, n, prec):
        return f"{n.dtype}({to_str(n.value)})"

    def expr_Call(self, n, prec):
        return f"{n.name}({_args(n.args)})"

    def expr_ExternCall(self, n, prec):
        return f"{n.kind}:{n.name}({_args(n.args)})"

    def expr_BufferPtr(self, n, prec):
        if n.array or (isinstance(n.offset, E.Const) and n.offset.value == 0):
            return n.buffer.name
        return f"&{n.buffer.name}[{to_str(n.offset)}]"

    def expr_TensorLoad(self, n, prec):
        return f"{n.tensor.name}[{_args(n.indices)}]"

    def expr_Reduce(self, n, prec):
        axes = ", ".join(iv.var.name for iv in n.axis)
        where = ("" if isinstance(n.where, E.Const) and n.where.value is True
                 else f", where={to_str(n.where)}")
        value = f".v{n.value_index}" if n.combiner.size > 1 else ""
        return f"{n.combiner.name}({to_str(n.source)}, axis=[{axes}]{where}){value}"

    def expr_CommReducer(self, n, prec):
        return f"comm_reducer({n.name})"

    def expr_BufferLoad(self, n, prec):
        pred = f", predicate={to_str(n.predicate)}]" if n.predicate is not None else "]"
        return f"{n.buffer.name}[{_args(n.indices)}" + pred

    def expr_Ramp(self, n, prec):
        return f"ramp({to_str(n.base)}, {n.stride}, {n.lanes})"

    def expr_Broadcast(self, n, prec):
        return f"x{n.lanes}({to_str(n.value)})"

    def expr_VarLoad(self, n, prec):
        return n.var.name

    def expr_CheckedIndex(self, n, prec):
        return f"checked({to_str(n.value)}, {to_str(n.extent)})"

    def expr_ShuffleDown(self, n, prec):
        return f"shuffle_down({to_str(n.value)}, {n.offset})"

    def expr_LaneReduce(self, n, prec):
        return f"lanes_{n.op}({to_str(n.value)})"

    def expr_FusedMulAdd(self, n, prec):
        return f"fma.{n.form}({to_str(n.a)}, {to_str(n.b)}, {to_str(n.c)})"

    def expr_WideningMul(self, n, prec):
        return f"widening_mul({to_str(n.a)}, {to_str(n.b)})"

    def expr_SaturatingNarrow(self, n, prec):
        return f"saturate<{n.dtype}>({to_str(n.value)})"

    def expr_IntrinOperand(self, n, prec):
        return f"{n.buffer.name}[{_args(n.indices)}]"

    # ------------------------------------------------------------------ statements
    def stmt_For(self, s, indent):
        pad = "  " * indent
        ann = "" if s.kind == "serial" else f" {s.kind}"
        prag = "".join(f" pragma({k}={v})" for k, v in s.pragmas)
        head = f"{pad}for{ann}{prag} ({s.var.name}, {to_str(s.min)}, {to_str(s.extent)}) {{\n"
        return head + to_text(s.body, indent + 1) + f"{pad}}}\n"

    def stmt_BufferStore(self, s, indent):
        idx = _args(s.indices)
        if s.predicate is not None:
            idx += f", predicate={to_str(s.predicate)}"
        return f"{'  ' * indent}{s.buffer.name}[{idx}] = {to_str(s.value)}\n"

    def stmt_VarStore(self, s, indent):
        return f"{'  ' * indent}{s.var.name} = {to_str(s.value)}\n"

    def stmt_Allocate(self, s, indent):
        b = s.buffer
        return (f"{'  ' * indent}allocate {b.name}: {b.dtype}[{_args(b.shape)}] in {b.scope}\n"
                + to_text(s.body, indent))

    def stmt_DeclareVars(self, s, indent):
        names = ", ".join(f"{v.name}: {v.dtype}" for v in s.vars)
        return f"{'  ' * indent}registers {names}\n" + to_text(s.body, indent)

    def stmt_IfThenElse(self, s, indent):
        pad = "  " * indent
        out = f"{pad}if ({to_str(s.cond)}) {{\n" + to_text(s.then_case, indent + 1)
        # a specialised schedule's chain of classes reads as if / else if / else
        while _class_branch(s.else_case):
            s = s.else_case
            out += f"{pad}}} else if ({to_str(s.cond)}) {{\n" + to_text(s.then_case, indent + 1)
        if s.else_case is not None:
            out += f"{pad}}} else {{\n" + to_text(s.else_case, indent + 1)
        return out + f"{pad}}}\n"

    def stmt_Seq(self, s, indent):
        return "".join(to_text(x, indent) for x in s.stmts)

    def stmt_StageRegion(self, s, indent):
        return f"{'  ' * indent}// stage {s.name}\n" + to_text(s.body, indent)

    def stmt_SpecializedBody(self, s, indent):
        pad = "  " * indent
        lets = "".join(f"{pad}let {v.name} = {to_str(e)}\n" for v, e in s.bindings)
        return f"{pad}// specialisation {s.index}: {s.label}\n{lets}" + to_text(s.body, indent)

    def stmt_Evaluate(self, s, indent):
        return f"{'  ' * indent}{to_str(s.value)}\n"

    def expr_LineGap(self, n, prec):
        return f"line_gap({n.buffer.name}[{to_str(n.index)}], {n.line})"

    def stmt_Prefetch(self, s, indent):
        return f"{'  ' * indent}prefetch {s.buffer.name}[{to_str(s.index)}]\n"

    def stmt_IntrinCall(self, s, indent):
        ops = _args(s.outputs + s.inputs)
        return f"{'  ' * indent}tensorize {s.intrin.name}.{s.part}({ops})\n"

    def stmt_Barrier(self, s, indent):
        return f"{'  ' * indent}barrier(shared)\n"

    def stmt_VectorCopy(self, s, indent):
        st = s.store
        return (f"{'  ' * indent}vector{s.lanes} {st.buffer.name}[{st.indices[0]}:+{s.lanes}] = "
                f"{st.value.buffer.name}[{st.value.indices[0]}:+{s.lanes}]\n")


_PRINTER = Printer()


# ---------------------------------------------------------------------- tensors and operations
# (their repr: one line each; `definition` is what a compute computes, as math)

_OP_KIND = {"PlaceholderOp": "placeholder", "ComputeOp": "compute", "ScanOp": "scan",
            "ExclusiveScanOp": "exclusive_scan", "ExternOp": "extern", "HybridOp": "hybrid",
            "TensorComputeOp": "tensor_compute"}


def op_kind(op):
    """The TVM-style name of an operation's kind (compute, placeholder, scan, extern, ...)."""
    for cls in type(op).__mro__:
        if cls.__name__ in _OP_KIND:
            return _OP_KIND[cls.__name__]
    return type(op).__name__


def shape_text(shape):
    """(16, n): constants as ints, symbolic extents as expressions."""
    dims = [to_str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def tensor_text(t):
    """Tensor(B, shape=(16, n), float32); the k-th output of a multi-output op: B.vk."""
    name = t.name if t.op.num_outputs == 1 else f"{t.name}.v{t.value_index}"
    return f"Tensor({name}, shape={shape_text(t.shape)}, {t.dtype})"


def axis_text(iv):
    """i: 16, or k: [2, 18) for a domain that does not start at 0."""
    lo, ext = iv.dom.min, iv.dom.extent
    if isinstance(lo, E.Const) and lo.value == 0:
        return f"{iv.var.name}: {to_str(ext)}"
    return f"{iv.var.name}: [{to_str(lo)}, {end_text(lo, ext)})"


def end_text(lo, ext):
    """lo + ext as text, added up when both are constants."""
    if isinstance(lo, E.Const) and isinstance(ext, E.Const):
        return str(lo.value + ext.value)
    if isinstance(ext, E.BinOp) and ext.op == "-" and E.structural_equal(ext.b, lo):
        return to_str(ext.a)                 # a domain [lo, n) has the extent n - lo
    return to_str(lo + ext)


def definition(op):
    """What an operation computes, one line per output: `B[i, j] = A[i, j] + 1.0f` for a
    compute, `A: placeholder` for an input, the inputs of opaque ops (extern, hybrid)."""
    kind = op_kind(op)
    if kind == "compute":
        idx = ", ".join(iv.var.name for iv in op.axis)
        multi = len(op.bodies) > 1
        return [f"{op.name}{'.v%d' % k if multi else ''}[{idx}] = {to_str(b)}"
                for k, b in enumerate(op.bodies)]
    inputs = ", ".join(t.name for t in getattr(op, "input_tensors", []))
    if kind == "placeholder":
        return [f"{op.name}: placeholder"]
    return [f"{op.name} = {kind}({inputs})"]


def op_text(op):
    """compute(B, body=[A[i] + 1.0f], axis=[i: 16], reduce_axis=[], tag=...) and the like."""
    kind = op_kind(op)
    if kind == "placeholder":
        return f"placeholder({op.name}, shape={shape_text(op.shape)}, {op.dtype})"
    parts = [op.name]
    if kind == "compute":
        parts.append(f"body=[{_args(op.bodies)}]")
        parts.append(f"axis=[{', '.join(axis_text(iv) for iv in op.axis)}]")
        parts.append(f"reduce_axis=[{', '.join(axis_text(iv) for iv in op.reduce_axis)}]")
    else:
        parts.append(f"inputs=[{', '.join(t.name for t in op.input_tensors)}]")
        n = op.num_outputs
        parts.append("outputs=[" + ", ".join(
            f"{shape_text(op.output_shape(k))} {op.output_dtype(k)}" for k in range(n)) + "]")
    if op.tag:
        parts.append(f"tag={op.tag}")
    return f"{kind}({', '.join(parts)})"


def _class_branch(s):
    """s is an `if` holding a size class of Schedule.specialize (lower/specialize.py)."""
    from .ir import IfThenElse, SpecializedBody
    return isinstance(s, IfThenElse) and isinstance(s.then_case, SpecializedBody)
