/*
 * pack.h — the "G16" interleaved weight layout that the SIMD kernels read, and conversions to and from it.
 *
 * A packed matrix is a sequence of groups of 16 consecutive weight rows (the last group is padded with zero
 * rows); every group has the same size, a multiple of 64 bytes, and packed matrices are 64-byte aligned.
 * A block type is described by its fields (lc_pack_layout): the half-precision scalars (scales, mins) and the
 * other fields, whose sizes are multiples of 4 bytes. Within a group of nb blocks per row:
 *
 *   head   nb x nhalf x 16 halves   half field i of block b of row r at half index (b*nhalf + i)*16 + r
 *          (padded to a multiple of 64 bytes)
 *   body   nb x (16 x (block bytes - 2*nhalf))   for block b, the other fields in block order; a field of
 *          F bytes is F/4 vectors of 64 bytes, vector j holding bytes 4j..4j+3 of the field of row r at
 *          bytes 4r..4r+3 of the vector, copied unchanged
 *
 * So one 64-byte load holds 4 consecutive bytes of each of 16 rows: a dot-product instruction that multiplies
 * 4-byte groups (VNNI vpdpbusd, or maddubs+madd on AVX2) with the same 4 activation bytes broadcast to every
 * lane yields exact integer sums of 16 rows at once. E.g. Q4_0 (d; qs[16]): head = d, body = 4 vectors per
 * block, whose low nibbles are elements 4j..4j+3 and high nibbles elements 16+4j..16+4j+3. A group has
 * exactly the bytes of its 16 rows plus at most 62 bytes of padding; packing is lossless
 * (lc_packed_row_to_float returns exactly the reference dequantization).
 */
#ifndef LC_PACK_H
#define LC_PACK_H

#include <stddef.h>
#include <stdint.h>

#define LC_PACK_ROWS 16

typedef struct lc_pack_layout {
    int type;
    int blck;           /* elements per block */
    int block_bytes;    /* bytes per block in the file */
    int nhalf;          /* half-precision fields (moved to the head) */
    int half_off[2];    /* their offsets in the file's block */
    int nbody;          /* other fields, in block order */
    int body_off[4], body_bytes[4];
} lc_pack_layout;

/* The layout of a packable type, or NULL. */
const lc_pack_layout *lc_pack_layout_get(int type);
/* 1 if weights of this type can be packed. */
int lc_pack_supported(int type);
/* Bytes of the (padded) head of a group of rows of n_in elements; the body starts there. */
size_t lc_pack_quant_offset(int type, int64_t n_in);
/* Bytes of one packed group of 16 rows of n_in elements (0 if not supported / not a whole number of blocks). */
size_t lc_pack_group_bytes(int type, int64_t n_in);
/* Bytes of a whole packed matrix of n_out rows. */
size_t lc_pack_size(int type, int64_t n_out, int64_t n_in);

/* Packs groups [g0, g1) of a matrix whose row r (r < n_out) is at src + r * src_stride, into dst (the start of
 * the packed matrix, 64-byte aligned). Groups are independent, so disjoint ranges may run in parallel. */
void lc_pack_groups(int type, const void *src, size_t src_stride, int64_t n_out, int64_t n_in, void *dst,
                    int64_t g0, int64_t g1);
/* Packs blocks [b0, b0 + nblk) of 16 rows (rows[i] NULL: a zero row) as a group of nblk blocks at dst. */
void lc_pack_group_blocks(int type, const void *const rows[LC_PACK_ROWS], int64_t b0, int64_t nblk, void *dst);

/* Row r of a packed matrix as f32 (exactly the type's reference to_float of the original row). */
void lc_packed_row_to_float(int type, const void *packed, int64_t n_in, int64_t r, float *out);

#endif
