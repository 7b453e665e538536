"""Property: vectorize (and unroll, parallel) never changes results. Hypothesis writes hybrid
scripts whose vectorized (unrolled, serial) loop mixes scalar accumulations (the lane reductions), stores of lane values,
stores that read the accumulator, read-modify-writes and lane-dependent branches; the
compiled kernel must equal the script run as Python on NumPy (hybrid's emulation)."""
import importlib.util
import itertools

import numpy as np
from hypothesis import assume, given, strategies as st

import texpr as te

# a value of the lane l of chunk ch
VALUES = ["a[ch * 16 + l]", "a[ch * 16 + l] * 3", "(1 << l if b[ch * 16 + l] > 0.5 else 0)",
          "(a[ch * 16 + l] if not b[ch * 16 + l] <= 0.5 else 7)", "l",
          "a[ch * 16 + 15 - l]", "min(a[ch * 16 + l], 1)"]
ACCUMULATE = ["acc = acc + {e}", "acc = acc * {e}", "acc = acc | {e}", "acc = acc & {e}",
              "acc = acc ^ {e}", "acc = min(acc, {e})", "acc = max(acc, {e})"]
STORES = ["out[ch * 16 + l] = {e}", "out[ch * 16 + l] = acc",
          "out[ch * 16 + l] = out[ch * 16 + l] + {e}", "out[ch * 16 + l] = {e} + acc",
          "out[ch * 16 + l] = out[ch * 16 + 15 - l] + {e}",      # another lane's element
          "out[ch * 16 + 15 - l] = {e}", "tmp[0] = {e}", "out[ch * 16 + l] = tmp[0]",
          "out[ch * 16 + l] = out[ch * 16 + (l + 1) % 16] - {e}",
          "for t in range(3):\n                out[ch * 16 + l] = out[ch * 16 + l] + {e}",
          "facc = facc + c[ch * 16 + l]", "out[ch * 16 + l] = int32(facc)",
          "out[ch * 16 + l] = int32(c[ch * 16 + l] * 2.0) + {e}"]
BRANCH = "if b[ch * 16 + l] > 0.5:\n                {s}"
BRANCH_ELSE = "if a[ch * 16 + l] > 0:\n                {s}\n            else:\n                {t}"

_count = itertools.count()


@st.composite
def scripts(draw):
    """The source of a hybrid script `f(a, b, c)` -> (out, red): chunks of 16 lanes."""
    stmts = []
    for _ in range(draw(st.integers(1, 3))):
        e = draw(st.sampled_from(VALUES))
        s = draw(st.sampled_from(ACCUMULATE + STORES)).format(e=e)
        kind = draw(st.integers(0, 5))
        if kind == 0 and "\n" not in s:
            s = BRANCH.format(s=s)
        elif kind == 1 and "\n" not in s:
            t = draw(st.sampled_from(ACCUMULATE + STORES)).format(e=draw(st.sampled_from(VALUES)))
            if "\n" not in t:
                s = BRANCH_ELSE.format(s=s, t=t)
        stmts.append(s)
    init = draw(st.sampled_from(["0", "1", "-1"]))
    body = "\n            ".join(stmts)
    # the lanes' loop vectorized, unrolled or serial; the chunks' serial or parallel (not
    # with tmp, which every chunk shares)
    lanes = draw(st.sampled_from(["vectorize", "vectorize", "unroll", "range"]))
    chunks = "range" if "tmp" in body else draw(st.sampled_from(["range", "parallel"]))
    return f'''
import texpr as te


@te.hybrid.script
def f(a, b, c):
    out = output_tensor((64,), "int32")
    red = output_tensor((4,), "int32")
    tmp = allocate((1,), "int32")
    tmp[0] = 0
    for ch in {chunks}(4):
        acc = {init}
        facc = 0.0
        for l in vectorize(16):
            out[ch * 16 + l] = 0
        for l in {lanes}(16):
            {body}
        red[ch] = acc
    return out, red
'''


def _load(src, tmp_path):
    path = tmp_path / f"vscript_{next(_count)}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.f


@given(src=scripts(), seed=st.integers(0, 2 ** 32 - 1))
def test_vectorized_hybrid_loops_equal_their_python_run(src, seed, tmp_path_factory):
    f = _load(src, tmp_path_factory.mktemp("v"))
    rng = np.random.default_rng(seed)
    a = rng.integers(-3, 4, 64).astype(np.int32)
    b = rng.random(64).astype(np.float32)
    b[rng.integers(0, 64, 3)] = np.nan
    c = (rng.integers(-8, 9, 64) * 0.25).astype(np.float32)   # sums exact in float32
    try:            # Python's ints do not wrap: a script whose values pass int32 has no oracle
        with np.errstate(over="ignore"):        # (NumPy's int32 wraps, as C's does)
            want = [np.asarray(x, np.int32) for x in f(a, b, c)]
    except OverflowError:
        assume(False)
    A = te.placeholder((64,), "int32", name="A")
    B = te.placeholder((64,), "float32", name="B")
    C = te.placeholder((64,), "float32", name="C")
    out, red = f(A, B, C)
    mod = te.build(te.create_schedule([out.op]), [A, B, C, out, red], target="native")
    got = [np.empty(64, np.int32), np.empty(4, np.int32)]
    mod(a, b, c, *got)
    np.testing.assert_array_equal(got[0], want[0], err_msg=src)
    np.testing.assert_array_equal(got[1], want[1], err_msg=src)
