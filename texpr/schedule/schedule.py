"""Schedule and Stage: the primitives of the classic tensor-expression API.

Every primitive checks its request when called and raises ScheduleError naming the stage
and the axis; the lowering layer then never has to guess what an odd schedule meant.
"""
from __future__ import annotations

import numbers
import warnings
from typing import TYPE_CHECKING, Any, Sequence, Union

from ..lang import dtypes
from ..errors import ScheduleError, TexprError
from ..lang.expr import Const, Var, convert
from ..lang.extern import ExternOp
from ..lang.tensor import (ComputeOp, ExclusiveScanOp, IterVar, Operation, PlaceholderOp, Range,
                           ScanOp, Tensor, integral_extent)
from .relations import Fuse, Singleton, Split, ceil_div
from ..lang.hybrid_op import HybridOp

if TYPE_CHECKING:
    from ..lang.hints import ExprLike, IntLike
    from ..lang.intrin import TensorIntrin
    from .group import Group

#: what s[...] takes: a tensor, its operation, or a stage
StageKey = Union[Tensor, Operation, "Stage"]

PRAGMA_KEYS = ("unroll", "omp_simd", "prefetch", "prefetch_next", "stream_stores", "ivdep",
               "comment", "auto_unroll_max_step", "import_c", "import_llvm",
               "no_predictive_commoning")
# code linked into the kernel's library (TVM's): C source, or LLVM IR text (as
# texpr.contrib.clang.create_llvm makes) compiled with clang (targets/extern_linkage.py)
IMPORT_PRAGMAS = ("import_c", "import_llvm")
# TVM pragmas with nothing to do in texpr's code: its loops are unrolled by copying the body
# (unroll_explicit), and parallel loops are OpenMP `parallel for` with a static schedule and
# the implicit barrier at their end (TVM's thread-pool launch point, stride pattern, barrier)
NOOP_PRAGMAS = ("unroll_explicit", "parallel_launch_point", "parallel_stride_pattern",
                "parallel_barrier_when_finish")
REFUSED_PRAGMAS = {
    "debug_skip_region": "texpr never skips a computation; to time a stage alone, build it as "
                         "its own kernel",
}


