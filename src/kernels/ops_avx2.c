/*
 * ops_avx2.c — AVX2 per-token operations: RMSNorm, SwiGLU, attention and the vectorized exp. Each performs
 * exactly the operations of its ops_avx512.c counterpart (see the description there), a 16-lane vector being
 * two 8-lane halves, so both tables give identical results. Attention reads K and V through the paged view
 * (lc_kv_view), 16 positions at a time in position order.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/ops_ref.h"

#define AINL static inline __attribute__((always_inline))

AINL __m256 exp8(__m256 x)
{
    x = _mm256_max_ps(_mm256_set1_ps(-104.0f), x);
    x = _mm256_min_ps(_mm256_set1_ps(89.0f), x);
    __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693147182464599609375f), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-1.904654323148236e-09f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i ki = _mm256_cvtps_epi32(k);
    __m256i k1 = _mm256_srai_epi32(ki, 1);
    __m256i k2 = _mm256_sub_epi32(ki, k1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k1, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k2, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

AINL float hsum16(__m256 lo, __m256 hi)
{
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    __m128 s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2));
    return _mm_cvtss_f32(s1);
}

/* 8 floats from x[i..] with zeros past n */
AINL __m256 load8(const float *x, int64_t i, int64_t n)
{
    if (n - i >= 8)
        return _mm256_loadu_ps(x + i);
    float t[8] = {0};
    if (n > i)
        memcpy(t, x + i, (size_t)(n - i) * 4);
    return _mm256_loadu_ps(t);
}

/* 8 floats from x[i..] with `fill` past n */
AINL __m256 load8_fill(const float *x, int64_t i, int64_t n, float fill)
{
    if (n - i >= 8)
        return _mm256_loadu_ps(x + i);
    float t[8];
    for (int e = 0; e < 8; e++)
        t[e] = i + e < n ? x[i + e] : fill;
    return _mm256_loadu_ps(t);
}

AINL void store8(float *y, int64_t i, int64_t n, __m256 v)
{
    if (n - i >= 8) {
        _mm256_storeu_ps(y + i, v);
        return;
    }
    float t[8];
    _mm256_storeu_ps(t, v);
    if (n > i)
        memcpy(y + i, t, (size_t)(n - i) * 4);
}

void lc_avx2_exp(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i += 8)
        store8(y, i, n, exp8(load8(x, i, n)));
}

static void rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps)
{
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    for (int64_t i = 0; i < n; i += 8) {
        __m256 v = load8(x, i, n);
        __m256d a = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), b = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        lo = _mm256_fmadd_pd(a, a, lo);
        hi = _mm256_fmadd_pd(b, b, hi);
    }
    __m256d s4 = _mm256_add_pd(lo, hi);
    __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
    double ss = _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
    float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    __m256 vs = _mm256_set1_ps(scale);
    for (int64_t i = 0; i < n; i += 8)
        store8(y, i, n, _mm256_mul_ps(_mm256_mul_ps(load8(x, i, n), vs), load8(w, i, n)));
}

static void swiglu(float *h, const float *g, const float *u, int64_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 8) {
        __m256 gv = load8(g, i, n);
        __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), gv));
        store8(h, i, n, _mm256_mul_ps(_mm256_div_ps(gv, _mm256_add_ps(one, e)), load8(u, i, n)));
    }
}

