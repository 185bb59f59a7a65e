/*
 * gemm_k_avx512.c — AVX-512 VNNI GEMM for the K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) with Q8_K activations,
 * and the Q8_K activation quantizer (bit-identical to lc_q8_K_from_float).
 *
 * Weights are in the G16 layout (pack.h): one zmm lane per row of a 16-row group; the driver is
 * gemm_q_avx512.c's. Per super-block of 256 elements, each (row, token) gets the reference's exact integers,
 * then the reference's float operations in its order (no FMA), so every output equals ref_kquants*.c bit for
 * bit. The quants enter vpdpbusd as unsigned bytes; the activation sums (bsums, per 16 elements) enter
 * vpdpwssd with the 6/8-bit scales or mins as int16 pairs:
 *
 *   Q4_K/Q5_K (8 sub-blocks of 32, 6-bit scale sc and min m packed in 12 bytes, q 0..15 / 0..31)
 *       isum = sum_s sc[s] * sum(q*a)    msum = sum_s m[s] * (bsums[2s] + bsums[2s+1])
 *       acc += (d*da) * (float)isum - (dmin*da) * (float)msum
 *   Q2_K (16 sub-blocks of 16, 4-bit sc and m, q 0..3): isum and msum as above per 16, same float step
 *   Q3_K (16 of 16, 6-bit signed sc, stored level u = q + 4 in 0..7) and Q6_K (16 of 16, int8 sc, u = q + 32
 *       in 0..63): isum = sum_s sc[s] * sum(u*a) - bias * sum_s sc[s] * bsums[s];  acc += (d*da) * (float)isum
 * Scales are unpacked per super-block and group, shared by all tokens of a tile.
 */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"
#include "kernels/pack.h"

#define AINL static inline __attribute__((always_inline))
#define TTK 8 /* most tokens per tile (the tiles of more than 4 tokens keep ~3 registers per token) */
#define K4_TWO_PASS 5 /* Q4_K/Q5_K tiles of more tokens take one pass per nibble (measured: 5 two, 6 one) */

/* ---- Q8_K quantizer ---- */

static void quantize_row_q8_K(const float *x, void *y, int64_t n)
{
    lc_block_q8_K *b = y;
    for (int64_t i = 0; i < n / LC_QK_K; i++, x += LC_QK_K) {
        __m512 m = _mm512_setzero_ps();
        for (int c = 0; c < 16; c++)
            m = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * c)), m); /* NaN skipped */
        float amax = _mm512_reduce_max_ps(m);
        if (!(amax != 0.0f)) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        float max = 0; /* the first element of largest magnitude, with its sign */
        for (int c = 0; c < 16; c++) {
            __mmask16 eq = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * c)), _mm512_set1_ps(amax),
                                              _CMP_EQ_OQ);
            if (eq) {
                max = x[16 * c + __builtin_ctz(eq)];
                break;
            }
        }
        float is = -127.0f / max;
        const __m512 vis = _mm512_set1_ps(is);
        for (int c = 0; c < 16; c++) {
            __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + 16 * c), vis);
            __mmask16 ok = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q); /* lc_nearest(NaN) = 0 */
            v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-128.0f)), _mm512_set1_ps(128.0f));
            __m512i q = _mm512_cvtps_epi32(v); /* round to nearest even, as lrintf */
            q = _mm512_min_epi32(_mm512_max_epi32(q, _mm512_set1_epi32(-127)), _mm512_set1_epi32(127));
            q = _mm512_maskz_mov_epi32(ok, q);
            _mm_storeu_si128((__m128i *)(b[i].qs + 16 * c), _mm512_cvtepi32_epi8(q));
            b[i].bsums[c] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        b[i].d = 1.0f / is;
    }
}

/* ---- shared helpers ---- */

AINL __m512i bcast32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* acc + vpdpbusd(w, the 4 bytes at p broadcast), the broadcast folded into the instruction (GCC does not
 * fold it for vpdpbusd by itself) */
AINL __m512i dpbusd_b(__m512i acc, __m512i w, const uint8_t *p)
{
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*(const int32_t *)p));
    return acc;
}

AINL float load_f32(const uint8_t *p)
{
    float v;
    memcpy(&v, p, 4);
    return v;
}

/* (a & 0x0f) | b in every byte (b already masked to other bits) */
AINL __m512i or_low4(__m512i a, __m512i b)
{
    return _mm512_ternarylogic_epi32(a, b, _mm512_set1_epi8(0x0f), 0xEC);
}

/* (a & 15) | b in every 32-bit lane (b already masked to other bits) */
AINL __m512i or_low4_32(__m512i a, __m512i b)
{
    return _mm512_ternarylogic_epi32(a, b, _mm512_set1_epi32(15), 0xEC);
}

