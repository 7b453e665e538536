"""TEDD (TVM's Tensor Expression Debug Display): a schedule as three Graphviz DOT graphs.

- viz_dataflow_graph: one node per stage (name, scope, output shape and dtype), an edge per
  tensor a stage reads.
- viz_schedule_tree: a ROOT node; each stage is a block listing its leaf loops outer to
  inner (index, name, kind or annotation, extent); a stage computed at a loop points to that
  loop's row in its parent's block, a root stage to ROOT, an inlined one to ROOT (dashed).
- viz_itervar_relationship_graph: per stage, its axes and the split / fuse relations between
  them (parent -> split -> outer, inner; outer, inner -> fuse -> fused). A leaf axis shows its
  position in the loop order, the others -1.

Each returns the DOT text when output_dot_string=True, writes it to dot_file_path when one is
given, and renders SVG (show_svg=True) only when Graphviz's `dot` program is installed.
"""
import shutil
import subprocess
import warnings

from ..errors import TexprError
from ..lang.expr import Const
from ..lang.tensor import ComputeOp, PlaceholderOp
from ..schedule.relations import Fuse, Split
from ..schedule.schedule import Schedule
from ..schedule.text import annotation, extent_text, pragmas_text

_KIND = {"data": "kDataPar", "reduce": "kCommReduce", "thread": "kThreadIndex"}
_ANNOTATION = {"vectorize": "kVectorized", "unroll": "kUnrolled", "parallel": "kParallelized",
               "tensorize": "kTensorized"}
_COLOR = {"kDataPar": "white", "kThreadIndex": "yellow", "kCommReduce": "red",
          "kOrdered": "black", "kOpaque": "cyan", "kUnrolled": "blue", "kVectorized": "green",
          "kParallelized": "magenta", "kTensorized": "purple"}


# ----------------------------------------------------------------------------- DOT text

