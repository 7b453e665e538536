"""Schedule.specialize: one build for every value of the shape variables, a schedule per
size class (Halide's `Func.specialize`, TVM's `tir.specialize` + relax dispatch).

`s.specialize(cond)` returns a new Schedule of the same outputs that is used when `cond`
holds at call time; `s` itself is the fallback. The lowering lowers each class with what its
condition says about the variables (`Facts`), and joins them into one program that starts
with an if / else-if chain over the conditions (first match wins, in the order the
specialisations were made); the C of each class is a static function the entry calls.

A condition is a conjunction (`te.all(...)` or `&`) of facts about one shape variable each:

- `M == 4`: the value is known: M becomes the constant 4 in the class's program;
- `M >= 64`, `M > 8`, `M <= 256`, `M < 9`: bounds the simplifier and the tails use;
- `M % 8 == 0`: M is written 8 * q (q = M / 8 a parameter of the class), so loops split by a
  divisor of 8 have no tail.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import ScheduleError
from ..lang.expr import BinOp, Cmp, Const, Expr, Var


@dataclass
class Facts:
    """What a specialisation's condition says about each shape variable."""
    values: dict = field(default_factory=dict)     # Var -> int
    ranges: dict = field(default_factory=dict)     # Var -> (lo, hi); hi None: unbounded
    divisors: dict = field(default_factory=dict)   # Var -> int (the var is a multiple)
    quotients: dict = field(default_factory=dict)  # Var -> Var q (var = divisor * q)

    def quotient(self, v):
        """The class parameter q with v = divisors[v] * q (made once per variable)."""
        if v not in self.quotients:
            self.quotients[v] = Var(f"{v.name}_q{self.divisors[v]}", v.dtype)
        return self.quotients[v]

    def bounds(self, v):
        """(lo, hi) of v under these facts (hi None: unbounded), lo at least 0."""
        if v in self.values:
            return self.values[v], self.values[v]
        lo, hi = self.ranges.get(v, (0, None))
        return max(lo, 0), hi


def parse_condition(cond):
    """The Facts of a specialisation condition, or ScheduleError naming the part that is not
    a fact about one variable (var OP integer constant, or var % k == 0)."""
    facts = Facts()
    for part in _conjuncts(cond):
        _add_fact(facts, part, cond)
    for v, (lo, hi) in facts.ranges.items():
        if hi is not None and hi < lo:
            raise ScheduleError(f"specialize: the condition {cond} allows no value of {v.name} "
                                f"({lo} <= {v.name} <= {hi})")
    for v in facts.divisors:
        if v not in facts.values:
            facts.quotient(v)       # made now: the schedule's fingerprint stays the same
    return facts


def _conjuncts(e):
    if isinstance(e, BinOp) and e.op in ("&&", "&") and e.dtype == "bool":
        return _conjuncts(e.a) + _conjuncts(e.b)
    return [e]


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}


def _add_fact(facts, part, whole):
    from ..lang.printer import to_str

    def bad(why):
        return ScheduleError(f"specialize: cannot use {to_str(part)} (in {to_str(whole)}): {why}; "
                             f"expected a conjunction of `var == c`, `var >= c`, `var <= c`, "
                             f"`var < c`, `var > c` and `var % k == 0` over shape variables")
    if not isinstance(part, Cmp) or part.op not in _FLIP:
        raise bad("not a comparison")
    a, b, op = part.a, part.b, part.op
    if isinstance(a, Const) and not isinstance(b, Const):
        a, b, op = b, a, _FLIP[op]
    if isinstance(a, BinOp) and a.op == "%" and op == "==":
        if not (isinstance(a.a, Var) and isinstance(a.b, Const) and isinstance(b, Const)
                and b.value == 0 and int(a.b.value) > 0):
            raise bad("a divisibility fact is `var % k == 0` with a positive constant k")
        v, k = a.a, int(a.b.value)
        old = facts.divisors.get(v, 1)
        facts.divisors[v] = k * old // math.gcd(k, old)
        return
    if not isinstance(a, Var) or not isinstance(b, Const) or not isinstance(b.value, int):
        raise bad("one side must be a shape variable and the other an integer constant")
    c = int(b.value)
    lo, hi = facts.ranges.get(a, (0, None))
    if op == "==":
        if a in facts.values and facts.values[a] != c:
            raise ScheduleError(f"specialize: {to_str(whole)} gives {a.name} two values")
        facts.values[a] = c
        lo, hi = max(lo, c), c if hi is None else min(hi, c)
    elif op in (">=", ">"):
        lo = max(lo, c + (op == ">"))
    else:
        c -= op == "<"
        hi = c if hi is None else min(hi, c)
    facts.ranges[a] = (lo, hi)


def condition_text(cond):
    """The condition as the lowered program and the schedule text show it."""
    from ..lang.printer import to_str
    return to_str(cond)


def check_condition(cond):
    """cond as an Expr (ScheduleError if it is not a boolean expression)."""
    if not isinstance(cond, Expr) or cond.dtype != "bool":
        raise ScheduleError(f"specialize: expected a boolean condition over shape variables "
                            f"(e.g. M == 1, te.all(M >= 8, M % 8 == 0)), got {cond!r}")
    return cond
