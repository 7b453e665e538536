"""Every notebook in notebooks/ executes from top to bottom without an error.

The kernel runs this interpreter (sys.executable, i.e. the venv's Python with texpr
installed): the test writes its own kernel spec in a temporary Jupyter path instead of relying
on whatever "python3" kernel the user has registered.

Each executed notebook is written to docs/_build/executed_notebooks/ (gitignored): the docs
build (docs/conf.py) renders those outputs instead of running the notebooks a second time.
"""
import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXECUTED = ROOT / "docs" / "_build" / "executed_notebooks"     # read by docs/conf.py
KERNEL = "texpr-test-python"


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory, monkeypatch_module):
    d = tmp_path_factory.mktemp("jupyter") / "kernels" / KERNEL
    d.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "texpr test kernel", "language": "python"}
    (d / "kernel.json").write_text(json.dumps(spec))
    path = str(d.parent.parent)
    old = os.environ.get("JUPYTER_PATH")
    monkeypatch_module.setenv("JUPYTER_PATH", path + (os.pathsep + old if old else ""))
    monkeypatch_module.setenv("MPLBACKEND", "Agg")
    return KERNEL


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_name):
    nb = nbformat.read(str(path), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name=kernel_name,
                                     resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:
        pytest.fail(f"{path.name} failed:\n{e}")
    EXECUTED.mkdir(parents=True, exist_ok=True)
    tmp = EXECUTED / f".{path.name}.{os.getpid()}"       # renamed into place: atomic
    nbformat.write(nb, str(tmp))
    os.replace(tmp, EXECUTED / path.name)
