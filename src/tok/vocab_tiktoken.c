/*
 * vocab_tiktoken.c — builds the tokenizer from Meta's tokenizer.model: one line per token,
 * "base64(token bytes) SP rank LF", ranks 0..n-1 in any order (blank lines ignored). The token's id is its
 * rank, and the BPE rules are derived from the ranks (tiktoken semantics). The n + 0..255 ids that follow are
 * the special tokens with the Llama 3.1+ names (llama-models tokenizer.py / HF 3.1 tokenizer.json).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"

void lc_llama31_special_name(int i, char *buf, size_t size)
{
    static const char *const fixed[11] = {
        "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
        "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
        "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"};
    if (i >= 0 && i < 11)
        snprintf(buf, size, "%s", fixed[i]);
    else
        snprintf(buf, size, "<|reserved_special_token_%d|>", i - 8);
}

static int b64_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict base64 (padding required to a multiple of 4). Returns the byte count or -1. */
static long b64_decode(const uint8_t *s, size_t n, uint8_t *out)
{
    if (n == 0 || n % 4 != 0)
        return -1;
    long o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = b64_value(s[i + k])) < 0) {
                return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)w;
    }
    return o;
}

llamac_status lc_vocab_from_tiktoken(const char *data, size_t len, lc_vocab **out, lc_err *e)
{
    *out = NULL;
    const uint8_t *s = (const uint8_t *)data, *end = s + len;
    size_t n_lines = 0;
    for (const uint8_t *p = s; p < end;) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *le = nl ? nl : end;
        if (le > p && !(le == p + 1 && *p == '\r'))
            n_lines++;
        p = nl ? nl + 1 : end;
    }
    if (n_lines < 256 || n_lines > (1u << 29))
        return lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.model has %zu tokens (a byte-level BPE vocabulary has at least "
                       "the 256 byte tokens)", n_lines);
    lc_vocab *v;
    llamac_status st = lc_vocab_new((int32_t)n_lines + 256, LLAMAC_VOCAB_TIKTOKEN, &v, e);
    if (st)
        return st;
    uint8_t buf[768];
    size_t line = 0;
    for (const uint8_t *p = s; p < end && !st;) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *le = nl ? nl : end;
        line++;
        if (le > p && le[-1] == '\r')
            le--;
        if (le > p) {
            const uint8_t *sp = memchr(p, ' ', (size_t)(le - p));
            long nb = -1;
            long long rank = -1;
            if (sp && (size_t)(sp - p) <= 1024 && sp + 1 < le) {
                nb = b64_decode(p, (size_t)(sp - p), buf);
                rank = 0;
                for (const uint8_t *q = sp + 1; q < le && rank >= 0; q++)
                    rank = (*q >= '0' && *q <= '9' && rank < (1LL << 40)) ? rank * 10 + (*q - '0') : -1;
            }
            if (nb <= 0 || rank < 0)
                st = lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.model line %zu is not 'base64 rank'", line);
            else if ((size_t)rank >= n_lines)
                st = lc_fail(e, LLAMAC_E_FORMAT, "tokenizer.model line %zu: rank %lld is not below the number of tokens "
                             "(%zu)", line, rank, n_lines);
            else
                st = lc_vocab_set(v, (int32_t)rank, buf, (size_t)nb, LC_TOK_NORMAL, e);
        }
        p = nl ? nl + 1 : end;
    }
    for (int i = 0; i < 256 && !st; i++) {
        char name[64];
        lc_llama31_special_name(i, name, sizeof name);
        st = lc_vocab_set(v, (int32_t)n_lines + i, name, strlen(name), LC_TOK_SPECIAL, e);
    }
    if (!st && !(st = lc_vocab_index(v, e)) && !(st = lc_vocab_rules_from_ranks(v, e)))
        st = lc_vocab_finish(v, -1, -1, -1, -1, e);
    if (st) {
        lc_vocab_free(v);
        return st;
    }
    *out = v;
    return LLAMAC_OK;
}
