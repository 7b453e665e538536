"""What a kernel with extern calls needs from the C toolchain: headers to include, the
user's C sources (compiled into the kernel's library, before the kernel), libraries to link.

They come from te.build(..., extra_sources=[...], libs=[...]), from extern ops that carry
their own (attrs "extern_headers", "extern_sources", "extern_libs": texpr.contrib.cblas), and
from the pragmas import_c (C source) and import_llvm (LLVM IR text): `imports`, each compiled
to an object of its own (gcc, or clang -x ir: toolchain.compile_import) and linked in.

A library with imported code exports only the kernel's own symbols (texpr_kernel_*: an
exports list given to the linker, toolchain.kernel_exports_flag), so the functions it defines
are bound inside the library: two kernels importing functions of the same name never see
each other's, and no C library function can stand in for one. A function defined by two
imports of one schedule is taken from the first (TVM links only what is still needed).
"""
import re

from ..errors import TexprError
from ..lang.extern import ExternOp

_HEADER = re.compile(r"[A-Za-z0-9_./+-]+\Z")
_LIB = re.compile(r"-l[A-Za-z0-9_.+-]+\Z|-L/?[A-Za-z0-9_./+-]+\Z"
                  r"|/[A-Za-z0-9_./+-]+\.(so|a)(\.[0-9.]+)?\Z")


class ExternLinkage:
    def __init__(self, headers=(), sources=(), libs=(), imports=()):
        self.headers = tuple(dict.fromkeys(headers))
        self.sources = tuple(dict.fromkeys(sources))
        self.libs = tuple(dict.fromkeys(libs))
        self.imports = tuple(dict.fromkeys(imports))    # (pragma key, code text)

    def __bool__(self):
        return bool(self.headers or self.sources or self.libs or self.imports)

    def key(self):
        return (self.headers, self.sources, self.libs, self.imports)

    def c_lines(self):
        out = [f"#include <{h}>" for h in self.headers]
        for k, src in enumerate(self.sources):
            out += ["", f"/* extern source {k} (te.build extra_sources / extern op) */",
                    src.rstrip("\n")]
        return out

    def declares(self, name):
        """Does one of the sources define or declare a function `name`? (With headers: they
        are taken to declare what the calls name.)"""
        if self.headers:
            return True
        pat = re.compile(rf"\b{re.escape(name)}\s*\(")
        return any(pat.search(src) for src in self.sources)


def _strings(value, what):
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise TexprError(f"build: {what} must be a list of strings, got {value!r}")
    return list(value)


def linkage_for(sch, extra_sources=None, libs=None):
    """The ExternLinkage of building `sch` with these build options (None: nothing needed)."""
    headers, sources, link = [], _strings(extra_sources, "extra_sources"), _strings(libs, "libs")
    for st in sch.stages:
        if isinstance(st.op, ExternOp):
            a = st.op.attrs
            headers += _strings(a.get("extern_headers"), "extern_headers")
            sources += _strings(a.get("extern_sources"), "extern_sources")
            link += _strings(a.get("extern_libs"), "extern_libs")
    for h in headers:
        if not _HEADER.match(h):
            raise TexprError(f"build: {h!r} is not a header name")
    for lib in link:
        if not _LIB.match(lib):
            raise TexprError(f"build: {lib!r} is not a library to link (-lNAME, -LDIR or a path "
                             "to a .so/.a)")
    out = ExternLinkage(headers, sources, link, imported_code(sch))
    return out if out else None


def imported_code(sch):
    """[(key, code)] of the pragmas import_c / import_llvm on the schedule's stages, in stage
    order and, within a stage, in the order they were given."""
    return [(key, value) for st in sch.stages for attr in st.iter_attrs.values()
            for key, value in attr.get("pragmas", ()) if key in ("import_c", "import_llvm")]
