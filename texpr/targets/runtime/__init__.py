"""Calling built kernels: the cffi module and the emulator harness."""
