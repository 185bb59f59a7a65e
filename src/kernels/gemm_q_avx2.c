/*
 * gemm_q_avx2.c — AVX2 GEMM for Q4_0 and Q8_0 weights with Q8_0x activations, and the Q8_0x quantizer.
 *
 * Same G16 layout, tiling and float arithmetic as gemm_q_avx512.c (each 16-row group is two 8-lane halves),
 * so results equal the scalar reference bit for bit. AVX2 has no VNNI; the exact integer block sums come from
 *   Q4_0: maddubs(nibbles 0..15, activation bytes) -> int16 pair sums; all 8 quads of a block are added in
 *         int16 (at most 16 * 15 * 127 = 30480, no overflow), then madd(ones) -> int32, plus m8 = -8*sum(a)
 *   Q8_0: maddubs(|w|, sign(a, w)) per quad (pair sums <= 2 * 128 * 127, no saturation), madd(ones) -> int32
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/pack.h"

#define TT 4  /* tokens per micro-tile (16 ymm registers) */
#define TTK 2 /* tokens per K-quant tile */
#define KC 64 /* blocks per on-the-fly packed chunk (raw path) */
#define AINL static inline __attribute__((always_inline))

/* ---- Q8_0x quantizer (bit-identical to lc_q8_0_from_float) ---- */

AINL __m256 round_away(__m256 x)
{
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    __m256 t = _mm256_round_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(x, t));
    __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 one = _mm256_or_ps(_mm256_and_ps(x, sign), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

static void quantize_row_q8_0x(const float *x, void *y, int64_t n)
{
    lc_block_q8_0 *b = y;
    const int64_t nb = n / 32;
    char *ext = (char *)y + lc_q8x_ext_offset(n);
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    for (int64_t i = 0; i < nb; i++) {
        __m256 v[4];
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_loadu_ps(x + 32 * i + 8 * j);
            m = _mm256_max_ps(_mm256_andnot_ps(sign, v[j]), m); /* NaN skipped, as fmaxf */
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = (lc_half)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int j = 0; j < 4; j++)
            q[j] = _mm256_cvttps_epi32(round_away(_mm256_mul_ps(v[j], vid)));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)b[i].qs, p);
        /* sum of the stored bytes (what the GEMM multiplies) */
        __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), p), _mm256_set1_epi16(1));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        float df = _cvtsh_ss(b[i].d);
        int32_t m8 = -8 * _mm_cvtsi128_si32(s4);
        memcpy(ext + 4 * i, &df, 4);
        memcpy(ext + 4 * (nb + i), &m8, 4);
    }
}

/* ---- micro-kernels: 16 rows (two halves) x tt tokens over one packed chunk ---- */

typedef struct act_tile {
    const uint8_t *row[TT];
    size_t ext;
    int64_t nb;
} act_tile;

AINL __m256i bcast32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

AINL float load_f32(const uint8_t *p)
{
    float v;
    memcpy(&v, p, 4);
    return v;
}

AINL __m256 block_accumulate(__m256 acc, __m256i isum, __m256 dw, float da)
{
    __m256 s = _mm256_mul_ps(dw, _mm256_set1_ps(da));
    return _mm256_add_ps(acc, _mm256_mul_ps(_mm256_cvtepi32_ps(isum), s));
}

AINL void q4_0_tile(const uint8_t *sc, const uint8_t *qv, int64_t nblk, const act_tile *a, int64_t ab0,
                    const int tt, __m256 *acc)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    const act_tile at = *a;
    __m256 c[2 * TT];
#pragma GCC unroll 8
    for (int i = 0; i < 2 * tt; i++)
        c[i] = acc[i];
    for (int64_t b = 0; b < nblk; b++) {
        const int64_t ab = ab0 + b;
        const uint8_t *q = qv + (size_t)b * 256;
        __m256 dw[2];
        for (int h = 0; h < 2; h++)
            dw[h] = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(sc + (size_t)b * 32 + 16 * h)));
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i s16[TT];
#pragma GCC unroll 4
            for (int t = 0; t < tt; t++)
                s16[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                __m256i v = _mm256_load_si256((const __m256i *)(q + 64 * j + 32 * h));
                __m256i lo = _mm256_and_si256(v, m4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
#pragma GCC unroll 4
                for (int t = 0; t < tt; t++) {
                    const uint8_t *aq = at.row[t] + (size_t)ab * sizeof(lc_block_q8_0) + 2;
                    s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(lo, bcast32(aq + 4 * j)));
                    s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(hi, bcast32(aq + 16 + 4 * j)));
                }
            }
