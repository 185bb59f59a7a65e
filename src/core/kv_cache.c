/*
 * kv_cache.c — see kv_cache.h: sequences over the block pool; copy-on-write before writes, sharing, release,
 * the RoPE shift of a removed middle range, prefix restore.
 *
 * Every operation that may need blocks counts them first and fails with LLAMAC_E_KV_FULL before changing
 * anything, so sequences are never left half-modified. Releases go from a table's last block to its first, so
 * a sequence's deepest blocks enter the LRU list first and are evicted before the prefixes they extend.
 */
#include "core/kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "core/ops.h"

llamac_status lc_kv_cache_init(lc_kv_cache *kc, const lc_kv_geometry *g, int n_blocks, int prefix_cache, int n_seq,
                               int n_ctx, const double *rope_inv_freq, lc_err *e)
{
    memset(kc, 0, sizeof *kc);
    llamac_status st = lc_kv_pool_init(&kc->pool, g, n_blocks, prefix_cache, e);
    if (st)
        return st;
    kc->n_seq = n_seq;
    kc->n_ctx = n_ctx;
    kc->max_blocks = lc_kv_blocks_for(kc, n_ctx);
    kc->rope_inv_freq = rope_inv_freq;
    kc->seq = calloc((size_t)n_seq, sizeof *kc->seq);
    kc->tables = calloc((size_t)n_seq * (size_t)kc->max_blocks, sizeof *kc->tables);
    kc->shift_tmp = malloc(2 * (size_t)g->head_dim * sizeof *kc->shift_tmp);
    if (!kc->seq || !kc->tables || !kc->shift_tmp)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory for the block tables of %d sequences", n_seq);
    for (int s = 0; s < n_seq; s++)
        kc->seq[s].blocks = kc->tables + (size_t)s * kc->max_blocks;
    return LLAMAC_OK;
}

void lc_kv_cache_free(lc_kv_cache *kc)
{
    lc_kv_pool_free(&kc->pool);
    free(kc->seq);
    free(kc->tables);
    free(kc->shift_tmp);
    memset(kc, 0, sizeof *kc);
}

/* releases table entries n_keep_blocks.. (last first) */
static void release_blocks(lc_kv_cache *kc, lc_kv_seq *s, int n_keep_blocks)
{
    while (s->n_blocks > n_keep_blocks)
        lc_kv_pool_unref(&kc->pool, s->blocks[--s->n_blocks]);
}

/* Makes *slot a block this table alone holds, keeping its first n_rows rows; unseals it (it is about to be
 * written). A copy is needed only when the block is shared; the caller counted it. */
static void make_private(lc_kv_pool *p, int32_t *slot, int n_rows)
{
    int32_t b = *slot;
    if (p->refs[b] > 1) {
        int32_t nb = lc_kv_pool_alloc(p);
        lc_kv_pool_copy(p, nb, b, n_rows);
        lc_kv_pool_unref(p, b);
        *slot = nb;
    } else {
        lc_kv_pool_unseal(p, b);
    }
}

static llamac_status kv_full(const lc_kv_pool *p, int need, lc_err *e)
{
    return lc_fail(e, LLAMAC_E_KV_FULL,
                   "KV cache full: %d more blocks of %d positions are needed but only %d can be had (%d of %d "
                   "blocks in use by sequences, %d cached, %d free); release positions of some sequence or "
                   "create the context with a larger kv_size",
                   need, p->block_size, lc_kv_pool_available(p), p->n_used, p->n_blocks, p->n_cached, p->n_free);
}

