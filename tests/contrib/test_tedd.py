"""texpr.contrib.tedd: the three DOT graphs of a schedule parse and name every stage, axis,
attachment and split / fuse relation."""
import shutil

import pytest

import texpr as te
import texpr.topi as topi
from texpr.contrib import tedd

from support.dot import DotError, parse


def _conv_schedule():
    """conv2d_hwcn + bias + relu, the shared-memory schedule shape of TVM's TEDD tutorial."""
    A = te.placeholder((8, 8, 16, 1), name="A")
    W = te.placeholder((3, 3, 16, 32), name="W")
    B = te.placeholder((1, 32, 1), name="bias")
    conv = topi.nn.conv2d_hwcn(A, W, 1, "SAME", 1)
    out = topi.nn.relu(topi.add(conv, B))
    s = te.create_schedule(out.op)
    stage = {st.name: st for st in s.stages}
    stage["data_pad"].compute_inline()
    stage["add"].compute_inline()
    y, x, o, n = out.op.axis
    yo, yi = s[out].split(y, factor=4)
    fused = s[out].fuse(o, n)
    fo, fi = s[out].split(fused, nparts=4)
    s[out].unroll(fi)
    s[out].parallel(yo)
    s[conv].compute_at(s[out], x)
    ry, rx, rc = conv.op.reduce_axis
    rco, rci = s[conv].split(rc, factor=4)
    return s, out, conv, x


def test_dataflow_graph_names_every_stage_and_edge(tmp_path):
    s, out, conv, x = _conv_schedule()
    path = tmp_path / "dfg.dot"
    text = tedd.viz_dataflow_graph(s, dot_file_path=str(path), output_dot_string=True)
    assert path.read_text() == text
    g = parse(text)
    labels = {nid: a["label"] for nid, a in g.nodes.items()}
    for st in s.stages:
        assert sum(lbl.startswith(st.name + "\n") for lbl in labels.values()) == 1, st.name
    by_name = {lbl.split("\n")[0]: nid for nid, lbl in labels.items()}
    edges = {(a, b) for a, b, _, _ in g.edges}
    for st in s.stages:
        if isinstance(st.op, te.ComputeOp):
            for t in st.op.input_tensors:
                assert (by_name[t.op.name], by_name[st.name]) in edges
    assert len(edges) == sum(len(st.op.input_tensors) for st in s.stages
                             if isinstance(st.op, te.ComputeOp))
    assert "(inline)" in labels[by_name["data_pad"]] and "Scope: global" in labels[by_name["A"]]
    assert "(8, 8, 32, 1) float32" in labels[by_name["relu"]]


def test_schedule_tree_attaches_each_stage(tmp_path):
    s, out, conv, x = _conv_schedule()
    assert tedd.viz_schedule_tree(s, dot_file_path=str(tmp_path / "st.dot")) is None
    g = parse((tmp_path / "st.dot").read_text())
    assert "ROOT" in g.nodes
    html = {nid: a.get("label", "") for nid, a in g.nodes.items()}
    ids = {st.name: next(n for n, l in html.items() if f">{st.name}</TD>" in l) for st in s.stages}
    for st in s.stages:                              # every leaf loop is a row of its block
        for k, iv in enumerate(st.leaf_iter_vars):
            assert f'PORT="iv{k}"' in html[ids[st.name]] and f"{k}: {iv.name} (" in html[ids[st.name]]
    attach = {a: (b, attrs) for a, b, attrs, _ in g.edges}
    assert set(attach) == set(ids.values())          # one edge per stage
    b, attrs = attach[ids["conv2d_hwcn"]]
    x_pos = next(k for k, iv in enumerate(s[out].leaf_iter_vars) if iv is x)
    assert b == ids["relu"] and attrs["headport"] == f"iv{x_pos}"
    assert attach[ids["data_pad"]][0] == "ROOT" and attach[ids["data_pad"]][1]["style"] == "dashed"
    assert attach[ids["relu"]][0] == "ROOT"
    relu = html[ids["relu"]]
    assert "i0.outer (kParallelized)" in relu and "(kUnrolled)" in relu
    assert "rc.inner (kCommReduce) [0, 4)" in html[ids["conv2d_hwcn"]]


