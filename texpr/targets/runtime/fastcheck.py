"""The argument checks of a call in C: a small CPython extension, compiled once per machine
(cached on disk like a kernel), that checks NumPy arrays against a kernel's signature and
returns their data addresses (check), or calls the kernel with them (run: a kernel whose
arguments are pointers and int64 shape values). That is what makes a checked call of a small
kernel cost well under a microsecond: Python-level checks and cffi's from_buffer cost several.
Once torch is imported (`take_torch`), CPU torch.Tensors pass the same way: their dtype,
device, shape, strides and data pointer read through DLPack's C exchange API (no capsule
exported and no NumPy view made: several microseconds less per tensor).

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
from ...lang import dtypes
from .. import toolchain

SOURCE = r"""
/* texpr's call checker: NumPy arguments against a kernel's signature (runtime/fastcheck.py). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#include <stdint.h>
#include <string.h>

#define MAX_ARGS 64
#define TYPE_NUMBERS 32     /* NumPy's builtin type numbers (bool .. float16) are below it */

/* DLPack's C exchange API (dlpack.h 1.x, `__dlpack_c_exchange_api__` on a tensor type): the
   producer fills a DLTensor describing a tensor object in place, without exporting it. Only
   the parts texpr reads are spelled out. */
typedef struct { int32_t device_type, device_id; } DLDevice;
typedef struct { uint8_t code, bits; uint16_t lanes; } DLDataType;
typedef struct {
    void *data; DLDevice device; int32_t ndim; DLDataType dtype;
    int64_t *shape, *strides; uint64_t byte_offset;
} DLTensor;
typedef struct DLHeader { uint32_t major, minor; struct DLHeader *prev_api; } DLHeader;
typedef struct {
    DLHeader header;
    void *managed_tensor_allocator, *managed_tensor_from_py_object_no_sync,
        *managed_tensor_to_py_object_no_sync;
    int (*dltensor_from_py_object_no_sync)(void *py_object, DLTensor *out);
    void *current_work_stream;
} DLExchangeAPI;

/* torch.Tensor, its exchange API and the DLPack (code << 8 | bits) of each NumPy type number,
   once torch is imported (set_torch); NULL before: then only NumPy arrays pass. */
static PyObject *torch_tensor_type = NULL;
static const DLExchangeAPI *torch_api = NULL;
static int32_t dl_types[TYPE_NUMBERS];
static PyObject *s_requires_grad, *s_is_neg;

/* 1 when attribute `name` of o (called, for a method) is `want`. */
static int attr_is(PyObject *o, PyObject *name, int call, PyObject *want) {
    PyObject *v = call ? PyObject_CallMethodNoArgs(o, name) : PyObject_GetAttr(o, name);
    if (v == NULL) {
        PyErr_Clear();
        return 0;
    }
    int same = v == want;
    Py_DECREF(v);
    return same;
}

/* A torch.Tensor (exactly) on the CPU, of the plan's dtype and rank, C-contiguous, aligned,
   without a negative bit, and as an output without requires_grad (as
   arrays.as_array takes a tensor): its extents (shape[]) and data address; else -1. */
static int read_tensor(PyObject *o, const int64_t *p, int64_t *shape, char **data) {
    int64_t ndim = p[3];
    DLTensor t;
    if (torch_api->dltensor_from_py_object_no_sync(o, &t) != 0) {
        PyErr_Clear();
        return -1;
    }
    if (t.device.device_type != 1 || t.ndim != ndim || p[0] < 0 || p[0] >= TYPE_NUMBERS
            || t.dtype.lanes != 1 || ((int32_t)t.dtype.code << 8 | t.dtype.bits) != dl_types[p[0]])
        return -1;
    int64_t step = 1, count = 1;
    for (int64_t d = ndim - 1; d >= 0; d--) {
        shape[d] = t.shape[d];
        if (t.strides != NULL && t.shape[d] != 1 && t.strides[d] != step)
            count = -1;
        step *= t.shape[d];
    }
    if (count < 0 && step != 0)     /* (an empty tensor is contiguous, as NumPy's) */
        return -1;
    *data = (char *)t.data + t.byte_offset;
    if ((intptr_t)*data % p[1] != 0)
        return -1;
    if (p[2] && !attr_is(o, s_requires_grad, 0, Py_False))   /* an output autograd tracks */
        return -1;
    return attr_is(o, s_is_neg, 1, Py_False) ? 0 : -1;     /* (a conjugate bit: complex only) */
}

