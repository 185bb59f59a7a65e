/*
 * ref_kquants_sym.c — scalar reference for the symmetric K-quants (no per-sub-block min): Q3_K, Q6_K, and
 * Q8_K, the activation type every K-quant weight is multiplied with. See ref_kquants.c for the K-quant
 * conventions (256-element super-blocks, ggml's layouts and float order) and docs/QUANT_FORMATS.md.
 *
 * Values are x[e] = (d * sc[s]) * q[e] with signed q and signed integer sub-block scales sc[s]; s = e/16.
 * Dot products with Q8_K: per super-block isum = sum_s sc[s] * sum_{e in s} q[e]*a_q[e] (exact integers),
 * then sum += (d * a_d) * isum in float, in super-block order.
 */
#include <math.h>
#include <string.h>

#include "kernels/quant_ref.h"
#include "kernels/ref_util.h"

#define GROUP_EPS 1e-15f /* below this a group counts as all zero */

/* Index and value of the element of largest magnitude (signed); returns its magnitude. */
static float signed_max(const float *x, int n, float *max)
{
    float amax = 0;
    *max = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            *max = x[i];
        }
    return amax;
}

/*
 * Signed-level search used by Q6_K: x[i] ~ scale * l[i], l in -nmax..nmax-1 (stored as l + nmax in L),
 * weights x[i]^2. The element of largest magnitude is mapped to -nmax; then 18 nearby inverse scales
 * -(nmax + k/10)/max (k = -9..9) are tried and the one with the best weighted least-squares fit
 * (largest sum(w x l)^2 / sum(w l^2)) is kept, with scale = sum(w x l) / sum(w l^2).
 */
