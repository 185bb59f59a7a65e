/*
 * gemm_q_avx2.c — AVX2 GEMM for the 32-element quants (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) with Q8_0x/Q8_1x
 * activations, the Q8_0x quantizer, and the driver shared with the K-quants (gemm_avx2.h, gemm_k_avx2.c).
 *
 * Same G16 layout, tiling and float arithmetic as gemm_q_avx512.c (each 16-row group is two 8-lane halves),
 * so results equal the scalar reference bit for bit. AVX2 has no VNNI; the exact integer block sums come from
 * maddubs (unsigned weight bytes x signed activation bytes -> int16 sums of pairs), added in int16 only as far
 * as they cannot overflow, then madd(ones) -> int32:
 *   Q4_0, Q4_1: levels 0..15, all 8 quads of a block in int16 (at most 16 * 15 * 128 = 30720), plus for Q4_0
 *         m8 = -8*sum(a)
 *   Q5_0, Q5_1: levels 0..31, 4 quads at a time (at most 8 * 31 * 128 = 31744); Q5_0 adds 2*m8
 *   Q8_0: maddubs(|w|, sign(a, w)) per quad (pair sums <= 2 * 128 * 127, no saturation), madd(ones) -> int32
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/gemm_avx2.h"
#include "kernels/kernels.h"
#include "kernels/pack.h"

#define TT LC_TT2_MAX /* tokens per micro-tile (16 ymm registers) */
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

typedef lc_act_tile2 act_tile;
#define bcast32 lc_bcast32_2
#define load_f32 lc_load_f32_2

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

/* ---- Q4_1, Q5_0, Q5_1 ----
 * Q5 fifth bits: the body starts with the qh vector (lane r = row r's 32 bits); for quad j the bits of elements
 * 4j..4j+3 (low nibbles) sit in byte j/2 at bit 4*(j%2), those of 16+4j.. in byte 2 + j/2. A byte shuffle
 * copies that byte to the 4 bytes of its lane, and a test against 1, 2, 4, 8 (<< 4 for odd j) gives 0x10 in
 * each quant byte whose bit is set, or-ed into the nibble.
 * Q4_1/Q5_1 (unsigned q, Q8_1x activations): acc += ((dw * da) * (float)isum + mw * sa)
 * Q5_0 (q - 16, Q8_0x activations): isum = sum(q*a) + 2 * m8;  acc += (float)isum * (dw * da) */
AINL __m256i q5_bits(__m256i qh, int byte, int odd)
{
    const __m256i idx = _mm256_setr_epi32(0x01010101 * byte, 0x04040404 + 0x01010101 * byte,
                                          0x08080808 + 0x01010101 * byte, 0x0c0c0c0c + 0x01010101 * byte,
                                          0x01010101 * byte, 0x04040404 + 0x01010101 * byte,
                                          0x08080808 + 0x01010101 * byte, 0x0c0c0c0c + 0x01010101 * byte);
    const __m256i bits = _mm256_set1_epi32(odd ? (int)0x80402010 : 0x08040201);
    __m256i s = _mm256_and_si256(_mm256_shuffle_epi8(qh, idx), bits);
    return _mm256_and_si256(_mm256_cmpeq_epi8(s, bits), _mm256_set1_epi8(0x10));
}

AINL void l32_tile(const int kind, const uint8_t *head, const uint8_t *body, int64_t nblk, const act_tile *a,
                   int64_t ab0, const int tt, __m256 *acc)
{
    enum { Q41, Q50, Q51 };
    const int has_qh = kind != Q41, has_min = kind != Q50;
    const size_t abytes = has_min ? sizeof(lc_block_q8_1) : sizeof(lc_block_q8_0);
    const size_t bbytes = has_qh ? 320 : 256, hstride = has_min ? 64 : 32;
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    const act_tile at = *a;
    __m256 c[2 * TT];
#pragma GCC unroll 8
    for (int i = 0; i < 2 * tt; i++)
        c[i] = acc[i];
    for (int64_t b = 0; b < nblk; b++) {
        const int64_t ab = ab0 + b;
        const uint8_t *bb = body + (size_t)b * bbytes;
        const uint8_t *q = bb + (has_qh ? 64 : 0);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i qh = has_qh ? _mm256_load_si256((const __m256i *)(bb + 32 * h)) : _mm256_setzero_si256();
            __m256i is[TT], s16[TT];
#pragma GCC unroll 4
            for (int t = 0; t < tt; t++) { /* Q5_0: isum starts at 2 * m8 = -16 * sum(a) */
                is[t] = kind == Q50 ? _mm256_slli_epi32(bcast32(at.row[t] + at.ext + 4 * (at.nb + ab)), 1)
                                    : _mm256_setzero_si256();
                s16[t] = _mm256_setzero_si256();
            }
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                __m256i v = _mm256_load_si256((const __m256i *)(q + 64 * j + 32 * h));
                __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                if (has_qh) {
                    lo = _mm256_or_si256(lo, q5_bits(qh, j / 2, j % 2));
                    hi = _mm256_or_si256(hi, q5_bits(qh, 2 + j / 2, j % 2));
                }
#pragma GCC unroll 4
                for (int t = 0; t < tt; t++) {
                    const uint8_t *aq = at.row[t] + (size_t)ab * abytes + (has_min ? 4 : 2);
                    s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(lo, bcast32(aq + 4 * j)));
                    s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(hi, bcast32(aq + 16 + 4 * j)));
                }
                if (has_qh && j == 1) /* levels up to 31: at most 4 quads per int16 sum */
