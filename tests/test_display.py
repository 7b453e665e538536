"""Jupyter display (texpr/display.py): te.lower's programs and hybrid scripts as highlighted,
escaped HTML; a plain escaped <pre> without Pygments."""
import html
import re
import sys

import texpr as te
from texpr.display import code_html
from texpr.hybrid.module import HybridModule


def _text(page):
    """What a browser shows of the HTML: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]*>", "", page))


def test_lowered_program_html_is_its_text_highlighted():
    A = te.placeholder((16,), name="A")
    B = te.compute((16,), lambda i: te.if_then_else(A[i] < 0, A[i], A[i] * 2), name="B")
    s = te.create_schedule(B.op)
    program = te.lower(s, [A, B])
    page = program._repr_html_()
    assert "<span" in page                          # Pygments comes with IPython
    assert _text(page).strip() == str(program).strip()
    assert "A[i] < 0.0f" in _text(page) and "A[i] < 0" not in page   # '<' escaped


def test_gpu_program_html():
    A = te.placeholder((64,), name="A")
    B = te.compute((64,), lambda i: A[i] + 1, name="B")
    s = te.create_schedule(B.op)
    bo, bi = s[B].split(B.op.axis[0], factor=32)
    s[B].bind(bo, te.thread_axis("blockIdx.x"))
    s[B].bind(bi, te.thread_axis("threadIdx.x"))
    program = te.lower(s, [A, B], target="opencl")
    assert _text(program._repr_html_()).strip() == str(program).strip()


def test_hybrid_script_html_is_python():
    src = "def double(a):\n    b = output_tensor(a.shape, a.dtype)\n" \
          "    for i in range(a.shape[0]):\n        b[i] = a[i] * 2\n    return b\n"
    page = HybridModule(src)._repr_html_()
    assert "<HybridModule double>" in _text(page) and src.strip() in _text(page)
    assert _text(HybridModule()._repr_html_()).strip() == "<HybridModule None>"


def test_without_pygments_a_plain_escaped_pre(monkeypatch):
    monkeypatch.setitem(sys.modules, "pygments", None)      # import pygments fails
    assert code_html("if (a < b && c > d) {}", "c", title="<t>") == (
        '<div class="texpr"><div style="font-weight:bold;font-family:monospace">&lt;t&gt;'
        '</div><pre>if (a &lt; b &amp;&amp; c &gt; d) {}</pre></div>')
