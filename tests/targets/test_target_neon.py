"""Target "neon": NEON intrinsics C, cross-compiled to a static AArch64 program and run under
qemu-aarch64 by the emulator harness (natively through cffi on an AArch64 host).

Integers must equal NumPy exactly, floats within texpr.testing.tolerance. Each new kernel costs
a cross-compile (~0.3 s) and each call a qemu start (~20 ms), so example counts are small.
"""
import platform
import shutil

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr import testing as tt
from texpr.lang.expr import BinOp, Cast, Cmp, Const, Select
from texpr.lower import lower
from texpr.targets import get_target
from texpr.lower.cpu.isel import select_instructions
from texpr.target import GENERIC
from texpr.lang.ir import Buffer, BufferLoad, BufferStore, LoweredFunc, Ramp, seq
from texpr.targets.runtime import harness
from texpr.targets.arm.neon import NEON_TYPES, NEONEmitter
from support.tensorize import tensorized_gemm_fp32

NATIVE = platform.machine().lower() in ("aarch64", "arm64")
if not NATIVE:
    _missing = [t for t in ("aarch64-linux-gnu-gcc", "qemu-aarch64") if shutil.which(t) is None]
    if _missing:
        pytest.skip(f"{', '.join(_missing)} not installed ({harness.AARCH64_LINUX.install}; "
                    "`make test` does it as root)", allow_module_level=True)

FEW = settings(max_examples=12, deadline=None)
TAIL_SIZES = [1, 2, 3, 5, 7, 9, 13, 15, 17, 31, 33, 37]   # no vector width divides most


def rng(seed):
    return np.random.default_rng(seed)


def data_for(dtype, shape, seed, low=None, high=None):
    """Random data of `dtype`; integers cover the whole range unless low/high say otherwise."""
    g = rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        lo, hi = (-1.0, 1.0) if low is None else (low, high)
        return g.uniform(lo, hi, shape).astype(dt)
    info = np.iinfo(dt)
    lo = info.min if low is None else low
    hi = info.max if high is None else high
    return g.integers(lo, hi, shape, dtype=dt, endpoint=True)


def assert_matches(got, want, dtype):
    if np.dtype(dtype).kind == "f":
        rtol, atol = tt.tolerance(dtype)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(got, want.astype(got.dtype))


def hand_module(func, outputs):
    """A module for a hand-built LoweredFunc, through the same instruction selection, emitter
    and harness as te.build."""
    func = func.replace_body(select_instructions(func.body, get_target("neon")))
    src, fname = NEONEmitter(func).emit()
    return harness.AARCH64_LINUX.module(func, src, fname, "neon", {id(b) for b in outputs}), src


# ----------------------------------------------------------------------------- elementwise chains

# int32 / int16 values stay small enough that no C intermediate (computed in int) overflows
# with at most 4 factors; int8 uses its whole range. Lane arithmetic still wraps.
RANGES = {"int8": (None, None), "int16": (-180, 180), "int32": (-100, 100),
          "float32": (-1.0, 1.0), "float64": (-1.0, 1.0)}
OPS = {"+": np.add, "-": np.subtract, "*": np.multiply, "min": np.minimum, "max": np.maximum}


def _tree(dtype):
    leaf = st.sampled_from(["A", "B"])
    const = (st.integers(-5, 5) if np.dtype(dtype).kind == "i"
             else st.sampled_from([0.5, -1.25, 2.0, 0.0]))

    def extend(children):
        return st.one_of(st.tuples(st.sampled_from(sorted(OPS)), children, children),
                         st.tuples(st.sampled_from(sorted(OPS)), children, const))
    return st.recursive(leaf, extend, max_leaves=4)


