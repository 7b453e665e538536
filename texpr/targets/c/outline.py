"""A `parallel` loop for texpr's thread pool (runtime/pool.c): its body becomes a static
function of (closure, begin, end) running iterations [begin, end), and the loop becomes a
call of the pool with a closure struct holding what the body uses from outside it.

What the body uses from outside (its free variables: kernel arguments, scalar parameters,
enclosing loops' variables, buffers allocated outside, hoisted values, the index-check error
words) is found from the emitted C itself: every identifier of the body's text that the kernel
declared before the loop (CEmitter.declare; names are unique in a kernel) and the body did
not declare itself. A variable the emitter did not note would be an undeclared identifier in
the outlined function: a compile error, never a wrong value. Pointers are taken `restrict`
again in the body (as the kernel's parameters are), so the compiler optimizes the body as it
did the inline loop.

The kernel calls the pool through a function pointer the runtime installs when it loads the
library (<symbol>_set_parallel_runtime): the library does not link against the pool, and a
kernel whose pointer is not set runs its loops serially."""
import re

from ...errors import InternalError
from ...lang.dtypes import C_TYPES
from ...lang.expr import Const
from ...lang.ir import Allocate, VarStore
from ...lang.visitor import free_vars, walk

_COMMENT_OR_STRING = re.compile(r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\])*\"", re.S)
_IDENT = re.compile(r"[A-Za-z_]\w*")


def runtime_lines(fname):
    """The pool's entry point as a kernel sees it, and its setter (exported)."""
    sig = "int64_t, int64_t, int"
    return [
        "typedef void (*texpr_parallel_body)(void*, int64_t, int64_t);",
        "/* texpr's thread pool (runtime/pool.c), installed by the runtime when it loads the",
        "   kernel; a kernel it is not installed in runs its parallel loops serially */",
        f"static int (*texpr_pool_run)(texpr_parallel_body, void*, {sig}) = 0;",
        f"void {fname}_set_parallel_runtime(void* run) "
        f"{{ texpr_pool_run = (int (*)(texpr_parallel_body, void*, {sig}))run; }}",
        "static void texpr_parallel_for(texpr_parallel_body body, void* closure, int64_t begin, "
        "int64_t end) {",
        "  if (texpr_pool_run) texpr_pool_run(body, closure, begin, end, texpr_num_threads);",
        "  else body(closure, begin, end);",
        "}",
    ]


def parallel_loop(em, loop, var, ty, mn, ext, simd):
    """Emit `loop` (a parallel For; var/ty: its C variable and type, mn/ext: C text of its
    bounds) as a call of the pool, and its body as a function in em.outlined."""
    k = em.parallel_loops
    em.parallel_loops += 1
    fn = f"{em.fname}_parallel{k}"
    saved = em.lines, em.indent, em.heap_buffers
    mark = len(em.declared_order)
    outer = dict.fromkeys(em.declared_order)
    em.lines, em.indent, em.heap_buffers = [], 2, []
    hoisted, inner_body = _chunk_buffers(loop)
    em.indent += len(hoisted)
    allocs = []
    for b in hoisted:
        name = em.buf(b)
        em.declare(name, C_TYPES[b.dtype] + "*")
        allocs.append((name, em.heap_alloc(b, name)))
        em.heap_buffers.append(name)
    em.declare(var, ty)
    em.stmt(inner_body)
    body = em.lines
    inner = set(em.declared_order[mark:])
    del em.declared_order[mark:]        # out of scope after the loop: never a later capture
    em.lines, em.indent, em.heap_buffers = saved
    used = set(_IDENT.findall(_COMMENT_OR_STRING.sub(" ", "\n".join(body))))
    captured = [n for n in outer if n in used and n not in inner]
    written = {em.names.get(s.var, s.var.name) for s in walk(loop.body) if isinstance(s, VarStore)}
    shared = sorted(written & set(captured))
    if shared:
        raise InternalError(f"parallel loop {loop.var.name} writes {shared}, declared outside "
                            "it: each thread would need its own copy")
    closure_t = fn + "_closure"
    lines = [f"/* parallel loop {_comment(loop.var.name)}: iterations [texpr_begin, texpr_end), "
             "run by the thread pool */"]
    if captured:
        fields = " ".join(f"{_field_type(em, n)} {n};" for n in captured)
        lines.append(f"typedef struct {{ {fields} }} {closure_t};")
    lines.append(f"static void {fn}(void* texpr_closure, int64_t texpr_begin, "
                 "int64_t texpr_end) {")
    if captured:
        lines.append(f"  const {closure_t}* texpr_c = (const {closure_t}*)texpr_closure;")
        for n in captured:
            lines.append(f"  {_local_type(em, n)} {n} = texpr_c->{n};")
    else:
        lines.append("  (void)texpr_closure;")
    for k, (_, alloc) in enumerate(allocs):
        lines.append("  " * (k + 1) + "{")
        lines.append("  " * (k + 2) + alloc)
    pad = "  " * len(allocs)
    if simd:
        lines.append(f"{pad}  #pragma omp simd")
    lines.append(f"{pad}  for ({ty} {var} = ({ty})texpr_begin; {var} < ({ty})texpr_end; "
                 f"++{var}) {{")
    lines += body
    lines.append(f"{pad}  }}")
    for k, (name, _) in reversed(list(enumerate(allocs))):
        lines.append("  " * (k + 2) + f"texpr_free({name});")
        lines.append("  " * (k + 1) + "}")
    lines.append("}")
    lines.append("")
    em.outlined.append("\n".join(lines))
    end = ext if mn == "0" else f"{mn} + {ext}"
    if captured:
        em.line("{")
        em.indent += 1
        em.line(f"{closure_t} texpr_closure{k} = {{{', '.join(f'.{n} = {n}' for n in captured)}}};")
        em.line(f"texpr_parallel_for({fn}, &texpr_closure{k}, {mn}, {end});")
        em.indent -= 1
        em.line("}")
    else:
        em.line(f"texpr_parallel_for({fn}, 0, {mn}, {end});")


def _chunk_buffers(loop):
    """(buffers, body): the heap buffers (a size only known at run time) that wrap the whole
    body of the parallel loop with a size that does not depend on its variable, and the body
    inside them. They are allocated once per chunk of iterations a thread runs, not once per
    iteration (a stage computed per iteration writes the part it reads each time)."""
    out, body = [], loop.body
    while isinstance(body, Allocate) and not isinstance(body.buffer.size, Const) and \
            loop.var not in free_vars(body.buffer.size):
        out.append(body.buffer)
        body = body.body
    return out, body


def _field_type(em, name):
    return em.declared[name]


def _local_type(em, name):
    t = em.declared[name]
    return f"{t} restrict" if t.endswith("*") else t


def _comment(text):
    return re.sub(r"[^0-9A-Za-z_.]", "_", str(text))
