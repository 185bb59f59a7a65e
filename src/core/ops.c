/*
 * ops.c — see ops.h: the RoPE table and rotation (the forward pass's only per-token operation that is not a
 * kernel-table entry). Angles are computed in double precision, rounded once to float.
 */
#include "core/ops.h"

#include <math.h>

void lc_rope_table(float *cs, const double *inv_freq, int n_pairs, int32_t pos)
{
    for (int i = 0; i < n_pairs; i++) {
        double a = (double)pos * inv_freq[i];
        cs[2 * i] = (float)cos(a);
        cs[2 * i + 1] = (float)sin(a);
    }
}

void lc_rope_apply(float *x, const float *cs, int n_heads, int head_dim)
{
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (int64_t)h * head_dim;
        for (int i = 0; i < head_dim / 2; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1];
            float a = v[2 * i], b = v[2 * i + 1];
            v[2 * i] = a * c - b * s;
            v[2 * i + 1] = a * s + b * c;
        }
    }
}
