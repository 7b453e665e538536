"""Tuning knobs of a schedule template (AutoTVM's config space).

A template defines knobs on `cfg` (define_split, define_reorder, define_annotate,
define_knob) and reads their values back (`cfg["tile_x"].apply(s, stage, axis)`,
`cfg["unroll"].val`). The same template code runs against three kinds of `cfg`:

- ConfigSpace: collecting. Each define_* records the knob's candidates; the space is the
  product of them, numbered by a mixed-radix index (the first knob varies fastest).
- ConfigEntity: one point of a space (an index and its entity per knob); define_* does nothing.
- FallbackConfig: no tuning record: define_* records the knob and its first candidate, and a
  template sets the knobs it cares about to its heuristic choice (`cfg["tile"] = ...` when
  `cfg.is_fallback`), so an untuned schedule is the heuristic one.

This module is in the schedule layer (it only calls Stage primitives) so that topi's
schedules can be templates; texpr.autotvm re-exports it.
"""
import itertools
import math
import zlib
from collections import OrderedDict

from ..errors import TexprError


class ConfigError(TexprError):
    """A template defined or read a knob wrongly (bad policy, unknown name, bad value).

    >>> from texpr import autotvm
    >>> cfg = autotvm.ConfigSpace()
    >>> cfg.define_knob("unroll", [0, 1])
    >>> cfg["unrol"]
    Traceback (most recent call last):
      ...
    texpr.schedule.config_space.ConfigError: no knob named 'unrol'; the template defines ['unroll']
    """


def _extent(axis, what):
    """An int extent from an int, an IterVar of constant extent, or a knob's axis count."""
    if isinstance(axis, int) and not isinstance(axis, bool):
        return axis
    dom = getattr(axis, "dom", None)
    ext = getattr(dom, "extent", None)
    val = getattr(ext, "value", None)
    if isinstance(val, int):
        return val
    raise ConfigError(f"{what}: expected an int extent or an axis of constant extent, "
                      f"got {axis!r}")


