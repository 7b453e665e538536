"""Matrix products by the system CBLAS (TVM's tvm.contrib.cblas): extern ops that call
cblas_sgemm / cblas_dgemm. They need a CBLAS library (Debian: libopenblas-dev, which `make
setup` installs); without one, making the op raises a TexprError saying so."""
import ctypes.util

import numpy as np

from ..errors import DTypeError, TexprError
from ..targets.runtime.packed import register_func
from ..lang.expr import Const
from ..lang.extern import call_extern, extern
from ..lang.tensor import Tensor

# The CBLAS entry points (enums passed as their int values: CblasRowMajor = 101,
# CblasNoTrans = 111, CblasTrans = 112), and one helper per dtype that multiplies `batch`
# matrices: C[b] = op(A[b]) @ op(B[b]) (row-major, op = transpose when ta / tb).
_SOURCE = """\
void cblas_sgemm(int, int, int, int, int, int, float, const float*, int, const float*, int,
                 float, float*, int);
void cblas_dgemm(int, int, int, int, int, int, double, const double*, int, const double*, int,
                 double, double*, int);
static void cblas_batch_gemm_f32(const float* A, const float* B, float* C, int32_t batch,
                                 int32_t M, int32_t N, int32_t K, int32_t ta, int32_t tb) {
  if (M <= 0 || N <= 0) return;
  for (int32_t b = 0; b < batch; ++b) {
    const float* a = A + (int64_t)b * M * K; const float* bm = B + (int64_t)b * K * N;
    float* c = C + (int64_t)b * M * N;
    if (K <= 0) { for (int64_t i = 0; i < (int64_t)M * N; ++i) c[i] = 0.0f; continue; }
    cblas_sgemm(101, ta ? 112 : 111, tb ? 112 : 111, M, N, K, 1.0f, a, ta ? M : K, bm,
                tb ? K : N, 0.0f, c, N);
  }
}
static void cblas_batch_gemm_f64(const double* A, const double* B, double* C, int32_t batch,
                                 int32_t M, int32_t N, int32_t K, int32_t ta, int32_t tb) {
  if (M <= 0 || N <= 0) return;
  for (int32_t b = 0; b < batch; ++b) {
    const double* a = A + (int64_t)b * M * K; const double* bm = B + (int64_t)b * K * N;
    double* c = C + (int64_t)b * M * N;
    if (K <= 0) { for (int64_t i = 0; i < (int64_t)M * N; ++i) c[i] = 0.0; continue; }
    cblas_dgemm(101, ta ? 112 : 111, tb ? 112 : 111, M, N, K, 1.0, a, ta ? M : K, bm,
                tb ? K : N, 0.0, c, N);
  }
}
"""

_HELPER = {"float32": "cblas_batch_gemm_f32", "float64": "cblas_batch_gemm_f64"}


def blas_libs():
    """Linker arguments of the system CBLAS, or raise saying what to install."""
    for name, libs in (("openblas", ["-lopenblas"]), ("cblas", ["-lcblas", "-lblas"]),
                       ("blis", ["-lblis"])):
        if ctypes.util.find_library(name):
            return libs
    raise TexprError("texpr.contrib.cblas: no system CBLAS library found; install one "
                     "(Debian: apt-get install libopenblas-dev, which `make setup` does)")


def _check(lhs, rhs, ndim, what):
    for t, nm in ((lhs, "lhs"), (rhs, "rhs")):
        if not isinstance(t, Tensor):
            raise TexprError(f"{what}: {nm} must be a tensor, got {t!r}")
        if t.ndim != ndim:
            raise TexprError(f"{what}: {nm} {t.name} has {t.ndim} dimension(s), expected {ndim}")
    if lhs.dtype != rhs.dtype or lhs.dtype not in _HELPER:
        raise DTypeError(f"{what}: lhs and rhs must both be float32 or both float64, got "
                         f"{lhs.dtype} and {rhs.dtype}")


def _same(a, b, what):
    if isinstance(a, Const) and isinstance(b, Const) and a.value != b.value:
        raise TexprError(f"{what}: the reduction extents differ ({a.value} and {b.value})")


def _gemm(lhs, rhs, transa, transb, batch, what, name):
    off = 1 if batch else 0
    s_l, s_r = lhs.shape[off:], rhs.shape[off:]
    m, k = (s_l[1], s_l[0]) if transa else (s_l[0], s_l[1])
    k2, n = (s_r[1], s_r[0]) if transb else (s_r[0], s_r[1])
    _same(k, k2, what)
    if batch:
        _same(lhs.shape[0], rhs.shape[0], what + " (batch)")
    shape = ((lhs.shape[0],) if batch else ()) + (m, n)
    fn = _HELPER[lhs.dtype]
    attrs = {"extern_sources": [_SOURCE], "extern_libs": blas_libs()}
    return extern(shape, [lhs, rhs],
                  lambda ins, outs: call_extern(
                      "void", fn, ins[0], ins[1], outs[0], lhs.shape[0] if batch else 1,
                      m, n, k, int(bool(transa)), int(bool(transb))),
                  name=name, dtype=lhs.dtype, tag=what, attrs=attrs)


def matmul(lhs, rhs, transa=False, transb=False, name="C"):
    """op(lhs) @ op(rhs) by cblas_sgemm/dgemm; op transposes when transa / transb.
    lhs: [M, K] ([K, M] when transa), rhs: [K, N] ([N, K] when transb) -> [M, N]."""
    _check(lhs, rhs, 2, "cblas.matmul")
    return _gemm(lhs, rhs, transa, transb, False, "cblas.matmul", name)


def batch_matmul(lhs, rhs, transa=False, transb=False, name="C"):
    """The matmul of each of B pairs: lhs [B, M, K], rhs [B, K, N] -> [B, M, N] (transposed
    inner matrices when transa / transb)."""
    _check(lhs, rhs, 3, "cblas.batch_matmul")
    return _gemm(lhs, rhs, transa, transb, True, "cblas.batch_matmul", name)


# TVM's packed functions of the same names, for TVM programs that call them through
# te.call_packed("tvm.contrib.cblas.matmul", A, B, C, transa, transb) in an extern op: the
# product of the kernel's buffers (NumPy views) through NumPy's BLAS

def _packed_matmul(a, b, c, transa=0, transb=0):
    np.matmul(a.T if transa else a, b.T if transb else b, out=c)


def _packed_batch_matmul(a, b, c, transa=0, transb=0):
    np.matmul(a.transpose(0, 2, 1) if transa else a, b.transpose(0, 2, 1) if transb else b,
              out=c)


register_func("tvm.contrib.cblas.matmul", _packed_matmul, override=True)
register_func("tvm.contrib.cblas.batch_matmul", _packed_batch_matmul, override=True)
