/*
 * answer_text.c — the text of one answer as it is generated, and what of it may be streamed.
 *
 * Three views are kept: raw (special tokens as text, what tool-call parsing reads), plain (without special
 * tokens) and content (plain made valid UTF-8: what is streamed and stored). Text is released from plain into
 * content only when it is certain to be part of the answer as it will be shown:
 *   - never half a UTF-8 character (an incomplete sequence that may still be completed waits for the next token;
 *     bytes that can never be valid become U+FFFD, and so does NUL);
 *   - never text that might be the start of a stop string (the longest end of plain that is a proper prefix of
 *     one waits), and nothing from a matched stop string on;
 *   - nothing while the answer opens like a tool call (<|python_tag|>, '{', '[', '<function=') when calls are
 *     being detected: the session parses it at the end and either turns it into tool calls or releases it.
 * Invariant: content == valid_utf8(plain[0..released)), released <= cut when stopped, and the concatenation of
 * every released piece equals the final content (a cut is only ever made where the conversion is unaffected:
 * before an incomplete sequence, or at the first byte of a stop string, which is never a continuation byte).
 */
#include <stdlib.h>
#include <string.h>

#include "session/session_internal.h"
#include "tok/unicode.h"

/* lc_buf_put, reporting a failure (the buffer then stays failed until it is freed). */
static llamac_status put(lc_buf *b, const void *s, size_t n)
{
    lc_buf_put(b, s, n);
    return b->oom ? LLAMAC_E_NOMEM : LLAMAC_OK;
}

