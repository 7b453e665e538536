"""texpr kernels as PyTorch operators: operators of torch's dispatcher (`torch.library`) that
run in eager mode and inside `torch.compile` (with `fullgraph=True`: an operator is one node of
the graph, never a graph break).

Two ways in:

- `register(module, name)`: a kernel already built (`te.build(...)`) becomes the operator
  `torch.ops.<namespace>.<name>`. Its schema is the kernel's signature: one `Tensor` per
  array argument, `float` / `int` / `bool` per scalar (`te.var`) argument. With
  `outputs="return"` (the default) the outputs are allocated as torch tensors and returned,
  the op is functional (what torch.compile wants); with `outputs="given"` every argument is
  passed and the outputs are written in place (schema `Tensor(a!)`: an `out=` op).
- `op(fn)` / `ops.<name>`: a function of te tensors (a topi operator, or your own compute)
  becomes an operator that builds one kernel per signature (input shapes and dtypes, device)
  on first call, with the topi schedule for the target, and calls it after. `ops` holds the
  common topi operators ready-made: `texpr.torch.ops.dense(x, w)`, `ops.gelu(x)`, ...

Each operator has a shape-only implementation (`register_fake`), derived from the kernel's
signature (a symbolic extent is evaluated on the input sizes, symbolic ones included) or from
the operator's declaration, so torch.compile traces it without running it.

Dispatch: each operator is defined with `torch.library.Library(ns, "FRAGMENT")` and kernels
per dispatch key (not `torch.library.custom_op`, whose Python layers cost ~20 us a call): the
kernel for CPU (and every other device), the shape-only one for Meta and fake tensors, and one
for Autograd, which torch calls first. That one runs the kernel itself for plain CPU tensors
(no mode, tracing or gradient in play, which its dispatch key set and the inputs tell), so a
call goes from Python into the dispatcher and back once (~8 us for a 16-element add against
~27 us through custom_op, `benchmarks/runtime.py`); anything else goes on to the kernel
below it.

Data: tensors go in and out without a copy (the kernel reads and writes the tensors' memory;
an input that is not contiguous is made contiguous first, as torch ops do). CPU tensors are
checked by texpr's C checker (`runtime/fastcheck.py`). Autograd: these operators have no
backward formula; call them under `torch.no_grad()` / `torch.inference_mode()`. With grad
mode on, the outputs of inputs that require grad carry a backward that raises
DifferentiationError, and an operator writing in place refuses such inputs at once. CUDA
tensors go to a kernel built for target "cuda" (its memory used in place,
`runtime/arrays.py`); that path is guarded, not tested here (no GPU): a kernel built for a CPU
target refuses CUDA memory with an ArgumentError.

`import texpr` does not import torch; `import texpr.torch` does.
"""
import inspect
import keyword
import re
import threading

import torch

from .errors import ArgumentError, DifferentiationError, TexprError
from .lang import dtypes
from .lang.expr import BinOp, Cast, Const, Var

