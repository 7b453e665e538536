"""topi.schedule: the registered schedule of an operator graph for a target.

The default schedule works for every operator: injective producers (padding, layout
transforms, elementwise) are inlined into their consumers, and each remaining stage runs its
outer data axes in parallel and vectorizes its innermost data axis when that is legal.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..errors import TexprError
from ..lang.expr import Const
from ..lang.tensor import ComputeOp, ScanOp, Tensor
from ..schedule import create_schedule

if TYPE_CHECKING:
    from ..schedule import Schedule
    from ..target import Target

_REGISTRY = {}   # (tag, target) -> schedule function(s, stage, target) -> stages it scheduled

# The CPU targets of the register-tiled schedules (topi/cpu.py: vector register tiles,
# gemm_fp32 tensorize): on "c" (portable C, no vector ISA) those operators keep the default
# schedule. The sparse schedules (topi/sparse.py: pooling loops, prefetch) pay off in portable
# C too, so they register for every CPU target.
VECTOR_CPU_TARGETS = ("native", "avx2", "avx512", "neon")
CPU_TARGETS = VECTOR_CPU_TARGETS + ("c",)


def register(tag, targets):
    def deco(fn):
        for t in targets:
            _REGISTRY[(tag, t)] = fn
        return fn
    return deco


def schedule(outs: Tensor | Sequence[Tensor], target: str | Target = "native") -> Schedule:
    """Create and fill a schedule for the output tensor(s) of a topi graph.

    >>> import texpr as te, texpr.topi as topi
    >>> x = te.placeholder((4, 32), name="x")
    >>> y = topi.nn.relu(x)
    >>> s = topi.schedule([y], target="c")
    >>> s[y].op is y.op
    True
    """
    if isinstance(outs, Tensor):
        outs = [outs]
    outs = list(outs)
    if not outs or not all(isinstance(o, Tensor) for o in outs):
        raise TexprError("topi.schedule expects an output tensor or a list of them")
    s = create_schedule([o.op for o in outs])
    # the schedules registered for a target name serve its variants ("avx2 -fp-contract=off")
    name = target.split()[0] if isinstance(target, str) and target.strip() else target
    conds = _size_classes(s, name, target)
    if not conds:
        return _fill(s, name, target)
    if not _wants_size_classes(target):     # one generic kernel: the fallback's schedule
        conds = conds[-1:]
    # symbolic extents: a specialised schedule per size class (Schedule.specialize), the last
    # class the fallback (its condition is what its schedule may assume, never checked)
    for cond in conds[:-1]:
        sub = s.specialize(cond)
        with shape_facts(sub.facts):
            _fill(sub, name, target)
    from ..schedule.specialize import parse_condition
    with shape_facts(parse_condition(conds[-1])):
        return _fill(s, name, target)


def _wants_size_classes(target):
    from ..targets.registry import get_target
    return get_target(target).size_classes


def _fill(s, name, target):
    """Each stage of s scheduled by the schedule registered for its tag and the target."""
    for st in s.stages:
        op = st.op
        if not isinstance(op, ComputeOp) or st.is_output:
            continue
        if "injective" in op.tag or op.tag == "elemwise":
            st.compute_inline()
    done = set()
    for st in list(s.stages):       # schedules may add stages (packing); they schedule them
        if id(st) in done or not isinstance(st.op, ComputeOp) or st.attach_type != "root" \
                or isinstance(st.op, ScanOp):     # a te.scan's time loop is sequential
            continue
        fn = _REGISTRY.get((st.op.tag, name)) or _REGISTRY.get((st.op.tag, "*")) \
            or _REGISTRY.get(("*", name))       # a target's own default (the GPU targets)
        handled = (fn or default_stage)(s, st, target)
        done.add(id(st))
        # a schedule returns the stages it scheduled besides its own (a fused epilogue)
        for other in handled or ():
            done.add(id(other))
    return s


_SIZE_CLASSES = {}   # (tag, target) -> fn(stage, target) -> conditions or None


def register_size_classes(tag, targets):
    """Register fn(stage, target) -> [condition, ...] or None: the size classes of an
    operator with symbolic extents (topi.schedule specialises the schedule for each; the last
    is the fallback, what its schedule assumes). None: no classes (one schedule)."""
    def deco(fn):
        for t in targets:
            _SIZE_CLASSES[(tag, t)] = fn
        return fn
    return deco


def _size_classes(s, name, target):
    """The size classes of the first root stage that has some (one operator per graph
    decides; the other stages' schedules read the same facts)."""
    for st in s.stages:
        if not isinstance(st.op, ComputeOp):
            continue
        fn = _SIZE_CLASSES.get((st.op.tag, name))
        conds = fn(st, target) if fn is not None else None
        if conds:
            return conds
    return None


_FACTS = []      # the Facts of the size class being scheduled (innermost last)


class shape_facts:
    """Context: schedules read `known_facts()` (the size class's values and bounds of the
    shape variables) while topi.schedule fills a specialisation."""
    def __init__(self, facts):
        self.facts = facts

    def __enter__(self):
        _FACTS.append(self.facts)
        return self.facts

    def __exit__(self, *exc):
        _FACTS.pop()


def known_facts():
    """The Facts of the size class being scheduled, or None (schedule/specialize.py)."""
    return _FACTS[-1] if _FACTS else None


def default_stage(s, st, target):
    """Parallel outer data axis, vectorized inner data axis (when constant and the body allows)."""
    axes = [iv for iv in st.leaf_iter_vars if iv.kind != "reduce"]
    if not axes:
        return
    if st.op.reduce_axis:
        # keep the reduction inside: data axes outer, reduction, then nothing to vectorize
        if len(axes) >= 1 and isinstance(st.extent_of(axes[0]), Const):
            st.parallel(axes[0])
        return
    inner = axes[-1]
    ext = st.extent_of(inner)
    if isinstance(ext, Const) and ext.value >= 8:
        io, ii = st.split(inner, factor=8)
        st.vectorize(ii)
    if len(axes) > 1:
        st.parallel(axes[0])
    elif isinstance(ext, Const) and ext.value >= 8:
        st.parallel(st.leaf_iter_vars[0])

