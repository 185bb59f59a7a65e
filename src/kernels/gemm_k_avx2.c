/*
 * gemm_k_avx2.c — AVX2 GEMM for the K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) with Q8_K activations (the
 * reference Q8_K quantizer), on gemm_q_avx2.c's driver (gemm_avx2.h).
 *
 * The arithmetic is gemm_k_avx512.c's (see there), each 16-row vector split into two 8-lane halves: per
 * super-block and row, the reference's exact integer sums, then its float operations in its order (no FMA),
 * so every output equals ref_kquants*.c bit for bit. AVX2 has no VNNI: quants (unsigned levels) times
 * activation bytes go through maddubs into int16 pair sums, added in int16 only as far as they cannot
 * overflow (Q8_K activations are in -127..127), then madd_epi16 with the sub-block scale as an int16 pair
 * (lc_pair16_2) gives scale * sum exactly in int32:
 *   Q4_K/Q5_K: sub-blocks of 32; Q4_K adds all 8 quads in int16 (16 * 15 * 127 = 30480), Q5_K 4 at a time
 *              (8 * 31 * 127 = 31496); min term: madd of (m, m) pairs with the bsums pairs
 *   Q2_K/Q3_K: sub-blocks of 16 = 4 quads (levels 0..3 / 0..7); min (Q2_K) or bias (Q3_K) term: madd of
 *              (scale 2i, scale 2i+1) pairs with the bsums pairs
 *   Q6_K:      levels 0..63, 2 quads at a time (2 * 2 * 63 * 127 = 32004), madd(ones), times the scale
 */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "kernels/gemm_avx2.h"
#include "kernels/kernels.h"
#include "kernels/pack.h"

#define AINL static inline __attribute__((always_inline))
#define TTK 2 /* tokens per K-quant tile */
#define Q8K_QS offsetof(lc_block_q8_K, qs)
#define Q8K_BSUMS offsetof(lc_block_q8_K, bsums)
#define bcast32 lc_bcast32_2
#define load_f32 lc_load_f32_2
typedef lc_act_tile2 act_tile;

/* ---- Q4_K / Q5_K: head = d, dmin (2 x 32 bytes per block); body = scales (3 vectors) [+ qh (8)] + qs (32) */

AINL __m256i or_low4_32(__m256i a, __m256i b)
{
    return _mm256_or_si256(_mm256_and_si256(a, _mm256_set1_epi32(15)), b);
}

/* 6-bit scale (mins = 0) or min (mins = 1) of sub-block s of rows 8h..8h+7 from the 3 scale dwords D[3] */
AINL __m256i k4_scale2(const __m256i D[3], int s, int mins)
{
    const __m256i m6 = _mm256_set1_epi32(63), m30 = _mm256_set1_epi32(0x30);
    const __m256i A = mins ? D[1] : D[0];
    if (s < 4)
        return _mm256_and_si256(_mm256_srli_epi32(A, 8 * s), m6);
    return or_low4_32(_mm256_srli_epi32(D[2], 8 * (s - 4) + (mins ? 4 : 0)),
                      _mm256_and_si256(_mm256_srli_epi32(A, 8 * (s - 4) + 2), m30));
}

