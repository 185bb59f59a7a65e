/*
 * kv_pool.c — see kv_pool.h: the block pool of the paged KV cache (mapping, allocation lowest id first,
 * reference counts, the LRU list of cached blocks, the prefix index, returning free memory).
 *
 * Invariants (checked by tests/c/test_kv_paged.c through the public statistics):
 *   n_used + n_cached + n_free == n_blocks;  a block is in exactly one of the three states;
 *   LC_KVB_INDEXED implies LC_KVB_SEALED;  a cached block is always indexed;  pending[] is all zero between calls;
 *   n_free_resident counts the free blocks with LC_KVB_RESIDENT.
 */
#include "core/kv_pool.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Free blocks kept resident (ready for reuse without page faults): a quarter of the pool, at most 64 MiB worth,
 * at least one block. */
#define LC_KV_SLACK_BYTES ((size_t)64 << 20)

static void free_bit_set(lc_kv_pool *p, int32_t b)
{
    p->free_bits[b >> 6] |= (uint64_t)1 << (b & 63);
    if ((b >> 6) < p->free_hint)
        p->free_hint = b >> 6;
}

static int32_t free_bit_take_lowest(lc_kv_pool *p)
{
    const int n_words = (p->n_blocks + 63) / 64;
    for (int w = p->free_hint; w < n_words; w++) {
        if (p->free_bits[w]) {
            int bit = __builtin_ctzll(p->free_bits[w]);
            p->free_bits[w] &= p->free_bits[w] - 1;
            p->free_hint = w;
            return (int32_t)(w * 64 + bit);
        }
    }
    p->free_hint = n_words;
    return -1;
}

static int is_free(const lc_kv_pool *p, int32_t b)
{
    return (int)((p->free_bits[b >> 6] >> (b & 63)) & 1);
}

llamac_status lc_kv_pool_init(lc_kv_pool *p, const lc_kv_geometry *g, int n_blocks, int prefix_cache, lc_err *e)
{
    memset(p, 0, sizeof *p);
    p->lru_head = p->lru_tail = -1;
    p->g = *g;
    p->block_size = 1 << g->block_log2;
    p->row_bytes = (size_t)g->head_dim * (size_t)g->elem;
    p->slab_bytes = (size_t)p->block_size * p->row_bytes;
    p->block_bytes = 2 * (size_t)g->n_layer * (size_t)g->n_head_kv * p->slab_bytes;
    p->prefix_cache = prefix_cache;
    if (n_blocks < 1 || (size_t)n_blocks > SIZE_MAX / 2 / p->block_bytes)
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "KV pool of %d blocks of %zu bytes is too large", n_blocks,
                       p->block_bytes);
    p->n_blocks = n_blocks;
    p->map_bytes = (size_t)n_blocks * p->block_bytes;
    void *m = mmap(NULL, p->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return lc_fail(e, LLAMAC_E_NOMEM, "cannot reserve %zu MiB of address space for the KV cache",
                       p->map_bytes >> 20);
    p->base = m;
    uint32_t n_buckets = 16;
    while (n_buckets < (uint32_t)n_blocks && n_buckets < (1u << 30))
        n_buckets <<= 1;
    p->bucket_mask = n_buckets - 1;
    const size_t nb = (size_t)n_blocks, n_words = (nb + 63) / 64;
    p->refs = calloc(nb, sizeof *p->refs);
    p->tokens = calloc(nb * (size_t)p->block_size, sizeof *p->tokens);
    p->hash = calloc(nb, sizeof *p->hash);
    p->parent = calloc(nb, sizeof *p->parent);
    p->flags = calloc(nb, sizeof *p->flags);
    p->hnext = malloc(nb * sizeof *p->hnext);
    p->lru_prev = malloc(nb * sizeof *p->lru_prev);
    p->lru_next = malloc(nb * sizeof *p->lru_next);
    p->pending = calloc(nb, sizeof *p->pending);
    p->free_bits = calloc(n_words, sizeof *p->free_bits);
    p->bucket = malloc((size_t)n_buckets * sizeof *p->bucket);
    if (!p->refs || !p->tokens || !p->hash || !p->parent || !p->flags || !p->hnext || !p->lru_prev ||
        !p->lru_next || !p->pending || !p->free_bits || !p->bucket)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory for the tables of %d KV blocks", n_blocks);
    for (size_t b = 0; b < nb; b++) {
        p->hnext[b] = p->lru_prev[b] = p->lru_next[b] = -1;
        free_bit_set(p, (int32_t)b);
    }
    memset(p->bucket, 0xff, (size_t)n_buckets * sizeof *p->bucket);
    p->n_free = n_blocks;
    size_t slack = LC_KV_SLACK_BYTES / p->block_bytes;
    if (slack > nb / 4)
        slack = nb / 4;
    p->slack = slack < 1 ? 1 : (int)slack;
    if (getrandom(p->key, sizeof p->key, GRND_NONBLOCK) != (ssize_t)sizeof p->key) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        p->key[0] = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)p;
        p->key[1] = (uint64_t)ts.tv_sec * 0xC2B2AE3D27D4EB4Full ^ (uint64_t)getpid();
    }
    return LLAMAC_OK;
}

