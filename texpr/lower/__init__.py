"""Lowering: Schedule -> loop program, as one declared pipeline of named IR -> IR passes
(pipeline.py). lower/ holds the passes every target runs; lower/cpu and lower/gpu the passes
of one kind of target; lower/analysis what the passes share (arithmetic, bounds, sympy)."""
from .pipeline import PASS_NAMES, PIPELINE, lower, passes_for

__all__ = ["lower", "PIPELINE", "PASS_NAMES", "passes_for"]
