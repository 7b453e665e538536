"""Vectorized loops on a GPU: each thread runs its lanes one after the other (unrolled).

GPU threads are the parallel lanes; a vectorized loop inside a thread is unrolled so the
compiler can issue its independent loads and stores back to back.
"""
from ..lang.visitor import map_children
from .ir import For, Stmt


def vectorize_gpu_loops(stmt):
    def go(s):
        if not isinstance(s, Stmt):
            return s
        s = map_children(s, go)
        if isinstance(s, For) and s.kind == "vectorized":
            return For(s.var, s.min, s.extent, "unrolled", s.body, s.pragmas)
        return s
    return go(stmt)
