"""texpr.autotvm: schedule templates with tuning knobs, tuners, measurement and records,
under AutoTVM's names.

    @autotvm.template("matmul")
    def matmul(N, L, M, dtype): ...; cfg = autotvm.get_config(); cfg.define_split(...)
    task = autotvm.task.create("matmul", args=(512, 512, 512, "float32"), target="native")
    tuner = autotvm.tuner.XGBTuner(task)
    tuner.tune(n_trial=64, measure_option=autotvm.measure_option(
        builder=autotvm.LocalBuilder(), runner=autotvm.LocalRunner(number=5)),
        callbacks=[autotvm.callback.log_to_file("matmul.log")])
    with autotvm.apply_history_best("matmul.log"):
        s, args = matmul(512, 512, 512, "float32")

topi's schedules (CPU: dense, batch_matmul, conv2d NCHW / NCHWc / 1x1 / stem, depthwise,
Winograd, pooling, the row operators, reductions; GPU: tiled matmul, conv2d, per-element
threads, softmax) are templates too ("topi.dense", ...): a record of them is used by
topi.schedule inside apply_history_best. plot_tuning_curve draws the best GFLOP/s per trial.
"""
from ..schedule.config_space import (AnnotateEntity, ConfigEntity, ConfigError, ConfigSpace,
                                     FallbackConfig, OtherOptionEntity, ReorderEntity,
                                     SplitEntity)
from ..schedule.dispatch import ApplyConfig, DispatchContext
from . import callback, record, task, tuner
from .dispatch import ApplyHistoryBest, apply_history_best
from .measure import (BuildResult, Builder, LocalBuilder, LocalRunner, MeasureErrorNo,
                      MeasureInput, MeasureResult, Runner, measure_option)
from .network import tune_network, tune_tasks
from .plot import plot_tuning_curve
from .record import Database
from .ray_runner import RayRunner
from .task import TuningError, get_config, template

FallbackConfigEntity = FallbackConfig       # TVM's name

__all__ = ["template", "get_config", "task", "tuner", "callback", "record", "measure_option",
           "LocalBuilder", "LocalRunner", "Builder", "Runner", "MeasureInput", "MeasureResult",
           "MeasureErrorNo", "BuildResult", "ApplyHistoryBest", "apply_history_best",
           "ApplyConfig", "DispatchContext", "ConfigSpace", "ConfigEntity", "FallbackConfig",
           "FallbackConfigEntity", "ConfigError", "SplitEntity", "ReorderEntity",
           "AnnotateEntity", "OtherOptionEntity", "Database", "TuningError", "RayRunner",
           "plot_tuning_curve", "tune_tasks", "tune_network"]
