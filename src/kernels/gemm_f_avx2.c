/*
 * gemm_f_avx2.c — AVX2 GEMM for F32, F16 and BF16 weights with f32 activations.
 *
 * Performs exactly the arithmetic of gemm_f_avx512.c: per output, 16 lanes (here two 8-lane halves, lanes
 * 0..7 and 8..15) accumulate elements k = 16*i + l with FMA in increasing i, the tail of n % 16 elements is
 * read as zeros past the end, and the lanes are summed (l, l+8), (l, l+4), (l, l+2), (l, l+1). So the avx2
 * and avx512 tables give identical results for F32 and F16 (tested), independent of tiles, nt, r0/r1 and
 * threads. BF16 differs: the avx512 table uses the AVX512_BF16 dot products on bf16-rounded activations, this
 * one the exact f32 path (docs/KERNELS.md).
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels.h"

#define AINL static inline __attribute__((always_inline))

AINL float hsum16(__m256 lo, __m256 hi)
{
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    __m128 s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2));
    return _mm_cvtss_f32(s1);
}

enum { WF32, WF16, WBF16 };

/* 8 weights at element k (full: no bounds) */
AINL __m256 load_w8(const int wt, const void *row, int64_t k)
{
    if (wt == WF32)
        return _mm256_loadu_ps((const float *)row + k);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)row + k));
    if (wt == WF16)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* the last partial chunk of 16 (n % 16 != 0) of a weight row, zero padded, as f32 */
AINL void tail_w16(const int wt, const void *row, int64_t k, int64_t left, float out[16])
{
    float tmp[16] = {0};
    if (wt == WF32) {
        memcpy(tmp, (const float *)row + k, (size_t)left * 4);
    } else {
        uint16_t h[16] = {0};
        memcpy(h, (const uint16_t *)row + k, (size_t)left * 2);
        _mm256_storeu_ps(tmp, load_w8(wt, h, 0));
        _mm256_storeu_ps(tmp + 8, load_w8(wt, h, 8));
    }
    memcpy(out, tmp, sizeof tmp);
}

