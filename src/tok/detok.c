/*
 * detok.c — decoding ids to bytes: llamac_detokenize (whole sequences) and the streaming llamac_detokenizer.
 *
 * Tokens are byte strings; many are not valid UTF-8 alone (a character split across tokens). The streaming
 * decoder holds back an incomplete sequence at the end of what it has seen (at most 3 bytes) until the next
 * token completes or breaks it. Bytes that can never become valid are released at once: unchanged (default,
 * so that the stream's bytes equal the whole decode) or as one U+FFFD per maximal invalid subpart
 * (LLAMAC_DECODE_REPLACE_INVALID).
 */
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"

static const char REPLACEMENT[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

/* Appends s[0..n) to t (capacity for 3n bytes must be reserved), checking UTF-8 when replace is set. Returns
 * the number of bytes consumed: all of them, unless final is 0 and the data ends in an incomplete sequence,
 * which is left for the caller to hold back. */
static size_t put_checked(llamac_text *t, const uint8_t *s, size_t n, int replace, int final)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            t->data[t->n++] = (char)s[i++];
            continue;
        }
        uint32_t cp;
        int need = 1, incomplete = 0;
        int l = lc_utf8_decode(s + i, n - i, &cp, &need, &incomplete);
        if (l) {
            memcpy(t->data + t->n, s + i, (size_t)l);
            t->n += (size_t)l;
            i += (size_t)l;
            continue;
        }
        if (incomplete && !final)
            break;
        if (replace) {
            memcpy(t->data + t->n, REPLACEMENT, 3);
            t->n += 3;
        } else {
            memcpy(t->data + t->n, s + i, (size_t)need);
            t->n += (size_t)need;
        }
        i += (size_t)need;
    }
    t->data[t->n] = 0;
    return i;
}

llamac_status llamac_detokenize(const llamac_tokenizer *v, const int32_t *ids, size_t n, unsigned flags,
                                llamac_text *out)
{
    if (!v || !out || (!ids && n) ||
        (flags & ~(unsigned)(LLAMAC_DECODE_SKIP_SPECIAL | LLAMAC_DECODE_REPLACE_INVALID)))
        return LLAMAC_E_INVALID_ARG;
    const int skip = flags & LLAMAC_DECODE_SKIP_SPECIAL;
    size_t total = 0;
    for (size_t k = 0; k < n; k++) {
        if (ids[k] < 0 || ids[k] >= v->n_vocab)
            return LLAMAC_E_TOKEN;
        if (!(skip && v->kind[ids[k]] == LC_TOK_SPECIAL))
            total += v->len[ids[k]];
    }
    const size_t n0 = out->n;
    llamac_status st = lc_text_reserve(out, total);
    if (st)
        return st;
    for (size_t k = 0; k < n; k++) {
        if (skip && v->kind[ids[k]] == LC_TOK_SPECIAL)
            continue;
        memcpy(out->data + out->n, v->bytes + v->off[ids[k]], v->len[ids[k]]);
        out->n += v->len[ids[k]];
    }
    out->data[out->n] = 0;
    if (!(flags & LLAMAC_DECODE_REPLACE_INVALID))
        return LLAMAC_OK;
    /* Re-encode the appended bytes with replacements (at most 3 output bytes per input byte). */
    uint8_t *raw = malloc(total ? total : 1);
    if (!raw)
        return out->n = n0, out->data[n0] = 0, LLAMAC_E_NOMEM;
    memcpy(raw, out->data + n0, total);
    out->n = n0;
    if ((st = lc_text_reserve(out, 3 * total))) {
        free(raw);
        out->data[n0] = 0;
        return st;
    }
    put_checked(out, raw, total, 1, 1);
    free(raw);
    return LLAMAC_OK;
}

/* ---- streaming ---- */
struct llamac_detokenizer {
    const llamac_tokenizer *tok;
    unsigned flags;
    uint8_t held[4]; /* an incomplete UTF-8 sequence (1..3 bytes) */
    int n_held;
    llamac_text out; /* what the last call returned */
    uint8_t *work;   /* held + the new piece */
    size_t work_cap;
};

llamac_status llamac_detokenizer_create(const llamac_tokenizer *tok, unsigned flags, llamac_detokenizer **out)
{
    if (out)
        *out = NULL;
    if (!tok || !out || (flags & ~(unsigned)(LLAMAC_DECODE_SKIP_SPECIAL | LLAMAC_DECODE_REPLACE_INVALID)))
        return LLAMAC_E_INVALID_ARG;
    llamac_detokenizer *d = calloc(1, sizeof *d);
    if (!d)
        return LLAMAC_E_NOMEM;
    d->tok = tok;
    d->flags = flags;
    *out = d;
    return LLAMAC_OK;
}

void llamac_detokenizer_free(llamac_detokenizer *d)
{
    if (!d)
        return;
    llamac_text_free(&d->out);
    free(d->work);
    free(d);
}

void llamac_detokenizer_reset(llamac_detokenizer *d)
{
    if (d)
        d->n_held = 0;
}

static llamac_status feed(llamac_detokenizer *d, const uint8_t *piece, size_t n, int final, const char **text,
                          size_t *len)
{
    size_t m = (size_t)d->n_held + n;
    if (d->work_cap < m + 1) {
        uint8_t *w = realloc(d->work, m + 1);
        if (!w)
            return LLAMAC_E_NOMEM;
        d->work = w;
        d->work_cap = m + 1;
    }
    d->out.n = 0;
    llamac_status st = lc_text_reserve(&d->out, 3 * m);
    if (st)
        return st;
    memcpy(d->work, d->held, (size_t)d->n_held);
    if (n)
        memcpy(d->work + d->n_held, piece, n);
    size_t used = put_checked(&d->out, d->work, m, (d->flags & LLAMAC_DECODE_REPLACE_INVALID) != 0, final);
    d->n_held = (int)(m - used);
    memcpy(d->held, d->work + used, (size_t)d->n_held);
    if (text)
        *text = d->out.data;
    if (len)
        *len = d->out.n;
    return LLAMAC_OK;
}

llamac_status llamac_detokenizer_push(llamac_detokenizer *d, int32_t id, const char **text, size_t *len)
{
    if (text)
        *text = "";
    if (len)
        *len = 0;
    if (!d)
        return LLAMAC_E_INVALID_ARG;
    const llamac_tokenizer *v = d->tok;
    if (id < 0 || id >= v->n_vocab)
        return LLAMAC_E_TOKEN;
    if ((d->flags & LLAMAC_DECODE_SKIP_SPECIAL) && v->kind[id] == LC_TOK_SPECIAL)
        return feed(d, NULL, 0, 0, text, len);
    return feed(d, (const uint8_t *)v->bytes + v->off[id], v->len[id], 0, text, len);
}

llamac_status llamac_detokenizer_flush(llamac_detokenizer *d, const char **text, size_t *len)
{
    if (text)
        *text = "";
    if (len)
        *len = 0;
    if (!d)
        return LLAMAC_E_INVALID_ARG;
    return feed(d, NULL, 0, 1, text, len);
}
