# texpr project tasks.  `make demo` and `make test` work from a fresh clone:
# they install missing system packages (when root), create .venv and install deps.

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.stamp

export DEBIAN_FRONTEND := noninteractive

.PHONY: all setup sysdeps demo test typecheck docs sanitized bench clean

all: test

# Debian packages of the cross and GPU targets (TOOLCHAINS.md): NEON (cross gcc + qemu-user),
# HVX (clang, lld, qemu-user), AVX-512 through SIMDe, OpenCL on PoCL, and the system CBLAS of
# texpr.contrib.cblas (OpenBLAS).  Installed by sysdeps when missing and root (or passwordless
# sudo); otherwise their tests skip.
TARGET_PKGS := gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user clang lld llvm libsimde-dev \
               pocl-opencl-icd ocl-icd-opencl-dev libopenblas-dev

# System packages: a C compiler with OpenMP and libc headers (texpr compiles the C it
# generates), Python's venv module, and TARGET_PKGS (one dpkg-query, only on Debian-like
# systems).  A no-op when everything is already present; `apt-get update` runs once, first.
sysdeps:
	@pkgs=""; \
	if ! command -v gcc >/dev/null 2>&1 \
	   || ! ls /usr/lib/gcc/*/*/include/omp.h >/dev/null 2>&1 \
	   || ! printf '#include <omp.h>\n#include <stdio.h>\nint main(void){return omp_get_max_threads()<0;}\n' \
	        | gcc -fopenmp -x c - -o /dev/null >/dev/null 2>&1; then \
	  pkgs="gcc libc6-dev"; \
	fi; \
	if ! $(PYTHON) -c 'import venv, ensurepip' >/dev/null 2>&1; then \
	  pkgs="$$pkgs python3-venv"; \
	fi; \
	extra=""; \
	if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  have=" $$(dpkg-query -W -f='$${db:Status-Abbrev} $${Package}\n' $(TARGET_PKGS) 2>/dev/null \
	          | awk '$$1 == "ii" {printf "%s ", $$2}')"; \
	  for p in $(TARGET_PKGS); do \
	    case "$$have" in *" $$p "*) ;; *) extra="$$extra $$p";; esac; \
	  done; \
	fi; \
	if [ -n "$$pkgs$$extra" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  elif [ -n "$$pkgs" ]; then \
	    echo "sysdeps: missing system packages ($$pkgs$$extra) and not root; install them by hand" >&2; exit 1; \
	  else \
	    echo "sysdeps: note: target packages missing ($$extra) and not root; their tests are skipped" >&2; \
	    exit 0; \
	  fi; \
	  all=$$(echo $$pkgs $$extra); echo "sysdeps: installing $$all"; \
	  if ! { $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null && \
	         $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	           $$all </dev/null; }; then \
	    if [ -n "$$pkgs" ]; then exit 1; fi; \
	    echo "sysdeps: warning: could not install$$extra; the tests of those targets are skipped" >&2; \
	  fi; \
	fi

# (Re)create the venv if it is missing or broken, then install texpr + test deps.
# Redone only when pyproject.toml changes.  editable_mode=compat puts the repo root on the
# venv's path (a plain .pth), so packages and modules added under texpr/ later are importable
# without reinstalling.
$(STAMP): pyproject.toml | sysdeps
	@if ! $(VPY) -c '' >/dev/null 2>&1; then \
	  rm -rf $(VENV); \
	  echo "setup: creating $(VENV)"; \
	  $(PYTHON) -m venv $(VENV); \
	fi
	@echo "setup: installing texpr and its test dependencies into $(VENV)"
	$(VENV)/bin/pip install -q -e '.[test,bench,docs]' --config-settings editable_mode=compat </dev/null
	@touch $@

setup: sysdeps $(STAMP)

demo: setup
	$(VPY) -m texpr.demo

# One pytest process per core (pytest-xdist; the kernel cache is safe to share between them);
# worksteal: a worker that runs out of tests takes some of the other's (the property tests
# take minutes each, so a fixed split leaves one core idle at the end). Then the property
# suites once more with kernels built under ASan and UBSan (TEXPR_SANITIZE), few examples:
# a sanitizer report fails the run (tools/sanitized_tests.py). mypy, Sphinx and the sanitized
# run share the two cores after pytest (-j2, each one's output printed whole when it ends).
test: setup
	$(VPY) -m pytest tests -n auto --dist worksteal --durations=25
	$(MAKE) --no-print-directory -j2 --output-sync=target typecheck docs sanitized

# the property suites once more with ASan/UBSan-instrumented kernels; a report fails the run
sanitized: setup
	$(VPY) tools/sanitized_tests.py

# mypy on the public API: the module list and options are pyproject.toml's [tool.mypy]
typecheck: setup
	$(VPY) -m mypy

# The API reference and the notebooks with their outputs, in docs/_build/html; offline,
# warnings are errors, rebuilt from scratch (-E). A notebook the test suite executed
# (tests/docs/test_notebooks.py) is rendered from that run; any other is executed here.
docs: setup
	$(VPY) -m sphinx -b html -E -W --keep-going -q -d docs/_build/doctrees docs docs/_build/html

bench: setup
	$(VPY) benchmarks/matmul.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis .texpr_cache docs/_build docs/notebooks
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
