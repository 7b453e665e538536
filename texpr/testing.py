"""Property testing for texpr kernels: hypothesis strategies and a NumPy comparison helper.

Test your own operator the way texpr tests itself: *any legal schedule computes the same
result as NumPy*. Hypothesis draws the shapes (constant or symbolic), the data and a random
legal schedule; :func:`check_kernel` builds the kernel, runs it and compares it with a NumPy
function::

    import numpy as np
    import texpr as te
    from hypothesis import given, settings, strategies as st
    from texpr import testing as tt

    @settings(deadline=None, max_examples=20)     # each example runs the C compiler
    @given(st.data())
    def test_scale_rows(data):
        dims, values = data.draw(tt.extents(["m", "n"], max_side=12))
        A = te.placeholder((dims["m"], dims["n"]), name="A")
        B = te.compute(A.shape, lambda i, j: A[i, j] * 2.0 + 1.0, name="B")
        drawn = data.draw(tt.legal_schedules([B]))          # a Schedule + the steps applied
        (a,) = data.draw(tt.arrays_for([A], values))
        tt.check_kernel(drawn.schedule, [A, B], lambda a: a * 2 + 1, [a], target="c")

Everything here works for any operator built from ``te.placeholder`` and ``te.compute``; none
of it knows about particular kernels. Failing examples print the schedule as the Python
calls that made it (``repr`` of :class:`DrawnSchedule`).

Public names: :func:`shapes`, :func:`extents`, :func:`arrays_for`, :func:`legal_schedules`,
:class:`DrawnSchedule`, :func:`check_kernel`, :func:`random_inputs`, :func:`tolerance`,
:func:`shape_of`.
"""
import numbers

import numpy as np
from hypothesis import strategies as st

from .lang import dtypes
from .errors import TexprError
from .lang.expr import BinOp, Const, Expr, Var
from .lang.expr import var as _make_var
from .lang.tensor import ComputeOp, ExclusiveScanOp, PlaceholderOp, ScanOp, Tensor
from .schedule.schedule import Schedule, create_schedule

__all__ = ["shapes", "extents", "arrays_for", "legal_schedules", "DrawnSchedule", "check_kernel",
           "random_inputs", "tolerance", "shape_of", "PRIMITIVES"]

#: Every primitive :func:`legal_schedules` may apply; pass a subset as ``primitives=``.
PRIMITIVES = ("split", "tile", "reorder", "fuse", "vectorize", "unroll", "parallel", "pragma",
              "storage_align", "compute_inline", "compute_at", "cache_write", "rfactor")


# ----------------------------------------------------------------------------- shapes

def shapes(ndim=2, min_side=1, max_side=8, min_ndim=None):
    """Strategy for shape tuples of ints.

    ``ndim`` is the number of dimensions (or the maximum when ``min_ndim`` is given); each
    side lies in ``[min_side, max_side]``.
    """
    lo = ndim if min_ndim is None else min_ndim
    return st.integers(lo, ndim).flatmap(
        lambda n: st.tuples(*[st.integers(min_side, max_side) for _ in range(n)]))


@st.composite
def extents(draw, names, min_side=1, max_side=8, symbolic=None):
    """Strategy for named loop extents, each a constant or a symbolic ``te.var``.

    Returns ``(dims, values)``: ``dims[name]`` is an int or a fresh ``te.var(name)`` to build
    the operator with, and ``values`` maps every drawn var to the concrete size the test will
    use (pass it to :func:`arrays_for` / :func:`check_kernel`). ``symbolic`` is True (all
    symbolic), False (all constant) or None (hypothesis chooses per dimension). Sizes near
    primes are as likely as round ones, so splits by factors that do not divide are exercised.
    """
    dims, values = {}, {}
    for name in names:
        size = draw(st.integers(min_side, max_side), label=f"size of {name}")
        sym = draw(st.booleans(), label=f"{name} symbolic") if symbolic is None else bool(symbolic)
        if sym:
            v = _make_var(name)
            dims[name] = v
            values[v] = size
        else:
            dims[name] = size
    return dims, values


