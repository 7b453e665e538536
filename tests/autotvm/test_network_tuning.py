"""Whole-network tuning: the distinct layers of a small network tuned once each into one
log (one trial each: the heuristic), a second run skips them (resume), and the network's
layers are then scheduled from the log."""
import pytest

import texpr as te
from texpr import autotvm, topi
from texpr.targets.build import emit_source

T = "native"


#: channels of the network's convolutions: one vector of the target's lanes (8 on AVX2, 16
#: on AVX-512), so its schedule reads the weight in channel blocks packed once (half a
#: vector of output channels is padded to a whole one per call: no blocks, no knobs for them)
CH = topi.cpu.cpu_info(T).lanes


def _network():
    x = te.placeholder((1, CH, 6, 6), name="x")
    w1 = te.placeholder((CH, CH, 3, 3), name="w1")
    w2 = te.placeholder((CH, CH, 3, 3), name="w2")
    y = topi.nn.conv2d_nchw(topi.nn.relu(topi.nn.conv2d_nchw(x, w1, 1, 1)), w2, 1, 1)
    wd = te.placeholder((4, CH * 6 * 6), name="wd")
    return topi.nn.dense(topi.reshape(y, (1, CH * 6 * 6)), wd)


def test_tune_network_tunes_each_distinct_layer_once_and_resumes(tmp_path):
    log = str(tmp_path / "net.db")
    option = autotvm.measure_option(
        builder=autotvm.LocalBuilder(n_parallel=1),
        runner=autotvm.LocalRunner(number=1, repeat=1, timeout=10))
    tasks = autotvm.tune_network(_network(), n_trial=1, log=log, target=T, tuner="random",
                                 measure_option=option, progress=False)
    assert [t.name for t in tasks] == ["topi.conv2d_nchw", "topi.dense"]
    recs = autotvm.Database(log).load()
    assert sorted(inp.task.workload for inp, _ in recs) == sorted(t.workload for t in tasks)
    assert all(res.error_no == 0 for _, res in recs)
    # every layer has a record: nothing is tuned again
    assert autotvm.tune_tasks(tasks, n_trial=1, log=log, measure_option=option,
                              progress=False) == {}
    # the conv layer built under the log as a network builds it (the weight packed once in
    # the record's blocks, conv2d_nchw_packed) is the recorded (heuristic) config
    conv = tasks[0]
    s_rec, t_rec = conv.instantiate(conv.config_space.get(conv.fallback_index))
    with autotvm.apply_history_best(log):
        blocks = topi.cpu.conv2d_weight_blocks((1, CH, 6, 6), (CH, CH, 3, 3), 1, 1, 1, T)
        assert blocks is not None                   # the weight is packed in channel blocks
        ic, oc = blocks
        w = te.placeholder((CH // oc, CH // ic, 3, 3, ic, oc), name="kernel")
        out = topi.nn.conv2d_nchw_packed(t_rec[0], w, 1, 1)
        s = topi.schedule(out, T)
    assert tuple(t_rec[1].shape) == tuple(w.shape)
    assert emit_source(s, [t_rec[0], w, out], T) == emit_source(s_rec, t_rec, T)


def test_records_of_another_thread_count_do_not_skip_a_task(tmp_path, monkeypatch):
    """A log tuned at 1 thread leaves the tuning at 2 threads to do (each count's kernels
    split their work for it); at 1 thread again the task is skipped."""
    log = str(tmp_path / "net.db")
    option = autotvm.measure_option(
        builder=autotvm.LocalBuilder(n_parallel=1),
        runner=autotvm.LocalRunner(number=1, repeat=1, timeout=10))
    task = autotvm.task.create("topi.dense", (("TENSOR", (4, 16), "float32"),
                                              ("TENSOR", (8, 16), "float32")), T)
    for threads, tuned in (("1", True), ("2", True), ("1", False), ("2", False)):
        monkeypatch.setenv("TEXPR_NUM_THREADS", threads)
        out = autotvm.tune_tasks([task], n_trial=1, log=log, tuner="random",
                                 measure_option=option, progress=False, confirm=0)
        assert bool(out) == tuned, threads
    assert {r.threads for _, r in autotvm.Database(log).load()} == {1, 2}


def test_tune_tasks_refuses_a_bad_tuner_or_log(tmp_path):
    task = autotvm.task.create("topi.dense", (("TENSOR", (4, 16), "float32"),
                                              ("TENSOR", (8, 16), "float32")), T)
    with pytest.raises(autotvm.TuningError, match="tuner must be one of"):
        autotvm.tune_tasks([task], 1, str(tmp_path / "x.log"), tuner="annealing")
    with pytest.raises(autotvm.TuningError, match="log must be a file path"):
        autotvm.tune_tasks([task], 1, log=None)


def test_graph_conv_packs_its_weight_in_a_records_blocks(tmp_path):
    """Graph.conv2d under apply_history_best packs the constant weight once in the blocks of
    the conv2d_nchw record (not the heuristic's), builds its packed kernel with the record's
    other knobs (a kernel of its own, not the untuned graph's from the shared cache) and
    computes the convolution."""
    import numpy as np
    from texpr.topi import testing
    from texpr.topi.graph import Graph
    from texpr.schedule.config_space import OtherOptionEntity as Ot
    args = (("TENSOR", (1, 16, 6, 6), "float32"), ("TENSOR", (16, 16, 3, 3), "float32"), (1, 1),
            (1, 1, 1, 1), (1, 1))
    A = "avx2"          # the blocks below are vectors of 8
    task = autotvm.task.create("topi.conv2d_nchw", args, A)
    heuristic = task.config_space.get(task.fallback_index)
    assert (heuristic["tile_ic"].val, heuristic["tile_oc"].val) != (16, 8)
    ents = dict(heuristic._entity_map, tile_ic=Ot(16), tile_oc=Ot(8), tile_ow=Ot(2))
    config = task.config_space.get(task.config_space.index_of(ents))
    log = str(tmp_path / "conv.log")
    autotvm.record.save_to_file([(autotvm.MeasureInput(A, task, config),
                                  autotvm.MeasureResult([1e-5], 0, 1.0, 0.0))], log)
    rng = np.random.default_rng(0)
    w = rng.random((16, 16, 3, 3), "float32")
    with autotvm.apply_history_best(log):
        g = Graph()
        y = g.conv2d(g.input("x", (1, 16, 6, 6)), w, stride=1, padding=1, target=A)
    ((kernel, (_, wv), _),) = g.steps
    assert wv.shape == (2, 1, 3, 3, 16, 8)          # [O/oc, C/ic, R, S, ic, oc] of the record
    assert "tile_ow" in repr(g.kernels._kernels.keys())
    x = rng.random((1, 16, 6, 6), "float32")
    (out,) = g.compile(y)(x=x)
    np.testing.assert_allclose(out, testing.conv2d_nchw_ref(x, w, 1, 1), rtol=1e-4, atol=1e-4)


def test_a_resnet_graph_is_tuned_through_its_kernels(tmp_path):
    """ResNet50Builder.kernel_outputs give the network's tuning tasks (its direct NCHWc
    convolutions and the classifier); built under apply_history_best (a fresh kernel cache),
    the network runs a recorded config that is not the heuristic's, and computes the same."""
    import numpy as np
    from texpr.autotvm.measure import MeasureErrorNo, MeasureInput, MeasureResult
    from texpr.topi.graph import KernelCache
    from texpr.topi.models import ResNet50Builder
    tiny = dict(image_size=32, width=8, blocks=(1, 1, 1, 1), classes=10, target=T)
    base = ResNet50Builder(cache=KernelCache(), **tiny)
    tasks = autotvm.task.extract_from_program(base.kernel_outputs, T)
    names = {t.name for t in tasks}
    assert "topi.conv2d_NCHWc" in names and len(tasks) >= 4
    conv = next(t for t in tasks if t.name == "topi.conv2d_NCHWc")
    other = conv.config_space.get((conv.fallback_index + 1) % len(conv.config_space))
    log = str(tmp_path / "net.log")
    autotvm.record.save_to_file([(MeasureInput(T, conv, other), MeasureResult(
        [1e-6], MeasureErrorNo.NO_ERROR, 0.0, 0.0, confirmed=True))], log)
    with autotvm.apply_history_best(log):
        tuned = ResNet50Builder(cache=KernelCache(), **tiny)
    sources = {k.source for k in base.cache._kernels.values()}
    changed = [k for k in tuned.cache._kernels.values() if k.source not in sources]
    assert len(changed) == 1                        # the one layer with a record
    image = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype("float32")
    want = base.net(image)[0].copy()
    np.testing.assert_allclose(tuned.net(image)[0], want, rtol=1e-4,
                               atol=1e-4 * np.abs(want).max())
