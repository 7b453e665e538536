"""tensorize: the matcher accepts exactly the declared computation and swaps in the intrinsic."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr.targets.intrin import gemm_fp32
from support.tensorize import tensorized_gemm_fp32


def plain_gemm_intrin(mr, nr, kc, name="ref_gemm", partial_axes=()):
    """A portable C intrinsic (scalar loops) with body/update/reset parts; with partial_axes
    it runs over the valid rows/columns of an incomplete tile (outs[0].extents)."""
    a = te.placeholder((mr, kc), name="a")
    b = te.placeholder((kc, nr), name="b")
    k = te.reduce_axis((0, kc), name="k")
    c = te.compute((mr, nr), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="c")

    def impl(ins, outs):
        A, B = ins
        (C,) = outs
        rows, cols = C.extents or (mr, nr)
        acc = (f"for (int i = 0; i < {rows}; ++i) for (int j = 0; j < {cols}; ++j) {{ float s = 0;"
               f" for (int k = 0; k < {kc}; ++k) s += {A.ptr}[i*({A.strides[0]}) + k*({A.strides[1]})]"
               f" * {B.ptr}[k*({B.strides[0]}) + j*({B.strides[1]})];")
        out = f"{C.ptr}[i*({C.strides[0]}) + j*({C.strides[1]})]"
        return {"body": acc + f" {out} = s; }}", "update": acc + f" {out} += s; }}"}
    return te.decl_tensor_intrin(c.op, impl, name=name, partial_axes=partial_axes)


def matmul(M, N, K):
    A = te.placeholder((M, K), name="A")
    B = te.placeholder((K, N), name="B")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C, k


def run(s, args, M, N, K, target="c"):
    f = te.build(s, args, target=target)
    rng = np.random.default_rng(0)
    a = rng.random((M, K), dtype="float32")
    b = rng.random((K, N), dtype="float32")
    c = np.full((M, N), np.nan, "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-5)
    return f


@settings(max_examples=12, deadline=None)
@given(M=st.integers(1, 13), N=st.integers(1, 20), K=st.integers(1, 9),
       mr=st.sampled_from([2, 4]), nr=st.sampled_from([4, 8]), split_k=st.booleans(),
       partial_axes=st.sampled_from([(), (0,), (1,), (0, 1)]))
def test_tensorized_matmul_any_shape(M, N, K, mr, nr, split_k, partial_axes):
    """Full tiles run the intrinsic; a partial tile (a tail) runs the intrinsic's partial form
    when it is incomplete only along the intrinsic's partial_axes, else scalar loops."""
    A, B, C, k = matmul(M, N, K)
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], mr, nr)
    if split_k:
        ko, ki = s[C].split(k, factor=1)
        s[C].reorder(io, jo, ko, ii, ji, ki)
        intrin = plain_gemm_intrin(mr, nr, 1, partial_axes=partial_axes)
    else:
        intrin = plain_gemm_intrin(mr, nr, K, partial_axes=partial_axes)
    s[C].tensorize(ii, intrin)
    f = run(s, [A, B, C], M, N, K)
    # the intrinsic appears exactly when there is at least one complete tile, or a tile
    # incomplete along partial axes only
    full_rows, full_cols = M >= mr, N >= nr
    part_rows = M % mr and 0 in partial_axes
    part_cols = N % nr and 1 in partial_axes
    expected = (full_rows and full_cols) or (part_rows and (full_cols or part_cols)) or \
        (part_cols and (full_rows or part_rows))
    assert ("tensorize ref_gemm" in f.source) == bool(expected)
    assert ("(partial tile)" in f.source) == bool((part_rows and (full_cols or part_cols))
                                                  or (part_cols and (full_rows or part_rows)))


def test_partial_axes_must_name_output_axes():
    a = te.placeholder((4, 4), name="a")
    c = te.compute((4,), lambda i: a[i, i], name="c")
    with pytest.raises(te.TexprError, match=r"partial_axes must be output axis numbers in \[0, 1\)"):
        te.decl_tensor_intrin(c.op, lambda ins, outs: "", partial_axes=(1,))


