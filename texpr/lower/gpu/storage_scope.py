"""Storage scopes inside a GPU kernel: where each buffer a kernel allocates lives.

- "shared": one copy per block, declared at kernel scope (OpenCL requires it there); its size
  is the region one block touches (bound inference relaxes the threadIdx loops for it).
- "local": one copy per thread (registers or private memory); the region one thread touches.
- a stage computed inside a kernel with the default scope is per thread when it sits inside
  the threadIdx loops (it becomes "local"); elsewhere in a kernel it has no meaning.
"""
from ...errors import LoweringError
from ...lang.expr import Const
from ...lang.visitor import map_children
from .kernel import shared_nbytes
from ..ir import Allocate, Stmt
from .thread_binding import thread_tag
from ...target import GPULimits


def assign_attached_scopes(stage, body):
    """Default-scope buffers allocated inside a kernel become per-thread ("local")."""
    def go(s, in_threads):
        if not isinstance(s, Stmt):
            return
        tag = thread_tag(s)
        if tag is not None and tag.startswith("threadIdx"):
            in_threads = True
        if isinstance(s, Allocate) and s.buffer.scope == "global" and not s.buffer.is_arg:
            if not in_threads:
                raise LoweringError(
                    f"stage {s.buffer.name} is computed inside kernel {stage} outside its "
                    "threadIdx loops, in global memory: give it scope 'shared' (cache_read/cache_write) or "
                    "compute_at it inside a loop bound to threadIdx")
            s.buffer.scope = "local"
        for name in s._children:
            v = getattr(s, name)
            for c in (v if isinstance(v, tuple) else (v,)):
                go(c, in_threads)
    go(body, False)
    return body


def hoist_shared(stage, body, limits=GPULimits()):
    """Remove the shared Allocates from the body; returns (body, shared buffers) checked."""
    found = []

    def go(s):
        if not isinstance(s, Stmt):
            return s
        if isinstance(s, Allocate) and s.buffer.scope == "shared":
            if not any(b is s.buffer for b in found):
                found.append(s.buffer)
            return go(s.body)
        if isinstance(s, Allocate) and s.buffer.scope == "local" and \
                not isinstance(s.buffer.size, Const):
            raise LoweringError(f"stage {stage}: local buffer {s.buffer.name} has size "
                                f"{s.buffer.size}, not a constant; compute_at it inside loops "
                                "whose extents are constants")
        return map_children(s, go)

    body = go(body)
    for b in found:
        if not isinstance(b.size, Const):
            raise LoweringError(f"stage {stage}: shared buffer {b.name} has size {b.size}, not a "
                                "constant; its region per block must have constant extents")
    check_shared_memory(stage, found, limits.max_shared_bytes)
    return body, found


def check_shared_memory(stage, buffers, limit=GPULimits.max_shared_bytes):
    total = sum(shared_nbytes(b) for b in buffers)
    if total > limit:
        parts = ", ".join(f"{b.name} {shared_nbytes(b)} B" for b in buffers)
        raise LoweringError(f"stage {stage}: the kernel uses {total} bytes of shared memory "
                            f"({parts}); the limit is {limit} bytes per block: use smaller tiles")
