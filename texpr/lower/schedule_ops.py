"""From a Schedule to a loop program: inlining, bound inference and loop nest construction.

Stages attached with compute_at compute only the region their consumers need inside the
attach loop: we relax the consumers' inner loop variables to their ranges and take the
interval each access covers. Loops whose split factor may not divide, and regions that may
stick out of a tensor's domain, get guards; later passes remove the guards they can prove.
"""
from collections import defaultdict
import math

from ..lang import dtypes
from ..errors import LoweringError, ScheduleError
from ..lang.expr import BinOp, Cast, Cmp, Const, Reduce, TensorLoad, Var
from ..lang.hybrid_op import HybridOp
from ..lang.tensor import ComputeOp, PlaceholderOp, Tensor
from ..lang.visitor import free_vars, substitute, transform, walk
from ..schedule.relations import leaf_to_root, propagate_extents
from .analysis.arith import INF, Simplifier, const_bounds, interval, simplify
from ..lang.ir import (Allocate, Buffer, BufferLoad, BufferStore, CheckedIndex, For, IfThenElse,
                 IntrinCall, StageRegion, seq)
from .hybrid_nest import hybrid_nest
from .tensorize import Tensorizer

LOOP_KIND = {None: "serial", "vectorize": "vectorized", "unroll": "unrolled",
             "parallel": "parallel", "bind": "thread", "tensorize": "serial"}


class StageInfo:
    def __init__(self, stage):
        self.stage = stage
        self.buffer = None
        self.buffers = None     # multi-output ops: output index -> Buffer
        self.region = None      # [(min Expr, extent Expr)] per root data axis
        self.extents = None     # id(IterVar) -> loop extent Expr
        self.body = None        # body with inlined stages substituted

    def buffer_of(self, tensor):
        return self.buffers[tensor.value_index] if self.buffers else self.buffer


