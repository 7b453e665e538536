"""Masked tails against a guard page: vectorized kernels of several element types (split by
the target's lanes, sizes 1-40, 63-65, 100) whose inputs and outputs end right before a
PROT_NONE page, so that any access past the end faults (a sanitizer misses an intrinsic's
masked-off lanes; the MMU does not)."""
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import ctypes, mmap, os, sys
    import numpy as np
    import texpr as te
    from texpr.targets.build import get_target
    os.environ["TEXPR_AVX512_EMULATE"] = sys.argv[1]
    libc = ctypes.CDLL(None)
    PAGE = mmap.PAGESIZE

    def at_page_end(m, dtype):
        # an array whose last element ends where an inaccessible page begins
        nbytes = m * np.dtype(dtype).itemsize
        pages = -(-nbytes // PAGE) + 1
        mm = mmap.mmap(-1, pages * PAGE)
        base = np.frombuffer(mm, np.uint8)
        addr = base.ctypes.data
        assert libc.mprotect(ctypes.c_void_p(addr + (pages - 1) * PAGE), PAGE, 0) == 0
        keep.append((mm, base))
        return np.frombuffer(mm, dtype, count=m, offset=(pages - 1) * PAGE - nbytes)

    keep = []
    DTYPES = ("float32", "float64", "int32", "int64", "int16", "uint8")
    target = sys.argv[2]
    bits = get_target(target).vector_bits
    n = te.var("n")
    ins = [te.placeholder((n,), d, "A_" + d) for d in DTYPES]
    outs = [te.compute((n,), lambda i: A[i] * 2 + 1, name="C_" + A.name) for A in ins]
    s = te.create_schedule([c.op for c in outs])
    for c in outs:
        _, xi = s[c].split(c.op.axis[0], factor=bits // (8 * np.dtype(c.dtype).itemsize))
        s[c].vectorize(xi)
    f = te.build(s, ins + outs, target=target)
    for name in sys.argv[3:]:
        assert name in f.source, name
    for m in list(range(1, 41)) + [63, 64, 65, 100]:
        a = [at_page_end(m, d) for d in DTYPES]
        c = [at_page_end(m, d) for d in DTYPES]
        for x in a:
            x[:] = np.arange(m)
        f(*a, *c)
        for x in c:
            assert (x == np.arange(m) * 2 + 1).all(), (x.dtype, m)
    print("ok", repr(f))
""")


def guard_page_run(emulate, target, *names):
    """Run SCRIPT in a fresh process (TEXPR_AVX512_EMULATE=emulate) for `target`, asserting
    that its source has the intrinsics `names`; fails on any fault or wrong result."""
    r = subprocess.run([sys.executable, "-c", SCRIPT, emulate, target, *names],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("ok"), \
        f"rc={r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
