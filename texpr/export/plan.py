"""What an exported bundle holds, taken from a built kernel or a compiled topi.graph: the
kernels (their C source and entry symbol), the values (inputs, outputs, constants,
intermediates) with their shapes as C integer expressions of the bundle's symbolic dims, the
steps in order, and the arena slots the values live in (one arena, planned here)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import ExportError
from ..lang.expr import BinOp, Cast, Cmp, Const, Expr, Not, Select, Var
from ..lang import dtypes
from ..lang.printer import to_str
from . import scratch

#: every slot of the arena starts at a multiple of this (HVX vectors: 128 bytes) ...
ALIGN = 128
#: ... and is followed by this many spare bytes: a full-vector load starting inside a buffer
#: stays inside the arena (what the HVX harness pads its allocations by)
PAD = 256


@dataclass
class Kernel:
    """One distinct kernel: its source with the entry symbol renamed to `symbol`."""
    name: str                 # the kernel's name (te.build name=)
    symbol: str               # texpr_kernel_<...> in the bundle (unique)
    source: str
    target: str
    record: object            # its Target record (flags of its options included)
    nargs: int
    shape_vars: list          # Var, in the entry's order after the arrays
    checks: bool              # takes the index-error words as its last argument
    pool: bool                # calls texpr's thread pool (has <symbol>_set_parallel_runtime)
    arg_dims: list            # per array argument: [("const", int) | ("var", Var) | ("expr", Expr)]
    preconditions: list = field(default_factory=list)   # (Expr of shape vars, message)
    shape_params: list = field(default_factory=list)    # C names of the shape vars' parameters
    scratch: list | None = None   # its temporaries' sites (scratch.py); None: the C heap


@dataclass
class Value:
    """An array of the bundle. shape: C expressions (ints or names of dims)."""
    name: str
    shape: tuple
    dtype: np.dtype
    kind: str                 # "input", "output", "constant", "temp"
    slot: int = -1            # arena slot (inputs, outputs, temps)
    offset: int = -1          # byte offset in the weights blob (constants)
    array: np.ndarray | None = None
    exprs: dict = field(default_factory=dict)      # C text of a symbolic extent -> its Expr
    dim_vars: dict = field(default_factory=dict)   # Var -> C dim name
    labels: tuple = ()        # the shape as the user wrote it (documentation)

    def nbytes_c(self):
        """C expression of its size in bytes."""
        return " * ".join([f"(size_t)({d})" for d in self.shape] + [str(self.dtype.itemsize)])

    def shape_for(self, dims):
        """Its shape for the dim values `dims` ({C dim name: int})."""
        return tuple(d if isinstance(d, int) else _eval_extent(self, d, dims) for d in self.shape)

    def nbytes(self, dims):
        """Its size in bytes for the dim values `dims` ({C dim name: int})."""
        n = self.dtype.itemsize
        for d in self.shape_for(dims):
            n *= d
        return n


def _eval_extent(value, text, dims):
    """An extent's value (the C text of an expression of the dims) for dim values `dims`."""
    from ..targets.runtime.module import eval_int
    e = value.exprs.get(text)
    if e is None:
        raise ExportError(f"export: cannot size {value.name}: extent {text} is not known")
    return int(eval_int(e, {v: dims[n] for v, n in value.dim_vars.items()}))


@dataclass
class Step:
    kernel: int               # index into Plan.kernels
    args: list                # Value names (arrays in the entry's order)
    scalars: list             # C expressions of the kernel's shape vars
    scalar_exprs: list = field(default_factory=list)   # the same as ints / Exprs of the dims


