"""Kernel splitting: each root stage of a GPU schedule becomes its own kernel.

The loop program of a whole schedule is `allocate temps { stage A; stage B; ... }`. On a GPU
every root stage is one launch (a launch boundary is the only grid-wide barrier), and the
root temporaries live in device memory the host allocates.
"""
from ...errors import LoweringError
from ...lang.ir import Allocate, Seq, StageRegion


def split_kernels(body):
    """Returns (temps, [(stage name, stage body)]) in launch order."""
    temps = []
    while isinstance(body, Allocate):
        if body.buffer.scope != "global":
            raise LoweringError(f"stage {body.buffer.name} is in {body.buffer.scope} memory but "
                                "computed at the root: a GPU kernel cannot share it with the next "
                                "kernel; compute_at it inside the loops of its consumer")
        temps.append(body.buffer)
        body = body.body
    stmts = body.stmts if isinstance(body, Seq) else (body,)
    kernels = []
    for s in stmts:
        if not isinstance(s, StageRegion):
            raise LoweringError(f"GPU lowering: unexpected statement at the root: {s}")
        kernels.append((s.name, s))
    return temps, kernels
