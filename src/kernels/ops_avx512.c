/*
 * ops_avx512.c — AVX-512 per-token operations: RMSNorm, SwiGLU and attention, plus the vectorized exp they
 * use. Same signatures and meaning as the scalar references in core/ops.c; each is a pure function of its
 * inputs with a fixed order of operations per output, so results do not depend on batching or threads.
 * The AVX2 versions (ops_avx2.c) perform the same operations on two 8-lane halves and give identical results.
 *
 * exp16 (at most 0.92 ulp from the exact value over [-104, 89] as measured by tests/c/test_ops.c, which asserts
 * <= 2 ulp; NaN stays NaN, x > 88.73 gives +Inf, x < -103.9 gives +0):
 *     x clamped to [-104, 89];  k = rne(x * log2(e));  r = (x - k*ln2_hi) - k*ln2_lo  (two FMAs)
 *     p = sum_{i<=7} r^i / i!  (Horner, FMAs)        exp(x) = (p * 2^floor(k/2)) * 2^(k - floor(k/2))
 * The two-step scaling keeps both factors normal, so the one rounding happens in the last product, which
 * also produces correctly rounded subnormals.
 *
 * RMSNorm: sum of squares in double, 8 lanes (lane l takes elements 8i + l), lanes summed as (l, l+4),
 * (l, l+2), (l, l+1); then exactly the reference's scale and products.
 * Attention, per query head: score_j = hsum16(q . k_j, 16 lanes over head_dim, FMA) * scale; softmax with
 * max, p_j = exp(s_j - max), sum over 16 lanes of positions (lane = j mod 16) then hsum16; out = (sum_j p_j v_j,
 * FMA over j in order, lanes over head_dim) * (1 / sum). Query heads sharing a KV head are processed together
 * (one pass over K and V; scores in tiles of 4 heads x 4 positions, each K row converted once for the 4), which
 * changes nothing per head. K and V rows are read through the paged view
 * (lc_kv_view): only the addressing depends on the block layout, never the arithmetic or its order.
 */
#include <immintrin.h>
#include <math.h>

#include "kernels/kernels.h"

#define AINL static inline __attribute__((always_inline))

AINL __m512 exp16(__m512 x)
{
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x); /* max/min return the second operand for NaN: kept */
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693147182464599609375f), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-1.904654323148236e-09f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512i ki = _mm512_cvtps_epi32(k);
    __m512i k1 = _mm512_srai_epi32(ki, 1);
    __m512i k2 = _mm512_sub_epi32(ki, k1);
    __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(k1, _mm512_set1_epi32(127)), 23));
    __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(k2, _mm512_set1_epi32(127)), 23));
    return _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
}

AINL float hsum16(__m512 v)
{
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    __m128 s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2));
    return _mm_cvtss_f32(s1);
}

AINL __mmask16 tail_mask(int64_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
}

/* exported for the tests: y[i] = exp(x[i]) with exp16 */
void lc_avx512_exp(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, exp16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

static void rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps)
{
    __m512d acc = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i += 8) {
        __mmask8 m = n - i >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (n - i)) - 1u);
        __m512d v = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + i));
        acc = _mm512_fmadd_pd(v, v, acc); /* the product is exact in double: same as mul + add */
    }
    __m256d s4 = _mm256_add_pd(_mm512_castpd512_pd256(acc), _mm512_extractf64x4_pd(acc, 1));
    __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
    double ss = _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
    float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    __m512 vs = _mm512_set1_ps(scale);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vs);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i)));
    }
}

static void swiglu(float *h, const float *g, const float *u, int64_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 gv = _mm512_maskz_loadu_ps(m, g + i);
        __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), gv));
        __m512 s = _mm512_div_ps(gv, _mm512_add_ps(one, e));
        _mm512_mask_storeu_ps(h + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

/* ---- attention ---- */

/* chunk c of a KV row (16 elements, masked past head_dim) */
AINL __m512 kv_load(const char *row, int kv_f16, int c, __mmask16 m)
{
    if (kv_f16)
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + 16 * c));
    return _mm512_maskz_loadu_ps(m, (const float *)row + 16 * c);
}

/* Asks for bytes at p in L1. The kernels prefetch the rows they will read one block ahead: a block's rows of
 * one (layer, head) are only a few KiB and the next block is far away, so the hardware prefetchers miss the
 * start of every block (one core, 2048 positions over the 1B model's 16 x 8 KV heads: without this, paged
 * attention was up to 15% slower than the old contiguous cache; with it, as fast or faster; see
 * docs/PERFORMANCE.md). Prefetching changes no result. */
