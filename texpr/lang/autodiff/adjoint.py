"""te.gradient: adjoint tensors from the output back to the inputs, one compute op at a time.

The adjoint of a tensor T is d(sum(head * output)) / dT, of shape prefix + T.shape (head's
shape is prefix + output.shape). For each compute op, in reverse topological order, and each
tensor A it reads, the contribution to A's adjoint is built element by element: for each
load A[f(v)] in the body, adj_A[p] += sum over the points v with f(v) = p of
adj_T[i(v)] * d body / d A[f(v)] (index_solve.py finds those points without a Jacobian).
A reduction's adjoint broadcasts over its axes (sum) or goes through the reducer's derivative
(max / min: the position the reduction picked; any other differentiable reducer, prod
included, through a derivative reduction, as TVM's general rule).
"""
from __future__ import annotations
from typing import Any, Sequence
from ...errors import DifferentiationError, TexprError
from .. import dtypes
from ..expr import BinOp, Const, Reduce, Var, all as te_all, if_then_else
from ..reduction import comm_reducer, sum as te_sum
from ..tensor import ComputeOp, PlaceholderOp, Tensor, compute, reduce_axis
from ..visitor import free_vars, substitute
from .derivative import add, derivative, load_leaf, mul, value_loads
from .index_solve import solve_access


def _key(t):
    return (id(t.op), t.value_index)


def _is_float(t):
    return dtypes.is_float(dtypes.element(t.dtype))


def gradient(output: Tensor, inputs: Tensor | Sequence[Tensor],
             head: Tensor | None = None) -> list[Tensor]:
    """Gradients of sum(head * output) with respect to each input, one tensor per input of
    shape prefix + input.shape (head: prefix + output.shape). head=None is the identity of
    output.shape + output.shape, as TVM: the gradients are then the Jacobians.

    >>> import texpr as te
    >>> x = te.placeholder((3,), name="x")
    >>> y = te.compute((3,), lambda i: x[i] * x[i], name="y")
    >>> [dx] = te.gradient(y, [x])
    >>> [int(d) for d in dx.shape]
    [3, 3]
    """
    if not isinstance(output, Tensor):
        raise TexprError(f"te.gradient: output must be a tensor, got {output!r}")
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for t in inputs:
        if not isinstance(t, Tensor):
            raise TexprError(f"te.gradient: inputs must be tensors, got {t!r}")
        if not _is_float(t):
            raise TexprError(f"te.gradient: input {t.name} has dtype {t.dtype}; only float "
                             "tensors have gradients")
    if not _is_float(output):
        raise TexprError(f"te.gradient: output {output.name} has dtype {output.dtype}; "
                         "differentiate a float tensor")
    order = _reverse_topological(output)
    wanted = {_key(t) for t in inputs}
    needed = _reaching(order, wanted)
    for t in inputs:
        if _key(t) not in needed:
            raise TexprError(f"te.gradient: input {t.name} is not used in computing "
                             f"{output.name}")
    head = _identity(output) if head is None else _check_head(head, output)
    prefix = tuple(head.shape[:len(head.shape) - len(output.shape)])
    parts = {_key(output): [head]}
    adjoints = {}
    for t in order:
        k = _key(t)
        if k not in needed or not _is_float(t):
            continue
        adj = _sum_parts(t, parts.get(k, []), prefix)
        adjoints[k] = adj
        if isinstance(t.op, PlaceholderOp):
            continue
        if type(t.op) is not ComputeOp:         # scans, extern and hybrid ops: no rules
            raise DifferentiationError(f"te.gradient: cannot differentiate through "
                                       f"{type(t.op).__name__} {t.op.name}; only compute "
                                       "operations have derivatives")
        for a in t.op.input_tensors:
            if _key(a) in needed and _is_float(a):
                parts.setdefault(_key(a), []).extend(_op_adjoints(t, adj, a, prefix))
    return [adjoints[_key(t)] for t in inputs]


def _reverse_topological(output):
    """Every tensor the output depends on, each before the tensors it reads."""
    post, seen = [], set()
    stack = [(output, False)]
    while stack:
        t, done = stack.pop()
        if done:
            post.append(t)
            continue
        if _key(t) in seen:
            continue
        seen.add(_key(t))
        stack.append((t, True))
        for a in reversed(t.op.input_tensors):
            if _key(a) not in seen:
                stack.append((a, False))
    return post[::-1]


