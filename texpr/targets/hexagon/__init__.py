"""Hexagon: the HVX emitter, its intrinsics, qfloat, disassembly and qemu harness."""
