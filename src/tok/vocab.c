/*
 * vocab.c — the tokenizer's vocabulary object, shared by the three loaders (vocab_gguf.c, vocab_hf.c,
 * vocab_tiktoken.c): pieces by id, a hash from bytes to ordinary-token id, the BPE pair-rule table, the
 * special-token trie, the well-known and stop ids, and the public getters. Invariants: see tok.h.
 *
 * Build order: lc_vocab_new -> lc_vocab_set for every id -> lc_vocab_index -> rules (lc_vocab_add_rule or
 * lc_vocab_rules_from_ranks) -> lc_vocab_finish. Any failure leaves an object that lc_vocab_free releases.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"
#include "util/buf.h"

/* ---- hashing ---- */
uint64_t lc_hash_bytes(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xFF51AFD7ED558CCDull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t k = 0; k < n; k++)
        w |= (uint64_t)s[k] << (8 * k);
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h;
}

static uint32_t pow2_at_least(size_t n)
{
    uint32_t c = 16;
    while (c < n && c < (1u << 31))
        c <<= 1;
    return c;
}

/* Writes a printable, escaped, shortened rendering of bytes into buf (for error messages). */
static const char *show(const void *p, size_t n, char *buf, size_t size)
{
    const uint8_t *s = p;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < size; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7F && s[i] != '\\' && s[i] != '\'')
            buf[o++] = (char)s[i];
        else
            o += (size_t)snprintf(buf + o, size - o, "\\x%02X", s[i]);
        if (i + 1 < n && o + 8 >= size) {
            memcpy(buf + o, "...", 4);
            return buf;
        }
    }
    buf[o] = 0;
    return buf;
}

/* ---- GPT-2 bytes_to_unicode: bytes 0x21..0x7E, 0xA1..0xAC, 0xAE..0xFF stand for themselves; the other 68
 * bytes are numbered in byte order as U+0100, U+0101, ... (space = U+0120 'Ġ', newline = U+010A 'Ċ'). ---- */
static inline int gpt2_byte_of(uint32_t cp)
{
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int)cp;
    if (cp < 0x100 || cp >= 0x100 + 68)
        return -1;
    uint32_t k = cp - 0x100; /* the k-th byte that does not stand for itself: 0x00..0x20, 0x7F..0xA0, 0xAD */
    return k <= 32 ? (int)k : k <= 66 ? (int)(0x7F + k - 33) : 0xAD;
}

long lc_gpt2_to_bytes(const char *str, size_t len, uint8_t *out)
{
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    long o = 0;
    while (i < len) {
        uint32_t c;
        if (s[i] < 0x80) {
            c = s[i++];
        } else if ((s[i] & 0xE0) == 0xC0 && i + 1 < len && (s[i + 1] & 0xC0) == 0x80) {
            c = ((uint32_t)(s[i] & 0x1F) << 6) | (s[i + 1] & 0x3F);
            i += 2;
        } else {
            return -1;
        }
        int b = gpt2_byte_of(c);
        if (b < 0)
            return -1;
        out[o++] = (uint8_t)b;
    }
    return o;
}

/* ---- building ---- */
llamac_status lc_vocab_new(int32_t n_vocab, int source, lc_vocab **out, lc_err *e)
{
    *out = NULL;
    if (n_vocab < 256 || n_vocab > (1 << 30))
        return lc_fail(e, LLAMAC_E_FORMAT, "vocabulary size %d is out of range (a byte-level BPE vocabulary has "
                       "at least the 256 byte tokens)", n_vocab);
    lc_vocab *v = calloc(1, sizeof *v);
    if (!v)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    v->n_vocab = n_vocab;
    v->source = source;
    v->off = malloc((size_t)n_vocab * sizeof *v->off);
    v->len = calloc((size_t)n_vocab, sizeof *v->len);
    v->kind = calloc((size_t)n_vocab, 1);
    v->bytes_cap = (size_t)n_vocab * 10;
    v->bytes = malloc(v->bytes_cap);
    if (!v->off || !v->len || !v->kind || !v->bytes) {
        lc_vocab_free(v);
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    }
    memset(v->off, 0xFF, (size_t)n_vocab * sizeof *v->off);
    v->ignore_merges = 1;
    v->add_bos = 1;
    v->bos = v->eos = v->eot = v->eom = -1;
    *out = v;
    return LLAMAC_OK;
}