def _reaching(order, wanted):
    """Keys of the tensors from which some wanted tensor is reachable (the wanted included)."""
    needed = set()
    for t in reversed(order):           # inputs before their readers
        if _key(t) in wanted or any(_key(a) in needed for a in t.op.input_tensors):
            needed.add(_key(t))
    return needed


def _identity(output):
    n = len(output.shape)
    return compute(tuple(output.shape) * 2, lambda *i: te_all(
        [i[d] == i[n + d] for d in range(n)]).astype(output.dtype), name="identity")


def _check_head(head, output):
    if not isinstance(head, Tensor):
        raise TexprError(f"te.gradient: head must be a tensor, got {head!r}")
    n = len(output.shape)
    suffix = tuple(head.shape[len(head.shape) - n:]) if n else ()
    if len(head.shape) < n or any(not _same_extent(a, b) for a, b in zip(suffix, output.shape)):
        raise TexprError(f"te.gradient: head {head.name} has shape {_show(head.shape)}; "
                         f"expected prefix + the output's shape {_show(output.shape)}")
    if not _is_float(head):
        raise TexprError(f"te.gradient: head {head.name} has dtype {head.dtype}; expected a "
                         "float tensor")
    return head


def _show(shape):
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _same_extent(a, b):
    if isinstance(a, Const) and isinstance(b, Const):
        return a.value == b.value
    return a is b


def _sum_parts(t, parts, prefix):
    if not parts:           # reached only through integer values: no gradient flows
        return compute(prefix + tuple(t.shape), lambda *i: Const(0.0, t.dtype),
                       name=f"{t.name}.grad")
    if len(parts) == 1:
        return parts[0]
    return compute(prefix + tuple(t.shape), lambda *i: _add_all([p[i] for p in parts]),
                   name=f"{t.name}.grad")


def _add_all(xs):
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


def _is_sum(comb):
    r = comb.result
    ident = comb.identities()[0]
    return isinstance(r, BinOp) and r.op == "+" and isinstance(ident, Const) and \
        ident.value == 0 and {id(r.a), id(r.b)} == {id(comb.lhs), id(comb.rhs)}


def _op_adjoints(t, adj, a, prefix):
    """The contributions of compute tensor t (adjoint adj) to the adjoint of a, one tensor per
    distinct load of a in t's body."""
    op = t.op
    body = op.bodies[t.value_index]
    raxes, where = (), None
    src = body
    qvars = [Var(f"q{d}") for d in range(len(prefix))]
    weight = adj[tuple(qvars) + tuple(iv.var for iv in op.axis)]
    if isinstance(body, Reduce):
        comb = body.combiner
        if comb.size > 1:
            raise DifferentiationError(f"te.gradient: cannot differentiate the tuple reducer "
                                       f"{comb.name!r} of {t.name}")
        src, raxes = body.source, tuple(body.axis)
        if not (isinstance(body.where, Const) and body.where.value):
            where = body.where
        if not _is_sum(comb):
            d = _reducer_derivative(t, body)
            weight = weight * d[tuple(iv.var for iv in op.axis) +
                                tuple(iv.var - iv.dom.min for iv in raxes)]
    domains = {iv.var: (iv.dom.min, iv.dom.extent) for iv in list(op.axis) + list(raxes)}
    out = []
    for load in value_loads(src, a):
        try:
            dl = derivative(src, load_leaf(load))
        except DifferentiationError as e:
            raise DifferentiationError(f"te.gradient: {t.name}: {e}") from None
        if dl is None:
            continue
        term = mul(weight, dl)
        out.append(_load_adjoint(t, a, load.indices, term, where, domains, qvars, prefix,
                                    len(out)))
    return out