def _te_expr(t, A, B, i):
    if t == "A":
        return A[i]
    if t == "B":
        return B[i]
    op, a, b = t
    x = _te_expr(a, A, B, i)
    y = _te_expr(b, A, B, i) if isinstance(b, (str, tuple)) else b
    if op == "min":
        return te.min(x, y)
    if op == "max":
        return te.max(x, y)
    return {"+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y}[op]()


def _np_expr(t, a, b):
    if t == "A":
        return a
    if t == "B":
        return b
    op, x, y = t
    return OPS[op](_np_expr(x, a, b), _np_expr(y, a, b) if isinstance(y, (str, tuple)) else y)


@FEW
@given(st.data())
def test_elementwise_chains_match_numpy(data):
    dtype = data.draw(st.sampled_from(sorted(RANGES)), label="dtype")
    tree = data.draw(_tree(dtype), label="expression")
    size = data.draw(st.sampled_from(TAIL_SIZES), label="n")
    symbolic = data.draw(st.booleans(), label="symbolic n")
    factor = data.draw(st.sampled_from([2, 4, 8, 16]), label="split factor")
    n = te.var("n") if symbolic else size
    A = te.placeholder((n,), dtype, "A")
    B = te.placeholder((n,), dtype, "B")
    C = te.compute((n,), lambda i: _te_expr(tree, A, B, i), name="C")
    s = te.create_schedule(C.op)
    _, xi = s[C].split(C.op.axis[0], factor=factor)
    s[C].vectorize(xi)
    used = [T for T in (A, B) if T.name in repr(tree)]   # placeholders the expression reads
    f = te.build(s, used + [C], target="neon", name="chain")
    lo, hi = RANGES[dtype]
    a, b = data_for(dtype, size, 1, lo, hi), data_for(dtype, size, 2, lo, hi)
    c = np.full(size, 99, dtype)
    f(*[{"A": a, "B": b}[T.name] for T in used], c)
    with np.errstate(all="ignore"):
        want = np.broadcast_to(_np_expr(tree, a, b), (size,)).astype(dtype)
    assert_matches(c, want, dtype)


# ----------------------------------------------------------------------------- reductions

@FEW
@given(st.data())
def test_reductions_match_numpy(data):
    dtype = data.draw(st.sampled_from(["int8", "int16", "int32", "float32", "float64"]),
                      label="dtype")
    reducer = data.draw(st.sampled_from(["sum", "max", "min"]), label="reducer")
    m = data.draw(st.integers(1, 3), label="m")
    kk = data.draw(st.integers(1, 6), label="k")
    size = data.draw(st.sampled_from(TAIL_SIZES), label="n")
    factor = data.draw(st.sampled_from([2, 4, 8]), label="split factor")
    k_outside = data.draw(st.booleans(), label="reduction loop outside the vector lanes")
    n = te.var("n") if data.draw(st.booleans(), label="symbolic n") else size
    A = te.placeholder((m, kk, n), dtype, "A")
    k = te.reduce_axis((0, kk), "k")
    red = {"sum": te.sum, "max": te.max, "min": te.min}[reducer]
    B = te.compute((m, n), lambda i, j: red(A[i, k, j], axis=k), name="B")
    s = te.create_schedule(B.op)
    jo, ji = s[B].split(B.op.axis[1], factor=factor)
    if k_outside:
        s[B].reorder(B.op.axis[0], jo, k, ji)
    s[B].vectorize(ji)
    f = te.build(s, [A, B], target="neon", name="reduce")
    a = data_for(dtype, (m, kk, size), 3, *((-1000, 1000) if dtype == "int32" else (None, None)))
    b = np.zeros((m, size), dtype)
    f(a, b)
    with np.errstate(all="ignore"):
        want = {"sum": lambda: a.sum(axis=1, dtype=dtype), "max": lambda: a.max(axis=1),
                "min": lambda: a.min(axis=1)}[reducer]()
    assert_matches(b, want, dtype)


# ----------------------------------------------------------------------------- casts

CASTS = [("int8", "int16"), ("int8", "int32"), ("int8", "float32"), ("int16", "int32"),
         ("int16", "int8"), ("int32", "int16"), ("int32", "int8"), ("int32", "float32"),
         ("int32", "float64"), ("float32", "int32"), ("float32", "float64"),
         ("float64", "float32"), ("float64", "int32"), ("uint8", "int16"), ("uint8", "float32"),
         ("float32", "int8"), ("int16", "float64")]


@FEW
@given(st.data())
def test_casts_match_numpy(data):
    src, dst = data.draw(st.sampled_from(CASTS), label="cast")
    size = data.draw(st.sampled_from(TAIL_SIZES), label="n")
    factor = data.draw(st.sampled_from([2, 4, 8, 16]), label="split factor")
    scale = data.draw(st.sampled_from([None, 3]), label="then multiply by")
    n = te.var("n") if data.draw(st.booleans(), label="symbolic n") else size
    A = te.placeholder((n,), src, "A")
    C = te.compute((n,), lambda i: A[i].astype(dst) if scale is None else A[i].astype(dst) * scale,
                   name="C")
    s = te.create_schedule(C.op)
    _, xi = s[C].split(C.op.axis[0], factor=factor)
    s[C].vectorize(xi)
    f = te.build(s, [A, C], target="neon", name="cast")
    if np.dtype(src).kind == "f":      # float -> int is only defined in range: stay inside
        a = data_for(src, size, 4, -100.0, 100.0)
    elif src == "int32":
        a = data_for(src, size, 4, -2**20, 2**20)
    else:
        a = data_for(src, size, 4)
    c = np.zeros(size, dst)
    f(a, c)
    with np.errstate(all="ignore"):
        want = a.astype(dst) if scale is None else a.astype(dst) * np.array(scale, dst)
    assert_matches(c, want, dst)


# ----------------------------------------------------------------------------- any legal schedule

@settings(max_examples=6, deadline=None)
@given(st.data())
def test_matmul_any_legal_schedule(data):
    """Strided accesses (gathers), parallel loops, unrolling, cache_write ... on NEON."""
    dims, values = data.draw(tt.extents(["m", "n", "k"], max_side=11))
    A = te.placeholder((dims["m"], dims["k"]), name="A")
    B = te.placeholder((dims["k"], dims["n"]), name="B")
    k = te.reduce_axis((0, dims["k"]), name="k")
    C = te.compute((dims["m"], dims["n"]), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k),
                   name="C")
    drawn = data.draw(tt.legal_schedules([C]), label="schedule")
    inputs = data.draw(tt.arrays_for([A, B], values), label="inputs")
    tt.check_kernel(drawn.schedule, [A, B, C], lambda a, b: a @ b, inputs, target="neon")


