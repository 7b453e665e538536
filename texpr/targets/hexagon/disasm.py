"""Reading the Hexagon code of an HVX kernel: compile its source to an object, disassemble it
with llvm-objdump (it decodes HVX only with --mcpu/--mattr), find its loops and count the
VLIW packets of the innermost one.

Time under QEMU says nothing about DSP speed; packets per loop iteration do (a v67 core
issues one packet per cycle per thread when nothing stalls).
"""
import os
import re
import shutil
import subprocess
import tempfile

from ...errors import BuildError, TexprError
from ..c.names import kernel_symbol
from .harness import HVX_CFLAGS

OBJDUMP_CANDIDATES = ["llvm-objdump"] + [f"llvm-objdump-{v}" for v in range(20, 12, -1)]
OBJDUMP_FLAGS = ["-d", "--no-show-raw-insn", "--mcpu=hexagonv67", "--mattr=+hvxv67,+hvx-length128b"]
#: how the counted code is compiled: no unrolling, so one loop iteration is one schedule step
COUNT_FLAGS = ["-fno-unroll-loops"]
#: the scalar baseline: no auto-vectorization either (clang would use HVX on its own)
SCALAR_FLAGS = COUNT_FLAGS + ["-fno-vectorize", "-fno-slp-vectorize"]


def find_objdump():
    for name in OBJDUMP_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    raise TexprError("llvm-objdump not found (apt-get install llvm)")


def disassemble(source, extra_flags=()):
    """Compile kernel source for HVX (-c) and return llvm-objdump's text."""
    with tempfile.TemporaryDirectory(prefix="texpr_hvx_") as d:
        src, obj = os.path.join(d, "kernel.c"), os.path.join(d, "kernel.o")
        with open(src, "w") as f:
            f.write(source)
        cmd = ["clang"] + HVX_CFLAGS + list(extra_flags) + ["-c", "-o", obj, src]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise BuildError(f"clang -c failed:\n{' '.join(cmd)}\n{r.stderr[-3000:]}")
        r = subprocess.run([find_objdump()] + OBJDUMP_FLAGS + [obj], capture_output=True, text=True)
        if r.returncode != 0:
            raise BuildError(f"llvm-objdump failed: {r.stderr[-2000:]}")
        return r.stdout


def function_text(disasm, name):
    """The disassembly of one function (from its label to the next one). name: a kernel's
    name as given to te.build (its C symbol is prefixed: c/names.kernel_symbol) or any C
    function's."""
    for sym in (kernel_symbol(name), name):
        m = re.search(rf"^[0-9a-f]+ <{re.escape(sym)}>:\n(.*?)(?=^[0-9a-f]+ <|\Z)", disasm,
                      re.S | re.M)
        if m is not None:
            return m.group(1)
    raise TexprError(f"function {name} not found in the disassembly")


_LINE = re.compile(r"^\s*([0-9a-f]+):\s*(.*)$")


def packets(text):
    """[(address, [instructions], ends)] of a function's disassembly; `ends` names the
    hardware loops the packet closes ("0", "1", "01" or "")."""
    out, cur, addr = [], None, None
    for ln in text.splitlines():
        m = _LINE.match(ln)
        if not m:
            continue
        a, body = int(m.group(1), 16), m.group(2)
        if "{" in body:
            cur, addr = [], a
            body = body.split("{", 1)[1]
        if cur is None:
            continue
        end = "}" in body
        cur.append(body.split("}", 1)[0].strip())
        if end:
            m = re.search(r":endloop(\d+)", body)
            out.append((addr, cur, m.group(1) if m else ""))
            cur = None
    return out


VECTOR = re.compile(r"\bv\d+\b|vmem|\bq\d\b")


def loops(pk):
    """(start, end, kind) packet index ranges of the loops: hardware loops (kind "loop0" or
    "loop1": loopN(start) ... :endloopN) and backward jumps (kind "jump")."""
    index = {a: k for k, (a, _, _) in enumerate(pk)}
    found = []
    for k, (a, ins, endloop) in enumerate(pk):
        for i in ins:
            m = re.search(r"loop([01])\((0x[0-9a-f]+),", i)
            if m and int(m.group(2), 16) in index:
                start = index[int(m.group(2), 16)]
                end = next((e for e in range(start, len(pk)) if m.group(1) in pk[e][2]), None)
                if end is not None:
                    found.append((start, end, "loop" + m.group(1)))
            m = re.search(r"jump(?::\w+)?\s+(0x[0-9a-f]+)", i)
            if m and int(m.group(1), 16) in index and int(m.group(1), 16) <= a:
                found.append((index[int(m.group(1), 16)], k, "jump"))
    return sorted(set(found), key=lambda r: (r[1] - r[0], r[0]))


def inner_loop(disasm, func, vector=True, needle=None):
    """(packet count, instructions) of the main inner loop of `func`: of the innermost loops
    (no loop nested inside), the one with the most vector instructions (vector=True) or the
    most memory accesses and multiplies (vector=False: the scalar version's compute loop,
    not an initialisation loop). `needle` (a string or several): only loops with an
    instruction containing each."""
    pk = packets(function_text(disasm, func))
    ranges = loops(pk)
    innermost = [r for r in ranges
                 if not any(o != r and r[0] <= o[0] and o[1] <= r[1] for o in ranges)]
    # LLVM makes innermost counted loops hardware loops (loop0): those first
    innermost.sort(key=lambda r: r[2] != "loop0")
    pattern = VECTOR if vector else re.compile(r"\bmem(u?[bhwd])\(|mpy")
    best = None
    for s_, e, kind in innermost:
        if best is not None and kind != "loop0" and best[3] == "loop0":
            break
        body = [i for _, ins, _ in pk[s_:e + 1] for i in ins]
        needles = (needle,) if isinstance(needle, str) else (needle or ())
        if not all(any(nd in i for i in body) for nd in needles):
            continue
        score = sum(1 for i in body if pattern.search(i))
        if score and (best is None or score > best[0]):
            best = (score, e - s_ + 1, body, kind)
    if best is None:
        raise TexprError(f"no {'vector ' if vector else ''}loop found in {func}")
    return best[1], best[2]
