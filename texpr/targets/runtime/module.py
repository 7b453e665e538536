"""A built kernel: validates its arguments (NumPy arrays, or any array with __dlpack__ or the
buffer protocol, taken without a copy: arrays.py), then calls the compiled function through
cffi."""
from __future__ import annotations

import os
import re
import statistics
import time
from typing import Any

import numpy as np
from cffi import FFI

from ..index_checks import raise_index_error
from . import fastcheck
from .arrays import as_array, framework_of, may_overlap, to_framework
from ..toolchain import require_sanitizer_runtime
from ...lang import dtypes
from ...errors import ArgumentError, BuildError, InternalError
from ...lang.expr import Const, Var
from ...lang.printer import to_str
from ...lang.visitor import free_vars, substitute

_NP = {d: np.dtype(d) for d in dtypes.SCALAR_DTYPES if d != "bfloat16"}

# Loaded kernels are never unloaded: a kernel with parallel loops starts OpenMP worker threads
# in libgomp, and dlclose (cffi does it when a Module is garbage collected) could unmap code
# those parked threads still run, crashing the process later.
_KEEP_LOADED = []


class Module:
    """Callable kernel: `f(*arrays)` with outputs passed in and written (TVM style), or
    `f(*inputs)` allocating the outputs and returning them.

    Made by te.build; `source` is the generated source text, `time` measures a call.
    Example::

        f = te.build(s, [A, B], target="c")
        f(a, b)                         # b written
        b = f(a)                        # b allocated and returned
        seconds = f.time(a, b, number=100)
    """

    def __init__(self, func, source, lib_path, entry, target, outputs, note="", uses_parallel=False,
                 checks=(), uses_packed=False, parallel_runtime="openmp"):
        self.name = func.name
        self.source = source
        self.target = target
        self.lib_path = lib_path
        self.note = note
        self._func = func
        self._uses_parallel = uses_parallel
        nargs = len(func.args)
        # array arguments are passed as addresses (uintptr_t: the same register as a pointer)
        params = ["uintptr_t"] * nargs + ["double" if dtypes.is_float(v.dtype) else "int64_t"
                                      for v in func.shape_vars]
        if checks:
            params.append("int64_t*")       # this call's error words (index_checks.py)
        base = entry[:-len('_entry')]
        cdef = (f"void {entry}({', '.join(params) or 'void'});\n"
                f"void {base}_set_num_threads(int);"
                + (f"\nvoid {base}_set_packed(void*);" if uses_packed else ""))
        pool = uses_parallel and parallel_runtime == "texpr"
        if pool:
            cdef += f"\nvoid {base}_set_parallel_runtime(void*);"
        ffi, self._lib, self._fn, self._set_threads, threads = _load(
            lib_path, cdef, entry, base, func.name)
        # the thread count lives in the library, which every module of the same source
        # shares (a kernel built again, e.g. at another thread count, reuses the loaded
        # library), and so does the record of what it was synced to: [environment, key, the
        # variable's raw value synced, the count]. A parallel kernel's direct call checks in
        # C that the raw value is still the one synced (None: a serial kernel). A record of
        # each module's own missed another module's change: a kernel built for 1 and for 2
        # threads ran its 1-thread calls on 2 threads, or its 2-thread calls on 1.
        self._thread_sync = threads
        self._thread_state = threads if uses_parallel else None
        if pool:                # its parallel loops run on texpr's thread pool (pool.c)
            from . import pool as thread_pool
            _own_symbol(ffi, self._lib, base + "_set_parallel_runtime", lib_path)(
                ffi.cast("void*", thread_pool.parallel_for_address()))
        self._ffi = ffi
        self._plan = ValidationPlan(func, outputs, ffi)
        self._checks = list(checks)
        self._shape_of = {b.name: b.shape for b in func.args}
        self._packed = uses_packed
        # the C checker's answer is the whole call: fn(*addresses, *shape values)
        # (a parallel kernel too: its thread count is synced first, __call__)
        plain = not (checks or uses_packed)
        self._direct, self._direct_plan = self._plan.direct() if plain else (None, None)
        self._address = int(ffi.cast("uintptr_t", self._fn))
        if uses_packed:           # calls of Python functions (te.call_packed): the callback
            from . import packed
            _own_symbol(ffi, self._lib, base + "_set_packed", lib_path)(
                ffi.cast("void*", packed.callback_address()))

    def __repr__(self):
        extra = f", {self.note}" if self.note else ""
        classes = specialisations(self.source)
        if classes:         # Schedule.specialize: the size classes the entry dispatches to
            extra += ", dispatch: " + "; ".join(classes)
        return f"<texpr.Module {self.name} target={self.target}{extra}>"

    def _repr_html_(self):
        """Jupyter: the generated source, highlighted."""
        from ...display import module_html
        return module_html(self)

    def __call__(self, *arrays: Any) -> Any:
        direct = self._direct
        if direct is not None and \
                direct(self._direct_plan, self._address, arrays, self._thread_state):
            return None                     # checked and run by the C extension
        return self._call_checked(arrays, self._plan.fast(arrays))

    def _call_checked(self, arrays, fast):
        """A call the C checker did not take at once: outputs to allocate, arrays of other
        frameworks (taken as NumPy views, then checked in C), or an error to tell (check())."""
        if fastcheck.take_torch():          # torch was imported since: the C checker takes
            return self(*arrays)            # CPU tensors from now on
        plan = self._plan
        result = views = None
        if len(arrays) != plan.ncall:
            arrays, result = plan.with_outputs(arrays)
            fast = plan.fast(arrays)
        if fast is None:
            views = plan.views(arrays)
            fast = plan.fast(views) if views is not None else None
        if fast is None:
            ptrs, shape_vals = plan.check(arrays)
        else:
            ptrs, shape_vals = fast, ()
        if self._uses_parallel and \
                _ENVIRON.get(_NUM_THREADS_KEY, None) is not self._thread_sync[2]:
            self._sync_threads()
        self._run(self._fn, ptrs, shape_vals)
        del views           # (the views of other frameworks' arrays lived through the call)
        return result

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
        (the callable keeps references to them).

        Example::

            f = te.build(s, [A, B], target="c")
            run = f.bind(a, b)      # a and b checked once, here
            run()                   # b written; no checks per call
        """
        ptrs, shape_vals = self._plan.check(arrays)
        fn = self._fn

        def run():
            if self._uses_parallel:
                self._sync_threads()
            self._run(fn, ptrs, shape_vals)
        run.arrays = arrays
        return run

    def _sync_threads(self):
        # (the variable's raw value, whose identity __call__ compares: a new value is a new
        # object; without os.environ's own mapping, a value no lookup returns)
        self._thread_sync[2] = _ENVIRON.get(_NUM_THREADS_KEY, None) \
            if _ENVIRON is _ENVIRON_DATA else _NEVER
        n = num_threads()
        if n != self._thread_sync[3]:
            self._set_threads(n)
            self._thread_sync[3] = n

    @property
    def _threads(self):
        """The thread count the kernel's library was last set to (None: not yet)."""
        return self._thread_sync[3]

    def time(self, *arrays: Any, number: int = 10, repeat: int = 5) -> float:
        """Median seconds per call over `repeat` timings of `number` calls each.

        What is timed is the call as a user makes it, `f(*arrays)`: the argument checks
        (planned once per kernel; for NumPy arrays done in C, a fraction of a microsecond,
        for CPU torch tensors in C too, ~0.2 us more per tensor; arrays of other frameworks
        add their conversion to NumPy views), the kernel and the
        check of its error words. Outputs omitted here are allocated once, before timing,
        and not counted.

        Example::

            f = te.build(s, [A, B], target="c")
            print(f"{f.time(a, b, number=1000) * 1e6:.2f} us per call")
        """
        if len(arrays) != self._plan.ncall:
            arrays, _ = self._plan.with_outputs(arrays)
        self(*arrays)                       # the first call raises what the kernel reports
        times = []
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            for _ in range(max(1, number)):
                self(*arrays)
            times.append((time.perf_counter() - t0) / max(1, number))
        return statistics.median(times)