AINL void k4_tile(const int q5, const uint8_t *head, const uint8_t *body, int64_t nblk, const act_tile *a,
                  int64_t ab0, const int tt, __m256 *acc)
{
    const act_tile at = *a;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m10 = _mm256_set1_epi8(0x10);
    const size_t bbytes = q5 ? 2752 : 2240, qs_off = q5 ? 704 : 192;
    __m256 c[2 * TTK];
    for (int i = 0; i < 2 * tt; i++)
        c[i] = acc[i];
    for (int64_t b = 0; b < nblk; b++) {
        const uint8_t *bb = body + (size_t)b * bbytes;
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
            for (int ch = 0; ch < 4; ch++) { /* sub-blocks 2ch (low nibbles) and 2ch+1 (high nibbles) */
                const __m256i sl = lc_pair16_2(k4_scale2(D, 2 * ch, 0)), sh = lc_pair16_2(k4_scale2(D, 2 * ch + 1, 0));
                __m256i lo16[TTK], hi16[TTK];
                for (int t = 0; t < tt; t++)
                    lo16[t] = hi16[t] = _mm256_setzero_si256();
                const uint8_t *qv = bb + qs_off + 512 * ch + 32 * h;
                for (int j = 0; j < 8; j++) {
                    __m256i v = _mm256_load_si256((const __m256i *)(qv + 64 * j));
                    __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                    if (q5) { /* fifth bits: bit 2ch (low) and 2ch+1 (high) of qh[l], moved to bit 4 */
                        __m256i qh = _mm256_load_si256((const __m256i *)(bb + 192 + 64 * j + 32 * h));
                        const int bl = 2 * ch, bh = 2 * ch + 1;
                        __m256i xl = bl <= 4 ? _mm256_slli_epi16(qh, 4 - bl) : _mm256_srli_epi16(qh, bl - 4);
                        __m256i xh = bh <= 4 ? _mm256_slli_epi16(qh, 4 - bh) : _mm256_srli_epi16(qh, bh - 4);
                        lo = _mm256_or_si256(lo, _mm256_and_si256(xl, m10));
                        hi = _mm256_or_si256(hi, _mm256_and_si256(xh, m10));
                    }
                    for (int t = 0; t < tt; t++) {
                        const uint8_t *aq = at.row[t] + ao + Q8K_QS + 64 * ch + 4 * j;
                        lo16[t] = _mm256_add_epi16(lo16[t], _mm256_maddubs_epi16(lo, bcast32(aq)));
                        hi16[t] = _mm256_add_epi16(hi16[t], _mm256_maddubs_epi16(hi, bcast32(aq + 32)));
                    }
                    if (j == 7 || (q5 && j == 3))
                        for (int t = 0; t < tt; t++) {
                            is[t] = _mm256_add_epi32(is[t], _mm256_add_epi32(_mm256_madd_epi16(lo16[t], sl),
                                                                             _mm256_madd_epi16(hi16[t], sh)));
                            lo16[t] = hi16[t] = _mm256_setzero_si256();
                        }
                }
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

AINL void q4_K_tile(const uint8_t *h, const uint8_t *q, int64_t n, const act_tile *a, int64_t b, const int tt,
                    __m256 *c)
{
    k4_tile(0, h, q, n, a, b, tt, c);
}

AINL void q5_K_tile(const uint8_t *h, const uint8_t *q, int64_t n, const act_tile *a, int64_t b, const int tt,
                    __m256 *c)
{
    k4_tile(1, h, q, n, a, b, tt, c);
}

/* ---- Q2_K, Q3_K: 16 sub-blocks of 16 ----
 * Q2_K: head d, dmin; body scales[16] (4 vectors, at 0), qs[64] (16, at 256)                    = 1280 bytes
 * Q3_K: head d;       body hmask[32] (8, at 0), qs[64] (16, at 512), scales[12] (3, at 1536)     = 1728 bytes */
enum { K2, K3 };

/* the scale (mins = 0) or Q2_K min (mins = 1) of sub-block s as int32 lanes; S = the scale vectors */
AINL __m256i k16_scale(const int kind, const __m256i S[4], int s, int mins)
{
    const __m256i m15 = _mm256_set1_epi32(15);
    if (kind == K2)
        return _mm256_and_si256(_mm256_srli_epi32(S[s / 4], 8 * (s % 4) + (mins ? 4 : 0)), m15);
    /* Q3_K: low 4 bits from byte s (s < 8, low nibble) or byte s-8 (high nibble); high 2 bits from byte
     * 8 + s%4 at bit 2*(s/4); minus 32 */
    __m256i lo = s < 8 ? _mm256_srli_epi32(S[s / 4], 8 * (s % 4)) : _mm256_srli_epi32(S[(s - 8) / 4], 8 * ((s - 8) % 4) + 4);
    const int p = 8 * (s % 4) + 2 * (s / 4); /* bit position of the 2 high bits in the lane */
    __m256i hi = p >= 4 ? _mm256_srli_epi32(S[2], p - 4) : _mm256_slli_epi32(S[2], 4 - p);
    hi = _mm256_and_si256(hi, _mm256_set1_epi32(0x30));
    return _mm256_sub_epi32(or_low4_32(lo, hi), _mm256_set1_epi32(32));
}

/* the unsigned levels of the quad at element 128h + 32g + 4lq of rows 8hf..8hf+7 */
AINL __m256i k16_quad(const int kind, const uint8_t *bb, int hf, int h, int g, int lq)
{
    const size_t qs_off = kind == K2 ? 256 : 512;
    __m256i qs = _mm256_srli_epi16(_mm256_load_si256((const __m256i *)(bb + qs_off + 64 * (8 * h + lq) + 32 * hf)), 2 * g);
    if (kind == K2)
        return _mm256_and_si256(qs, _mm256_set1_epi8(3));
    /* Q3_K: u = low 2 bits | (hmask bit 4h+g) << 2 */
    __m256i hm = _mm256_load_si256((const __m256i *)(bb + 64 * lq + 32 * hf));
    const int bit = 4 * h + g;
    hm = bit >= 2 ? _mm256_srli_epi16(hm, bit - 2) : _mm256_slli_epi16(hm, 2 - bit);
    return _mm256_or_si256(_mm256_and_si256(qs, _mm256_set1_epi8(3)), _mm256_and_si256(hm, _mm256_set1_epi8(4)));
}

AINL void k16_tile(const int kind, const uint8_t *head, const uint8_t *body, int64_t nblk, const act_tile *a,
                   int64_t ab0, const int tt, __m256 *acc)
{
    const act_tile at = *a;
    const __m256i lo16 = _mm256_set1_epi32(0xffff);
    const size_t bbytes = kind == K2 ? 1280 : 1728, sc_off = kind == K2 ? 0 : 1536;
    __m256 c[2 * TTK];
#pragma GCC unroll 4
    for (int i = 0; i < 2 * tt; i++)
        c[i] = acc[i];
    for (int64_t b = 0; b < nblk; b++) {
        const uint8_t *bb = body + (size_t)b * bbytes;
        const size_t ao = (size_t)(ab0 + b) * sizeof(lc_block_q8_K);
#pragma GCC unroll 1
        for (int hf = 0; hf < 2; hf++) {
            __m256i S[4];
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                S[k] = k < (kind == K3 ? 3 : 4) ? _mm256_load_si256((const __m256i *)(bb + sc_off + 64 * k + 32 * hf))
                                                : _mm256_setzero_si256();
            /* Q2_K: msum = sum_s m[s] * bsums[s]; Q3_K: corr = sum_s sc[s] * bsums[s]; pairs (2i, 2i+1) */
            __m256i ms[TTK], is[TTK];
#pragma GCC unroll 2
            for (int t = 0; t < tt; t++)
                ms[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                __m256i sp = _mm256_or_si256(_mm256_and_si256(k16_scale(kind, S, 2 * i, 1), lo16),
                                             _mm256_slli_epi32(k16_scale(kind, S, 2 * i + 1, 1), 16));
#pragma GCC unroll 2
                for (int t = 0; t < tt; t++)
                    ms[t] = _mm256_add_epi32(ms[t], _mm256_madd_epi16(sp, bcast32(at.row[t] + ao + Q8K_BSUMS + 4 * i)));
            }
#pragma GCC unroll 2
            for (int t = 0; t < tt; t++) /* Q3_K: levels u = q + 4, so isum = sum(sc * sum(u*a)) - 4 * corr */
                is[t] = kind == K2 ? _mm256_setzero_si256()
                                   : _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(ms[t], 2));
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++)
#pragma GCC unroll 4
                for (int g = 0; g < 4; g++)
#pragma GCC unroll 2
                    for (int half = 0; half < 2; half++) {
                        __m256i dot[TTK];
#pragma GCC unroll 2
                        for (int t = 0; t < tt; t++)
                            dot[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
                        for (int k = 0; k < 4; k++) { /* int16: at most 4 * 2 * 7 * 127 */
                            const int lq = 4 * half + k;
                            const __m256i q = k16_quad(kind, bb, hf, h, g, lq);
#pragma GCC unroll 2
                            for (int t = 0; t < tt; t++)
                                dot[t] = _mm256_add_epi16(
                                    dot[t], _mm256_maddubs_epi16(q, bcast32(at.row[t] + ao + Q8K_QS + 128 * h + 32 * g + 4 * lq)));
                        }
                        const __m256i sc = lc_pair16_2(k16_scale(kind, S, 8 * h + 2 * g + half, 0));
#pragma GCC unroll 2
                        for (int t = 0; t < tt; t++)
                            is[t] = _mm256_add_epi32(is[t], _mm256_madd_epi16(dot[t], sc));
                    }
            if (kind == K2) {
                const __m256 dw = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(head + (size_t)b * 64 + 16 * hf)));
                const __m256 dmw =
                    _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(head + (size_t)b * 64 + 32 + 16 * hf)));
#pragma GCC unroll 2
                for (int t = 0; t < tt; t++) {
                    __m256 da = _mm256_set1_ps(load_f32(at.row[t] + ao));
                    __m256 p1 = _mm256_mul_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(is[t]));
                    __m256 p2 = _mm256_mul_ps(_mm256_mul_ps(dmw, da), _mm256_cvtepi32_ps(ms[t]));
                    c[2 * t + hf] = _mm256_add_ps(c[2 * t + hf], _mm256_sub_ps(p1, p2));
                }
            } else {
                const __m256 dw = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(head + (size_t)b * 32 + 16 * hf)));
