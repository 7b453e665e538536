"""Sphinx configuration of texpr's docs: the API reference (autodoc + napoleon) and the
notebooks rendered with their outputs (myst-nb). `make docs` builds it into docs/_build/html,
offline, warnings as errors.

Notebooks: tests/docs/test_notebooks.py executes every notebook in notebooks/ and writes the
executed copy to docs/_build/executed_notebooks/ (EXECUTED below). This build stages each
notebook into docs/notebooks/ (generated, gitignored): the executed copy when its code is the
notebook's code, so `make test` (tests first, then docs) renders outputs without running
anything twice; otherwise the source notebook, which myst-nb then executes here.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = DOCS / "_build" / "executed_notebooks"    # written by tests/docs/test_notebooks.py
STAGED = DOCS / "notebooks"

# this checkout's texpr, for autodoc and for the kernels that execute notebooks
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
os.environ.setdefault("MPLBACKEND", "Agg")


def _code(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _stage_notebooks() -> list[str]:
    """Copy the notebooks into the source tree; returns those that still need executing."""
    STAGED.mkdir(exist_ok=True)
    for old in STAGED.glob("*.ipynb"):
        if not (NOTEBOOKS / old.name).exists():
            old.unlink()
    to_run = []
    for src in sorted(NOTEBOOKS.glob("*.ipynb")):
        done = EXECUTED / src.name
        fresh = done.exists() and _code(done) == _code(src)
        chosen = done if fresh else src
        dest = STAGED / src.name
        if not dest.exists() or dest.read_bytes() != chosen.read_bytes():
            shutil.copyfile(chosen, dest)
        if not fresh:
            to_run.append(src.name)
    return to_run


_TO_RUN = _stage_notebooks()

project = "texpr"
author = "texpr developers"
copyright = "texpr developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_nb",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "alabaster"
html_static_path: list[str] = []

autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = False
napoleon_google_docstring = True
napoleon_numpy_docstring = True
default_role = "code"              # `x` in docstrings is code, as in Markdown

# notebooks: executed here only when no fresh executed copy exists (see the module docstring)
nb_execution_mode = "force" if _TO_RUN else "off"
nb_execution_excludepatterns = [f"notebooks/{p.name}" for p in sorted(NOTEBOOKS.glob("*.ipynb"))
                                if p.name not in _TO_RUN]
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]
