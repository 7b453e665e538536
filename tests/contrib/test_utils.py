"""texpr.contrib.utils.tempdir: TVM's temporary directory object."""
import os

import pytest

import texpr as te
from texpr.contrib import utils


def test_tempdir_relpath_and_removal():
    t = utils.tempdir()
    p = t.relpath("kernel.ll")
    assert os.path.dirname(p) == t.temp_dir and os.path.isdir(t.temp_dir)
    with open(p, "w") as f:
        f.write("x")
    assert t.listdir() == ["kernel.ll"]
    root = t.temp_dir
    t.remove()
    assert not os.path.exists(root)


def test_tempdir_as_context_manager_and_custom_path(tmp_path):
    target = tmp_path / "work"
    with utils.tempdir(str(target)) as t:
        assert t.temp_dir == str(target) and target.is_dir()
    assert not target.exists()
    with pytest.raises(te.TexprError, match="already exists"):
        utils.tempdir(str(tmp_path))


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "../up", "a/../../b", 3])
def test_relpath_refuses_names_outside_the_directory(bad):
    with utils.tempdir() as t:
        with pytest.raises(te.TexprError, match="relative file name"):
            t.relpath(bad)