_LIBRARIES = {}      # (library path, cdef) -> (ffi, lib, entry, set_num_threads, threads)


def _load(lib_path, cdef, entry, base, kernel):
    """The kernel library loaded once per process (a rebuild of a cached kernel reuses it)."""
    got = _LIBRARIES.get((lib_path, cdef))
    if got is not None:
        return got
    ffi = FFI()
    ffi.cdef(cdef)
    require_sanitizer_runtime()     # else ASan would end the process in dlopen
    # RTLD_LOCAL: the kernel's symbols stay out of the process's global scope, so two
    # kernels of one name (or a later library) never resolve to each other's functions
    try:
        lib = ffi.dlopen(lib_path, ffi.RTLD_NOW | ffi.RTLD_LOCAL)
    except OSError as e:
        missing = re.search(r"undefined symbol: (\w+)", str(e))
        if missing is None:
            raise
        raise BuildError(f"kernel {kernel} calls {missing.group(1)}, which nothing linked "
                         "into it defines: give its code with te.build(extra_sources=, "
                         "libs=) or a pragma import_c / import_llvm") from None
    _KEEP_LOADED.append((ffi, lib))
    got = (ffi, lib, _own_symbol(ffi, lib, entry, lib_path),
           _own_symbol(ffi, lib, base + "_set_num_threads", lib_path),
           [_ENVIRON, _NUM_THREADS_KEY, _NEVER, None])
    _LIBRARIES[(lib_path, cdef)] = got
    return got


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


