"""Check a loop's positions once before the loop, not once per iteration.

A ragged reduction reads `indices[offsets[b] + k]` for k in [0, offsets[b+1] - offsets[b]):
the position is computed from data, so it is checked against the length of `indices` each
time it is used. It moves by one per iteration, so the positions of the whole loop lie in
[first, last] and two compares made before the loop check all of them:

    if (E <= 0 || (0 <= first && last < L))      // first = offsets[b], last = first + E - 1
      for (k = 0; k < E; ++k) ... indices[offsets[b] + k] ...      // unchecked
    else
      checked(first out of range ? first : L, L)  // records the error, reads nothing

A bad bag skips its loop (nothing is read out of bounds) and the error names the first
position the loop would have read out of range, as the per-iteration check did. A check
moves only if every iteration evaluates it (not under an if, a select branch or the right
side of && / ||, and the loops around it inside this one run at least once) and its base
and bound do not change inside the loop. Arithmetic of the test is 64-bit, so a position
that would wrap in 32 bits is caught too.
"""
from ...lang.expr import BinOp, Cast, Const, Select, Var
from ...lang.visitor import StmtMutator, map_children, walk
from ..analysis.arith import from_linear, linear_coeff, simplify
from .hoist_checks import stmt_exprs, unconditional
from ...lang.ir import (BufferLoad, BufferStore, CheckedIndex, DeclareVars, Evaluate, For,
                 IfThenElse, Seq, Stmt, VarLoad, VarStore)


def hoist_loop_checks(stmt):
    """Every non-vectorized loop, inner loops first."""
    return _HoistLoopChecks().visit(stmt)


class _HoistLoopChecks(StmtMutator):
    def visit_For(self, s):
        s = self.generic_visit(s)
        if s.kind != "vectorized":
            return _hoist(s) or s
        return s


def _always_evaluated(s, out):
    """CheckedIndex nodes evaluated every time s runs."""
    if isinstance(s, (Seq,)):
        for x in s.stmts:
            _always_evaluated(x, out)
    elif isinstance(s, DeclareVars):
        _always_evaluated(s.body, out)
    elif isinstance(s, For):
        if isinstance(s.extent, Const) and s.extent.value > 0:
            _always_evaluated(s.body, out)
    elif isinstance(s, IfThenElse):
        unconditional(s.cond, out)
    elif isinstance(s, (BufferStore, VarStore, Evaluate)):
        for e in stmt_exprs(s):
            unconditional(e, out)
    elif hasattr(s, "body") and isinstance(getattr(s, "body"), Stmt):
        _always_evaluated(s.body, out)     # Allocate, StageRegion


def _written(body):
    """Vars bound or assigned, and buffers stored, inside body."""
    vars_, bufs = set(), set()
    for n in walk(body):
        if isinstance(n, For):
            vars_.add(n.var)
        elif isinstance(n, DeclareVars):
            vars_.update(n.vars)
        elif isinstance(n, VarStore):
            vars_.add(n.var)
        elif isinstance(n, BufferStore):
            bufs.add(id(n.buffer))
    return vars_, bufs


def _invariant(e, vars_, bufs):
    for n in walk(e):
        if isinstance(n, Var) and n in vars_:
            return False
        if isinstance(n, VarLoad) and n.var in vars_:
            return False
        if isinstance(n, BufferLoad) and id(n.buffer) in bufs:
            return False
        if isinstance(n, CheckedIndex):
            return False
    return True


def _i64(e):
    return e if e.dtype == "int64" else Cast(e, "int64")


def _hoist(f):
    found = []
    _always_evaluated(f.body, found)
    vars_, bufs = _written(f.body)
    vars_.add(f.var)
    picked = []
    for c in found:
        if any(p.same_as(c) for p, _, _ in picked) or c.dtype not in ("int32", "int64"):
            continue
        lc = linear_coeff(c.value, f.var)
        if lc is None or lc[0] == 0:
            continue
        a, rest = lc
        base = from_linear(rest, c.value.dtype)
        if not (_invariant(base, vars_, bufs) and _invariant(c.extent, vars_, bufs)):
            continue
        picked.append((c, a, base))
    if not picked:
        return None

    def strip(n):
        if isinstance(n, CheckedIndex) and any(n.same_as(p) for p, _, _ in picked):
            return strip(n.value)
        return map_children(n, strip)

    ext = _i64(f.extent)
    ok, errors = None, []
    for c, a, base in picked:
        first = simplify(_i64(base) + _i64(f.min) * a)
        last = simplify(first + (ext - 1) * a)
        lo, hi = (first, last) if a > 0 else (last, first)
        bound = _i64(c.extent)
        in_range = BinOp("&&", lo >= 0, hi < bound, "bool")
        ok = in_range if ok is None else BinOp("&&", ok, in_range, "bool")
        first_bad = bound if a == 1 else Const(-1, "int64") if a == -1 else last
        bad = Select(BinOp("||", first < 0, first >= bound, "bool"), first, first_bad, "int64")
        errors.append(Evaluate(CheckedIndex(bad, bound, c.source, c.tensor, c.dim, "int64")))
    ok = BinOp("||", ext <= 0, ok, "bool")
    loop = For(f.var, f.min, f.extent, f.kind, strip(f.body), f.pragmas)
    return IfThenElse(ok, loop, Seq(tuple(errors)) if len(errors) > 1 else errors[0])
