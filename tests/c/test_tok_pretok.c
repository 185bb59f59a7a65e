/*
 * test_tok_pretok.c — the hand-written pre-tokenizer (src/tok/pretok.c) against PCRE2 running Meta's regex.
 *
 * PCRE2 is the independent oracle: its \p{L} / \p{N} tables come from its own Unicode data, and it runs the
 * Llama 3 pattern with backtracking. The only rewrite: `\s` is spelled out as the White_Space property (what
 * Meta's tiktoken regex means), because PCRE2's own \s differs from it at U+180E. Checks:
 *   1. every code point's class (L, N, other) equals PCRE2's \p{L} / \p{N};
 *   2. every code point in a few contexts (after an apostrophe, between letters, after a space, ...) splits
 *      identically;
 *   3. 200k random strings over a mix of tricky characters split identically.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tok/tok.h"
#include "tok_test.h"

#define WS "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
static const char PATTERN[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^" WS
                              "\\p{L}\\p{N}]+[\\r\\n]*|[" WS "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+";

static pcre2_code *g_re, *g_letter, *g_number;
static pcre2_match_data *g_md;
static const lc_uclass_table *g_t;

static pcre2_code *compile(const char *p)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)p, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        fprintf(stderr, "pcre2_compile at %zu: %s\n", (size_t)off, (char *)msg);
        exit(1);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

static void show_str(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%02X ", (unsigned char)s[i]);
}

/* Compares the full split of s[0..n) by both matchers. */
static void compare(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        int rc = pcre2_match(g_re, (PCRE2_SPTR)s, n, i, PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, g_md, NULL);
        size_t want = rc >= 0 ? pcre2_get_ovector_pointer(g_md)[1] : (size_t)-1;
        size_t got = lc_pretok_next(g_t, (const uint8_t *)s, n, i);
        CHECK(got == want, "split differs at byte %zu: ours ends at %zu, PCRE2 at %zd", i, got, (ssize_t)want);
        if (got != want) {
            if (g_fail <= CHECK_MAX_SHOWN) {
                fprintf(stderr, "   input: ");
                show_str(s, n);
                fputc('\n', stderr);
            }
            return;
        }
        i = got;
    }
}

static int pcre_is(pcre2_code *re, uint32_t cp)
{
    char buf[4];
    size_t n = put_utf8(cp, buf);
    return pcre2_match(re, (PCRE2_SPTR)buf, n, 0, PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, g_md, NULL) >= 0;
}

static const uint32_t TRICKY[] = {
    'a', 'B', 'z', 's', 'S', 't', 'T', 'r', 'R', 'e', 'E', 'v', 'V', 'm', 'M', 'l', 'L', 'd', 'D', '\'', '\'',
    '0', '7', '9', ' ', ' ', ' ', '\t', '\n', '\r', '\v', '\f', '.', ',', '!', '(', '<', '|', '_', '-', '"',
    0x17F, 0x212A, 0xA0, 0x3000, 0x2028, 0x2029, 0x85, 0xFEFF, 0x180E, 0x200B, 0x200D, 0x1680, 0x2003, 0x202F,
    0x301, 0x308, 0x9BE, 0x94D, 0x0E31, 0xE9, 0x1EC7, 0x4E2D, 0x6587, 0xAC00, 0x3042, 0x30AB, 0x0627, 0x05D0,
    0x0915, 0x0E01, 0x1780, 0x17B6, 0x0660, 0x0669, 0xBD, 0x2167, 0x2463, 0x1F600, 0x1F468, 0x1F3FD, 0xFE0F,
    0x1F1FA, 0x10400, 0x20000, 0xE000, 0xFFFD, 0x10FFFF, 0x0, 0x7F, 0x1C, 0x1F,
};

int main(void)
{
    g_t = lc_uclass_get();
    g_re = compile(PATTERN);
    g_letter = compile("\\p{L}");
    g_number = compile("\\p{N}");
    g_md = pcre2_match_data_create(4, NULL);
    printf("our Unicode tables: %s\n", lc_unicode_version);

    /* 1. classes */
    int class_diffs = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        int ours = lc_uclass_of(g_t, cp);
        int want = pcre_is(g_letter, cp) ? LC_UC_L : pcre_is(g_number, cp) ? LC_UC_N : -1;
        if (want < 0 && ours != LC_UC_L && ours != LC_UC_N)
            continue;
        CHECK(ours == want, "U+%04X: class %d, PCRE2 says %d", cp, ours, want);
        class_diffs += ours != want;
    }
    printf("classes compared for all code points: %d differences\n", class_diffs);

    /* 2. every code point in context */
    static const char *const ctx[][2] = {{"'", "x"}, {"a", "b"}, {" ", "a"}, {"a ", " 1"}, {"1", "22"},
                                         {"\n", " x"}, {"", "  a"}, {"'", ""}, {".", "'s"}};
    char buf[64];
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        for (size_t k = 0; k < sizeof ctx / sizeof ctx[0]; k++) {
            size_t n = 0;
            n += (size_t)sprintf(buf + n, "%s", ctx[k][0]);
            n += put_utf8(cp, buf + n);
            n += put_utf8(cp, buf + n);
            n += (size_t)sprintf(buf + n, "%s", ctx[k][1]);
            compare(buf, n);
        }
    }

    /* 3. random strings */
    uint64_t seed = 42;
    const size_t n_tricky = sizeof TRICKY / sizeof TRICKY[0];
    char s[512];
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = 0, len = 1 + rng_next(&seed) % 40;
        for (size_t k = 0; k < len; k++) {
            uint64_t r = rng_next(&seed);
            uint32_t cp;
            if (r % 8 == 0) {
                do
                    cp = (uint32_t)(rng_next(&seed) % 0x110000);
                while (cp >= 0xD800 && cp <= 0xDFFF);
            } else {
                cp = TRICKY[(r >> 8) % n_tricky];
            }
            n += put_utf8(cp, s + n);
        }
        compare(s, n);
    }
    pcre2_match_data_free(g_md);
    pcre2_code_free(g_re);
    pcre2_code_free(g_letter);
    pcre2_code_free(g_number);
    return check_finish("test_tok_pretok");
}
