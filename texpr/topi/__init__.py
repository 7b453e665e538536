"""texpr.topi: operators (compute definitions + per-target schedules) and NumPy references."""
from . import layout, nn, testing
from .schedules import schedule

__all__ = ["nn", "layout", "testing", "schedule"]
