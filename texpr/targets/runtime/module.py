"""A built kernel: validates NumPy arguments, then calls the compiled function through cffi."""
import os
import statistics
import time

import numpy as np
from cffi import FFI

from ..index_checks import raise_index_error
from ..toolchain import require_sanitizer_runtime
from ...lang import dtypes
from ...errors import ArgumentError, InternalError
from ...lang.expr import Const, Var
from ...lang.visitor import free_vars, substitute

_NP = {d: np.dtype(d) for d in dtypes.SCALAR_DTYPES}

# Loaded kernels are never unloaded: a kernel with parallel loops starts OpenMP worker threads
# in libgomp, and dlclose (cffi does it when a Module is garbage collected) could unmap code
# those parked threads still run, crashing the process later.
_KEEP_LOADED = []


class Module:
    """Callable kernel: f(*arrays) with outputs passed in and written (TVM style)."""

    def __init__(self, func, source, lib_path, entry, target, outputs, note="", uses_parallel=False,
                 checks=()):
        self.name = func.name
        self.source = source
        self.target = target
        self.lib_path = lib_path
        self.note = note
        self._func = func
        self._uses_parallel = uses_parallel
        self._threads = None
        ffi = FFI()
        nargs = len(func.args)
        params = ["void*"] * nargs + ["int64_t"] * len(func.shape_vars)
        if checks:
            params.append("int64_t*")       # this call's error words (index_checks.py)
        base = entry[:-len('_entry')]
        ffi.cdef(f"void {entry}({', '.join(params) or 'void'});\n"
                 f"void {base}_set_num_threads(int);")
        self._ffi = ffi
        require_sanitizer_runtime()     # else ASan would end the process in dlopen
        # RTLD_LOCAL: the kernel's symbols stay out of the process's global scope, so two
        # kernels of one name (or a later library) never resolve to each other's functions
        self._lib = ffi.dlopen(lib_path, ffi.RTLD_NOW | ffi.RTLD_LOCAL)
        _KEEP_LOADED.append((ffi, self._lib))
        self._fn = _own_symbol(ffi, self._lib, entry, lib_path)
        self._set_threads = _own_symbol(ffi, self._lib, base + "_set_num_threads", lib_path)
        self._plan = ValidationPlan(func, outputs, ffi)
        self._checks = list(checks)
        self._shape_of = {b.name: b.shape for b in func.args}

    def __repr__(self):
        extra = f", {self.note}" if self.note else ""
        return f"<texpr.Module {self.name} target={self.target}{extra}>"

    def __call__(self, *arrays):
        ptrs, shape_vals = self._plan.check(arrays)
        if self._uses_parallel:
            self._sync_threads()
        if self._checks:
            self._call_checked(self._fn, ptrs, shape_vals)
        else:
            self._fn(*ptrs, *shape_vals)

    def _call_checked(self, fn, ptrs, shape_vals):
        """One call with its own error words (zeroed, owned by this frame): calls from other
        threads at the same time cannot see or clear them."""
        err = self._ffi.new("int64_t[3]")
        fn(*ptrs, *shape_vals, err)
        if err[0]:
            raise_index_error(self._checks, list(err), self.name)

    def bind(self, *arrays):
        """A callable with no arguments that runs the kernel on these arrays. They are
        validated once, here; each call then skips the checks (what a graph of kernels whose
        buffers are allocated once wants). The arrays must stay alive and unchanged in shape
        (the callable keeps references to them)."""
        ptrs, shape_vals = self._plan.check(arrays)
        fn, checks = self._fn, self._checks

        def run():
            if self._uses_parallel:
                self._sync_threads()
            if checks:
                self._call_checked(fn, ptrs, shape_vals)
            else:
                fn(*ptrs, *shape_vals)
        run.arrays = arrays
        return run

    def _sync_threads(self):
        n = num_threads()
        if n != self._threads:
            self._set_threads(n)
            self._threads = n

    def time(self, *arrays, number=10, repeat=5):
        """Median seconds per call over `repeat` timings of `number` calls each."""
        ptrs, shape_vals = self._plan.check(arrays)
        if self._uses_parallel:
            self._sync_threads()
        fn = self._fn
        if self._checks:        # the first call raises a bad index; the timed ones share words
            self._call_checked(fn, ptrs, shape_vals)
            shape_vals = list(shape_vals) + [self._ffi.new("int64_t[3]")]
        fn(*ptrs, *shape_vals)
        times = []
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            for _ in range(max(1, number)):
                fn(*ptrs, *shape_vals)
            times.append((time.perf_counter() - t0) / max(1, number))
        return statistics.median(times)


_DL = []


