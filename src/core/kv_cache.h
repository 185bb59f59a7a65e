/*
 * kv_cache.h — the paged KV cache of one context: sequences as tables of blocks from one pool (kv_pool.h).
 *
 * Sequence s holds positions 0..len-1; position p lives in block blocks[p >> block_log2], row
 * p & (block_size - 1) of it. Invariant outside lc_kv_prepare .. lc_kv_commit / lc_kv_abort:
 * n_blocks == ceil(len / block_size), and each table entry holds one reference on its block.
 *
 * Sharing: several tables may hold a block (lc_kv_copy, lc_kv_restore). Nothing ever writes into a block that
 * more than one table holds: lc_kv_prepare and lc_kv_remove first give the writer its own copy
 * (copy-on-write), and unseal a block they are about to modify (kv_pool.h), so a sealed block's content always
 * matches its chain hash.
 *
 * Exactness: a block is sealed (offered to the prefix cache) only when it became full by decoding, is not
 * tainted and its predecessor is sealed; positions moved by lc_kv_remove (RoPE-shifted) and loaded from a
 * snapshot taint their blocks, so they and everything after them in that sequence are never offered.
 */
#ifndef LC_KV_CACHE_H
#define LC_KV_CACHE_H

#include "core/kv_pool.h"
#include "kernels/quant.h"

typedef struct lc_kv_seq {
    int32_t *blocks; /* [max_blocks] block ids in position order; entries 0..n_blocks-1 are valid */
    int n_blocks;
    int len;         /* cached positions */
} lc_kv_seq;

typedef struct lc_kv_cache {
    lc_kv_pool pool;
    int n_seq;                   /* sequences 0..n_seq-1 */
    int n_ctx;                   /* the most positions one sequence may hold */
    int max_blocks;              /* ceil(n_ctx / block_size) */
    lc_kv_seq *seq;              /* [n_seq] */
    int32_t *tables;             /* [n_seq * max_blocks]: the storage of every seq[i].blocks */
    const double *rope_inv_freq; /* [head_dim / 2] the model's RoPE frequencies (lc_kv_remove), borrowed */
    float *shift_tmp;            /* [2 * head_dim] scratch of lc_kv_remove: cos/sin table, one row */
} lc_kv_cache;

/* Creates the pool (n_blocks blocks, geometry g) and n_seq empty sequences of at most n_ctx positions. On
 * failure the cache is safe to pass to lc_kv_cache_free. rope_inv_freq must outlive the cache. */
llamac_status lc_kv_cache_init(lc_kv_cache *kc, const lc_kv_geometry *g, int n_blocks, int prefix_cache, int n_seq,
                               int n_ctx, const double *rope_inv_freq, lc_err *e);
void lc_kv_cache_free(lc_kv_cache *kc);

/* Blocks needed for len positions. */
static inline int lc_kv_blocks_for(const lc_kv_cache *kc, int len)
{
    return (int)(((int64_t)len + kc->pool.block_size - 1) >> kc->pool.g.block_log2);
}

/* Makes room for sequences seqs[i] to grow to new_len[i] (> their len, <= n_ctx, distinct sequences): after
 * it, every position len..new_len-1 of each has a row in a block that table alone holds. All or nothing: when
 * the pool (after evicting cached blocks) cannot supply the blocks, returns LLAMAC_E_KV_FULL with a message and
 * changes nothing. */
llamac_status lc_kv_prepare(lc_kv_cache *kc, const int32_t *seqs, const int32_t *new_len, int n, lc_err *e);
/* After the rows and token ids of positions len..new_len-1 were written: the sequence now holds new_len
 * positions; blocks it filled are sealed for the prefix cache when eligible. */
void lc_kv_commit(lc_kv_cache *kc, int seq, int new_len);
/* Gives back the blocks lc_kv_prepare added past len (a cancelled decode). */
void lc_kv_abort(lc_kv_cache *kc, int seq);

/* Forgets positions n_keep.. (no-op if n_keep >= len). */
void lc_kv_truncate(lc_kv_cache *kc, int seq, int n_keep);
/* dst holds the first n_pos (<= len of src) positions of src, sharing its blocks; dst's old blocks are
 * released. src == dst truncates. */
void lc_kv_copy(lc_kv_cache *kc, int src, int dst, int n_pos);
/* Removes positions p0..p1-1 (0 <= p0 < p1 < len): later positions move down by p1 - p0, their keys rotated
 * back by as many positions. LLAMAC_E_KV_FULL (nothing changed) when shared blocks cannot be copied. */
llamac_status lc_kv_remove(lc_kv_cache *kc, int seq, int p0, int p1, lc_err *e);
/* Prefix cache: appends indexed blocks that continue seq with tokens[len..], up to n_tokens - 1 positions and
 * n_ctx; returns the new length (see llamac_seq_restore_prefix). The caller checked tokens[0..len). */
int lc_kv_restore(lc_kv_cache *kc, int seq, const int32_t *tokens, int n_tokens);
/* Replaces seq's table with blocks[0..n_blocks) (references already held, one each) holding len positions. */
void lc_kv_install(lc_kv_cache *kc, int seq, const int32_t *blocks, int n_blocks, int len);
/* Releases every sequence and empties the prefix cache. */
void lc_kv_clear(lc_kv_cache *kc);

/* The token id slot of position pos of seq (pos < n_blocks * block_size). */
static inline int32_t *lc_kv_token(const lc_kv_cache *kc, int seq, int pos)
{
    const lc_kv_pool *p = &kc->pool;
    return p->tokens + (size_t)kc->seq[seq].blocks[pos >> p->g.block_log2] * p->block_size +
           (pos & (p->block_size - 1));
}

/* K (v = 0) or V (v = 1) row of (layer, head) at position pos of seq. */
static inline char *lc_kv_row(const lc_kv_cache *kc, int seq, int layer, int head, int v, int pos)
{
    const lc_kv_pool *p = &kc->pool;
    return lc_kv_pool_slab(p, kc->seq[seq].blocks[pos >> p->g.block_log2], layer, head, v) +
           (size_t)(pos & (p->block_size - 1)) * p->row_bytes;
}

/* The attention kernels' view of (layer, head) of seq. */
static inline lc_kv_view lc_kv_view_of(const lc_kv_cache *kc, int seq, int layer, int head)
{
    const lc_kv_pool *p = &kc->pool;
    lc_kv_view v = {lc_kv_pool_slab(p, 0, layer, head, 0), lc_kv_pool_slab(p, 0, layer, head, 1),
                    kc->seq[seq].blocks, p->block_bytes, p->g.block_log2, p->g.elem == 2};
    return v;
}

#endif
