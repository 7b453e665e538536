"""A built kernel: validates NumPy arguments, then calls the compiled function through cffi."""
import os
import re
import statistics
import time

import numpy as np
from cffi import FFI

from ..index_checks import raise_index_error
from ..toolchain import require_sanitizer_runtime
from ...lang import dtypes
from ...errors import ArgumentError, BuildError, InternalError
from ...lang.expr import Const, Var
from ...lang.printer import to_str
from ...lang.visitor import free_vars, substitute

_NP = {d: np.dtype(d) for d in dtypes.SCALAR_DTYPES}

# Loaded kernels are never unloaded: a kernel with parallel loops starts OpenMP worker threads
# in libgomp, and dlclose (cffi does it when a Module is garbage collected) could unmap code
# those parked threads still run, crashing the process later.
_KEEP_LOADED = []


class Module:
    """Callable kernel: f(*arrays) with outputs passed in and written (TVM style)."""

    def __init__(self, func, source, lib_path, entry, target, outputs, note="", uses_parallel=False,
                 checks=(), uses_packed=False):
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
        params = ["void*"] * nargs + ["double" if dtypes.is_float(v.dtype) else "int64_t"
                                      for v in func.shape_vars]
        if checks:
            params.append("int64_t*")       # this call's error words (index_checks.py)
        base = entry[:-len('_entry')]
        ffi.cdef(f"void {entry}({', '.join(params) or 'void'});\n"
                 f"void {base}_set_num_threads(int);"
                 + (f"\nvoid {base}_set_packed(void*);" if uses_packed else ""))
        self._ffi = ffi
        require_sanitizer_runtime()     # else ASan would end the process in dlopen
        # RTLD_LOCAL: the kernel's symbols stay out of the process's global scope, so two
        # kernels of one name (or a later library) never resolve to each other's functions
        try:
            self._lib = ffi.dlopen(lib_path, ffi.RTLD_NOW | ffi.RTLD_LOCAL)
        except OSError as e:
            missing = re.search(r"undefined symbol: (\w+)", str(e))
            if missing is None:
                raise
            raise BuildError(f"kernel {func.name} calls {missing.group(1)}, which nothing linked "
                             "into it defines: give its code with te.build(extra_sources=, "
                             "libs=) or a pragma import_c / import_llvm") from None
        _KEEP_LOADED.append((ffi, self._lib))
        self._fn = _own_symbol(ffi, self._lib, entry, lib_path)
        self._set_threads = _own_symbol(ffi, self._lib, base + "_set_num_threads", lib_path)
        self._plan = ValidationPlan(func, outputs, ffi)
        self._checks = list(checks)
        self._shape_of = {b.name: b.shape for b in func.args}
        self._packed = uses_packed
        if uses_packed:           # calls of Python functions (te.call_packed): the callback
            from . import packed
            _own_symbol(ffi, self._lib, base + "_set_packed", lib_path)(
                ffi.cast("void*", packed.callback_address()))

    def __repr__(self):
        extra = f", {self.note}" if self.note else ""
        return f"<texpr.Module {self.name} target={self.target}{extra}>"

    def __call__(self, *arrays):
        ptrs, shape_vals = self._plan.check(arrays)
        if self._uses_parallel:
            self._sync_threads()
        self._run(self._fn, ptrs, shape_vals)

    def _run(self, fn, ptrs, shape_vals):
        """One call. A kernel with checked indices gets error words of its own (zeroed, owned
        by this frame: calls from other threads at the same time cannot see or clear them);
        what a Python function it called (te.call_packed) raised is raised after it."""
        if self._packed:
            from . import packed
            packed.clear_error()
        err = None
        if self._checks:
            err = self._ffi.new("int64_t[3]")
            fn(*ptrs, *shape_vals, err)
        else:
            fn(*ptrs, *shape_vals)
        if self._packed:
            packed.raise_pending(self.name)
        if err is not None and err[0]:
            raise_index_error(self._checks, list(err), self.name)

    def bind(self, *arrays):
        """A callable with no arguments that runs the kernel on these arrays. They are
        validated once, here; each call then skips the checks (what a graph of kernels whose
        buffers are allocated once wants). The arrays must stay alive and unchanged in shape
        (the callable keeps references to them)."""
        ptrs, shape_vals = self._plan.check(arrays)
        fn = self._fn

        def run():
            if self._uses_parallel:
                self._sync_threads()
            self._run(fn, ptrs, shape_vals)
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
        self._run(fn, ptrs, shape_vals)      # the first call raises what the kernel reports
        if self._checks:        # the timed calls share one set of error words
            shape_vals = list(shape_vals) + [self._ffi.new("int64_t[3]")]
        times = []
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            for _ in range(max(1, number)):
                fn(*ptrs, *shape_vals)
            times.append((time.perf_counter() - t0) / max(1, number))
        if self._packed:
            from . import packed
            packed.raise_pending(self.name)
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
        # arguments relaid by transform_layout: a wrong shape is told with the physical shape
        self.relaid = {b.name: b for b in func.args if getattr(b, "logical_shape", None)}
        self.outputs = [k for k, a in enumerate(self.args) if a[4]]
        self.preconditions = [(compile_int_expr(p.cond), p) for p in func.preconditions]
        # scalar arguments (te.var in the build's args): (position in the call, Var)
        params = getattr(func, "params", None) or func.args
        self.scalars = [(k, p) for k, p in enumerate(params) if isinstance(p, Var)]
        self.extent_vars = getattr(func, "extent_vars", frozenset())
        self.param_names = [p.name for p in params]

    def _relaid_shape_error(self, name, got):
        b = self.relaid[name]
        want = ", ".join(to_str(d) for d in b.shape) + ("," if len(b.shape) == 1 else "")
        logical = ", ".join(to_str(d) for d in b.logical_shape)
        return (f"argument {name}: expected shape ({want}) ({name}'s physical layout after "
                f"transform_layout of {name}[{logical}]), got {tuple(got)}")

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
        binding = {}
        if self.scalars:
            arrays, binding = self._take_scalars(arrays)
        given = binding.keys() if self.scalars else ()
        if len(arrays) != self.nargs:
            names = ", ".join(a[0] for a in self.args)
            raise ArgumentError(f"expected {self.nargs} arrays ({names}), got {len(arrays)}")
        ptrs = []
        exprs = []
        for (name, dt, ndim, dims, is_out), a in zip(self.args, arrays):
            if type(a) is not np.ndarray:
                if not isinstance(a, np.ndarray):
                    raise ArgumentError(f"argument {name}: expected a numpy.ndarray, got "
                                        f"{type(a).__name__}")
            if a.dtype is not dt and a.dtype != dt:
                raise ArgumentError(f"argument {name}: dtype is {a.dtype}, expected {dt}")
            if self.relaid and name in self.relaid and (a.ndim != ndim or any(
                    kind == "const" and n != v for (kind, v), n in zip(dims, a.shape))):
                raise ArgumentError(self._relaid_shape_error(name, a.shape))
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
                        src = "the scalar argument" if v in given else "an earlier argument"
                        raise ArgumentError(f"argument {name}: dimension {d} is {n}, but "
                                            f"{v.name} = {old} from {src}")
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
            if x >= 2**31 and v not in given:     # (a scalar argument's range is checked)
                raise ArgumentError(f"{v.name} = {x} does not fit in {v.dtype}")
            vals.append(x)
        for holds, pre in self.preconditions:
            if not holds(binding):
                values = ", ".join(f"{v.name} = {binding[v]}" for v in sorted(
                    free_vars(pre.cond), key=lambda v: v.name) if v in binding)
                raise ArgumentError(f"{pre.message}, but {values}; nothing was run")
        return ptrs, vals

    def _take_scalars(self, args):
        """Split the call's arguments into arrays and scalar values (checked: type, range,
        a non-negative extent)."""
        n = len(self.param_names)
        if len(args) != n:
            raise ArgumentError(f"expected {n} arguments ({', '.join(self.param_names)}), got "
                                f"{len(args)}")
        pos = {k for k, _ in self.scalars}
        binding = {}
        for k, v in self.scalars:
            x = args[k]
            if isinstance(x, np.ndarray) and x.ndim == 0:
                x = x.item()
            elif isinstance(x, np.generic):
                x = x.item()
            if dtypes.is_float(v.dtype):
                if isinstance(x, bool) or not isinstance(x, (int, float)):
                    raise ArgumentError(f"scalar argument {v.name}: expected a Python float for "
                                        f"{v.dtype}, got {type(x).__name__}")
                x = float(x)
            elif dtypes.is_int(v.dtype):
                if isinstance(x, bool) or not isinstance(x, int):
                    raise ArgumentError(f"scalar argument {v.name}: expected a Python int for "
                                        f"{v.dtype}, got {type(x).__name__}")
                info = np.iinfo(v.dtype)
                if not info.min <= x <= info.max:
                    raise ArgumentError(f"scalar argument {v.name} = {x} does not fit in {v.dtype} "
                                        f"([{info.min}, {info.max}])")
                if x < 0 and v in self.extent_vars:
                    raise ArgumentError(f"scalar argument {v.name} = {x}: it is a shape or loop "
                                        "extent, which cannot be negative")
                if x >= 2**63:          # uint64: passed as the int64 of the same bits
                    x -= 2**64
            else:
                if not isinstance(x, (bool, np.bool_)):
                    raise ArgumentError(f"scalar argument {v.name}: expected a bool, got "
                                        f"{type(x).__name__}")
                x = bool(x)
            binding[v] = x
        return [a for k, a in enumerate(args) if k not in pos], binding


