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
        self.scan = None              # the scan stage, for the group of a scan's body

    def __repr__(self):
        return f"group({self.name}: {', '.join(s.name for s in self.stages)})"

    @property
    def num_child_stages(self):
        """Direct children: member stages not in an inner group, and the inner groups."""
        inner = {id(g): g for g in self.schedule.groups if g.group is self}
        return sum(1 for st in self.stages if st.group is self) + len(inner)

    def _free_members(self):
        """Members not placed inside another member (at the root, or in the time loop of the
        scan whose body holds the group), not inlined."""
        return [st for st in self.stages if st.attach_type == "root" or
                (st.attach_type == "scope" and not any(st.attach_stage is m for m in self.stages))]

    def _check_movable(self, prim):
        if self.scan is not None:
            raise ScheduleError(f"{self}.{prim}: this group is the body of scan {self.scan.name}; "
                                "it runs in the scan's time loop (place stages inside it, or a "
                                "group made of some of them with create_group)")

    def compute_at(self, parent, ivar):
        self._check_movable("compute_at")
        if any(parent is st for st in self.stages):
            raise ScheduleError(f"{self}: compute_at into its own member {parent.name}")
        for st in reversed(self._free_members()):
            st._compute_at(parent, ivar)
        self.attach_type, self.attach_stage, self.attach_ivar = "scope", parent, ivar

    def compute_root(self):
        self._check_movable("compute_root")
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
    _nest(g, stages)
    sch.groups.append(g)
    return g


def _nest(g, stages):
    """Place new group g among the existing ones: the groups around its members that it
    wholly contains move into g, and g goes into the innermost group around them that it
    does not wholly contain. That group must be the same for every member: groups nest,
    they never overlap."""
    def inside(grp):
        return all(any(m is s for s in stages) for m in grp.stages)
    moves = []
    for st in stages:
        child, outer = st, st.group
        while outer is not None and inside(outer):
            child, outer = outer, outer.group
        moves.append((st, child, outer))
    outers = {id(o): o for _, _, o in moves}
    if len(outers) > 1:
        st, _, o = next(m for m in moves if m[2] is not None)
        raise ScheduleError(f"create_group: {st.name} is in {o}, which the new group would "
                            "only partly contain")
    for _, child, _ in moves:
        child.group = g
    g.group = moves[0][2]
