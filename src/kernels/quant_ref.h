/*
 * quant_ref.h — the scalar reference functions of every type, gathered into the traits table by types.c.
 * Naming: lc_<type>_to_float / lc_<type>_from_float / lc_<type>_vec_dot, signatures as in lc_type_traits.
 */
#ifndef LC_QUANT_REF_H
#define LC_QUANT_REF_H

#include "kernels/quant.h"

#define LC_DECLARE_TYPE_REF(t)                                                                                \
    void lc_##t##_to_float(const void *x, float *y, int64_t n);                                               \
    void lc_##t##_from_float(const float *x, void *y, int64_t n);                                             \
    float lc_##t##_vec_dot(int64_t n, const void *w, const void *a);

LC_DECLARE_TYPE_REF(f32)
LC_DECLARE_TYPE_REF(f16)
LC_DECLARE_TYPE_REF(bf16)
LC_DECLARE_TYPE_REF(q4_0)
LC_DECLARE_TYPE_REF(q8_0)
LC_DECLARE_TYPE_REF(q4_1)  /* ref_legacy.c */
LC_DECLARE_TYPE_REF(q5_0)
LC_DECLARE_TYPE_REF(q5_1)
LC_DECLARE_TYPE_REF(q2_K)  /* ref_kquants.c */
LC_DECLARE_TYPE_REF(q4_K)
LC_DECLARE_TYPE_REF(q5_K)
LC_DECLARE_TYPE_REF(q3_K)  /* ref_kquants_sym.c */
LC_DECLARE_TYPE_REF(q6_K)

/* Activation-only types: no vec_dot (they are the right-hand side of other types' dot products). */
#define LC_DECLARE_ACT_REF(t)                                                                                 \
    void lc_##t##_to_float(const void *x, float *y, int64_t n);                                               \
    void lc_##t##_from_float(const float *x, void *y, int64_t n);

LC_DECLARE_ACT_REF(q8_1) /* ref_legacy.c */
LC_DECLARE_ACT_REF(q8_K) /* ref_kquants_sym.c */

/* ---- the BF16-dot arithmetic of AVX512_BF16 (ref_basic.c; docs/KERNELS.md "Determinism and exactness") ---- */
/* f32 -> bf16 as vcvtne2ps2bf16: a denormal input becomes a zero of its sign, then round to nearest even;
 * NaN stays NaN (quieted). */
uint16_t lc_f32_to_bf16_daz(float f);
/* One lane of vdpbf16ps: acc += w1*a1, then acc += w0*a0, each step a fused multiply-add rounded to nearest
 * even with denormal inputs read as zero and a denormal result flushed to zero of its sign. */
float lc_bf16_dot2(float acc, uint16_t w0, uint16_t w1, uint16_t a0, uint16_t a1);
/* Dot product of a BF16 weight row with an f32 activation row as the avx512 table's BF16 GEMM computes it:
 * activations rounded by lc_f32_to_bf16_daz; for each piece of 32 elements, one f32 chain from +0 takes its
 * pairs (2m, 2m + 1) in increasing m through lc_bf16_dot2 (element n of an odd n read as +0); the pieces'
 * sums are added in order (total = s0, then total + s1, ...). One chain per output and piece is what lets the
 * kernel keep 16 rows in the lanes of one register (pack.h) and broadcast the activations. */
float lc_bf16_dot_bf16(int64_t n, const void *w, const float *a);

#endif
