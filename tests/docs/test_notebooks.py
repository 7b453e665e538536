"""Every notebook in notebooks/ executes from top to bottom without an error.

The kernel runs this interpreter (sys.executable, i.e. the venv's Python with texpr
installed): the test writes its own kernel spec in a temporary Jupyter path instead of relying
on whatever "python3" kernel the user has registered.
"""
import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
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