#pragma GCC unroll 4
            for (int t = 0; t < tt; t++) {
                __m256i is = _mm256_add_epi32(_mm256_madd_epi16(s16[t], ones),
                                              bcast32(at.row[t] + at.ext + 4 * (at.nb + ab)));
                c[2 * t + h] = block_accumulate(c[2 * t + h], is, dw[h], load_f32(at.row[t] + at.ext + 4 * ab));
            }
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < 2 * tt; i++)
        acc[i] = c[i];
}

AINL void q8_0_tile(const uint8_t *sc, const uint8_t *qv, int64_t nblk, const act_tile *a, int64_t ab0,
                    const int tt, __m256 *acc)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const act_tile at = *a;
    __m256 c[2 * TT];
#pragma GCC unroll 8
    for (int i = 0; i < 2 * tt; i++)
        c[i] = acc[i];
    for (int64_t b = 0; b < nblk; b++) {
        const int64_t ab = ab0 + b;
        const uint8_t *q = qv + (size_t)b * 512;
        __m256 dw[2];
        for (int h = 0; h < 2; h++)
            dw[h] = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(sc + (size_t)b * 32 + 16 * h)));
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i is[TT];
#pragma GCC unroll 4
            for (int t = 0; t < tt; t++)
                is[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) {
                __m256i w = _mm256_load_si256((const __m256i *)(q + 64 * j + 32 * h));
                __m256i aw = _mm256_abs_epi8(w);
#pragma GCC unroll 4
                for (int t = 0; t < tt; t++) {
                    const uint8_t *aq = at.row[t] + (size_t)ab * sizeof(lc_block_q8_0) + 2;
                    __m256i sa = _mm256_sign_epi8(bcast32(aq + 4 * j), w);
                    is[t] = _mm256_add_epi32(is[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sa), ones));
                }
            }
#pragma GCC unroll 4
            for (int t = 0; t < tt; t++)
                c[2 * t + h] = block_accumulate(c[2 * t + h], is[t], dw[h], load_f32(at.row[t] + at.ext + 4 * ab));
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < 2 * tt; i++)
        acc[i] = c[i];
}

/* ---- Q4_K and Q6_K (see gemm_k_avx512.c for the arithmetic; here each 16-row vector is two halves) ----
 * Q4_K: 8 quads of a 32-element sub-block add up in int16 (at most 16 * 15 * 127 = 30480), madd -> int32,
 *       times the 6-bit scale (pmulld); the min term by madd of (m, m) pairs with the bsums pairs.
 * Q6_K: levels 0..63, so only 2 quads add up in int16 (2 * 2 * 63 * 127 = 32004) before each madd. */
#define Q8K_QS 4
#define Q8K_BSUMS 260

AINL __m256i or_low4_32(__m256i a, __m256i b)
{
    return _mm256_or_si256(_mm256_and_si256(a, _mm256_set1_epi32(15)), b);
}

/* 6-bit scale or min of sub-block s of rows 8h..8h+7 from the 3 scale dwords D[3] */
AINL __m256i k4_scale2(const __m256i D[3], int s, int mins)
{
    const __m256i m6 = _mm256_set1_epi32(63), m30 = _mm256_set1_epi32(0x30);
    const __m256i A = mins ? D[1] : D[0];
    if (s < 4)
        return _mm256_and_si256(_mm256_srli_epi32(A, 8 * s), m6);
    return or_low4_32(_mm256_srli_epi32(D[2], 8 * (s - 4) + (mins ? 4 : 0)),
                      _mm256_and_si256(_mm256_srli_epi32(A, 8 * (s - 4) + 2), m30));
}

