/*
 * pack.c — conversions to and from the G16 interleaved layout (see pack.h). Portable C: used at load time
 * (in parallel, one range of groups per task), by the tests, and by the kernels' on-the-fly packing of types
 * without a SIMD packer.
 */
#include "kernels/pack.h"

#include <stddef.h>
#include <string.h>

#include "kernels/quant.h"

#define L32(T, st, blk, nh, h0, h1) LLAMAC_TYPE_##T, blk, (int)sizeof(lc_block_##st), nh, {h0, h1}
#define F(st, f) (int)offsetof(lc_block_##st, f)
#define FB(st, f) (int)sizeof(((lc_block_##st *)0)->f)

static const lc_pack_layout g_layouts[] = {
    {L32(Q4_0, q4_0, 32, 1, F(q4_0, d), 0), 1, {F(q4_0, qs)}, {FB(q4_0, qs)}},
    {L32(Q8_0, q8_0, 32, 1, F(q8_0, d), 0), 1, {F(q8_0, qs)}, {FB(q8_0, qs)}},
    {L32(Q4_1, q4_1, 32, 2, F(q4_1, d), F(q4_1, m)), 1, {F(q4_1, qs)}, {FB(q4_1, qs)}},
    {L32(Q5_0, q5_0, 32, 1, F(q5_0, d), 0), 2, {F(q5_0, qh), F(q5_0, qs)}, {FB(q5_0, qh), FB(q5_0, qs)}},
    {L32(Q5_1, q5_1, 32, 2, F(q5_1, d), F(q5_1, m)), 2, {F(q5_1, qh), F(q5_1, qs)}, {FB(q5_1, qh), FB(q5_1, qs)}},
    {L32(Q2_K, q2_K, 256, 2, F(q2_K, d), F(q2_K, dmin)), 2, {F(q2_K, scales), F(q2_K, qs)},
     {FB(q2_K, scales), FB(q2_K, qs)}},
    {L32(Q3_K, q3_K, 256, 1, F(q3_K, d), 0), 3, {F(q3_K, hmask), F(q3_K, qs), F(q3_K, scales)},
     {FB(q3_K, hmask), FB(q3_K, qs), FB(q3_K, scales)}},
    {L32(Q4_K, q4_K, 256, 2, F(q4_K, d), F(q4_K, dmin)), 2, {F(q4_K, scales), F(q4_K, qs)},
     {FB(q4_K, scales), FB(q4_K, qs)}},
    {L32(Q5_K, q5_K, 256, 2, F(q5_K, d), F(q5_K, dmin)), 3, {F(q5_K, scales), F(q5_K, qh), F(q5_K, qs)},
     {FB(q5_K, scales), FB(q5_K, qh), FB(q5_K, qs)}},
    {L32(Q6_K, q6_K, 256, 1, F(q6_K, d), 0), 3, {F(q6_K, ql), F(q6_K, qh), F(q6_K, scales)},
     {FB(q6_K, ql), FB(q6_K, qh), FB(q6_K, scales)}},
    /* BF16 as blocks of one pair: vector m of a group holds elements 2m, 2m + 1 of each row (even n only) */
    {LLAMAC_TYPE_BF16, 2, 4, 0, {0, 0}, 1, {0}, {4}},
};

const lc_pack_layout *lc_pack_layout_get(int type)
{
    for (size_t i = 0; i < sizeof g_layouts / sizeof g_layouts[0]; i++)
        if (g_layouts[i].type == type)
            return &g_layouts[i];
    return NULL;
}

int lc_pack_supported(int type)
{
    return lc_pack_layout_get(type) != NULL;
}

static int body_block(const lc_pack_layout *L)
{
    return LC_PACK_ROWS * (L->block_bytes - 2 * L->nhalf);
}

static size_t head_bytes(const lc_pack_layout *L, int64_t nblk)
{
    return ((size_t)nblk * L->nhalf * LC_PACK_ROWS * 2 + 63) & ~(size_t)63;
}

size_t lc_pack_quant_offset(int type, int64_t n_in)
{
    const lc_pack_layout *L = lc_pack_layout_get(type);
    if (!L || n_in <= 0 || n_in % L->blck)
        return 0;
    return head_bytes(L, n_in / L->blck);
}

