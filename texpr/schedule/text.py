"""A schedule as text (str / repr of Schedule and Stage, their Jupyter HTML, the loop rows
of texpr.contrib.tedd): each stage with what it computes and its leaf loops, outer to inner;
a stage computed at a loop is printed inside that loop, as the lowered program will hold it.

    schedule(outputs: C)
      stage A: placeholder float32[16, 16]
      stage C: compute float32[16], output
        C[i] = sum(B[i, k], axis=[k])
        for i.outer in range(2):  # parallel
          stage B: compute float32[16, 16], compute_at C.i.outer
            B[i, j] = A[i, j] * 2.0f
            for i in range(16):
              for j in range(16):
          for i.inner in range(8):
            for k in range(16):  # reduce
"""
from ..lang.expr import Const
from ..lang.printer import definition, end_text, op_kind, to_str


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
        f"{to_str(lo)}, {end_text(lo, st.extents[id(iv)])}"
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


def _stage_rows(st, children, depth, out):
    out.append((depth, stage_header(st), "stage"))
    if op_kind(st.op) != "placeholder":
        out += [(depth + 1, d, "definition") for d in definition(st.op)]
    if st.attach_type == "inline":           # no loops of its own: read where it is used
        return
    inner = children.get(id(st), [])
    leaves = {id(iv) for iv in st.leaf_iter_vars}
    for c in inner:                         # at a loop that is not one of its leaves (a scan's)
        if id(c.attach_ivar) not in leaves:
            _stage_rows(c, children, depth + 1, out)
    d = depth + 1
    for iv in st.leaf_iter_vars:
        kind = annotation(st, iv)[0] or ("reduce" if iv.kind == "reduce" else "loop")
        out.append((d, loop_text(st, iv), kind))
        for c in inner:
            if c.attach_ivar is iv:
                _stage_rows(c, children, d + 1, out)
        d += 1


def schedule_rows(sch, stage=None):
    """The lines of the text as (depth, text, what): what is "schedule", "stage",
    "definition", or a loop's kind (loop, reduce, parallel, vectorize, unroll, bind,
    tensorize). Of one stage and what is computed inside it, or of the whole schedule."""
    children = _attached(sch)
    if stage is not None:
        out = []
        _stage_rows(stage, children, 0, out)
        return out
    attached = {id(c) for cs in children.values() for c in cs}
    out = [(0, f"schedule(outputs: {', '.join(op.name for op in sch.outputs)})", "schedule")]
    for st in sch.stages:
        if id(st) not in attached:
            _stage_rows(st, children, 1, out)
    specs = getattr(sch, "specializations", ())
    if specs:       # Schedule.specialize: each class's schedule, then the fallback's (above)
        from ..lang.printer import to_str
        out[0] = (0, out[0][1] + f"  # the fallback of {len(specs)} specialisation(s)", "schedule")
        for k, (cond, sub) in enumerate(specs):
            out.append((1, f"specialisation {k}: if {to_str(cond)}", "schedule"))
            out += [(d + 1, text, kind) for d, text, kind in schedule_rows(sub)[1:]]
    return out


def _text(rows):
    return "".join("  " * depth + text + "\n" for depth, text, _ in rows)


def stage_text(st):
    """One stage and the stages computed inside its loops."""
    return _text(schedule_rows(st.schedule, st))


def schedule_text(sch):
    """Every stage of a schedule: the root stages in order, each attached one in its loop."""
    return _text(schedule_rows(sch))
