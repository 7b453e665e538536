"""The checked-index protocol, in one place: how a kernel reports an index read from data that
is out of range, and how the runtime turns that into an error.

Each CheckedIndex of a kernel gets a code (its position in the emitter's `checks` list:
(tensor, dim, source buffer, direct)). Out of range, the kernel uses 0 instead (so nothing is
read or written out of bounds) and records three int64 error words, the first report winning:

    err[0] = code + 1 (0: no error)    err[1] = the index value    err[2] = its source position

CPU kernels keep the words in the module (`<kernel>_error(int64_t* out)` reads and clears
them; the emulator harness writes them after the outputs); GPU kernels take them as a buffer
argument (a fourth word is the lock). After a call the runtime passes them to
raise_index_error.
"""
from ..errors import ArgumentError

ERROR_WORDS = 3

_CPU_ERROR_STATE = r"""/* an index read from data that is out of range is recorded here (first one wins) */
static int64_t texpr_error[3];
/* out of line and cold: the hot path is one compare, and the compiler still sees that it
   touches only texpr_error (so loads around a check can be reused) */
static __attribute__((noinline, cold)) int64_t texpr_index_error(int64_t v, int64_t code, int64_t pos) {
  int64_t expected = 0;
  if (__atomic_compare_exchange_n(&texpr_error[0], &expected, -1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
    texpr_error[1] = v; texpr_error[2] = pos;
    __atomic_store_n(&texpr_error[0], code + 1, __ATOMIC_RELEASE);
  }
  return 0;
}
static inline int64_t texpr_checked_index(int64_t v, int64_t n, int64_t code, int64_t pos) {
  if (__builtin_expect((uint64_t)v >= (uint64_t)n, 0)) return texpr_index_error(v, code, pos);
  return v;
}
void NAME_error(int64_t* out) {
  out[0] = texpr_error[0]; out[1] = texpr_error[1]; out[2] = texpr_error[2];
  texpr_error[0] = 0;
}"""

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


def cpu_error_state(kernel):
    """The C of a CPU kernel's error words, their check and `<kernel>_error` reader."""
    return _CPU_ERROR_STATE.replace("NAME", kernel)


def register(checks, e):
    """Add CheckedIndex e to an emitter's `checks` list; returns its code."""
    src = e.source.buffer.name if e.source is not None else None
    checks.append((e.tensor, e.dim, src, e.source is not None and e.value.same_as(e.source)))
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
