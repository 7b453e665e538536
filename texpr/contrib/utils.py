"""TVM's tvm.contrib.utils: a temporary directory whose files are named with relpath()."""
import os
import shutil
import tempfile

from ..errors import TexprError


class TempDirectory:
    """A fresh directory, removed (with its files) by remove(), on leaving a `with` block, or
    when the object is garbage collected (unless keep_for_debug)."""

    def __init__(self, custom_path=None, keep_for_debug=False):
        if custom_path is not None:
            if os.path.exists(custom_path):
                raise TexprError(f"tempdir: {custom_path!r} already exists; give a new path")
            os.makedirs(custom_path)
            self.temp_dir = os.path.abspath(custom_path)
        else:
            self.temp_dir = tempfile.mkdtemp(prefix="texpr_")
        self.keep_for_debug = keep_for_debug

    def relpath(self, name):
        """The path of `name` inside the directory (a file name, not a path out of it)."""
        if not isinstance(name, str) or not name or os.path.isabs(name) or \
                ".." in name.replace("\\", "/").split("/"):
            raise TexprError(f"tempdir.relpath: expected a relative file name inside the "
                             f"directory, got {name!r}")
        return os.path.join(self.temp_dir, name)

    def listdir(self):
        return os.listdir(self.temp_dir)

    def remove(self):
        if self.temp_dir is not None and not self.keep_for_debug:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        self.temp_dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()

    def __del__(self):
        try:
            self.remove()
        except Exception:   # interpreter shutdown: the modules may be gone
            pass

    def __repr__(self):
        return f"TempDirectory({self.temp_dir!r})"


def tempdir(custom_path=None, keep_for_debug=False):
    """A new TempDirectory (TVM's tvm.contrib.utils.tempdir)."""
    return TempDirectory(custom_path, keep_for_debug)
