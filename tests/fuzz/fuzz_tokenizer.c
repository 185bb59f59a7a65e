/*
 * fuzz_tokenizer.c — libFuzzer target for the tokenizer (src/tok: pre-tokenizer, BPE, special-token matching,
 * decoding). The first input byte picks the mode, the rest is the payload:
 *   encode (mode & 1 == 0): the payload as text, with or without special-token parsing. Oracles: every id is in
 *     range; decode(encode(x)) == x byte for byte (the tokenizer is byte-exact for any bytes, docs/TOKENIZER.md)
 *     when special tokens are not parsed; and the decoder with REPLACE_INVALID yields valid UTF-8.
 *   decode (mode & 1 == 1): the payload as little-endian 32-bit ids (taken modulo n_vocab + 8, so some are out of
 *     range). Oracles: out-of-range ids give LLAMAC_E_TOKEN and nothing appended; the streaming detokenizer's
 *     output (pushes + flush) equals llamac_detokenize; with REPLACE_INVALID every chunk is valid UTF-8.
 */
#include "fuzz_util.h"

static void check_encode(const llamac_tokenizer *tok, int32_t n_vocab, const uint8_t *p, size_t n, unsigned mode)
{
    unsigned flags = (mode & 2) ? LLAMAC_TOKENIZE_PARSE_SPECIAL : 0;
    if (mode & 4)
        flags |= LLAMAC_TOKENIZE_ADD_BOS;
    llamac_tokens ids = {0};
    llamac_status st = llamac_tokenize(tok, (const char *)p, n, flags, &ids);
    FUZZ_CHECK(st == LLAMAC_OK, "encode failed: %d", st);
    for (size_t i = 0; i < ids.n; i++)
        FUZZ_CHECK(ids.ids[i] >= 0 && ids.ids[i] < n_vocab, "id %d out of range", ids.ids[i]);
    size_t skip = (flags & LLAMAC_TOKENIZE_ADD_BOS) && ids.n && ids.ids[0] == llamac_token_bos(tok) ? 1 : 0;
    llamac_text out = {0};
    st = llamac_detokenize(tok, ids.ids + skip, ids.n - skip, 0, &out);
    FUZZ_CHECK(st == LLAMAC_OK, "decode of encoded ids failed: %d", st);
    if (!(flags & LLAMAC_TOKENIZE_PARSE_SPECIAL))
        FUZZ_CHECK(out.n == n && (n == 0 || !memcmp(out.data, p, n)), "round trip changed the text (%zu -> %zu bytes)",
                   n, out.n);
    llamac_text_free(&out);
    st = llamac_detokenize(tok, ids.ids, ids.n, LLAMAC_DECODE_REPLACE_INVALID, &out);
    FUZZ_CHECK(st == LLAMAC_OK && fuzz_utf8_valid((const unsigned char *)out.data, out.n),
               "REPLACE_INVALID output is not valid UTF-8");
    llamac_text_free(&out);
    llamac_tokens_free(&ids);
}

static void check_decode(const llamac_tokenizer *tok, int32_t n_vocab, const uint8_t *p, size_t n, unsigned mode)
{
    size_t n_ids = n / 4;
    int32_t *ids = malloc((n_ids ? n_ids : 1) * sizeof *ids);
    if (!ids)
        return;
    int any_bad = 0;
    for (size_t i = 0; i < n_ids; i++) {
        uint32_t v = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                     (uint32_t)p[4 * i + 3] << 24;
        ids[i] = (int32_t)(v % (uint32_t)(n_vocab + 8));
        any_bad |= ids[i] >= n_vocab;
    }
    unsigned flags = (mode & 2) ? LLAMAC_DECODE_SKIP_SPECIAL : 0;
    llamac_text whole = {0};
    llamac_status st = llamac_detokenize(tok, ids, n_ids, flags, &whole);
    if (any_bad) {
        FUZZ_CHECK(st == LLAMAC_E_TOKEN && whole.n == 0, "out-of-range id accepted (status %d)", st);
        llamac_text_free(&whole);
        free(ids);
        return;
    }
    FUZZ_CHECK(st == LLAMAC_OK, "decode failed: %d", st);
    for (int replace = 0; replace < 2; replace++) {
        llamac_detokenizer *d = NULL;
        if (llamac_detokenizer_create(tok, flags | (replace ? LLAMAC_DECODE_REPLACE_INVALID : 0), &d) != LLAMAC_OK)
            break;
        size_t cat_n = 0;
        char *buf = malloc(whole.n * 3 + 16);
        const char *s;
        size_t k;
        for (size_t i = 0; buf && i <= n_ids; i++) {
            st = i < n_ids ? llamac_detokenizer_push(d, ids[i], &s, &k) : llamac_detokenizer_flush(d, &s, &k);
            FUZZ_CHECK(st == LLAMAC_OK, "stream push/flush failed: %d", st);
            if (replace)
                FUZZ_CHECK(fuzz_utf8_valid((const unsigned char *)s, k), "stream chunk %zu not valid UTF-8", i);
            FUZZ_CHECK(cat_n + k <= whole.n * 3 + 16, "stream output longer than possible");
            memcpy(buf + cat_n, s, k);
            cat_n += k;
        }
        if (buf && !replace)
            FUZZ_CHECK(cat_n == whole.n && (cat_n == 0 || !memcmp(buf, whole.data, cat_n)),
                       "streamed text differs from llamac_detokenize (%zu vs %zu bytes)", cat_n, whole.n);
        free(buf);
        llamac_detokenizer_free(d);
    }
    llamac_text_free(&whole);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 << 16)
        return 0;
    const llamac_tokenizer *tok = fuzz_tokenizer();
    llamac_tokenizer_info info;
    llamac_tokenizer_get_info(tok, &info);
    unsigned mode = data[0];
    if (mode & 1)
        check_decode(tok, info.n_vocab, data + 1, size - 1, mode >> 1);
    else
        check_encode(tok, info.n_vocab, data + 1, size - 1, mode >> 1);
    return 0;
}
