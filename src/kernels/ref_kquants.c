/*
 * ref_kquants.c — scalar reference for the K-quants with a per-sub-block scale AND min: Q2_K, Q4_K, Q5_K
 * (the symmetric ones, Q3_K, Q6_K and the activation type Q8_K, are in ref_kquants_sym.c).
 *
 * All K-quants group 256 elements into a super-block (LC_QK_K) with one or two half-precision super-scales
 * (d, dmin) and small integer scales per sub-block. Values are
 *     x[e] = (d * sc[s]) * q[e] - (dmin * m[s]),   s = the sub-block of element e
 * computed in float in exactly that order (ggml's), so dequantized values match llama.cpp bit for bit.
 * Layouts are ggml's (ggml-common.h); the bit positions of each type are spelled out at its code below and
 * in docs/QUANT_FORMATS.md. The quantizers follow the structure of ggml's reference quantizers: per
 * sub-block, a scale/min search over a few candidate scales with a weighted least-squares refinement; then
 * the sub-block scales and mins are themselves quantized against the super-scales and every element is
 * re-quantized with the stored (rounded) scales. Results are close to, not necessarily bit-identical with,
 * ggml's.
 *
 * Dot products with Q8_K activations (a_d * a_q[e], a_q in -127..127, bsums = sums of 16 a_q): per
 * super-block the integer sums are exact,
 *     isum = sum_s sc[s] * sum_{e in s} q[e]*a_q[e]       msum = sum_s m[s] * sum_{e in s} a_q[e]
 * and the float combination is   sum += (d*a_d) * isum - (dmin*a_d) * msum   in super-block order.
 */
#include <math.h>
#include <string.h>

#include "kernels/quant_ref.h"
#include "kernels/ref_util.h"

/*
 * The scale/min search shared by Q2_K, Q4_K and Q5_K: find scale >= 0 and min <= 0 so that
 * x[i] ~ scale * L[i] + min with L[i] in 0..nmax, minimising sum w[i] * err(i), err = |diff| (use_mad) or
 * diff^2. Start from the plain min/max grid, then for each candidate inverse scale (nmax + rmin + k*rdelta) /
 * (max - min), k = 0..nstep: round, and solve the weighted least-squares fit of (scale, min) for those
 * levels; keep the best. Returns the scale; *neg_min = -min (>= 0).
 */
