"""The fp_contract target option: a float a*b + c either fused (one rounding, the default on
FMA targets) or rounded twice as NumPy does ("-fp-contract=off")."""
import numpy as np
import pytest

import texpr as te
from texpr.errors import TexprError
from texpr.targets.build import build_key, emit_source
from texpr.targets.registry import get_target


def _mul_add(n=19):
    """D = A*B + C over n elements: a vector body and a scalar tail on every vector target."""
    a, b, c = (te.placeholder((n,), name=x) for x in "ABC")
    d = te.compute((n,), lambda i: a[i] * b[i] + c[i], name="D")
    s = te.create_schedule(d.op)
    lanes = get_target("native").vector_bits // 32
    if lanes > 1:
        _, xi = s[d].split(d.op.axis[0], factor=lanes)
        s[d].vectorize(xi)
    return s, [a, b, c, d]


def _fma_sensitive_data(n, seed=0):
    """Inputs where a*b + c rounded once and rounded twice differ in many elements."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(1, 2, n).astype("float32")
    b = rng.uniform(1, 2, n).astype("float32")
    c = (-(a.astype("float64") * b)).astype("float32")   # a*b + c: the product's rounding error
    return a, b, c


def test_contract_off_rounds_as_numpy_bit_for_bit():
    s, args = _mul_add()
    f = te.build(s, args, "native -fp-contract=off")
    a, b, c = _fma_sensitive_data(19)
    fused = (a.astype("float64") * b + c).astype("float32")
    twice = a * b + c
    assert np.count_nonzero(fused != twice) > 5          # the data tells the two apart
    d = f(a, b, c)
    np.testing.assert_array_equal(d.view("int32"), twice.view("int32"))
    assert "-ffp-contract=off" in get_target("native -fp-contract=off").flags


def test_default_contracts_into_fma_where_the_target_has_it():
    s, args = _mul_add()
    tgt = get_target("avx2")
    assert "fmadd" in emit_source(s, args, tgt)
    off = emit_source(s, args, "avx2 -fp-contract=off")
    assert "fmadd" not in off and "-ffp-contract" not in " ".join(tgt.flags)
    # a separate kernel in the cache: the option is part of the build key
    assert build_key(s, args, tgt, "main") != build_key(s, args, tgt.with_(fp_contract=False),
                                                       "main")


def test_fp_contract_option_both_ways_and_errors():
    off = get_target("avx2").with_(fp_contract=False)
    assert off == get_target("avx2 -fp-contract=off")
    assert off.with_(fp_contract=True).flags == get_target("avx2 -fp-contract=on").flags \
        == get_target("avx2").flags
    with pytest.raises(TexprError, match=r"unknown option '-fp-contract=maybe'.*"
                                         r"-fp-contract=on\|off"):
        get_target("avx2 -fp-contract=maybe")
    with pytest.raises(TexprError, match="unknown option '-mcpu=x'"):
        get_target("c -mcpu=x")
    with pytest.raises(TexprError, match="fp_contract=False applies to CPU targets"):
        get_target("cuda -fp-contract=off")


def test_topi_schedules_serve_a_target_with_options():
    from texpr import topi
    x, w = te.placeholder((4, 64), name="x"), te.placeholder((32, 64), name="w")
    out = topi.nn.dense(x, w)
    loops = [[iv.var.name for iv in topi.schedule(out, t)[out].leaf_iter_vars]
             for t in ("avx2", "avx2 -fp-contract=off", "c")]
    assert loops[0] == loops[1] != loops[2]     # avx2's registered dense schedule, not c's