AINL void prefetch_rows(const char *p, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch(p + o, _MM_HINT_T0);
}

/* hsum16 of 16 vectors at once: out lane i = hsum16(v[perm(i)]), adding exactly the pairs hsum16 adds —
 * (l, l+8), (l, l+4), (l, l+2), (l, l+1) — so each result is bit-identical to hsum16(v[p]). Returns the 16
 * sums in position order. */
AINL __m512 hsum16x16(const __m512 v[16])
{
    __m512 b[8], c[4], d[2];
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) /* b[k]: s8 of v[2k] (lanes 0-7) and v[2k+1] (lanes 8-15) */
        b[k] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0x44),
                             _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0xee));
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) /* c[k] 128-bit lane i: s4 of v[4k + i] */
        c[k] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * k], b[2 * k + 1], 0x88),
                             _mm512_shuffle_f32x4(b[2 * k], b[2 * k + 1], 0xdd));
#pragma GCC unroll 2
    for (int k = 0; k < 2; k++) { /* d[k] lane i: s2 of v[8k + i] (elements 0,1) and v[8k + 4 + i] (2,3) */
        __m512d x = _mm512_castps_pd(c[2 * k]), y = _mm512_castps_pd(c[2 * k + 1]);
        d[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    /* e lane 4i + {0,1,2,3} = s1 of v[i], v[4 + i], v[8 + i], v[12 + i] */
    __m512 e = _mm512_add_ps(_mm512_shuffle_ps(d[0], d[1], 0x88), _mm512_shuffle_ps(d[0], d[1], 0xdd));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(order, e);
}

/* Scores of H heads (q, n_pos apart in scores) at 16 / H positions of rows (16 / H consecutive rows rb bytes
 * apart, the first one position j): acc[h * P + p] = q_h . k_p (16 lanes over head_dim, FMA over the NC chunks
 * in order), reduced by hsum16x16 so lane h * P + p holds exactly hsum16(acc[h * P + p]); head h's P scores are
 * stored with one masked store. Each K row is converted once for the H heads (q is read from L1). */
AINL void scores_tile(const int NC, const int H, const float *q, int hd, const char *rows, size_t rb, int kv_f16,
                      __m512 vscale, float *scores, int64_t n_pos, int64_t j)
{
    const int P = 16 / H;
    __m512 acc[16];
#pragma GCC unroll 16
    for (int p = 0; p < P; p++) {
        __m512 kr[8];
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++)
            kr[c] = kv_load(rows + p * rb, kv_f16, c, 0xffff);
#pragma GCC unroll 16
        for (int h = 0; h < H; h++) {
            __m512 a = _mm512_setzero_ps();
#pragma GCC unroll 8
            for (int c = 0; c < NC; c++)
                a = _mm512_fmadd_ps(_mm512_loadu_ps(q + (int64_t)h * hd + 16 * c), kr[c], a);
            acc[h * P + p] = a;
        }
    }
    const __m512 sc = _mm512_mul_ps(hsum16x16(acc), vscale);
#pragma GCC unroll 16
    for (int h = 0; h < H; h++) /* lanes h*P .. h*P+P-1 go to scores[h * n_pos + j ..] */
        _mm512_mask_storeu_ps(scores + (int64_t)h * n_pos + j - h * P, (__mmask16)(((1u << P) - 1u) << (h * P)), sc);
}

/* scores[h * n_pos + j] = hsum16(q_h . k_j) * scale for h < n_q; NC = chunks of 16 in head_dim (0: any).
 * 16 positions at a time (always inside one block, the block size being a multiple of 16), in tiles of 4 heads
 * x 4 positions (then 2 x 8, 1 x 16 for the remaining heads): the 16 dot-product vectors of a tile are summed
 * by hsum16x16. */