#define Q8K_QS offsetof(lc_block_q8_K, qs)
#define Q8K_BSUMS offsetof(lc_block_q8_K, bsums)

/* ---- Q4_K / Q5_K: head = d, dmin (2 x 32 bytes per block); body = scales (3 vectors) [+ qh (8)] + qs (32) */

/* 6-bit scale (mins = 0) or min (mins = 1) of sub-block s from the 3 scale vectors, as int32 lanes */
AINL __m512i k4_scale(const __m512i D[3], int s, int mins)
{
    const __m512i m6 = _mm512_set1_epi32(63), m30 = _mm512_set1_epi32(0x30);
    const __m512i A = mins ? D[1] : D[0];
    if (s < 4)
        return _mm512_and_si512(_mm512_srli_epi32(A, 8 * s), m6);
    return or_low4_32(_mm512_srli_epi32(D[2], 8 * (s - 4) + (mins ? 4 : 0)),
                      _mm512_and_si512(_mm512_srli_epi32(A, 8 * (s - 4) + 2), m30));
}

/* k4_scale(D, s, 0) for s known at run time only (per-lane shift counts) */
AINL __m512i k4_scale_rt(const __m512i D[3], int s)
{
    const __m512i m6 = _mm512_set1_epi32(63), m30 = _mm512_set1_epi32(0x30);
    if (s < 4)
        return _mm512_and_si512(_mm512_srlv_epi32(D[0], _mm512_set1_epi32(8 * s)), m6);
    const __m512i n = _mm512_set1_epi32(8 * (s - 4));
    return or_low4_32(_mm512_srlv_epi32(D[2], n),
                      _mm512_and_si512(_mm512_srlv_epi32(D[0], _mm512_add_epi32(n, _mm512_set1_epi32(2))), m30));
}

