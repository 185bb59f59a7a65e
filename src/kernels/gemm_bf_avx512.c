/*
 * gemm_bf_avx512.c — BF16 weights on the AVX512_BF16 path: activations rounded to bf16 (act_to_bf16, once per
 * row for all the products sharing it) and summed in pairs by vdpbf16ps.
 *
 * Arithmetic of one output (r, t), whatever the tile, the batch split or the layout: for each piece of 32
 * elements (CH pairs) one f32 chain from +0 takes the pairs (2m, 2m + 1) in increasing m (element n of an odd
 * n read as +0), each pair one lane of vdpbf16ps; the pieces' sums are added in order. That is exactly
 * lc_bf16_dot_bf16 (ref_basic.c, quant_ref.h). Because an output is a single lane, 16 rows share one
 * register: the weights are read in the G16 layout (pack.h; BF16 blocks of 2 elements, so vector m of a group
 * holds the pair m of each of its 16 rows), packed at load (gemm_packed) or on the fly (gemm, for mapped
 * files and odd n), and the activation pair is broadcast to all lanes. A tile of G groups x
 * T tokens is then G*T accumulators of 16 outputs each, one vdpbf16ps per (16 rows, pair, token) and no
 * horizontal sum; an accumulator is a run of 16 outputs of y, so the running totals live in y itself.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/pack.h"

#define AINL static inline __attribute__((always_inline))
#define NOINL static __attribute__((noinline))

/* f32 row -> bf16 (vcvtne2ps2bf16: denormals read as zero, round to nearest even; lc_f32_to_bf16_daz) */
static void act_to_bf16(const float *x, void *y, int64_t n)
{
    uint16_t *h = y;
    int64_t k = 0;
    for (; k + 32 <= n; k += 32)
        _mm512_storeu_si512((void *)(h + k),
                            (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + k + 16), _mm512_loadu_ps(x + k)));
    if (k < n) {
        const int64_t m = n - k;
        const __mmask16 m0 = m >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << m) - 1u);
        const __mmask16 m1 = m > 16 ? (__mmask16)((1u << (m - 16)) - 1u) : 0;
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, x + k + 16), _mm512_maskz_loadu_ps(m0, x + k));
        _mm512_mask_storeu_epi16(h + k, (__mmask32)((1ull << m) - 1ull), (__m512i)v);
    }
}

/* One tile: groups at w, w + gs, ... (G of them; vector m of a group at + 64 m), tokens t..t+T-1, pairs
 * [m0, m1) (m0 a multiple of CH; m1 = ceil(n/2) at most, the pair past an odd n's whole pairs reading its
 * activation as (element n - 1, +0)). Each piece of CH pairs is a chain from +0 in registers, then added to
 * the output's total in y (the first piece is stored as the total); lane l of group i is output row
 * rb + 16 i + l, written where mask[i] has bit l. */
