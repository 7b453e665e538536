"""Bad hybrid scripts and bad uses of a hybrid op: a HybridScriptError (a TexprError) naming
the function and the line, or a ScheduleError / LoweringError naming the stage."""
import inspect

import numpy as np
import pytest

import texpr as te
from texpr import hybrid
from texpr.errors import HybridScriptError

A = te.placeholder((8,), name="A")
A2 = te.placeholder((4, 4), name="A2")
A_PLUS_1 = te.compute((8,), lambda i: A[i] + 1.0, name="A_plus_1")


def line_of(hf, text):
    lines, first = inspect.getsourcelines(hf.func)
    return first + next(k for k, ln in enumerate(lines) if text in ln)


def expect(hf, args, text, match):
    """hf(*args) raises a HybridScriptError naming hf and the line holding `text`."""
    with pytest.raises(HybridScriptError, match=match) as err:
        hf(*args)
    assert f"hybrid script {hf.func.__name__}, line {line_of(hf, text)}:" in str(err.value)
    assert isinstance(err.value, te.TexprError)


@hybrid.script
def while_loop(a):
    b = output_tensor((8,), a.dtype)
    i = 0
    while i < 8:
        i += 1
    return b


@hybrid.script
def writes_input(a):
    b = output_tensor((8,), a.dtype)
    for i in range(8):
        a[i] = 1.0
    return b


@hybrid.script
def undefined_name(a):
    b = output_tensor((8,), a.dtype)
    for i in range(8):
        b[i] = a[i] * scale_not_defined
    return b


@hybrid.script
def no_return(a):
    b = output_tensor((8,), a.dtype)
    b[0] = a[0]


@hybrid.script
def returns_input(a):
    b = output_tensor((8,), a.dtype)
    return a


@hybrid.script
def iterates_list(a):
    b = output_tensor((8,), a.dtype)
    for i in [1, 2]:
        b[i] = a[i]
    return b


@hybrid.script
def too_few_indices(a):
    b = output_tensor((4,), a.dtype)
    for i in range(4):
        b[i] = a[i]
    return b


@hybrid.script
def chained_indexing(a):
    b = output_tensor((4,), a.dtype)
    for i in range(4):
        b[i] = a[i][0]
    return b


@hybrid.script
def constant_out_of_bounds(a):
    b = output_tensor((8,), a.dtype)
    b[8] = a[0]
    return b


@hybrid.script
def unprovable_assert(a):
    b = output_tensor((8,), a.dtype)
    for i in range(8):
        assert a[i] > 0.0, "positive"
        b[i] = a[i]
    return b


@hybrid.script
def symbolic_const_range(a, n):
    b = output_tensor((8,), a.dtype)
    for i in const_range(n):
        b[i] = a[i]
    return b


@hybrid.script
def unknown_function(a):
    b = output_tensor((8,), a.dtype)
    b[0] = print(a[0])
    return b


@hybrid.script
def bad_thread_tag(a):
    b = output_tensor((8,), a.dtype)
    for i in bind("threadIdx.w", 8):
        b[i] = a[i]
    return b


@hybrid.script
def symbolic_vectorize(a, n):
    b = output_tensor((8,), a.dtype)
    for i in vectorize(n):
        b[i] = a[i]
    return b


@hybrid.script
def integer_true_division(a):
    b = output_tensor((8,), "int32")
    for i in range(8):
        b[i] = int32(a[i]) / 2
    return b


@hybrid.script
def float_index(a):
    b = output_tensor((8,), a.dtype)
    b[0] = a[1.5]
    return b


@hybrid.script
def callee(a):
    c = output_tensor((8,), a.dtype)
    for i in range(8):
        c[i] = a[i]
    return c


@hybrid.script
def call_in_expression(a):
    b = output_tensor((8,), a.dtype)
    for i in range(8):
        b[i] = callee(a)[i]
    return b


@hybrid.script
def rebinds_output(a):
    b = output_tensor((8,), a.dtype)
    b = 1.0
    return b


@hybrid.script
def break_in_loop(a):
    b = output_tensor((8,), a.dtype)
    for i in range(8):
        break
    return b


SCALE_DICT = {"k": 2}


@hybrid.script
def captures_dict(a):
    b = output_tensor((8,), a.dtype)
    b[0] = a[0] * SCALE_DICT
    return b


@hybrid.script
def return_in_loop(a):
    b = output_tensor((8,), a.dtype)
    for i in range(8):
        return b
    return b


CASES = [
    (while_loop, (A,), "while i < 8", "a while loop is not supported"),
    (writes_input, (A_PLUS_1,), "a[i] = 1.0", "cannot write to A_plus_1: it is computed by "
     "A_plus_1; a script writes its output_tensor"),
    (undefined_name, (A,), "scale_not_defined", "name scale_not_defined is not defined"),
    (no_return, (A,), "def no_return", "must end with `return`"),
    (returns_input, (A,), "return a", "returns an input tensor"),
    (iterates_list, (A,), "for i in [1, 2]", "a loop must iterate over range, const_range"),
    (too_few_indices, (A2,), "b[i] = a[i]", r"A2 has 2 dimension\(s\) but is indexed with 1"),
    (chained_indexing, (A2,), "a[i][0]", r"write A2\[i, j\]"),
    (constant_out_of_bounds, (A,), "b[8]", "index 8 is out of bounds for dimension 0"),
    (unprovable_assert, (A,), "assert a[i]", "cannot prove the assert"),
    (symbolic_const_range, (A, te.var("n")), "const_range(n)", "const_range needs bounds known"),
    (unknown_function, (A,), "print(", "function print is not supported"),
    (bad_thread_tag, (A,), "threadIdx.w", "unknown thread tag 'threadIdx.w'"),
    (symbolic_vectorize, (A, te.var("n")), "vectorize(n)", "vectorize needs a constant extent"),
    (integer_true_division, (A,), "/ 2", "use '//' for floor division"),
    (float_index, (A,), "a[1.5]", "index 0 of A must be an integer"),
    (call_in_expression, (A,), "callee(a)[i]", "must be assigned to names on its own line"),
    (rebinds_output, (A,), "b = 1.0", "cannot rebind b"),
    (break_in_loop, (A,), "        break", "break is not supported"),
    (captures_dict, (A,), "SCALE_DICT", "name SCALE_DICT refers to dict"),
    (return_in_loop, (A,), "        return b", "return must be the last statement"),
]


