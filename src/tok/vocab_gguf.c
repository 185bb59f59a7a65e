/*
 * vocab_gguf.c — builds the tokenizer from GGUF tokenizer.ggml.* metadata (the layout llama.cpp writes):
 *   tokenizer.ggml.model       "gpt2" (byte-level BPE); anything else is not a Llama 3 tokenizer
 *   tokenizer.ggml.pre         "llama-bpe" (also accepted: "llama3", "llama-v3"; absent only when the vocabulary
 *                              has <|begin_of_text|>, as in early Llama 3 conversions)
 *   tokenizer.ggml.tokens      string[n_vocab] in id order; ordinary tokens in GPT-2 byte-to-unicode form,
 *                              control / user-defined tokens as plain text
 *   tokenizer.ggml.token_type  int32[n_vocab] (optional): 1 normal, 3 control, 4 user-defined (2, 5, 6 are
 *                              read like normal tokens)
 *   tokenizer.ggml.merges      string[] "A B" in priority order (optional: without it the token order gives
 *                              the ranks, tiktoken style)
 *   tokenizer.ggml.{bos,eos,eot,eom}_token_id, tokenizer.ggml.add_bos_token (optional)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"
#include "util/buf.h"

static int str_is(lc_gguf_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static llamac_status get_id(const lc_gguf *g, const char *key, int32_t *out, lc_err *e)
{
    int64_t v = -1;
    llamac_status st = lc_gguf_get_i64(g, key, 0, &v, e);
    if (st)
        return st;
    if (v < -1 || v > INT32_MAX)
        return lc_fail(e, LLAMAC_E_FORMAT, "%s = %lld is not a token id", key, (long long)v);
    *out = (int32_t)v;
    return LLAMAC_OK;
}

static llamac_status read_tokens(lc_vocab *v, const lc_gguf_value *tokens, const lc_gguf_value *types, lc_err *e)
{
    uint8_t stackbuf[1024];
    for (int32_t id = 0; id < v->n_vocab; id++) {
        lc_gguf_str s = tokens->v.arr.items[id].v.str;
        int type = 1;
        if (types) {
            int32_t t;
            memcpy(&t, types->v.arr.data + (size_t)id * 4, 4);
            type = t;
        }
        llamac_status st;
        if (type == 3 || type == 4) {
            st = lc_vocab_set(v, id, s.ptr, s.len, LC_TOK_SPECIAL, e);
        } else if (type >= 1 && type <= 6) {
            uint8_t *buf = s.len <= sizeof stackbuf ? stackbuf : malloc(s.len);
            if (!buf)
                return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
            long n = lc_gpt2_to_bytes(s.ptr, s.len, buf);
            st = n < 0 ? lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.ggml.tokens[%d] '%.*s' is not in GPT-2 byte-level "
                                 "form", id, (int)(s.len > 60 ? 60 : s.len), s.ptr)
                       : lc_vocab_set(v, id, buf, (size_t)n, LC_TOK_NORMAL, e);
            if (buf != stackbuf)
                free(buf);
        } else {
            st = lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.ggml.token_type[%d] = %d is not a token type (1..6)", id, type);
        }
        if (st)
            return st;
    }
    return LLAMAC_OK;
}

/* Merges are processed in batches, each in three passes (split and decode, look up the three tokens, insert the
 * rule) with prefetches between passes: the hash tables are larger than the caches, and overlapping the misses
 * of a batch makes the 280k Llama 3 merges several times faster than one merge at a time. */
enum { BATCH = 32 };

typedef struct merge_job {
    size_t la, lb;  /* decoded lengths of A and B; A's bytes then B's bytes are the result's bytes */
    uint64_t ha, hb, hr;
    int32_t a, b, r;
    size_t at;      /* offset of the bytes in the batch buffer */
} merge_job;

