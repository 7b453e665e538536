"""te.ir_builder: the statements it builds, extern ops written with it (against NumPy), and
its misuse."""
import numpy as np
import pytest

import texpr as te
from texpr.lower.analysis.arith import simplify
from texpr.lang.ir import Allocate, BufferLoad, BufferStore, Evaluate, For, IfThenElse, Seq
from support.parallel import parallel_loops


def _relu_plus_one(ins, outs):
    """out[i] = (a[i] > 0.5 ? 2a[i] : -a[i]) + 1 in two loops, the first parallel, through a
    buffer the statement allocates."""
    ib = te.ir_builder.create()
    a, c = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
    n = ins[0].shape[0]
    tmp = ib.allocate("float32", (n,), name="tmp")
    with ib.for_range(0, n, kind="parallel") as i:
        with ib.if_scope(a[i] > 0.5):
            tmp[i] = a[i] * 2.0
        with ib.else_scope():
            tmp[i] = -a[i]
    with ib.for_range(0, n) as i:
        c[i] = tmp[i] + 1.0
    return ib.get()


def test_statement_structure():
    A = te.placeholder((10,), name="A")
    C = te.extern((10,), [A], _relu_plus_one, name="C")
    body = C.op.body
    assert isinstance(body, Allocate) and body.buffer.name == "tmp"
    first, second = body.body.stmts
    assert isinstance(first, For) and first.kind == "parallel" and first.var.name == "i"
    assert isinstance(first.body, IfThenElse) and first.body.else_case is not None
    assert isinstance(second, For) and second.kind == "serial" and second.var.name == "j"
    assert isinstance(second.body, BufferStore) and second.body.buffer is C.op.output_buffers[0]


def test_loop_kinds_names_and_bounds():
    ib = te.ir_builder.create()
    p = ib.allocate("int32", 64, name="p")
    kinds = {}
    for kind in ("serial", "parallel", "unroll", "vectorize"):
        with ib.for_range(2, 10, kind=kind, name=kind) as v:
            p[v] = v
        kinds[kind] = v
    with ib.for_range(0, 4) as i:
        with ib.for_range(0, 4) as j:
            with ib.for_range(0, 4) as k:
                with ib.for_range(0, 4) as m:
                    p[((i * 4 + j) * 4 + k) % 64] = m
    stmt = ib.get()
    loops = [s for s in stmt.body.stmts]
    assert [f.kind for f in loops[:4]] == ["serial", "parallel", "unrolled", "vectorized"]
    assert all(f.min.value == 2 and f.extent.value == 8 for f in loops[:4])
    assert [loops[4].var.name, loops[4].body.var.name, loops[4].body.body.var.name,
            loops[4].body.body.body.var.name] == ["i", "j", "k", "i_0"]


def test_flat_and_multidimensional_indices():
    ib = te.ir_builder.create()
    buf = ib.allocate("float32", (4, 8), name="t")
    flat = buf[13]                        # row 1, column 5
    assert isinstance(flat, BufferLoad)
    assert [simplify(x).value for x in flat.indices] == [1, 5]
    view = ib.buffer_ptr(buf.buffer, shape=(2, 16))       # the same memory as 2 x 16
    assert [simplify(x).value for x in view[1, 3].indices] == [2, 3]
    assert [x.value for x in buf[1, 5].indices] == [1, 5]
    with pytest.raises(te.TexprError, match="has 2 dimension.*indexed with 3"):
        buf[1, 2, 3]


def test_extern_with_loops_matches_numpy():
    A = te.placeholder((37,), name="A")
    C = te.extern((37,), [A], _relu_plus_one, name="C")
    s = te.create_schedule(C.op)
    f = te.build(s, [A, C], target="c", name="irb_relu")
    assert parallel_loops(f.source) == 1 and "} else {" in f.source
    a = np.random.default_rng(0).random(37).astype("float32")
    c = np.zeros(37, "float32")
    f(a, c)
    np.testing.assert_allclose(c, np.where(a > 0.5, 2 * a, -a) + 1, rtol=1e-6)


def test_extern_accesses_are_bounds_checked():
    """Every access of an ir_builder body is proven in bounds, made a run-time check, or
    refused when it is out of range (lower/access_bounds.py), as for any other stage."""
    A = te.placeholder((4, 8), name="A")

    def shifted(ins, outs):
        ib = te.ir_builder.create()
        a, c = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, 4) as i:
            with ib.for_range(0, 8) as j:
                c[i, j] = a[i, j + 1]
        return ib.get()
    C = te.extern((4, 8), [A], shifted, name="C")
    with pytest.raises(te.LoweringError, match=r"tensor A is read at index j \+ 1 .*\[1, 8\]"):
        te.lower(te.create_schedule(C.op), [A, C])

    n = te.var("n")
    B = te.placeholder((n,), name="B")

    def gather(ins, outs):
        ib = te.ir_builder.create()
        b, c = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, n) as i:
            c[i] = b[(i * i) % n]
        return ib.get()
    D = te.extern((n,), [B], gather, name="D")
    text = str(te.lower(te.create_schedule(D.op), [B, D]))
    assert "checked(" in text


def test_misuse_messages():
    ib = te.ir_builder.create()
    with pytest.raises(te.TexprError, match="kind must be one of serial, parallel"):
        ib.for_range(0, 4, kind="gpu")
    with pytest.raises(te.TexprError, match="else_scope must follow an if_scope"):
        ib.else_scope()
    with pytest.raises(te.TexprError, match="must be a call"):
        ib.emit(te.const(1) + 2)
    with pytest.raises(te.TexprError, match="no raw pointer"):
        ib.pointer("float32")
    with pytest.raises(te.TexprError, match="scope_attr.*no attribute statements"):
        ib.scope_attr(None, "storage_scope", "global")
    with pytest.raises(te.DTypeError, match="condition must be a comparison"):
        ib.if_scope(te.const(1.5))
    buf = ib.allocate("float32", 4, name="t")
    with pytest.raises(te.DTypeError, match="storing a int32 value into buffer t of float32"):
        buf[0] = te.const(1, "int32")
    with pytest.raises(te.TexprError, match="buffer_ptr: expected a buffer"):
        ib.buffer_ptr(np.zeros(3))
    loop = ib.for_range(0, 4)
    with loop:
        with pytest.raises(te.TexprError, match="inside 1 open scope"):
            ib.get()
    ib.get()
    with pytest.raises(te.TexprError, match="builder is finished"):
        ib.emit(te.call_extern("int32", "f"))


def test_extern_body_may_not_write_an_input():
    A = te.placeholder((4,), name="A")

    def bad(ins, outs):
        ib = te.ir_builder.create()
        a = ib.buffer_ptr(ins[0])
        with ib.for_range(0, 4) as i:
            a[i] = 0.0
        return ib.get()
    with pytest.raises(te.TexprError, match="extern E: the body writes input buffer A"):
        te.extern((4,), [A], bad, name="E")


def test_emit_of_a_call_is_an_evaluate():
    ib = te.ir_builder.create()
    ib.emit(te.call_extern("int32", "f", 1))
    ib.emit(te.call_extern("int32", "g", 2))
    stmt = ib.get()
    assert isinstance(stmt, Seq) and all(isinstance(s, Evaluate) for s in stmt.stmts)
