"""Fused epilogues: for every conv/dense operator with a registered CPU schedule,
relu(((op + bias) * bn_scale + bn_shift) + residual) scheduled by topi.schedule is one loop
nest that computes the reduction and writes the output once, and equals NumPy.

"One kernel" is checked on the lowered loop program (te.lower, simple mode):
- the output buffer is written by exactly one store;
- that store sits in the same top-level loop nest as the reduction's accumulation (the
  accumulator lives in that nest: an allocation inside it, not a whole-size buffer);
- no epilogue stage (add, multiply, relu) is materialized as a buffer.
Input-side copies the schedules make (padding, channel blocks, weight panels) may be loop
nests of their own; they are not the epilogue.
"""
import numpy as np
import pytest

import texpr as te
import texpr.topi as topi
from texpr.lang.visitor import walk
from texpr.lang import ir
from texpr.topi import testing as ref
from texpr.topi.winograd import winograd_weight_transform_ref

RNG = np.random.default_rng(3)
EPILOGUE_STAGES = ("add", "multiply", "relu", "bias_add", "dense_bias")


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def ph(arr, name):
    return te.placeholder(arr.shape, name=name)


# Each case: (op output tensor, inputs, arrays, NumPy result in the output layout, shape of
# a per-channel vector broadcast against the output, name of the accumulating stage)

def case_dense():
    a, w = rand(150, 40), rand(32, 40)      # two cache blocks of rows (a parallel loop)
    x, wt = ph(a, "x"), ph(w, "w")
    return topi.nn.dense(x, wt), [x, wt], [a, w], ref.dense_ref(a, w), (32,), "dense"


def case_dense_pack():
    a, w = rand(150, 24), rand(48, 24)
    wp = ref.pack_dense_weight_ref(w, 16)
    x, wt = ph(a, "x"), ph(wp, "wp")
    return topi.nn.dense_pack(x, wt), [x, wt], [a, wp], ref.dense_ref(a, w), (48,), "dense_pack"


def case_batch_matmul():
    a, b = rand(2, 8, 24), rand(2, 32, 24)
    x, y = ph(a, "x"), ph(b, "y")
    return topi.nn.batch_matmul(x, y), [x, y], [a, b], ref.batch_matmul_ref(a, b), (32,), \
        "batch_matmul"


def case_conv2d_nchw():
    a, k = rand(1, 16, 9, 11), rand(32, 16, 3, 3)
    x, w = ph(a, "x"), ph(k, "w")
    return topi.nn.conv2d_nchw(x, w, 1, 1), [x, w], [a, k], ref.conv2d_nchw_ref(a, k, 1, 1), \
        (32, 1, 1), "conv2d_nchw"


def case_conv2d_NCHWc():
    a, k = rand(1, 32, 8, 9), rand(32, 32, 3, 3)
    an, kn = ref.nchw_to_nchwc_ref(a, 16), ref.pack_kernel_nchwc_ref(k, 16, 16)
    x, w = ph(an, "x"), ph(kn, "w")
    want = ref.conv2d_NCHWc_ref(an, kn, 2, 1)
    return topi.nn.conv2d_NCHWc(x, w, 2, 1), [x, w], [an, kn], want, (1, 2, 1, 1, 16), \
        "conv2d_NCHWc"


def case_depthwise_conv2d_nchw():
    a, k = rand(1, 8, 10, 19), rand(8, 1, 3, 3)
    x, w = ph(a, "x"), ph(k, "w")
    return topi.nn.depthwise_conv2d_nchw(x, w, 1, 1), [x, w], [a, k], \
        ref.depthwise_conv2d_nchw_ref(a, k, 1, 1), (8, 1, 1), "depthwise_conv2d_nchw"