static const char REPLACEMENT[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

/* Appends s[0..n) to out as valid UTF-8 without NUL. Returns the bytes consumed: all, unless final is 0 and s
 * ends with an incomplete sequence that may still become valid (left for later). (size_t)-1 when out of
 * memory. */
static size_t put_valid(lc_buf *out, const uint8_t *s, size_t n, int final)
{
    size_t i = 0, run = 0; /* s[i - run .. i) is valid text not yet copied */
    while (i < n) {
        if (s[i] != 0 && s[i] < 0x80) {
            i++, run++;
            continue;
        }
        uint32_t cp;
        int need = 1, incomplete = 0;
        int l = s[i] ? lc_utf8_decode(s + i, n - i, &cp, &need, &incomplete) : 0;
        if (l) {
            i += (size_t)l, run += (size_t)l;
            continue;
        }
        if (incomplete && !final)
            break;
        if (put(out, s + i - run, run) || put(out, REPLACEMENT, 3))
            return (size_t)-1;
        run = 0;
        i += (size_t)need;
    }
    if (put(out, s + i - run, run))
        return (size_t)-1;
    return i;
}

void lc_text_free(lc_answer_text *t)
{
    lc_buf_free(&t->raw);
    lc_buf_free(&t->plain);
    lc_buf_free(&t->content);
    free(t->offs);
    for (int i = 0; i < t->n_stop; i++)
        free(t->stop[i]);
    memset(t, 0, sizeof *t);
}

llamac_status lc_text_begin(lc_answer_text *t, const llamac_tokenizer *tok, const char *const *stop, int n_stop,
                            int detect_calls)
{
    for (int i = 0; i < t->n_stop; i++)
        free(t->stop[i]);
    t->n_stop = 0;
    t->max_stop = 0;
    t->raw.len = t->plain.len = t->content.len = 0;
    t->raw.oom = t->plain.oom = t->content.oom = 0; /* a new answer may try again */
    if (put(&t->raw, "", 0) || put(&t->plain, "", 0) || put(&t->content, "", 0))
        return LLAMAC_E_NOMEM;
    t->n_offs = 0;
    t->released = t->cut = 0;
    t->stopped = 0;
    t->tok = tok;
    t->detect_calls = detect_calls;
    t->hold = detect_calls ? LC_HOLD_MAYBE : LC_HOLD_NONE;
    for (int i = 0; i < n_stop && i < LLAMAC_MAX_STOP; i++) {
        size_t len = strlen(stop[i]);
        if (!(t->stop[i] = malloc(len + 1)))
            return LLAMAC_E_NOMEM;
        memcpy(t->stop[i], stop[i], len + 1);
        t->stop_len[i] = len;
        t->n_stop = i + 1;
        if (len > t->max_stop)
            t->max_stop = len;
    }
    return LLAMAC_OK;
}

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

static int is_ident(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

/* Is raw the opening of a tool call? LC_HOLD_CALL: certainly an attempt; LC_HOLD_MAYBE: cannot tell yet;
 * LC_HOLD_NONE: certainly not (the text is released from then on). */
static int classify(const char *s, size_t n)
{
    static const char tag[] = "<|python_tag|>", fn[] = "<function=";
    size_t i = 0;
    while (i < n && is_space(s[i]))
        i++;
    s += i, n -= i;
    if (n == 0)
        return LC_HOLD_MAYBE;
    if (s[0] == '<') {
        size_t k1 = sizeof tag - 1, k2 = sizeof fn - 1;
        if ((n >= k1 && !memcmp(s, tag, k1)) || (n >= k2 && !memcmp(s, fn, k2)))
            return LC_HOLD_CALL;
        if ((n < k1 && !memcmp(s, tag, n)) || (n < k2 && !memcmp(s, fn, n)))
            return LC_HOLD_MAYBE;
        return LC_HOLD_NONE;
    }
    if (s[0] != '{' && s[0] != '[')
        return LC_HOLD_NONE;
    i = 1;
    while (i < n && is_space(s[i]))
        i++;
    if (i == n)
        return LC_HOLD_MAYBE;
    if (s[0] == '{') /* a JSON object starts with a key */
        return s[i] == '"' ? LC_HOLD_CALL : LC_HOLD_NONE;
    if (s[i] == '{') /* [ {...}, ... ] */
        return LC_HOLD_CALL;
    if (!is_ident(s[i], 1)) /* [ name( ... ) ] */
        return LC_HOLD_NONE;
    while (i < n && is_ident(s[i], 0))
        i++;
    while (i < n && is_space(s[i]))
        i++;
    if (i == n)
        return LC_HOLD_MAYBE;
    return s[i] == '(' ? LC_HOLD_CALL : LC_HOLD_NONE;
}

/* Releases plain[released..limit) into content. */
static llamac_status release(lc_answer_text *t, size_t limit, int final)
{
    if (limit <= t->released)
        return LLAMAC_OK;
    size_t used = put_valid(&t->content, (const uint8_t *)t->plain.p + t->released, limit - t->released, final);
    if (used == (size_t)-1)
        return LLAMAC_E_NOMEM;
    t->released += used;
    return LLAMAC_OK;
}

/* The longest end of plain that is a proper prefix of a stop string. */
static size_t stop_prefix_len(const lc_answer_text *t)
{
    size_t best = 0;
    for (int i = 0; i < t->n_stop; i++) {
        size_t k = t->stop_len[i] - 1;
        if (k > t->plain.len)
            k = t->plain.len;
        for (; k > best; k--)
            if (!memcmp(t->plain.p + t->plain.len - k, t->stop[i], k)) {
                best = k;
                break;
            }
    }
    return best;
}

llamac_status lc_text_push(lc_answer_text *t, int32_t id)
{
    if (t->stopped)
        return LLAMAC_OK;
    size_t len = 0;
    const char *piece = t->tok ? llamac_token_piece(t->tok, id, &len) : NULL;
    if (!piece)
        return LLAMAC_OK; /* no vocabulary: ids only */
    if (t->n_offs == t->cap_offs) {
        size_t cap = t->cap_offs ? t->cap_offs * 2 : 64;
        lc_tok_off *o = realloc(t->offs, cap * sizeof *o);
        if (!o)
            return LLAMAC_E_NOMEM;
        t->offs = o;
        t->cap_offs = cap;
    }
    t->offs[t->n_offs].raw = t->raw.len;
    t->offs[t->n_offs].plain = t->plain.len;
    t->n_offs++;
    const size_t before = t->plain.len;
    if (put(&t->raw, piece, len))
        return LLAMAC_E_NOMEM;
    if (!llamac_token_is_special(t->tok, id) && put(&t->plain, piece, len))
        return LLAMAC_E_NOMEM;

    /* stop strings: a match can only involve the new bytes and the max_stop - 1 before them */
    if (t->n_stop && t->plain.len > before) {
        size_t from = before > t->max_stop - 1 ? before - (t->max_stop - 1) : 0;
        size_t best = SIZE_MAX;
        for (int i = 0; i < t->n_stop; i++) {
            const char *m = memmem(t->plain.p + from, t->plain.len - from, t->stop[i], t->stop_len[i]);
            if (m && (size_t)(m - t->plain.p) < best)
                best = (size_t)(m - t->plain.p);
        }
        if (best != SIZE_MAX) {
            t->stopped = 1;
            t->cut = best;
        }
    }
    if (t->hold == LC_HOLD_MAYBE)
        t->hold = classify(t->raw.p, t->raw.len);
    if (t->hold != LC_HOLD_NONE)
        return LLAMAC_OK;
    size_t limit = t->stopped ? t->cut : t->plain.len - stop_prefix_len(t);
    return release(t, limit, 0);
}

llamac_status lc_text_finish(lc_answer_text *t)
{
    t->hold = LC_HOLD_NONE;
    return release(t, t->stopped ? t->cut : t->plain.len, 1);
}

size_t lc_text_raw_end(const lc_answer_text *t)
{
    if (!t->stopped)
        return t->raw.len;
    /* the token whose plain bytes contain the cut (the last one starting at or before it that has any) */
    for (size_t k = t->n_offs; k-- > 0;) {
        size_t end = k + 1 < t->n_offs ? t->offs[k + 1].plain : t->plain.len;
        if (t->offs[k].plain <= t->cut && t->cut < end)
            return t->offs[k].raw + (t->cut - t->offs[k].plain);
    }
    return 0;
}
