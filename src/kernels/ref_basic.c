/*
 * ref_basic.c — scalar reference for the float types (F32, F16, BF16) and the 32-element quants Q4_0, Q8_0.
 * These define the numbers every fast kernel must reproduce (see quant.h). Quantizers follow ggml's reference
 * rounding so files we write read back the same in llama.cpp.
 */
#include <math.h>
#include <string.h>

#include "kernels/quant_ref.h"

/* ---- F32 ---- */
void lc_f32_to_float(const void *x, float *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

void lc_f32_from_float(const float *x, void *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

float lc_f32_vec_dot(int64_t n, const void *w, const void *a)
{
    const float *x = w, *y = a;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i] * y[i];
    return (float)s;
}

/* ---- F16 ---- */
void lc_f16_to_float(const void *x, float *y, int64_t n)
{
    const lc_half *h = x;
    for (int64_t i = 0; i < n; i++)
        y[i] = lc_half_to_f32(h[i]);
}

void lc_f16_from_float(const float *x, void *y, int64_t n)
{
    lc_half *h = y;
    for (int64_t i = 0; i < n; i++)
        h[i] = lc_f32_to_half(x[i]);
}

float lc_f16_vec_dot(int64_t n, const void *w, const void *a)
{
    const lc_half *x = w;
    const float *y = a;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)lc_half_to_f32(x[i]) * y[i];
    return (float)s;
}

/* ---- BF16 ---- */
void lc_bf16_to_float(const void *x, float *y, int64_t n)
{
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++)
        y[i] = lc_bf16_to_f32(h[i]);
}

void lc_bf16_from_float(const float *x, void *y, int64_t n)
{
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++)
        h[i] = lc_f32_to_bf16(x[i]);
}

float lc_bf16_vec_dot(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w;
    const float *y = a;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)lc_bf16_to_f32(x[i]) * y[i];
    return (float)s;
}

/* ---- BF16 dot products as AVX512_BF16 computes them (vcvtne2ps2bf16 + vdpbf16ps) ---- */
uint16_t lc_f32_to_bf16_daz(float f)
{
    if (f != 0.0f && fabsf(f) < 0x1p-126f)
        f = copysignf(0.0f, f);
    return lc_f32_to_bf16(f);
}

/* bf16 -> f32 with a denormal read as a zero of its sign */
static float bf16_daz(uint16_t h)
{
    return lc_bf16_to_f32((h & 0x7f80u) ? h : (uint16_t)(h & 0x8000u));
}

/* one fused step: the product of two bf16 values is exact in f32's precision, fmaf rounds once (to nearest
 * even, the default mode; a denormal result is rounded on the denormal grid and then flushed, which is what
 * the instruction does: checked against the hardware in tests/c/test_kernels.c) */
static float dp_step(float acc, uint16_t w, uint16_t a)
{
    float r = fmaf(bf16_daz(w), bf16_daz(a), acc);
    return fabsf(r) < 0x1p-126f ? copysignf(0.0f, r) : r;
}

float lc_bf16_dot2(float acc, uint16_t w0, uint16_t w1, uint16_t a0, uint16_t a1)
{
    if (fabsf(acc) < 0x1p-126f) /* denormal (or zero) accumulator input read as zero */
        acc = copysignf(0.0f, acc);
    return dp_step(dp_step(acc, w1, a1), w0, a0);
}

float lc_bf16_dot_bf16(int64_t n, const void *w, const float *a)
{
    const uint16_t *x = w;
    float total = 0.0f;
    for (int64_t k0 = 0; k0 < n; k0 += 32) {
        float acc = 0.0f;
        for (int64_t k = k0; k < k0 + 32 && k < n; k += 2) {
            uint16_t w1 = k + 1 < n ? x[k + 1] : 0, a1 = k + 1 < n ? lc_f32_to_bf16_daz(a[k + 1]) : 0;
            acc = lc_bf16_dot2(acc, x[k], w1, lc_f32_to_bf16_daz(a[k]), a1);
        }
        total = k0 ? total + acc : acc;
    }
    return total;
}