# ----------------------------------------------------------------------------- every NEON type

def _vec_buf(name, base, lanes):
    return Buffer(name, base, (Const(lanes, "int32"),), is_arg=True)


def test_every_neon_type_arithmetic_and_conversions_run_exactly():
    """One kernel applies every overridden op to every q and d register type; another every
    conversion between types of equal lane count (the lowering only makes some of them)."""
    args, outs, stmts, expect = [], [], [], []
    for k, vt in enumerate(sorted(NEON_TYPES)):
        base, lanes = vt.rsplit("x", 1)
        lanes = int(lanes)
        idx = Ramp(Const(0, "int32"), 1, lanes, f"int32x{lanes}")
        A, B = _vec_buf(f"A{k}", base, lanes), _vec_buf(f"B{k}", base, lanes)
        la, lb = BufferLoad(A, (idx,), vt), BufferLoad(B, (idx,), vt)
        a = data_for(base, lanes, 10 + k, *((1, 100) if base.startswith("float") else (None, None)))
        b = data_for(base, lanes, 50 + k, *((1, 100) if base.startswith("float") else (None, None)))
        args += [(A, a), (B, b)]
        ops = [("+", np.add), ("-", np.subtract), ("*", np.multiply), ("min", np.minimum),
               ("max", np.maximum)] + ([("/", np.divide)] if base.startswith("float") else [])
        for j, (op, fn) in enumerate(ops):
            C = _vec_buf(f"C{k}_{j}", base, lanes)
            stmts.append(BufferStore(C, BinOp(op, la, lb, vt), (idx,)))
            outs.append(C)
            expect.append(fn(a, b))
        C = _vec_buf(f"F{k}", base, lanes)          # a*b + a: fused multiply-add on floats
        stmts.append(BufferStore(C, BinOp("+", BinOp("*", la, lb, vt), la, vt), (idx,)))
        outs.append(C)
        expect.append(a * b + a)
    func = LoweredFunc("all_ops", [x for x, _ in args] + outs, seq(*stmts), [])
    f, src = hand_module(func, outs)
    for needle in ("vsub_u16", "vmulq_u32", "vminq_f64", "vmax_s32", "vdivq_f32",
                   "vfmaq_f64", "vfma_f32", "vaddq_u64", "vld1_u8", "vst1q_s64"):
        assert needle in src, needle
    # signed + - * wrap: computed on unsigned lanes (arm_neon.h's vaddq_s8 is a + b on signed
    # lanes, whose overflow GCC may assume away)
    assert "vaddq_s8" not in src and "(texpr_uint8x16)" in src
    got = [np.zeros(o.shape[0].value, o.dtype) for o in outs]
    with np.errstate(all="ignore"):
        f(*[a for _, a in args], *got)
    for o, g, w in zip(outs, got, expect):
        if o.dtype.startswith("float"):
            # float16 a*b + a fuses (one rounding, NumPy rounds twice): within 1 ULP
            fused16 = o.dtype == "float16" and o.name.startswith("F")
            np.testing.assert_allclose(g, w.astype(o.dtype), rtol=2.0**-10 if fused16 else 1e-6,
                                       err_msg=o.name)
        else:
            np.testing.assert_array_equal(g, w.astype(o.dtype), err_msg=o.name)

    # conversions between all NEON types of equal lane count, on values every type holds
    args, outs, stmts, pairs = [], [], [], []
    by_lanes = {}
    for vt in sorted(NEON_TYPES):
        by_lanes.setdefault(int(vt.rsplit("x", 1)[1]), []).append(vt)
    for lanes, group in sorted(by_lanes.items()):
        idx = Ramp(Const(0, "int32"), 1, lanes, f"int32x{lanes}")
        for s_vt in group:
            base = s_vt.rsplit("x", 1)[0]
            A = _vec_buf(f"S_{s_vt}", base, lanes)
            a = data_for(base, lanes, lanes, 0, 100)
            args.append((A, a))
            for d_vt in group:
                if d_vt == s_vt:
                    continue
                dbase = d_vt.rsplit("x", 1)[0]
                C = _vec_buf(f"D_{s_vt}_{d_vt}", dbase, lanes)
                stmts.append(BufferStore(C, Cast(BufferLoad(A, (idx,), s_vt), d_vt), (idx,)))
                outs.append(C)
                pairs.append((a, dbase))
    func = LoweredFunc("all_casts", [x for x, _ in args] + outs, seq(*stmts), [])
    f, src = hand_module(func, outs)
    for needle in ("vcvtq_f32_s32", "vcvtq_u32_f32", "vmovl_s8", "vmovn_u16", "vcvt_f64_f32",
                   "vcvt_f32_f64", "vreinterpretq_u8_s8", "vmovl_u32"):
        assert needle in src, needle
    got = [np.zeros(o.shape[0].value, o.dtype) for o in outs]
    f(*[a for _, a in args], *got)
    for o, g, (a, dbase) in zip(outs, got, pairs):
        np.testing.assert_array_equal(g, a.astype(dbase), err_msg=o.name)


