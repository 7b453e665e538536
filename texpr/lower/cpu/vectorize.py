"""Vectorization: a loop marked vectorized becomes vector expressions over its lanes.

The loop variable becomes a Ramp; loads and stores whose index is a unit-stride Ramp become
vector loads/stores, others gathers/scatters. When the body cannot be vectorized safely (a
store whose address does not depend on the lane, a lane-dependent branch, ...), the loop
stays a scalar loop: vectorize never changes results.

With `masked=True` (targets with masked loads/stores, AVX-512) a lane-dependent tail guard
`if (base + lane < bound) body` becomes `if (base < bound) body'` where every vector store and
load of body' carries the predicate `ramp(base, 1, n) < bound`: inactive lanes are neither
read nor written. Without it such a guard is run lane by lane. `masked` may also be a
function (element bits, vector bits) -> bool (Target.masked_access: AVX2 masks only vectors of
32- and 64-bit elements): a tail with an access it refuses is run lane by lane.

With `lane_ops=True` (targets whose emitter has them: the CPU targets and HVX) shifts and
bitwise operators become
vector operators too, and a lane-dependent `select(a cmp b, t, f)` becomes a vector compare
and select when it is safe to compute both branches for every lane: each load in t and f is
also a load of the condition (so it was made for every lane anyway) and the compared values
have the select's element width.

With `vector_math=True` (targets with texpr's vector math library, targets/vecmath) a float32
call of one of its functions (exp, log, tanh, erf, pow, sin, ...) becomes a vector call; other
calls keep their lanes scalar (libm). Where a vectorized loop stays scalar (a tail of unknown
or odd extent, lanes run one by one) its calls become LaneMathCall: the same code in scalars.

A scalar accumulation in the loop, `m = m op e(lane)` with an integer m that nothing else in
the body reads or writes (op + * & | ^ min max: exact in any order), becomes
`m = m op lanes_op(e's vector)` (ir.LaneReduce; `m | (1 << lane if a cmp b else 0)` is one
movemask on x86: a hybrid script's mask of the lanes that pass a test). A float sum stays a
scalar loop (its rounding would change).

The vector body runs each statement for all lanes in turn, where the loop ran all statements
lane after lane; the two agree only where no two lanes meet in an element that one of them
writes. A buffer the body writes is accessed at one index in every lane (S.rf[lane * 16 +
i]), or at unit Ramps that never name one element in two lanes (out[2l], out[2l + 1]); else
the whole loop stays scalar (check_lane_order: out[l] = a[l]; out[15 - l] = b[l]). A store
or branch that cannot be vectorized runs lane by lane on its own only where its lanes may
run before the rest of the body's: nothing else in the body reads or writes what it writes,
or writes what it reads, unless each lane has its own element of it; else the whole loop
stays scalar.
"""
import itertools

from ...lang import dtypes
from ...lang.expr import (VECTOR_MATH, BinOp, Call, Cast, Cmp, Const, LaneMathCall, Not, Select,
                          Var, structural_equal)
from ...lang.visitor import StmtMutator, map_children, transform, walk
from ..analysis.patterns import saturating_narrow
from ..analysis.arith import conjuncts, simplify
from ...lang.ir import (Allocate, Broadcast, BufferLoad, BufferStore, CheckedIndex, DeclareVars,
                        For, IfThenElse, LaneReduce, Ramp, Seq, StageRegion, Stmt, VarLoad,
                        VarStore, seq)


class CannotVectorize(Exception):
    pass


def vectorize_loops(stmt, vector_bits=256, masked=False, lane_ops=False, float_vectors=True,
                    narrow_lanes=False, vector_math=False):
    """float_vectors=False (a target without float vector arithmetic, HVX v67): a vectorized
    loop that computes with floats stays a scalar loop. narrow_lanes (HVX): see _max_bits.
    masked: see the module docstring."""
    return _Vectorize(vector_bits, mask_rule(masked), lane_ops, float_vectors, narrow_lanes,
                      vector_math).visit(stmt)


def mask_rule(masked):
    """`masked` as a function (element bits, vector bits) -> bool, or None (no masks)."""
    if callable(masked):
        return masked
    return (lambda element_bits, vector_bits: True) if masked else None