# os.environ's own mapping (POSIX: bytes keys and values): a lookup in it costs ~0.05 us
# where os.environ.get costs ~0.5 us, which a parallel kernel paid on every call (its
# thread count synced before it runs: one-row softmax of a symbolic row count ran 2x the
# time of its concrete build)
_ENVIRON_DATA = getattr(os.environ, "_data", None)
_NUM_THREADS_KEY = b"TEXPR_NUM_THREADS" if os.name == "posix" else "TEXPR_NUM_THREADS"
_last_num_threads = [object(), 0]   # (the variable's raw value, the count it gives)
_NEVER = object()
_ENVIRON = _ENVIRON_DATA if isinstance(_ENVIRON_DATA, dict) else {}


def num_threads():
    """TEXPR_NUM_THREADS, else the machine's cores (the raw value's count is cached)."""
    if isinstance(_ENVIRON_DATA, dict):
        raw = _ENVIRON_DATA.get(_NUM_THREADS_KEY)
        last = _last_num_threads
        if raw is last[0] or (raw is not None and raw == last[0]):
            return last[1]
        n = _num_threads_of(os.environ.get("TEXPR_NUM_THREADS"))
        last[0], last[1] = raw, n
        return n
    return _num_threads_of(os.environ.get("TEXPR_NUM_THREADS"))


