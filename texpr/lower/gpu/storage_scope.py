"""Storage scopes inside a GPU kernel: where each buffer a kernel allocates lives.

- "shared": one copy per block, declared at kernel scope (OpenCL requires it there); its size
  is the region one block touches (bound inference relaxes the threadIdx loops for it).
- "local": one copy per thread (registers or private memory); the region one thread touches.
- a stage computed inside a kernel with the default scope is per thread when it sits inside
  the threadIdx loops (it becomes "local"); elsewhere in a kernel it has no meaning.
"""
from ...errors import LoweringError
from ...lang.expr import Const
from ...lang.visitor import StmtMutator, StmtVisitor
from .kernel import shared_nbytes
from ...lang.ir import Allocate, Stmt
from .thread_binding import thread_tag
from ...target import GPULimits


def assign_attached_scopes(stage, body):
    """Default-scope buffers allocated inside a kernel become per-thread ("local")."""
    _AttachedScopes(stage).visit(body)
    return body


class _AttachedScopes(StmtVisitor):
    def __init__(self, stage):
        self.stage = stage
        self.in_threads = False

    def visit_For(self, s):
        tag = thread_tag(s)
        outer = self.in_threads
        self.in_threads = outer or (tag is not None and tag.startswith("threadIdx"))
        try:
            self.generic_visit(s)
        finally:
            self.in_threads = outer

    def visit_Allocate(self, s):
        if s.buffer.scope == "global" and not s.buffer.is_arg:
            if not self.in_threads:
                raise LoweringError(
                    f"stage {s.buffer.name} is computed inside kernel {self.stage} outside its "
                    "threadIdx loops, in global memory: give it scope 'shared' (cache_read/"
                    "cache_write) or compute_at it inside a loop bound to threadIdx")
            s.buffer.scope = "local"
        self.generic_visit(s)


def hoist_shared(stage, body, limits=GPULimits()):
    """Remove the shared Allocates from the body; returns (body, shared buffers) checked."""
    hoist = _HoistShared(stage)
    body = hoist.visit(body)
    found = hoist.found
    for b in found:
        if not isinstance(b.size, Const):
            raise LoweringError(f"stage {stage}: shared buffer {b.name} has size {b.size}, not a "
                                "constant; its region per block must have constant extents")
    check_shared_memory(stage, found, limits.max_shared_bytes)
    return body, found


class _HoistShared(StmtMutator):
    def __init__(self, stage):
        self.stage = stage
        self.found = []

    def visit_Allocate(self, s):
        if s.buffer.scope == "shared":
            if not any(b is s.buffer for b in self.found):
                self.found.append(s.buffer)
            return self.visit(s.body)
        if s.buffer.scope == "local" and not isinstance(s.buffer.size, Const):
            raise LoweringError(f"stage {self.stage}: local buffer {s.buffer.name} has size "
                                f"{s.buffer.size}, not a constant; compute_at it inside loops "
                                "whose extents are constants")
        return self.generic_visit(s)


def check_shared_memory(stage, buffers, limit=GPULimits.max_shared_bytes):
    total = sum(shared_nbytes(b) for b in buffers)
    if total > limit:
        parts = ", ".join(f"{b.name} {shared_nbytes(b)} B" for b in buffers)
        raise LoweringError(f"stage {stage}: the kernel uses {total} bytes of shared memory "
                            f"({parts}); the limit is {limit} bytes per block: use smaller tiles")
