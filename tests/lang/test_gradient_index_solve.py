"""The access inversion behind te.gradient (lang/autodiff/index_solve.py), interpreted in
Python: for random strided / dilated / offset accesses, the points the solution enumerates
(free variables over their ranges, guards holding) are exactly the points that read p."""
import itertools

from hypothesis import given, settings, strategies as st

from texpr.lang.expr import Const, Var
from texpr.lang.autodiff.index_solve import solve_access
from support.irutil import evaluate


@settings(max_examples=25, deadline=None)
@given(coeffs=st.lists(st.lists(st.integers(-3, 3), min_size=3, max_size=3), min_size=1,
                       max_size=2),
       offsets=st.lists(st.integers(-2, 2), min_size=2, max_size=2),
       extents=st.lists(st.integers(1, 4), min_size=3, max_size=3))
def test_solution_enumerates_exactly_the_reading_points(coeffs, offsets, extents):
    vs = [Var(n) for n in ("y", "x", "r")]
    domains = {v: (Const(0, "int32"), Const(e, "int32")) for v, e in zip(vs, extents)}
    indices = []
    for row, off in zip(coeffs, offsets):
        f = Const(off, "int32")
        for c, v in zip(row, vs):
            f = f + v * c if c else f
        indices.append(f)
    ps = [Var(f"p{d}") for d in range(len(indices))]
    sol = solve_access(indices, ps, domains)
    points = list(itertools.product(*[range(e) for e in extents]))
    reached = {}
    for pt in points:
        env = dict(zip(vs, pt))
        key = tuple(evaluate(f, env) for f in indices)
        reached.setdefault(key, []).append(pt)
    for key in set(reached) | {(99,) * len(indices)}:
        env = dict(zip(ps, key))
        found = []
        for free in itertools.product(*[range(extents[vs.index(v)]) for v in sol.free]):
            env.update(zip(sol.free, free))
            if all(evaluate(g, env) for g in sol.guards):
                pt = tuple(evaluate(sol.values[v], env) if v in sol.values else env[v]
                           for v in vs)
                found.append(pt)
        assert sorted(found) == sorted(reached.get(key, [])), (indices, key, sol)
