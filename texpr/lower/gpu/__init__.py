"""Passes of the GPU pipeline: kernels, thread binding, scopes, barriers, reductions."""
