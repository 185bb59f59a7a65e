/*
 * tok.h — internals of the Llama 3 tokenizer (public API: include/llamac_tokenizer.h; algorithm and data
 * sources: docs/TOKENIZER.md).
 *
 * Pieces (one concern per file):
 *   vocab.c          the lc_vocab object: token table, byte-string hash, BPE pair table, validation, special and
 *                    stop tokens, the public getters
 *   vocab_gguf.c     loader for GGUF tokenizer.ggml.* metadata
 *   vocab_hf.c       loader for Hugging Face tokenizer.json
 *   vocab_tiktoken.c loader for Meta tokenizer.model (+ the Llama 3.1 special-token names)
 *   vocab_load.c     llamac_tokenizer_load: detects the file kind by content
 *   unicode.[ch]     character classes (generated tables) and strict UTF-8 decoding
 *   pretok.c         the Llama 3 pre-tokenizer regex, hand-written (exact; checked against PCRE2 in tests)
 *   bpe.c            byte-level BPE of one piece (whole-piece lookup, then merges by rank; O(n log n))
 *   encode.c         llamac_tokenize: special-token splitting, BOS, the encode loop
 *   detok.c          llamac_detokenize and the streaming detokenizer
 *   tokens.c         the growable llamac_tokens and llamac_text arrays
 *
 * Invariants of a finished lc_vocab (after lc_vocab_finish succeeded):
 *   - ids are 0..n_vocab-1, each with a byte string (piece) stored NUL-terminated in `bytes`;
 *   - ordinary tokens have pairwise distinct byte strings and are all in the hash; special tokens are not;
 *   - every single byte 0..255 is an ordinary token (byte_id), so BPE never needs an unknown token;
 *   - every pair rule (left, right) -> result has result's bytes == left's bytes + right's bytes; all three are
 *     ordinary tokens; rank is the rule's priority (lower merges first);
 *   - special tokens have distinct, non-empty texts.
 * The object is immutable after lc_vocab_finish; encoding allocates only per call.
 */
#ifndef LC_TOK_H
#define LC_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "llamac_tokenizer.h"
#include "tok/unicode.h"
#include "util/err.h"

enum { LC_TOK_NORMAL = 0, LC_TOK_SPECIAL = 1 };

typedef struct lc_hslot {
    uint32_t hash; /* low 32 bits of the piece hash */
    int32_t id;    /* -1: empty */
    uint32_t off;  /* copies of off[id] and len[id], so a hit touches one slot and the bytes */
    uint32_t len;
} lc_hslot;

typedef struct lc_pslot {
    uint64_t key;   /* (left << 32) | right; UINT64_MAX: empty */
    uint32_t rank;
    int32_t result;
} lc_pslot;

typedef struct lc_trie_node {
    int32_t child;   /* first child node, -1 none */
    int32_t sibling; /* next sibling, -1 none */
    int32_t id;      /* special token ending here, -1 none */
    uint8_t byte;
} lc_trie_node;

#define LC_MAX_STOP 8

struct llamac_tokenizer {
    int32_t n_vocab;
    int source; /* llamac_vocab_source */
    char *bytes;        /* all pieces, each followed by NUL */
    size_t bytes_len, bytes_cap;
    uint32_t *off;      /* [n_vocab] offset of each piece in bytes; UINT32_MAX: not set yet */
    uint32_t *len;      /* [n_vocab] */
    uint8_t *kind;      /* [n_vocab] LC_TOK_NORMAL / LC_TOK_SPECIAL */

    lc_hslot *hash;     /* ordinary tokens by bytes; open addressing */
    uint32_t hash_mask;

    lc_pslot *pairs;    /* BPE rules; open addressing */
    uint32_t pair_mask;
    int32_t n_pairs;

    int32_t byte_id[256];
    lc_pslot *byte_pairs; /* [65536] rule of the byte tokens (a, b) at index a << 8 | b (key UINT64_MAX: none);
                             the first pass of every piece reads this small table instead of `pairs` */
    int ignore_merges;  /* 1: a piece that is itself a token is emitted directly (Llama 3 / tiktoken) */

    lc_trie_node *trie; /* special-token texts; node 0 is the root */
    int32_t n_trie, cap_trie;
    uint8_t special_first[256]; /* 1 if some special text starts with this byte */
    int32_t n_special;

    int32_t bos, eos, eot, eom;
    int32_t stop[LC_MAX_STOP];
    int n_stop;
    int add_bos;
    int max_token_len;
};

typedef struct llamac_tokenizer lc_vocab;

/* ---- building (vocab.c) ---- */
/* A new vocabulary with n_vocab empty ids. */
llamac_status lc_vocab_new(int32_t n_vocab, int source, lc_vocab **out, lc_err *e);
void lc_vocab_free(lc_vocab *v);
/* Sets id's piece. Errors: id out of range or already set. */
llamac_status lc_vocab_set(lc_vocab *v, int32_t id, const void *bytes, size_t len, int kind, lc_err *e);
/* Builds the ordinary-token hash (rejecting duplicates and unset ids) and the byte table. Call after all
 * lc_vocab_set and before adding rules. */
