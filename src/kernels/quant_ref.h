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

#endif
