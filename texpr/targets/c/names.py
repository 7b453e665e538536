"""Sanitised, unique C identifiers for user-supplied names (no name can inject code)."""
import re

C_KEYWORDS = set("""auto break case char const continue default do double else enum extern float
for goto if inline int long register restrict return short signed sizeof static struct switch
typedef union unsigned void volatile while _Bool _Complex _Imaginary bool true false main
INFINITY NAN""".split())
# C library and math names a kernel, parameter or variable must not shadow
C_KEYWORDS |= set("""exit abort malloc free calloc realloc memcpy memset memmove printf puts write
read open close posix_memalign div ldiv abs labs llabs exp expf log logf sqrt sqrtf tanh tanhf erf
erff floor floorf ceil ceilf pow powf fabs fabsf fmin fmax fminf fmaxf sin cos tan expm1 log1p
size_t intptr_t int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t""".split())


class NameTable:
    def __init__(self):
        self.used = set()
        self.by_obj = {}

    def get(self, obj, hint):
        key = id(obj)
        if key in self.by_obj:
            return self.by_obj[key][1]
        base = sanitize(hint)
        name, k = base, 1
        while name in self.used:
            name = f"{base}_{k}"
            k += 1
        self.used.add(name)
        self.by_obj[key] = (obj, name)   # keep obj alive so id() stays unique
        return name

    def bind(self, obj, name):
        """Give obj exactly `name`, a name texpr generated (not sanitised: it may start with
        texpr_), e.g. a local the emitter declared itself."""
        self.used.add(name)
        self.by_obj[id(obj)] = (obj, name)

    def reserve(self, name):
        self.used.add(name)


#: every symbol a kernel's library exports, and its GPU kernels' names, start with this: no C
#: library, libm, libgomp or OpenCL/CUDA builtin does, and names.sanitize gives no buffer or
#: variable a name beginning with texpr_
KERNEL_PREFIX = "texpr_kernel_"


def kernel_symbol(name):
    """The C name of the kernel a user called `name` (any string): prefixed, so it cannot be
    (or be mistaken for) a C library function (`dup`, `time`, `round`, `select`, `main`)."""
    return KERNEL_PREFIX + re.sub(r"[^0-9A-Za-z_]", "_", str(name))[:64]


def sanitize(hint):
    s = re.sub(r"[^0-9A-Za-z_]", "_", str(hint))
    if not s or s[0].isdigit():
        s = "v_" + s
    if s in C_KEYWORDS or s.startswith("texpr_") or s.startswith("__"):
        s = "u_" + s
    return s[:64]