def maskable(f, vector_bits, masked, narrow_lanes=False):
    """Whether every load and store of vectorized loop f has masked vectors (`masked`: as
    vectorize_loops's) at the lanes the vectorizer gives it, so that a tail guard of f is
    better left to the vectorizer than split off (loop_partition)."""
    rule = mask_rule(masked)
    if rule is None or not isinstance(f.extent, Const):
        return False
    width = max(1, vector_bits // _max_bits(f.body, narrow_lanes))
    lanes = min(f.extent.value, width)
    if f.extent.value % lanes or lanes & (lanes - 1):
        return False        # stays a scalar loop (_vectorize_for): the tail is split off
    return all(rule(dtypes.bits(n.buffer.dtype), lanes * dtypes.bits(n.buffer.dtype))
               for n in walk(f.body) if isinstance(n, (BufferLoad, BufferStore)))


class _Vectorize(StmtMutator):
    def __init__(self, vector_bits, masked, lane_ops, float_vectors, narrow_lanes, vector_math):
        self.vector_bits, self.masked, self.lane_ops = vector_bits, masked, lane_ops
        self.float_vectors, self.narrow_lanes = float_vectors, narrow_lanes
        self.vector_math = vector_math
        self.private = ()     # buffers allocated inside the innermost parallel loop around

    def visit_Allocate(self, s):
        outer, self.private = self.private, self.private + (s.buffer,)
        try:
            return self.generic_visit(s)
        finally:
            self.private = outer

    def visit_For(self, s):
        outer = self.private
        if s.kind == "parallel":    # what is allocated outside is shared by its threads
            self.private = ()
        try:
            s = self.generic_visit(s)
        finally:
            self.private = outer
        if s.kind != "vectorized":
            return s
        if not self.float_vectors and _uses_floats(s.body):
            return For(s.var, s.min, s.extent, "serial", s.body, s.pragmas)
        out = _vectorize_for(s, self.vector_bits, self.masked, self.lane_ops, self.narrow_lanes,
                             self.vector_math, self.private)
        return lane_math_calls(out) if self.vector_math else out


def lane_math_calls(stmt):
    """The float32 VECTOR_MATH calls still scalar in a vectorized loop become LaneMathCall."""
    def fn(n):
        if type(n) is Call and n.dtype == "float32" and n.name in VECTOR_MATH:
            return LaneMathCall(n.name, n.args, n.dtype)
        return None
    return transform(stmt, fn)


def _uses_floats(body):
    return any(isinstance(getattr(n, "dtype", None), str) and n.dtype != "bool"
               and dtypes.is_float(n.dtype) for n in walk(body))


def _max_bits(body, narrow_lanes=False):
    """Widest data element in the stored values (index arithmetic does not count).

    With narrow_lanes, a saturating narrowing `narrow(clamp(x, narrow min, narrow max))` counts
    as its narrow type (such targets compute it in narrow lanes: HVX vadd:sat, vpack:sat)."""
    bits = [8]

    def value(e):
        dt = getattr(e, "dtype", None)
        if narrow_lanes and saturating_narrow(e) is not None:
            bits.append(dtypes.bits(dt))
            for n in walk(e.value):           # what the wide part reads still counts
                if isinstance(n, BufferLoad):
                    bits.append(dtypes.bits(n.dtype))
            return
        if isinstance(dt, str) and dt != "bool":
            bits.append(dtypes.bits(dt))
        if isinstance(e, BufferLoad):
            return
        for name in e._children:
            v = getattr(e, name)
            for c in (v if isinstance(v, tuple) else (v,)):
                if c is not None and not isinstance(c, Stmt):
                    value(c)

    for n in walk(body):
        if isinstance(n, BufferStore):
            bits.append(dtypes.bits(n.buffer.dtype))
            value(n.value)
    return max(bits)


def _vectorize_for(f, vector_bits, masked=False, lane_ops=False, narrow_lanes=False,
                   vector_math=False, private=()):
    lanes = f.extent.value if isinstance(f.extent, Const) else None
    if lanes is None:
        return For(f.var, f.min, f.extent, "serial", f.body, f.pragmas)
    width = max(1, vector_bits // _max_bits(f.body, narrow_lanes))
    if lanes > width and lanes % width == 0:
        # legalize: lanes/width vector chunks of the machine width
        outer = Var(f.var.name + "_v")
        from ...lang.visitor import substitute
        inner_var = Var(f.var.name)
        body = substitute(f.body, {f.var: f.min + outer * width + inner_var})
        inner = _vectorize_for(For(inner_var, Const(0, "int32"), Const(width, "int32"),
                                   "vectorized", body, f.pragmas), vector_bits,
                               masked, lane_ops, narrow_lanes, vector_math, private)
        return seq(*[_subst_stmt(inner, outer, k) for k in range(lanes // width)])
    if lanes & (lanes - 1):
        # C vector types need a power-of-two lane count: keep odd extents scalar
        return For(f.var, f.min, f.extent, "serial", f.body, f.pragmas)
    try:
        if any(isinstance(n, (StageRegion, Allocate)) for n in walk(f.body)):
            raise CannotVectorize   # another stage nested in the lanes: keep it scalar
        v = Vectorizer(f.var, f.min, lanes, masked, lane_ops, vector_math, private, f.body)
        v.check_lane_order()
        return v.stmt(f.body)
    except CannotVectorize:
        return For(f.var, f.min, f.extent, "serial", f.body, f.pragmas)


#: the operators of a scalar accumulation that a vectorized loop combines across its lanes
LANE_REDUCIBLE = ("+", "*", "&", "|", "^", "min", "max")


def _lane_reductions(body, var, reads, writes):
    """{id(statement): op} of the scalar accumulations in a vectorized loop's body (over
    `var`; reads / writes: _accesses of the body) that its lanes may compute at once,
    `m = m op lanes_op(e's vector)`: a register variable (VarStore) or a buffer element whose
    index does not move with the lanes (a hybrid script's local) updated as `m = m op e`,
    with m an integer (exact in any order of combination, as a float sum is not), e free of
    m, and m neither read nor written anywhere else in the body (no lane sees another's
    partial value)."""
    out = {}
    for s in walk(body):
        if type(s) is VarStore:
            key = s.var
        elif type(s) is BufferStore and s.predicate is None:
            key = s.buffer
        else:
            continue
        e = s.value
        if writes[key] != 1 or reads.get(key) != 1 or type(e) is not BinOp or \
                e.op not in LANE_REDUCIBLE or not dtypes.is_int(e.dtype) or \
                dtypes.is_bool(e.dtype) or dtypes.lanes(e.dtype) != 1:
            continue
        if any(_is_accumulator(s, x, var) for x in (e.a, e.b)):
            out[id(s)] = e.op
    return out


def _accesses(stmt, indices=None):
    """({buffer or register variable: loads}, {...: stores}) of stmt; indices (a dict):
    filled with {buffer: [indices of each load and store]}."""
    reads, writes = {}, {}
    for n in walk(stmt):
        t = type(n)
        if t is BufferLoad or t is VarLoad:
            key = n.buffer if t is BufferLoad else n.var
            reads[key] = reads.get(key, 0) + 1
        elif t is BufferStore or t is VarStore:
            key = n.buffer if t is BufferStore else n.var
            writes[key] = writes.get(key, 0) + 1
        else:
            continue
        if indices is not None and t in (BufferLoad, BufferStore):
            indices.setdefault(key, []).append(n.indices)
    return reads, writes


def _lanes_apart(x, y, lanes):
    """Whether vector indices x and y never name one element in two different lanes: the
    same index, or Ramps of one constant stride whose bases differ by a constant that no
    lane difference (below `lanes`) times the stride makes."""
    if x.same_as(y):
        return True
    if not (isinstance(x, Ramp) and isinstance(y, Ramp) and isinstance(x.stride, int)
            and x.stride == y.stride and x.stride != 0):
        return False
    d = simplify(y.base - x.base)
    if not isinstance(d, Const):
        return False
    q, r = divmod(d.value, x.stride)
    return r != 0 or q == 0 or abs(q) >= lanes


def _is_accumulator(s, x, var):
    """Whether x reads what the store s writes, at an index free of the loop variable."""
    if type(s) is VarStore:
        return type(x) is VarLoad and x.var is s.var
    return type(x) is BufferLoad and x.buffer is s.buffer and len(s.indices) == 1 and \
        structural_equal(x.indices[0], s.indices[0]) and \
        not any(n is var for n in walk(s.indices[0]))


def simplify_body(s):
    from ..simplify_pass import simplify_stmt
    return simplify_stmt(s)


def _subst_stmt(s, var, k):
    """One chunk of a legalized vector loop (the simplify pass after vectorization tidies it)."""
    from ...lang.visitor import substitute
    return substitute(s, {var: Const(k, "int32")})


def _vec_dtype(dt, lanes):
    return dtypes.with_lanes(dt, lanes)


def _lanes(e):
    return dtypes.lanes(e.dtype)


class Vectorizer:
    def __init__(self, var, vmin, lanes, masked=False, lane_ops=False, vector_math=False,
                 private=(), body=None):
        self.var = var
        # what the loop's body reads and writes, where (_accesses), and its accumulations
        self.body_indices = {}
        self.body_reads, self.body_writes = _accesses(body, self.body_indices) \
            if body is not None else ({}, {})
        self.reductions = _lane_reductions(body, var, self.body_reads, self.body_writes) \
            if body is not None else {}
        self.private = private  # buffers this thread allocated (see _whole_private)
        self.lane_ops = lane_ops    # vector shifts, bitwise ops and compare+select
        self.vector_math = vector_math  # float32 calls of VECTOR_MATH become vector calls
        self.ramp = Ramp(vmin, 1, lanes, _vec_dtype("int32", lanes))
        self.lanes = lanes
        self.stores = {}
        self.masked = mask_rule(masked)     # which vectors have masked loads/stores
        self.pred = None        # inside a masked tail: the predicate of the active lanes
        self.store_target = None    # the (scalar) load of the element the store writes
        self.select_loads = []      # the loads of the enclosing lane selects' conditions

    def bcast(self, e):
        if _lanes(e) == self.lanes:
            return e
        if _lanes(e) != 1:
            raise CannotVectorize
        return Broadcast(e, self.lanes, _vec_dtype(e.dtype, self.lanes))

    def expr(self, e):
        t = type(e)
        if t is Var:
            return self.ramp if e is self.var else e
        if t is Const:
            return e
        if t is BinOp:
            a, b = self.expr(e.a), self.expr(e.b)
            if _lanes(a) == 1 and _lanes(b) == 1:
                return e if (a is e.a and b is e.b) else BinOp(e.op, a, b, e.dtype)
            if e.op in ("+", "-") and isinstance(a, Ramp) and _lanes(b) == 1:
                return Ramp(simplify(BinOp(e.op, a.base, b, a.base.dtype)), a.stride, a.lanes, a.dtype)
            if e.op == "+" and isinstance(b, Ramp) and _lanes(a) == 1:
                return Ramp(simplify(BinOp("+", a, b.base, b.base.dtype)), b.stride, b.lanes, b.dtype)
            if e.op in ("+", "-") and isinstance(a, Ramp) and isinstance(b, Ramp):
                s = a.stride + b.stride if e.op == "+" else a.stride - b.stride
                return Ramp(simplify(BinOp(e.op, a.base, b.base, a.base.dtype)), s, a.lanes, a.dtype)
            if e.op == "*" and isinstance(a, Ramp) and isinstance(b, Const):
                return Ramp(simplify(a.base * b), a.stride * b.value, a.lanes, a.dtype)
            if e.op == "*" and isinstance(b, Ramp) and isinstance(a, Const):
                return Ramp(simplify(b.base * a), b.stride * a.value, b.lanes, b.dtype)
            if e.op in ("<<", ">>", "&", "|", "^") and self.lane_ops:
                pass
            elif e.op in ("&&", "||", "//", "%", "tdiv", "tmod", "<<", ">>", "&", "|", "^"):
                raise CannotVectorize
            return BinOp(e.op, self.bcast(a), self.bcast(b), _vec_dtype(e.dtype, self.lanes))
        if t is BufferLoad:
            idx = self.expr(e.indices[0])
            if _lanes(idx) == 1:
                return e if idx is e.indices[0] else BufferLoad(e.buffer, (idx,), e.dtype)
            if self.pred is not None:
                if not isinstance(idx, Ramp) or idx.stride not in (0, 1):
                    raise CannotVectorize   # a gather would read inactive lanes' addresses
                if idx.stride == 1 and not self._whole_private(e.buffer, idx):
                    self._check_mask(e.dtype)
                    return BufferLoad(e.buffer, (idx,), _vec_dtype(e.dtype, self.lanes), self.pred)
            return BufferLoad(e.buffer, (idx,), _vec_dtype(e.dtype, self.lanes))
        if t is Cast:
            v = self.expr(e.value)
            if _lanes(v) == 1:
                return e if v is e.value else Cast(v, e.dtype)
            if isinstance(v, Ramp):
                v = _materialize(v)
            return Cast(v, _vec_dtype(e.dtype, self.lanes))
        if t is Broadcast or t is Ramp:
            raise CannotVectorize
        if t is Select and not any(n is self.var for n in walk(e.cond)):
            # one condition for all lanes: a choice between two vectors (C's ?: evaluates
            # only the chosen one, as the scalar loop did)
            a, b = self.expr(e.t), self.expr(e.f)
            if _lanes(a) == 1 and _lanes(b) == 1:
                return e if (a is e.t and b is e.f) else Select(e.cond, a, b, e.dtype)
            if isinstance(a, Ramp):
                a = _materialize(a)
            if isinstance(b, Ramp):
                b = _materialize(b)
            return Select(e.cond, self.bcast(a), self.bcast(b), _vec_dtype(e.dtype, self.lanes))
        if t is Select and self.lane_ops:
            v = self._lane_select(e)
            if v is None and self.masked and self.pred is None:
                v = self._masked_select(e)
            if v is not None:
                return v
        if t is Call and self.vector_math and e.name in VECTOR_MATH and e.dtype == "float32":
            args = [self._value(a) for a in e.args]
            if any(_lanes(a) != 1 for a in args):
                return Call(e.name, tuple(self.bcast(a) for a in args),
                            _vec_dtype(e.dtype, self.lanes))
            return e
        # Select, Cmp, Call, Not, loads of other kinds: vectorize only if lane-invariant
        for n in walk(e):
            if n is self.var:
                raise CannotVectorize
        return e

    def _lane_select(self, e):
        """select(a cmp b, t, f) with a lane-dependent condition as a vector select, or None
        when computing both branches for every lane could read what the scalar code would not."""
        c = e.cond
        if isinstance(c, Not) and isinstance(c.a, Cmp):     # select(!c, t, f): select(c, f, t)
            return self._lane_select(Select(c.a, e.f, e.t, e.dtype))
        if not (isinstance(c, Cmp) and dtypes.bits(c.a.dtype) == dtypes.bits(e.dtype)
                and c.a.dtype != "bool" and e.dtype != "bool"):
            return None
        # what every lane reads already: this condition, an enclosing lane select's (its
        # branches are computed for every lane; argmax's NaN test nests selects whose
        # conditions read one operand each)
        cond_loads = [n for n in walk(c) if isinstance(n, BufferLoad)] + self.select_loads
        if self.store_target is not None:   # the store writes it, so every lane may read it
            cond_loads.append(self.store_target)
        for n in walk(e.t), walk(e.f):
            for x in n:
                if isinstance(x, BufferLoad) and not any(_reads_within(x, y) for y in cond_loads):
                    return None
                if isinstance(x, CheckedIndex) or (isinstance(x, BinOp) and x.op in (
                        "//", "%", "tdiv", "tmod", "/")):
                    return None
        a, b = self.bcast(self._value(c.a)), self.bcast(self._value(c.b))
        outer, self.select_loads = self.select_loads, cond_loads
        try:
            t, f = self.bcast(self._value(e.t)), self.bcast(self._value(e.f))
        finally:
            self.select_loads = outer
        cmp = Cmp(c.op, a, b, _vec_dtype("bool", self.lanes))
        return Select(cmp, t, f, _vec_dtype(e.dtype, self.lanes))

    def _masked_select(self, e):
        """select(inv && base + lane < bound, t, f) (the padding test of a copy's last
        vector) as select(inv && base < bound, select(lanes < bound, t', f), f), t'
        vectorized with its loads masked to the active lanes (a masked load reads nothing
        for the others), or None when the select has another form (or t could trap or
        check an index in an inactive lane). Where _lane_select does not apply (t reads
        what the condition does not), the lanes ran one by one."""
        if any(n is self.var for n in walk(e.f)):
            return None
        for x in walk(e.t):     # computed for every lane: nothing that traps or checks
            if isinstance(x, CheckedIndex) or (isinstance(x, BinOp) and x.op in (
                    "//", "%", "tdiv", "tmod") or (isinstance(x, BinOp) and x.op == "/"
                                                   and not dtypes.is_float(x.dtype))):
                return None
        terms = [self._whole_vector_bound(c) for c in conjuncts(e.cond)]
        if any(c is None for c in terms):
            return None
        found = self._lane_bound(terms)
        if found is None:
            return None
        term, ramp, bound = found
        # lanes < bound - base: a constant vector compared with one broadcast (the ramp's
        # lanes built one by one cost more than the select's load), the same lane count
        # for the masked loads
        pred = _lanes_below(simplify(bound - ramp.base), self.lanes, e.dtype)
        if pred is None:
            return None
        self.pred = pred
        try:
            tv = self._value(e.t)
        except CannotVectorize:
            return None
        finally:
            self.pred = None
        f = self.bcast(self._value(e.f))
        v = Select(pred, self.bcast(tv), f, _vec_dtype(e.dtype, self.lanes))
        # t' only where lane 0 is active (then its lane-invariant loads are made exactly
        # when the scalar code made them), as _masked_tail
        cond = None
        for c in [c for c in terms if c is not term] + [Cmp("<", ramp.base, bound, "bool")]:
            cond = c if cond is None else BinOp("&&", cond, c, "bool")
        return Select(cond, v, f, _vec_dtype(e.dtype, self.lanes))

    def _whole_vector_bound(self, c):
        """A lower bound `base + lane >= lo` whose lo - base is a multiple of the lanes holds
        for every lane or for none: the lane-invariant `base >= lo` (a copy's left padding,
        whole vectors); other terms as they are; None where such a bound is not whole
        vectors."""
        if not (isinstance(c, Cmp) and c.op in (">=", "<=") and any(n is self.var
                                                                    for n in walk(c))):
            return c
        a, b = (c.a, c.b) if c.op == ">=" else (c.b, c.a)
        try:
            ramp, lo = self.expr(a), self.expr(b)
        except CannotVectorize:
            return None
        if not (isinstance(ramp, Ramp) and ramp.stride == 1 and _lanes(lo) == 1):
            return c
        rem = simplify(BinOp("%", BinOp("-", lo, ramp.base, "int32"),
                             Const(self.lanes, "int32"), "int32"))
        if isinstance(rem, Const) and rem.value == 0:
            return Cmp(">=", ramp.base, lo, "bool")
        return None

    def _value(self, e):
        v = self.expr(e)
        return _materialize(v) if isinstance(v, Ramp) else v

    def stmt(self, s):
        """Vectorize s; a single store or branch that cannot be is run lane by lane.

        Inside a masked tail nothing is scalarized alone (its lanes would ignore the tail's
        guard): CannotVectorize goes up to the guard, which is then run lane by lane whole.
        """
        if type(s) in (BufferStore, IfThenElse) and self.pred is None:
            try:
                return self._stmt(s)
            except CannotVectorize:
                if not self._runs_alone(s):
                    raise
                return self.scalarize(s)
        return self._stmt(s)

    def _runs_alone(self, s):
        """Whether s may run all its lanes before (or after) the rest of the body runs
        theirs: nothing else in the body reads or writes what s writes, or writes what s
        reads. (A prefix sum `run = run + x[l]; y[l] = run` scalarized its first store alone,
        and y got the last lane's sum in every lane.)"""
        reads, writes = _accesses(s)
        shared = [key for key in writes if self.body_reads.get(key, 0) > reads.get(key, 0)
                  or self.body_writes[key] > writes[key]]
        shared += [key for key in reads if self.body_writes.get(key, 0) > writes.get(key, 0)]
        return all(self._lane_private(key) for key in shared)

    def check_lane_order(self):
        """CannotVectorize where running each statement for all lanes in turn could change
        what the loop computes: a buffer the body writes is read or written by two accesses
        whose elements may be the same for two different lanes (out[l] = a[l]; out[15 - l] =
        b[l] ran all the first stores before the second, so out[15] got b[0], not a[15]).
        Two accesses meet only in their own lane (the same index), never (unit Ramps whose
        bases differ by no multiple of the stride, or by a whole vector or more), or else
        may: then the loop stays scalar."""
        for key, idx in self.body_indices.items():
            if not self.body_writes.get(key) or len(idx) < 2:
                continue
            if any(len(i) != 1 for i in idx):
                raise CannotVectorize
            ramps = [self.expr(i[0]) for i in idx]
            first = ramps[0]
            if all(r.same_as(first) for r in ramps[1:]):
                # each lane its own element; or one element for all (a lane-invariant
                # index): an accumulation (_lane_reductions), a store that cannot be
                # vectorized and runs lane by lane, alone only where _runs_alone
                continue
            for x, y in itertools.combinations(ramps, 2):
                if not _lanes_apart(x, y, self.lanes):
                    raise CannotVectorize

    def _lane_private(self, key):
        """Whether every access of buffer `key` in the body is to one index that differs
        from lane to lane (an rfactor's S.rf[lane * 16 + i]): each lane has its own element,
        so the lanes of different statements never meet."""
        idx = self.body_indices.get(key)
        if not idx or any(len(i) != 1 or not structural_equal(i[0], idx[0][0]) for i in idx):
            return False
        try:
            v = self.expr(idx[0][0])
        except CannotVectorize:
            return False
        return isinstance(v, Ramp) and not (isinstance(v.stride, int) and v.stride == 0)

    def scalarize(self, s):
        from ...lang.visitor import substitute
        lane = Var(self.var.name + "_lane")
        body = substitute(s, {self.var: self.ramp.base + lane})
        return For(lane, Const(0, "int32"), Const(self.lanes, "int32"), "serial", body)

    def _stmt(self, s):
        t = type(s)
        if t is BufferStore and id(s) in self.reductions:
            return self._lane_reduction(s)
        if t is BufferStore:
            idx = self.expr(s.indices[0])
            self.store_target = BufferLoad(s.buffer, s.indices, s.buffer.dtype)
            try:
                val = self.expr(s.value)
            finally:
                self.store_target = None
            if _lanes(idx) == 1:
                raise CannotVectorize     # every lane writes the same address: keep lane order
            self._check_hazard(s.buffer, idx, val)
            if isinstance(val, Ramp):
                val = _materialize(val)
            active = None if self.pred is None else _lanes_below(
                simplify(self.pred.b.value - self.pred.a.base), self.lanes, s.buffer.dtype)
            if active is not None and self._whole_private(s.buffer, idx):
                # the inactive lanes keep their values: a blend, no masked store (so the
                # accumulator of a reduction's tail can stay in a register)
                old = BufferLoad(s.buffer, (idx,), _vec_dtype(s.buffer.dtype, self.lanes))
                return BufferStore(s.buffer, Select(active, self.bcast(val), old, old.dtype),
                                   (idx,))
            if self.pred is not None:
                if not (isinstance(idx, Ramp) and idx.stride == 1) or s.buffer.scope == "local":
                    raise CannotVectorize   # scatter, or a register tile (promotion drops masks)
                self._check_mask(s.buffer.dtype)
                return BufferStore(s.buffer, self.bcast(val), (idx,), self.pred)
            return BufferStore(s.buffer, self.bcast(val), (idx,))
        if t is For:
            mn, ext = self.expr(s.min), self.expr(s.extent)
            if _lanes(mn) != 1 or _lanes(ext) != 1:
                raise CannotVectorize
            return For(s.var, mn, ext, s.kind, self.stmt(s.body), s.pragmas)
        if t is IfThenElse:
            if self.masked and self.pred is None and s.else_case is None:
                m = self._masked_tail(s)
                if m is not None:
                    return m
            c = self.expr(s.cond)
            if _lanes(c) != 1:
                raise CannotVectorize
            return IfThenElse(c, self.stmt(s.then_case),
                              self.stmt(s.else_case) if s.else_case is not None else None)
        if t is Seq:
            return seq(*[self.stmt(x) for x in s.stmts])
        if t is VarStore:
            return self._lane_reduction(s)
        if t is StageRegion:
            return StageRegion(s.name, self.stmt(s.body))
        raise CannotVectorize

    def _lane_reduction(self, s):
        """m = m op e(lane) (_lane_reductions) as m = m op lanes_op(e's vector); not inside a
        masked tail (its inactive lanes would add to m) and not for an e that is the same in
        every lane (the scalar loop combined it `lanes` times)."""
        op = self.reductions.get(id(s))
        if op is None or self.pred is not None:
            raise CannotVectorize
        e = s.value
        acc, other = (e.a, e.b) if _is_accumulator(s, e.a, self.var) else (e.b, e.a)
        v = self._value(other)
        if _lanes(v) == 1:
            raise CannotVectorize
        value = BinOp(op, acc, LaneReduce(op, v, e.dtype), e.dtype)
        if type(s) is VarStore:
            return VarStore(s.var, value)
        return BufferStore(s.buffer, value, s.indices)

    def _lane_bound(self, terms):
        """(term, ramp, bound) of the one term of a conjunction that varies with the lane: a
        comparison `lane expression < bound` (or its mirror, or <=) whose lane side
        vectorizes to a unit-stride int32 ramp and whose bound is one int32 value (<= bound
        made < bound + 1); None for any other form."""
        lane = [t for t in terms if any(n is self.var for n in walk(t))]
        if len(lane) != 1 or not isinstance(lane[0], Cmp):
            return None
        term = lane[0]
        swap = {">": "<", ">=": "<="}
        a, b, op = (term.b, term.a, swap[term.op]) if term.op in swap else (term.a, term.b, term.op)
        if op not in ("<", "<="):
            return None
        try:
            ramp, bound = self.expr(a), self.expr(b)
        except CannotVectorize:
            return None
        if not (isinstance(ramp, Ramp) and ramp.stride == 1 and _lanes(bound) == 1
                and ramp.base.dtype == "int32" and bound.dtype == "int32"):
            return None
        return term, ramp, simplify(bound + 1) if op == "<=" else bound

    def _masked_tail(self, s):
        """`if (inv && base + lane < bound) body` -> `if (inv && base < bound) body'`, body'
        vectorized with every vector access predicated on `ramp(base, 1, n) < xn(bound)`;
        None when the guard has another form. Some lane is active iff lane 0 is, so
        lane-invariant accesses happen exactly when the scalar loop would make them."""
        found = self._lane_bound(conjuncts(s.cond))
        if found is None:
            return None
        term, ramp, bound = found
        pred = Cmp("<", ramp, Broadcast(bound, self.lanes, _vec_dtype("int32", self.lanes)),
                   _vec_dtype("bool", self.lanes))
        self.pred = pred
        try:
            body = self.stmt(s.then_case)
        finally:
            self.pred = None
        cond = None
        for t in conjuncts(s.cond):      # the guard's terms in their order, lane 0 for the tail
            t = Cmp("<", ramp.base, bound, "bool") if t is term else t
            cond = t if cond is None else BinOp("&&", cond, t, "bool")
        return IfThenElse(cond, body)

    def _whole_private(self, buf, idx):
        """idx, a unit-stride ramp, lies wholly inside buf, an array of constant size this
        thread allocated (a reduction's accumulators): its inactive lanes may be read and
        written back unchanged instead of masked."""
        if not (isinstance(idx, Ramp) and idx.stride == 1 and isinstance(idx.base, Const)
                and any(buf is b for b in self.private)):
            return False
        n = _elements(buf)
        return n is not None and 0 <= idx.base.value and idx.base.value + self.lanes <= n

    def _check_mask(self, dt):
        """A masked access of dt's vectors: the target must have it (else the guard runs lane
        by lane)."""
        bits = dtypes.bits(dt)
        if not self.masked(bits, bits * self.lanes):
            raise CannotVectorize

    def _check_hazard(self, buf, idx, val):
        for n in walk(val):
            if isinstance(n, BufferLoad) and n.buffer is buf and not n.indices[0].same_as(idx):
                raise CannotVectorize


def _elements(buf):
    """The number of elements of a compact buffer of constant shape, else None."""
    if buf.logical_shape is not None:
        return None
    n = 1
    for d in buf.shape:
        if not isinstance(d, Const):
            return None
        n *= d.value
    if buf.strides is not None:
        step = 1
        for d, st in zip(reversed(buf.shape), reversed(buf.strides)):
            if not (isinstance(st, Const) and st.value == step):
                return None
            step *= d.value
    return n


def _reads_within(x, y):
    """Load x reads in bounds whenever load y does: the same access, or the same flat index
    of a compact buffer at least as large (the halves of a tuple reduction's accumulators,
    where's operands of the output's shape)."""
    if x.same_as(y):
        return True
    if x.predicate is not None or y.predicate is not None or \
            not x.indices[0].same_as(y.indices[0]):
        return False
    nx, ny = _elements(x.buffer), _elements(y.buffer)
    return nx is not None and ny is not None and nx >= ny


def _lanes_below(count, lanes, dtype):
    """`ramp(0, 1, lanes) < x(count)`, the lanes [0, count) of a select between vectors of
    dtype, compared in integers of its width (a vector select's mask must have its
    operands' size); None for elements narrower than 32 bits (lanes past 127 or a count past
    an int16 would not compare)."""
    bits = dtypes.bits(dtype)
    if bits not in (32, 64):
        return None
    it = f"int{bits}"
    count = count if count.dtype == it else Cast(count, it)
    return Cmp("<", Ramp(Const(0, it), 1, lanes, _vec_dtype(it, lanes)),
               Broadcast(count, lanes, _vec_dtype(it, lanes)), _vec_dtype("bool", lanes))


def _materialize(r):
    """A Ramp used as a value (not an address) becomes base + (0, 1, ..., n-1) * stride."""
    return r
