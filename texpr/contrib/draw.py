"""te.draw: a picture of a schedule, its stage graph and its loop tree (as TVM's TEDD drew).

With the `graphviz` Python package and Graphviz's `dot` program: a graphviz.Source of
tedd.viz_schedule's DOT (stage blocks of loops, attachments, dataflow). Otherwise a
matplotlib Figure: the stage graph on the left (an arrow from each producer to each reader),
the loop tree on the right (schedule/text.py's rows, loops coloured by kind as in TEDD).
Either displays itself in Jupyter.
"""
import shutil

from ..errors import TexprError
from ..lang.tensor import ComputeOp, PlaceholderOp
from ..schedule.schedule import Schedule
from ..schedule.text import schedule_rows
from . import tedd

BACKENDS = ("graphviz", "matplotlib")

# loop kinds (schedule_rows) -> TEDD's colours of the same kinds
_ROW_COLOR = {"parallel": tedd._COLOR["kParallelized"], "vectorize": tedd._COLOR["kVectorized"],
              "unroll": tedd._COLOR["kUnrolled"], "tensorize": tedd._COLOR["kTensorized"],
              "bind": tedd._COLOR["kThreadIndex"], "reduce": tedd._COLOR["kCommReduce"]}


def graphviz_available():
    """Whether the graphviz backend can render: its Python package and the `dot` program."""
    try:
        import graphviz  # noqa: F401
    except ImportError:
        return False
    return shutil.which("dot") is not None


def draw(sch, backend=None):
    """Draw a schedule's stages and loops. backend: "graphviz", "matplotlib", or None (graphviz
    when it can render, else matplotlib).

    Example (in Jupyter the result displays itself)::

        s = te.create_schedule(C.op)
        te.draw(s)                           # graphviz when installed, else a matplotlib figure
        te.draw(s, backend="matplotlib")
    """
    if not isinstance(sch, Schedule):
        raise TexprError(f"te.draw: expected a schedule (te.create_schedule), got {sch!r}")
    if backend is None:
        backend = "graphviz" if graphviz_available() else "matplotlib"
    if backend == "graphviz":
        if not graphviz_available():
            raise TexprError("te.draw(backend='graphviz') needs the graphviz Python package "
                             "(pip install graphviz) and Graphviz's dot program; "
                             "backend='matplotlib' needs neither")
        import graphviz
        return graphviz.Source(tedd.viz_schedule(sch, output_dot_string=True))
    if backend == "matplotlib":
        return schedule_figure(sch)
    raise TexprError(f"te.draw: backend must be one of {', '.join(BACKENDS)} or None, "
                     f"got {backend!r}")


def _levels(sch):
    """Column of each stage in the stage graph: the longest path from an input to it."""
    level = {}
    for st in sch.stages:                   # producers come first
        ins = st.op.input_tensors if isinstance(st.op, ComputeOp) else ()
        level[id(st)] = 1 + max((level.get(id(sch.stage_map[t.op]), 0) for t in ins
                                 if t.op in sch.stage_map), default=-1)
    return level


def _stage_color(st):
    if isinstance(st.op, PlaceholderOp):
        return "lightgrey"
    if st.attach_type == "inline":
        return "white"
    return "gold" if st.is_output else "lightblue"


def schedule_figure(sch):
    """A matplotlib Figure (no pyplot state): stage graph | loop tree."""
    from matplotlib.figure import Figure
    rows = schedule_rows(sch)
    level = _levels(sch)
    ncol = max(level.values(), default=0) + 1
    per_col = {}
    for st in sch.stages:
        per_col.setdefault(level[id(st)], []).append(st)
    nrow = max((len(v) for v in per_col.values()), default=1)
    height = max(2.5, 0.28 * len(rows) + 0.8, 0.9 * nrow + 0.8)
    fig = Figure(figsize=(4 + 2.2 * ncol, height))
    graph, tree = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1 + ncol, 4]})
    for ax in (graph, tree):
        ax.set_axis_off()
    graph.set_title("stages")
    graph.set_xlim(-0.6, ncol - 0.4)
    graph.set_ylim(-nrow + 0.4, 0.6)
    pos = {}
    for col, sts in per_col.items():
        for r, st in enumerate(sts):
            pos[id(st)] = (col, -r)
            label = st.name + ("\n(inline)" if st.attach_type == "inline" else "")
            graph.text(col, -r, label, ha="center", va="center", fontsize=9,
                       bbox={"boxstyle": "round", "fc": _stage_color(st),
                             "ls": "--" if st.attach_type == "inline" else "-"})
    for st in sch.stages:
        for t in st.op.input_tensors if isinstance(st.op, ComputeOp) else ():
            src = sch.stage_map.get(t.op)
            if src is not None:
                graph.annotate("", xy=pos[id(st)], xytext=pos[id(src)],
                               arrowprops={"arrowstyle": "->", "shrinkA": 14, "shrinkB": 14})
    tree.set_title("loop tree")
    tree.set_xlim(0, 1)
    tree.set_ylim(-len(rows), 0.5)
    for k, (depth, text, what) in enumerate(rows):
        color = _ROW_COLOR.get(what)
        tree.text(0.02 + 0.03 * depth, -k, text, ha="left", va="center", family="monospace",
                  fontsize=8, fontweight="bold" if what == "stage" else "normal",
                  bbox={"fc": color, "ec": "none", "pad": 1, "alpha": 0.45} if color else None)
    return fig
