"""Progress of long builds (texpr/progress.py): forced with TEXPR_PROGRESS=1 it names every
lowering pass; silent in tests, when off, and for a terminal build shorter than its delay."""
import io

import pytest

import texpr as te
from texpr import progress
from texpr.lower.pipeline import passes_for
from texpr.targets.registry import get_target


def _schedule():
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: A[i] * 2, name="B")
    return te.create_schedule(B.op), [A, B]


def test_forced_progress_names_each_pass(monkeypatch, capsys):
    monkeypatch.setenv("TEXPR_PROGRESS", "1")
    s, args = _schedule()
    te.lower(s, args, name="shown", target="c")
    err = capsys.readouterr().err
    assert "lower shown" in err
    for p in passes_for(get_target("c")):
        assert p.name in err, p.name
    n = len(passes_for(get_target("c")))
    assert f"{n}/{n}" in err                        # every step counted


@pytest.mark.parametrize("value", [None, "0"])
def test_silent_unless_forced(monkeypatch, capsys, value):
    if value is None:
        monkeypatch.delenv("TEXPR_PROGRESS", raising=False)   # (pytest: silent)
    else:
        monkeypatch.setenv("TEXPR_PROGRESS", value)
    s, args = _schedule()
    te.lower(s, args, target="c")
    assert capsys.readouterr().err == ""


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_terminal_shows_only_builds_over_the_delay(monkeypatch):
    monkeypatch.delenv("TEXPR_PROGRESS", raising=False)
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    assert progress.mode() == "terminal"
    s, args = _schedule()
    te.lower(s, args, target="c")                   # well under DELAY_S
    assert term.getvalue() == ""
    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    te.lower(s, args, name="slow", target="c")
    assert "lower slow" in term.getvalue() and "flatten" in term.getvalue()
    monkeypatch.setattr("sys.stderr", io.StringIO())  # not a terminal
    assert progress.mode() is None