void lc_vocab_free(lc_vocab *v)
{
    if (!v)
        return;
    free(v->bytes);
    free(v->off);
    free(v->len);
    free(v->kind);
    free(v->hash);
    free(v->pairs);
    free(v->byte_pairs);
    free(v->trie);
    free(v);
}

void llamac_tokenizer_free(llamac_tokenizer *tok)
{
    lc_vocab_free(tok);
}

llamac_status lc_vocab_set(lc_vocab *v, int32_t id, const void *bytes, size_t len, int kind, lc_err *e)
{
    char b1[80];
    if (id < 0 || id >= v->n_vocab)
        return lc_fail(e, LLAMAC_E_FORMAT, "token '%s' has id %d, outside 0..%d", show(bytes, len, b1, sizeof b1),
                       id, v->n_vocab - 1);
    if (v->off[id] != UINT32_MAX) {
        char b2[80];
        return lc_fail(e, LLAMAC_E_FORMAT, "id %d is given twice (tokens '%s' and '%s')", id,
                       show(v->bytes + v->off[id], v->len[id], b1, sizeof b1), show(bytes, len, b2, sizeof b2));
    }
    if (len == 0)
        return lc_fail(e, LLAMAC_E_FORMAT, "token %d is empty", id);
    if (len > (1u << 20))
        return lc_fail(e, LLAMAC_E_FORMAT, "token %d is %zu bytes long (limit 1 MiB)", id, len);
    if (v->bytes_len + len + 1 > UINT32_MAX) /* offsets are 32-bit */
        return lc_fail(e, LLAMAC_E_FORMAT, "the vocabulary's tokens exceed 4 GiB");
    char *nb = lc_array_reserve(v->bytes, 1, &v->bytes_cap, v->bytes_len, len + 1);
    if (!nb)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    v->bytes = nb;
    memcpy(v->bytes + v->bytes_len, bytes, len);
    v->bytes[v->bytes_len + len] = 0;
    v->off[id] = (uint32_t)v->bytes_len;
    v->len[id] = (uint32_t)len;
    v->kind[id] = (uint8_t)kind;
    v->bytes_len += len + 1;
    return LLAMAC_OK;
}

int32_t lc_vocab_find(const lc_vocab *v, const void *bytes, size_t len)
{
    return lc_vocab_find_h(v, bytes, len, lc_hash_bytes(bytes, len));
}

int32_t lc_vocab_find_h(const lc_vocab *v, const void *bytes, size_t len, uint64_t h)
{
    for (uint32_t i = (uint32_t)(h >> 32) & v->hash_mask;; i = (i + 1) & v->hash_mask) {
        const lc_hslot *s = &v->hash[i];
        if (s->id < 0)
            return -1;
        if (s->hash == (uint32_t)h && s->len == len && memcmp(v->bytes + s->off, bytes, len) == 0)
            return s->id;
    }
}

llamac_status lc_vocab_index(lc_vocab *v, lc_err *e)
{
    char b1[80];
    int32_t n_normal = 0;
    for (int32_t id = 0; id < v->n_vocab; id++) {
        if (v->off[id] == UINT32_MAX)
            return lc_fail(e, LLAMAC_E_FORMAT, "id %d has no token (ids must be 0..%d without gaps)", id,
                           v->n_vocab - 1);
        n_normal += v->kind[id] == LC_TOK_NORMAL;
    }
    uint32_t cap = pow2_at_least((size_t)n_normal * 2);
    v->hash = malloc((size_t)cap * sizeof *v->hash);
    if (!v->hash)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    memset(v->hash, 0xFF, (size_t)cap * sizeof *v->hash);
    v->hash_mask = cap - 1;
    for (int32_t id = 0; id < v->n_vocab; id++) {
        if (v->kind[id] != LC_TOK_NORMAL)
            continue;
        const char *p = v->bytes + v->off[id];
        uint32_t n = v->len[id];
        uint64_t h = lc_hash_bytes(p, n);
        uint32_t i = (uint32_t)(h >> 32) & v->hash_mask;
        for (;; i = (i + 1) & v->hash_mask) {
            lc_hslot *s = &v->hash[i];
            if (s->id < 0)
                break;
            if (s->hash == (uint32_t)h && v->len[s->id] == n && memcmp(v->bytes + v->off[s->id], p, n) == 0)
                return lc_fail(e, LLAMAC_E_FORMAT, "duplicate token: ids %d and %d are both '%s'", s->id, id,
                               show(p, n, b1, sizeof b1));
        }
        v->hash[i] = (lc_hslot){(uint32_t)h, id, v->off[id], n};
        if ((int)n > v->max_token_len)
            v->max_token_len = (int)n;
    }
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        v->byte_id[b] = lc_vocab_find(v, &c, 1);
        if (v->byte_id[b] < 0)
            return lc_fail(e, LLAMAC_E_FORMAT, "the vocabulary has no token for the byte 0x%02X (a byte-level BPE "
                           "vocabulary needs all 256)", b);
    }
    return LLAMAC_OK;
}

