/*
 * kv_pool.h — the block pool under the paged KV cache (kv_cache.h): memory, block lifetimes and the prefix
 * index. It knows blocks, not sequences.
 *
 * Memory: one anonymous MAP_NORESERVE mapping of n_blocks * block_bytes (address space only). A block holds K
 * and V of every layer and KV head for block_size consecutive positions:
 *
 *     block b:  for l < n_layer, h < n_head_kv:  K rows [block_size][head_dim], then V rows [block_size][head_dim]
 *     slab(b, l, h, v) = base + b * block_bytes + ((l * n_head_kv + h) * 2 + v) * slab_bytes
 *
 * so for one (layer, KV head) a block's positions are contiguous rows (the attention kernels' lc_kv_view).
 * Elements are f32 or f16 (elem bytes).
 *
 * Block states (counts in n_used, n_cached, n_free, which always add up to n_blocks):
 *   used    refs > 0: held by that many sequence tables;
 *   cached  refs == 0, in the prefix index and on the LRU list (prefix_cache on): reusable, evicted when needed;
 *   free    neither; its bit is set in free_bits.
 * Allocation takes the lowest free id; with none free it evicts the least recently used cached block.
 *
 * Prefix index: a full block whose content is exact (computed by decode along one chain of tokens, never
 * shifted or loaded) carries a chain hash H(parent's hash, its block_size tokens) (LC_KVB_SEALED); H is
 * SipHash-2-4 over 64-bit words with a random key per pool, so hashes cannot be steered from outside. The
 * index maps hash -> block, at most one block per (hash, parent hash, tokens); lookups compare the parent hash
 * and the stored tokens, so a hash collision alone never gives a false hit. A block is unsealed (and leaves the
 * index) before anything writes into it.
 *
 * Residency: blocks are LC_KVB_RESIDENT once allocated (their pages touched). When more than `slack` free
 * blocks are resident, lc_kv_pool_trim returns the pages of the highest-numbered ones (madvise MADV_DONTNEED;
 * only whole pages inside a block), so resident memory follows use.
 */
#ifndef LC_KV_POOL_H
#define LC_KV_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum {
    LC_KVB_SEALED = 1,   /* full, exact content: hash[] and parent[] are valid (maybe not in the index) */
    LC_KVB_INDEXED = 2,  /* in the hash index (implies SEALED) */
    LC_KVB_TAINTED = 4,  /* holds positions that did not come from decoding this chain (RoPE-shifted, loaded) */
    LC_KVB_RESIDENT = 8, /* pages touched since creation or the last trim */
    LC_KVB_ON_LRU = 16   /* cached: refs == 0, on the LRU list */
};

typedef struct lc_kv_geometry {
    int n_layer, n_head_kv, head_dim;
    int elem;       /* bytes per element: 4 (f32) or 2 (f16) */
    int block_log2; /* positions per block = 1 << block_log2, 4..12 */
} lc_kv_geometry;

