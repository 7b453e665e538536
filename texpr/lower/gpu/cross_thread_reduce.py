"""Cross-thread reductions: a reduction axis bound to threadIdx (after rfactor).

Each thread of the bound loop holds one partial value (the rfactor stage computed at that
loop). They are combined in a shared-memory tree:

    acc = identity; acc = combine(acc, partial); red[t] = acc  (each thread t)
    barrier
    for s = P/2, P/4, ..., 1:   if (t < s && t + s < T) red[t] = combine(red[t], red[t + s])
                                barrier
    if (t == 0) out = combine(out, red[0])

P is the power of two at or above T, so any block size works. The combiner is the reducer's
own (sum, max, min, comm_reducer), so the tree computes what the loop would.

With a warp size (CUDA, T a multiple of it, 32-bit values) the tree runs in registers
instead: each warp combines its 32 values with __shfl_down_sync (offsets 16, 8, 4, 2, 1),
lane 0 of each warp writes one value to shared memory, and the first warp combines those
the same way (one barrier instead of log2(T)).
"""
from ...errors import LoweringError
from ...lang.expr import BinOp, Cmp, Const, Expr, Select, Var
from ...lang.visitor import StmtMutator, map_children, substitute, transform, walk
from ..flatten import buffer_strides
from ...lang.ir import (Allocate, Barrier, Buffer, BufferLoad, BufferStore, For, IfThenElse,
                        ShuffleDown, Stmt, seq)
from .thread_binding import thread_tag


def _cross_thread(loop):
    if not isinstance(loop, For):
        return None
    return next((v for k, v in loop.pragmas if k == "cross_thread"), None)


def lower_cross_thread_reductions(stage, body, warp_size=0):
    """warp_size > 0 (CUDA): trees over whole warps run through warp shuffles."""
    return _CrossThreadReductions(stage, warp_size).visit(body)


class _CrossThreadReductions(StmtMutator):
    def __init__(self, stage, warp_size):
        self.stage, self.warp_size = stage, warp_size
        self.in_threads = False         # inside a loop bound to threadIdx

    def visit_For(self, s):
        comb = _cross_thread(s)
        if comb is not None:
            if self.in_threads:
                raise LoweringError(
                    f"stage {self.stage}: the cross-thread reduction over {s.var.name} sits "
                    "inside other threadIdx loops; bind the data axes of the stage to blockIdx")
            return _lower(self.stage, s, comb, self.warp_size)
        tag = thread_tag(s)
        outer = self.in_threads
        self.in_threads = outer or (tag is not None and tag.startswith("threadIdx"))
        try:
            return self.generic_visit(s)
        finally:
            self.in_threads = outer


def _combine(comb, a, b):
    return substitute(comb.result, {comb.lhs: a, comb.rhs: b})


