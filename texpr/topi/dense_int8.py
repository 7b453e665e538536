"""DenseInt8: an int8 dense (uint8 activations x int8 weights -> int32) over a constant
weight packed once, that takes AVX2's fastest instruction only when it is provably exact.

AVX2 has no exact one-instruction u8 x s8 dot product: vpmaddubsw (FBGEMM's kernel, the
fastest: topi.qnn.dense_int8_sat16) sums each pair of products into int16 with saturation.
A pair (w0, w1) of adjacent weights times activations in [0, amax] stays in int16 iff
amax * (max(w0, 0) + max(w1, 0)) <= 32767 and amax * (min(w0, 0) + min(w1, 0)) >= -32768.
The weight is known when it is packed, so the largest amax that keeps every pair exact,
`max_exact_activation`, is computed then: 255 (every uint8 activation) for weights within
[-64, 64], at least 127 for any int8 weight (torch's reduce_range activations). A call whose
activations' maximum is at most that (O(M K) to check, against O(M N K) to multiply; skipped
at 255) runs the saturating kernel; any other runs the exact dense_int16_pairs kernel (the
weight widened to int16 and packed for it at construction, only when some activation could
need it). On AVX-512 the exact VNNI kernel (dense_int8_packed, vpdpbusd) serves every call.
"""
from __future__ import annotations

import functools

import numpy as np

from ..errors import ArgumentError, TexprError
from ..lang.tensor import placeholder
from ..targets import get_target
from . import qnn
from .cpu import CpuInfo
from .schedules import schedule
from .testing import pack_dense_int8_weight_ref, pack_dense_int16_pairs_ref

#: the kernel forms and their topi.qnn computes: vpmaddubsw (pair sums saturated at int16),
#: vpmaddwd on int16-widened operands (exact), dot_int8 (AVX-512 vpdpbusd, exact)
FORMS = {"sat16": qnn.dense_int8_sat16, "int16_pairs": qnn.dense_int16_pairs,
         "vnni": qnn.dense_int8_packed}