AINL void q4_K_tile(const uint8_t *head, const uint8_t *body, int64_t nblk, const act_tile *a, int64_t ab0,
                    const int tt, __m256 *acc)
{
    const act_tile at = *a;
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    __m256 c[2 * TTK];
    for (int i = 0; i < 2 * tt; i++)
        c[i] = acc[i];
    for (int64_t b = 0; b < nblk; b++) {
        const uint8_t *bb = body + (size_t)b * 2240;
        const size_t ao = (size_t)(ab0 + b) * sizeof(lc_block_q8_K);
        for (int h = 0; h < 2; h++) {
            const __m256i D[3] = {_mm256_load_si256((const __m256i *)(bb + 32 * h)),
                                  _mm256_load_si256((const __m256i *)(bb + 64 + 32 * h)),
                                  _mm256_load_si256((const __m256i *)(bb + 128 + 32 * h))};
            __m256i ms[TTK], is[TTK];
            for (int t = 0; t < tt; t++)
                ms[t] = is[t] = _mm256_setzero_si256();
            for (int s = 0; s < 8; s++) {
                __m256i m = k4_scale2(D, s, 1);
                __m256i mp = _mm256_or_si256(m, _mm256_slli_epi32(m, 16));
                for (int t = 0; t < tt; t++)
                    ms[t] = _mm256_add_epi32(ms[t], _mm256_madd_epi16(mp, bcast32(at.row[t] + ao + Q8K_BSUMS + 4 * s)));
            }
            for (int ch = 0; ch < 4; ch++) {
                __m256i lo16[TTK], hi16[TTK];
                for (int t = 0; t < tt; t++)
                    lo16[t] = hi16[t] = _mm256_setzero_si256();
                const uint8_t *qv = bb + 192 + 512 * ch + 32 * h;
                for (int j = 0; j < 8; j++) {
                    __m256i v = _mm256_load_si256((const __m256i *)(qv + 64 * j));
                    __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                    for (int t = 0; t < tt; t++) {
                        const uint8_t *aq = at.row[t] + ao + Q8K_QS + 64 * ch + 4 * j;
                        lo16[t] = _mm256_add_epi16(lo16[t], _mm256_maddubs_epi16(lo, bcast32(aq)));
                        hi16[t] = _mm256_add_epi16(hi16[t], _mm256_maddubs_epi16(hi, bcast32(aq + 32)));
                    }
                }
                const __m256i sl = k4_scale2(D, 2 * ch, 0), sh = k4_scale2(D, 2 * ch + 1, 0);
                for (int t = 0; t < tt; t++)
                    is[t] = _mm256_add_epi32(is[t],
                                             _mm256_add_epi32(_mm256_mullo_epi32(_mm256_madd_epi16(lo16[t], ones), sl),
                                                              _mm256_mullo_epi32(_mm256_madd_epi16(hi16[t], ones), sh)));
            }
            const __m256 dw = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(head + (size_t)b * 64 + 16 * h)));
            const __m256 dmw = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(head + (size_t)b * 64 + 32 + 16 * h)));
            for (int t = 0; t < tt; t++) {
                __m256 da = _mm256_set1_ps(load_f32(at.row[t] + ao));
                __m256 p1 = _mm256_mul_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(is[t]));
                __m256 p2 = _mm256_mul_ps(_mm256_mul_ps(dmw, da), _mm256_cvtepi32_ps(ms[t]));
                c[2 * t + h] = _mm256_add_ps(c[2 * t + h], _mm256_sub_ps(p1, p2));
            }
        }
    }
    for (int i = 0; i < 2 * tt; i++)
        acc[i] = c[i];
}

AINL __m256i q6_scale2(const __m256i S[4], int s)
{
    return _mm256_srai_epi32(_mm256_slli_epi32(S[s / 4], 24 - 8 * (s % 4)), 24);
}