def _quote(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _html(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
        .replace('"', "&quot;")


def _attrs(attrs):
    if not attrs:
        return ""
    parts = []
    for k, v in attrs.items():
        parts.append(f"{k}=<{v[1]}>" if isinstance(v, tuple) and v[0] == "html" else
                     f"{k}={_quote(v)}")
    return " [" + ", ".join(parts) + "]"


class _Dot:
    """DOT statements, one per line; subgraphs indent their statements."""

    def __init__(self, name):
        self.lines = [f"digraph {_quote(name)} {{"]
        self.depth = 1

    def _emit(self, text):
        self.lines.append("  " * self.depth + text)

    def attr(self, kind, **attrs):
        self._emit(f"{kind}{_attrs(attrs)};")

    def node(self, nid, **attrs):
        self._emit(f"{_quote(nid)}{_attrs(attrs)};")

    def edge(self, a, b, a_port=None, **attrs):
        src = _quote(a) + (f":{_quote(a_port)}" if a_port else "")
        self._emit(f"{src} -> {_quote(b)}{_attrs(attrs)};")

    def open(self, name, **attrs):
        self._emit(f"subgraph {_quote(name)} {{")
        self.depth += 1
        for k, v in attrs.items():
            self._emit(f"{k}={_quote(v)};")

    def close(self):
        self.depth -= 1
        self._emit("}")

    def text(self):
        return "\n".join(self.lines + ["}"]) + "\n"


# ----------------------------------------------------------------------------- schedule facts

def _check(sch, what):
    if not isinstance(sch, Schedule):
        raise TexprError(f"tedd.{what}: expected a schedule (te.create_schedule), got {sch!r}")


def _stage_id(sch, st):
    return f"stage_{sch.stages.index(st)}_{st.name}"


def _iv_type(st, iv):
    """TVM's name of the loop's kind: its annotation when it has one (a bound loop: the
    thread), else its kind."""
    kind, detail = annotation(st, iv)
    if kind == "bind":
        return "kThreadIndex", detail
    if kind in _ANNOTATION:
        return _ANNOTATION[kind], None
    return _KIND[iv.kind], None


def _iv_text(st, iv, index):
    kind, tag = _iv_type(st, iv)
    return (f"{index}: {iv.name} ({kind}{', ' + tag if tag else ''}) [0, {extent_text(st, iv)})"
            f"{pragmas_text(st, iv)}")


def _shape(t):
    return "(" + ", ".join(str(d.value) if isinstance(d, Const) else str(d)
                           for d in t.shape) + ")"


def _output(dot, sch, what, show_svg, dot_file_path, output_dot_string):
    text = dot.text()
    if dot_file_path:
        with open(dot_file_path, "w") as f:
            f.write(text)
    if show_svg:
        _show_svg(text, what)
    return text if output_dot_string else None


def _show_svg(text, what):
    exe = shutil.which("dot")
    if exe is None:
        warnings.warn(f"tedd.{what}: show_svg needs Graphviz's `dot` program, which is not "
                      "installed; the DOT text is still available (output_dot_string=True)")
        return None
    svg = subprocess.run([exe, "-Tsvg"], input=text.encode(), capture_output=True,
                         check=True).stdout.decode()
    try:
        from IPython.display import SVG, display
    except ImportError:
        return svg
    display(SVG(svg))
    return svg


# ----------------------------------------------------------------------------- the graphs

def viz_dataflow_graph(sch, show_svg=False, dot_file_path="", output_dot_string=False):
    """Stages as nodes (name, scope, output), an edge from each producer to each reader."""
    _check(sch, "viz_dataflow_graph")
    dot = _Dot("dataflow")
    dot.attr("graph", rankdir="LR")
    dot.attr("node", shape="box", style="rounded")
    for st in sch.stages:
        t = st.op.output(0)
        kind = "placeholder" if isinstance(st.op, PlaceholderOp) else "compute"
        label = (f"{st.name}\nScope: {st.scope}\n{kind}"
                 f"{' (inline)' if st.attach_type == 'inline' else ''}\n"
                 f"{_shape(t)} {t.dtype}")
        dot.node(_stage_id(sch, st), label=label)
    for st in sch.stages:
        if not isinstance(st.op, ComputeOp):
            continue
        for t in st.op.input_tensors:
            src = sch.stage_map.get(t.op)
            if src is not None:
                dot.edge(_stage_id(sch, src), _stage_id(sch, st), label=t.name)
    return _output(dot, sch, "viz_dataflow_graph", show_svg, dot_file_path, output_dot_string)


def viz_schedule_tree(sch, show_svg=False, dot_file_path="", output_dot_string=False):
    """ROOT, each stage a block of its leaf loops; edges to where each stage is computed."""
    _check(sch, "viz_schedule_tree")
    dot = _schedule_tree(sch, "schedule_tree")
    return _output(dot, sch, "viz_schedule_tree", show_svg, dot_file_path, output_dot_string)


def viz_schedule(sch, show_svg=False, dot_file_path="", output_dot_string=False):
    """The schedule tree with the dataflow on it: each stage's block of loops, where it is
    computed, and a blue edge from each producer to each stage that reads it (te.draw)."""
    _check(sch, "viz_schedule")
    dot = _schedule_tree(sch, "schedule")
    for st in sch.stages:
        for t in st.op.input_tensors if isinstance(st.op, ComputeOp) else ():
            src = sch.stage_map.get(t.op)
            if src is not None:
                dot.edge(_stage_id(sch, src), _stage_id(sch, st), label=t.name, color="blue",
                         fontcolor="blue", constraint="false")
    return _output(dot, sch, "viz_schedule", show_svg, dot_file_path, output_dot_string)


def _schedule_tree(sch, name):
    dot = _Dot(name)
    dot.attr("graph", rankdir="BT")
    dot.attr("node", shape="plaintext")
    dot.node("ROOT", shape="oval", label="ROOT")
    for st in sch.stages:
        rows = [f'<TR><TD BGCOLOR="lightgrey">{_html(st.name)}</TD></TR>',
                f"<TR><TD>Scope: {_html(st.scope)}</TD></TR>"]
        for k, iv in enumerate(st.leaf_iter_vars):
            kind = _iv_type(st, iv)[0]
            rows.append(f'<TR><TD PORT="iv{k}" BGCOLOR="{_COLOR.get(kind, "white")}">'
                        f"{_html(_iv_text(st, iv, k))}</TD></TR>")
        body = _html(str(st.op.bodies[0])) if isinstance(st.op, ComputeOp) else "placeholder"
        rows.append(f"<TR><TD>{body}</TD></TR>")
        table = '<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0">' + "".join(rows) + "</TABLE>"
        dot.node(_stage_id(sch, st), label=("html", table))
    for st in sch.stages:
        sid = _stage_id(sch, st)
        if st.attach_type == "scope":
            parent = st.attach_stage
            k = next(i for i, iv in enumerate(parent.leaf_iter_vars) if iv is st.attach_ivar)
            dot.edge(sid, _stage_id(sch, parent), label=f"compute_at {st.attach_ivar.name}",
                     headport=f"iv{k}")
        elif st.attach_type == "inline":
            dot.edge(sid, "ROOT", style="dashed", label="inline")
        else:
            dot.edge(sid, "ROOT")
    return dot


def viz_itervar_relationship_graph(sch, show_svg=False, dot_file_path="",
                                   output_dot_string=False):
    """Per stage: its axes and the split / fuse relations that derive them from each other."""
    _check(sch, "viz_itervar_relationship_graph")
    dot = _Dot("itervar_relationship")
    dot.attr("graph", rankdir="TB")
    dot.attr("node", shape="box")
    for st in sch.stages:
        sid = _stage_id(sch, st)
        dot.open(f"cluster_{sid}", label=st.name)
        leaf_pos = {id(iv): k for k, iv in enumerate(st.leaf_iter_vars)}
        ivid = {}
        for n, iv in enumerate(st.all_iter_vars):
            ivid[id(iv)] = f"{sid}_iv{n}"
            kind = _iv_type(st, iv)[0]
            dot.node(ivid[id(iv)], label=_iv_text(st, iv, leaf_pos.get(id(iv), -1)),
                     style="filled", fillcolor=_COLOR.get(kind, "white"))
        if not st.all_iter_vars:
            dot.node(f"{sid}_none", label=f"{st.name}: no loops", shape="plaintext")
        for r, rel in enumerate(st.relations):
            rid = f"{sid}_rel{r}"
            if isinstance(rel, Split):
                how = f"factor={rel.factor}" if rel.factor is not None else f"nparts={rel.nparts}"
                dot.node(rid, label=f"Split ({how})", shape="invtriangle")
                dot.edge(ivid[id(rel.parent)], rid, label="parent")
                dot.edge(rid, ivid[id(rel.outer)], label="outer")
                dot.edge(rid, ivid[id(rel.inner)], label="inner")
            elif isinstance(rel, Fuse):
                dot.node(rid, label="Fuse", shape="triangle")
                dot.edge(ivid[id(rel.outer)], rid, label="outer")
                dot.edge(ivid[id(rel.inner)], rid, label="inner")
                dot.edge(rid, ivid[id(rel.fused)], label="fused")
            else:
                dot.node(rid, label=type(rel).__name__, shape="diamond")
        dot.close()
    return _output(dot, sch, "viz_itervar_relationship_graph", show_svg, dot_file_path,
                   output_dot_string)