def _lower(stage, loop, comb, warp_size=0):
    tag = thread_tag(loop)
    if not isinstance(loop.extent, Const):
        raise LoweringError(f"stage {stage}: reduction loop {loop.var.name} is bound to {tag} "
                            f"with extent {loop.extent}; it must be a constant")
    T = loop.extent.value
    local = {id(n.buffer) for n in walk(loop.body) if isinstance(n, Allocate)}
    updates = [n for n in walk(loop.body) if isinstance(n, BufferStore)
               and id(n.buffer) not in local and _reads_itself(n)]
    if len(updates) != 1:
        raise LoweringError(f"stage {stage}: cannot find the one accumulation of the reduction "
                            f"bound to {tag} (found {len(updates)})")
    upd = updates[0]
    out, idx = upd.buffer, upd.indices
    red = Buffer(f"{out.name}.red", out.dtype, (Const(T, "int32"),), scope="shared")
    acc = Buffer(f"{out.name}.acc", out.dtype, (Const(1, "int32"),), scope="local")
    for b in (red, acc):
        buffer_strides(b)
    kv = loop.var
    zero = (Const(0, "int32"),)

    def to_acc(n):
        if isinstance(n, BufferLoad) and n.buffer is out and _same(n.indices, idx):
            return BufferLoad(acc, zero, n.dtype)
        return None

    def swap(s):
        if s is upd:
            return BufferStore(acc, transform(upd.value, to_acc), zero)
        if isinstance(s, Stmt):
            return map_children(s, swap)
        return s

    pragmas = tuple(p for p in loop.pragmas if p[0] != "cross_thread")
    t = Var(kv.name + ".t", kv.dtype)
    if warp_size and T % warp_size == 0 and out.dtype in ("float32", "int32"):
        return _lower_shuffle(loop, comb, out, idx, acc, swap, pragmas, t, tag, T, warp_size)
    # each thread's partial value in a register, then in its slot of the shared buffer
    partial = For(kv, loop.min, loop.extent, "thread",
                  Allocate(acc, seq(BufferStore(acc, comb.identity, zero), swap(loop.body),
                                    BufferStore(red, BufferLoad(acc, zero, out.dtype), (kv,)))),
                  pragmas)

    def red_at(i):
        return BufferLoad(red, (i,), out.dtype)
    steps = [Barrier()]
    half = 1
    while half * 2 < T:
        half *= 2
    while half >= 1:
        cond = BinOp("&&", Cmp("<", t, Const(half, "int32")),
                     Cmp("<", t + half, Const(T, "int32")), "bool")
        steps.append(IfThenElse(cond, BufferStore(red, _combine(comb, red_at(t), red_at(t + half)),
                                                  (t,))))
        steps.append(Barrier())
        half //= 2
    final = BufferStore(out, _combine(comb, BufferLoad(out, idx, out.dtype),
                                      red_at(Const(0, "int32"))), idx)
    steps.append(IfThenElse(Cmp("==", t, Const(0, "int32")), final))
    tree = For(t, Const(0, "int32"), loop.extent, "thread", seq(*steps), (("thread", tag),))
    return Allocate(red, seq(partial, tree))


def _reads_itself(store):
    return any(isinstance(n, BufferLoad) and n.buffer is store.buffer
               and _same(n.indices, store.indices) for n in walk(store.value))


def _same(a, b):
    return len(a) == len(b) and all(x.same_as(y) for x, y in zip(a, b))


def _warp_combine(comb, buf, zero, warp):
    """buf[0] = combine(buf[0], shuffle_down(buf[0], o)) for o = warp/2, ..., 2, 1."""
    out = []
    o = warp // 2
    while o >= 1:
        cur = BufferLoad(buf, zero, buf.dtype)
        out.append(BufferStore(buf, _combine(comb, cur, ShuffleDown(cur, o, buf.dtype)), zero))
        o //= 2
    return out


def _lower_shuffle(loop, comb, out, idx, acc, swap, pragmas, t, tag, T, warp):
    kv = loop.var
    zero = (Const(0, "int32"),)
    nwarps = T // warp
    red = Buffer(f"{out.name}.red", out.dtype, (Const(nwarps, "int32"),), scope="shared")
    acc2 = Buffer(f"{out.name}.acc2", out.dtype, (Const(1, "int32"),), scope="local")
    for b in (red, acc2):
        buffer_strides(b)
    lane0 = Cmp("==", BinOp("%", kv, Const(warp, "int32"), "int32"), Const(0, "int32"))
    warp_id = BinOp("//", kv, Const(warp, "int32"), "int32")
    partial = For(kv, loop.min, loop.extent, "thread", Allocate(acc, seq(
        BufferStore(acc, comb.identity, zero), swap(loop.body),
        *_warp_combine(comb, acc, zero, warp),
        IfThenElse(lane0, BufferStore(red, BufferLoad(acc, zero, out.dtype), (warp_id,))))),
        pragmas)
    first = Select(Cmp("<", t, Const(nwarps, "int32")),
                   BufferLoad(red, (BinOp("min", t, Const(nwarps - 1, "int32"), "int32"),),
                              out.dtype), comb.identity, out.dtype)
    final = BufferStore(out, _combine(comb, BufferLoad(out, idx, out.dtype),
                                      BufferLoad(acc2, zero, out.dtype)), idx)
    second = For(t, Const(0, "int32"), loop.extent, "thread", seq(
        Barrier(),
        IfThenElse(Cmp("<", t, Const(warp, "int32")), Allocate(acc2, seq(
            BufferStore(acc2, first, zero), *_warp_combine(comb, acc2, zero, warp),
            IfThenElse(Cmp("==", t, Const(0, "int32")), final))))), (("thread", tag),))
    return Allocate(red, seq(partial, second))
