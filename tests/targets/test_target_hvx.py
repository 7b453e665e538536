"""Target "hvx": Q6 intrinsics C for Hexagon HVX (128-byte vectors), compiled by clang into a
freestanding static program and run under qemu-hexagon by the emulator harness.

Integer results must equal NumPy exactly (wrapping like NumPy; saturating forms clamp).
A kernel costs one clang build (~0.3 s) and a call one qemu start (~10 ms), so every kernel
is called on several sizes (symbolic n) before the next one is built.
"""
import re
import shutil

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr.errors import TexprError
from texpr.targets.hexagon.harness import HEXAGON_LINUX

_missing = [t for t in ("clang", "ld.lld", "qemu-hexagon") if shutil.which(t) is None]
if _missing:
    pytest.skip(f"{', '.join(_missing)} not installed ({HEXAGON_LINUX.install}; `make test` "
                "does it as root)", allow_module_level=True)

FEW = settings(max_examples=10, deadline=None)
INTS = ["int8", "uint8", "int16", "uint16", "int32", "uint32"]
SIZES = [1, 37, 128, 300]            # tails of every kind in one build (symbolic n)


def lanes(dtype):
    return 128 // np.dtype(dtype).itemsize


def data_for(dtype, shape, seed, low=None, high=None):
    info = np.iinfo(dtype)
    lo = info.min if low is None else low
    hi = info.max if high is None else high
    return np.random.default_rng(seed).integers(lo, hi, shape, dtype=dtype, endpoint=True)


def build_1d(fn, dtypes_in, out_dtype, factor, name="k"):
    """C[i] = fn(A[i], B[i], ...) over a symbolic n, split by factor, inner loop vectorized."""
    n = te.var("n")
    ins = [te.placeholder((n,), dt, f"X{k}") for k, dt in enumerate(dtypes_in)]
    C = te.compute((n,), lambda i: fn(*[X[i] for X in ins]).astype(out_dtype), name="C")
    s = te.create_schedule(C.op)
    _, xi = s[C].split(C.op.axis[0], factor=factor)
    s[C].vectorize(xi)
    return te.build(s, ins + [C], target="hvx", name=name)


def q6_calls(f):
    return set(re.findall(r"Q6_\w+", f.source))


# ----------------------------------------------------------------------------- basics

def test_module_runs_under_qemu_hexagon_and_uses_hvx():
    f = build_1d(lambda a, b: a + b, ["int8", "int8"], "int8", 128)
    assert "qemu-hexagon" in repr(f) and f.target == "hvx"
    assert "HVX_Vector" in f.source and "Q6_Vb_vadd_VbVb" in f.source
    a, b = data_for("int8", 300, 1), data_for("int8", 300, 2)
    c = np.zeros(300, "int8")
    f(a, b, c)
    np.testing.assert_array_equal(c, a + b)
    again = build_1d(lambda a, b: a + b, ["int8", "int8"], "int8", 128)
    assert again.exe_path == f.exe_path          # the program is cached on disk
    assert "_start" in f.harness_source and "trap0(#1)" in f.harness_source


def test_aligned_and_unaligned_vector_accesses():
    """Loads at a multiple of the lanes are aligned vmem; an offset load is vmemu."""
    n = te.var("n")
    A = te.placeholder((n + 1,), "int16", "A")
    C = te.compute((n,), lambda i: A[i] + A[i + 1], name="C")
    s = te.create_schedule(C.op)
    _, xi = s[C].split(C.op.axis[0], factor=64)
    s[C].vectorize(xi)
    f = te.build(s, [A, C], target="hvx", name="shifted_sum")
    assert "*(const HVX_Vector*)" in f.source and "*(const texpr_hvx_uvec*)" in f.source
    for size in (5, 64, 200):
        a = data_for("int16", size + 1, size)
        c = np.zeros(size, "int16")
        f(a, c)
        np.testing.assert_array_equal(c, a[:-1] + a[1:])


_ROWS = {}