static float scale_min_search(int n, int nmax, const float *x, const float *w, uint8_t *L, float *neg_min,
                              float rmin, float rdelta, int nstep, int use_mad)
{
    float lo = x[0], hi = x[0], sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo)
            lo = x[i];
        if (x[i] > hi)
            hi = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (lo > 0)
        lo = 0;
    if (!(hi > lo)) { /* constant (or NaN) sub-block */
        memset(L, 0, (size_t)n);
        *neg_min = lo == lo ? -lo : 0.0f;
        return 0.0f;
    }
    float iscale = nmax / (hi - lo), scale = 1.0f / iscale, min = lo;
    float best = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)lc_clampi(lc_nearest(iscale * (x[i] - lo)), 0, nmax);
        float diff = scale * L[i] + lo - x[i];
        best += w[i] * (use_mad ? fabsf(diff) : diff * diff);
    }
    uint8_t Lc[32];
    for (int k = 0; k <= nstep; k++) {
        float is = (rmin + rdelta * k + nmax) / (hi - lo);
        float sl = 0, sl2 = 0, sxl = 0;
        for (int i = 0; i < n; i++) {
            int l = lc_clampi(lc_nearest(is * (x[i] - lo)), 0, nmax);
            Lc[i] = (uint8_t)l;
            sl += w[i] * l;
            sl2 += w[i] * l * l;
            sxl += w[i] * l * x[i];
        }
        float D = sum_w * sl2 - sl * sl;
        if (!(D > 0))
            continue;
        float this_scale = (sum_w * sxl - sum_x * sl) / D;
        float this_min = (sl2 * sum_x - sl * sxl) / D;
        if (this_min > 0) { /* the model keeps min <= 0: refit the scale alone */
            this_min = 0;
            this_scale = sxl / sl2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * Lc[i] + this_min - x[i];
            err += w[i] * (use_mad ? fabsf(diff) : diff * diff);
        }
        if (err < best) {
            memcpy(L, Lc, (size_t)n);
            best = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *neg_min = -min;
    return scale;
}

/* Quantizes nsub sub-block scales (>= 0) to 0..qmax against one super-scale; returns the super-scale. */
static float quantize_sub_scales(const float *v, int nsub, int qmax, uint8_t *q)
{
    float vmax = 0;
    for (int j = 0; j < nsub; j++)
        if (v[j] > vmax)
            vmax = v[j];
    float inv = vmax > 0 ? qmax / vmax : 0.0f;
    for (int j = 0; j < nsub; j++)
        q[j] = (uint8_t)lc_clampi(lc_nearest(inv * v[j]), 0, qmax);
    return vmax / qmax;
}

/* ============================================ Q2_K ============================================
 * {u8 scales[16], u8 qs[64], half d, half dmin} = 84 bytes, 2.625 bits per weight.
 * 16 sub-blocks of 16 elements; scales[s] low nibble = sc[s] (0..15), high nibble = m[s] (0..15).
 * q[e] (0..3) for e = 128*h + 32*g + l (h = 0..1, g = 0..3, l = 0..31) is bits 2g..2g+1 of qs[32*h + l].
 * x[e] = (d * sc[e/16]) * q[e] - (dmin * m[e/16]).
 */
static void unpack_q2_K(const lc_block_q2_K *b, uint8_t q[LC_QK_K])
{
    for (int e = 0; e < LC_QK_K; e++) {
        int h = e / 128, g = (e % 128) / 32, l = e % 32;
        q[e] = (uint8_t)((b->qs[32 * h + l] >> (2 * g)) & 3);
    }
}

void lc_q2_K_to_float(const void *x, float *y, int64_t n)
{
    const lc_block_q2_K *b = x;
    uint8_t q[LC_QK_K];
    for (int64_t i = 0; i < n / LC_QK_K; i++, y += LC_QK_K) {
        float d = lc_half_to_f32(b[i].d), dmin = lc_half_to_f32(b[i].dmin);
        unpack_q2_K(&b[i], q);
        for (int e = 0; e < LC_QK_K; e++) {
            uint8_t sc = b[i].scales[e / 16];
            float dl = d * (float)(sc & 0x0f), ml = dmin * (float)(sc >> 4);
            y[e] = dl * (float)q[e] - ml;
        }
    }
}

void lc_q2_K_from_float(const float *x, void *y, int64_t n)
{
    lc_block_q2_K *b = y;
    uint8_t L[LC_QK_K], qsc[16], qmn[16];
    float scales[16], mins[16], w[16];
    for (int64_t i = 0; i < n / LC_QK_K; i++, x += LC_QK_K) {
        for (int s = 0; s < 16; s++) {
            for (int l = 0; l < 16; l++)
                w[l] = fabsf(x[16 * s + l]);
            scales[s] = scale_min_search(16, 3, x + 16 * s, w, L + 16 * s, &mins[s], -0.5f, 0.1f, 15, 1);
        }
        float d = quantize_sub_scales(scales, 16, 15, qsc);
        float dmin = quantize_sub_scales(mins, 16, 15, qmn);
        b[i].d = lc_f32_to_half(d);
        b[i].dmin = lc_f32_to_half(dmin);
        d = lc_half_to_f32(b[i].d);
        dmin = lc_half_to_f32(b[i].dmin);
        for (int s = 0; s < 16; s++) {
            b[i].scales[s] = (uint8_t)(qsc[s] | qmn[s] << 4);
            float ds = d * qsc[s];
            if (!(ds != 0.0f)) /* zero (keep the search's levels: they multiply 0) */
                continue;
            float ms = dmin * qmn[s];
            for (int l = 0; l < 16; l++)
                L[16 * s + l] = (uint8_t)lc_clampi(lc_nearest((x[16 * s + l] + ms) / ds), 0, 3);
        }
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                const uint8_t *c = L + 128 * h + l;
                b[i].qs[32 * h + l] = (uint8_t)(c[0] | c[32] << 2 | c[64] << 4 | c[96] << 6);
            }
    }
}

float lc_q2_K_vec_dot(int64_t n, const void *w, const void *a)
{
    const lc_block_q2_K *x = w;
    const lc_block_q8_K *y = a;
    uint8_t q[LC_QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / LC_QK_K; i++) {
        unpack_q2_K(&x[i], q);
        int32_t isum = 0, msum = 0;
        for (int s = 0; s < 16; s++) {
            int32_t sub = 0;
            for (int l = 0; l < 16; l++)
                sub += q[16 * s + l] * y[i].qs[16 * s + l];
            isum += (x[i].scales[s] & 0x0f) * sub;
            msum += (x[i].scales[s] >> 4) * y[i].bsums[s];
        }
        float d = lc_half_to_f32(x[i].d) * y[i].d, dmin = lc_half_to_f32(x[i].dmin) * y[i].d;
        sum += d * (float)isum - dmin * (float)msum;
    }
    return sum;
}

