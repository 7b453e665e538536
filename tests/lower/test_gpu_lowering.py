"""The GPU lowering passes, without running anything: kernel splitting, thread binding and its
checks, storage scopes and their sizes, barrier insertion, uniform barriers."""
import pytest

import texpr as te
from texpr.lang.expr import Const, Var
from texpr.lang.visitor import walk
from texpr.lang import ir
from texpr.lang.ir import Barrier
from texpr.lower.gpu.barriers import insert_barriers, uniform_barriers
from texpr.lower.gpu.thread_binding import bind_threads

from support.gpu_schedules import (elementwise, shared_matmul, stencil_1d, vectorized_elementwise,
                           vectorized_staging)


def lower_gpu(s, args, name="main"):
    """The GPU passes of the one pipeline, on OpenCL's target record."""
    return te.lower(s, args, name, target="opencl")


def tx_axis():
    return te.thread_axis("threadIdx.x")


def bx_axis():
    return te.thread_axis("blockIdx.x")


def barriers(stmt):
    return [n for n in walk(stmt) if isinstance(n, Barrier)]


# ----------------------------------------------------------------------------- kernels

def test_one_kernel_per_root_stage_in_order_with_device_temporaries():
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] + 1.0, name="B")
    C = te.compute((n,), lambda i: B[i] * 2.0, name="C")
    s = te.create_schedule(C.op)
    for t in (B, C):
        o, i = s[t].split(t.op.axis[0], factor=32)
        s[t].bind(o, bx_axis())
        s[t].bind(i, tx_axis())
    prog = lower_gpu(s, [A, C], "two")
    assert [k.stage for k in prog.kernels] == ["B", "C"]
    assert [t.name for t in prog.temps] == ["B"]
    kb, kc = prog.kernels
    assert [b.name for b in kb.params] == ["A", "B"] and [b.name for b in kc.params] == ["C", "B"]
    assert kb.block == (32, 1, 1)
    assert "n + 31" in str(kb.grid[0])        # symbolic grid, evaluated at launch
    assert not any(isinstance(x, ir.For) and x.kind == "thread" for x in walk(kb.body))


def test_bound_loops_become_thread_indices():
    s, args = elementwise(1000, threads=128)
    prog = lower_gpu(s, args, "ew")
    k, = prog.kernels
    assert k.block == (128, 1, 1) and k.grid[0].value == 8
    names = {v.name for v in walk(k.body) if isinstance(v, Var)}
    assert {"blockIdx_x", "threadIdx_x"} <= names
    assert isinstance(k.body.body, ir.IfThenElse)     # the tail guard of 1000 = 8 x 128 - 24


def test_bind_threads_pass_alone():
    i = Var("i")
    buf = ir.Buffer("X", "float32", (Const(64, "int32"),))
    body = ir.For(i, Const(0, "int32"), Const(64, "int32"), "thread",
                  ir.BufferStore(buf, Const(1.0, "float32"), (i,)), (("thread", "threadIdx.x"),))
    out, grid, block, tv = bind_threads("X", ir.StageRegion("X", body))
    assert block == (64, 1, 1) and [g.value for g in grid] == [1, 1, 1]
    store = next(n for n in walk(out) if isinstance(n, ir.BufferStore))
    assert store.indices[0] is tv["threadIdx.x"]


# ----------------------------------------------------------------------------- scopes and sizes

def test_shared_and_local_allocations_cover_one_block_and_one_thread():
    # 32 x 32 block tile, 8-wide reduction slices, 4 x 2 outputs per thread
    s, args = shared_matmul(64, 64, 64, 32, 32, 8, 4, 2)
    k, = lower_gpu(s, args, "mm").kernels
    # the tiles are k-major ([8, 32]), their rows padded to 36 words (4 mod 32: no bank
    # conflicts when the block's threads store them)
    sizes = {b.name: (tuple(x.value for x in b.shape), b.size.value) for b in k.shared}
    assert sizes == {"A.shared": ((8, 32), 8 * 36), "B.shared": ((8, 32), 8 * 36)}
    local = [n.buffer for n in walk(k.body) if isinstance(n, ir.Allocate)]
    assert sorted((b.name, b.scope, b.size.value) for b in local) == [
        ("A.shared.local", "local", 4), ("B.shared.local", "local", 2), ("C.local", "local", 4 * 2)]
    assert k.block == (16, 8, 1) and k.shared_bytes == 2 * 288 * 4


