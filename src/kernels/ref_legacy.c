/*
 * ref_legacy.c — scalar reference for the remaining 32-element ("legacy") quants: Q4_1, Q5_0, Q5_1 and the
 * activation type Q8_1. Layouts and arithmetic follow ggml (ggml-common.h / ggml-quants.c) so files written
 * by either program read back identically in the other; see docs/QUANT_FORMATS.md.
 *
 * Every block covers 32 consecutive elements. Element j (0..15) lives in the LOW nibble of qs[j], element
 * j+16 in the HIGH nibble of qs[j]. The 5-bit types keep the fifth bit of element e (0..31) in bit e of qh,
 * read as a little-endian uint32.
 *
 *   Q4_1  {half d, half m, u8 qs[16]}           value = q*d + m,          q in 0..15
 *   Q5_0  {half d, u8 qh[4], u8 qs[16]}         value = (q - 16)*d,       q in 0..31
 *   Q5_1  {half d, half m, u8 qh[4], u8 qs[16]} value = q*d + m,          q in 0..31
 *   Q8_1  {half d, half s, i8 qs[32]}           value = q*d, s = d*sum(q) (lets Q4_1/Q5_1 dots add m*sum)
 *
 * Dot products: Q5_0 pairs with Q8_0 activations, Q4_1 and Q5_1 with Q8_1 (as in ggml). The integer part of
 * each block is exact; the float combination per block is
 *     Q5_0: sum += (d_w*d_a) * isum
 *     Q4_1/Q5_1: sum += (d_w*d_a) * isum + m_w * s_a
 * in block order, in float. Fast kernels reproduce this up to float reassociation.
 */
#include <math.h>
#include <string.h>

#include "kernels/quant_ref.h"

/* Truncating conversion of a non-negative float to 0..hi (NaN -> 0); ggml's (int8_t)(v) for v in range. */
static inline int trunc_clamp(float v, int hi)
{
    if (!(v > 0.0f))
        return 0;
    if (v >= (float)hi)
        return hi;
    return (int)v;
}