def _rows_kernel(dt):
    """C[i, j] = A[i, j] * 3 + 1 over symbolic (m, n), j vectorized: built once per dtype."""
    if dt not in _ROWS:
        m, n = te.var("m"), te.var("n")
        A = te.placeholder((m, n), dt, "A")
        C = te.compute((m, n), lambda i, j: A[i, j] * 3 + 1, name="C")
        s = te.create_schedule(C.op)
        _, ji = s[C].split(C.op.axis[1], factor=lanes(dt))
        s[C].vectorize(ji)
        _ROWS[dt] = te.build(s, [A, C], target="hvx", name="rows")
    return _ROWS[dt]


@settings(max_examples=25, deadline=None)
@given(dt=st.sampled_from(["int8", "int16", "int32"]), rows=st.integers(1, 6),
       cols=st.integers(1, 300))
def test_tails_on_unaligned_rows_do_not_clobber_neighbours(dt, rows, cols):
    """Rows start anywhere in a 128-byte block: the predicated tail store of one row (one or
    two masked aligned stores) must leave the bytes of the row before it as they were."""
    f = _rows_kernel(dt)
    assert "texpr_hvx_mstore" in f.source
    a = data_for(dt, (rows, cols), cols)
    c = np.zeros((rows, cols), dt)
    f(a, c)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(c, a * np.array(3, dt) + np.array(1, dt))


# ----------------------------------------------------------------------------- elementwise chains

BINOPS = {"+": np.add, "-": np.subtract, "*": np.multiply, "min": np.minimum,
          "max": np.maximum, "&": np.bitwise_and, "|": np.bitwise_or, "^": np.bitwise_xor}


def _tree(dtype):
    bits = np.dtype(dtype).itemsize * 8
    leaf = st.sampled_from(["A", "B"])
    const = st.integers(0, 9) if dtype.startswith("u") else st.integers(-9, 9)

    def extend(children):
        return st.one_of(
            st.tuples(st.sampled_from(sorted(BINOPS)), children, children),
            st.tuples(st.sampled_from(sorted(BINOPS)), children, const),
            st.tuples(st.sampled_from(["<<", ">>"]), children, st.integers(0, bits - 1)),
            st.tuples(st.sampled_from(["<<v", ">>v"]), children, children),   # per lane
            st.tuples(st.sampled_from([">", "<", ">=", "<=", "==", "!="]), children, children))
    return st.recursive(leaf, extend, max_leaves=5)


def _te_expr(t, A, B, dtype):
    if t == "A":
        return A
    if t == "B":
        return B
    op, a, b = t
    x = _te_expr(a, A, B, dtype)
    y = _te_expr(b, A, B, dtype) if isinstance(b, (str, tuple)) else te.const(b, dtype)
    if op in (">", "<", ">=", "<=", "==", "!="):      # select(x cmp y, x - y, y)
        cond = {">": x > y, "<": x < y, ">=": x >= y, "<=": x <= y, "==": x == y,
                "!=": x != y}[op]
        return te.if_then_else(cond, x - y, y)
    if op in ("<<v", ">>v"):                          # amounts y & (bits - 1), per lane
        amount = y & te.const(np.dtype(dtype).itemsize * 8 - 1, dtype)
        return x << amount if op == "<<v" else x >> amount
    if op == "min":
        return te.min(x, y)
    if op == "max":
        return te.max(x, y)
    return {"+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y, "&": lambda: x & y,
            "|": lambda: x | y, "^": lambda: x ^ y, "<<": lambda: x << y,
            ">>": lambda: x >> y}[op]()


def _np_expr(t, a, b, dtype):
    if t == "A":
        return a
    if t == "B":
        return b
    op, x, y = t
    x = _np_expr(x, a, b, dtype)
    y = _np_expr(y, a, b, dtype) if isinstance(y, (str, tuple)) else np.array(y, dtype)
    if op in (">", "<", ">=", "<=", "==", "!="):
        cond = {">": np.greater, "<": np.less, ">=": np.greater_equal, "<=": np.less_equal,
                "==": np.equal, "!=": np.not_equal}[op](x, y)
        return np.where(cond, x - y, y).astype(dtype)
    if op in ("<<v", ">>v"):
        amount = y & np.array(np.dtype(dtype).itemsize * 8 - 1, dtype)
        return np.left_shift(x, amount) if op == "<<v" else np.right_shift(x, amount)
    if op == "<<":
        return np.left_shift(x, y)
    if op == ">>":
        return np.right_shift(x, y)
    return BINOPS[op](x, y)


