"""Portable C: the base emitter every CPU target extends, and C identifiers."""
