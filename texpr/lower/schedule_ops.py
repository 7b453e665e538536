"""From a Schedule to a loop program: inlining, bound inference and loop nest construction.

Stages attached with compute_at compute only the region their consumers need inside the
attach loop: the ranges of the consumers' original axes covered by their running loops come
through the split and fuse relations (lower/domain.py), and we take the interval each access
covers over them. A stage at the root that is not an output or an argument computes only what
its consumers read over all their loops (as TVM's InferBound does). Loops whose split factor
may not divide, and regions that may stick out of a tensor's domain, get guards; later passes
remove the guards they can prove.
"""
from collections import defaultdict
import math

from ..lang import dtypes
from ..errors import LoweringError, ScheduleError
from ..lang.expr import BinOp, Cast, Cmp, CommReducer, Const, Reduce, TensorLoad, Var
from ..lang.extern import ExternOp
from ..lang.tensor import ComputeOp, ExclusiveScanOp, PlaceholderOp, ScanOp, Tensor
from ..lang.visitor import Mutator, free_vars, substitute, transform, walk
from ..schedule.schedule import IMPORT_PRAGMAS
from ..schedule.relations import Fuse, data_related, leaf_to_root, propagate_extents
from .analysis.arith import INF, Simplifier, const_bounds, interval, simplify
from ..lang.ir import (Allocate, Buffer, BufferLoad, BufferStore, CheckedIndex, DeclareVars, For,
                 IfThenElse, IntrinCall, StageRegion, VarLoad, VarStore, seq)
from .domain import pass_up
from ..lang.hybrid_op import HybridOp
from .hybrid_nest import hybrid_nest
from .tensorize import Tensorizer
from .store_predicate import is_cross_thread, resolve_store_predicate, writer_predicate

LOOP_KIND = {None: "serial", "vectorize": "vectorized", "unroll": "unrolled",
             "parallel": "parallel", "bind": "thread", "tensorize": "serial"}


class StageInfo:
    def __init__(self, stage):
        self.stage = stage
        self.buffers = None     # one per output of the operation
        self.region = None      # [(min Expr, extent Expr)] per root data axis
        self.extents = None     # id(IterVar) -> loop extent Expr
        self.bodies = None      # bodies (one per output) with inlined stages substituted
        self.absolute = False   # indices into the buffers are the tensor's own (not region's)
        self.aliased = False    # the buffers belong to another stage (a scan's state)
        self.run_if = None      # a condition the whole stage runs under (a scan's init rows fit)

    @property
    def buffer(self):
        return self.buffers[0] if self.buffers else None

    @buffer.setter
    def buffer(self, b):
        self.buffers = [b]

    @property
    def body(self):
        return self.bodies[0] if self.bodies else None

    def buffer_of(self, tensor):
        return self.buffers[tensor.value_index]


