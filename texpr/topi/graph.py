"""Chain built kernels into a network: buffers allocated once, intermediates reused.

    g = topi.graph.Graph()
    x = g.input("x", (1, 64, 56, 56))
    w = g.constant("w", weights)                    # bound once, never copied again
    y = g.call(conv_kernel, x, w)                   # the kernel's last argument is its output
    z = g.call(relu_kernel, y)
    net = g.compile([z])
    out, = net(x=image)                             # or net(image)

Each `call` takes a built module (te.build) whose last argument is its single output; the
output's shape and dtype come from the kernel's signature, and every argument's shape and
dtype are checked against it when the graph is built (GraphError names the kernel, the
argument and both shapes). `compile` plans the memory: the steps run in the order they were
added, an intermediate buffer is free after its last reader, and a later step's output reuses
a free buffer of the same size and dtype (liveness-based reuse). Every kernel is then bound
to its buffers once (Module.bind: validated once, no per-call checks).

The arrays a compiled graph returns are its own output buffers: the next call overwrites them
(copy them to keep them).

Symbolic shapes: an input's extents may be te.vars (`g.input("x", (te.var("n"), 3, h, w))`);
kernels built with var extents (te.build on placeholders of var shapes) then serve every
value. `call` unifies the kernel's signature with its arguments' shapes (the kernel's
output extents, formulas of its input extents, become formulas of the graph's vars: the
kernel's signature is its shape function, see topi.shape_func). A compiled graph with vars
plans its buffers per input signature when a call brings new input shapes (the var values
read from the input arrays, the output shapes evaluated, buffers planned and allocated, the
kernels bound), keeps the last few plans, and reuses the current one as long as the input
shapes stay the same. `g.require(cond, rule)` adds a condition on the vars (e.g. an image
size that the strides allow), checked when a plan is made: GraphError names the var values
and the rule.

KernelCache memoizes built kernels by a key (e.g. the op and its shapes), so identical layers
of a network share one compiled kernel.

Layout rewrite of constants: `g.dense(x, w, b)` (w, b: constants) packs the weight once, when
the graph is built, into the panels topi.nn.dense_pack reads (what TVM does to a model's
weights when it compiles it), and adds a dense_pack kernel (bias and relu fused) built for the
target: no call of the graph copies the weight again. Only batches of one or two rows read the
weight as it lies (topi.nn.dense: dot products over its rows, which need no panels).
`g.conv2d(x, w, stride, padding, ...)` likewise packs a constant convolution weight once
into the channel blocks topi.nn.conv2d_nchw_packed reads.
"""
import time

import numpy as np

from ..errors import ArgumentError


class GraphError(ArgumentError):
    """A graph was built or called with values that do not fit the kernels' signatures.

    >>> import numpy as np
    >>> from texpr.topi.graph import Graph
    >>> g = Graph("net")
    >>> x = g.input("x", (4,))
    >>> g.input("x", (8,))
    Traceback (most recent call last):
      ...
    texpr.topi.graph.GraphError: graph net: the name 'x' is used twice
    """