static llamac_status grow_pairs(lc_vocab *v, size_t want, lc_err *e)
{
    uint32_t cap = pow2_at_least(want + want / 3 + 1); /* load factor <= 3/4 */
    if (v->pairs && cap <= v->pair_mask + 1)
        return LLAMAC_OK;
    lc_pslot *np = malloc((size_t)cap * sizeof *np);
    if (!np)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < cap; i++)
        np[i].key = UINT64_MAX;
    uint32_t mask = cap - 1;
    if (v->pairs) {
        for (uint32_t i = 0; i <= v->pair_mask; i++) {
            if (v->pairs[i].key == UINT64_MAX)
                continue;
            uint32_t j = lc_pair_hash(v->pairs[i].key) & mask;
            while (np[j].key != UINT64_MAX)
                j = (j + 1) & mask;
            np[j] = v->pairs[i];
        }
        free(v->pairs);
    }
    v->pairs = np;
    v->pair_mask = mask;
    return LLAMAC_OK;
}

llamac_status lc_vocab_reserve_pairs(lc_vocab *v, size_t n, lc_err *e)
{
    return grow_pairs(v, n, e);
}

/* Inserts a rule; returns 0 if the pair was already present. */
static int insert_rule(lc_vocab *v, int32_t left, int32_t right, uint32_t rank, int32_t result)
{
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    uint32_t i = lc_pair_hash(key) & v->pair_mask;
    for (; v->pairs[i].key != UINT64_MAX; i = (i + 1) & v->pair_mask)
        if (v->pairs[i].key == key)
            return 0;
    v->pairs[i] = (lc_pslot){key, rank, result};
    v->n_pairs++;
    return 1;
}

llamac_status lc_vocab_add_rule_to(lc_vocab *v, int32_t left, int32_t right, int32_t result, uint32_t rank,
                                   const char *list, lc_err *e)
{
    char b1[80], b2[80], what[96];
    llamac_status st;
    if (!v->pairs || (size_t)(v->n_pairs + 1) * 4 > ((size_t)v->pair_mask + 1) * 3)
        if ((st = grow_pairs(v, (size_t)v->n_pairs * 2 + 16, e)))
            return st;
    if (result < 0)
        return lc_fail(e, LLAMAC_E_FORMAT, "%s: '%s' + '%s' is not a token", LC_RULE_WHAT(what, list, rank),
                       show(v->bytes + v->off[left], v->len[left], b1, sizeof b1),
                       show(v->bytes + v->off[right], v->len[right], b2, sizeof b2));
    if (!insert_rule(v, left, right, rank, result))
        return lc_fail(e, LLAMAC_E_FORMAT, "%s: the pair '%s' '%s' is given twice", LC_RULE_WHAT(what, list, rank),
                       show(v->bytes + v->off[left], v->len[left], b1, sizeof b1),
                       show(v->bytes + v->off[right], v->len[right], b2, sizeof b2));
    return LLAMAC_OK;
}