def test_stencil_window_is_the_block_plus_its_halo():
    s, args = stencil_1d(100, 32)
    k, = lower_gpu(s, args, "st").kernels
    assert [b.size.value for b in k.shared] == [34]


# ----------------------------------------------------------------------------- barriers

def test_barriers_between_shared_writes_and_reads_and_before_overwrites():
    s, args = shared_matmul(64, 64, 64, 16, 16, 8, 1, 1)
    k, = lower_gpu(s, args, "mm").kernels
    loop = next(n for n in walk(k.body) if isinstance(n, ir.For) and n.var.name == "k.outer")
    body = loop.body.stmts
    # the tiles are written before they are read, and read before the next iteration
    # overwrites them (a barrier at the end of the body)
    assert isinstance(body[-3], Barrier) and isinstance(body[-1], Barrier)
    assert not isinstance(body[0], Barrier)
    assert len(barriers(k.body)) == 2


def _shared(name="S"):
    b = ir.Buffer(name, "float32", (Const(8, "int32"),), scope="shared")
    b.size = Const(8, "int32")
    return b


def test_insert_barriers_unit():
    S, G = _shared(), ir.Buffer("G", "float32", (Const(8, "int32"),))
    t = Var("t")
    w = ir.BufferStore(S, Const(1.0, "float32"), (t,))
    r = ir.BufferStore(G, ir.BufferLoad(S, (7 - t,), "float32"), (t,))
    out = insert_barriers(ir.Seq((w, r)))
    assert [type(x).__name__ for x in out.stmts] == ["BufferStore", "Barrier", "BufferStore"]
    # no shared memory: nothing to synchronize
    g = ir.BufferStore(G, Const(1.0, "float32"), (t,))
    assert barriers(insert_barriers(ir.Seq((g, g)))) == []
    # read, then overwritten by the next iteration of a loop: a barrier after the reads
    k = Var("k")
    loop = ir.For(k, Const(0, "int32"), Const(4, "int32"), "serial", ir.Seq((w, r)))
    out = insert_barriers(loop)
    assert [type(x).__name__ for x in out.body.stmts] == ["BufferStore", "Barrier",
                                                          "BufferStore", "Barrier"]
    # a loop that only reads shared memory written before it needs one barrier, before it
    out = insert_barriers(ir.Seq((w, ir.For(k, Const(0, "int32"), Const(4, "int32"), "serial", r))))
    assert [type(x).__name__ for x in out.stmts] == ["BufferStore", "Barrier", "For"]
    assert barriers(out.stmts[2]) == []


def test_thread_dependent_guards_move_below_barriers():
    S, G = _shared(), ir.Buffer("G", "float32", (Const(8, "int32"),))
    t = Var("threadIdx_x")
    w = ir.BufferStore(S, Const(1.0, "float32"), (t,))
    r = ir.BufferStore(G, ir.BufferLoad(S, (7 - t,), "float32"), (t,))
    guarded = ir.IfThenElse(t < 5, ir.Seq((w, Barrier(), r)))
    out = uniform_barriers("X", guarded, [t])
    assert isinstance(out, ir.Seq) and isinstance(out.stmts[1], Barrier)
    assert all(isinstance(x, ir.IfThenElse) for x in (out.stmts[0], out.stmts[2]))
    with pytest.raises(te.TexprError, match="else branch"):
        uniform_barriers("X", ir.IfThenElse(t < 5, w, Barrier()), [t])