llamac_status lc_kv_prepare(lc_kv_cache *kc, const int32_t *seqs, const int32_t *new_len, int n, lc_err *e)
{
    lc_kv_pool *p = &kc->pool;
    const int mask = p->block_size - 1;
    int need = 0;
    /* exact count: a partial block shared by r tables of which w write now needs min(w, r - 1) copies */
    for (int i = 0; i < n; i++) {
        const lc_kv_seq *s = &kc->seq[seqs[i]];
        need += lc_kv_blocks_for(kc, new_len[i]) - s->n_blocks;
        if (s->len & mask) {
            int32_t b = s->blocks[s->n_blocks - 1];
            if (p->refs[b] - p->pending[b] > 1) {
                p->pending[b]++;
                need++;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        const lc_kv_seq *s = &kc->seq[seqs[i]];
        if (s->len & mask)
            p->pending[s->blocks[s->n_blocks - 1]] = 0;
    }
    if (need > lc_kv_pool_available(p))
        return kv_full(p, need, e);
    for (int i = 0; i < n; i++) {
        lc_kv_seq *s = &kc->seq[seqs[i]];
        if (s->len & mask)
            make_private(p, &s->blocks[s->n_blocks - 1], s->len & mask);
        while (s->n_blocks < lc_kv_blocks_for(kc, new_len[i]))
            s->blocks[s->n_blocks++] = lc_kv_pool_alloc(p);
    }
    return LLAMAC_OK;
}

void lc_kv_commit(lc_kv_cache *kc, int seq, int new_len)
{
    lc_kv_pool *p = &kc->pool;
    lc_kv_seq *s = &kc->seq[seq];
    const int first = s->len >> p->g.block_log2, end = new_len >> p->g.block_log2;
    s->len = new_len;
    if (!p->prefix_cache)
        return;
    for (int i = first; i < end; i++) { /* blocks this decode filled, in order */
        int32_t b = s->blocks[i], prev = i > 0 ? s->blocks[i - 1] : -1;
        if ((p->flags[b] & LC_KVB_TAINTED) || (prev >= 0 && !(p->flags[prev] & LC_KVB_SEALED)))
            break;
        lc_kv_pool_seal(p, b, prev >= 0 ? p->hash[prev] : 0);
    }
}

void lc_kv_abort(lc_kv_cache *kc, int seq)
{
    lc_kv_seq *s = &kc->seq[seq];
    release_blocks(kc, s, lc_kv_blocks_for(kc, s->len));
}

void lc_kv_truncate(lc_kv_cache *kc, int seq, int n_keep)
{
    lc_kv_seq *s = &kc->seq[seq];
    if (n_keep >= s->len)
        return;
    s->len = n_keep;
    release_blocks(kc, s, lc_kv_blocks_for(kc, n_keep));
    lc_kv_pool_trim(&kc->pool);
}

void lc_kv_copy(lc_kv_cache *kc, int src, int dst, int n_pos)
{
    if (src == dst) {
        lc_kv_truncate(kc, src, n_pos);
        return;
    }
    lc_kv_seq *a = &kc->seq[src], *b = &kc->seq[dst];
    const int k = lc_kv_blocks_for(kc, n_pos);
    for (int i = 0; i < k; i++) /* before releasing dst, which may hold the same blocks */
        lc_kv_pool_ref(&kc->pool, a->blocks[i]);
    release_blocks(kc, b, 0);
    memcpy(b->blocks, a->blocks, (size_t)k * sizeof *b->blocks);
    b->n_blocks = k;
    b->len = n_pos;
    lc_kv_pool_trim(&kc->pool);
}

/* moves position src of seq to dst (< src): K rotated back by cs (the table of dst - src), V copied */
static void shift_row(lc_kv_cache *kc, int seq, int dst, int src, const float *cs)
{
    const lc_kv_pool *p = &kc->pool;
    const int hd = p->g.head_dim;
    float *row = kc->shift_tmp + hd;
    for (int l = 0; l < p->g.n_layer; l++) {
        for (int h = 0; h < p->g.n_head_kv; h++) {
            const char *k_src = lc_kv_row(kc, seq, l, h, 0, src);
            char *k_dst = lc_kv_row(kc, seq, l, h, 0, dst);
            if (p->g.elem == 4) {
                memcpy(row, k_src, p->row_bytes);
                lc_rope_apply(row, cs, 1, hd);
                memcpy(k_dst, row, p->row_bytes);
            } else {
                for (int d = 0; d < hd; d++)
                    row[d] = lc_half_to_f32(((const lc_half *)k_src)[d]);
                lc_rope_apply(row, cs, 1, hd);
                for (int d = 0; d < hd; d++)
                    ((lc_half *)k_dst)[d] = lc_f32_to_half(row[d]);
            }
            memcpy(lc_kv_row(kc, seq, l, h, 1, dst), lc_kv_row(kc, seq, l, h, 1, src), p->row_bytes);
        }
    }
    *lc_kv_token(kc, seq, dst) = *lc_kv_token(kc, seq, src);
}

llamac_status lc_kv_remove(lc_kv_cache *kc, int seq, int p0, int p1, lc_err *e)
{
    lc_kv_pool *p = &kc->pool;
    lc_kv_seq *s = &kc->seq[seq];
    const int d = p1 - p0, new_len = s->len - d;
    const int i0 = p0 >> p->g.block_log2, i1 = lc_kv_blocks_for(kc, new_len);
    int need = 0;
    for (int i = i0; i < i1; i++)
        need += p->refs[s->blocks[i]] > 1;
    if (need > lc_kv_pool_available(p))
        return kv_full(p, need, e);
    for (int i = i0; i < i1; i++) { /* the blocks that receive moved rows: private, unsealed, tainted */
        int rows = s->len - i * p->block_size;
        make_private(p, &s->blocks[i], rows < p->block_size ? rows : p->block_size);
        p->flags[s->blocks[i]] |= LC_KVB_TAINTED;
    }
    float *cs = kc->shift_tmp;
    lc_rope_table(cs, kc->rope_inv_freq, p->g.head_dim / 2, -d);
    for (int pos = p0; pos < new_len; pos++) /* ascending: a row is read before anything overwrites it */
        shift_row(kc, seq, pos, pos + d, cs);
    s->len = new_len;
    release_blocks(kc, s, i1);
    lc_kv_pool_trim(p);
    return LLAMAC_OK;
}

int lc_kv_restore(lc_kv_cache *kc, int seq, const int32_t *tokens, int n_tokens)
{
    lc_kv_pool *p = &kc->pool;
    lc_kv_seq *s = &kc->seq[seq];
    if (!p->prefix_cache || (s->len & (p->block_size - 1)))
        return s->len;
    uint64_t parent = 0;
    if (s->n_blocks > 0) {
        int32_t last = s->blocks[s->n_blocks - 1];
        if (!(p->flags[last] & LC_KVB_SEALED))
            return s->len;
        parent = p->hash[last];
    }
    int restored = 0;
    while (s->len + p->block_size <= n_tokens - 1 && s->len + p->block_size <= kc->n_ctx) {
        int32_t b = lc_kv_pool_lookup(p, parent, tokens + s->len);
        if (b < 0)
            break;
        lc_kv_pool_ref(p, b);
        s->blocks[s->n_blocks++] = b;
        s->len += p->block_size;
        restored += p->block_size;
        parent = p->hash[b];
    }
    if (restored > 0) {
        p->prefix_hits++;
        p->prefix_tokens += (uint64_t)restored;
    }
    return s->len;
}

void lc_kv_install(lc_kv_cache *kc, int seq, const int32_t *blocks, int n_blocks, int len)
{
    lc_kv_seq *s = &kc->seq[seq];
    release_blocks(kc, s, 0);
    memcpy(s->blocks, blocks, (size_t)n_blocks * sizeof *blocks);
    s->n_blocks = n_blocks;
    s->len = len;
    lc_kv_pool_trim(&kc->pool);
}

void lc_kv_clear(lc_kv_cache *kc)
{
    for (int i = 0; i < kc->n_seq; i++) {
        release_blocks(kc, &kc->seq[i], 0);
        kc->seq[i].len = 0;
    }
    lc_kv_pool_drop_cached(&kc->pool);
    lc_kv_pool_trim(&kc->pool);
}
