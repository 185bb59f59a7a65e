/*
 * kernels_avx512.c — the "avx512" table (F/BW/VL/DQ + VNNI + BF16): runs only when cpu.c found those features.
 * Entries not set here keep the AVX2 ones. The kernels live in gemm_q_avx512.c (Q4_0/Q8_0 + the Q8_0x
 * activation quantizer), gemm_f_avx512.c (F32/F16/BF16) and ops_avx512.c (norm, SwiGLU, attention).
 */
#include "kernels/kernels.h"

void lc_kernels_init_avx512(lc_kernels *k)
{
    k->name = "avx512";
    lc_init_gemm_q_avx512(k);
    lc_init_gemm_f_avx512(k);
    lc_init_gemm_bf_avx512(k);
    lc_init_ops_avx512(k);
}
