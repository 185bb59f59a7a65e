/*
 * gemm_avx512.h — the shared driver of the AVX-512 quantized GEMMs (gemm_q_avx512.c): each weight type
 * supplies micro-kernels ("tiles") that compute 16 rows (one zmm lane per row, a G16 group of pack.h) for
 * 1..tt tokens over a run of blocks, and the driver walks groups, token tiles and — for weights in the file
 * layout — chunks of blocks packed on the fly. Include only from *_avx512.c files.
 *
 * Determinism: a tile computes each (row, token) with the same operations whatever the number of tokens it
 * holds, and floats carried between chunks are stored to y and reloaded unchanged, so a result never depends
 * on the tile, the chunking, r0/r1 or the thread.
 */
#ifndef LC_GEMM_AVX512_H
#define LC_GEMM_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#include "kernels/quant.h"

#define LC_TT_MAX 8 /* most tokens a tile takes */

/* Activation rows of a token tile. */
typedef struct lc_act_tile {
    const uint8_t *row[LC_TT_MAX]; /* activation row of each token */
    size_t ext;                    /* Q8_0x/Q8_1x: offset of the extension in a row (kernels.h) */
    int64_t nb;                    /* Q8_0x/Q8_1x: blocks per row */
    int pf;                        /* the tile streams the weights from memory (the first token tile of a
                                      small batch, LC_SMALL_NT): the pf_body types prefetch the body ahead */
} lc_act_tile;

/* Batches of up to this many tokens read each weight group from memory once (one or two token tiles) and
 * get the decode prefetching; larger ones are prefill, blocked for the caches. */
#define LC_SMALL_NT 16

/* acc[t] (t < the tile's token count) += the products of blocks ab0 .. ab0+nblk-1 of the activations with the
 * group whose head (half fields) starts at `head` and body at `body` (both for block 0 of the run). */
typedef void (*lc_tile512_fn)(const uint8_t *head, const uint8_t *body, int64_t nblk, const lc_act_tile *a,
                              int64_t ab0, __m512 *acc);

/* Prefill (packed weights, more than LC_SMALL_NT tokens): the same for two neighbouring groups at once (32
 * rows; the second group's head and body are gstride bytes after the first's), so each activation broadcast
 * feeds two vpdpbusd. acc[2 * t + k] is group k's accumulator for token t. */
typedef void (*lc_tile512x2_fn)(const uint8_t *head, const uint8_t *body, size_t gstride, int64_t nblk,
                                const lc_act_tile *a, int64_t ab0, __m512 *acc);

/* Packs blocks [b0, b0+nblk) of 16 rows (NULL = a zero row) into buf in the G16 layout of an nblk-block group. */
typedef void (*lc_pack16_fn)(const uint8_t *const rows[16], int64_t b0, int64_t nblk, uint8_t *buf);

typedef struct lc_qgemm512 {
    int type;                   /* weight type */
    int tt;                     /* tokens per tile (<= LC_TT_MAX) */
    const lc_tile512_fn *tiles; /* tiles[k] handles k tokens, k = 1..tt */
    int q8x;                    /* activations are 1: Q8_0x rows, 2: Q8_1x rows (kernels.h), 0: standard */
    lc_pack16_fn pack;          /* on-the-fly packer for the file layout */
    int kc;                     /* blocks per on-the-fly chunk */
    int pf_body;                /* decode: the tiles prefetch the body LC_PF_DIST ahead (else the hardware
                                   does); must agree with what the type's tile does when a->pf is set */
    const lc_tile512x2_fn *tiles2; /* optional 32-row prefill tiles, tiles2[k] handles k tokens, k = 1..tt2 */
    int tt2;
} lc_qgemm512;

/* Runs the GEMM of g; packed = the weights are in the G16 layout (else the file layout). */
void lc_qgemm512_run(const lc_qgemm512 *qd, const lc_gemm_args *g, int packed);

/* The SIMD packer of any packable type (gemm_q_avx512.c; same bytes as pack.c's lc_pack_group_blocks). */
void lc_avx512_pack16(int type, const void *const rows[16], int64_t b0, int64_t nblk, void *dst);
/* ... as an lc_pack16_fn for type T. */
#define LC_PACK16_SIMD(NAME, TYPE)                                                                            \
    static void NAME(const uint8_t *const rows[16], int64_t b0, int64_t nblk, uint8_t *buf)                  \
    {                                                                                                         \
        lc_avx512_pack16(TYPE, (const void *const *)rows, b0, nblk, buf);                                     \
    }

