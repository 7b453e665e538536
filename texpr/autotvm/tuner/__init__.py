"""Tuners: RandomTuner, GridSearchTuner, GATuner, and XGBTuner (a gradient-boosted cost model
on features of the lowered loop program, explored by simulated annealing)."""
from .tuner import Tuner
from .simple import GridSearchTuner, RandomTuner
from .ga_tuner import GATuner
from .model_tuner import XGBTuner

__all__ = ["Tuner", "RandomTuner", "GridSearchTuner", "GATuner", "XGBTuner"]
