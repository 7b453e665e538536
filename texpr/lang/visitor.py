"""Generic traversal of IR nodes through their `_children` fields."""


def rebuilt(node, changes):
    """node with some fields replaced: dataclasses.replace without its per-call field
    validation and __init__ (a third of lowering time went there). Valid for the IR nodes,
    whose only __post_init__ is Const's (a leaf, never rebuilt); the cached hash is dropped."""
    new = object.__new__(node.__class__)
    d = new.__dict__
    d.update(node.__dict__)
    d.pop("_hash", None)
    d.update(changes)
    return new


def map_children(node, fn):
    """Rebuild `node` with fn applied to each child; returns `node` itself if nothing changed."""
    changes = None
    for name in node._children:
        v = getattr(node, name)
        if v is None:
            continue
        if v.__class__ is tuple:
            nv = [fn(x) for x in v]
            for a, b in zip(nv, v):
                if a is not b:
                    if changes is None:
                        changes = {}
                    changes[name] = tuple(nv)
                    break
        else:
            nv = fn(v)
            if nv is not v:
                if changes is None:
                    changes = {}
                changes[name] = nv
    return rebuilt(node, changes) if changes else node


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


# --------------------------------------------------------------------------- dispatch by class

_METHODS = {}   # (owner class, prefix, node class) -> function or None


def method_for(owner, prefix, node_cls):
    """owner's method `prefix + Name` for the first class Name in node_cls's MRO that has one
    (so a node subclass falls back to its base's method), or None. Cached per class."""
    key = (owner, prefix, node_cls)
    try:
        return _METHODS[key]
    except KeyError:
        pass
    fn = None
    for k in node_cls.__mro__:
        fn = getattr(owner, prefix + k.__name__, None)
        if fn is not None:
            break
    _METHODS[key] = fn
    return fn


def _is_stmt_class(t):
    return issubclass(t, _stmt_class())


class Visitor:
    """Read-only traversal: visit(node) calls visit_<NodeClass>(node) (by the node's class,
    then its bases), else generic_visit, which visits the children."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._visit_table = {}           # node class -> function, filled on first use

    _visit_table = {}

    def visit(self, node):
        t = type(node)
        try:
            fn = self._visit_table[t]
        except KeyError:
            fn = self._visit_table[t] = self._resolve(t)
        return fn(self, node)

    @classmethod
    def _resolve(cls, t):
        return method_for(cls, "visit_", t) or cls.generic_visit

    def generic_visit(self, node):
        for name in getattr(node, "_children", ()):     # plain values have no children
            v = getattr(node, name)
            if v is None:
                continue
            if isinstance(v, tuple):
                for x in v:
                    self.visit(x)
            else:
                self.visit(v)


class Mutator(Visitor):
    """Rewriting traversal: visit_<NodeClass>(node) returns the replacement; generic_visit
    rebuilds a node from its visited children and returns the node itself when none changed."""

    def generic_visit(self, node):
        if not getattr(node, "_children", ()):          # a leaf or a plain value
            return node
        return map_children(node, self.visit)


def _skip(self, node):
    return None


def _keep(self, node):
    return node


class StmtVisitor(Visitor):
    """A Visitor over statements only: expressions are not visited."""

    @classmethod
    def _resolve(cls, t):
        return super()._resolve(t) if _is_stmt_class(t) else _skip


class StmtMutator(Mutator):
    """A Mutator over statements only: anything that is not a statement (expressions,
    intrinsic operands) is returned as it is, unvisited."""

    @classmethod
    def _resolve(cls, t):
        return super()._resolve(t) if _is_stmt_class(t) else _keep

    def generic_visit(self, node):
        """The node with its statement children visited (expressions are not even called)."""
        stmt = _stmt_class()
        changes = None
        for name in node._children:
            v = getattr(node, name)
            if isinstance(v, tuple):
                nv = tuple(self.visit(x) if isinstance(x, stmt) else x for x in v)
                if any(a is not b for a, b in zip(nv, v)):
                    changes = changes or {}
                    changes[name] = nv
            elif isinstance(v, stmt):
                nv = self.visit(v)
                if nv is not v:
                    changes = changes or {}
                    changes[name] = nv
        return rebuilt(node, changes) if changes else node


_STMT = []


def _stmt_class():
    if not _STMT:
        from .ir import Stmt
        _STMT.append(Stmt)
    return _STMT[0]
