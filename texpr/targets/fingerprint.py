"""The fingerprint of a build: a hash of everything that decides the generated code, taken
before lowering, so that te.build of a schedule seen before (in this process or, through the
disk cache, in an earlier one) skips lowering and code emission.

What it hashes: every object reachable from the schedule and the build's arguments (the op
graph with its expressions, the stages with the recorded primitives, the tensors' shapes and
dtypes), the Target record, the kernel's name, the extern linkage, and texpr's own code (the
size and modification time of each of its source files). Objects are written structurally:
their class and fields, each distinct object once and then by reference, so two schedules
differing in one split factor, one constant, one dtype or in which variable an index uses
hash differently, and an identical schedule rebuilt in a new process hashes the same. Ids
(dict keys such as id(IterVar)) are written as references to their objects.

Python functions reachable from it (a tensor intrinsic's implementation, a rule of
te.register_intrin_lowering) are written as their code (bytecode, constants, names), the values
they close over, their defaults and the global values they name; a module they name as its
name, and for a user's module the size and modification time of its file; a user's class with
its methods' code. What is left out: state a function reaches through a module attribute or
another object at call time and that changes between two builds of one schedule (a helper
reading a global counter). An object that cannot be read as data (no fields: a C extension's
object, an iterator) makes the build have no fingerprint (None): it is lowered every time.
"""
import functools
import hashlib
import os
import sys
import types

import numpy as np

_SKIP_FIELDS = frozenset(("_hash",))        # caches of a value derived from the fields
_ATOMS = (type(None), bool, int, float, complex, str, bytes)


# written by name: classes, modules, built-in functions (their code is texpr's, Python's or a
# library's, not the schedule's), code objects by a digest of their bytecode and constants
_NAMED = (type, types.ModuleType, types.BuiltinFunctionType, types.CodeType, np.ufunc,
          np.ndarray, np.generic, np.dtype)


_CLASS_TEXT = {}
_SYSTEM_PREFIXES = tuple({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix,
                                                         sys.exec_prefix)})
_TEXPR_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def _user_file_version(module):
    """For a user's module (a function of the schedule calls helpers through it): its file's
    size and modification time, so an edited helper changes the key. Python's, the installed
    libraries' and texpr's own modules (code_version) add nothing."""
    path = getattr(module, "__file__", None)
    if not path:
        return ""
    real = os.path.realpath(path)
    if real.startswith(_SYSTEM_PREFIXES) or real.startswith(_TEXPR_ROOT):
        return ""
    try:
        st = os.stat(real)
    except OSError:
        return ""
    return f" {st.st_size}:{st.st_mtime_ns}"


def _class_text(t):
    """A class by name, and for a class not of texpr (whose code code_version covers), nor of
    Python or NumPy, the code of its methods too (a user's intrinsic object's __call__)."""
    got = _CLASS_TEXT.get(t)
    if got is None:
        got = f"{t.__module__}.{t.__qualname__}"
        if t.__module__.split(".")[0] not in ("texpr", "builtins", "numpy", "functools",
                                              "types", "collections"):
            codes = [f"{k}:{_code_digest(v.__code__)}" for c in t.__mro__ if c is not object
                     for k, v in vars(c).items() if isinstance(v, types.FunctionType)]
            got += "[" + ",".join(codes) + "]"
        _CLASS_TEXT[t] = got
    return got


def _name_of(x):
    if isinstance(x, type):
        return _class_text(x)
    if isinstance(x, types.CodeType):
        return "code " + _code_digest(x)
    if isinstance(x, types.ModuleType):
        return "module " + x.__name__ + _user_file_version(x)
    if isinstance(x, np.ndarray):
        return (f"array {x.dtype.str} {x.shape} "
                f"{hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()}")
    if isinstance(x, (np.generic, np.dtype)):
        return f"np {type(x).__name__} {x!r}"
    return f"{getattr(x, '__module__', None)}.{getattr(x, '__qualname__', getattr(x, '__name__', x))}"


def _code_digest(code):
    got = _CODE_DIGESTS.get(code)
    if got is None:
        h = hashlib.sha256(code.co_code)
        for c in code.co_consts:
            h.update((_code_digest(c) if isinstance(c, types.CodeType) else repr(c)).encode())
        h.update(" ".join(code.co_names).encode())
        got = _CODE_DIGESTS[code] = h.hexdigest()[:24]
    return got


def _code_names(code):
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names.update(_code_names(c))
    return sorted(names)


def _cell_filled(cell):
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


class Unhashable(Exception):
    """An object whose meaning for the generated code is not in its data."""


def build_fingerprint(*parts):
    """Hex digest of the parts (schedule, args, target, ...), or None when one holds
    something that cannot be fingerprinted."""
    try:
        text = _Writer(parts).text()
    except (Unhashable, RecursionError):
        return None
    h = hashlib.sha256(text.encode())
    h.update(code_version().encode())
    return h.hexdigest()[:32]


_CODE_VERSION = []


