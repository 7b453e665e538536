"""TVM's topi.generic.schedule_<op>(outs): every one is topi.schedule, which picks each
stage's registered schedule by its tag. TVM reads the target from a `with Target` scope;
texpr takes it as an argument (default "native", as topi.schedule)."""
from .schedules import schedule

_OPS = ("conv2d_nchw", "conv2d_nhwc", "conv2d_hwcn", "conv2d_NCHWc", "depthwise_conv2d_nchw",
        "dense", "batch_matmul", "pool", "adaptive_pool", "injective", "elemwise", "broadcast",
        "reduce", "softmax", "extern")


def _make(op):
    def schedule_op(outs, target="native"):
        return schedule(outs, target)
    schedule_op.__name__ = schedule_op.__qualname__ = f"schedule_{op}"
    schedule_op.__doc__ = f"The registered schedule of a {op} graph (topi.schedule)."
    return schedule_op


for _op in _OPS:
    globals()[f"schedule_{_op}"] = _make(_op)

__all__ = [f"schedule_{op}" for op in _OPS]