llamac_status lc_vocab_add_rule(lc_vocab *v, int32_t left, int32_t right, uint32_t rank, const char *list,
                                lc_err *e)
{
    size_t nl = v->len[left], nr = v->len[right];
    char stackbuf[512];
    char *buf = nl + nr <= sizeof stackbuf ? stackbuf : malloc(nl + nr);
    if (!buf)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    memcpy(buf, v->bytes + v->off[left], nl);
    memcpy(buf + nl, v->bytes + v->off[right], nr);
    int32_t result = lc_vocab_find(v, buf, nl + nr);
    if (buf != stackbuf)
        free(buf);
    return lc_vocab_add_rule_to(v, left, right, result, rank, list, e);
}

llamac_status lc_vocab_rules_from_ranks(lc_vocab *v, lc_err *e)
{
    llamac_status st = grow_pairs(v, (size_t)v->n_vocab * 4, e);
    if (st)
        return st;
    for (int32_t id = 0; id < v->n_vocab; id++) {
        if (v->kind[id] != LC_TOK_NORMAL || v->len[id] < 2)
            continue;
        const char *p = v->bytes + v->off[id];
        uint32_t n = v->len[id];
        for (uint32_t k = 1; k < n; k++) {
            int32_t a = lc_vocab_find(v, p, k);
            if (a < 0)
                continue;
            int32_t b = lc_vocab_find(v, p + k, n - k);
            if (b < 0)
                continue;
            if ((size_t)(v->n_pairs + 1) * 4 > ((size_t)v->pair_mask + 1) * 3)
                if ((st = grow_pairs(v, (size_t)v->n_pairs * 2, e)))
                    return st;
            insert_rule(v, a, b, (uint32_t)id, id);
        }
    }
    return LLAMAC_OK;
}

/* ---- special tokens ---- */
static int32_t trie_child(const lc_vocab *v, int32_t node, uint8_t byte)
{
    for (int32_t c = v->trie[node].child; c >= 0; c = v->trie[c].sibling)
        if (v->trie[c].byte == byte)
            return c;
    return -1;
}

static llamac_status trie_insert(lc_vocab *v, int32_t id, lc_err *e)
{
    const uint8_t *s = (const uint8_t *)v->bytes + v->off[id];
    uint32_t n = v->len[id];
    int32_t node = 0;
    for (uint32_t i = 0; i < n; i++) {
        int32_t c = trie_child(v, node, s[i]);
        if (c < 0) {
            lc_trie_node *nt = v->n_trie < INT32_MAX
                                   ? lc_array_reserve(v->trie, sizeof *nt, &v->cap_trie, (size_t)v->n_trie, 1)
                                   : NULL;
            if (!nt)
                return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
            v->trie = nt;
            c = v->n_trie++;
            v->trie[c] = (lc_trie_node){-1, v->trie[node].child, -1, s[i]};
            v->trie[node].child = c;
        }
        node = c;
    }
    if (v->trie[node].id >= 0) {
        char b1[80];
        return lc_fail(e, LLAMAC_E_FORMAT, "duplicate special token: ids %d and %d are both '%s'", v->trie[node].id,
                       id, show(s, n, b1, sizeof b1));
    }
    v->trie[node].id = id;
    return LLAMAC_OK;
}

int32_t llamac_token_special(const llamac_tokenizer *v, const char *name)
{
    if (!v || !name || !v->trie)
        return -1;
    int32_t node = 0;
    for (const uint8_t *p = (const uint8_t *)name; *p && node >= 0; p++)
        node = trie_child(v, node, *p);
    return node > 0 ? v->trie[node].id : -1;
}

static void add_stop(lc_vocab *v, int32_t id)
{
    if (id < 0)
        return;
    int i = 0;
    while (i < v->n_stop && v->stop[i] < id)
        i++;
    if ((i < v->n_stop && v->stop[i] == id) || v->n_stop == LC_MAX_STOP)
        return;
    memmove(v->stop + i + 1, v->stop + i, (size_t)(v->n_stop - i) * sizeof *v->stop);
    v->stop[i] = id;
    v->n_stop++;
}