/* acc + vpdpwssd(w, the int16 pair at p broadcast) */
AINL __m512i dpwssd_b(__m512i acc, __m512i w, const int32_t *p)
{
    __asm__("vpdpwssd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*p));
    return acc;
}

/* the activation side of msum in int16 pairs: dword i = bs(2i) | bs(2i+1) << 16 with bs(s) = bsums[2s] +
 * bsums[2s+1], the sum of sub-block s (|bs| <= 32 * 127: exact in int16) */
AINL void k4_bsum_pairs(const uint8_t *bsums, int32_t out[4])
{
    __m256i x = _mm256_loadu_si256((const __m256i *)bsums);
    x = _mm256_add_epi16(x, _mm256_srli_epi32(x, 16));
    _mm_store_si128((__m128i *)out, _mm256_cvtepi32_epi16(x));
}

AINL void k4_tile(const int q5, const uint8_t *head, const uint8_t *body, int64_t nblk, const lc_act_tile *a,
                  int64_t ab0, const int tt, __m512 *acc)
{
    const lc_act_tile at = *a;
    const __m512i m4 = _mm512_set1_epi8(0x0f), m10 = _mm512_set1_epi8(0x10);
    const size_t bbytes = q5 ? 2752 : 2240, qs_off = q5 ? 704 : 192;
    __m512 c[TTK];
#pragma GCC unroll 8
    for (int t = 0; t < tt; t++)
        c[t] = tt > 4 ? _mm512_setzero_ps() : acc[t];
    for (int64_t b = 0; b < nblk; b++) {
        const uint8_t *bb = body + (size_t)b * bbytes;
        const size_t ao = (size_t)(ab0 + b) * sizeof(lc_block_q8_K);
        if (at.pf && (q5 || tt > 2)) /* Q4_K reads the body in order: the hardware prefetcher follows it (pf_body 0) */
            lc_prefetch_ahead(bb, bbytes);
        const __m512i D[3] = {_mm512_load_si512(bb), _mm512_load_si512(bb + 64), _mm512_load_si512(bb + 128)};
        /* msum = sum_s m[s] * bs(s) with bs(s) = bsums[2s] + bsums[2s+1]. Up to 4 tokens: here, one sub-block
         * per vpdpwssd (m[s] in both halves of each lane); more: after the dots, two per vpdpwssd */
        __m512i ms[TTK];
        if (tt <= 4) {
#pragma GCC unroll 8
            for (int t = 0; t < tt; t++)
                ms[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int s = 0; s < 8; s++) {
                __m512i m = k4_scale(D, s, 1);
                __m512i mp = _mm512_or_si512(m, _mm512_slli_epi32(m, 16));
#pragma GCC unroll 8
                for (int t = 0; t < tt; t++)
                    ms[t] = _mm512_dpwssd_epi32(ms[t], mp, bcast32(at.row[t] + ao + Q8K_BSUMS + 4 * s));
            }
        }
        __m512i is[TTK];
#pragma GCC unroll 8
        for (int t = 0; t < tt; t++)
            is[t] = _mm512_setzero_si512();
        if (tt > K4_TWO_PASS) {
            /* small batches: one pass per nibble, so the tile holds one dot chain per token instead of two
             * and fits the registers at 8 tokens. The sub-block s is known at run time only; its shifts take
             * per-lane counts (vpsllvw, vpsrlvd), which here do not take a slot of the two vpdpbusd pipes while
             * a shift by an xmm count or a rotation does (unrolled instead, GCC spills more: slower) */
#pragma GCC unroll 1
            for (int ch = 0; ch < 4; ch++)
#pragma GCC unroll 1
                for (int nib = 0; nib < 2; nib++) {
                    const uint8_t *qv = bb + qs_off + 512 * ch;
                    const int s = 2 * ch + nib;
                    const __m512i c5 = _mm512_set1_epi16((short)(7 - s));
                    __m512i dot[TTK];
#pragma GCC unroll 8
                    for (int t = 0; t < tt; t++)
                        dot[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
                    for (int j = 0; j < 8; j++) {
                        __m512i v = _mm512_load_si512(qv + 64 * j);
                        __m512i x = nib ? _mm512_and_si512(_mm512_srli_epi16(v, 4), m4) : _mm512_and_si512(v, m4);
                        if (q5) { /* fifth bit: bit s of qh[l], moved to bit 7, then 4 */
                            __m512i qh = _mm512_sllv_epi16(_mm512_load_si512(bb + 192 + 64 * j), c5);
                            x = _mm512_ternarylogic_epi32(x, _mm512_srli_epi16(qh, 3), m10, 0xF8);
                        }
#pragma GCC unroll 8
                        for (int t = 0; t < tt; t++)
                            dot[t] = dpbusd_b(dot[t], x, at.row[t] + ao + Q8K_QS + 64 * ch + 32 * nib + 4 * j);
                    }
                    const __m512i sc = k4_scale_rt(D, s);
#pragma GCC unroll 8
                    for (int t = 0; t < tt; t++)
                        is[t] = _mm512_add_epi32(is[t], _mm512_mullo_epi32(dot[t], sc));
                }
        } else
#pragma GCC unroll 1
        for (int ch = 0; ch < 4; ch++) { /* sub-blocks 2ch (low nibbles) and 2ch+1 (high nibbles) */
            const uint8_t *qv = bb + qs_off + 512 * ch;
            const __m512i sc_lo = k4_scale(D, 2 * ch, 0), sc_hi = k4_scale(D, 2 * ch + 1, 0);
            __m512i lo_acc[TTK], hi_acc[TTK];
#pragma GCC unroll 8
            for (int t = 0; t < tt; t++)
                lo_acc[t] = hi_acc[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) {
                __m512i v = _mm512_load_si512(qv + 64 * j);
                __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                if (q5) { /* fifth bits: bit 2ch (low) and 2ch+1 (high) of qh[l], moved to bit 4 */
                    __m512i qh = _mm512_load_si512(bb + 192 + 64 * j);
                    const int sl = 2 * ch, sh = 2 * ch + 1;
                    __m512i bl = sl <= 4 ? _mm512_slli_epi16(qh, 4 - sl) : _mm512_srli_epi16(qh, sl - 4);
                    __m512i bh = sh <= 4 ? _mm512_slli_epi16(qh, 4 - sh) : _mm512_srli_epi16(qh, sh - 4);
                    lo = _mm512_or_si512(lo, _mm512_and_si512(bl, m10));
                    hi = _mm512_or_si512(hi, _mm512_and_si512(bh, m10));
                }
#pragma GCC unroll 8
                for (int t = 0; t < tt; t++) {
                    const uint8_t *aq = at.row[t] + ao + Q8K_QS + 64 * ch + 4 * j;
                    lo_acc[t] = _mm512_dpbusd_epi32(lo_acc[t], lo, bcast32(aq));
                    hi_acc[t] = _mm512_dpbusd_epi32(hi_acc[t], hi, bcast32(aq + 32));
                }
            }
#pragma GCC unroll 8
            for (int t = 0; t < tt; t++)
                is[t] = _mm512_add_epi32(is[t], _mm512_add_epi32(_mm512_mullo_epi32(lo_acc[t], sc_lo),
                                                                 _mm512_mullo_epi32(hi_acc[t], sc_hi)));
        }
        int32_t bsp[TTK][4] __attribute__((aligned(16)));
        __m512i mp[4];
        if (tt > 4) {
#pragma GCC unroll 8
            for (int t = 0; t < tt; t++)
                k4_bsum_pairs(at.row[t] + ao + Q8K_BSUMS, bsp[t]);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
                mp[i] = _mm512_or_si512(k4_scale(D, 2 * i, 1), _mm512_slli_epi32(k4_scale(D, 2 * i + 1, 1), 16));
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(head + (size_t)b * 64)));
        const __m512 dmw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(head + (size_t)b * 64 + 32)));
        /* tt > 4: the float sums stay in memory (an opaque pointer: not promoted to registers), which leaves
         * the registers to the dot chains */
        __m512 *cm = acc;
        __asm__("" : "+r"(cm));
#pragma GCC unroll 8
        for (int t = 0; t < tt; t++) {
            if (tt > 4) {
                ms[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++)
                    ms[t] = dpwssd_b(ms[t], mp[i], &bsp[t][i]);
            }
            __m512 da = _mm512_set1_ps(load_f32(at.row[t] + ao));
            __m512 p1 = _mm512_mul_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(is[t]));
            __m512 p2 = _mm512_mul_ps(_mm512_mul_ps(dmw, da), _mm512_cvtepi32_ps(ms[t]));
            if (tt > 4)
                cm[t] = _mm512_add_ps(cm[t], _mm512_sub_ps(p1, p2));
            else
                c[t] = _mm512_add_ps(c[t], _mm512_sub_ps(p1, p2));
        }
    }
    if (tt <= 4)