def test_gcc_loop_distribution_workaround():
    """The tail row of this nest is zeroed on the first k slice and accumulated on every one;
    GCC 12.2 -O3's loop distribution moved the zeroing after the accumulation (texpr builds
    with -fno-tree-loop-distribution). Found by the property test above."""
    M, N, K = 3, 8, 3
    A, B, C, k = matmul(M, N, K)
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], 2, 4)
    ko, ki = s[C].split(k, factor=1)
    s[C].reorder(io, jo, ko, ii, ji, ki)
    s[C].tensorize(ii, plain_gemm_intrin(2, 4, 1))
    run(s, [A, B, C], M, N, K)


def test_update_part_used_when_reduction_is_split():
    A, B, C, k = matmul(8, 8, 6)
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 4)
    ko, ki = s[C].split(k, factor=2)
    s[C].reorder(io, jo, ko, ii, ji, ki)
    s[C].tensorize(ii, plain_gemm_intrin(4, 4, 2))
    text = str(te.lower(s, [A, B, C]))
    assert "ref_gemm.update" in text
    # a tile's first k slice uses the body (accumulators start at zero), in the same nest:
    # no separate pass sets C to zero
    assert "ref_gemm.first" in text and "= 0.0f" not in text
    run(s, [A, B, C], 8, 8, 6)


@pytest.mark.parametrize("parts", [("update",), ("reset", "update")])
@pytest.mark.parametrize("k_outermost", [False, True])
def test_first_slice_without_body_part(parts, k_outermost):
    """An intrinsic without a body starts each tile with its reset, or with scalar loops
    setting the tile to zero, then its update; also when k's outer loop encloses the tiles."""
    M, N, K = 8, 12, 6
    A, B, C, k = matmul(M, N, K)
    inner = plain_gemm_intrin(4, 4, 2).impl

    def impl(ins, outs):
        code = {p: inner(ins, outs)[p] for p in parts if p != "reset"}
        if "reset" in parts:
            C_ = outs[0]
            code["reset"] = (f"for (int i = 0; i < 4; ++i) for (int j = 0; j < 4; ++j) "
                             f"{C_.ptr}[i*({C_.strides[0]}) + j*({C_.strides[1]})] = 0;")
        return code
    a = te.placeholder((4, 2), name="a")
    b = te.placeholder((2, 4), name="b")
    kk = te.reduce_axis((0, 2), name="k")
    c = te.compute((4, 4), lambda i, j: te.sum(a[i, kk] * b[kk, j], axis=kk), name="c")
    intrin = te.decl_tensor_intrin(c.op, impl, name="no_body")
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 4)
    ko, ki = s[C].split(k, factor=2)
    s[C].reorder(*((ko, io, jo) if k_outermost else (io, jo, ko)), ii, ji, ki)
    s[C].tensorize(ii, intrin)
    f = run(s, [A, B, C], M, N, K)
    first = "reset+update" if "reset" in parts else "update"
    assert f"tensorize no_body.{first}" in f.source
    assert "tensorize no_body.body" not in f.source


