/*
 * test_tok_bpe.c — BPE merging and hostile inputs.
 *   1. lc_bpe_piece (array path for short pieces, list + heap for long ones) against a naive tiktoken loop
 *      (repeatedly merge the leftmost adjacent pair whose concatenation has the lowest rank) on 3000 random
 *      pieces of 2..600 bytes, with the rank-derived rules of tokenizer.model; the merges of tokenizer.json
 *      must give the same ids.
 *   2. Hostile inputs (megabytes without spaces, of digits, of whitespace, of invalid UTF-8, of emoji or
 *      combining marks): encoding finishes, decodes back to the exact bytes, and both sources agree.
 *      Times are printed, not asserted.
 */
#include <time.h>

#include "tok/tok.h"
#include "tok_test.h"

static llamac_tokenizer *g_model, *g_json;

static size_t naive_bpe(const lc_vocab *v, const uint8_t *s, size_t n, int32_t *out)
{
    int32_t whole = lc_vocab_find(v, s, n);
    if (whole >= 0) {
        out[0] = whole;
        return 1;
    }
    size_t *start = malloc((n + 1) * sizeof *start), m = n; /* part k = s[start[k] .. start[k+1]) */
    for (size_t k = 0; k <= n; k++)
        start[k] = k;
    for (;;) {
        int32_t best = -1;
        size_t at = 0;
        for (size_t k = 0; k + 1 < m; k++) {
            int32_t id = lc_vocab_find(v, s + start[k], start[k + 2] - start[k]);
            if (id >= 0 && (best < 0 || id < best)) { /* rank == id in tokenizer.model */
                best = id;
                at = k;
            }
        }
        if (best < 0)
            break;
        memmove(start + at + 1, start + at + 2, (m - at - 1) * sizeof *start);
        m--;
    }
    for (size_t k = 0; k < m; k++)
        out[k] = lc_vocab_find(v, s + start[k], start[k + 1] - start[k]);
    free(start);
    return m;
}

static void random_piece(uint64_t *seed, uint8_t *buf, size_t n)
{
    static const char *const words[] = {"the", " the", "ing", "tion", "aa", "ab", "ba", "ー", "的", "😀", "\xCC\x81",
                                        "é", "ö", "ный", "ال", "123", "  ", "\n", "::", "=>", "x"};
    int kind = (int)(rng_next(seed) % 5);
    size_t i = 0;
    while (i < n) {
        uint64_t r = rng_next(seed);
        if (kind == 0) {
            buf[i++] = "ab"[r % 2];
        } else if (kind == 1) {
            buf[i++] = (uint8_t)('a' + r % 26);
        } else if (kind == 2) {
            buf[i++] = (uint8_t)r;
        } else {
            const char *w = words[r % (sizeof words / sizeof words[0])];
            for (size_t k = 0; w[k] && i < n; k++)
                buf[i++] = (uint8_t)w[k];
        }
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void hostile(const char *name, const char *s, size_t n)
{
    llamac_tokens a = {0}, b = {0};
    double t0 = now();
    llamac_status sa = llamac_tokenize(g_model, s, n, 0, &a);
    double t1 = now();
    llamac_status sb = llamac_tokenize(g_json, s, n, 0, &b);
    CHECK(sa == LLAMAC_OK && sb == LLAMAC_OK, "%s: encode failed", name);
    CHECK(a.n == b.n && !memcmp(a.ids, b.ids, a.n * 4), "%s: the two sources disagree", name);
    llamac_text d = {0};
    CHECK(llamac_detokenize(g_model, a.ids, a.n, 0, &d) == LLAMAC_OK && d.n == n && !memcmp(d.data, s, n),
          "%s: decode does not give the input back", name);
    printf("  %-28s %8zu bytes -> %8zu ids in %7.1f ms\n", name, n, a.n, (t1 - t0) * 1e3);
    llamac_text_free(&d);
    llamac_tokens_free(&a);
    llamac_tokens_free(&b);
}

int main(void)
{
    g_model = load_shared("llama3_tokenizer.model");
    g_json = load_shared("llama3_hf_tokenizer.json");
    if (!g_model || !g_json)
        return check_finish("test_tok_bpe");

    uint64_t seed = 7;
    uint8_t *buf = malloc(1 << 16);
    int32_t *want = malloc((1 << 16) * sizeof *want);
    lc_bpe_scratch scratch = {NULL, 0};
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = 2 + rng_next(&seed) % (iter < 2000 ? 100 : 600);
        random_piece(&seed, buf, n);
        size_t nw = naive_bpe(g_model, buf, n, want);
        llamac_tokens got = {0}, got_json = {0};
        lc_bpe_piece(g_model, buf, n, &scratch, &got);
        lc_bpe_piece(g_json, buf, n, &scratch, &got_json);
        CHECK(got.n == nw && !memcmp(got.ids, want, nw * 4), "piece %d (%zu bytes): %zu ids, naive %zu", iter, n,
              got.n, nw);
        CHECK(got_json.n == got.n && !memcmp(got_json.ids, got.ids, got.n * 4),
              "piece %d (%zu bytes): merges and ranks disagree", iter, n);
        llamac_tokens_free(&got);
        llamac_tokens_free(&got_json);
    }
    free(scratch.mem);
    free(buf);
    free(want);

    printf("hostile inputs:\n");
    const size_t MB = 1 << 20;
    char *s = malloc(4 * MB);
    memset(s, 'a', 4 * MB);
    hostile("4 MiB of 'a'", s, 4 * MB);
    for (size_t i = 0; i < 2 * MB; i++)
        s[i] = (char)('a' + rng_next(&seed) % 26);
    hostile("2 MiB of random letters", s, 2 * MB);
    for (size_t i = 0; i < MB; i++)
        s[i] = (char)('0' + rng_next(&seed) % 10);
    hostile("1 MiB of digits", s, MB);
    memset(s, ' ', MB);
    hostile("1 MiB of spaces", s, MB);
    for (size_t i = 0; i < MB; i += 2)
        memcpy(s + i, "\r\n", 2);
    hostile("1 MiB of CRLF", s, MB);
    memset(s, 0xFF, MB);
    hostile("1 MiB of 0xFF", s, MB);
    for (size_t i = 0; i < MB; i++)
        s[i] = (char)(rng_next(&seed) | 0x80);
    hostile("1 MiB of random high bytes", s, MB);
    for (size_t i = 0; i + 4 <= MB; i += 4)
        memcpy(s + i, "\xF0\x9F\x98\x80", 4);
    hostile("1 MiB of emoji", s, MB);
    memcpy(s, "e", 1);
    for (size_t i = 1; i + 2 <= MB; i += 2)
        memcpy(s + i, "\xCC\x81", 2);
    hostile("1 MiB of combining marks", s, MB - 1);
    for (size_t i = 0; i < MB; i++)
        s[i] = (char)rng_next(&seed);
    hostile("1 MiB of random bytes", s, MB);
    memset(s, '\'', MB);
    hostile("1 MiB of apostrophes", s, MB);
    free(s);
    llamac_tokenizer_free(g_model);
    llamac_tokenizer_free(g_json);
    return check_finish("test_tok_bpe");
}