#pragma GCC unroll 8
        for (int t = 0; t < tt; t++)
            acc[t] = c[t];
}

/* Q4_K prefill, 32 rows (two groups, the second gstride bytes on) x tt tokens: each activation broadcast feeds
 * both groups' vpdpbusd (at 16 rows x 8 tokens every vpdpbusd had its own broadcast: ~600 loads per 512
 * vpdpbusd, against ~390 here). One pass per nibble (the chunk at run time, the two nibbles' passes
 * unrolled); the mins after the dots, two sub-blocks per vpdpwssd. Per (row, token) the same integers and the
 * same float step as k4_tile. acc[2 * t + k] is group k's accumulator for token t. */
#define K4_TT2 4
AINL void q4_K_tile2(const uint8_t *head, const uint8_t *body, size_t gs, int64_t nblk, const lc_act_tile *a,
                     int64_t ab0, const int tt, __m512 *acc)
{
    const lc_act_tile at = *a;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const size_t bbytes = 2240, qs_off = 192;
    for (int64_t b = 0; b < nblk; b++) {
        const uint8_t *bb0 = body + (size_t)b * bbytes, *bb1 = bb0 + gs;
        const size_t ao = (size_t)(ab0 + b) * sizeof(lc_block_q8_K);
        __m512i is[2 * K4_TT2];
#pragma GCC unroll 8
        for (int t = 0; t < 2 * tt; t++)
            is[t] = _mm512_setzero_si512();
#pragma GCC unroll 1
        for (int ch = 0; ch < 4; ch++)
#pragma GCC unroll 2
            for (int nib = 0; nib < 2; nib++) { /* the two nibbles' passes back to back; the asm keeps GCC from
                                                 * holding the chunk's 16 vectors across them */
                const uint8_t *q0 = bb0 + qs_off + 512 * ch, *q1 = bb1 + qs_off + 512 * ch;
                __asm__("" : "+r"(q0), "+r"(q1));
                const int s = 2 * ch + nib;
                __m512i dot[2 * K4_TT2];
#pragma GCC unroll 8
                for (int t = 0; t < 2 * tt; t++)
                    dot[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++) {
                    __m512i v0 = _mm512_load_si512(q0 + 64 * j), v1 = _mm512_load_si512(q1 + 64 * j);
                    __m512i x0 = _mm512_and_si512(nib ? _mm512_srli_epi16(v0, 4) : v0, m4);
                    __m512i x1 = _mm512_and_si512(nib ? _mm512_srli_epi16(v1, 4) : v1, m4);
#pragma GCC unroll 4
                    for (int t = 0; t < tt; t++) {
                        __m512i y = bcast32(at.row[t] + ao + Q8K_QS + 32 * s + 4 * j);
                        dot[2 * t] = _mm512_dpbusd_epi32(dot[2 * t], x0, y);
                        dot[2 * t + 1] = _mm512_dpbusd_epi32(dot[2 * t + 1], x1, y);
                    }
                }
                const __m512i D0[3] = {_mm512_load_si512(bb0), _mm512_setzero_si512(), _mm512_load_si512(bb0 + 128)};
                const __m512i D1[3] = {_mm512_load_si512(bb1), _mm512_setzero_si512(), _mm512_load_si512(bb1 + 128)};
                const __m512i sc0 = k4_scale_rt(D0, s), sc1 = k4_scale_rt(D1, s);
#pragma GCC unroll 4
                for (int t = 0; t < tt; t++) {
                    is[2 * t] = _mm512_add_epi32(is[2 * t], _mm512_mullo_epi32(dot[2 * t], sc0));
                    is[2 * t + 1] = _mm512_add_epi32(is[2 * t + 1], _mm512_mullo_epi32(dot[2 * t + 1], sc1));
                }
            }
        int32_t bsp[K4_TT2][4] __attribute__((aligned(16)));
#pragma GCC unroll 4
        for (int t = 0; t < tt; t++)
            k4_bsum_pairs(at.row[t] + ao + Q8K_BSUMS, bsp[t]);
        __m512 *cm = acc; /* the float sums stay in memory (an opaque pointer), as in k4_tile from 5 tokens */
        __asm__("" : "+r"(cm));
#pragma GCC unroll 2
        for (int k = 0; k < 2; k++) {
            const uint8_t *bb = k ? bb1 : bb0, *hd = head + (size_t)k * gs + (size_t)b * 64;
            const __m512i D[3] = {_mm512_load_si512(bb), _mm512_load_si512(bb + 64), _mm512_load_si512(bb + 128)};
            __m512i mp[4];
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
                mp[i] = _mm512_or_si512(k4_scale(D, 2 * i, 1), _mm512_slli_epi32(k4_scale(D, 2 * i + 1, 1), 16));
            const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)hd));
            const __m512 dmw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(hd + 32)));
