"""Helpers the tests share: IR interpreters, operator catalogues, GPU schedules."""
