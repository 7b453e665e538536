"""The argument checks of a call in C: a small CPython extension, compiled once per machine
(cached on disk like a kernel), that checks NumPy arrays against a kernel's signature and
returns their data addresses (what makes a checked call of a small kernel cost well under a
microsecond: Python-level checks and cffi's from_buffer cost several).

It only ever says "these arguments are fine" (with the addresses and the shape variables'
values) or "not sure" (None): every refusal, and every argument that is not an exact
np.ndarray, goes through ValidationPlan's Python checks, which give the error message. So it
is never stricter or laxer than them. Where the extension cannot be built (no Python headers),
`checker()` is None and calls take the Python checks.
"""
import importlib.machinery
import importlib.util
import os
import struct
import sys
import sysconfig

import numpy as np

from ...errors import BuildError
from .. import toolchain

SOURCE = r"""
/* texpr's call checker: NumPy arguments against a kernel's signature (runtime/fastcheck.py). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#include <stdint.h>

#define MAX_ARGS 64

/* check(plan, arrays) -> (address of each array..., value of each shape variable...) or None.
   plan (int64 words): nargs, nvars, then per argument: dtype number, item size, is output,
   ndim, then ndim extents (>= 0: that extent; -1 - k: shape variable k). */
static PyObject *check(PyObject *self, PyObject *const *args, Py_ssize_t nargs_given) {
    if (nargs_given != 2 || !PyBytes_Check(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "check(plan: bytes, arrays: tuple)");
        return NULL;
    }
    const int64_t *p = (const int64_t *)PyBytes_AS_STRING(args[0]);
    PyObject *arrays = args[1];
    int64_t nargs = p[0], nvars = p[1];
    if (nargs > MAX_ARGS || nvars > MAX_ARGS || PyTuple_GET_SIZE(arrays) != nargs)
        Py_RETURN_NONE;
    int64_t value[MAX_ARGS];
    char bound[MAX_ARGS] = {0}, is_out[MAX_ARGS];
    char *start[MAX_ARGS], *end[MAX_ARGS];
    p += 2;
    for (int64_t i = 0; i < nargs; i++) {
        PyObject *o = PyTuple_GET_ITEM(arrays, i);
        if (!PyArray_CheckExact(o))
            Py_RETURN_NONE;
        PyArrayObject *a = (PyArrayObject *)o;
        int64_t ndim = p[3];
        if (PyArray_TYPE(a) != p[0] || PyArray_ITEMSIZE(a) != p[1] || !PyArray_ISNOTSWAPPED(a)
                || PyArray_NDIM(a) != ndim)
            Py_RETURN_NONE;
        int flags = PyArray_FLAGS(a);
        if (!(flags & NPY_ARRAY_C_CONTIGUOUS) || !(flags & NPY_ARRAY_ALIGNED)
                || (p[2] && !(flags & NPY_ARRAY_WRITEABLE)))
            Py_RETURN_NONE;
        npy_intp *shape = PyArray_DIMS(a);
        for (int64_t d = 0; d < ndim; d++) {
            int64_t want = p[4 + d];
            if (want >= 0) {
                if (shape[d] != want)
                    Py_RETURN_NONE;
            } else if (bound[-1 - want]) {
                if (value[-1 - want] != shape[d])
                    Py_RETURN_NONE;
            } else {
                bound[-1 - want] = 1;
                value[-1 - want] = shape[d];
            }
        }
        is_out[i] = (char)p[2];
        start[i] = PyArray_BYTES(a);
        end[i] = start[i] + PyArray_NBYTES(a);
        p += 4 + ndim;
    }
    for (int64_t k = 0; k < nvars; k++)
        if (!bound[k] || value[k] >= ((int64_t)1 << 31))
            Py_RETURN_NONE;
    for (int64_t i = 0; i < nargs; i++) {           /* an output overlapping another argument */
        if (!is_out[i] || start[i] == end[i])
            continue;
        for (int64_t j = 0; j < nargs; j++)
            if (j != i && start[j] != end[j] && start[i] < end[j] && start[j] < end[i])
                Py_RETURN_NONE;
    }
    PyObject *r = PyTuple_New(nargs + nvars);
    if (r == NULL)
        return NULL;
    for (int64_t i = 0; i < nargs; i++) {
        PyObject *v = PyLong_FromVoidPtr(start[i]);
        if (v == NULL) { Py_DECREF(r); return NULL; }
        PyTuple_SET_ITEM(r, i, v);
    }
    for (int64_t k = 0; k < nvars; k++) {
        PyObject *v = PyLong_FromLongLong(value[k]);
        if (v == NULL) { Py_DECREF(r); return NULL; }
        PyTuple_SET_ITEM(r, nargs + k, v);
    }
    return r;
}

static PyMethodDef methods[] = {
    {"check", (PyCFunction)(void (*)(void))check, METH_FASTCALL,
     "check(plan, arrays): addresses and shape values, or None"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "texpr_fastcheck", NULL, -1, methods};

PyMODINIT_FUNC PyInit_texpr_fastcheck(void) {
    import_array();
    return PyModule_Create(&module);
}
"""

_LOADED = []        # [the extension's check function, or None when it cannot be built]


def checker():
    """The extension's check(plan, arrays), built and loaded on first use; None where it
    cannot be built here (TEXPR_FAST_CHECK=0 turns it off)."""
    if not _LOADED:
        fn = None
        if os.environ.get("TEXPR_FAST_CHECK", "1") != "0":
            try:
                fn = _load().check
            except (BuildError, ImportError, OSError):
                fn = None
        _LOADED.append(fn)
    return _LOADED[0]


def _load():
    include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(include, "Python.h")):
        raise BuildError(f"no Python.h in {include}")
    flags = ["-O2", "-shared", "-fPIC", f"-I{include}", f"-I{np.get_include()}"]
    ident = f"{sys.implementation.cache_tag} {sys.version} numpy {np.__version__}"

    def failed(r, cmd):
        return None if r.returncode == 0 else f"{' '.join(cmd)}\n{r.stderr[-2000:]}"
    path, _ = toolchain._cached_build(
        SOURCE, [toolchain.compiler_id("gcc"), " ".join(flags), ident], ".ext.so", ".ext.c",
        lambda src, obj: ["gcc"] + flags + ["-o", obj, src], failed)
    loader = importlib.machinery.ExtensionFileLoader("texpr_fastcheck", path)
    spec = importlib.util.spec_from_file_location("texpr_fastcheck", path, loader=loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def plan_words(args, nvars):
    """The plan check() reads: args = [(NumPy dtype, is output, extents)], an extent being an
    int or ("var", k) for shape variable k < nvars."""
    words = [len(args), nvars]
    for dt, is_out, dims in args:
        words += [dt.num, dt.itemsize, int(bool(is_out)), len(dims)]
        words += [d if isinstance(d, int) else -1 - d[1] for d in dims]
    return struct.pack(f"={len(words)}q", *words)