def case_depthwise_conv2d_NCHWc():
    a, k = rand(1, 32, 10, 9), rand(32, 1, 3, 3)
    an, kn = ref.nchw_to_nchwc_ref(a, 16), ref.pack_depthwise_kernel_nchwc_ref(k, 16)
    x, w = ph(an, "x"), ph(kn, "w")
    return topi.nn.depthwise_conv2d_NCHWc(x, w, 2, 1), [x, w], [an, kn], \
        ref.depthwise_conv2d_NCHWc_ref(an, kn, 2, 1), (1, 2, 1, 1, 16), "depthwise_conv2d_NCHWc"


def case_winograd_nchw():
    a, k = rand(1, 16, 10, 10), rand(32, 16, 3, 3)
    u = winograd_weight_transform_ref(k, 4, "IO")
    x, U = ph(a, "x"), ph(u, "U")
    out = topi.nn.conv2d_winograd_nchw(x, U, 1, 4, pre_transformed=True, weight_layout="IO")
    return out, [x, U], [a, u], ref.conv2d_nchw_ref(a, k, 1, 1), (32, 1, 1), "winograd_M"


def case_winograd_NCHWc():
    a, k = rand(1, 32, 10, 10), rand(32, 32, 3, 3)
    an, kn = ref.nchw_to_nchwc_ref(a, 16), ref.pack_kernel_nchwc_ref(k, 16, 16)
    u = ref.winograd_weight_transform_NCHWc_ref(kn, 4)
    x, U = ph(an, "x"), ph(u, "U")
    out = topi.nn.conv2d_winograd_NCHWc(x, U, 1, 4, pre_transformed=True)
    return out, [x, U], [an, u], ref.conv2d_NCHWc_ref(an, kn, 1, 1), (1, 2, 1, 1, 16), \
        "winograd_M"


CASES = [case_dense, case_dense_pack, case_batch_matmul, case_conv2d_nchw, case_conv2d_NCHWc,
         case_depthwise_conv2d_nchw, case_depthwise_conv2d_NCHWc, case_winograd_nchw,
         case_winograd_NCHWc]
TOL = {"winograd_M": 5e-4}


def root_stages(body):
    """The StageRegions at the top of the loop program (stages computed at root), with the
    stages attached inside them."""
    out = []

    def visit(n):
        if isinstance(n, ir.StageRegion):
            out.append(n)
            return
        for c in _stmt_children(n):
            visit(c)
    visit(body)
    return out


def _stmt_children(n):
    if isinstance(n, ir.Seq):
        return list(n.stmts)
    if isinstance(n, (ir.Allocate, ir.DeclareVars, ir.For)):
        return [n.body]
    if isinstance(n, ir.IfThenElse):
        return [x for x in (n.then_case, getattr(n, "else_case", None)) if x is not None]
    return []


def writes_to(node, name_pred):
    """Stores (and tensorized calls) in node whose output buffer's name satisfies name_pred."""
    def bufs(n):
        if isinstance(n, ir.BufferStore):
            return [n.buffer]
        if isinstance(n, ir.IntrinCall):
            return [op.buffer for op in n.outputs]
        return []
    return [n for n in walk(node) if any(name_pred(b.name) for b in bufs(n))]


def assert_one_kernel(s, args, acc_name):
    """The output written once, in the root stage that also accumulates `acc_name`; the
    accumulation is not a root stage of its own; no epilogue stage is a buffer."""
    low = te.lower(s, args, simple_mode=True)
    out_buf = low.args[-1]
    writes = [n for n in walk(low.body) if isinstance(n, ir.BufferStore) and n.buffer is out_buf]
    assert len(writes) == 1, f"the output is written {len(writes)} times:\n{low}"
    roots = root_stages(low.body)
    (home,) = [r for r in roots if any(n is writes[0] for n in walk(r))]
    def is_acc(nm):                 # the stage itself, its padded GEMM or its cache
        return nm in (acc_name, acc_name + "_gemm", acc_name + ".local")
    assert writes_to(home, is_acc), \
        f"the accumulation of {acc_name} is not in the output's loop nest:\n{low}"
    others = [r.name for r in roots if r is not home and is_acc(r.name)]
    assert not others, f"{others} computed at root, apart from the output:\n{low}"
    for b in (n.buffer for n in walk(low.body) if isinstance(n, ir.Allocate)):
        assert b.name not in EPILOGUE_STAGES, f"epilogue stage {b.name} is materialized:\n{low}"
    return low