/* Defines NAME_tiles[] = {NULL, tile with 1 token, ..., tile with TT tokens} from an always-inline
 * NAME_tile(head, body, nblk, a, ab0, const int tt, acc). */
#define LC_TILE_FN(NAME, K)                                                                                   \
    static void NAME##_t##K(const uint8_t *h, const uint8_t *q, int64_t n, const lc_act_tile *a, int64_t b,  \
                            __m512 *c)                                                                        \
    {                                                                                                         \
        NAME##_tile(h, q, n, a, b, K, c);                                                                     \
    }
#define LC_DEFINE_TILES4(NAME)                                                                                \
    LC_TILE_FN(NAME, 1) LC_TILE_FN(NAME, 2) LC_TILE_FN(NAME, 3) LC_TILE_FN(NAME, 4)                           \
    static const lc_tile512_fn NAME##_tiles[5] = {NULL, NAME##_t1, NAME##_t2, NAME##_t3, NAME##_t4};
#define LC_DEFINE_TILES8(NAME)                                                                                \
    LC_TILE_FN(NAME, 1) LC_TILE_FN(NAME, 2) LC_TILE_FN(NAME, 3) LC_TILE_FN(NAME, 4) LC_TILE_FN(NAME, 5)       \
    LC_TILE_FN(NAME, 6) LC_TILE_FN(NAME, 7) LC_TILE_FN(NAME, 8)                                               \
    static const lc_tile512_fn NAME##_tiles[9] = {NULL,      NAME##_t1, NAME##_t2, NAME##_t3, NAME##_t4,      \
                                                  NAME##_t5, NAME##_t6, NAME##_t7, NAME##_t8};

/* Defines NAME_tiles2[] = {NULL, 32-row tile with 1 token, ..., with 4 tokens} from an always-inline
 * NAME_tile2(head, body, gstride, nblk, a, ab0, const int tt, acc) (lc_qgemm512.tiles2, tt2 = 4). */
#define LC_TILE2_FN(NAME, K)                                                                                  \
    static void NAME##_x2_t##K(const uint8_t *h, const uint8_t *q, size_t gs, int64_t n, const lc_act_tile *a,\
                               int64_t b, __m512 *c)                                                          \
    {                                                                                                         \
        NAME##_tile2(h, q, gs, n, a, b, K, c);                                                                \
    }
#define LC_DEFINE_TILES2(NAME)                                                                                \
    LC_TILE2_FN(NAME, 1) LC_TILE2_FN(NAME, 2) LC_TILE2_FN(NAME, 3) LC_TILE2_FN(NAME, 4)                       \
    static const lc_tile512x2_fn NAME##_tiles2[5] = {NULL, NAME##_x2_t1, NAME##_x2_t2, NAME##_x2_t3, NAME##_x2_t4};

/* Decode (tiles of 1-2 tokens) is limited by how many cache lines a core keeps in flight, not by compute.
 * A packed group is two streams, its head (scales) and its body, read in step; the hardware prefetcher follows
 * that pattern poorly (a plain read loop over it: 23 GB/s on one core, against 33 for one stream). Each type
 * picks what measured best on one core (bench_kernels -t 1, GB/s): types whose tile reads each block's body in
 * address order (pf_body 0) have the driver fetch a group's whole head into L1 first, after which the body is
 * the only stream, left to the hardware prefetcher (Q8_0 21 -> 25, Q4_K 22 -> 28; Q4_0: docs/KERNELS.md);
 * the others prefetch the body LC_PF_DIST bytes ahead into L2 (Q5_K 20, Q6_K 20; Q6_K's tile reads a block's
 * scales, at the end of the block, first; without the prefetch Q6_K drops to 10). Software prefetch of a
 * stream the hardware already follows costs bandwidth here (a plain read loop: 33 -> 24 GB/s with prefetcht1
 * 16 KiB ahead). */
#ifndef LC_PF_DIST
#define LC_PF_DIST 16384
#endif
#ifndef LC_PF_HINT
#define LC_PF_HINT _MM_HINT_T1
#endif
static inline __attribute__((always_inline)) void lc_prefetch_ahead(const uint8_t *p, size_t bytes)
{
    for (size_t off = 0; off < bytes; off += 64)
        _mm_prefetch((const char *)p + LC_PF_DIST + off, LC_PF_HINT);
}

/* Sub-table initializer for the K-quants (gemm_k_avx512.c). */
void lc_init_gemm_k_avx512(lc_kernels *k);

#endif
