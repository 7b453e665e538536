"""The C of a bundle besides its kernels: the header (the documented C API) and the static
executor (arena layout, weights, the steps in order). No heap, no libc beyond <stddef.h> /
<stdint.h> and memcpy: the same file builds for Linux hosts and freestanding Hexagon."""
from __future__ import annotations

import numpy as np

from .plan import ALIGN, PAD
from .pool_source import PARALLEL_FOR, THREAD_ID, pool_symbol

#: the weights blob starts with this header (magic, total bytes, the export's weights id)
BLOB_MAGIC = b"TXPRWT01"
BLOB_HEADER = 128

ERRORS = [
    ("OK", "success"),
    ("E_ARENA", "the arena is too small for these dims (see <name>_arena_bytes)"),
    ("E_ALIGN", "the arena or the weights are not aligned (arena: 128 bytes, weights: 64)"),
    ("E_WEIGHTS", "the weights are not this bundle's (magic, size or id differ)"),
    ("E_DIMS", "a dim value is out of range (negative, or a kernel's precondition fails)"),
    ("E_INDEX", "an input or output index is out of range"),
    ("E_SIZE", "the byte count given does not match the array's size"),
    ("E_STATE", "the bundle is not initialised (call <name>_init first)"),
    ("E_KERNEL", "a kernel's checked index was out of bounds (bad input data, e.g. an "
                 "embedding index)"),
]


def _dtype_c(dt):
    return {"float32": "float", "float64": "double", "int8": "int8_t", "uint8": "uint8_t",
            "int16": "int16_t", "uint16": "uint16_t", "int32": "int32_t", "int64": "int64_t",
            "uint32": "uint32_t", "uint64": "uint64_t", "bool": "bool", "float16": "uint16_t"
            }.get(np.dtype(dt).name, "uint8_t")


def _shape_text(v):
    return "[" + ", ".join(str(d) for d in (v.labels or v.shape)) + "]"


