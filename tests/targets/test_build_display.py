"""A build that lowers (a kernel-cache miss) shows its passes, emit and compile as progress
when forced; the module it returns displays its source in Jupyter, highlighted and escaped."""
import html
import re

import numpy as np

import texpr as te
from texpr.targets import kernel_cache


def test_forced_build_progress_and_module_html(monkeypatch, capsys):
    monkeypatch.setenv("TEXPR_PROGRESS", "1")
    monkeypatch.setattr(kernel_cache, "lookup", lambda fp: None)   # lower, whatever is cached
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: te.if_then_else(A[i] < 1, A[i], A[i] * 3), name="B")
    s = te.create_schedule(B.op)
    f = te.build(s, [A, B], target="c", name="shown_build")
    err = capsys.readouterr().err
    for step in ("build shown_build (c)", "loop_nest", "flatten", "emit", "compile"):
        assert step in err, step
    a = np.arange(8, dtype="float32")
    b = np.empty(8, "float32")
    f(a, b)
    np.testing.assert_array_equal(b, np.where(a < 1, a, a * 3))
    page = f._repr_html_()
    text = html.unescape(re.sub(r"<[^>]*>", "", page))
    assert text.startswith(repr(f)) and f.source.strip() in text
    assert "<texpr.Module" not in page                  # the title is escaped too
    assert "#include" in f.source and "&lt;" in page    # <math.h> & co. escaped
