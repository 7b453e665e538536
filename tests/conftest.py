"""Shared pytest configuration for texpr's test suite.

- Points texpr's compiled-kernel cache at <repo>/.texpr_cache unless TEXPR_CACHE_DIR is set
  (done before texpr is imported anywhere in the tests), and OpenMP threads at passive waiting.
- Registers hypothesis profiles: "ci" (more examples, derandomized), "dev" (quick) and
  "soak" (many random examples: a hunt for bugs, minutes per property, never in CI) and
  "sanitize" (few derandomized examples, for tools/sanitized_tests.py).
  "ci" is loaded when the CI environment variable is set, "dev" otherwise;
  HYPOTHESIS_PROFILE=<name> overrides the choice.
"""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TEXPR_CACHE_DIR", str(REPO_ROOT / ".texpr_cache"))
# The suite runs in one worker per core (pytest-xdist): a kernel's OpenMP threads must sleep,
# not spin, while they wait for a peer whose core is busy with another worker's compiler
# (spinning made 2-thread kernels 5-80x slower on a loaded 2-core machine).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from hypothesis import HealthCheck, settings  # noqa: E402

# Both profiles start from Hypothesis's own "default" profile, not from whatever Hypothesis
# auto-selected (it switches to its built-in CI settings when it sees a CI variable).
_base = settings.get_profile("default")

# "ci": 15 examples per property (derandomized, so the same 15 every run; each example of
# the schedule properties compiles kernels, and make test must stay under 15 minutes on a
# 2-core machine); the "soak" profile is the bug hunt.
settings.register_profile(
    "ci",
    parent=_base,
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
settings.register_profile(
    "dev",
    parent=_base,
    max_examples=10,
    deadline=None,
)

settings.register_profile(
    "soak",
    parent=_base,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# tools/sanitized_tests.py: the property suites once more with sanitized kernels, small
settings.register_profile(
    "sanitize",
    parent=_base,
    max_examples=2,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)

_in_ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _in_ci else "dev"))


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/ from the source texpr generates now "
                          "(tests/targets/test_golden_sources.py)")


#: the modules whose tests build the slowest kernels (a cold-cache `--durations` run: Winograd,
#: SIMDe avx512, HVX under clang + qemu, the compiled and interpreted schedule properties),
#: slowest first. They are collected first, whole (module fixtures stay shared), so pytest-xdist
#: hands them out at the start; the run ends on short tests that worksteal spreads over both
#: workers, instead of one worker finishing a minute-long test while the other idles.
SLOW_FIRST = ("topi/test_topi_schedules.py", "topi/test_topi_nchwc.py", "topi/test_topi_hvx.py",
              "targets/test_target_hvx.py", "lang/test_properties.py",
              "lower/test_lower_passes.py")


def slow_modules_first(items):
    """Stable reorder: items of SLOW_FIRST modules (in that order) before all others."""
    rank = {m: i for i, m in enumerate(SLOW_FIRST)}

    def key(item):
        try:
            rel = Path(str(item.path)).resolve().relative_to(REPO_ROOT / "tests").as_posix()
        except ValueError:              # an item outside tests/ keeps its place among the rest
            return len(SLOW_FIRST)
        return rank.get(rel, len(SLOW_FIRST))
    return sorted(items, key=key)


def pytest_collection_modifyitems(session, config, items):
    items[:] = slow_modules_first(items)
