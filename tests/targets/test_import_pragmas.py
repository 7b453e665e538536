"""The pragmas import_llvm and import_c: code linked into a kernel's library that the kernel
calls with te.call_extern; its symbols stay inside that library."""
import shutil
import subprocess

import numpy as np
import pytest

import texpr as te
from texpr.contrib import clang

from support.tensorize import gemv_decl, tensorized_matmul

needs_clang = pytest.mark.skipif(shutil.which("clang") is None,
                                 reason="clang is not installed (make's sysdeps install it)")

GEMV_CPP = """
extern "C" int gemv_update(float *cc, float *aa, float *bb, int m, int l, int stride) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < l; ++j)
      cc[i] += aa[j] * bb[i * stride + j];
  return 0;
}
extern "C" int gemv_reset(float *cc, int m) {
  for (int i = 0; i < m; ++i) cc[i] = 0.0f;
  return 0;
}
"""


def _gemv_intrin(m, l):
    """TVM's tutorial intrinsic: calls of gemv_update / gemv_reset on the operands' pointers."""
    op, binds = gemv_decl(m, l)

    def impl(ins, outs):
        aa, bb = ins
        cc = outs[0]

        def update():
            ib = te.ir_builder.create()
            ib.emit(te.call_extern("int32", "gemv_update", cc.access_ptr("w"),
                                   aa.access_ptr("r"), bb.access_ptr("r"), m, l, bb.strides[0]))
            return ib.get()

        def reset():
            ib = te.ir_builder.create()
            ib.emit(te.call_extern("int32", "gemv_reset", cc.access_ptr("w"), m))
            return ib.get()
        return update(), reset(), update()
    return te.decl_tensor_intrin(op, impl, binds=binds)


@needs_clang
def test_import_llvm_gemv_with_split_reduction():
    N, M, L = 4, 32, 32
    s, A, B, C, _, yo = tensorized_matmul(_gemv_intrin(16, 16), N, M, L, tile=16)
    s[C].pragma(yo, "import_llvm", clang.create_llvm(GEMV_CPP))
    assert "import_llvm" not in str(te.lower(s, [A, B, C]))     # not printed on the loop
    f = te.build(s, [A, B, C], target="c", name="gemv_llvm")
    assert "gemv_reset(texpr_out0, 16);" in f.source               # a split reduction: reset
    assert "gemv_update(texpr_out0, texpr_in0, texpr_in1, 16, 16, 32);" in f.source
    rng = np.random.default_rng(1)
    a = rng.random((N, L), dtype="float32")
    b = rng.random((M, L), dtype="float32")
    c = np.full((N, M), 7.0, "float32")                         # the reset must clear it
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b.T, rtol=1e-5)


def _scaled(factor_code):
    """D[i] = scale(A[i]), scale() defined by C source imported at D's loop."""
    A = te.placeholder((8,), name="A")
    D = te.compute((8,), lambda i: te.call_pure_extern("float32", "scale", A[i]), name="D")
    s = te.create_schedule(D.op)
    s[D].pragma(D.op.axis[0], "import_c", f"float scale(float x) {{ return x * {factor_code}; }}")
    return s, A, D


def test_import_c_functions_stay_inside_their_library():
    """Two kernels import different functions of one name: each calls its own, and their
    libraries export only the kernels' entry points."""
    a = np.arange(8, dtype="float32")
    mods = []
    for factor in ("2.0f", "3.0f"):
        s, A, D = _scaled(factor)
        mods.append(te.build(s, [A, D], target="c", name="scaled"))
    for mod, factor in zip(mods, (2, 3)):
        d = np.zeros(8, "float32")
        mod(a, d)
        np.testing.assert_array_equal(d, a * factor)
    assert mods[0].lib_path != mods[1].lib_path          # the imported code is in the key
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) is not installed to list the library's symbols")
    out = subprocess.run([nm, "-D", "--defined-only", mods[0].lib_path], capture_output=True,
                         text=True, check=True).stdout
    names = [ln.split()[-1] for ln in out.splitlines() if ln.strip()]
    assert names and all(n.startswith("texpr_kernel_") for n in names), names


def test_bad_imports_are_reported():
    s, A, D = _scaled("2.0f")
    s[D].pragma(D.op.axis[0], "import_llvm", "this is not LLVM IR")
    if shutil.which("clang") is not None:
        with pytest.raises(te.BuildError, match="could not compile the imported LLVM IR"):
            te.build(s, [A, D], target="c")
    with pytest.raises(te.TexprError, match="import_c / import_llvm .* native CPU targets"):
        te.build(s, [A, D], target="opencl")
    with pytest.raises(te.ScheduleError, match="import_c .* must be the C source"):
        s[D].pragma(D.op.axis[0], "import_c", "")


def test_a_call_of_code_nothing_defines_is_a_build_error():
    s, A, D = _scaled("2.0f")
    s2 = te.create_schedule(D.op)          # the same kernel without the import
    with pytest.raises(te.BuildError, match="calls scale, which nothing linked into it defines"):
        te.build(s2, [A, D], target="c", name="scaled_nothing")