class ScheduleLowering:
    def __init__(self, sch, args, name, arg_buffers=None):
        self.sch = sch
        self.given_arg_buffers = arg_buffers
        self.name = name
        self.info = {}
        self.data_maps = {}
        self.args = self._check_args(args)
        self._inline()
        self._check_attach()
        self.shape_vars = self._shape_vars()
        self.nonneg_vars = self._nonneg_vars()
        self.const_ranges = {v: (0, INF) for v in self.nonneg_vars}
        self._make_buffers()
        self._infer_bounds()

    # ------------------------------------------------------------------ arguments
    def _check_args(self, args):
        """The stages of the tensor arguments; self.params: the arguments in call order
        (a stage, or a scalar te.var), self.arg_outputs: each tensor argument's output index."""
        if not isinstance(args, (list, tuple)):
            raise LoweringError("args must be a list of tensors (inputs and outputs)")
        out, seen, vars_seen = [], set(), set()
        self.params, self.arg_outputs, self.scalar_params = [], [], []
        self.arg_tensors = []
        for k, t in enumerate(args):
            if isinstance(t, Var):
                if t in vars_seen:
                    raise LoweringError(f"scalar argument {t.name} is given twice in args")
                vars_seen.add(t)
                self.params.append(t)
                self.scalar_params.append(t)
                continue
            if not isinstance(t, Tensor):
                raise LoweringError(f"argument {k} is {t!r}; expected a tensor or a scalar te.var")
            try:
                st = self.sch[t]
            except ScheduleError:       # Schedule.__getitem__: the tensor has no stage here
                if not isinstance(t.op, PlaceholderOp):
                    raise LoweringError(f"argument {k} ({t.name}) is not part of this "
                                        "schedule") from None
                st = self.sch.unused_input_stage(t.op)     # an input the kernel never reads
            vi = t.value_index
            if (id(st), vi) in seen:
                raise LoweringError(f"tensor {_tensor_name(st, vi)} is given twice in args")
            seen.add((id(st), vi))
            self.params.append(st)
            self.arg_outputs.append(vi)
            # an argument computed at a loop (compute_at) writes its region of the caller's
            # array there, as in TVM; an inlined one would never be written
            if st.attach_type == "inline" and isinstance(st.op, ComputeOp):
                raise LoweringError(f"tensor {t.name} is an argument, so stage {st.name} cannot be "
                                    "inlined (its array would never be written); compute it at "
                                    "the root or at a loop")
            out.append(st)
            self.arg_tensors.append((st, vi))
        read = {id(t.op) for st in self.sch.stages for t in st.op.input_tensors}
        for st in self.sch.stages:
            # every output of an output compute is written by its one loop nest; an extern op
            # writes buffers of its own, so one of its outputs passed is enough. An output that
            # another stage reads may be left out: a temporary then holds it (as in TVM).
            need = range(st.op.num_outputs if st.is_output and id(st.op) not in read else 0)
            if isinstance(st.op, ExternOp) and any((id(st), vi) in seen for vi in need):
                continue
            for vi in need:
                if (id(st), vi) not in seen:
                    raise LoweringError(f"output {_tensor_name(st, vi)} is not in args; pass it "
                                        "so the kernel can write it")
        return out

    def arg_buffers(self):
        """The kernel's parameters, in the order of args."""
        return [self.info[st].buffers[vi] for st, vi in self.arg_tensors]

    def _inline(self):
        for st in self.sch.stages:
            info = self.info[st] = StageInfo(st)
            if isinstance(st.op, (PlaceholderOp, ExternOp)):
                continue
            if isinstance(st.op, HybridOp):      # a loop program: its reads of inlined stages
                info.bodies = [transform(st.op.body, self._inline_fn)]
                continue
            info.bodies = [transform(b, self._inline_fn) for b in st.op.bodies]

    def _inline_fn(self, n):
        if isinstance(n, TensorLoad):
            st = self.sch.stage_map[n.tensor.op]
            if st.attach_type == "inline":
                body = self.info[st].bodies[n.tensor.value_index]
                # an index read from data stays checked against the inlined tensor's extent
                # (inlining must not drop the error a materialized stage would raise)
                idx = [_checked(i, d, n.tensor, TensorLoad) for d, i in enumerate(n.indices)]
                return substitute(body, {iv.var: i for iv, i in zip(st.op.axis, idx)})
        return None

    def reads(self, st):
        """Stages whose buffers stage st reads (after inlining), in its body or loop bounds."""
        out = []
        if isinstance(st.op, ExternOp):
            for t in st.op.inputs:
                p = self.sch.stage_map[t.op]
                if p not in out:
                    out.append(p)
            return out
        exprs = list(self.info[st].bodies) + [e for iv in st.op.reduce_axis
                                              for e in (iv.dom.min, iv.dom.extent)]
        if isinstance(st.op, ScanOp):
            exprs += [TensorLoad(t, (), t.dtype) for t in st.op.init]
        for e in exprs:
            for n in walk(e):
                if isinstance(n, TensorLoad):
                    p = self.sch.stage_map[n.tensor.op]
                    if p not in out:
                        out.append(p)
        return out

    def _live_stages(self):
        return [st for st in self.sch.stages
                if isinstance(st.op, (ComputeOp, ExternOp, HybridOp)) and st.attach_type != "inline"]

    def _check_attach(self):
        live = self._live_stages()
        self.consumers = defaultdict(list)
        for st in live:
            for p in self.reads(st):
                self.consumers[p].append(st)
        arg_ids = {id(s) for s in self.args}
        self.scan_states = {id(self.sch.stage_map[t.op]): (st, k) for st in live
                            if isinstance(st.op, ScanOp)
                            for k, t in enumerate(st.op.state_placeholder)}
        for st in live:
            for p in self.reads(st):
                if isinstance(p.op, PlaceholderOp) and id(p) not in arg_ids and \
                        id(p) not in self.scan_states:
                    raise LoweringError(f"placeholder {p.name} is read by stage {st.name} but is "
                                        "not in args")
        self._check_in_place_writes(live)
        for st in live:
            if not isinstance(st.op, ExternOp):
                continue
            for p in self.reads(st):
                if p.attach_type != "root":
                    where = "inlined" if p.attach_type == "inline" else "computed at another stage"
                    raise LoweringError(f"extern op {st.name} reads {p.name}, which is {where}; "
                                        "an extern op's inputs must be whole buffers (compute "
                                        f"{p.name} at the root)")
        for st in live:
            if st.attach_type != "scope":
                continue
            q, x = st.attach_stage, st.attach_ivar
            hyb = q if isinstance(q.op, HybridOp) else next(
                (c for c in self.consumers[st] if isinstance(c.op, HybridOp)), None)
            if hyb is not None:
                raise LoweringError(f"stage {st.name} is computed at a loop of stage {q.name}, "
                                    f"but hybrid op {hyb.name} reads or holds it: a hybrid op's "
                                    "inputs are computed at the root (or inlined)")
            if q.attach_type == "inline":
                raise LoweringError(f"stage {st.name} is computed at stage {q.name}, which is inlined")
            if not any(iv is x for iv in q.leaf_iter_vars):
                raise LoweringError(f"stage {st.name} is computed at axis {x.name} of stage "
                                    f"{q.name}, which is no longer a leaf axis there")
            for c in self.consumers[st]:
                if not self._encloses(q, x, c):
                    raise LoweringError(f"stage {st.name} is computed at loop {x.name} of stage "
                                        f"{q.name}, but its consumer {c.name} runs outside that loop")

    def _check_in_place_writes(self, live):
        """A placeholder a hybrid op writes in place is read by other stages only before it
        (its producers) or after it (its consumers): any other order is undefined."""
        memo = {}

        def ancestors(op):
            got = memo.get(id(op))
            if got is None:
                got = set()
                for t in op.input_tensors:
                    got.add(id(t.op))
                    got |= ancestors(t.op)
                memo[id(op)] = got
            return got
        for h in live:
            for t, _ in getattr(h.op, "written_inputs", ()):
                for st in live:
                    if st is h or id(h.op) in ancestors(st.op) or id(st.op) in ancestors(h.op):
                        continue
                    if any(p.op is t.op for p in self.reads(st)) or any(
                            w.op is t.op for w, _ in getattr(st.op, "written_inputs", ())):
                        raise LoweringError(f"hybrid op {h.name} writes placeholder {t.name} in "
                                            f"place and stage {st.name} also uses it, neither "
                                            "before nor after it: the order of the two is "
                                            "undefined (make one consume the other's output)")

    def _encloses(self, q, x, c):
        """Does loop x of stage q enclose stage c (c == q, or c attached inside x)?"""
        xpos = next(k for k, iv in enumerate(q.leaf_iter_vars) if iv is x)
        cur = c
        while cur is not None:
            if cur is q:
                return True
            if cur.attach_type != "scope":
                return False
            if cur.attach_stage is q:
                pos = next((k for k, iv in enumerate(q.leaf_iter_vars) if iv is cur.attach_ivar), -1)
                return pos >= xpos
            cur = cur.attach_stage
        return False

    def _shape_vars(self):
        out = []
        for st, vi in zip(self.args, self.arg_outputs):
            for d in (st.op.output_shape(vi) if vi else st.op.shape):
                for v in sorted(free_vars(d), key=lambda v: v.name):
                    if v not in out:
                        out.append(v)
        for v in self.scalar_params:
            if v not in out:
                out.append(v)
        known = set(out)
        for st in self._live_stages():
            if isinstance(st.op, ExternOp):
                for e in [st.op.body] + [d for b in st.op.output_buffers for d in b.shape]:
                    for v in free_vars(e):
                        if v not in known and v not in st.op.bound_vars:
                            raise LoweringError(f"variable {v.name} used by extern op {st.name} "
                                                "is not a dimension of any argument nor a scalar "
                                                "argument, so its value is unknown")
                continue
            loopvars = {iv.var for iv in st.all_iter_vars} | {iv.var for iv in st.op.axis} | \
                {iv.var for iv in st.op.reduce_axis} | getattr(st.op, "bound_vars", frozenset())
            shapes = [d for k in range(st.op.num_outputs) for d in st.op.output_shape(k)]
            exprs = list(self.info[st].bodies) + shapes + \
                [e for iv in st.op.reduce_axis for e in (iv.dom.min, iv.dom.extent)]
            for e in exprs:
                for v in free_vars(e):
                    if v not in known and v not in loopvars:
                        raise LoweringError(f"variable {v.name} used by stage {st.name} is not a "
                                            "dimension of any argument nor a scalar argument, so "
                                            "its value is unknown")
        return out

    def _nonneg_vars(self):
        """The shape vars known to be >= 0: those taken from array shapes, and the integer
        scalar arguments that bound a shape or loop (the module refuses negative ones). Other
        scalar arguments (an offset, a float) may have any value."""
        if not self.scalar_params:
            return list(self.shape_vars)
        ext = self.extent_vars()
        scalars = set(self.scalar_params)
        return [v for v in self.shape_vars if v not in scalars
                or (dtypes.is_int(v.dtype) and v in ext)]

    # ------------------------------------------------------------------ buffers
    def _make_buffers(self):
        for st in self.args:
            op = st.origin_op
            if isinstance(op, ExternOp):
                self.info[st].buffers = [Buffer(ob.name, ob.dtype, ob.shape, "global",
                                                is_arg=(st, k) in self.arg_tensors)
                                         for k, ob in enumerate(op.output_buffers)]
                continue
            lay = st.layout           # transform_layout: the array is in the physical shape
            self.info[st].buffers = [Buffer(_tensor_name(st, k), op.output_dtype(k),
                                            lay.op.output_shape(k) if lay else op.output_shape(k),
                                            "global", is_arg=(st, k) in self.arg_tensors,
                                            logical_shape=op.output_shape(k) if lay else None)
                                     for k in range(op.num_outputs)]
        if self.given_arg_buffers is not None:
            for (st, vi), b in zip(self.arg_tensors, self.given_arg_buffers):
                self.info[st].buffers[vi] = b

    def extent_vars(self):
        """Integer variables that bound a shape or a loop: a scalar argument among them must
        not be negative."""
        out = set()
        for st in self.sch.stages:
            shapes = list(st.op.shape) if not isinstance(st.op, ExternOp) else \
                [d for b in st.op.output_buffers for d in b.shape]
            exprs = shapes + [iv.dom.extent for iv in getattr(st.op, "reduce_axis", [])]
            exprs += [st.extents[k] for k in st.extents]
            for e in exprs:
                out |= free_vars(e)
        return out

    # ------------------------------------------------------------------ bounds
    def _infer_bounds(self):
        live = self._live_stages()
        for st in reversed(live):
            info = self.info[st]
            if isinstance(st.op, HybridOp):
                self._hybrid_bounds(st, info)
                continue
            if isinstance(st.op, ExternOp):
                info.region = [(Const(0, "int32"), d) for d in st.op.shape]
                info.extents = {}
                if info.buffers is None:
                    info.buffers = [Buffer(ob.name, ob.dtype, ob.shape, st.scope)
                                    for ob in st.op.output_buffers]
                continue
            if isinstance(st.op, ScanOp):
                self._scan_buffers(st)
            elif st.attach_type == "scope":
                info.region = self._attached_region(st)
            else:
                info.region = self._root_region(st)
            root_ext = {id(iv): r[1] for iv, r in zip(st.op.axis, info.region)}
            root_ext.update({id(iv): iv.dom.extent for iv in st.op.reduce_axis})
            info.extents = propagate_extents(st, root_ext)
            for iv in st.leaf_iter_vars:
                ub = self._const_ub(info.extents[id(iv)])
                self.const_ranges[iv.var] = (0, ub - 1 if ub != INF else INF)
            if info.buffer is None:
                shape = []
                for k, (lo, ext) in enumerate(info.region):
                    ub = self._const_ub(ext)
                    shape.append(Const(ub, "int32") if ub != INF else ext)
                info.buffers = [Buffer(_tensor_name(st, k), st.op.output_dtype(k), shape, st.scope)
                                for k in range(st.op.num_outputs)]
                for b in info.buffers:
                    b.align = dict(st.storage_aligns)

    def _scan_buffers(self, st):
        """A scan's loop runs over its time axis from the init's row count on; its outputs are
        whole-state buffers that the state placeholders read, the init stages write (unless
        their rows are copied: see NestBuilder.scan_nest) and the update stages write row by
        row, all at the tensors' own indices."""
        op, info = st.op, self.info[st]
        first = op.init[0].shape[0]
        info.region = [(first, op.scan_axis.dom.extent)] + \
            [(Const(0, "int32"), iv.dom.extent) for iv in op.spatial_axis_]
        info.absolute = True
        if info.buffers is None:
            info.buffers = [Buffer(_tensor_name(st, k), op.output_dtype(k), op.output_shape(k),
                                   "global") for k in range(op.num_outputs)]
        info.copy_init = []
        steps = op.output_shape(0)[0]
        if not (isinstance(steps, Const) and isinstance(first, Const)):
            # a state with fewer time steps than init rows: no init row may be written
            info.run_if = Cmp(">=", steps, first)
        for k, (ini, up, state) in enumerate(zip(op.init, op.update, op.state_placeholder)):
            self.info[self.sch.stage_map[state.op]].buffers = [info.buffers[k]]
            for t, role in ((up, "update"), (ini, "init")):
                p = self.sch.stage_map[t.op]
                readers = [c for c in self.consumers[p] if c is not st]
                if role == "update" and readers:
                    raise LoweringError(f"scan {st.name}: its update {p.name} is also read by "
                                        f"{readers[0].name}; read the scan's output instead")
                alias = isinstance(p.op, ComputeOp) and not readers and p.op.num_outputs == 1 \
                    and p.attach_type in ("root", "scope") and \
                    not any(a is p for a in self.args)
                if alias:
                    pi = self.info[p]
                    pi.buffers, pi.absolute, pi.aliased = [info.buffers[k]], True, True
                    if role == "init":
                        pi.run_if = info.run_if
                elif role == "init":
                    info.copy_init.append(k)

    def _hybrid_bounds(self, st, info):
        """A hybrid stage writes its whole outputs; its leaf loops come from its axis loops."""
        info.extents = propagate_extents(st, {id(iv): iv.dom.extent for iv in st.op.axis})
        for iv in st.leaf_iter_vars:
            ub = self._const_ub(info.extents[id(iv)])
            self.const_ranges[iv.var] = (0, ub - 1 if ub != INF else INF)
        if info.buffers is None:
            info.buffers = [Buffer(_tensor_name(st, k), st.op.output_dtype(k),
                                   st.op.output_shape(k), st.scope)
                            for k in range(st.op.num_outputs)]

    def _const_ub(self, e):
        if isinstance(e, Const):
            return e.value
        return const_bounds(e, self.const_ranges)[1]

    def _leaf_range(self, st, iv):
        ext = self.info[st].extents[id(iv)]
        ub = self._const_ub(ext)
        hi = Const(ub - 1, "int32") if ub != INF else simplify(ext - 1)
        return (Const(0, "int32"), hi)

    def root_map(self, st):
        """Root axis vars of st -> Exprs in its leaf loop vars; plus guards (cond Exprs)."""
        info = self.info[st]
        leaf_vals = {id(iv): iv.var for iv in st.leaf_iter_vars}
        values, split_guards = leaf_to_root(st, leaf_vals, info.extents)
        m = {}
        dom_guards = []
        for iv, (lo, ext) in zip(st.op.axis, info.region):
            m[iv.var] = lo + values[id(iv)] if not (isinstance(lo, Const) and lo.value == 0) \
                else values[id(iv)]
            if st.attach_type == "scope" and not isinstance(st.attach_stage.op, ScanOp):
                # (a stage in a scan's time loop computes exactly its row: no guard)
                dom = iv.dom.extent
                dom_guards.append(m[iv.var] >= 0)
                dom_guards.append(m[iv.var] < dom)
        data_m = dict(m)
        self.data_maps[id(st)] = data_m
        for iv in st.op.reduce_axis:
            # ragged reductions: bounds may read data at the data axes (offsets[b])
            mn = substitute(iv.dom.min, data_m)
            m[iv.var] = values[id(iv)] if (isinstance(mn, Const) and mn.value == 0) \
                else mn + values[id(iv)]
        # split values are in leaf vars already; extents may name root data vars (ragged)
        guards = [v < substitute(ext, data_m) for v, ext in split_guards] + dom_guards
        return m, values, guards

    def _attached_region(self, st):
        """The region of st that its consumers read inside its attach loop, with the loops
        inside that loop running; no larger than the tensor (a split factor beyond the
        extent or reads that stick out are cut off by the guards)."""
        q, x = st.attach_stage, st.attach_ivar
        xpos = next(k for k, iv in enumerate(q.leaf_iter_vars) if iv is x)
        region = self._read_region(st, q, xpos)
        out = []
        s = Simplifier(self.const_ranges)
        for (lo, ext), dom in zip(region, st.op.shape):
            if isinstance(dom, Const) and not (isinstance(ext, Const) and ext.value <= dom.value):
                lo, ext = s(BinOp("max", lo, Const(0, "int32"), "int32")), dom
            out.append((lo, ext))
        return out

    def _root_region(self, st):
        """A stage at the root that is neither an output nor an argument computes what its
        consumers read over all their loops (TVM's InferBound does the same), cut to the
        tensor; the whole tensor when that region is not a plain expression."""
        full = [(Const(0, "int32"), d) for d in st.op.shape]
        plain = [st] + self.consumers[st]      # ops of other kinds (scan, ...) read it all
        if st.is_output or self.info[st].buffer is not None or \
                any(type(x.op) is not ComputeOp or x.op.tag == "scan" for x in plain):
            return full
        region = self._read_region(st, None, None)
        s = Simplifier(self.const_ranges)
        out = []
        for (lo, ext), (_, dom) in zip(region, full):
            hi = s(BinOp("min", lo + ext - 1, dom - 1, "int32"))
            lo = s(BinOp("max", lo, Const(0, "int32"), "int32"))
            ext = s(hi - lo + 1)
            if any(isinstance(n, BinOp) and n.op in ("min", "max") for e in (lo, ext)
                   for n in walk(e)):
                return full
            out.append((lo, ext))
        return out

    def _read_region(self, st, q, xpos):
        """(min, extent) per dimension of st covering every read of its consumers while the
        loops of q after position xpos run (q None: all loops, up to the root)."""
        accesses = []
        for c in self.consumers[st]:
            relax = {}
            cur = c
            while cur is not q and cur is not None:
                for iv in cur.leaf_iter_vars:
                    relax[iv.var] = self._leaf_range(cur, iv)
                cur = cur.attach_stage if cur.attach_type == "scope" else None
            if q is not None:
                for iv in q.leaf_iter_vars[xpos + 1:]:
                    relax[iv.var] = self._leaf_range(q, iv)
                if st.scope == "shared":
                    relax.update(self._block_thread_ranges(q, xpos))
            # the ranges of c's original axes covered by its running loops (through the
            # split and fuse relations), shifted by c's own region
            leaf_ranges = {id(iv): relax.get(iv.var, (iv.var, iv.var)) for iv in c.leaf_iter_vars}
            ranges = pass_up(c, leaf_ranges, self.info[c].extents)
            # root axis vars -> values in c's leaf loops, where a fused loop makes them
            # tighter than the box of the root ranges (_tighter)
            leaf_m = self.root_map(c)[0]
            if not any(type(r) is Fuse for r in c.relations):
                leaf_m = None
            data_m = self.data_maps[id(c)]
            fresh = {}
            for iv, (lo, _) in zip(c.op.axis, self.info[c].region):
                fresh[iv.var] = r = Var(iv.var.name, iv.var.dtype)
                a, b = ranges[id(iv)]
                relax[r] = (_add(lo, a), _add(lo, b))
            for iv in c.op.reduce_axis:
                fresh[iv.var] = r = Var(iv.var.name, iv.var.dtype)
                mn = substitute(iv.dom.min, data_m)
                a, b = ranges[id(iv)]
                relax[r] = (_add(mn, a), _add(mn, b))
            for n in (n for b in self.info[c].bodies for n in walk(b)):
                if isinstance(n, TensorLoad) and self.sch.stage_map[n.tensor.op] is st:
                    accesses.append(([substitute(i, fresh) for i in n.indices],
                                     None if leaf_m is None else
                                     [substitute(i, leaf_m) for i in n.indices],
                                     relax))
        region = []
        for d, dom in enumerate(st.op.shape):
            lo_all, hi_all, ok = [], [], True
            for idx, leaf_idx, relax in accesses:
                r = _relaxed(idx[d], relax)
                if leaf_idx is not None:
                    r = self._tighter(r, _relaxed(leaf_idx[d], relax))
                if r is None:
                    ok = False
                    break
                lo_all.append(r[0])
                hi_all.append(r[1])
            if not ok or not lo_all:
                region.append((Const(0, "int32"), dom))
                continue
            lo, hi = lo_all[0], hi_all[0]
            for a, b in zip(lo_all[1:], hi_all[1:]):
                lo = BinOp("min", lo, a, "int32")
                hi = BinOp("max", hi, b, "int32")
            s = Simplifier(self.const_ranges)
            lo, hi = s(lo), s(hi)
            ext = s(hi - lo + 1)
            if not isinstance(ext, Const):
                ub = self._const_ub(ext)
                if ub == INF:
                    if q is None:
                        region.append((lo, ext))
                    else:
                        region.append((Const(0, "int32"), dom))
                    continue
                ext = Const(ub, "int32")
            region.append((lo, ext))
        return region

    def _tighter(self, box, leaf):
        """Of two intervals of one index, the one from the root axes' ranges (`box`) or the
        one from the leaf loops' (`leaf`: a fused (y, x) read as y*Q + x spans the fused
        loop's piece, where the root ranges give whole rows), the narrower; box when equal."""
        if leaf is None:
            return box
        if box is None:
            return leaf
        s = Simplifier(self.const_ranges)
        wb, wl = (self._const_ub(s(hi - lo)) for lo, hi in (box, leaf))
        return leaf if wl < wb else box

    def _block_thread_ranges(self, q, xpos):
        """A shared buffer serves every thread of a block: the threadIdx loops enclosing the
        attach point (of q and the stages q is attached in) are relaxed to their ranges."""
        out, cur, upto = {}, q, xpos
        while cur is not None:
            for iv in cur.leaf_iter_vars[:upto + 1]:
                th = cur.iter_attrs.get(id(iv), {}).get("thread")
                if th is not None and th.thread_tag.startswith("threadIdx"):
                    out[iv.var] = self._leaf_range(cur, iv)
            if cur.attach_type != "scope":
                break
            nxt = cur.attach_stage
            upto = next(k for k, iv in enumerate(nxt.leaf_iter_vars) if iv is cur.attach_ivar)
            cur = nxt
        return out


