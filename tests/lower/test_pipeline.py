"""The one lowering pipeline (lower/pipeline.py) and the Target record it reads: passes by
name, stop_after, trace, simple_mode, and a target variant registered in a few lines."""
import numpy as np
import pytest

import texpr as te
from texpr.lang.ir import LoweredFunc
from texpr.lower import PASS_NAMES, PIPELINE, passes_for
from texpr.lower.gpu.kernel import GPUProgram
from texpr.target import GENERIC, Target
from texpr.targets import get_target, register_target


def scaled_rows():
    n = te.var("n")
    A = te.placeholder((n, 32), name="A")
    k = te.reduce_axis((0, 32), name="k")
    B = te.compute((n,), lambda i: te.sum(A[i, k] * 2.0, axis=k), name="B")
    C = te.compute((n, 32), lambda i, j: A[i, j] * B[i] + 1.0, name="C")
    s = te.create_schedule(C.op)
    _, ji = s[C].split(C.op.axis[1], factor=8)
    s[C].vectorize(ji)
    return s, [A, C]


def gpu_rows():
    A = te.placeholder((64, 32), name="A")
    B = te.compute((64, 32), lambda i, j: A[i, j] + 1.0, name="B")
    s = te.create_schedule(B.op)
    s[B].bind(B.op.axis[0], te.thread_axis("blockIdx.x"))
    s[B].bind(B.op.axis[1], te.thread_axis("threadIdx.x"))
    return s, [A, B]


def test_passes_are_declared_once_with_unique_names_and_docs():
    assert len(set(PASS_NAMES)) == len(PASS_NAMES) == len(PIPELINE)
    assert all(p.doc for p in PIPELINE)
    cpu = [p.name for p in passes_for(get_target("avx2"))]
    gpu = [p.name for p in passes_for(get_target("opencl"))]
    assert cpu[:4] == gpu[:4] == ["loop_nest", "access_bounds", "flatten", "simplify"]  # shared
    assert "vectorize" in cpu and "vectorize" not in gpu
    assert "bind_threads" in gpu and "bind_threads" not in cpu


@pytest.mark.parametrize("target", ["c", "avx2", "avx512", "neon"])
def test_stop_after_every_cpu_pass_returns_that_program(target):
    s, args = scaled_rows()
    full = str(te.lower(s, args, target=target))
    texts = []
    for p in passes_for(get_target(target)):
        f = te.lower(s, args, target=target, stop_after=p.name)
        assert isinstance(f, LoweredFunc)
        texts.append(str(f))
    assert texts[-1] == full
    vec = [p.name for p in passes_for(get_target(target))].index("vectorize")
    assert "ramp(" not in texts[vec - 1] and "ramp(" in texts[vec]


def test_stop_after_on_gpu_returns_the_program_before_and_after_kernels():
    s, args = gpu_rows()
    f = te.lower(s, args, target="opencl", stop_after="simplify")
    assert isinstance(f, LoweredFunc)
    prog = te.lower(s, args, target="opencl", stop_after="split_kernels")
    assert isinstance(prog, GPUProgram) and len(prog.kernels) == 1
    bound = te.lower(s, args, target="opencl", stop_after="bind_threads")
    assert bound.kernels[0].block == (32, 1, 1)
    assert str(te.lower(s, args, target="opencl")) == str(
        te.lower(s, args, target="opencl", stop_after="kernel_signatures"))


def test_simple_mode_is_stop_after_loop_checks():
    s, args = scaled_rows()
    assert str(te.lower(s, args, simple_mode=True)) == \
        str(te.lower(s, args, stop_after="loop_checks"))
    assert "ramp(" not in str(te.lower(s, args, simple_mode=True))


def test_bad_stop_after_names_the_passes():
    s, args = scaled_rows()
    with pytest.raises(te.LoweringError, match="'bind_threads' is not a pass of the avx2 "
                                               "pipeline; its passes: loop_nest, access_bounds, "
                                               "flatten"):
        te.lower(s, args, target="avx2", stop_after="bind_threads")
    with pytest.raises(te.LoweringError, match="not a pass"):
        te.lower(s, args, stop_after="no_such_pass")


def test_trace_prints_each_pass_time_and_change(capsys, monkeypatch):
    s, args = scaled_rows()
    te.lower(s, args, "rows", target="avx2", trace=True)
    err = capsys.readouterr().err.splitlines()
    names = [p.name for p in passes_for(get_target("avx2"))]
    assert len(err) == len(names)
    for line, name in zip(err, names):
        assert line.startswith("[texpr lower rows avx2] " + name) and " ms " in line
    assert "vectorize" in next(x for x in err if "] vectorize " in x) and \
        next(x for x in err if "] vectorize " in x).endswith(" changed")
    monkeypatch.setenv("TEXPR_TRACE_PASSES", "1")
    te.lower(s, args, "rows", target="c")
    assert len(capsys.readouterr().err.splitlines()) == len(passes_for(get_target("c")))


def test_lower_takes_a_target_record_not_a_name():
    s, args = scaled_rows()
    from texpr.lower import lower
    with pytest.raises(te.LoweringError, match="target must be a texpr.Target record"):
        lower(s, args, target="avx2")
    assert str(lower(s, args, target=GENERIC)) == str(te.lower(s, args))


# ----------------------------------------------------------------------------- the Target record

def test_target_records_are_frozen_and_describe_capabilities():
    avx512, hvx, cuda = get_target("avx512"), get_target("hvx"), get_target("cuda")
    assert avx512.has("masked_tails") and avx512.vector_bits == 512 and avx512.family == "x86"
    assert not hvx.has("float_vectors") and hvx.has("narrow_lanes") and hvx.runs == "emulator"
    assert cuda.is_gpu and cuda.gpu.max_threads_per_block == 1024 and cuda.has("warp_shuffle")
    with pytest.raises(Exception):
        avx512.vector_bits = 256          # frozen
    with pytest.raises(te.TexprError, match="unknown features"):
        Target("t", "c", 128, {"warp_drive"})


def test_a_registered_cpu_variant_builds_and_computes():
    """A target variant in a few lines: AVX2 instructions on 128-bit vectors."""
    avx2 = get_target("avx2")
    narrow = register_target(avx2.with_(name="avx2-128", vector_bits=128), override=True)
    assert get_target("avx2-128") is narrow
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * 3.0 + 1.0, name="B")
    s = te.create_schedule(B.op)
    _, xi = s[B].split(B.op.axis[0], factor=8)
    s[B].vectorize(xi)
    text = str(te.lower(s, [A, B], target="avx2-128"))
    assert "ramp(i.outer * 8 + 4, 1, 4)" in text and ", 1, 8)" not in text   # 8 lanes: 2 x 4
    f = te.build(s, [A, B], target="avx2-128")
    a = np.random.default_rng(0).random(37, dtype=np.float32)
    b = np.empty_like(a)
    f(a, b)
    np.testing.assert_allclose(b, a * 3 + 1, rtol=1e-6)


def test_register_target_refuses_what_it_cannot_use():
    avx2 = get_target("avx2")
    with pytest.raises(te.TexprError, match="a target named 'avx2' exists"):
        register_target(avx2)
    with pytest.raises(te.TexprError, match="has no emitter"):
        register_target(GENERIC.with_(name="bare"))
    with pytest.raises(te.TexprError, match="expects a texpr.Target record"):
        register_target("avx2")
    with pytest.raises(te.TexprError, match="unknown target 'avx3'; available: c, avx2"):
        get_target("avx3")