def _load_adjoint(t, a, indices, term, where, domains, qvars, prefix, n):
    """adj_a[q, p] = sum over {v : indices(v) = p} of term(q, v)."""
    name = f"{t.name}.{a.name}.grad" + (f"{n}" if n else "")
    nq = len(qvars)

    def element(*idx):
        q, p = idx[:nq], idx[nq:]
        sol = solve_access(indices, p, domains)
        free_axes = []
        outer = dict(zip(qvars, q))
        for v in sol.free:
            # a reduction's range may depend on the compute's axes (a triangular sum)
            lo, ext = (substitute(x, sol.values) for x in domains[v])
            if any(u in sol.free for u in free_vars(lo) | free_vars(ext)):
                raise TexprError(f"te.gradient: {t.name}: the range of {v.name} depends on "
                                 "another summed axis; not supported")
            rv = reduce_axis((lo, lo + ext), f"{v.name}_r") if not _zero(lo) else \
                reduce_axis((0, ext), f"{v.name}_r")
            free_axes.append(rv)
        free_map = {v: rv.var for v, rv in zip(sol.free, free_axes)}
        mapping = dict(outer)
        mapping.update({u: substitute(x, free_map) for u, x in sol.values.items()})
        mapping.update(free_map)
        guards = [substitute(g, free_map) for g in sol.guards]
        if where is not None:
            guards.append(substitute(where, mapping))
        value = substitute(term, mapping).astype(a.dtype)
        if guards:
            value = if_then_else(te_all(guards), value, Const(0.0, a.dtype))
        return te_sum(value, axis=free_axes) if free_axes else value
    return compute(tuple(prefix) + tuple(a.shape), element, name=name)


def _zero(e):
    return isinstance(e, Const) and e.value == 0


def _reducer_derivative(t, body):
    """D[i, k] = d out[i] / d source(i, k) for a reducer other than sum: a reduction of
    (value, derivative) pairs whose combiner is the reducer's, differentiated (TVM's rule for
    any reducer). Seeded with 1 at position k, it is 1 at the position max / min picked, and
    the product of the other values for prod."""
    comb = body.combiner
    x, y, f = comb.lhs, comb.rhs, comb.result
    dt = body.dtype
    if not dtypes.is_float(dt):
        raise DifferentiationError(f"te.gradient: the reducer {comb.name!r} of {t.name} reduces "
                                f"{dt} values; only float reductions have derivatives")
    try:
        dfx = derivative(f, lambda n: n is x)
        dfy = derivative(f, lambda n: n is y)
    except DifferentiationError as e:
        raise DifferentiationError(f"te.gradient: cannot differentiate the reducer {comb.name!r} "
                                f"of {t.name} ({e})") from None
    zero = Const(0.0, dt)

    def fcombine(lhs, rhs):
        (x0, dx), (y0, dy) = lhs, rhs
        m = {x: x0, y: y0}
        value = substitute(f, m)
        dvalue = add(mul(None if dfx is None else substitute(dfx, m), dx),
                     mul(None if dfy is None else substitute(dfy, m), dy))
        return value, zero if dvalue is None else dvalue

    def fidentity(t0, t1):
        return comb.identities()[0], zero

    if any(not isinstance(iv.dom.extent, Const) for iv in body.axis):
        raise TexprError(f"te.gradient: {t.name}: the {comb.name!r} reduction's range is not "
                         "constant; only sums over such ranges are differentiated")
    reducer = comm_reducer(fcombine, fidentity, name=f"{comb.name}_derivative")
    op = t.op
    n = len(op.axis)
    shape = tuple(op.shape) + tuple(iv.dom.extent for iv in body.axis)

    def element(*idx):
        i, k = idx[:n], idx[n:]
        rk = [reduce_axis((iv.dom.min, iv.dom.min + iv.dom.extent) if not _zero(iv.dom.min)
                          else (0, iv.dom.extent), f"{iv.var.name}_d") for iv in body.axis]
        m = {iv.var: v for iv, v in zip(op.axis, i)}
        m.update({iv.var: r.var for iv, r in zip(body.axis, rk)})
        seed = if_then_else(te_all([r.var == kk + iv.dom.min if not _zero(iv.dom.min) else
                                    r.var == kk for r, kk, iv in zip(rk, k, body.axis)]),
                            Const(1.0, dt), zero)
        where = substitute(body.where, m)
        return reducer((substitute(body.source, m), seed), axis=rk,
                       where=None if isinstance(where, Const) and where.value else where)
    _, d = compute(shape, element, name=f"{t.name}.{comb.name}_derivative")
    return d
