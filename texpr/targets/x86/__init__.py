"""x86 emitters: AVX2/FMA and AVX-512 (natively or through SIMDe)."""