/* The tile's rows are r, r + rs, ..., r + (R-1) rs. */
AINL void tile(const int wt, const int R, const int T, const lc_gemm_args *g, int64_t r, int64_t t, int64_t rs)
{
    const char *wrow[4];
    const float *arow[4];
    for (int i = 0; i < R; i++)
        wrow[i] = (const char *)g->w + (size_t)(r + i * rs) * g->w_stride;
    for (int j = 0; j < T; j++)
        arow[j] = (const float *)((const char *)g->a + (size_t)(t + j) * g->a_stride);
    __m256 lo[4][2], hi[4][2];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 2
        for (int j = 0; j < T; j++)
            lo[i][j] = hi[i][j] = _mm256_setzero_ps();
    const int64_t n = g->n, nfull = n & ~(int64_t)15;
    for (int64_t k = 0; k < nfull; k += 16) {
        __m256 a0[2], a1[2];
#pragma GCC unroll 2
        for (int j = 0; j < T; j++) {
            a0[j] = _mm256_loadu_ps(arow[j] + k);
            a1[j] = _mm256_loadu_ps(arow[j] + k + 8);
        }
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            __m256 w0 = load_w8(wt, wrow[i], k), w1 = load_w8(wt, wrow[i], k + 8);
#pragma GCC unroll 2
            for (int j = 0; j < T; j++) {
                lo[i][j] = _mm256_fmadd_ps(w0, a0[j], lo[i][j]);
                hi[i][j] = _mm256_fmadd_ps(w1, a1[j], hi[i][j]);
            }
        }
    }
    if (nfull < n) {
        float at[2][16], wtl[16];
        for (int j = 0; j < T; j++) {
            memset(at[j], 0, sizeof at[j]);
            memcpy(at[j], arow[j] + nfull, (size_t)(n - nfull) * 4);
        }
        for (int i = 0; i < R; i++) {
            tail_w16(wt, wrow[i], nfull, n - nfull, wtl);
            for (int j = 0; j < T; j++) {
                lo[i][j] = _mm256_fmadd_ps(_mm256_loadu_ps(wtl), _mm256_loadu_ps(at[j]), lo[i][j]);
                hi[i][j] = _mm256_fmadd_ps(_mm256_loadu_ps(wtl + 8), _mm256_loadu_ps(at[j] + 8), hi[i][j]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 2
        for (int j = 0; j < T; j++)
            g->y[(t + j) * g->ldy + r + i * rs] = hsum16(lo[i][j], hi[i][j]);
}

/* Decode: 4 rows x 1 token (8 accumulators), but not 4 neighbouring rows: the task's rows are cut into blocks
 * of 4 runs of B consecutive rows (B at most lc_gemm_dec_run_rows) and tile j of a block takes row j of each
 * run, so each of the 4 weight streams is B rows of contiguous memory that the hardware prefetcher follows (as
 * in gemm_f_avx512.c; 8 runs taken by two tiles per j measured slower than 4). Only the order of the rows
 * changes, never an output's arithmetic.
 * Prefill: rows in blocks of about 256 KiB of weights (they stay in L2 while every token tile passes over
 * them), token tiles inside. */
static int64_t row_block(const lc_gemm_args *g)
{
    int64_t rb = ((int64_t)256 << 10) / (int64_t)(g->w_stride ? g->w_stride : 1);
    rb = rb < 8 ? 8 : rb & ~(int64_t)7;
    return rb;
}

#define GEMM_F(NAME, WT)                                                                                      \
    static void NAME##_r2t2(const lc_gemm_args *g, int64_t r, int64_t t) { tile(WT, 2, 2, g, r, t, 1); }    \
    static void NAME##_r4t1(const lc_gemm_args *g, int64_t r, int64_t t, int64_t rs)                         \
    {                                                                                                         \
        tile(WT, 4, 1, g, r, t, rs);                                                                          \
    }                                                                                                         \
    static void NAME##_r1t2(const lc_gemm_args *g, int64_t r, int64_t t) { tile(WT, 1, 2, g, r, t, 1); }    \
    static void NAME##_r1t1(const lc_gemm_args *g, int64_t r, int64_t t) { tile(WT, 1, 1, g, r, t, 1); }    \
    static void NAME(const lc_gemm_args *g)                                                                   \
    {                                                                                                         \
        int64_t t = 0;                                                                                        \
        const int64_t rb = row_block(g);                                                                      \
        for (int64_t b0 = g->r0; b0 < g->r1 && g->nt >= 2; b0 += rb) {                                       \
            const int64_t b1 = b0 + rb < g->r1 ? b0 + rb : g->r1;                                             \
            for (t = 0; t + 2 <= g->nt; t += 2) {                                                             \
                int64_t r = b0;                                                                               \
                for (; r + 2 <= b1; r += 2)                                                                   \
                    NAME##_r2t2(g, r, t);                                                                     \
                for (; r < b1; r++)                                                                           \
                    NAME##_r1t2(g, r, t);                                                                     \
            }                                                                                                 \
        }                                                                                                     \
        const int64_t bmax = lc_gemm_dec_run_rows(g);                                                         \
        for (; t < g->nt; t++) {                                                                              \
            int64_t r = g->r0;                                                                                \
            while (g->r1 - r >= 4) {                                                                          \
                const int64_t B = (g->r1 - r) / 4 < bmax ? (g->r1 - r) / 4 : bmax;                            \
                for (int64_t j = 0; j < B; j++)                                                               \
                    NAME##_r4t1(g, r + j, t, B);                                                              \
                r += 4 * B;                                                                                   \
            }                                                                                                 \
            for (; r < g->r1; r++)                                                                            \
                NAME##_r1t1(g, r, t);                                                                         \
        }                                                                                                     \
    }

GEMM_F(gemm_f32, WF32)
GEMM_F(gemm_f16, WF16)
GEMM_F(gemm_bf16, WBF16)

void lc_init_gemm_f_avx2(lc_kernels *k)
{
    k->gemm[LLAMAC_TYPE_F32] = gemm_f32;
    k->gemm[LLAMAC_TYPE_F16] = gemm_f16;
    k->gemm[LLAMAC_TYPE_BF16] = gemm_bf16;
}
