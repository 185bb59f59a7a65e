/*
 * unicode.c — builds the two-stage class table of unicode.h from the generated ranges, once per process
 * (pthread_once). Identical 256-code-point blocks are shared, so the table is small (about 30 KB touched).
 * The table lives in static storage: building it allocates nothing, so it can neither fail nor leak (an
 * allocation failure at first use would otherwise have left the tokenizer without a table for the process's
 * whole life: issue 14's allocation-failure injection, tests/c/test_alloc_fail.c).
 */
#include "tok/unicode.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { N_BLOCKS = 0x110000 >> 8 };
static lc_uclass_table g_table;
static uint8_t g_blocks[N_BLOCKS][256]; /* only the first n_unique are used (the rest stay untouched zero pages) */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void build(void)
{
    static uint32_t sig[N_BLOCKS];
    int n_unique = 0;
    for (int b = 0; b < N_BLOCKS; b++) {
        const uint32_t lo = (uint32_t)b << 8, hi = lo + 255;
        uint8_t blk[256] = {0};
        for (int i = 0; i < lc_uclass_n_ranges; i++) {
            const uint32_t f = lc_uclass_ranges[i].first, l = lc_uclass_ranges[i].last;
            if (l < lo || f > hi)
                continue;
            const uint32_t from = f > lo ? f : lo, to = l < hi ? l : hi;
            memset(blk + (from - lo), lc_uclass_ranges[i].cls, to - from + 1);
        }
        /* deduplicate: compare with the unique blocks that share its cheap signature */
        uint32_t s = 2166136261u;
        for (int k = 0; k < 256; k++)
            s = (s ^ blk[k]) * 16777619u;
        int found = -1;
        for (int u = 0; u < n_unique && found < 0; u++)
            if (sig[u] == s && memcmp(g_blocks[u], blk, 256) == 0)
                found = u;
        if (found < 0) {
            memcpy(g_blocks[n_unique], blk, 256);
            sig[n_unique] = s;
            found = n_unique++;
        }
        g_table.stage1[b] = (uint16_t)found;
    }
    g_table.block = (const uint8_t(*)[256])g_blocks;
}

const lc_uclass_table *lc_uclass_get(void)
{
    pthread_once(&g_once, build);
    return &g_table;
}
