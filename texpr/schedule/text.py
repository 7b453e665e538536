"""A schedule as text (str / repr of Schedule and Stage, their Jupyter HTML, the loop rows
of texpr.contrib.tedd): each stage with what it computes and its leaf loops, outer to inner;
a stage computed at a loop is printed inside that loop, as the lowered program will hold it.

    schedule(outputs: C)
      stage A: placeholder float32[16, 16]
      stage C: compute float32[16], output
        C[i] = sum(B[i, k], axis=[k])
        for i.outer in range(2):  # parallel
          stage B: compute float32[16, 16], compute_at C.i.outer
            B[i, k] = A[i, k] * 2.0f
            for k in range(16):
          for i.inner in range(8):
            for k in range(16):  # reduce
"""
from ..lang.expr import Const
from ..lang.printer import definition, op_kind, to_str


def extent_text(st, iv):
    """The extent of a stage's loop as text ("?" for an axis the stage does not know)."""
    e = st.extents.get(id(iv))
    if e is None:
        return "?"
    return str(e.value) if isinstance(e, Const) else str(e)


def annotation(st, iv):
    """(what the schedule asked of the loop: parallel, vectorize, unroll, tensorize, bind or
    None; the thread tag of a bound loop or the intrinsic's name of a tensorized one)."""
    attr = st.iter_attrs.get(id(iv), {})
    kind = attr.get("kind")
    if kind == "bind":
        return kind, attr["thread"].thread_tag
    if kind == "tensorize":
        return kind, attr["intrin"].name
    return kind, None


def pragmas_text(st, iv):
    """ pragma(unroll=4) pragma(ivdep) ... of a loop ("" when it has none)."""
    pragmas = st.iter_attrs.get(id(iv), {}).get("pragmas", ())
    return "".join(f" pragma({k}{'' if v is None else '=' + str(v)})" for k, v in pragmas)


def loop_text(st, iv):
    """for i.outer in range(2):  # parallel, reduce, pragma(unroll=4)"""
    lo = iv.dom.min
    ext = extent_text(st, iv)
    rng = ext if isinstance(lo, Const) and lo.value == 0 else \
        f"{to_str(lo)}, {to_str(lo + st.extents[id(iv)])}"
    kind, detail = annotation(st, iv)
    notes = [f"{kind} {detail}" if detail else kind] if kind else []
    if iv.kind == "reduce":
        notes.append("reduce")
    notes += pragmas_text(st, iv).split()
    return f"for {iv.var.name} in range({rng}):" + (f"  # {', '.join(notes)}" if notes else "")


def stage_header(st):
    """stage B: compute float32[16, 16], output, scope local, compute_at C.i.outer"""
    t = st.op.output(0)
    shape = ", ".join(to_str(d) for d in t.shape)
    parts = [f"{op_kind(st.op)} {t.dtype}[{shape}]"]
    if st.is_output:
        parts.append("output")
    if st.scope != "global":
        parts.append(f"scope {st.scope}")
    if st.attach_type == "inline":
        parts.append("inline")
    elif st.attach_type == "scope" and st.attach_stage is not None:
        parts.append(f"compute_at {st.attach_stage.name}.{st.attach_ivar.name}")
    return f"stage {st.name}: {', '.join(parts)}"


def _attached(sch):
    """id(stage) -> the stages computed at one of its loops, in schedule order."""
    children, ids = {}, {id(st) for st in sch.stages}
    for st in sch.stages:
        if st.attach_type == "scope" and id(st.attach_stage) in ids:
            children.setdefault(id(st.attach_stage), []).append(st)
    return children


def _stage_lines(st, children, depth, out):
    pad = "  " * depth
    out.append(pad + stage_header(st))
    if op_kind(st.op) != "placeholder":
        out += [pad + "  " + d for d in definition(st.op)]
    if st.attach_type == "inline":           # no loops of its own: read where it is used
        return
    inner = children.get(id(st), [])
    leaves = {id(iv) for iv in st.leaf_iter_vars}
    for c in inner:                         # at a loop that is not one of its leaves (a scan's)
        if id(c.attach_ivar) not in leaves:
            _stage_lines(c, children, depth + 1, out)
    d = depth + 1
    for iv in st.leaf_iter_vars:
        out.append("  " * d + loop_text(st, iv))
        for c in inner:
            if c.attach_ivar is iv:
                _stage_lines(c, children, d + 1, out)
        d += 1


def stage_text(st):
    """One stage and the stages computed inside its loops."""
    out = []
    _stage_lines(st, _attached(st.schedule), 0, out)
    return "\n".join(out) + "\n"


def schedule_text(sch):
    """Every stage of a schedule: the root stages in order, each attached one in its loop."""
    children = _attached(sch)
    attached = {id(c) for cs in children.values() for c in cs}
    out = [f"schedule(outputs: {', '.join(op.name for op in sch.outputs)})"]
    for st in sch.stages:
        if id(st) not in attached:
            _stage_lines(st, children, 1, out)
    return "\n".join(out) + "\n"
