"""topi's CPU schedules as tuning templates: "topi.dense", "topi.batch_matmul",
"topi.conv2d_nchw", "topi.conv2d_NCHWc", "topi.depthwise_conv2d_nchw". Each builds the
operator from its workload arguments and schedules it with topi.schedule, whose schedule
reads its knobs from the config (topi/cpu_tuning.py); a record of the task applies to any
graph with that operator and shape (`with autotvm.apply_history_best(log):
topi.schedule(outs, target)`).

Tensor arguments are ("TENSOR", shape, dtype) (or placeholders, normalised to that)."""
from .. import topi
from ..lang.tensor import placeholder
from ..schedule.dispatch import current_target
from .task import TuningError, template


def _tensor(spec, name):
    if not (isinstance(spec, tuple) and len(spec) == 3 and spec[0] == "TENSOR"):
        raise TuningError(f"{name}: expected ('TENSOR', shape, dtype), got {spec!r}")
    return placeholder(tuple(spec[1]), dtype=spec[2], name=name)


def _schedule(out):
    return topi.schedule(out, target=current_target() or "native")


@template("topi.dense")
def dense(data, weight):
    A, W = _tensor(data, "data"), _tensor(weight, "weight")
    C = topi.nn.dense(A, W)
    return _schedule(C), [A, W, C]


@template("topi.batch_matmul")
def batch_matmul(x, y):
    X, Y = _tensor(x, "x"), _tensor(y, "y")
    C = topi.nn.batch_matmul(X, Y)
    return _schedule(C), [X, Y, C]


@template("topi.conv2d_nchw")
def conv2d_nchw(data, kernel, strides, padding, dilation=(1, 1)):
    A, W = _tensor(data, "data"), _tensor(kernel, "kernel")
    C = topi.nn.conv2d_nchw(A, W, strides, padding, dilation)
    return _schedule(C), [A, W, C]


@template("topi.conv2d_NCHWc")
def conv2d_NCHWc(data, kernel, strides, padding, dilation=(1, 1)):
    A, W = _tensor(data, "data"), _tensor(kernel, "kernel")
    C = topi.nn.conv2d_NCHWc(A, W, strides, padding, dilation)
    return _schedule(C), [A, W, C]


@template("topi.depthwise_conv2d_nchw")
def depthwise_conv2d_nchw(data, kernel, strides, padding, dilation=(1, 1)):
    A, W = _tensor(data, "data"), _tensor(kernel, "kernel")
    C = topi.nn.depthwise_conv2d_nchw(A, W, strides, padding, dilation)
    return _schedule(C), [A, W, C]
