/*
 * kernels_avx2.c — AVX2 + FMA + F16C kernels. Compiled with -mavx2 -mfma -mf16c; runs only when cpu.c found
 * those features. Entries not set here keep the scalar reference.
 */
#include "quant/kernels.h"

void lc_kernels_init_avx2(lc_kernels *k)
{
    k->name = "avx2";
}