def header(plan, weights_bytes, static_arena):
    """The bundle's one header: the C API, with each input, output and dim documented."""
    p, P = plan.name, plan.name.upper()
    ins = "\n".join(f" *   input {k}: {n}  {plan.values[n].dtype.name} {_shape_text(plan.values[n])}"
                    for k, n in enumerate(plan.inputs))
    outs = "\n".join(f" *   output {k}: {n}  {plan.values[n].dtype.name} "
                     f"{_shape_text(plan.values[n])}" for k, n in enumerate(plan.outputs))
    dims = "\n".join(f" *   dim {k}: {d[len('dim_'):]}" for k, d in enumerate(plan.dims)) \
        or " *   (none)"
    errs = "\n".join(f"#define {P}_{e} {k}   /* {why.replace('<name>', p)} */"
                     for k, (e, why) in enumerate(ERRORS))
    heap_kernels = [k.name for k in plan.kernels if k.scratch is None]
    heap = (f"/* kernels whose temporaries come from the C heap (sizes not given by the dims): "
            f"{', '.join(heap_kernels)} */\n" if heap_kernels else "")
    arena = (f"#define {P}_STATIC_ARENA_BYTES {static_arena}u   /* compiled in: init may pass "
             f"arena = NULL */" if static_arena else
             f"/* no static arena: pass one of {p}_arena_bytes(dims) bytes to {p}_init */")
    return f"""/* {p}.h: a model exported by texpr (texpr.export.export_library). No Python, no
 * interpreter: the kernels' C, a static executor and one arena planned at export.
 *
 * Arrays (row-major, C-contiguous):
{ins}
{outs}
 * Symbolic dims (their values are given to {p}_init / {p}_set_dims, in this order):
{dims}
 *
 * Use (one instance per process; calls are not thread-safe, the kernels may use threads):
 *
 *     {p}_init(arena, arena_bytes, weights, weights_bytes, dims);   // once
 *     memcpy({p}_input(0), data, {p}_input_bytes(0));              // or {p}_set_input
 *     {p}_run();
 *     const float* y = (const float*){p}_output(0);                 // valid until the next run
 *
 * arena: 128-byte aligned, at least {p}_arena_bytes(dims) bytes (NULL: the static arena, where
 * the bundle has one). weights: the blob {p}_weights.bin (64-byte aligned, read in place, never
 * copied), or NULL when {p}_weights.c is linked (built with -D{P}_EMBEDDED_WEIGHTS).
 * No function allocates memory; every one returns {P}_OK or an error code below.
 */
#ifndef TEXPR_BUNDLE_{P}_H
#define TEXPR_BUNDLE_{P}_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {{
#endif

{errs}
#define {P}_NUM_INPUTS {len(plan.inputs)}
#define {P}_NUM_OUTPUTS {len(plan.outputs)}
#define {P}_NUM_DIMS {len(plan.dims)}
#define {P}_WEIGHTS_BYTES {weights_bytes}u
#define {P}_ARENA_ALIGN {ALIGN}
#define {P}_MAX_THREADS {plan.max_threads}   /* threads the arena has scratch space for */
{arena}
{heap}
/* Bytes of the arena for these dim values (dims: {P}_NUM_DIMS values; NULL when none). */
size_t {p}_arena_bytes(const int64_t* dims);
/* Set up the bundle on the caller's arena (or the static one) and weights; lays out the
   arrays for `dims`. */
int {p}_init(void* arena, size_t arena_bytes, const void* weights, size_t weights_bytes,
             const int64_t* dims);
/* New dim values (e.g. another batch size): the arrays are laid out again in the arena. */
int {p}_set_dims(const int64_t* dims);
/* Input k in the arena (write it there: no copy), and its size in bytes for the current dims. */
void* {p}_input(int k);
size_t {p}_input_bytes(int k);
/* Copy input k in; nbytes must be {p}_input_bytes(k). */
int {p}_set_input(int k, const void* data, size_t nbytes);
/* Run every step on the inputs set. */
int {p}_run(void);
/* Output k in the arena (valid until the next run or set_dims), and its size in bytes. */
const void* {p}_output(int k);
size_t {p}_output_bytes(int k);
/* Copy output k out; nbytes must be {p}_output_bytes(k). */
int {p}_get_output(int k, void* dst, size_t nbytes);
/* Threads of the kernels' parallel loops (texpr's thread pool; 1 in a single-threaded
   bundle). */
int {p}_set_num_threads(int n);
/* A sentence saying what an error code means. */
const char* {p}_error_string(int code);

#ifdef __cplusplus
}}
#endif
#endif
"""