def test_matcher_uses_loop_ranges_to_simplify_indices():
    """(x*16 + y)//16-style indices must be proven equal using the loops' ranges."""
    M = N = 32
    K = 8
    A = te.placeholder((M, K), name="A")
    B = te.placeholder((K, N), name="B")
    PB = te.compute((N // 16, K, 16), lambda x, y, z: B[y, x * 16 + z], name="PB")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * PB[j // 16, k, j % 16], axis=k), name="C")
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 16)
    s[C].tensorize(ii, plain_gemm_intrin(4, 16, K))
    run(s, [A, B, C], M, N, K)


def test_mismatch_shows_expected_and_found():
    A, B, _, k = matmul(8, 8, 4)
    D = te.compute((8, 8), lambda i, j: te.sum(A[i, k] * B[k, j] + 1.0, axis=k), name="D")
    s = te.create_schedule(D.op)
    io, jo, ii, ji = s[D].tile(D.op.axis[0], D.op.axis[1], 4, 4)
    s[D].tensorize(ii, plain_gemm_intrin(4, 4, 4))
    with pytest.raises(te.TexprError) as e:
        te.lower(s, [A, B, D])
    msg = str(e.value)
    assert "expected:" in msg and "found:" in msg and "stage D" in msg


@pytest.mark.parametrize("access", ["diagonal", "stride2"])
def test_near_miss_access_is_refused(access):
    A = te.placeholder((8, 8), name="A")
    B = te.placeholder((8, 8), name="B")
    k = te.reduce_axis((0, 4), name="k")
    if access == "diagonal":
        C = te.compute((8, 8), lambda i, j: te.sum(A[i, k] * B[k, k], axis=k), name="C")
    else:
        C = te.compute((8, 8), lambda i, j: te.sum(A[i, 2 * k] * B[k, j], axis=k), name="C")
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 4)
    s[C].tensorize(ii, plain_gemm_intrin(4, 4, 4))
    with pytest.raises(te.TexprError, match="walk"):
        te.lower(s, [A, B, C])


def test_transposed_access_is_passed_as_strides():
    """B[j, k] matches b[k, j] with swapped strides; an intrinsic needing unit stride refuses."""
    A = te.placeholder((8, 4), name="A")
    B = te.placeholder((8, 4), name="B")
    k = te.reduce_axis((0, 4), name="k")
    C = te.compute((8, 8), lambda i, j: te.sum(A[i, k] * B[j, k], axis=k), name="C")
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 4)
    s[C].tensorize(ii, plain_gemm_intrin(4, 4, 4))
    f = te.build(s, [A, B, C], target="c")
    a = np.random.rand(8, 4).astype("float32")
    b = np.random.rand(8, 4).astype("float32")
    c = np.empty((8, 8), "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b.T, rtol=1e-5)
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 8)
    s[C].tensorize(ii, gemm_fp32(4, 8, 4))
    with pytest.raises(te.TexprError, match="must be contiguous"):
        te.build(s, [A, B, C], target="avx2")


def test_extent_mismatch_is_refused():
    A, B, C, k = matmul(8, 8, 4)
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 2)
    s[C].tensorize(ii, plain_gemm_intrin(4, 4, 4))
    with pytest.raises(te.TexprError, match="extent 2 but the intrinsic's axis j has extent 4"):
        te.lower(s, [A, B, C])


def test_different_reducer_is_refused():
    A = te.placeholder((4, 4), name="A")
    B = te.placeholder((4, 4), name="B")
    k = te.reduce_axis((0, 4), name="k")
    C = te.compute((4, 4), lambda i, j: te.max(A[i, k] * B[k, j], axis=k), name="C")
    s = te.create_schedule(C.op)
    s[C].tensorize(C.op.axis[0], plain_gemm_intrin(4, 4, 4))
    with pytest.raises(te.TexprError, match="reduction is max"):
        te.lower(s, [A, B, C])


def test_tensorize_arguments_are_checked():
    A, B, C, k = matmul(4, 4, 4)
    s = te.create_schedule(C.op)
    with pytest.raises(te.TexprError, match="decl_tensor_intrin"):
        s[C].tensorize(C.op.axis[0], "not an intrinsic")
    x = te.placeholder((4,), name="x")
    y = te.compute((4,), lambda i: x[i] + 1.0, name="y")
    z = te.compute((4,), lambda i: y[i] * 2.0, name="z")
    with pytest.raises(te.TexprError, match="must be a placeholder"):
        te.decl_tensor_intrin(z.op, lambda ins, outs: "")


def test_missing_part_is_reported():
    A, B, C, k = matmul(8, 8, 4)
    a = te.placeholder((4, 2), name="a")
    b = te.placeholder((2, 4), name="b")
    kk = te.reduce_axis((0, 2), name="k")
    c = te.compute((4, 4), lambda i, j: te.sum(a[i, kk] * b[kk, j], axis=kk), name="c")
    only_body = te.decl_tensor_intrin(c.op, lambda ins, outs: "/* body only */", name="only_body")
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 4)
    ko, ki = s[C].split(k, factor=2)
    s[C].reorder(io, jo, ko, ii, ji, ki)
    s[C].tensorize(ii, only_body)
    with pytest.raises(te.TexprError, match="no 'update' part"):
        te.build(s, [A, B, C], target="c")