#define CH 16
AINL void tile(const int G, const int T, const lc_gemm_args *g, const char *w, size_t gs, int64_t rb,
               const __mmask16 *mask, int64_t t, int64_t m0, int64_t m1, const int pf)
{
    const char *arow[12];
    float *yrow[12];
    for (int j = 0; j < T; j++) {
        arow[j] = (const char *)g->a + (size_t)(t + j) * g->a_stride;
        yrow[j] = g->y + (t + j) * g->ldy + rb;
    }
    const int64_t nw = g->n / 2;
    for (int64_t c = m0; c < m1; c += CH) {
        const int64_t ce = c + CH < m1 ? c + CH : m1, we = ce < nw ? ce : nw;
        __m512 acc[8][12];
#pragma GCC unroll 8
        for (int i = 0; i < G; i++)
#pragma GCC unroll 12
            for (int j = 0; j < T; j++)
                acc[i][j] = _mm512_setzero_ps();
        for (int64_t m = c; m < we; m++) {
            __m512bh wv[8];
            if (pf && (m & 3) == 0) { /* decode: prefetch each group's stream 2 KiB ahead */
#pragma GCC unroll 8
                for (int i = 0; i < G; i++)
                    _mm_prefetch(w + (size_t)i * gs + (size_t)m * 64 + 2048, _MM_HINT_T0);
            }
#pragma GCC unroll 8
            for (int i = 0; i < G; i++)
                wv[i] = (__m512bh)_mm512_loadu_si512((const void *)(w + (size_t)i * gs + (size_t)m * 64));
#pragma GCC unroll 12
            for (int j = 0; j < T; j++) {
                int32_t pair;
                memcpy(&pair, arow[j] + 4 * m, 4);
                __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
#pragma GCC unroll 8
                for (int i = 0; i < G; i++)
                    acc[i][j] = _mm512_dpbf16_ps(acc[i][j], wv[i], a);
            }
        }
        if (we < ce) { /* the last pair of an odd n (file layout only) */
#pragma GCC unroll 8
            for (int i = 0; i < G; i++) {
                const __m512bh wv = (__m512bh)_mm512_loadu_si512((const void *)(w + (size_t)i * gs + (size_t)we * 64));
#pragma GCC unroll 12
                for (int j = 0; j < T; j++)
                    acc[i][j] = _mm512_dpbf16_ps(
                        acc[i][j], wv, (__m512bh)_mm512_set1_epi32(((const uint16_t *)arow[j])[g->n - 1]));
            }
        }
#pragma GCC unroll 8
        for (int i = 0; i < G; i++)
#pragma GCC unroll 12
            for (int j = 0; j < T; j++) {
                float *y = yrow[j] + 16 * i;
                __m512 v = c ? _mm512_add_ps(_mm512_maskz_loadu_ps(mask[i], y), acc[i][j]) : acc[i][j];
                _mm512_mask_storeu_ps(y, mask[i], v);
            }
    }
}

#ifndef GP
#define GP 4 /* prefill tile: 4 groups (64 rows) x 6 tokens = 24 accumulators */
#define TP 6
#endif
#define GD 8 /* decode tile: 8 groups x 1 token */

NOINL void tile_pre(const lc_gemm_args *g, const char *w, size_t gs, int64_t rb, const __mmask16 *mk, int64_t t,
                    int64_t m0, int64_t m1)
{
    tile(GP, TP, g, w, gs, rb, mk, t, m0, m1, 0);
}
NOINL void tile_g1tp(const lc_gemm_args *g, const char *w, size_t gs, int64_t rb, const __mmask16 *mk, int64_t t,
                     int64_t m0, int64_t m1)
{
    tile(1, TP, g, w, gs, rb, mk, t, m0, m1, 0);
}
NOINL void tile_dec(const lc_gemm_args *g, const char *w, size_t gs, int64_t rb, const __mmask16 *mk, int64_t t,
                    int64_t m0, int64_t m1)
{
    tile(GD, 1, g, w, gs, rb, mk, t, m0, m1, 1);
}
#define TILE_T(T)                                                                                             \
    NOINL void tile_g4t##T(const lc_gemm_args *g, const char *w, size_t gs, int64_t rb, const __mmask16 *mk,  \
                           int64_t t, int64_t m0, int64_t m1)                                                 \
    {                                                                                                         \
        tile(GP, T, g, w, gs, rb, mk, t, m0, m1, T == 1);                                                     \
    }                                                                                                         \
    NOINL void tile_g1t##T(const lc_gemm_args *g, const char *w, size_t gs, int64_t rb, const __mmask16 *mk,  \
                           int64_t t, int64_t m0, int64_t m1)                                                 \
    {                                                                                                         \
        tile(1, T, g, w, gs, rb, mk, t, m0, m1, T == 1);                                                      \
    }
TILE_T(1)
TILE_T(2)
TILE_T(3)
TILE_T(4)
TILE_T(5)
TILE_T(6)
TILE_T(7)
TILE_T(8)
TILE_T(9)
TILE_T(10)
TILE_T(11)

typedef void (*tile_fn)(const lc_gemm_args *, const char *, size_t, int64_t, const __mmask16 *, int64_t, int64_t,
                        int64_t);
static const tile_fn g_tail4[12] = {NULL, tile_g4t1, tile_g4t2, tile_g4t3, tile_g4t4, tile_g4t5, tile_g4t6,
                                    tile_g4t7, tile_g4t8, tile_g4t9, tile_g4t10, tile_g4t11};