static llamac_status read_merges(lc_vocab *v, const lc_gguf_value *merges, lc_err *e)
{
    uint64_t n = merges->v.arr.n;
    if (n > UINT32_MAX - 1)
        return lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.ggml.merges has too many entries");
    llamac_status st = lc_vocab_reserve_pairs(v, n, e);
    if (st)
        return st;
    merge_job job[BATCH];
    size_t cap = 1 << 14;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    for (uint64_t base = 0; base < n && !st; base += BATCH) {
        int nb = n - base < BATCH ? (int)(n - base) : BATCH;
        size_t used = 0;
        for (int k = 0; k < nb && !st; k++) { /* pass 1: split, decode, hash, prefetch */
            lc_gguf_str s = merges->v.arr.items[base + (uint64_t)k].v.str;
            const char *sp = s.len ? memchr(s.ptr, ' ', s.len) : NULL;
            size_t la = sp ? (size_t)(sp - s.ptr) : 0, lb = sp ? s.len - la - 1 : 0;
            if (!sp || la == 0 || lb == 0 || memchr(sp + 1, ' ', lb)) {
                st = lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.ggml.merges[%llu] '%.*s' is not two tokens separated by "
                             "one space", (unsigned long long)(base + (uint64_t)k), (int)(s.len > 60 ? 60 : s.len),
                             s.ptr);
                break;
            }
            uint8_t *nbuf = lc_array_reserve(buf, 1, &cap, used, s.len);
            if (!nbuf) {
                st = lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
                break;
            }
            buf = nbuf;
            merge_job *j = &job[k];
            j->at = used;
            uint8_t *jb = buf + used;
            long na = lc_gpt2_to_bytes(s.ptr, la, jb);
            long nbb = na > 0 ? lc_gpt2_to_bytes(sp + 1, lb, jb + na) : -1;
            if (na <= 0 || nbb <= 0) {
                st = lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.ggml.merges[%llu] '%.*s': '%.*s' is not a token",
                             (unsigned long long)(base + (uint64_t)k), (int)(s.len > 60 ? 60 : s.len), s.ptr,
                             (int)(na <= 0 ? la : lb), na <= 0 ? s.ptr : sp + 1);
                break;
            }
            j->la = (size_t)na;
            j->lb = (size_t)nbb;
            used += j->la + j->lb;
            j->ha = lc_hash_bytes(jb, j->la);
            j->hb = lc_hash_bytes(jb + j->la, j->lb);
            j->hr = lc_hash_bytes(jb, j->la + j->lb);
            lc_vocab_prefetch(v, j->ha);
            lc_vocab_prefetch(v, j->hb);
            lc_vocab_prefetch(v, j->hr);
        }
        for (int k = 0; k < nb && !st; k++) { /* pass 2: look up, prefetch the rule slot */
            merge_job *j = &job[k];
            const uint8_t *jb = buf + j->at;
            j->a = lc_vocab_find_h(v, jb, j->la, j->ha);
            j->b = lc_vocab_find_h(v, jb + j->la, j->lb, j->hb);
            j->r = lc_vocab_find_h(v, jb, j->la + j->lb, j->hr);
            if (j->a < 0 || j->b < 0) {
                lc_gguf_str s = merges->v.arr.items[base + (uint64_t)k].v.str;
                st = lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.ggml.merges[%llu] '%.*s': '%s' is not a token",
                             (unsigned long long)(base + (uint64_t)k), (int)(s.len > 60 ? 60 : s.len), s.ptr,
                             j->a < 0 ? "the first half" : "the second half");
                break;
            }
            lc_vocab_prefetch_rule(v, j->a, j->b);
        }
        for (int k = 0; k < nb && !st; k++) /* pass 3: insert */
            st = lc_vocab_add_rule_to(v, job[k].a, job[k].b, job[k].r, (uint32_t)(base + (uint64_t)k),
                                      "tokenizer.ggml.merges", e);
    }
    free(buf);
    return st;
}

