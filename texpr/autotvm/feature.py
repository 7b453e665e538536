"""Features of a candidate for the cost model: its loop program (after the `loop_nest` pass:
loops, their extents and annotations, the accesses in them) summarised as a fixed-length
vector, plus its knob values.

Per program: log2 of the iterations of all statements, of the parallel extent, of the vector
width, of the unrolled extent, counts of loops by kind and of tensorized calls. Per loop
level of the hottest statement (innermost LEVELS levels): log2 extent, kind (one-hot), log2
bytes the accesses under that loop touch (distinct elements: extents of the loops at or
inside it that the indices use), and the arithmetic intensity there (operations per byte).
"""
import math

import numpy as np

from ..lang import dtypes
from ..lang.expr import BinOp, Call, Const, TensorLoad, Var
from ..lang.ir import BufferLoad, BufferStore, For, IntrinCall
from ..lang.visitor import walk

LEVELS = 6
_KINDS = ("serial", "parallel", "vectorized", "unrolled")
PER_LEVEL = 3 + len(_KINDS)
GLOBAL = 9


def _log2(x):
    return math.log2(max(float(x), 1.0))


def _extent(e):
    return e.value if isinstance(e, Const) else 16      # a symbolic tail: a guess


class _Stmt:
    """A statement (store or intrinsic call) with the loops around it and its accesses."""

    def __init__(self, loops, node):
        self.loops = loops
        self.accesses = []      # (set of index var ids, bytes per element)
        self.ops = 0
        if isinstance(node, IntrinCall):
            for opnd in tuple(node.outputs) + tuple(node.inputs):
                self._access(opnd.indices, opnd.buffer.dtype)
            self.ops = 64       # a tensorized tile: many operations per call
            return
        self._access(node.indices, node.buffer.dtype)
        for n in walk(node.value):
            if isinstance(n, (BufferLoad, TensorLoad)):
                dt = n.buffer.dtype if isinstance(n, BufferLoad) else n.dtype
                self._access(n.indices, dt)
            elif isinstance(n, (BinOp, Call)):
                self.ops += 1

    def _access(self, indices, dtype):
        ids = {id(v) for i in indices for v in walk(i) if isinstance(v, Var)}
        self.accesses.append((ids, max(1, dtypes.bits(dtype) // 8)))

    def iterations(self):
        n = 1
        for _, ext, _ in self.loops:
            n *= ext
        return n


def _statements(body):
    out = []

    def go(node, loops):
        if isinstance(node, For):
            go(node.body, loops + [(id(node.var), _extent(node.extent), node.kind)])
            return
        if isinstance(node, (BufferStore, IntrinCall)):
            out.append(_Stmt(loops, node))
            return
        for name in getattr(node, "_children", ()):
            v = getattr(node, name)
            if v is None:
                continue
            for x in (v if isinstance(v, tuple) else (v,)):
                if hasattr(x, "_children") and not isinstance(x, (BufferLoad, TensorLoad)):
                    go(x, loops)
    go(body, [])
    return out


def program_features(func):
    """The feature vector of a lowered function (a LoweredFunc after `loop_nest`)."""
    stmts = _statements(func.body)
    g = np.zeros(GLOBAL)
    lv = np.zeros(LEVELS * PER_LEVEL)
    if not stmts:
        return np.concatenate([g, lv])
    loops = {}
    for s in stmts:
        for lid, ext, kind in s.loops:
            loops[lid] = (ext, kind)
    par = [e for e, k in loops.values() if k == "parallel"]
    vec = [e for e, k in loops.values() if k == "vectorized"]
    unr = [e for e, k in loops.values() if k == "unrolled"]
    g[:] = [_log2(sum(s.iterations() for s in stmts)), _log2(np.prod(par) if par else 1),
            _log2(max(vec) if vec else 1), _log2(np.prod(unr) if unr else 1), len(loops),
            len(par), len(vec), len(unr),
            sum(1 for s in stmts if s.ops == 64)]
    hot = max(stmts, key=lambda s: s.iterations() * max(1, s.ops))
    inner = hot.loops[-LEVELS:]
    for k, (lid, ext, kind) in enumerate(inner):
        below = hot.loops[len(hot.loops) - len(inner) + k:]
        touched = 0.0
        for vars_, nbytes in hot.accesses:
            elems = 1
            for l, e, _ in below:
                if l in vars_:
                    elems *= e
            touched += elems * nbytes
        iters = 1
        for _, e, _ in below:
            iters *= e
        base = k * PER_LEVEL
        lv[base] = _log2(ext)
        lv[base + 1] = _log2(touched)
        lv[base + 2] = iters * max(1, hot.ops) / max(touched, 1.0)
        lv[base + 3 + (_KINDS.index(kind) if kind in _KINDS else 0)] = 1.0
    return np.concatenate([g, lv])


def config_features(task, config, kind="program"):
    """Features of one config of a task: program features (lowered to the loop nest) and
    the knob values, or the knob values alone (kind="knob": no lowering, cheap)."""
    knobs = np.asarray(config.get_flatten_feature(), dtype=float)
    if kind == "knob":
        return knobs
    from ..targets.build import lower_for_target
    try:
        s, tensors = task.instantiate(config)
        func = lower_for_target(s, tensors, "features", task.target, stop_after="loop_nest")
        prog = program_features(func)
    except Exception:  # noqa: BLE001  (a config that does not lower: it will fail to build)
        prog = np.full(GLOBAL + LEVELS * PER_LEVEL, -1.0)
    return np.concatenate([prog, knobs])