class ScheduleLowering:
    def __init__(self, sch, args, name):
        self.sch = sch
        self.name = name
        self.info = {}
        self.data_maps = {}
        self.args = self._check_args(args)
        self._inline()
        self._check_attach()
        self.shape_vars = self._shape_vars()
        self.const_ranges = {v: (0, INF) for v in self.shape_vars}
        self._make_buffers()
        self._infer_bounds()

    # ------------------------------------------------------------------ arguments
    def _check_args(self, args):
        if not isinstance(args, (list, tuple)):
            raise LoweringError("args must be a list of tensors (inputs and outputs)")
        out, seen = [], set()
        for k, t in enumerate(args):
            if not isinstance(t, Tensor):
                raise LoweringError(f"argument {k} is {t!r}; expected a tensor")
            try:
                st = self.sch[t]
            except ScheduleError:       # Schedule.__getitem__: the tensor has no stage here
                raise LoweringError(f"argument {k} ({t.name}) is not part of this schedule") from None
            key = (id(st), t.value_index)
            if key in seen:
                raise LoweringError(f"tensor {t.name} is given twice in args")
            seen.add(key)
            seen.add(id(st))
            if any(s is st for s in out):           # another output of a multi-output op
                continue
            if st.attach_type != "root" and isinstance(st.op, ComputeOp):
                raise LoweringError(f"tensor {t.name} is an argument, so stage {st.name} must be "
                                    "computed at the root (not inlined or compute_at)")
            out.append(st)
        self.arg_tensors = [t for t in args]
        for st in self.sch.stages:
            if st.is_output and id(st) not in seen:
                raise LoweringError(f"output {st.name} is not in args; pass it so the kernel can "
                                    "write it")
        return out

    def _inline(self):
        for st in self.sch.stages:
            info = self.info[st] = StageInfo(st)
            if isinstance(st.op, PlaceholderOp):
                continue
            info.body = transform(st.op.body, self._inline_fn)

    def _inline_fn(self, n):
        if isinstance(n, TensorLoad):
            st = self.sch.stage_map[n.tensor.op]
            if st.attach_type == "inline":
                body = self.info[st].body
                # an index read from data stays checked against the inlined tensor's extent
                # (inlining must not drop the error a materialized stage would raise)
                idx = [_checked(i, d, n.tensor, TensorLoad) for d, i in enumerate(n.indices)]
                return substitute(body, {iv.var: i for iv, i in zip(st.op.axis, idx)})
        return None

    def reads(self, st):
        """Stages whose buffers stage st reads (after inlining), in its body or loop bounds."""
        out = []
        exprs = [self.info[st].body] + [e for iv in st.op.reduce_axis
                                        for e in (iv.dom.min, iv.dom.extent)]
        for e in exprs:
            for n in walk(e):
                if isinstance(n, TensorLoad):
                    p = self.sch.stage_map[n.tensor.op]
                    if p not in out:
                        out.append(p)
        return out

    def _live_stages(self):
        return [st for st in self.sch.stages
                if isinstance(st.op, (ComputeOp, HybridOp)) and st.attach_type != "inline"]

    def _check_attach(self):
        live = self._live_stages()
        self.consumers = defaultdict(list)
        for st in live:
            for p in self.reads(st):
                self.consumers[p].append(st)
        arg_ids = {id(s) for s in self.args}
        for st in live:
            for p in self.reads(st):
                if isinstance(p.op, PlaceholderOp) and id(p) not in arg_ids:
                    raise LoweringError(f"placeholder {p.name} is read by stage {st.name} but is "
                                        "not in args")
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
        for t in self.arg_tensors:
            for d in t.shape:
                for v in sorted(free_vars(d), key=lambda v: v.name):
                    if v not in out:
                        out.append(v)
        known = set(out)
        for st in self._live_stages():
            loopvars = {iv.var for iv in st.all_iter_vars} | {iv.var for iv in st.op.axis} | \
                {iv.var for iv in st.op.reduce_axis} | getattr(st.op, "bound_vars", frozenset())
            shapes = [d for k in range(st.op.num_outputs) for d in _output_shape(st.op, k)]
            exprs = [self.info[st].body] + shapes + \
                [e for iv in st.op.reduce_axis for e in (iv.dom.min, iv.dom.extent)]
            for e in exprs:
                for v in free_vars(e):
                    if v not in known and v not in loopvars:
                        raise LoweringError(f"variable {v.name} used by stage {st.name} is not a "
                                            "dimension of any argument, so its value is unknown")
        return out

    # ------------------------------------------------------------------ buffers
    def _make_buffers(self):
        for t in self.arg_tensors:
            st = self.sch[t]
            if isinstance(st.op, HybridOp):
                info = self.info[st]
                info.buffers = dict(info.buffers or {})
                info.buffers[t.value_index] = Buffer(_output_name(st, t.value_index), t.dtype,
                                                     t.shape, "global", is_arg=True)
                info.buffer = info.buffers.get(0)
                continue
            t = st.origin_op.output(0)
            self.info[st].buffer = Buffer(st.name, t.dtype, t.shape, "global", is_arg=True)

    def arg_buffers(self):
        """The Buffer of each tensor argument, in call order."""
        return [self.info[self.sch[t]].buffer_of(t) for t in self.arg_tensors]

    # ------------------------------------------------------------------ bounds
    def _infer_bounds(self):
        live = self._live_stages()
        for st in reversed(live):
            info = self.info[st]
            if isinstance(st.op, HybridOp):
                self._hybrid_bounds(st, info)
                continue
            if st.attach_type == "scope":
                info.region = self._attached_region(st)
            else:
                info.region = [(Const(0, "int32"), d) for d in st.op.shape]
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
                info.buffer = Buffer(st.name, st.op.dtype, shape, st.scope)
                info.buffer.align = dict(st.storage_aligns)

    def _hybrid_bounds(self, st, info):
        """A hybrid stage writes its whole outputs; its leaf loops come from its axis loops."""
        info.extents = propagate_extents(st, {id(iv): iv.dom.extent for iv in st.op.axis})
        for iv in st.leaf_iter_vars:
            ub = self._const_ub(info.extents[id(iv)])
            self.const_ranges[iv.var] = (0, ub - 1 if ub != INF else INF)
        bufs = dict(info.buffers or {})
        for k in range(st.op.num_outputs):
            if k not in bufs:
                bufs[k] = Buffer(_output_name(st, k), st.op.output_dtype(k),
                                 st.op.output_shape(k), st.scope)
        info.buffers, info.buffer = bufs, bufs[0]

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
            if st.attach_type == "scope":
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
        q, x = st.attach_stage, st.attach_ivar
        xpos = next(k for k, iv in enumerate(q.leaf_iter_vars) if iv is x)
        accesses = []
        for c in self.consumers[st]:
            relax = {}
            cur = c
            while cur is not q:
                for iv in cur.leaf_iter_vars:
                    relax[iv.var] = self._leaf_range(cur, iv)
                cur = cur.attach_stage
            for iv in q.leaf_iter_vars[xpos + 1:]:
                relax[iv.var] = self._leaf_range(q, iv)
            if st.scope == "shared":
                relax.update(self._block_thread_ranges(q, xpos))
            rmap, _, _ = self.root_map(c)
            # regions of intermediate stages depend on their parents' vars: substitute them in
            for n in walk(self.info[c].body):
                if isinstance(n, TensorLoad) and self.sch.stage_map[n.tensor.op] is st:
                    idx = [substitute(i, rmap) for i in n.indices]
                    accesses.append((idx, relax))
        region = []
        for d, dom in enumerate(st.op.shape):
            lo_all, hi_all, ok = [], [], True
            for idx, relax in accesses:
                r = _relaxed(idx[d], relax)
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
                    region.append((Const(0, "int32"), dom))
                    continue
                ext = Const(ub, "int32")
            region.append((lo, ext))
        return region


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
            info = self.low.info[st]
            for b in reversed(list(info.buffers.values()) if info.buffers else [info.buffer]):
                if not b.is_arg:
                    body = Allocate(b, body)
        return body

    def _load_fn(self, n):
        if isinstance(n, TensorLoad):
            p = self.sch.stage_map[n.tensor.op]
            info = self.low.info[p]
            idx = tuple(_checked(i, d, n.tensor) for d, i in enumerate(n.indices))
            if info.region is None:          # placeholder argument, hybrid op
                return BufferLoad(info.buffer_of(n.tensor), idx, n.dtype)
            idx = tuple(_sub(i, lo) for i, (lo, _) in zip(idx, info.region))
            return BufferLoad(info.buffer_of(n.tensor), idx, n.dtype)
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

    def stage_nest(self, st):
        if isinstance(st.op, HybridOp):
            return hybrid_nest(self, st)
        if st.op.tag == "scan":
            return self.scan_nest(st)
        low = self.low
        info = low.info[st]
        rmap, values, guards = low.root_map(st)
        buf = info.buffer
        store_idx = tuple(values[id(iv)] for iv in st.op.axis)
        body = info.body
        leaves = st.leaf_iter_vars
        red_vars = {iv.var for iv in leaves if iv.kind == "reduce"}
        data_guards = [g for g in guards if not (free_vars(g) & red_vars)]
        tpos = next((k for k, iv in enumerate(leaves)
                     if st.iter_attrs.get(id(iv), {}).get("kind") == "tensorize"), None)
        if isinstance(body, Reduce):
            src = transform(substitute(body.source, rmap), self._load_fn)
            where = transform(substitute(body.where, rmap), self._load_fn)
            cur = BufferLoad(buf, store_idx, buf.dtype)
            upd = BufferStore(buf, body.combiner.combine(cur, src), store_idx)
            if not (isinstance(where, Const) and where.value is True):
                upd = IfThenElse(where, upd)
            init = BufferStore(buf, body.combiner.identity, store_idx)

            def reduce_nest(ivs, ov):
                rp = next(k for k, iv in enumerate(ivs) if iv.kind == "reduce")
                pre, post = ivs[:rp], ivs[rp:]
                ov2 = ov | frozenset(iv.var for iv in pre)
                init_nest = self._loops(st, [iv for iv in post if iv.kind != "reduce"], init,
                                        data_guards, with_children=False, outer_vars=ov2)
                upd_nest = self._loops(st, post, upd, guards, outer_vars=ov2)
                return self._loops(st, pre, seq(init_nest, upd_nest), guards, outer_vars=ov)

            if tpos is None:
                nest = reduce_nest(leaves, frozenset())
            else:
                red_pos = next(k for k, iv in enumerate(leaves) if iv.kind == "reduce")
                out_op, in_ops, full, partial = Tensorizer(self, st, tpos).build(
                    rmap, values, guards, store_idx)
                ov = frozenset(iv.var for iv in leaves[:tpos])
                if red_pos >= tpos:      # the whole reduction is inside the intrinsic
                    call = IntrinCall(self._intrin(st, tpos), "body", (out_op,), in_ops)
                    fallback = reduce_nest(_reductions_first(leaves[tpos:]), ov)
                    fallback = _partial_or(partial, call, fallback)
                    nest = self._loops(st, leaves[:tpos], _full_or(full, call, fallback), guards)
                else:                    # accumulate with the intrinsic's update
                    # A tile is set to the identity when the reduction loops outside the
                    # intrinsic are at their first iteration, inside the same nest (the
                    # intrinsic's body starts from zero in registers), not in a separate pass.
                    intrin = self._intrin(st, tpos)
                    call = IntrinCall(intrin, "update", (out_op,), in_ops)
                    fallback = self._loops(st, _reductions_first(leaves[tpos:]), upd, guards,
                                           outer_vars=ov)
                    tile_init = self._loops(st, [iv for iv in leaves[tpos:] if iv.kind != "reduce"],
                                            init, data_guards, with_children=False, outer_vars=ov)
                    first_call = IntrinCall(intrin, "first", (out_op,), in_ops, tile_init)
                    first = _all_zero([iv.var for iv in leaves[red_pos:tpos] if iv.kind == "reduce"])
                    first_fallback = _partial_or(partial, first_call, seq(tile_init, fallback))
                    inner = IfThenElse(first, _full_or(full, first_call, first_fallback),
                                       _full_or(full, call, _partial_or(partial, call, fallback)))
                    nest = self._loops(st, leaves[:tpos], inner, guards)
        else:
            value = transform(substitute(body, rmap), self._load_fn)
            store = BufferStore(buf, value, store_idx)
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
                    body = Allocate(self.low.info[c].buffer, body)
            ext = info.extents[id(iv)]
            if not isinstance(ext, Const):     # data-dependent extents read buffers
                ext = transform(substitute(ext, self.low.data_maps.get(id(st), {})), self._load_fn)
            pragmas = tuple(attr.get("pragmas", ()))
            if attr.get("thread") is not None:    # GPU thread mapping (lower/gpu/thread_binding.py)
                pragmas = (("thread", attr["thread"].thread_tag),) + pragmas
                if iv.kind == "reduce":           # lower/gpu/cross_thread_reduce.py
                    pragmas += (("cross_thread", info.body.combiner),)
            body = For(iv.var, Const(0, "int32"), ext, kind, body, pragmas)
        return _guard(body, top)


def _output_shape(op, k):
    return op.output_shape(k) if k else op.shape


def _output_name(st, k):
    """The buffer name of output k of a multi-output stage (output 0: the stage's name)."""
    return st.name if k == 0 else f"{st.name}_{k}"


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


def _sub(i, lo):
    if isinstance(lo, Const) and lo.value == 0:
        return i
    return i - lo


def schedule_to_stmt(sch, args, name):
    low = ScheduleLowering(sch, args, name)
    body = NestBuilder(low).build()
    return low, body