static inline uint32_t load_qh(const uint8_t qh[4])
{
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static inline void store_qh(uint8_t qh[4], uint32_t v)
{
    qh[0] = (uint8_t)v;
    qh[1] = (uint8_t)(v >> 8);
    qh[2] = (uint8_t)(v >> 16);
    qh[3] = (uint8_t)(v >> 24);
}

/* min and max of 32 values (ggml's Q4_1/Q5_1 range; NaN inputs are skipped by the comparisons) */
static void block_min_max(const float *v, float *mn, float *mx)
{
    float lo = INFINITY, hi = -INFINITY;
    for (int j = 0; j < 32; j++) {
        if (v[j] < lo)
            lo = v[j];
        if (v[j] > hi)
            hi = v[j];
    }
    if (lo > hi) /* all NaN */
        lo = hi = 0.0f;
    *mn = lo;
    *mx = hi;
}

/* ---- Q4_1 ---- */
void lc_q4_1_to_float(const void *x, float *y, int64_t n)
{
    const lc_block_q4_1 *b = x;
    for (int64_t i = 0; i < n / LC_QK4_1; i++, y += LC_QK4_1) {
        float d = lc_half_to_f32(b[i].d), m = lc_half_to_f32(b[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(b[i].qs[j] & 0x0f) * d + m;
            y[j + 16] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

void lc_q4_1_from_float(const float *x, void *y, int64_t n)
{
    lc_block_q4_1 *b = y;
    for (int64_t i = 0; i < n / LC_QK4_1; i++) {
        const float *v = x + i * LC_QK4_1;
        float mn, mx;
        block_min_max(v, &mn, &mx);
        float d = (mx - mn) / 15.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = lc_f32_to_half(d);
        b[i].m = lc_f32_to_half(mn);
        for (int j = 0; j < 16; j++) {
            int q0 = trunc_clamp((v[j] - mn) * id + 0.5f, 15);
            int q1 = trunc_clamp((v[j + 16] - mn) * id + 0.5f, 15);
            b[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

float lc_q4_1_vec_dot(int64_t n, const void *w, const void *a)
{
    const lc_block_q4_1 *x = w;
    const lc_block_q8_1 *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / LC_QK4_1; i++) {
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += (x[i].qs[j] & 0x0f) * y[i].qs[j];
            isum += (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        }
        s += (lc_half_to_f32(x[i].d) * lc_half_to_f32(y[i].d)) * (float)isum +
             lc_half_to_f32(x[i].m) * lc_half_to_f32(y[i].s);
    }
    return s;
}

/* ---- Q5_0 ---- */
void lc_q5_0_to_float(const void *x, float *y, int64_t n)
{
    const lc_block_q5_0 *b = x;
    for (int64_t i = 0; i < n / LC_QK5_0; i++, y += LC_QK5_0) {
        float d = lc_half_to_f32(b[i].d);
        uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < 16; j++) {
            int q0 = (b[i].qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int q1 = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)(q0 - 16) * d;
            y[j + 16] = (float)(q1 - 16) * d;
        }
    }
}

void lc_q5_0_from_float(const float *x, void *y, int64_t n)
{
    lc_block_q5_0 *b = y;
    for (int64_t i = 0; i < n / LC_QK5_0; i++) {
        const float *v = x + i * LC_QK5_0;
        /* d = (value of largest magnitude) / -16, so that value maps to q = 0 exactly */
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++) {
            if (fabsf(v[j]) > amax) {
                amax = fabsf(v[j]);
                max = v[j];
            }
        }
        float d = max / -16.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = lc_f32_to_half(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = trunc_clamp(v[j] * id + 16.5f, 31);
            int q1 = trunc_clamp(v[j + 16] * id + 16.5f, 31);
            b[i].qs[j] = (uint8_t)((q0 & 0x0f) | (q1 & 0x0f) << 4);
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        store_qh(b[i].qh, qh);
    }
}

float lc_q5_0_vec_dot(int64_t n, const void *w, const void *a)
{
    const lc_block_q5_0 *x = w;
    const lc_block_q8_0 *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / LC_QK5_0; i++) {
        uint32_t qh = load_qh(x[i].qh);
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = ((x[i].qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4) - 16;
            int q1 = ((x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - 16;
            isum += q0 * y[i].qs[j] + q1 * y[i].qs[j + 16];
        }
        s += (lc_half_to_f32(x[i].d) * lc_half_to_f32(y[i].d)) * (float)isum;
    }
    return s;
}

/* ---- Q5_1 ---- */
void lc_q5_1_to_float(const void *x, float *y, int64_t n)
{
    const lc_block_q5_1 *b = x;
    for (int64_t i = 0; i < n / LC_QK5_1; i++, y += LC_QK5_1) {
        float d = lc_half_to_f32(b[i].d), m = lc_half_to_f32(b[i].m);
        uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < 16; j++) {
            int q0 = (b[i].qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int q1 = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)q0 * d + m;
            y[j + 16] = (float)q1 * d + m;
        }
    }
}

void lc_q5_1_from_float(const float *x, void *y, int64_t n)
{
    lc_block_q5_1 *b = y;
    for (int64_t i = 0; i < n / LC_QK5_1; i++) {
        const float *v = x + i * LC_QK5_1;
        float mn, mx;
        block_min_max(v, &mn, &mx);
        float d = (mx - mn) / 31.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = lc_f32_to_half(d);
        b[i].m = lc_f32_to_half(mn);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = trunc_clamp((v[j] - mn) * id + 0.5f, 31);
            int q1 = trunc_clamp((v[j + 16] - mn) * id + 0.5f, 31);
            b[i].qs[j] = (uint8_t)((q0 & 0x0f) | (q1 & 0x0f) << 4);
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        store_qh(b[i].qh, qh);
    }
}

float lc_q5_1_vec_dot(int64_t n, const void *w, const void *a)
{
    const lc_block_q5_1 *x = w;
    const lc_block_q8_1 *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / LC_QK5_1; i++) {
        uint32_t qh = load_qh(x[i].qh);
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (x[i].qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int q1 = (x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            isum += q0 * y[i].qs[j] + q1 * y[i].qs[j + 16];
        }
        s += (lc_half_to_f32(x[i].d) * lc_half_to_f32(y[i].d)) * (float)isum +
             lc_half_to_f32(x[i].m) * lc_half_to_f32(y[i].s);
    }
    return s;
}

/* ---- Q8_1 (activations only: no vec_dot of its own) ---- */
void lc_q8_1_to_float(const void *x, float *y, int64_t n)
{
    const lc_block_q8_1 *b = x;
    for (int64_t i = 0; i < n / LC_QK8_1; i++, y += LC_QK8_1) {
        float d = lc_half_to_f32(b[i].d);
        for (int j = 0; j < 32; j++)
            y[j] = (float)b[i].qs[j] * d;
    }
}

/* Like Q8_0 (d = amax/127, q = round half away from zero), plus s = d * sum(q) rounded to half. */
void lc_q8_1_from_float(const float *x, void *y, int64_t n)
{
    lc_block_q8_1 *b = y;
    for (int64_t i = 0; i < n / LC_QK8_1; i++) {
        const float *v = x + i * LC_QK8_1;
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(v[j]));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = lc_f32_to_half(d);
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            float r = roundf(v[j] * id);
            int q = r >= 127.0f ? 127 : r <= -127.0f ? -127 : r == r ? (int)r : 0;
            b[i].qs[j] = (int8_t)q;
            sum += q;
        }
        b[i].s = lc_f32_to_half((float)sum * d);
    }
}