#pragma GCC unroll 2
                for (int t = 0; t < tt; t++) {
                    __m256 da = _mm256_set1_ps(load_f32(at.row[t] + ao));
                    c[2 * t + hf] = _mm256_add_ps(c[2 * t + hf], _mm256_mul_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(is[t])));
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < 2 * tt; i++)
        acc[i] = c[i];
}

AINL void q2_K_tile(const uint8_t *h, const uint8_t *q, int64_t n, const act_tile *a, int64_t b, const int tt,
                    __m256 *c)
{
    k16_tile(K2, h, q, n, a, b, tt, c);
}

AINL void q3_K_tile(const uint8_t *h, const uint8_t *q, int64_t n, const act_tile *a, int64_t b, const int tt,
                    __m256 *c)
{
    k16_tile(K3, h, q, n, a, b, tt, c);
}

/* ---- Q6_K: head d; body ql[128] (32 vectors, at 0), qh[64] (16, at 2048), scales[16] (4, at 3072) ---- */

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
#pragma GCC unroll 4
    for (int i = 0; i < 2 * tt; i++)
        c[i] = acc[i];
    for (int64_t b = 0; b < nblk; b++) {
        const uint8_t *bb = body + (size_t)b * 3328;
        const size_t ao = (size_t)(ab0 + b) * sizeof(lc_block_q8_K);
#pragma GCC unroll 1
        for (int hf = 0; hf < 2; hf++) {
            __m256i S[4];
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                S[k] = _mm256_load_si256((const __m256i *)(bb + 3072 + 64 * k + 32 * hf));
            __m256i is[TTK];
#pragma GCC unroll 2
            for (int t = 0; t < tt; t++)
                is[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) { /* -32 * sum_s sc[s] * bsums[s] */
                __m256i sp = _mm256_or_si256(_mm256_and_si256(q6_scale2(S, 2 * i), lo16m),
                                             _mm256_slli_epi32(q6_scale2(S, 2 * i + 1), 16));
#pragma GCC unroll 2
                for (int t = 0; t < tt; t++)
                    is[t] = _mm256_sub_epi32(is[t], _mm256_slli_epi32(
                                                        _mm256_madd_epi16(sp, bcast32(at.row[t] + ao + Q8K_BSUMS + 4 * i)), 5));
            }
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++)
#pragma GCC unroll 4
                for (int g = 0; g < 4; g++)
#pragma GCC unroll 2
                    for (int half = 0; half < 2; half++) {
                        __m256i dot[TTK];
#pragma GCC unroll 2
                        for (int t = 0; t < tt; t++)
                            dot[t] = _mm256_setzero_si256();
#pragma GCC unroll 2
                        for (int k2 = 0; k2 < 2; k2++) {
                            __m256i s16[TTK];
#pragma GCC unroll 2
                            for (int t = 0; t < tt; t++)
                                s16[t] = _mm256_setzero_si256();
#pragma GCC unroll 2
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
#pragma GCC unroll 2
                                for (int t = 0; t < tt; t++)
                                    s16[t] = _mm256_add_epi16(
                                        s16[t], _mm256_maddubs_epi16(q, bcast32(at.row[t] + ao + Q8K_QS + 128 * h + 32 * g + 4 * lq)));
                            }
#pragma GCC unroll 2
                            for (int t = 0; t < tt; t++)
                                dot[t] = _mm256_add_epi32(dot[t], _mm256_madd_epi16(s16[t], ones));
                        }
                        const __m256i sc = q6_scale2(S, 8 * h + 2 * g + half);
#pragma GCC unroll 2
                        for (int t = 0; t < tt; t++)
                            is[t] = _mm256_add_epi32(is[t], _mm256_mullo_epi32(dot[t], sc));
                    }
            const __m256 dw = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(head + (size_t)b * 32 + 16 * hf)));
