#!/usr/bin/env python
"""Run texpr's property suites with every kernel built under gcc's sanitizers.

Why (issue 15): a kernel must never read or write out of bounds, and NumPy comparisons only
catch an out-of-bounds access when it changes a result. Here the kernels of the schedule and
expression property suites (targets c and native) are built with TEXPR_SANITIZE (default
address,undefined) and a sanitizer report aborts the run, so `make test` fails on one.

The interpreter is not instrumented: ASan's runtime is preloaded into a fresh pytest
process (texpr.targets.toolchain.sanitizer_env), leak checks are off (Python keeps memory to
its exit), and Hypothesis runs its "sanitize" profile (few, derandomized examples: about a
minute on two cores once the kernels are cached).

    python tools/sanitized_tests.py                      # address,undefined
    python tools/sanitized_tests.py --sanitize undefined -- -x -k matmul
"""
import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from texpr.targets.toolchain import sanitizer_env  # noqa: E402

#: the property suites and the tests of theirs that run: random legal schedules of the core
#: operators (c, native), random expressions (c, native under TEXPR_SANITIZE), random
#: primitive sequences (c)
SUITES = ["tests/lang/test_properties.py::test_any_legal_schedule_matches_numpy",
          "tests/lang/test_expression_properties.py::test_random_expressions_match_numpy",
          "tests/schedule/test_schedule_fuzz.py::"
          "test_any_primitive_sequence_raises_texpr_error_or_matches_numpy"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sanitize", default="address,undefined",
                   help="comma list of gcc sanitizers (default: address,undefined)")
    p.add_argument("--jobs", default="auto", help="pytest-xdist workers (default: auto)")
    p.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = p.parse_args(argv)
    names = [s for s in args.sanitize.split(",") if s]
    env = dict(os.environ)
    env.update(sanitizer_env(names))
    env["HYPOTHESIS_PROFILE"] = "sanitize"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES]
    if args.jobs not in ("0", "1"):
        cmd += ["-n", args.jobs]
    cmd += args.pytest_args
    print(f"sanitized tests ({','.join(names)}): {' '.join(cmd[3:])}", flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