@FEW
@given(st.data())
def test_elementwise_chains_match_numpy(data):
    dtype = data.draw(st.sampled_from(INTS), label="dtype")
    tree = data.draw(_tree(dtype), label="expression")
    for leaf in ("A", "B"):                  # both inputs are arguments: read both
        if f"'{leaf}'" not in repr(tree):
            tree = ("^", tree, leaf)
    factor = lanes(dtype) * data.draw(st.sampled_from([1, 2]), label="vectors per iteration")
    f = build_1d(lambda A, B: _te_expr(tree, A, B, dtype), [dtype, dtype], dtype, factor, "chain")
    assert q6_calls(f), "no HVX intrinsic in the source"
    for size in SIZES:
        a, b = data_for(dtype, size, 1), data_for(dtype, size, 2)
        c = np.zeros(size, dtype)
        f(a, b, c)
        with np.errstate(all="ignore"):
            want = np.broadcast_to(_np_expr(tree, a, b, dtype), (size,)).astype(dtype)
        np.testing.assert_array_equal(c, want)


# ----------------------------------------------------------------------------- saturation

def _wide(dtype):
    return {"int8": "int16", "uint8": "int16", "int16": "int32", "uint16": "int32",
            "int32": "int64", "uint32": "int64"}[dtype]


@FEW
@given(dtype=st.sampled_from(INTS), op=st.sampled_from(["+", "-"]))
def test_saturating_add_sub_match_numpy(dtype, op):
    """clamp(wide(a) +/- wide(b), dtype range) narrowed: one vadd_sat / vsub_sat."""
    info = np.iinfo(dtype)
    wide = _wide(dtype)

    def fn(a, b):
        x = a.astype(wide) + b.astype(wide) if op == "+" else a.astype(wide) - b.astype(wide)
        return te.min(te.max(x, te.const(int(info.min), wide)), te.const(int(info.max), wide))
    f = build_1d(fn, [dtype, dtype], dtype, lanes(dtype), "sat")
    name = {"+": "vadd", "-": "vsub"}[op]
    assert any(c.endswith("_sat") and name in c for c in q6_calls(f)), f.source
    assert "__builtin_shufflevector" not in f.source      # whole vectors of the narrow type
    for size in SIZES:
        a, b = data_for(dtype, size, 3), data_for(dtype, size, 4)
        c = np.zeros(size, dtype)
        f(a, b, c)
        x = a.astype(np.int64) + b if op == "+" else a.astype(np.int64) - b
        np.testing.assert_array_equal(c, np.clip(x, info.min, info.max).astype(dtype))


@pytest.mark.parametrize("src,dst", [("int16", "int8"), ("int16", "uint8"), ("int32", "int16"),
                                     ("int32", "uint16")])
def test_saturating_narrowing_pack(src, dst):
    info = np.iinfo(dst)
    f = build_1d(lambda a: te.min(te.max(a, te.const(int(info.min), src)),
                                  te.const(int(info.max), src)),
                 [src], dst, lanes(src), "pack")
    assert any("vpack" in c and c.endswith("_sat") for c in q6_calls(f)), f.source
    for size in SIZES:
        a = data_for(src, size, 5)
        c = np.zeros(size, dst)
        f(a, c)
        np.testing.assert_array_equal(c, np.clip(a, info.min, info.max).astype(dst))


# ----------------------------------------------------------------------------- casts and multiplies

CASTS = [(s, d) for s in INTS for d in INTS if s != d]


@FEW
@given(cast=st.sampled_from(CASTS), scale=st.sampled_from([None, 3]))
def test_casts_match_numpy(cast, scale):
    src, dst = cast
    factor = max(lanes(src), lanes(dst))

    def fn(a):
        return a.astype(dst) if scale is None else a.astype(dst) * te.const(scale, dst)
    f = build_1d(fn, [src], dst, factor, "cast")
    for size in SIZES:
        a = data_for(src, size, 6)
        c = np.zeros(size, dst)
        f(a, c)
        with np.errstate(all="ignore"):
            want = a.astype(dst) if scale is None else a.astype(dst) * np.array(scale, dst)
        np.testing.assert_array_equal(c, want)


