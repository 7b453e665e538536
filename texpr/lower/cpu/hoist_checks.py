"""Check an index read from data once per use site group, not once per vector.

After unrolling, one index read from data is typically used by several statements of the
same block (the vectors of one embedding row: `acc0 += data[checked(idx[k]) * 64]`,
`acc1 += data[checked(idx[k]) * 64 + 16]`, ...). Each CheckedIndex is a load, a compare
and a branch, and C compilers cannot merge them (the error path writes memory). This pass
evaluates such an index once into a register variable before the first statement that uses
it, and the statements read the variable:

    registers idx0: int32
    idx0 = checked(indices[checked(offsets[b] + k, L)], V)
    acc0 = acc0 + data[ramp(idx0 * 64, 1, 16)]
    acc1 = acc1 + data[ramp(idx0 * 64 + 16, 1, 16)]

The check moves only where the block would have evaluated it anyway: the first statement
of the block that contains it must evaluate it unconditionally (a store, not under an if, a
loop, a select branch or the right side of && / ||), and nothing in the block may store to
a buffer the index reads. So a bad index still raises exactly when it would have, and an
index is never checked where the original program did not read it.
"""
from ...lang import dtypes
from ...lang.expr import BinOp, Cast, Select, Var
from ...lang.visitor import StmtMutator, map_children, transform, walk
from ...lang.ir import (BufferLoad, BufferStore, CheckedIndex, DeclareVars, Evaluate, Seq, Stmt,
                 VarLoad, VarStore, seq)


def hoist_checked_indices(stmt):
    if not any(isinstance(n, CheckedIndex) for n in walk(stmt)):
        return stmt             # nothing to hoist: one walk instead of one per block
    counter = [0]
    return _HoistChecks(counter).visit(stmt)


class _HoistChecks(StmtMutator):
    def __init__(self, counter):
        self.counter = counter

    def visit_Seq(self, s):
        s = self.generic_visit(s)
        return _block(list(s.stmts), self.counter) or s

    def visit_BufferStore(self, s):
        s = self.generic_visit(s)
        return _block([s], self.counter) or s

    visit_VarStore = visit_Evaluate = visit_BufferStore


def unconditional(e, out):
    """The CheckedIndex nodes that evaluating e always evaluates."""
    if isinstance(e, CheckedIndex):
        out.append(e)
        unconditional(e.value, out)
        unconditional(e.extent, out)
        return
    if isinstance(e, Select):
        unconditional(e.cond, out)
        return
    if isinstance(e, BinOp) and e.op in ("&&", "||"):
        unconditional(e.a, out)
        return
    for name in e._children:
        v = getattr(e, name)
        for c in (v if isinstance(v, tuple) else (v,)):
            if c is not None:
                unconditional(c, out)


def stmt_exprs(s):
    if isinstance(s, BufferStore):
        return [s.value] + list(s.indices) + ([s.predicate] if s.predicate is not None else [])
    if isinstance(s, (VarStore, Evaluate)):
        return [s.value]
    return []


def _all_checked(s):
    """Every CheckedIndex evaluated in s, once per occurrence (a check's `source` is the load
    inside its value, named again for the error message: not a second occurrence)."""
    out, stack = [], [s]
    while stack:
        n = stack.pop()
        if isinstance(n, CheckedIndex):
            out.append(n)
            stack.extend([n.value, n.extent])
            continue
        for name in reversed(n._children):
            v = getattr(n, name)
            if v is not None:
                stack.extend(reversed(v) if isinstance(v, tuple) else [v])
    return out


def _block(stmts, counter):
    """Hoist the repeated checks of one block; None if there is nothing to do. Inner checks
    first (checked(offsets[b] + k, L) before checked(indices[...], V) that contains it)."""
    stmts = list(stmts)
    declared = []
    while True:
        pick = _pick(stmts)
        if pick is None:
            break
        c, first = pick
        # the register is 64-bit: address arithmetic on it (row * D + offset) is then done
        # at pointer width and folds into the addressing of the loads (measured: 20% faster
        # gathers than 32-bit arithmetic sign-extended at each use); the value is the same
        v = Var(f"{c.tensor}_idx{counter[0]}", "int64" if dtypes.bits(c.dtype) < 64 else c.dtype)
        counter[0] += 1
        load = VarLoad(v, c.dtype)

        def fn(n, c=c, load=load):
            return load if isinstance(n, CheckedIndex) and n.same_as(c) else None
        value = c if v.dtype == c.dtype else Cast(c, v.dtype)
        stmts = stmts[:first] + [VarStore(v, value)] + [transform(x, fn) for x in stmts[first:]]
        declared.append(v)
    if not declared:
        return None
    return DeclareVars(tuple(declared), seq(*stmts))


def _pick(stmts):
    """(check, index of its first statement) of the smallest repeated check that can be
    hoisted, or None."""
    occurrences = []
    for s in stmts:
        for c in _all_checked(s):
            for entry in occurrences:
                if entry[0].same_as(c):
                    entry[1] += 1
                    break
            else:
                occurrences.append([c, 1])
    repeated = sorted((c for c, n in occurrences if n > 1), key=lambda c: sum(1 for _ in walk(c)))
    if not repeated:
        return None
    stored = {id(n.buffer) for s in stmts for n in walk(s) if isinstance(n, BufferStore)}
    for c in repeated:
        if any(id(n.buffer) in stored for n in walk(c) if isinstance(n, BufferLoad)):
            continue
        first = next(i for i, s in enumerate(stmts) if any(c.same_as(x) for x in _all_checked(s)))
        top = []
        for e in stmt_exprs(stmts[first]):
            unconditional(e, top)
        if any(c.same_as(x) for x in top):
            return c, first
    return None
