"""Progress of long builds: a tqdm bar whose steps are the lowering passes and the emit and
compile phases, so that a 12-second build says where it is.

Shown when stderr is a terminal or in Jupyter (tqdm.auto), and only once a build has run
for DELAY_S; silent otherwise, in pytest, and with TEXPR_PROGRESS=0. TEXPR_PROGRESS=1 forces
it on: every step is written to stderr at once (what the tests check). tqdm is imported only
when a bar is shown, so a cached build pays nothing for it.
"""
import contextlib
import os
import sys
import threading
import time

DELAY_S = 1.0               # a bar appears only for builds that last longer than this
_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")
_LOCAL = threading.local()  # the bar of the build running in this thread


def mode():
    """"forced", "notebook", "terminal", or None (silent)."""
    v = os.environ.get("TEXPR_PROGRESS", "").strip().lower()
    if v in _ON:
        return "forced"
    if v in _OFF or "PYTEST_CURRENT_TEST" in os.environ:
        return None
    if _in_notebook():
        return "notebook"
    try:
        return "terminal" if sys.stderr is not None and sys.stderr.isatty() else None
    except (AttributeError, ValueError):
        return None


def _in_notebook():
    ipython = sys.modules.get("IPython")       # never imported here: only if already loaded
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except AttributeError:
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class _Silent:
    """The bar when progress is off: every call does nothing."""

    def grow(self, n):
        pass

    def phase(self, name):
        pass


_SILENT = _Silent()


class _Bar:
    """A tqdm bar of `total` steps; phase(name) ends the running step and starts `name`."""

    def __init__(self, desc, total, how):
        if how == "notebook":
            import warnings
            with warnings.catch_warnings():      # (no ipywidgets: tqdm falls back to text)
                warnings.simplefilter("ignore")
                from tqdm.auto import tqdm
        else:
            from tqdm import tqdm
        forced = how == "forced"
        self.bar = tqdm(total=total, desc=desc, unit="step", file=sys.stderr,
                        delay=0 if forced else DELAY_S, mininterval=0 if forced else 0.1,
                        leave=forced, bar_format="{desc}: {n}/{total} [{elapsed}]{postfix}")
        self.running = False

    def grow(self, n):
        self.bar.total += n

    def phase(self, name):
        if self.running:
            self.bar.update(1)
        self.running = True
        # (tqdm's refresh shows the bar at once: only once its delay has passed)
        self.bar.set_postfix_str(name, refresh=False)
        if time.time() - self.bar.start_t >= self.bar.delay:
            self.bar.refresh()

    def close(self):
        if self.running:
            self.bar.update(1)
        self.bar.close()


@contextlib.contextmanager
def steps(desc, total):
    """A bar of `total` steps for the duration of the block; inside another one (te.build's,
    around its lowering) the steps are added to that bar."""
    outer = getattr(_LOCAL, "bar", None)
    if outer is not None:
        outer.grow(total)
        yield outer
        return
    how = mode()
    bar = _SILENT if how is None else _Bar(desc, total, how)
    _LOCAL.bar = bar
    try:
        yield bar
    finally:
        _LOCAL.bar = None
        if bar is not _SILENT:
            bar.close()


def phase(name):
    """Start step `name` of the bar of the build running in this thread (if any)."""
    bar = getattr(_LOCAL, "bar", None)
    if bar is not None:
        bar.phase(name)