AINL void q6_K_tile(const uint8_t *head, const uint8_t *body, int64_t nblk, const act_tile *a, int64_t ab0,
                    const int tt, __m256 *acc)
{
    const act_tile at = *a;
    const __m256i m0f = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30), ones = _mm256_set1_epi16(1);
    const __m256i lo16m = _mm256_set1_epi32(0xffff);
    __m256 c[2 * TTK];
    for (int i = 0; i < 2 * tt; i++)
        c[i] = acc[i];
    for (int64_t b = 0; b < nblk; b++) {
        const uint8_t *bb = body + (size_t)b * 3328;
        const size_t ao = (size_t)(ab0 + b) * sizeof(lc_block_q8_K);
        for (int hf = 0; hf < 2; hf++) {
            __m256i S[4];
            for (int k = 0; k < 4; k++)
                S[k] = _mm256_load_si256((const __m256i *)(bb + 3072 + 64 * k + 32 * hf));
            __m256i is[TTK];
            for (int t = 0; t < tt; t++)
                is[t] = _mm256_setzero_si256();
            for (int i = 0; i < 8; i++) { /* -32 * sum_s sc[s] * bsums[s] */
                __m256i sp = _mm256_or_si256(_mm256_and_si256(q6_scale2(S, 2 * i), lo16m),
                                             _mm256_slli_epi32(q6_scale2(S, 2 * i + 1), 16));
                for (int t = 0; t < tt; t++)
                    is[t] = _mm256_sub_epi32(is[t], _mm256_slli_epi32(
                                                        _mm256_madd_epi16(sp, bcast32(at.row[t] + ao + Q8K_BSUMS + 4 * i)), 5));
            }
            for (int h = 0; h < 2; h++)
                for (int g = 0; g < 4; g++)
                    for (int half = 0; half < 2; half++) {
                        __m256i dot[TTK];
                        for (int t = 0; t < tt; t++)
                            dot[t] = _mm256_setzero_si256();
                        for (int k2 = 0; k2 < 2; k2++) {
                            __m256i s16[TTK];
                            for (int t = 0; t < tt; t++)
                                s16[t] = _mm256_setzero_si256();
                            for (int k1 = 0; k1 < 2; k1++) {
                                const int lq = 4 * half + 2 * k2 + k1;
                                __m256i ql = _mm256_load_si256(
                                    (const __m256i *)(bb + 64 * (16 * h + 8 * (g & 1) + lq) + 32 * hf));
                                __m256i qh = _mm256_load_si256((const __m256i *)(bb + 2048 + 64 * (8 * h + lq) + 32 * hf));
                                if (g >= 2)
                                    ql = _mm256_srli_epi16(ql, 4);
                                qh = g == 0 ? _mm256_slli_epi16(qh, 4)
                                   : g == 1 ? _mm256_slli_epi16(qh, 2)
                                   : g == 3 ? _mm256_srli_epi16(qh, 2) : qh;
                                __m256i q = _mm256_or_si256(_mm256_and_si256(ql, m0f), _mm256_and_si256(qh, m30));
                                for (int t = 0; t < tt; t++)
                                    s16[t] = _mm256_add_epi16(
                                        s16[t], _mm256_maddubs_epi16(q, bcast32(at.row[t] + ao + Q8K_QS + 128 * h + 32 * g + 4 * lq)));
                            }
                            for (int t = 0; t < tt; t++)
                                dot[t] = _mm256_add_epi32(dot[t], _mm256_madd_epi16(s16[t], ones));
                        }
                        const __m256i sc = q6_scale2(S, 8 * h + 2 * g + half);
                        for (int t = 0; t < tt; t++)
                            is[t] = _mm256_add_epi32(is[t], _mm256_mullo_epi32(dot[t], sc));
                    }
            const __m256 dw = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(head + (size_t)b * 32 + 16 * hf)));
            for (int t = 0; t < tt; t++) {
                __m256 da = _mm256_set1_ps(load_f32(at.row[t] + ao));
                c[2 * t + hf] = _mm256_add_ps(c[2 * t + hf], _mm256_mul_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(is[t])));
            }
        }
    }
    for (int i = 0; i < 2 * tt; i++)
        acc[i] = c[i];
}

/* ---- drivers ---- */

typedef void (*tile_fn)(const uint8_t *head, const uint8_t *body, int64_t nblk, const act_tile *a, int64_t ab0,
                        __m256 *acc);

