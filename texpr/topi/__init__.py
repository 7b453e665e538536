"""texpr.topi: operators (compute definitions + per-target schedules) and NumPy references."""
from . import bitserial, graph, layout, nn, qnn, sparse, tag, testing
from . import models
from .schedules import schedule
from .shape_funcs import evaluate_shape, shape_func
from . import cpu  # noqa: F401  (registers the CPU schedules)
from . import cpu_sparse  # noqa: F401  (registers the sparse ops' CPU schedules)
from . import cpu_attention  # noqa: F401  (registers the attention CPU schedule)
from . import hvx  # noqa: F401  (registers the HVX schedules)
from . import gpu  # noqa: F401  (registers the GPU schedules: cuda, opencl)
from . import cpu_layouts  # noqa: F401  (registers the HWCN / NHWC conv2d CPU schedules)
from . import cpu_reduce  # noqa: F401  (registers the reductions' CPU schedules)
from . import cpu_transpose  # noqa: F401  (registers transpose's tiled CPU schedule)
from . import cpu_rows  # noqa: F401  (registers softmax / layer_norm / rms_norm CPU schedules)
from . import cpu_bitserial  # noqa: F401  (registers bitserial_dense's CPU schedule)
from . import cpu_int4  # noqa: F401  (registers dense_int4's CPU schedule)
from . import cpu_int8  # noqa: F401  (registers the x86 int8 dense schedules)
from . import cpu_conv_stem  # noqa: F401  (registers the space-to-depth Winograd stem schedule)
from . import generic
from .nn import add, multiply  # noqa: F401  (TVM spells them topi.add, topi.multiply)
from .tensor import full, full_like
from .transform import (broadcast_to, concatenate, einsum, reshape, split, take, tensordot,
                        transpose, where)
from .reduction import argmax, argmin, max, mean, min, prod, sum
from .sort import topk
from .math import abs, exp, log, negative, sigmoid, sqrt, tanh

__all__ = ["nn", "bitserial", "layout", "sparse", "testing", "schedule", "cpu", "cpu_sparse", "qnn", "hvx", "gpu", "graph", "models", "generic", "shape_func", "evaluate_shape", "shape_funcs",
           "full", "full_like", "add", "multiply", "broadcast_to", "concatenate", "einsum",
           "reshape", "split", "take", "tensordot", "transpose", "where", "sum", "max", "min", "mean", "prod", "argmax", "argmin", "topk", "abs", "exp", "log",
           "negative", "sigmoid", "sqrt", "tanh"]