AINL void scores_pass(const int NC, const int F16, const float *q, int n_q, const lc_kv_view *kv, int n_pos, int hd,
                      float scale, float *scores)
{
    const int nc = NC ? NC : (hd + 15) / 16, kv_f16 = F16;
    const size_t rb = (size_t)hd * (kv_f16 ? 2 : 4);
    const __m512 vscale = _mm512_set1_ps(scale);
    const int64_t bs = (int64_t)1 << kv->block_log2;
    int64_t j0 = 0;
    for (; NC && j0 + 16 <= n_pos; j0 += 16) {
        const char *rows = kv->k + lc_kv_row_offset(kv, j0, rb);
        if (j0 + bs < n_pos) /* the same 16 rows of the next block */
            prefetch_rows(kv->k + lc_kv_row_offset(kv, j0 + bs, rb), 16 * rb);
        int h = 0;
        for (; h + 4 <= n_q; h += 4)
            for (int t = 0; t < 4; t++)
                scores_tile(NC, 4, q + (int64_t)h * hd, hd, rows + 4 * t * rb, rb, kv_f16, vscale,
                            scores + (int64_t)h * n_pos, n_pos, j0 + 4 * t);
        if (h + 2 <= n_q) {
            for (int t = 0; t < 2; t++)
                scores_tile(NC, 2, q + (int64_t)h * hd, hd, rows + 8 * t * rb, rb, kv_f16, vscale,
                            scores + (int64_t)h * n_pos, n_pos, j0 + 8 * t);
            h += 2;
        }
        if (h < n_q)
            scores_tile(NC, 1, q + (int64_t)h * hd, hd, rows, rb, kv_f16, vscale, scores + (int64_t)h * n_pos, n_pos,
                        j0);
    }
    for (int64_t j = j0; j < n_pos; j++) {
        const char *row = kv->k + lc_kv_row_offset(kv, j, rb);
        __m512 kr[16];
        if (NC) {
#pragma GCC unroll 8
            for (int c = 0; c < NC; c++)
                kr[c] = kv_load(row, kv_f16, c, tail_mask(hd - 16 * c));
        }
        for (int h = 0; h < n_q; h++) {
            const float *qh = q + (int64_t)h * hd;
            __m512 acc = _mm512_setzero_ps();
#pragma GCC unroll 8
            for (int c = 0; c < nc; c++) {
                __mmask16 m = tail_mask(hd - 16 * c);
                __m512 kc = NC ? kr[c] : kv_load(row, kv_f16, c, m);
                acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, qh + 16 * c), kc, acc);
            }
            scores[(int64_t)h * n_pos + j] = hsum16(acc) * scale;
        }
    }
}

/* in place: s[j] = exp(s[j] - max); returns the sum (16 lanes over j, then hsum16) */
static float softmax_row(float *s, int n_pos)
{
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t j = 0; j < n_pos; j += 16) {
        __mmask16 m = tail_mask(n_pos - j);
        mx = _mm512_mask_max_ps(mx, m, _mm512_maskz_loadu_ps(m, s + j), mx); /* NaN scores are skipped */
    }
    const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < n_pos; j += 16) {
        __mmask16 m = tail_mask(n_pos - j);
        __m512 p = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + j), vmax));
        p = _mm512_maskz_mov_ps(m, p);
        _mm512_mask_storeu_ps(s + j, m, p);
        sum = _mm512_add_ps(sum, p);
    }
    return hsum16(sum);
}

/* out_h = sum_j p_h[j] v_j for HC heads at once (accumulators in registers: HC * NC <= 16); F16: the view's
 * element type (a constant, so the loop holds no test); pf: prefetch the next block's rows (the first pass over
 * V; later ones find them in cache). Positions go in groups of 16 (inside one block), in order. */
AINL void values_pass(const int NC, const int HC, const int F16, const float *p, int n_pos, const lc_kv_view *kv,
                      int hd, float *out, const float *inv, int pf)
{
    const size_t rb = (size_t)hd * (F16 ? 2 : 4);
    const int64_t bs = (int64_t)1 << kv->block_log2;
    __m512 o[16];
#pragma GCC unroll 16
    for (int i = 0; i < HC * NC; i++)
        o[i] = _mm512_setzero_ps();
    for (int64_t jg = 0; jg < n_pos; jg += 16) {
        if (pf && jg + bs < n_pos) /* the same 16 rows of the next block */
            prefetch_rows(kv->v + lc_kv_row_offset(kv, jg + bs, rb), 16 * rb);
        const char *row = kv->v + lc_kv_row_offset(kv, jg, rb);
        const int64_t n = n_pos - jg < 16 ? n_pos - jg : 16;
        const float *pg = p + jg;
        for (int64_t j = 0; j < n; j++, row += rb) {
            __m512 vv[8];
#pragma GCC unroll 8
            for (int c = 0; c < NC; c++)
                vv[c] = kv_load(row, F16, c, tail_mask(hd - 16 * c));
#pragma GCC unroll 4
            for (int h = 0; h < HC; h++) {
                __m512 ph = _mm512_set1_ps(pg[(int64_t)h * n_pos + j]);
#pragma GCC unroll 8
                for (int c = 0; c < NC; c++)
                    o[h * NC + c] = _mm512_fmadd_ps(ph, vv[c], o[h * NC + c]);
            }
        }
    }
#pragma GCC unroll 4
    for (int h = 0; h < HC; h++)
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++)
            _mm512_mask_storeu_ps(out + (int64_t)h * hd + 16 * c, tail_mask(hd - 16 * c),
                                  _mm512_mul_ps(o[h * NC + c], _mm512_set1_ps(inv[h])));
}

