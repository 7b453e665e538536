"""What a schedule lowers to for a GPU: kernels (one per root stage) launched in order.

A Kernel is the loop program one GPU thread runs, with its thread indices as variables
(`thread_vars`), its launch shape (grid: blocks per dimension, symbolic in the shape
variables; block: threads per dimension, constants) and the global buffers it touches.
A GPUProgram is what the host does: allocate `temps` (intermediate stages computed at the
root), then launch `kernels` in order.
"""
from ...lang import dtypes
from ...lang.expr import Const
from ...lang.printer import to_str, to_text

BLOCK_TAGS = ("blockIdx.x", "blockIdx.y", "blockIdx.z")
THREAD_TAGS = ("threadIdx.x", "threadIdx.y", "threadIdx.z")


class Kernel:
    def __init__(self, name, stage, body, params, shape_vars, grid, block, thread_vars,
                 shared=(), host_loop=None):
        self.name = name
        self.stage = stage              # name of the root stage the kernel computes
        self.body = body
        self.params = list(params)      # global Buffers (arguments and temps) it uses
        self.shape_vars = list(shape_vars)
        self.grid = tuple(grid)         # 3 Exprs
        self.block = tuple(block)       # 3 ints
        self.thread_vars = dict(thread_vars)   # tag -> Var (only the tags it binds)
        self.shared = list(shared)      # shared-memory Buffers, declared at kernel scope
        # the host loop that launches it once per iteration (a scan's time loop), or None;
        # its variable is the kernel's last scalar parameter
        self.host_loop = host_loop

    @property
    def threads_per_block(self):
        return self.block[0] * self.block[1] * self.block[2]

    @property
    def shared_bytes(self):
        return sum(shared_nbytes(b) for b in self.shared)

    def replace_body(self, body, shared=None):
        return Kernel(self.name, self.stage, body, self.params, self.shape_vars, self.grid,
                      self.block, self.thread_vars, self.shared if shared is None else shared,
                      self.host_loop)

    def __str__(self):
        grid = ", ".join(to_str(g) for g in self.grid)
        block = ", ".join(str(b) for b in self.block)
        params = ", ".join(f"{b.name}: {b.dtype}[{', '.join(to_str(s) for s in b.shape)}]"
                           for b in self.params)
        head = f"kernel {self.name}({params}) grid=({grid}) block=({block}) {{\n"
        decl = "".join(f"  shared {b.name}: {b.dtype}[{to_str(b.size)}]\n" for b in self.shared)
        return head + decl + to_text(self.body, 1) + "}\n"

    __repr__ = __str__


class GPUProgram:
    """The host side: arguments (call order), temporaries it allocates, kernels it launches."""

    def __init__(self, name, args, shape_vars, temps, kernels, params=None,
                 extent_vars=frozenset(), preconditions=()):
        self.name = name
        self.args = list(args)
        self.shape_vars = list(shape_vars)
        self.temps = list(temps)
        self.kernels = list(kernels)
        # the call's arguments in order (Buffers, Vars of scalar arguments); see LoweredFunc
        self.params = list(args) if params is None else list(params)
        self.extent_vars = extent_vars
        self.preconditions = tuple(preconditions)   # as LoweredFunc.preconditions

    def __str__(self):
        params = ", ".join([f"{b.name}: {b.dtype}[{', '.join(to_str(s) for s in b.shape)}]"
                            for b in self.args] + [f"{v.name}: {v.dtype}" for v in self.shape_vars])
        out = [f"host {self.name}({params}) {{"]
        out += [f"  // {b.layout_note()}" for b in self.args if b.logical_shape is not None]
        out += [f"  requires {to_str(p.cond)}" for p in self.preconditions]
        for t in self.temps:
            out.append(f"  device alloc {t.name}: {t.dtype}[{to_str(t.size)}]")
        for seg in launch_segments(self.kernels):
            if seg.loop is None:
                out += [f"  launch {k.name}" for k in seg.kernels]
            else:
                lp = seg.loop
                out.append(f"  for ({lp.var.name}, {to_str(lp.min)}, {to_str(lp.extent)}) {{")
                out += [f"    launch {k.name}" for k in seg.kernels]
                out.append("  }")
        out.append("}")
        return "\n".join(out) + "\n" + "".join(str(k) for k in self.kernels)

    __repr__ = __str__

    def _repr_html_(self):
        """Jupyter: the host program and its kernels, highlighted."""
        from ...display import code_html
        return code_html(str(self), "c")


class HostLoop:
    """A serial loop the host runs around kernel launches (a scan's time loop: each step
    needs the previous one's results in device memory, and a launch is the only grid-wide
    barrier)."""

    def __init__(self, var, min, extent):
        self.var, self.min, self.extent = var, min, extent


class LaunchSegment:
    def __init__(self, loop, kernels):
        self.loop, self.kernels = loop, kernels


def launch_segments(kernels):
    """The launch order as segments: runs of kernels outside any host loop, and the kernels
    of one host loop (consecutive in `kernels`)."""
    segs = []
    for k in kernels:
        if segs and segs[-1].loop is k.host_loop:
            segs[-1].kernels.append(k)
        else:
            segs.append(LaunchSegment(k.host_loop, [k]))
    return segs


def shared_nbytes(buf):
    size = buf.size
    n = size.value if isinstance(size, Const) else 0
    return n * max(1, dtypes.bits(buf.dtype) // 8)