/* ================================ Q4_K / Q5_K 6-bit scale packing ================================
 * 8 sub-blocks of 32 elements, each with a 6-bit scale sc[s] and a 6-bit min m[s], packed into 12 bytes:
 *   s = 0..3: sc[s] = bits 0..5 of scales[s];        m[s] = bits 0..5 of scales[s+4]
 *   s = 4..7: sc[s] = (scales[s+4] & 15) | (scales[s-4] >> 6) << 4
 *             m[s]  = (scales[s+4] >> 4) | (scales[s]   >> 6) << 4
 * i.e. bytes 0..3 hold sc[0..3] plus the top 2 bits of sc[4..7], bytes 4..7 hold m[0..3] plus the top 2 bits
 * of m[4..7], and bytes 8..11 hold the low nibbles of sc[4..7] (low) and m[4..7] (high).
 */
static void k4_scales_get(const uint8_t s[LC_K_SCALE_SIZE], uint8_t sc[8], uint8_t m[8])
{
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        m[j] = s[j + 4] & 63;
    }
    for (int j = 4; j < 8; j++) {
        sc[j] = (uint8_t)((s[j + 4] & 0x0f) | (s[j - 4] >> 6) << 4);
        m[j] = (uint8_t)((s[j + 4] >> 4) | (s[j] >> 6) << 4);
    }
}

static void k4_scales_put(uint8_t s[LC_K_SCALE_SIZE], const uint8_t sc[8], const uint8_t m[8])
{
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)((m[j] & 63) | (m[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 0x0f) | (m[j + 4] & 0x0f) << 4);
    }
}

/* The Q4_K/Q5_K quantizer up to the levels: per sub-block search with weights av + |x| (av = RMS of the
 * sub-block), 6-bit scales/mins, then every level recomputed with the stored scales (0..nmax). */
static void k4_quantize_levels(const float *x, int nmax, float rmin, int nstep, uint8_t L[LC_QK_K],
                               uint8_t scales_out[LC_K_SCALE_SIZE], lc_half *d_out, lc_half *dmin_out)
{
    float scales[8], mins[8], w[32];
    uint8_t qsc[8], qmn[8];
    for (int s = 0; s < 8; s++) {
        const float *v = x + 32 * s;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += v[l] * v[l];
        float av = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            w[l] = av + fabsf(v[l]);
        scales[s] = scale_min_search(32, nmax, v, w, L + 32 * s, &mins[s], rmin, 0.1f, nstep, 0);
    }
    float d = quantize_sub_scales(scales, 8, 63, qsc);
    float dmin = quantize_sub_scales(mins, 8, 63, qmn);
    k4_scales_put(scales_out, qsc, qmn);
    *d_out = lc_f32_to_half(d);
    *dmin_out = lc_f32_to_half(dmin);
    d = lc_half_to_f32(*d_out);
    dmin = lc_half_to_f32(*dmin_out);
    for (int s = 0; s < 8; s++) {
        float ds = d * qsc[s];
        if (!(ds != 0.0f))
            continue;
        float ms = dmin * qmn[s];
        for (int l = 0; l < 32; l++)
            L[32 * s + l] = (uint8_t)lc_clampi(lc_nearest((x[32 * s + l] + ms) / ds), 0, nmax);
    }
}

/* ============================================ Q4_K ============================================
 * {half d, half dmin, u8 scales[12], u8 qs[128]} = 144 bytes, 4.5 bits per weight.
 * q[e] (0..15) for e = 64*c + l (c = 0..3, l = 0..63): low nibble of qs[32*c + l] if l < 32, else the high
 * nibble of qs[32*c + l - 32]. Sub-block s = e/32 (so sub-blocks 2c and 2c+1 share the bytes of chunk c).
 * x[e] = (d * sc[s]) * q[e] - (dmin * m[s]).
 */
static void unpack_q4_K(const lc_block_q4_K *b, uint8_t q[LC_QK_K])
{
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            q[64 * c + l] = b->qs[32 * c + l] & 0x0f;
            q[64 * c + 32 + l] = b->qs[32 * c + l] >> 4;
        }
}

void lc_q4_K_to_float(const void *x, float *y, int64_t n)
{
    const lc_block_q4_K *b = x;
    uint8_t q[LC_QK_K], sc[8], m[8];
    for (int64_t i = 0; i < n / LC_QK_K; i++, y += LC_QK_K) {
        float d = lc_half_to_f32(b[i].d), dmin = lc_half_to_f32(b[i].dmin);
        k4_scales_get(b[i].scales, sc, m);
        unpack_q4_K(&b[i], q);
        for (int s = 0; s < 8; s++) {
            float ds = d * (float)sc[s], ms = dmin * (float)m[s];
            for (int l = 0; l < 32; l++)
                y[32 * s + l] = ds * (float)q[32 * s + l] - ms;
        }
    }
}

