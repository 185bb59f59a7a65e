/*
 * matmul.h — y = W x for a batch of activation rows, spread over the thread pool.
 *
 * Activations are converted once per (input, activation type) into the weight type's vec_dot type (f32 rows
 * are used in place). Work is split over rows of W only — never over the reduction — so each output element
 * is computed by one kernel call in one fixed order, whatever the thread count or batch size.
 */
#ifndef LC_MATMUL_H
#define LC_MATMUL_H

#include "core/model.h"
#include "kernels/quant.h"
#include "util/threadpool.h"

#define LC_ACT_SLOTS 3

/* Converted copies of one f32 activation matrix [nt][n] (row stride ldx floats) in up to LC_ACT_SLOTS types. */
typedef struct lc_act {
    const float *x;
    int64_t ldx, n;
    int nt;
    int n_slots;
    int slot_type[LC_ACT_SLOTS];
    void *slot_buf[LC_ACT_SLOTS]; /* caller-provided buffers, each large enough for nt rows of any type */
    size_t slot_cap;
} lc_act;

/* Binds the activation matrix; previous conversions are forgotten. */
void lc_act_bind(lc_act *a, const float *x, int64_t ldx, int64_t n, int nt);

/* One product: y[t*ldy + r] = dot(W row r, x row t), r < w->n_out, t < a->nt. */
typedef struct lc_mm {
    const lc_weight *w;
    float *y;
    int64_t ldy;
} lc_mm;

/* Runs n products that share the activation matrix a in one pool job. */
void lc_matmul(lc_pool *pool, const lc_kernels *k, lc_act *a, const lc_mm *mm, int n);

#endif
