/*
 * kernels.h — internal glue between the kernel tables: each kernels_<isa>.c exports an init function that
 * fills an lc_kernels table, starting from the scalar one. cpu.c picks which table to use.
 */
#ifndef LC_KERNELS_H
#define LC_KERNELS_H

#include "quant/quant.h"

/* Weight types with a GEMM (X-macro: add a type here once its reference exists). */
#define LC_FOR_EACH_WEIGHT_TYPE(X) X(F32) X(F16) X(BF16) X(Q4_0) X(Q8_0)

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
