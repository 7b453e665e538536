"""Kernel temporaries without a heap: a kernel's large local buffers (over the emitter's stack
limit, or of symbolic size) come from texpr_alloc (posix_memalign) in te.build's kernels. In a
bundle they come from the arena instead: each thread has a stack of scratch space there
(allocations are freed in reverse order, one C block inside the other), sized at layout from
the allocation sites of every kernel: the sum of a kernel's sites bounds what one thread
holds at once. A site whose size is not an expression of the kernel's shape variables keeps
the C heap (the bundle's header says which kernel)."""
from __future__ import annotations

import re

from ..lang import dtypes

#: texpr_alloc((size_t)(<size>) * sizeof(<type>)); as CEmitter.stmt_Allocate writes it
SITE_RE = re.compile(r"texpr_alloc\(\(size_t\)\((?P<n>.*)\) \* sizeof\((?P<t>[\w ]+)\)\);")
SIZE_TOKENS = re.compile(r"\s*(?:(?P<id>[A-Za-z_]\w*)|(?P<num>\d+)|(?P<op>[-+*/%()]))")
TYPE_BYTES = {t: max(1, dtypes.bits(d) // 8) for d, t in dtypes.C_TYPES.items()}


def entry_params(source, symbol):
    """The C parameter names of a kernel's static function, in order."""
    m = re.search(r"static __attribute__\(\(noinline\)\) void " + re.escape(symbol) + r"\((.*)\) \{",
                  source)
    if not m or m.group(1).strip() == "void":
        return []
    return [p.strip().split()[-1].lstrip("*") for p in m.group(1).split(",")]


def sites(source, shape_params):
    """[(size tokens, element bytes)] of a kernel's texpr_alloc sites, or None when a size is
    not an expression of its shape parameters (ints, + - * / % and parentheses)."""
    out = []
    for m in SITE_RE.finditer(source):
        toks = _tokens(m.group("n"))
        elem = TYPE_BYTES.get(m.group("t").strip())
        if toks is None or elem is None or any(
                kind == "id" and t not in shape_params for kind, t in toks):
            return None
        out.append((toks, elem))
    return out


def _tokens(text):
    toks, at = [], 0
    while at < len(text):
        m = SIZE_TOKENS.match(text, at)
        if not m or m.end() == at:
            return None
        kind = m.lastgroup
        toks.append((kind, m.group(kind)))
        at = m.end()
        while at < len(text) and text[at].isspace():
            at += 1
    return toks


def rewrite(source, alloc, free):
    """The kernel source with its temporaries taken from the bundle's scratch functions."""
    from ..targets.c.emitter import _ALLOC_HELPER
    helper = (f"void* {alloc}(size_t n);\nvoid {free}(void* p);\n"
              f"static inline void* texpr_alloc(size_t n) {{ return {alloc}(n); }}\n"
              f"static inline void texpr_free(void* p) {{ {free}(p); }}")
    return source.replace(_ALLOC_HELPER, helper)


def c_bytes(site_list, binding):
    """C expression: the scratch bytes one thread may hold in a kernel call (64-byte aligned
    blocks), with the shape parameters given by `binding` ({param: C expression})."""
    terms = []
    for toks, elem in site_list:
        e = " ".join(f"(int64_t)({binding[t]})" if k == "id" else t for k, t in toks)
        terms.append(f"texpr_bundle_align64((size_t)({e}) * {elem})")
    return " + ".join(terms) or "0"


def py_bytes(site_list, values):
    """The same in Python, with the shape parameters' values ({param: int})."""
    total = 0
    for toks, elem in site_list:
        stack = " ".join(str(values[t]) if k == "id" else ("//" if t == "/" else t)
                         for k, t in toks)
        n = int(eval(stack, {"__builtins__": {}}, {})) * elem   # only ints and + - * // % ( )
        total += -(-max(n, 0) // 64) * 64
    return total
