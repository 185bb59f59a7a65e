/*
 * vocab_hf.c — builds the tokenizer from a Hugging Face tokenizer.json (parsed with jansson).
 *
 * Accepted: model.type "BPE" without byte_fallback, vocab {GPT-2-mapped token: id}, merges ["A B", ...] or
 * [["A", "B"], ...] in priority order, ignore_merges (whole-piece lookup, true for Llama 3), normalizer null,
 * and a pre_tokenizer that is the Llama 3 Split regex followed by ByteLevel (use_regex false). added_tokens
 * become special tokens (plain text, ids outside or equal to their vocab entry). Anything else is reported as
 * "not a Llama 3 tokenizer".
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"

static const char LLAMA3_PATTERN[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const char *type_of(json_t *o)
{
    const char *t = json_string_value(json_object_get(o, "type"));
    return t ? t : "";
}

/* Checks the pre_tokenizer: Sequence[Split(Llama 3 regex), ByteLevel(use_regex=false)]. */
static llamac_status check_pre(json_t *pre, lc_err *e)
{
    json_t *list = json_object_get(pre, "pretokenizers");
    if (!json_is_object(pre) || strcmp(type_of(pre), "Sequence") != 0 || !json_is_array(list))
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "not a Llama 3 tokenizer: the pre_tokenizer is not a Sequence of the "
                       "Llama 3 Split regex and ByteLevel");
    int have_split = 0, have_bytelevel = 0;
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p) {
        const char *t = type_of(p);
        if (!strcmp(t, "Split")) {
            const char *rx = json_string_value(json_object_get(json_object_get(p, "pattern"), "Regex"));
            if (!rx || strcmp(rx, LLAMA3_PATTERN) != 0)
                return lc_fail(e, LLAMAC_E_UNSUPPORTED, "not a Llama 3 tokenizer: the pre-tokenizer regex is '%.80s'",
                               rx ? rx : "(none)");
            have_split = 1;
        } else if (!strcmp(t, "ByteLevel")) {
            if (json_is_true(json_object_get(p, "use_regex")) || json_is_true(json_object_get(p, "add_prefix_space")))
                return lc_fail(e, LLAMAC_E_UNSUPPORTED, "not a Llama 3 tokenizer: ByteLevel pre-tokenizer with "
                               "use_regex or add_prefix_space");
            have_bytelevel = 1;
        } else {
            return lc_fail(e, LLAMAC_E_UNSUPPORTED, "not a Llama 3 tokenizer: unexpected pre-tokenizer '%.40s'", t);
        }
    }
    if (!have_split || !have_bytelevel)
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "not a Llama 3 tokenizer: the pre_tokenizer lacks the Llama 3 Split "
                       "regex or ByteLevel");
    return LLAMAC_OK;
}

static llamac_status merge_halves(json_t *m, size_t i, const char **a, size_t *la, const char **b, size_t *lb,
                                  lc_err *e)
{
    if (json_is_string(m)) {
        const char *s = json_string_value(m);
        size_t n = json_string_length(m);
        const char *sp = memchr(s, ' ', n);
        if (sp && sp != s && sp + 1 < s + n && !memchr(sp + 1, ' ', (size_t)(s + n - sp - 1))) {
            *a = s;
            *la = (size_t)(sp - s);
            *b = sp + 1;
            *lb = (size_t)(s + n - sp - 1);
            return LLAMAC_OK;
        }
        return lc_fail(e, LLAMAC_E_FORMAT, "merges[%zu] '%.60s' is not two tokens separated by one space", i, s);
    }
    if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
        json_is_string(json_array_get(m, 1))) {
        *a = json_string_value(json_array_get(m, 0));
        *la = json_string_length(json_array_get(m, 0));
        *b = json_string_value(json_array_get(m, 1));
        *lb = json_string_length(json_array_get(m, 1));
        return LLAMAC_OK;
    }
    return lc_fail(e, LLAMAC_E_FORMAT, "merges[%zu] is not a string \"A B\" or a pair [\"A\", \"B\"]", i);
}

static int32_t lookup_mapped(const lc_vocab *v, const char *s, size_t n)
{
    uint8_t stackbuf[512];
    uint8_t *buf = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!buf)
        return -1;
    long k = lc_gpt2_to_bytes(s, n, buf);
    int32_t id = k > 0 ? lc_vocab_find(v, buf, (size_t)k) : -1;
    if (buf != stackbuf)
        free(buf);
    return id;
}

