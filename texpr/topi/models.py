"""Whole models as topi.graph graphs: ResNet-50 (image classification) and a DLRM-style
ranking model, each with random weights from a seed or given weights (NumPy arrays), and a
NumPy reference of the same network for tests.

    net = topi.models.resnet50(image_size=224)             # a CompiledGraph
    logits, = net(image)                                   # [1, 1000]
    net = topi.models.dlrm(batch=64, num_tables=8, rows=1000, dim=16)
    scores, = net(**topi.models.dlrm_inputs(net.model, batch=64))

resnet50's weights are keyed like torchvision's `resnet50().state_dict()` (conv1.weight,
bn1.running_mean, layer1.0.conv2.weight, layer1.0.downsample.0.weight, fc.bias, ...): a
torchvision checkpoint converted with `{k: v.numpy() for k, v in sd.items()}` loads as it is.
Batch norms are folded into the convolutions when the graph is built; the graph runs in
NCHWc (one channel block for every activation), each convolution one kernel with its bias,
relu and residual add fused. The compiled graph keeps the Graph (`net.graph`) and a record of
the model (`net.model`: config and weights) for exporters.
"""
import math
import time

import numpy as np

from .graph import Graph, GraphError, KernelCache

RESNET50_BLOCKS = (3, 4, 6, 3)


# ----------------------------------------------------------------------------- ResNet-50

def resnet50_config(width=64, blocks=RESNET50_BLOCKS, classes=1000):
    """The layer list of a ResNet-50 v1.5 (stride in the 3x3 convolution) as
    [(state_dict prefix, in channels, width, stride, has downsample)] of its bottlenecks.

    >>> from texpr.topi.models import resnet50_config
    >>> resnet50_config(width=8, blocks=(1, 1, 1, 1))[1]
    ('layer2.0', 32, 16, 2, True)
    """
    out, cin = [], width
    for stage, n in enumerate(blocks):
        w = width * 2 ** stage
        for i in range(n):
            stride = 2 if (i == 0 and stage > 0) else 1
            out.append((f"layer{stage + 1}.{i}", cin, w, stride, stride != 1 or cin != w * 4))
            cin = w * 4
    return out


def resnet50_weights(width=64, blocks=RESNET50_BLOCKS, classes=1000, seed=0):
    """Random weights (He-initialised convolutions, random batch-norm statistics), keyed
    like torchvision's resnet50 state_dict, as float32 NumPy arrays.

    >>> from texpr.topi.models import resnet50_weights
    >>> w = resnet50_weights(width=8, blocks=(1, 1, 1, 1), classes=10)
    >>> w["conv1.weight"].shape, w["layer1.0.downsample.0.weight"].shape, w["fc.weight"].shape
    ((8, 3, 7, 7), (32, 8, 1, 1), (10, 256))
    """
    rng = np.random.default_rng(seed)
    w = {}

    def conv(key, o, i, k):
        w[key] = (rng.standard_normal((o, i, k, k)) * math.sqrt(2.0 / (i * k * k))) \
            .astype(np.float32)

    def bn(key, c):
        w[key + ".weight"] = (0.5 + 0.5 * rng.random(c)).astype(np.float32)
        w[key + ".bias"] = (0.1 * rng.standard_normal(c)).astype(np.float32)
        w[key + ".running_mean"] = (0.1 * rng.standard_normal(c)).astype(np.float32)
        w[key + ".running_var"] = (0.5 + rng.random(c)).astype(np.float32)

    conv("conv1.weight", width, 3, 7)
    bn("bn1", width)
    for p, cin, wd, stride, down in resnet50_config(width, blocks, classes):
        conv(p + ".conv1.weight", wd, cin, 1)
        bn(p + ".bn1", wd)
        conv(p + ".conv2.weight", wd, wd, 3)
        bn(p + ".bn2", wd)
        conv(p + ".conv3.weight", wd * 4, wd, 1)
        bn(p + ".bn3", wd * 4)
        if down:
            conv(p + ".downsample.0.weight", wd * 4, cin, 1)
            bn(p + ".downsample.1", wd * 4)
    feat = width * 2 ** (len(blocks) - 1) * 4
    w["fc.weight"] = (rng.standard_normal((classes, feat)) / math.sqrt(feat)).astype(np.float32)
    w["fc.bias"] = (0.1 * rng.standard_normal(classes)).astype(np.float32)
    return w


