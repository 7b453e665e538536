"""Schedules: what the user asked for, checked at once, consumed by texpr.lower."""
from .schedule import Schedule, Stage, create_schedule
from .relations import Fuse, Split
from ..lang.tensor import IterVar
