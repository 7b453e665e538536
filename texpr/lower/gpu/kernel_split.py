"""Kernel splitting: each root stage of a GPU schedule becomes its own kernel.

The loop program of a whole schedule is `allocate temps { stage A; stage B; ... }`. On a GPU
every root stage is one launch (a launch boundary is the only grid-wide barrier), and the
root temporaries live in device memory the host allocates. A scan is a serial time loop
around the stages of its body: the host runs that loop, launching each body stage's kernel
once per step (HostLoop).
"""
from ...errors import InternalError, LoweringError
from ...lang.ir import Allocate, For, Seq, StageRegion
from ...lang.visitor import free_vars
from .kernel import HostLoop


def split_kernels(body, scans=frozenset()):
    """Returns (temps, [(stage name, stage body, host loop or None)]) in launch order; `scans`
    names the stages of te.scan ops."""
    temps = []
    body = _peel_temps(body, temps)
    kernels = []
    for s in _stmts(body):
        if not isinstance(s, StageRegion):
            raise LoweringError(f"GPU lowering: unexpected statement at the root: {s}")
        loop = _time_loop(s) if s.name in scans else None
        if loop is None:
            kernels.append((s.name, s, None))
            continue
        host = HostLoop(loop.var, loop.min, loop.extent)
        for inner in _stmts(_peel_temps(loop.body, temps, loop.var)):
            if not isinstance(inner, StageRegion):
                raise LoweringError(f"GPU lowering: scan {s.name}: unexpected statement in "
                                    f"its time loop: {inner}")
            kernels.append((inner.name, inner, host))
    return temps, kernels


def _stmts(body):
    return body.stmts if isinstance(body, Seq) else (body,)


def _peel_temps(body, temps, loop_var=None):
    while isinstance(body, Allocate):
        if body.buffer.scope != "global":
            raise LoweringError(f"stage {body.buffer.name} is in {body.buffer.scope} memory but "
                                "computed at the root: a GPU kernel cannot share it with the next "
                                "kernel; compute_at it inside the loops of its consumer")
        if loop_var is not None and any(v is loop_var for v in free_vars(body.buffer.size)):
            raise InternalError(f"scan temporary {body.buffer.name}: its size depends on the "
                                "time step")
        temps.append(body.buffer)
        body = body.body
    return body


def _time_loop(region):
    """The time loop of a scan stage (its body is made of stages), else None."""
    body = region.body
    if isinstance(body, For) and body.kind == "serial":
        inner = body.body
        while isinstance(inner, Allocate):
            inner = inner.body
        if all(isinstance(s, StageRegion) for s in _stmts(inner)):
            return body
    return None
