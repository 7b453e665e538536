"""topi's schedules as tuning templates: "topi.dense", "topi.dense_pack",
"topi.batch_matmul", "topi.conv2d_nchw" (its 1x1 and few-channel schedules included),
"topi.conv2d_NCHWc", "topi.depthwise_conv2d_nchw" / "_NCHWc", "topi.conv2d_winograd_nchw" /
"_NCHWc", "topi.rows" (softmax, log_softmax, layer_norm, rms_norm), "topi.reduce",
"topi.pool2d" (NCHW and NCHWc), "topi.sparse_pool" (the sparse_lengths_* ops),
"topi.attention" (CPU); on "cuda" / "opencl" dense, batch_matmul, conv2d_nchw,
depthwise_conv2d_nchw, pool2d and softmax tune the GPU schedules. Each builds the operator
from its workload arguments and schedules it with topi.schedule, whose schedule reads its
knobs from the config (topi/cpu_tuning.py); the workload a record holds is the one the
schedule computes from the stage, so a record applies to any graph with that operator and
shape (`with autotvm.apply_history_best(log): topi.schedule(outs, target)`).

Tensor arguments are ("TENSOR", shape, dtype) (or placeholders, normalised to that)."""
from .. import topi
from ..lang.tensor import placeholder
from ..schedule.dispatch import current_target
from .task import TuningError, measure_input, template


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
    """Measured as a network runs it: where the schedule reads the weight in channel blocks
    (topi.cpu.conv2d_weight_blocks: the config's tile_ic / tile_oc), the kernel is
    conv2d_nchw_packed on the weight packed once, outside the call (its argument is the
    packed weight, made from the drawn OIHW one: measure_input), as Graph.conv2d does; the
    record then serves conv2d_nchw and conv2d_nchw_packed layers alike."""
    A, W = _tensor(data, "data"), _tensor(kernel, "kernel")
    blocks = _weight_blocks(data, kernel, strides, padding, dilation)
    if blocks is None:
        C = topi.nn.conv2d_nchw(A, W, strides, padding, dilation)
        return _schedule(C), [A, W, C]
    import functools
    from ..topi.testing import pack_kernel_nchwc_ref
    ic, oc = blocks
    O, Ci, R, S = tuple(kernel[1])
    W = placeholder((O // oc, Ci // ic, R, S, ic, oc), dtype=kernel[2], name="kernel")
    measure_input(W, functools.partial(pack_kernel_nchwc_ref, ic=ic, oc=oc), kernel)
    C = topi.nn.conv2d_nchw_packed(A, W, strides, padding, dilation)
    return _schedule(C), [A, W, C]


def _weight_blocks(data, kernel, strides, padding, dilation):
    """The blocks (ic, oc) a network packs the constant weight of this convolution with on
    the task's target (its config's), or None (read as it lies, or another target)."""
    from ..targets.registry import get_target
    from ..topi.cpu import conv2d_weight_blocks
    from ..topi.schedules import VECTOR_CPU_TARGETS
    from ..topi.util import padding4
    target = current_target() or "native"
    if get_target(target).name not in VECTOR_CPU_TARGETS or kernel[2] != "float32" or \
            data[2] != "float32" or len(tuple(data[1])) != 4 or \
            len(tuple(kernel[1])) != 4 or tuple(kernel[1])[1] != tuple(data[1])[1]:
        return None
    return conv2d_weight_blocks(tuple(data[1]), tuple(kernel[1]), strides,
                                padding4(padding), dilation, target)


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


@template("topi.dense_pack")
def dense_pack(data, packed_weight, units):
    """topi.nn.dense_pack(data [M, K], panels [N/nb, K, nb], units=N): the packed-weight
    dense of topi.graph (the panels are packed once, so the measured kernel has no packing;
    the panel width nb is the argument's, one task per width)."""
    A, Wp = _tensor(data, "data"), _tensor(packed_weight, "packed_weight")
    C = topi.nn.dense_pack(A, Wp, units=int(units))
    return _schedule(C), [A, Wp, C]


@template("topi.depthwise_conv2d_NCHWc")
def depthwise_conv2d_NCHWc(data, kernel, strides, padding, dilation=(1, 1)):
    """topi.nn.depthwise_conv2d_NCHWc (data [N, C/cb, H, W, cb], kernel [C*M/ob, R, S, ob])."""
    A, W = _tensor(data, "data"), _tensor(kernel, "kernel")
    C = topi.nn.depthwise_conv2d_NCHWc(A, W, strides, padding, dilation)
    return _schedule(C), [A, W, C]


#: the ops of the "topi.sparse_pool" template (topi.sparse.<op>)
SPARSE_POOL_OPS = ("sparse_lengths_sum", "sparse_lengths_weighted_sum", "sparse_lengths_mean",
                   "sparse_lengths_sum_8bit_rowwise")


def spread_indices(drawn, rows):
    """The indices a sparse_pool candidate is measured with: spread over the whole table of
    `rows` rows (from a fixed seed), as a model's lookups are, not the few small values
    drawn for integer arguments (which would keep every row in cache)."""
    import numpy as np
    rng = np.random.default_rng(len(drawn))
    return rng.integers(0, rows, drawn.shape).astype(drawn.dtype)


def equal_bags(drawn, total):
    """The lengths a sparse_pool candidate is measured with: bags of equal length that
    together take (nearly) all `total` indices."""
    import numpy as np
    return np.full(drawn.shape, total // max(1, drawn.size), drawn.dtype)


@template("topi.sparse_pool")
def sparse_pool(op, data, indices, lengths):
    """topi.sparse.<op>(data, [weights,] indices, lengths) for op in SPARSE_POOL_OPS
    (sparse_lengths_sum_8bit_rowwise: data the quantised table, scale and bias float32 [V];
    weighted: weights of the table's dtype [L]). Measured on indices spread over the table
    and bags of equal length (measure_input: spread_indices, equal_bags)."""
    import functools
    if op not in SPARSE_POOL_OPS:
        raise TuningError(f"topi.sparse_pool: op must be one of {SPARSE_POOL_OPS}, got {op!r}")
    X, I, Ln = _tensor(data, "data"), _tensor(indices, "indices"), _tensor(lengths, "lengths")
    if len(tuple(data[1])) != 2 or len(tuple(indices[1])) != 1 or len(tuple(lengths[1])) != 1:
        raise TuningError(f"topi.sparse_pool: expected data [V, D], indices [L], lengths [B], "
                          f"got {data[1]}, {indices[1]}, {lengths[1]}")
    V, L = tuple(data[1])[0], tuple(indices[1])[0]
    measure_input(I, functools.partial(spread_indices, rows=V))
    measure_input(Ln, functools.partial(equal_bags, total=L))
    fn = getattr(topi.sparse, op)
    if op == "sparse_lengths_weighted_sum":
        W = placeholder((L,), dtype=data[2], name="weights")
        ins = [X, W, I, Ln]
    elif op == "sparse_lengths_sum_8bit_rowwise":
        ins = [X, placeholder((V,), name="scale"), placeholder((V,), name="bias"), I, Ln]
    else:
        ins = [X, I, Ln]
    out = fn(*ins)
    return _schedule(out), ins + [out]


@template("topi.rows")
def rows(op, data, axis):
    """softmax / log_softmax / layer_norm / rms_norm of `data` over `axis` (a tuple)."""
    X = _tensor(data, "data")
    axis = tuple(axis)
    if op in ("softmax", "log_softmax"):
        if len(axis) != 1:
            raise TuningError(f"topi.rows: {op} takes one axis, got {axis}")
        Y = getattr(topi.nn, op)(X, axis[0])
        params = []
    elif op in ("layer_norm", "rms_norm"):
        shape = tuple(tuple(data[1])[a] for a in axis)
        params = [placeholder(shape, dtype=data[2], name="gamma")]
        if op == "layer_norm":
            params.append(placeholder(shape, dtype=data[2], name="beta"))
        Y = getattr(topi.nn, op)(X, *params, axis=list(axis))
    else:
        raise TuningError(f"topi.rows: op must be one of softmax, log_softmax, layer_norm, "
                          f"rms_norm, got {op!r}")
    return _schedule(Y), [X, *params, Y]


REDUCE_OPS = ("sum", "mean", "prod", "max", "min", "argmax", "argmin")


@template("topi.reduce")
def reduce(op, data, axis, keepdims=False):
    """topi.<op>(data, axis, keepdims) for op in REDUCE_OPS (argmax / argmin: one axis)."""
    if op not in REDUCE_OPS:
        raise TuningError(f"topi.reduce: op must be one of {REDUCE_OPS}, got {op!r}")
    X = _tensor(data, "data")
    axis = list(axis)
    if op in ("argmax", "argmin"):
        if len(axis) != 1:
            raise TuningError(f"topi.reduce: {op} takes one axis, got {tuple(axis)}")
        axis = axis[0]
    Y = getattr(topi, op)(X, axis, keepdims)
    return _schedule(Y), [X, Y]


@template("topi.pool2d")
def pool2d(data, kernel, stride, padding, pool_type="max"):
    """topi.nn.pool2d in NCHW (4-D data) or NCHWc (5-D); global pooling is a window of the
    whole image."""
    X = _tensor(data, "data")
    Y = topi.nn.pool2d(X, kernel, stride, padding, pool_type)
    return _schedule(Y), [X, Y]


def _winograd_weight(kernel, tile_size, shape):
    if not (isinstance(kernel, tuple) and len(kernel) == 3 and kernel[0] == "TENSOR"):
        raise TuningError(f"kernel: expected ('TENSOR', shape, dtype), got {kernel!r}")
    return placeholder(shape, dtype=kernel[2], name="U")


@template("topi.conv2d_winograd_nchw")
def conv2d_winograd_nchw(data, kernel, padding, tile_size, stride=1, dilation=1):
    """Winograd F(tile_size, R) in NCHW of an OIHW `kernel` (3x3, or 5x5 at stride 1; a 3x3
    of stride 2 as F(tile_size, 2) on the space-to-depth input; dilated ones on their
    phases), measured as a network runs it (Graph.conv2d): the weight transformed offline in
    panels of output channels ("IOo", topi.cpu.winograd_weight_block; "IO" where O is not
    whole vectors), so the kernel's argument is the transformed weight. One task per tile
    size (tune m by tuning each); a record applies to any weight layout of that workload."""
    from ..topi import winograd
    from ..topi.cpu import winograd_weight_block
    A = _tensor(data, "data")
    O, C, R = tuple(kernel[1])[:3]
    r = R if stride == 1 else 2
    a = tile_size + r - 1
    Cw = C * stride * stride
    oc = winograd_weight_block(O, current_target() or "native")
    shape = (a, a, O // oc, Cw, oc) if oc else (a, a, Cw, O)
    U = _winograd_weight(kernel, tile_size, shape)
    out = winograd.conv2d_winograd_nchw(A, U, padding, tile_size, pre_transformed=True,
                                        weight_layout="IOo" if oc else "IO", stride=stride,
                                        dilation=dilation, kernel_size=R)
    return _schedule(out), [A, U, out]


@template("topi.conv2d_winograd_NCHWc")
def conv2d_winograd_NCHWc(data, kernel, padding, tile_size):
    """Winograd F(tile_size, 3) in NCHWc of a kernel packed as conv2d_NCHWc's ([O/oc, C/ic,
    3, 3, ic, oc]), the weight transformed offline ([alpha, alpha, O/oc, C, oc])."""
    from ..topi import winograd
    A = _tensor(data, "data")
    Ob, Cb, _, _, ic, oc = tuple(kernel[1])
    U = _winograd_weight(kernel, tile_size, (tile_size + 2, tile_size + 2, Ob, Cb * ic, oc))
    out = winograd.conv2d_winograd_NCHWc(A, U, padding, tile_size, pre_transformed=True)
    return _schedule(out), [A, U, out]


@template("topi.attention")
def attention(q, k, v, causal=False):
    """topi.nn.attention(q, k, v, causal) (float32 [B, H, S, D], [B, H, T, D], [B, H, T, Dv])."""
    Q, K, V = _tensor(q, "q"), _tensor(k, "k"), _tensor(v, "v")
    out = topi.nn.attention(Q, K, V, causal=bool(causal))
    return _schedule(out), [Q, K, V, out]


def workload_args(op):
    """(template name, args) of a topi operator's compute op, or None when it is not one
    with a template."""
    from .task import normalize
    tag = op.tag
    ins = list(op.input_tensors)
    if tag in ("dense", "batch_matmul") and len(ins) == 2:
        return f"topi.{tag}", normalize(tuple(ins))
    if tag == "dense_pack" and len(ins) == 2:
        return "topi.dense_pack", normalize((ins[0], ins[1], op.axis[1].dom.extent.value))
    if tag == "sparse_pool" and op.attrs.get("op") in SPARSE_POOL_OPS:
        a = op.attrs
        return "topi.sparse_pool", (a["op"],) + normalize((a["table"], a["indices"],
                                                           a["lengths"]))
    if tag in ("conv2d_nchw", "conv2d_NCHWc", "depthwise_conv2d_nchw", "depthwise_conv2d_NCHWc",
               "conv2d_nchw_packed") and len(ins) == 2:
        data, kernel = ins
        pads = (0, 0, 0, 0)
        if "pad_before" in data.op.attrs:
            b, a = data.op.attrs["pad_before"], data.op.attrs["pad_after"]
            pads = (b[2], b[3], a[2], a[3])
            data = data.op.input_tensors[0]
        if tag == "conv2d_nchw_packed":     # the conv2d_nchw workload its record serves
            Ob, Cb, R, S, ic, oc = normalize(kernel)[1]
            kernel, tag = ("TENSOR", (Ob * oc, Cb * ic, R, S), kernel.dtype), "conv2d_nchw"
        return f"topi.{tag}", normalize((data, kernel, op.attrs.get("strides", (1, 1)), pads,
                                         op.attrs.get("dilation", (1, 1))))
    return None
