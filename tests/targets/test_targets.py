"""texpr.targets: the C emitter (names, literals, math), the runtime's argument checks, the
on-disk cache of compiled kernels."""
import math
import os
import re
import threading

import numpy as np
import pytest

import texpr as te
from texpr import testing as tt
from texpr.targets import toolchain
from texpr.targets.c.emitter import safe_comment, const_literal
from texpr.targets.c.names import NameTable, sanitize

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ----------------------------------------------------------------------------- names

@pytest.mark.parametrize("name", ['x; system("rm -rf /"); //', "int", "for", "main", "3d",
                                  "texpr_alloc", "__x", "a b-c.d", "ü", ""])
def test_sanitize_gives_a_safe_identifier(name):
    s = sanitize(name)
    assert IDENT.match(s), s
    assert s not in ("int", "for", "main") and not s.startswith("texpr_") and not s.startswith("__")


def test_name_table_keeps_names_unique_and_stable():
    t = NameTable()
    a, b = object(), object()
    assert t.get(a, "A") == "A"
    assert t.get(b, "A") == "A_1"
    assert t.get(a, "whatever") == "A"
    t.reserve("B")
    assert t.get(object(), "B") == "B_1"


def test_hostile_tensor_names_do_not_inject_code():
    A = te.placeholder((8,), name='x; system("rm"); //')
    B = te.compute((8,), lambda i: A[i] * 2.0, name='*/ int evil(){return 1;} /*')
    C = te.compute((8,), lambda i: B[i] + 1.0, name="C\r} int injected; void g(){")
    s = te.create_schedule(C.op)
    s[C].pragma(C.op.axis[0], "comment", "*/ evil(); /*\n\\")
    mod, _ = tt.check_kernel(s, [A, C], lambda a: a * 2 + 1, [np.arange(8, dtype="float32")],
                             target="c", name='k"; evil(); "')
    code = re.sub(r"/\*.*?\*/", "", mod.source, flags=re.S)
    code = re.sub(r"//[^\n]*", "", code)
    for injected in ("system(", "evil(", "int injected", "void g("):
        assert injected not in code, injected
    assert "\r" not in mod.source


def test_two_tensors_with_one_name_get_distinct_c_names():
    A = te.placeholder((4,), name="T")
    B = te.compute((4,), lambda i: A[i] + 1.0, name="T")
    C = te.compute((4,), lambda i: B[i] * 2.0, name="T")
    s = te.create_schedule(C.op)
    mod, _ = tt.check_kernel(s, [A, C], lambda a: (a + 1) * 2, [np.ones(4, "float32")], target="c")
    assert "float* restrict T," in mod.source and "T_1" in mod.source


def test_comment_text_is_made_safe():
    assert "\n" not in safe_comment("a\nb") and "\r" not in safe_comment("a\rb")
    assert not safe_comment("trailing\\").endswith("\\")
    assert "*/" not in safe_comment("x */ y")
    assert "??" not in safe_comment("??/")


# ----------------------------------------------------------------------------- literals and math

def test_const_literals():
    assert const_literal(math.inf, "float32") == "INFINITY"
    assert const_literal(-math.inf, "float64") == "((double)(-INFINITY))"
    assert const_literal(math.nan, "float32") == "NAN"
    assert const_literal(1.0, "float32") == "1.0f"
    assert const_literal(-2**31, "int32") == "(-2147483647 - 1)"
    assert const_literal(-2**63, "int64") == "(INT64_MIN)"
    assert const_literal(5, "uint32") == "5u"
    assert const_literal(True, "bool") == "true"