/* any head_dim: one head, accumulators in out[] (same arithmetic) */
static void values_pass_any(const float *p, int n_pos, const lc_kv_view *kv, int hd, float *out, float inv)
{
    const int nc = (hd + 15) / 16, kv_f16 = kv->f16;
    const size_t rb = (size_t)hd * (kv_f16 ? 2 : 4);
    for (int c = 0; c < nc; c++)
        _mm512_mask_storeu_ps(out + 16 * c, tail_mask(hd - 16 * c), _mm512_setzero_ps());
    for (int64_t j = 0; j < n_pos; j++) {
        const char *row = kv->v + lc_kv_row_offset(kv, j, rb);
        __m512 ph = _mm512_set1_ps(p[j]);
        for (int c = 0; c < nc; c++) {
            __mmask16 m = tail_mask(hd - 16 * c);
            __m512 o = _mm512_maskz_loadu_ps(m, out + 16 * c);
            _mm512_mask_storeu_ps(out + 16 * c, m, _mm512_fmadd_ps(ph, kv_load(row, kv_f16, c, m), o));
        }
    }
    for (int c = 0; c < nc; c++) {
        __mmask16 m = tail_mask(hd - 16 * c);
        _mm512_mask_storeu_ps(out + 16 * c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, out + 16 * c),
                                                             _mm512_set1_ps(inv)));
    }
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
    if (head_dim == 64 && kv->f16)
        scores_pass(4, 1, q, n_q, kv, n_pos, head_dim, scale, scores);
    else if (head_dim == 64)
        scores_pass(4, 0, q, n_q, kv, n_pos, head_dim, scale, scores);
    else if (head_dim == 128 && kv->f16)
        scores_pass(8, 1, q, n_q, kv, n_pos, head_dim, scale, scores);
    else if (head_dim == 128)
        scores_pass(8, 0, q, n_q, kv, n_pos, head_dim, scale, scores);
    else
        scores_pass(0, kv->f16, q, n_q, kv, n_pos, head_dim, scale, scores);
    float inv[16];
    for (int h = 0; h < n_q; h++)
        inv[h] = 1.0f / softmax_row(scores + (int64_t)h * n_pos, n_pos);
    int h = 0;
#define VALUES(NC, HC, F16)                                                                                           \
    values_pass(NC, HC, F16, scores + (int64_t)h * n_pos, n_pos, kv, head_dim, out + (int64_t)h * head_dim, inv + h, \
                h == 0)
    if (head_dim == 64 && kv->f16) {
        for (; h + 4 <= n_q; h += 4)
            VALUES(4, 4, 1);
        for (; h < n_q; h++)
            VALUES(4, 1, 1);
    } else if (head_dim == 64) {
        for (; h + 4 <= n_q; h += 4)
            VALUES(4, 4, 0);
        for (; h < n_q; h++)
            VALUES(4, 1, 0);
    } else if (head_dim == 128 && kv->f16) {
        for (; h + 2 <= n_q; h += 2)
            VALUES(8, 2, 1);
        for (; h < n_q; h++)
            VALUES(8, 1, 1);
    } else if (head_dim == 128) {
        for (; h + 2 <= n_q; h += 2)
            VALUES(8, 2, 0);
        for (; h < n_q; h++)
            VALUES(8, 1, 0);
    }
#undef VALUES
    for (; h < n_q; h++)
        values_pass_any(scores + (int64_t)h * n_pos, n_pos, kv, head_dim, out + (int64_t)h * head_dim, inv[h]);
}

/* lc_exp_shifted with 8 doubles per step: util/exp_nonpos.h's operations in its order (mul and add, never
 * fused), so the same bits */