class Value:
    """A tensor in a graph: a graph input, a constant or the output of a step.

    >>> import numpy as np
    >>> from texpr.topi.graph import Graph
    >>> g = Graph("net")
    >>> g.input("x", (2, 3))
    <Value x input [2, 3] float32>
    """

    def __init__(self, graph, name, shape, dtype, kind, array=None):
        self.graph = graph
        self.name = name
        self.shape = tuple(_dim(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.kind = kind            # "input", "constant" or "step"
        self.array = array

    @property
    def symbolic(self):
        """True when an extent is an expression of the graph's vars.

        >>> import texpr as te
        >>> from texpr.topi.graph import Graph
        >>> g = Graph("net")
        >>> g.input("x", (te.var("n"), 3)).symbolic
        True
        """
        return not all(isinstance(d, int) for d in self.shape)

    def shape_at(self, binding):
        """The shape with the graph's vars given values ({Var: int}).

        >>> import texpr as te
        >>> from texpr.topi.graph import Graph
        >>> n = te.var("n")
        >>> Graph("net").input("x", (n, 3)).shape_at({n: 5})
        (5, 3)
        """
        if not self.symbolic:
            return self.shape
        from .shape_funcs import evaluate_shape
        return evaluate_shape(self.shape, binding)

    @property
    def nbytes(self):
        """The size of the value's array in bytes (of a constant shape).

        >>> import numpy as np
        >>> from texpr.topi.graph import Graph
        >>> g = Graph("net")
        >>> g.input("x", (2, 3), "float64").nbytes
        48
        """
        if self.symbolic:
            raise GraphError(f"graph {self.graph.name}: {self.name} has a symbolic shape "
                             f"{_shape_str(self.shape)}; its size depends on the call")
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def __repr__(self):
        return f"<Value {self.name} {self.kind} {_shape_str(self.shape)} {self.dtype}>"


def _dim(d):
    """An extent as an int when constant, else its simplified expression."""
    from ..lang.expr import Expr
    if isinstance(d, (int, np.integer)):
        return int(d)
    if isinstance(d, Expr):
        from .shape_funcs import simplify_dim
        return simplify_dim(d)
    raise GraphError(f"an extent must be an int or a te.var expression, got {d!r}")


def _free_vars(e):
    from ..lang.visitor import free_vars
    return free_vars(e)


def _int_fn(e):
    """binding ({Var: int}) -> the value of extent or condition e, compiled to a Python
    function once (no simplifier per call)."""
    if isinstance(e, int):
        return lambda binding: e
    from ..lang.expr import BinOp, Cmp, Const, Not, Var
    from ..lang.visitor import walk
    from ..targets.runtime.module import _PY_OPS, compile_int_expr
    if all(isinstance(n, (Const, Var, Not)) or (isinstance(n, (BinOp, Cmp)) and (
            n.op in _PY_OPS or n.op in ("min", "max"))) for n in walk(e)):
        f = compile_int_expr(e)
        return lambda binding: int(f(binding))
    from .shape_funcs import evaluate_shape
    return lambda binding: evaluate_shape((e,), binding)[0]


def _binding_str(binding):
    return ", ".join(f"{v.name} = {n}" for v, n in binding.items())


def _shape_str(shape):
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _same_extent(a, b):
    """True / False when a and b (ints or expressions) are provably equal / different,
    None when it depends on the vars' values."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    from ..lang.expr import Const
    from .shape_funcs import simplify_dim
    d = simplify_dim(Const(a, "int32") - b if isinstance(a, int) else a - b)
    return (d == 0) if isinstance(d, int) else None


def kernel_signature(kernel):
    """[(argument name, shape or None when symbolic, dtype, is_output)] of a built module.

    Example::

        f = te.build(s, [A, B], target="c")      # A, B: float32 [16]
        kernel_signature(f)                      # [('A', (16,), dtype('float32'), False),
                                                 #  ('B', (16,), dtype('float32'), True)]
    """
    out = []
    for name, dt, ndim, dims, is_out in kernel._plan.args:
        shape = tuple(v for kind, v in dims) if all(k == "const" for k, _ in dims) else None
        out.append((name, shape, np.dtype(dt), is_out))
    return out


def unify_signature(kernel, args, where):
    """The output shape of `kernel` on Values `args`, in the graph's extents: the kernel's
    var extents are matched with the arguments' extents, then its extents given by formulas
    of its vars (a strided convolution's output) rewritten in the graph's. Returns (output
    shape, [(extent, expected extent, message)]: the equalities only a call's values decide).
    Raises GraphError where an argument's shape provably does not fit.

    Example (a kernel built on x [m, 8], m a var, writing [(m + 1) // 2, 8])::

        h = g.input("h", (te.var("n"), 8))
        unify_signature(kernel, [h], "graph g: kernel k")   # (((n + 1) // 2, 8), [])
    """
    from ..lang.expr import Const
    from ..lang.visitor import free_vars, substitute
    spec = kernel._plan.args
    match = {}                      # the kernel's Var -> the graph's extent
    formulas = []                   # (Value, dimension, the kernel's formula, message)
    checks = []

    def fits(got, want, msg):
        same = _same_extent(got, want)
        if same is False:
            raise GraphError(msg)
        if same is None:
            checks.append((got, want, msg))

    for a, (an, _, ndim, dims, _) in zip(args, spec):
        msg = (f"{where} expects {an} of shape [{', '.join(str(v) for _, v in dims)}], but "
               f"{a.name} has shape {_shape_str(a.shape)}")
        if len(a.shape) != ndim:
            raise GraphError(msg)
        for d, (kind, v) in enumerate(dims):
            got = a.shape[d]
            if kind == "const":
                fits(got, v, msg)
            elif kind == "var" and v not in match:
                match[v] = got
            elif kind == "var":
                fits(got, match[v], msg)
            else:
                formulas.append((a, d, v, msg))

    def graph_extent(e):
        if any(v not in match for v in free_vars(e)):
            return None
        return _dim(substitute(e, {v: Const(x, v.dtype) if isinstance(x, int) else x
                                   for v, x in match.items()}))
    for a, d, e, msg in formulas:
        want = graph_extent(e)
        if want is None:
            raise GraphError(f"{where}: dimension {d} of {a.name} ({e}) is not given by the "
                             "kernel's other arguments")
        fits(a.shape[d], want, msg)
    oname, _, _, odims, _ = spec[-1]
    oshape = []
    for d, (kind, v) in enumerate(odims):
        x = v if kind == "const" else match.get(v) if kind == "var" else graph_extent(v)
        if x is None:
            raise GraphError(f"{where}: dimension {d} of its output {oname} ({v}) is not given "
                             "by its inputs' shapes")
        oshape.append(x)
    return tuple(oshape), checks


class Graph:
    """A straight-line program of kernel calls (see the module docstring).

    >>> import numpy as np
    >>> from texpr.topi.graph import Graph
    >>> g = Graph("net")
    >>> x = g.input("x", (1, 64))
    >>> w = g.constant("w", np.zeros((10, 64), "float32"))
    >>> [(v.name, v.kind) for v in g.values]
    [('x', 'input'), ('w', 'constant')]
    """

    def __init__(self, name="graph", kernels=None):
        self.name = name
        self.values = []
        self.steps = []             # (kernel, [argument Values], output Value)
        self._names = set()
        self.kernels = kernels if kernels is not None else SHARED_KERNELS
        self.vars = []              # the te.vars of the inputs' shapes, in order of appearance
        self.requires = []          # (condition Expr, rule text): g.require
        self.checks = []            # (extent, extent, message): equalities a call decides

    def _new(self, name, shape, dtype, kind, array=None):
        if name in self._names:
            raise GraphError(f"graph {self.name}: the name {name!r} is used twice")
        self._names.add(name)
        v = Value(self, name, shape, dtype, kind, array)
        self.values.append(v)
        return v

    def input(self, name, shape, dtype="float32"):
        """A tensor given on each call.

        >>> import numpy as np
        >>> from texpr.topi.graph import Graph
        >>> g = Graph("net")
        >>> g.input("image", (1, 3, 224, 224), "float32")
        <Value image input [1, 3, 224, 224] float32>

        Extents may be te.vars (symbolic shapes: their values are read from the arrays of
        each call):

        >>> import texpr as te
        >>> g.input("tokens", (te.var("n"), 64))
        <Value tokens input [n, 64] float32>
        """
        from ..lang.expr import Var
        for d in shape:
            if isinstance(d, Var):
                if d not in self.vars:
                    self.vars.append(d)
            elif not isinstance(d, (int, np.integer)):
                raise GraphError(f"graph {self.name}: input {name}: an extent must be an int or "
                                 f"a te.var, got {d!r} (in shape {list(shape)})")
        return self._new(name, shape, dtype, "input")

    def require(self, cond, rule):
        """A condition on the input vars (a boolean te expression), checked when a call
        brings new input shapes; GraphError tells the var values and `rule`.

        >>> import texpr as te
        >>> from texpr.topi.graph import Graph
        >>> g = Graph("net")
        >>> h = te.var("h")
        >>> x = g.input("image", (1, 3, h, h))
        >>> g.require(h % 32 == 0, "the image size must be a multiple of 32")
        """
        from ..lang.visitor import free_vars
        unknown = [v.name for v in free_vars(cond) if v not in self.vars]
        if unknown:
            raise GraphError(f"graph {self.name}: require: {', '.join(sorted(unknown))} is not "
                             "a var of the graph's inputs")
        self.requires.append((cond, rule))

    def constant(self, name, array):
        """A tensor fixed when the graph is built (weights): kept as given, never copied.

        >>> import numpy as np
        >>> from texpr.topi.graph import Graph
        >>> g = Graph("net")
        >>> weights = np.ones((8, 4), "float32")
        >>> w = g.constant("w", weights)
        >>> w, w.array is weights
        (<Value w constant [8, 4] float32>, True)
        """
        a = np.ascontiguousarray(array)
        return self._new(name, a.shape, a.dtype, "constant", a)

    def call(self, kernel, *args, name=None):
        """Run `kernel` on `args` (Values); returns the Value of its output (last argument).

        Example (relu: a kernel built by te.build for float32 [1, 64] in and out)::

            g = Graph()
            x = g.input("x", (1, 64))
            y = g.call(relu, x)          # a Value [1, 64]; shapes and dtypes checked here
        """
        sig = kernel_signature(kernel)
        kname = getattr(kernel, "name", repr(kernel))
        if len(args) != len(sig) - 1:
            raise GraphError(f"graph {self.name}: kernel {kname} takes {len(sig) - 1} inputs "
                             f"({', '.join(s[0] for s in sig[:-1])}) and writes "
                             f"{sig[-1][0]}, got {len(args)} inputs")
        for a, (an, shape, dt, _) in zip(args, sig):
            if not isinstance(a, Value) or a.graph is not self:
                raise GraphError(f"graph {self.name}: argument {an} of kernel {kname} must be a "
                                 f"Value of this graph, got {a!r}")
            if a.dtype != dt:
                raise GraphError(f"graph {self.name}: kernel {kname} expects {an} of dtype {dt}, "
                                 f"but {a.name} is {a.dtype}")
        oname, _, odt, _ = sig[-1]
        oshape, checks = unify_signature(kernel, list(args), f"graph {self.name}: kernel {kname}")
        self.checks += checks
        out = self._new(name or f"{kname}_{len(self.steps)}", oshape, odt, "step")
        self.steps.append((kernel, list(args), out))
        return out

    def dense(self, data, weight, bias=None, activation=None, target="native", name=None):
        """data [M, K] (a Value) times the constant weight [N, K] (+ bias [N], then
        activation None or "relu"); returns the output Value [M, N].

        weight and bias: constant Values (g.constant) or arrays. The weight is packed here,
        once, into panels [ceil(N/nb), K, nb] (nb from topi.cpu.dense_weight_block for
        `target`), a new constant the dense_pack kernel reads; with M <= gemv_max_rows(target) the
        kernel is topi.nn.dense on the weight as it is (dot products over its rows).

        Example (the weight packed once, here; the kernel built, or taken from the cache)::

            g = Graph()
            x = g.input("x", (16, 256))
            y = g.dense(x, np.random.rand(128, 256).astype("float32"), activation="relu")
            net = g.compile(y)
        """
        from .cpu import dense_weight_block, gemv_max_rows
        from .testing import pack_dense_weight_ref
        w, b = self._layer_operands("dense", data, "M, K", weight, "N, K", bias, activation)
        M, K = data.shape
        N = w.shape[0]
        base = name or f"dense_{len(self.steps)}"
        # a symbolic batch: one kernel for every M, topi.nn.dense on the weight as it is
        # (whose schedule specialises symbolic batches)
        sym = not isinstance(M, int)
        packed = not sym and M > gemv_max_rows(target)
        nb = dense_weight_block(N, K, target, M=M) if packed else None
        wv = self.constant(base + ("_w_panels" if packed else "_w"),
                           pack_dense_weight_ref(w, nb) if packed else w)
        args = [data, wv] + ([self.constant(base + "_b", b)] if b is not None else [])
        tuned = None
        if packed:
            from .cpu_tuning import applied_configs
            f32 = "float32"
            tuned = applied_configs([("topi.dense_pack", ("TENSOR", (M, K), f32),
                                      ("TENSOR", (-(-N // nb), K, nb), f32), N)], target)
        if sym:
            M = None
        key = ("graph.dense", M, N, K, nb, b is not None, activation, str(target)) + \
            ((tuned,) if tuned else ())
        kernel = self.kernels.get(key, lambda: _build_dense(M, N, K, nb, b is not None,
                                                            activation, target))
        return self.call(kernel, *args, name=name)

    def conv2d(self, data, weight, stride=1, padding=0, dilation=1, bias=None,
               activation=None, target="native", name=None, algorithm="auto"):
        """conv2d_nchw of data [N, C, H, W] (a Value) by the constant weight [O, C, R, S]
        (+ bias [O], then activation None or "relu"); returns the output Value [N, O, P, Q].

        The weight is packed here, once, into the channel blocks the target's schedule reads
        (topi.cpu.conv2d_weight_blocks; topi.nn.conv2d_nchw_packed reads them): no call of
        the graph copies it again. Where the schedule reads the weight as it lies (an RGB
        stem, a 1x1 convolution without padding) the kernel is topi.nn.conv2d_nchw on it.

        algorithm: "auto" lets the host's cost model (topi.cpu_conv3x3.conv2d_algorithm)
        choose, on the vector CPU targets, between the direct kernel and, for square
        kernels and equal strides, padding and dilation on both axes, Winograd: "wino<m>"
        (3x3 stride 1, F(m,3), m in 2, 4, 5, 6; 5x5 stride 1, F(m,5), m in 2, 4; dilated:
        on each phase), "wino4s2" (3x3 stride 2, padding 1: F(4,2) on
        the space-to-depth input), "stemw" (7x7 stride 2, at most 4 input channels). The
        weight is then transformed here, once (a Winograd one in panels of output channels:
        topi.cpu.winograd_weight_block). Any of these names (or "direct") forces it where it
        applies.

        Example (the weight packed once, here; the kernel built, or taken from the cache)::

            g = Graph()
            x = g.input("x", (1, 64, 28, 28))
            w = np.random.rand(128, 64, 3, 3).astype("float32")
            y = g.conv2d(x, w, stride=2, padding=1, activation="relu")
            net = g.compile(y)
        """
        from .cpu import conv2d_weight_blocks
        from .testing import pack_kernel_nchwc_ref
        w, b = self._layer_operands("conv2d", data, "N, C, H, W", weight, "O, C, R, S", bias,
                                    activation)
        base = name or f"conv2d_{len(self.steps)}"
        algo = _conv2d_algorithm(self.name, data.shape, w.shape, stride, padding, dilation,
                                 target, algorithm)
        if algo != "direct":
            u, layout = _transformed_conv2d_weight(w, algo, target)
            args = [data, self.constant(base + "_" + algo, u)]
            args += [self.constant(base + "_b", b)] if b is not None else []
            key = ("graph.conv2d", data.shape, w.shape, str(stride), str(padding),
                   str(dilation), algo, layout, b is not None, activation, str(target))
            kernel = self.kernels.get(key, lambda: _build_conv2d_transformed(
                data.shape, u.shape, w.shape[2], padding, dilation, algo, layout,
                b is not None, activation, target))
            return self.call(kernel, *args, name=name)
        # a symbolic batch or image size: conv2d_nchw on the weight as it lies (its schedule
        # takes symbolic extents; the packed kernel's does not)
        sym = not all(isinstance(d, int) for d in data.shape)
        blocks = None if sym else conv2d_weight_blocks(data.shape, w.shape, stride, padding,
                                                       dilation, target)
        wv = self.constant(base + ("_w_blocks" if blocks else "_w"),
                           pack_kernel_nchwc_ref(w, *blocks) if blocks else w)
        args = [data, wv] + ([self.constant(base + "_b", b)] if b is not None else [])
        key = ("graph.conv2d", data.shape, w.shape, str(stride), str(padding), str(dilation),
               blocks, b is not None, activation, str(target))
        if blocks:          # built under a tuning record: its kernel, not an untuned one's
            from .cpu import nchw_workload
            from .cpu_tuning import applied_configs
            from .util import padding4, pair
            tuned = applied_configs([nchw_workload(data.shape, w.shape, pair(stride, "stride"),
                                                   padding4(padding),
                                                   pair(dilation, "dilation"))], target)
            key += (tuned,) if tuned else ()
        kernel = self.kernels.get(key, lambda: _build_conv2d(
            data.shape, w.shape, stride, padding, dilation, blocks, b is not None, activation,
            target))
        return self.call(kernel, *args, name=name)

    def _layer_operands(self, op, data, data_dims, weight, weight_dims, bias, activation):
        """The checks of a layer with a constant weight [out, in, ...] (dense, conv2d), in one
        place so their rules and messages agree; returns the weight and bias arrays (b None)."""
        nd = len(data_dims.split(", "))
        if not isinstance(data, Value) or data.graph is not self or len(data.shape) != nd:
            raise GraphError(f"graph {self.name}: {op} expects a {nd}-d Value of this graph as "
                             f"data [{data_dims}], got {data!r}")
        if activation not in (None, "relu"):
            raise GraphError(f"graph {self.name}: {op} activation must be None or 'relu', "
                             f"got {activation!r}")
        w = self._constant_array(weight, "weight", len(weight_dims.split(", ")), op)
        if w.shape[1] != data.shape[1] or w.dtype != data.dtype or data.dtype != np.float32:
            raise GraphError(f"graph {self.name}: {op} expects float32 data [{data_dims}] and "
                             f"weight [{weight_dims}]; got data {list(data.shape)} {data.dtype}, "
                             f"weight {list(w.shape)} {w.dtype}")
        b = None
        if bias is not None:
            b = self._constant_array(bias, "bias", 1, op)
            if b.shape != (w.shape[0],) or b.dtype != w.dtype:
                raise GraphError(f"graph {self.name}: {op} bias must be [{w.shape[0]}] {w.dtype}, "
                                 f"got {list(b.shape)} {b.dtype}")
        return w, b

    def _constant_array(self, v, what, ndim, op):
        if isinstance(v, Value):
            if v.graph is not self or v.kind != "constant":
                raise GraphError(f"graph {self.name}: {op} {what} must be a constant of this "
                                 f"graph (g.constant) or an array, got {v!r}")
            a = v.array
        else:
            a = np.ascontiguousarray(v)
        if a.ndim != ndim:
            raise GraphError(f"graph {self.name}: {op} {what} must have {ndim} dimensions, "
                             f"got shape {list(a.shape)}")
        return a

    def compile(self, outputs):
        """Plan the buffers and bind every kernel to them; returns a CompiledGraph.

        Example::

            net = g.compile([z])             # buffers planned and allocated, kernels bound
            out, = net(x=image)              # out: net's own buffer, overwritten by the next call
        """
        if isinstance(outputs, Value):
            outputs = [outputs]
        outputs = list(outputs)
        for o in outputs:
            if not isinstance(o, Value) or o.graph is not self:
                raise GraphError(f"graph {self.name}: outputs must be Values of this graph")
        return CompiledGraph(self, outputs)


def _build_dense(M, N, K, nb, bias, activation, target):
    """The kernel of Graph.dense: dense_pack on panels of nb (nb None: dense on the weight);
    M None: a symbolic batch."""
    from ..lang.expr import Var
    from ..lang.tensor import placeholder
    from ..targets.build import build
    from . import nn
    from .schedules import schedule
    if M is None:
        M = Var("m", "int32")
    x = placeholder((M, K), name="x")
    w = placeholder((-(-N // nb), K, nb) if nb else (N, K), name="w")
    b = placeholder((N,), name="b") if bias else None
    out = nn.dense_pack(x, w, b, units=N) if nb else nn.dense(x, w, b)
    if activation == "relu":
        out = nn.relu(out)
    args = [x, w] + ([b] if bias else []) + [out]
    return build(schedule(out, target), args, target=target, name="dense_pack" if nb else "dense")


#: Graph.conv2d's algorithms besides "auto" and "direct": (kernel sizes, stride) of each
CONV2D_ALGORITHMS = {"wino2": ((3, 5), 1), "wino4": ((3, 5), 1), "wino5": ((3,), 1),
                     "wino6": ((3,), 1), "wino4s2": ((3,), 2), "stemw": ((7,), 2)}


def _conv2d_algorithm(graph, dshape, wshape, stride, padding, dilation, target, algorithm):
    """The algorithm Graph.conv2d runs: `algorithm` checked where it applies, or for "auto"
    the cost model's (direct off the vector CPU targets, for symbolic sizes, other dtypes
    or unequal strides, paddings or dilations per axis)."""
    from ..targets.registry import get_target
    from .cpu_conv3x3 import conv2d_algorithm
    from .schedules import VECTOR_CPU_TARGETS
    from .stem_winograd import stem_winograd_applies
    if algorithm not in ("auto", "direct") and algorithm not in CONV2D_ALGORITHMS:
        raise GraphError(f"graph {graph}: conv2d algorithm must be 'auto', 'direct' or one of "
                         f"{', '.join(CONV2D_ALGORITHMS)}, got {algorithm!r}")
    if algorithm == "direct":
        return "direct"
    from .util import padding4, pair
    O, C, R, S = wshape
    strides, dils = pair(stride, "conv2d stride"), pair(dilation, "conv2d dilation")
    pads = padding4(padding)
    uniform = (R == S and len(set(strides)) == 1 and len(set(pads)) == 1
               and len(set(dils)) == 1 and all(isinstance(d, int) for d in dshape))
    s_, p_, d_ = strides[0], pads[0], dils[0]
    if algorithm == "auto":
        if not uniform or get_target(target).name not in VECTOR_CPU_TARGETS:
            return "direct"
        N, _, H, W = dshape
        return conv2d_algorithm(N, C, H, W, O, R, s_, p_, d_, target=target)
    sizes, s_want = CONV2D_ALGORITHMS[algorithm]
    ok = uniform and R in sizes and s_ == s_want and (d_ == 1 or s_ == 1)
    if algorithm == "wino4s2":
        ok = ok and p_ == 1
    if algorithm == "stemw":
        ok = ok and stem_winograd_applies(C, R, s_, dshape[2], dshape[3], d_)
    if not ok:
        raise GraphError(
            f"graph {graph}: conv2d algorithm {algorithm!r} is for "
            + " or ".join(f"{k}x{k}" for k in sizes) + f" kernels of stride {s_want}" + (", padding 1" if algorithm == "wino4s2" else "")
            + (", at most 4 input channels" if algorithm == "stemw" else "")
            + (" (one value for both axes, constant sizes)" if s_want == 1 else
               " (one value for both axes, no dilation, constant sizes)")
            + f"; got a {R}x{S} kernel, stride {stride}, padding {padding}, dilation "
            f"{dilation}, data {list(dshape)}")
    return algorithm


def _transformed_conv2d_weight(w, algo, target):
    """(array, layout) of Graph.conv2d's weight for a Winograd algorithm, transformed once:
    "IOo" panels (cpu.winograd_weight_block) or "IO"; the stem's [7, 16C, O]."""
    from .cpu import winograd_weight_block
    from .stem_winograd import stem_weight_transform_ref
    from .winograd import winograd_weight_transform_ref
    if algo == "stemw":
        return stem_weight_transform_ref(w), "stem"
    m, stride = int(algo[4]), (2 if algo.endswith("s2") else 1)
    oc = winograd_weight_block(w.shape[0], target)
    layout = "IOo" if oc else "IO"
    return winograd_weight_transform_ref(w, m, layout, stride, oc=oc), layout


def _build_conv2d_transformed(dshape, ushape, kernel_size, padding, dilation, algo, layout,
                              bias, activation, target):
    """The kernel of Graph.conv2d on a transformed weight (Winograd, the stem's)."""
    from ..lang.tensor import placeholder
    from .stem_winograd import conv2d_stem_winograd
    from .winograd import conv2d_winograd_nchw
    x = placeholder(dshape, name="x")
    u = placeholder(ushape, name="U")
    if algo == "stemw":
        out = conv2d_stem_winograd(x, u, padding)
    else:
        m, stride = int(algo[4]), (2 if algo.endswith("s2") else 1)
        d = dilation[0] if isinstance(dilation, (tuple, list)) else dilation
        out = conv2d_winograd_nchw(x, u, padding, m, pre_transformed=True, weight_layout=layout,
                                   stride=stride, dilation=d, kernel_size=kernel_size)
    return _with_epilogue(out, x, u, bias, activation, target, "conv2d_" + algo)


def _with_epilogue(out, x, w, bias, activation, target, name):
    """Built: out (+ bias [O] on axis 1, then relu) of arguments x, w (, bias), out."""
    from ..lang.tensor import placeholder
    from ..targets.build import build
    from . import nn
    from .schedules import schedule
    O = out.shape[1]
    b = placeholder((O,), name="b") if bias else None
    if bias:
        out = nn.bias_add(out, b, axis=1)
    if activation == "relu":
        out = nn.relu(out)
    args = [x, w] + ([b] if bias else []) + [out]
    return build(schedule(out, target), args, target=target, name=name)


def _build_conv2d(dshape, wshape, stride, padding, dilation, blocks, bias, activation, target):
    """The kernel of Graph.conv2d: conv2d_nchw_packed on a kernel in `blocks` (ic, oc), or
    conv2d_nchw on the weight (blocks None)."""
    from ..lang.tensor import placeholder
    from . import nn
    x = placeholder(dshape, name="x")
    O, C, R, S = wshape
    if blocks:
        ic, oc = blocks
        w = placeholder((O // oc, C // ic, R, S, ic, oc), name="w")
        out = nn.conv2d_nchw_packed(x, w, stride, padding, dilation)
    else:
        w = placeholder(wshape, name="w")
        out = nn.conv2d_nchw(x, w, stride, padding, dilation)
    return _with_epilogue(out, x, w, bias, activation, target, "conv2d")


def plan_buffers(steps, outputs, nbytes=None):
    """Liveness-based buffer assignment: {Value: buffer index}, [(nbytes, dtype)] per buffer.

    A step's output takes a free buffer of exactly its size and dtype, else a new one; a
    buffer is free once the last step reading its value has run (graph outputs never are).
    nbytes(value): its size (default value.nbytes; the size at a call's var values for a
    symbolic graph).

    >>> from texpr.topi.graph import Graph, Value, plan_buffers
    >>> g = Graph()
    >>> x = g.input("x", (4,))
    >>> y, z, w = (Value(g, n, (4,), "float32", "step") for n in "yzw")
    >>> assign, buffers = plan_buffers([(None, [x], y), (None, [y], z), (None, [z], w)], [w])
    >>> [assign[v] for v in (y, z, w)], len(buffers)                 # w reuses y's buffer
    ([0, 1, 0], 2)
    """
    last_use = {}
    for i, (_, args, _) in enumerate(steps):
        for a in args:
            if a.kind == "step":
                last_use[a] = i
    keep = set(outputs)
    free = {}                       # (nbytes, dtype) -> [buffer index]
    buffers = []
    assign = {}
    size = nbytes or (lambda v: v.nbytes)
    for i, (_, args, out) in enumerate(steps):
        key = (size(out), out.dtype.str)
        pool = free.get(key)
        if pool:
            assign[out] = pool.pop()
        else:
            assign[out] = len(buffers)
            buffers.append(key)
        for a in set(args):
            if a.kind == "step" and last_use.get(a) == i and a not in keep:
                free.setdefault((size(a), a.dtype.str), []).append(assign[a])
        if out not in last_use and out not in keep:       # never read: free at once
            free.setdefault(key, []).append(assign[out])
    return assign, buffers


class CompiledGraph:
    """A graph with its buffers allocated and its kernels bound; call it with the inputs.

    A graph with symbolic input shapes is planned per input signature (see the module
    docstring): `plan_count` tells how many plans were made, `binding` the vars' current
    values.

    Example::

        net = g.compile([z])
        out, = net(image)                # or net(x=image): the inputs by name
        print(net.intermediate_bytes, "bytes instead of", net.naive_bytes())
    """

    #: plans kept for the input signatures seen last (each holds its own buffers)
    MAX_PLANS = 8

    def __init__(self, graph, outputs):
        self.graph = graph
        self.outputs = outputs
        self.inputs = [v for v in graph.values if v.kind == "input"]
        self.kernels = [k for k, _, _ in graph.steps]
        self.symbolic = bool(graph.vars)
        self._plans = {}            # input shapes -> plan
        self._storage = {}          # step shapes -> (assignment, buffer sizes, buffers)
        self._dim_fns = None
        self._step_vars = []
        self._key = None
        self.plan_count = 0
        self.binding = {}
        if not self.symbolic:
            self._use(None, self._make_plan({}))

    def _make_plan(self, binding):
        """(assignment, buffer sizes, arrays, bound runs, shapes) at these var values. The
        step buffers (and the kernels bound to them alone) are shared by the plans whose
        steps have the same shapes: inputs that only change the length of a kernel's input
        (the indices of embedding bags) re-bind only the kernels reading them."""
        graph = self.graph
        fns = self._dim_fns
        if fns is None:             # each extent compiled to a Python function once
            fns = self._dim_fns = {v: tuple(_int_fn(d) for d in v.shape)
                                   for v in graph.values if v.kind != "constant"}
            step_vars = set()
            for _, _, out in graph.steps:
                for d in out.shape:
                    if not isinstance(d, int):
                        step_vars |= _free_vars(d)
            self._step_vars = sorted(step_vars, key=lambda v: v.name)
        step_key = tuple(binding[v] for v in self._step_vars)
        shared = self._storage.get(step_key)
        if shared is None:
            shared = self._plan_steps(binding)
            if len(self._storage) >= self.MAX_PLANS:
                self._storage.pop(next(iter(self._storage)))
            self._storage[step_key] = shared
        assign, sizes, step_arrays, step_runs, step_shapes = shared
        arrays = dict(step_arrays)
        shapes = dict(step_shapes)
        for v in self.inputs:
            shapes[v] = tuple(f(binding) for f in fns[v])
            arrays[v] = np.empty(shapes[v], v.dtype)
        for v in graph.values:
            if v.kind == "constant":
                arrays[v] = v.array
        run = []
        for i, (kernel, args, out) in enumerate(graph.steps):
            r = step_runs.get(i)
            if r is None:
                arrs = [arrays[a] for a in args] + [arrays[out]]
                if self.symbolic and any(a.kind == "input" for a in args):
                    # reads this plan's input arrays: called with them (the C checker takes
                    # a call in a fraction of a microsecond), not bound (validated in Python)
                    r = (lambda k=kernel, a=tuple(arrs): k(*a))
                else:                           # bound to shared buffers only: kept
                    bind = getattr(kernel, "bind", None)
                    r = step_runs[i] = bind(*arrs) if bind else (lambda k=kernel, a=arrs: k(*a))
            run.append(r)
        self.plan_count += 1
        return assign, sizes, arrays, run, shapes

    def _plan_steps(self, binding):
        """The step values' shapes at these var values, their buffers planned and allocated:
        (assignment, buffer sizes, {Value: array}, {}, {Value: shape})."""
        graph = self.graph
        shapes = {}
        for _, _, v in graph.steps:
            shapes[v] = tuple(f(binding) for f in self._dim_fns[v])
            if binding and any(d <= 0 for d in shapes[v]):
                raise GraphError(f"graph {graph.name}: with {_binding_str(binding)}, "
                                 f"{v.name} {_shape_str(v.shape)} would be "
                                 f"{list(shapes[v])}; every extent must be positive")

        def nbytes(v):
            return int(np.prod(shapes[v], dtype=np.int64)) * v.dtype.itemsize
        assign, buffers = plan_buffers(graph.steps, self.outputs, nbytes)
        storage = [np.empty(nb, np.uint8) for nb, _ in buffers]
        arrays = {v: storage[assign[v]][:nbytes(v)].view(v.dtype).reshape(shapes[v])
                  for v in assign}
        return assign, [nb for nb, _ in buffers], arrays, {}, shapes

    def _use(self, key, plan):
        self._key = key
        self.assignment, self.buffer_bytes, self._arrays, self._run, self._shapes = plan

    def _bind_vars(self, arrays):
        """{Var: value} from the input arrays' shapes; the rules and deferred equalities
        checked."""
        from ..lang.expr import Var
        g = self.graph
        binding, source = {}, {}
        for v, a in zip(self.inputs, arrays):
            if a.ndim != len(v.shape):
                raise GraphError(f"graph {g.name}: input {v.name} must be "
                                 f"{_shape_str(v.shape)} {v.dtype}, got {list(a.shape)} {a.dtype}")
            for d, (want, n) in enumerate(zip(v.shape, a.shape)):
                if isinstance(want, Var):
                    if want in binding and binding[want] != n:
                        raise GraphError(f"graph {g.name}: input {v.name}: dimension {d} is {n}, "
                                         f"but {want.name} = {binding[want]} from input "
                                         f"{source[want]}")
                    binding[want], source[want] = n, v.name
        for cond, rule in g.requires:
            if not _int_fn(cond)(binding):
                raise GraphError(f"graph {g.name}: {_binding_str(binding)} breaks the rule "
                                 f"{cond}: {rule}")
        for got, want, msg in g.checks:
            x, y = _int_fn(got)(binding), _int_fn(want)(binding)
            if x != y:
                raise GraphError(f"{msg} (with {_binding_str(binding)}: {x} != {y})")
        return binding

    def _select(self, arrays):
        """Make the plan of these input shapes current (made once per input signature)."""
        key = tuple(a.shape for a in arrays)
        if key == self._key:
            return
        plan = self._plans.get(key)
        if plan is None:
            binding = self._bind_vars(arrays)
            plan = self._make_plan(binding) + (binding,)
            if len(self._plans) >= self.MAX_PLANS:
                self._plans.pop(next(iter(self._plans)))
            self._plans[key] = plan
        self.binding = plan[-1]
        self._use(key, plan[:-1])

    @property
    def intermediate_bytes(self):
        """Bytes of all the step buffers (outputs included) after reuse.

        Example::

            net = g.compile([z])
            net.intermediate_bytes <= net.naive_bytes()      # True: buffers are reused
        """
        return sum(self.buffer_bytes)

    def naive_bytes(self):
        """What one buffer per step output would take (for comparison).

        Example::

            net = g.compile([z])
            net.naive_bytes()                # the sum of every step output's nbytes
        """
        return sum(int(np.prod(self._shapes[out], dtype=np.int64)) * out.dtype.itemsize
                   for _, _, out in self.graph.steps)

    def set_inputs(self, *args, **kwargs):
        """Copy the graph's inputs in, by position or by name (not both).

        Example (run the same inputs several times without copying them again)::

            net.set_inputs(x=image)
            out, = net.run()
        """
        if args and kwargs:
            raise GraphError(f"graph {self.graph.name}: give the inputs by position or by name")
        if args:
            if len(args) != len(self.inputs):
                raise GraphError(f"graph {self.graph.name}: expects {len(self.inputs)} inputs "
                                 f"({', '.join(v.name for v in self.inputs)}), got {len(args)}")
            kwargs = {v.name: a for v, a in zip(self.inputs, args)}
        arrays = []
        for v in self.inputs:
            if v.name not in kwargs:
                raise GraphError(f"graph {self.graph.name}: input {v.name} is missing")
            arrays.append(np.asarray(kwargs.pop(v.name)))
        if kwargs:
            raise GraphError(f"graph {self.graph.name}: unknown inputs {sorted(kwargs)}")
        if self.symbolic:
            self._select(arrays)
        for v, a in zip(self.inputs, arrays):
            mine = self._arrays[v]
            if a.shape != mine.shape or a.dtype != v.dtype:
                raise GraphError(f"graph {self.graph.name}: input {v.name} must be "
                                 f"{_shape_str(v.shape)} {v.dtype}, got {list(a.shape)} {a.dtype}")
            np.copyto(mine, a)

    def run(self):
        """Run the steps on the inputs set last; returns the output buffers.

        Example::

            net.set_inputs(image)
            out, = net.run()
            out = out.copy()                 # the next run overwrites the graph's buffer
        """
        if self._key is None and self.symbolic:
            raise GraphError(f"graph {self.graph.name}: no inputs given yet (set_inputs)")
        for r in self._run:
            r()
        return [self._arrays[o] for o in self.outputs]

    def __call__(self, *args, **kwargs):
        self.set_inputs(*args, **kwargs)
        return self.run()

    def profile(self):
        """Seconds of each step (one run), as [(kernel name, output name, seconds)].

        Example::

            net.set_inputs(image)
            for kernel, output, seconds in net.profile():
                print(f"{kernel:20} {output:20} {seconds * 1e6:8.1f} us")
        """
        out = []
        for r, (k, _, o) in zip(self._run, self.graph.steps):
            t0 = time.perf_counter()
            r()
            out.append((getattr(k, "name", "?"), o.name, time.perf_counter() - t0))
        return out


class KernelCache:
    """Built kernels by key: identical layers (same op, shapes, options) build once, once per
    thread count (a schedule splits its blocks for the threads it runs on: cpu.parallel_units).

    >>> from texpr.topi.graph import KernelCache
    >>> cache = KernelCache()
    >>> a = cache.get(("relu", 64), lambda: "kernel built once")
    >>> b = cache.get(("relu", 64), lambda: "not called")
    >>> b, cache.hits, cache.misses
    ('kernel built once', 1, 1)
    """

    def __init__(self):
        self._kernels = {}
        self.hits = 0
        self.misses = 0

    def get(self, key, build):
        """The kernel for `key`, calling build() the first time.

        >>> from texpr.topi.graph import KernelCache
        >>> cache = KernelCache()
        >>> cache.get("k", lambda: 42), cache.get("k", lambda: 0), len(cache)
        (42, 42, 1)
        """
        from .cpu import parallel_units
        key = (key, parallel_units())
        k = self._kernels.get(key)
        if k is None:
            self.misses += 1
            k = self._kernels[key] = build()
        else:
            self.hits += 1
        return k

    def __len__(self):
        return len(self._kernels)


#: The kernels Graph.dense builds, shared by every graph (identical layers build once).
SHARED_KERNELS = KernelCache()
