"""Thread binding: loops bound to blockIdx/threadIdx become the kernel's thread indices.

Inside one kernel every loop bound to a thread axis must have the same extent (it is the
same hardware index), threadIdx extents are constants, and a block holds at most 1024
threads. A stage computed inside another stage's thread loops may bind its own loops to the
same axes (cooperative loading: all the block's threads share the work); one stage binding
two nested loops to one axis is an error. Each bound loop is replaced by its body with the
loop variable replaced by the thread index variable.
"""
from ...errors import LoweringError
from ...lang.expr import Const, Var
from ...lang.visitor import StmtMutator, StmtVisitor, substitute
from ..analysis.arith import simplify
from .kernel import BLOCK_TAGS, THREAD_TAGS
from ...lang.ir import For, StageRegion, Stmt
from ...target import GPULimits


def thread_tag(loop):
    """The thread axis a For loop is bound to (None for an ordinary loop)."""
    if not isinstance(loop, For) or loop.kind != "thread":
        return None
    return next((v for k, v in loop.pragmas if k == "thread"), None)


def thread_extents(stage, body, sequential=False, limits=GPULimits()):
    """{tag: (extent, loop name)} of the thread axes bound in one kernel, checked.

    sequential: the stage is sequential by nature (a scan); unbound, it runs on one thread."""
    found = {}

    _ThreadExtents(stage, found).visit(body)
    if not found and not sequential:
        raise LoweringError(f"stage {stage}: no loop is bound to a GPU thread axis; bind its outer "
                            "loops to te.thread_axis('blockIdx.x') / ('threadIdx.x') (a GPU kernel "
                            "would run it on one thread)")
    for tag, limit in (("blockIdx.y", 65535), ("blockIdx.z", 65535)):
        ext = found.get(tag, (None,))[0]
        if isinstance(ext, Const) and ext.value > limit:
            raise LoweringError(f"stage {stage}: loop {found[tag][1]} is bound to {tag} with "
                                f"extent {ext.value}, over the limit of {limit} blocks")
    total = 1
    for tag in THREAD_TAGS:
        if tag not in found:
            continue
        ext, loop, _ = found[tag]
        if not isinstance(ext, Const):
            raise LoweringError(f"stage {stage}: loop {loop} is bound to {tag} with extent {ext}; "
                                "a block's shape must be a constant (split it with a constant "
                                "factor and bind the inner loop)")
        if ext.value > limits.block_dim(tag):
            raise LoweringError(f"stage {stage}: loop {loop} is bound to {tag} with extent "
                                f"{ext.value}, over the limit of {limits.block_dim(tag)} for {tag}")
        total *= ext.value
    if total > limits.max_threads_per_block:
        dims = ", ".join(f"{t} = {found[t][0].value} (loop {found[t][1]})"
                         for t in THREAD_TAGS if t in found)
        raise LoweringError(f"stage {stage}: {total} threads per block ({dims}); a block holds "
                            f"at most {limits.max_threads_per_block} threads")
    return found


class _ThreadExtents(StmtVisitor):
    """Collects {tag: (extent, loop name, stage)} of the bound loops into `found`, checking
    that a stage does not bind two nested loops to one axis."""

    def __init__(self, stage, found):
        self.stage, self.found = stage, found
        self.active = {}            # tag -> (loop name, stage) of the enclosing bound loops
        self.region = stage

    def visit_StageRegion(self, s):
        outer, self.region = self.region, s.name
        try:
            self.generic_visit(s)
        finally:
            self.region = outer

    def visit_For(self, s):
        tag = thread_tag(s)
        if tag is None:
            return self.generic_visit(s)
        stage, region, found = self.stage, self.region, self.found
        if tag == "vthread":
            raise LoweringError(f"stage {stage}: loop {s.var.name} is bound to vthread, which "
                                "the GPU targets do not support (split and unroll instead)")
        if tag in self.active and self.active[tag][1] == region:
            raise LoweringError(f"stage {region}: loop {s.var.name} is bound to {tag} inside "
                                f"loop {self.active[tag][0]}, which is bound to {tag} too")
        prev = found.get(tag)
        if prev is None:
            found[tag] = (s.extent, s.var.name, region)
        elif not _same_extent(prev[0], s.extent):
            raise LoweringError(
                f"kernel of stage {stage}: thread axis {tag} is bound to loop {prev[1]} of "
                f"stage {prev[2]} with extent {prev[0]} and to loop {s.var.name} of stage "
                f"{region} with extent {s.extent}; "
                f"every loop bound to {tag} in a kernel needs the same extent (split with "
                "nparts= to match)")
        outer = self.active
        self.active = dict(outer)
        self.active[tag] = (s.var.name, region)
        try:
            self.generic_visit(s)
        finally:
            self.active = outer


def _same_extent(a, b):
    if isinstance(a, Const) and isinstance(b, Const):
        return a.value == b.value
    d = simplify(a - b)
    return isinstance(d, Const) and d.value == 0


def bind_threads(stage, body, sequential=False, limits=GPULimits()):
    """Replace bound loops by thread indices. Returns (body, grid, block, thread_vars)."""
    found = thread_extents(stage, body, sequential, limits)
    tvars = {tag: Var(tag.replace(".", "_"), "int32") for tag in found}

    body = _BindThreads(stage, tvars).visit(body)
    grid = tuple(found[t][0] if t in found else Const(1, "int32") for t in BLOCK_TAGS)
    block = tuple(found[t][0].value if t in found else 1 for t in THREAD_TAGS)
    return body, grid, block, tvars


class _BindThreads(StmtMutator):
    def __init__(self, stage, tvars):
        self.stage, self.tvars = stage, tvars

    def visit_For(self, s):
        tag = thread_tag(s)
        if tag is None:
            return self.generic_visit(s)
        if not (isinstance(s.min, Const) and s.min.value == 0):
            raise LoweringError(f"stage {self.stage}: bound loop {s.var.name} does not start at 0")
        return self.visit(substitute(s.body, {s.var: self.tvars[tag]}))


def thread_ranges(tvars, grid, block):
    """Ranges of the thread index variables, for the simplifier."""
    from ..analysis.arith import INF
    out = {}
    for tag, v in tvars.items():
        if tag in THREAD_TAGS:
            out[v] = (0, block[THREAD_TAGS.index(tag)] - 1)
        else:
            g = grid[BLOCK_TAGS.index(tag)]
            out[v] = (0, g.value - 1 if isinstance(g, Const) else INF)
    return out