def executor(plan, weights_id, weights_bytes, const_offsets, static_arena, pool):
    """The static executor: layout of the arena slots, the kernel calls in order."""
    p, P = plan.name, plan.name.upper()
    lines = [f"/* {p}_executor.c: the static executor of a texpr bundle (see {p}.h). */",
             f'#include "{p}.h"', ""]
    # kernels
    for k in plan.kernels:
        params = ["void*"] * k.nargs + ["int64_t"] * len(k.shape_vars) + \
            (["int64_t*"] if k.checks else [])
        lines.append(f"void {k.symbol}_entry({', '.join(params) or 'void'});")
        lines.append(f"void {k.symbol}_set_num_threads(int);")
        if k.pool:
            lines.append(f"void {k.symbol}_set_parallel_runtime(void*);")
    parallel_for, thread_id = (pool_symbol(p, PARALLEL_FOR), pool_symbol(p, THREAD_ID))
    if pool:
        lines.append(f"int {parallel_for}(void (*)(void*, int64_t, int64_t), void*, int64_t, "
                     "int64_t, int);")
        lines.append(f"int {thread_id}(void);")
    nd = max(1, len(plan.dims))
    ns = max(1, len(plan.slots))
    lines += ["",
              "static inline int64_t texpr_bundle_floordiv(int64_t a, int64_t b) {",
              "  if (b == 0) return 0;",
              "  int64_t q = a / b;",
              "  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;",
              "}",
              "static inline int64_t texpr_bundle_floormod(int64_t a, int64_t b) {",
              "  if (b == 0) return 0;",
              "  int64_t r = a % b;",
              "  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;",
              "}",
              "static inline int64_t texpr_bundle_min(int64_t a, int64_t b) { return a < b ? a : b; }",
              "static inline int64_t texpr_bundle_max(int64_t a, int64_t b) { return a > b ? a : b; }",
              "",
              "static struct {",
              "  unsigned char* arena;", "  size_t arena_bytes;",
              "  const unsigned char* weights;",
              f"  int64_t dims[{nd}];", f"  size_t offset[{ns}];",
              "  unsigned char* scratch;", "  size_t per_thread;", "  int threads;",
              "  int ready;", "} st;", "",
              "/* each thread's stack of kernel temporaries in the arena (scratch.py) */",
              f"static struct {{ size_t top; char pad[64 - sizeof(size_t)]; }} "
              f"scratch_top[{P}_MAX_THREADS];",
              "static inline size_t texpr_bundle_align64(size_t n) { return (n + 63) / 64 * 64; }",
              f"void* {p}_scratch_alloc(size_t n) {{",
              f"  int t = {thread_id + '()' if pool else '0'};",
              f"  if (t < 0 || t >= {P}_MAX_THREADS) t = 0;",
              "  size_t at = scratch_top[t].top;",
              "  scratch_top[t].top = at + texpr_bundle_align64(n);",
              "  return st.scratch + (size_t)t * st.per_thread + at;", "}",
              f"void {p}_scratch_free(void* q) {{",
              f"  int t = {thread_id + '()' if pool else '0'};",
              f"  if (t < 0 || t >= {P}_MAX_THREADS) t = 0;",
              "  scratch_top[t].top = (size_t)((unsigned char*)q - (st.scratch + (size_t)t * st.per_thread));",
              "}", ""]
    if static_arena:
        lines += [f"static unsigned char texpr_static_arena[{P}_STATIC_ARENA_BYTES] "
                  f"__attribute__((aligned({ALIGN})));", ""]
    lines += [f"#ifdef {P}_EMBEDDED_WEIGHTS",
              f"extern const unsigned char {p}_weights_embedded[];",
              "#endif", ""]
    # slot sizes
    dim_locals = "".join(f"  const int64_t {d} = dims[{k}]; (void){d};\n"
                         for k, d in enumerate(plan.dims))
    size_lines = []
    for s, vs in enumerate(plan.slots):
        exprs = [v.nbytes_c() for v in vs]
        e = exprs[0]
        for x in exprs[1:]:
            e = f"texpr_bundle_max_size({e}, {x})"
        size_lines.append(f"  sizes[{s}] = {e};")
    from .scratch import c_bytes
    for s_ in plan.steps:
        k = plan.kernels[s_.kernel]
        if k.scratch:
            e = c_bytes(k.scratch, dict(zip(k.shape_params, s_.scalars)))
            size_lines.append(f"  need = {e};   /* {k.name} */")
            size_lines.append("  if (need > *per_thread) *per_thread = need;")
    lines += ["static inline size_t texpr_bundle_max_size(size_t a, size_t b) { return a > b ? a : b; }",
              "",
              "/* the byte size of each slot, and of one thread's scratch space, for these dims;",
              "   0 where a dim is out of range */",
              "static int slot_sizes(const int64_t* dims, size_t* sizes, size_t* per_thread) {",
              "  size_t need = 0; (void)need; *per_thread = 0;",
              dim_locals.rstrip("\n") if dim_locals else "  (void)dims;"]
    if plan.dims:
        lines.append("  if (" + " || ".join(f"{d} < 0" for d in plan.dims) + ") return 0;")
    for cond, msg in plan.dim_checks:
        lines.append(f"  if (!({cond})) return 0;   /* {_comment(msg)} */")
    lines += size_lines + ["  return 1;", "}", "",
                           f"size_t {p}_arena_bytes(const int64_t* dims) {{",
                           f"  size_t sizes[{ns}] = {{0}}, per_thread = 0, total = {ALIGN};",
                           "  if (!slot_sizes(dims, sizes, &per_thread)) return 0;",
                           f"  for (int s = 0; s < {len(plan.slots)}; ++s)",
                           f"    total += (sizes[s] + {PAD} + {ALIGN - 1}) / {ALIGN} * {ALIGN};",
                           f"  total += (per_thread * {P}_MAX_THREADS + {PAD} + {ALIGN - 1}) / {ALIGN} * {ALIGN};",
                           "  return total;", "}", ""]
    # layout
    lines += ["static int layout(const int64_t* dims) {",
              f"  size_t sizes[{ns}] = {{0}}, per_thread = 0, at = 0;",
              f"  if (!slot_sizes(dims, sizes, &per_thread)) return {P}_E_DIMS;",
              f"  for (int s = 0; s < {len(plan.slots)}; ++s) {{",
              "    st.offset[s] = at;",
              f"    at += (sizes[s] + {PAD} + {ALIGN - 1}) / {ALIGN} * {ALIGN};",
              "  }",
              "  size_t scratch_at = at;",
              f"  at += (per_thread * {P}_MAX_THREADS + {PAD} + {ALIGN - 1}) / {ALIGN} * {ALIGN};",
              f"  if (at + {ALIGN} > st.arena_bytes) return {P}_E_ARENA;",
              "  st.scratch = st.arena + scratch_at;", "  st.per_thread = per_thread;",
              f"  for (int t = 0; t < {P}_MAX_THREADS; ++t) scratch_top[t].top = 0;",
              f"  for (int k = 0; k < {len(plan.dims)}; ++k) st.dims[k] = dims[k];",
              f"  return {P}_OK;", "}", ""]
    # init
    magic = ", ".join(str(b) for b in BLOB_MAGIC)
    arena_default = ("    arena = texpr_static_arena; arena_bytes = sizeof(texpr_static_arena);"
                     if static_arena else f"    return {P}_E_ARENA;")
    lines += [f"int {p}_init(void* arena, size_t arena_bytes, const void* weights, "
              f"size_t weights_bytes, const int64_t* dims) {{",
              "  st.ready = 0;",
              "  if (!arena) {", arena_default, "  }",
              f"  if ((uintptr_t)arena % {ALIGN} != 0) return {P}_E_ALIGN;",
              f"#ifdef {P}_EMBEDDED_WEIGHTS",
              f"  if (!weights) {{ weights = {p}_weights_embedded; weights_bytes = {P}_WEIGHTS_BYTES; }}",
              "#endif",
              f"  if (!weights || weights_bytes != {P}_WEIGHTS_BYTES) return {P}_E_WEIGHTS;",
              f"  if ((uintptr_t)weights % 64 != 0) return {P}_E_ALIGN;",
              "  {",
              "    const unsigned char* w = (const unsigned char*)weights;",
              f"    static const unsigned char magic[8] = {{{magic}}};",
              "    uint64_t total = 0, id = 0;",
              f"    for (int i = 0; i < 8; ++i) if (w[i] != magic[i]) return {P}_E_WEIGHTS;",
              "    for (int i = 7; i >= 0; --i) { total = total << 8 | w[8 + i]; id = id << 8 | w[16 + i]; }",
              f"    if (total != {P}_WEIGHTS_BYTES || id != UINT64_C({weights_id})) return {P}_E_WEIGHTS;",
              "  }",
              "  st.arena = (unsigned char*)arena;", "  st.arena_bytes = arena_bytes;",
              "  st.weights = (const unsigned char*)weights;"]
    for k in plan.kernels:
        if k.pool:
            lines.append(f"  {k.symbol}_set_parallel_runtime("
                         + (f"(void*){parallel_for});" if pool else "(void*)0);"))
    lines += [f"  int rc = layout({'dims' if plan.dims else '0'});",
              f"  if (rc != {P}_OK) return rc;",
              "  st.ready = 1;", f"  return {P}_OK;", "}", "",
              f"int {p}_set_dims(const int64_t* dims) {{",
              f"  if (!st.ready) return {P}_E_STATE;",
              f"  return layout({'dims' if plan.dims else '0'});", "}", ""]
    # array pointers
    def ptr(name):
        v = plan.values[name]
        if v.kind == "constant":
            return f"(void*)(st.weights + {const_offsets[name]}u)"
        return f"(void*)(st.arena + st.offset[{v.slot}])"

    def io_table(names, what):
        out = [f"static size_t {what}_bytes_of(int k) {{"]
        out += [dim_locals.replace("dims[", "st.dims[").rstrip("\n")] if dim_locals else []
        out.append("  switch (k) {")
        for i, n in enumerate(names):
            out.append(f"    case {i}: return {plan.values[n].nbytes_c()};")
        out += ["    default: return 0;", "  }", "}",
                f"static void* {what}_ptr(int k) {{", "  switch (k) {"]
        for i, n in enumerate(names):
            out.append(f"    case {i}: return {ptr(n)};")
        out += ["    default: return (void*)0;", "  }", "}", ""]
        return out

    lines += io_table(plan.inputs, "input") + io_table(plan.outputs, "output")
    n_in, n_out = len(plan.inputs), len(plan.outputs)
    lines += [f"void* {p}_input(int k) {{ return st.ready && k >= 0 && k < {n_in} ? input_ptr(k) : (void*)0; }}",
              f"size_t {p}_input_bytes(int k) {{ return st.ready ? input_bytes_of(k) : 0; }}",
              f"const void* {p}_output(int k) {{ return st.ready && k >= 0 && k < {n_out} ? output_ptr(k) : (void*)0; }}",
              f"size_t {p}_output_bytes(int k) {{ return st.ready ? output_bytes_of(k) : 0; }}",
              f"int {p}_set_input(int k, const void* data, size_t nbytes) {{",
              f"  if (!st.ready) return {P}_E_STATE;",
              f"  if (k < 0 || k >= {n_in}) return {P}_E_INDEX;",
              f"  if (nbytes != input_bytes_of(k)) return {P}_E_SIZE;",
              "  if (nbytes) __builtin_memcpy(input_ptr(k), data, nbytes);",
              f"  return {P}_OK;", "}",
              f"int {p}_get_output(int k, void* dst, size_t nbytes) {{",
              f"  if (!st.ready) return {P}_E_STATE;",
              f"  if (k < 0 || k >= {n_out}) return {P}_E_INDEX;",
              f"  if (nbytes != output_bytes_of(k)) return {P}_E_SIZE;",
              "  if (nbytes) __builtin_memcpy(dst, output_ptr(k), nbytes);",
              f"  return {P}_OK;", "}", ""]
    # run
    lines += [f"int {p}_run(void) {{",
              f"  if (!st.ready) return {P}_E_STATE;",
              "  int64_t err[3] = {0, 0, 0};"]
    lines += [ln for ln in dim_locals.replace("dims[", "st.dims[").splitlines()]
    for i, s in enumerate(plan.steps):
        k = plan.kernels[s.kernel]
        args = [ptr(a) for a in s.args] + [f"(int64_t)({x})" for x in s.scalars]
        if k.checks:
            args.append("err")
        lines.append(f"  {k.symbol}_entry({', '.join(args)});   /* step {i}: {k.name} */")
        if k.checks:
            lines.append(f"  if (err[0]) return {P}_E_KERNEL;")
    lines += ["  (void)err;", f"  return {P}_OK;", "}", ""]
    # threads and errors
    lines += [f"int {p}_set_num_threads(int n) {{", "  if (n < 1) n = 1;",
              f"  if (n > {P}_MAX_THREADS) n = {P}_MAX_THREADS;   /* the scratch space's threads */"]
    if not pool:
        lines.append("  n = 1;   /* a single-threaded bundle */")
    for k in plan.kernels:
        lines.append(f"  {k.symbol}_set_num_threads(n);")
    lines += [f"  return {P}_OK;", "}", "",
              f"const char* {p}_error_string(int code) {{", "  switch (code) {"]
    for k, (e, why) in enumerate(ERRORS):
        lines.append(f'    case {k}: return "{why.replace("<name>", p)}";')
    lines += ['    default: return "unknown error code";', "  }", "}", ""]
    return "\n".join(lines)


def _comment(text):
    return str(text).replace("*/", "* /").replace("\n", " ")
