/*
 * gemm_avx2.h — the shared driver of the AVX2 quantized GEMMs (gemm_q_avx2.c): each weight type supplies
 * micro-kernels ("tiles") that compute the 16 rows of a G16 group (pack.h) as two 8-lane halves for 1..tt
 * tokens over a run of blocks; the driver walks groups, token tiles and — for weights in the file layout —
 * chunks of blocks packed on the fly. Include only from *_avx2.c files.
 *
 * Determinism: a tile computes each (row, token) with the same operations whatever the number of tokens it
 * holds, and floats carried between chunks are stored to y and reloaded unchanged, so a result never depends
 * on the tile, the chunking, r0/r1 or the thread (the same argument as gemm_avx512.h).
 */
#ifndef LC_GEMM_AVX2_H
#define LC_GEMM_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/quant.h"

#define LC_TT2_MAX 4 /* most tokens a tile takes (2 x tt float accumulators) */

/* Activation rows of a token tile. */
typedef struct lc_act_tile2 {
    const uint8_t *row[LC_TT2_MAX]; /* activation row of each token */
    size_t ext;                     /* Q8_0x/Q8_1x: offset of the extension in a row (kernels.h) */
    int64_t nb;                     /* Q8_0x/Q8_1x: blocks per row */
} lc_act_tile2;

/* acc[2t + h] (t < the tile's token count, h = row half) += the products of blocks ab0 .. ab0+nblk-1 of the
 * activations with the group whose head starts at `head` and body at `body` (both for block 0 of the run). */
typedef void (*lc_tile2_fn)(const uint8_t *head, const uint8_t *body, int64_t nblk, const lc_act_tile2 *a,
                            int64_t ab0, __m256 *acc);

typedef struct lc_qgemm2 {
    int type;                  /* weight type */
    int tt;                    /* tokens per tile (<= LC_TT2_MAX) */
    int q8x;                   /* activations are 1: Q8_0x rows, 2: Q8_1x rows (kernels.h), 0: standard */
    int kc;                    /* blocks per on-the-fly chunk */
    const lc_tile2_fn *tiles;  /* tiles[k] handles k tokens, k = 1..tt */
} lc_qgemm2;

/* Runs the GEMM of g; packed = the weights are in the G16 layout (else the file layout). */
void lc_qgemm2_run(const lc_qgemm2 *qd, const lc_gemm_args *g, int packed);

/* Sub-table initializer for the K-quants (gemm_k_avx2.c). */
void lc_init_gemm_k_avx2(lc_kernels *k);

static inline __attribute__((always_inline)) __m256i lc_bcast32_2(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

static inline __attribute__((always_inline)) float lc_load_f32_2(const uint8_t *p)
{
    float v;
    memcpy(&v, p, 4);
    return v;
}

/* int16 pairs (lo 16 bits, hi 16 bits) of each 32-bit lane both set to the lane's small signed value s:
 * madd_epi16(x, pair(s)) = s * (x.lo + x.hi), exact in int32 */
static inline __attribute__((always_inline)) __m256i lc_pair16_2(__m256i s)
{
    return _mm256_or_si256(_mm256_and_si256(s, _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(s, 16));
}

/* Defines NAME_tiles[] = {NULL, tile with 1 token, ..., tile with TT tokens} from an always-inline
 * NAME_tile(head, body, nblk, a, ab0, const int tt, acc). */
#define LC2_TILE_FN(NAME, K)                                                                                  \
    static void NAME##_t##K(const uint8_t *h, const uint8_t *q, int64_t n, const lc_act_tile2 *a, int64_t b, \
                            __m256 *c)                                                                        \
    {                                                                                                         \
        NAME##_tile(h, q, n, a, b, K, c);                                                                     \
    }
#define LC2_DEFINE_TILES2(NAME)                                                                               \
    LC2_TILE_FN(NAME, 1) LC2_TILE_FN(NAME, 2)                                                                 \
    static const lc_tile2_fn NAME##_tiles[3] = {NULL, NAME##_t1, NAME##_t2};
#define LC2_DEFINE_TILES4(NAME)                                                                               \
    LC2_TILE_FN(NAME, 1) LC2_TILE_FN(NAME, 2) LC2_TILE_FN(NAME, 3) LC2_TILE_FN(NAME, 4)                       \
    static const lc_tile2_fn NAME##_tiles[5] = {NULL, NAME##_t1, NAME##_t2, NAME##_t3, NAME##_t4};

#endif