def _num_threads_of(v):
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

    check() returns (the address of each array, shape values); without an ffi (emulated and
    GPU modules) it returns the validated arrays themselves (NumPy arrays, and DeviceArrays
    where device_ok: memory on a CUDA device). Arguments that are not NumPy arrays are taken
    as NumPy views of their memory first (arrays.as_array), then checked the same way.
    fast() is the same check done by the C extension of fastcheck.py for the common case.
    """

    def __init__(self, func, outputs, ffi=None, device_ok=False):
        if ffi is not None:
            self.from_buffer = lambda a: int(ffi.cast("uintptr_t", ffi.from_buffer(a)))
        else:
            self.from_buffer = lambda a: a
        self.device_ok = device_ok
        self.args = []
        self._dim_value = {}        # id of an extent expression (kept by args) -> _DimValue
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
                    self._dim_value[id(s)] = _DimValue(s)
            self.args.append((b.name, _NP.get(b.dtype) or dtypes.numpy_dtype(b.dtype), len(b.shape), tuple(dims), id(b) in outputs))
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
        self.ncall = len(params)
        # outputs a call may omit (allocated then): not the placeholders a kernel writes in place
        in_place = getattr(func, "in_place_args", frozenset())
        self.allocatable = [k for k, b in enumerate(func.args) if id(b) in outputs
                            and id(b) not in in_place]
        # positions in the call (scalars included) of the array arguments, and of the outputs
        scalar_pos = {k for k, _ in self.scalars}
        self._array_pos = [k for k in range(self.ncall) if k not in scalar_pos]
        self._out_call = {self._array_pos[k] for k in self.allocatable}
        self._fast_plan = self._plan_fast(ffi)

    def _plan_fast(self, ffi):
        """(check, plan words, shape variables in its order, number of them the call takes,
        the check of the extents given by expressions (_derived_extents_check) or None (none,
        or checked in C), whether the checker's words are the call's), or None
        where the C checker does not apply: no cffi call (emulated and GPU modules), scalar
        arguments."""
        if ffi is None or self.scalars or len(self.args) > 64:
            return None
        extension = fastcheck.checker()
        if extension is None:
            return None
        order = list(self.shape_vars)
        words = []
        derived = []    # (position in order, _DimValue): an extent given by an expression
        for (name, dt, ndim, dims, is_out) in self.args:
            ext = []
            for kind, v in dims:
                if kind == "const":
                    ext.append(v)
                elif kind == "var":
                    if v not in order:
                        order.append(v)
                    ext.append(("var", order.index(v)))
                else:
                    # taken by the C checker as a variable of its own, then compared with
                    # the expression's value (fast())
                    derived.append((len(order), v))
                    ext.append(("var", len(order)))
                    order.append(object())
            words.append((dt, is_out, ext))
        if len(order) > 64:
            return None
        # the derived extents checked in C (fastcheck.extent_code) where each has that form:
        # its result is then the call's words, the direct call applies
        where = {v: k for k, v in enumerate(order)}
        codes = [(k, fastcheck.extent_code(e, where.__getitem__)) for k, e in derived]
        if derived and all(c is not None for _, c in codes):
            nshape = len(self.shape_vars)
            return (extension.check, fastcheck.plan_words(words, len(order), nshape, codes),
                    order, nshape, None, len(order) - len(derived) == nshape)
        same = _derived_extents_check(derived, order, len(self.args)) if derived else None
        if derived and same is None:
            return None
        return (extension.check, fastcheck.plan_words(words, len(order)), order,
                len(self.shape_vars), same, len(order) == len(self.shape_vars))

    def direct(self):
        """(run, plan) when the C checker's result is exactly the call's arguments (no
        preconditions to evaluate, no shape variable beyond the call's): the extension's
        run(plan, kernel address, arrays) then checks and calls at once; else (None, None)."""
        plan = self._fast_plan
        if plan is None or self.preconditions or not plan[5]:
            return None, None
        return fastcheck.checker().run, plan[1]

    def fast(self, arrays):
        """The call's (addresses..., shape values...) when the C checker accepts these
        arguments (exact NumPy arrays fitting the signature); else None (check() decides)."""
        plan = self._fast_plan
        if plan is None:
            return None
        r = plan[0](plan[1], arrays)
        if r is None:
            return None
        n = len(arrays) + plan[3]
        if plan[4] is not None and not plan[4](r):
            return None                     # (check() tells which extent is wrong)
        if self.preconditions:
            binding = dict(zip(plan[2], r[len(arrays):]))
            if not all(holds(binding) for holds, _ in self.preconditions):
                return None
        return r if len(r) == n else r[:n]

    def views(self, arrays):
        """The call's arguments with those that are not NumPy arrays as NumPy views of their
        memory, for the C checker; None where it does not apply or nothing was converted."""
        if self._fast_plan is None or len(arrays) != len(self.args) or \
                all(type(a) is np.ndarray for a in arrays):
            return None
        return tuple(a if type(a) is np.ndarray else as_array(a, spec[0], self.device_ok,
                                                              spec[4])
                     for a, spec in zip(arrays, self.args))

    def with_outputs(self, args):
        """A call that gave only the inputs: (all arguments, the outputs to return), the
        outputs allocated as NumPy arrays of the shapes the inputs' shapes give (returned in
        the framework of the first array argument: torch tensors for torch input)."""
        n_in = self.ncall - len(self.allocatable)
        if len(args) != n_in or not self.allocatable:
            what = "arguments" if self.scalars else "arrays"
            names = ", ".join(self.param_names)
            alone = (f", or the {n_in} input(s) alone (the outputs are then allocated and "
                     "returned)" if self.allocatable else "")
            raise ArgumentError(f"expected {self.ncall} {what} ({names}){alone}, got {len(args)}")
        out_pos = self.allocatable
        array_pos, out_call = self._array_pos, self._out_call
        full, it = [], iter(args)
        for k in range(self.ncall):
            full.append(None if k in out_call else next(it))
        binding = {v: full[k] for k, v in self.scalars}
        framework = None
        arrays = {}
        for j, k in enumerate(array_pos):
            if k in out_call:
                continue
            name, dt, ndim, dims, _ = self.args[j]
            a = as_array(full[k], name, self.device_ok)
            if framework is None:
                framework = framework_of(full[k]) or False
            arrays[j] = a
            if a.ndim == ndim:
                for (kind, v), n in zip(dims, a.shape):
                    if kind == "var":
                        binding.setdefault(v, n)
        outs = []
        for j in out_pos:
            name, dt, ndim, dims, _ = self.args[j]
            shape = []
            for d, (kind, v) in enumerate(dims):
                n = v if kind == "const" else binding.get(v) if kind == "var" else \
                    self._dim_value[id(v)](binding)
                if n is None:
                    raise ArgumentError(f"output {name}: dimension {d} ({to_str(v)}) is not given "
                                        "by the inputs' shapes; pass the output array")
                if n < 0:
                    raise ArgumentError(f"output {name}: dimension {d} ({to_str(v)}) is {n}")
                shape.append(int(n))
            if not all(isinstance(a, np.ndarray) for a in arrays.values()):
                raise ArgumentError(f"output {name}: the inputs are in device memory; pass the "
                                    "output array (texpr allocates outputs in host memory)")
            out = np.empty(shape, dt)
            full[array_pos[j]] = out
            outs.append(to_framework(framework or None, out))
        return tuple(full), (outs[0] if len(outs) == 1 else tuple(outs))

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
            if j != k and may_overlap(out, other):
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
        ptrs = _Addresses()
        exprs = []
        taken = ptrs.arrays = []
        for (name, dt, ndim, dims, is_out), a in zip(self.args, arrays):
            if type(a) is not np.ndarray:
                a = as_array(a, name, self.device_ok, is_out)
            taken.append(a)
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
            if not flags.aligned:
                raise ArgumentError(f"argument {name}: data is not aligned to its "
                                    f"{dt.itemsize}-byte elements (a view at an odd byte "
                                    "offset?); pass a copy")
            ptrs.append(self.from_buffer(a))
        for k in self.outputs:
            self._check_no_overlap(k, taken)
        for name, d, e, n in exprs:
            val = self._dim_value[id(e)](binding)
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


class _Addresses(list):
    """The addresses check() returns; .arrays keeps the arrays it checked (views of other
    frameworks' memory among them) alive, and their buffers exported, until the call ends."""


_PY_OPS = {"+": "+", "-": "-", "*": "*", "//": "//", "%": "%", "&&": "and", "||": "or",
           "<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}


def _py_text(e, name_of):
    """Python text of integer/bool expression e, its variables written name_of(var); raises
    ValueError for what has no Python form."""
    from ...lang.expr import BinOp, Cmp, Not

    def py(x):
        if isinstance(x, Const):
            return repr(x.value)
        if isinstance(x, Var):
            return name_of(x)
        if isinstance(x, (BinOp, Cmp)) and x.op in _PY_OPS:
            return f"({py(x.a)} {_PY_OPS[x.op]} {py(x.b)})"
        if isinstance(x, BinOp) and x.op in ("min", "max"):
            return f"{x.op}({py(x.a)}, {py(x.b)})"
        if isinstance(x, Not):
            return f"(not {py(x.a)})"
        raise ValueError
    return py(e)


def compile_int_expr(e, value=False):
    """binding -> value of integer/bool expression e of shape variables, as a Python function
    compiled once (a call evaluates its preconditions without the simplifier). value: None
    when e has no Python form (else a function of eval_int's truth)."""
    names = {}
    try:
        body = _py_text(e, lambda v: names.setdefault(v, f"v{len(names)}"))
    except ValueError:
        return None if value else (lambda binding: bool(eval_int(e, binding)))
    args = ", ".join(f"{n}=b[_v{k}]" for k, n in enumerate(names.values()))
    env = {f"_v{k}": v for k, v in enumerate(names)}
    src = f"def holds(b):\n    {args.replace(', ', '; ') if args else 'pass'}\n    return {body}\n"
    exec(src, env)      # noqa: S102  (generated from an IR expression, no user text)
    return env["holds"]


def _derived_extents_check(derived, order, nargs):
    """r -> whether the C checker's words r (addresses, then the values of `order`) have
    each derived extent (position k in order, expression) equal to its expression of the
    others, as one function compiled once; None where an expression has no Python form."""
    where = {v: k for k, v in enumerate(order)}
    try:
        parts = [f"{_py_text(e, lambda v: f'r[{nargs + where[v]}]')} == r[{nargs + k}]"
                 for k, e in derived]
    except (ValueError, KeyError):
        return None
    env = {}
    exec(f"def same(r):\n    return {' and '.join(parts) or 'True'}\n", env)  # noqa: S102
    return env["same"]


class _DimValue:
    """binding -> the value of a shape expression (an output extent such as (h - 1) // 2 + 1),
    or None when a variable is unbound: compiled once, where eval_int substitutes and
    simplifies on every call (~0.5 ms a call of a symbolic pooling kernel)."""

    def __init__(self, e):
        self.e = e
        self.fn = compile_int_expr(e, value=True)

    def __call__(self, binding):
        if self.fn is not None:
            try:
                return self.fn(binding)
            except (KeyError, ZeroDivisionError):
                pass
        return eval_int(self.e, binding)


def eval_int(e, binding):
    from ...lower.analysis.arith import simplify
    if any(v not in binding for v in free_vars(e)):
        return None
    r = simplify(substitute(e, {v: Const(x, v.dtype) for v, x in binding.items()}))
    return r.value if isinstance(r, Const) else None


def specialisations(source):
    """The size classes of a kernel built from a specialised schedule (Schedule.specialize),
    as its source names them ("n == 1", ..., "otherwise ..."), in dispatch order."""
    import re
    return re.findall(r"^/\* specialisation \d+: (.*) \*/$", source or "", re.M)