static const tile_fn g_tail1[12] = {NULL, tile_g1t1, tile_g1t2, tile_g1t3, tile_g1t4, tile_g1t5, tile_g1t6,
                                    tile_g1t7, tile_g1t8, tile_g1t9, tile_g1t10, tile_g1t11};

/* lanes of the group whose first row is rb that lie in [r0, r1) */
static __mmask16 lane_mask(int64_t rb, int64_t r0, int64_t r1)
{
    unsigned m = 0xffffu;
    if (r0 > rb)
        m &= 0xffffu << (r0 - rb);
    if (r1 < rb + 16)
        m &= 0xffffu >> (rb + 16 - r1);
    return (__mmask16)m;
}

/* Groups [q0, q1) (group q at w + q * gs, its rows 16 q + rofs ...) over pairs [m0, m1), every token. */
static void run_groups(const lc_gemm_args *g, const char *w, size_t gs, int64_t rofs, int64_t q0, int64_t q1,
                       int64_t m0, int64_t m1)
{
    __mmask16 mk[GD];
    int64_t t = 0;
    if (g->nt == 1) {
        int64_t q = q0;
        for (; q + GD <= q1; q += GD) {
            for (int i = 0; i < GD; i++)
                mk[i] = lane_mask(16 * (q + i) + rofs, g->r0, g->r1);
            tile_dec(g, w + (size_t)q * gs, gs, 16 * q + rofs, mk, 0, m0, m1);
        }
        for (; q + GP <= q1; q += GP) {
            for (int i = 0; i < GP; i++)
                mk[i] = lane_mask(16 * (q + i) + rofs, g->r0, g->r1);
            tile_g4t1(g, w + (size_t)q * gs, gs, 16 * q + rofs, mk, 0, m0, m1);
        }
        for (; q < q1; q++) {
            mk[0] = lane_mask(16 * q + rofs, g->r0, g->r1);
            tile_g1t1(g, w + (size_t)q * gs, gs, 16 * q + rofs, mk, 0, m0, m1);
        }
        return;
    }
    for (; t < g->nt; t += TP) {
        const int64_t T = g->nt - t < TP ? g->nt - t : TP;
        int64_t q = q0;
        for (; q + GP <= q1; q += GP) {
            for (int i = 0; i < GP; i++)
                mk[i] = lane_mask(16 * (q + i) + rofs, g->r0, g->r1);
            if (T == TP)
                tile_pre(g, w + (size_t)q * gs, gs, 16 * q + rofs, mk, t, m0, m1);
            else
                g_tail4[T](g, w + (size_t)q * gs, gs, 16 * q + rofs, mk, t, m0, m1);
        }
        for (; q < q1; q++) {
            mk[0] = lane_mask(16 * q + rofs, g->r0, g->r1);
            if (T == TP)
                tile_g1tp(g, w + (size_t)q * gs, gs, 16 * q + rofs, mk, t, m0, m1);
            else
                g_tail1[T](g, w + (size_t)q * gs, gs, 16 * q + rofs, mk, t, m0, m1);
        }
    }
}

/* Prefill: the reduction is taken KC pairs at a time and the groups in blocks of ~512 KiB of those pieces, so
 * a block stays in L2 while every token tile passes over it and a token tile's activations (6 x 4 KiB) stay
 * in L1 across the block; the partial sums wait in y. Decode (nt = 1) streams each group whole. */
#define KC 1024
#define BLOCK_BYTES (512 << 10)
static void gemm_bf16_packed(const lc_gemm_args *g)
{
    if (g->r0 >= g->r1 || g->nt <= 0)
        return;
    const int64_t npair = g->n / 2, q0 = g->r0 / 16, q1 = (g->r1 + 15) / 16;
    if (g->nt == 1) {
        run_groups(g, g->w, g->w_stride, 0, q0, q1, 0, npair);
        return;
    }
    const int64_t kc = npair > KC ? KC : npair;
    int64_t qb = BLOCK_BYTES / (kc * 64);
    qb = qb < GP ? GP : qb - qb % GP;
    for (int64_t b0 = q0; b0 < q1; b0 += qb) {
        const int64_t b1 = b0 + qb < q1 ? b0 + qb : q1;
        for (int64_t m0 = 0; m0 < npair; m0 += kc)
            run_groups(g, g->w, g->w_stride, 0, b0, b1, m0, m0 + kc < npair ? m0 + kc : npair);
    }
}

