"""Targets: emitters from the loop program to source, toolchains, and the runtime."""
from .build import build, get_target, lower_for_target

__all__ = ["build", "get_target", "lower_for_target"]