def test_itervar_relationship_graph_has_every_relation():
    s, out, conv, x = _conv_schedule()
    g = parse(tedd.viz_itervar_relationship_graph(s, output_dot_string=True))
    for st in s.stages:
        cluster = next(n for n in g.subgraphs if n.endswith(f"_{st.name}"))
        labels = [g.nodes[n]["label"] for n in g.subgraphs[cluster]]
        for iv in st.all_iter_vars:
            assert any(f": {iv.name} (" in lbl for lbl in labels), (st.name, iv.name)
        assert sum(lbl.startswith("Split") for lbl in labels) == \
            sum(type(r).__name__ == "Split" for r in st.relations)
        assert sum(lbl == "Fuse" for lbl in labels) == \
            sum(type(r).__name__ == "Fuse" for r in st.relations)
    label = {n: a["label"] for n, a in g.nodes.items()}
    edges = {(label[a], label[b], attrs["label"]) for a, b, attrs, _ in g.edges}
    # i0 -> Split -> i0.outer / i0.inner ; i2, i3 -> Fuse -> i2.i3.fused -> Split
    assert any(a.endswith(": i0 (kDataPar) [0, 8)") and b == "Split (factor=4)" and r == "parent"
               for a, b, r in edges)
    assert any(a == "Split (nparts=4)" and ": i2.i3.fused.inner (kUnrolled)" in b and r == "inner"
               for a, b, r in edges)
    assert any(a == "Fuse" and ": i2.i3.fused (" in b and r == "fused" for a, b, r in edges)
    assert any("-1: i0 (" in lbl for lbl in label.values())       # not a leaf


def test_bound_threads_and_pragmas_are_shown():
    A = te.placeholder((64,), name="A")
    B = te.compute((64,), lambda i: A[i] + 1.0, name="B")
    s = te.create_schedule(B.op)
    bo, bi = s[B].split(B.op.axis[0], factor=16)
    s[B].bind(bo, te.thread_axis("blockIdx.x"))
    s[B].bind(bi, te.thread_axis("threadIdx.x"))
    text = tedd.viz_schedule_tree(s, output_dot_string=True)
    parse(text)
    assert "i.outer (kThreadIndex, blockIdx.x)" in text and "i.inner (kThreadIndex, threadIdx.x)" in text
    s2 = te.create_schedule(B.op)
    s2[B].pragma(B.op.axis[0], "unroll", 4)
    assert "pragma(unroll=4)" in tedd.viz_itervar_relationship_graph(s2, output_dot_string=True)


def test_names_that_need_escaping():
    A = te.placeholder((4,), name='A"<x>&')
    B = te.compute((4,), lambda i: A[i] * 2.0, name="B")
    s = te.create_schedule(B.op)
    for fn in (tedd.viz_dataflow_graph, tedd.viz_schedule_tree, tedd.viz_itervar_relationship_graph):
        g = parse(fn(s, output_dot_string=True))
        assert g.nodes


def test_parser_rejects_broken_text():
    with pytest.raises(DotError):
        parse('digraph "g" { "a" -> ; }')


def test_refusals_and_svg_without_graphviz():
    with pytest.raises(te.TexprError, match="expected a schedule"):
        tedd.viz_dataflow_graph("s")
    A = te.placeholder((4,), name="A")
    B = te.compute((4,), lambda i: A[i] * 2.0, name="B")
    s = te.create_schedule(B.op)
    if shutil.which("dot") is None:
        with pytest.warns(UserWarning, match="`dot` program"):
            assert tedd.viz_schedule_tree(s, show_svg=True) is None
    else:
        tedd.viz_schedule_tree(s, show_svg=True)