#define TILE_FN(NAME, K)                                                                                      \
    static void NAME##_t##K(const uint8_t *h, const uint8_t *q, int64_t n, const act_tile *a, int64_t b, __m256 *c) \
    {                                                                                                         \
        NAME##_tile(h, q, n, a, b, K, c);                                                                     \
    }
TILE_FN(q4_0, 1) TILE_FN(q4_0, 2) TILE_FN(q4_0, 3) TILE_FN(q4_0, 4)
TILE_FN(q8_0, 1) TILE_FN(q8_0, 2) TILE_FN(q8_0, 3) TILE_FN(q8_0, 4)
TILE_FN(q4_K, 1) TILE_FN(q4_K, 2)
TILE_FN(q6_K, 1) TILE_FN(q6_K, 2)
static const tile_fn q4_0_tiles[] = {NULL, q4_0_t1, q4_0_t2, q4_0_t3, q4_0_t4};
static const tile_fn q8_0_tiles[] = {NULL, q8_0_t1, q8_0_t2, q8_0_t3, q8_0_t4};
static const tile_fn q4_K_tiles[] = {NULL, q4_K_t1, q4_K_t2};
static const tile_fn q6_K_tiles[] = {NULL, q6_K_t1, q6_K_t2};

typedef struct qtype_desc {
    int type, tt, q8x, kc; /* tokens per tile, Q8_0x activations, blocks per on-the-fly chunk */
    const tile_fn *tiles;
} qtype_desc;

static const qtype_desc g_q4_0 = {LLAMAC_TYPE_Q4_0, TT, 1, KC, q4_0_tiles};
static const qtype_desc g_q8_0 = {LLAMAC_TYPE_Q8_0, TT, 1, KC, q8_0_tiles};
static const qtype_desc g_q4_K = {LLAMAC_TYPE_Q4_K, TTK, 0, 8, q4_K_tiles};
static const qtype_desc g_q6_K = {LLAMAC_TYPE_Q6_K, TTK, 0, 8, q6_K_tiles};

/* stores lanes [lo, hi) of the 16 (two halves) */
static void store_lanes(float *y, const __m256 v[2], int lo, int hi)
{
    float tmp[16];
    _mm256_storeu_ps(tmp, v[0]);
    _mm256_storeu_ps(tmp + 8, v[1]);
    if (lo == 0 && hi == 16) {
        memcpy(y, tmp, sizeof tmp);
        return;
    }
    for (int i = lo; i < hi; i++)
        y[i] = tmp[i];
}

static void load_lanes(__m256 v[2], const float *y, int lo, int hi)
{
    float tmp[16] = {0};
    for (int i = lo; i < hi; i++)
        tmp[i] = y[i];
    v[0] = _mm256_loadu_ps(tmp);
    v[1] = _mm256_loadu_ps(tmp + 8);
}

static void run_chunk(const qtype_desc *qd, const lc_gemm_args *g, const uint8_t *head, const uint8_t *body,
                      int64_t nblk, int64_t ab0, int64_t grp, int lo, int hi, int first)
{
    act_tile a;
    a.ext = qd->q8x ? lc_q8x_ext_offset(g->n) : 0;
    a.nb = g->n / 32;
    for (int64_t t0 = 0; t0 < g->nt; t0 += qd->tt) {
        int tt = g->nt - t0 < qd->tt ? (int)(g->nt - t0) : qd->tt;
        __m256 acc[2 * TT];
        for (int t = 0; t < tt; t++) {
            a.row[t] = (const uint8_t *)g->a + (size_t)(t0 + t) * g->a_stride;
            if (first)
                acc[2 * t] = acc[2 * t + 1] = _mm256_setzero_ps();
            else
                load_lanes(acc + 2 * t, g->y + (t0 + t) * g->ldy + grp * 16, lo, hi);
        }
        qd->tiles[tt](head, body, nblk, &a, ab0, acc);
        for (int t = 0; t < tt; t++)
            store_lanes(g->y + (t0 + t) * g->ldy + grp * 16, acc + 2 * t, lo, hi);
    }
}