static void exp_shifted(double *y, const float *x, int64_t n, double shift, double scale)
{
    const __m512d vs = _mm512_set1_pd(shift), vc = _mm512_set1_pd(scale), lim = _mm512_set1_pd(-708.0),
                  sh = _mm512_set1_pd(0x1.8p52);
#define C(v) _mm512_set1_pd(v)
    for (int64_t i = 0; i < n; i += 8) {
        const __mmask8 m = n - i >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (n - i)) - 1u);
        __m512d v = _mm512_mul_pd(_mm512_sub_pd(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + i)), vs), vc);
        const __mmask8 live = _mm512_cmp_pd_mask(v, lim, _CMP_GT_OQ);
        v = _mm512_mask_blend_pd(live, lim, v);
        const __m512d t = _mm512_add_pd(_mm512_mul_pd(v, C(0x1.71547652b82fep0)), sh);
        const __m512d k = _mm512_sub_pd(t, sh);
        __m512d r = _mm512_sub_pd(v, _mm512_mul_pd(k, C(0x1.62e42fee00000p-1)));
        r = _mm512_sub_pd(r, _mm512_mul_pd(k, C(0x1.a39ef35793c76p-33)));
        const __m512d r2 = _mm512_mul_pd(r, r), r4 = _mm512_mul_pd(r2, r2), r8 = _mm512_mul_pd(r4, r4);
        const __m512d a0 = _mm512_add_pd(C(1.0), r), a1 = _mm512_add_pd(C(0.5), _mm512_mul_pd(r, C(1.0 / 6.0))),
                      a2 = _mm512_add_pd(C(1.0 / 24.0), _mm512_mul_pd(r, C(1.0 / 120.0))),
                      a3 = _mm512_add_pd(C(1.0 / 720.0), _mm512_mul_pd(r, C(1.0 / 5040.0))),
                      a4 = _mm512_add_pd(C(1.0 / 40320.0), _mm512_mul_pd(r, C(1.0 / 362880.0))),
                      a5 = _mm512_add_pd(C(1.0 / 3628800.0), _mm512_mul_pd(r, C(1.0 / 39916800.0))),
                      a6 = _mm512_add_pd(C(1.0 / 479001600.0), _mm512_mul_pd(r, C(1.0 / 6227020800.0)));
        const __m512d b0 = _mm512_add_pd(a0, _mm512_mul_pd(r2, a1)), b1 = _mm512_add_pd(a2, _mm512_mul_pd(r2, a3)),
                      b2 = _mm512_add_pd(a4, _mm512_mul_pd(r2, a5));
        const __m512d c0 = _mm512_add_pd(b0, _mm512_mul_pd(r4, b1)), c1 = _mm512_add_pd(b2, _mm512_mul_pd(r4, a6));
        const __m512d p = _mm512_add_pd(c0, _mm512_mul_pd(r8, c1));
        const __m512i b = _mm512_slli_epi64(_mm512_add_epi64(_mm512_castpd_si512(t), _mm512_set1_epi64(1023)), 52);
        _mm512_mask_storeu_pd(y + i, m, _mm512_maskz_mul_pd(live, p, _mm512_castsi512_pd(b)));
    }
#undef C
}

/* lc_argmax, 16 lanes: each lane keeps its first largest (a strict compare, false for NaN), then the largest
 * of the lanes and, among the lanes that hold it, the smallest index */
static int64_t argmax(const float *x, int64_t n, float *max)
{
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 vm = ninf;
    __m512i vi = _mm512_setzero_si512(), idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i step = _mm512_set1_epi32(16);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);
        const __m512 v = _mm512_mask_loadu_ps(ninf, m, x + i);
        const __mmask16 gt = _mm512_cmp_ps_mask(v, vm, _CMP_GT_OQ);
        vm = _mm512_mask_mov_ps(vm, gt, v);
        vi = _mm512_mask_mov_epi32(vi, gt, idx);
        idx = _mm512_add_epi32(idx, step);
    }
    const float mx = _mm512_reduce_max_ps(vm);
    *max = mx;
    return _mm512_mask_reduce_min_epi32(_mm512_cmp_ps_mask(vm, _mm512_set1_ps(mx), _CMP_EQ_OQ), vi);
}

void lc_init_ops_avx512(lc_kernels *k)
{
    k->argmax = argmax;
    k->exp_shifted = exp_shifted;
    k->rmsnorm = rmsnorm;
    k->swiglu = swiglu;
    k->attention = attention;
}
