/*
 * bpe.c — byte-level BPE of one pre-tokenizer piece (tiktoken / HF semantics).
 *
 * 1. Whole-piece lookup (when the vocabulary asks for it, as Llama 3 does): a piece that is itself an ordinary
 *    token is emitted as that token, even if merging its bytes would not reach it (588 Llama 3 tokens).
 * 2. Otherwise start from single bytes and repeatedly apply the rule with the lowest rank among adjacent pairs,
 *    the leftmost one on ties, until no adjacent pair has a rule.
 * Short pieces (the common case) use a small array scan, O(n^2) with n <= SMALL_PIECE. Longer pieces use a
 * doubly linked list and a binary min-heap keyed by (rank, start offset) with lazy invalidation: each merge
 * pushes at most two entries, so a piece of n bytes costs O(n log n) whatever its content.
 */
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"
#include "util/buf.h"

enum { SMALL_PIECE = 48 };

static inline llamac_status push(llamac_tokens *out, int32_t id)
{
    if (out->n == out->cap) {
        llamac_status st = lc_tokens_reserve(out, 1);
        if (st)
            return st;
    }
    out->ids[out->n++] = id;
    return LLAMAC_OK;
}

static inline uint32_t rank_of(const lc_vocab *v, int32_t a, int32_t b)
{
    const lc_pslot *r = lc_vocab_rule(v, a, b);
    return r ? r->rank : UINT32_MAX;
}

static llamac_status bpe_small(const lc_vocab *v, const uint8_t *s, size_t n, llamac_tokens *out)
{
    int32_t ids[SMALL_PIECE];
    uint32_t ranks[SMALL_PIECE]; /* ranks[k]: rule of (ids[k], ids[k+1]) */
    size_t m = n;
    for (size_t k = 0; k < n; k++)
        ids[k] = v->byte_id[s[k]];
    for (size_t k = 0; k + 1 < m; k++)
        ranks[k] = v->byte_pairs[s[k] << 8 | s[k + 1]].rank;
    while (m > 1) {
        size_t best = 0;
        for (size_t k = 1; k + 1 < m; k++)
            if (ranks[k] < ranks[best])
                best = k;
        if (ranks[best] == UINT32_MAX)
            break;
        ids[best] = lc_vocab_rule(v, ids[best], ids[best + 1])->result;
        memmove(ids + best + 1, ids + best + 2, (m - best - 2) * sizeof *ids);
        if (best + 3 < m)
            memmove(ranks + best + 1, ranks + best + 2, (m - best - 3) * sizeof *ranks);
        m--;
        if (best > 0)
            ranks[best - 1] = rank_of(v, ids[best - 1], ids[best]);
        if (best + 1 < m)
            ranks[best] = rank_of(v, ids[best], ids[best + 1]);
    }
    if (out->cap - out->n < m) {
        llamac_status st = lc_tokens_reserve(out, m);
        if (st)
            return st;
    }
    memcpy(out->ids + out->n, ids, m * sizeof *ids);
    out->n += m;
    return LLAMAC_OK;
}

/* ---- large pieces: list + heap ---- */
typedef struct big {
    int32_t *id;   /* [n] token of the node starting at byte k; -1: merged away */
    int32_t *next; /* [n] next live node, -1 at the end */
    int32_t *prev; /* [n] previous live node, -1 at the start */
    uint64_t *heap; /* (rank << 32) | left node */
    size_t n_heap;
} big;

static void sift_down(uint64_t *h, size_t n, size_t i)
{
    uint64_t x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && h[c + 1] < h[c])
            c++;
        if (h[c] >= x)
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static void heap_push(big *b, uint64_t x)
{
    size_t i = b->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (b->heap[p] <= x)
            break;
        b->heap[i] = b->heap[p];
        i = p;
    }
    b->heap[i] = x;
}

static void push_pair(const lc_vocab *v, big *b, int32_t left)
{
    int32_t right = b->next[left];
    if (left < 0 || right < 0)
        return;
    uint32_t r = rank_of(v, b->id[left], b->id[right]);
    if (r != UINT32_MAX)
        heap_push(b, ((uint64_t)r << 32) | (uint32_t)left);
}

static llamac_status bpe_big(const lc_vocab *v, const uint8_t *s, size_t n, lc_bpe_scratch *scratch,
                             llamac_tokens *out)
{
    if (n > (size_t)INT32_MAX)
        return LLAMAC_E_INVALID_ARG;
    /* heap: n - 1 initial pairs + at most 2 per merge (n - 1 merges) */
    size_t need = n * 3 * sizeof(int32_t) + n * 3 * sizeof(uint64_t);
    void *m = lc_array_reserve(scratch->mem, 1, &scratch->cap, 0, need);
    if (!m)
        return LLAMAC_E_NOMEM;
    scratch->mem = m;
    big b;
    b.heap = scratch->mem;
    b.id = (int32_t *)(b.heap + n * 3);
    b.next = b.id + n;
    b.prev = b.next + n;
    b.n_heap = 0;
    for (size_t k = 0; k < n; k++) {
        b.id[k] = v->byte_id[s[k]];
        b.next[k] = k + 1 < n ? (int32_t)(k + 1) : -1;
        b.prev[k] = (int32_t)k - 1;
    }
    for (size_t k = 0; k + 1 < n; k++) {
        uint32_t r = v->byte_pairs[s[k] << 8 | s[k + 1]].rank;
        if (r != UINT32_MAX)
            b.heap[b.n_heap++] = ((uint64_t)r << 32) | k;
    }
    for (size_t k = b.n_heap / 2; k-- > 0;)
        sift_down(b.heap, b.n_heap, k);
    while (b.n_heap) {
        uint64_t top = b.heap[0];
        b.heap[0] = b.heap[--b.n_heap];
        sift_down(b.heap, b.n_heap, 0);
        int32_t left = (int32_t)(uint32_t)top, right;
        if (b.id[left] < 0 || (right = b.next[left]) < 0)
            continue;
        const lc_pslot *r = lc_vocab_rule(v, b.id[left], b.id[right]);
        if (!r || r->rank != (uint32_t)(top >> 32))
            continue; /* stale: this node pair changed since the entry was pushed */
        b.id[left] = r->result;
        b.id[right] = -1;
        b.next[left] = b.next[right];
        if (b.next[right] >= 0)
            b.prev[b.next[right]] = left;
        push_pair(v, &b, b.prev[left]);
        push_pair(v, &b, left);
    }
    for (int32_t k = 0; k >= 0; k = b.next[k]) {
        llamac_status st = push(out, b.id[k]);
        if (st)
            return st;
    }
    return LLAMAC_OK;
}

llamac_status lc_bpe_piece(const lc_vocab *v, const uint8_t *s, size_t n, lc_bpe_scratch *scratch,
                           llamac_tokens *out)
{
    if (n == 1)
        return push(out, v->byte_id[s[0]]);
    if (v->ignore_merges && (int)n <= v->max_token_len) {
        int32_t id = lc_vocab_find(v, s, n);
        if (id >= 0)
            return push(out, id);
    }
    if (n <= SMALL_PIECE)
        return bpe_small(v, s, n, out);
    return bpe_big(v, s, n, scratch, out);
}