# ----------------------------------------------------------------------------- illegal binds

def test_thread_axis_bound_with_two_extents_in_one_kernel():
    A = te.placeholder((64,), name="A")
    B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
    s = te.create_schedule(B.op)
    AS = s.cache_read(A, "shared", [B])
    bo, bi = s[B].split(B.op.axis[0], factor=16)
    s[B].bind(bo, bx_axis())
    s[B].bind(bi, tx_axis())
    s[AS].compute_at(s[B], bo)
    o, i = s[AS].split(AS.op.axis[0], factor=8)
    s[AS].bind(i, tx_axis())
    with pytest.raises(te.TexprError, match=r"stage B: thread axis threadIdx.x is bound to loop "
                                            r"i0.inner of stage A.shared with extent 8 and to "
                                            r"loop i.inner of stage B with extent 16"):
        lower_gpu(s, [A, B])


def test_reduction_axis_bound_without_rfactor():
    A = te.placeholder((8, 64), name="A")
    k = te.reduce_axis((0, 64), name="k")
    B = te.compute((8,), lambda i: te.sum(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    with pytest.raises(te.ScheduleError, match="stage B.*axis k is a reduction axis.*rfactor"):
        s[B].bind(k, tx_axis())


def test_too_many_threads_per_block():
    A = te.placeholder((64, 64), name="A")
    B = te.compute((64, 64), lambda i, j: A[i, j] + 1.0, name="B")
    s = te.create_schedule(B.op)
    s[B].bind(B.op.axis[0], te.thread_axis("threadIdx.y"))
    s[B].bind(B.op.axis[1], tx_axis())
    with pytest.raises(te.TexprError, match="stage B: 4096 threads per block.*at most 1024"):
        lower_gpu(s, [A, B])
    s = te.create_schedule(B.op)
    f = s[B].fuse(*B.op.axis)
    s[B].bind(f, tx_axis())
    with pytest.raises(te.TexprError, match="extent 4096, over the limit of 1024 for threadIdx.x"):
        lower_gpu(s, [A, B])


def test_shared_memory_over_the_limit():
    s, args = shared_matmul(256, 256, 256, 128, 128, 64, 8, 8)   # 2 x 64 x 132 x 4 B
    with pytest.raises(te.TexprError, match=r"stage C: the kernel uses 67584 bytes of shared "
                                            r"memory \(A.shared 33792 B, B.shared 33792 B\); "
                                            r"the limit is 49152"):
        lower_gpu(s, args)


def test_unbound_stage_nested_binds_and_symbolic_block():
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] + 1.0, name="B")
    s = te.create_schedule(B.op)
    with pytest.raises(te.TexprError, match="stage B: no loop is bound to a GPU thread axis"):
        lower_gpu(s, [A, B])
    o, i = s[B].split(B.op.axis[0], factor=32)
    s[B].bind(o, tx_axis())
    with pytest.raises(te.TexprError, match="bound to threadIdx.x with extent .*n.*constant"):
        lower_gpu(s, [A, B])
    s = te.create_schedule(B.op)
    o, i = s[B].split(B.op.axis[0], factor=32)
    s[B].bind(o, tx_axis())
    s[B].bind(i, tx_axis())
    with pytest.raises(te.TexprError, match="stage B: loop i.inner is bound to threadIdx.x inside "
                                            "loop i.outer"):
        lower_gpu(s, [A, B])


def test_shared_stage_at_the_root_is_rejected():
    A = te.placeholder((64,), name="A")
    B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
    s = te.create_schedule(B.op)
    AS = s.cache_read(A, "shared", [B])
    for t in (AS, B):
        s[t].bind(s[t].op.axis[0], tx_axis())
    with pytest.raises(te.TexprError,
                       match="A.shared is in shared memory but computed at the root"):
        lower_gpu(s, [A, B])