def _add(a, b):
    if isinstance(a, Const) and a.value == 0:
        return b
    return simplify(a + b)


def _relaxed(e, relax):
    """Interval of e with relax vars free; repeats while bounds still mention relaxed vars."""
    lo, hi = e, e
    for _ in range(6):
        rl, rh = interval(lo, relax), interval(hi, relax)
        if rl is None or rh is None:
            return None
        lo, hi = simplify(rl[0]), simplify(rh[1])
        if not any(v in relax for v in free_vars(lo) | free_vars(hi)):
            return lo, hi
    return None


class NestBuilder:
    """Builds the loop nest of every live stage and nests attached stages inside."""

    def __init__(self, low):
        self.low = low
        self.sch = low.sch
        self.children = defaultdict(list)
        self.roots = []
        for st in low._live_stages():
            if st.attach_type == "scope":
                self.children[(id(st.attach_stage), id(st.attach_ivar))].append(st)
            else:
                self.roots.append(st)

    def build(self):
        body = seq(*[self.stage_nest(st) for st in self.roots])
        for st in reversed(self.roots):
            body = self._allocate(st, body)
        return body

    def _allocate(self, st, body):
        """Allocate st's buffers (not arguments, not a scan's buffers another stage owns)."""
        info = self.low.info[st]
        if info.aliased:
            return body
        for b in reversed(info.buffers):
            if not b.is_arg:
                body = Allocate(b, body)
        return body

    def extern_nest(self, st):
        """The extern op's statement on the real buffers: its inputs' (placeholder arguments
        or materialized stages) and its outputs'."""
        op = st.op
        info = self.low.info[st]
        swap = {id(d): self.low.info[self.sch.stage_map[t.op]].buffer_of(t)
                for d, t in zip(op.input_buffers, op.inputs)}
        swap.update({id(d): info.buffers[k] for k, d in enumerate(op.output_buffers)})
        return StageRegion(st.name, _BufferSwap(swap).visit(op.body))

    def _load_fn(self, n):
        if isinstance(n, TensorLoad):
            p = self.sch.stage_map[n.tensor.op]
            info = self.low.info[p]
            idx = tuple(_checked(i, d, n.tensor) for d, i in enumerate(n.indices))
            buf = info.buffers[n.tensor.value_index]
            if info.region is None or info.absolute:   # placeholder argument, scan state
                return BufferLoad(buf, idx, n.dtype)
            if not buf.is_arg:       # a local buffer holds the region only
                idx = tuple(_sub(i, lo) for i, (lo, _) in zip(idx, info.region))
            return BufferLoad(buf, idx, n.dtype)
        return None

    def scan_nest(self, st):
        """out[0] = 0; for i < n: out[i + 1] = out[i] + x[i]   (sequential)."""
        buf = self.low.info[st].buffer
        x = st.op.x
        i = Var("i")
        xi = transform(TensorLoad(x, (i,), x.dtype), self._load_fn)
        if xi.dtype != buf.dtype:
            xi = Cast(xi, buf.dtype)
        zero = Const(0, buf.dtype)
        step = BufferStore(buf, BufferLoad(buf, (i,), buf.dtype) + xi, (i + 1,))
        return StageRegion(st.name, seq(BufferStore(buf, zero, (Const(0, "int32"),)),
                                        For(i, Const(0, "int32"), x.shape[0], "serial", step)))

    def time_scan_nest(self, st):
        """te.scan: copy the init rows that are not computed in place, then run the time loop
        (sequential); the update stages and their body, attached to it, compute each row."""
        op, info = st.op, self.low.info[st]
        copies = []
        for k in info.copy_init:
            ini, buf = op.init[k], info.buffers[k]
            ivs = [Var(f"{st.name}.init.i{d}") for d in range(ini.ndim)]
            store = BufferStore(buf, transform(TensorLoad(ini, tuple(ivs), ini.dtype),
                                               self._load_fn), tuple(ivs))
            for v, ext in reversed(list(zip(ivs, ini.shape))):
                store = For(v, Const(0, "int32"), ext, "serial", store)
            copies.append(store)
        if copies and info.run_if is not None:
            copies = [IfThenElse(info.run_if, seq(*copies))]
        loop = self._loops(st, [op.scan_axis], seq(), [])
        return StageRegion(st.name, seq(*copies, loop))

    def stage_nest(self, st):
        if isinstance(st.op, HybridOp):
            return hybrid_nest(self, st)
        if isinstance(st.op, ExternOp):
            return self.extern_nest(st)
        if isinstance(st.op, ExclusiveScanOp):
            return self.scan_nest(st)
        if isinstance(st.op, ScanOp):
            return self.time_scan_nest(st)
        low = self.low
        info = low.info[st]
        rmap, values, guards = low.root_map(st)
        # a ragged reduction's split guard reads its bounds from data (offsets[b + 1])
        guards = [transform(g, self._load_fn) for g in guards]
        bufs = info.buffers
        buf = info.buffer
        # a local buffer holds the region (0-based), an argument (or a scan's state) the whole
        # tensor
        store_idx = tuple(rmap[iv.var] if (buf.is_arg or info.absolute) else values[id(iv)]
                          for iv in st.op.axis)
        body = info.body
        leaves = st.leaf_iter_vars
        red_vars = {iv.var for iv in leaves if not data_related(st, iv)}
        data_guards = [g for g in guards if not (free_vars(g) & red_vars)]
        tpos = next((k for k, iv in enumerate(leaves)
                     if st.iter_attrs.get(id(iv), {}).get("kind") == "tensorize"), None)
        pred = resolve_store_predicate(self.sch, st, values, self._load_fn)
        if pred is not None and tpos is not None:
            raise LoweringError(f"stage {st.name}: a store predicate and tensorize cannot be "
                                "combined (the intrinsic does the stores)")
        if isinstance(body, Reduce):
            where = transform(substitute(body.where, rmap), self._load_fn)
            comb = body.combiner.substituted(rmap)      # it may use the compute's index
            if comb is not body.combiner:
                comb = CommReducer(comb.name, comb.lhs, comb.rhs,
                                   _transform_each(comb.result, self._load_fn),
                                   _transform_each(comb.identity, self._load_fn))
            if len(bufs) == 1:
                src = transform(substitute(body.source, rmap), self._load_fn)
                cur = BufferLoad(buf, store_idx, buf.dtype)
                upd = BufferStore(buf, comb.combine(cur, src), store_idx)
                init = BufferStore(buf, comb.identity, store_idx)
            else:                # a tuple reduction (argmax): every value updated together
                srcs = [transform(substitute(b.source, rmap), self._load_fn) for b in info.bodies]
                curs = [BufferLoad(b, store_idx, b.dtype) for b in bufs]
                upd = _tuple_update(bufs, comb.combine_all(curs, srcs), store_idx)
                init = seq(*[BufferStore(b, v, store_idx)
                             for b, v in zip(bufs, comb.identities())])
            if not (isinstance(where, Const) and where.value is True):
                upd = IfThenElse(where, upd)

            # a cross-thread reduction is guarded around its thread loop (lower/store_predicate.py)
            cross = is_cross_thread(st)
            cross_pred = writer_predicate(st, pred) if cross else None
            if pred is not None and not cross:
                upd = IfThenElse(pred, upd)
            elif cross_pred is not None:
                init = _guard(init, [cross_pred])

            def reduce_nest(ivs, ov):
                rp = next(k for k, iv in enumerate(ivs) if iv.kind == "reduce")
                pre, post = ivs[:rp], ivs[rp:]
                ov2 = ov | frozenset(iv.var for iv in pre)
                # the initialization loops over every axis that steps through a data axis,
                # a data axis fused with a reduction axis included (TVM does the same)
                init_nest = self._loops(st, [iv for iv in post if data_related(st, iv)], init,
                                        data_guards, with_children=False, outer_vars=ov2)
                upd_nest = self._loops(st, post, upd, guards, outer_vars=ov2)
                if cross_pred is not None:
                    upd_nest = _guard(upd_nest, [cross_pred])
                return self._loops(st, pre, seq(init_nest, upd_nest), guards, outer_vars=ov)

            if tpos is None:
                nest = reduce_nest(leaves, frozenset())
            else:
                red_pos = next(k for k, iv in enumerate(leaves) if iv.kind == "reduce")
                tz = Tensorizer(self, st, tpos)
                out_op, in_ops, full, partial = tz.build(rmap, values, guards, store_idx)
                ov = frozenset(iv.var for iv in leaves[:tpos])

                def init_tile():
                    """The tile set to the identity (also: a tile the reduction's
                    condition excludes whole)."""
                    return self._loops(st, [iv for iv in leaves[tpos:] if iv.kind != "reduce"],
                                       init, data_guards, with_children=False, outer_vars=ov)
                if red_pos >= tpos:      # the whole reduction is inside the intrinsic
                    call = IntrinCall(self._intrin(st, tpos), "body", (out_op,), in_ops)
                    fallback = reduce_nest(_reductions_first(leaves[tpos:]), ov)
                    fallback = _partial_or(partial, call, fallback)
                    inner = _full_or(full, call, fallback)
                    if tz.tile_where is not None:
                        inner = _where_or(tz.tile_where, inner, init_tile())
                    nest = self._loops(st, leaves[:tpos], inner, guards)
                else:                    # accumulate with the intrinsic's update
                    # A tile is set to the identity when the reduction loops outside the
                    # intrinsic are at their first iteration, inside the same nest (the
                    # intrinsic's body starts from zero in registers), not in a separate pass.
                    intrin = self._intrin(st, tpos)
                    call = IntrinCall(intrin, "update", (out_op,), in_ops)
                    fallback = self._loops(st, _reductions_first(leaves[tpos:]), upd, guards,
                                           outer_vars=ov)
                    tile_init = init_tile()
                    first_call = IntrinCall(intrin, "first", (out_op,), in_ops, tile_init)
                    first = _all_zero([iv.var for iv in leaves[red_pos:tpos] if iv.kind == "reduce"])
                    first_fallback = _partial_or(partial, first_call, seq(tile_init, fallback))
                    w = tz.tile_where
                    inner = IfThenElse(first,
                                       _where_or(w, _full_or(full, first_call, first_fallback),
                                                 tile_init),
                                       _where_or(w, _full_or(full, call, _partial_or(
                                           partial, call, fallback)), None))
                    nest = self._loops(st, leaves[:tpos], inner, guards)
        else:
            store = seq(*[BufferStore(b, transform(substitute(e, rmap), self._load_fn), store_idx)
                          for b, e in zip(bufs, info.bodies)])
            if pred is not None:
                store = IfThenElse(pred, store)
            if tpos is None:
                nest = self._loops(st, leaves, store, data_guards)
            else:
                out_op, in_ops, full, partial = Tensorizer(self, st, tpos).build(
                    rmap, values, guards, store_idx)
                ov = frozenset(iv.var for iv in leaves[:tpos])
                call = IntrinCall(self._intrin(st, tpos), "body", (out_op,), in_ops)
                fallback = self._loops(st, leaves[tpos:], store, data_guards, outer_vars=ov)
                fallback = _partial_or(partial, call, fallback)
                nest = self._loops(st, leaves[:tpos], _full_or(full, call, fallback), data_guards)
        if info.run_if is not None:
            nest = IfThenElse(info.run_if, nest)
        return StageRegion(st.name, nest)

    def _intrin(self, st, pos):
        return st.iter_attrs[id(st.leaf_iter_vars[pos])]["intrin"]

    def _loops(self, st, ivs, inner, guards, with_children=True, outer_vars=frozenset()):
        """Wrap `inner` in loops over ivs (outer first).

        Each guard goes right inside the innermost loop it needs; guards that need only
        `outer_vars` (bound by an enclosing call) are left to that call.
        """
        info = self.low.info[st]
        leaf_vars = {iv.var for iv in st.leaf_iter_vars}
        pos = {iv.var: k for k, iv in enumerate(ivs)}
        placed = defaultdict(list)
        top = []
        for g in guards:
            fv = free_vars(g) & leaf_vars
            if fv and fv <= outer_vars:
                continue
            if not fv:
                if not outer_vars:
                    top.append(g)
                continue
            if not fv <= (outer_vars | set(pos)):
                continue
            placed[max(pos[v] for v in fv if v in pos)].append(g)
        body = inner
        for k in range(len(ivs) - 1, -1, -1):
            iv = ivs[k]
            body = _guard(body, placed.get(k, []))
            attr = st.iter_attrs.get(id(iv), {})
            kind = LOOP_KIND[attr.get("kind")]
            kids = self.children.get((id(st), id(iv)), []) if with_children else []
            if kids:
                body = seq(*[self.stage_nest(c) for c in kids], body)
                for c in reversed(kids):
                    body = self._allocate(c, body)
            ext = info.extents[id(iv)]
            if not isinstance(ext, Const):     # data-dependent extents read buffers
                ext = transform(substitute(ext, self.low.data_maps.get(id(st), {})), self._load_fn)
            # imported code (import_c / import_llvm) goes to the module, not on the loop
            pragmas = tuple(p for p in attr.get("pragmas", ()) if p[0] not in IMPORT_PRAGMAS)
            if attr.get("thread") is not None:    # GPU thread mapping (lower/gpu/thread_binding.py)
                pragmas = (("thread", attr["thread"].thread_tag),) + pragmas
                if iv.kind == "reduce":           # lower/gpu/cross_thread_reduce.py
                    pragmas += (("cross_thread", info.body.combiner),)
            body = For(iv.var, Const(0, "int32"), ext, kind, body, pragmas)
        return _guard(body, top)


