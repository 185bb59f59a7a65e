/*
 * kernels_scalar.c — the "scalar" kernel table: every entry is the type's reference function, so this path
 * computes exactly what quant.h's references define. Fast tables fall back to lc_gemm_ref for types they
 * do not cover. Also the Q8_0x activation extension shared by the SIMD tables (kernels.h).
 */
#include <string.h>

#include "kernels/ops_ref.h"
#include "kernels/kernels.h"
#include "kernels/pack.h"

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

static size_t scalar_act_row_bytes(int act_type, int64_t n)
{
    return lc_row_bytes(act_type, n);
}

size_t lc_simd_act_row_bytes(int act_type, int64_t n)
{
    if (act_type == LLAMAC_TYPE_Q8_0)
        return n % 32 ? 0 : lc_q8x_row_bytes(n);
    if (act_type == LLAMAC_TYPE_Q8_1)
        return n % 32 ? 0 : lc_q81x_row_bytes(n);
    return lc_row_bytes(act_type, n);
}

void lc_q8x_fill_ext(void *row, int64_t n)
{
    const lc_block_q8_0 *b = row;
    char *ext = (char *)row + lc_q8x_ext_offset(n);
    const int64_t nb = n / 32;
    for (int64_t i = 0; i < nb; i++) {
        float d = lc_half_to_f32(b[i].d);
        int32_t s = 0;
        for (int j = 0; j < 32; j++)
            s += b[i].qs[j];
        s *= -8;
        memcpy(ext + 4 * i, &d, 4);
        memcpy(ext + 4 * (nb + i), &s, 4);
    }
}

void lc_q81x_fill_ext(void *row, int64_t n)
{
    const lc_block_q8_1 *b = row;
    char *ext = (char *)row + lc_q81x_ext_offset(n);
    const int64_t nb = n / 32;
    for (int64_t i = 0; i < nb; i++) {
        float d = lc_half_to_f32(b[i].d), s = lc_half_to_f32(b[i].s);
        memcpy(ext + 4 * i, &d, 4);
        memcpy(ext + 4 * (nb + i), &s, 4);
    }
}

void lc_quantize_q8_1x_portable(const float *x, void *y, int64_t n)
{
    lc_type_traits_get(LLAMAC_TYPE_Q8_1)->from_float(x, y, n);
    lc_q81x_fill_ext(y, n);
}

void lc_kernels_init_scalar(lc_kernels *k)
{
    k->name = "scalar";
    for (int t = 0; t < LLAMAC_TYPE_COUNT; t++) {
        const lc_type_traits *tt = lc_type_traits_get(t);
        if (tt && tt->from_float)
            k->quantize_row[t] = tt->from_float;
        k->act_type[t] = tt ? tt->vec_dot_type : -1;
    }
    k->act_row_bytes = scalar_act_row_bytes;
#define SET_GEMM(T) k->gemm[LLAMAC_TYPE_##T] = gemm_ref_##T;
    LC_FOR_EACH_WEIGHT_TYPE(SET_GEMM)
#undef SET_GEMM
    k->pack16 = lc_pack_group_blocks;
    k->rmsnorm = lc_rmsnorm;
    k->swiglu = lc_swiglu;
    k->attention = lc_attention;
    k->exp_shifted = lc_exp_shifted;
    k->argmax = lc_argmax;
}
