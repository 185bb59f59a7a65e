/*
 * gemm_f_avx512.c — AVX-512 GEMM for F32 and F16 weights with f32 activations (activations are never rounded;
 * weights are widened exactly to f32). BF16 weights take the AVX512_BF16 dot products (gemm_bf_avx512.c).
 *
 * F32/F16:
 * Arithmetic of one output (r, t), whatever the tile: 16 f32 lanes, lane l accumulates the elements
 * k = 16*i + l in increasing i with FMA (the tail of n % 16 elements is loaded masked as zeros), then the
 * lanes are summed by the fixed tree of lc_hsum16 (lanes l and l+8, then l and l+4, l and l+2, l and l+1).
 * Only the tile shape (rows x tokens sharing loads) changes between decode and prefill, never this sequence,
 * so results are independent of nt, r0/r1 and the thread count. The AVX2 table performs the same sequence
 * with two 8-lane halves, so both paths give identical results.
 *
 * Accuracy against the double-precision reference: |err| <= (n/16 + 4) * 2^-24 * sum_k |w_k a_k| (a standard
 * bound for this blocked summation), i.e. about 1e-5 relative to sum |w a| for n = 8192.
 */
#include <immintrin.h>

#include "kernels/kernels.h"

#define AINL static inline __attribute__((always_inline))

AINL float hsum16(__m512 v)
{
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    __m128 s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2));
    return _mm_cvtss_f32(s1);
}

enum { WF32, WF16, WBF16 };

/* 16 weights at element k of a row (mask selects the valid ones; others are zero) */
AINL __m512 load_w(const int wt, const void *row, int64_t k, __mmask16 m, const int full)
{
    if (wt == WF32) {
        const float *p = (const float *)row + k;
        return full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
    }
    const uint16_t *p = (const uint16_t *)row + k;
    __m256i h = full ? _mm256_loadu_si256((const __m256i *)p) : _mm256_maskz_loadu_epi16(m, p);
    if (wt == WF16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* One tile over elements [k0, k1) (multiples of 32 except k1 = n): the accumulators start from zero (k0 = 0) or
 * from save[], and end in save[] (k1 < n) or, summed by the tree, in y. Splitting the elements this way
 * changes nothing in any lane's sequence of operations. The tile's rows are r, r + rs, ..., r + (R-1) rs;
 * pf (decode tails): prefetch the next R rows into L2 (rows r + R .. r + 2R - 1; only with rs = 1). */
AINL void tile(const int wt, const int R, const int T, const lc_gemm_args *g, int64_t r, int64_t t, int64_t k0,
               int64_t k1, __m512 *save, const int64_t rs, const int pf)
{
    const char *wrow[8];
    const float *arow[8];
    for (int i = 0; i < R; i++)
        wrow[i] = (const char *)g->w + (size_t)(r + i * rs) * g->w_stride;
    for (int j = 0; j < T; j++)
        arow[j] = (const float *)((const char *)g->a + (size_t)(t + j) * g->a_stride);
    __m512 acc[8][8];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int j = 0; j < T; j++)
            acc[i][j] = k0 && save ? save[i * T + j] : _mm512_setzero_ps();
    const int64_t n = g->n, nfull = n & ~(int64_t)15;
    const int esz = wt == WF32 ? 4 : 2;
    const int64_t kend = k1 < nfull ? k1 : nfull;
    for (int64_t k = k0; k < kend; k += 16) {
        __m512 w[8];
        if (pf && (k & (64 / esz - 1)) == 0) {
#pragma GCC unroll 8
            for (int i = 0; i < R; i++)
                _mm_prefetch(wrow[i] + (size_t)R * g->w_stride + (size_t)k * esz, _MM_HINT_T1);
        }
#pragma GCC unroll 8
        for (int i = 0; i < R; i++)
            w[i] = load_w(wt, wrow[i], k, 0, 1);
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) {
            __m512 a = _mm512_loadu_ps(arow[j] + k);
#pragma GCC unroll 8
            for (int i = 0; i < R; i++)
                acc[i][j] = _mm512_fmadd_ps(w[i], a, acc[i][j]);
        }
    }
    if (k1 == n && nfull < n) {
        __mmask16 m = (__mmask16)((1u << (n - nfull)) - 1u);
        __m512 w[8];
#pragma GCC unroll 8
        for (int i = 0; i < R; i++)
            w[i] = load_w(wt, wrow[i], nfull, m, 0);
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) {
            __m512 a = _mm512_maskz_loadu_ps(m, arow[j] + nfull);
#pragma GCC unroll 8
            for (int i = 0; i < R; i++)
                acc[i][j] = _mm512_fmadd_ps(w[i], a, acc[i][j]);
        }
    }
    if (k1 < n && save) { /* decode tiles pass save = NULL with k1 = n */
#pragma GCC unroll 8
        for (int i = 0; i < R; i++)
#pragma GCC unroll 8
            for (int j = 0; j < T; j++)
                save[i * T + j] = acc[i][j];
        return;
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int j = 0; j < T; j++)
            g->y[(t + j) * g->ldy + r + i * rs] = hsum16(acc[i][j]);
}

/* Decode (nt < TP): 8 rows x 1 token, so 8 independent chains and 8 weight streams in flight. The task's rows
 * are cut into 8 runs of B consecutive rows and tile j takes row j of each run (rows r0 + j + i B), so each
 * of the 8 streams is B rows of contiguous memory that the hardware prefetcher follows from start to end,
 * with no software prefetch (8 neighbouring rows per tile with the next tile's rows prefetched into L2, as
 * before, measured 15-25 % fewer GB per CPU-second on one Zen 5 core: 8 streams of one row (4 KiB) each that
 * restart every tile). Only the order of the rows changes, never an output's arithmetic.
 * Prefill: RP rows x TP tokens over rows in blocks of about 256 KiB of weights (they stay in L2 while every
 * token tile passes over them); rows longer than KC elements are taken KC at a time (each token tile's
 * activations then stay in L1 across the row tiles), the accumulators waiting in save[] between the pieces,
 * and their row blocks grow to ~896 KiB (their activations stream from L3 once per row block: the larger
 * block measured 2048x8192 F16 +20-30 %, BF16 +0-10 %).
 * Tails use smaller tiles of the same arithmetic. */