@pytest.mark.parametrize("hf, args, text, match", CASES, ids=[c[0].func.__name__ for c in CASES])
def test_bad_script_names_function_and_line(hf, args, text, match):
    expect(hf, args, text, match)


def test_wrong_number_of_arguments():
    with pytest.raises(HybridScriptError, match=r"callee takes 1 argument\(s\) \(a\) but was "
                                                r"called with 2"):
        callee(A, A)


def test_bad_argument_type():
    @hybrid.script
    def scaled(a, k):
        b = output_tensor((8,), a.dtype)
        for i in range(8):
            b[i] = a[i] * k
        return b

    with pytest.raises(HybridScriptError, match="argument k is dict"):
        scaled(A, {"k": 2})


def test_decorating_something_else():
    with pytest.raises(HybridScriptError, match="decorates a Python function"):
        hybrid.script(42)


def test_hybrid_output_cannot_be_inlined_or_computed_at():
    b = callee(A)
    c = te.compute((8,), lambda i: b[i] + 1.0, name="c")
    s = te.create_schedule(c.op)
    with pytest.raises(te.ScheduleError, match="a hybrid op is a loop program.*cannot be inlined"):
        s[b].compute_inline()
    with pytest.raises(te.ScheduleError, match="compute_at: not supported on a hybrid op"):
        s[b].compute_at(s[c], c.op.axis[0])


def test_cache_read_and_cache_write_of_a_hybrid_op_are_refused():
    p = te.compute((8,), lambda i: A[i] * 2.0, name="p")
    b = callee(p)
    s = te.create_schedule(b.op)
    with pytest.raises(te.ScheduleError, match="reader callee is a hybrid op"):
        s.cache_read(p, "local", [s[b]])
    with pytest.raises(te.ScheduleError, match="cache_write: callee is a hybrid op"):
        s.cache_write(b, "local")


def test_producer_computed_inside_hybrid_loop_is_refused():
    p = te.compute((8,), lambda i: A[i] * 2.0, name="p")
    b = callee(p)
    s = te.create_schedule(b.op)
    s[p].compute_at(s[b], b.op.axis[0])
    with pytest.raises(te.LoweringError, match="hybrid op callee reads or holds it"):
        te.lower(s, [A, b])


def test_thread_loop_on_a_cpu_target_is_refused():
    @hybrid.script
    def on_threads(a):
        b = output_tensor((8,), a.dtype)
        for i in bind("threadIdx.x", 8):
            b[i] = a[i]
        return b

    b = on_threads(A)
    with pytest.raises(te.TexprError, match="bound to a GPU thread axis"):
        te.build(te.create_schedule(b.op), [A, b], "c")


def test_emulation_runs_the_python_as_written():
    # the emulation is plain Python: an input written by a script is the caller's array
    a = np.arange(8, dtype="float32")
    np.testing.assert_array_equal(callee(a), a)


@hybrid.script
def scatter(a, idx):
    b = output_tensor((8,), a.dtype)
    t = allocate((8,), a.dtype)
    for i in range(4):
        t[idx[i]] = a[i]
        b[idx[i]] = t[idx[i]] + a[idx[i] - 4]
    return b


def test_indices_read_from_data_are_checked():
    A4, idx = te.placeholder((4,), name="A4"), te.placeholder((4,), "int32", name="idx")
    b = scatter(A4, idx)
    f = te.build(te.create_schedule(b.op), [A4, idx, b], "c")
    a = np.arange(4, dtype="float32") + 1
    ok = np.array([4, 5, 6, 7], "int32")
    out = np.zeros(8, "float32")
    f(a, ok, out)
    np.testing.assert_array_equal(out, scatter(a, ok))
    np.testing.assert_array_equal(out[4:], a + a[ok - 4])
    for bad in ([4, 5, 6, 8], [4, 5, 3, 7]):        # past t and b / before a (idx - 4 < 0)
        with pytest.raises(te.TexprError, match="out of range"):
            f(a, np.array(bad, "int32"), out)


def test_static_out_of_bounds_access_is_refused():
    pytest.importorskip("texpr.lower.access_bounds",
                        reason="the access-bounds pass (issue 15) is not in this branch yet")

    @hybrid.script
    def shifted(a):
        b = output_tensor((8,), a.dtype)
        for i in range(8):
            b[i] = a[i + 1]
        return b

    b = shifted(A)
    with pytest.raises(te.LoweringError, match=r"tensor A is read at index i \+ 1"):
        te.build(te.create_schedule(b.op), [A, b], "c")