def test_vector_compare_select_uses_vbsl():
    outs, stmts, expect = [], [], []
    lanes, vt = 4, "float32x4"
    idx = Ramp(Const(0, "int32"), 1, lanes, "int32x4")
    A, B = _vec_buf("A", "float32", lanes), _vec_buf("B", "float32", lanes)
    la, lb = BufferLoad(A, (idx,), vt), BufferLoad(B, (idx,), vt)
    a = np.array([1, 2, 3, 4], "float32")
    b = np.array([2, 2, 2, 5], "float32")
    for j, op in enumerate(["<", "<=", ">", ">=", "==", "!="]):
        C = _vec_buf(f"C{j}", "float32", lanes)
        stmts.append(BufferStore(C, Select(Cmp(op, la, lb, "boolx4"), la, lb, vt), (idx,)))
        outs.append(C)
        expect.append(np.where(eval(f"a {op} b"), a, b))
    f, src = hand_module(LoweredFunc("sel", [A, B] + outs, seq(*stmts), []), outs)
    assert "vbslq_f32(vcltq_f32(" in src and "vmvnq_u32(vceqq_f32(" in src
    got = [np.zeros(4, "float32") for _ in outs]
    f(a, b, *got)
    for g, w in zip(got, expect):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("signed", [True, False])
