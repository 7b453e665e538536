"""te.draw (texpr/contrib/draw.py): the matplotlib figure of a schedule names its stages and
loops; the graphviz backend's DOT (tedd.viz_schedule) parses, with the dataflow edges."""
import io

import pytest
from matplotlib.text import Annotation

import texpr as te
from texpr.contrib import draw as draw_module
from texpr.contrib import tedd

from support.dot import parse


@pytest.fixture(scope="module")
def schedule():
    A = te.placeholder((16, 16), name="A")
    B = te.compute((16, 16), lambda i, j: A[i, j] * 2, name="B")
    k = te.reduce_axis((0, 16), name="k")
    C = te.compute((16,), lambda i: te.sum(B[i, k], axis=k), name="C")
    s = te.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], factor=8)
    s[C].parallel(xo)
    s[B].compute_at(s[C], xo)
    return s


def test_matplotlib_figure_shows_stage_graph_and_loop_tree(schedule, monkeypatch):
    monkeypatch.setattr(draw_module, "graphviz_available", lambda: False)
    fig = te.draw(schedule)                          # no graphviz: matplotlib
    from matplotlib.figure import Figure
    assert isinstance(fig, Figure)
    graph, tree = fig.axes
    assert graph.get_title() == "stages" and tree.get_title() == "loop tree"
    assert sorted(t.get_text() for t in graph.texts if t.get_text()) == ["A", "B", "C"]
    arrows = [t for t in graph.texts if isinstance(t, Annotation)]
    assert len(arrows) == 2                          # A -> B -> C
    rows = [t.get_text() for t in tree.texts]
    assert rows == [line.strip() for line in str(schedule).splitlines()]
    parallel = next(t for t in tree.texts if "# parallel" in t.get_text())
    assert parallel.get_bbox_patch() is not None     # coloured by its kind, as TEDD's
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=40)          # it renders
    assert png.getvalue().startswith(b"\x89PNG")


def test_graphviz_dot_holds_loops_attachments_and_dataflow(schedule):
    g = parse(tedd.viz_schedule(schedule, output_dot_string=True))
    stage_ids = {st.name: f"stage_{k}_{st.name}" for k, st in enumerate(schedule.stages)}
    assert set(stage_ids.values()) <= set(g.nodes)
    attach = [attrs for a, b, attrs, _ in g.edges if (a, b) == (stage_ids["B"], stage_ids["C"])
              and attrs.get("label") == "compute_at i.outer"]
    assert len(attach) == 1
    flows = {(a, b) for a, b, attrs, _ in g.edges if attrs.get("color") == "blue"}
    assert flows == {(stage_ids["A"], stage_ids["B"]), (stage_ids["B"], stage_ids["C"])}
    assert "i.outer (kParallelized) [0, 2)" in g.nodes[stage_ids["C"]]["label"]


def test_bad_requests(schedule, monkeypatch):
    monkeypatch.setattr(draw_module, "graphviz_available", lambda: False)
    with pytest.raises(te.TexprError, match="needs the graphviz Python package"):
        te.draw(schedule, backend="graphviz")
    with pytest.raises(te.TexprError, match="backend must be one of graphviz, matplotlib"):
        te.draw(schedule, backend="svg")
    with pytest.raises(te.TexprError, match="expected a schedule"):
        te.draw("not a schedule")
