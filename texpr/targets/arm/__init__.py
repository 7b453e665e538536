"""AArch64 emitter: NEON."""
