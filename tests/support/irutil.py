"""Helpers shared by the tests: evaluate integer IR expressions with Python, walk statements."""
from texpr.lang.expr import BinOp, Cast, Cmp, Const, Not, Select, Var
from texpr.lang.visitor import walk
from texpr.lang import ir


def _tdiv(a, b):
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def evaluate(e, env, wrap=None):
    """Value of an integer/bool expression, with C semantics for tdiv/tmod and Python's floor
    semantics for // and % (what texpr promises). wrap(v): applied to every arithmetic
    result (e.g. to int32's range: data arithmetic); by default none (index arithmetic)."""
    def ev(x):
        return evaluate(x, env, wrap)
    t = type(e)
    if t is Const:
        return e.value
    if t is Var:
        return env[e]
    if t is Cast:
        return ev(e.value)
    if t is Not:
        return not ev(e.a)
    if t is Select:
        return ev(e.t) if ev(e.cond) else ev(e.f)
    if t is Cmp:
        a, b = ev(e.a), ev(e.b)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b,
                "!=": a != b}[e.op]
    if t is BinOp:
        if e.op == "&&":
            return ev(e.a) and ev(e.b)
        if e.op == "||":
            return ev(e.a) or ev(e.b)
        a, b = ev(e.a), ev(e.b)
        ops = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
               "//": lambda: a // b, "%": lambda: a % b, "tdiv": lambda: _tdiv(a, b),
               "tmod": lambda: a - _tdiv(a, b) * b, "min": lambda: min(a, b),
               "max": lambda: max(a, b)}
        if e.op in ops:
            v = ops[e.op]()
            return wrap(v) if wrap else v
    raise NotImplementedError(f"evaluate: {e!r}")


def stmts(s, kind):
    """All statements of class `kind` in s (pre-order)."""
    return [n for n in walk(s) if isinstance(n, kind)]


def loops(s):
    return stmts(s, ir.For)


# ----------------------------------------------------------------------------- IR interpreter

_INT_RANGE = {f"{u}int{b}": ((0, 2**b - 1) if u else (-2**(b - 1), 2**(b - 1) - 1))
              for u in ("", "u") for b in (8, 16, 32, 64)}


def _wrap(v, dtype):
    lo, hi = _INT_RANGE[dtype]
    if lo <= v <= hi:
        return v
    return (v - lo) % (hi - lo + 1) + lo


def _int_op(op, a, b):
    """Scalar integer op with Python ints (None: let NumPy do it)."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "min":
        return min(a, b)
    if op == "max":
        return max(a, b)
    if b == 0:
        return None
    if op == "//":
        return a // b
    if op == "%":
        return a % b
    if op in ("tdiv", "tmod"):
        q = _tdiv(a, b)
        return q if op == "tdiv" else a - q * b
    return None


class TooExpensive(Exception):
    """The program runs more statements than the interpreter's budget (not a failure)."""


class OutOfBounds(AssertionError):
    """The interpreted program read or wrote outside a buffer."""


