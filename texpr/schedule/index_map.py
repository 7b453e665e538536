"""IndexMap: a bijection from a tensor's logical indices to physical ones (transform_layout).

A mapping is a Python function of the logical indices returning the physical ones, as in TVM:
`lambda i, j: [j, i]`, `lambda i, j: [i // 4, j, i % 4]`, `lambda *idx, n: [*idx, n // 4, n % 4]`
(keyword-only parameters take the last dimensions), or a flattening `[(i * 6 + j) * 40 + k]`.
Each physical index must be a sum of digits ((axis // lower) % extent) * scale that counts
through its range once (a split, fusion or permutation of the axes), and the digits of every
axis together must cover it exactly once: the map is then invertible, so a stage can loop over
the physical indices and recover the logical ones. A map that would pad (`c // 4` of an axis
of 3), repeat or skip elements is refused, as TVM refuses it in a TE schedule.

te.AXIS_SEPARATOR in the result (TVM: the physical buffer has several flat dimensions) is
accepted and dropped: a texpr buffer is one flat array laid out row-major over the physical
indices, which gives the separated dimensions the same addresses.
"""
import inspect
from dataclasses import dataclass

from ..errors import ScheduleError, TexprError
from ..lang.expr import BinOp, Const, Var, convert
from ..lang.printer import to_str
from ..lang.tensor import IterVar
from ..lang.visitor import substitute

AXIS_SEPARATOR = "axis_separator"      # TVM's te.AXIS_SEPARATOR (the same string)


@dataclass(frozen=True)
class _Digit:
    """((axis // lower) % extent) * scale: one mixed-radix digit of a physical index."""
    axis: int
    lower: int
    extent: object          # int, or an Expr (a whole axis of symbolic extent)
    scale: int


class _NotAffine(Exception):
    pass


