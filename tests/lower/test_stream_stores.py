"""lower/cpu/stream_stores.py: a row loop marked pragma(j, "stream_stores", lanes) becomes an
unaligned head, whole vectors from the first 64-byte line of the output row on (stored
non-temporally on x86) and a tail; results are the same at every alignment of the output."""
import numpy as np
import pytest

import texpr as te
from texpr.lang.ir import For, LineGap
from texpr.lang.visitor import walk

COLS = 203          # not a multiple of any vector width: a tail at every alignment


def scaled(lanes, index=lambda i, j: (i, j)):
    X = te.placeholder((5, COLS), name="X")
    Y = te.compute((5, COLS), lambda i, j: X[index(i, j)] * 2.0 + 1.0, name="Y")
    s = te.create_schedule(Y.op)
    s[Y].pragma(Y.op.axis[1], "stream_stores", lanes)
    return s, [X, Y]


@pytest.mark.parametrize("target, lanes, store", [("avx512", 16, "_mm512_stream_ps"),
                                                  ("avx2", 8, "_mm256_stream_ps"),
                                                  ("c", 8, None)])
def test_every_alignment_of_the_output_gives_the_same_rows(target, lanes, store):
    """Outputs starting 0..16 elements into a line (views of one buffer), the elements around
    them untouched; x86 streams the middle and fences after it, portable C stores plainly."""
    s, args = scaled(lanes)
    f = te.build(s, args, target=target)
    if store:
        assert f.source.count(store + "(&Y[") == 1 and "_mm_sfence();" in f.source
    else:
        assert "_stream_" not in f.source and "sfence" not in f.source
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, COLS)).astype("float32")
    for off in range(17):
        buf = np.full(5 * COLS + 40, -7.0, "float32")
        y = buf[off:off + 5 * COLS].reshape(5, COLS)
        f(x, y)
        np.testing.assert_array_equal(y, x * np.float32(2) + np.float32(1))
        assert (buf[:off] == -7).all() and (buf[off + 5 * COLS:] == -7).all()


def test_head_aligned_vectors_and_tail():
    s, args = scaled(16)
    text = str(te.lower(s, args, target="avx512"))
    assert "for (j, 0, min(line_gap(Y[i * 203], 64), 203))" in text
    assert "for pragma(stream_stores=16) (j.stream, 0, " in text
    assert "Y[ramp(i * 203 + min(line_gap(Y[i * 203], 64), 203) + j.stream * 16, 1, 16)]" in text
    assert "for (j.tail, 0, " in text


def test_stores_not_along_the_loop_keep_the_plain_loop():
    """Y[i, j] = X[...] stored at a stride (here: Y transposed) is not a row stream."""
    X = te.placeholder((COLS, 5), name="X")
    Y = te.compute((5, COLS), lambda i, j: X[j, i] * 2.0, name="Y")
    Z = te.compute((COLS, 5), lambda j, i: Y[i, j], name="Z")
    s = te.create_schedule(Z.op)
    s[Z].pragma(Z.op.axis[0], "stream_stores", 16)
    low = te.lower(s, [X, Z], target="avx512")
    assert not [n for n in walk(low.body) if isinstance(n, LineGap)]
    assert not [n for n in walk(low.body) if isinstance(n, For) and
                any(k == "stream_stores" for k, _ in n.pragmas)]


@pytest.mark.parametrize("bad", [0, -1, 2.5, None, True])
def test_lanes_must_be_a_positive_int(bad):
    s, args = scaled(16)
    j = args[-1].op.axis[1]
    with pytest.raises(te.TexprError, match=r"pragma stream_stores on axis j: value must be a "
                                            r"positive int"):
        s[args[-1]].pragma(j, "stream_stores", bad)