def shape_of(tensor, values=None):
    """The concrete shape of ``tensor`` once each ``te.var`` takes its value from ``values``."""
    return tuple(_eval(d, values or {}, f"shape of {tensor.name}") for d in tensor.shape)


def _eval(e, values, what):
    if isinstance(e, numbers.Integral):
        return int(e)
    if isinstance(e, Const):
        return int(e.value)
    if isinstance(e, Var):
        if e not in values:
            raise TexprError(f"{what}: no value given for the symbolic extent {e.name}")
        return int(values[e])
    if isinstance(e, BinOp):
        a, b = _eval(e.a, values, what), _eval(e.b, values, what)
        ops = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
               "//": lambda: a // b, "%": lambda: a % b, "min": lambda: min(a, b),
               "max": lambda: max(a, b)}
        if e.op in ops:
            return ops[e.op]()
    raise TexprError(f"{what}: cannot evaluate extent {e}")


# ----------------------------------------------------------------------------- data

def _value_range(dtype, low, high):
    dt = dtypes.element(dtype)
    if dtypes.is_bool(dt):
        return 0, 1
    if dtypes.is_int(dt):
        info = np.iinfo(dt)
        lo = 0 if dtypes.is_unsigned(dt) else max(int(np.floor(low * 8)), int(info.min))
        hi = min(int(np.ceil(high * 8)), int(info.max))
        return lo, max(lo, hi)
    return low, high


def random_inputs(tensors, values=None, seed=0, low=-1.0, high=1.0):
    """NumPy arrays for ``tensors`` (shapes evaluated with ``values``), reproducible by seed.

    Floats are uniform in ``[low, high)``; integers are small (``8*low .. 8*high``, non-negative
    for unsigned types) so sums and products do not overflow; bools are random.
    """
    rng = np.random.default_rng(seed)
    out = []
    for t in tensors:
        shape = shape_of(t, values)
        dt = dtypes.element(t.dtype)
        lo, hi = _value_range(dt, low, high)
        if dtypes.is_bool(dt):
            a = rng.integers(0, 2, size=shape).astype(bool)
        elif dtypes.is_int(dt):
            a = rng.integers(lo, hi + 1, size=shape).astype(dt)
        else:
            a = rng.uniform(lo, hi, size=shape).astype(dt)
        out.append(np.ascontiguousarray(a))
    return out


@st.composite
def arrays_for(draw, tensors, values=None, low=-1.0, high=1.0, elements=None):
    """Strategy for a list of arrays, one per tensor in ``tensors``, of the right shape/dtype.

    By default hypothesis draws a seed and a value style and NumPy fills the arrays: fast for
    any size, but hypothesis shrinks the shapes and the schedule, not single values. Styles:
    uniform in ``[low, high)``; the same rounded to quarters (exact sums); or 70% of the
    elements set to the value of ``[low, high]`` nearest 0 (zero when the range holds it).
    Integer and bool tensors get the values of :func:`random_inputs`. Give
    ``elements`` (a hypothesis strategy of scalars) to have hypothesis draw and shrink every
    element instead (keep the arrays small then).
    """
    if elements is not None:
        from hypothesis.extra import numpy as hnp
        return [draw(hnp.arrays(np.dtype(dtypes.element(t.dtype)), shape_of(t, values),
                                elements=elements, fill=st.nothing())) for t in tensors]
    seed = draw(st.integers(0, 2**32 - 1), label="data seed")
    style = draw(st.sampled_from(["uniform", "quarters", "sparse"]), label="data style")
    arrays = random_inputs(tensors, values, seed, low, high)
    rng = np.random.default_rng(seed + 1)
    for a in arrays:
        if a.dtype.kind != "f":
            continue
        if style == "quarters":
            a[...] = np.clip(np.round(a * 4) / 4, low, high)
        elif style == "sparse" and a.size:
            a[rng.random(a.shape) < 0.7] = np.clip(0.0, low, high)
    return arrays


# ----------------------------------------------------------------------------- schedules

