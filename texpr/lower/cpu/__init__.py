"""Passes of the CPU pipeline: tails, vectorization, registers, prefetch, index checks."""
