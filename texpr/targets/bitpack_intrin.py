"""The bit packing of topi.bitserial as a tensor intrinsic: 8-bit integers to 64-bit words of
one bit plane, 32 elements per vpmovmskb on AVX2 (the packing the bit-serial dense redoes on
every call for its data, where plain C would assemble each word from 64 shifted bytes)."""
from ..lang.expr import Const
from ..lang.intrin import decl_tensor_intrin
from ..lang.reduction import sum as te_sum
from ..lang.tensor import compute, placeholder, reduce_axis
from .intrin import _need_unit

#: bits of a packed word
WORD_BITS = 64


def bit_words(load, shape, bits_at, name, tag="", attrs=None):
    """The words of bit planes as a sum over a reduction axis of their 64 bits (distinct
    powers of two: the sum is their OR), the first element in the most significant bit as
    topi.bitserial.bitpack packs them: the form packing_words_u64 matches. load(idx, e)
    reads element e of the word at output index idx; bits_at(idx) is its bit plane."""
    e = reduce_axis((0, WORD_BITS), "e")

    def word(*idx):
        bit = (load(idx, e).astype("int32") >> bits_at(idx)) & 1
        # (0 - e) + 63: the form the tensorize matcher simplifies the stage's shift to
        shift = (Const(0, "int32") - e.var) + (WORD_BITS - 1)
        return te_sum(bit.astype("uint64") << shift.astype("uint64"), axis=e)
    return compute(shape, word, name=name, tag=tag, attrs=attrs)


def packing_words_u64(bits, n_words, dtype, name=None):
    """out[b, w] = bit plane b of x[64 w .. 64 w + 63] as one 64-bit word, x[64 w] in its most
    significant bit (topi.bitserial.bitpack with uint64 words). x: 8-bit integers (a bit
    plane b < 8 of an 8-bit integer is the bit of its byte, sign-extended or not). AVX2 / AVX-512:
    the 32 bytes of each half word reversed (vpshufb + vpermq) once for all planes, then per
    plane a shift of bit b to each byte's top and vpmovmskb."""
    x = placeholder((WORD_BITS * n_words,), dtype, "x")
    c = bit_words(lambda idx, e: x[idx[1] * WORD_BITS + e], (bits, n_words), lambda idx: idx[0],
                  "c")
    who = name or f"packing_words_u64_{bits}x{n_words}_{dtype}"

    def avx2(ins, outs):
        (X,) = ins
        (C,) = outs
        _need_unit(X, 0, who)
        rev = ", ".join(str(15 - i) for i in range(16))
        lines = [f"const __m256i rev = _mm256_setr_epi8({rev}, {rev});",
                 f"for (int w = 0; w < {n_words}; ++w) {{",
                 f"  const uint8_t* p = (const uint8_t*)({X.ptr}) + {WORD_BITS} * w;"]
        for h in range(2):      # elements 32h .. 32h + 31, the last in byte 0
            lines.append(f"  __m256i v{h} = _mm256_permute4x64_epi64(_mm256_shuffle_epi8("
                         f"_mm256_loadu_si256((const __m256i*)(p + {32 * h})), rev), 0x4e);")
        for b in range(bits):
            m = [f"(uint32_t)_mm256_movemask_epi8({f'_mm256_slli_epi16(v{h}, {7 - b})' if b < 7 else f'v{h}'})"
                 for h in range(2)]
            lines.append(f"  {C.ptr}[{b} * ({C.strides[0]}) + w * ({C.strides[1]})] = "
                         f"((uint64_t){m[0]} << 32) | {m[1]};")
        lines.append("}")
        return {"body": "\n".join(lines)}

    return decl_tensor_intrin(c.op, {"avx2": avx2, "avx512": avx2}, name=who, inputs=[x])