class DrawnSchedule:
    """A schedule drawn by :func:`legal_schedules` and the primitive calls that built it.

    ``schedule`` is the :class:`texpr.schedule.Schedule`; ``steps`` lists the calls as text
    (``s[C].split(i, factor=3)``). Its repr is those calls, so hypothesis prints failing
    schedules as code.
    """

    def __init__(self, schedule, steps):
        self.schedule = schedule
        self.steps = steps

    def __repr__(self):
        body = "\n".join("    " + s for s in self.steps) or "    (default schedule)"
        return f"DrawnSchedule(\n{body}\n)"


class _Recorder:
    def __init__(self, sch):
        self.sch = sch
        self.steps = []

    def do(self, text, fn, *a, **kw):
        self.steps.append(text)
        return fn(*a, **kw)


def _ax(iv):
    return iv.var.name


def _ops_of(outputs):
    if isinstance(outputs, (Tensor, ComputeOp)):
        outputs = [outputs]
    ops = []
    for o in outputs:
        op = o.op if isinstance(o, Tensor) else o
        if not isinstance(op, ComputeOp):
            raise TexprError(f"legal_schedules: {getattr(op, 'name', op)!r} is not a computed "
                             "tensor; pass the operator's outputs")
        ops.append(op)
    return ops


def _const_ext(stage, iv):
    e = stage.extent_of(iv)
    return e.value if isinstance(e, Const) else None


def legal_schedules(outputs, max_steps=4, max_factor=8, primitives=PRIMITIVES):
    """Strategy for a random *legal* schedule of the operator whose outputs are given.

    Builds ``te.create_schedule`` of the outputs' ops and visits every computed stage,
    consumers before producers. For each stage it may apply, as drawn by hypothesis:

    - ``cache_write(T, "local")`` on a reduction, first of all (the cache stage is then
      visited as a producer, so it may be computed at a loop of the copy);
    - ``compute_inline()`` (an injective, non-output stage), or ``compute_at`` a leaf loop of
      its only consumer (non-output stages), or leave it at the root;
    - up to ``max_steps`` loop changes: ``split`` by ``factor=`` or ``nparts=`` in
      ``1..max_factor`` (factors that do not divide included), ``tile``, ``reorder`` of leaf
      axes, ``fuse`` of adjacent leaves of one kind;
    - ``rfactor`` of a reduction leaf (any ``factor_axis``); the new stage is then visited as
      a producer (so it may be inlined when it reduces nothing, or computed at the consumer);
    - annotations: ``vectorize`` of a data axis with a constant extent (usually the innermost),
      ``unroll`` of a small constant-extent axis, ``parallel`` of the outermost data axis of a
      root stage, ``pragma`` unroll/comment, ``storage_align`` of a non-output buffer.

    ``primitives`` restricts the choice to a subset of :data:`PRIMITIVES`. Yields a
    :class:`DrawnSchedule`; build ``.schedule`` with the placeholders and outputs as args
    (intermediate stages may be inlined or attached, so do not pass them as args).
    """
    unknown = set(primitives) - set(PRIMITIVES)
    if unknown:
        raise TexprError(f"legal_schedules: unknown primitives {sorted(unknown)}; known: "
                         f"{', '.join(PRIMITIVES)}")
    return _legal_schedules(_ops_of(outputs), max_steps, max_factor, frozenset(primitives))


@st.composite
def _legal_schedules(draw, ops, max_steps, max_factor, allow):
    sch = create_schedule(ops)
    rec = _Recorder(sch)
    rec.original = {id(s) for s in sch.stages}     # cache_write only these, once each
    done = set()
    while True:
        todo = [s for s in sch.stages if isinstance(s.op, ComputeOp) and id(s) not in done
                and all(id(r) in done for r in sch.readers(s))]
        if not todo:
            break
        stage = todo[0]
        done.add(id(stage))
        _schedule_stage(draw, rec, stage, allow, max_steps, max_factor)
    return DrawnSchedule(sch, rec.steps)