#pragma GCC unroll 4
            for (int t = 0; t < tt; t++) {
                __m512i ms = _mm512_setzero_si512();
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++)
                    ms = dpwssd_b(ms, mp[i], &bsp[t][i]);
                __m512 da = _mm512_set1_ps(load_f32(at.row[t] + ao));
                __m512 p1 = _mm512_mul_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(is[2 * t + k]));
                __m512 p2 = _mm512_mul_ps(_mm512_mul_ps(dmw, da), _mm512_cvtepi32_ps(ms));
                cm[2 * t + k] = _mm512_add_ps(cm[2 * t + k], _mm512_sub_ps(p1, p2));
            }
        }
    }
}

_Static_assert(K4_TT2 == 4, "LC_DEFINE_TILES2 makes tiles of 1-4 tokens");
LC_DEFINE_TILES2(q4_K)

AINL void q4_K_tile(const uint8_t *h, const uint8_t *q, int64_t n, const lc_act_tile *a, int64_t b, const int tt,
                    __m512 *c)
{
    k4_tile(0, h, q, n, a, b, tt, c);
}

AINL void q5_K_tile(const uint8_t *h, const uint8_t *q, int64_t n, const lc_act_tile *a, int64_t b, const int tt,
                    __m512 *c)
{
    k4_tile(1, h, q, n, a, b, tt, c);
}

/* ---- Q2_K, Q3_K, Q6_K: 16 sub-blocks of 16 ----
 * Q2_K: head d, dmin; body scales[16] (4 vectors, at 0), qs[64] (16, at 256)                    = 1280 bytes
 * Q3_K: head d;       body hmask[32] (8, at 0), qs[64] (16, at 512), scales[12] (3, at 1536)     = 1728 bytes
 * Q6_K: head d;       body ql[128] (32, at 0), qh[64] (16, at 2048), scales[16] (4, at 3072)     = 3328 bytes */
enum { K2, K3, K6 };

/* the scale (mins = 0) or Q2_K min (mins = 1) of sub-block s as int32 lanes; S = the scale vectors */
AINL __m512i k16_scale(const int kind, const __m512i S[4], int s, int mins)
{
    const __m512i m15 = _mm512_set1_epi32(15);
    if (kind == K2)
        return _mm512_and_si512(_mm512_srli_epi32(S[s / 4], 8 * (s % 4) + (mins ? 4 : 0)), m15);
    if (kind == K6)
        return _mm512_srai_epi32(_mm512_slli_epi32(S[s / 4], 24 - 8 * (s % 4)), 24);
    /* Q3_K: low 4 bits from byte s (s < 8, low nibble) or byte s-8 (high nibble); high 2 bits from byte
     * 8 + s%4 at bit 2*(s/4); minus 32 */
    __m512i lo = s < 8 ? _mm512_srli_epi32(S[s / 4], 8 * (s % 4)) : _mm512_srli_epi32(S[(s - 8) / 4], 8 * ((s - 8) % 4) + 4);
    const int p = 8 * (s % 4) + 2 * (s / 4); /* bit position of the 2 high bits in the lane */
    __m512i hi = p >= 4 ? _mm512_srli_epi32(S[2], p - 4) : _mm512_slli_epi32(S[2], 4 - p);
    hi = _mm512_and_si512(hi, _mm512_set1_epi32(0x30));
    return _mm512_sub_epi32(or_low4_32(lo, hi), _mm512_set1_epi32(32));
}

