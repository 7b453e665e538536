"""TVM's te.stmt_functor names over texpr's one traversal (visitor.py): substitute and
post_order_visit, for TVM programs that rewrite or inspect expressions and loop programs."""
import numbers

from ..errors import TexprError
from . import visitor
from .expr import Expr, Node, Var, convert


def substitute(node, vmap):
    """node with each variable of vmap (Var -> expression or number; or a function of a Var
    returning its replacement or None) replaced, as TVM's stmt_functor.substitute."""
    if not isinstance(node, Node):
        if isinstance(node, numbers.Number):
            return convert(node)
        raise TexprError(f"stmt_functor.substitute: expected an expression or statement, "
                         f"got {node!r}")
    if callable(vmap) and not isinstance(vmap, dict):
        fn = vmap
        return visitor.transform(node, lambda n: _replacement(fn(n), n)
                                 if isinstance(n, Var) else None)
    mapping = {}
    for k, v in dict(vmap or {}).items():
        if not isinstance(k, Var):
            raise TexprError(f"stmt_functor.substitute: the keys are variables, got {k!r}")
        mapping[k] = _replacement(v, k)
    return visitor.substitute(node, mapping)


def _replacement(v, var):
    if v is None or isinstance(v, Expr):
        return v
    if isinstance(v, numbers.Number):
        return convert(v, var.dtype)
    raise TexprError(f"stmt_functor.substitute: {var.name} maps to {v!r}; expected an "
                     "expression or a number")


def post_order_visit(node, fvisit):
    """Call fvisit on node and every node below it, children before their parent."""
    for name in node._children:
        v = getattr(node, name)
        for child in (v if isinstance(v, tuple) else (v,)):
            if isinstance(child, Node):
                post_order_visit(child, fvisit)
    fvisit(node)