def _folded(weights, conv, bn, eps=1e-5):
    """(OIHW kernel, bias) of a convolution with its batch norm folded in."""
    from .nn import fold_batch_norm
    k = weights[conv]
    return fold_batch_norm(k, np.zeros(k.shape[0], np.float32), weights[bn + ".weight"],
                           weights[bn + ".bias"], weights[bn + ".running_mean"],
                           weights[bn + ".running_var"], eps)


def _check_weights(weights, expected, model):
    """GraphError naming the first missing key or wrongly shaped array."""
    for key, want in expected.items():
        if key not in weights:
            raise GraphError(f"{model}: weights has no {key!r} (expected shape {list(want.shape)}); "
                             "keys follow torchvision's state_dict")
        got = np.shape(weights[key])
        if tuple(got) != want.shape:
            raise GraphError(f"{model}: weights[{key!r}] has shape {list(got)}, expected "
                             f"{list(want.shape)}")
    return {k: np.ascontiguousarray(weights[k], np.float32) for k in expected}


class ResNet50Builder:
    """Builds the texpr graph of a ResNet-50 (see the module docstring and resnet50()).

    winograd: how 3x3 stride-1 convolutions run: "model" (the cheapest for the target's CPU
    by cpu_conv3x3.conv3x3_algorithm, a cost model of the multiplies, the weight stream and
    the transforms), "table" (the fixed rule of an earlier profile: F(4,3) for outputs at
    least 28 wide, F(2,3) at 14, direct below), "none", "2" / "4" / "5" / "6" (F(m,3)
    everywhere), or a function (builder, xshape, O, kernel, bias, ocb) -> "direct" |
    "wino2" | "wino4" | "wino5" | "wino6" (benchmarks/resnet50.py measures). The 7x7
    stride-2 stem (constant sizes) runs as cpu_conv_stem.stem_algorithm says: direct or
    "stemw", space-to-depth + a 1-D Winograd F(4,4); with "none" / "direct" always direct.
    Attributes after
    building: graph, net (CompiledGraph), choice ({(xshape, O, kind): algorithm}, kind
    "3x3", "3x3/2" or "7x7/2"), build_s (seconds spent building kernels), block (the channel block), cache (KernelCache),
    kernel_outputs (the output tensor of each kernel built here, not taken from the cache:
    autotvm.task.extract_from_program of them gives the network's tuning tasks; build under
    autotvm.apply_history_best with a fresh cache for the tuned network).

    Example (what benchmarks/resnet50.py does; resnet50() returns `.net`)::

        b = ResNet50Builder(image_size=224, winograd="model")
        logits, = b.net(image)
        print(len(b.graph.steps), "kernels,", b.build_s, "s building,", b.choice)
    """

    def __init__(self, batch=1, image_size=224, weights=None, target="native", winograd="model",
                 width=64, blocks=RESNET50_BLOCKS, classes=1000, seed=0, cache=None):
        from .cpu import cpu_info
        self.target, self.winograd = target, winograd
        self.cache = cache if cache is not None else SHARED_MODEL_KERNELS
        self.choice = {}
        self.build_s = 0.0
        self.kernel_outputs = []
        self.config = {"batch": batch, "image_size": image_size, "width": width,
                       "blocks": tuple(blocks), "classes": classes}
        expected = resnet50_weights(width, blocks, classes, seed)
        self.weights = expected if weights is None else _check_weights(weights, expected,
                                                                       "resnet50")
        lanes = cpu_info(target).lanes
        chans = [width * 2 ** s * k for s in range(len(blocks)) for k in (1, 4)] + [width]
        self.block = next(b for b in (2 * lanes, lanes, 8, 4, 2, 1)
                          if all(c % b == 0 for c in chans))
        g = self.graph = Graph("resnet50", kernels=self.cache)
        n = _var("n") if batch is None else batch
        if image_size is None:          # any size the strides allow: one var per side
            h, w = _var("h"), _var("w")
        else:
            self._check_image_size(image_size, len(blocks))
            h = w = image_size
        x = g.input("image", (n, 3, h, w))
        if image_size is None:
            rule = 2 ** (len(blocks) + 1)
            for v in (h, w):
                g.require((v % rule == 0) & (v >= rule),
                          f"resnet50: the image {'height' if v is h else 'width'} {v.name} must "
                          f"be a positive multiple of {rule} (the network halves it "
                          f"{len(blocks) + 1} times)")
        h = g.call(self._layout_in(x.shape), x, name="image_nchwc")
        h = self._conv(h, "conv1.weight", "bn1", stride=2, pad=3, relu=True, name="stem",
                       cin_block=3)
        h = g.call(self._maxpool(h.shape), h, name="maxpool")
        for p, _, _, stride, down in resnet50_config(width, blocks, classes):
            h = self._bottleneck(h, p, stride, down)
        pooled = g.call(self._head_pool(h.shape), h, name="avgpool")
        out = self._fc(pooled, self.weights["fc.weight"], self.weights["fc.bias"])
        self.net = g.compile(out)
        self.net.model = self

    @staticmethod
    def _check_image_size(size, stages):
        rule = 2 ** (stages + 1)
        if isinstance(size, int) and (size < rule or size % rule):
            raise GraphError(f"resnet50: image_size must be a positive multiple of {rule} "
                             f"(the network halves it {stages + 1} times), got {size}")

    # -- kernels ---------------------------------------------------------------------------

    def _built(self, key, fn):
        def build():
            t0 = time.perf_counter()
            k = fn()
            self.build_s += time.perf_counter() - t0
            return k
        return self.cache.get(key + (str(self.target),), build)

    def _build(self, out, args, name):
        from ..targets.build import build
        from .schedules import schedule
        self.kernel_outputs.append(out)
        return build(schedule(out, self.target), args + [out], target=self.target, name=name)

    def _layout_in(self, shape):
        from ..lang.tensor import placeholder
        from .layout import nchw_to_nchwc
        shape = _local_shape(shape)

        def build():
            x = placeholder(shape, name="x")
            return self._build(nchw_to_nchwc(x, 3), [x], "nchw_to_nchwc")
        return self._built(("resnet.layout_in", _key_shape(shape)), build)

    def _maxpool(self, shape):
        from ..lang.tensor import placeholder
        from .nn import pool2d
        shape = _local_shape(shape)

        def build():
            x = placeholder(shape, name="x")
            return self._build(pool2d(x, 3, 2, 1, "max"), [x], "maxpool")
        return self._built(("resnet.maxpool", _key_shape(shape)), build)

    def _head_pool(self, shape):
        from ..lang.tensor import placeholder
        from .nn import global_pool_flatten
        shape = _local_shape(shape)

        def build():
            x = placeholder(shape, name="x")
            return self._build(global_pool_flatten(x, "avg"), [x], "avgpool_flatten")
        return self._built(("resnet.avgpool", _key_shape(shape)), build)

    def _fc(self, h, w, b):
        from ..lang.tensor import placeholder
        from .cpu import dense_weight_block
        from .nn import dense_pack
        from .testing import pack_dense_weight_ref
        N, K = w.shape
        M = h.shape[0]
        if not isinstance(M, int):      # a symbolic batch: Graph.dense's kernel for any M
            return self.graph.dense(h, w, b, target=self.target, name="logits")
        nb = dense_weight_block(N, K, self.target, M=M)
        wp = pack_dense_weight_ref(w, nb)

        def build():
            x = placeholder((M, K), name="x")
            W = placeholder(wp.shape, name="w")
            B = placeholder((N,), name="b")
            return self._build(dense_pack(x, W, B, units=N), [x, W, B], "fc")
        k = self._built(("resnet.fc", M, N, K, nb), build)
        g = self.graph
        return g.call(k, h, g.constant("fc_w", wp), g.constant("fc_b", b), name="logits")

    def _conv_kernel(self, xshape, O, R, stride, pad, residual, relu, algo, ocb):
        from ..lang.tensor import placeholder
        from .nn import add, conv2d_NCHWc
        from .nn import relu as relu_op
        from .stem_winograd import conv2d_stem_winograd
        from .winograd import conv2d_winograd_NCHWc

        xshape = _local_shape(xshape)

        def build():
            _, Cb, _, _, icb = xshape
            x = placeholder(xshape, name="x")
            if algo == "stemw":
                w = placeholder((7, 16 * icb, O), name="U")
                y = conv2d_stem_winograd(x, w, pad, "NCHWc", oc=ocb)
            elif algo == "direct":
                w = placeholder((O // ocb, Cb, R, R, icb, ocb), name="w")
                y = conv2d_NCHWc(x, w, stride, pad)
            else:
                m, s = _winograd_tile(algo)
                a = m + (2 if s == 1 else 1)
                w = placeholder((a, a, O // ocb, Cb * icb * s * s, ocb), name="U")
                y = conv2d_winograd_NCHWc(x, w, pad, m, pre_transformed=True, stride=s)
            b = placeholder((1, O // ocb, 1, 1, ocb), name="bias")
            y = add(y, b)
            args = [x, w, b]
            if residual:
                r = placeholder(y.shape, name="residual")
                y = add(y, r)
                args.append(r)
            if relu:
                y = relu_op(y)
            return self._build(y, args, f"conv{R}x{R}_{algo}")
        key = ("resnet.conv", _key_shape(xshape), O, R, stride, pad, residual, relu, algo, ocb)
        return self._built(key, build)

    def conv_weights(self, kernel, algo, icb, ocb):
        """The packed (direct) or Winograd-transformed (wino<m>; wino<m>s2: F(m,2) of a stride-2
        layer) NCHWc kernel of an OIHW one; for the stem's "stemw" [7, 16C, O]
        (stem_winograd.stem_weight_transform_ref).

        Example::

            w = builder.conv_weights(kernel_oihw, "wino4", icb=16, ocb=16)   # [6, 6, O/16, C, 16]
        """
        from .stem_winograd import stem_weight_transform_ref
        from .testing import pack_kernel_nchwc_ref
        from .winograd import winograd_weight_transform_NCHWc_ref
        if algo == "stemw":
            return stem_weight_transform_ref(kernel)
        kn = pack_kernel_nchwc_ref(kernel, icb, ocb)
        if algo == "direct":
            return kn
        return winograd_weight_transform_NCHWc_ref(kn, *_winograd_tile(algo))

    def _algorithm(self, xshape, O, R, stride, pad, kernel, bias, ocb):
        """direct, or the Winograd tile size of a 3x3 stride-1 layer (see `winograd`); a 3x3
        stride-2 one (padding 1) runs F(4,2) on the space-to-depth input ("wino4s2") where
        winograd="model" and the host's cost model picks it; the 7x7 stride-2 stem "stemw"
        where the cost model picks it (not with winograd "none" / "direct"). The cost model:
        cpu_conv3x3.conv2d_algorithm, which Graph.conv2d runs too."""
        from .cpu_conv3x3 import conv2d_algorithm
        N, Cb, H, W, icb = xshape
        if R == 3 and stride == 2:
            return self._algorithm_s2(xshape, O, pad)
        if R == 7 and stride == 2:
            if self.winograd in ("none", "direct") or Cb != 1:
                return "direct"
            key = (xshape, O, "7x7/2")
            if key not in self.choice:
                self.choice[key] = conv2d_algorithm(N, icb, H, W, O, R, stride, pad,
                                                    target=self.target)
            return self.choice[key]
        if R != 3 or stride != 1:
            return "direct"
        key = (xshape, O, "3x3")
        if key not in self.choice:
            wino = self.winograd
            if callable(wino):
                self.choice[key] = wino(self, xshape, O, kernel, bias, ocb)
            elif wino in ("none", "direct") or not isinstance(W, int):
                self.choice[key] = "direct"
            elif wino == "table":
                self.choice[key] = "wino4" if W >= 28 else "wino2" if W >= 14 else "direct"
            elif wino == "model":
                self.choice[key] = conv2d_algorithm(N, Cb * icb, H, W, O, R, stride, pad,
                                                    target=self.target)
            else:
                self.choice[key] = "wino" + str(wino)
        return self.choice[key]

    def _algorithm_s2(self, xshape, O, pad):
        N, Cb, H, W, icb = xshape
        if self.winograd != "model":
            return "direct"
        key = (xshape, O, "3x3/2")
        if key not in self.choice:
            from .cpu_conv3x3 import conv2d_algorithm
            self.choice[key] = conv2d_algorithm(N, Cb * icb, H, W, O, 3, 2, pad,
                                                target=self.target)
        return self.choice[key]

    def _conv(self, h, conv, bn, stride, pad, relu, name, residual=None, cin_block=None):
        kernel, bias = _folded(self.weights, conv, bn)
        O, _, R, _ = kernel.shape
        icb = cin_block or self.block
        ocb = self.block
        algo = self._algorithm(h.shape, O, R, stride, pad, kernel, bias, ocb)
        k = self._conv_kernel(h.shape, O, R, stride, pad, residual is not None, relu, algo, ocb)
        g = self.graph
        args = [h, g.constant(name + "_w", self.conv_weights(kernel, algo, icb, ocb)),
                g.constant(name + "_b", bias.reshape(1, O // ocb, 1, 1, ocb))]
        if residual is not None:
            args.append(residual)
        return g.call(k, *args, name=name)

    def _bottleneck(self, x, p, stride, down):
        n = p.replace(".", "_")
        y = self._conv(x, p + ".conv1.weight", p + ".bn1", 1, 0, True, n + "_conv1")
        y = self._conv(y, p + ".conv2.weight", p + ".bn2", stride, 1, True, n + "_conv2")
        sc = x
        if down:
            sc = self._conv(x, p + ".downsample.0.weight", p + ".downsample.1", stride, 0, False,
                            n + "_down")
        return self._conv(y, p + ".conv3.weight", p + ".bn3", 1, 0, True, n + "_conv3",
                          residual=sc)


def _winograd_tile(algo):
    """(m, stride) of "wino<m>" (F(m,3)) or "wino<m>s2" (F(m,2), stride 2)."""
    return int(algo[4]), (2 if algo.endswith("s2") else 1)


def resnet50(batch=1, image_size=224, weights=None, target="native", winograd="model",
             width=64, blocks=RESNET50_BLOCKS, classes=1000, seed=0, cache=None):
    """ResNet-50 v1.5 as a CompiledGraph: net(image [batch, 3, size, size]) -> [logits
    [batch, classes]].

    batch=None: one graph for every batch size; image_size=None: for every image of H x W
    that the strides allow (multiples of 32; others raise GraphError naming the var and the
    rule). Its kernels are built once with symbolic extents (direct convolutions; Winograd
    only for constant sizes); buffers are planned per input shape.

    weights: None (random, from `seed`: resnet50_weights) or a dict of NumPy arrays keyed
    like torchvision's state_dict. width / blocks / classes shrink the network (tests);
    image_size must be a multiple of 2 ** (len(blocks) + 1) (32 for ResNet-50's strides).
    Kernels are shared through `cache` (default: one cache for every model built).

    Example::

        net = topi.models.resnet50(image_size=224)
        logits, = net(np.random.rand(1, 3, 224, 224).astype("float32"))
        ref = topi.models.resnet50_ref(image, net.model.weights)
    """
    return ResNet50Builder(batch, image_size, weights, target, winograd, width, blocks,
                           classes, seed, cache).net


def _bn_ref(x, weights, bn, eps=1e-5):
    g, b = weights[bn + ".weight"], weights[bn + ".bias"]
    m, v = weights[bn + ".running_mean"], weights[bn + ".running_var"]
    scale = (g / np.sqrt(v + eps))[None, :, None, None]
    return (x - m[None, :, None, None]) * scale + b[None, :, None, None]


def resnet50_ref(image, weights, blocks=RESNET50_BLOCKS):
    """NumPy ResNet-50 v1.5 (eval: batch norm with running statistics) on NCHW images;
    returns the logits. The width and classes come from the weights.

    >>> import numpy as np
    >>> from texpr.topi.models import resnet50_weights, resnet50_ref
    >>> w = resnet50_weights(width=4, blocks=(1, 1, 1, 1), classes=3)
    >>> resnet50_ref(np.zeros((2, 3, 32, 32), np.float32), w, blocks=(1, 1, 1, 1)).shape
    (2, 3)
    """
    from .testing import conv2d_nchw_ref, pool2d_ref
    relu = lambda a: np.maximum(a, 0)   # noqa: E731
    x = np.asarray(image, np.float64)
    width = weights["conv1.weight"].shape[0]
    x = relu(_bn_ref(conv2d_nchw_ref(x, weights["conv1.weight"].astype(np.float64), 2, 3),
                     weights, "bn1"))
    x = pool2d_ref(x, 3, 2, 1, "max")
    for p, _, _, stride, down in resnet50_config(width, blocks):
        def cbn(a, c, bn, s, pad):
            return _bn_ref(conv2d_nchw_ref(a, weights[c].astype(np.float64), s, pad), weights, bn)
        y = relu(cbn(x, p + ".conv1.weight", p + ".bn1", 1, 0))
        y = relu(cbn(y, p + ".conv2.weight", p + ".bn2", stride, 1))
        y = cbn(y, p + ".conv3.weight", p + ".bn3", 1, 0)
        sc = cbn(x, p + ".downsample.0.weight", p + ".downsample.1", stride, 0) if down else x
        x = relu(y + sc)
    feat = x.mean(axis=(2, 3))
    return (feat @ weights["fc.weight"].T.astype(np.float64) + weights["fc.bias"]) \
        .astype(np.float32)


#: Kernels of the models built here, shared by every model (identical layers build once).
SHARED_MODEL_KERNELS = KernelCache()


# ----------------------------------------------------------------------------- DLRM

def dlrm_weights(num_tables=8, rows=1000, dim=16, num_dense=13, bottom_mlp=(64, 16),
                 top_mlp=(64, 1), seed=0):
    """Random weights of a DLRM, keyed like facebookresearch/dlrm's state_dict: emb_l.<t>.weight
    [rows, dim], bot_l.<2i>.weight / .bias (Linear layers at the even indices of the MLP's
    Sequential, ReLUs between), top_l.<2i>.weight / .bias.

    >>> from texpr.topi.models import dlrm_weights
    >>> w = dlrm_weights(num_tables=2, rows=10, dim=4, num_dense=3, bottom_mlp=(8, 4),
    ...                  top_mlp=(8, 1))
    >>> sorted(w)[:3], w["top_l.0.weight"].shape          # top input: 4 + 3 pairs
    (['bot_l.0.bias', 'bot_l.0.weight', 'bot_l.2.bias'], (8, 7))
    """
    rng = np.random.default_rng(seed)
    w = {}
    for t in range(num_tables):
        w[f"emb_l.{t}.weight"] = rng.uniform(-1 / math.sqrt(rows), 1 / math.sqrt(rows),
                                             (rows, dim)).astype(np.float32)

    def mlp(prefix, sizes, n_in):
        for i, n in enumerate(sizes):
            w[f"{prefix}.{2 * i}.weight"] = (rng.standard_normal((n, n_in)) *
                                             math.sqrt(2.0 / (n + n_in))).astype(np.float32)
            w[f"{prefix}.{2 * i}.bias"] = (rng.standard_normal(n) *
                                           math.sqrt(1.0 / n)).astype(np.float32)
            n_in = n
    mlp("bot_l", bottom_mlp, num_dense)
    mlp("top_l", top_mlp, dim + num_tables * (num_tables + 1) // 2)
    return w


def dlrm_inputs(batch, num_tables=8, rows=1000, num_dense=13, bag_size=4, seed=0,
                ragged=False):
    """Example inputs of dlrm(): {"dense": [batch, num_dense] float32, "indices<t>": int32,
    "lengths<t>": [batch] int32 per table}; bags of bag_size indices each (ragged: 0 to
    2 * bag_size per bag, the total varying with the seed).

    >>> from texpr.topi.models import dlrm_inputs
    >>> x = dlrm_inputs(3, num_tables=2, rows=10, num_dense=4, bag_size=2)
    >>> sorted(x), x["indices1"].shape, x["lengths0"].tolist()
    (['dense', 'indices0', 'indices1', 'lengths0', 'lengths1'], (6,), [2, 2, 2])
    """
    rng = np.random.default_rng(seed)
    out = {"dense": rng.random((batch, num_dense)).astype(np.float32)}
    for t in range(num_tables):
        lengths = (rng.integers(0, 2 * bag_size + 1, batch) if ragged
                   else np.full(batch, bag_size)).astype(np.int32)
        out[f"indices{t}"] = rng.integers(0, rows, int(lengths.sum())).astype(np.int32)
        out[f"lengths{t}"] = lengths
    return out


def _mlp_layers(weights, prefix):
    out, i = [], 0
    while f"{prefix}.{i}.weight" in weights:
        out.append((weights[f"{prefix}.{i}.weight"], weights[f"{prefix}.{i}.bias"]))
        i += 2
    return out


def dlrm_ref(inputs, weights):
    """NumPy DLRM (dot interaction, sigmoid output) on dlrm_inputs-style inputs.

    >>> from texpr.topi.models import dlrm_inputs, dlrm_ref, dlrm_weights
    >>> w = dlrm_weights(num_tables=2, rows=10, dim=4, num_dense=3, bottom_mlp=(8, 4),
    ...                  top_mlp=(8, 1))
    >>> dlrm_ref(dlrm_inputs(5, num_tables=2, rows=10, num_dense=3), w).shape
    (5, 1)
    """
    from .testing import dot_interaction_ref, sparse_lengths_sum_ref
    x = np.asarray(inputs["dense"], np.float64)
    for w, b in _mlp_layers(weights, "bot_l"):
        x = np.maximum(x @ w.T + b, 0)
    T = 0
    while f"emb_l.{T}.weight" in weights:
        T += 1
    embs = np.stack([sparse_lengths_sum_ref(weights[f"emb_l.{t}.weight"].astype(np.float64),
                                            inputs[f"indices{t}"], inputs[f"lengths{t}"])
                     for t in range(T)], axis=1)
    z = np.concatenate([x, dot_interaction_ref(x, embs)], axis=1)
    top = _mlp_layers(weights, "top_l")
    for k, (w, b) in enumerate(top):
        z = z @ w.T + b
        if k + 1 < len(top):
            z = np.maximum(z, 0)
    return (1 / (1 + np.exp(-z))).astype(np.float32)


class DLRMBuilder:
    """Builds the texpr graph of a DLRM-style ranking model (see dlrm()); attributes:
    graph, net (CompiledGraph), config, weights, cache.

    Example::

        b = DLRMBuilder(batch=8, num_tables=2, rows=100, dim=8, bottom_mlp=(8,))
        scores, = b.net(**dlrm_inputs(8, num_tables=2, rows=100))
    """

    def __init__(self, batch=1, num_tables=8, rows=1000, dim=16, bag_size=4, num_dense=13,
                 bottom_mlp=(64, 16), top_mlp=(64, 1), weights=None, seed=0, target="native",
                 cache=None):
        self.target = target
        self.cache = cache if cache is not None else SHARED_MODEL_KERNELS
        bottom_mlp, top_mlp = tuple(bottom_mlp), tuple(top_mlp)
        if not bottom_mlp or bottom_mlp[-1] != dim:
            raise GraphError(f"dlrm: the bottom MLP must end in dim = {dim} outputs (the "
                             f"embedding width), got bottom_mlp {list(bottom_mlp)}")
        if not top_mlp:
            raise GraphError("dlrm: top_mlp needs at least one layer")
        self.config = {"batch": batch, "num_tables": num_tables, "rows": rows, "dim": dim,
                       "bag_size": bag_size, "num_dense": num_dense, "bottom_mlp": bottom_mlp,
                       "top_mlp": top_mlp}
        expected = dlrm_weights(num_tables, rows, dim, num_dense, bottom_mlp, top_mlp, seed)
        self.weights = expected if weights is None else _check_weights(weights, expected, "dlrm")
        g = self.graph = Graph("dlrm", kernels=self.cache)
        B = _var("batch") if batch is None else batch
        self.config["batch"] = B
        x = g.input("dense", (B, num_dense))
        sparse = []
        for t in range(num_tables):
            L = B * bag_size if isinstance(B, int) else _var(f"L{t}")
            sparse.append((g.input(f"indices{t}", (L,), "int32"),
                           g.input(f"lengths{t}", (B,), "int32")))
        for i, (w, b) in enumerate(_mlp_layers(self.weights, "bot_l")):
            x = g.dense(x, w, b, activation="relu", target=target, name=f"bot_l_{2 * i}")
        # the kernels are built on extents of their own (symbolic ones as vars of the
        # kernel, keyed as None), so that identical layers share one kernel
        Bk = _local(B, "batch")
        embs = []
        for t, (idx, lengths) in enumerate(sparse):
            table = g.constant(f"emb_l_{t}", self.weights[f"emb_l.{t}.weight"])
            Lk = _local(idx.shape[0], "L")
            k = self._kernel(("dlrm.sls", rows, dim, _key(Lk), _key(Bk)),
                             lambda Lk=Lk: self._sls(rows, dim, (Lk,), (Bk,)))
            embs.append(g.call(k, table, idx, lengths, name=f"emb_{t}"))
        stacked = g.call(self._kernel(("dlrm.stack", _key(Bk), num_tables, dim),
                                      lambda: self._stack(Bk, num_tables, dim)),
                         *embs, name="embs")
        inter = g.call(self._kernel(("dlrm.interaction", _key(Bk), num_tables, dim),
                                    lambda: self._interaction(Bk, num_tables, dim)),
                       x, stacked, name="interaction")
        z = g.call(self._kernel(("dlrm.concat", _key(Bk), dim, inter.shape[1]),
                                lambda: self._concat(Bk, dim, inter.shape[1])),
                   x, inter, name="top_in")
        top = _mlp_layers(self.weights, "top_l")
        for i, (w, b) in enumerate(top):
            z = g.dense(z, w, b, activation="relu" if i + 1 < len(top) else None,
                        target=target, name=f"top_l_{2 * i}")
        out = g.call(self._kernel(("dlrm.sigmoid", _key(Bk), top_mlp[-1]),
                                  lambda: self._sigmoid(Bk, top_mlp[-1])), z, name="scores")
        self.net = g.compile(out)
        self.net.model = self

    def _kernel(self, key, build):
        return self.cache.get(key + (str(self.target),), build)

    def _build(self, out, args, name):
        from ..targets.build import build
        from .schedules import schedule
        return build(schedule(out, self.target), args + [out], target=self.target, name=name)

    def _sls(self, rows, dim, ishape, lshape):
        from ..lang.tensor import placeholder
        from .sparse import sparse_lengths_sum
        data = placeholder((rows, dim), name="table")
        idx = placeholder(ishape, "int32", name="indices")
        lengths = placeholder(lshape, "int32", name="lengths")
        return self._build(sparse_lengths_sum(data, idx, lengths), [data, idx, lengths],
                           "embedding_bag")

    def _stack(self, B, T, D):
        from ..lang.expr import if_then_else
        from ..lang.tensor import compute, placeholder
        es = [placeholder((B, D), name=f"e{t}") for t in range(T)]

        def row(b, t, d):
            out = es[-1][b, d]
            for k in range(T - 2, -1, -1):
                out = if_then_else(t == k, es[k][b, d], out)
            return out
        out = compute((B, T, D), row, name="stack", tag="injective")
        return self._build(out, es, "stack_embeddings")

    def _interaction(self, B, T, D):
        from ..lang.tensor import placeholder
        from .sparse import dot_interaction
        x = placeholder((B, D), name="x")
        e = placeholder((B, T, D), name="embs")
        return self._build(dot_interaction(x, e), [x, e], "dot_interaction")

    def _concat(self, B, D, P):
        from ..lang.expr import elementwise_max, elementwise_min, if_then_else
        from ..lang.tensor import compute, placeholder
        x = placeholder((B, D), name="x")
        p = placeholder((B, P), name="pairs")
        out = compute((B, D + P), lambda b, j: if_then_else(
            j < D, x[b, elementwise_min(j, D - 1)], p[b, elementwise_max(j - D, 0)]),
            name="concat", tag="injective")
        return self._build(out, [x, p], "concat")

    def _sigmoid(self, B, N):
        from ..lang.tensor import placeholder
        from .math import sigmoid
        z = placeholder((B, N), name="z")
        return self._build(sigmoid(z), [z], "sigmoid")


def _var(name):
    from ..lang.expr import Var
    return Var(name, "int32")


def _local_shape(shape):
    """A kernel's own shape for an NCHW(c) graph shape: symbolic extents as new vars."""
    return tuple(_local(d, "nchwc"[k]) for k, d in enumerate(shape))


def _key_shape(shape):
    return tuple(_key(d) for d in shape)


def _local(extent, name):
    """A kernel's own extent for a graph extent: the int, or a new var of the kernel."""
    return extent if isinstance(extent, int) else _var(name)


def _key(extent):
    """A kernel extent in a cache key: the int, or None for any symbolic one."""
    return extent if isinstance(extent, int) else None


def dlrm(batch=1, num_tables=8, rows=1000, dim=16, bag_size=4, num_dense=13,
         bottom_mlp=(64, 16), top_mlp=(64, 1), weights=None, seed=0, target="native",
         cache=None):
    """A DLRM-style ranking model as a CompiledGraph: dense features [batch, num_dense] ->
    bottom MLP (relu) -> [batch, dim]; one embedding bag per table (sparse_lengths_sum of
    the table's rows over `indices<t>` in bags of `lengths<t>`); pairwise dot interaction
    of the bottom output and the bags; top MLP (relu between layers) -> sigmoid scores
    [batch, top_mlp[-1]].

    Inputs by name: dense, indices0, lengths0, indices1, ... (dlrm_inputs makes examples;
    indices<t> has batch * bag_size entries). weights: None (random from `seed`:
    dlrm_weights) or a dict keyed like it. Reference: dlrm_ref.

    Example::

        net = topi.models.dlrm(batch=16, num_tables=4, rows=100, dim=8, bottom_mlp=(16, 8))
        scores, = net(**topi.models.dlrm_inputs(16, num_tables=4, rows=100))
    """
    return DLRMBuilder(batch, num_tables, rows, dim, bag_size, num_dense, bottom_mlp, top_mlp,
                       weights, seed, target, cache).net