/* the unsigned levels of the quad at element 128h + 32g + 4lq of 16 rows */
AINL __m512i k16_quad(const int kind, const uint8_t *bb, int h, int g, int lq)
{
    if (kind == K6) {
        __m512i ql = _mm512_load_si512(bb + 64 * (16 * h + 8 * (g & 1) + lq));
        __m512i qh = _mm512_load_si512(bb + 2048 + 64 * (8 * h + lq));
        if (g >= 2)
            ql = _mm512_srli_epi16(ql, 4);
        qh = g == 0 ? _mm512_slli_epi16(qh, 4) : g == 1 ? _mm512_slli_epi16(qh, 2) : g == 3 ? _mm512_srli_epi16(qh, 2) : qh;
        return or_low4(ql, _mm512_and_si512(qh, _mm512_set1_epi8(0x30)));
    }
    const size_t qs_off = kind == K2 ? 256 : 512;
    __m512i qs = _mm512_srli_epi16(_mm512_load_si512(bb + qs_off + 64 * (8 * h + lq)), 2 * g);
    if (kind == K2)
        return _mm512_and_si512(qs, _mm512_set1_epi8(3));
    /* Q3_K: u = low 2 bits | (hmask bit 4h+g) << 2 */
    __m512i hm = _mm512_load_si512(bb + 64 * lq);
    const int bit = 4 * h + g;
    hm = bit >= 2 ? _mm512_srli_epi16(hm, bit - 2) : _mm512_slli_epi16(hm, 2 - bit);
    return _mm512_ternarylogic_epi32(qs, _mm512_and_si512(hm, _mm512_set1_epi8(4)), _mm512_set1_epi8(3), 0xEC);
}

/* k16_scale of Q3_K sub-block s known only at run time; sp = the scale vectors */
AINL __m512i k3_scale_rt(const uint8_t *sp, int s)
{
    const int sl = s & 7, p = 8 * (s % 4) + 2 * (s / 4);
    __m512i lo =
        _mm512_srl_epi32(_mm512_load_si512(sp + 64 * (sl / 4)), _mm_cvtsi32_si128(8 * (sl % 4) + 4 * (s >> 3)));
    const __m512i s2 = _mm512_load_si512(sp + 128);
    __m512i hi = p >= 4 ? _mm512_srl_epi32(s2, _mm_cvtsi32_si128(p - 4))
                        : _mm512_sll_epi32(s2, _mm_cvtsi32_si128(4 - p));
    hi = _mm512_and_si512(hi, _mm512_set1_epi32(0x30));
    return _mm512_sub_epi32(or_low4_32(lo, hi), _mm512_set1_epi32(32));
}

/* The 16 sub-blocks of a tile of 5-8 tokens: a run-time loop over (h, half), the four g unrolled, so the
 * quads' shift counts are constants (Q3_K's hmask vectors are shifted by 4h once per iteration) and the
 * vectors shared by the four g (Q6_K's qh, Q2_K/Q3_K's qs and hmask) are loaded once. Each sub-block's dots are
 * scaled as soon as they are complete; the asm barrier keeps GCC from reassociating the sums over the four g,
 * which kept every sub-block's dots alive and spilled them. */
