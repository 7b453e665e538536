"""Tensor intrinsics whose parts are statements built with te.ir_builder: loops over the
operands' regions (bounds-proven against the declared shapes), calls of imported C."""
import numpy as np
import pytest

import texpr as te
from texpr.targets.build import emit_source

from support.tensorize import gemv_decl, tensorized_matmul

RESET_C = "int vec_reset(float* c, int m) { for (int i = 0; i < m; ++i) c[i] = 0; return 0; }"


def _gemv_intrin(m, l, update_fn=None):
    op, binds = gemv_decl(m, l)

    def update(ins, outs):
        ib = te.ir_builder.create()
        ap, bp, cp = ib.buffer_ptr(ins[0]), ib.buffer_ptr(ins[1]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, m, name="i") as i:
            with ib.for_range(0, l, name="j") as j:
                cp[i] = cp[i] + ap[j] * bp[i, j]
        return ib.get()

    def impl(ins, outs):
        ib = te.ir_builder.create()
        ib.emit(te.call_extern("int32", "vec_reset", outs[0].access_ptr("w"), m))
        upd = (update_fn or update)(ins, outs)
        return None, ib.get(), upd
    return te.decl_tensor_intrin(op, impl, name="gemv", binds=binds)


def _matmul(intrin):
    s, A, B, C, x, _ = tensorized_matmul(intrin, N=3, M=16, L=16, tile=8)
    s[C].pragma(x, "import_c", RESET_C)
    return s, A, B, C


def test_ir_builder_parts_against_numpy():
    s, A, B, C = _matmul(_gemv_intrin(8, 8))
    f = te.build(s, [A, B, C], target="c", name="irb_gemv")
    assert "tensorize gemv.reset+update" in f.source and "vec_reset(texpr_out0, 8);" in f.source
    # the loops index the regions' own pointers, with B's row stride of the region
    assert "texpr_in1[(i_1 * 16) + j]" in f.source
    rng = np.random.default_rng(2)
    a = rng.random((3, 16), dtype="float32")
    b = rng.random((16, 16), dtype="float32")
    c = np.full((3, 16), -5.0, "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b.T, rtol=1e-5)


def test_out_of_region_access_is_refused():
    def past_the_end(ins, outs):
        ib = te.ir_builder.create()
        ap, cp = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, 8, name="i") as i:
            cp[i] = cp[i] + ap[i + 1]
        return ib.get()
    s, A, B, C = _matmul(_gemv_intrin(8, 8, past_the_end))
    with pytest.raises(te.LoweringError, match=r"tensor intrinsic gemv.*tensor a is read at "
                                               r"index i \+ 1.*\[1, 8\]"):
        emit_source(s, [A, B, C], target="c")


def test_writing_an_input_operand_is_refused():
    def writes_input(ins, outs):
        ib = te.ir_builder.create()
        ap = ib.buffer_ptr(ins[0])
        ap[0] = 0.0
        return ib.get()
    s, A, B, C = _matmul(_gemv_intrin(8, 8, writes_input))
    with pytest.raises(te.TexprError, match="tensor intrinsic gemv: its statement writes input "
                                            "operand a"):
        emit_source(s, [A, B, C], target="c")