class _BufferSwap(Mutator):
    """Replace the buffers an extern op's fcompute was given by the kernel's buffers."""

    def __init__(self, swap):
        self.swap = swap

    def generic_visit(self, node):
        node = super().generic_visit(node)
        b = getattr(node, "buffer", None)
        if isinstance(b, Buffer) and id(b) in self.swap:
            node = node.replace(buffer=self.swap[id(b)])
        return node


def _tuple_update(bufs, values, idx):
    """Store the new values of a tuple reduction. Each value is computed from the old ones, so
    a buffer is written only after every value that reads it; when they read each other in a
    cycle, the new values go through registers first."""
    reads = [{k for k, b in enumerate(bufs) if k != j and any(
        isinstance(n, BufferLoad) and n.buffer is b for n in walk(v))} for j, v in enumerate(values)]
    order, done = [], set()
    while len(order) < len(bufs):
        ready = [k for k in range(len(bufs)) if k not in done and
                 all(k not in reads[j] for j in range(len(bufs)) if j != k and j not in done)]
        if not ready:
            regs = tuple(Var(f"{b.name}_new", b.dtype) for b in bufs)
            return DeclareVars(regs, seq(*[VarStore(r, v) for r, v in zip(regs, values)],
                                         *[BufferStore(b, VarLoad(r, r.dtype), idx)
                                           for b, r in zip(bufs, regs)]))
        order.append(ready[0])
        done.add(ready[0])
    return seq(*[BufferStore(bufs[k], values[k], idx) for k in order])


