/*
 * ops_ref.c — see ops_ref.h: plain-C scalar references of the kernel tables' rmsnorm / swiglu / attention
 * entries (the SIMD versions are in ops_avx2.c and ops_avx512.c; docs/KERNELS.md). Reductions run in a fixed
 * order.
 */
#include "kernels/ops_ref.h"

#include <math.h>

#include "kernels/quant.h"
#include "util/exp_nonpos.h"

void lc_exp_shifted(double *y, const float *x, int64_t n, double shift, double scale)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = lc_exp_nonpos(((double)x[i] - shift) * scale);
}

int64_t lc_argmax(const float *x, int64_t n, float *max)
{
    int64_t best = 0;
    float bl = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > bl) { /* false for NaN; a tie keeps the smaller index */
            bl = x[i];
            best = i;
        }
    *max = bl;
    return best;
}

void lc_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps)
{
    double ss = 0;
    for (int64_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * scale * w[i];
}

void lc_swiglu(float *h, const float *g, const float *u, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        h[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* q . (row j of K) */
static inline float row_dot(const float *q, const lc_kv_view *kv, int64_t j, int d)
{
    float s = 0;
    if (kv->f16) {
        const lc_half *kr = (const lc_half *)(kv->k + lc_kv_row_offset(kv, j, (size_t)d * 2));
        for (int i = 0; i < d; i++)
            s += q[i] * lc_half_to_f32(kr[i]);
    } else {
        const float *kr = (const float *)(kv->k + lc_kv_row_offset(kv, j, (size_t)d * 4));
        for (int i = 0; i < d; i++)
            s += q[i] * kr[i];
    }
    return s;
}

void lc_attention(float *out, const float *q, int n_q, const lc_kv_view *kv, int n_pos, int head_dim, float *scores)
{
    const float scale = 1.0f / sqrtf((float)head_dim);
    for (int h = 0; h < n_q; h++) {
        const float *qh = q + (int64_t)h * head_dim;
        float *o = out + (int64_t)h * head_dim;
        float mx = -INFINITY;
        for (int j = 0; j < n_pos; j++) {
            float s = row_dot(qh, kv, j, head_dim) * scale;
            scores[j] = s;
            mx = s > mx ? s : mx;
        }
        float sum = 0;
        for (int j = 0; j < n_pos; j++) {
            float p = expf(scores[j] - mx);
            scores[j] = p;
            sum += p;
        }
        for (int i = 0; i < head_dim; i++)
            o[i] = 0;
        for (int j = 0; j < n_pos; j++) {
            float p = scores[j];
            if (kv->f16) {
                const lc_half *vr = (const lc_half *)(kv->v + lc_kv_row_offset(kv, j, (size_t)head_dim * 2));
                for (int i = 0; i < head_dim; i++)
                    o[i] += p * lc_half_to_f32(vr[i]);
            } else {
                const float *vr = (const float *)(kv->v + lc_kv_row_offset(kv, j, (size_t)head_dim * 4));
                for (int i = 0; i < head_dim; i++)
                    o[i] += p * vr[i];
            }
        }
        float inv = 1.0f / sum;
        for (int i = 0; i < head_dim; i++)
            o[i] *= inv;
    }
}
