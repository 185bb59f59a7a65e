/*
 * kernels_scalar.c — the "scalar" kernel table: every entry is the type's reference function, so this path
 * computes exactly what quant.h's references define. Fast tables fall back to lc_gemm_ref for types they
 * do not cover.
 */
#include "quant/kernels.h"

void lc_gemm_ref(int w_type, const lc_gemm_args *g)
{
    const lc_type_traits *tt = lc_type_traits_get(w_type);
    const char *w = g->w;
    const char *a = g->a;
    for (int64_t t = 0; t < g->nt; t++)
        for (int64_t r = g->r0; r < g->r1; r++)
            g->y[t * g->ldy + r] = tt->vec_dot(g->n, w + (size_t)r * g->w_stride, a + (size_t)t * g->a_stride);
}

#define GEMM_REF(T)                                                                                           \
    static void gemm_ref_##T(const lc_gemm_args *g) { lc_gemm_ref(LLAMAC_TYPE_##T, g); }
LC_FOR_EACH_WEIGHT_TYPE(GEMM_REF)

void lc_kernels_init_scalar(lc_kernels *k)
{
    k->name = "scalar";
    for (int t = 0; t < LLAMAC_TYPE_COUNT; t++) {
        const lc_type_traits *tt = lc_type_traits_get(t);
        if (tt && tt->from_float)
            k->quantize_row[t] = tt->from_float;
    }
#define SET_GEMM(T) k->gemm[LLAMAC_TYPE_##T] = gemm_ref_##T;
    LC_FOR_EACH_WEIGHT_TYPE(SET_GEMM)
#undef SET_GEMM
}