AINL void k16_wide(const int kind, const uint8_t *bb, const lc_act_tile at, size_t ao, const int tt, __m512i *is)
{
    const size_t qs_off = kind == K2 ? 256 : 512;
#pragma GCC unroll 1
    for (int hh = 0; hh < 4; hh++) {
        const int h = hh >> 1, half = hh & 1;
        const size_t aq = ao + Q8K_QS + 128 * h + 16 * half;
        const __m128i cs = _mm_cvtsi32_si128(kind == K6 ? 8 - 8 * half : 8 * half), ch = _mm_cvtsi32_si128(4 * h);
        /* Q6_K: the scale bytes of this (h, half) moved to bytes 1 and 3; Q2_K: to bytes 0 and 2 */
        __m512i sa = _mm512_setzero_si512(), sb = sa;
        if (kind == K6) {
            sa = _mm512_sll_epi32(_mm512_load_si512(bb + 3072 + 128 * h), cs);
            sb = _mm512_sll_epi32(_mm512_load_si512(bb + 3072 + 128 * h + 64), cs);
        } else if (kind == K2) {
            sa = _mm512_srl_epi32(_mm512_load_si512(bb + 128 * h), cs);
            sb = _mm512_srl_epi32(_mm512_load_si512(bb + 128 * h + 64), cs);
        }
#pragma GCC unroll 4
        for (int gi = 0; gi < 4; gi++) {
            /* Q6_K: g in the order 0, 2, 1, 3 (g and g + 2 share the ql vectors; the other order spilled them) */
            const int g = kind == K6 ? (gi >> 1) | ((gi & 1) << 1) : gi;
            __m512i dot[TTK];
#pragma GCC unroll 8
            for (int t = 0; t < tt; t++)
                dot[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const int lq = 4 * half + k;
                __m512i q;
                if (kind == K6) {
                    __m512i l = _mm512_load_si512(bb + 64 * (16 * h + 8 * (g & 1) + lq));
                    __m512i u = _mm512_load_si512(bb + 2048 + 64 * (8 * h + lq));
                    if (g >= 2)
                        l = _mm512_srli_epi16(l, 4);
                    u = g == 0 ? _mm512_slli_epi16(u, 4) : g == 1 ? _mm512_slli_epi16(u, 2) : g == 3 ? _mm512_srli_epi16(u, 2) : u;
                    q = or_low4(l, _mm512_and_si512(u, _mm512_set1_epi8(0x30)));
                } else {
                    __m512i v = _mm512_load_si512(bb + qs_off + 64 * (8 * h + lq));
                    if (g)
                        v = _mm512_srli_epi16(v, 2 * g);
                    if (kind == K2) {
                        q = _mm512_and_si512(v, _mm512_set1_epi8(3));
                    } else { /* Q3_K: | (hmask bit 4h + g) << 2 */
                        __m512i m = _mm512_srl_epi16(_mm512_load_si512(bb + 64 * lq), ch);
                        m = g < 2 ? _mm512_slli_epi16(m, 2 - g) : g == 3 ? _mm512_srli_epi16(m, 1) : m;
                        q = _mm512_ternarylogic_epi32(v, _mm512_and_si512(m, _mm512_set1_epi8(4)), _mm512_set1_epi8(3),
                                                      0xEC);
                    }
                }
#pragma GCC unroll 8
                for (int t = 0; t < tt; t++)
                    dot[t] = dpbusd_b(dot[t], q, at.row[t] + aq + 32 * g + 4 * k);
            }
            __m512i sc;
            const __m512i sv = g < 2 ? sa : sb;
            if (kind == K6)
                sc = _mm512_srai_epi32((g & 1) ? sv : _mm512_slli_epi32(sv, 16), 24);
            else if (kind == K2)
                sc = _mm512_and_si512((g & 1) ? _mm512_srli_epi32(sv, 16) : sv, _mm512_set1_epi32(15));
            else
                sc = k3_scale_rt(bb + 1536, 8 * h + 2 * g + half);
#pragma GCC unroll 8
            for (int t = 0; t < tt; t++) {
                is[t] = _mm512_add_epi32(is[t], _mm512_mullo_epi32(dot[t], sc));
                __asm__("" : "+v"(is[t]));
            }
        }
    }
}

AINL void k16_tile(const int kind, const uint8_t *head, const uint8_t *body, int64_t nblk, const lc_act_tile *a,
                   int64_t ab0, const int tt, __m512 *acc)
{
    const lc_act_tile at = *a;
    const __m512i lo16 = _mm512_set1_epi32(0xffff);
    const size_t bbytes = kind == K2 ? 1280 : kind == K3 ? 1728 : 3328;
    const size_t sc_off = kind == K2 ? 0 : kind == K3 ? 1536 : 3072;
    const int bias_shift = kind == K3 ? 2 : 5; /* Q3_K: 4, Q6_K: 32 */
    __m512 c[TTK];
#pragma GCC unroll 8
    for (int t = 0; t < tt; t++)
        c[t] = acc[t];
    for (int64_t b = 0; b < nblk; b++) {
        const uint8_t *bb = body + (size_t)b * bbytes;
        const size_t ao = (size_t)(ab0 + b) * sizeof(lc_block_q8_K);
        if (at.pf)
            lc_prefetch_ahead(bb, bbytes);
        __m512i S[4];
        for (int k = 0; k < (kind == K3 ? 3 : 4); k++)
            S[k] = _mm512_load_si512(bb + sc_off + 64 * k);
        /* Q2_K: msum = sum_s m[s] * bsums[s]; Q3_K/Q6_K: corr = sum_s sc[s] * bsums[s]; pairs (2i, 2i+1) */
        __m512i ms[TTK];
#pragma GCC unroll 8
        for (int t = 0; t < tt; t++)
            ms[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            __m512i sp = _mm512_or_si512(_mm512_and_si512(k16_scale(kind, S, 2 * i, 1), lo16),
                                         _mm512_slli_epi32(k16_scale(kind, S, 2 * i + 1, 1), 16));
#pragma GCC unroll 8
            for (int t = 0; t < tt; t++)
                ms[t] = _mm512_dpwssd_epi32(ms[t], sp, bcast32(at.row[t] + ao + Q8K_BSUMS + 4 * i));
        }
        __m512i is[TTK];
#pragma GCC unroll 8
        for (int t = 0; t < tt; t++)
            is[t] = kind == K2 ? _mm512_setzero_si512()
                               : _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(ms[t], bias_shift));
        if (tt > 2)
            k16_wide(kind, bb, at, ao, tt, is);
        else
#pragma GCC unroll 1
        for (int h = 0; h < 2; h++) {
#pragma GCC unroll 8
            for (int g = 0; g < 4; g++) {
#pragma GCC unroll 2
                for (int half = 0; half < 2; half++) {
                    __m512i dot[TTK];
#pragma GCC unroll 8
                    for (int t = 0; t < tt; t++)
                        dot[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
                    for (int k = 0; k < 4; k++) {
                        const int lq = 4 * half + k;
                        const __m512i q = k16_quad(kind, bb, h, g, lq);
#pragma GCC unroll 8
                        for (int t = 0; t < tt; t++)
                            dot[t] = _mm512_dpbusd_epi32(
                                dot[t], q, bcast32(at.row[t] + ao + Q8K_QS + 128 * h + 32 * g + 4 * lq));
                    }
                    const __m512i sc = k16_scale(kind, S, 8 * h + 2 * g + half, 0);
#pragma GCC unroll 8
                    for (int t = 0; t < tt; t++)
                        is[t] = _mm512_add_epi32(is[t], _mm512_mullo_epi32(dot[t], sc));
                }
            }
        }
        if (kind == K2) {
            const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(head + (size_t)b * 64)));
            const __m512 dmw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(head + (size_t)b * 64 + 32)));
