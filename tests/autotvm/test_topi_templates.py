"""topi's CPU schedules as templates: the heuristic's choice is a point of each space, and
applied as a tuned config it gives the same source as topi.schedule without records (the
fallback). Nothing is compiled: sources are emitted and compared."""
import pytest

from texpr import autotvm
from texpr.schedule.dispatch import target_scope
from texpr.schedule.config_space import OtherOptionEntity as Ot
from texpr.targets.build import emit_source
from texpr.topi import cpu

T = "avx2"


def _dense_knobs(M, N, K):
    if M <= cpu.GEMV_MAX_ROWS:
        return {"unroll": Ot(2), "rows": Ot(cpu.GEMV_TILE_ROWS)}
    if M <= cpu.DENSE_ROWS_MAX:
        h = cpu.dense_rows_config(M, N, K, T)
        return {"tile": Ot([h["mr"], h["nr"]]), "kc": Ot(h["kc"]),
                "nb_tiles": Ot(h["nb"] // h["mr"])}
    return _gemm_knobs(cpu.dense_config(M, N, K, T))


def _gemm_knobs(h):
    return {"tile": Ot([h["mr"], h["nr"]]), "kc": Ot(h["kc"]),
            "mb_tiles": Ot(h["mb"] // h["mr"]), "nb_tiles": Ot(h["nb"] // h["nr"]),
            "parallel": Ot("blocks")}


def _weight_blocks_knobs(h):
    return {"tile": Ot([h["mr"], h["nr"]]), "kc": Ot(h["kc"]),
            "mb_tiles": Ot(h["mb"] // h["mr"]), "nb_tiles": Ot(h["nb"] // h["nr"])}


def _conv_knobs(C, O, P, Q):
    ic, oc = cpu.conv_blocks(C, O, T, Q)
    return {"tile_ic": Ot(ic), "tile_oc": Ot(oc),
            "tile_ow": Ot(cpu.conv_NCHWc_config(P, Q, oc, T)["reg_w"]), "parallel": Ot("rows")}


def _tensor(shape):
    return ("TENSOR", shape, "float32")


CASES = [
    ("dense_gemv", "topi.dense", (_tensor((1, 64)), _tensor((40, 64))), _dense_knobs(1, 40, 64)),
    ("dense_rows", "topi.dense", (_tensor((12, 64)), _tensor((40, 64))),
     _dense_knobs(12, 40, 64)),
    ("dense_gemm", "topi.dense", (_tensor((300, 96)), _tensor((44, 96))),
     _dense_knobs(300, 44, 96)),
    ("batch_matmul", "topi.batch_matmul", (_tensor((2, 20, 32)), _tensor((2, 24, 32))),
     _gemm_knobs(cpu.batch_matmul_config(20, 24, 32, T))),
    ("conv2d_nchw", "topi.conv2d_nchw", (_tensor((1, 16, 10, 10)), _tensor((16, 16, 3, 3)),
                                         (1, 1), (1, 1, 1, 1), (1, 1)),
     _conv_knobs(16, 16, 10, 10)),
    ("conv2d_NCHWc", "topi.conv2d_NCHWc", (_tensor((1, 2, 10, 10, 8)),
                                           _tensor((2, 2, 3, 3, 8, 8)), (1, 1),
                                           (1, 1, 1, 1), (1, 1)),
     {"tile_ow": Ot(cpu.conv_NCHWc_config(10, 10, 8, T)["reg_w"]), "parallel": Ot("rows")}),
    ("depthwise", "topi.depthwise_conv2d_nchw", (_tensor((1, 8, 12, 12)), _tensor((8, 1, 3, 3)),
                                                 (1, 1), (1, 1, 1, 1), (1, 1)),
     {"tile_ow": Ot(cpu.depthwise_row_tile(12, cpu.cpu_info(T).lanes)), "parallel": Ot("blocks")}),
    # N a multiple of the tile width: the weight packed per block (no padding)
    ("dense_weight_blocks", "topi.dense", (_tensor((300, 96)), _tensor((48, 96))),
     _weight_blocks_knobs(cpu.dense_weight_blocks_config(300, 48, 96, T))),
]


@pytest.mark.parametrize("name,template,args,knobs", CASES, ids=[c[0] for c in CASES])
def test_fallback_is_the_heuristic_and_a_point_of_the_space(name, template, args, knobs):
    task = autotvm.task.create(template, args=args, target=T)
    assert task.workload[0] == template and task.flop > 0
    index = task.config_space.index_of(knobs)
    assert index is not None, f"the heuristic {knobs} is not in {task.config_space}"
    assert task.fallback_index == index
    s, tensors = task.instantiate(task.config_space.get(index))
    tuned = emit_source(s, tensors, T)
    # topi.schedule without records: the fallback (the heuristic)
    with target_scope(T):
        s2, tensors2 = task.func(*task.args)
    assert emit_source(s2, tensors2, T) == tuned
    # another point of the space gives another schedule
    other = task.config_space.get((index + 1) % len(task.config_space))
    s3, tensors3 = task.instantiate(other)
    assert emit_source(s3, tensors3, T) != tuned


def test_topi_template_on_a_target_without_knobs_is_an_error():
    with pytest.raises(autotvm.TuningError, match="defined no knobs"):
        autotvm.task.create("topi.dense", args=(_tensor((4, 8)), _tensor((4, 8))), target="c")
    with pytest.raises(autotvm.TuningError, match=r"expected \('TENSOR', shape, dtype\)"):
        autotvm.task.create("topi.dense", args=((4, 8), (4, 8)), target=T)


def _with_knobs(task, **changes):
    """The fallback config with some knobs changed (to values of their space)."""
    base = task.config_space.get(task.fallback_index)._entity_map
    ents = dict(base, **{k: Ot(v) for k, v in changes.items()})
    index = task.config_space.index_of(ents)
    assert index is not None, changes
    return task.config_space.get(index)


def test_tuned_variants_compute_what_numpy_does():
    """Knob values away from the heuristic (other tiles, blocks, the parallel loop) build
    kernels that still compute the operator (one GEMM and one convolution)."""
    import numpy as np
    import texpr as te
    from texpr.topi import testing
    rng = np.random.default_rng(0)
    task = autotvm.task.create("topi.dense", args=CASES[2][2], target=T)
    cfg = _with_knobs(task, tile=[3, 16], kc=32, mb_tiles=4, nb_tiles=1, parallel="rows")
    s, (A, W, C) = task.instantiate(cfg)
    f = te.build(s, [A, W, C], target=T)
    a, w = rng.random((300, 96), "float32"), rng.random((44, 96), "float32")
    np.testing.assert_allclose(f(a, w), a @ w.T, rtol=1e-4, atol=1e-4)
    task = autotvm.task.create("topi.conv2d_nchw", args=CASES[4][2], target=T)
    cfg = _with_knobs(task, tile_ic=8, tile_oc=16, tile_ow=3, parallel="blocks")
    s, (D, K, O) = task.instantiate(cfg)
    f = te.build(s, [D, K, O], target=T)
    d, k = rng.random((1, 16, 10, 10), "float32"), rng.random((16, 16, 3, 3), "float32")
    np.testing.assert_allclose(f(d, k), testing.conv2d_nchw_ref(d, k, 1, 1), rtol=1e-4,
                               atol=1e-4)


def test_extract_from_program_gives_each_distinct_layer_once():
    import texpr as te
    from texpr import topi
    x = te.placeholder((1, 16, 10, 10), name="x")
    w1 = te.placeholder((16, 16, 3, 3), name="w1")
    w2 = te.placeholder((16, 16, 3, 3), name="w2")
    y = topi.nn.relu(topi.nn.conv2d_nchw(x, w1, 1, 1))
    y = topi.nn.conv2d_nchw(y, w2, 1, 1)               # the same workload again
    flat = topi.reshape(y, (1, 16 * 10 * 10))
    wd = te.placeholder((10, 16 * 10 * 10), name="wd")
    out = topi.nn.dense(flat, wd)
    tasks = autotvm.task.extract_from_program(out, target=T)
    assert [t.name for t in tasks] == ["topi.conv2d_nchw", "topi.dense"]
    assert tasks[0].workload == ("topi.conv2d_nchw", _tensor((1, 16, 10, 10)),
                                 _tensor((16, 16, 3, 3)), (1, 1), (1, 1, 1, 1), (1, 1))
    assert tasks[1].args == (_tensor((1, 1600)), _tensor((10, 1600)))