@pytest.mark.parametrize("make", CASES, ids=[c.__name__[5:] for c in CASES])
def test_epilogue_is_fused_into_one_loop_nest(make):
    conv, ins, arrs, want, chan, acc_name = make()
    bias, scale, shift = rand(*chan), rand(*chan), rand(*chan)
    resid = rand(*want.shape)
    tb, ts, tsh, tr = ph(bias, "bias"), ph(scale, "bn_scale"), ph(shift, "bn_shift"), \
        ph(resid, "residual")
    out = topi.nn.relu(topi.nn.add(topi.nn.add(topi.nn.multiply(
        topi.nn.add(conv, tb), ts), tsh), tr))
    args = ins + [tb, ts, tsh, tr, out]
    s = topi.schedule(out, "native")
    assert_one_kernel(s, args, acc_name)
    f = te.build(s, args, target="native")
    got = np.full(want.shape, np.nan, "float32")
    f(*arrs, bias, scale, shift, resid, got)
    expect = np.maximum((want + bias) * scale + shift + resid, 0)
    tol = TOL.get(acc_name, 1e-4)
    np.testing.assert_allclose(got, expect, rtol=tol, atol=tol * np.abs(expect).max())


def test_unfused_graph_is_detected():
    """The checker itself: without topi.schedule (every stage at root) the conv and its
    epilogue are separate loop nests, and the check says so."""
    a, k = rand(1, 8, 6, 6), rand(8, 8, 3, 3)
    x, w = ph(a, "x"), ph(k, "w")
    out = topi.nn.relu(topi.nn.conv2d_nchw(x, w, 1, 1))
    with pytest.raises(AssertionError, match="not in the output's loop nest"):
        assert_one_kernel(te.create_schedule(out.op), [x, w, out], "conv2d_nchw")


def test_multiply_broadcasts_and_rejects_mismatched_shapes():
    a, b = rand(2, 3, 4), rand(3, 1)
    x, y = ph(a, "x"), ph(b, "y")
    out = topi.nn.multiply(x, y)
    f = te.build(topi.schedule(out, "native"), [x, y, out], target="native")
    got = np.empty((2, 3, 4), "float32")
    f(a, b, got)
    np.testing.assert_allclose(got, ref.multiply_ref(a, b), rtol=1e-6)
    with pytest.raises(te.TexprError, match="multiply: shapes"):
        topi.nn.multiply(x, te.placeholder((5,), name="z"))


def test_tvm_tag_names_and_testing_schedules():
    """topi.tag names the tags topi's computes carry; topi.testing's get_*_schedule(target)
    return the registered schedule of a graph (TVM's testing helpers)."""
    import numpy as np
    import texpr as te
    import texpr.topi as topi
    A = te.placeholder((4, 8), name="A")
    b = te.placeholder((8,), name="b")
    E, Bc = A * 2.0, A + b
    assert E.op.tag == topi.tag.ELEMWISE and Bc.op.tag == topi.tag.BROADCAST
    assert topi.tag.is_broadcast(E.op.tag) and topi.tag.is_injective(Bc.op.tag)
    s = topi.testing.get_broadcast_schedule("c")(Bc)
    f = te.build(s, [A, b, Bc], target="c")
    a, bb = np.random.rand(4, 8).astype("float32"), np.random.rand(8).astype("float32")
    out = np.empty((4, 8), "float32")
    f(a, bb, out)
    np.testing.assert_allclose(out, a + bb, rtol=1e-6)
    with pytest.raises(te.TexprError, match="no_such_target"):
        topi.testing.get_elemwise_schedule("no_such_target")
