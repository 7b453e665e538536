"""Analyses the passes share: integer arithmetic and bounds, sympy facts."""
