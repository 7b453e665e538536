"""te.build keyed before lowering (targets/fingerprint.py, targets/kernel_cache.py): the key
changes with anything that changes the generated code, stays the same for the same schedule
built again (in this process or a new one), and a hit skips lowering and code emission."""
import importlib
import os
import subprocess
import sys

import numpy as np

import texpr as te
from texpr.targets import kernel_cache
from texpr.targets.fingerprint import build_fingerprint
from texpr.targets.registry import get_target

build_mod = importlib.import_module("texpr.targets.build")     # (the package exports build)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def scaled(factor=4, const=2.0, dtype="float32", swap=False):
    """B[i, j] = A[i, j] * const (A[j, i] when swap), its row axis split by factor."""
    A = te.placeholder((8, 8), dtype, name="A")
    B = te.compute((8, 8), (lambda i, j: A[j, i] * const) if swap else
                   (lambda i, j: A[i, j] * const), name="B")
    s = te.create_schedule(B.op)
    s[B].split(B.op.axis[0], factor=factor)
    return s, [A, B]


def key(sch_args, target="c", name="k"):
    s, args = sch_args
    return build_mod.build_key(s, args, get_target(target), name)


def test_the_key_follows_everything_that_changes_the_code():
    base = key(scaled())
    assert base is not None and base == key(scaled())          # a new, identical schedule
    others = [key(scaled(factor=2)), key(scaled(const=3.0)), key(scaled(dtype="float64")),
              key(scaled(swap=True)), key(scaled(), name="k2"), key(scaled(), target="native")]
    c = get_target("c")
    s, args = scaled()
    others.append(build_mod.build_key(s, args, c.with_(flags=c.flags + ("-DTEXPR_X=1",)), "k"))
    assert len({base, *others}) == len(others) + 1


def test_functions_are_keyed_by_their_code_and_captured_values():
    """(an intrinsic's implementation is a Python function: its code and closure count)"""
    def impl_of(n):
        return lambda ins, outs: f"copy({n})"

    def other(ins, outs):
        return "copy(1)"
    k1, k1b, k2, k3 = (build_fingerprint(f) for f in (impl_of(1), impl_of(1), impl_of(2), other))
    assert k1 == k1b and len({k1, k2, k3}) == 3


def test_what_cannot_be_read_as_data_has_no_key():
    assert build_fingerprint(iter([1, 2])) is None


def test_a_rebuild_skips_lowering(monkeypatch):
    s, args = scaled(factor=2, const=5.0)
    f = te.build(s, args, target="c", name="rebuilt")

    def no_lowering(*a, **k):
        raise AssertionError("a cached build lowered the schedule again")
    monkeypatch.setattr(build_mod, "lower", no_lowering)
    s2, args2 = scaled(factor=2, const=5.0)                       # new objects, same content
    g = te.build(s2, args2, target="c", name="rebuilt")
    assert g.source == f.source
    a = np.arange(64, dtype="float32").reshape(8, 8)
    np.testing.assert_array_equal(g(a), a * 5)


def test_a_new_process_finds_the_kernel_without_lowering():
    s, args = scaled(factor=2, const=7.0)
    te.build(s, args, target="c", name="fresh")
    mine = key((s, args), name="fresh")
    assert os.path.exists(kernel_cache._path(mine))
    code = ("import numpy as np, texpr as te\n"
            "import importlib; b = importlib.import_module('texpr.targets.build')\n"
            "from test_build_cache import scaled, key\n"
            "s, args = scaled(factor=2, const=7.0)\n"
            "print(key((s, args), name='fresh'))\n"
            "def no_lowering(*a, **k): raise AssertionError('lowered')\n"
            "b.lower = no_lowering\n"
            "f = te.build(s, args, target='c', name='fresh')\n"
            "a = np.ones((8, 8), 'float32')\n"
            "print(float(f(a).sum()))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.dirname(__file__)]))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    their_key, total = r.stdout.split()
    assert their_key == mine and float(total) == 64 * 7.0


def test_an_unreadable_record_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXPR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(kernel_cache, "_MEMORY", {})
    s, args = scaled(factor=8, const=0.5)
    fp = key((s, args), name="broken")
    with open(kernel_cache._path(fp), "wb") as f:
        f.write(b"not a pickle")
    f = te.build(s, args, target="c", name="broken")
    np.testing.assert_array_equal(f(np.full((8, 8), 2.0, "float32")), 1.0)
    assert kernel_cache.lookup(fp) is not None
