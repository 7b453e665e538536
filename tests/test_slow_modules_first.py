"""tests/conftest.py runs the modules of slow kernel builds first (pytest-xdist's tail):
the reorder keeps every item, keeps the order inside each group, and names modules that exist."""
from pathlib import Path
from types import SimpleNamespace

import conftest

TESTS = conftest.REPO_ROOT / "tests"


def item(rel, name):
    return SimpleNamespace(path=TESTS / rel, name=name)


def test_every_slow_module_exists():
    missing = [m for m in conftest.SLOW_FIRST if not (TESTS / m).is_file()]
    assert not missing, f"SLOW_FIRST names modules that are gone: {missing}"


def test_slow_modules_come_first_in_their_order_and_nothing_is_lost():
    slow_a, slow_b = conftest.SLOW_FIRST[0], conftest.SLOW_FIRST[1]
    items = [item("lang/test_lang.py", "x1"), item(slow_b, "b1"), item("zz/test_z.py", "z1"),
             item(slow_a, "a1"), item(slow_b, "b2"), item("lang/test_lang.py", "x2"),
             SimpleNamespace(path=Path("/elsewhere/test_out.py"), name="o1")]
    got = [i.name for i in conftest.slow_modules_first(items)]
    assert got == ["a1", "b1", "b2", "x1", "z1", "x2", "o1"]
