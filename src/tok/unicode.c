/*
 * unicode.c — builds the two-stage class table of unicode.h from the generated ranges, once per process
 * (pthread_once). Identical 256-code-point blocks are shared, so the table is small (about 30 KB).
 */
#include "tok/unicode.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static lc_uclass_table *g_table;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void build(void)
{
    enum { N_BLOCKS = 0x110000 >> 8 };
    uint8_t *flat = calloc(0x110000, 1);
    uint8_t(*blocks)[256] = malloc((size_t)N_BLOCKS * 256);
    lc_uclass_table *t = malloc(sizeof *t);
    if (!flat || !blocks || !t) {
        free(flat);
        free(blocks);
        free(t);
        return;
    }
    for (int i = 0; i < lc_uclass_n_ranges; i++)
        memset(flat + lc_uclass_ranges[i].first, lc_uclass_ranges[i].cls,
               lc_uclass_ranges[i].last - lc_uclass_ranges[i].first + 1);
    /* Deduplicate blocks: compare each block with the unique ones that share its cheap signature. */
    uint32_t sig[N_BLOCKS];
    int n_unique = 0;
    for (int b = 0; b < N_BLOCKS; b++) {
        const uint8_t *blk = flat + ((size_t)b << 8);
        uint32_t s = 2166136261u;
        for (int k = 0; k < 256; k++)
            s = (s ^ blk[k]) * 16777619u;
        int found = -1;
        for (int u = 0; u < n_unique && found < 0; u++)
            if (sig[u] == s && memcmp(blocks[u], blk, 256) == 0)
                found = u;
        if (found < 0) {
            memcpy(blocks[n_unique], blk, 256);
            sig[n_unique] = s;
            found = n_unique++;
        }
        t->stage1[b] = (uint16_t)found;
    }
    free(flat);
    uint8_t(*shrunk)[256] = realloc(blocks, (size_t)n_unique * 256);
    t->block = (const uint8_t(*)[256])(shrunk ? shrunk : blocks);
    g_table = t;
}

const lc_uclass_table *lc_uclass_get(void)
{
    pthread_once(&g_once, build);
    return g_table;
}
