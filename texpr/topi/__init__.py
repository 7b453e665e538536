"""texpr.topi: operators (compute definitions + per-target schedules) and NumPy references."""
from . import graph, layout, nn, sparse, testing
from .schedules import schedule
from . import cpu  # noqa: F401  (registers the CPU schedules)

__all__ = ["nn", "layout", "sparse", "testing", "schedule", "cpu", "graph"]