@pytest.mark.parametrize("dt", ["int8", "uint8", "int16", "int32", "int64", "uint32", "uint64"])
def test_integer_extremes_survive_the_round_trip(dt):
    info = np.iinfo(dt)
    A = te.placeholder((3,), dt, name="A")
    B = te.compute((3,), lambda i: te.if_then_else(i == 0, te.const(int(info.min), dt),
                                                   te.if_then_else(i == 1, te.const(int(info.max), dt),
                                                                   A[i])), name="B")
    s = te.create_schedule(B.op)
    a = np.array([0, 0, 7], dt)
    mod, (b,) = tt.check_kernel(s, [A, B], lambda a: np.array([info.min, info.max, 7], dt), [a],
                                target="c")


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_math_functions_match_numpy(dt):
    erf = np.vectorize(math.erf)
    n = 17
    A = te.placeholder((n,), dt, name="A")
    fns = [("exp", te.exp, np.exp), ("log", te.log, np.log), ("sqrt", te.sqrt, np.sqrt),
           ("tanh", te.tanh, np.tanh), ("sigmoid", te.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
           ("abs", te.abs, np.abs), ("floor", te.floor, np.floor), ("ceil", te.ceil, np.ceil),
           ("erf", te.erf, erf), ("pow", lambda x: te.pow(x, 1.5), lambda x: x ** 1.5)]
    def unary(f):
        return lambda i: f(A[i] + 0.25)
    outs = [te.compute((n,), unary(f), name=nm) for nm, f, _ in fns]
    s = te.create_schedule([o.op for o in outs])
    a = np.linspace(0.0, 3.0, n).astype(dt)

    def ref(a):
        x = a + np.asarray(0.25, dt)
        return tuple(np.asarray(g(x)).astype(dt) for _, _, g in fns)
    rtol = 1e-5 if dt == "float32" else 1e-12
    tt.check_kernel(s, [A] + outs, ref, [a], target="c", rtol=rtol, atol=rtol)


def test_mixed_dtypes_bool_and_casts():
    A = te.placeholder((10,), "int8", name="A")
    F = te.placeholder((10,), "float16", name="F")
    Bo = te.compute((10,), lambda i: te.any(A[i] > 2, F[i] < 0.0), name="Bo")
    S = te.compute((10,), lambda i: A[i].astype("int32") * 1000 + F[i].astype("int32"), name="S")
    H = te.compute((10,), lambda i: F[i] * 2.0 + A[i], name="H")
    s = te.create_schedule([Bo.op, S.op, H.op])
    a = np.arange(-5, 5).astype("int8")
    f = np.linspace(-2, 2, 10).astype("float16")

    def ref(a, f):
        return (a > 2) | (f < 0), a.astype("int32") * 1000 + f.astype("int32"), f * np.float16(2) + a
    tt.check_kernel(s, [A, F, Bo, S, H], ref, [a, f], target="c")


def test_native_target_repr_and_source():
    A = te.placeholder((64,), name="A")
    B = te.compute((64,), lambda i: A[i] * 3.0 + 1.0, name="B")
    s = te.create_schedule(B.op)
    io, ii = s[B].split(B.op.axis[0], factor=8)
    s[B].vectorize(ii)
    mod, _ = tt.check_kernel(s, [A, B], lambda a: a * 3 + 1, [np.arange(64, dtype="float32")],
                             target="native")
    assert "texpr.Module" in repr(mod) and "native" in repr(mod)
    assert "// generated by texpr for target" in mod.source
    assert mod.time(np.zeros(64, "float32"), np.zeros(64, "float32"), number=2, repeat=2) > 0


# ----------------------------------------------------------------------------- runtime

@pytest.fixture(scope="module")
def padded():
    """B[n + 2, 4] = A[n, 4] padded with two zero rows; n symbolic."""
    n = te.var("n")
    A = te.placeholder((n, 4), name="A")
    B = te.compute((n + 2, 4), lambda i, j: te.if_then_else(i < n, A[te.min(i, n - 1), j], 0.0),
                   name="B")
    return te.build(te.create_schedule(B.op), [A, B], target="c", name="pad")


def test_symbolic_extents_are_taken_from_the_arrays(padded):
    for n in (0, 1, 3, 10):
        a = np.arange(n * 4, dtype="float32").reshape(n, 4)
        b = np.full((n + 2, 4), np.nan, "float32")
        padded(a, b)
        np.testing.assert_array_equal(b, np.concatenate([a, np.zeros((2, 4), "float32")]))


def arg_err(match):
    return pytest.raises(te.ArgumentError, match=match)


def test_argument_errors(padded):
    a, b = np.ones((3, 4), "float32"), np.zeros((5, 4), "float32")
    with arg_err(r"expected 2 arrays \(A, B\), or the 1 input\(s\) alone .*, got 0"):
        padded()
    with arg_err("expected 2 arrays"):
        padded(a, b, b)
    with arg_err("argument A: dtype is float64, expected float32"):
        padded(a.astype("float64"), b)
    with arg_err("argument A: has 3 dimension"):
        padded(a[None], b)
    with arg_err(r"argument B: dimension 0 is 6, expected n \+ 2 = 5"):
        padded(a, np.zeros((6, 4), "float32"))
    with arg_err("argument A: dimension 1 is 5, expected 4"):
        padded(np.ones((3, 5), "float32"), b)
    with arg_err("argument A: array is not C-contiguous"):
        padded(np.ones((3, 8), "float32")[:, ::2], b)
    with arg_err("not C-contiguous"):
        padded(np.asfortranarray(np.ones((3, 4), "float32")), b)
    ro = np.zeros((5, 4), "float32")
    ro.setflags(write=False)
    with arg_err("argument B: output array is read-only"):
        padded(a, ro)
    with arg_err("argument A: expected a numpy.ndarray, or an array with __dlpack__ or the "
                 "buffer protocol, got list"):
        padded(a.tolist(), b)
    a_ro = a.copy()
    a_ro.setflags(write=False)
    padded(a_ro, b)                                    # a read-only input is fine


def test_outputs_sharing_memory_with_another_argument_are_refused():
    """Kernel pointers are restrict: an output aliasing an input would give a wrong answer
    (C = A @ B written into A reads rows it already overwrote), so any overlap is refused,
    also a partial one through a view; the same input twice is fine."""
    n = 8
    A, B = te.placeholder((n, n), name="A"), te.placeholder((n, n), name="B")
    k = te.reduce_axis((0, n), "k")
    C = te.compute((n, n), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    f = te.build(te.create_schedule(C.op), [A, B, C], target="c")
    a = np.arange(n * n, dtype="float32").reshape(n, n) / 64
    big = np.zeros((2 * n, n), "float32")
    with arg_err("argument C: output shares memory with argument A"):
        f(a, a.copy(), a)
    with arg_err("argument C: output shares memory with argument B"):
        f(a, big[4:4 + n], big[:n])                 # rows 4..7 of both
    c = np.zeros((n, n), "float32")
    f(a, a, c)
    np.testing.assert_allclose(c, a @ a, rtol=1e-5)
    f(big[:n], big[n:], np.zeros((n, n), "float32"))  # neighbours, no overlap


def test_inconsistent_symbolic_extents():
    n = te.var("n")
    A = te.placeholder((n, 4), name="A")
    C = te.placeholder((n, 4), name="C")
    D = te.compute((n, 4), lambda i, j: A[i, j] + C[i, j], name="D")
    f = te.build(te.create_schedule(D.op), [A, C, D], target="c")
    x3, x4 = np.ones((3, 4), "float32"), np.ones((4, 4), "float32")
    with arg_err("argument C: dimension 0 is 4, but n = 3 from an earlier argument"):
        f(x3, x4, x3.copy())
    with arg_err("argument D: dimension 0 is 4, but n = 3"):
        f(x3, x3, x4.copy())
    d = np.zeros((3, 4), "float32")
    f(x3, x3 * 2, d)
    np.testing.assert_array_equal(d, 3 * x3)


def test_extent_given_only_by_an_output():
    m = te.var("m")
    O = te.compute((m,), lambda i: i.astype("float32") * 2.0, name="O")
    f = te.build(te.create_schedule(O.op), [O], target="c")
    o = np.zeros(7, "float32")
    f(o)
    np.testing.assert_array_equal(o, np.arange(7) * 2)


def test_extent_expression_checked_against_other_arguments():
    k = te.var("k")
    P = te.placeholder((k * 2,), name="P")
    Q = te.compute((k,), lambda i: P[2 * i] + P[2 * i + 1], name="Q")
    f = te.build(te.create_schedule(Q.op), [P, Q], target="c")
    q = np.zeros(3, "float32")
    f(np.arange(6, dtype="float32"), q)
    np.testing.assert_array_equal(q, [1, 5, 9])
    with arg_err(r"argument P: dimension 0 is 6, expected k \* 2 = 8"):
        f(np.ones(6, "float32"), np.zeros(4, "float32"))


# ----------------------------------------------------------------------------- disk cache

def _fresh_kernel(tag):
    """A kernel whose source is new to any cache (the tag is in a constant)."""
    A = te.placeholder((4,), name="A")
    B = te.compute((4,), lambda i: A[i] + float(tag), name="B")
    return te.create_schedule(B.op), [A, B]


def test_cache_dir_is_respected_and_second_build_loads_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXPR_CACHE_DIR", str(tmp_path))
    tag = int.from_bytes(os.urandom(2), "little") + 0.5
    s, args = _fresh_kernel(tag)
    f1 = te.build(s, args, target="c")
    assert os.path.dirname(f1.lib_path) == str(tmp_path)
    libs = [p for p in os.listdir(tmp_path) if p.endswith(".so")]
    assert len(libs) == 1 and [p for p in os.listdir(tmp_path) if p.endswith(".c")]

    calls = []
    real_run = toolchain.subprocess.run

    def no_compiler(cmd, *a, **kw):
        calls.append(cmd)
        return real_run(cmd, *a, **kw)
    monkeypatch.setattr(toolchain.subprocess, "run", no_compiler)
    f2 = te.build(s, args, target="c")
    assert f2.lib_path == f1.lib_path
    assert not [c for c in calls if "-o" in c], "the second build ran the compiler"
    a, b = np.ones(4, "float32"), np.zeros(4, "float32")
    f2(a, b)
    np.testing.assert_array_equal(b, np.float32(1) + np.float32(tag))


def test_concurrent_builds_of_one_kernel_are_safe(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXPR_CACHE_DIR", str(tmp_path))
    tag = int.from_bytes(os.urandom(2), "little") + 0.25
    results, errors = [], []

    def work():
        try:
            s, args = _fresh_kernel(tag)
            results.append(te.build(s, args, target="c"))
        except Exception as e:          # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({m.lib_path for m in results}) == 1
    assert len([p for p in os.listdir(tmp_path) if p.endswith(".so")]) == 1
    assert not [p for p in os.listdir(tmp_path) if p.startswith("tmp")]   # temp dirs cleaned


def test_compile_error_is_a_build_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXPR_CACHE_DIR", str(tmp_path))
    with pytest.raises(te.BuildError, match="texpr bug"):
        toolchain.compile_shared("this is not C", ["-O0"])


def test_rebuilding_a_changed_schedule_reflects_every_change():
    """build() skips lowering when the schedule is unchanged; any primitive must count."""
    A = te.placeholder((6, 10), name="A")
    B = te.compute((6, 10), lambda i, j: A[i, j] * 2.0, name="B")
    C = te.compute((6, 10), lambda i, j: B[i, j] + 1.0, name="C")
    s = te.create_schedule(C.op)
    a = np.arange(60, dtype="float32").reshape(6, 10)
    sources = []

    def rebuild():
        mod, _ = tt.check_kernel(s, [A, C], lambda a: a * 2 + 1, [a], target="c")
        assert mod.source not in sources
        sources.append(mod.source)
    rebuild()
    i, j = C.op.axis
    jo, ji = s[C].split(j, factor=4)
    rebuild()
    s[C].vectorize(ji)
    rebuild()
    s[C].pragma(i, "comment", "rows")
    rebuild()
    s[B].storage_align(B.op.axis[0], 16, 1)
    rebuild()
    s[B].compute_at(s[C], i)
    rebuild()
    s[B].compute_inline()
    rebuild()
    mod, _ = tt.check_kernel(s, [A, C], lambda a: a * 2 + 1, [a], target="c")
    assert mod.source == sources[-1]                 # unchanged: the same kernel again


# ----------------------------------------------------------------------------- C semantics

@pytest.mark.parametrize("dt", ["int32", "int64"])
@pytest.mark.parametrize("target", ["c", "native"])
def test_data_arithmetic_wraps_like_numpy(dt, target):
    """+ - * and negation of int32/int64 data wrap around as in NumPy (computed unsigned in
    the C: signed overflow is undefined there and the kernels are built without -fwrapv)."""
    n = 37
    A = te.placeholder((n,), dt, name="A")
    B = te.placeholder((n,), dt, name="B")
    C = te.compute((n,), lambda i: A[i] * B[i] + A[i] - (-B[i]) * 3, name="C")
    s = te.create_schedule(C.op)
    f = te.build(s, [A, B, C], target=target)
    info = np.iinfo(dt)
    rng = np.random.default_rng(1)
    a = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    b = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    a[:3] = [info.max, info.min, info.min]
    b[:3] = [info.max, -1, info.min]
    c = np.empty(n, dt)
    f(a, b, c)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(c, a * b + a - (-b) * 3)


def test_scalar_loops_are_vectorized_by_the_c_compiler(tmp_path):
    """Index arithmetic is plain signed C (no -fwrapv), so GCC's vectorizer can analyse the
    addresses of loops texpr leaves scalar (here: a tensorized nest's tail rows)."""
    from texpr.targets.build import get_target
    M, N, K = 6, 64, 16
    A = te.placeholder((M, K), name="A")
    B = te.placeholder((K, N), name="B")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = te.create_schedule(C.op)
    ko, ki = s[C].split(k, factor=4)
    s[C].reorder(C.op.axis[0], ko, ki, C.op.axis[1])
    f = te.build(s, [A, B, C], target="avx2")
    src = tmp_path / "k.c"
    src.write_text(f.source)
    import subprocess
    flags = list(get_target("avx2").flags)
    r = subprocess.run(["gcc", *flags, "-fopt-info-vec-optimized", "-c", str(src), "-o",
                        str(tmp_path / "k.o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "loop vectorized" in r.stderr, r.stderr



def test_lower_with_a_target_shows_what_build_compiles():
    """te.lower(..., target=t) uses t's vector width, like te.build; without one, 256 bits."""
    A = te.placeholder((64,), name="A")
    B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
    s = te.create_schedule(B.op)
    s[B].vectorize(s[B].split(B.op.axis[0], factor=16)[1])
    assert "ramp(i.outer * 16, 1, 8)" in str(te.lower(s, [A, B]))
    assert "ramp(i.outer * 16, 1, 16)" in str(te.lower(s, [A, B], target="avx512"))
    assert "ramp(i.outer * 16, 1, 4)" in str(te.lower(s, [A, B], target="neon"))
    with pytest.raises(te.TexprError, match="unknown target"):
        te.lower(s, [A, B], target="tpu")


# ----------------------------------------------------------------------------- lane reductions

@te.hybrid.script
def _chunk_accumulations(a, b):
    n = a.shape[0]
    out = output_tensor((n // 16, 9), "int32")
    pre = output_tensor((n,), "int32")
    for ch in range(n // 16):
        s = 0
        p = 1
        o = 0
        x = 0
        y = -1
        lo = 2147483647
        hi = -2147483648
        bits = 0
        nbits = 0
        for l in vectorize(16):
            s = s + a[ch * 16 + l]
            p = p * a[ch * 16 + l]
            o = o | a[ch * 16 + l]
            x = x ^ a[ch * 16 + l]
            y = y & a[ch * 16 + l]
            lo = min(lo, a[ch * 16 + l])
            hi = max(hi, a[ch * 16 + l])
            bits = bits | (1 << l if b[ch * 16 + l] > 0.5 else 0)
            nbits = nbits | (1 << l if not b[ch * 16 + l] <= 0.5 else 0)
        out[ch, 0] = s
        out[ch, 1] = p
        out[ch, 2] = o
        out[ch, 3] = x
        out[ch, 4] = y
        out[ch, 5] = lo
        out[ch, 6] = hi
        out[ch, 7] = bits
        out[ch, 8] = nbits
        run = 0
        for l in vectorize(16):     # a prefix sum: each lane reads the partial value
            run = run + a[ch * 16 + l]
            pre[ch * 16 + l] = run
    return out, pre


@pytest.mark.parametrize("target", ["avx2", "avx512", "neon"])
def test_scalar_accumulations_of_a_vectorized_loop_combine_its_lanes(target):
    """m = m op e(lane) in a vectorized loop (+ * | ^ & min max of int32, and the bits of the
    lanes whose comparison holds, NaN included) becomes one vector of e and its lanes
    combined (a movemask on x86), equal to the loop's own order (wrapping + and *); a prefix
    sum, whose lanes read the partial value, stays a scalar loop (its store of the sum was
    run lane by lane alone, and the next store read the last lane's sum in every lane)."""
    n = 64
    A = te.placeholder((n,), "int32", name="A")
    B = te.placeholder((n,), "float32", name="B")
    out, pre = _chunk_accumulations(A, B)
    s = te.create_schedule([out.op])
    text = str(te.lower(s, [A, B, out, pre], target=target))
    for op in ("+", "*", "|", "^", "&", "min", "max"):
        assert f"lanes_{op}(" in text, op
    assert "(run_r0)" not in text       # the prefix sum: no vector of its last value
    f = te.build(s, [A, B, out, pre], target=target)
    if target != "neon":
        assert f.source.count("movemask_ps" if target == "avx2" else "movepi32_mask") == (
            4 if target == "avx2" else 2)
    rng = np.random.default_rng(7)
    a = rng.integers(-2 ** 31, 2 ** 31, n, dtype=np.int64).astype(np.int32)
    a[::5] = rng.integers(-3, 4, len(a[::5]))
    b = rng.random(n).astype(np.float32)
    b[[3, 17, 40]] = np.nan
    got, got_pre = np.empty((n // 16, 9), np.int32), np.empty(n, np.int32)
    f(a, b, got, got_pre)
    want = []
    for ch in range(n // 16):
        x, y = a[ch * 16:ch * 16 + 16].astype(np.int64), b[ch * 16:ch * 16 + 16]
        prod = 1
        for v in x:
            prod = (prod * int(v)) & 0xFFFFFFFF
        bits = sum(1 << i for i in range(16) if y[i] > 0.5)
        nbits = sum(1 << i for i in range(16) if not y[i] <= 0.5)
        want.append([int(x.sum()) & 0xFFFFFFFF, prod, np.bitwise_or.reduce(x) & 0xFFFFFFFF,
                     np.bitwise_xor.reduce(x) & 0xFFFFFFFF,
                     np.bitwise_and.reduce(x) & 0xFFFFFFFF, int(x.min()) & 0xFFFFFFFF,
                     int(x.max()) & 0xFFFFFFFF, bits, nbits])
    np.testing.assert_array_equal(got, np.array(want, np.uint32).view(np.int32))
    prefix = np.cumsum(a.reshape(-1, 16).astype(np.int64), 1) & 0xFFFFFFFF
    np.testing.assert_array_equal(got_pre, prefix.astype(np.uint32).view(np.int32).reshape(-1))


# ----------------------------------------------------------------------------- vector selects

@pytest.mark.parametrize("target", ["c", "avx2", "avx512", "neon"])
@pytest.mark.parametrize("dt", ["float32", "float64", "int32", "int16", "uint8"])
def test_lane_dependent_select_and_bit_ops_vectorize_on_cpu_targets(target, dt):
    """if_then_else(a > b, 2a, b - a) and shifts / bitwise ops on integers become vector code
    (compare + blend) and equal NumPy, tails included."""
    n = 70
    A = te.placeholder((n,), dt, name="A")
    B = te.placeholder((n,), dt, name="B")
    two = te.const(2, dt)
    outs = [te.compute((n,), lambda i: te.if_then_else(A[i] > B[i], A[i] * two, B[i] - A[i]),
                       name="C")]
    if dt != "float32" and dt != "float64":
        outs.append(te.compute((n,), lambda i: ((A[i] & B[i]) ^ (A[i] >> te.const(1, dt)))
                               | (B[i] << te.const(2, dt)), name="D"))
    s = te.create_schedule([t.op for t in outs])
    for t in outs:
        s[t].vectorize(s[t].split(t.op.axis[0], factor=32)[1])
    text = str(te.lower(s, [A, B] + outs, target=target))
    assert "select(A[ramp(" in text and "for vectorized" not in text
    f = te.build(s, [A, B] + outs, target=target)
    rng = np.random.default_rng(3)
    if dt.startswith("float"):
        a, b = rng.standard_normal(n).astype(dt), rng.standard_normal(n).astype(dt)
        a[:3] = [np.nan, 1.0, -0.0]
        b[:3] = [0.0, np.nan, 0.0]
    else:
        info = np.iinfo(dt)
        a = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
        b = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    got = [np.empty(n, dt) for _ in outs]
    f(a, b, *got)
    with np.errstate(over="ignore", invalid="ignore"):
        np.testing.assert_array_equal(got[0], np.where(a > b, a * np.array(2, dt), b - a).astype(dt))
        if len(outs) > 1:
            np.testing.assert_array_equal(got[1], ((a & b) ^ (a >> np.array(1, dt)))
                                          | (b << np.array(2, dt)))


def test_select_that_would_read_more_stays_lane_by_lane():
    """A branch reading a buffer the condition does not is not computed for every lane (it
    could read out of bounds): the loop keeps its scalar form, and the result is right."""
    n = 40
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: te.if_then_else(i >= 1, A[te.max(i - 1, 0)], 0.0), name="B")
    s = te.create_schedule(B.op)
    s[B].vectorize(s[B].split(B.op.axis[0], factor=8)[1])
    f = te.build(s, [A, B], target="avx2")
    a = np.arange(n, dtype="float32")
    b = np.empty(n, "float32")
    f(a, b)
    np.testing.assert_array_equal(b, np.concatenate([[0.0], a[:-1]]).astype("float32"))


@pytest.mark.parametrize("target", ["c", "avx2", "avx512", "neon"])
@pytest.mark.parametrize("dt", ["int8", "int16", "int32", "int64"])
@pytest.mark.parametrize("vector", [False, True])
def test_integer_data_wraps_through_simplifier_and_compiler(target, dt, vector):
    """Expressions that are identities only when nothing overflows: texpr's simplifier must
    not fold them for data (`a * 2**h // 2**h`, `a + 1 > a`, `max(a + 1, a)`), and the C
    compiler must not either (signed vector lanes are computed unsigned), so the results
    equal NumPy's wrapped ones, scalar and vectorized."""
    n = 37
    bits = np.iinfo(dt).bits
    big = te.const(2 ** (bits // 2), dt)
    one = te.const(1, dt)
    A = te.placeholder((n,), dt, name="A")
    outs = [te.compute((n,), lambda i: A[i] * big // big, name="P"),
            te.compute((n,), lambda i: te.if_then_else(A[i] + one > A[i], one, te.const(0, dt)),
                       name="Q"),
            te.compute((n,), lambda i: te.max(A[i] + one, A[i]), name="R"),
            te.compute((n,), lambda i: (A[i] + big) - big, name="S")]
    s = te.create_schedule([t.op for t in outs])
    if vector:
        for t in outs:
            s[t].vectorize(s[t].split(t.op.axis[0], factor=16)[1])
    f = te.build(s, [A] + outs, target=target)
    info = np.iinfo(dt)
    a = np.random.default_rng(bits).integers(info.min, info.max, n, dtype=dt, endpoint=True)
    a[:4] = [info.max, info.min, info.max - 1, 0]
    got = [np.empty(n, dt) for _ in outs]
    f(a, *got)
    b, o = np.array(2 ** (bits // 2), dt), np.array(1, dt)
    with np.errstate(over="ignore"):
        want = [a * b // b, (a + o > a).astype(dt), np.maximum(a + o, a), a]
    for name, g, w in zip("PQRS", got, want):
        np.testing.assert_array_equal(g, w, err_msg=f"{name} ({dt}, {target}, vector={vector})")


@pytest.mark.parametrize("target", ["c", "avx2", "avx512", "neon"])
@pytest.mark.parametrize("dt", ["int8", "int32", "int64", "uint8", "uint16", "uint64"])
@pytest.mark.parametrize("vector", [False, True])
def test_shifts_by_data_counts_match_numpy(target, dt, vector):
    """a << b and a >> b with counts from data, negative or past the width included: NumPy
    gives 0 (<<) and the sign (>>) there; C leaves them undefined and x86's scalar shift
    takes the count modulo the width, which made the result depend on vectorization."""
    n = 40
    bits = np.iinfo(dt).bits
    A = te.placeholder((n,), dt, name="A")
    B = te.placeholder((n,), dt, name="B")
    outs = [te.compute((n,), lambda i: A[i] << B[i], name="L"),
            te.compute((n,), lambda i: A[i] >> B[i], name="R")]
    s = te.create_schedule([t.op for t in outs])
    if vector:
        for t in outs:
            s[t].vectorize(s[t].split(t.op.axis[0], factor=16)[1])
    f = te.build(s, [A, B] + outs, target=target)
    info = np.iinfo(dt)
    rng = np.random.default_rng(bits)
    a = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    lo = -2 if info.min < 0 else 0
    b = rng.integers(lo, bits + 6, n).astype(dt)
    b[:4] = [bits - 1, bits, bits + 1, info.max]
    got = [np.empty(n, dt) for _ in outs]
    f(a, b, *got)
    np.testing.assert_array_equal(got[0], np.left_shift(a, b))
    np.testing.assert_array_equal(got[1], np.right_shift(a, b))


@pytest.mark.parametrize("target", ["c", "avx2", "avx512", "neon"])
@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("vector", [False, True])
def test_float_min_max_propagate_nan_like_numpy(target, dt, vector):
    """te.max / te.min of floats are np.maximum / np.minimum: a NaN in either operand is the
    result (x86's min/max instructions return the second operand, NEON's the NaN, C's
    a > b ? a : b the second: they disagreed). With a constant operand (relu) too, and in a
    max reduction."""
    n = 37
    X = te.placeholder((n,), dt, name="X")
    Y = te.placeholder((n,), dt, name="Y")
    k = te.reduce_axis((0, n), name="k")
    outs = [te.compute((n,), lambda i: te.max(X[i], Y[i]), name="MX"),
            te.compute((n,), lambda i: te.min(X[i], Y[i]), name="MN"),
            te.compute((n,), lambda i: te.max(X[i], te.const(0, dt)), name="RELU"),
            te.compute((n,), lambda i: te.min(te.const(2, dt), X[i]), name="CLIP")]
    red = te.compute((1,), lambda i: te.max(X[k], axis=k), name="RMAX")
    s = te.create_schedule([t.op for t in outs] + [red.op])
    if vector:
        for t in outs:
            s[t].vectorize(s[t].split(t.op.axis[0], factor=16)[1])
    f = te.build(s, [X, Y] + outs + [red], target=target)
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal(n).astype(dt), rng.standard_normal(n).astype(dt)
    x[[0, 3, 20]] = np.nan
    y[[1, 3, 33]] = np.nan
    got = [np.empty(n, dt) for _ in outs] + [np.empty(1, dt)]
    f(x, y, *got)
    want = [np.maximum(x, y), np.minimum(x, y), np.maximum(x, 0), np.minimum(2, x), [np.max(x)]]
    for name, g, w in zip(["max", "min", "relu", "clip", "max reduce"], got, want):
        np.testing.assert_array_equal(g, np.asarray(w, dt), err_msg=name)


@pytest.mark.parametrize("target", ["native", "avx2", "avx512"])
@pytest.mark.parametrize("stride", [1, 3])
def test_a_ramp_of_a_loop_variable_is_the_broadcast_base_plus_constant_steps(target, stride):
    """A vector of indices (an index computed into the data: argmax's, an iota) is its base
    broadcast plus constant steps, not a literal built lane by lane on every iteration; the
    lanes equal NumPy's arange, the int32 lanes wrap past 2^31 as NumPy's do."""
    n = 96
    B = te.compute((n,), lambda i: te.const(2147483600, "int32") + i * stride, name="B")
    s = te.create_schedule(B.op)
    s[B].vectorize(s[B].split(B.op.axis[0], factor=16)[1])
    f = te.build(s, [B], target=target)
    out = np.empty(n, np.int32)
    f(out)
    want = (np.int64(2147483600) + np.arange(n, dtype=np.int64) * stride).astype(np.int32)
    np.testing.assert_array_equal(out, want)
    assert not re.search(rf"\+ 0, [^}}]*\+ {stride}\b", f.source), "a lane-by-lane literal"


def test_large_temporaries_keep_their_pages_from_call_to_call():
    """A kernel's large temporaries (two 1 MiB stages here) are kept for its next call: freed
    to glibc, they were trimmed off the heap's top (or unmapped) and every call page-faulted
    all of them in again (480 of their 512 pages a call; a Winograd layer ran 2.2x slower)."""
    import resource
    n = 1 << 18
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * 2.0, name="B")
    C = te.compute((n,), lambda i: B[n - 1 - i] + 1.0, name="C")
    D = te.compute((n,), lambda i: C[n - 1 - i] + B[i], name="D")
    f = te.build(te.create_schedule(D.op), [A, D], target="native")
    assert f.source.count("texpr_alloc((size_t)") == 2
    a = np.arange(n, dtype=np.float32)
    d = np.empty(n, np.float32)
    for _ in range(2):
        f(a, d)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        f(a, d)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10
    np.testing.assert_array_equal(d, a * 4.0 + 1.0)
    assert faults < 2 * n * 4 // 4096 // 8, f"{faults} page faults a call"
