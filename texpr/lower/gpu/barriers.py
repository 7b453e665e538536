"""Barriers for shared memory, and the control flow they need.

insert_barriers: a barrier goes before a statement that reads a shared buffer written since
the last barrier (other threads wrote it), and before one that writes a shared buffer read
since the last barrier (other threads may still read the old values). A loop is planned
twice, the second time entering with what the end of its body left pending: a buffer that
each iteration reads and the next one overwrites gets a barrier at the end of the body (after
the reads; at the end rather than the top, which PoCL's work-group compiler needs: with only
a top barrier it skipped guarded stores after such a loop).

uniform_barriers: every thread of a block must reach each barrier. Guards that depend on the
thread (tail guards of splits) are pushed below the barriers: `if (c) { a; barrier; b }`
becomes `if (c) a; barrier; if (c) b` (a guard is side-effect free, so this is the same
program). A barrier under a condition or loop that still depends on the thread is an error.
"""

from ...errors import LoweringError
from ...lang.expr import BinOp, Not
from ...lang.visitor import StmtMutator, free_vars, method_for, walk
from ...lang.ir import (Allocate, Barrier, BufferLoad, BufferStore, DeclareVars, For, IfThenElse, Seq,
                 StageRegion, Stmt, VarLoad, seq)


def _accesses(s):
    """(ids of shared buffers read, ids written) anywhere in s."""
    reads, writes = set(), set()
    for n in walk(s):
        if isinstance(n, BufferLoad) and n.buffer.scope == "shared":
            reads.add(id(n.buffer))
        elif isinstance(n, BufferStore) and n.buffer.scope == "shared":
            writes.add(id(n.buffer))
    return reads, writes


_EMPTY = (frozenset(), frozenset())


def insert_barriers(body):
    out, _ = _plan(body, _EMPTY)
    return out


def _conflict(state, acc):
    pend_w, pend_r = state
    reads, writes = acc
    return bool(pend_w & reads) or bool(pend_r & writes)


def _union(a, b):
    return (a[0] | b[0], a[1] | b[1])


def _plan(s, state):
    """Returns (s with barriers, pending (writes, reads) after s)."""
    t = type(s)
    if t is Seq:
        out = []
        for c in s.stmts:
            if isinstance(c, Barrier):
                out.append(c)
                state = _EMPTY
                continue
            acc = _accesses(c)
            if not acc[0] and not acc[1]:
                out.append(c)
                continue
            if _conflict(state, acc):
                out.append(Barrier())
                state = _EMPTY
            c2, state = _plan(c, state)
            out.append(c2)
        return seq(*out), state
    if t is For:
        body, st1 = _plan(s.body, state)
        # what one iteration leaves pending, against what the next one does first
        fresh = len(barriers_in(_plan(s.body, _EMPTY)[0]))
        carried = len(barriers_in(_plan(s.body, st1)[0])) > fresh
        if carried:
            body, st1 = seq(body, Barrier()), _EMPTY
        return For(s.var, s.min, s.extent, s.kind, body, s.pragmas), _union(state, st1)
    if t is IfThenElse:
        th, st_t = _plan(s.then_case, state)
        if s.else_case is not None:
            el, st_e = _plan(s.else_case, state)
        else:
            el, st_e = None, state
        return IfThenElse(s.cond, th, el), _union(st_t, st_e)
    if t in (Allocate, StageRegion, DeclareVars):
        body, st = _plan(s.body, state)
        return s.replace(body=body), st
    if isinstance(s, Barrier):
        return s, _EMPTY
    acc = _accesses(s)
    if _conflict(state, acc):
        return seq(Barrier(), s), (frozenset(acc[1]), frozenset(acc[0]))
    return s, _union(state, (frozenset(acc[1]), frozenset(acc[0])))


def barriers_in(s):
    return [n for n in walk(s) if isinstance(n, Barrier)]


def has_barrier(s):
    return any(isinstance(n, Barrier) for n in walk(s))


def uniform_barriers(stage, body, thread_vars):
    """Push thread-dependent guards below barriers; raise where that is impossible."""
    return _UniformBarriers(stage, set(thread_vars)).visit(body)


class _UniformBarriers(StmtMutator):
    """Statements holding a barrier: a guard that differs between threads moves below it."""

    def __init__(self, stage, thread_vars):
        self.stage, self.thread_vars = stage, thread_vars

    def visit(self, s):
        if not isinstance(s, Stmt) or not has_barrier(s):
            return s
        return super().visit(s)

    def varying(self, e):
        return bool(free_vars(e) & self.thread_vars) or \
            any(isinstance(n, (BufferLoad, VarLoad)) for n in walk(e))

    def visit_IfThenElse(self, s):
        if not self.varying(s.cond):
            return self.generic_visit(s)
        if s.else_case is not None and has_barrier(s.else_case):
            raise LoweringError(f"stage {self.stage}: a barrier sits in the else branch of a "
                                f"condition that differs between threads ({s.cond})")
        pushed = self.push(s.cond, s.then_case)
        if s.else_case is not None:
            pushed = seq(pushed, IfThenElse(_not(s.cond), s.else_case))
        return self.visit(pushed)

    def visit_For(self, s):
        if self.varying(s.extent) or self.varying(s.min):
            raise LoweringError(f"stage {self.stage}: loop {s.var.name} contains a barrier but "
                                f"its extent {s.extent} differs between threads; make the "
                                "extents of the shared-memory tiles divide evenly")
        return self.generic_visit(s)

    def visit_Seq(self, s):
        return seq(*[self.visit(c) for c in s.stmts])

    # ------------------------------------------------------------- moving a guard down
    def push(self, cond, s):
        """`if (cond) s` with the guard moved below every barrier of s."""
        if not has_barrier(s):
            return IfThenElse(cond, s)
        fn = method_for(type(self), "push_", type(s))
        return fn(self, cond, s) if fn is not None else IfThenElse(cond, s)

    def push_Barrier(self, cond, s):
        return s

    def push_Seq(self, cond, s):
        return seq(*[self.push(cond, c) for c in s.stmts])

    def push_For(self, cond, s):
        if s.var in free_vars(cond):
            raise LoweringError(f"stage {self.stage}: cannot move a guard below loop {s.var.name}")
        return For(s.var, s.min, s.extent, s.kind, self.push(cond, s.body), s.pragmas)

    def push_IfThenElse(self, cond, s):
        if s.else_case is None:
            return self.push(BinOp("&&", cond, s.cond, "bool"), s.then_case)
        return seq(self.push(BinOp("&&", cond, s.cond, "bool"), s.then_case),
                   self.push(BinOp("&&", cond, _not(s.cond), "bool"), s.else_case))

    def push_Allocate(self, cond, s):
        return s.replace(body=self.push(cond, s.body))

    push_StageRegion = push_DeclareVars = push_Allocate


def _not(c):
    return Not(c)
