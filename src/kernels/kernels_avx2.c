/*
 * kernels_avx2.c — the "avx2" table (AVX2 + FMA + F16C): runs only when cpu.c found those features. Entries
 * not set here keep the scalar reference. The kernels live in gemm_q_avx2.c (Q4_0/Q4_1/Q5_0/Q5_1/Q8_0, the
 * Q8_0x activation quantizer and the quantized GEMM driver), gemm_k_avx2.c (Q2_K/Q3_K/Q4_K/Q5_K/Q6_K),
 * gemm_f_avx2.c (F32/F16/BF16) and ops_avx2.c (norm, SwiGLU, attention); they compute exactly what the
 * avx512 ones compute.
 */
#include "kernels/kernels.h"

void lc_kernels_init_avx2(lc_kernels *k)
{
    k->name = "avx2";
    lc_init_gemm_q_avx2(k);
    lc_init_gemm_f_avx2(k);
    lc_init_ops_avx2(k);
}
