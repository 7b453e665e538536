"""Schedule.specialize: conditions parsed into facts, the dispatch chain te.lower shows, and
what each class's program knows (values, bounds, divisibility). Nothing is compiled here
(tests/targets/test_specialize_build.py runs a kernel)."""
import pytest

import texpr as te
from texpr.errors import LoweringError, ScheduleError
from texpr.schedule.specialize import parse_condition


def _double(n):
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * 2.0, name="B")
    return A, B


def _classes():
    n = te.var("n")
    A, B = _double(n)
    s = te.create_schedule(B.op)
    s.specialize(n == 3)
    s8 = s.specialize(te.all(n % 8 == 0, n >= 16))
    _, xi = s8[B].split(B.op.axis[0], factor=8)
    s8[B].vectorize(xi)
    return n, s, A, B


def test_conditions_become_facts():
    n, m = te.var("n"), te.var("m")
    f = parse_condition(te.all(n == 4, m >= 8, m < 65, m % 8 == 0))
    assert f.values == {n: 4}
    assert f.bounds(n) == (4, 4) and f.bounds(m) == (8, 64)
    assert f.divisors == {m: 8}
    # the constant on the left, > and <= too
    g = parse_condition(te.all(3 < n, n <= 10))
    assert g.bounds(n) == (4, 10)


@pytest.mark.parametrize("cond, match", [
    (lambda n, m: n + 1 == 3, "one side must be a shape variable"),
    (lambda n, m: n < m, "one side must be a shape variable"),
    (lambda n, m: te.any(n == 1, n == 2), "not a comparison"),
    (lambda n, m: n % 0 == 0, "positive constant"),
    (lambda n, m: te.all(n == 1, n == 2), "two values"),
    (lambda n, m: te.all(n >= 5, n < 3), "allows no value of n"),
])
def test_bad_conditions_are_refused_by_name(cond, match):
    n, m = te.var("n"), te.var("m")
    _, B = _double(n)
    s = te.create_schedule(B.op)
    with pytest.raises(ScheduleError, match=match):
        s.specialize(cond(n, m))
    with pytest.raises(ScheduleError, match="expected a boolean condition"):
        s.specialize(3)


def test_a_specialisation_is_not_specialised_again():
    n, s, A, B = _classes()
    with pytest.raises(ScheduleError, match="specialisation already"):
        s.specializations[0][1].specialize(n == 1)


def test_lower_shows_the_dispatch_chain_and_what_each_class_knows():
    n, s, A, B = _classes()
    text = str(te.lower(s, [A, B], target="avx2"))
    lines = [ln.strip() for ln in text.splitlines()]
    assert "if (n == 3) {" in lines
    assert "} else if (n % 8 == 0 && n >= 16) {" in lines
    assert "// specialisation 2: otherwise (the fallback schedule)" in lines
    first, second, fallback = text.split("// specialisation ")[1:]
    assert "for (i, 0, 3)" in first                     # the known value
    assert "let n_q8 = n // 8" in second                # divisibility: no tail, no guard
    assert "for (i.outer, 0, n_q8)" in second and "if (" not in second.split("let")[1]
    assert "for (i, 0, n)" in fallback


def test_schedule_text_lists_the_classes():
    n, s, A, B = _classes()
    text = str(s)
    assert "the fallback of 2 specialisation(s)" in text
    assert "specialisation 0: if n == 3" in text
    assert "specialisation 1: if n % 8 == 0 && n >= 16" in text
    assert "for i.inner in range(8):  # vectorize" in text


def test_gpu_targets_refuse_a_specialised_schedule():
    n, s, A, B = _classes()
    with pytest.raises(LoweringError, match="specialize is supported on the CPU targets"):
        te.lower(s, [A, B], target="cuda")


def test_every_class_shares_the_kernel_arguments():
    n, s, A, B = _classes()
    func = te.lower(s, [A, B], target="c")
    from texpr.lang.ir import BufferStore
    from texpr.lang.visitor import walk
    stores = {id(x.buffer) for x in walk(func.body) if isinstance(x, BufferStore)}
    assert stores == {id(func.args[1])}


def test_the_build_cache_key_sees_the_classes():
    from texpr.targets.build import build_key
    from texpr.targets.registry import get_target
    n = te.var("n")
    A, B = _double(n)
    plain = te.create_schedule(B.op)
    spec = te.create_schedule(B.op)
    spec.specialize(n == 3)
    other = te.create_schedule(B.op)
    other.specialize(n == 4)
    tgt = get_target("c")
    keys = {build_key(x, [A, B], tgt, "k") for x in (plain, spec, other)}
    assert len(keys) == 3 and None not in keys


def test_hybrid_script_of_a_specialised_schedule():
    import numpy as np
    n, s, A, B = _classes()
    m = te.hybrid.build(s, [A], [B])
    src = m.get_source()
    assert "if n == 3:" in src and "# specialisation 1: n % 8 == 0 && n >= 16" in src
    for size in (3, 16, 5):
        a = np.arange(size, dtype="float32")
        np.testing.assert_allclose(m(a), a * 2)
