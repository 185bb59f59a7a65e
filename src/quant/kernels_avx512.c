/*
 * kernels_avx512.c — AVX-512 (F/BW/VL/DQ + VNNI + BF16) kernels. Runs only when cpu.c found those features.
 * Entries not set here keep the AVX2 ones.
 */
#include "quant/kernels.h"

void lc_kernels_init_avx512(lc_kernels *k)
{
    k->name = "avx512";
}