__all__ = ["register", "op", "ops", "torch_dtype"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def torch_dtype(dtype):
    """The torch dtype of a texpr dtype name ("float32" -> torch.float32).

    Example::

        texpr.torch.torch_dtype("bfloat16")          # torch.bfloat16
        torch.empty(tuple(C.shape), dtype=texpr.torch.torch_dtype(C.dtype))
    """
    t = getattr(torch, str(dtype), None) if str(dtype) in dtypes.SCALAR_DTYPES else None
    if not isinstance(t, torch.dtype):
        raise TexprError(f"texpr dtype {dtype!r} has no torch dtype")
    return t


def _qualified(name, what):
    """"ns::op" (a bare name goes to namespace "texpr"), checked to be a valid operator name."""
    if not isinstance(name, str):
        raise TexprError(f"{what}: name must be a string 'namespace::op', got {name!r}")
    ns, sep, base = name.rpartition("::")
    ns = ns if sep else "texpr"
    if not (_NAME.match(ns) and _NAME.match(base)):
        raise TexprError(f"{what}: operator name {name!r} is not 'namespace::op' of identifiers")
    return f"{ns}::{base}"


def _arg_names(names):
    """Schema argument names: the kernel's where they are identifiers, unique and not reserved
    (Python keywords, `self`, `out`), else a0, a1, ..."""
    seen, out = set(), []
    for k, n in enumerate(names):
        if not _NAME.match(n) or keyword.iskeyword(n) or n in ("self", "out") or n in seen:
            n = f"a{k}"
        seen.add(n)
        out.append(n)
    return out


# ----------------------------------------------------------------------------- shapes

def _eval_extent(e, binding):
    """An extent expression of shape variables on their values (ints or torch SymInts), or
    None when a variable is unbound."""
    if isinstance(e, Const):
        return int(e.value)
    if isinstance(e, Var):
        return binding.get(e)
    if isinstance(e, Cast):
        return _eval_extent(e.a, binding)
    if isinstance(e, BinOp):
        a, b = _eval_extent(e.a, binding), _eval_extent(e.b, binding)
        if a is None or b is None:
            return None
        if e.op == "+":
            return a + b
        if e.op == "-":
            return a - b
        if e.op == "*":
            return a * b
        if e.op in ("//", "/"):         # (extents are not negative: / truncates as // floors)
            return a // b
        if e.op == "%":
            return a % b
        if e.op == "min":
            return torch.sym_min(a, b)
        if e.op == "max":
            return torch.sym_max(a, b)
    raise TexprError(f"an extent {e} the shape-only implementation cannot evaluate")


class _Signature:
    """A built kernel's call signature, read from its ValidationPlan: the parameters in call
    order, which are outputs the op allocates, and how each output's shape follows from the
    inputs."""

    def __init__(self, module, outputs):
        plan = getattr(module, "_plan", None)
        if plan is None:
            raise TexprError(f"register: expected a kernel built by te.build, got "
                             f"{type(module).__name__}")
        self.module = module
        scalars = dict(plan.scalars)
        arrays = iter(plan.args)
        alloc = set(plan.allocatable) if outputs == "return" else set()
        self.params = []        # (name, kind: "tensor" | "scalar", spec: array spec or Var)
        j = 0
        for k in range(plan.ncall):
            if k in scalars:
                self.params.append((scalars[k].name, "scalar", scalars[k]))
            else:
                spec = next(arrays)
                self.params.append((spec[0], "out" if j in alloc else "tensor", spec))
                j += 1
        if outputs == "return" and not alloc:
            raise TexprError(f"register: kernel {module.name} has no output the operator can "
                             "allocate (its outputs are written in place): use outputs='given'")
        self.names = _arg_names([p[0] for p in self.params])
        self.out_positions = [k for k, p in enumerate(self.params) if p[1] == "out"]
        self.outputs_last = self.out_positions == list(range(
            len(self.params) - len(self.out_positions), len(self.params)))
        self.outs_of = {}       # (device, input signature) -> [(shape, dtype) of each output]
        # outputs of constant shapes: allocated without looking at the inputs (the kernel's
        # checker checks them)
        self.fixed_outputs = None
        if all(kd == "const" for _, kind, spec in self.params if kind == "out"
               for kd, _ in spec[3]):
            self.fixed_outputs = [(tuple(shape), dt) for shape, dt in self.output_shapes({})]

    def schema(self, outputs):
        """The torch schema text: "(Tensor A, Tensor B) -> Tensor" and the mutated names."""
        parts, mutated, returns = [], [], []
        alias = iter("abcdefghijklmnopqrstuvwxyz")
        for (name, kind, spec), sname in zip(self.params, self.names):
            if kind == "out":
                returns.append("Tensor")
                continue
            if kind == "scalar":
                dt = spec.dtype
                parts.append(("float" if dtypes.is_float(dt) else "bool" if dt == "bool"
                              else "int") + f" {sname}")
                continue
            if spec[4]:         # written: an output passed in (or a placeholder written in place)
                parts.append(f"Tensor({next(alias)}!) {sname}")
                mutated.append(sname)
            else:
                parts.append(f"Tensor {sname}")
        ret = "()" if not returns else returns[0] if len(returns) == 1 else \
            "(" + ", ".join(returns) + ")"
        return f"({', '.join(parts)}) -> {ret}", tuple(mutated)

    def bind(self, args):
        """{shape variable: value} from the given arguments' sizes and scalar values, checking
        what the sizes must be (TexprError naming the argument)."""
        binding = {}
        it = iter(args)
        for name, kind, spec in self.params:
            if kind == "out":
                continue
            x = next(it)
            if kind == "scalar":
                binding[spec] = x
                continue
            _, dt, ndim, dims, _ = spec
            if not isinstance(x, torch.Tensor):
                raise ArgumentError(f"argument {name}: expected a torch.Tensor, got "
                                    f"{type(x).__name__}")
            if x.dtype != torch_dtype(dt.name):
                raise ArgumentError(f"argument {name}: dtype is {x.dtype}, expected "
                                    f"{torch_dtype(dt.name)}")
            if x.dim() != ndim:
                raise ArgumentError(f"argument {name}: has {x.dim()} dimension(s), expected "
                                    f"{ndim}")
            for d, ((kd, v), n) in enumerate(zip(dims, x.shape)):
                if kd == "const":
                    if n != v:
                        raise ArgumentError(f"argument {name}: dimension {d} is {n}, expected "
                                            f"{v}")
                elif kd == "var":
                    binding.setdefault(v, n)
        return binding

    def output_shapes(self, binding):
        shapes = []
        for name, kind, spec in self.params:
            if kind != "out":
                continue
            shape = []
            for d, (kd, v) in enumerate(spec[3]):
                n = v if kd == "const" else binding.get(v) if kd == "var" else \
                    _eval_extent(v, binding)
                if n is None:
                    raise ArgumentError(f"output {name}: dimension {d} is not given by the "
                                        "inputs' shapes; register with outputs='given' and "
                                        "pass the output")
                shape.append(n)
            shapes.append((shape, torch_dtype(spec[1].name)))
        return shapes


def _first_tensor(args):
    return next((a for a in args if isinstance(a, torch.Tensor)), None)


def _contiguous(args):
    return [a.contiguous() if isinstance(a, torch.Tensor) else a for a in args]


def _call_with_outputs(module, sig, args, device):
    """Allocate the outputs (on `device`, the inputs'), call the kernel, return them. The
    outputs' shapes are worked out once per input signature (shapes, dtypes, int scalars) and
    kept, or once for all when they are constants: a call then allocates and calls (the
    kernel's checker checks all)."""
    args = _contiguous(args)
    outs_of = sig.fixed_outputs
    if outs_of is None:
        key = (device, tuple([(a.shape, a.dtype) if isinstance(a, torch.Tensor) else
                              a if isinstance(a, int) else None for a in args]))
        outs_of = sig.outs_of.get(key)
        if outs_of is None:
            outs_of = [(tuple(int(n) for n in shape), dt)
                       for shape, dt in sig.output_shapes(sig.bind(args))]
            if len(sig.outs_of) < 64:
                sig.outs_of[key] = outs_of
    outs = [_empty(shape, dt, device) for shape, dt in outs_of]
    if sig.outputs_last:
        module(*args, *outs)
    else:
        for pos, o in zip(sig.out_positions, outs):
            args.insert(pos, o)
        module(*args)
    return outs[0] if len(outs) == 1 else tuple(outs)


_CPU_DEVICE = torch.device("cpu")


def _empty(shape, dtype, device):
    """torch.empty, in the form torch parses fastest (sizes as separate ints, no device for
    the CPU: half the cost of torch.empty(shape, dtype=, device=) for a small tensor)."""
    if shape and device == _CPU_DEVICE:         # (device.type costs more than the compare)
        return torch.empty(*shape, dtype=dtype)
    return torch.empty(shape, dtype=dtype, device=device)


# ----------------------------------------------------------------------------- dispatch

_AFTER_AUTOGRAD = torch._C._after_autograd_keyset
_AFTER_INPLACE = torch._C._after_ADInplaceOrView_keyset
_CPU_KEY = torch._C.DispatchKey.CPU
_any_requires_grad = torch._C._any_requires_grad        # (of tensors; grad mode not read)
_increment_version = torch._C._increment_version      # (of an iterable of tensors)
_PLAIN_CPU = set()  # dispatch key sets (raw) at the Autograd key whose next kernel is the CPU one


class _Operator:
    """What `register` and `op` return: the operator torch.ops.<namespace>.<name>, callable
    (through its one overload `_opoverload`, which is what torch.compile puts in a graph)."""

    def __init__(self, qname, overload, library):
        self._qualname = qname
        self._name = qname.split("::")[1]
        self._opoverload = overload
        self._library = library         # (the registrations live as long as it does)

    def __call__(self, *args):
        return self._opoverload(*args)

    def __repr__(self):
        return f"<texpr.torch operator {self._opoverload._schema}>"


def _define(qname, schema, run, fake, mutated=()):
    """qname in torch's dispatcher (torch.library.Library, no custom_op: its Python layers
    cost tens of us a call): `run(device, args)` for every device, `fake` for tracing (and
    Meta), and the Autograd kernel below. mutated: the positions of the arguments written in
    place."""
    ns, name = qname.split("::")
    lib = torch.library.Library(ns, "FRAGMENT")
    lib.define(name + schema, tags=(torch.Tag.pt2_compliant_tag,))
    overload = getattr(getattr(torch.ops, ns), name).default
    lib.impl(name, lambda *args: run(_CPU_DEVICE, args), "CPU")
    lib.impl(name, lambda *args: run(_device_of(args), args), "CompositeExplicitAutograd")
    torch.library.register_fake(qname, fake, lib=lib)
    lib.impl(name, _autograd_kernel(qname, overload, run, mutated), "Autograd",
             with_keyset=True)
    if mutated:
        lib.impl(name, _version_bump_kernel(overload, mutated), "ADInplaceOrView",
                 with_keyset=True)
    return _Operator(qname, overload, lib)


def _device_of(args):
    """The device of the first tensor argument (the outputs go there)."""
    like = _first_tensor(args)
    return like.device if like is not None else _CPU_DEVICE


def _autograd_kernel(qname, overload, run, mutated):
    """The kernel torch calls first (outside inference mode). Plain CPU tensors, none needing a
    gradient, no mode or tracing under way (the dispatch key set says so): run the kernel here,
    not through a second trip from the dispatcher into Python. Inputs needing a gradient: the
    outputs get a backward that raises (texpr kernels have no derivative). Anything else
    (tracing, fake tensors, CUDA, ...): on below autograd."""
    def kernel(keyset, *args):
        if keyset.raw_repr() in _PLAIN_CPU and not (_any_requires_grad(*args) and
                                                     torch.is_grad_enabled()):
            if mutated:
                _increment_version([args[k] for k in mutated])
            return run(_CPU_DEVICE, args)
        if _any_requires_grad(*args) and torch.is_grad_enabled():
            if mutated:
                raise DifferentiationError(
                    f"operator {qname} writes its outputs in place and has no backward "
                    "formula, but an input requires grad: call it under torch.no_grad() or "
                    "torch.inference_mode(), or on detached inputs")
            return _NoBackward.apply(qname, overload, keyset, *args)
        if (keyset & _AFTER_INPLACE).highestPriorityTypeId() == _CPU_KEY:
            _PLAIN_CPU.add(keyset.raw_repr())
        return overload.redispatch(keyset & _AFTER_AUTOGRAD, *args)
    return kernel


def _version_bump_kernel(overload, mutated):
    """At the ADInplaceOrView key of an op writing arguments in place: their version counters
    move on (autograd's check that a tensor saved for backward was not modified since)."""
    def kernel(keyset, *args):
        _increment_version([args[k] for k in mutated])
        return overload.redispatch(keyset & _AFTER_INPLACE, *args)
    return kernel


class _NoBackward(torch.autograd.Function):
    """An op called on inputs that require grad: runs it below autograd; its outputs' backward
    raises DifferentiationError naming the op."""

    @staticmethod
    def forward(ctx, qname, overload, keyset, *args):
        ctx.qname = qname
        with torch._C._AutoDispatchBelowAutograd():
            return overload.redispatch(keyset & _AFTER_AUTOGRAD, *args)

    @staticmethod
    def backward(ctx, *grads):
        raise DifferentiationError(
            f"operator {ctx.qname} has no backward formula (a texpr kernel has no derivative): "
            "call it under torch.no_grad() or torch.inference_mode(), or on detached inputs")


# ----------------------------------------------------------------------------- register

# "ns::op" -> [signature (register) or _OpKernels (op), schema text, the _Operator]
_REGISTERED = {}
_LOCK = threading.Lock()


def register(module, name, outputs="return"):
    """The built kernel `module` as the PyTorch operator `name` ("namespace::op"; a bare name
    goes to namespace "texpr"), returned (callable; also `torch.ops.<namespace>.<op>`).

    outputs="return": the op takes the kernel's inputs (tensors, and scalars for `te.var`
    arguments) and returns its outputs, allocated as torch tensors of the shapes the
    inputs' sizes give. outputs="given": the op takes every argument of the kernel and writes
    the outputs into the tensors passed (they must be contiguous; no copy is made), returning
    nothing. Registering a name again with a kernel of the same schema replaces the kernel
    (a notebook cell run twice); another schema under a registered name is a TexprError.

    Example::

        f = te.build(s, [A, B, C], "native")
        add = texpr.torch.register(f, "texpr::my_add")
        z = add(x, y)                         # torch tensors in, a torch tensor out
    """
    if outputs not in ("return", "given"):
        raise TexprError(f"register: outputs must be 'return' or 'given', got {outputs!r}")
    qname = _qualified(name, "register")
    sig = _Signature(module, outputs)
    schema, mutated = sig.schema(outputs)
    with _LOCK:
        held = _REGISTERED.get(qname)
        if held is not None:
            if isinstance(held[0], _OpKernels) or held[1] != schema:
                what = "by texpr.torch.op" if isinstance(held[0], _OpKernels) else \
                    f"with schema {held[1]}; this kernel's is {schema}"
                raise TexprError(f"register: operator {qname} is registered {what}: pick "
                                 "another name")
            held[0] = sig
            return held[2]
        holder = [sig, schema, None]

        if outputs == "return":
            def run(device, args):
                s = holder[0]
                return _call_with_outputs(s.module, s, args, device)
        else:
            def run(device, args):
                holder[0].module(*_check_given(holder[0], args))

        def fake(*args):
            s = holder[0]
            if outputs == "given":
                s.bind([a for a, (_, kind, _) in zip(args, s.params) if kind != "out"])
                return None
            like = _first_tensor(args)
            outs = [like.new_empty(shape, dtype=dt) if like is not None else
                    torch.empty(shape, dtype=dt) for shape, dt in s.output_shapes(s.bind(args))]
            return outs[0] if len(outs) == 1 else tuple(outs)

        arg_names = [n for n, (_, kind, _) in zip(sig.names, sig.params) if kind != "out"]
        custom = _define(qname, schema, run, fake, [arg_names.index(n) for n in mutated])
        holder[2] = custom
        _REGISTERED[qname] = holder
    return custom


def _check_given(sig, args):
    """The arguments of an outputs='given' op: inputs made contiguous, outputs as they are
    (a copy would not be written back: the kernel's checks refuse a strided output)."""
    return [a.contiguous() if kind == "tensor" and isinstance(a, torch.Tensor) and not spec[4]
            else a for a, (_, kind, spec) in zip(args, sig.params)]


# ----------------------------------------------------------------------------- op(fn)

class _OpKernels:
    """The kernels of one op(fn): built per (shapes, dtypes, device) on first call."""

    def __init__(self, fn, name, inputs, n_outputs, attrs, target):
        self.fn, self.name, self.inputs = fn, name, inputs
        self.n_outputs, self.attrs, self.target = n_outputs, attrs, target
        self.built = {}         # key -> (module, [(shape, torch dtype) of each output])
        self.built_by_key = {}  # (device, torch sizes and dtypes) -> the same
        self.declared = {}      # key -> [(shape, torch dtype)] of the outputs
        self.lock = threading.Lock()
        self.fixed = False      # one of texpr.torch.ops (its name is not redefined)

    def declare(self, shapes_dtypes):
        """fn on placeholders of these shapes and dtypes: (placeholders, output tensors)."""
        from .lang.tensor import Tensor, placeholder
        phs = [placeholder(tuple(shape), dtype=dt, name=n)
               for (shape, dt), n in zip(shapes_dtypes, self.inputs)]
        out = self.fn(*phs, **self.attrs)
        outs = [out] if isinstance(out, Tensor) else list(out) if isinstance(
            out, (list, tuple)) else None
        if outs is None or not all(isinstance(o, Tensor) for o in outs):
            raise TexprError(f"op {self.name}: {getattr(self.fn, '__name__', self.fn)} must "
                             f"return a te tensor or a tuple of them, got {type(out).__name__}")
        if len(outs) != self.n_outputs:
            raise TexprError(f"op {self.name}: the function returned {len(outs)} tensors; the "
                             f"operator was made with outputs={self.n_outputs}")
        return phs, outs

    def kernel(self, tensors, device):
        """(kernel, [(shape, torch dtype) of each output]) of these tensors' signature, built
        on first use."""
        fast = (device, tuple([(t.shape, t.dtype) if isinstance(t, torch.Tensor) else None
                               for t in tensors]))
        got = self.built_by_key.get(fast)
        if got is None:
            got = self._kernel(tensors)
            self.built_by_key[fast] = got
        return got

    def key(self, tensors):
        for n, t in zip(self.inputs, tensors):
            if not isinstance(t, torch.Tensor):
                raise ArgumentError(f"op {self.name}: argument {n}: expected a torch.Tensor, got "
                                    f"{type(t).__name__}")
        return tuple((tuple(int(s) for s in t.shape), _texpr_dtype(t.dtype, self.name, n))
                     for t, n in zip(tensors, self.inputs)), tensors[0].device.type

    def _kernel(self, tensors):
        key = self.key(tensors)
        got = self.built.get(key)
        if got is not None:
            return got
        with self.lock:
            got = self.built.get(key)
            if got is None:
                got = self._build(key)
                self.built[key] = got
        return got

    def _build(self, key):
        from .targets import build
        from .targets.registry import get_target
        from . import topi
        shapes_dtypes, device = key
        target = self.target
        if device == "cuda":
            target = "cuda"
        elif device != "cpu":
            raise ArgumentError(f"op {self.name}: tensors on {device}; texpr runs CPU tensors "
                                "and, with target 'cuda', CUDA tensors")
        elif get_target(target).is_gpu:
            raise ArgumentError(f"op {self.name}: CPU tensors for an op made with target "
                                f"{target!r}")
        phs, outs = self.declare(shapes_dtypes)
        s = topi.schedule(outs, target)
        module = build(s, phs + outs, target=target, name=self.name.split("::")[1])
        return module, [(tuple(int(d) for d in o.shape), torch_dtype(o.dtype)) for o in outs]

    def output_specs(self, tensors):
        """[(shape, torch dtype)] of the outputs for tensors (sizes may be SymInts: the
        declaration is made with their values as hinted, and cached per signature)."""
        key = tuple((tuple(int(s) for s in t.shape), _texpr_dtype(t.dtype, self.name, n))
                    for t, n in zip(tensors, self.inputs))
        got = self.declared.get(key)
        if got is None:
            _, outs = self.declare(key)
            got = [(tuple(int(d) for d in o.shape), torch_dtype(o.dtype)) for o in outs]
            self.declared[key] = got
        return got


def _texpr_dtype(dt, what, name):
    s = str(dt).replace("torch.", "")
    if s not in dtypes.SCALAR_DTYPES:
        raise ArgumentError(f"op {what}: argument {name}: dtype {dt} has no texpr dtype")
    return s


def op(fn, name=None, inputs=None, outputs=1, target="native", **attrs):
    """A PyTorch operator computing `fn` (te tensors -> a te tensor, or a tuple of `outputs`
    of them: a topi operator or your own compute), returned (callable; also
    `torch.ops.<namespace>.<op>`).

    The operator takes torch tensors for fn's inputs (`inputs`: their names; by default fn's
    positional parameters without a default value, less those in `attrs`) and returns the
    outputs as new tensors. On the first call with a signature (input shapes, dtypes,
    device) it declares fn on placeholders of those shapes, schedules it with
    `topi.schedule(..., target)` and builds it (te.build's cache makes this fast in a new
    process too); later calls of the signature call the kernel. `attrs` are fixed keyword
    arguments of fn (`op(topi.nn.softmax, axis=0)`); `name` defaults to "texpr::" + fn's
    name (with the attributes: one operator per set of them).

    Example::

        gelu = texpr.torch.op(topi.nn.gelu)
        y = gelu(torch.randn(4, 8))
    """
    if not callable(fn):
        raise TexprError(f"op: expected a function of te tensors, got {fn!r}")
    if not isinstance(outputs, int) or outputs < 1:
        raise TexprError(f"op: outputs must be a positive int (how many tensors fn returns), "
                         f"got {outputs!r}")
    if inputs is None:
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            raise TexprError(f"op: cannot read the parameters of {fn!r}; pass inputs=(names)") \
                from None
        inputs = [p.name for p in params if p.default is inspect.Parameter.empty and p.kind in
                  (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in attrs]
    inputs = list(inputs)
    if not inputs:
        raise TexprError(f"op: {getattr(fn, '__name__', fn)} takes no tensor input")
    if name is None and getattr(fn, "__name__", "<lambda>") == "<lambda>":
        raise TexprError("op: a lambda has no name to register its operator under; pass "
                         "name='namespace::op'")
    if name is None:
        base = re.sub(r"\W", "_", getattr(fn, "__name__", "op")).strip("_") or "op"
        suffix = "".join(f"_{k}_{re.sub(r'[^A-Za-z0-9]', '_', str(v))}"
                         for k, v in sorted(attrs.items()))
        name = f"texpr::{base}{suffix}"
    qname = _qualified(name, "op")
    with _LOCK:
        kernels = _OpKernels(fn, qname, inputs, outputs, attrs, target)
        snames = _arg_names(inputs)
        ret = "Tensor" if outputs == 1 else "(" + ", ".join(["Tensor"] * outputs) + ")"
        schema = f"({', '.join('Tensor ' + n for n in snames)}) -> {ret}"
        held = _REGISTERED.get(qname)
        if held is not None:
            if not isinstance(held[0], _OpKernels) or held[1] != schema or held[0].fixed:
                what = "texpr.torch.ops." + qname.split("::")[1] if isinstance(
                    held[0], _OpKernels) and held[0].fixed else "by texpr.torch.register" \
                    if not isinstance(held[0], _OpKernels) else f"with schema {held[1]}"
                raise TexprError(f"op: operator {qname} is registered ({what}): pass another "
                                 "name=")
            held[0].__dict__.update(kernels.__dict__)     # a new definition: built anew
            return held[2]

        def run(device, tensors):
            tensors = _contiguous(tensors)
            module, specs = kernels.kernel(tensors, device)
            outs = [_empty(shape, dt, device) for shape, dt in specs]
            module(*tensors, *outs)
            return outs[0] if len(outs) == 1 else tuple(outs)

        def fake(*tensors):
            outs = [tensors[0].new_empty(shape, dtype=dt)
                    for shape, dt in kernels.output_specs(tensors)]
            return outs[0] if len(outs) == 1 else tuple(outs)

        custom = _define(qname, schema, run, fake)
        custom.texpr_kernels = kernels          # (what was built: .built, per signature)
        _REGISTERED[qname] = [kernels, schema, custom]
    return custom


class _Ops:
    """The common topi operators as PyTorch operators, registered when texpr.torch is imported
    (so that a model compiled with fullgraph=True finds them as plain attributes; each builds
    its kernels on first call): `texpr.torch.ops.dense(x, w)` = x @ w.T, `softmax` /
    `log_softmax` (last axis), `gelu` (erf form), `relu`, `sigmoid`, `tanh`, `exp`, `add` /
    `multiply` (broadcasting), `layer_norm(x, gamma, beta)` / `rms_norm(x, gamma)` (last
    axis), `batch_matmul(x, y)` = x @ y.transpose(-1, -2)."""

    _TABLE = {
        "dense": ("nn", "dense", ("data", "weight")),
        "batch_matmul": ("nn", "batch_matmul", ("x", "y")),
        "softmax": ("nn", "softmax", ("x",)),
        "log_softmax": ("nn", "log_softmax", ("x",)),
        "relu": ("nn", "relu", ("x",)),
        "add": ("nn", "add", ("a", "b")),
        "multiply": ("nn", "multiply", ("a", "b")),
        "gelu": ("activation", "gelu", ("x",)),
        "layer_norm": ("normalization", "layer_norm", ("data", "gamma", "beta")),
        "rms_norm": ("normalization", "rms_norm", ("data", "gamma")),
        "sigmoid": ("math", "sigmoid", ("x",)),
        "tanh": ("math", "tanh", ("x",)),
        "exp": ("math", "exp", ("x",)),
    }

    def __init__(self):
        for name, (mod, fname, inputs) in self._TABLE.items():
            custom = op(_topi_function(mod, fname), name=f"texpr::{name}", inputs=inputs)
            custom.texpr_kernels.fixed = True
            setattr(self, name, custom)

    def __getattr__(self, name):        # (only names that are not operators reach here)
        raise AttributeError(f"texpr.torch.ops has no operator {name!r}; known: "
                             f"{', '.join(sorted(self._TABLE))} (texpr.torch.op(fn) makes "
                             "others)")

    def __dir__(self):
        return sorted(self._TABLE)


def _topi_function(module, name):
    """texpr.topi.<module>.<name>, imported when first called (importing texpr.torch does
    not import topi)."""
    def call(*args, **kwargs):
        import importlib
        return getattr(importlib.import_module(f"texpr.topi.{module}"), name)(*args, **kwargs)
    call.__name__ = name
    return call


ops = _Ops()
