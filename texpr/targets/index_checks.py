"""The checked-index protocol, in one place: how a kernel reports an index read from data that
is out of range, and how the runtime turns that into an error.

Each CheckedIndex of a kernel gets a code (its position in the emitter's `checks` list:
(tensor, dim, source buffer, direct)). Out of range, the kernel uses 0 instead (so nothing is
read or written out of bounds) and records three int64 error words, the first report winning:

    err[0] = code + 1 (0: no error)    err[1] = the index value    err[2] = its source position

Every call owns its words: a CPU kernel with checks takes them as its last argument
(`int64_t* err`, three zeroed words in the caller's frame: the runtime allocates them per call,
the emulator harness in its main), so concurrent calls from several threads never see each
other's errors; the threads of one call's OpenMP loops share its words (the first report wins,
by compare-and-swap). GPU kernels take them as a buffer argument (a fourth word is the lock).
After a call the runtime passes them to raise_index_error.
"""
from ..errors import ArgumentError
from ..lang.ir import Buffer

ERROR_WORDS = 3

#: CPU: err is the calling frame's three words (the kernel's last argument)
CPU_CHECKED_INDEX = r"""/* an index read from data that is out of range is recorded in the caller's error words
   (first one wins) and replaced by 0, so nothing is read or written out of bounds; out of line
   and cold: the hot path is one compare */
static __attribute__((noinline, cold)) int64_t texpr_index_error(int64_t* err, int64_t v, int64_t code, int64_t pos) {
  int64_t expected = 0;
  if (__atomic_compare_exchange_n(&err[0], &expected, -1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
    err[1] = v; err[2] = pos;
    __atomic_store_n(&err[0], code + 1, __ATOMIC_RELEASE);
  }
  return 0;
}
static inline int64_t texpr_checked_index(int64_t v, int64_t n, int64_t code, int64_t pos, int64_t* err) {
  if (__builtin_expect((uint64_t)v >= (uint64_t)n, 0)) return texpr_index_error(err, v, code, pos);
  return v;
}"""

#: the name of the error words inside a CPU kernel (a parameter; reserved by the emitter)
CPU_ERROR_PARAM = "texpr_err"

#: OpenCL: err is a __global buffer of 4 words (the 4th is the lock)
OPENCL_CHECKED_INDEX = """/* an index read from data that is out of range is recorded in err (first one wins)
   and replaced by 0, so nothing is read or written out of bounds */
static int64_t texpr_checked_index(int64_t v, int64_t n, int64_t code, int64_t pos, __global int64_t* err) {
  if ((uint64_t)v >= (uint64_t)n) {
    if (atomic_cmpxchg((volatile __global int*)(err + 3), 0, 1) == 0) {
      err[1] = v; err[2] = pos; err[0] = code + 1;
    }
    return 0;
  }
  return v;
}"""

#: CUDA: the same, with atomicCAS and a fence before the code is published
CUDA_CHECKED_INDEX = """/* an index read from data that is out of range is recorded in err (first one wins)
   and replaced by 0, so nothing is read or written out of bounds */
static __device__ __forceinline__ int64_t texpr_checked_index(int64_t v, int64_t n, int64_t code, int64_t pos, int64_t* err) {
  if ((uint64_t)v >= (uint64_t)n) {
    if (atomicCAS((int*)(err + 3), 0, 1) == 0) {
      err[1] = v; err[2] = pos; __threadfence(); err[0] = code + 1;
    }
    return 0;
  }
  return v;
}"""


def source_load(e):
    """The buffer element CheckedIndex e's index was read from, or None (none, or a local
    scalar that register promotion made a variable: no position to report)."""
    return e.source if isinstance(getattr(e.source, "buffer", None), Buffer) else None


def register(checks, e):
    """Add CheckedIndex e to an emitter's `checks` list; returns its code."""
    source = source_load(e)
    src = source.buffer.name if source is not None else None
    checks.append((e.tensor, e.dim, src, source is not None and e.value.same_as(source)))
    return len(checks) - 1


def raise_index_error(checks, err, kernel):
    """Turn the error words a kernel recorded into a TexprError naming tensor, position, value."""
    code, value, pos = int(err[0]) - 1, int(err[1]), int(err[2])
    if not 0 <= code < len(checks):
        raise ArgumentError(f"kernel {kernel}: an index read from data was out of range")
    tensor, dim, src, direct = checks[code]
    if src is not None and pos >= 0:
        where = f"{src}[{pos}] = {value}" if direct else f"index {value} (computed from {src}[{pos}])"
    else:
        where = f"index {value}"
    raise ArgumentError(f"{where} is out of range for dimension {dim} of {tensor} "
                        f"(kernel {kernel}); nothing was read or written out of bounds")