@pytest.mark.parametrize("narrow,wide", [("int8", "int16"), ("uint8", "uint16"),
                                         ("uint8", "int16"), ("int16", "int32"),
                                         ("uint16", "uint32")])
def test_widening_multiply_accumulate(narrow, wide):
    """acc + wide(a) * wide(b): the widening vmpy (re-interleaved) plus an add."""
    f = build_1d(lambda a, b, c: c + a.astype(wide) * b.astype(wide), [narrow, narrow, wide],
                 wide, lanes(wide), "wmac")
    assert any("_vmpy_" in c for c in q6_calls(f)), f.source
    for size in SIZES:
        a, b, acc = data_for(narrow, size, 7), data_for(narrow, size, 8), data_for(wide, size, 9)
        c = np.zeros(size, wide)
        f(a, b, acc, c)
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(c, acc + a.astype(wide) * b.astype(wide))


# ----------------------------------------------------------------------------- reductions

@FEW
@given(dtype=st.sampled_from(INTS), reducer=st.sampled_from(["sum", "max", "min"]),
       widen=st.booleans())
def test_reductions_match_numpy(dtype, reducer, widen):
    """out[i, j] = reduce_k A[i, k, j]: vectors accumulate across k (sums widen to 32 bits)."""
    acc = ("uint32" if dtype.startswith("u") else "int32") if (widen and reducer == "sum") else dtype
    m, kk, n = te.var("m"), te.var("kk"), te.var("n")
    A = te.placeholder((m, kk, n), dtype, "A")
    k = te.reduce_axis((0, kk), "k")
    red = {"sum": te.sum, "max": te.max, "min": te.min}[reducer]
    B = te.compute((m, n), lambda i, j: red(A[i, k, j].astype(acc), axis=k), name="B")
    s = te.create_schedule(B.op)
    jo, ji = s[B].split(B.op.axis[1], factor=lanes(acc))
    s[B].reorder(B.op.axis[0], jo, k, ji)
    s[B].vectorize(ji)
    f = te.build(s, [A, B], target="hvx", name="reduce")
    for shape in ((2, 5, 37), (1, 3, 128), (3, 2, 200)):
        a = data_for(dtype, shape, 10)
        b = np.zeros((shape[0], shape[2]), acc)
        f(a, b)
        with np.errstate(all="ignore"):
            want = {"sum": lambda: a.astype(acc).sum(axis=1, dtype=acc),
                    "max": lambda: a.max(axis=1), "min": lambda: a.min(axis=1)}[reducer]()
        np.testing.assert_array_equal(b, want)


# ----------------------------------------------------------------------------- scalar-core code