class IndexMap:
    """fn over a logical shape: the physical shape, forward(indices) and inverse(vars)."""

    def __init__(self, fn, logical_shape, what, names=()):
        self.what = what                    # "stage B", for messages
        self.logical_shape = tuple(logical_shape)
        self.vars, call = _bind(fn, len(self.logical_shape), names, self._err)
        self.exprs = _physical_exprs(call(self.vars), self._err)
        self.digits = [self._parse(e, k) for k, e in enumerate(self.exprs)]
        self.physical_shape = tuple(_extent(ds) for ds in self.digits)
        self._check_covers()

    def _err(self, msg):
        raise ScheduleError(f"{self.what}: transform_layout: {msg}")

    # ------------------------------------------------------------------ the mapping
    def forward(self, indices):
        """Physical indices of the element at logical `indices` (expressions)."""
        m = dict(zip(self.vars, indices))
        return tuple(substitute(e, m) for e in self.exprs)

    def inverse(self, phys_vars):
        """Logical indices as expressions of the physical index variables."""
        parts = {a: [] for a in range(len(self.logical_shape))}
        for p, ds in zip(phys_vars, self.digits):
            for k, d in enumerate(ds):               # ds: by scale, lowest first
                v = p if d.scale == 1 else p // d.scale
                if k < len(ds) - 1:
                    v = v % d.extent
                parts[d.axis].append((d.lower, v))
        out = []
        for a in range(len(self.logical_shape)):
            e = None
            for lower, v in sorted(parts[a], key=lambda t: t[0], reverse=True):
                term = v if lower == 1 else v * lower
                e = term if e is None else e + term
            out.append(e if e is not None else Const(0, "int32"))
        return out

    def axis_names(self):
        """A name per physical index: the index, its parts (outer, ..., inner: by the place
        of the part in the index), or the indices fused into it."""
        parts = {}
        for ds in self.digits:
            for d in ds:
                parts.setdefault(d.axis, []).append(d.lower)
        names = []
        for k, ds in enumerate(self.digits):
            if not ds:
                names.append(f"unit{k}")
            elif len(ds) > 1:
                names.append(".".join(self.vars[d.axis].name for d in reversed(ds)) + ".fused")
            else:
                d = ds[0]
                rank = sorted(parts[d.axis], reverse=True).index(d.lower)
                n = len(parts[d.axis])
                part = "" if n == 1 else ".outer" if rank == 0 else \
                    ".inner" if rank == n - 1 else f".p{rank}"
                names.append(self.vars[d.axis].name + part)
        return names

    # ------------------------------------------------------------------ analysis
    def _parse(self, e, k):
        try:
            return _contiguous(self._digits_of(e), e)
        except _NotAffine as bad:
            self._err(f"physical index {k} is {to_str(e)}: {bad} (each physical index must be "
                      f"an index, a part of one (i // c, i % c with c dividing its extent) or a "
                      f"fusion of them (i * extent_j + j))")

    def _digits_of(self, e):
        if isinstance(e, Var):
            a = next((a for a, v in enumerate(self.vars) if v is e), None)
            if a is None:
                raise _NotAffine(f"{e.name} is not one of the logical indices")
            ext = self.logical_shape[a]
            ext = ext.value if isinstance(ext, Const) else ext
            return [] if ext == 1 else [_Digit(a, 1, ext, 1)]
        if isinstance(e, Const):
            if e.value == 0:
                return []
            raise _NotAffine(f"the constant {e.value} would pad the buffer")
        if isinstance(e, BinOp) and e.op == "+":
            return self._digits_of(e.a) + self._digits_of(e.b)
        if isinstance(e, BinOp) and e.op == "*":
            c, x = (e.a, e.b) if isinstance(e.a, Const) else (e.b, e.a)
            if not (isinstance(c, Const) and isinstance(c.value, int) and c.value >= 0):
                raise _NotAffine("a product must be by a non-negative integer constant")
            if c.value == 0:
                return []
            return [_Digit(d.axis, d.lower, d.extent, d.scale * c.value)
                    for d in self._digits_of(x)]
        if isinstance(e, BinOp) and e.op in ("//", "%"):
            if not (isinstance(e.b, Const) and isinstance(e.b.value, int) and e.b.value > 0):
                raise _NotAffine(f"'{e.op}' must be by a positive integer constant")
            ds = _contiguous(self._digits_of(e.a), e.a)
            return (_div if e.op == "//" else _mod)(ds, e.b.value, e)
        raise _NotAffine("only +, * by a constant, and // or % by a constant are allowed")

    def _check_covers(self):
        by_axis = {}
        for ds in self.digits:
            for d in ds:
                by_axis.setdefault(d.axis, []).append(d)
        for a, ext in enumerate(self.logical_shape):
            ext = ext.value if isinstance(ext, Const) else ext
            ds = sorted(by_axis.get(a, []), key=lambda d: d.lower)
            name = self.vars[a].name
            if not ds:
                if ext == 1:
                    continue
                self._err(f"index {name} is missing from the physical indices (each element "
                          f"needs a place of its own)")
            if len(ds) == 1 and ds[0].lower == 1 and ds[0].extent is ext:
                continue
            lower = 1
            for d in ds:
                if lower is None or d.lower != lower or not isinstance(d.extent, int):
                    lower = None
                    break
                lower *= d.extent
            if lower is None or not isinstance(ext, int) or lower != ext:
                self._err(f"index {name} is not covered exactly once: it is used twice, or its "
                          f"parts overlap or leave gaps (use {name} whole, or {name} // c and "
                          f"{name} % c once each)")


def _const_extent(d, e):
    if not isinstance(d.extent, int):
        raise _NotAffine(f"{to_str(e)} needs a constant extent, not {to_str(d.extent)}")
    return d.extent


def _contiguous(ds, e):
    """ds by scale, checked to count 0 .. prod(extents) - 1 once (scales 1, e0, e0*e1, ...);
    only the top digit may have a symbolic extent."""
    ds = sorted(ds, key=lambda d: d.scale)
    s = 1
    for k, d in enumerate(ds):
        if d.scale != s:
            raise _NotAffine(f"{to_str(e)} does not count through its range once (its parts "
                             f"overlap or leave gaps)")
        if k < len(ds) - 1:
            s *= _const_extent(d, e)
    return ds