def _own_symbol(ffi, lib, name, lib_path):
    """lib.name, checked to be defined in lib_path itself: a dlopen handle's lookup also
    searches the libraries it depends on (libc, libm, libgomp), and a function found there
    would be called in the kernel's place."""
    fn = getattr(lib, name)
    if not _DL:
        dl = FFI()
        dl.cdef("typedef struct { const char* dli_fname; void* dli_fbase; const char* dli_sname;"
                " void* dli_saddr; } Dl_info; int dladdr(const void*, Dl_info*);")
        _DL.append((dl, dl.dlopen(None)))
    dl, libc = _DL[0]
    info = dl.new("Dl_info*")
    if libc.dladdr(dl.cast("void*", int(ffi.cast("uintptr_t", fn))), info) == 0 or \
            info.dli_fname == dl.NULL or \
            os.path.realpath(dl.string(info.dli_fname).decode()) != os.path.realpath(lib_path):
        where = dl.string(info.dli_fname).decode() if info.dli_fname != dl.NULL else "?"
        raise InternalError(f"kernel symbol {name} resolves to {where}, not to the kernel's "
                            f"library {lib_path}")
    return fn


def num_threads():
    v = os.environ.get("TEXPR_NUM_THREADS")
    if v:
        try:
            n = int(v)
            if n > 0:
                return n
        except ValueError:
            pass
    return os.cpu_count() or 1


class ValidationPlan:
    """Everything checked on each call, precomputed so that a call costs little.

    check() returns (one cffi pointer per array, shape values); without an ffi (emulated
    modules, targets/runtime/harness.py) it returns the validated arrays themselves.
    """

    def __init__(self, func, outputs, ffi=None):
        self.from_buffer = ffi.from_buffer if ffi is not None else (lambda a: a)
        self.args = []
        self.shape_vars = func.shape_vars
        for k, b in enumerate(func.args):
            dims = []
            for d, s in enumerate(b.shape):
                if isinstance(s, Const):
                    dims.append(("const", s.value))
                elif isinstance(s, Var):
                    dims.append(("var", s))
                else:
                    dims.append(("expr", s))
            self.args.append((b.name, _NP[b.dtype], len(b.shape), tuple(dims), id(b) in outputs))
        self.nargs = len(self.args)
        self.outputs = [k for k, a in enumerate(self.args) if a[4]]

    def _check_no_overlap(self, k, arrays):
        """The kernel's pointers are `restrict`: an output sharing memory with another argument
        would be computed wrong (e.g. C = A @ B written into A), so it is refused. Arrays are
        C-contiguous here, so overlapping address ranges are overlapping elements."""
        out = arrays[k]
        for j, other in enumerate(arrays):
            if j != k and np.may_share_memory(out, other):
                raise ArgumentError(f"argument {self.args[k][0]}: output shares memory with "
                                    f"argument {self.args[j][0]}; texpr kernels write their "
                                    "outputs into separate arrays (pass a copy, or a new array)")

    def check(self, arrays):
        if len(arrays) != self.nargs:
            names = ", ".join(a[0] for a in self.args)
            raise ArgumentError(f"expected {self.nargs} arrays ({names}), got {len(arrays)}")
        binding = {}
        ptrs = []
        exprs = []
        for (name, dt, ndim, dims, is_out), a in zip(self.args, arrays):
            if type(a) is not np.ndarray:
                if not isinstance(a, np.ndarray):
                    raise ArgumentError(f"argument {name}: expected a numpy.ndarray, got "
                                        f"{type(a).__name__}")
            if a.dtype is not dt and a.dtype != dt:
                raise ArgumentError(f"argument {name}: dtype is {a.dtype}, expected {dt}")
            if a.ndim != ndim:
                raise ArgumentError(f"argument {name}: has {a.ndim} dimension(s), expected {ndim}")
            shape = a.shape
            for d, (kind, v) in enumerate(dims):
                n = shape[d]
                if kind == "const":
                    if n != v:
                        raise ArgumentError(f"argument {name}: dimension {d} is {n}, expected {v}")
                elif kind == "var":
                    old = binding.get(v)
                    if old is None:
                        binding[v] = n
                    elif old != n:
                        raise ArgumentError(f"argument {name}: dimension {d} is {n}, but "
                                            f"{v.name} = {old} from an earlier argument")
                else:
                    exprs.append((name, d, v, n))
            flags = a.flags
            if not flags.c_contiguous:
                raise ArgumentError(f"argument {name}: array is not C-contiguous; pass "
                                    "np.ascontiguousarray(...)")
            if is_out and not flags.writeable:
                raise ArgumentError(f"argument {name}: output array is read-only")
            ptrs.append(self.from_buffer(a))
        for k in self.outputs:
            self._check_no_overlap(k, arrays)
        for name, d, e, n in exprs:
            val = eval_int(e, binding)
            if val is None:
                raise ArgumentError(f"argument {name}: dimension {d} is {e}, which cannot be "
                                    "derived from other arguments' shapes")
            if val != n:
                raise ArgumentError(f"argument {name}: dimension {d} is {n}, expected {e} = {val}")
        vals = []
        for v in self.shape_vars:
            x = binding.get(v)
            if x is None:
                raise ArgumentError(f"the value of {v.name} cannot be taken from any argument shape")
            if x >= 2**31:
                raise ArgumentError(f"{v.name} = {x} does not fit in {v.dtype}")
            vals.append(x)
        return ptrs, vals


def eval_int(e, binding):
    from ...lower.analysis.arith import simplify
    if any(v not in binding for v in free_vars(e)):
        return None
    r = simplify(substitute(e, {v: Const(x, v.dtype) for v, x in binding.items()}))
    return r.value if isinstance(r, Const) else None