void lc_kv_pool_free(lc_kv_pool *p)
{
    if (p->base)
        munmap(p->base, p->map_bytes);
    free(p->refs);
    free(p->tokens);
    free(p->hash);
    free(p->parent);
    free(p->flags);
    free(p->hnext);
    free(p->lru_prev);
    free(p->lru_next);
    free(p->pending);
    free(p->free_bits);
    free(p->bucket);
    memset(p, 0, sizeof *p);
}

/* ---- the LRU list of cached blocks (head = least recently released) ---- */

static void lru_push_tail(lc_kv_pool *p, int32_t b)
{
    p->lru_prev[b] = p->lru_tail;
    p->lru_next[b] = -1;
    if (p->lru_tail >= 0)
        p->lru_next[p->lru_tail] = b;
    else
        p->lru_head = b;
    p->lru_tail = b;
    p->flags[b] |= LC_KVB_ON_LRU;
}

static void lru_unlink(lc_kv_pool *p, int32_t b)
{
    int32_t pr = p->lru_prev[b], nx = p->lru_next[b];
    if (pr >= 0)
        p->lru_next[pr] = nx;
    else
        p->lru_head = nx;
    if (nx >= 0)
        p->lru_prev[nx] = pr;
    else
        p->lru_tail = pr;
    p->lru_prev[b] = p->lru_next[b] = -1;
    p->flags[b] &= (uint8_t)~LC_KVB_ON_LRU;
}

/* ---- the chain hash and the index ---- */

static inline uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline void sip_round(uint64_t v[4])
{
    v[0] += v[1], v[1] = rotl(v[1], 13), v[1] ^= v[0], v[0] = rotl(v[0], 32);
    v[2] += v[3], v[3] = rotl(v[3], 16), v[3] ^= v[2];
    v[0] += v[3], v[3] = rotl(v[3], 21), v[3] ^= v[0];
    v[2] += v[1], v[1] = rotl(v[1], 17), v[1] ^= v[2], v[2] = rotl(v[2], 32);
}

