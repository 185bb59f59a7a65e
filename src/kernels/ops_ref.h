/*
 * ops_ref.h — scalar references of the per-token operations in the kernel tables: RMSNorm, SwiGLU and causal
 * attention over a KV cache. Each works on one token (or one token-head) and always performs its reduction in
 * the same order, so results do not depend on batching or threads. The SIMD versions are tested against these.
 */
#ifndef LC_OPS_REF_H
#define LC_OPS_REF_H

#include <stdint.h>

/* y[i] = x[i] / sqrt(mean(x^2) + eps) * w[i], i < n. The sum of squares is accumulated in double. */
void lc_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps);
/* y[i] = lc_exp_nonpos(((double)x[i] - shift) * scale): the reference of lc_kernels.exp_shifted */
void lc_exp_shifted(double *y, const float *x, int64_t n, double shift, double scale);
/* the reference of lc_kernels.argmax: the first index of the largest, NaN never winning */
int64_t lc_argmax(const float *x, int64_t n, float *max);

/* h[i] = silu(g[i]) * u[i] */
void lc_swiglu(float *h, const float *g, const float *u, int64_t n);

/* Attention of n_q query heads (consecutive, head_dim each, at q) that share one KV head, over cached
 * positions 0..n_pos-1 of kv (the paged view of kernels/quant.h; f32 or f16 rows), visited in position order.
 * out: n_q * head_dim. scores: scratch of n_q * n_pos floats (kernels may process the heads together). */
struct lc_kv_view;
void lc_attention(float *out, const float *q, int n_q, const struct lc_kv_view *kv, int n_pos, int head_dim,
                  float *scores);

#endif