#pragma GCC unroll 8
            for (int t = 0; t < tt; t++) {
                __m512 da = _mm512_set1_ps(load_f32(at.row[t] + ao));
                __m512 p1 = _mm512_mul_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(is[t]));
                __m512 p2 = _mm512_mul_ps(_mm512_mul_ps(dmw, da), _mm512_cvtepi32_ps(ms[t]));
                c[t] = _mm512_add_ps(c[t], _mm512_sub_ps(p1, p2));
            }
        } else {
            const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(head + (size_t)b * 32)));
#pragma GCC unroll 8
            for (int t = 0; t < tt; t++) {
                __m512 da = _mm512_set1_ps(load_f32(at.row[t] + ao));
                c[t] = _mm512_add_ps(c[t], _mm512_mul_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(is[t])));
            }
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < tt; t++)
        acc[t] = c[t];
}

AINL void q2_K_tile(const uint8_t *h, const uint8_t *q, int64_t n, const lc_act_tile *a, int64_t b, const int tt,
                    __m512 *c)
{
    k16_tile(K2, h, q, n, a, b, tt, c);
}

AINL void q3_K_tile(const uint8_t *h, const uint8_t *q, int64_t n, const lc_act_tile *a, int64_t b, const int tt,
                    __m512 *c)
{
    k16_tile(K3, h, q, n, a, b, tt, c);
}

AINL void q6_K_tile(const uint8_t *h, const uint8_t *q, int64_t n, const lc_act_tile *a, int64_t b, const int tt,
                    __m512 *c)
{
    k16_tile(K6, h, q, n, a, b, tt, c);
}

LC_DEFINE_TILES8(q2_K)
LC_DEFINE_TILES8(q3_K)
LC_DEFINE_TILES8(q4_K)
LC_DEFINE_TILES8(q5_K)
LC_DEFINE_TILES8(q6_K)
LC_PACK16_SIMD(pack_q2_K, LLAMAC_TYPE_Q2_K)
LC_PACK16_SIMD(pack_q3_K, LLAMAC_TYPE_Q3_K)
LC_PACK16_SIMD(pack_q4_K, LLAMAC_TYPE_Q4_K)
LC_PACK16_SIMD(pack_q5_K, LLAMAC_TYPE_Q5_K)
LC_PACK16_SIMD(pack_q6_K, LLAMAC_TYPE_Q6_K)

/* kc = 8 super-blocks (2048 elements): at most 8 x 16 x 210 bytes = 26.9 KiB packed on the fly */
#define DESC(T, t, PF, T2, TT2) static const lc_qgemm512 g_##t = {LLAMAC_TYPE_##T, TTK, t##_tiles, 0, pack_##t, 8, PF, T2, TT2}; \
    static void gemm_##t##_packed(const lc_gemm_args *g) { lc_qgemm512_run(&g_##t, g, 1); }                 \
    static void gemm_##t##_raw(const lc_gemm_args *g) { lc_qgemm512_run(&g_##t, g, 0); }
DESC(Q2_K, q2_K, 1, NULL, 0)
DESC(Q3_K, q3_K, 1, NULL, 0)
DESC(Q4_K, q4_K, 0, q4_K_tiles2, K4_TT2)
DESC(Q5_K, q5_K, 1, NULL, 0)
DESC(Q6_K, q6_K, 1, NULL, 0)
#undef DESC

void lc_init_gemm_k_avx512(lc_kernels *k)
{
    k->quantize_row[LLAMAC_TYPE_Q8_K] = quantize_row_q8_K;
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