@pytest.mark.parametrize("M", [24, 23, 5])
def test_gemm_fp32_micro_kernel_avx2(M):
    """M % 6 rows: the tail tile runs the micro-kernel specialised for its row count."""
    N, K, mr, nr, kc = 32, 64, 6, 16, 32
    s, (A, B, C) = tensorized_gemm_fp32(M, N, K, mr, nr, kc)
    f = run(s, [A, B, C], M, N, K, target="avx2")
    assert "_mm256_fmadd_ps" in f.source
    assert ("(partial tile)" in f.source) == bool(M % mr)


def shadowing_gemm_intrin(mr, nr, kc, shadow):
    """plain_gemm_intrin whose C first declares a local of every name in `shadow` (loop
    variables, buffers of the kernel it lands in) holding a wrong value."""
    inner = plain_gemm_intrin(mr, nr, kc, name="shadowing_gemm", partial_axes=(0, 1))
    junk = " ".join(f"long {n} = 1 << 20; (void){n};" for n in shadow)

    def impl(ins, outs):
        return {part: junk + "\n" + text for part, text in inner.impl(ins, outs).items()}
    return te.decl_tensor_intrin(inner.op, impl, name="shadowing_gemm", partial_axes=(0, 1))


@pytest.mark.parametrize("target", ["c", "native"])
def test_intrinsic_locals_cannot_capture_its_operands(target):
    """The operands reach the intrinsic under names no local of its C can shadow: an
    intrinsic declaring `i`, `j`, `k`, the generated loop variables and the buffer names
    still reads and writes the right tile (also a partial one, whose extents are bound too)."""
    import re
    M, N, K, mr, nr = 11, 13, 5, 4, 8

    def schedule(intrin):
        A, B, C, k = matmul(M, N, K)
        s = te.create_schedule(C.op)
        io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], mr, nr)
        s[C].tensorize(ii, intrin)
        return s, [A, B, C]

    s, args = schedule(plain_gemm_intrin(mr, nr, K, partial_axes=(0, 1)))
    src = te.build(s, args, target=target).source
    names = set(re.findall(r"for \(\w+ (\w+) =", src)) | set(re.findall(r"\* restrict (\w+)", src))
    names |= {"i", "j", "k", "A", "B", "C"}
    assert {"i_outer", "j_outer"} <= names, names
    s, args = schedule(shadowing_gemm_intrin(mr, nr, K, sorted(names)))
    f = run(s, args, M, N, K, target=target)
    assert "long i_outer = 1 << 20" in f.source and "(partial tile)" in f.source


# ----------------------------------------------------------------------------- non-affine indices