def _schedule_stage(draw, rec, stage, allow, max_steps, max_factor):
    sch = rec.sch
    name = stage.name
    s_ = f"s[{name}]"
    if isinstance(stage.op, (ExclusiveScanOp, ScanOp)):
        return                      # a scan is one sequential loop: nothing to schedule
    # 1. cache_write of a reduction, before anything else touches the stage
    if ("cache_write" in allow and id(stage) in rec.original and stage.op.reduce_axis
            and not stage.relations and not stage.iter_attrs
            and draw(st.booleans(), label=f"cache_write {name}")):
        rec.do(f"{name}_local = s.cache_write({name}, 'local')", sch.cache_write,
               stage.op.output(0), "local")
    # 2. where the stage is computed
    if not stage.is_output:
        choices = ["root"]
        if "compute_inline" in allow and not stage.op.reduce_axis and \
                not any(o.attach_stage is stage for o in sch.stages):
            choices.append("inline")
        cons = sch.consumers(stage)
        if "compute_at" in allow and len(cons) == 1 and cons[0].leaf_iter_vars:
            choices.append("at")
        where = draw(st.sampled_from(choices), label=f"placement of {name}")
        if where == "inline":
            rec.do(f"{s_}.compute_inline()", stage.compute_inline)
            return
        if where == "at":
            parent = cons[0]
            iv = draw(st.sampled_from(parent.leaf_iter_vars), label=f"compute_at axis of {name}")
            rec.do(f"{s_}.compute_at(s[{parent.name}], {_ax(iv)})", stage.compute_at, parent, iv)
    # 3. loop structure
    structural = [p for p in ("split", "tile", "reorder", "fuse") if p in allow]
    n_steps = draw(st.integers(0, max_steps), label=f"steps on {name}") if structural else 0
    for _ in range(n_steps):
        leaves = stage.leaf_iter_vars
        options = []
        if "split" in allow and len(leaves) < 8:
            options.append("split")
        if "tile" in allow and len(leaves) >= 2 and len(leaves) < 7:
            options.append("tile")
        if "reorder" in allow and len(leaves) >= 2:
            options.append("reorder")
        if "fuse" in allow and any(a.kind == b.kind for a, b in zip(leaves, leaves[1:])):
            options.append("fuse")
        if not options:
            break
        prim = draw(st.sampled_from(options), label="primitive")
        if prim == "split":
            iv = draw(st.sampled_from(leaves), label="split axis")
            by = draw(st.sampled_from(["factor", "nparts"]), label="split by")
            f = draw(st.integers(1, max_factor), label=by)
            rec.do(f"{s_}.split({_ax(iv)}, {by}={f})", stage.split, iv, **{by: f})
        elif prim == "tile":
            x, y = draw(st.permutations(range(len(leaves))), label="tile axes")[:2]
            x, y = leaves[x], leaves[y]
            fx = draw(st.integers(1, max_factor), label="x_factor")
            fy = draw(st.integers(1, max_factor), label="y_factor")
            rec.do(f"{s_}.tile({_ax(x)}, {_ax(y)}, {fx}, {fy})", stage.tile, x, y, fx, fy)
        elif prim == "reorder":
            k = draw(st.integers(2, len(leaves)), label="reorder count")
            perm = draw(st.permutations(range(len(leaves))), label="reorder")[:k]
            axes = [leaves[p] for p in perm]
            rec.do(f"{s_}.reorder({', '.join(_ax(a) for a in axes)})", stage.reorder, *axes)
        else:
            starts = [k for k in range(len(leaves) - 1) if leaves[k].kind == leaves[k + 1].kind]
            k = draw(st.sampled_from(starts), label="fuse at")
            n = 2
            while (k + n < len(leaves) and leaves[k + n].kind == leaves[k].kind
                   and draw(st.booleans(), label="fuse one more")):
                n += 1
            axes = leaves[k:k + n]
            rec.do(f"{s_}.fuse({', '.join(_ax(a) for a in axes)})", stage.fuse, *axes)
    # rfactor of one reduction leaf: the new stage is visited later, as a producer
    red_leaves = [iv for iv in stage.leaf_iter_vars if iv.kind == "reduce"]
    if ("rfactor" in allow and red_leaves
            and draw(st.integers(0, 3), label=f"rfactor {name}") == 0):
        iv = draw(st.sampled_from(red_leaves), label="rfactor axis")
        fa = draw(st.integers(0, len(stage.op.axis)), label="factor_axis")
        rec.do(f"{name}_rf = s.rfactor({name}, {_ax(iv)}, factor_axis={fa})", sch.rfactor,
               stage.op.output(0), iv, fa)
    # 4. annotations on the final leaves
    leaves = list(stage.leaf_iter_vars)
    used = set()
    if "vectorize" in allow and leaves:
        cands = [iv for iv in leaves if iv.kind == "data" and _const_ext(stage, iv)
                 and _const_ext(stage, iv) <= 64]
        inner = leaves[-1]
        if cands and draw(st.booleans(), label=f"vectorize in {name}"):
            if inner in cands and draw(st.integers(0, 3), label="vectorize innermost") > 0:
                iv = inner
            else:
                iv = draw(st.sampled_from(cands), label="vectorize axis")
            rec.do(f"{s_}.vectorize({_ax(iv)})", stage.vectorize, iv)
            used.add(id(iv))
    if "unroll" in allow:
        cands = [iv for iv in leaves if id(iv) not in used and _const_ext(stage, iv)
                 and _const_ext(stage, iv) <= 16]
        if cands and draw(st.booleans(), label=f"unroll in {name}"):
            iv = draw(st.sampled_from(cands), label="unroll axis")
            rec.do(f"{s_}.unroll({_ax(iv)})", stage.unroll, iv)
            used.add(id(iv))
    if ("parallel" in allow and leaves and stage.attach_type == "root"
            and leaves[0].kind == "data" and id(leaves[0]) not in used
            and draw(st.booleans(), label=f"parallel in {name}")):
        rec.do(f"{s_}.parallel({_ax(leaves[0])})", stage.parallel, leaves[0])
    if "pragma" in allow and leaves and draw(st.integers(0, 3), label=f"pragma in {name}") == 0:
        iv = draw(st.sampled_from(leaves), label="pragma axis")
        key = draw(st.sampled_from(["unroll", "comment"]), label="pragma key")
        value = draw(st.integers(1, 8), label="unroll count") if key == "unroll" else "drawn by hypothesis"
        rec.do(f"{s_}.pragma({_ax(iv)}, {key!r}, {value!r})", stage.pragma, iv, key, value)
    if ("storage_align" in allow and not stage.is_output and len(stage.op.axis) >= 2
            and draw(st.integers(0, 3), label=f"storage_align {name}") == 0):
        d = draw(st.integers(0, len(stage.op.axis) - 2), label="storage_align axis")
        factor = draw(st.integers(1, 16), label="storage_align factor")
        offset = draw(st.integers(0, factor - 1), label="storage_align offset")
        iv = stage.op.axis[d]
        rec.do(f"{s_}.storage_align({_ax(iv)}, {factor}, {offset})", stage.storage_align, iv,
               factor, offset)