llamac_status lc_vocab_index(lc_vocab *v, lc_err *e);
/* Reserves the pair table for about n rules. */
llamac_status lc_vocab_reserve_pairs(lc_vocab *v, size_t n, lc_err *e);
/* Adds the rule left + right with the given rank. Returns LLAMAC_OK, or LLAMAC_E_FORMAT if the concatenation
 * is not a token or the pair is already a rule (the message names the rule as list[rank]). */
llamac_status lc_vocab_add_rule(lc_vocab *v, int32_t left, int32_t right, uint32_t rank, const char *list,
                                lc_err *e);
/* The message prefix for rule i of a list named `list` ("tokenizer.ggml.merges[12]"), made only on error. */
#define LC_RULE_WHAT(buf, list, i) (snprintf(buf, sizeof buf, "%s[%llu]", list, (unsigned long long)(i)), buf)
/* Derives the rules from token ranks (tiktoken): every split of a token into two tokens is a rule with the
 * token's rank, taken as its id. */
llamac_status lc_vocab_rules_from_ranks(lc_vocab *v, lc_err *e);
/* Builds the special-token trie and the well-known/stop ids. GGUF metadata ids may be given (-1 = absent). */
llamac_status lc_vocab_finish(lc_vocab *v, int32_t bos, int32_t eos, int32_t eot, int32_t eom, lc_err *e);

/* Adds the rule left + right -> result (already looked up; -1 if the concatenation is not a token). */
llamac_status lc_vocab_add_rule_to(lc_vocab *v, int32_t left, int32_t right, int32_t result, uint32_t rank,
                                   const char *list, lc_err *e);

/* Lookups. lc_vocab_find_h takes h = lc_hash_bytes(bytes, len); lc_vocab_prefetch starts loading its slot. */
int32_t lc_vocab_find(const lc_vocab *v, const void *bytes, size_t len);
int32_t lc_vocab_find_h(const lc_vocab *v, const void *bytes, size_t len, uint64_t h);
static inline void lc_vocab_prefetch(const lc_vocab *v, uint64_t h)
{
    __builtin_prefetch(&v->hash[(uint32_t)(h >> 32) & v->hash_mask]);
}
static inline void lc_vocab_prefetch_rule(const lc_vocab *v, int32_t left, int32_t right);

uint64_t lc_hash_bytes(const void *p, size_t n);

static inline uint32_t lc_pair_hash(uint64_t key)
{
    key *= 0x9E3779B97F4A7C15ull;
    return (uint32_t)(key >> 32) ^ (uint32_t)key;
}

static inline void lc_vocab_prefetch_rule(const lc_vocab *v, int32_t left, int32_t right)
{
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    __builtin_prefetch(&v->pairs[lc_pair_hash(key) & v->pair_mask]);
}

static inline const lc_pslot *lc_vocab_rule(const lc_vocab *v, int32_t left, int32_t right)
{
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    for (uint32_t i = lc_pair_hash(key) & v->pair_mask;; i = (i + 1) & v->pair_mask) {
        const lc_pslot *s = &v->pairs[i];
        if (s->key == key)
            return s;
        if (s->key == UINT64_MAX)
            return NULL;
    }
}

/* ---- GPT-2 byte <-> unicode mapping (vocab.c) ---- */
/* Decodes a GPT-2 "bytes_to_unicode" string into bytes (out must hold len bytes). Returns the byte count, or
 * -1 if a character is not in the mapping. */
long lc_gpt2_to_bytes(const char *s, size_t len, uint8_t *out);

/* ---- loaders ---- */
llamac_status lc_vocab_from_gguf(const lc_gguf *g, lc_vocab **out, lc_err *e);
llamac_status lc_vocab_from_hf_json(const char *data, size_t len, lc_vocab **out, lc_err *e);
llamac_status lc_vocab_from_tiktoken(const char *data, size_t len, lc_vocab **out, lc_err *e);

/* The Llama 3.1+ name of special token i (0..255), written into buf. */
void lc_llama31_special_name(int i, char *buf, size_t size);

/* ---- pre-tokenizer (pretok.c) ---- */
/* End of the regex match that starts at s[i] (i < n); always > i. */
size_t lc_pretok_next(const lc_uclass_table *t, const uint8_t *s, size_t n, size_t i);

/* ---- BPE (bpe.c) ---- */
typedef struct lc_bpe_scratch {
    void *mem;
    size_t cap;
} lc_bpe_scratch;
/* Appends the ids of one piece to out. */
llamac_status lc_bpe_piece(const lc_vocab *v, const uint8_t *s, size_t n, lc_bpe_scratch *scratch,
                           llamac_tokens *out);

/* ---- tokens.c ---- */
/* Room for extra more ids (LLAMAC_E_NOMEM if growing fails). */
llamac_status lc_tokens_reserve(llamac_tokens *v, size_t extra);
/* Room for extra more bytes and the terminating NUL. */
llamac_status lc_text_reserve(llamac_text *t, size_t extra);

#endif