/* A NumPy array (exactly) of the plan's dtype, byte order and rank, C-contiguous, aligned,
   writeable when it is an output: its extents and data address; else -1. */
static int read_array(PyObject *o, const int64_t *p, int64_t *shape, char **data) {
    PyArrayObject *a = (PyArrayObject *)o;
    int64_t ndim = p[3];
    if (PyArray_TYPE(a) != p[0] || PyArray_ITEMSIZE(a) != p[1] || !PyArray_ISNOTSWAPPED(a)
            || PyArray_NDIM(a) != ndim)
        return -1;
    int flags = PyArray_FLAGS(a);
    if (!(flags & NPY_ARRAY_C_CONTIGUOUS) || !(flags & NPY_ARRAY_ALIGNED)
            || (p[2] && !(flags & NPY_ARRAY_WRITEABLE)))
        return -1;
    npy_intp *dims = PyArray_DIMS(a);
    for (int64_t d = 0; d < ndim; d++)
        shape[d] = dims[d];
    *data = PyArray_BYTES(a);
    return 0;
}

/* floor division and modulo as the IR's // and % (b = 0: no value, the caller refuses) */
static int64_t floordiv64(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* The value of an extent given by an expression of shape variables (a pooled size,
   (h - 1) / 2 + 1): code is n (op, operand) pairs run on a stack -- 0: push operand, 1: push
   variable operand, 2..8: + - * // % min max of the top two. 0 when it has no value (a
   division by zero, a malformed code): *ok cleared. */
static int64_t eval_extent(const int64_t *code, int64_t n, const int64_t *value,
                           int64_t nvars, int *ok) {
    int64_t st[32];
    int64_t top = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t op = code[2 * i], arg = code[2 * i + 1];
        if (op <= 1) {
            if (top == 32 || (op == 1 && (arg < 0 || arg >= nvars))) { *ok = 0; return 0; }
            st[top++] = op == 0 ? arg : value[arg];
            continue;
        }
        if (top < 2) { *ok = 0; return 0; }
        int64_t b = st[--top], a = st[top - 1], r;
        switch (op) {
        case 2: if (__builtin_add_overflow(a, b, &r)) { *ok = 0; return 0; } break;
        case 3: if (__builtin_sub_overflow(a, b, &r)) { *ok = 0; return 0; } break;
        case 4: if (__builtin_mul_overflow(a, b, &r)) { *ok = 0; return 0; } break;
        case 5: if (b == 0 || b == -1) { *ok = 0; return 0; } r = floordiv64(a, b); break;
        case 6: if (b == 0 || b == -1) { *ok = 0; return 0; } r = a - floordiv64(a, b) * b; break;
        case 7: r = a < b ? a : b; break;
        case 8: r = a > b ? a : b; break;
        default: *ok = 0; return 0;
        }
        st[top - 1] = r;
    }
    if (top != 1) { *ok = 0; return 0; }
    return st[0];
}

/* The checks: plan (int64 words): nargs, nvars, then per argument: dtype number, item size,
   is output, ndim, then ndim extents (>= 0: that extent; -1 - k: shape variable k). An
   argument is a NumPy array or (after set_torch) a CPU torch.Tensor. Then, optionally: ncall
   (the shape variables the kernel takes: the first ncall), nderived, and per extent given by
   an expression: its variable k, the code's length n, n (op, operand) pairs (eval_extent):
   variable k must equal that value.
   Fills words[] with each array's address then each shape variable's value; returns their
   number, or -1 when the arguments do not pass (the Python checks then tell why). */
