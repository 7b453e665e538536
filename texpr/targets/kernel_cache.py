"""Built CPU kernels by build fingerprint (fingerprint.py): what te.build needs to make a
Module without lowering or emitting code again, kept in this process and on disk beside the
compiled libraries (texpr_<fingerprint>.kernel, a pickle written atomically), so a build seen
before, in this process or an earlier one, costs the fingerprint, a look-up and loading.

The compiled library itself stays keyed by its source (toolchain.py): a record names no
library, te.build asks the toolchain for the source's library, which is the file on disk."""
import copy
import os
import pickle
import tempfile

from ..lang.ir import LoweredFunc
from .toolchain import cache_dir

_FORMAT = 2             # bump when KernelRecord changes
_MEMORY = {}            # fingerprint -> KernelRecord
_MEMORY_LIMIT = 512


class KernelRecord:
    """A lowered and emitted CPU kernel without its loop program: the call signature the
    runtime checks (`func`: a LoweredFunc without a body), the source and what the emitter
    found (entry name, parallel loops and their runtime, checked indices, te.call_packed
    names), and which of
    func.args the kernel writes (positions)."""

    def __init__(self, func, source, fname, uses_parallel, checks, uses_packed, packed_names,
                 outputs, in_place, parallel_runtime="openmp"):
        self.format = _FORMAT
        self.func = func
        self.source = source
        self.fname = fname
        self.uses_parallel = uses_parallel
        self.parallel_runtime = parallel_runtime
        self.checks = list(checks)
        self.uses_packed = uses_packed
        self.packed_names = sorted(packed_names)
        self.outputs = sorted(outputs)
        self.in_place = sorted(in_place)

    @classmethod
    def of(cls, func, source, fname, em, output_ids, packed_names=()):
        sig = LoweredFunc(func.name, func.args, None, func.shape_vars, params=func.params,
                          extent_vars=func.extent_vars, preconditions=func.preconditions)
        in_place = getattr(func, "in_place_args", frozenset())
        return cls(sig, source, fname, em.uses_parallel, em.checks, em.uses_packed, packed_names,
                   [k for k, b in enumerate(func.args) if id(b) in output_ids],
                   [k for k, b in enumerate(func.args) if id(b) in in_place],
                   em.parallel_runtime)

    def output_ids(self):
        return {id(self.func.args[k]) for k in self.outputs}

    def signature(self):
        """The bodiless LoweredFunc the runtime checks calls against (in_place_args: the
        ids of the buffers a hybrid op writes in place, which a call cannot allocate)."""
        f = copy.copy(self.func)
        f.in_place_args = frozenset(id(f.args[k]) for k in self.in_place)
        return f


def lookup(fp):
    """The record of fingerprint fp (this process, then the disk cache), or None."""
    rec = _MEMORY.get(fp)
    if rec is not None:
        return rec
    path = _path(fp)
    try:
        with open(path, "rb") as f:
            rec = pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError,
            TypeError, ValueError):
        return None
    if not isinstance(rec, KernelRecord) or getattr(rec, "format", None) != _FORMAT:
        return None
    _remember(fp, rec)
    return rec


def store(fp, rec):
    """Keep rec under fp in this process and on disk (best effort: a record that cannot be
    written only costs a lowering in the next process)."""
    _remember(fp, rec)
    d = cache_dir()
    try:
        data = pickle.dumps(rec, protocol=pickle.HIGHEST_PROTOCOL)
        fd, tmp = tempfile.mkstemp(dir=d, suffix=".kernel.tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, _path(fp))
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass


def _remember(fp, rec):
    if len(_MEMORY) >= _MEMORY_LIMIT:
        _MEMORY.pop(next(iter(_MEMORY)))
    _MEMORY[fp] = rec


def _path(fp):
    return os.path.join(cache_dir(), f"texpr_{fp}.kernel")
