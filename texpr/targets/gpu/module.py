"""What every GPU module shares: argument validation (the same plan, messages and errors as
CPU modules), launch shapes evaluated from the shape variables, and the error words a kernel
records for an out-of-range data index."""
import numpy as np

from ...errors import ArgumentError
from ..index_checks import raise_index_error
from ..runtime.module import ValidationPlan, eval_int

MAX_GRID = (2 ** 31 - 1, 65535, 65535)     # blocks per grid dimension (CUDA's limits)


class GPUModule:
    def __init__(self, program, source, target, outputs, checks, note=""):
        self.name = program.name
        self.source = source
        self.target = target
        self.note = note
        self.program = program
        # the cuda target also takes arrays in CUDA memory (DLPack), used where they lie
        self._plan = ValidationPlan(program, outputs, device_ok=target == "cuda")
        self._outputs = [id(b) in outputs for b in program.args]
        self._checks = list(checks)

    def __repr__(self):
        return (f"<texpr.Module {self.name} target={self.target} device={self.device_name()}"
                f"{', ' + self.note if self.note else ''}>")

    def _repr_html_(self):
        """Jupyter: the generated source, highlighted."""
        from ...display import module_html
        return module_html(self)

    def device_name(self):
        raise NotImplementedError

    def bind(self, arrays):
        """Validated arrays and {shape var: value}."""
        arrays, vals = self._plan.check(arrays)
        return list(arrays), dict(zip(self.program.shape_vars, vals))

    def with_outputs(self, arrays):
        """(all arrays, what the call returns): the outputs allocated when omitted."""
        if len(arrays) != self._plan.ncall:
            return self._plan.with_outputs(arrays)
        return arrays, None

    def launches(self, entries, binding):
        """(entry, binding) in launch order, entries being (kernel, ...) in the program's
        order: a kernel in a host loop (a scan's time loop) once per step, its binding then
        holding the loop variable."""
        i = 0
        while i < len(entries):
            loop = entries[i][0].host_loop
            j = i + 1
            while loop is not None and j < len(entries) and entries[j][0].host_loop is loop:
                j += 1
            if loop is None:
                yield entries[i], binding
            else:
                lo, n = eval_int(loop.min, binding), eval_int(loop.extent, binding)
                if lo is None or n is None:
                    raise ArgumentError(f"kernel {entries[i][0].name}: the host loop over "
                                        f"{loop.var.name} has bounds the argument shapes do not "
                                        "give")
                for t in range(int(lo), int(lo) + max(int(n), 0)):
                    step = dict(binding)
                    step[loop.var] = t
                    for e in entries[i:j]:
                        yield e, step
            i = j

    def launch_shape(self, kernel, binding):
        grid = []
        for g in kernel.grid:
            v = eval_int(g, binding)
            if v is None:
                raise ArgumentError(f"kernel {kernel.name}: grid extent {g} cannot be computed "
                                    "from the argument shapes")
            grid.append(max(int(v), 0))
        for dim, (g, limit) in enumerate(zip(grid, MAX_GRID)):
            if g > limit:
                raise ArgumentError(f"kernel {kernel.name}: these shapes need {g} blocks along "
                                    f"blockIdx.{'xyz'[dim]}, over the limit of {limit}; bind a "
                                    "larger tile or another block axis")
        return tuple(grid), tuple(kernel.block)

    def temp_elems(self, buf, binding):
        v = eval_int(buf.size, binding)
        if v is None:
            raise ArgumentError(f"temporary {buf.name}: size {buf.size} cannot be computed")
        return max(int(v), 0)

    def raise_if_error(self, err):
        if self._checks and err[0]:
            raise_index_error(self._checks, [int(x) for x in err[:3]], self.name)

    @staticmethod
    def new_error_words():
        return np.zeros(4, dtype=np.int64)
