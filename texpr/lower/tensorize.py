"""Tensorize: prove a loop nest computes an intrinsic's declaration, then call the intrinsic.

The loops from the tensorized axis inward are matched, in order, with the intrinsic's data and
reduction axes (same extents). The stage's expression, rewritten in the intrinsic's variables
and simplified with the loops' known ranges, must have the same shape as the declaration;
every tensor access must walk its tensor the way the matching placeholder is walked (same
coefficient for each intrinsic variable), which gives the region's first element and the
buffer dimension behind each placeholder dimension.
"""
from ..lang import dtypes
from ..errors import LoweringError
from ..lang.expr import BinOp, Call, Cast, Cmp, Const, Not, Reduce, Select, TensorLoad, Var
from ..lang.printer import to_str
from ..lang.visitor import free_vars, substitute
from .analysis.arith import Simplifier, from_linear, interval, linear_coeff, simplify
from ..lang.ir import IntrinCall, IntrinOperand


class _Mismatch(Exception):
    def __init__(self, found, expected):
        self.found, self.expected = found, expected


def _match(es, ei, pairs):
    """Structural match of stage expression es against intrinsic expression ei."""
    if isinstance(es, TensorLoad) and isinstance(ei, TensorLoad):
        if es.dtype != ei.dtype:
            raise _Mismatch(es, ei)
        pairs.append((es, ei))
        return
    if type(es) is not type(ei) or getattr(es, "dtype", None) != getattr(ei, "dtype", None):
        raise _Mismatch(es, ei)
    t = type(es)
    if t is Var:
        if es is not ei:
            raise _Mismatch(es, ei)
    elif t is Const:
        if es.value != ei.value:
            raise _Mismatch(es, ei)
    elif t in (BinOp, Cmp):
        if es.op != ei.op:
            raise _Mismatch(es, ei)
        n = len(pairs)
        try:
            _match(es.a, ei.a, pairs)
            _match(es.b, ei.b, pairs)
        except _Mismatch as first:
            if es.op not in ("+", "*", "min", "max", "==", "!=", "&&", "||"):
                raise
            del pairs[n:]
            try:                            # commutative: try the other order
                _match(es.a, ei.b, pairs)
                _match(es.b, ei.a, pairs)
            except _Mismatch:
                raise first from None
    elif t is Select:
        for a, b in ((es.cond, ei.cond), (es.t, ei.t), (es.f, ei.f)):
            _match(a, b, pairs)
    elif t is Cast:
        _match(es.value, ei.value, pairs)
    elif t is Not:
        _match(es.a, ei.a, pairs)
    elif t is Call:
        if es.name != ei.name or len(es.args) != len(ei.args):
            raise _Mismatch(es, ei)
        for a, b in zip(es.args, ei.args):
            _match(a, b, pairs)
    else:
        raise _Mismatch(es, ei)


