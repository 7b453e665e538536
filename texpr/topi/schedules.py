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