static void lane_range(int64_t grp, const lc_gemm_args *g, int *lo, int *hi)
{
    int64_t l = g->r0 - grp * 16, h = g->r1 - grp * 16;
    *lo = l < 0 ? 0 : (int)l;
    *hi = h > 16 ? 16 : (int)h;
}

/* Prefill: token blocks of ~384 KiB of activations that stay in L2 while the row groups pass over them. */
static void qgemm(const qtype_desc *qd, const lc_gemm_args *g, int packed)
{
    int64_t tb = ((int64_t)384 << 10) / (int64_t)g->a_stride;
    tb = tb < 16 ? 16 : tb & ~(int64_t)7;
    if (g->nt > tb) {
        for (int64_t t0 = 0; t0 < g->nt; t0 += tb) {
            lc_gemm_args h = *g;
            h.a = (const uint8_t *)g->a + (size_t)t0 * g->a_stride;
            h.y = g->y + t0 * g->ldy;
            h.nt = g->nt - t0 < tb ? g->nt - t0 : tb;
            qgemm(qd, &h, packed);
        }
        return;
    }
    const lc_pack_layout *L = lc_pack_layout_get(qd->type);
    const int64_t nb = g->n / L->blck;
    if (packed) {
        const size_t hb = lc_pack_quant_offset(qd->type, g->n);
        for (int64_t grp = g->r0 / 16; grp * 16 < g->r1; grp++) {
            const uint8_t *base = (const uint8_t *)g->w + (size_t)grp * g->w_stride;
            int lo, hi;
            lane_range(grp, g, &lo, &hi);
            run_chunk(qd, g, base, base + hb, nb, 0, grp, lo, hi, 1);
        }
        return;
    }
    uint8_t buf[KC * 32 + KC * 16 * 32] __attribute__((aligned(64))); /* >= 8 super-blocks of 16 rows */
    for (int64_t grp = g->r0 / 16; grp * 16 < g->r1; grp++) {
        const void *rows[16];
        for (int r = 0; r < 16; r++) {
            int64_t row = grp * 16 + r;
            rows[r] = row >= g->r0 && row < g->r1 ? (const uint8_t *)g->w + (size_t)row * g->w_stride : NULL;
        }
        int lo, hi;
        lane_range(grp, g, &lo, &hi);
        for (int64_t b0 = 0; b0 < nb; b0 += qd->kc) {
            int64_t nblk = nb - b0 < qd->kc ? nb - b0 : qd->kc;
            lc_pack_group_blocks(qd->type, rows, b0, nblk, buf);
            size_t hb = ((size_t)nblk * L->nhalf * 32 + 63) & ~(size_t)63;
            run_chunk(qd, g, buf, buf + hb, nblk, b0, grp, lo, hi, b0 == 0);
        }
    }
}

#define ENTRIES(t)                                                                                            \
    static void gemm_##t##_packed(const lc_gemm_args *g) { qgemm(&g_##t, g, 1); }                            \
    static void gemm_##t##_raw(const lc_gemm_args *g) { qgemm(&g_##t, g, 0); }
ENTRIES(q4_0)
ENTRIES(q8_0)
ENTRIES(q4_K)
ENTRIES(q6_K)
#undef ENTRIES

void lc_init_gemm_q_avx2(lc_kernels *k)
{
    k->quantize_row[LLAMAC_TYPE_Q8_0] = quantize_row_q8_0x;
    k->quantize_row[LLAMAC_TYPE_Q8_1] = lc_quantize_q8_1x_portable; /* act_row_bytes makes room for Q8_1x */
    k->act_row_bytes = lc_simd_act_row_bytes;
#define SET(T, t)                                                                                             \
    k->gemm[LLAMAC_TYPE_##T] = gemm_##t##_raw;                                                                \
    k->gemm_packed[LLAMAC_TYPE_##T] = gemm_##t##_packed;
    SET(Q4_0, q4_0)
    SET(Q8_0, q8_0)
    SET(Q4_K, q4_K)
    SET(Q6_K, q6_K)
#undef SET
}
