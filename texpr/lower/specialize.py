"""The lowering of a specialised schedule (Schedule.specialize): each size class lowered with
what its condition says about the shape variables, then one program that branches on them.

    if (M == 1) { specialisation 0 } else if (M % 8 == 0) { specialisation 1 } else { fallback }

`apply_facts` runs inside the loop_nest and flatten passes of a class: known values become
constants (and ranges for the simplifier and the access checks), a multiple of k becomes
k * q after the access checks (so the loop tails of splits by a divisor of k vanish).
`join_classes` makes the chain; every class shares the fallback's argument Buffers.
"""
from ..lang.expr import BinOp, Const, Not
from ..lang.ir import Allocate, IfThenElse, LoweredFunc, SpecializedBody
from ..lang.visitor import substitute, walk
from ..schedule.specialize import condition_text
from .access_bounds import Precondition
from .analysis.arith import INF


def apply_facts(body, ctx, divisors=False):
    """body with ctx.facts applied (nothing without facts). Called after the loop nest is
    built (values, ranges) and after flattening (values again: buffer strides; divisors)."""
    facts = ctx.facts
    if facts is None:
        return body
    for v, (lo, hi) in facts.ranges.items():
        ctx.ranges[v] = (max(lo, 0), INF if hi is None else hi)
    vmap = {v: Const(c, v.dtype) for v, c in facts.values.items()}
    if divisors:
        for v, q in facts.quotients.items():
            k = facts.divisors[v]
            lo, hi = facts.bounds(v)
            ctx.ranges[q] = (-(-lo // k), INF if hi is None else hi // k)
            vmap[v] = BinOp("*", q, Const(k, v.dtype), v.dtype)
    if not vmap:
        return body
    from .analysis.arith import simplify
    for n in walk(body):
        # the class's own temporaries (never shared with another class): sized for it, so
        # that a buffer of a known size stays on the stack
        if isinstance(n, Allocate) and not n.buffer.is_arg:
            n.buffer.shape = tuple(simplify(substitute(d, vmap), ctx.ranges)
                                   for d in n.buffer.shape)
    return substitute(body, vmap)


def join_classes(base, classes):
    """One LoweredFunc: if / else-if over the classes' conditions (in order), the fallback
    `base` last. classes: [(condition, LoweredFunc, Facts)]."""
    body = SpecializedBody(len(classes), "otherwise (the fallback schedule)", base.body)
    for k in reversed(range(len(classes))):
        cond, func, facts = classes[k]
        bindings = tuple((q, BinOp("//", v, Const(facts.divisors[v], v.dtype), v.dtype))
                         for v, q in facts.quotients.items())
        body = IfThenElse(cond, SpecializedBody(k, condition_text(cond), func.body, bindings),
                          body)
    pre = []
    taken = None                 # some class's condition holds
    for cond, func, facts in classes:
        back = {q: BinOp("//", v, Const(facts.divisors[v], v.dtype), v.dtype)
                for v, q in facts.quotients.items()}
        for p in func.preconditions:
            pre.append(Precondition(BinOp("||", Not(cond), substitute(p.cond, back), "bool"),
                                    p.message))
        taken = cond if taken is None else BinOp("||", taken, cond, "bool")
    for p in base.preconditions:
        pre.append(Precondition(BinOp("||", taken, p.cond, "bool"), p.message))
    extent_vars = frozenset(base.extent_vars).union(*(f.extent_vars for _, f, _ in classes))
    return LoweredFunc(base.name, base.args, body, base.shape_vars, base.params, extent_vars,
                       base.externs, pre)