def test_cpu_targets_reject_bound_loops():
    s, args = elementwise(64)
    with pytest.raises(te.TexprError, match="bound to a GPU thread axis"):
        te.build(s, args, "c")


def test_vectorized_contiguous_copies_become_vector_copies():
    from texpr.lang.ir import VectorCopy
    for offset, aligned in ((0, True), (1, False)):
        s, args = vectorized_staging(64, 48, 4, offset)
        k, = lower_gpu(s, args, "v").kernels
        copies = [n for n in walk(k.body) if isinstance(n, VectorCopy)]
        assert len(copies) == 1 and copies[0].lanes == 4 and copies[0].aligned is aligned
    # a vectorized loop that is not a plain contiguous copy is unrolled
    A = te.placeholder((16, 8), name="A")
    B = te.compute((16, 8), lambda i, j: A[i, j] + A[i, 7 - j], name="B")
    s = te.create_schedule(B.op)
    s[B].bind(B.op.axis[0], tx_axis())
    s[B].vectorize(B.op.axis[1])
    k, = lower_gpu(s, [A, B], "u").kernels
    assert not any(isinstance(n, (VectorCopy, ir.For)) for n in walk(k.body))
    assert sum(isinstance(n, ir.BufferStore) for n in walk(k.body)) == 8


def test_grid_limits():
    A = te.placeholder((70000, 2), name="A")
    B = te.compute((70000, 2), lambda i, j: A[i, j] + 1.0, name="B")
    s = te.create_schedule(B.op)
    s[B].bind(B.op.axis[0], te.thread_axis("blockIdx.y"))
    s[B].bind(B.op.axis[1], tx_axis())
    with pytest.raises(te.TexprError, match="stage B: loop i is bound to blockIdx.y with extent "
                                            "70000, over the limit of 65535 blocks"):
        lower_gpu(s, [A, B])


def test_hoist_guards_unit():
    from texpr.lower.gpu.guard_hoist import hoist_guards
    G = ir.Buffer("G", "float32", (Const(8, "int32"),))
    t, k = Var("t"), Var("k")
    a, b, c = t < 5, t > 1, t < 4
    s1 = ir.BufferStore(G, Const(1.0, "float32"), (t,))
    s2 = ir.BufferStore(G, Const(2.0, "float32"), (t + 1,))
    body = ir.Seq((ir.IfThenElse(a & b, s1), ir.IfThenElse(a, ir.IfThenElse(c, s2))))
    loop = ir.For(k, Const(0, "int32"), Const(4, "int32"), "serial", body)
    out = hoist_guards(loop, lambda n: isinstance(n, Barrier))
    assert isinstance(out, ir.IfThenElse) and out.cond.same_as(a)    # out of the loop
    assert isinstance(out.then_case, ir.For)
    inner = out.then_case.body.stmts
    assert inner[0].cond.same_as(b) and inner[1].cond.same_as(c)
    # a loop with a barrier keeps its guard inside
    with_barrier = ir.For(k, Const(0, "int32"), Const(4, "int32"), "serial",
                          ir.IfThenElse(a, ir.Seq((s1, Barrier()))))
    assert isinstance(hoist_guards(with_barrier, lambda n: isinstance(n, Barrier)), ir.For)


def test_vectorized_computation_loads_contiguous_operands_as_vectors():
    from texpr.lang.ir import VectorCopy
    s, args = vectorized_elementwise(4)
    k, = lower_gpu(s, args, "v").kernels
    full = next(n for n in walk(k.body) if isinstance(n, ir.IfThenElse) and n.else_case is not None)
    copies = [n for n in walk(full.then_case) if isinstance(n, VectorCopy)]
    # A and B in, C out; B[0] stays a scalar load; the tail (else) runs lane by lane
    assert sorted(c.store.buffer.name for c in copies) == ["A.v0", "B.v1", "C"]
    assert all(c.aligned for c in copies)
    assert not any(isinstance(n, VectorCopy) for n in walk(full.else_case))