static llamac_status build(json_t *root, lc_vocab **out, lc_err *e)
{
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model))
        return lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.json has no \"model\" object");
    const char *mtype = type_of(model);
    if (strcmp(mtype, "BPE") != 0 && mtype[0])
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "not a Llama 3 tokenizer: model type '%.40s' (Llama 3 uses BPE)",
                       mtype);
    if (json_is_true(json_object_get(model, "byte_fallback")))
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "not a Llama 3 tokenizer: BPE with byte_fallback (SentencePiece "
                       "style)");
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm))
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "not a Llama 3 tokenizer: it has a normalizer ('%.40s')",
                       type_of(norm));
    llamac_status st = check_pre(json_object_get(root, "pre_tokenizer"), e);
    if (st)
        return st;
    json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    json_t *added = json_object_get(root, "added_tokens");
    if (!json_is_object(vocab))
        return lc_fail(e, LLAMAC_E_FORMAT, "model.vocab is missing or not an object");
    if (!json_is_array(merges))
        return lc_fail(e, LLAMAC_E_FORMAT, "model.merges is missing or not an array");
    if (added && !json_is_array(added))
        return lc_fail(e, LLAMAC_E_FORMAT, "added_tokens is not an array");

    json_int_t max_id = -1;
    const char *key;
    json_t *val, *a;
    size_t i;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= (1 << 30))
            return lc_fail(e, LLAMAC_E_FORMAT, "model.vocab['%.60s'] is not a token id", key);
        if (json_integer_value(val) > max_id)
            max_id = json_integer_value(val);
    }
    json_array_foreach(added, i, a) {
        json_t *id = json_object_get(a, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= (1 << 30) ||
            !json_is_string(json_object_get(a, "content")))
            return lc_fail(e, LLAMAC_E_FORMAT, "added_tokens[%zu] has no valid id and content", i);
        if (json_integer_value(id) > max_id)
            max_id = json_integer_value(id);
    }
    lc_vocab *v;
    if ((st = lc_vocab_new((int32_t)(max_id + 1), LLAMAC_VOCAB_HF_JSON, &v, e)))
        return st;
    v->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    /* Added tokens first; a vocab entry with the same id must then hold the same text. */
    json_array_foreach(added, i, a) {
        json_t *c = json_object_get(a, "content");
        if ((st = lc_vocab_set(v, (int32_t)json_integer_value(json_object_get(a, "id")), json_string_value(c),
                               json_string_length(c), LC_TOK_SPECIAL, e)))
            goto fail;
    }
    size_t key_len;
    json_object_keylen_foreach(vocab, key, key_len, val) {
        int32_t id = (int32_t)json_integer_value(val);
        uint8_t stackbuf[512];
        uint8_t *buf = key_len <= sizeof stackbuf ? stackbuf : malloc(key_len ? key_len : 1);
        if (!buf) {
            st = lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
            goto fail;
        }
        long n = lc_gpt2_to_bytes(key, key_len, buf);
        if (n <= 0)
            st = lc_fail(e, LLAMAC_E_FORMAT, "model.vocab['%.60s'] is not in GPT-2 byte-level form", key);
        else if (v->off[id] != UINT32_MAX && v->kind[id] == LC_TOK_SPECIAL)
            st = (v->len[id] == (size_t)n && !memcmp(v->bytes + v->off[id], buf, (size_t)n))
                     ? LLAMAC_OK
                     : lc_fail(e, LLAMAC_E_FORMAT, "id %d is both the added token '%.60s' and the vocab entry "
                               "'%.60s'", id, v->bytes + v->off[id], key);
        else
            st = lc_vocab_set(v, id, buf, (size_t)n, LC_TOK_NORMAL, e);
        if (buf != stackbuf)
            free(buf);
        if (st)
            goto fail;
    }
    if ((st = lc_vocab_index(v, e)) || (st = lc_vocab_reserve_pairs(v, json_array_size(merges), e)))
        goto fail;
    json_array_foreach(merges, i, a) {
        const char *sa = NULL, *sb = NULL;
        size_t la = 0, lb = 0;
        if ((st = merge_halves(a, i, &sa, &la, &sb, &lb, e)))
            goto fail;
        int32_t ida = lookup_mapped(v, sa, la), idb = lookup_mapped(v, sb, lb);
        if (ida < 0 || idb < 0) {
            st = lc_fail(e, LLAMAC_E_FORMAT, "merges[%zu]: '%.*s' is not a token", i, (int)(ida < 0 ? la : lb),
                         ida < 0 ? sa : sb);
            goto fail;
        }
        if ((st = lc_vocab_add_rule(v, ida, idb, (uint32_t)i, "merges", e)))
            goto fail;
    }
    if ((st = lc_vocab_finish(v, -1, -1, -1, -1, e)))
        goto fail;
    *out = v;
    return LLAMAC_OK;
fail:
    lc_vocab_free(v);
    return st;
}

llamac_status lc_vocab_from_hf_json(const char *data, size_t len, lc_vocab **out, lc_err *e)
{
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.json: %s (line %d, column %d)", jerr.text, jerr.line,
                       jerr.column);
    llamac_status st = json_is_object(root) ? build(root, out, e)
                                            : lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.json is not a JSON object");
    json_decref(root);
    return st;
}