#pragma GCC unroll 4
                    for (int t = 0; t < tt; t++) {
                        is[t] = _mm256_add_epi32(is[t], _mm256_madd_epi16(s16[t], ones));
                        s16[t] = _mm256_setzero_si256();
                    }
            }
#pragma GCC unroll 4
            for (int t = 0; t < tt; t++)
                is[t] = _mm256_add_epi32(is[t], _mm256_madd_epi16(s16[t], ones));
            const __m256 dw = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(head + (size_t)b * hstride + 16 * h)));
            if (!has_min) {
#pragma GCC unroll 4
                for (int t = 0; t < tt; t++)
                    c[2 * t + h] = block_accumulate(c[2 * t + h], is[t], dw, load_f32(at.row[t] + at.ext + 4 * ab));
                continue;
            }
            const __m256 mw =
                _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(head + (size_t)b * hstride + 32 + 16 * h)));
#pragma GCC unroll 4
            for (int t = 0; t < tt; t++) {
                __m256 p = _mm256_mul_ps(_mm256_mul_ps(dw, _mm256_set1_ps(load_f32(at.row[t] + at.ext + 4 * ab))),
                                         _mm256_cvtepi32_ps(is[t]));
                __m256 mq = _mm256_mul_ps(mw, _mm256_set1_ps(load_f32(at.row[t] + at.ext + 4 * (at.nb + ab))));
                c[2 * t + h] = _mm256_add_ps(c[2 * t + h], _mm256_add_ps(p, mq));
            }
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < 2 * tt; i++)
        acc[i] = c[i];
}

AINL void q4_1_tile(const uint8_t *h, const uint8_t *q, int64_t n, const act_tile *a, int64_t b, const int tt,
                    __m256 *c)
{
    l32_tile(0, h, q, n, a, b, tt, c);
}

AINL void q5_0_tile(const uint8_t *h, const uint8_t *q, int64_t n, const act_tile *a, int64_t b, const int tt,
                    __m256 *c)
{
    l32_tile(1, h, q, n, a, b, tt, c);
}

AINL void q5_1_tile(const uint8_t *h, const uint8_t *q, int64_t n, const act_tile *a, int64_t b, const int tt,
                    __m256 *c)
{
    l32_tile(2, h, q, n, a, b, tt, c);
}

/* ---- driver (gemm_avx2.h) ---- */

LC2_DEFINE_TILES4(q4_0)
LC2_DEFINE_TILES4(q8_0)
LC2_DEFINE_TILES4(q4_1)
LC2_DEFINE_TILES4(q5_0)
LC2_DEFINE_TILES4(q5_1)

static const lc_qgemm2 g_q4_0 = {LLAMAC_TYPE_Q4_0, TT, 1, KC, q4_0_tiles};
static const lc_qgemm2 g_q8_0 = {LLAMAC_TYPE_Q8_0, TT, 1, KC, q8_0_tiles};
static const lc_qgemm2 g_q4_1 = {LLAMAC_TYPE_Q4_1, TT, 2, KC, q4_1_tiles};
static const lc_qgemm2 g_q5_0 = {LLAMAC_TYPE_Q5_0, TT, 1, KC, q5_0_tiles};
static const lc_qgemm2 g_q5_1 = {LLAMAC_TYPE_Q5_1, TT, 2, KC, q5_1_tiles};

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

static void run_chunk(const lc_qgemm2 *qd, const lc_gemm_args *g, const uint8_t *head, const uint8_t *body,
                      int64_t nblk, int64_t ab0, int64_t grp, int lo, int hi, int first)
{
    act_tile a;
    a.ext = qd->q8x == 1 ? lc_q8x_ext_offset(g->n) : qd->q8x == 2 ? lc_q81x_ext_offset(g->n) : 0;
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
void lc_qgemm2_run(const lc_qgemm2 *qd, const lc_gemm_args *g, int packed)
{
    int64_t tb = ((int64_t)384 << 10) / (int64_t)g->a_stride;
    tb = tb < 16 ? 16 : tb & ~(int64_t)7;
    if (g->nt > tb) {
        for (int64_t t0 = 0; t0 < g->nt; t0 += tb) {
            lc_gemm_args h = *g;
            h.a = (const uint8_t *)g->a + (size_t)t0 * g->a_stride;
            h.y = g->y + t0 * g->ldy;
            h.nt = g->nt - t0 < tb ? g->nt - t0 : tb;
            lc_qgemm2_run(qd, &h, packed);
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
    uint8_t buf[KC * 32 + KC * 16 * 32] __attribute__((aligned(64))); /* kc blocks of 16 rows of any type */
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
    static void gemm_##t##_packed(const lc_gemm_args *g) { lc_qgemm2_run(&g_##t, g, 1); }                            \
    static void gemm_##t##_raw(const lc_gemm_args *g) { lc_qgemm2_run(&g_##t, g, 0); }
ENTRIES(q4_0)
ENTRIES(q8_0)
ENTRIES(q4_1)
ENTRIES(q5_0)
ENTRIES(q5_1)
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
    SET(Q4_1, q4_1)
    SET(Q5_0, q5_0)
    SET(Q5_1, q5_1)
#undef SET
    lc_init_gemm_k_avx2(k);
}
