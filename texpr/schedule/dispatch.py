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
    enclosing context)."""

    def query(self, target, workload):
        return None

    def __enter__(self):
        _stack().append(self)
        return self

    def __exit__(self, *exc):
        _stack().remove(self)
        return False

    @staticmethod
    def current():
        st = _stack()
        return st[-1] if st else None


class ApplyConfig(DispatchContext):
    """Every template instantiated inside gets `config` (a ConfigSpace while a task
    collects its space, a ConfigEntity while one is measured); `workload` is the last
    workload that asked."""

    def __init__(self, config):
        self.config = config
        self.workload = None

    def query(self, target, workload):
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