/* 8 elements i.. (i + 8 <= head_dim) of a KV row (f32 or f16) as f32 */
AINL __m256 kv_load8_full(const char *row, int kv_f16, int i)
{
    if (kv_f16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
    return _mm256_loadu_ps((const float *)row + i);
}

/* 8 elements i.. of a KV row (f32 or f16) as f32, zeros past head_dim */
AINL __m256 kv_load8(const char *row, int kv_f16, int hd, int i)
{
    if (hd - i >= 8)
        return kv_load8_full(row, kv_f16, i);
    float t[8] = {0};
    for (int e = 0; e < 8 && i + e < hd; e++)
        t[e] = kv_f16 ? _cvtsh_ss(((const uint16_t *)row)[i + e]) : ((const float *)row)[i + e];
    return _mm256_loadu_ps(t);
}

/* Asks for bytes at p in L1. */
AINL void prefetch_rows(const char *p, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch(p + o, _MM_HINT_T0);
}

/* The loops below visit positions in groups of 16 (a group never straddles a block: blocks are powers of two
 * >= 16). group_rows returns the row of position jg (a multiple of 16) in base (view k or v) and, if pf, prefetches
 * the same 16 rows of the next block, as in ops_avx512.c: the hardware prefetchers do not see the next block
 * coming. Only the first pass over V prefetches (the others find the rows in cache). */
AINL const char *group_rows(const lc_kv_view *kv, const char *base, int64_t jg, int n_pos, size_t rb, int pf)
{
    const int64_t bs = (int64_t)1 << kv->block_log2;
    if (pf && jg + bs < n_pos)
        prefetch_rows(base + lc_kv_row_offset(kv, jg + bs, rb), 16 * rb);
    return base + lc_kv_row_offset(kv, jg, rb);
}

static void attention(float *out, const float *q, int n_q, const lc_kv_view *kv, int n_pos, int head_dim,
                      float *scores)
{
    if (n_q > 16) { /* heads are independent: split so the per-head arrays below stay small */
        attention(out, q, 16, kv, n_pos, head_dim, scores);
        attention(out + (int64_t)16 * head_dim, q + (int64_t)16 * head_dim, n_q - 16, kv, n_pos, head_dim,
                  scores + (int64_t)16 * n_pos);
        return;
    }
    const float scale = 1.0f / sqrtf((float)head_dim);
    const int hd = head_dim, n16 = (hd + 15) / 16, kv_f16 = kv->f16;
    const size_t rb = (size_t)hd * (kv_f16 ? 2 : 4);
    /* scores: one pass over K for all heads */
    if (hd % 16 == 0 && hd <= 128) { /* the common head sizes: K row chunks in registers, no tails */
        for (int64_t jg = 0; jg < n_pos; jg += 16) {
            const int64_t je = jg + 16 < n_pos ? jg + 16 : n_pos;
            const char *kr_row = group_rows(kv, kv->k, jg, n_pos, rb, 1);
            for (int64_t j = jg; j < je; j++, kr_row += rb) {
                __m256 kr[16];
                for (int c = 0; c < hd / 8; c++)
                    kr[c] = kv_load8_full(kr_row, kv_f16, 8 * c);
                for (int h = 0; h < n_q; h++) {
                    const float *qh = q + (int64_t)h * hd;
                    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
                    for (int c = 0; c < hd / 16; c++) {
                        lo = _mm256_fmadd_ps(_mm256_loadu_ps(qh + 16 * c), kr[2 * c], lo);
                        hi = _mm256_fmadd_ps(_mm256_loadu_ps(qh + 16 * c + 8), kr[2 * c + 1], hi);
                    }
                    scores[(int64_t)h * n_pos + j] = hsum16(lo, hi) * scale;
                }
            }
        }
    } else {
        for (int64_t jg = 0; jg < n_pos; jg += 16) {
            const int64_t je = jg + 16 < n_pos ? jg + 16 : n_pos;
            const char *kr_row = group_rows(kv, kv->k, jg, n_pos, rb, 1);
            for (int64_t j = jg; j < je; j++, kr_row += rb) {
                for (int h = 0; h < n_q; h++) {
                    const float *qh = q + (int64_t)h * hd;
                    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
                    for (int c = 0; c < n16; c++) {
                        lo = _mm256_fmadd_ps(load8(qh, 16 * c, hd), kv_load8(kr_row, kv_f16, hd, 16 * c), lo);
                        hi = _mm256_fmadd_ps(load8(qh, 16 * c + 8, hd), kv_load8(kr_row, kv_f16, hd, 16 * c + 8), hi);
                    }
                    scores[(int64_t)h * n_pos + j] = hsum16(lo, hi) * scale;
                }
            }
        }
    }
    float inv[16];
    for (int h = 0; h < n_q; h++) { /* softmax of each head's scores, in place */
        float *s = scores + (int64_t)h * n_pos;
        __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
        for (int64_t j = 0; j < n_pos; j += 16) {
            m0 = _mm256_max_ps(load8_fill(s, j, n_pos, -INFINITY), m0); /* NaN scores are skipped */
            m1 = _mm256_max_ps(load8_fill(s, j + 8, n_pos, -INFINITY), m1);
        }
        __m256 m = _mm256_max_ps(m0, m1);
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const __m256 vmax = _mm256_set1_ps(_mm_cvtss_f32(m4));
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        for (int64_t j = 0; j < n_pos; j += 16) {
            for (int half = 0; half < 2; half++) {
                int64_t i = j + 8 * half;
                if (i >= n_pos)
                    break;
                __m256 p = exp8(_mm256_sub_ps(load8(s, i, n_pos), vmax));
                if (n_pos - i < 8) { /* zero the lanes past n_pos */
                    float t[8];
                    _mm256_storeu_ps(t, p);
                    for (int e = (int)(n_pos - i); e < 8; e++)
                        t[e] = 0.0f;
                    p = _mm256_loadu_ps(t);
                }
                store8(s, i, n_pos, p);
                if (half == 0)
                    s0 = _mm256_add_ps(s0, p);
                else
                    s1 = _mm256_add_ps(s1, p);
            }
        }
        inv[h] = 1.0f / hsum16(s0, s1);
    }
    /* values, in slabs of 64 elements (8 registers) of head_dim, 16 positions at a time for every head: V is
     * read from memory once for all heads (the group's rows stay in L1). Each head's accumulators wait in acc
     * between groups; storing and reloading an f32 changes nothing, so each head's sum runs over the positions in
     * order exactly as in ops_avx512.c. */
    float acc[16 * 64];
    for (int i0 = 0; i0 < hd; i0 += 64) {
        const int nc = (hd - i0 + 7) / 8 < 8 ? (hd - i0 + 7) / 8 : 8, full = hd % 8 == 0 && nc == 8;
        memset(acc, 0, sizeof(float) * 64 * (size_t)n_q);
        for (int64_t jg = 0; jg < n_pos; jg += 16) {
            const int64_t je = jg + 16 < n_pos ? jg + 16 : n_pos;
            const char *rows = group_rows(kv, kv->v, jg, n_pos, rb, i0 == 0);
            for (int h = 0; h < n_q; h++) {
                const float *s = scores + (int64_t)h * n_pos;
                __m256 o[8];
                for (int c = 0; c < 8; c++)
                    o[c] = _mm256_loadu_ps(acc + h * 64 + 8 * c);
                const char *vr = rows;
                if (full) { /* plain loads */
                    for (int64_t j = jg; j < je; j++, vr += rb) {
                        __m256 pj = _mm256_set1_ps(s[j]);
                        for (int c = 0; c < 8; c++)
                            o[c] = _mm256_fmadd_ps(pj, kv_load8_full(vr, kv_f16, i0 + 8 * c), o[c]);
                    }
                } else {
                    for (int64_t j = jg; j < je; j++, vr += rb) {
                        __m256 pj = _mm256_set1_ps(s[j]);
                        for (int c = 0; c < nc; c++)
                            o[c] = _mm256_fmadd_ps(pj, kv_load8(vr, kv_f16, hd, i0 + 8 * c), o[c]);
                    }
                }
                for (int c = 0; c < 8; c++)
                    _mm256_storeu_ps(acc + h * 64 + 8 * c, o[c]);
            }
        }
        for (int h = 0; h < n_q; h++)
            for (int c = 0; c < nc; c++)
                store8(out + (int64_t)h * hd, i0 + 8 * c, hd,
                       _mm256_mul_ps(_mm256_loadu_ps(acc + h * 64 + 8 * c), _mm256_set1_ps(inv[h])));
    }
}

/* lc_exp_shifted with 4 doubles per step: util/exp_nonpos.h's operations in its order (mul and add, never
 * fused), so the same bits */
static void exp_shifted(double *y, const float *x, int64_t n, double shift, double scale)
{
    const __m256d vs = _mm256_set1_pd(shift), vc = _mm256_set1_pd(scale), lim = _mm256_set1_pd(-708.0),
                  sh = _mm256_set1_pd(0x1.8p52);
#define C(v) _mm256_set1_pd(v)
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d v = _mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), vs), vc);
        const __m256d live = _mm256_cmp_pd(v, lim, _CMP_GT_OQ);
        v = _mm256_blendv_pd(lim, v, live);
        const __m256d t = _mm256_add_pd(_mm256_mul_pd(v, C(0x1.71547652b82fep0)), sh);
        const __m256d k = _mm256_sub_pd(t, sh);
        __m256d r = _mm256_sub_pd(v, _mm256_mul_pd(k, C(0x1.62e42fee00000p-1)));
        r = _mm256_sub_pd(r, _mm256_mul_pd(k, C(0x1.a39ef35793c76p-33)));
        const __m256d r2 = _mm256_mul_pd(r, r), r4 = _mm256_mul_pd(r2, r2), r8 = _mm256_mul_pd(r4, r4);
        const __m256d a0 = _mm256_add_pd(C(1.0), r), a1 = _mm256_add_pd(C(0.5), _mm256_mul_pd(r, C(1.0 / 6.0))),
                      a2 = _mm256_add_pd(C(1.0 / 24.0), _mm256_mul_pd(r, C(1.0 / 120.0))),
                      a3 = _mm256_add_pd(C(1.0 / 720.0), _mm256_mul_pd(r, C(1.0 / 5040.0))),
                      a4 = _mm256_add_pd(C(1.0 / 40320.0), _mm256_mul_pd(r, C(1.0 / 362880.0))),
                      a5 = _mm256_add_pd(C(1.0 / 3628800.0), _mm256_mul_pd(r, C(1.0 / 39916800.0))),
                      a6 = _mm256_add_pd(C(1.0 / 479001600.0), _mm256_mul_pd(r, C(1.0 / 6227020800.0)));
        const __m256d b0 = _mm256_add_pd(a0, _mm256_mul_pd(r2, a1)), b1 = _mm256_add_pd(a2, _mm256_mul_pd(r2, a3)),
                      b2 = _mm256_add_pd(a4, _mm256_mul_pd(r2, a5));
        const __m256d c0 = _mm256_add_pd(b0, _mm256_mul_pd(r4, b1)), c1 = _mm256_add_pd(b2, _mm256_mul_pd(r4, a6));
        const __m256d p = _mm256_add_pd(c0, _mm256_mul_pd(r8, c1));
        const __m256i b = _mm256_slli_epi64(_mm256_add_epi64(_mm256_castpd_si256(t), _mm256_set1_epi64x(1023)), 52);
        _mm256_storeu_pd(y + i, _mm256_and_pd(live, _mm256_mul_pd(p, _mm256_castsi256_pd(b))));
    }
