"""A schedule prints its stages and loop trees (schedule/text.py): leaf loops with extents and
annotations, attached stages inside their loop, inlined stages without loops; Jupyter HTML
of it is escaped."""
import html
import re

import texpr as te


def _schedule():
    A = te.placeholder((16, 16), name="A")
    B = te.compute((16, 16), lambda i, j: A[i, j] * 2, name="B")
    D = te.compute((16, 16), lambda i, j: B[i, j] + 1, name="D")
    k = te.reduce_axis((0, 16), name="k")
    C = te.compute((16,), lambda i: te.sum(D[i, k], axis=k), name="C")
    s = te.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], factor=8)
    s[C].parallel(xo)
    s[C].pragma(xi, "unroll", 4)
    s[B].compute_at(s[C], xo)
    s[D].compute_inline()
    return s, B, C


def test_schedule_prints_stages_and_loop_tree():
    s, B, C = _schedule()
    assert repr(s) == str(s) == (
        "schedule(outputs: C)\n"
        "  stage A: placeholder float32[16, 16]\n"
        "  stage D: compute float32[16, 16], inline\n"
        "    D[i, j] = B[i, j] + 1.0f\n"
        "  stage C: compute float32[16], output\n"
        "    C[i] = sum(D[i, k], axis=[k])\n"
        "    for i.outer in range(2):  # parallel\n"
        "      stage B: compute float32[16, 16], compute_at C.i.outer\n"
        "        B[i, j] = A[i, j] * 2.0f\n"
        "        for i in range(16):\n"
        "          for j in range(16):\n"
        "      for i.inner in range(8):  # pragma(unroll=4)\n"
        "        for k in range(16):  # reduce\n")
    # a stage prints its own subtree
    assert str(s[B]) == ("stage B: compute float32[16, 16], compute_at C.i.outer\n"
                         "  B[i, j] = A[i, j] * 2.0f\n"
                         "  for i in range(16):\n"
                         "    for j in range(16):\n")
    assert repr(s[C]) == "stage(C)"


def test_annotations_bind_vectorize_scope_and_offsets():
    A = te.placeholder((64,), name="A")
    r = te.reduce_axis((2, 10), name="r")
    B = te.compute((64,), lambda i: A[i] * 3, name="B")
    C = te.compute((1,), lambda i: te.sum(B[r], axis=r), name="C")
    s = te.create_schedule(C.op)
    bo, bi = s[B].split(B.op.axis[0], factor=8)
    s[B].bind(bo, te.thread_axis("blockIdx.x"))
    s[B].vectorize(bi)
    s[B].set_scope("shared")
    text = str(s)
    assert "for i.outer in range(8):  # bind blockIdx.x" in text
    assert "for i.inner in range(8):  # vectorize" in text
    assert "stage B: compute float32[64], scope shared" in text
    assert "for r in range(2, 10):  # reduce" in text
    n = te.var("n")
    X = te.placeholder((n, 4), name="X")
    state = te.placeholder((n, 4), name="state")
    init = te.compute((1, 4), lambda _, j: X[0, j], name="init")
    update = te.compute((n, 4), lambda t, j: state[t - 1, j] + X[t, j], name="update")
    scan = te.scan(init, update, state, name="S")
    text = str(te.create_schedule(scan.op))
    assert "for S.idx in range(1, n):\n      stage update: compute float32[n, 4], " \
           "compute_at S.S.idx\n" in text


def test_html_is_escaped():
    A = te.placeholder((4,), name="a<b>&")
    B = te.compute((4,), lambda i: A[i] + 1, name="B")
    s = te.create_schedule(B.op)
    a_page = A._repr_html_()
    for page in (s._repr_html_(), s[B]._repr_html_(), B._repr_html_(), a_page):
        assert "<b>" not in page                    # the name never becomes markup
        text = re.sub(r"<[^>]*>", "", page)         # (Pygments wraps tokens in spans)
        assert "a&lt;b&gt;&amp;" in text
        assert ("a<b>&: placeholder" if page is a_page else "B[i] = a<b>&[i] + 1.0f") in \
            html.unescape(text)