/* ---- weights in the file's layout: each group is packed on the fly, KF pairs at a time ---- */

/* pairs [p0, p0 + np) of 16 rows (NULL = zero row; element n of an odd n packed as +0) -> np vectors */
static const uint8_t g_zero16[16] __attribute__((aligned(16)));
static void pack_pairs(const uint16_t *const rows[16], int64_t n, int64_t p0, int64_t np, uint8_t *dst)
{
    int64_t p = 0;
    const int64_t full = (n / 2 - p0) < np ? n / 2 - p0 : np; /* whole pairs */
    for (; p + 4 <= full; p += 4) {
        __m512i z[4];
        const uint8_t *src[16];
        for (int r = 0; r < 16; r++)
            src[r] = rows[r] ? (const uint8_t *)(rows[r] + 2 * (p0 + p)) : g_zero16;
        for (int k = 0; k < 4; k++) {
            __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)src[k]));
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)src[k + 4]), 1);
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)src[k + 8]), 2);
            z[k] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)src[k + 12]), 3);
        }
        /* 128-bit lane L of z[k] holds pairs p..p+3 of row k + 4L; transposing 4x4 dwords per lane puts
         * pair p + j of row 4L + k at dword 4L + k of vector j */
        __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
        __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
        _mm512_storeu_si512(dst + 64 * (p + 0), _mm512_unpacklo_epi64(t0, t2));
        _mm512_storeu_si512(dst + 64 * (p + 1), _mm512_unpackhi_epi64(t0, t2));
        _mm512_storeu_si512(dst + 64 * (p + 2), _mm512_unpacklo_epi64(t1, t3));
        _mm512_storeu_si512(dst + 64 * (p + 3), _mm512_unpackhi_epi64(t1, t3));
    }
    for (; p < np; p++)
        for (int r = 0; r < 16; r++) {
            const int64_t k = 2 * (p0 + p);
            uint16_t v[2] = {0, 0};
            if (rows[r]) {
                v[0] = rows[r][k];
                v[1] = k + 1 < n ? rows[r][k + 1] : 0;
            }
            memcpy(dst + 64 * p + 4 * r, v, 4);
        }
}

#define KF 256
static void gemm_bf16(const lc_gemm_args *g)
{
    if (g->r0 >= g->r1 || g->nt <= 0)
        return;
    uint8_t buf[KF * 64] __attribute__((aligned(64)));
    const int64_t np = (g->n + 1) / 2;
    for (int64_t rb = g->r0; rb < g->r1; rb += 16) {
        const uint16_t *rows[16];
        for (int r = 0; r < 16; r++)
            rows[r] = rb + r < g->r1 ? (const uint16_t *)((const char *)g->w + (size_t)(rb + r) * g->w_stride)
                                     : NULL;
        for (int64_t m0 = 0; m0 < np; m0 += KF) {
            const int64_t m1 = m0 + KF < np ? m0 + KF : np;
            pack_pairs(rows, g->n, m0, m1 - m0, buf);
            /* tile(): group 0 at buf - 64 m0, so that its vector m is at buf + 64 (m - m0) */
            const char *w = (const char *)buf - 64 * m0;
            lc_gemm_args g1 = *g;
            g1.r0 = rb;
            g1.r1 = rb + 16 < g->r1 ? rb + 16 : g->r1;
            run_groups(&g1, w, 0, rb, 0, 1, m0, m1);
        }
    }
}

/* G16 packer for BF16 (the same bytes as lc_pack_group_blocks): blocks are pairs */
void lc_avx512_pack16_bf16(const void *const rows[16], int64_t b0, int64_t nblk, void *dst)
{
    pack_pairs((const uint16_t *const *)rows, 2 * (b0 + nblk), b0, nblk, dst);
}

void lc_init_gemm_bf_avx512(lc_kernels *k)
{
    k->gemm[LLAMAC_TYPE_BF16] = gemm_bf16;
    k->gemm_packed[LLAMAC_TYPE_BF16] = gemm_bf16_packed;
    k->act_type[LLAMAC_TYPE_BF16] = LLAMAC_TYPE_BF16;
    k->quantize_row[LLAMAC_TYPE_BF16] = act_to_bf16;
}