def test_widening_multiply_accumulate(signed):
    """int16(a8) * int16(b8) (+ acc16) -> vmull_s8 / vmlal_s8 when the lanes are 8 wide.

    The vectorizer sizes lanes by the widest data dtype (int16 here): 8 lanes at 128 bits."""
    nb, wb = ("int8", "int16") if signed else ("uint8", "uint16")
    n = 45
    A, B = te.placeholder((n,), nb, "A"), te.placeholder((n,), nb, "B")
    D = te.placeholder((n,), wb, "D")
    C = te.compute((n,), lambda i: D[i] + A[i].astype(wb) * B[i].astype(wb), name="C")
    E = te.compute((n,), lambda i: A[i].astype(wb) * B[3].astype(wb), name="E")
    s = te.create_schedule([C.op, E.op])
    for T in (C, E):
        _, xi = s[T].split(T.op.axis[0], factor=16)
        s[T].vectorize(xi)
    func = lower(s, [A, B, D, C, E], "wmul", target=GENERIC.with_(vector_bits=128))
    f, src = hand_module(func, func.args[3:])
    sfx = "s8" if signed else "u8"
    assert f"vmlal_{sfx}(" in src and f"vmull_{sfx}(" in src and f"vdup_n_{sfx}(" in src
    a, b, d = data_for(nb, n, 5), data_for(nb, n, 6), data_for(wb, n, 7)
    c, e = np.zeros(n, wb), np.zeros(n, wb)
    f(a, b, d, c, e)
    np.testing.assert_array_equal(c, d + a.astype(wb) * b.astype(wb))
    np.testing.assert_array_equal(e, a.astype(wb) * b[3].astype(wb))


# ----------------------------------------------------------------------------- tensor intrinsics