static int64_t check_args(PyObject *plan, PyObject *arrays, int64_t *words) {
    const int64_t *p = (const int64_t *)PyBytes_AS_STRING(plan);
    const int64_t *plan_end = p + PyBytes_GET_SIZE(plan) / (Py_ssize_t)sizeof(int64_t);
    int64_t nargs = p[0], nvars = p[1];
    if (nargs > MAX_ARGS || nvars > MAX_ARGS || PyTuple_GET_SIZE(arrays) != nargs)
        return -1;
    int64_t value[MAX_ARGS];
    char bound[MAX_ARGS] = {0}, is_out[MAX_ARGS];
    char *start[MAX_ARGS], *end[MAX_ARGS];
    p += 2;
    for (int64_t i = 0; i < nargs; i++) {
        PyObject *o = PyTuple_GET_ITEM(arrays, i);
        int64_t ndim = p[3], shape[NPY_MAXDIMS];
        char *data;
        if (ndim > NPY_MAXDIMS)
            return -1;
        if (PyArray_CheckExact(o)) {
            if (read_array(o, p, shape, &data) < 0)
                return -1;
        } else if (torch_tensor_type != NULL && (PyObject *)Py_TYPE(o) == torch_tensor_type) {
            if (read_tensor(o, p, shape, &data) < 0)
                return -1;
        } else {
            return -1;
        }
        int64_t count = 1;
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
        for (int64_t d = 0; d < ndim; d++)
            count *= shape[d];
        is_out[i] = (char)p[2];
        start[i] = data;
        end[i] = data + count * p[1];
        p += 4 + ndim;
    }
    for (int64_t k = 0; k < nvars; k++)
        if (!bound[k] || value[k] >= ((int64_t)1 << 31))
            return -1;
    int64_t ncall = nvars;
    if (p + 2 <= plan_end) {                        /* extents given by expressions */
        ncall = p[0];
        int64_t nderived = p[1];
        p += 2;
        if (ncall > nvars)
            return -1;
        for (int64_t d = 0; d < nderived; d++) {
            int ok = 1;
            if (p + 2 > plan_end || p[0] < 0 || p[0] >= nvars || p + 2 + 2 * p[1] > plan_end)
                return -1;
            if (eval_extent(p + 2, p[1], value, nvars, &ok) != value[p[0]] || !ok)
                return -1;
            p += 2 + 2 * p[1];
        }
    }
    for (int64_t i = 0; i < nargs; i++) {           /* an output overlapping another argument */
        if (!is_out[i] || start[i] == end[i])
            continue;
        for (int64_t j = 0; j < nargs; j++)
            if (j != i && start[j] != end[j] && start[i] < end[j] && start[j] < end[i])
                return -1;
    }
    for (int64_t i = 0; i < nargs; i++)
        words[i] = (int64_t)(intptr_t)start[i];
    for (int64_t k = 0; k < ncall; k++)
        words[nargs + k] = value[k];
    return nargs + ncall;
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

/* run(plan, function address, arrays[, threads]) -> True when the arguments passed and the
   kernel ran, None when they did not (nothing ran). The kernel takes only pointers and int64
   shape values: all in integer registers / 8-byte stack slots on the 64-bit ABIs texpr builds
   for, so it is called as a function of that many intptr_t. threads (a parallel kernel):
   [environment dict, key, value, ...] -- None too when the dict's value for key is not that
   very object (TEXPR_NUM_THREADS changed: the caller syncs the kernel's thread count first).
   Items after the third are the caller's (module.py: the count synced). */
typedef intptr_t W;
static PyObject *run(PyObject *self, PyObject *const *args, Py_ssize_t n) {
    if (bad_call(args, n == 4 ? 3 : n, 3))
        return NULL;
    if (n == 4 && args[3] != Py_None) {
        PyObject *t = args[3];
        if (!PyList_CheckExact(t) || PyList_GET_SIZE(t) < 3
                || !PyDict_CheckExact(PyList_GET_ITEM(t, 0))) {
            PyErr_SetString(PyExc_TypeError, "run(..., threads: [dict, key, value] or None)");
            return NULL;
        }
        PyObject *raw = PyDict_GetItemWithError(PyList_GET_ITEM(t, 0), PyList_GET_ITEM(t, 1));
        if (raw == NULL && PyErr_Occurred())
            return NULL;
        if ((raw == NULL ? Py_None : raw) != PyList_GET_ITEM(t, 2))
            Py_RETURN_NONE;
    }
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

/* set_torch(torch.Tensor, its exchange API capsule, {NumPy type number: DLPack code << 8 |
   bits}): CPU torch tensors pass from now on */
static PyObject *set_torch(PyObject *self, PyObject *const *args, Py_ssize_t n) {
    if (n != 3 || !PyType_Check(args[0]) || !PyCapsule_CheckExact(args[1])
            || !PyDict_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "set_torch(Tensor type, exchange API, {number: type})");
        return NULL;
    }
    const DLExchangeAPI *api = PyCapsule_GetPointer(args[1], "dlpack_exchange_api");
    if (api == NULL)
        return NULL;
    if (api->header.major != 1 || api->dltensor_from_py_object_no_sync == NULL) {
        PyErr_SetString(PyExc_ValueError, "a DLPack exchange API of another major version, or "
                        "without dltensor_from_py_object_no_sync");
        return NULL;
    }
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    int32_t types[TYPE_NUMBERS];
    for (int k = 0; k < TYPE_NUMBERS; k++)
        types[k] = -1;
    while (PyDict_Next(args[2], &pos, &key, &value)) {
        long num = PyLong_AsLong(key), code = PyLong_AsLong(value);
        if (PyErr_Occurred())
            return NULL;
        if (num < 0 || num >= TYPE_NUMBERS) {
            PyErr_SetString(PyExc_ValueError, "a NumPy type number out of range");
            return NULL;
        }
        types[num] = (int32_t)code;
    }
    if (s_requires_grad == NULL) {
        s_requires_grad = PyUnicode_InternFromString("requires_grad");
        s_is_neg = PyUnicode_InternFromString("is_neg");
        if (s_requires_grad == NULL || s_is_neg == NULL)
            return NULL;
    }
    memcpy(dl_types, types, sizeof types);
    torch_api = api;
    Py_INCREF(args[0]);
    Py_XSETREF(torch_tensor_type, args[0]);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"set_torch", (PyCFunction)(void (*)(void))set_torch, METH_FASTCALL,
     "set_torch(Tensor type, exchange API capsule, {NumPy type number: DLPack type}): take "
     "CPU torch tensors too"},
    {"check", (PyCFunction)(void (*)(void))check, METH_FASTCALL,
     "check(plan, arrays): addresses and shape values, or None"},
    {"run", (PyCFunction)(void (*)(void))run, METH_FASTCALL,
     "run(plan, function address, arrays[, threads]): True when it called the kernel, else "
     "None"},
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
    """The extension (check(plan, arrays), run(plan, function address, arrays[, threads])), built and
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


def take_torch():
    """Let the checker take CPU torch.Tensors too, once torch is imported (read through DLPack's
    C exchange API, `torch.Tensor.__dlpack_c_exchange_api__`; a torch without it keeps the
    NumPy-view path); True when this call turned it on (a call that fell back for want of it
    may then try the checker again)."""
    torch = sys.modules.get("torch")
    if torch is None or _TORCH or checker() is None:
        return False
    _TORCH.append(True)
    api = getattr(torch.Tensor, "__dlpack_c_exchange_api__", None)
    if api is None:
        return False
    types = {}
    for name in dtypes.SCALAR_DTYPES:
        if name == "bfloat16":
            continue        # ml_dtypes' type (a user type number): the Python path reads it
        dt = np.dtype(name)
        code = {"b": 6, "i": 0, "u": 1, "f": 2}[dt.kind]      # DLDataTypeCode
        types[dt.num] = code << 8 | dt.itemsize * 8
    try:
        checker().set_torch(torch.Tensor, api, types)
    except (TypeError, ValueError):
        return False
    return True


_TORCH = []         # [True] once take_torch has run


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


def plan_words(args, nvars, ncall=None, derived=()):
    """The plan check() reads: args = [(NumPy dtype, is output, extents)], an extent being an
    int or ("var", k) for shape variable k < nvars. ncall: the shape variables the kernel
    takes (the first ncall; default all); derived: [(k, code)], shape variable k the value
    of code (extent_code's (op, operand) pairs)."""
    words = [len(args), nvars]
    for dt, is_out, dims in args:
        words += [dt.num, dt.itemsize, int(bool(is_out)), len(dims)]
        words += [d if isinstance(d, int) else -1 - d[1] for d in dims]
    if ncall is not None or derived:
        words += [nvars if ncall is None else ncall, len(derived)]
        for k, code in derived:
            words += [k, len(code)] + [w for pair in code for w in pair]
    return struct.pack(f"={len(words)}q", *words)


#: extent_code's operators: the stack machine's op numbers (eval_extent in SOURCE)
_CODE_OPS = {"+": 2, "-": 3, "*": 4, "//": 5, "%": 6, "min": 7, "max": 8}


def extent_code(e, index_of):
    """(op, operand) pairs computing integer expression e of shape variables (a pooled
    extent, (h - 1) // 2 + 1) on the C checker's stack machine; index_of(var) is the
    variable's place. None where e has another form (the Python check then runs)."""
    from ...lang.expr import BinOp, Const, Var
    code = []

    def emit(x):
        if isinstance(x, Const) and isinstance(x.value, int) and not isinstance(x.value, bool):
            code.append((0, x.value))
        elif isinstance(x, Var):
            code.append((1, index_of(x)))
        elif isinstance(x, BinOp) and x.op in _CODE_OPS:
            emit(x.a)
            emit(x.b)
            code.append((_CODE_OPS[x.op], 0))
        else:
            raise ValueError(x)
    try:
        emit(e)
    except (ValueError, KeyError):
        return None
    return code if len(code) <= 64 else None