void lc_q4_K_from_float(const float *x, void *y, int64_t n)
{
    lc_block_q4_K *b = y;
    uint8_t L[LC_QK_K];
    for (int64_t i = 0; i < n / LC_QK_K; i++, x += LC_QK_K) {
        k4_quantize_levels(x, 15, -1.0f, 20, L, b[i].scales, &b[i].d, &b[i].dmin);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
    }
}

/* Shared by Q4_K and Q5_K: the dot of unpacked levels with a Q8_K block. */
static float k4_block_dot(const uint8_t q[LC_QK_K], const uint8_t sc[8], const uint8_t m[8], lc_half d,
                          lc_half dmin, const lc_block_q8_K *a)
{
    int32_t isum = 0, msum = 0;
    for (int s = 0; s < 8; s++) {
        int32_t sub = 0;
        for (int l = 0; l < 32; l++)
            sub += q[32 * s + l] * a->qs[32 * s + l];
        isum += sc[s] * sub;
        msum += m[s] * (a->bsums[2 * s] + a->bsums[2 * s + 1]);
    }
    float dd = lc_half_to_f32(d) * a->d, dm = lc_half_to_f32(dmin) * a->d;
    return dd * (float)isum - dm * (float)msum;
}

float lc_q4_K_vec_dot(int64_t n, const void *w, const void *a)
{
    const lc_block_q4_K *x = w;
    const lc_block_q8_K *y = a;
    uint8_t q[LC_QK_K], sc[8], m[8];
    float sum = 0;
    for (int64_t i = 0; i < n / LC_QK_K; i++) {
        k4_scales_get(x[i].scales, sc, m);
        unpack_q4_K(&x[i], q);
        sum += k4_block_dot(q, sc, m, x[i].d, x[i].dmin, &y[i]);
    }
    return sum;
}

/* ============================================ Q5_K ============================================
 * {half d, half dmin, u8 scales[12], u8 qh[32], u8 qs[128]} = 176 bytes, 5.5 bits per weight.
 * Low 4 bits of q[e] exactly as Q4_K; the fifth bit of e is bit (e/32) of qh[e % 32].
 * q in 0..31; x[e] = (d * sc[s]) * q[e] - (dmin * m[s]), s = e/32, scales packed as Q4_K.
 */
static void unpack_q5_K(const lc_block_q5_K *b, uint8_t q[LC_QK_K])
{
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            int e0 = 64 * c + l, e1 = e0 + 32;
            q[e0] = (uint8_t)((b->qs[32 * c + l] & 0x0f) | ((b->qh[l] >> (e0 / 32)) & 1) << 4);
            q[e1] = (uint8_t)((b->qs[32 * c + l] >> 4) | ((b->qh[l] >> (e1 / 32)) & 1) << 4);
        }
}

void lc_q5_K_to_float(const void *x, float *y, int64_t n)
{
    const lc_block_q5_K *b = x;
    uint8_t q[LC_QK_K], sc[8], m[8];
    for (int64_t i = 0; i < n / LC_QK_K; i++, y += LC_QK_K) {
        float d = lc_half_to_f32(b[i].d), dmin = lc_half_to_f32(b[i].dmin);
        k4_scales_get(b[i].scales, sc, m);
        unpack_q5_K(&b[i], q);
        for (int s = 0; s < 8; s++) {
            float ds = d * (float)sc[s], ms = dmin * (float)m[s];
            for (int l = 0; l < 32; l++)
                y[32 * s + l] = ds * (float)q[32 * s + l] - ms;
        }
    }
}

void lc_q5_K_from_float(const float *x, void *y, int64_t n)
{
    lc_block_q5_K *b = y;
    uint8_t L[LC_QK_K];
    for (int64_t i = 0; i < n / LC_QK_K; i++, x += LC_QK_K) {
        k4_quantize_levels(x, 31, -0.5f, 15, L, b[i].scales, &b[i].d, &b[i].dmin);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int e0 = 64 * c + l, e1 = e0 + 32;
                b[i].qs[32 * c + l] = (uint8_t)((L[e0] & 0x0f) | (L[e1] & 0x0f) << 4);
                b[i].qh[l] |= (uint8_t)((L[e0] >> 4) << (e0 / 32) | (L[e1] >> 4) << (e1 / 32));
            }
    }
}

float lc_q5_K_vec_dot(int64_t n, const void *w, const void *a)
{
    const lc_block_q5_K *x = w;
    const lc_block_q8_K *y = a;
    uint8_t q[LC_QK_K], sc[8], m[8];
    float sum = 0;
    for (int64_t i = 0; i < n / LC_QK_K; i++) {
        k4_scales_get(x[i].scales, sc, m);
        unpack_q5_K(&x[i], q);
        sum += k4_block_dot(q, sc, m, x[i].d, x[i].dmin, &y[i]);
    }
    return sum;
}
