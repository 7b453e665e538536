"""texpr's thread pool for parallel loops (pool.c), built once per machine into the disk cache
and loaded once per process. A kernel built for the "texpr" parallel runtime calls it through
the function pointer `install(...)` gives it (kernels do not link against the pool)."""
import os

from cffi import FFI

from .. import toolchain

SOURCE_PATH = os.path.join(os.path.dirname(__file__), "pool.c")

_CDEF = """
typedef void (*texpr_body_fn)(void*, int64_t, int64_t);
int texpr_parallel_for(texpr_body_fn fn, void* closure, int64_t begin, int64_t end, int nthreads);
int texpr_pool_workers(void);
int texpr_pool_last_threads(void);
int texpr_pool_thread_id(void);
void texpr_pool_set_spin_ns(int64_t worker, int64_t caller);
"""

_LOADED = []        # [(ffi, lib)]


def library():
    """(ffi, lib) of the pool: compiled on first use (cached on disk), loaded once."""
    if not _LOADED:
        with open(SOURCE_PATH) as f:
            source = f.read()
        path, _ = toolchain.compile_shared(source, ["-O2", "-std=gnu11", "-pthread"],
                                           libs=["-pthread"])
        toolchain.require_sanitizer_runtime()
        ffi = FFI()
        ffi.cdef(_CDEF)
        # RTLD_LOCAL: its symbols stay out of the global scope (kernels get the address)
        _LOADED.append((ffi, ffi.dlopen(path, ffi.RTLD_NOW | ffi.RTLD_LOCAL)))
    return _LOADED[0]


def parallel_for_address():
    """The address of texpr_parallel_for, which kernels call for each parallel loop."""
    ffi, lib = library()
    return int(ffi.cast("uintptr_t", ffi.addressof(lib, "texpr_parallel_for")))


def workers():
    """Worker threads the pool has started in this process."""
    return library()[1].texpr_pool_workers()


def last_threads():
    """Threads (the caller included) the last parallel loop was offered to (1: it ran
    serially: one thread asked for, one iteration, nested, or another job was running)."""
    return library()[1].texpr_pool_last_threads()