llamac_status lc_vocab_from_gguf(const lc_gguf *g, lc_vocab **out, lc_err *e)
{
    *out = NULL;
    lc_gguf_str model = {NULL, 0}, pre = {NULL, 0};
    llamac_status st = lc_gguf_get_str(g, "tokenizer.ggml.model", 0, &model, e);
    if (st)
        return st;
    if (!model.ptr)
        return lc_fail(e, LLAMAC_E_TOKENIZER, "the file has no tokenizer (tokenizer.ggml.model is missing)");
    if (!str_is(model, "gpt2"))
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "not a Llama 3 tokenizer: tokenizer.ggml.model is '%.*s' (Llama 3 "
                       "uses 'gpt2', byte-level BPE)", (int)(model.len > 40 ? 40 : model.len), model.ptr);
    if ((st = lc_gguf_get_str(g, "tokenizer.ggml.pre", 0, &pre, e)))
        return st;
    if (pre.ptr && !str_is(pre, "llama-bpe") && !str_is(pre, "llama3") && !str_is(pre, "llama-v3"))
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "not a Llama 3 tokenizer: tokenizer.ggml.pre is '%.*s' (Llama 3 "
                       "uses 'llama-bpe')", (int)(pre.len > 40 ? 40 : pre.len), pre.ptr);
    const lc_gguf_value *tokens = lc_gguf_get(g, "tokenizer.ggml.tokens");
    const lc_gguf_value *types = lc_gguf_get(g, "tokenizer.ggml.token_type");
    const lc_gguf_value *merges = lc_gguf_get(g, "tokenizer.ggml.merges");
    if (!tokens)
        return lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.ggml.tokens is missing");
    if (tokens->type != LC_GGUF_ARRAY || tokens->v.arr.elem_type != LC_GGUF_STRING)
        return lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.ggml.tokens is not an array of strings");
    uint64_t n = tokens->v.arr.n;
    if (n < 256 || n > (1u << 30))
        return lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.ggml.tokens has %llu entries (a byte-level BPE vocabulary "
                       "has at least the 256 byte tokens)", (unsigned long long)n);
    if (types) {
        if (types->type != LC_GGUF_ARRAY ||
            (types->v.arr.elem_type != LC_GGUF_INT32 && types->v.arr.elem_type != LC_GGUF_UINT32))
            return lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.ggml.token_type is not an array of int32");
        if (types->v.arr.n != n)
            return lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.ggml.token_type has %llu entries but tokenizer.ggml.tokens "
                           "has %llu", (unsigned long long)types->v.arr.n, (unsigned long long)n);
    }
    if (merges && (merges->type != LC_GGUF_ARRAY || merges->v.arr.elem_type != LC_GGUF_STRING))
        return lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.ggml.merges is not an array of strings");
    int32_t bos = -1, eos = -1, eot = -1, eom = -1;
    int add_bos = 1;
    if ((st = get_id(g, "tokenizer.ggml.bos_token_id", &bos, e)) ||
        (st = get_id(g, "tokenizer.ggml.eos_token_id", &eos, e)) ||
        (st = get_id(g, "tokenizer.ggml.eot_token_id", &eot, e)) ||
        (st = get_id(g, "tokenizer.ggml.eom_token_id", &eom, e)) ||
        (st = lc_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", 0, &add_bos, e)))
        return st;

    lc_vocab *v;
    if ((st = lc_vocab_new((int32_t)n, LLAMAC_VOCAB_GGUF, &v, e)))
        return st;
    v->add_bos = add_bos;
    if (!(st = read_tokens(v, tokens, types, e)) && !(st = lc_vocab_index(v, e))) {
        if (merges)
            st = read_merges(v, merges, e);
        else
            st = lc_vocab_rules_from_ranks(v, e);
    }
    if (!st)
        st = lc_vocab_finish(v, bos, eos, eot, eom, e);
    if (!st && !pre.ptr && llamac_token_special(v, "<|begin_of_text|>") < 0)
        st = lc_fail(e, LLAMAC_E_UNSUPPORTED, "not a Llama 3 tokenizer: tokenizer.ggml.pre is missing and the "
                     "vocabulary has no <|begin_of_text|>");
    if (st) {
        lc_vocab_free(v);
        return st;
    }
    *out = v;
    return LLAMAC_OK;
}