# ----------------------------------------------------------------------------- checking

def tolerance(dtype):
    """(rtol, atol) suited to comparing a kernel of dtype ``dtype`` with NumPy."""
    dt = dtypes.element(dtype)
    if dt == "float16":
        return 1e-2, 1e-2
    if dt == "bfloat16":
        return 2e-2, 2e-2
    if dt == "float32":
        return 1e-4, 1e-5
    if dt == "float64":
        return 1e-10, 1e-12
    return 0, 0


def _garbage(shape, dt):
    """Output buffers start as garbage, so an element the kernel forgets to write shows."""
    if dt.kind == "f" or dt.name == "bfloat16":
        return np.full(shape, np.nan, dt)
    if dt.kind == "b":
        return np.zeros(shape, dt)
    return np.full(shape, np.iinfo(dt).max, dt)


def _bind_extents(tensors, arrays, values):
    """Give each te.var in the tensors' shapes the value the arrays imply (in place).

    A dimension that is a var binds it; an affine one (``2*n + 4``) with one unbound var is
    solved for it. Vars no array determines stay unbound."""
    from .lang.visitor import free_vars
    for _ in range(2):                       # a second pass uses vars bound by the first
        for t, a in zip(tensors, arrays):
            for d, size in zip(t.shape, np.shape(a)):
                unknown = [v for v in free_vars(d) if v not in values] if isinstance(d, Expr) else []
                if len(unknown) != 1:
                    continue
                v = unknown[0]
                if d is v:
                    values[v] = int(size)
                    continue
                try:
                    f0 = _eval(d, {**values, v: 0}, "")
                    f1 = _eval(d, {**values, v: 1}, "")
                except TexprError:
                    continue
                slope = f1 - f0
                if slope > 0 and (size - f0) % slope == 0 and (size - f0) // slope >= 0:
                    guess = (size - f0) // slope
                    if _eval(d, {**values, v: guess}, "") == size:
                        values[v] = guess