/* ---- Q8_0: value = d * q, q in [-127, 127] ---- */
void lc_q8_0_to_float(const void *x, float *y, int64_t n)
{
    const lc_block_q8_0 *b = x;
    for (int64_t i = 0; i < n / LC_QK8_0; i++) {
        float d = lc_half_to_f32(b[i].d);
        for (int j = 0; j < LC_QK8_0; j++)
            y[i * LC_QK8_0 + j] = d * b[i].qs[j];
    }
}

void lc_q8_0_from_float(const float *x, void *y, int64_t n)
{
    lc_block_q8_0 *b = y;
    for (int64_t i = 0; i < n / LC_QK8_0; i++) {
        const float *v = x + i * LC_QK8_0;
        float amax = 0;
        for (int j = 0; j < LC_QK8_0; j++)
            amax = fmaxf(amax, fabsf(v[j]));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = lc_f32_to_half(d);
        for (int j = 0; j < LC_QK8_0; j++)
            b[i].qs[j] = (int8_t)roundf(v[j] * id);
    }
}

float lc_q8_0_vec_dot(int64_t n, const void *w, const void *a)
{
    const lc_block_q8_0 *x = w, *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / LC_QK8_0; i++) {
        int32_t isum = 0;
        for (int j = 0; j < LC_QK8_0; j++)
            isum += x[i].qs[j] * y[i].qs[j];
        s += (float)isum * (lc_half_to_f32(x[i].d) * lc_half_to_f32(y[i].d));
    }
    return s;
}

/* ---- Q4_0: value = d * (q - 8), q in [0, 15]; d = (value of largest magnitude) / -8 ---- */
void lc_q4_0_to_float(const void *x, float *y, int64_t n)
{
    const lc_block_q4_0 *b = x;
    for (int64_t i = 0; i < n / LC_QK4_0; i++) {
        float d = lc_half_to_f32(b[i].d);
        for (int j = 0; j < LC_QK4_0 / 2; j++) {
            y[i * LC_QK4_0 + j] = d * ((b[i].qs[j] & 0x0f) - 8);
            y[i * LC_QK4_0 + j + LC_QK4_0 / 2] = d * ((b[i].qs[j] >> 4) - 8);
        }
    }
}

void lc_q4_0_from_float(const float *x, void *y, int64_t n)
{
    lc_block_q4_0 *b = y;
    for (int64_t i = 0; i < n / LC_QK4_0; i++) {
        const float *v = x + i * LC_QK4_0;
        float amax = 0, max = 0;
        for (int j = 0; j < LC_QK4_0; j++) {
            if (fabsf(v[j]) > amax) {
                amax = fabsf(v[j]);
                max = v[j];
            }
        }
        float d = max / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = lc_f32_to_half(d);
        for (int j = 0; j < LC_QK4_0 / 2; j++) {
            float x0 = v[j] * id + 8.5f, x1 = v[j + LC_QK4_0 / 2] * id + 8.5f;
            uint8_t q0 = (uint8_t)(x0 < 15.0f ? (x0 > 0.0f ? x0 : 0.0f) : 15.0f);
            uint8_t q1 = (uint8_t)(x1 < 15.0f ? (x1 > 0.0f ? x1 : 0.0f) : 15.0f);
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

float lc_q4_0_vec_dot(int64_t n, const void *w, const void *a)
{
    const lc_block_q4_0 *x = w;
    const lc_block_q8_0 *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / LC_QK4_0; i++) {
        int32_t isum = 0;
        for (int j = 0; j < LC_QK4_0 / 2; j++) {
            isum += ((x[i].qs[j] & 0x0f) - 8) * y[i].qs[j];
            isum += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + LC_QK4_0 / 2];
        }
        s += (float)isum * (lc_half_to_f32(x[i].d) * lc_half_to_f32(y[i].d));
    }
    return s;
}