def max_exact_activation(weight):
    """The largest amax <= 255 such that every pair sum a0 * w[n, 2p] + a1 * w[n, 2p + 1]
    with activations in [0, amax] fits int16 (255 when every pair does for any uint8).

    >>> import numpy as np
    >>> max_exact_activation(np.array([[64, 64, -64, -64]], "int8"))
    255
    >>> max_exact_activation(np.array([[127, 127, 0, 0]], "int8"))
    129
    """
    w = np.asarray(weight, np.int64)
    pos, neg = np.maximum(w, 0), np.minimum(w, 0)
    up = int((pos[:, 0::2] + pos[:, 1::2]).max(initial=0))
    down = int(-(neg[:, 0::2] + neg[:, 1::2]).min(initial=0))
    limit = min(32767 // up if up else 255, 32768 // down if down else 255)
    return min(255, limit)


@functools.lru_cache(maxsize=None)
def _built(target, form, M, N, K, lanes):
    """The module of `form` for data [M, K] and a weight [N, K] packed by `lanes` columns."""
    from ..targets.build import build
    group = 2 if form == "int16_pairs" else 4
    data = placeholder((M, K), "uint8", name="data")
    packed = placeholder((N // lanes, K // group, lanes, group),
                         "int16" if form == "int16_pairs" else "int8", name="packed")
    out = FORMS[form](data, packed)
    s = schedule(out, target=target.name)
    return build(s, [data, packed, out], target=target, name=f"dense_int8_{form}_{M}x{N}x{K}")


class DenseInt8:
    """data [M, K] uint8 @ weight[N, K].T (int8) -> [M, N] int32, exact, with the weight
    packed once here (module docstring: which kernel a call takes and why).

    `max_exact_activation`: the largest activation the saturating AVX2 kernel is exact for
    with this weight; `kernel_for(data)`: the form a call with `data` runs ("sat16",
    "int16_pairs" or "vnni"); `kernel(M, form)`: its built module (source, te.lower text).

    Example (weights within [-64, 64]: every call takes the vpmaddubsw kernel)::

        w = np.random.randint(-64, 65, (256, 512)).astype("int8")
        dense = topi.qnn.DenseInt8(w, target="native")
        y = dense(np.random.randint(0, 256, (8, 512)).astype("uint8"))   # int32 [8, 256]
    """

    def __init__(self, weight, target="native"):
        w = np.asarray(weight)
        if w.dtype != np.int8 or w.ndim != 2:
            raise ArgumentError(f"DenseInt8: weight must be a 2-D int8 array [N, K], got "
                                f"{w.dtype} of shape {w.shape}")
        self.target = get_target(target)
        if self.target.family != "x86":
            raise TexprError(f"DenseInt8: target {self.target.name!r} is not x86 (avx2, avx512 "
                             "or native on an x86 host)")
        self.N, self.K = w.shape
        self.lanes = 2 * CpuInfo(self.target).lanes_of("int32")
        if self.N % self.lanes or self.K % 4 or not w.size:
            raise ArgumentError(f"DenseInt8: weight [N, K] = {list(w.shape)} must have N a "
                                f"multiple of {self.lanes} and K of 4, both > 0 (target "
                                f"{self.target.name}'s packed panels)")
        self._packed = {}
        if self.target.name == "avx512":
            self.max_exact_activation = 255
            self._packed["vnni"] = pack_dense_int8_weight_ref(w, self.lanes)
            return
        self.max_exact_activation = max_exact_activation(w)
        self._packed["sat16"] = pack_dense_int8_weight_ref(w, self.lanes)
        if self.max_exact_activation < 255:
            self._packed["int16_pairs"] = pack_dense_int16_pairs_ref(w, self.lanes)

    @property
    def rule(self):
        """The kernel choice, in words.

        >>> import numpy as np, texpr.topi as topi
        >>> topi.qnn.DenseInt8(np.full((16, 8), -64, "int8"), target="avx2").rule
        'every call: vpmaddubsw (every pair sum of this weight fits int16)'
        """
        if "vnni" in self._packed:
            return "every call: dot_int8 (vpdpbusd), exact"
        if self.max_exact_activation == 255:
            return "every call: vpmaddubsw (every pair sum of this weight fits int16)"
        return (f"activations max <= {self.max_exact_activation}: vpmaddubsw (pair sums fit "
                f"int16); else vpmaddwd on int16-widened operands (exact)")

    def kernel_for(self, data):
        """The form a call with `data` runs: "sat16" where every pair sum of the weight with
        these activations fits int16, else "int16_pairs" (AVX-512: "vnni").

        >>> import numpy as np, texpr.topi as topi
        >>> dense = topi.qnn.DenseInt8(np.full((16, 8), 127, "int8"), target="avx2")
        >>> dense.max_exact_activation, dense.kernel_for(np.full((1, 8), 129, "uint8"))
        (129, 'sat16')
        >>> dense.kernel_for(np.full((1, 8), 130, "uint8"))
        'int16_pairs'
        """
        if "vnni" in self._packed:
            return "vnni"
        if self.max_exact_activation == 255 or \
                int(np.asarray(data).max(initial=0)) <= self.max_exact_activation:
            return "sat16"
        return "int16_pairs"

    def kernel(self, M, form):
        """The built module of `form` for M rows (built on first use; kept for every
        DenseInt8 of the same shape and target), called as kernel(data, packed, out).

        Example (the source of the kernel a call with 8 rows of activations runs)::

            dense = topi.qnn.DenseInt8(w, target="native")
            print(dense.kernel(8, dense.kernel_for(a)).source)
        """
        if form not in self._packed:
            raise ArgumentError(f"DenseInt8: form {form!r} is not packed for this weight and "
                                f"target (packed: {', '.join(self._packed)})")
        return _built(self.target, form, M, self.N, self.K, self.lanes)

    def __call__(self, data, out=None):
        """data [M, K] uint8 -> out [M, N] int32 (allocated when not given), returned.

        Example (full-range weights: a call with activations above max_exact_activation
        runs the exact int16-pairs kernel)::

            dense = topi.qnn.DenseInt8(w, target="native")
            y = dense(a)       # == a.astype(np.int32) @ w.astype(np.int32).T
        """
        a = np.asarray(data)
        if a.dtype != np.uint8 or a.ndim != 2 or a.shape[1] != self.K:
            raise ArgumentError(f"DenseInt8: data must be a uint8 array [M, {self.K}], got "
                                f"{a.dtype} of shape {a.shape}")
        if out is None:
            out = np.empty((a.shape[0], self.N), np.int32)
        if a.shape[0]:
            form = self.kernel_for(a)
            self.kernel(a.shape[0], form)(a, self._packed[form], out)
        return out

    def __repr__(self):
        return (f"DenseInt8(N={self.N}, K={self.K}, target {self.target.name}, "
                f"max_exact_activation={self.max_exact_activation}: {self.rule})")