def test_gemm_fp32_and_sdot_micro_kernels_run_under_neon():
    from texpr.targets.intrin import dot_int8
    M, N, K, mr, nr, kc = 11, 16, 24, 2, 8, 8       # 11 rows: a 1-row partial tile
    s, (A, B, C) = tensorized_gemm_fp32(M, N, K, mr, nr, kc)
    f = te.build(s, [A, B, C], target="neon", name="gemm")
    assert "vfmaq_f32" in f.source and "(partial tile)" in f.source
    a, b = data_for("float32", (M, K), 11), data_for("float32", (K, N), 12)
    c = np.full((M, N), np.nan, "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-5)

    M, N, K, lanes, kc = 3, 16, 32, 16, 16       # int8 dense with sdot (vdotq_s32), exact
    A = te.placeholder((M, K), "int8", name="A")
    W = te.placeholder((N, K), "int8", name="W")
    WP = te.compute((N // lanes, K // 4, lanes, 4),
                    lambda n, kg, j, kk: W[n * lanes + j, kg * 4 + kk], name="WP")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(
        A[i, k].astype("int32") * WP[j // lanes, k // 4, j % lanes, k % 4].astype("int32"),
        axis=k), name="C")
    s = te.create_schedule(C.op)
    i, j = C.op.axis
    io, ii = s[C].split(i, 1)                   # rows=1 per intrinsic call
    jo, ji = s[C].split(j, lanes)
    ko, ki = s[C].split(k, kc)
    kg, kk = s[C].split(ki, 4)
    s[C].reorder(io, jo, ko, ii, ji, kg, kk)
    s[C].tensorize(ii, dot_int8(kc, lanes, "int8"))
    f = te.build(s, [A, W, C], target="neon", name="dense_s8")
    assert "vdotq_s32" in f.source
    a, w = data_for("int8", (M, K), 13), data_for("int8", (N, K), 14)
    c = np.zeros((M, N), "int32")
    f(a, w, c)
    np.testing.assert_array_equal(c, a.astype("int32") @ w.astype("int32").T)


# ----------------------------------------------------------------------------- module behaviour

def _scale_kernel(target):
    n = te.var("n")
    A = te.placeholder((n, 8), "float32", "A")
    B = te.compute((n, 8), lambda i, j: A[i, j] * 2.0 + 1.0, name="B")
    s = te.create_schedule(B.op)
    _, ji = s[B].split(B.op.axis[1], factor=4)
    s[B].vectorize(ji)
    s[B].parallel(B.op.axis[0])
    return te.build(s, [A, B], target=target, name="scale")


def test_source_uses_neon_intrinsics_and_repr_says_qemu():
    f = _scale_kernel("neon")
    src = f.source
    assert "#include <arm_neon.h>" in src
    assert "typedef float32x4_t texpr_float32x4;" in src
    for needle in ("vld1q_f32(", "vst1q_f32(", "vfmaq_f32(", "vdupq_n_f32("):
        assert needle in src, needle
    assert "texpr_load_float32x4" not in src      # no memcpy fallback for a NEON type
    if not NATIVE:
        assert "qemu-aarch64" in repr(f)
        assert "int main(int argc" in f.harness_source


def test_parallel_kernel_and_time_under_emulation(monkeypatch):
    monkeypatch.setenv("TEXPR_NUM_THREADS", "2")
    f = _scale_kernel("neon")
    a = data_for("float32", (13, 8), 8)
    b = np.full((13, 8), np.nan, "float32")
    f(a, b)
    np.testing.assert_allclose(b, a * 2 + 1, rtol=1e-6)
    t = f.time(a, b, number=2, repeat=2)
    assert isinstance(t, float) and t > 0


def test_kernel_named_like_a_libc_function_runs():
    """The harness renames the kernel's symbols: no clash with read/write of its I/O layer."""
    A = te.placeholder((9,), "int16", "A")
    B = te.compute((9,), lambda i: A[i] * 3, name="B")
    s = te.create_schedule(B.op)
    f = te.build(s, [A, B], target="neon", name="write")
    a = data_for("int16", 9, 9)
    b = np.zeros(9, "int16")
    f(a, b)
    np.testing.assert_array_equal(b, a * np.int16(3))


def _errors(f, calls):
    out = []
    for args in calls:
        try:
            f(*args)
            out.append(None)
        except Exception as e:      # noqa: BLE001 - compare whatever is raised
            out.append((type(e), str(e)))
    return out


def test_argument_validation_is_the_same_as_native():
    native, neon = _scale_kernel("c"), _scale_kernel("neon")
    a = np.ones((5, 8), "float32")
    b = np.zeros((5, 8), "float32")
    ro = np.zeros((5, 8), "float32")
    ro.flags.writeable = False
    calls = [
        (),                                          # no input
        (a, b, b),                                   # one too many
        (a.astype("float64"), b),                    # wrong dtype
        (a, np.zeros((5, 7), "float32")),            # wrong constant extent
        (a, np.zeros((6, 8), "float32")),            # inconsistent symbolic extent n
        (np.ones((5, 16), "float32")[:, ::2], b),     # not C-contiguous
        (a, ro),                                     # read-only output
        (a.tolist(), b),                             # not an ndarray
        (np.ones((5, 8, 1), "float32"), b),          # wrong rank
    ]
    got_native, got_neon = _errors(native, calls), _errors(neon, calls)
    assert got_neon == got_native
    assert all(g is not None and issubclass(g[0], te.ArgumentError) for g in got_neon)
    assert not np.any(b)                             # failed calls wrote nothing
    np.testing.assert_array_equal(neon(a), native(a))   # the output omitted: allocated


def test_missing_cross_compiler_or_emulator_names_the_packages(monkeypatch):
    good = harness.AARCH64_LINUX
    bad_cc = harness.HarnessSpec("t", "texpr-missing-gcc", good.flags, good.emulator, good.install)
    monkeypatch.setattr(harness, "AARCH64_LINUX", bad_cc)
    if NATIVE:
        pytest.skip("runs natively through cffi on AArch64")
    f = _scale_kernel("neon")                    # building only emits source: no toolchain yet
    assert "vld1q_f32" in f.source
    a, b = np.ones((2, 8), "float32"), np.zeros((2, 8), "float32")
    with pytest.raises(te.TexprError, match="texpr-missing-gcc not found: apt-get install "
                       "gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"):
        f(a, b)
    bad_emu = harness.HarnessSpec("t", good.cc, good.flags, ["texpr-missing-qemu"], good.install)
    monkeypatch.setattr(harness, "AARCH64_LINUX", bad_emu)
    f = _scale_kernel("neon")
    with pytest.raises(te.TexprError, match="texpr-missing-qemu not found: apt-get install"):
        f(a, b)


def test_neon_on_an_aarch64_host_runs_natively(monkeypatch):
    from texpr.targets.build import get_target
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    t = get_target("neon")
    assert getattr(t, "harness", None) is None and harness.NEON_MARCH in t.flags
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert get_target("neon").harness is harness.AARCH64_LINUX
