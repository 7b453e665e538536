"""C of extern calls (te.call_extern / call_pure_extern / call_packed) and of user
intrinsic lowerings (te.register_intrin_lowering), for every CPU emitter.

A packed call goes through one function pointer the runtime sets (`<kernel>_set_packed`):
texpr_packed("name", nargs, args) with each argument a texpr_packed_arg (a buffer's data,
shape and dtype code, or a scalar). It returns nonzero when the Python function raised; the
kernel then frees its heap buffers and returns at once, and the runtime raises the error.
"""
from ...errors import TexprError
from ...lang import dtypes
from ...lang.dtypes import C_TYPES, SCALAR_DTYPES
from ...lang.expr import Call, Const, ExternCall
from ...lang.ir import BufferPtr

PACKED_TYPES = (
    "typedef struct { void* data; const int64_t* shape; int64_t ndim; int64_t code; "
    "int64_t i; double f; } texpr_packed_arg;")
CODE_INT, CODE_FLOAT = -1, -2        # texpr_packed_arg.code of scalars; arrays: dtype index

# declared by the headers every kernel includes (no prototype of ours)
LIBC = frozenset("""
exp expf log logf log2 log2f log10 log10f log1p log1pf expm1 expm1f exp2 exp2f sqrt sqrtf cbrt
cbrtf pow powf sin sinf cos cosf tan tanf asin asinf acos acosf atan atanf atan2 atan2f sinh
sinhf cosh coshf tanh tanhf asinh asinhf acosh acoshf atanh atanhf erf erff erfc erfcf tgamma
tgammaf lgamma lgammaf fabs fabsf floor floorf ceil ceilf round roundf trunc truncf rint rintf
nearbyint nearbyintf fmod fmodf remainder remainderf fmin fminf fmax fmaxf fma fmaf hypot hypotf
copysign copysignf ldexp ldexpf memcpy memset memmove abs labs llabs
""".split())


def packed_names(body):
    from ...lang.visitor import walk
    return sorted({n.name for n in walk(body) if isinstance(n, ExternCall) and n.kind == "packed"})


class ExternCallEmitter:
    """Mixin of CEmitter: extern calls, buffer addresses, intrinsic lowering rules."""

    # prototypes of undeclared C functions (GPU dialects: the function must be a builtin)
    declare_externs = True

    def _extern_state(self):
        st = self.__dict__.get("_externs")
        if st is None:
            st = self._externs = {"protos": {}, "packed": False}
        return st

    def expr_BufferPtr(self, e):
        buf = self.buf(e.buffer)
        if isinstance(e.offset, Const) and e.offset.value == 0:
            return buf
        return f"(&{buf}[{self.idx(e.offset)}])"

    def expr_ExternCall(self, e):
        if e.kind == "packed":
            raise TexprError(f"call_packed {e.name}: a packed call is a statement (the result of "
                             "an extern op's fcompute), not part of an expression")
        args = [self.c_arg(a) for a in e.args]
        self._declare(e)
        return f"{e.name}({', '.join(args)})"

    def c_arg(self, a):
        if isinstance(a, BufferPtr):
            return self.expr(a)
        return self.unparen_data(a)

    def unparen_data(self, a):
        from .emitter import unparen
        return unparen(self.data(a))

    def _declare(self, e):
        """A prototype for a C function the includes and the user's sources do not declare."""
        ext = getattr(self.func, "externs", None)
        if not self.declare_externs or e.name in LIBC or (ext is not None and ext.declares(e.name)):
            return
        ret = "void" if e.dtype == "void" else C_TYPES[e.dtype]
        params = ["void*" if isinstance(a, BufferPtr) else C_TYPES[dtypes.element(a.dtype)]
                  for a in e.args]
        proto = f"{ret} {e.name}({', '.join(params) or 'void'});"
        old = self._extern_state()["protos"].setdefault(e.name, proto)
        if old != proto:
            raise TexprError(f"call_extern {e.name}: called with different argument or return "
                             f"types in one kernel ({old} and {proto})")
        self.helper(f" proto_{e.name}", proto)

    def stmt_Evaluate(self, s):
        v = s.value
        if isinstance(v, ExternCall) and v.kind == "packed":
            self.packed_call(v)
            return
        from .emitter import unparen
        self.line(f"{unparen(self.expr(v))};")

    def packed_call(self, e):
        """texpr_packed("name", n, args): each argument described for the runtime."""
        st = self._extern_state()
        if not st["packed"]:
            st["packed"] = True
            self.helper(" packed_0", PACKED_TYPES)
            self.helper(" packed_1", "static int (*texpr_packed)(const char*, int64_t, "
                        "texpr_packed_arg*) = 0;")
            self.helper(" packed_2", f"void {self.fname}_set_packed(void* f) {{ texpr_packed = "
                        "(int (*)(const char*, int64_t, texpr_packed_arg*))f; }")
        n = len(e.args)
        self.line("{")
        self.indent += 1
        items = []
        for k, a in enumerate(e.args):
            if isinstance(a, BufferPtr):
                b = a.buffer
                dims = ", ".join(f"(int64_t)({self.unparen_idx(d)})" for d in b.shape) or "0"
                self.line(f"const int64_t texpr_shape{k}[{max(len(b.shape), 1)}] = {{{dims}}};")
                items.append(f"{{ (void*){self.expr(a)}, texpr_shape{k}, {len(b.shape)}, "
                             f"{SCALAR_DTYPES.index(b.dtype)}, 0, 0.0 }}")
            elif dtypes.is_float(a.dtype):
                items.append(f"{{ 0, 0, 0, {CODE_FLOAT}, 0, (double)({self.unparen_data(a)}) }}")
            else:
                items.append(f"{{ 0, 0, 0, {CODE_INT}, (int64_t)({self.unparen_data(a)}), 0.0 }}")
        if items:
            self.line(f"texpr_packed_arg texpr_args[{n}] = {{ {', '.join(items)} }};")
        args = "texpr_args" if items else "0"
        frees = "".join(f"texpr_free({b}); " for b in reversed(self.heap_buffers))
        self.line(f"if (texpr_packed(\"{e.name}\", {n}, {args}) != 0) {{ {frees}return; }}")
        self.indent -= 1
        self.line("}")

    def unparen_idx(self, e):
        from .emitter import unparen
        return unparen(self.idx(e))

    @property
    def uses_packed(self):
        return self._extern_state()["packed"]

    def lowered_call(self, e):
        """The user's lowering of math call e for this target (te.register_intrin_lowering),
        or None."""
        from ..intrin_rules import lookup
        rule = lookup(e.name, self.target_name)
        if rule is None:
            return None
        out = rule(e)
        if out is None:
            return None
        from ...lang.expr import Expr
        if not isinstance(out, Expr) or dtypes.element(out.dtype) != dtypes.element(e.dtype):
            raise TexprError(f"the intrinsic lowering of {e.name} for target {self.target_name} "
                             f"returned {out!r}; expected an expression of dtype {e.dtype}")
        if isinstance(out, Call) and type(out) is Call and out.name == e.name:
            return None          # the rule gave back the call itself: the default code
        return self.expr(out)