llamac_status lc_vocab_finish(lc_vocab *v, int32_t bos, int32_t eos, int32_t eot, int32_t eom, lc_err *e)
{
    if (!v->pairs) {
        llamac_status st = grow_pairs(v, 16, e);
        if (st)
            return st;
    }
    v->byte_pairs = malloc(65536 * sizeof *v->byte_pairs);
    if (!v->byte_pairs)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    for (int a = 0; a < 256; a++)
        for (int b = 0; b < 256; b++) {
            const lc_pslot *r = lc_vocab_rule(v, v->byte_id[a], v->byte_id[b]);
            v->byte_pairs[a << 8 | b] = r ? *r : (lc_pslot){UINT64_MAX, UINT32_MAX, -1};
        }
    v->cap_trie = 256;
    v->trie = malloc((size_t)v->cap_trie * sizeof *v->trie);
    if (!v->trie)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    v->trie[0] = (lc_trie_node){-1, -1, -1, 0};
    v->n_trie = 1;
    v->n_special = 0;
    for (int32_t id = 0; id < v->n_vocab; id++) {
        if (v->kind[id] != LC_TOK_SPECIAL)
            continue;
        llamac_status st = trie_insert(v, id, e);
        if (st)
            return st;
        v->special_first[(uint8_t)v->bytes[v->off[id]]] = 1;
        v->n_special++;
    }
    const int32_t given[4] = {bos, eos, eot, eom};
    static const char *const key[4] = {"bos", "eos", "eot", "eom"};
    for (int k = 0; k < 4; k++)
        if (given[k] >= v->n_vocab || given[k] < -1)
            return lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.ggml.%s_token_id = %d is not a token id (0..%d)", key[k],
                           given[k], v->n_vocab - 1);
    int32_t n_bos = llamac_token_special(v, "<|begin_of_text|>");
    int32_t n_eos = llamac_token_special(v, "<|end_of_text|>");
    int32_t n_eot = llamac_token_special(v, "<|eot_id|>");
    int32_t n_eom = llamac_token_special(v, "<|eom_id|>");
    v->bos = bos >= 0 ? bos : n_bos;
    v->eos = eos >= 0 ? eos : n_eos;
    v->eot = eot >= 0 ? eot : n_eot;
    v->eom = eom >= 0 ? eom : n_eom;
    v->n_stop = 0;
    add_stop(v, v->eos);
    add_stop(v, v->eot);
    add_stop(v, v->eom);
    add_stop(v, n_eos);
    add_stop(v, n_eot);
    add_stop(v, n_eom);
    return LLAMAC_OK;
}

/* ---- public getters ---- */
void llamac_tokenizer_get_info(const llamac_tokenizer *v, llamac_tokenizer_info *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!v)
        return;
    out->n_vocab = v->n_vocab;
    out->n_special = v->n_special;
    out->n_merges = v->n_pairs;
    out->source = v->source;
    out->add_bos = v->add_bos;
    out->max_token_len = v->max_token_len;
}

const char *llamac_token_piece(const llamac_tokenizer *v, int32_t id, size_t *len)
{
    if (!v || id < 0 || id >= v->n_vocab) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = v->len[id];
    return v->bytes + v->off[id];
}

int32_t llamac_token_find(const llamac_tokenizer *v, const char *bytes, size_t len)
{
    if (!v || (!bytes && len))
        return -1;
    return len ? lc_vocab_find(v, bytes, len) : -1;
}

int llamac_token_is_special(const llamac_tokenizer *v, int32_t id)
{
    return v && id >= 0 && id < v->n_vocab && v->kind[id] == LC_TOK_SPECIAL;
}

int32_t llamac_token_bos(const llamac_tokenizer *v) { return v ? v->bos : -1; }
int32_t llamac_token_eos(const llamac_tokenizer *v) { return v ? v->eos : -1; }
int32_t llamac_token_eot(const llamac_tokenizer *v) { return v ? v->eot : -1; }
int32_t llamac_token_eom(const llamac_tokenizer *v) { return v ? v->eom : -1; }

int llamac_token_is_stop(const llamac_tokenizer *v, int32_t id)
{
    if (!v || id < 0)
        return 0;
    for (int i = 0; i < v->n_stop; i++)
        if (v->stop[i] == id)
            return 1;
    return 0;
}

int llamac_tokenizer_stop_tokens(const llamac_tokenizer *v, const int32_t **ids)
{
    if (ids)
        *ids = v ? v->stop : NULL;
    return v ? v->n_stop : 0;
}