size_t lc_pack_group_bytes(int type, int64_t n_in)
{
    const lc_pack_layout *L = lc_pack_layout_get(type);
    if (!L || n_in <= 0 || n_in % L->blck)
        return 0;
    return head_bytes(L, n_in / L->blck) + (size_t)(n_in / L->blck) * (size_t)body_block(L);
}

size_t lc_pack_size(int type, int64_t n_out, int64_t n_in)
{
    int64_t groups = (n_out + LC_PACK_ROWS - 1) / LC_PACK_ROWS;
    return (size_t)groups * lc_pack_group_bytes(type, n_in);
}

void lc_pack_group_blocks(int type, const void *const rows[LC_PACK_ROWS], int64_t b0, int64_t nblk, void *dst)
{
    const lc_pack_layout *L = lc_pack_layout_get(type);
    if (!L)
        return;
    uint8_t *out = dst;
    const size_t hb = head_bytes(L, nblk), bb = (size_t)body_block(L);
    const size_t hused = (size_t)nblk * L->nhalf * LC_PACK_ROWS * 2;
    memset(out + hused, 0, hb - hused);
    for (int r = 0; r < LC_PACK_ROWS; r++) {
        const uint8_t *row = rows[r];
        for (int64_t b = 0; b < nblk; b++) {
            const uint8_t *blk = row ? row + (size_t)(b0 + b) * L->block_bytes : NULL;
            for (int i = 0; i < L->nhalf; i++) {
                uint8_t *h = out + (((size_t)b * L->nhalf + i) * LC_PACK_ROWS + r) * 2;
                if (blk)
                    memcpy(h, blk + L->half_off[i], 2);
                else
                    memset(h, 0, 2);
            }
            uint8_t *body = out + hb + (size_t)b * bb;
            for (int f = 0; f < L->nbody; f++) {
                for (int j = 0; j < L->body_bytes[f] / 4; j++) {
                    uint8_t *v = body + (size_t)j * 64 + (size_t)r * 4;
                    if (blk)
                        memcpy(v, blk + L->body_off[f] + 4 * j, 4);
                    else
                        memset(v, 0, 4);
                }
                body += (size_t)L->body_bytes[f] * LC_PACK_ROWS;
            }
        }
    }
}

void lc_pack_groups(int type, const void *src, size_t src_stride, int64_t n_out, int64_t n_in, void *dst,
                    int64_t g0, int64_t g1)
{
    const lc_pack_layout *L = lc_pack_layout_get(type);
    size_t gb = lc_pack_group_bytes(type, n_in);
    if (!gb)
        return;
    for (int64_t g = g0; g < g1; g++) {
        const void *rows[LC_PACK_ROWS];
        for (int i = 0; i < LC_PACK_ROWS; i++) {
            int64_t r = g * LC_PACK_ROWS + i;
            rows[i] = r < n_out ? (const char *)src + (size_t)r * src_stride : NULL;
        }
        lc_pack_group_blocks(type, rows, 0, n_in / L->blck, (char *)dst + (size_t)g * gb);
    }
}

void lc_packed_row_to_float(int type, const void *packed, int64_t n_in, int64_t r, float *out)
{
    const lc_pack_layout *L = lc_pack_layout_get(type);
    if (!L)
        return;
    const int64_t nb = n_in / L->blck;
    const uint8_t *grp = (const uint8_t *)packed + (size_t)(r / LC_PACK_ROWS) * lc_pack_group_bytes(type, n_in);
    const size_t hb = head_bytes(L, nb), bb = (size_t)body_block(L);
    const int lane = (int)(r % LC_PACK_ROWS);
    uint8_t blk[256]; /* larger than any block */
    for (int64_t b = 0; b < nb; b++) {
        for (int i = 0; i < L->nhalf; i++)
            memcpy(blk + L->half_off[i], grp + (((size_t)b * L->nhalf + i) * LC_PACK_ROWS + lane) * 2, 2);
        const uint8_t *body = grp + hb + (size_t)b * bb;
        for (int f = 0; f < L->nbody; f++) {
            for (int j = 0; j < L->body_bytes[f] / 4; j++)
                memcpy(blk + L->body_off[f] + 4 * j, body + (size_t)j * 64 + (size_t)lane * 4, 4);
            body += (size_t)L->body_bytes[f] * LC_PACK_ROWS;
        }
        lc_type_traits_get(type)->to_float(blk, out + b * L->blck, L->blck);
    }
}
