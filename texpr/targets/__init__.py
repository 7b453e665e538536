"""Targets: emitters from the loop program to source, toolchains, and the runtime."""
from .build import build, emit_source, lower_for_target
from .registry import get_target, register_target

__all__ = ["build", "emit_source", "get_target", "lower_for_target", "register_target"]
