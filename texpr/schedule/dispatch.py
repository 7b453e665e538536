"""Which config a template gets (AutoTVM's dispatch contexts).

A template asks `config_for(workload, target)`; the innermost active context answers:
ApplyConfig (one given config: what a tuning task measures), a history of tuning records
(texpr.autotvm.ApplyHistoryBest), or nobody, in which case the template gets a fresh
FallbackConfig and applies its heuristic. Contexts nest (`with`), per thread.

A workload is a hashable tuple (template name, normalised args); topi's templates compute
theirs from the stage they schedule, so a record of `autotvm.task.create("topi.dense",
...)` applies to any dense of that shape.
"""
import threading

from .config_space import FallbackConfig

_STATE = threading.local()


def _stack():
    st = getattr(_STATE, "stack", None)
    if st is None:
        st = _STATE.stack = []
    return st


class DispatchContext:
    """Base of the contexts: `query(target, workload)` gives a config or None (ask the
    enclosing context).

    >>> from texpr import autotvm
    >>> from texpr.schedule.dispatch import config_for
    >>> class Always(autotvm.DispatchContext):
    ...     def query(self, target, workload):
    ...         return "my config"
    >>> with Always():
    ...     config_for(("doc.t", 64))
    'my config'
    """

    def query(self, target, workload):
        """The config of `workload` on `target`, or None to let the enclosing context answer.

        >>> from texpr import autotvm
        >>> autotvm.DispatchContext().query("native", ("doc.t", 64)) is None
        True
        """
        return None

    def __enter__(self):
        _stack().append(self)
        return self

    def __exit__(self, *exc):
        _stack().remove(self)
        return False

    @staticmethod
    def current():
        """The innermost active context (a `with` block's), or None.

        >>> from texpr import autotvm
        >>> with autotvm.ApplyConfig(autotvm.FallbackConfig()) as ctx:
        ...     autotvm.DispatchContext.current() is ctx
        True
        >>> autotvm.DispatchContext.current() is None
        True
        """
        st = _stack()
        return st[-1] if st else None


class ApplyConfig(DispatchContext):
    """Every template instantiated inside gets `config` (a ConfigSpace while a task
    collects its space, a ConfigEntity while one is measured); `workload` is the last
    workload that asked.

    >>> from texpr import autotvm
    >>> from texpr.schedule.dispatch import config_for
    >>> space = autotvm.ConfigSpace()
    >>> space.define_knob("unroll", [0, 4])
    >>> with autotvm.ApplyConfig(space.get(1)) as ctx:
    ...     print(config_for(("doc.t", 64))["unroll"].val, ctx.workload)
    4 ('doc.t', 64)
    """

    def __init__(self, config):
        self.config = config
        self.workload = None

    def query(self, target, workload):
        """The given config, whatever the target and workload (recorded in self.workload).

        >>> from texpr import autotvm
        >>> ctx = autotvm.ApplyConfig("cfg")
        >>> ctx.query("native", ("doc.t", 64)), ctx.workload
        ('cfg', ('doc.t', 64))
        """
        self.workload = workload
        return self.config


def config_for(workload, target=None):
    """The config of `workload` on `target` from the innermost context that has one, else a
    FallbackConfig (the template's heuristic)."""
    for ctx in reversed(_stack()):
        cfg = ctx.query(target, workload)
        if cfg is not None:
            return cfg
    return FallbackConfig()


def current_target():
    """The target a task is instantiating its template for (None outside a task)."""
    return getattr(_STATE, "target", None)


class target_scope:
    """`with target_scope("avx2"):` templates called inside see current_target() == it."""

    def __init__(self, target):
        self.target = target

    def __enter__(self):
        self.old = current_target()
        _STATE.target = self.target
        return self

    def __exit__(self, *exc):
        _STATE.target = self.old
        return False
