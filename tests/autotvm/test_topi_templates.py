"""topi's CPU schedules as templates: the heuristic's choice is a point of each space, and
applied as a tuned config it gives the same source as topi.schedule without records (the
fallback). Nothing is compiled: sources are emitted and compared."""
import pytest

from texpr import autotvm
from texpr.schedule.dispatch import target_scope
from texpr.schedule.config_space import OtherOptionEntity as Ot
from texpr.targets.build import emit_source
from texpr.topi import (cpu, cpu_attention, cpu_conv_1x1, cpu_conv_few_channels, cpu_reduce,
                        cpu_rows, cpu_sparse, gpu)

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
            "tile_ow": Ot(cpu.conv_NCHWc_config(P, Q, oc, T)["reg_w"]), "parallel": Ot("rows"),
            "unroll_kw": Ot(False)}


def _tensor(shape):
    return ("TENSOR", shape, "float32")


def _winograd_knobs(N, nH, nW, C, O):
    h = cpu.winograd_config(N, nH, nW, C, O, T)
    return {"hb": Ot(h["hb"]), "ochunks": Ot(h["ochunks"])}


def _conv1x1_knobs(C, O, P, Q):
    h = cpu_conv_1x1.conv1x1_config(C, O, P, Q, T)
    return {"tile": Ot([h["mr"], h["nr"]]), "rb": Ot(h["rb"]), "ob_tiles": Ot(h["ob"] // h["mr"])}


def _few_channels_knobs(O, Q):
    h = cpu_conv_few_channels.few_channels_config(O, Q, T)
    return {"tile": Ot([h["ot"], h["xv"]])}


def _ints(shape):
    return ("TENSOR", shape, "int32")


def _dense_pack_knobs(M, P, K, nr):
    """The heuristic of schedule_dense_pack (dense_pack_config, the L2-eighth chunk, the register
    tile of the panel width, column blocks of whole panels)."""
    info = cpu.cpu_info(T)
    h = cpu.dense_pack_config(M, P * nr, K, T)
    kc = cpu.panel_chunk(K, nr, info, hi=cpu.chunk_target(info))
    kc = kc if K % kc == 0 else h["kc"]
    mr = cpu.register_tile(M, nr, info, max_vectors=nr // info.lanes, pad_ok=True)[0]
    d = max(1, cpu.col_block_target(info, kc) // nr)
    while P % d:
        d -= 1
    return {"mr": Ot(mr), "kc": Ot(kc), "nb_panels": Ot(d),
            "mb_tiles": Ot(cpu._block(M, mr, cpu.row_block_target(info, kc)) // mr),
            "parallel": Ot("blocks")}


def _attention_knobs(queries, keys, D, Dv):
    h = cpu_attention.attention_config(queries, keys, D, Dv, T)
    return {"qb": Ot(h["qb"]), "kc2": Ot(h["kc2"])}


# the templates of the other CPU schedules (args as their tuning test uses them too)
NEW_CASES = [
    ("softmax", "topi.rows", ("softmax", _tensor((4, 64)), (1,)),
     {"accumulators": Ot(cpu_rows.ACCUMULATORS)}),
    ("layer_norm", "topi.rows", ("layer_norm", _tensor((4, 64)), (1,)),
     {"accumulators": Ot(cpu_rows.ACCUMULATORS)}),
    ("reduce_rows", "topi.reduce", ("argmax", _tensor((8, 256)), (1,), False),
     {"accumulators": Ot(cpu_reduce.ROW_ACCUMULATORS)}),
    ("reduce_columns", "topi.reduce", ("sum", _tensor((16, 64)), (0,), False),
     {"column_vectors": Ot(cpu_reduce.COLUMN_VECTORS),
      "column_block_kb": Ot(cpu_reduce.COLUMN_BLOCK_BYTES // 1024)}),
    ("pool_NCHWc", "topi.pool2d", (_tensor((1, 2, 8, 8, 8)), (3, 3), (2, 2), (1, 1, 1, 1), "max"),
     {"parallel": Ot("rows"), "unroll": Ot(False)}),
    ("winograd_nchw", "topi.conv2d_winograd_nchw",
     (_tensor((1, 8, 8, 8)), _tensor((16, 8, 3, 3)), (1, 1, 1, 1), 2),
     _winograd_knobs(1, 4, 4, 8, 16)),
    ("winograd_nchw_s2", "topi.conv2d_winograd_nchw",
     (_tensor((1, 8, 16, 16)), _tensor((16, 8, 3, 3)), (1, 1, 1, 1), 2, 2, 1),
     _winograd_knobs(1, 4, 4, 32, 16)),
    ("winograd_nchw_dilated", "topi.conv2d_winograd_nchw",
     (_tensor((1, 8, 12, 12)), _tensor((16, 8, 3, 3)), (2, 2, 2, 2), 2, 1, 2),
     _winograd_knobs(4, 3, 3, 8, 16)),
    ("winograd_nchw_5x5", "topi.conv2d_winograd_nchw",
     (_tensor((1, 8, 10, 10)), _tensor((16, 8, 5, 5)), (2, 2, 2, 2), 2, 1, 1),
     _winograd_knobs(1, 5, 5, 8, 16)),
    ("winograd_NCHWc", "topi.conv2d_winograd_NCHWc",
     (_tensor((1, 1, 8, 8, 8)), _tensor((2, 1, 3, 3, 8, 8)), (1, 1, 1, 1), 2),
     _winograd_knobs(1, 4, 4, 8, 16)),
    ("conv1x1", "topi.conv2d_nchw", (_tensor((1, 16, 8, 8)), _tensor((32, 16, 1, 1)), (1, 1),
                                     (0, 0, 0, 0), (1, 1)), _conv1x1_knobs(16, 32, 8, 8)),
    ("attention_causal", "topi.attention", (_tensor((1, 2, 24, 16)), _tensor((1, 2, 32, 16)),
                                            _tensor((1, 2, 32, 16)), True),
     _attention_knobs(24, 32, 16, 16)),
    ("conv_few_channels", "topi.conv2d_nchw", (_tensor((1, 3, 16, 16)), _tensor((8, 3, 3, 3)),
                                               (2, 2), (1, 1, 1, 1), (1, 1)),
     _few_channels_knobs(8, 8)),
    ("sparse_pool", "topi.sparse_pool", ("sparse_lengths_sum", _tensor((1000, 64)),
                                         _ints((400,)), _ints((10,))),
     {"vectors": Ot(8), "prefetch": Ot(cpu_sparse.prefetch_rows(64 * 4)), "unroll_rows": Ot(1)}),
    ("dense_pack", "topi.dense_pack", (_tensor((64, 96)), _tensor((6, 96, 8)), 44),
     _dense_pack_knobs(64, 6, 96, 8)),
    ("depthwise_NCHWc", "topi.depthwise_conv2d_NCHWc",
     (_tensor((1, 2, 12, 12, 8)), _tensor((2, 3, 3, 8)), (1, 1), (1, 1, 1, 1), (1, 1)),
     {"tile_ow": Ot(cpu.conv_NCHWc_config(12, 12, 8, T)["reg_w"]), "parallel": Ot("rows")}),
    ("pool_nchw", "topi.pool2d", (_tensor((1, 4, 12, 12)), (3, 3), (2, 2), (1, 1, 1, 1), "max"),
     {"parallel": Ot("n"), "vectors": Ot(0)}),       # the default schedule
]

CASES = [
    ("dense_gemv", "topi.dense", (_tensor((1, 64)), _tensor((40, 64))), _dense_knobs(1, 40, 64)),
    ("dense_rows", "topi.dense", (_tensor((12, 64)), _tensor((40, 64))),
     _dense_knobs(12, 40, 64)),
    # N = 36: the weight blocks would pad it by a third (WEIGHT_BLOCKS_MAX_PADDING)
    ("dense_gemm", "topi.dense", (_tensor((400, 96)), _tensor((36, 96))),
     _dense_knobs(400, 36, 96)),
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
     {"tile_ow": Ot(cpu.depthwise_row_tile(12, cpu.cpu_info(T).lanes)), "parallel": Ot("blocks"),
      "tile_oh": Ot(cpu.depthwise_rows(12, cpu.depthwise_row_tile(12, 8) // 8,
                                       cpu.cpu_info(T)))}),
    # N a multiple of the tile width: the weight packed per block (no padding)
    ("dense_weight_blocks", "topi.dense", (_tensor((400, 96)), _tensor((48, 96))),
     _weight_blocks_knobs(cpu.dense_weight_blocks_config(400, 48, 96, T))),
] + NEW_CASES


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
    a, w = rng.random((400, 96), "float32"), rng.random((36, 96), "float32")
    np.testing.assert_allclose(f(a, w), a @ w.T, rtol=1e-4, atol=1e-4)
    task = autotvm.task.create("topi.conv2d_nchw", args=CASES[4][2], target=T)
    cfg = _with_knobs(task, tile_ic=8, tile_oc=16, tile_ow=3, parallel="blocks",
                      unroll_kw=True)
    s, (D, K, O), inputs = task.instantiate_measured(cfg)
    f = te.build(s, [D, K, O], target=T)
    d, k = rng.random((1, 16, 10, 10), "float32"), rng.random((16, 16, 3, 3), "float32")
    # measured as a network runs it: the weight packed outside, in the config's blocks
    drawn, pack = inputs[1]
    assert drawn == _tensor((16, 16, 3, 3)) and K.shape == (1, 2, 3, 3, 8, 16)
    np.testing.assert_allclose(f(d, pack(k)), testing.conv2d_nchw_ref(d, k, 1, 1), rtol=1e-4,
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


# the schedules whose knobs change the loop structure most (the test budget: the knobs of
# the row ops, reductions, pooling and the stem change tiles and unrolling, checked by their
# sources above)
TUNED = ["winograd_nchw", "conv1x1"]


@pytest.fixture(scope="module")
def measure():
    """One measuring process for the tuning tests of this module (started once)."""
    runner = autotvm.LocalRunner(number=1, repeat=1, timeout=60, check_correctness=True)
    yield autotvm.measure_option(builder=autotvm.LocalBuilder(n_parallel=2), runner=runner)
    runner.close()


@pytest.mark.parametrize("case", [c for c in NEW_CASES if c[0] in TUNED], ids=TUNED)
def test_tuning_the_other_templates_measures_correct_kernels(case, measure, tmp_path):
    """Two trials of each (the heuristic first, then another point), both built, checked
    against the portable-C reference and timed; the best record drives topi.schedule."""
    _, template, args, _ = case
    task = autotvm.task.create(template, args=args, target=T)
    log = str(tmp_path / "t.log")
    tuner = autotvm.tuner.RandomTuner(task, seed=1)
    tuner.tune(n_trial=2, measure_option=measure, callbacks=[autotvm.callback.log_to_file(log)])
    recs = list(autotvm.record.load_from_file(log))
    assert len({inp.config.index for inp, _ in recs}) == 2
    assert recs[0][0].config.index == task.fallback_index
    assert [res.error_no for _, res in recs] == [autotvm.MeasureErrorNo.NO_ERROR] * len(recs)
    s_best, t_best = task.instantiate(tuner.best_config)
    with autotvm.apply_history_best(log), target_scope(T):
        s, tensors = task.func(*task.args)
    assert emit_source(s, tensors, T) == emit_source(s_best, t_best, T)


def _matmul_knobs(M, N, K):
    from texpr.lang.expr import Const
    bm, bn, bk, tm, tn = gpu.matmul_config(Const(M, "int32"), Const(N, "int32"),
                                           Const(K, "int32"))
    return {"tile": Ot([bm, bn, tm, tn]), "bk": Ot(bk)}


GPU_CASES = [
    ("dense", "topi.dense", (_tensor((64, 64)), _tensor((64, 64))), _matmul_knobs(64, 64, 64)),
    ("batch_matmul", "topi.batch_matmul", (_tensor((2, 64, 32)), _tensor((2, 64, 32))),
     _matmul_knobs(64, 64, 32)),
    ("conv2d_nchw", "topi.conv2d_nchw", CASES[4][2],
     {"tile_f": Ot([gpu.CONV_TILE["f"], gpu.CONV_TILE["ft"]]),
      "tile_yx": Ot([gpu.CONV_TILE["y"], gpu.CONV_TILE["x"]]), "rc": Ot(gpu.CONV_TILE["rc"])}),
    ("depthwise", "topi.depthwise_conv2d_nchw", CASES[6][2],
     {"threads": Ot(gpu.DEFAULT_THREADS)}),
    ("pool", "topi.pool2d", (_tensor((1, 2, 8, 8)), (3, 3), (2, 2), (1, 1, 1, 1), "max"),
     {"threads": Ot(gpu.DEFAULT_THREADS)}),
    ("softmax_long_rows", "topi.rows", ("softmax", _tensor((4, 512)), (1,)), {"threads": Ot(128)}),
]


@pytest.mark.parametrize("name,template,args,knobs", GPU_CASES, ids=[c[0] for c in GPU_CASES])
def test_gpu_fallback_is_the_heuristic(name, template, args, knobs):
    """The GPU schedules' knobs (OpenCL; CUDA runs the same schedule): the fallback is the
    heuristic's tile / thread count, a point of the space, and another point differs."""
    G = "opencl"
    task = autotvm.task.create(template, args=args, target=G)
    index = task.config_space.index_of(knobs)
    assert index is not None and task.fallback_index == index
    s, tensors = task.instantiate(task.config_space.get(index))
    with target_scope(G):
        s2, tensors2 = task.func(*task.args)
    assert emit_source(s2, tensors2, G) == emit_source(s, tensors, G)
    s3, tensors3 = task.instantiate(task.config_space.get((index + 1) % len(task.config_space)))
    assert emit_source(s3, tensors3, G) != emit_source(s, tensors, G)


def test_cost_model_features_separate_the_conv_loop_orders():
    """The loop-program features (not only the knob values) of a strided 3x3 convolution
    tell the heuristic's loop order from unroll_kw's, and the stem's register tiles apart:
    the cost model can learn which is faster."""
    from texpr.autotvm.feature import config_features
    task = autotvm.task.create("topi.conv2d_nchw", (_tensor((1, 16, 12, 12)),
                                                    _tensor((16, 16, 3, 3)), (2, 2),
                                                    (1, 1, 1, 1), (1, 1)), T)
    base = task.config_space.get(task.fallback_index)
    n_knobs = len(base.get_flatten_feature())
    kw = _with_knobs(task, unroll_kw=True)
    assert list(config_features(task, base)[:-n_knobs]) != \
        list(config_features(task, kw)[:-n_knobs])
    stem = autotvm.task.create("topi.conv2d_nchw", _case("conv_few_channels")[2], T)
    a, b = (stem.config_space.get(i) for i in (0, len(stem.config_space) - 1))
    assert list(config_features(stem, a)[:-2]) != list(config_features(stem, b)[:-2])


def test_tuning_a_gpu_template_measures_on_opencl(measure, tmp_path):
    """An OpenCL candidate (PoCL's CPU device where there is no GPU): built (lowered and
    emitted) by the builder, compiled and timed with the device's profiling events in the
    measuring process, checked against the reference; the record drives topi.schedule.
    (One trial: the other tiles' correctness is tests/targets/test_gpu_opencl.py's.)"""
    G = "opencl"
    task = autotvm.task.create("topi.dense", (_tensor((16, 16)), _tensor((16, 16))), G)
    log = str(tmp_path / "gpu.log")
    tuner = autotvm.tuner.RandomTuner(task, seed=1)
    tuner.tune(n_trial=1, measure_option=measure, callbacks=[autotvm.callback.log_to_file(log)])
    ((inp, res),) = list(autotvm.record.load_from_file(log))
    assert res.error_no == autotvm.MeasureErrorNo.NO_ERROR, res
    assert len(res.costs) == 1 and 0 < res.costs[0] < 1
    other = task.config_space.get((inp.config.index + 1) % len(task.config_space))
    s_other, t_other = task.instantiate(other)
    with autotvm.apply_history_best(log), target_scope(G):
        s, tensors = task.func(*task.args)
    # the record (the fallback, here) is what topi.schedule applies
    assert emit_source(s, tensors, G) != emit_source(s_other, t_other, G)
    s_rec, t_rec = task.instantiate(inp.config)
    assert emit_source(s, tensors, G) == emit_source(s_rec, t_rec, G)


def _case(name):
    return next(c for c in CASES if c[0] == name)


def test_new_templates_tuned_variants_compute_what_numpy_does():
    """The knobs of the sparse pooling, dense_pack, depthwise NCHWc and NCHW pooling
    templates away from the heuristic build kernels that still compute the operator (one
    build each)."""
    import numpy as np
    import texpr as te
    from texpr.topi import testing
    rng = np.random.default_rng(0)

    def build(name, **knobs):
        case = _case(name)
        task = autotvm.task.create(case[1], args=case[2], target=T)
        s, tensors = task.instantiate(_with_knobs(task, **knobs))
        return te.build(s, tensors, target=T)
    f = build("sparse_pool", vectors=3, prefetch=4, unroll_rows=4)
    a = rng.random((1000, 64), "float32")
    i = rng.integers(0, 1000, 400).astype("int32")
    n = rng.integers(0, 41, 10).astype("int32")
    np.testing.assert_allclose(f(a, i, n), testing.sparse_lengths_sum_ref(a, i, n), rtol=1e-5,
                               atol=1e-5)
    f = build("dense_pack", mr=3, kc=32, nb_panels=2, mb_tiles=2, parallel="rows")
    x, w = rng.random((64, 96), "float32"), rng.random((44, 96), "float32")
    np.testing.assert_allclose(f(x, testing.pack_dense_weight_ref(w, 8)), x @ w.T, rtol=1e-4,
                               atol=1e-4)
    f = build("depthwise_NCHWc", tile_ow=5, parallel="blocks")
    d, k = rng.random((1, 2, 12, 12, 8), "float32"), rng.random((2, 3, 3, 8), "float32")
    np.testing.assert_allclose(f(d, k), testing.depthwise_conv2d_NCHWc_ref(d, k, 1, 1),
                               rtol=1e-5, atol=1e-5)
    f = build("pool_nchw", parallel="ncy", vectors=2)
    d = rng.standard_normal((1, 4, 12, 12)).astype("float32")
    np.testing.assert_allclose(f(d), testing.pool2d_ref(d, 3, 2, 1, "max"), rtol=1e-6)


def test_measured_inputs_made_outside_the_kernel(measure):
    """Candidates measured as a network runs them: the conv weight packed outside the call in
    the config's blocks (the reference's are the space's first, (8, 8): another layout of the
    same drawn weight), checked against the portable-C reference; the sparse pooling's
    indices are spread over the table in bags of equal length."""
    conv = autotvm.task.create("topi.conv2d_nchw", args=CASES[4][2], target=T)
    inp = autotvm.MeasureInput(T, conv, _with_knobs(conv, tile_ic=16, tile_oc=8))
    builder, runner = measure["builder"], measure["runner"]
    builder.set_task(conv)
    runner.set_task(conv)
    (built,) = builder.build([inp])
    assert built.artifact.inputs[1][0] == _tensor((16, 16, 3, 3))
    assert runner.reference.inputs[1][1].keywords == {"ic": 8, "oc": 8}
    (res,) = runner.run([inp], [built])
    assert res.error_no == autotvm.MeasureErrorNo.NO_ERROR, res
    sparse = autotvm.task.create("topi.sparse_pool", args=_case("sparse_pool")[2], target=T)
    _, _, inputs = sparse.instantiate_measured(sparse.config_space.get(0))
    (_, make_i), (_, make_n) = inputs[1:3]
    import numpy as np
    i, n = make_i(np.zeros(400, "int32")), make_n(np.zeros(10, "int32"))
    assert i.dtype == np.int32 and 0 <= i.min() and i.max() < 1000 and i.max() >= 500
    assert list(n) == [40] * 10


def test_measure_input_refuses_what_is_not_a_tensor():
    import texpr as te

    @autotvm.template("test.measure_input_bad")
    def bad(n):
        A = te.placeholder((n,), name="A")
        B = te.compute((n,), lambda i: A[i] + 1.0, name="B")
        autotvm.task.measure_input("A", abs)
        autotvm.get_config().define_knob("k", [0, 1])
        return te.create_schedule(B.op), [A, B]
    task = autotvm.task.create("test.measure_input_bad", (8,), target=T)     # not measured
    with pytest.raises(autotvm.TuningError, match="measure_input: expected the template's "
                                                  "argument tensor, got 'A'"):
        task.instantiate_measured(task.config_space.get(0))


def test_extract_from_program_finds_packed_layers_and_sparse_pooling():
    """A packed conv layer gives the conv2d_nchw task whose record it reads (its weight's
    blocks undone), dense_pack and the sparse pooling their own."""
    import texpr as te
    from texpr import topi
    x = te.placeholder((1, 16, 10, 10), name="x")
    y = topi.nn.conv2d_nchw_packed(x, te.placeholder((1, 2, 3, 3, 8, 16), name="w"), 1, 1)
    z = topi.nn.dense_pack(te.placeholder((40, 64), name="d"),
                           te.placeholder((6, 64, 8), name="wp"), units=44)
    sp = topi.sparse.sparse_lengths_sum(te.placeholder((1000, 64), name="t"),
                                        te.placeholder((400,), "int32", name="i"),
                                        te.placeholder((10,), "int32", name="n"))
    tasks = autotvm.task.extract_from_program([y, z, sp], target=T)
    assert [(t.name, t.args) for t in tasks] == [
        ("topi.conv2d_nchw", CASES[4][2]),
        ("topi.dense_pack", (_tensor((40, 64)), _tensor((6, 64, 8)), 44)),
        ("topi.sparse_pool", ("sparse_lengths_sum", _tensor((1000, 64)), _ints((400,)),
                              _ints((10,))))]


def test_fallback_follows_the_thread_count_the_kernel_is_built_for(monkeypatch):
    """A task created at one thread count and tuned at another measures the heuristic of
    the count it is tuned at: ResNet-50's 256x56x56->128 1x1 splits its rows in blocks of
    8 at 1 thread and of 4 at 2 (the blocks shared among the threads)."""
    args = (_tensor((1, 256, 56, 56)), _tensor((128, 256, 1, 1)), (1, 1), (0, 0, 0, 0), (1, 1))
    monkeypatch.setenv("TEXPR_NUM_THREADS", "2")
    task = autotvm.task.create("topi.conv2d_nchw", args=args, target="avx512")
    at2 = task.fallback_index
    for threads, want in (("1", 1), ("2", 2)):
        monkeypatch.setenv("TEXPR_NUM_THREADS", threads)
        with target_scope("avx512"):
            s, tensors = task.func(*task.args)      # no records: the heuristic
        fb = task.config_space.get(task.fallback_index)
        assert emit_source(*task.instantiate(fb), "avx512") == \
            emit_source(s, tensors, "avx512"), f"{want} thread(s)"
    monkeypatch.setenv("TEXPR_NUM_THREADS", "1")
    assert task.fallback_index != at2
    task.fallback_index = 7                           # set: fixed at every count
    assert task.fallback_index == 7
    monkeypatch.setenv("TEXPR_NUM_THREADS", "2")
    assert task.fallback_index == 7