#pragma GCC unroll 2
            for (int t = 0; t < tt; t++) {
                __m256 da = _mm256_set1_ps(load_f32(at.row[t] + ao));
                c[2 * t + hf] = _mm256_add_ps(c[2 * t + hf], _mm256_mul_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(is[t])));
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < 2 * tt; i++)
        acc[i] = c[i];
}

LC2_DEFINE_TILES2(q2_K)
LC2_DEFINE_TILES2(q3_K)
LC2_DEFINE_TILES2(q4_K)
LC2_DEFINE_TILES2(q5_K)
LC2_DEFINE_TILES2(q6_K)

/* kc = 8 super-blocks (2048 elements): at most 8 x 16 x 210 bytes = 26.9 KiB packed on the fly */
#define DESC(T, t)                                                                                            \
    static const lc_qgemm2 g_##t = {LLAMAC_TYPE_##T, TTK, 0, 8, t##_tiles};                                   \
    static void gemm_##t##_packed(const lc_gemm_args *g) { lc_qgemm2_run(&g_##t, g, 1); }                    \
    static void gemm_##t##_raw(const lc_gemm_args *g) { lc_qgemm2_run(&g_##t, g, 0); }
DESC(Q2_K, q2_K)
DESC(Q3_K, q3_K)
DESC(Q4_K, q4_K)
DESC(Q5_K, q5_K)
DESC(Q6_K, q6_K)
#undef DESC

void lc_init_gemm_k_avx2(lc_kernels *k)
{
#define SET(T, t)                                                                                             \
    k->gemm[LLAMAC_TYPE_##T] = gemm_##t##_raw;                                                                \
    k->gemm_packed[LLAMAC_TYPE_##T] = gemm_##t##_packed;
    SET(Q2_K, q2_K)
    SET(Q3_K, q3_K)
    SET(Q4_K, q4_K)
    SET(Q5_K, q5_K)
    SET(Q6_K, q6_K)
#undef SET
}