#undef C
    lc_exp_shifted(y + i, x + i, n - i, shift, scale);
}

/* lc_argmax, 8 lanes (see ops_avx512.c), the tail in C after them */
static int64_t argmax(const float *x, int64_t n, float *max)
{
    __m256 vm = _mm256_set1_ps(-INFINITY);
    __m256i vi = _mm256_setzero_si256(), idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i step = _mm256_set1_epi32(8);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i), gt = _mm256_cmp_ps(v, vm, _CMP_GT_OQ);
        vm = _mm256_blendv_ps(vm, v, gt);
        vi = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(vi), _mm256_castsi256_ps(idx), gt));
        idx = _mm256_add_epi32(idx, step);
    }
    float lm[8];
    int32_t li[8];
    _mm256_storeu_ps(lm, vm);
    _mm256_storeu_si256((__m256i *)(void *)li, vi);
    float bl = -INFINITY;
    int64_t best = 0;
    for (int l = 0; l < 8; l++)
        if (lm[l] > bl || (lm[l] == bl && li[l] < best)) {
            bl = lm[l];
            best = li[l];
        }
    for (; i < n; i++)
        if (x[i] > bl) {
            bl = x[i];
            best = i;
        }
    *max = bl;
    return best;
}

void lc_init_ops_avx2(lc_kernels *k)
{
    k->argmax = argmax;
    k->exp_shifted = exp_shifted;
    k->rmsnorm = rmsnorm;
    k->swiglu = swiglu;
    k->attention = attention;
}