def code_version():
    """texpr's source files as (path, size, mtime): a changed texpr changes every key."""
    if not _CODE_VERSION:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        items = []
        for d, dirs, files in os.walk(root):
            dirs.sort()
            for f in sorted(files):
                if f.endswith(".py"):
                    st = os.stat(os.path.join(d, f))
                    items.append(f"{os.path.relpath(os.path.join(d, f), root)}:{st.st_size}:"
                                 f"{st.st_mtime_ns}")
        _CODE_VERSION.append(hashlib.sha256("\n".join(items).encode()).hexdigest())
    return _CODE_VERSION[0]


class _Id(int):
    """An int that may be an object's id (a dict key such as id(IterVar)): resolved when the
    whole text is written, to a reference where that object was written."""


_ATOM, _SEQ, _SET, _DICT, _NAME, _OBJ = range(6)
_KINDS = {type(None): _ATOM, bool: _ATOM, int: _ATOM, float: _ATOM, complex: _ATOM, str: _ATOM,
          bytes: _ATOM, list: _SEQ, tuple: _SEQ, set: _SET, frozenset: _SET, dict: _DICT}


def _kind(t):
    k = _KINDS.get(t)
    if k is None:
        if issubclass(t, _NAMED):
            k = _NAME
        elif issubclass(t, (list, tuple)):
            k = _SEQ
        elif issubclass(t, (set, frozenset)):
            k = _SET
        elif issubclass(t, dict):
            k = _DICT
        elif issubclass(t, _ATOMS):
            k = _ATOM
        else:
            k = _OBJ
        _KINDS[t] = k
    return k


_CODE_DIGESTS = {}


class _Writer:
    """Writes objects as text: each object once (then #n), its class and fields."""

    def __init__(self, roots):
        self.roots = roots
        self.number = {}            # id(object) -> its number in the text
        self.out = []
        self.keep = []              # (the objects numbered stay alive: ids stay unique)

    @staticmethod
    def _fields(x):
        """The data that makes x what it is: its fields; for a Python function its code, the
        values it closes over, its defaults and the globals it names."""
        if isinstance(x, types.FunctionType):
            code = x.__code__
            glob = x.__globals__
            named = {n: glob[n] for n in _code_names(code) if n in glob}
            return {"name": f"{x.__module__}.{x.__qualname__}", "code": _code_digest(code),
                    "defaults": x.__defaults__, "kwdefaults": x.__kwdefaults__,
                    "closure": tuple(c.cell_contents for c in x.__closure__ or ()
                                     if _cell_filled(c)),
                    "globals": named}
        if isinstance(x, types.MethodType):
            return {"self": x.__self__, "func": x.__func__}
        if isinstance(x, functools.partial):
            return {"func": x.func, "args": x.args, "keywords": x.keywords}
        d = getattr(x, "__dict__", None)
        if d is None:
            slots = getattr(type(x), "__slots__", None)
            if slots is None or callable(x):
                raise Unhashable(f"{type(x).__qualname__} object")
            return {s: getattr(x, s) for s in slots if hasattr(x, s)}
        if "_hash" in d:
            return {k: v for k, v in d.items() if k not in _SKIP_FIELDS}
        return d

    def text(self):
        self._write(self.roots)
        number = self.number
        return "".join(p if type(p) is str else
                       (f"@{number[p]}" if p in number and p > 4096 else f"i{int(p)}")
                       for p in self.out)

    def _write(self, x):
        out = self.out
        t = type(x)
        kind = _KINDS.get(t)
        if kind is None:
            kind = _kind(t)
        if kind == _ATOM:
            if t is int:
                out.append(_Id(x))
            elif t is str:
                out.append("s" + repr(x))
            else:
                out.append(f"{t.__name__[0]}{x!r}")
            return
        if kind == _NAME:
            out.append(f"<{_name_of(x)}>")
            return
        if t is tuple:          # (a value: written whole wherever it is, shared or not)
            out.append("(")
            for v in x:
                self._write(v)
                out.append(",")
            out.append(")")
            return
        n = self.number.get(id(x))
        if n is not None:
            out.append(f"#{n}")
            return
        self.number[id(x)] = len(self.number)
        self.keep.append(x)
        if kind == _SEQ:
            out.append("(" if isinstance(x, tuple) else "[")
            for v in x:
                self._write(v)
                out.append(",")
            out.append(")")
        elif kind == _SET:
            parts = []
            for v in x:                  # an order independent of hashes and ids
                sub = _Writer(None)
                sub.number = dict(self.number)
                sub._write(v)
                parts.append(sub.text())
            out.append("{" + ",".join(sorted(parts)) + "}")
        elif kind == _DICT:
            out.append("{")
            for k, v in x.items():       # insertion order: the order the program made
                self._write(k)
                out.append(":")
                self._write(v)
                out.append(",")
            out.append("}")
        else:
            out.append(_class_text(t) + "(")
            for k, v in self._fields(x).items():
                out.append(k)
                out.append("=")
                self._write(v)
                out.append(",")
            out.append(")")