@dataclass
class Plan:
    name: str
    dims: list                # names of the symbolic dims (C identifiers), in API order
    kernels: list
    values: dict              # name -> Value (in order: inputs first)
    steps: list
    slots: list               # per slot: the Values that share it (sizes may differ: max)
    inputs: list
    outputs: list
    dim_checks: list = field(default_factory=list)   # (C condition on dims, message)
    dim_vars: dict = field(default_factory=dict)     # Var -> C dim name
    max_threads: int = 1      # threads the scratch space is laid out for

    def scratch_per_thread(self, dims):
        """Bytes of scratch space one thread needs for these dim values."""
        from ..targets.runtime.module import eval_int
        from .scratch import py_bytes
        binding = {v: dims[n] for v, n in self.dim_vars.items()}
        need = 0
        for s in self.steps:
            k = self.kernels[s.kernel]
            if k.scratch:
                vals = {p: (x if isinstance(x, int) else int(eval_int(x, binding)))
                        for p, x in zip(k.shape_params, s.scalar_exprs)}
                need = max(need, py_bytes(k.scratch, vals))
        return need

    @property
    def constants(self):
        return [v for v in self.values.values() if v.kind == "constant"]

    def slot_bytes(self, dims):
        """Bytes of each slot for dim values `dims`."""
        return [max(v.nbytes(dims) for v in vs) for vs in self.slots]

    def arena_bytes(self, dims):
        """The arena size for these dim values (what <name>_arena_bytes returns in C)."""
        total = 0
        for n in self.slot_bytes(dims) + [self.scratch_per_thread(dims) * self.max_threads]:
            total += -(-(n + PAD) // ALIGN) * ALIGN
        return total + ALIGN


ENTRY_RE = re.compile(r"^void (texpr_kernel_\w+)_entry\(", re.M)


def kernel_of(module, index, target=None, bundle="model"):
    """The Kernel record of a built CPU module (te.build), checked exportable; its symbols
    renamed texpr_kernel_<bundle>_k<index>_<name>."""
    from ..targets.registry import get_target
    name = getattr(module, "name", None)
    source = getattr(module, "source", None)
    plan = getattr(module, "_plan", None)
    if source is None or plan is None or not isinstance(source, str):
        raise ExportError(f"export: expected a kernel built by te.build for a CPU target, or a "
                          f"compiled topi.graph, got {module!r}")
    tname = getattr(module, "target", None)
    tgt = getattr(module, "target_record", None)      # (with its options: -fp-contract=off)
    if tgt is None and isinstance(tname, str):
        tgt = get_target(tname)
    if tgt is None or tgt.is_gpu:
        raise ExportError(f"export: kernel {name} was built for target {tname!r}; a bundle "
                          f"holds kernels of the CPU targets (c, avx2, avx512, native, neon, hvx)")
    if target is not None and tgt.name != target.name:
        raise ExportError(f"export: kernel {name} was built for target {tgt.name!r}, but the "
                          f"export asks for target {target.name!r}; build it for that target")
    if getattr(module, "_packed", False) or "texpr_kernel_call_packed" in source or \
            "_set_packed(" in source:
        raise ExportError(f"export: kernel {name} calls Python functions (te.call_packed), "
                          f"which a bundle without Python cannot run")
    func = getattr(module, "_func", None)
    if func is not None and getattr(func, "externs", None) is not None:
        raise ExportError(f"export: kernel {name} links extra C sources or libraries "
                          f"(extra_sources=, libs=, import_c); a bundle holds generated kernels only")
    found = ENTRY_RE.findall(source)
    if len(found) != 1:
        raise ExportError(f"export: kernel {name}: its source has {len(found)} entry functions, "
                          f"expected one (texpr_kernel_<name>_entry)")
    old = found[0]
    symbol = f"texpr_kernel_{bundle}_k{index}_{old[len('texpr_kernel_'):]}"[:96]
    # the kernel's symbols (entry, setters, static helpers named after it) renamed as a whole:
    # two kernels of one name (conv layers of other shapes) cannot clash in one program
    source = re.sub(r"\b" + re.escape(old), symbol, source)
    for v in plan.shape_vars:
        if dtypes.is_float(v.dtype):
            raise ExportError(f"export: kernel {name} takes the float scalar {v.name}; a bundle's "
                              f"dims are integers")
    params = scratch.entry_params(source, symbol)
    has_err = bool(params) and params[-1] == "texpr_err"
    shape_params = params[len(plan.args):len(params) - has_err]
    sites = scratch.sites(source, set(shape_params))
    if sites:
        source = scratch.rewrite(source, f"{bundle}_scratch_alloc", f"{bundle}_scratch_free")
    arg_dims = [list(dims) for (_, _, _, dims, _) in plan.args]
    pre = [(p.cond, p.message) for _, p in getattr(plan, "preconditions", ())]
    return Kernel(name=str(name), symbol=symbol, source=source, target=tgt.name, record=tgt,
                  nargs=len(plan.args), shape_vars=list(plan.shape_vars),
                  checks=bool(getattr(module, "_checks", ())),
                  pool=f"{symbol}_set_parallel_runtime" in source, arg_dims=arg_dims,
                  preconditions=pre, shape_params=shape_params, scratch=sites)


def plan_of_module(module, name, target=None):
    """A bundle of one kernel: its array arguments are the bundle's inputs and outputs, its
    scalar shape variables the bundle's dims."""
    k = kernel_of(module, 0, target, name)
    dim_names = {}
    for v in k.shape_vars:
        dim_names[v] = _dim_name(v.name, dim_names.values())
    values, order = {}, []
    outputs, inputs, slots = [], [], []
    for (aname, dt, _, dims, is_out) in module._plan.args:
        shape = tuple(int(d) if kind == "const" else c_int_expr(d, dim_names) for kind, d in dims)
        vname = _unique(str(aname), values)
        v = Value(vname, shape, np.dtype(dt), "output" if is_out else "input", slot=len(slots))
        v.exprs = {c_int_expr(d, dim_names): d for kind, d in dims if kind != "const"}
        v.dim_vars = dict(dim_names)
        v.labels = tuple(str(d) if kind == "const" else to_str(d) for kind, d in dims)
        slots.append([v])
        values[vname] = v
        order.append(vname)
        (outputs if is_out else inputs).append(vname)
    values = {n: values[n] for n in inputs + outputs}
    checks = [(c_int_expr(cond, dim_names), msg) for cond, msg in k.preconditions]
    dims = [dim_names[v] for v in k.shape_vars]
    step = Step(0, order, [f"(int64_t){d}" for d in dims], list(k.shape_vars))
    return Plan(name, dims, [k], values, [step], slots, inputs, outputs, checks,
                dim_vars=dim_names)


def plan_of_graph(net, name, target=None):
    """A bundle of a compiled topi.graph (CompiledGraph): its inputs and outputs, constants in
    the weights blob, intermediates in slots planned by the graph's own liveness rule
    (topi.graph.plan_buffers; with symbolic shapes, values share a slot when their shapes
    are the same expressions). The graph's vars are the bundle's dims; its rules (g.require,
    the equalities a call decides, the kernels' preconditions) are checked by set_dims."""
    from ..lang.visitor import substitute
    from ..topi.graph import plan_buffers
    g = net.graph
    kernels, index = [], {}
    for kernel, _, _ in g.steps:
        if id(kernel) not in index:
            index[id(kernel)] = len(kernels)
            kernels.append(kernel_of(kernel, len(kernels), target, name))
    dim_names = {}
    for v in g.vars:
        dim_names[v] = _dim_name(v.name, dim_names.values())
    outputs = list(net.outputs)
    values, slots = {}, []

    def value(v, kind, **kw):
        shape = tuple(d if isinstance(d, int) else c_int_expr(d, dim_names) for d in v.shape)
        out = Value(v.name, shape, v.dtype, kind, **kw)
        out.exprs = {c_int_expr(d, dim_names): d for d in v.shape if not isinstance(d, int)}
        out.dim_vars = dict(dim_names)
        out.labels = tuple(str(d) if isinstance(d, int) else to_str(d) for d in v.shape)
        values[v.name] = out
        return out

    for v in net.inputs:
        slots.append([value(v, "input", slot=len(slots))])
    if g.vars:
        assign, _ = plan_buffers(g.steps, outputs, lambda v: (
            tuple(d if isinstance(d, int) else to_str(d) for d in v.shape), v.dtype.itemsize))
    else:
        assign = net.assignment
    buf_slot = {}
    for v in g.values:
        if v.kind == "constant":
            value(v, "constant", array=v.array)
        elif v.kind == "step" and v in assign:
            b = assign[v]
            if b not in buf_slot:
                buf_slot[b] = len(slots)
                slots.append([])
            slots[buf_slot[b]].append(value(v, "output" if v in outputs else "temp",
                                            slot=buf_slot[b]))
    checks = [(c_int_expr(cond, dim_names), rule) for cond, rule in g.requires]
    checks += [(c_int_expr(_as_expr(a) == _as_expr(b), dim_names), msg)
               for a, b, msg in getattr(g, "checks", ())]
    extents = {}
    for v in values.values():
        for d, e in v.exprs.items():
            extents.setdefault(d, e)
    checks += [(f"({d}) > 0", f"extent {to_str(e)} must be positive")
               for d, e in extents.items()]
    steps = []
    for kernel, args, out in g.steps:
        k = kernels[index[id(kernel)]]
        arrays = [a.name for a in args] + [out.name]
        binding = _bindings(k, [a.shape for a in args] + [out.shape])
        steps.append(Step(index[id(kernel)], arrays,
                          [c_int_expr(_as_expr(binding[v]), dim_names) for v in k.shape_vars],
                          [binding[v] for v in k.shape_vars]))
        for cond, msg in k.preconditions:
            c = substitute(cond, {v: _as_expr(x) for v, x in binding.items()})
            checks.append((c_int_expr(c, dim_names), f"kernel {k.name}: {msg}"))
    order = [n for n in values if values[n].kind == "input"] + \
        [n for n in values if values[n].kind != "input"]
    return Plan(name, [dim_names[v] for v in g.vars], kernels, {n: values[n] for n in order},
                steps, slots, [v.name for v in net.inputs], [o.name for o in outputs], checks,
                dim_vars=dim_names)


def _as_expr(x):
    return Const(x, "int32") if isinstance(x, int) else x


def _bindings(k, shapes):
    """{the kernel's shape Var: the graph's extent} in a step, from its arrays' shapes."""
    found = {}
    for dims, shape in zip(k.arg_dims, shapes):
        for (kind, d), n in zip(dims, shape):
            if kind == "var" and d not in found:
                found[d] = n
    missing = [v.name for v in k.shape_vars if v not in found]
    if missing:
        raise ExportError(f"export: kernel {k.name} takes the shape variables {missing}, which "
                          f"no array extent gives; a bundle derives them from the arrays")
    return found


def _dim_name(hint, used):
    """The C name of a dim in the executor: dim_<name> (no clash with its own locals)."""
    base = "dim_" + re.sub(r"[^0-9A-Za-z_]", "_", hint)
    name, k = base, 1
    while name in used:
        name, k = f"{base}_{k}", k + 1
    return name


def _unique(hint, used):
    base = re.sub(r"[^0-9A-Za-z_]", "_", hint) or "arg"
    name, k = base, 1
    while name in used:
        name, k = f"{base}_{k}", k + 1
    return name


_C_OPS = {"+": "+", "-": "-", "*": "*", "&&": "&&", "||": "||"}


def c_int_expr(e, dim_names):
    """C text (int64_t arithmetic) of an integer expression of the shape variables."""
    if isinstance(e, Const):
        return f"INT64_C({int(e.value)})" if not isinstance(e.value, bool) else str(int(e.value))
    if isinstance(e, Var):
        if e not in dim_names:
            raise ExportError(f"export: the extent {e.name} is not a dim of the bundle")
        return f"(int64_t){dim_names[e]}"
    if isinstance(e, Cast):
        return c_int_expr(e.value, dim_names)
    if isinstance(e, BinOp):
        a, b = c_int_expr(e.a, dim_names), c_int_expr(e.b, dim_names)
        if e.op in _C_OPS:
            return f"({a} {_C_OPS[e.op]} {b})"
        if e.op == "//":
            return f"texpr_bundle_floordiv({a}, {b})"
        if e.op == "%":
            return f"texpr_bundle_floormod({a}, {b})"
        if e.op in ("min", "max"):
            return f"texpr_bundle_{e.op}({a}, {b})"
    if isinstance(e, Cmp):
        return f"({c_int_expr(e.a, dim_names)} {e.op} {c_int_expr(e.b, dim_names)})"
    if isinstance(e, Not):
        return f"(!{c_int_expr(e.a, dim_names)})"
    if isinstance(e, Select):
        return (f"({c_int_expr(e.cond, dim_names)} ? {c_int_expr(e.t, dim_names)} : "
                f"{c_int_expr(e.f, dim_names)})")
    if isinstance(e, Expr):
        raise ExportError(f"export: the shape expression {to_str(e)} has no C form in a bundle "
                          f"(integer + - * // % min max and comparisons of dims only)")
    raise ExportError(f"export: expected a shape expression, got {e!r}")
