"""Every user mistake raises a subclass of TexprError, so callers can catch one type."""


class TexprError(Exception):
    """Base class of all errors texpr raises for bad input."""


class DTypeError(TexprError, TypeError):
    """An expression mixes dtypes in a way that has no safe meaning."""


class ScheduleError(TexprError):
    """A schedule primitive was asked for something illegal."""


class LoweringError(TexprError):
    """A schedule could not be lowered to a loop program."""


class ArgumentError(TexprError, ValueError):
    """A compiled module was called with arrays that do not fit its signature."""


class BuildError(TexprError):
    """The target compiler rejected generated source (a bug in texpr or a missing toolchain)."""