/* SipHash-2-4 rounds over the words: parent, then the tokens two per word, then the word count */
uint64_t lc_kv_pool_chain_hash(const lc_kv_pool *p, uint64_t parent, const int32_t *tokens)
{
    uint64_t v[4] = {p->key[0] ^ 0x736f6d6570736575ull, p->key[1] ^ 0x646f72616e646f6dull,
                     p->key[0] ^ 0x6c7967656e657261ull, p->key[1] ^ 0x7465646279746573ull};
    const int n_words = 1 + p->block_size / 2;
    for (int w = 0; w <= n_words; w++) {
        uint64_t m = parent;
        if (w == n_words)
            m = (uint64_t)n_words << 56;
        else if (w > 0)
            m = (uint64_t)(uint32_t)tokens[2 * w - 2] | (uint64_t)(uint32_t)tokens[2 * w - 1] << 32;
        v[3] ^= m;
        sip_round(v);
        sip_round(v);
        v[0] ^= m;
    }
    v[2] ^= 0xff;
    for (int r = 0; r < 4; r++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static int same_tokens(const lc_kv_pool *p, int32_t b, const int32_t *tokens)
{
    return memcmp(p->tokens + (size_t)b * p->block_size, tokens, (size_t)p->block_size * sizeof *tokens) == 0;
}

static int32_t index_find(const lc_kv_pool *p, uint64_t hash, uint64_t parent, const int32_t *tokens)
{
    for (int32_t b = p->bucket[hash & p->bucket_mask]; b >= 0; b = p->hnext[b])
        if (p->hash[b] == hash && p->parent[b] == parent && same_tokens(p, b, tokens))
            return b;
    return -1;
}

/* enters sealed block b unless an equal block is indexed; returns 1 if entered */
static int index_insert(lc_kv_pool *p, int32_t b)
{
    if (index_find(p, p->hash[b], p->parent[b], p->tokens + (size_t)b * p->block_size) >= 0)
        return 0;
    int32_t *head = &p->bucket[p->hash[b] & p->bucket_mask];
    p->hnext[b] = *head;
    *head = b;
    p->flags[b] |= LC_KVB_INDEXED;
    return 1;
}

static void index_remove(lc_kv_pool *p, int32_t b)
{
    int32_t *link = &p->bucket[p->hash[b] & p->bucket_mask];
    while (*link >= 0 && *link != b)
        link = &p->hnext[*link];
    if (*link == b)
        *link = p->hnext[b];
    p->hnext[b] = -1;
    p->flags[b] &= (uint8_t)~LC_KVB_INDEXED;
}

void lc_kv_pool_seal(lc_kv_pool *p, int32_t b, uint64_t parent)
{
    p->parent[b] = parent;
    p->hash[b] = lc_kv_pool_chain_hash(p, parent, p->tokens + (size_t)b * p->block_size);
    p->flags[b] |= LC_KVB_SEALED;
    index_insert(p, b);
}

void lc_kv_pool_unseal(lc_kv_pool *p, int32_t b)
{
    if (p->flags[b] & LC_KVB_INDEXED)
        index_remove(p, b);
    p->flags[b] &= (uint8_t)~LC_KVB_SEALED;
}

int32_t lc_kv_pool_lookup(const lc_kv_pool *p, uint64_t parent, const int32_t *tokens)
{
    return index_find(p, lc_kv_pool_chain_hash(p, parent, tokens), parent, tokens);
}

/* ---- block lifetimes ---- */

/* cached or used -> free */
static void make_free(lc_kv_pool *p, int32_t b)
{
    if (p->flags[b] & LC_KVB_INDEXED)
        index_remove(p, b);
    p->flags[b] &= LC_KVB_RESIDENT;
    if (p->flags[b] & LC_KVB_RESIDENT)
        p->n_free_resident++;
    free_bit_set(p, b);
    p->n_free++;
}

int32_t lc_kv_pool_alloc(lc_kv_pool *p)
{
    int32_t b = free_bit_take_lowest(p);
    if (b >= 0) {
        p->n_free--;
        if (p->flags[b] & LC_KVB_RESIDENT)
            p->n_free_resident--;
    } else if (p->lru_head >= 0) {
        b = p->lru_head;
        lru_unlink(p, b);
        index_remove(p, b);
        p->n_cached--;
    } else {
        return -1;
    }
    if (!(p->flags[b] & LC_KVB_RESIDENT))
        p->n_resident++;
    p->flags[b] = LC_KVB_RESIDENT;
    p->refs[b] = 1;
    p->n_used++;
    return b;
}

void lc_kv_pool_ref(lc_kv_pool *p, int32_t b)
{
    if (p->refs[b]++ == 0) {
        lru_unlink(p, b);
        p->n_cached--;
        p->n_used++;
    }
}

void lc_kv_pool_unref(lc_kv_pool *p, int32_t b)
{
    if (--p->refs[b] > 0)
        return;
    p->n_used--;
    /* a sealed block that was an equal block's duplicate may take the index place the other has left */
    if (p->prefix_cache && (p->flags[b] & LC_KVB_SEALED) && ((p->flags[b] & LC_KVB_INDEXED) || index_insert(p, b))) {
        lru_push_tail(p, b);
        p->n_cached++;
    } else {
        make_free(p, b);
    }
}

void lc_kv_pool_drop_cached(lc_kv_pool *p)
{
    while (p->lru_head >= 0) {
        int32_t b = p->lru_head;
        lru_unlink(p, b);
        p->n_cached--;
        make_free(p, b);
    }
}

/* madvise the whole pages inside blocks [b0, b1) */
static void release_pages(lc_kv_pool *p, int32_t b0, int32_t b1)
{
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)p->base + (size_t)b0 * p->block_bytes;
    uintptr_t hi = (uintptr_t)p->base + (size_t)b1 * p->block_bytes;
    lo = (lo + page - 1) & ~(page - 1);
    hi &= ~(page - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void lc_kv_pool_trim(lc_kv_pool *p)
{
    int32_t run_end = -1; /* one past the current run of blocks to release (scanning downwards) */
    for (int32_t b = p->n_blocks - 1; b >= 0 && p->n_free_resident > p->slack; b--) {
        if (is_free(p, b) && (p->flags[b] & LC_KVB_RESIDENT)) {
            if (run_end < 0)
                run_end = b + 1;
            p->flags[b] &= (uint8_t)~LC_KVB_RESIDENT;
            p->n_free_resident--;
            p->n_resident--;
        } else if (run_end >= 0) {
            release_pages(p, b + 1, run_end);
            run_end = -1;
        }
        if (run_end >= 0 && (b == 0 || p->n_free_resident <= p->slack)) {
            release_pages(p, b, run_end);
            run_end = -1;
        }
    }
}

void lc_kv_pool_copy(lc_kv_pool *p, int32_t dst, int32_t src, int n_rows)
{
    const size_t bytes = (size_t)n_rows * p->row_bytes;
    for (int l = 0; l < p->g.n_layer; l++)
        for (int h = 0; h < p->g.n_head_kv; h++)
            for (int v = 0; v < 2; v++)
                memcpy(lc_kv_pool_slab(p, dst, l, h, v), lc_kv_pool_slab(p, src, l, h, v), bytes);
    memcpy(p->tokens + (size_t)dst * p->block_size, p->tokens + (size_t)src * p->block_size,
           (size_t)n_rows * sizeof *p->tokens);
    p->flags[dst] = (uint8_t)((p->flags[dst] & ~LC_KVB_TAINTED) | (p->flags[src] & LC_KVB_TAINTED));
}