#define KC 2048
#define SAVE_ROWS 64
static int64_t row_block(const lc_gemm_args *g)
{
    int64_t rb = ((int64_t)(g->n > KC ? 896 : 256) << 10) / (int64_t)(g->w_stride ? g->w_stride : 1);
    rb = rb < 8 ? 8 : rb & ~(int64_t)7;
    if (g->n > KC && rb > SAVE_ROWS)
        rb = SAVE_ROWS;
    return rb;
}

/* decode: at most lc_gemm_dec_run_rows rows per stream (runs of ~256 KiB; longer ones measured no faster, and
 * 8 streams of 16000 rows each of the 128256-row output matrix on one thread were slower) */

/* the tiles stay functions of their own: inlined into the driver, the compiler runs out of registers */
#define NOINL static __attribute__((noinline))
#define GEMM_F(NAME, TILE, RP, TP)                                                                            \
    NOINL void NAME##_dec(const lc_gemm_args *g, int64_t r, int64_t t, int64_t rs)                            \
    {                                                                                                         \
        TILE(8, 1, g, r, t, 0, g->n, NULL, rs, 0);                                                            \
    }                                                                                                         \
    NOINL void NAME##_r4t1(const lc_gemm_args *g, int64_t r, int64_t t)                                       \
    {                                                                                                         \
        TILE(4, 1, g, r, t, 0, g->n, NULL, 1, 1);                                                             \
    }                                                                                                         \
    NOINL void NAME##_r1t1(const lc_gemm_args *g, int64_t r, int64_t t)                                       \
    {                                                                                                         \
        TILE(1, 1, g, r, t, 0, g->n, NULL, 1, 1);                                                             \
    }                                                                                                         \
    NOINL void NAME##_pre(const lc_gemm_args *g, int64_t r, int64_t t, int64_t k0, int64_t k1, __m512 *sv)    \
    {                                                                                                         \
        TILE(RP, TP, g, r, t, k0, k1, sv, 1, 0);                                                              \
    }                                                                                                         \
    NOINL void NAME##_r1tp(const lc_gemm_args *g, int64_t r, int64_t t, int64_t k0, int64_t k1, __m512 *sv)   \
    {                                                                                                         \
        TILE(1, TP, g, r, t, k0, k1, sv, 1, 0);                                                               \
    }                                                                                                         \
    static void NAME(const lc_gemm_args *g)                                                                   \
    {                                                                                                         \
        int64_t t = 0;                                                                                        \
        const int64_t rb = row_block(g), kc = g->n > KC ? KC : g->n;                                          \
        __m512 save[SAVE_ROWS * TP];                                                                          \
        for (int64_t b0 = g->r0; b0 < g->r1 && g->nt >= TP; b0 += rb) {                                       \
            const int64_t b1 = b0 + rb < g->r1 ? b0 + rb : g->r1;                                             \
            for (t = 0; t + TP <= g->nt; t += TP) {                                                           \
                for (int64_t k0 = 0; k0 < g->n; k0 += kc) {                                                   \
                    const int64_t k1 = k0 + kc < g->n ? k0 + kc : g->n;                                       \
                    int64_t r = b0;                                                                           \
                    for (; r + RP <= b1; r += RP)                                                             \
                        NAME##_pre(g, r, t, k0, k1, save + (r - b0) * TP);                                    \
                    for (; r < b1; r++)                                                                       \
                        NAME##_r1tp(g, r, t, k0, k1, save + (r - b0) * TP);                                   \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
        const int64_t bmax = lc_gemm_dec_run_rows(g);                                                         \
        for (; t < g->nt; t++) {                                                                              \
            int64_t r = g->r0;                                                                                \
            while (g->r1 - r >= 8) {                                                                          \
                const int64_t B = (g->r1 - r) / 8 < bmax ? (g->r1 - r) / 8 : bmax;                            \
                for (int64_t j = 0; j < B; j++)                                                               \
                    NAME##_dec(g, r + j, t, B);                                                               \
                r += 8 * B;                                                                                   \
            }                                                                                                 \
            for (; r + 4 <= g->r1; r += 4)                                                                    \
                NAME##_r4t1(g, r, t);                                                                         \
            for (; r < g->r1; r++)                                                                            \
                NAME##_r1t1(g, r, t);                                                                         \
        }                                                                                                     \
    }

#define TILE_F32(R, T, g, r, t, k0, k1, sv, rs, pf) tile(WF32, R, T, g, r, t, k0, k1, sv, rs, pf)
#define TILE_F16(R, T, g, r, t, k0, k1, sv, rs, pf) tile(WF16, R, T, g, r, t, k0, k1, sv, rs, pf)
#ifndef LC_F_RP
#define LC_F_RP 4
#define LC_F_TP 4
#endif
GEMM_F(gemm_f32, TILE_F32, LC_F_RP, LC_F_TP)
GEMM_F(gemm_f16, TILE_F16, LC_F_RP, LC_F_TP)

void lc_init_gemm_f_avx512(lc_kernels *k)
{
    k->gemm[LLAMAC_TYPE_F32] = gemm_f32;
    k->gemm[LLAMAC_TYPE_F16] = gemm_f16;
}