def check_kernel(kernel, args, numpy_fn, inputs=None, *, values=None, target="native",
                 rtol=None, atol=None, seed=0, name="kernel"):
    """Build a kernel, run it on inputs and compare every output with ``numpy_fn``.

    - ``kernel``: a Schedule (built here with ``te.build(kernel, args, target, name)``), an
      already built Module, or a function ``target -> Module``.
    - ``args``: the tensors of the kernel in call order; placeholders are its inputs, computed
      tensors its outputs.
    - ``numpy_fn(*inputs)`` returns the expected output (or a tuple, one per output, in order).
    - ``inputs``: arrays for the placeholders, in order; when None they are drawn at random
      (``seed``), which needs ``values`` (te.var -> int) for any symbolic extent.
    - ``rtol``/``atol``: default from :func:`tolerance` of each output's dtype.

    Outputs start filled with NaN (floats) or the dtype's maximum (integers), so an element
    the kernel never writes fails the comparison. Returns ``(module, outputs)``; raises
    AssertionError with the module's target on a mismatch.
    """
    from .targets import build as _build
    args = list(args)
    in_tensors = [t for t in args if isinstance(t.op, PlaceholderOp)]
    out_tensors = [t for t in args if not isinstance(t.op, PlaceholderOp)]
    values = dict(values or {})
    if inputs is None:
        inputs = random_inputs(in_tensors, values, seed)
    inputs = list(inputs)
    if len(inputs) != len(in_tensors):
        raise TexprError(f"check_kernel: {len(in_tensors)} placeholder(s) in args "
                         f"({', '.join(t.name for t in in_tensors)}) but {len(inputs)} input(s)")
    _bind_extents(in_tensors, inputs, values)
    if isinstance(kernel, Schedule):
        mod = _build(kernel, args, target=target, name=name)
    elif callable(kernel) and not hasattr(kernel, "source"):
        mod = kernel(target)
    else:
        mod = kernel
    outputs = [_garbage(shape_of(t, values), np.dtype(dtypes.element(t.dtype)))
               for t in out_tensors]
    it_in, it_out = iter(inputs), iter(outputs)
    call = [next(it_in) if isinstance(t.op, PlaceholderOp) else next(it_out) for t in args]
    mod(*call)
    expected = numpy_fn(*[np.array(a, copy=True) for a in inputs])
    if not isinstance(expected, (tuple, list)):
        expected = (expected,)
    if len(expected) != len(outputs):
        raise TexprError(f"check_kernel: numpy_fn returned {len(expected)} array(s) for "
                         f"{len(outputs)} output(s)")
    for t, got, want in zip(out_tensors, outputs, expected):
        rt, at = tolerance(t.dtype)
        want = np.asarray(want)
        if want.shape != got.shape:
            raise AssertionError(f"{mod!r}: numpy_fn gave shape {want.shape} for output {t.name} "
                                 f"of shape {got.shape}")
        if got.dtype.name == "bfloat16":    # ml_dtypes' type: compared as the float32 values
            got, want = got.astype("float32"), want.astype("bfloat16").astype("float32")
        np.testing.assert_allclose(
            got, want.astype(got.dtype) if got.dtype.kind != "f" else want,
            rtol=rt if rtol is None else rtol, atol=at if atol is None else atol,
            err_msg=f"output {t.name} of {mod!r} differs from NumPy")
    return mod, outputs