_PY_OPS = {"+": "+", "-": "-", "*": "*", "//": "//", "%": "%", "&&": "and", "||": "or",
           "<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}


def compile_int_expr(e):
    """binding -> value of integer/bool expression e of shape variables, as a Python function
    compiled once (a call evaluates its preconditions without the simplifier)."""
    from ...lang.expr import BinOp, Cmp, Not
    names = {}

    def py(x):
        if isinstance(x, Const):
            return repr(x.value)
        if isinstance(x, Var):
            return names.setdefault(x, f"v{len(names)}")
        if isinstance(x, (BinOp, Cmp)) and x.op in _PY_OPS:
            return f"({py(x.a)} {_PY_OPS[x.op]} {py(x.b)})"
        if isinstance(x, BinOp) and x.op in ("min", "max"):
            return f"{x.op}({py(x.a)}, {py(x.b)})"
        if isinstance(x, Not):
            return f"(not {py(x.a)})"
        raise ValueError
    try:
        body = py(e)
    except ValueError:
        return lambda binding: bool(eval_int(e, binding))
    args = ", ".join(f"{n}=b[_v{k}]" for k, n in enumerate(names.values()))
    env = {f"_v{k}": v for k, v in enumerate(names)}
    src = f"def holds(b):\n    {args.replace(', ', '; ') if args else 'pass'}\n    return {body}\n"
    exec(src, env)      # noqa: S102  (generated from an IR expression, no user text)
    return env["holds"]


def eval_int(e, binding):
    from ...lower.analysis.arith import simplify
    if any(v not in binding for v in free_vars(e)):
        return None
    r = simplify(substitute(e, {v: Const(x, v.dtype) for v, x in binding.items()}))
    return r.value if isinstance(r, Const) else None