def _factors(n):
    small = [d for d in range(1, int(math.isqrt(n)) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


# ----------------------------------------------------------------------------- entities

class SplitEntity:
    """Sizes of a split, outermost first; size[0] == -1 means "what is left".

    >>> from texpr import autotvm
    >>> autotvm.SplitEntity([-1, 4, 2])
    sp[-1, 4, 2]
    """
    kind = "sp"

    def __init__(self, size):
        self.size = [int(x) for x in size]

    def apply(self, sch, stage, axis):
        """Split `axis` of `stage` into len(size) axes (outermost first) and return them.

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> from texpr import autotvm
        >>> axes = autotvm.SplitEntity([-1, 4, 2]).apply(s, s[B], B.op.axis[0])
        >>> [(iv.name, int(s[B].extent_of(iv))) for iv in axes]
        [('i.outer.outer', 8), ('i.outer.inner', 4), ('i.inner', 2)]
        """
        out = []
        for f in reversed(self.size[1:]):
            axis, inner = stage.split(axis, factor=f)
            out.append(inner)
        out.append(axis)
        return out[::-1]

    def value(self):
        """The sizes as a list (a record's JSON value).

        >>> from texpr import autotvm
        >>> autotvm.SplitEntity([-1, 8]).value()
        [-1, 8]
        """
        return list(self.size)

    def __eq__(self, other):
        return isinstance(other, SplitEntity) and self.size == other.size

    def __hash__(self):
        return hash(("sp", tuple(self.size)))

    def __repr__(self):
        return f"sp{self.size}"


class ReorderEntity:
    """A permutation of the axes given to apply.

    >>> from texpr import autotvm
    >>> autotvm.ReorderEntity([1, 0])
    re[1, 0]
    """
    kind = "re"

    def __init__(self, perm):
        self.perm = [int(x) for x in perm]

    def apply(self, sch, stage, axes):
        """Reorder `axes` of `stage` by the permutation; returns them in the new order.

        >>> import texpr as te
        >>> from texpr import autotvm
        >>> A = te.placeholder((4, 8), name="A")
        >>> B = te.compute((4, 8), lambda i, j: A[i, j] + 1.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> [iv.name for iv in autotvm.ReorderEntity([1, 0]).apply(s, s[B], B.op.axis)]
        ['j', 'i']
        """
        if len(axes) != len(self.perm):
            raise ConfigError(f"reorder knob of {len(self.perm)} axes applied to {len(axes)}")
        new = [axes[i] for i in self.perm]
        stage.reorder(*new)
        return new

    def value(self):
        """The permutation as a list (a record's JSON value).

        >>> from texpr import autotvm
        >>> autotvm.ReorderEntity([2, 0, 1]).value()
        [2, 0, 1]
        """
        return list(self.perm)

    def __eq__(self, other):
        return isinstance(other, ReorderEntity) and self.perm == other.perm

    def __hash__(self):
        return hash(("re", tuple(self.perm)))

    def __repr__(self):
        return f"re{self.perm}"


class AnnotateEntity:
    """One annotation per axis: "none", "unroll", "vec" or "parallel".

    >>> from texpr import autotvm
    >>> autotvm.AnnotateEntity(["none", "vec"])
    an['none', 'vec']
    """
    kind = "an"
    NAMES = ("none", "unroll", "vec", "parallel")

    def __init__(self, anns):
        self.anns = list(anns)

    def apply(self, sch, stage, axes):
        """Annotate each of `axes` of `stage` (unroll, vectorize, parallel or nothing);
        returns them.

        >>> import texpr as te
        >>> A = te.placeholder((64,), name="A")
        >>> B = te.compute((64,), lambda i: A[i] * 2.0, name="B")
        >>> s = te.create_schedule(B.op)
        >>> from texpr import autotvm
        >>> xo, xi = s[B].split(B.op.axis[0], factor=8)
        >>> _ = autotvm.AnnotateEntity(["parallel", "vec"]).apply(s, s[B], [xo, xi])
        >>> s[B].iter_var_attrs[xi].iter_type == te.IterVar.Vectorized
        True
        """
        if len(axes) != len(self.anns):
            raise ConfigError(f"annotate knob of {len(self.anns)} axes applied to {len(axes)}")
        for ax, ann in zip(axes, self.anns):
            if ann == "unroll":
                stage.unroll(ax)
            elif ann == "vec":
                stage.vectorize(ax)
            elif ann == "parallel":
                stage.parallel(ax)
            elif ann != "none":
                raise ConfigError(f"unknown annotation {ann!r}; expected one of {self.NAMES}")
        return list(axes)

    def value(self):
        """The annotations as a list (a record's JSON value).

        >>> from texpr import autotvm
        >>> autotvm.AnnotateEntity(["unroll", "none"]).value()
        ['unroll', 'none']
        """
        return list(self.anns)

    def __eq__(self, other):
        return isinstance(other, AnnotateEntity) and self.anns == other.anns

    def __hash__(self):
        return hash(("an", tuple(self.anns)))

    def __repr__(self):
        return f"an{self.anns}"


def _freeze(v):
    return tuple(_freeze(x) for x in v) if isinstance(v, (list, tuple)) else v


class OtherOptionEntity:
    """A value of a define_knob knob (`.val`).

    >>> from texpr import autotvm
    >>> autotvm.OtherOptionEntity(4).val
    4
    """
    kind = "ot"

    def __init__(self, val):
        self.val = _freeze(val)

    def value(self):
        """The value as a record stores it (a tuple as a list).

        >>> from texpr import autotvm
        >>> autotvm.OtherOptionEntity((1, 2)).value()
        [1, 2]
        """
        return list(self.val) if isinstance(self.val, tuple) else self.val

    def __eq__(self, other):
        return isinstance(other, OtherOptionEntity) and self.val == other.val

    def __hash__(self):
        return hash(("ot", self.val))

    def __repr__(self):
        return f"ot({self.val!r})"


_ENTITY = {c.kind: c for c in (SplitEntity, ReorderEntity, AnnotateEntity, OtherOptionEntity)}


def entity_from_json(kind, value):
    if kind not in _ENTITY:
        raise ConfigError(f"unknown knob kind {kind!r} in a record; expected one of "
                          f"{sorted(_ENTITY)}")
    return _ENTITY[kind](value)


# ----------------------------------------------------------------------------- knob spaces

class KnobSpace:
    """The candidates of one knob."""

    def __init__(self, entities):
        self.entities = list(entities)
        if not self.entities:
            raise ConfigError("a knob needs at least one candidate")

    def __len__(self):
        return len(self.entities)

    def __getitem__(self, i):
        return self.entities[i]

    def index(self, entity):
        try:
            return self.entities.index(entity)
        except ValueError:
            return None

    def __repr__(self):
        return f"{type(self).__name__}(len={len(self)})"


class SplitSpace(KnobSpace):
    """Splits of an extent into num_outputs factors. policy "factors": products that
    divide the extent; "power2": powers of two (the outermost takes the rest, with a tail);
    "verbose": both. max_factor bounds every inner factor."""

    def __init__(self, extent, num_outputs, policy="factors", max_factor=None, filter=None):
        if num_outputs < 1:
            raise ConfigError(f"define_split: num_outputs must be >= 1, got {num_outputs}")
        if policy not in ("factors", "power2", "verbose"):
            raise ConfigError(f"define_split: unknown policy {policy!r}; expected 'factors', "
                              f"'power2' or 'verbose'")
        cap = max_factor or extent
        cands = set()
        if policy in ("factors", "verbose"):
            cands |= {f for f in _factors(extent) if f <= cap}
        if policy in ("power2", "verbose"):
            p = 1
            while p <= min(cap, extent):
                cands.add(p)
                p *= 2
        cands = sorted(cands)
        out = []
        exact = policy == "factors"

        def rec(prefix, left):
            if len(prefix) == num_outputs - 1:
                out.append(SplitEntity([-1] + prefix[::-1]))
                return
            for f in cands:
                if (exact and left % f) or f > left:
                    continue
                rec(prefix + [f], left // f if exact else -(-left // f))
        rec([], extent)
        if filter is not None:
            out = [e for e in out if filter(e)]
        self.extent = extent
        super().__init__(out)


class ReorderSpace(KnobSpace):
    def __init__(self, n, policy="all", candidate=None):
        if policy == "all":
            perms = itertools.permutations(range(n))
        elif policy == "identity":
            perms = [range(n)]
        elif policy == "candidate":
            if not candidate:
                raise ConfigError("define_reorder policy 'candidate' needs candidate=[...]")
            perms = candidate
        else:
            raise ConfigError(f"define_reorder: unknown policy {policy!r}; expected 'all', "
                              f"'identity' or 'candidate'")
        super().__init__(ReorderEntity(p) for p in perms)


class AnnotateSpace(KnobSpace):
    _POLICY = {"try_unroll": ("none", "unroll"), "try_vec": ("none", "vec"),
               "try_unroll_vec": ("none", "unroll", "vec"), "unroll": ("unroll",),
               "vec": ("vec",), "try_parallel": ("none", "parallel")}

    def __init__(self, n, policy="try_unroll", candidate=None):
        if policy == "candidate":
            if not candidate:
                raise ConfigError("define_annotate policy 'candidate' needs candidate=[...]")
            anns = candidate
        elif policy in self._POLICY:
            opts = self._POLICY[policy]
            if "vec" in opts and n:     # only the innermost axis may be vectorized
                outer = [o for o in opts if o != "vec"] or ["none"]
                anns = [list(p) + [v] for p in itertools.product(outer, repeat=n - 1)
                        for v in opts]
            else:
                anns = [list(p) for p in itertools.product(opts, repeat=n)]
        else:
            raise ConfigError(f"define_annotate: unknown policy {policy!r}; expected one of "
                              f"{sorted(self._POLICY) + ['candidate']}")
        super().__init__(AnnotateEntity(a) for a in anns)


class OtherOptionSpace(KnobSpace):
    def __init__(self, candidates):
        if not isinstance(candidates, (list, tuple)):
            raise ConfigError(f"define_knob: candidates must be a list, got {candidates!r}")
        seen = []
        for c in candidates:
            e = OtherOptionEntity(c)
            if e not in seen:
                seen.append(e)
        super().__init__(seen)


# ----------------------------------------------------------------------------- configs

class ConfigSpace:
    """The knobs a template defines (collecting) and the space of their products.

    >>> from texpr import autotvm
    >>> cfg = autotvm.ConfigSpace()
    >>> cfg.define_split("tile", 16, num_outputs=2)
    >>> cfg.define_knob("unroll", [0, 1])
    >>> len(cfg), cfg.dims()
    (10, [5, 2])
    """
    is_fallback = False
    _collect = True

    def __init__(self):
        self.space_map = OrderedDict()
        self._entity_map = OrderedDict()
        self.flop = 0.0
        self.code_hash = None

    # --- definitions (TVM's names)
    def define_split(self, name, axis, num_outputs=2, policy="factors", max_factor=None,
                     filter=None):
        """A knob splitting `axis` (an IterVar or an extent) into `num_outputs` parts; policy
        "factors" (exact divisors), "power2" or "verbose" (both).

        >>> from texpr import autotvm
        >>> cfg = autotvm.ConfigSpace()
        >>> cfg.define_split("tile", 8)
        >>> cfg.space_map["tile"]
        SplitSpace(len=4)
        """
        ext = _extent(axis, f"define_split {name!r}")
        return self._define(name, lambda: SplitSpace(ext, num_outputs, policy, max_factor,
                                                     filter))

    def define_reorder(self, name, axes, policy="all", candidate=None):
        """A knob permuting `axes` (a list, or their count); policy "all", "identity" or
        "candidate" (given permutations).

        >>> from texpr import autotvm
        >>> cfg = autotvm.ConfigSpace()
        >>> cfg.define_reorder("order", 3)
        >>> len(cfg), cfg["order"]
        (6, re[0, 1, 2])
        """
        n = axes if isinstance(axes, int) else len(axes)
        return self._define(name, lambda: ReorderSpace(n, policy, candidate))

    def define_annotate(self, name, axes, policy="try_unroll", candidate=None):
        """A knob annotating `axes` (a list, or their count): policy "try_unroll", "try_vec",
        "try_unroll_vec", ... or "candidate".

        >>> from texpr import autotvm
        >>> cfg = autotvm.ConfigSpace()
        >>> cfg.define_annotate("ann", 2, policy="try_unroll")
        >>> len(cfg), cfg["ann"]
        (4, an['none', 'none'])
        """
        n = axes if isinstance(axes, int) else len(axes)
        return self._define(name, lambda: AnnotateSpace(n, policy, candidate))

    def define_knob(self, name, candidates):
        """A knob taking one of `candidates` (any values); read back as cfg[name].val.

        >>> from texpr import autotvm
        >>> cfg = autotvm.ConfigSpace()
        >>> cfg.define_knob("unroll", [0, 4, 8])
        >>> len(cfg), cfg["unroll"].val
        (3, 0)
        """
        return self._define(name, lambda: OtherOptionSpace(candidates))

    def add_flop(self, flop):
        """Count `flop` floating-point operations for the tuner's GFLOPS figures.

        >>> from texpr import autotvm
        >>> cfg = autotvm.ConfigSpace()
        >>> cfg.add_flop(2 * 64 * 64 * 64)
        >>> cfg.flop
        524288.0
        """
        self.flop += float(flop)

    def _define(self, name, make):
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a knob name must be a non-empty string, got {name!r}")
        if self._collect:
            if name in self.space_map:
                raise ConfigError(f"knob {name!r} is defined twice")
            space = make()
            self.space_map[name] = space
            self._entity_map[name] = space[0]
        return None

    # --- reading
    def __getitem__(self, name):
        try:
            return self._entity_map[name]
        except KeyError:
            raise ConfigError(f"no knob named {name!r}; the template defines "
                              f"{list(self._entity_map)}") from None

    def __contains__(self, name):
        return name in self._entity_map

    # --- the space
    def dims(self):
        """The number of candidates of each knob, in definition order.

        >>> from texpr import autotvm
        >>> cfg = autotvm.ConfigSpace()
        >>> cfg.define_split("tile", 16)
        >>> cfg.define_knob("unroll", [0, 1])
        >>> cfg.dims()
        [5, 2]
        """
        return [len(s) for s in self.space_map.values()]

    def __len__(self):
        n = 1
        for d in self.dims():
            n *= d
        return n

    def point2knob(self, index):
        """The knob indices (one per knob, in definition order) of a config index.

        >>> from texpr import autotvm
        >>> cfg = autotvm.ConfigSpace()
        >>> cfg.define_knob("a", [0, 1, 2])
        >>> cfg.define_knob("b", [0, 1])
        >>> cfg.point2knob(4)                  # the first knob varies fastest
        [1, 1]
        """
        out = []
        for d in self.dims():
            out.append(index % d)
            index //= d
        return out

    def knob2point(self, knobs):
        """The config index of knob indices (the inverse of point2knob).

        >>> from texpr import autotvm
        >>> cfg = autotvm.ConfigSpace()
        >>> cfg.define_knob("a", [0, 1, 2])
        >>> cfg.define_knob("b", [0, 1])
        >>> cfg.knob2point([1, 1]), cfg.point2knob(cfg.knob2point([1, 1]))
        (4, [1, 1])
        """
        index, mul = 0, 1
        for k, d in zip(knobs, self.dims()):
            index += k * mul
            mul *= d
        return index

    def get(self, index):
        """The ConfigEntity of an index in [0, len(self)).

        >>> from texpr import autotvm
        >>> cfg = autotvm.ConfigSpace()
        >>> cfg.define_knob("unroll", [0, 4, 8])
        >>> cfg.get(2), cfg.get(2)["unroll"].val
        ([(unroll, ot(8))],2, 8)
        """
        if not isinstance(index, int) or not 0 <= index < len(self):
            raise ConfigError(f"config index {index!r} is out of the space [0, {len(self)})")
        ents = OrderedDict((name, space[k]) for (name, space), k in
                           zip(self.space_map.items(), self.point2knob(index)))
        return ConfigEntity(index, ents, self.code_hash)

    def index_of(self, entity_map):
        """The index of a config given as {name: entity} in this space, or None when one of
        its values is not a candidate (a record of another version of the template).

        >>> from texpr import autotvm
        >>> cfg = autotvm.ConfigSpace()
        >>> cfg.define_knob("unroll", [0, 4, 8])
        >>> ot = autotvm.OtherOptionEntity
        >>> cfg.index_of({"unroll": ot(8)}), cfg.index_of({"unroll": ot(2)})     # 2: no candidate
        (2, None)
        """
        if set(entity_map) != set(self.space_map):
            return None
        knobs = []
        for name, space in self.space_map.items():
            k = space.index(entity_map[name])
            if k is None:
                return None
            knobs.append(k)
        return self.knob2point(knobs)

    def __repr__(self):
        lines = [f"ConfigSpace (len={len(self)}):"]
        for i, (name, space) in enumerate(self.space_map.items()):
            lines.append(f"  {i:2d} {name}: {space!r}")
        return "\n".join(lines)


class ConfigEntity(ConfigSpace):
    """One point of a config space: define_* does nothing, cfg[name] is its value.

    >>> from texpr import autotvm
    >>> cfg = autotvm.ConfigSpace()
    >>> cfg.define_split("tile", 8)
    >>> point = cfg.get(1)
    >>> point, point["tile"].size
    ([(tile, sp[-1, 2])],1, [-1, 2])
    """
    _collect = False

    def __init__(self, index, entity_map, code_hash=None):
        super().__init__()
        self.index = index
        self._entity_map = OrderedDict(entity_map)
        self.code_hash = code_hash

    def __len__(self):
        return 1

    def __getitem__(self, name):
        try:
            return self._entity_map[name]
        except KeyError:
            raise ConfigError(f"config {self.index} has no knob named {name!r} (it has "
                              f"{list(self._entity_map)}): a record of another version of "
                              f"the template? Tune again") from None

    def get_flatten_feature(self):
        """The knob values as numbers (a cost model's simplest feature).

        >>> from texpr import autotvm
        >>> cfg = autotvm.ConfigSpace()
        >>> cfg.define_split("tile", 8)
        >>> cfg.get(1).get_flatten_feature()
        [-1.0, 2.0]
        """
        def num(x):     # a string by a stable hash (Python's hash() differs per process)
            return float(x) if isinstance(x, (int, float)) else \
                float(zlib.crc32(repr(x).encode()) % 97)
        out = []
        for e in self._entity_map.values():
            v = e.value()
            out += [num(x) for x in v] if isinstance(v, list) else [num(v)]
        return out

    def to_json_dict(self):
        """The config as a record stores it: its index, code hash and [name, kind, value] per knob.

        >>> from texpr import autotvm
        >>> cfg = autotvm.ConfigSpace()
        >>> cfg.define_knob("unroll", [0, 4])
        >>> cfg.get(1).to_json_dict()
        {'index': 1, 'code_hash': None, 'entity': [['unroll', 'ot', 4]]}
        """
        return {"index": self.index, "code_hash": self.code_hash,
                "entity": [[name, e.kind, e.value()] for name, e in self._entity_map.items()]}

    @classmethod
    def from_json_dict(cls, d):
        """The config of a record's dict (to_json_dict's inverse).

        >>> from texpr import autotvm
        >>> cfg = autotvm.ConfigSpace()
        >>> cfg.define_knob("unroll", [0, 4])
        >>> d = cfg.get(1).to_json_dict()
        >>> autotvm.ConfigEntity.from_json_dict(d) == cfg.get(1)
        True
        """
        try:
            ents = OrderedDict((name, entity_from_json(kind, value))
                               for name, kind, value in d["entity"])
            return cls(int(d["index"]), ents, d.get("code_hash"))
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"a config record is malformed ({e}); expected "
                              f"{{'index': int, 'entity': [[name, kind, value], ...]}}") from None

    def __eq__(self, other):
        return isinstance(other, ConfigEntity) and self._entity_map == other._entity_map

    def __hash__(self):
        return hash(tuple(self._entity_map.items()))

    def __repr__(self):
        return f"[{', '.join(f'({k}, {v!r})' for k, v in self._entity_map.items())}],{self.index}"


class FallbackConfig(ConfigSpace):
    """The config of a workload without a tuning record: each knob takes its first candidate
    unless the template sets it (`cfg[name] = entity`, to its heuristic choice).

    >>> from texpr import autotvm
    >>> cfg = autotvm.FallbackConfig()
    >>> cfg.define_knob("unroll", [0, 4])
    >>> cfg["unroll"] = 4                        # the template's heuristic choice
    >>> cfg.is_fallback, cfg["unroll"].val
    (True, 4)
    """
    is_fallback = True

    def __init__(self):
        super().__init__()
        self.index = -1
        self._set = set()

    def _define(self, name, make):
        if name not in self.space_map:
            space = make()
            self.space_map[name] = space
            if name not in self._set:
                self._entity_map[name] = space[0]
        return None

    def __setitem__(self, name, entity):
        if not isinstance(entity, tuple(_ENTITY.values())):
            entity = OtherOptionEntity(entity)
        self._entity_map[name] = entity
        self._set.add(name)

    def fallback_split(self, name, constraints):
        """Set split `name` to the candidate closest to constraints (max factors, innermost
        last; -1 = any).

        >>> from texpr import autotvm
        >>> cfg = autotvm.FallbackConfig()
        >>> cfg.define_split("tile", 64)
        >>> cfg.fallback_split("tile", [-1, 8])      # the largest inner factor up to 8
        >>> cfg["tile"]
        sp[-1, 8]
        """
        space = self.space_map.get(name)
        if not isinstance(space, SplitSpace):
            raise ConfigError(f"fallback_split: {name!r} is not a defined split knob")
        best = None
        for e in space.entities:
            ok = all(c == -1 or s <= c for s, c in zip(e.size[1:], constraints[1:]))
            if ok and (best is None or e.size[1:] > best.size[1:]):
                best = e
        self[name] = best or space[0]

    def __len__(self):
        return 1