def _extent(ds):
    n = 1
    for d in ds:
        if not isinstance(d.extent, int):
            return d.extent if n == 1 else d.extent * n     # the top digit
        n *= d.extent
    return Const(n, "int32")


def _total(ds):
    """The count of the digits, or None when the top one is symbolic."""
    n = 1
    for d in ds:
        if not isinstance(d.extent, int):
            return None
        n *= d.extent
    return n


def _top(d):
    return d.scale * d.extent if isinstance(d.extent, int) else None    # None: unbounded


def _pad_error(e, c, top):
    what = f"the extent {top}" if top is not None else "the (symbolic) extent"
    return _NotAffine(f"{c} does not divide {what} (the map would pad the buffer; a factor "
                      f"must divide the extent)")


def _div(ds, c, e):
    """The digits of (the number counted by ds) // c."""
    if not ds or c == 1:
        return ds
    total = _total(ds)
    if total is not None and total <= c:
        if c % total:
            raise _pad_error(e, c, total)
        return []                                # always 0
    out = []
    for d in ds:
        top = _top(d)
        if top is not None and top <= c:         # below c: dropped
            if c % top:
                raise _pad_error(e, c, top)
        elif d.scale >= c:                       # above c: shifted down
            if d.scale % c:
                raise _pad_error(e, c, top)
            out.append(_Digit(d.axis, d.lower, d.extent, d.scale // c))
        else:                                    # c falls inside this digit: its upper part
            f = c // d.scale
            if c % d.scale or _const_extent(d, e) % f:
                raise _pad_error(e, c, top)
            out.append(_Digit(d.axis, d.lower * f, d.extent // f, 1))
    return out


def _mod(ds, c, e):
    """The digits of (the number counted by ds) % c."""
    total = _total(ds)
    if not ds or (total is not None and total <= c):
        if ds and c % total:
            raise _pad_error(e, c, total)
        return ds                                # x % c == x
    out = []
    for d in ds:
        top = _top(d)
        if top is not None and top <= c:         # below c: kept
            if c % top:
                raise _pad_error(e, c, top)
            out.append(d)
        elif d.scale >= c:                       # above c: dropped
            if d.scale % c:
                raise _pad_error(e, c, top)
        else:                                    # c falls inside this digit: its lower part
            f = c // d.scale
            if c % d.scale or _const_extent(d, e) % f:
                raise _pad_error(e, c, top)
            out.append(_Digit(d.axis, d.lower, f, d.scale))
    return out


def _bind(fn, ndim, names, err):
    """Variables for the ndim logical indices and how to call fn with them (TVM's rules:
    positional parameters take the first dimensions, keyword-only ones the last, *args the
    rest)."""
    if not callable(fn):
        err(f"expected a function of the indices, got {fn!r}")
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = None
    if params is None:
        vs = [Var(names[d] if d < len(names) else f"i{d}") for d in range(ndim)]
        return vs, lambda v: fn(*v)
    pos = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
           and p.default is p.empty]
    kw = [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    var = next((p.name for p in params if p.kind == p.VAR_POSITIONAL), None)
    nvar = ndim - len(pos) - len(kw)
    if nvar < 0 or (var is None and nvar):
        err(f"the mapping takes {len(pos) + len(kw)} index argument(s) but the tensor has "
            f"{ndim} dimension(s)")
    var_names = [names[len(pos) + d] if len(pos) + d < len(names) else f"{var}{d}"
                 for d in range(nvar)]
    vs = [Var(n) for n in pos + var_names + kw]
    npos = len(pos) + nvar
    return vs, lambda v: fn(*v[:npos], **dict(zip(kw, v[npos:])))


def _physical_exprs(phys, err):
    if not isinstance(phys, (list, tuple)):
        phys = [phys]
    out = []
    for p in phys:
        if isinstance(p, str) and p == AXIS_SEPARATOR:
            continue
        if isinstance(p, IterVar):
            p = p.var
        try:
            out.append(convert(p))
        except TexprError:
            err(f"the mapping returned {p!r}; expected index expressions (and te.AXIS_SEPARATOR)")
    if not out:
        err("the mapping returned no physical index")
    return out