class Interpreter:
    """Runs a loop program (before or after any pass) on NumPy arrays, checking every access.

    Vector values are NumPy arrays of lanes. Loops of every kind run serially. Buffers are
    flat NumPy arrays; multi-dimensional accesses (before flatten_storage) use the buffer's
    strides. A read or write outside a buffer raises OutOfBounds; a read of a local buffer
    element never written reads NaN (floats), so it shows in the results.
    """

    def __init__(self, func, arrays, shape_values, budget=10_000_000):
        import numpy as np
        self.np = np
        self.func = func
        self.env = dict(shape_values)
        self.bufs = {}
        for b, a in zip(func.args, arrays):
            assert a.flags.c_contiguous
            self.bufs[id(b)] = a.reshape(-1)
        self.steps = 0
        self.max_alloc = 1 << 20
        self.budget = budget
        self.executed = 0
        self._sdispatch, self._edispatch = {}, {}

    def run(self):
        self.stmt(self.func.body)

    # -------------------------------------------------------------- statements
    def stmt(self, s):
        self.executed += 1
        if self.executed > self.budget:
            raise TooExpensive(f"more than {self.budget} statements")
        fn = self._sdispatch.get(type(s))
        if fn is None:
            fn = self._sdispatch[type(s)] = getattr(type(self), "s_" + type(s).__name__)
        fn(self, s)

    def s_Seq(self, s):
        for x in s.stmts:
            self.stmt(x)

    def s_StageRegion(self, s):
        self.stmt(s.body)

    def s_DeclareVars(self, s):
        self.stmt(s.body)

    def s_Evaluate(self, s):
        self.expr(s.value)

    def s_For(self, s):
        lo, ext = int(self.expr(s.min)), int(self.expr(s.extent))
        old = self.env.get(s.var)
        for v in range(lo, lo + ext):
            self.env[s.var] = v
            self.stmt(s.body)
        if old is None:
            self.env.pop(s.var, None)
        else:
            self.env[s.var] = old

    def s_IfThenElse(self, s):
        c = self.expr(s.cond)
        assert self.np.ndim(c) == 0, "vector condition in IfThenElse"
        if c:
            self.stmt(s.then_case)
        elif s.else_case is not None:
            self.stmt(s.else_case)

    def s_Allocate(self, s):
        from texpr.lower.flatten import buffer_strides
        b = s.buffer
        buffer_strides(b)
        size = int(self.expr(b.size)) if not isinstance(b.size, int) else b.size
        if size > self.max_alloc:
            raise AssertionError(f"interpreter: buffer {b.name} of {size} elements for a tiny "
                                 f"problem (shape {[str(x) for x in b.shape]})")
        dt = self.np.dtype(b.dtype)
        arr = self.np.full(max(size, 0), self.np.nan, dt) if dt.kind == "f" else \
            self.np.zeros(max(size, 0), dt)
        old = self.bufs.get(id(b))
        self.bufs[id(b)] = arr
        self.stmt(s.body)
        if old is None:
            del self.bufs[id(b)]
        else:
            self.bufs[id(b)] = old

    def s_Prefetch(self, s):
        pass                            # a cache hint: reads nothing

    def s_VarStore(self, s):
        self.env[s.var] = self.expr(s.value)

    def _flat(self, b, indices):
        if len(indices) == 1:
            return self.expr(indices[0])
        from texpr.lower.flatten import buffer_strides
        strides = buffer_strides(b)
        out = 0
        for i, st_ in zip(indices, strides):
            out = out + self.expr(i) * int(self.expr(st_))
        return out

    def _check(self, b, arr, idx, what, active=None):
        np = self.np
        ii = np.asarray(idx)
        if active is not None:
            ii = ii[np.asarray(active, bool)]
        if ii.size and (ii.min() < 0 or ii.max() >= arr.size):
            raise OutOfBounds(f"{what} {b.name}[{ii.tolist()}] outside 0..{arr.size - 1}")

    def s_BufferStore(self, s):
        np = self.np
        arr = self.bufs[id(s.buffer)]
        idx = self._flat(s.buffer, s.indices)
        val = self.expr(s.value)
        pred = None if s.predicate is None else self.expr(s.predicate)
        self._check(s.buffer, arr, idx, "write", pred)
        if np.ndim(idx) == 0:
            arr[int(idx)] = val
        else:
            idx = np.asarray(idx)
            val = np.broadcast_to(np.asarray(val, arr.dtype), idx.shape)
            if pred is not None:
                m = np.asarray(pred, bool)
                idx, val = idx[m], val[m]
            arr[idx] = val

    # -------------------------------------------------------------- expressions
    def expr(self, e):
        fn = self._edispatch.get(type(e))
        if fn is None:
            fn = self._edispatch[type(e)] = getattr(type(self), "e_" + type(e).__name__)
        return fn(self, e)

    def _dt(self, dtype):
        from texpr.lang import dtypes
        return self.np.dtype(dtypes.element(dtype))

    def e_Const(self, e):
        if e.dtype in _INT_RANGE:
            return e.value
        return self.np.asarray(e.value, self._dt(e.dtype))[()]

    def e_Var(self, e):
        return self.env[e]

    def e_CheckedIndex(self, e):
        v, ext = self.expr(e.value), self.expr(e.extent)
        if not 0 <= v < ext:
            raise OutOfBounds(f"data-dependent index {v} of {e.tensor} (dim {e.dim}) outside "
                              f"0..{ext - 1}")
        return v

    def e_VarLoad(self, e):
        return self.env[e.var]

    def e_Ramp(self, e):
        return self.expr(e.base) + e.stride * self.np.arange(e.lanes)

    def e_Broadcast(self, e):
        return self.np.full(e.lanes, self.expr(e.value))

    def e_BufferLoad(self, e):
        np = self.np
        arr = self.bufs[id(e.buffer)]
        idx = self._flat(e.buffer, e.indices)
        pred = None if e.predicate is None else self.expr(e.predicate)
        self._check(e.buffer, arr, idx, "read", pred)
        if np.ndim(idx) == 0:
            v = arr[int(idx)]
            return int(v) if arr.dtype.kind in "iu" else v
        idx = np.asarray(idx)
        if pred is not None:
            m = np.asarray(pred, bool)
            out = np.zeros(idx.shape, arr.dtype)
            out[m] = arr[idx[m]]
            return out
        return arr[idx]

    def e_Cast(self, e):
        v = self.expr(e.value)
        dt = self._dt(e.dtype)
        if dt == self.np.bool_:
            return self.np.asarray(v != 0)[()]
        if type(v) is int and e.dtype in _INT_RANGE:
            return _wrap(v, e.dtype)
        with self.np.errstate(all="ignore"):
            r = self.np.asarray(v).astype(dt)[()]
        return int(r) if self.np.ndim(r) == 0 and dt.kind in "iu" else r

    def e_Not(self, e):
        return self.np.logical_not(self.expr(e.a))

    def e_Cmp(self, e):
        a, b = self.expr(e.a), self.expr(e.b)
        np = self.np
        return {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
                "==": np.equal, "!=": np.not_equal}[e.op](a, b)

    def e_Select(self, e):
        c = self.expr(e.cond)
        if self.np.ndim(c) == 0:
            return self.expr(e.t) if c else self.expr(e.f)
        return self.np.where(c, self.expr(e.t), self.expr(e.f))

    def e_BinOp(self, e):
        np = self.np
        if e.op in ("&&", "||"):
            a = self.expr(e.a)
            if np.ndim(a) == 0 and (bool(a) if e.op == "||" else not bool(a)):
                return a                                  # C's short circuit
            b = self.expr(e.b)
            return (np.logical_and if e.op == "&&" else np.logical_or)(a, b)
        a, b = self.expr(e.a), self.expr(e.b)
        if type(a) is int and type(b) is int and e.dtype in _INT_RANGE:
            r = _int_op(e.op, a, b)
            if r is not None:
                return _wrap(r, e.dtype)
        dt = self._dt(e.dtype)
        with np.errstate(all="ignore"):
            a, b = np.asarray(a).astype(dt), np.asarray(b).astype(dt)
            op = e.op
            if op == "+":
                r = a + b
            elif op == "-":
                r = a - b
            elif op == "*":
                r = a * b
            elif op == "/":
                r = np.true_divide(a, b)
            elif op == "//":
                r = np.floor_divide(a, b)
            elif op == "%":
                r = np.mod(a, b)
            elif op in ("tdiv", "tmod"):
                q = (np.abs(a) // np.abs(b)) * np.where((a < 0) == (b < 0), 1, -1).astype(dt)
                r = q if op == "tdiv" else a - q * b
            elif op == "min":
                r = np.minimum(a, b)
            elif op == "max":
                r = np.maximum(a, b)
            elif op == "&":
                r = a & b
            elif op == "|":
                r = a | b
            elif op == "^":
                r = a ^ b
            elif op == "<<":
                r = a << b
            elif op == ">>":
                r = a >> b
            else:
                raise NotImplementedError(op)
            r = np.asarray(r).astype(dt)[()]
            return int(r) if np.ndim(r) == 0 and dt.kind in "iu" else r

    def e_Call(self, e):
        import math
        np = self.np
        args = [self.expr(a) for a in e.args]
        dt = self._dt(e.dtype)
        fns = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh, "abs": np.abs,
               "floor": np.floor, "ceil": np.ceil, "pow": np.power,
               "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
               "erf": np.vectorize(math.erf)}
        with np.errstate(all="ignore"):
            return np.asarray(fns[e.name](*args)).astype(dt)[()]


def interpret(func, arrays, shape_values=None, budget=10_000_000):
    """Run LoweredFunc `func` on `arrays` (its args, in order); outputs are written in place.

    Raises TooExpensive after `budget` statements (Python runs ~30k statements a second)."""
    Interpreter(func, arrays, shape_values or {}, budget).run()
