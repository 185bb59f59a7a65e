/*
 * kernels.h — internal glue between the kernel tables: each kernels_<isa>.c exports an init function that
 * fills an lc_kernels table, starting from the scalar one. cpu.c picks which table to use.
 */
#ifndef LC_KERNELS_H
#define LC_KERNELS_H

#include "kernels/quant.h"

/* Weight types with a GEMM (X-macro: add a type here once its reference exists). */
#define LC_FOR_EACH_WEIGHT_TYPE(X)                                                                            \
    X(F32) X(F16) X(BF16) X(Q4_0) X(Q8_0) X(Q4_1) X(Q5_0) X(Q5_1) X(Q2_K) X(Q3_K) X(Q4_K) X(Q5_K) X(Q6_K)

/*
 * Q8_0 activation rows of the SIMD tables ("Q8_0x"): the nb = n/32 standard lc_block_q8_0 blocks, then (at the
 * next 4-byte boundary) float d[nb] (each block's scale widened to f32, exactly) and int32 m8[nb]
 * (-8 * the sum of the block's 32 quants). The prefix is a valid standard row, so the reference GEMM can read it.
 */
static inline size_t lc_q8x_ext_offset(int64_t n)
{
    return ((size_t)(n / 32) * sizeof(lc_block_q8_0) + 3) & ~(size_t)3;
}
static inline size_t lc_q8x_row_bytes(int64_t n)
{
    return lc_q8x_ext_offset(n) + (size_t)(n / 32) * 8;
}
/* Fills the extension of a Q8_0x row from its standard blocks (portable; used by tests and the AVX2 path). */
void lc_q8x_fill_ext(void *row, int64_t n);

/* Q8_1 activation rows of the SIMD tables ("Q8_1x"): the nb standard lc_block_q8_1 blocks, then (4-byte
 * aligned) float d[nb] and float s[nb], the blocks' d and s widened to f32 exactly. */
static inline size_t lc_q81x_ext_offset(int64_t n)
{
    return ((size_t)(n / 32) * sizeof(lc_block_q8_1) + 3) & ~(size_t)3;
}
static inline size_t lc_q81x_row_bytes(int64_t n)
{
    return lc_q81x_ext_offset(n) + (size_t)(n / 32) * 8;
}
void lc_q81x_fill_ext(void *row, int64_t n);
/* The reference Q8_1 quantizer followed by lc_q81x_fill_ext (for SIMD tables without their own). */
void lc_quantize_q8_1x_portable(const float *x, void *y, int64_t n);
/* act_row_bytes of the SIMD tables: Q8_0x for Q8_0, Q8_1x for Q8_1, the standard size otherwise. */
size_t lc_simd_act_row_bytes(int act_type, int64_t n);

/* Sub-table initializers of the SIMD paths (one per source file). */
void lc_init_gemm_q_avx512(lc_kernels *k);
void lc_init_gemm_f_avx512(lc_kernels *k);
void lc_init_gemm_bf_avx512(lc_kernels *k);
/* the AVX-512 G16 packer of BF16 rows (blocks are pairs; NULL rows are zero rows) */
void lc_avx512_pack16_bf16(const void *const rows[16], int64_t b0, int64_t nblk, void *dst);
void lc_init_ops_avx512(lc_kernels *k);
void lc_init_gemm_q_avx2(lc_kernels *k);
void lc_init_gemm_f_avx2(lc_kernels *k);
void lc_init_ops_avx2(lc_kernels *k);

/* The vectorized exp of each SIMD table, y[i] = exp(x[i]) (for the tests; only call a path the CPU runs). */
void lc_avx2_exp(float *y, const float *x, int64_t n);
void lc_avx512_exp(float *y, const float *x, int64_t n);

void lc_kernels_init_scalar(lc_kernels *k);
void lc_kernels_init_avx2(lc_kernels *k);   /* call after init_scalar; overrides entries */
void lc_kernels_init_avx512(lc_kernels *k); /* call after init_avx2; overrides entries */

/* CPU features, detected once. */
typedef struct lc_cpu_features {
    int avx2, fma, f16c;
    int avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
} lc_cpu_features;
const lc_cpu_features *lc_cpu_get_features(void);

#endif
