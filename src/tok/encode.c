/*
 * encode.c — llamac_tokenize: optional BOS, special-token splitting (only when the caller asks), then for each
 * ordinary segment the pre-tokenizer (pretok.c) and BPE of each piece (bpe.c).
 *
 * Specials are matched leftmost-longest through the vocabulary's trie, like HF's added-token splitter and
 * tiktoken's allowed_special; the text between them is pre-tokenized separately. The function is re-entrant:
 * all scratch memory is per call.
 */
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"

static llamac_status encode_segment(const lc_vocab *v, const lc_uclass_table *t, const uint8_t *s, size_t n,
                                    lc_bpe_scratch *scratch, llamac_tokens *out)
{
    size_t i = 0;
    while (i < n) {
        size_t j = lc_pretok_next(t, s, n, i);
        llamac_status st = lc_bpe_piece(v, s + i, j - i, scratch, out);
        if (st)
            return st;
        i = j;
    }
    return LLAMAC_OK;
}

/* Longest special token starting at s[i]; returns its length (0 if none) and sets *id. */
static size_t match_special(const lc_vocab *v, const uint8_t *s, size_t n, size_t i, int32_t *id)
{
    size_t best = 0;
    int32_t node = 0;
    for (size_t j = i; j < n; j++) {
        int32_t c = v->trie[node].child;
        while (c >= 0 && v->trie[c].byte != s[j])
            c = v->trie[c].sibling;
        if (c < 0)
            break;
        node = c;
        if (v->trie[node].id >= 0) {
            best = j + 1 - i;
            *id = v->trie[node].id;
        }
    }
    return best;
}

llamac_status llamac_tokenize(const llamac_tokenizer *v, const char *text, size_t len, unsigned flags,
                              llamac_tokens *out)
{
    if (!v || !out || (!text && len) || (flags & ~(unsigned)(LLAMAC_TOKENIZE_ADD_BOS | LLAMAC_TOKENIZE_PARSE_SPECIAL)))
        return LLAMAC_E_INVALID_ARG;
    const lc_uclass_table *t = lc_uclass_get();
    if (!t)
        return LLAMAC_E_NOMEM;
    const uint8_t *s = (const uint8_t *)text;
    const size_t n0 = out->n;
    const int parse = (flags & LLAMAC_TOKENIZE_PARSE_SPECIAL) && v->n_special > 0;
    llamac_status st = lc_tokens_reserve(out, len / 4 + 2);
    if (st)
        return st;
    if ((flags & LLAMAC_TOKENIZE_ADD_BOS) && out->n == 0 && v->bos >= 0) {
        int32_t first = -1;
        if (!(parse && len && match_special(v, s, len, 0, &first) && first == v->bos))
            out->ids[out->n++] = v->bos;
    }
    lc_bpe_scratch scratch = {NULL, 0};
    size_t seg = 0, i = 0;
    if (parse) {
        while (i < len && !st) {
            int32_t id;
            size_t m;
            if (!v->special_first[s[i]] || !(m = match_special(v, s, len, i, &id))) {
                i++;
                continue;
            }
            st = encode_segment(v, t, s + seg, i - seg, &scratch, out);
            if (!st)
                st = llamac_tokens_push(out, id);
            i += m;
            seg = i;
        }
    }
    if (!st)
        st = encode_segment(v, t, s + seg, len - seg, &scratch, out);
    free(scratch.mem);
    if (st)
        out->n = n0;
    return st;
}