static float signed_scale_search(int n, int nmax, const float *x, int8_t *L)
{
    float max;
    if (signed_max(x, n, &max) < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float best_scale = 0, best = -1;
    for (int k = 0; k <= 18; k++) {
        int step = k == 0 ? 0 : k <= 9 ? -k : k - 9; /* 0 first, then -1..-9, 1..9 */
        float is = -(nmax + 0.1f * step) / max;
        float slx = 0, sl2 = 0;
        for (int i = 0; i < n; i++) {
            int l = lc_clampi(lc_nearest(is * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            slx += w * x[i] * l;
            sl2 += w * l * l;
        }
        if (!(sl2 > 0))
            continue;
        if (best < 0 || slx * slx > best * sl2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + lc_clampi(lc_nearest(is * x[i]), -nmax, nmax - 1));
            best_scale = slx / sl2;
            best = best_scale * slx;
        }
    }
    if (best < 0) { /* no usable candidate (NaN input): all levels at zero */
        memset(L, nmax, (size_t)n);
        return 0.0f;
    }
    return best_scale;
}

/*
 * Level search used by Q3_K: l in -nmax..nmax-1, weights x^2. Start from the grid that maps the largest
 * magnitude to -nmax, then up to 5 passes of coordinate descent: move each l[i] to the level that best fits
 * the scale implied by the others, keeping a move only if it raises sum(w x l)^2 / sum(w l^2).
 * Returns scale = sum(w x l) / sum(w l^2); L gets l + nmax.
 */
static float q3_level_search(int n, int nmax, const float *x, int8_t *L)
{
    float max;
    if (signed_max(x, n, &max) < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float is = -nmax / max;
    float slx = 0, sl2 = 0;
    for (int i = 0; i < n; i++) {
        int l = lc_clampi(lc_nearest(is * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        slx += w * x[i] * l;
        sl2 += w * l * l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx_o = slx - w * x[i] * L[i];
            if (!(slx_o > 0))
                continue;
            float sl2_o = sl2 - w * L[i] * L[i];
            int nl = lc_clampi(lc_nearest(x[i] * sl2_o / slx_o), -nmax, nmax - 1);
            if (nl == L[i])
                continue;
            float slx_n = slx_o + w * x[i] * nl, sl2_n = sl2_o + w * nl * nl;
            if (sl2_n > 0 && slx_n * slx_n * sl2 > slx * slx * sl2_n) {
                L[i] = (int8_t)nl;
                slx = slx_n;
                sl2 = sl2_n;
                changed++;
            }
        }
        if (!changed)
            break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return sl2 > 0 ? slx / sl2 : 0.0f;
}

/* ============================================ Q3_K ============================================
 * {u8 hmask[32], u8 qs[64], u8 scales[12], half d} = 110 bytes, 3.4375 bits per weight.
 * Element e = 128*h + 32*g + l (h = 0..1, g = 0..3, l = 0..31):
 *   low 2 bits: bits 2g..2g+1 of qs[32*h + l]        high bit: bit (e/32) of hmask[l]
 *   q[e] = low - (high ? 0 : 4), in -4..3   (a CLEAR high bit subtracts 4)
 * 16 sub-blocks of 16 with 6-bit scales sc[s] (stored + 32, so sc in -32..31), packed into 12 bytes:
 *   low 4 bits of sc[s]+32: s < 8: scales[s] & 15;  s >= 8: scales[s-8] >> 4
 *   high 2 bits:            (scales[8 + s%4] >> (2*(s/4))) & 3
 * x[e] = (d * sc[e/16]) * q[e].
 */
static void q3_scales_get(const uint8_t p[12], int sc[16])
{
    for (int s = 0; s < 16; s++) {
        int lo = s < 8 ? p[s] & 0x0f : p[s - 8] >> 4;
        int hi = (p[8 + s % 4] >> (2 * (s / 4))) & 3;
        sc[s] = (lo | hi << 4) - 32;
    }
}

static void q3_scales_put(uint8_t p[12], const int sc[16])
{
    memset(p, 0, 12);
    for (int s = 0; s < 16; s++) {
        int v = sc[s] + 32; /* 0..63 */
        if (s < 8)
            p[s] |= (uint8_t)(v & 0x0f);
        else
            p[s - 8] |= (uint8_t)((v & 0x0f) << 4);
        p[8 + s % 4] |= (uint8_t)((v >> 4) << (2 * (s / 4)));
    }
}

static void unpack_q3_K(const lc_block_q3_K *b, int8_t q[LC_QK_K])
{
    for (int e = 0; e < LC_QK_K; e++) {
        int h = e / 128, g = (e % 128) / 32, l = e % 32;
        int low = (b->qs[32 * h + l] >> (2 * g)) & 3;
        int high = (b->hmask[l] >> (e / 32)) & 1;
        q[e] = (int8_t)(low - (high ? 0 : 4));
    }
}

void lc_q3_K_to_float(const void *x, float *y, int64_t n)
{
    const lc_block_q3_K *b = x;
    int8_t q[LC_QK_K];
    int sc[16];
    for (int64_t i = 0; i < n / LC_QK_K; i++, y += LC_QK_K) {
        float d = lc_half_to_f32(b[i].d);
        q3_scales_get(b[i].scales, sc);
        unpack_q3_K(&b[i], q);
        for (int s = 0; s < 16; s++) {
            float dl = d * (float)sc[s];
            for (int l = 0; l < 16; l++)
                y[16 * s + l] = dl * (float)q[16 * s + l];
        }
    }
}

void lc_q3_K_from_float(const float *x, void *y, int64_t n)
{
    lc_block_q3_K *b = y;
    int8_t L[LC_QK_K];
    float scales[16];
    int sc[16];
    for (int64_t i = 0; i < n / LC_QK_K; i++, x += LC_QK_K) {
        for (int s = 0; s < 16; s++)
            scales[s] = q3_level_search(16, 4, x + 16 * s, L + 16 * s);
        float max_scale;
        signed_max(scales, 16, &max_scale);
        if (max_scale != 0.0f) {
            /* the sub-block scale of largest magnitude maps to -32 */
            float is = -32.0f / max_scale;
            for (int s = 0; s < 16; s++)
                sc[s] = lc_clampi(lc_nearest(is * scales[s]), -32, 31);
            b[i].d = lc_f32_to_half(1.0f / is);
        } else {
            for (int s = 0; s < 16; s++)
                sc[s] = 0;
            b[i].d = lc_f32_to_half(0.0f);
        }
        q3_scales_put(b[i].scales, sc);
        float d = lc_half_to_f32(b[i].d);
        for (int s = 0; s < 16; s++) {
            float ds = d * sc[s];
            if (!(ds != 0.0f))
                continue;
            for (int l = 0; l < 16; l++)
                L[16 * s + l] = (int8_t)(lc_clampi(lc_nearest(x[16 * s + l] / ds), -4, 3) + 4);
        }
        /* L is now 0..7: bit 2 goes to hmask, bits 0..1 to qs */
        memset(b[i].hmask, 0, sizeof b[i].hmask);
        for (int e = 0; e < LC_QK_K; e++)
            if (L[e] > 3)
                b[i].hmask[e % 32] |= (uint8_t)(1u << (e / 32));
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                const int8_t *c = L + 128 * h + l;
                b[i].qs[32 * h + l] = (uint8_t)((c[0] & 3) | (c[32] & 3) << 2 | (c[64] & 3) << 4 | (c[96] & 3) << 6);
            }
    }
}

float lc_q3_K_vec_dot(int64_t n, const void *w, const void *a)
{
    const lc_block_q3_K *x = w;
    const lc_block_q8_K *y = a;
    int8_t q[LC_QK_K];
    int sc[16];
    float sum = 0;
    for (int64_t i = 0; i < n / LC_QK_K; i++) {
        q3_scales_get(x[i].scales, sc);
        unpack_q3_K(&x[i], q);
        int32_t isum = 0;
        for (int s = 0; s < 16; s++) {
            int32_t sub = 0;
            for (int l = 0; l < 16; l++)
                sub += q[16 * s + l] * y[i].qs[16 * s + l];
            isum += sc[s] * sub;
        }
        sum += (lc_half_to_f32(x[i].d) * y[i].d) * (float)isum;
    }
    return sum;
}

/* ============================================ Q6_K ============================================
 * {u8 ql[128], u8 qh[64], i8 scales[16], half d} = 210 bytes, 6.5625 bits per weight.
 * Element e = 128*h + 32*g + l (h = 0..1, g = 0..3, l = 0..31):
 *   low 4 bits: ql[64*h + 32*(g & 1) + l], low nibble for g < 2, high nibble for g >= 2
 *   high 2 bits: bits 2g..2g+1 of qh[32*h + l]
 *   q[e] = (low | high << 4) - 32, in -32..31
 * 16 sub-blocks of 16 with int8 scales; x[e] = (d * scales[e/16]) * q[e].
 */
static void unpack_q6_K(const lc_block_q6_K *b, int8_t q[LC_QK_K])
{
    for (int e = 0; e < LC_QK_K; e++) {
        int h = e / 128, g = (e % 128) / 32, l = e % 32;
        uint8_t lb = b->ql[64 * h + 32 * (g & 1) + l];
        int low = g < 2 ? lb & 0x0f : lb >> 4;
        int high = (b->qh[32 * h + l] >> (2 * g)) & 3;
        q[e] = (int8_t)((low | high << 4) - 32);
    }
}

void lc_q6_K_to_float(const void *x, float *y, int64_t n)
{
    const lc_block_q6_K *b = x;
    int8_t q[LC_QK_K];
    for (int64_t i = 0; i < n / LC_QK_K; i++, y += LC_QK_K) {
        float d = lc_half_to_f32(b[i].d);
        unpack_q6_K(&b[i], q);
        for (int e = 0; e < LC_QK_K; e++)
            y[e] = d * (float)b[i].scales[e / 16] * (float)q[e];
    }
}

void lc_q6_K_from_float(const float *x, void *y, int64_t n)
{
    lc_block_q6_K *b = y;
    int8_t L[LC_QK_K];
    float scales[16];
    for (int64_t i = 0; i < n / LC_QK_K; i++, x += LC_QK_K) {
        for (int s = 0; s < 16; s++)
            scales[s] = signed_scale_search(16, 32, x + 16 * s, L + 16 * s);
        float max_scale;
        memset(&b[i], 0, sizeof b[i]);
        if (signed_max(scales, 16, &max_scale) < GROUP_EPS) {
            b[i].d = lc_f32_to_half(0.0f); /* all-zero block; levels 0 = -32 times scale 0 */
            continue;
        }
        /* the sub-block scale of largest magnitude maps to -128 */
        float is = -128.0f / max_scale;
        b[i].d = lc_f32_to_half(1.0f / is);
        for (int s = 0; s < 16; s++)
            b[i].scales[s] = (int8_t)lc_clampi(lc_nearest(is * scales[s]), -128, 127);
        float d = lc_half_to_f32(b[i].d);
        for (int s = 0; s < 16; s++) {
            float ds = d * b[i].scales[s];
            if (!(ds != 0.0f))
                continue;
            for (int l = 0; l < 16; l++)
                L[16 * s + l] = (int8_t)(lc_clampi(lc_nearest(x[16 * s + l] / ds), -32, 31) + 32);
        }
        for (int e = 0; e < LC_QK_K; e++) {
            int h = e / 128, g = (e % 128) / 32, l = e % 32;
            int v = (uint8_t)L[e];
            b[i].ql[64 * h + 32 * (g & 1) + l] |= (uint8_t)(g < 2 ? v & 0x0f : (v & 0x0f) << 4);
            b[i].qh[32 * h + l] |= (uint8_t)(((v >> 4) & 3) << (2 * g));
        }
    }
}

float lc_q6_K_vec_dot(int64_t n, const void *w, const void *a)
{
    const lc_block_q6_K *x = w;
    const lc_block_q8_K *y = a;
    int8_t q[LC_QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / LC_QK_K; i++) {
        unpack_q6_K(&x[i], q);
        int32_t isum = 0;
        for (int s = 0; s < 16; s++) {
            int32_t sub = 0;
            for (int l = 0; l < 16; l++)
                sub += q[16 * s + l] * y[i].qs[16 * s + l];
            isum += x[i].scales[s] * sub;
        }
        sum += (lc_half_to_f32(x[i].d) * y[i].d) * (float)isum;
    }
    return sum;
}

/* ============================================ Q8_K ============================================
 * {f32 d, i8 qs[256], i16 bsums[16]} = 292 bytes. Activations only (no vec_dot of its own).
 * x[e] = d * qs[e]; bsums[s] = sum of qs[16*s .. 16*s+15] (lets min-carrying weights skip a pass).
 * Quantization: the element of largest magnitude maps to -127 (d = max / -127), the others round to
 * nearest even and clamp to -127..127; an all-zero block has d = 0.
 */
void lc_q8_K_to_float(const void *x, float *y, int64_t n)
{
    const lc_block_q8_K *b = x;
    for (int64_t i = 0; i < n / LC_QK_K; i++, y += LC_QK_K)
        for (int e = 0; e < LC_QK_K; e++)
            y[e] = b[i].d * (float)b[i].qs[e];
}

void lc_q8_K_from_float(const float *x, void *y, int64_t n)
{
    lc_block_q8_K *b = y;
    for (int64_t i = 0; i < n / LC_QK_K; i++, x += LC_QK_K) {
        float max;
        float amax = signed_max(x, LC_QK_K, &max);
        if (!(amax != 0.0f)) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        float is = -127.0f / max;
        for (int e = 0; e < LC_QK_K; e++)
            b[i].qs[e] = (int8_t)lc_clampi(lc_nearest(is * x[e]), -127, 127);
        for (int s = 0; s < 16; s++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += b[i].qs[16 * s + l];
            b[i].bsums[s] = (int16_t)sum;
        }
        b[i].d = 1.0f / is;
    }
}
