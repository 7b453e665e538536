"""Generic traversal of IR nodes through their `_children` fields."""
from dataclasses import replace


def map_children(node, fn):
    """Rebuild `node` with fn applied to each child; returns `node` itself if nothing changed."""
    changes = None
    for name in node._children:
        v = getattr(node, name)
        if v is None:
            continue
        if isinstance(v, tuple):
            nv = tuple(fn(x) for x in v)
            if any(a is not b for a, b in zip(nv, v)):
                changes = changes or {}
                changes[name] = nv
        else:
            nv = fn(v)
            if nv is not v:
                changes = changes or {}
                changes[name] = nv
    return replace(node, **changes) if changes else node


def walk(node):
    """Pre-order iterator over node and all its descendants."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        for name in reversed(n._children):
            v = getattr(n, name)
            if v is None:
                continue
            if isinstance(v, tuple):
                stack.extend(reversed(v))
            else:
                stack.append(v)


def transform(node, fn):
    """Post-order rewrite: fn(node_with_rewritten_children) -> replacement or None to keep."""
    memo = {}

    def go(n):
        key = id(n)
        if key in memo:
            return memo[key][1]
        m = map_children(n, go)
        r = fn(m)
        out = m if r is None else r
        memo[key] = (n, out)
        return out
    return go(node)


def substitute(node, mapping):
    """Replace variables (by identity) with expressions."""
    if not mapping:
        return node
    from .expr import Var

    def fn(n):
        if isinstance(n, Var):
            return mapping.get(n)
        return None
    return transform(node, fn)


def free_vars(node):
    from .expr import Var
    return {n for n in walk(node) if isinstance(n, Var)}


def uses_var(node, var):
    from .expr import Var
    return any(n is var for n in walk(node) if isinstance(n, Var))