def _transform_each(x, fn):
    """transform of an expression, or of each of a tuple of them (a tuple reducer's parts)."""
    if isinstance(x, tuple):
        return tuple(transform(e, fn) for e in x)
    return transform(x, fn)


def _reductions_first(ivs):
    """The loops of a partial tile with its reduction loops outermost.

    Each output element still accumulates in the same order, so the result is bit-identical,
    but the innermost loops are now independent (no chain through one accumulator): the C
    compiler vectorizes them and the tails of a tensorized nest stay fast.
    """
    return [iv for iv in ivs if iv.kind == "reduce"] + [iv for iv in ivs if iv.kind != "reduce"]


def _all_zero(vars_):
    """vars_[0] == 0 && vars_[1] == 0 && ... (loops start at 0)."""
    cond = None
    for v in vars_:
        c = Cmp("==", v, Const(0, v.dtype))
        cond = c if cond is None else BinOp("&&", cond, c, "bool")
    return cond


def _partial_or(partial, call, fallback):
    """An incomplete tile: the intrinsic's partial form where the tile is incomplete only
    along the intrinsic's partial axes, else the loops."""
    if partial is None:
        return fallback
    extents, cond = partial
    part = IntrinCall(call.intrin, call.part, call.outputs, call.inputs, call.init, extents)
    return part if cond is None else IfThenElse(cond, part, fallback)


