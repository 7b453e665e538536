"""CPU schedules of the channels-last convolutions (conv2d_hwcn, conv2d_nhwc): simple and
correct rather than tuned. The reduction runs outside a contiguous inner data axis, which is
vectorized: HWCN's batch axis when it holds a vector, else its output-channel axis."""
from ..lang.expr import Const
from .schedules import CPU_TARGETS, register

VECTOR = 8


def _const(st, iv):
    e = st.extent_of(iv)
    return e.value if isinstance(e, Const) else None


@register("conv2d_hwcn", CPU_TARGETS)
@register("conv2d_nhwc", CPU_TARGETS)
def schedule_conv_channels_last(s, st, target):
    data = [iv for iv in st.leaf_iter_vars if iv.kind != "reduce"]
    red = [iv for iv in st.leaf_iter_vars if iv.kind == "reduce"]
    inner = data[-1]
    if (_const(st, inner) or 0) < VECTOR and st.op.tag == "conv2d_hwcn":
        inner = data[-2]          # a small batch: the output channels run innermost
    outer = [iv for iv in data if iv is not inner]
    st.reorder(*outer, *red, inner)
    if (_const(st, inner) or 0) >= VECTOR:
        _, vec = st.split(inner, factor=VECTOR)
        st.vectorize(vec)
    st.parallel(outer[0])