class Tensorizer:
    """Builds the IntrinCall replacing the loops of `stage` from leaf position `pos` inward."""

    def __init__(self, nest, st, pos):
        self.nest = nest
        self.low = nest.low
        self.st = st
        self.pos = pos
        attr = st.iter_attrs[id(st.leaf_iter_vars[pos])]
        self.intrin = attr["intrin"]
        self.where = (f"tensorize of stage {st.name} at axis {st.leaf_iter_vars[pos].name} "
                      f"with intrinsic {self.intrin.name}")

    def fail(self, msg):
        raise LoweringError(f"{self.where}: {msg}")

    def build(self, rmap, values, guards, store_idx):
        """(output, inputs, full, partial) of the call; self.tile_where: a reduction's
        condition that holds for all or none of the tile (in the outer loops' variables), or
        None."""
        self.tile_where = None
        st, info, intrin = self.st, self.low.info[self.st], self.intrin
        iop = intrin.op
        inner = st.leaf_iter_vars[self.pos:]
        for iv in inner:
            if self.nest.children.get((id(st), id(iv))):
                kids = ", ".join(c.name for c in self.nest.children[(id(st), id(iv))])
                self.fail(f"stage(s) {kids} are computed inside the tensorized loops")
        data_l = [iv for iv in inner if iv.kind != "reduce"]
        red_l = [iv for iv in inner if iv.kind == "reduce"]
        if len(data_l) != len(iop.axis) or len(red_l) != len(iop.reduce_axis):
            self.fail(f"the tensorized loops ({self._loops_desc(inner)}) have {len(data_l)} data "
                      f"and {len(red_l)} reduction axes; the intrinsic has {len(iop.axis)} and "
                      f"{len(iop.reduce_axis)} ({self._intrin_axes()})")
        vmap, ranges = {}, dict(self.low.const_ranges)
        for l, a in list(zip(data_l, iop.axis)) + list(zip(red_l, iop.reduce_axis)):
            ext = info.extents[id(l)]
            want = a.dom.extent.value
            if not isinstance(ext, Const) or ext.value != want:
                self.fail(f"loop {l.name} has extent {ext} but the intrinsic's axis {a.name} has "
                          f"extent {want} (loops: {self._loops_desc(inner)}; intrinsic: "
                          f"{self._intrin_axes()})")
            vmap[l.var] = a.var - a.dom.min.value if a.dom.min.value else a.var
            ranges[a.var] = (a.dom.min.value, a.dom.min.value + want - 1)
        self.ivars = [a.var for a in list(iop.axis) + list(iop.reduce_axis)]
        self.iranges = [ranges[v] for v in self.ivars]
        simp = Simplifier(ranges)

        def rewrite(e):
            return simp(substitute(substitute(e, rmap), vmap))

        body = info.body
        ibody = iop.bodies[0]
        if isinstance(body, Reduce) != isinstance(ibody, Reduce):
            self.fail("one side is a reduction and the other is not\n" +
                      self._side_by_side(ibody, body, ibody, body))
        if isinstance(body, Reduce):
            if body.combiner.name != ibody.combiner.name or \
                    not body.combiner.identity.same_as(ibody.combiner.identity):
                self.fail(f"the reduction is {body.combiner.name}, the intrinsic's is "
                          f"{ibody.combiner.name}")
            where = rewrite(body.where)
            if not (isinstance(where, Const) and where.value is True):
                if free_vars(where) & set(self.ivars):
                    self.fail(f"the reduction has a condition (where={to_str(where)}) that "
                              "varies inside the tile; the intrinsic has none")
                # the same for the whole tile: the tile is reduced or left at the identity
                self.tile_where = where
            src, isrc = rewrite(body.source), ibody.source
        else:
            src, isrc = rewrite(body), ibody
        pairs = []
        try:
            _match(src, isrc, pairs)
        except _Mismatch as m:
            self.fail("the computation does not match\n" +
                      self._side_by_side(isrc, src, m.expected, m.found))
        bound = {}
        inputs = []
        for es, ei in pairs:
            op = self._operand(es.tensor, [simp(i) for i in es.indices], ei, simp)
            prev = bound.get(id(ei.tensor.op))
            if prev is not None:
                if prev.buffer is not op.buffer or prev.dims != op.dims or \
                        not all(a.same_as(b) for a, b in zip(prev.indices, op.indices)):
                    self.fail(f"placeholder {ei.tensor.name} is read from two different regions")
                continue
            bound[id(ei.tensor.op)] = op
        for t in intrin.inputs:
            if id(t.op) not in bound:
                self.fail(f"placeholder {t.name} of the intrinsic is not used by the stage")
            inputs.append(bound[id(t.op)])
        out_idx = [simp(substitute(i, vmap)) for i in store_idx]
        out_load = TensorLoad(intrin.output, tuple(a.var for a in iop.axis), iop.dtype)
        if info.buffer.dtype != iop.dtype:
            self.fail(f"the stage computes {info.buffer.dtype}, the intrinsic {iop.dtype}")
        output = self._operand_for_buffer(info.buffer, out_idx, out_load, simp, st.name, None)
        full = self._full_tile_condition(guards, vmap, ranges)
        partial = self._partial_extents(guards, vmap, ranges) if full is not None else None
        return output, tuple(inputs), full, partial

    # ------------------------------------------------------------------ operands
    def _operand(self, tensor, idx, iload, simp):
        p = self.low.sch.stage_map[tensor.op]
        info = self.low.info[p]
        region = info.region
        return self._operand_for_buffer(info.buffer, idx, iload, simp, tensor.name, region)

    def _affine(self, e):
        """(coefficient of each intrinsic variable, the rest) or None if e is not affine."""
        cs, rest = [], e
        for v in self.ivars:
            lc = linear_coeff(rest, v)
            if lc is None:
                return None
            c, r = lc
            cs.append(c)
            rest = from_linear(r, "int32")
        return tuple(cs), simplify(rest)

    def _structural(self, idx, used, ie, simp):
        """A stage dimension d (not in used) whose index is the placeholder's index ie plus
        a shift free of the intrinsic's variables (a non-affine index such as i // 2 that
        both sides write alike): (d, shift), or None."""
        ivars = set(self.ivars)
        for d, i in enumerate(idx):
            if d in used:
                continue
            shift = simp(i - simp(ie))
            if not (free_vars(shift) & ivars):
                return d, shift
        return None

    def _check_offset_read(self, iload, e, coeffs, offset):
        """A read at an offset (index e = sum coeffs * axes + offset) stays inside the
        placeholder's extent, so that the region checked at its start covers it."""
        lo = hi = offset
        for c, (a, b) in zip(coeffs, self.iranges):
            lo, hi = lo + min(c * a, c * b), hi + max(c * a, c * b)
        ext = iload.tensor.shape[e]
        if lo < 0 or not isinstance(ext, Const) or hi >= ext.value:
            self.fail(f"placeholder {iload.tensor.name}: index {to_str(iload.indices[e])} reaches "
                      f"[{lo}, {hi}], outside its dimension {e} of extent {to_str(ext)}")

    def _operand_for_buffer(self, buf, idx, iload, simp, name, region):
        pname = iload.tensor.name
        cs_s = [self._affine(i) for i in idx]
        cs_i = [self._affine(i) for i in iload.indices]
        dims, used, shifts, offsets = [], set(), {}, {}
        pshape = iload.tensor.shape
        for e, aff in enumerate(cs_i):
            if aff is None:
                found = self._structural(idx, used, iload.indices[e], simp)
                if found is None:
                    self.fail(f"placeholder {pname}: index {to_str(iload.indices[e])} is not "
                              f"affine in the intrinsic's axes, and no index of tensor {name} "
                              f"({', '.join(to_str(i) for i in idx)}) equals it up to a shift")
                d, shifts[d] = found
                used.add(d)
                dims.append(d)
                continue
            ci, bi = aff
            # a constant offset (a[2 * k + 1]: a placeholder read at two places) moves the
            # region's start back by it, so that every read of it names the same region
            if not isinstance(bi, Const) or (bi.value != 0 and not any(ci)):
                self.fail(f"placeholder {pname}: index {to_str(iload.indices[e])} has an offset; "
                          "declare intrinsics with indices that start at 0")
            if not any(ci):
                if isinstance(pshape[e], Const) and pshape[e].value == 1:
                    dims.append(None)
                    continue
                self.fail(f"placeholder {pname}: dimension {e} does not depend on the intrinsic's axes")
            d = next((d for d, a in enumerate(cs_s) if d not in used and a is not None and
                      a[0] == ci), None)
            if d is None:
                self.fail(f"tensor {name} is read as {name}[{', '.join(to_str(i) for i in idx)}], "
                          f"which does not walk its dimensions like the intrinsic's "
                          f"{pname}[{', '.join(to_str(i) for i in iload.indices)}]")
            used.add(d)
            dims.append(d)
            if bi.value:
                self._check_offset_read(iload, e, ci, bi.value)
                offsets[d] = bi
        for d, a in enumerate(cs_s):
            if d in used:
                continue
            if a is None:
                self.fail(f"tensor {name}: index {to_str(idx[d])} is not affine in the "
                          "tensorized loops")
            if any(a[0]):
                self.fail(f"tensor {name}: dimension {d} depends on the tensorized loops in a way "
                          f"placeholder {pname} does not")
        base = [shifts[d] if d in shifts else simplify(a[1] - offsets[d]) if d in offsets else a[1]
                for d, a in enumerate(cs_s)]
        if region is not None:
            base = [simplify(b - lo) if not (isinstance(lo, Const) and lo.value == 0) else b
                    for b, (lo, _) in zip(base, region)]
        return IntrinOperand(buf, tuple(base), tuple(dims))

    # ------------------------------------------------------------------ tails
    def _full_tile_condition(self, guards, vmap, ranges):
        """Condition (outer vars only) under which every guard inside the tile holds."""
        from .cpu.loop_partition import as_le_zero
        relax = {v: (Const(lo, "int32"), Const(hi, "int32")) for v, (lo, hi) in ranges.items()
                 if v in set(self.ivars)}
        conds = []
        inner_vars = set(vmap)
        for g in guards:
            if not (free_vars(g) & inner_vars):
                continue
            d = as_le_zero(substitute(g, vmap))
            r = interval(simplify(d), relax) if d is not None else None
            if r is None:
                self.fail(f"cannot tell when the tile is complete from the guard {to_str(g)}")
            c = simplify(r[1] <= 0, self.low.const_ranges)
            if isinstance(c, Const) and c.value is True:
                continue
            conds.append(c)
        if not conds:
            return None
        out = conds[0]
        for c in conds[1:]:
            out = BinOp("&&", out, c, "bool")
        return out

    def _partial_extents(self, guards, vmap, ranges):
        """(extents, condition) for an incomplete tile when the intrinsic takes partial tiles:
        the valid elements along each output axis, from the guards that bound one of its
        partial axes from above (`a + rest <= 0`: a runs over [0, 1 - rest)), and the
        condition (None: always) under which every other guard holds for the whole tile;
        None when no guard bounds a partial axis (plain loops)."""
        from .cpu.loop_partition import as_le_zero
        iop = self.intrin.op
        if not self.intrin.partial_axes or any(a.dom.min.value for a in iop.axis):
            return None
        ext = [Const(a.dom.extent.value, "int32") for a in iop.axis]
        inner_vars = set(vmap)
        others, bounded = [], False
        for g in guards:
            if not (free_vars(g) & inner_vars):
                continue
            bound = self._upper_bound(as_le_zero(substitute(g, vmap)))
            if bound is None:
                others.append(g)
                continue
            i, count = bound
            ext[i] = simplify(BinOp("min", ext[i], count, "int32"), self.low.const_ranges)
            bounded = True
        if not bounded:
            return None
        return tuple(ext), self._full_tile_condition(others, vmap, ranges)

    def _upper_bound(self, d):
        """(axis, count) if `d <= 0` says: partial axis `axis` < count; else None."""
        if d is None:
            return None
        rest, coeffs = simplify(d), []
        for v in self.ivars:
            lc = linear_coeff(rest, v)
            if lc is None:
                return None
            coeffs.append(lc[0])
            rest = from_linear(lc[1], "int32")
        moving = [(i, c) for i, c in enumerate(coeffs) if c]
        if len(moving) != 1 or moving[0][1] != 1 or moving[0][0] not in self.intrin.partial_axes:
            return None                                   # (data axes come first in ivars)
        return moving[0][0], BinOp("max", Const(0, "int32"), simplify(Const(1, "int32") - rest),
                                   "int32")

    # ------------------------------------------------------------------ messages
    def _loops_desc(self, ivs):
        return ", ".join(f"{iv.name}:{self.low.info[self.st].extents[id(iv)]}" for iv in ivs)

    def _intrin_axes(self):
        op = self.intrin.op
        return ", ".join(f"{a.name}:{a.dom.extent}" for a in list(op.axis) + list(op.reduce_axis))

    def _side_by_side(self, expected, found, sub_e, sub_f):
        e, f = to_str(expected), to_str(found)
        out = f"  expected: {e}\n  found:    {f}"
        if sub_e is not expected or sub_f is not found:
            out += f"\n  first difference: expected {to_str(sub_e)}, found {to_str(sub_f)}"
        return out