def _where_or(where, tile, otherwise):
    """The tile's reduction where its condition holds (it holds for the whole tile or for
    none of it: Tensorizer.tile_where), else `otherwise` (the tile's initialization, or
    nothing)."""
    if where is None:
        return tile
    return IfThenElse(where, tile, otherwise)


def _full_or(full, call, fallback):
    """The intrinsic on complete tiles, the scalar loops on partial ones (tails)."""
    if full is None:
        return call
    return IfThenElse(full, call, fallback)


def _guard(body, conds):
    if not conds:
        return body
    c = conds[0]
    for x in conds[1:]:
        c = BinOp("&&", c, x, "bool")
    return IfThenElse(c, body)


def _checked(i, d, tensor, load=BufferLoad):
    """Wrap an index computed from data (it contains a load) in a bounds check. `load` is the
    node type of a load there: TensorLoad in an inlined stage's body, BufferLoad after."""
    loads = [x for x in walk(i) if isinstance(x, load)]
    if not loads:
        return i
    src = loads[0] if isinstance(i, load) or len(loads) == 1 else None
    return CheckedIndex(i, tensor.shape[d], src, tensor.name, d, i.dtype)


def _tensor_name(st, k):
    """The buffer name of output k of a stage: its name, or name.v<k> for several outputs."""
    return st.name if st.op.num_outputs == 1 else f"{st.name}.v{k}"


def _sub(i, lo):
    if isinstance(lo, Const) and lo.value == 0:
        return i
    return i - lo


def schedule_to_stmt(sch, args, name, arg_buffers=None):
    """(ScheduleLowering, loop program). arg_buffers: the argument Buffers to use (the
    classes of a specialised schedule share one kernel's parameters)."""
    low = ScheduleLowering(sch, args, name, arg_buffers)
    body = NestBuilder(low).build()
    return low, body
