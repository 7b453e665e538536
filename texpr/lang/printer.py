"""Readable text for expressions (used by str() and by te.lower's loop program)."""
from . import expr as E

_PREC = {"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, "<=": 7, ">": 7,
         ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "//": 10, "%": 10,
         "tdiv": 10, "tmod": 10}
_SHOW = {"tdiv": "//", "tmod": "%"}


def to_str(n, prec=0):
    fn = _PRINTERS.get(type(n).__name__)
    if fn is not None:
        return fn(n, prec)
    if hasattr(n, "to_str"):
        return n.to_str(prec)
    return object.__repr__(n)


def _binop(n, prec):
    if n.op in ("min", "max"):
        return f"{n.op}({to_str(n.a)}, {to_str(n.b)})"
    p = _PREC[n.op]
    s = f"{to_str(n.a, p)} {_SHOW.get(n.op, n.op)} {to_str(n.b, p + 1)}"
    return f"({s})" if p < prec else s


def _const(n, prec):
    if n.dtype in ("int32", "bool", "float32"):
        return repr(n.value) if n.dtype != "float32" else f"{n.value!r}f"
    return f"{n.value!r}:{n.dtype}"


def _reduce(n, prec):
    axes = ", ".join(iv.var.name for iv in n.axis)
    where = "" if isinstance(n.where, E.Const) and n.where.value is True else f", where={to_str(n.where)}"
    return f"{n.combiner.name}({to_str(n.source)}, axis=[{axes}]{where})"


_PRINTERS = {
    "Var": lambda n, p: n.name,
    "Const": _const,
    "BinOp": _binop,
    "Cmp": _binop,
    "Not": lambda n, p: f"!{to_str(n.a, 11)}",
    "Select": lambda n, p: f"select({to_str(n.cond)}, {to_str(n.t)}, {to_str(n.f)})",
    "Cast": lambda n, p: f"{n.dtype}({to_str(n.value)})",
    "Call": lambda n, p: f"{n.name}({', '.join(to_str(a) for a in n.args)})",
    "TensorLoad": lambda n, p: f"{n.tensor.name}[{', '.join(to_str(i) for i in n.indices)}]",
    "Reduce": _reduce,
    "CommReducer": lambda n, p: f"comm_reducer({n.name})",
}
