"""Schedules: what the user asked for, checked at once, consumed by texpr.lower."""
from .schedule import Schedule, Stage, create_schedule
from .relations import Fuse, Singleton, Split
from ..lang.ir import Buffer        # the buffers an extern op's fcompute gets (TVM: te.schedule.Buffer)
from ..lang.tensor import IterVar