def test_float_code_runs_on_the_scalar_core():
    """A vectorized float loop stays scalar on HVX v67 (no float vectors; clang would
    scalarize 32-lane float vectors slowly anyway)."""
    f = build_1d(lambda a, b: a * b + a - te.max(a, b), ["float32", "float32"], "float32", 32,
                 "fscalar")
    assert "float32x" not in f.source and "Q6_" not in f.source.split("texpr_kernel_fscalar(")[1]
    a = np.linspace(-3, 3, 77).astype("float32")
    b = np.cos(a).astype("float32")
    c = np.zeros(77, "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a * b + a - np.maximum(a, b), rtol=1e-6)


# ----------------------------------------------------------------------------- bad inputs

def test_bad_arguments_raise():
    f = build_1d(lambda a, b: a + b, ["int16", "int16"], "int16", 64, "args")
    a = np.zeros(10, "int16")
    with pytest.raises(TexprError, match="dtype|int16"):
        f(a, a.astype("int32"), np.zeros(10, "int16"))
    with pytest.raises(TexprError):
        f(a, np.zeros(11, "int16"), np.zeros(10, "int16"))      # inconsistent n
    with pytest.raises(TexprError):
        f(a)                                                    # an input missing


def test_out_of_range_data_index_raises():
    """A gather whose index comes from data is checked in the kernel; the harness reports it."""
    n, v = te.var("n"), te.var("v")
    table = te.placeholder((v,), "int32", "table")
    idx = te.placeholder((n,), "int32", "idx")
    C = te.compute((n,), lambda i: table[idx[i]] * 2, name="C")
    s = te.create_schedule(C.op)
    f = te.build(s, [table, idx, C], target="hvx", name="gather")
    t = np.arange(10, dtype="int32")
    ok = np.array([0, 9, 3], "int32")
    c = np.zeros(3, "int32")
    f(t, ok, c)
    np.testing.assert_array_equal(c, t[ok] * 2)
    with pytest.raises(TexprError, match="idx|table"):
        f(t, np.array([0, 10, 3], "int32"), c)


def test_float_division_and_libm_are_refused():
    for fn in (lambda a: a / te.const(3.0, "float32"), lambda a: te.exp(a)):
        with pytest.raises(TexprError, match="hvx"):
            build_1d(fn, ["float32"], "float32", 32, "refused")


# ----------------------------------------------------------------------------- any legal schedule

@FEW
@given(st.data())
def test_any_legal_schedule_of_an_int_operator_matches_numpy(data):
    """int8 x int16 products (a producer stage), row sums in int32: every legal schedule
    hypothesis draws (splits up to 40 lanes, reorders, inlining, compute_at, cache_write,
    rfactor, vectorize, ...) gives NumPy's result under qemu-hexagon."""
    from texpr import testing as tt
    dims, values = data.draw(tt.extents(["m", "n"], max_side=40))
    A = te.placeholder((dims["m"], dims["n"]), "int8", "A")
    B = te.placeholder((dims["n"],), "int16", "B")
    P = te.compute(A.shape, lambda i, j: A[i, j].astype("int16") * B[j] + te.const(3, "int16"),
                   name="P")
    k = te.reduce_axis((0, dims["n"]), "k")
    R = te.compute((dims["m"],), lambda i: te.sum(P[i, k].astype("int32"), axis=k), name="R")
    drawn = data.draw(tt.legal_schedules([R], max_factor=40))
    m, n = (values.get(dims[x], dims[x]) for x in ("m", "n"))
    a, b = data_for("int8", (m, n), 20), data_for("int16", n, 21)

    def ref(a, b):
        with np.errstate(all="ignore"):
            p = a.astype(np.int16) * b + np.int16(3)
        return p.astype(np.int32).sum(axis=1, dtype=np.int32)
    tt.check_kernel(drawn.schedule, [A, B, R], ref, [a, b], target="hvx")


# ----------------------------------------------------------------------------- module behaviour

def test_heap_intermediate_parallel_loop_and_time():
    """A 40 kB intermediate comes from the harness's mmap (no malloc on Hexagon); a parallel
    loop runs serially (no OpenMP runtime there); time() measures emulated calls."""
    n = te.var("n")
    A = te.placeholder((n, 20000), "int16", "A")
    T = te.compute(A.shape, lambda i, j: A[i, j] * 2, name="T")
    C = te.compute(A.shape, lambda i, j: T[i, j] + te.const(1, "int16"), name="C")
    s = te.create_schedule(C.op)
    s[T].compute_at(s[C], C.op.axis[0])
    s[C].parallel(C.op.axis[0])
    _, ji = s[C].split(C.op.axis[1], factor=64)
    s[C].vectorize(ji)
    f = te.build(s, [A, C], target="hvx", name="heap")
    assert "texpr_hvx_alloc(" in f.source
    a = data_for("int16", (3, 20000), 22)
    c = np.zeros((3, 20000), "int16")
    f(a, c)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(c, a * np.int16(2) + np.int16(1))
    assert 0 < f.time(a, c, number=1, repeat=1) < 10


def test_qfloat_float_vectors_compile_for_v68_only():
    """Float vectors as v68 qfloat: compile-checked (qf32 in the assembly); they cannot run
    under QEMU 7.2, and the module says so."""
    from texpr.targets.hexagon import qfloat as hvx_qfloat
    n = te.var("n")
    A = te.placeholder((n,), "float32", "A")
    B = te.placeholder((n,), "float32", "B")
    C = te.compute((n,), lambda i: A[i] * B[i] + A[i] - te.max(A[i], B[i]), name="C")
    s = te.create_schedule(C.op)
    _, xi = s[C].split(C.op.axis[0], factor=32)
    s[C].vectorize(xi)
    src, asm = hvx_qfloat.compile_check_qfloat(s, [A, B, C], "qf")
    assert "Q6_Vqf32_vmpy_VsfVsf" in src and "Q6_Vsf_equals_Vqf32" in src
    assert ".qf32" in asm
    assert "cannot run" in hvx_qfloat.CANNOT_RUN and "QEMU 7.2" in hvx_qfloat.CANNOT_RUN


# ----------------------------------------------------------------------------- the passes alone

def _sel_loop(t_from_other_buffer=False, other_size=64):
    from texpr.lang.expr import Cmp, Const, Select, Var
    from texpr.lang import ir
    X = ir.Buffer("X", "int16", (Const(64, "int32"),))
    Z = ir.Buffer("Z", "int16", (Const(other_size, "int32"),))
    Y = ir.Buffer("Y", "int16", (Const(64, "int32"),))
    i = Var("i")
    x, y = ir.BufferLoad(X, (i,), "int16"), ir.BufferLoad(Y, (i,), "int16")
    t = ir.BufferLoad(Z, (i,), "int16") if t_from_other_buffer else x
    body = ir.BufferStore(Y, Select(Cmp(">", x, y, "bool"), t, y, "int16"), (i,))
    return ir.For(i, Const(0, "int32"), Const(64, "int32"), "vectorized", body)


def test_vectorize_lane_ops_makes_a_vector_select_only_when_safe():
    from texpr.lang.expr import Select
    from texpr.lang import ir
    from texpr.lower.cpu.vectorize import vectorize_loops
    plain = vectorize_loops(_sel_loop(), 1024)
    assert isinstance(plain, ir.For)                          # lane by lane without lane_ops
    vec = vectorize_loops(_sel_loop(), 1024, lane_ops=True)
    assert isinstance(vec, ir.BufferStore) and isinstance(vec.value, Select)
    assert vec.value.cond.dtype == "boolx64" and vec.value.dtype == "int16x64"
    # a branch reading another buffer at the store's index is in bounds for every lane when
    # that buffer is at least as large as the one stored to: a vector select
    same = vectorize_loops(_sel_loop(t_from_other_buffer=True), 1024, lane_ops=True)
    assert isinstance(same, ir.BufferStore) and isinstance(same.value, Select)
    # a smaller buffer could be read where the scalar code never reads it: lane by lane
    unsafe = vectorize_loops(_sel_loop(t_from_other_buffer=True, other_size=32), 1024,
                             lane_ops=True)
    assert isinstance(unsafe, ir.For)


def test_disassembly_parser_finds_the_hardware_loop():
    from texpr.targets.hexagon import disasm as hvx_disasm
    text = """
00000000 <k>:
       0: { \tloop0(0x8,#7)
       4:   \tv0 = vxor(v0,v0) }
       8: { \tv0.w += vrmpy(v1.b,v2.b)
       c:   \tv1 = vmemu(r0++#1) }
      10: { \tv2 = vmemu(r1++#1) }  :endloop0
      14: { \tjumpr r31 }
"""
    pk = hvx_disasm.packets(hvx_disasm.function_text(text, "k"))
    assert len(pk) == 4 and pk[2][2]                          # the third packet ends the loop
    assert hvx_disasm.loops(pk) == [(1, 2, "loop0")]
    n, body = hvx_disasm.inner_loop(text, "k")
    assert n == 2 and any("vrmpy" in i for i in body)


def test_vectorize_without_float_vectors_keeps_float_loops_scalar():
    from texpr.lang.expr import Const, Var
    from texpr.lang import ir
    from texpr.lower.cpu.vectorize import vectorize_loops
    i = Var("i")
    for dt, vector in (("float32", False), ("int32", True)):
        X = ir.Buffer("X", dt, (Const(32, "int32"),))
        body = ir.For(i, Const(0, "int32"), Const(32, "int32"), "vectorized",
                      ir.BufferStore(X, ir.BufferLoad(X, (i,), dt) + ir.BufferLoad(X, (i,), dt),
                                     (i,)))
        out = vectorize_loops(body, 1024, float_vectors=False)
        assert isinstance(out, ir.BufferStore) == vector
        if not vector:
            assert isinstance(out, ir.For) and out.kind == "serial"