def halves_intrin(n=4):
    """out[i] = x[i // 2] * y[i]: an intrinsic whose x index is not affine."""
    x = te.placeholder((n // 2,), name="x")
    y = te.placeholder((n,), name="y")
    o = te.compute((n,), lambda i: x[i // 2] * y[i], name="o")

    def impl(ins, outs):
        X, Y = ins
        (O,) = outs
        return {"body": f"for (int i = 0; i < {n}; ++i) {O.ptr}[i*({O.strides[0]})] = "
                        f"{X.ptr}[(i/2)*({X.strides[0]})] * {Y.ptr}[i*({Y.strides[0]})];"}
    return te.decl_tensor_intrin(o.op, impl, name="halves")


def test_a_non_affine_index_equal_up_to_a_shift_is_tensorized():
    A = te.placeholder((8,), name="A")
    B = te.placeholder((16,), name="B")
    C = te.compute((16,), lambda i: A[i // 2] * B[i], name="C")
    s = te.create_schedule(C.op)
    io, ii = s[C].split(C.op.axis[0], factor=4)
    s[C].tensorize(ii, halves_intrin())
    text = str(te.lower(s, [A, B, C]))
    assert "halves.body(C[i.outer * 4], A[i.outer * 2], B[i.outer * 4])" in text
    f = te.build(s, [A, B, C], target="c")
    rng = np.random.default_rng(3)
    a, b = rng.random(8, dtype="float32"), rng.random(16, dtype="float32")
    c = np.zeros(16, "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, np.repeat(a, 2) * b, rtol=1e-6)


def test_a_non_affine_index_that_differs_is_refused():
    A = te.placeholder((16,), name="A")
    B = te.placeholder((16,), name="B")
    C = te.compute((16,), lambda i: A[i % 4] * B[i], name="C")     # i % 4, not i // 2
    s = te.create_schedule(C.op)
    io, ii = s[C].split(C.op.axis[0], factor=4)
    s[C].tensorize(ii, halves_intrin())
    with pytest.raises(te.LoweringError, match=r"placeholder x: index i // 2 is not affine in "
                       r"the intrinsic's axes, and no index of tensor A"):
        te.lower(s, [A, B, C])


def _masked_matmul(where, split_k):
    """C = A @ B over the points where where(i, j, k) holds, tiled 4 x 4 and tensorized with
    the k loop inside the intrinsic, or (split_k) in chunks of 4 outside it."""
    A = te.placeholder((8, 8), name="A")
    B = te.placeholder((8, 8), name="B")
    k = te.reduce_axis((0, 8), name="k")
    C = te.compute((8, 8), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k, where=where(i, j, k)),
                   name="C")
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 4)
    if split_k:
        ko, ki = s[C].split(k, factor=4)
        s[C].reorder(io, jo, ko, ii, ji, ki)
    s[C].tensorize(ii, plain_gemm_intrin(4, 4, 4 if split_k else 8))
    return s, [A, B, C]


@pytest.mark.parametrize("split_k", [False, True])
def test_a_where_uniform_over_the_tile_skips_it(split_k):
    """A reduction's condition that holds for all or none of each tile guards the call; a tile
    it excludes stays at zero (body form: whole tiles; update form: k chunks)."""
    if split_k:       # the k chunk starts at or before the row tile's first row
        where, keep = (lambda i, j, k: (k // 4) * 4 <= (i // 4) * 4), \
            (lambda i, j, k: (k // 4) <= (i // 4))
    else:             # all but the last tile
        where, keep = (lambda i, j, k: (i // 4) + (j // 4) <= 1), \
            (lambda i, j, k: (i // 4) + (j // 4) <= 1)
    s, args = _masked_matmul(where, split_k)
    text = str(te.lower(s, args, target="c"))
    assert "tensorize ref_gemm" in text
    f = te.build(s, args, target="c")
    rng = np.random.default_rng(1)
    a, b = rng.random((8, 8), dtype="float32"), rng.random((8, 8), dtype="float32")
    c = np.full((8, 8), np.nan, "float32")
    f(a, b, c)
    i, j, k = np.meshgrid(np.arange(8), np.arange(8), np.arange(8), indexing="ij")
    want = np.einsum("ik,kj,ijk->ij", a, b, keep(i, j, k).astype("float32"))
    np.testing.assert_allclose(c, want, rtol=1e-5)


def test_a_where_that_varies_inside_the_tile_is_refused():
    s, args = _masked_matmul(lambda i, j, k: k <= i, split_k=False)
    with pytest.raises(te.TexprError, match=r"condition \(where=.*\) that varies inside the tile"):
        te.lower(s, args, target="c")


def pair_sum_intrin(extent=8):
    """y[i] = x[2 i] + x[2 i + 1]: a placeholder read at two constant offsets."""
    x = te.placeholder((extent,), name="x")
    y = te.compute((4,), lambda i: x[2 * i] + x[2 * i + 1], name="y")
    return te.decl_tensor_intrin(y.op, lambda ins, outs: "/* pair sums */", name="pair_sum")


@pytest.mark.parametrize("second,ok", [(1, True), (2, False)])
def test_a_placeholder_read_at_two_offsets(second, ok):
    """Reads at constant offsets name one region (its start is the offset-0 read's); a stage
    whose second read is elsewhere (A[2 i + 2], not A[2 i + 1]) is refused."""
    A = te.placeholder((18,), name="A")
    C = te.compute((8,), lambda i: A[2 * i] + A[2 * i + second], name="C")
    s = te.create_schedule(C.op)
    io, ii = s[C].split(C.op.axis[0], factor=4)
    s[C].tensorize(ii, pair_sum_intrin())
    if ok:
        assert "pair_sum.body(C[i.outer * 4], A[i.outer * 8])" in str(te.lower(s, [A, C]))
    else:
        with pytest.raises(te.LoweringError, match="placeholder x is read from two different "
                                                   "regions"):
            te.lower(s, [A, C])


def test_a_read_at_an_offset_past_the_placeholder_is_refused():
    """x[2 i + 1] with i < 4 reads x[7]: a declared x of 7 elements would leave it unchecked."""
    A = te.placeholder((18,), name="A")
    C = te.compute((8,), lambda i: A[2 * i] + A[2 * i + 1], name="C")
    s = te.create_schedule(C.op)
    io, ii = s[C].split(C.op.axis[0], factor=4)
    s[C].tensorize(ii, pair_sum_intrin(extent=7))
    with pytest.raises(te.LoweringError, match=r"placeholder x: index 2 \* i \+ 1 reaches "
                                               r"\[1, 7\], outside its dimension 0 of extent 7"):
        te.lower(s, [A, C])

@pytest.mark.parametrize("target,add", [("avx2", "_mm256_add_ps"), ("avx512", "_mm512_add_ps"),
                                        ("neon", "vaddq_f32")])
def test_gemm_fp32_update_adds_c_after_its_loop(target, add):
    """A later reduction chunk (update) sums from zero, prefetches the C tile's lines and adds C
    after its loop: C is not loaded before the loop (where each call waited for it)."""
    from texpr.targets.build import emit_source
    M, N, K, mr, nr, kc = 4, 16, 64, 4, 16, 32
    s, (A, PB, C) = tensorized_gemm_fp32(M, N, K, mr, nr, kc, packed_input=True)
    src = emit_source(s, [A, PB, C], target=target)
    update = src[src.index(f"gemm_fp32_{mr}x{nr}x{kc}.update"):]
    head, tail = update.split("for (int k = 0;", 1)
    assert head.count("__builtin_prefetch(") == 2 * mr
    before_loop_loads = [w for w in ("loadu_ps", "vld1q_f32") if w in head]
    assert before_loop_loads == []
    assert tail.count(add) == mr * nr // {"avx2": 8, "avx512": 16, "neon": 4}[target]


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_transpose_fp32_blocks(target):
    """transpose_fp32: 8 x 8 blocks of a 16 x 24 matrix transposed by the AVX2 kernel (the
    avx512 target runs the same; row strides of both operands free); a source whose rows
    are not contiguous is refused."""
    from texpr.targets.build import emit_source
    from texpr.targets.intrin import transpose_fp32
    W = te.placeholder((16, 24), name="W")
    T = te.compute((24, 16), lambda i, j: W[j, i], name="T")
    s = te.create_schedule(T.op)
    io, jo, ii, ji = s[T].tile(T.op.axis[0], T.op.axis[1], 8, 8)
    s[T].tensorize(ii, transpose_fp32())
    f = te.build(s, [W, T], target=target)
    assert "_mm256_permute2f128_ps" in f.source
    w = np.random.default_rng(3).random((16, 24), dtype="float32")
    t = np.full((24, 16), np.nan, "float32")
    f(w, t)
    np.testing.assert_array_equal(t, w.T)
    W3 = te.placeholder((8, 8, 2), name="W3")
    T3 = te.compute((8, 8), lambda i, j: W3[j, i, 0], name="T3")
    s = te.create_schedule(T3.op)
    s[T3].tensorize(T3.op.axis[0], transpose_fp32())
    with pytest.raises(te.TexprError, match="dimension 1 of .* must be contiguous"):
        emit_source(s, [W3, T3], target=target)