typedef struct lc_kv_pool {
    lc_kv_geometry g;
    int block_size;       /* 1 << g.block_log2 */
    size_t row_bytes;     /* head_dim * elem */
    size_t slab_bytes;    /* block_size * row_bytes: K (or V) of one (layer, head) in one block */
    size_t block_bytes;   /* 2 * n_layer * n_head_kv * slab_bytes */
    int n_blocks;
    char *base;           /* the mapping, n_blocks * block_bytes */
    size_t map_bytes;
    int prefix_cache;     /* keep released sealed blocks (LRU) */

    /* per block */
    int32_t *refs;        /* [n_blocks] sequence tables holding the block */
    int32_t *tokens;      /* [n_blocks * block_size] token id at each position of the block */
    uint64_t *hash;       /* [n_blocks] chain hash (LC_KVB_SEALED) */
    uint64_t *parent;     /* [n_blocks] the parent block's chain hash (0 for a sequence's first block) */
    uint8_t *flags;       /* [n_blocks] LC_KVB_* */
    int32_t *hnext;       /* [n_blocks] next block in the same index bucket, -1 at the end */
    int32_t *lru_prev, *lru_next; /* [n_blocks] LRU links, -1 at the ends */
    int32_t *pending;     /* [n_blocks] scratch for callers planning work (kept all zero between calls) */
    uint64_t *free_bits;  /* [ceil(n_blocks / 64)] bit b set = block b free */
    int free_hint;        /* no free bit in words below this one */

    int32_t *bucket;      /* [bucket_mask + 1] first block of each index bucket, -1 if empty */
    uint32_t bucket_mask;
    int32_t lru_head, lru_tail; /* least / most recently released cached block, -1 when none */
    uint64_t key[2];      /* SipHash key */

    int n_used, n_cached, n_free;
    int n_resident, n_free_resident;
    int slack;            /* free blocks allowed to stay resident */
    uint64_t prefix_hits, prefix_tokens; /* statistics of lc_kv_cache_restore */
} lc_kv_pool;

/* Maps the pool and allocates its tables; on failure returns LLAMAC_E_NOMEM (or INVALID_ARG for a geometry
 * that overflows) with a message, and the pool is safe to pass to lc_kv_pool_free. */
llamac_status lc_kv_pool_init(lc_kv_pool *p, const lc_kv_geometry *g, int n_blocks, int prefix_cache, lc_err *e);
void lc_kv_pool_free(lc_kv_pool *p);

/* Blocks that an allocation can still obtain (free + cached). */
static inline int lc_kv_pool_available(const lc_kv_pool *p)
{
    return p->n_free + p->n_cached;
}

/* A block for a new holder (refs = 1, no hash, not tainted, tokens unset), or -1 when every block is used.
 * Evicts the least recently used cached block when none is free. */
int32_t lc_kv_pool_alloc(lc_kv_pool *p);
/* One more holder of block b (a cached block becomes used again). */
void lc_kv_pool_ref(lc_kv_pool *p, int32_t b);
/* One holder fewer; at zero the block becomes cached (if sealed and prefix_cache is on) or free. */
void lc_kv_pool_unref(lc_kv_pool *p, int32_t b);
/* Returns the pages of free blocks beyond the slack to the system (see the header comment). */
void lc_kv_pool_trim(lc_kv_pool *p);
/* Frees every cached block (the prefix cache is emptied; used blocks are untouched). */
void lc_kv_pool_drop_cached(lc_kv_pool *p);

/* Copies positions 0..n_rows-1 of block src (K and V of every layer and head, token ids) into block dst, and
 * the taint. dst must be held only by the caller. */
void lc_kv_pool_copy(lc_kv_pool *p, int32_t dst, int32_t src, int n_rows);

/* The chain hash of block_size tokens following a block whose hash is parent. */
uint64_t lc_kv_pool_chain_hash(const lc_kv_pool *p, uint64_t parent, const int32_t *tokens);
/* Marks full block b (tokens set, exact content) with its chain hash and enters it in the index unless an
 * equal block is already there. */
void lc_kv_pool_seal(lc_kv_pool *p, int32_t b, uint64_t parent);
/* Removes b's hash (and its index entry): call before writing into a sealed block. */
void lc_kv_pool_unseal(lc_kv_pool *p, int32_t b);
/* The indexed block holding `tokens` (block_size of them) after a block with chain hash parent, or -1. */
int32_t lc_kv_pool_lookup(const lc_kv_pool *p, uint64_t parent, const int32_t *tokens);

/* K (v = 0) or V (v = 1) rows of (layer, head) in block b. */
static inline char *lc_kv_pool_slab(const lc_kv_pool *p, int32_t b, int layer, int head, int v)
{
    return p->base + (size_t)b * p->block_bytes +
           ((size_t)(layer * p->g.n_head_kv + head) * 2 + (size_t)v) * p->slab_bytes;
}

#endif
