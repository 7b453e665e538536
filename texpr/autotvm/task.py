"""Tuning tasks: a template (a function that returns a schedule and its arguments, reading
its knobs from `get_config()`), its arguments and a target; `create` collects the template's
config space by running it once against a collecting ConfigSpace."""
import functools
import threading

from ..errors import TexprError
from ..lang.tensor import Tensor
from ..schedule.config_space import ConfigSpace, FallbackConfig
from ..schedule.dispatch import (ApplyConfig, DispatchContext, config_for, current_target,
                                 target_scope)

TEMPLATES = {}          # name -> template function (the undecorated one)
_CURRENT = threading.local()


class TuningError(TexprError):
    """A tuning task, measurement or record was asked for something it cannot do.

    >>> from texpr import autotvm
    >>> try:
    ...     autotvm.get_config()
    ... except autotvm.TuningError as e:
    ...     print(e)
    autotvm.get_config() is called outside a template; decorate the function with ...
    """


def normalize(value):
    """A template argument as a hashable, JSON-able workload value: tensors become
    ("TENSOR", shape, dtype), lists tuples."""
    if isinstance(value, Tensor):
        from ..lower.analysis.arith import simplify
        dims = []
        for d in value.shape:
            d = simplify(d)
            if not hasattr(d, "value"):
                raise TuningError(f"tensor {value.name}: a workload needs a constant shape, "
                                  f"got {list(value.shape)}")
            dims.append(int(d.value))
        return ("TENSOR", tuple(dims), value.dtype)
    if isinstance(value, (list, tuple)):
        return tuple(normalize(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TuningError(f"a template argument must be a tensor, number, string or a list of "
                      f"them, got {value!r}")


def template(name):
    """Register a template: `@autotvm.template("name") def f(*args): ... return s, tensors`.

    Inside, `autotvm.get_config()` is the config of the workload (name, *args): the one a
    tuning task measures, the best record of an enclosing apply_history_best, or a fallback.
    Called directly, the function gives that schedule (te.build it as usual).

    >>> import texpr as te
    >>> from texpr import autotvm
    >>> @autotvm.template("doc.scale")
    ... def scale(n):
    ...     A = te.placeholder((n,), name="A")
    ...     B = te.compute((n,), lambda i: A[i] * 2.0, name="B")
    ...     s = te.create_schedule(B.op)
    ...     cfg = autotvm.get_config()
    ...     cfg.define_split("tile", n)
    ...     cfg["tile"].apply(s, s[B], B.op.axis[0])
    ...     return s, [A, B]
    >>> s, (A, B) = scale(64)              # no tuning record: the fallback config
    >>> [iv.name for iv in s[B].leaf_iter_vars]
    ['i.outer', 'i.inner']
    """
    if not isinstance(name, str) or not name:
        raise TuningError(f"autotvm.template needs a non-empty name, got {name!r}")

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args):
            workload = (name,) + normalize(args)
            old = getattr(_CURRENT, "workload", None)
            _CURRENT.workload = workload
            try:
                return fn(*args)
            finally:
                _CURRENT.workload = old
        wrapper.template_name = name
        wrapper.template_function = fn
        TEMPLATES[name] = wrapper
        return wrapper
    return deco


def get_config():
    """The config of the template being instantiated (call inside a template).

    >>> from texpr import autotvm
    >>> @autotvm.template("doc.knob")
    ... def knob(n):
    ...     cfg = autotvm.get_config()
    ...     cfg.define_knob("unroll", [0, 4])
    ...     return cfg
    >>> knob(8).is_fallback, knob(8)["unroll"].val
    (True, 0)
    """
    workload = getattr(_CURRENT, "workload", None)
    if workload is None:
        raise TuningError("autotvm.get_config() is called outside a template; decorate the "
                          "function with @autotvm.template(name)")
    return config_for(workload, current_target())


def measure_input(tensor, make, drawn=None):
    """Inside a template: when a candidate is measured, its argument `tensor` is
    make(array), the array drawn at random for `drawn` (("TENSOR", shape, dtype), default
    the tensor's own), not a random array itself. For what a network makes once, outside
    the kernel (a constant weight packed into the layout a config reads: candidates of
    different layouts then compute from the same drawn weight, checked against one
    reference, and no candidate's time includes the packing), and for arguments whose
    values must make sense (indices within a table). `make` is pickled into the measuring
    process: a module-level function or a functools.partial of one. Outside a measurement
    it does nothing.

    >>> import functools, numpy as np, texpr as te
    >>> from texpr import autotvm
    >>> @autotvm.template("doc.transposed")
    ... def transposed(n):
    ...     At = te.placeholder((n, n), name="At")      # a network passes A transposed
    ...     B = te.compute((n, n), lambda i, j: At[j, i] * 2.0, name="B")
    ...     autotvm.task.measure_input(At, functools.partial(np.transpose, axes=(1, 0)))
    ...     cfg = autotvm.get_config()
    ...     cfg.define_knob("unroll", [0, 1])
    ...     return te.create_schedule(B.op), [At, B]
    >>> task = autotvm.task.create("doc.transposed", (4,), target="c")
    >>> task.instantiate_measured(task.config_space.get(0))[2][0][0]
    ('TENSOR', (4, 4), 'float32')
    """
    declared = getattr(_CURRENT, "measure_inputs", None)
    if declared is None:
        return
    if not isinstance(tensor, Tensor):
        raise TuningError(f"measure_input: expected the template's argument tensor, got "
                          f"{tensor!r}")
    spec = normalize(tensor) if drawn is None else normalize(drawn)
    if not (isinstance(spec, tuple) and len(spec) == 3 and spec[0] == "TENSOR"):
        raise TuningError(f"measure_input of {tensor.name}: drawn must be ('TENSOR', shape, "
                          f"dtype), got {drawn!r}")
    declared[id(tensor)] = (spec, make)


class Task:
    """A template on given arguments and target, with its config space."""

    def __init__(self, name, args, target, func):
        self.name = name
        self.args = normalize(tuple(args))
        self.target = target
        self.func = func
        self.config_space = None
        self.workload = None
        self.flop = 0.0
        self._fallback = {}             # {threads: the heuristic's config index, or None}

    @property
    def fallback_index(self):
        """The index of the heuristic's config in the space (None when it is not a point of
        it) for the thread count kernels are built for now (topi.cpu.parallel_units): the
        heuristic splits its blocks for them, so a task created at 2 threads and tuned at 1
        has another fallback (ResNet-50's 256x56x56->128 1x1: rb 4 at 2 threads, 8 at 1;
        the 2-thread one, measured as the 1-thread fallback, read 3% slower than a tuned
        config that ran 4% slower than the true fallback). Setting it fixes it for every
        thread count."""
        from ..topi.cpu import parallel_units
        units = parallel_units()
        if None in self._fallback:
            return self._fallback[None]
        if units not in self._fallback:
            self._fallback[units] = _fallback_index(self) if self.config_space else None
        return self._fallback[units]

    @fallback_index.setter
    def fallback_index(self, index):
        self._fallback = {None: index}

    def instantiate(self, config):
        """(schedule, tensors) of the template under `config` (a ConfigEntity)."""
        return self.instantiate_measured(config)[:2]

    def instantiate_measured(self, config):
        """(schedule, tensors, inputs) of the template under `config`: inputs[k] is None or
        what the template declared with measure_input for tensors[k] (("TENSOR", shape,
        dtype) drawn, the function making the argument of it)."""
        ctx = ApplyConfig(config)
        old = getattr(_CURRENT, "measure_inputs", None)
        _CURRENT.measure_inputs = declared = {}
        try:
            with ctx, target_scope(self.target):
                s, tensors = self.func(*self.args)
        finally:
            _CURRENT.measure_inputs = old
        return s, tensors, tuple(declared.get(id(t)) for t in tensors)

    def __repr__(self):
        return (f"Task(name={self.name!r}, args={self.args!r}, target={self.target!r}, "
                f"space={len(self.config_space) if self.config_space else None})")

    def __getstate__(self):      # the template by name (registered in every process)
        d = dict(self.__dict__)
        d["func"] = None
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self.__dict__.setdefault("_fallback", {})
        self.func = TEMPLATES.get(self.name)


def create(name, args, target="native"):
    """The tuning task of template `name` on `args` for `target`, its config space
    collected."""
    from ..targets.registry import get_target
    if name not in TEMPLATES:
        from . import topi_templates  # noqa: F401  (registers the topi.* templates)
    if name not in TEMPLATES:
        raise TuningError(f"no tuning template named {name!r}; registered: "
                          f"{sorted(TEMPLATES)}")
    get_target(target)          # an unknown target fails here, not in the measurement
    task = Task(name, args, target, TEMPLATES[name])
    space = ConfigSpace()
    ctx = ApplyConfig(space)
    with ctx, target_scope(target):
        task.func(*task.args)
    if not space.space_map:
        raise TuningError(f"template {name!r} defined no knobs for args {task.args!r} on "
                          f"{target!r} (on targets without a tuned schedule, e.g. 'c', the "
                          f"topi templates have none)")
    task.config_space = space
    task.workload = ctx.workload
    task.flop = space.flop
    return task


class _CaptureFallback(DispatchContext):
    """Gives templates a FallbackConfig and keeps it (which knobs the heuristic set)."""

    def query(self, target, workload):
        # one config per workload: a schedule may read its knobs in several calls
        if self.config is None or self.workload != workload:
            self.config, self.workload = FallbackConfig(), workload
        return self.config


def _fallback_index(task):
    """The index of the template's fallback (heuristic) config in its space, or None when
    the fallback is not a point of it."""
    ctx = _CaptureFallback()
    ctx.config = ctx.workload = None
    with ctx, target_scope(task.target):
        task.func(*task.args)
    if ctx.config is None:
        return None
    return task.config_space.index_of(ctx.config._entity_map)


def extract_from_program(outs, target="native"):
    """The tuning tasks of the distinct tunable operators (topi dense, dense_pack,
    batch_matmul, conv2d_nchw (and conv2d_nchw_packed: its conv2d_nchw workload) / NCHWc,
    depthwise_conv2d_nchw / NCHWc, the sparse_lengths_* pooling) in the tensor graph of
    `outs` (a tensor or a list, e.g. every layer of a network), one per workload: tune each
    once, then build the network under apply_history_best."""
    from ..lang.tensor import ComputeOp
    from . import topi_templates
    outs = [outs] if isinstance(outs, Tensor) else list(outs)
    seen, order, stack = set(), [], [t.op for t in outs]
    while stack:                        # every op of the graph, each once
        op = stack.pop()
        if id(op) in seen:
            continue
        seen.add(id(op))
        order.append(op)
        stack.extend(t.op for t in op.input_tensors)
    tasks, workloads = [], set()
    for op in reversed(order):          # inputs first: the network's order
        if not isinstance(op, ComputeOp):
            continue
        args = topi_templates.workload_args(op)
        if args is None:
            continue
        name, targs = args
        try:
            task = create(name, targs, target)
        except TexprError:              # no knobs on this target / for this dtype
            continue
        if task.workload not in workloads:
            workloads.add(task.workload)
            tasks.append(task)
    return tasks