class Stage:
    """How one operation is computed: its loops, their order and annotations, where it lives.

    `s[T]` gives the stage of tensor T; its primitives (split, reorder, vectorize, ...) change
    the loop nest of T, checked at once.

    >>> import texpr as te
    >>> A = te.placeholder((64,), name="A")
    >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
    >>> s = te.create_schedule(B.op)
    >>> xo, xi = s[B].split(B.op.axis[0], factor=8)
    >>> s[B].vectorize(xi)
    >>> [iv.name for iv in s[B].leaf_iter_vars]
    ['i.outer', 'i.inner']
    """

    def __init__(self, op, schedule):
        self.op = op
        self.origin_op = op
        self.schedule = schedule
        self.relations = []
        self.iter_attrs = {}          # id(IterVar) -> {"kind": ..., "pragmas": [...], "thread": iv}
        self.attach_type = "root"     # root | inline | scope
        self.attach_stage = None
        self.attach_ivar = None
        self.scope = "global"
        self.store_predicate = None   # set_store_predicate(): stores happen where it holds
        self.storage_aligns = {}      # dim -> (factor, offset), set by storage_align()
        self.is_output = False
        self.scan = None              # the scan stage whose time loop runs this stage (its body)
        self.aliases = {}             # id(IterVar) -> (IterVar, its counterpart here): cache_write
        self.group = None             # the innermost Group holding this stage (create_group)
        self.layout = None            # transform_layout's Layout (schedule/layout.py)
        self._reset_axes()

    def _reset_axes(self):
        op = self.op
        if isinstance(op, ComputeOp):
            self.all_iter_vars = list(op.axis) + list(op.reduce_axis)
            self.leaf_iter_vars = list(op.axis) + list(op.reduce_axis)
        elif isinstance(op, HybridOp):     # its outermost perfect loop nest
            self.all_iter_vars, self.leaf_iter_vars = list(op.axis), list(op.axis)
            self.iter_attrs.update(op.initial_iter_attrs())
        else:
            self.all_iter_vars, self.leaf_iter_vars = [], []
        self.extents = {id(iv): iv.dom.extent for iv in self.all_iter_vars}

    # ------------------------------------------------------------------ helpers
    @property
    def name(self) -> str:
        """The name of the stage's operation.

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> s[B].name
        'B'
        """
        return self.origin_op.name

    def __repr__(self):
        return f"stage({self.name})"

    def __str__(self):
        """Its operation, its leaf loops outer to inner, the stages computed inside them."""
        from .text import stage_text
        return stage_text(self)

    def _repr_html_(self):
        """Jupyter: the text above, highlighted."""
        from ..display import code_html
        return code_html(str(self), "python")

    @property
    def iter_var_attrs(self):
        """TVM's view of the loop annotations: iter_var_attrs[axis].iter_type, pragma_keys...

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> xo, xi = s[B].split(B.op.axis[0], factor=8)
        >>> s[B].parallel(xo)
        >>> s[B].iter_var_attrs[xo].iter_type == te.IterVar.Parallelized
        True
        """
        from .iter_var_attrs import IterVarAttrs
        return IterVarAttrs(self)

    def _err(self, msg):
        raise ScheduleError(f"stage {self.name}: {msg}")

    def _check_schedulable(self, prim):
        if isinstance(self.op, ExternOp):
            self._err(f"{prim}: an extern op is opaque code run once on whole buffers; it has "
                      "no loops to schedule (it is computed at the root)")
        if isinstance(self.op, HybridOp):
            if prim in ("compute_at", "storage_align", "tensorize"):
                self._err(f"{prim}: not supported on a hybrid op (it is computed at the root, "
                          "on whole buffers)")
            return
        if not isinstance(self.op, ComputeOp):
            self._err(f"{prim}: a placeholder has no loops to schedule")
        if isinstance(self.op, ExclusiveScanOp):
            self._err(f"{prim}: a scan is one sequential loop; it cannot be scheduled")
        if isinstance(self.op, ScanOp):
            self._err(f"{prim}: the time loop of a scan is sequential and the scan stage itself "
                      "cannot be scheduled; schedule its update stage (s[update])")

    def _leaf(self, iv, prim):
        if not isinstance(iv, IterVar):
            self._err(f"{prim}: expected an axis (IterVar), got {iv!r}")
        moved = self.aliases.get(id(iv))
        if moved is not None and moved[0] is iv:
            iv = moved[1]
        for leaf in self.leaf_iter_vars:
            if leaf is iv:
                return iv
        if any(a is iv for a in self.all_iter_vars):
            self._err(f"{prim}: axis {iv.name} is not a leaf axis (it was already split or fused)")
        self._err(f"{prim}: axis {iv.name} does not belong to this stage (its axes: "
                  f"{', '.join(a.name for a in self.leaf_iter_vars)})")

    def extent_of(self, iv: IterVar) -> Any:
        """The extent of axis `iv` of this stage (after splits and fuses).

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> xo, xi = s[B].split(B.op.axis[0], factor=8)
        >>> s[B].extent_of(xo), s[B].extent_of(xi)
        (8, 8)
        """
        return self.extents[id(iv)]

    def is_reduce(self, iv: IterVar) -> bool:
        """Whether `iv` is a reduction axis.

        >>> import texpr as te
        >>> A = te.placeholder((4, 16), name="A")
        >>> k = te.reduce_axis((0, 16), name="k")
        >>> B = te.compute((4,), lambda i: te.sum(A[i, k], axis=k), name="B")
        >>> s = te.create_schedule(B.op)
        >>> s[B].is_reduce(k), s[B].is_reduce(B.op.axis[0])
        (True, False)
        """
        return iv.kind == "reduce"

    def _new_iv(self, name, extent, kind):
        iv = IterVar(Var(name), Range(0, extent), kind)
        self.all_iter_vars.append(iv)
        self.extents[id(iv)] = extent
        return iv

    def _replace_leaf(self, old, new):
        i = next(k for k, x in enumerate(self.leaf_iter_vars) if x is old)
        self.leaf_iter_vars[i:i + 1] = new

    def _attr(self, iv):
        return self.iter_attrs.setdefault(id(iv), {"kind": None, "pragmas": [], "thread": None})

    # ------------------------------------------------------------------ loop structure
    def split(self, parent: IterVar, factor: IntLike | None = None,
              nparts: IntLike | None = None) -> tuple[IterVar, IterVar]:
        """Split `parent` into (outer, inner); inner has `factor` iterations (or outer `nparts`).

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> xo, xi = s[B].split(B.op.axis[0], factor=8)
        >>> xo.name, xi.name, int(s[B].extent_of(xo))
        ('i.outer', 'i.inner', 8)
        """
        self._check_schedulable("split")
        parent = self._leaf(parent, "split")
        if (factor is None) == (nparts is None):
            self._err(f"split of axis {parent.name}: give exactly one of factor= or nparts=")
        val: Any = factor if factor is not None else nparts
        what = "factor" if factor is not None else "nparts"
        try:
            val = integral_extent(val, f"{what}")
        except TexprError as e:
            self._err(f"split of axis {parent.name}: {e}")
        factor, nparts = (val, None) if factor is not None else (None, val)
        if isinstance(val, bool) or not isinstance(val, numbers.Integral) or val <= 0:
            self._err(f"split of axis {parent.name}: {what} must be a positive int, got {val!r}")
        val = int(val)
        ext = self.extent_of(parent)
        if factor is not None:
            outer_ext, inner_ext = ceil_div(ext, val), Const(val, "int32")
        else:
            outer_ext, inner_ext = Const(val, "int32"), ceil_div(ext, val)
        outer = self._new_iv(parent.name + ".outer", outer_ext, parent.kind)
        inner = self._new_iv(parent.name + ".inner", inner_ext, parent.kind)
        self.relations.append(Split(parent, outer, inner, factor=factor and val, nparts=nparts and val))
        self._replace_leaf(parent, [outer, inner])
        self._reattach({id(parent): inner})
        return outer, inner

    def _reattach(self, moved):
        """Stages computed at an axis that was just split or fused move to the loop that now
        runs once per iteration of that axis: the inner part of a split, the fused axis (as
        TVM's Schedule.normalize does before lowering)."""
        for st in self.schedule.stages:
            if st.attach_type == "scope" and st.attach_stage is self and id(st.attach_ivar) in moved:
                st.attach_ivar = moved[id(st.attach_ivar)]

    def tile(self, x_parent: IterVar, y_parent: IterVar, x_factor: IntLike,
             y_factor: IntLike) -> tuple[IterVar, IterVar, IterVar, IterVar]:
        """Split two axes and order them (x.outer, y.outer, x.inner, y.inner).

        >>> import texpr as te
        >>> A = te.placeholder((8, 8), name="A")
        >>> B = te.compute((8, 8), lambda i, j: A[i, j] + 1.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> xo, yo, xi, yi = s[B].tile(B.op.axis[0], B.op.axis[1], 4, 4)
        >>> [iv.name for iv in s[B].leaf_iter_vars]
        ['i.outer', 'j.outer', 'i.inner', 'j.inner']
        """
        xo, xi = self.split(x_parent, factor=x_factor)
        yo, yi = self.split(y_parent, factor=y_factor)
        self.reorder(xo, yo, xi, yi)
        return xo, yo, xi, yi

    def fuse(self, *axes: IterVar) -> IterVar:
        """Fuse consecutive leaf axes (outer to inner) into one.

        >>> import texpr as te
        >>> A = te.placeholder((8, 8), name="A")
        >>> B = te.compute((8, 8), lambda i, j: A[i, j] + 1.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> ij = s[B].fuse(*B.op.axis)
        >>> ij.name, int(s[B].extent_of(ij))
        ('i.j.fused', 64)
        """
        self._check_schedulable("fuse")
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = tuple(axes[0])
        if not axes:
            # TVM: a new outermost loop of one iteration (a rank-0 stage gets a loop to attach
            # to or bind)
            unit = self._new_iv("singleton", Const(1, "int32"), "data")
            self.relations.append(Singleton(unit))
            self.leaf_iter_vars.insert(0, unit)
            return unit
        axes = tuple(self._leaf(a, "fuse") for a in axes)
        if len(axes) == 1:
            return axes[0]
        pos = [next(k for k, x in enumerate(self.leaf_iter_vars) if x is a) for a in axes]
        if pos != list(range(pos[0], pos[0] + len(axes))):
            self._err(f"fuse: axes {', '.join(a.name for a in axes)} must be adjacent leaf axes "
                      "given from outer to inner (reorder them first)")
        # a data axis fused with a reduction axis gives a reduction axis (as in TVM): its
        # iterations accumulate, so it cannot be parallel or vectorized
        kind = "reduce" if any(a.kind == "reduce" for a in axes) else axes[0].kind
        fused = axes[0]
        for inner in axes[1:]:
            ext = self.extent_of(fused) * self.extent_of(inner)
            if isinstance(self.extent_of(fused), Const) and isinstance(self.extent_of(inner), Const):
                ext = Const(self.extent_of(fused).value * self.extent_of(inner).value, "int32")
            new = self._new_iv(f"{fused.name}.{inner.name}.fused", ext, kind)
            self.relations.append(Fuse(fused, inner, new))
            fused = new
        self.leaf_iter_vars[pos[0]:pos[-1] + 1] = [fused]
        self._reattach({id(a): fused for a in axes})
        return fused

    def reorder(self, *axes: IterVar) -> None:
        """Put the given leaf axes in this order, in the positions they occupy together.

        >>> import texpr as te
        >>> A = te.placeholder((8, 8), name="A")
        >>> B = te.compute((8, 8), lambda i, j: A[i, j] + 1.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> i, j = B.op.axis
        >>> s[B].reorder(j, i)
        >>> [iv.name for iv in s[B].leaf_iter_vars]
        ['j', 'i']
        """
        self._check_schedulable("reorder")
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = tuple(axes[0])
        axes = tuple(self._leaf(a, "reorder") for a in axes)
        if len({id(a) for a in axes}) != len(axes):
            self._err("reorder: an axis is given twice")
        pos = sorted(next(k for k, x in enumerate(self.leaf_iter_vars) if x is a) for a in axes)
        for p, a in zip(pos, axes):
            self.leaf_iter_vars[p] = a

    # ------------------------------------------------------------------ annotations
    def _annotate(self, iv, kind, prim):
        self._check_schedulable(prim)
        iv = self._leaf(iv, prim)
        attr = self._attr(iv)
        if attr["kind"] not in (None, kind):
            self._err(f"{prim}: axis {iv.name} is already marked {attr['kind']}")
        attr["kind"] = kind

    def vectorize(self, iv: IterVar) -> None:
        """Run the loop over `iv` as SIMD lanes (its extent must be a constant).

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> xo, xi = s[B].split(B.op.axis[0], factor=8)
        >>> s[B].vectorize(xi)
        >>> "ramp" in str(te.lower(s, [A, B]))
        True
        """
        self._check_schedulable("vectorize")
        iv = self._leaf(iv, "vectorize")
        if iv.kind == "reduce":
            self._err(f"vectorize: axis {iv.name} is a reduction axis; its iterations depend on "
                      "each other (use rfactor, or vectorize a data axis)")
        ext = self.extent_of(iv)
        if not isinstance(ext, Const):
            self._err(f"vectorize: axis {iv.name} has non-constant extent {ext}; split it with a "
                      "constant factor first")
        self._annotate(iv, "vectorize", "vectorize")

    def unroll(self, iv: IterVar) -> None:
        """Copy the body of loop `iv` once per iteration (its extent must be a constant).

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> xo, xi = s[B].split(B.op.axis[0], factor=4)
        >>> s[B].unroll(xi)
        >>> s[B].iter_var_attrs[xi].iter_type == te.IterVar.Unrolled
        True
        """
        self._annotate(iv, "unroll", "unroll")

    def parallel(self, iv: IterVar) -> None:
        """Run the iterations of `iv` on several threads (texpr's thread pool; OpenMP where the
        target's parallel_runtime is "openmp").

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> xo, xi = s[B].split(B.op.axis[0], factor=16)
        >>> s[B].parallel(xo)
        >>> "parallel" in str(te.lower(s, [A, B]))
        True
        """
        self._check_schedulable("parallel")
        iv = self._leaf(iv, "parallel")
        if iv.kind == "reduce":
            self._err(f"parallel: axis {iv.name} is a reduction axis; threads would race on the "
                      "accumulator (use rfactor)")
        self._annotate(iv, "parallel", "parallel")

    def bind(self, iv: IterVar, thread_iv: IterVar) -> None:
        """Map loop `iv` to a GPU thread index (`thread_iv`, from te.thread_axis).

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> bx, tx = s[B].split(B.op.axis[0], factor=32)
        >>> s[B].bind(bx, te.thread_axis("blockIdx.x"))
        >>> s[B].bind(tx, te.thread_axis("threadIdx.x"))
        """
        iv = self._leaf(iv, "bind")
        if not isinstance(thread_iv, IterVar) or thread_iv.kind != "thread":
            self._err(f"bind: expected a te.thread_axis for axis {iv.name}, got {thread_iv!r}")
        if iv.kind == "reduce" and not (iv is getattr(self, "rfactor_axis", None) and
                                        (thread_iv.thread_tag or "").startswith("threadIdx")):
            # the axis rfactor leaves may go to threadIdx: a cross-thread reduction
            self._err(f"bind: axis {iv.name} is a reduction axis; use rfactor before binding it")
        if iv.kind == "reduce" and self.op.num_outputs > 1:
            self._err(f"bind: axis {iv.name} reduces a tuple ({self.op.num_outputs} values); a "
                      "cross-thread tuple reduction is not supported (bind a data axis)")
        self._annotate(iv, "bind", "bind")
        self._attr(iv)["thread"] = thread_iv

    def pragma(self, iv: IterVar, key: str, value: Any = None) -> None:
        """Attach a pragma to a loop: unroll (value = count), omp_simd, ivdep, prefetch
        (value = distance in iterations, or a pair (p, q): see lower/cpu/prefetch.py),
        prefetch_next (value = elements ahead: the next row of the streams), stream_stores
        (value = vector lanes: lower/cpu/stream_stores.py), comment,
        auto_unroll_max_step (TVM's: inner loop nests of at most `value` iterations are
        unrolled), no_predictive_commoning (GCC compiles the kernel without predictive
        commoning, which carries loaded values from one iteration of a loop to the next: over
        a wide unrolled register tile those values spill). TVM's NOOP_PRAGMAS are accepted
        and change nothing; REFUSED_PRAGMAS say what to do instead.

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> s[B].pragma(B.op.axis[0], "unroll", 4)
        >>> s[B].iter_var_attrs[B.op.axis[0]].pragma_keys
        ['unroll']
        """
        self._check_schedulable("pragma")
        iv = self._leaf(iv, "pragma")
        if key in NOOP_PRAGMAS:
            return
        if key in REFUSED_PRAGMAS:
            self._err(f"pragma {key} on axis {iv.name} is not supported: {REFUSED_PRAGMAS[key]}")
        if key == "auto_unroll_max_step" and (isinstance(value, bool) or not isinstance(
                value, numbers.Integral) or value < 0):
            self._err(f"pragma auto_unroll_max_step on axis {iv.name}: value must be a "
                      f"non-negative int (the most iterations of an inner loop nest to "
                      f"unroll), got {value!r}")
        if key == "vectorize":              # TVM: pragma(axis, "vectorize") vectorizes it
            self.vectorize(iv)
            return
        if key not in PRAGMA_KEYS:
            # TVM records any key as an attribute of the loop; so does texpr (it shows in
            # iter_var_attrs and te.lower), but nothing reads it: say so, a typo does nothing
            if not isinstance(key, str) or not key.isidentifier():
                self._err(f"pragma on axis {iv.name}: the key must be a name, got {key!r}")
            warnings.warn(f"stage {self.name}: pragma {key!r} on axis {iv.name} is recorded but "
                          f"not used by texpr (keys it uses: "
                          f"{', '.join(PRAGMA_KEYS + NOOP_PRAGMAS)})", stacklevel=2)
        def count(v):
            return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0
        if key == "prefetch" and isinstance(value, tuple):
            # (p, q): rows p iterations ahead, and their first line q > p iterations ahead
            if len(value) != 2 or not all(count(v) for v in value) or not 0 < value[0] < value[1]:
                self._err(f"pragma prefetch on axis {iv.name}: a pair must be (p, q) with "
                          f"0 < p < q (rows p iterations ahead, their first line q), got {value!r}")
        elif key in ("unroll", "prefetch") and value is not None and not count(value):
            self._err(f"pragma {key} on axis {iv.name}: value must be a non-negative int, got {value!r}")
        if key == "prefetch_next" and not (count(value) and value > 0):
            self._err(f"pragma prefetch_next on axis {iv.name}: value must be a positive int "
                      f"(elements ahead), got {value!r}")
        if key == "stream_stores" and not (count(value) and value > 0):
            self._err(f"pragma stream_stores on axis {iv.name}: value must be a positive int "
                      f"(vector lanes), got {value!r}")
        if key == "comment" and not isinstance(value, str):
            self._err(f"pragma comment on axis {iv.name}: value must be a string")
        if key in IMPORT_PRAGMAS and not (isinstance(value, str) and value.strip()):
            what = "C source" if key == "import_c" else \
                "LLVM IR text (texpr.contrib.clang.create_llvm)"
            self._err(f"pragma {key} on axis {iv.name}: value must be the {what}, got {value!r}")
        self._attr(iv)["pragmas"].append((key, value))

    def tensorize(self, iv: IterVar, intrin: TensorIntrin) -> None:
        """Replace the loop nest at `iv` by `intrin` (checked against its declaration when lowered).

        Example (see te.decl_tensor_intrin for the declaration of `intrin`)::

            xo, xi = s[C].split(C.op.axis[0], factor=16)
            s[C].tensorize(xi, intrin)      # the 16-wide inner loop becomes one call of intrin
        """
        from ..lang.intrin import TensorIntrin
        self._check_schedulable("tensorize")
        iv = self._leaf(iv, "tensorize")
        if not isinstance(intrin, TensorIntrin):
            self._err(f"tensorize: expected an intrinsic from te.decl_tensor_intrin, got {intrin!r}")
        pos = self.leaf_iter_vars.index(iv)
        for inner in self.leaf_iter_vars[pos:]:
            kind = self.iter_attrs.get(id(inner), {}).get("kind")
            if kind not in (None, "tensorize"):
                self._err(f"tensorize: loop {inner.name} inside the tensorized nest is marked "
                          f"{kind}; the intrinsic replaces these loops")
        if self.op.num_outputs > 1:
            self._err("tensorize: a compute with several outputs cannot be tensorized")
        self._annotate(iv, "tensorize", "tensorize")
        self._attr(iv)["intrin"] = intrin

    def storage_align(self, axis: IterVar, factor: int, offset: int) -> None:
        """Pad the stride of dimension `axis` of this stage's buffer to factor*k + offset.

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] + 1.0, name="B")
        >>> C = te.compute((64,), lambda i: B[i] * 2.0, name="C")
        >>> s = te.create_schedule(C.op)
        >>> s[B].storage_align(B.op.axis[0], 16, 1)
        >>> s[B].storage_aligns
        {0: (16, 1)}
        """
        self._check_schedulable("storage_align")
        dims = [a for a in self.op.axis]
        idx = next((k for k, a in enumerate(dims) if a is axis), None)
        if idx is None:
            self._err(f"storage_align: {getattr(axis, 'name', axis)!r} is not an original data "
                      "axis of this stage")
        for name, v in (("factor", factor), ("offset", offset)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
                self._err(f"storage_align: {name} must be a non-negative int, got {v!r}")
        if factor == 0 or offset >= factor:
            self._err(f"storage_align on axis {axis.name}: need factor > 0 and offset < factor "
                      f"(got {factor}, {offset})")
        if self.is_output:
            self._err("storage_align: an output's layout is fixed by the caller's array")
        self.storage_aligns[idx] = (int(factor), int(offset))

    def set_store_predicate(self, predicate: ExprLike) -> None:
        """Store this stage's results only where `predicate` holds (TVM's): a boolean
        expression over the stage's axes and the thread axes bound in it, e.g.
        tx.var.equal(0) so that one thread of a cross-thread reduction writes the result.
        Elements where it is false are left as they were.

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> s[B].set_store_predicate(B.op.axis[0] < 32)
        >>> "for (i, 0, 32)" in str(te.lower(s, [A, B]))    # the loop stops where it is false
        True
        """
        self._check_schedulable("set_store_predicate")
        try:
            pred = convert(predicate)
        except TexprError:
            pred = None
        if pred is None or not dtypes.is_bool(pred.dtype) or dtypes.lanes(pred.dtype) != 1:
            self._err(f"set_store_predicate: expected a boolean expression (e.g. "
                      f"tx.var.equal(0)), got {predicate!r}")
        self.store_predicate = pred

    # ------------------------------------------------------------------ placement
    def compute_at(self, parent: Stage, ivar: IterVar) -> None:
        """Compute this stage inside loop `ivar` of stage `parent`, only the part it needs.
        A stage of a group goes only into another stage of its group (the group itself is
        placed with group.compute_at).

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] + 1.0, name="B")
        >>> C = te.compute((64,), lambda i: B[i] * 2.0, name="C")
        >>> s = te.create_schedule(C.op)
        >>> xo, xi = s[C].split(C.op.axis[0], factor=16)
        >>> s[B].compute_at(s[C], xo)
        >>> s[B].attach_ivar is xo
        True
        """
        if self.group is not None and isinstance(parent, Stage) and \
                not _in_group(parent, self.group) and parent is not self.scan:
            self._err(f"compute_at: this stage belongs to {self.group}; attach it inside the "
                      f"group, or attach the group (group.compute_at), not into {parent.name}")
        self._compute_at(parent, ivar)

    def _compute_at(self, parent, ivar):
        self._check_schedulable("compute_at")
        if not isinstance(parent, Stage):
            self._err(f"compute_at: expected a stage (s[T]) as parent, got {parent!r}")
        if parent is self:
            self._err("compute_at: a stage cannot be computed at itself")
        ivar = parent._leaf(ivar, "compute_at")
        if self.is_output:
            self._err("compute_at: an output stage must stay at the root (it is written into the "
                      "caller's array)")
        if parent.attach_type == "inline":
            self._err(f"compute_at: stage {parent.name} is inlined; it has no loops")
        self._check_scan_attach(parent, ivar)
        # whether the loop encloses every consumer is checked when lowering: a later
        # compute_inline or compute_at may still change who the consumers are
        sch = self.schedule
        if sch.is_upstream(parent, self):
            self._err(f"compute_at: stage {parent.name} is computed before {self.name}; it cannot "
                      "hold it")
        self.attach_type, self.attach_stage, self.attach_ivar = "scope", parent, ivar

    def _check_scan_attach(self, parent, ivar):
        """The stages of a scan's body stay inside its time loop; its init at the root."""
        if self.is_scan_update() or self.is_scan_init():
            if not (self.is_scan_update() and parent is self.scan and ivar is parent.op.scan_axis):
                role = "update" if self.is_scan_update() else "init"
                self._err(f"compute_at: the {role} of scan {self._scan_of().name} is placed by "
                          f"the scan (the {role} runs {'in its time loop' if role == 'update' else 'at the root'})")
        elif self.scan is not None and parent is not self.scan and parent.scan is not self.scan:
            self._err(f"compute_at: stage {self.name} is in the body of scan {self.scan.name} "
                      f"(it reads the scan's state); compute it at a stage of that body, not at "
                      f"{parent.name}")

    def _scan_of(self):
        if self.scan is not None:
            return self.scan
        return next(st for st in self.schedule.stages if isinstance(st.op, ScanOp)
                    and any(t.op is self.op for t in st.op.init))

    def is_scan_update(self) -> bool:
        """Whether this stage is the update of a te.scan.

        >>> import texpr as te
        >>> X = te.placeholder((4, 8), name="X")
        >>> state = te.placeholder((4, 8), name="state")
        >>> init = te.compute((1, 8), lambda _, i: X[0, i], name="init")
        >>> update = te.compute((4, 8), lambda t, i: state[t - 1, i] + X[t, i], name="update")
        >>> s = te.create_schedule(te.scan(init, update, state).op)
        >>> s[update].is_scan_update(), s[init].is_scan_update()
        (True, False)
        """
        return self.scan is not None and any(t.op is self.op for t in self.scan.op.update)

    def is_scan_init(self) -> bool:
        """Whether this stage is the init of a te.scan.

        >>> import texpr as te
        >>> X = te.placeholder((4, 8), name="X")
        >>> state = te.placeholder((4, 8), name="state")
        >>> init = te.compute((1, 8), lambda _, i: X[0, i], name="init")
        >>> update = te.compute((4, 8), lambda t, i: state[t - 1, i] + X[t, i], name="update")
        >>> s = te.create_schedule(te.scan(init, update, state).op)
        >>> s[init].is_scan_init(), s[update].is_scan_init()
        (True, False)
        """
        return any(isinstance(st.op, ScanOp) and any(t.op is self.op for t in st.op.init)
                   for st in self.schedule.stages)

    def compute_inline(self) -> None:
        """Substitute this stage's expression into its consumers (no buffer, no loops).

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] + 1.0, name="B")
        >>> C = te.compute((64,), lambda i: B[i] * 2.0, name="C")
        >>> s = te.create_schedule(C.op)
        >>> s[B].compute_inline()
        >>> "B[" in str(te.lower(s, [A, C]))
        False
        """
        if isinstance(self.op, (ExclusiveScanOp, ScanOp)):
            self._err("compute_inline: a scan cannot be inlined")
        if self.is_scan_update() or self.is_scan_init():
            self._err(f"compute_inline: the {'update' if self.is_scan_update() else 'init'} of "
                      f"scan {self._scan_of().name} cannot be inlined (the scan writes it)")
        if self.op.num_outputs > 1:
            self._err("compute_inline: a compute with several outputs cannot be inlined")
        if isinstance(self.op, HybridOp):
            self._err("compute_inline: a hybrid op is a loop program, not an expression; it "
                      "cannot be inlined into its consumers")
        if not isinstance(self.op, ComputeOp):
            kind = "a placeholder" if isinstance(self.op, PlaceholderOp) else "an extern op"
            self._err(f"compute_inline: {kind} cannot be inlined")
        for st in self.schedule.readers(self):
            if isinstance(st.op, ExternOp):
                self._err(f"compute_inline: extern op {st.name} reads this stage's buffer, so it "
                          "must be materialized (an extern op's inputs are whole buffers)")
        if self.op.reduce_axis:
            self._err("compute_inline: a reduction cannot be inlined into its consumers")
        if self.is_output:
            self._err("compute_inline: an output stage cannot be inlined")
        for st in self.schedule.stages:
            if st.attach_stage is self:
                self._err(f"compute_inline: stage {st.name} is computed at this stage")
        self.attach_type, self.attach_stage, self.attach_ivar = "inline", None, None

    def compute_root(self) -> None:
        """Compute this stage in its own loop nest at the root (undoes compute_at).

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] + 1.0, name="B")
        >>> C = te.compute((64,), lambda i: B[i] * 2.0, name="C")
        >>> s = te.create_schedule(C.op)
        >>> s[B].compute_at(s[C], C.op.axis[0])
        >>> s[B].compute_root()
        >>> s[B].attach_type
        'root'
        """
        self._check_schedulable("compute_root")
        if self.scan is not None:
            self._err(f"compute_root: stage {self.name} is in the body of scan {self.scan.name} "
                      "(it reads the scan's state), so it runs inside the scan's time loop")
        self.attach_type, self.attach_stage, self.attach_ivar = "root", None, None

    def transform_layout(self, fn: Any) -> Any:
        """Keep this tensor in the layout `fn(*logical indices) -> physical indices` (a split,
        fusion or permutation of its axes: `lambda i, j: [j, i]`, `[i // 4, j, i % 4]`); a
        compute stage then loops over the physical axes, which are returned; readers read
        through fn. An output or placeholder argument is an array of the physical shape
        (schedule/layout.py).

        >>> import texpr as te
        >>> A = te.placeholder((8, 8), name="A")
        >>> B = te.compute((8, 8), lambda i, j: A[i, j] + 1.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> i, j = s[B].transform_layout(lambda i, j: [j, i])
        >>> i.name, j.name
        ('j', 'i')
        """
        from .layout import transform_layout
        return transform_layout(self.schedule, self, fn)

    def set_scope(self, scope: str) -> None:
        """Keep this stage's buffer in `scope` ("global", "local", "shared": on the GPU
        targets, registers / the block's shared memory; on CPUs a local buffer).

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] + 1.0, name="B")
        >>> C = te.compute((64,), lambda i: B[i] * 2.0, name="C")
        >>> s = te.create_schedule(C.op)
        >>> s[B].set_scope("local")
        >>> s[B].scope
        'local'
        """
        from .cache import SCOPES
        if scope not in SCOPES:
            self._err(f"set_scope: unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")
        if not isinstance(self.op, ComputeOp):
            self._err("set_scope: a placeholder lives in the caller's array")
        if self.is_output and scope != "global":
            self._err(f"set_scope({scope!r}): an output is written into the caller's array, "
                      "which is global")
        self.scope = scope


class Schedule:
    """The stages of a computation graph, producers before consumers (te.create_schedule).

    >>> import texpr as te
    >>> A = te.placeholder((16,), name="A")
    >>> B = te.compute((16,), lambda i: A[i] + 1.0, name="B")
    >>> s = te.create_schedule(B.op)
    >>> [st.name for st in s.stages], s[B].op is B.op
    (['A', 'B'], True)
    """

    def __init__(self, outputs: list[Operation]) -> None:
        self.outputs = outputs
        self.stages = []
        self.stage_map = {}
        self.groups = []
        self.specializations = []   # [(condition, Schedule)]: specialize(), first match wins
        self.facts = None           # a specialisation's Facts (schedule/specialize.py)
        self.parent: Schedule | None = None     # the schedule a specialisation belongs to
        for op in _post_order(outputs):
            st = Stage(op, self)
            st.is_output = any(op is o for o in outputs)
            self.stages.append(st)
            self.stage_map[op] = st
        for st in self.stages:
            if isinstance(st.op, ScanOp):
                body_ops = scan_body(st.op)
                for op in body_ops:
                    body = self.stage_map[op]
                    body.scan = st
                    body.attach_type, body.attach_stage = "scope", st
                    body.attach_ivar = st.op.scan_axis
                self._scan_group(st, body_ops)
            if isinstance(st.op, ComputeOp) and "tensor_intrin" in st.op.attrs:
                _tensorize_tensor_compute(st)

    def _scan_group(self, scan, body_ops):
        """As TVM: the stages of a scan's body form a group placed in the scan's time loop;
        create_group inside it nests a group in it."""
        from .group import Group
        members = [st for st in self.stages if any(st.op is op for op in body_ops)]
        g = Group(self, members, f"{scan.name}.body")
        g.scan = scan
        g.attach_type, g.attach_stage, g.attach_ivar = "scope", scan, scan.op.scan_axis
        for st in members:
            st.group = g
        self.groups.append(g)

    def __str__(self):
        """Every stage with its loop tree (schedule/text.py)."""
        from .text import schedule_text
        return schedule_text(self)

    __repr__ = __str__

    def _repr_html_(self):
        """Jupyter: the text above, highlighted."""
        from ..display import code_html
        return code_html(str(self), "python")

    def specialize(self, cond: Any) -> Schedule:
        """A schedule of the same outputs used when `cond` holds at call time (Halide's
        specialize): schedule it for that size class; this schedule stays the fallback.

        cond: a conjunction of facts about shape variables, `M == 1`, `M >= 64`, `M < 9`,
        `M % 8 == 0` (te.all or &). Specialisations are tried in the order made; the build
        is one kernel whose entry branches on them (the chain is shown by te.lower).

        >>> import texpr as te
        >>> n = te.var("n")
        >>> A = te.placeholder((n,), name="A")
        >>> B = te.compute((n,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> s8 = s.specialize(n % 8 == 0)
        >>> _ = s8[B].split(B.op.axis[0], factor=8)
        >>> "if (n % 8 == 0)" in str(te.lower(s, [A, B]))
        True
        """
        from .specialize import check_condition, parse_condition
        if self.facts is not None:
            raise ScheduleError("specialize: this schedule is a specialisation already; make "
                                "every class from the fallback schedule (conditions can be "
                                "combined with te.all)")
        facts = parse_condition(check_condition(cond))
        sub = Schedule(self.outputs)
        sub.facts = facts
        sub.parent = self
        self.specializations.append((cond, sub))
        return sub

    def __getitem__(self, t: StageKey) -> Stage:
        op = t.op if isinstance(t, Tensor) else t
        if isinstance(op, Stage):
            return op
        st = self.stage_map.get(op)
        if st is None:
            raise ScheduleError(f"{getattr(op, 'name', op)!r} is not part of this schedule")
        return st

    def stage_of(self, tensor: StageKey) -> Stage:
        """The stage of `tensor` (as s[tensor]).

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> s.stage_of(B) is s[B]
        True
        """
        return self[tensor]

    def unused_input_stage(self, op: Operation) -> Stage:
        """The stage of a placeholder no stage reads, made on first use: a kernel argument it
        takes and never touches (TVM builds such a parameter; a gradient may not need an
        input's value).

        >>> import texpr as te
        >>> A = te.placeholder((8,), name="A")
        >>> unused = te.placeholder((8,), name="unused")
        >>> B = te.compute((8,), lambda i: A[i] + 1.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> s.unused_input_stage(unused.op).name
        'unused'
        """
        st = self.stage_map.get(op)
        if st is None:
            st = Stage(op, self)
            st.is_output = False
            self.stages.insert(0, st)
            self.stage_map[op] = st
        return st

    # ------------------------------------------------------------------ graph queries
    def readers(self, stage: Stage) -> list[Stage]:
        """Stages whose current op reads stage's output directly.

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] + 1.0, name="B")
        >>> C = te.compute((64,), lambda i: B[i] * 2.0, name="C")
        >>> s = te.create_schedule(C.op)
        >>> [st.name for st in s.readers(s[A])]
        ['B']
        """
        out = []
        for st in self.stages:
            if any(self.stage_map.get(t.op) is stage for t in st.op.input_tensors):
                out.append(st)
        return out

    def consumers(self, stage: Stage) -> list[Stage]:
        """Readers, looking through inlined stages to the stages that really run the reads.

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] + 1.0, name="B")
        >>> C = te.compute((64,), lambda i: B[i] * 2.0, name="C")
        >>> s = te.create_schedule(C.op)
        >>> s[B].compute_inline()
        >>> [st.name for st in s.consumers(s[A])]
        ['C']
        """
        out, todo, seen = [], list(self.readers(stage)), set()
        while todo:
            st = todo.pop()
            if id(st) in seen:
                continue
            seen.add(id(st))
            if st.attach_type == "inline":
                todo.extend(self.readers(st))
            else:
                out.append(st)
        return out

    def is_upstream(self, a: Stage, b: Stage) -> bool:
        """True if stage a is (transitively) read by stage b.

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] + 1.0, name="B")
        >>> C = te.compute((64,), lambda i: B[i] * 2.0, name="C")
        >>> s = te.create_schedule(C.op)
        >>> s.is_upstream(s[A], s[C]), s.is_upstream(s[C], s[A])
        (True, False)
        """
        todo, seen = [b], set()
        while todo:
            st = todo.pop()
            for t in st.op.input_tensors:
                p = self.stage_map[t.op]
                if p is a:
                    return True
                if id(p) not in seen:
                    seen.add(id(p))
                    todo.append(p)
        return False

    # ------------------------------------------------------------------ graph rewrites
    def _insert_stage(self, op, before):
        st = Stage(op, self)
        i = self.stages.index(before)
        self.stages.insert(i, st)
        self.stage_map[op] = st
        return st

    def cache_write(self, tensor: Tensor | Sequence[Tensor], scope: str) -> Any:
        """A stage computing `tensor` into a buffer of `scope`, copied out by the original
        stage (which then only copies); returns the cache tensor(s).

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> BL = s.cache_write(B, "local")
        >>> [st.name for st in s.stages]
        ['A', 'B.local', 'B']
        """
        from .cache import cache_write
        return cache_write(self, tensor, scope)

    def cache_read(self, tensor: Tensor, scope: str, readers: Any) -> Tensor:
        """A copy of `tensor` in `scope` that `readers` (stages or tensors) read instead.

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> AL = s.cache_read(A, "local", [B])
        >>> [st.name for st in s.stages]
        ['A', 'A.local', 'B']
        """
        from .cache import cache_read
        return cache_read(self, tensor, scope, readers)

    def rfactor(self, tensor: Tensor, axis: IterVar, factor_axis: int = 0) -> Any:
        """Split a reduction: a new stage reduces all but `axis`, keeping `axis` as a data
        dimension (at `factor_axis`), and the original stage reduces that; returns the new
        tensor(s).

        >>> import texpr as te
        >>> A = te.placeholder((4, 16), name="A")
        >>> k = te.reduce_axis((0, 16), name="k")
        >>> B = te.compute((4,), lambda i: te.sum(A[i, k], axis=k), name="B")
        >>> s = te.create_schedule(B.op)
        >>> ko, ki = s[B].split(k, factor=4)
        >>> BF = s.rfactor(B, ki)
        >>> [int(d) for d in BF.shape], [st.name for st in s.stages]
        ([4, 4], ['A', 'B.rf', 'B'])
        """
        from .rfactor import rfactor
        return rfactor(self, tensor, axis, factor_axis)

    def create_group(self, outputs: Any, inputs: Any, include_inputs: bool = False) -> Group:
        """TVM's stage group: the stages between `inputs` and `outputs`, attached together
        with group.compute_at(parent, axis).

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] + 1.0, name="B")
        >>> C = te.compute((64,), lambda i: B[i] * 2.0, name="C")
        >>> s = te.create_schedule(C.op)
        >>> D = te.compute((64,), lambda i: C[i] - 1.0, name="D")
        >>> s = te.create_schedule(D.op)
        >>> g = s.create_group(outputs=C, inputs=A)
        >>> [st.name for st in g.stages]
        ['B', 'C']
        """
        from .group import create_group
        return create_group(self, outputs, inputs, include_inputs)

    def normalize(self) -> Schedule:
        """TVM rebases every loop to start at 0 and returns the schedule; texpr's loops always
        start at 0, so this schedule is already normal and is returned as it is.

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> s.normalize() is s
        True
        """
        return self


def _tensorize_tensor_compute(st):
    """A TensorComputeOp's stage (lang/tensor_compute.py): outer data axes, the call's
    reduction axes, then the intrinsic's loops, which are tensorized."""
    intrin, k, nred = st.op.attrs["tensor_intrin"]
    axes, red = st.op.axis, st.op.reduce_axis
    order = axes[:k] + red[:nred] + axes[k:] + red[nred:]
    if order != st.leaf_iter_vars:
        st.reorder(*order)
    st.tensorize(axes[k], intrin)


def _in_group(stage, group):
    g = stage.group
    while g is not None:
        if g is group:
            return True
        g = g.group
    return False


def scan_body(op):
    """The operations a scan runs in its time loop: its updates and every operation between
    them and the state placeholders (those that read a state, directly or not)."""
    states = {id(t.op) for t in op.state_placeholder}
    updates = {id(t.op) for t in op.update}
    memo = {}

    def reads_state(o):
        if id(o) not in memo:
            memo[id(o)] = False
            memo[id(o)] = any(id(t.op) in states or reads_state(t.op) for t in o.input_tensors)
        return memo[id(o)]

    out, todo, seen = [], [t.op for t in op.update], set()
    while todo:
        o = todo.pop()
        if id(o) in seen or id(o) in states:
            continue
        seen.add(id(o))
        if id(o) in updates or reads_state(o):
            out.append(o)
            todo.extend(t.op for t in o.input_tensors)
    return out


def _post_order(outputs):
    order, seen = [], set()

    def visit(op):
        if id(op) in seen:
            return
        seen.add(id(op))
        for t in op.input_tensors:
            visit(t.op)
        order.append(op)
    for op in outputs:
        visit(op)
    return order


def create_schedule(ops: Operation | Tensor | Sequence[Operation | Tensor]) -> Schedule:
    """A default schedule (every stage at the root, loops in definition order).

    >>> import texpr as te
    >>> A = te.placeholder((8,), name="A")
    >>> B = te.compute((8,), lambda i: A[i] * A[i], name="B")
    >>> s = te.create_schedule(B.op)
    >>> s[B].op is B.op
    True
    """
    if isinstance(ops, (Operation, Tensor)):
        ops = [ops]
    out = []
    for o in ops:
        if isinstance(o, Tensor):
            o = o.op
        if not isinstance(o, Operation):
            raise ScheduleError(f"create_schedule expects operations (T.op), got {o!r}")
        if isinstance(o, PlaceholderOp):
            raise ScheduleError(f"create_schedule: {o.name} is a placeholder; schedule the "
                                "compute that produces the output")
        out.append(o)
    return Schedule(out)
