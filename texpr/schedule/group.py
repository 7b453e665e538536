"""Stage groups (TVM's Schedule.create_group): stages scheduled together. A group attached
with compute_at puts each of its stages that is not placed inside the group at that loop
(consumers first, so every member's consumers are already there)."""
from ..errors import ScheduleError
from ..lang.tensor import Tensor


class Group:
    """A set of stages (and inner groups) that compute_at / compute_root move together."""

    def __init__(self, schedule, stages, name):
        self.schedule = schedule
        self.stages = stages          # member stages, producers first
        self.name = name
        self.group = None             # the enclosing group, if any
        self.attach_type = "root"
        self.attach_stage = None
        self.attach_ivar = None

    def __repr__(self):
        return f"group({self.name}: {', '.join(s.name for s in self.stages)})"

    @property
    def num_child_stages(self):
        """Direct children: member stages not in an inner group, and the inner groups."""
        inner = {id(g): g for g in self.schedule.groups if g.group is self}
        return sum(1 for st in self.stages if st.group is self) + len(inner)

    def _free_members(self):
        """Members placed at the root (not inside another member, not inlined)."""
        return [st for st in self.stages if st.attach_type == "root"]

    def compute_at(self, parent, ivar):
        if any(parent is st for st in self.stages):
            raise ScheduleError(f"{self}: compute_at into its own member {parent.name}")
        for st in reversed(self._free_members()):
            st._compute_at(parent, ivar)
        self.attach_type, self.attach_stage, self.attach_ivar = "scope", parent, ivar

    def compute_root(self):
        for st in self.stages:
            if st.attach_type == "scope" and not any(st.attach_stage is m for m in self.stages):
                st.compute_root()
        self.attach_type, self.attach_stage, self.attach_ivar = "root", None, None

    def compute_inline(self):
        raise ScheduleError(f"{self}: a group cannot be inlined; inline its stages one by one")


def _ops(x):
    if x is None:
        return []
    xs = x if isinstance(x, (list, tuple)) else [x]
    return [t.op if isinstance(t, Tensor) else t for t in xs]


def create_group(sch, outputs, inputs, include_inputs=False):
    """The stages computing `outputs` from `inputs` (the inputs' stages too when
    include_inputs), as one Group."""
    outs, ins = _ops(outputs), _ops(inputs)
    stop = {id(op) for op in ins}
    members, seen = set(), set()

    def visit(op):
        if id(op) in seen:
            return
        seen.add(id(op))
        if id(op) in stop:
            if include_inputs:
                members.add(id(op))
            return
        members.add(id(op))
        for t in op.input_tensors:
            visit(t.op)
    for op in outs:
        sch[op]                          # a clear error if it is not in the schedule
        visit(op)
    stages = [st for st in sch.stages if id(st.op) in members]
    if not stages:
        raise ScheduleError("create_group: no stage lies between the given inputs and outputs")
    from ..lang.tensor import PlaceholderOp
    for st in stages:
        if isinstance(st.op, PlaceholderOp) and not include_inputs:
            raise ScheduleError(f"create_group: placeholder {st.name} is reached from the "
                                "outputs; list it in inputs=")
    stages = [st for st in stages if not isinstance(st.op, PlaceholderOp)]
    g = Group(sch, stages, "+".join(st.name for st in stages))
    for st in stages:
        if st.is_output:
            raise ScheduleError(f"create_group: {st.name} is an output of the schedule; its "
                                "stage stays at the root")
        old = st.group
        if old is None:
            st.group = g
        else:
            while old.group is not None and old.group is not g:
                old = old.group
            if old is not g:
                if not all(any(m is s for s in stages) for m in old.stages):
                    raise ScheduleError(f"create_group: {st.name} is in {old}, which the new "
                                        "group would only partly contain")
                old.group = g
    sch.groups.append(g)
    return g
