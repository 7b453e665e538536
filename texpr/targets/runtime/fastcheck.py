"""The argument checks of a call in C: a small CPython extension, compiled once per machine
(cached on disk like a kernel), that checks NumPy arrays against a kernel's signature and
returns their data addresses (check), or calls the kernel with them (run: a kernel whose
arguments are pointers and int64 shape values). That is what makes a checked call of a small
kernel cost well under a microsecond: Python-level checks and cffi's from_buffer cost several.

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

/* The checks: plan (int64 words): nargs, nvars, then per argument: dtype number, item size,
   is output, ndim, then ndim extents (>= 0: that extent; -1 - k: shape variable k).
   Fills words[] with each array's address then each shape variable's value; returns their
   number, or -1 when the arguments do not pass (the Python checks then tell why). */
static int64_t check_args(PyObject *plan, PyObject *arrays, int64_t *words) {
    const int64_t *p = (const int64_t *)PyBytes_AS_STRING(plan);
    int64_t nargs = p[0], nvars = p[1];
    if (nargs > MAX_ARGS || nvars > MAX_ARGS || PyTuple_GET_SIZE(arrays) != nargs)
        return -1;
    int64_t value[MAX_ARGS];
    char bound[MAX_ARGS] = {0}, is_out[MAX_ARGS];
    char *start[MAX_ARGS], *end[MAX_ARGS];
    p += 2;
    for (int64_t i = 0; i < nargs; i++) {
        PyObject *o = PyTuple_GET_ITEM(arrays, i);
        if (!PyArray_CheckExact(o))
            return -1;
        PyArrayObject *a = (PyArrayObject *)o;
        int64_t ndim = p[3];
        if (PyArray_TYPE(a) != p[0] || PyArray_ITEMSIZE(a) != p[1] || !PyArray_ISNOTSWAPPED(a)
                || PyArray_NDIM(a) != ndim)
            return -1;
        int flags = PyArray_FLAGS(a);
        if (!(flags & NPY_ARRAY_C_CONTIGUOUS) || !(flags & NPY_ARRAY_ALIGNED)
                || (p[2] && !(flags & NPY_ARRAY_WRITEABLE)))
            return -1;
        npy_intp *shape = PyArray_DIMS(a);
        for (int64_t d = 0; d < ndim; d++) {
            int64_t want = p[4 + d];
            if (want >= 0) {
                if (shape[d] != want)
                    return -1;
            } else if (bound[-1 - want]) {
                if (value[-1 - want] != shape[d])
                    return -1;
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
            return -1;
    for (int64_t i = 0; i < nargs; i++) {           /* an output overlapping another argument */
        if (!is_out[i] || start[i] == end[i])
            continue;
        for (int64_t j = 0; j < nargs; j++)
            if (j != i && start[j] != end[j] && start[i] < end[j] && start[j] < end[i])
                return -1;
    }
    for (int64_t i = 0; i < nargs; i++)
        words[i] = (int64_t)(intptr_t)start[i];
    for (int64_t k = 0; k < nvars; k++)
        words[nargs + k] = value[k];
    return nargs + nvars;
}

static int bad_call(PyObject *const *args, Py_ssize_t n, Py_ssize_t want) {
    if (n != want || !PyBytes_Check(args[0]) || !PyTuple_Check(args[n - 1])) {
        PyErr_SetString(PyExc_TypeError, want == 2 ? "check(plan: bytes, arrays: tuple)"
                        : "run(plan: bytes, function address: int, arrays: tuple)");
        return 1;
    }
    return 0;
}

/* check(plan, arrays) -> (address of each array..., value of each shape variable...) or None */
static PyObject *check(PyObject *self, PyObject *const *args, Py_ssize_t n) {
    if (bad_call(args, n, 2))
        return NULL;
    int64_t words[2 * MAX_ARGS];
    int64_t count = check_args(args[0], args[1], words);
    if (count < 0)
        Py_RETURN_NONE;
    PyObject *r = PyTuple_New(count);
    if (r == NULL)
        return NULL;
    for (int64_t i = 0; i < count; i++) {
        PyObject *v = PyLong_FromLongLong(words[i]);
        if (v == NULL) { Py_DECREF(r); return NULL; }
        PyTuple_SET_ITEM(r, i, v);
    }
    return r;
}

/* run(plan, function address, arrays) -> True when the arguments passed and the kernel ran,
   None when they did not (nothing ran). The kernel takes only pointers and int64 shape
   values: all in integer registers / 8-byte stack slots on the 64-bit ABIs texpr builds
   for, so it is called as a function of that many intptr_t. */
typedef intptr_t W;
static PyObject *run(PyObject *self, PyObject *const *args, Py_ssize_t n) {
    if (bad_call(args, n, 3))
        return NULL;
    void *fn = PyLong_AsVoidPtr(args[1]);
    if (fn == NULL && PyErr_Occurred())
        return NULL;
    int64_t w[2 * MAX_ARGS];
    int64_t count = check_args(args[0], args[2], w);
    if (count < 0 || count > 12)
        Py_RETURN_NONE;
    Py_BEGIN_ALLOW_THREADS
    switch (count) {
    case 0: ((void (*)(void))fn)(); break;
    case 1: ((void (*)(W))fn)(w[0]); break;
    case 2: ((void (*)(W, W))fn)(w[0], w[1]); break;
    case 3: ((void (*)(W, W, W))fn)(w[0], w[1], w[2]); break;
    case 4: ((void (*)(W, W, W, W))fn)(w[0], w[1], w[2], w[3]); break;
    case 5: ((void (*)(W, W, W, W, W))fn)(w[0], w[1], w[2], w[3], w[4]); break;
    case 6: ((void (*)(W, W, W, W, W, W))fn)(w[0], w[1], w[2], w[3], w[4], w[5]); break;
    case 7: ((void (*)(W, W, W, W, W, W, W))fn)(w[0], w[1], w[2], w[3], w[4], w[5], w[6]);
        break;
    case 8: ((void (*)(W, W, W, W, W, W, W, W))fn)(w[0], w[1], w[2], w[3], w[4], w[5], w[6],
                                                   w[7]); break;
    case 9: ((void (*)(W, W, W, W, W, W, W, W, W))fn)(w[0], w[1], w[2], w[3], w[4], w[5], w[6],
                                                      w[7], w[8]); break;
    case 10: ((void (*)(W, W, W, W, W, W, W, W, W, W))fn)(w[0], w[1], w[2], w[3], w[4], w[5],
                                                          w[6], w[7], w[8], w[9]); break;
    case 11: ((void (*)(W, W, W, W, W, W, W, W, W, W, W))fn)(w[0], w[1], w[2], w[3], w[4],
                                                             w[5], w[6], w[7], w[8], w[9],
                                                             w[10]); break;
    default: ((void (*)(W, W, W, W, W, W, W, W, W, W, W, W))fn)(w[0], w[1], w[2], w[3], w[4],
                                                                w[5], w[6], w[7], w[8], w[9],
                                                                w[10], w[11]); break;
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"check", (PyCFunction)(void (*)(void))check, METH_FASTCALL,
     "check(plan, arrays): addresses and shape values, or None"},
    {"run", (PyCFunction)(void (*)(void))run, METH_FASTCALL,
     "run(plan, function address, arrays): True when it called the kernel, else None"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "texpr_fastcheck", NULL, -1, methods};

PyMODINIT_FUNC PyInit_texpr_fastcheck(void) {
    import_array();
    return PyModule_Create(&module);
}
"""

_LOADED = []        # [the extension module, or None when it cannot be built]


def checker():
    """The extension (check(plan, arrays), run(plan, function address, arrays)), built and
    loaded on first use; None where it cannot be built here (TEXPR_FAST_CHECK=0 turns it
    off)."""
    if not _LOADED:
        mod = None
        if os.environ.get("TEXPR_FAST_CHECK", "1") != "0":
            try:
                mod = _load()
            except (BuildError, ImportError, OSError):
                mod = None
        _LOADED.append(mod)
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
