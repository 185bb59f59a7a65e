/*
 * pretok.c — the Llama 3 pre-tokenizer, a hand-written matcher for Meta's pattern
 *
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *
 * with the semantics of a backtracking engine (alternatives tried left to right, first success wins), which
 * reduces to these rules at a position i (c0 = the character at i):
 *   1. c0 = '\'' and then s|t|m|d|re|ve|ll in any case (s also matching U+017F, as Unicode case folding
 *      does): the contraction.
 *   2. c0 is a letter: the letter run. c0 is not a letter, number, CR or LF and the next character is a
 *      letter: c0 plus the letter run after it.
 *   3. c0 is a number: up to three numbers.
 *   4. c0 is "other" (not \s, letter, number), or c0 = ' ' followed by "other": the run of "other" characters
 *      (after the optional space), then any CR/LF bytes.
 *   5. c0 is whitespace: take the whitespace run [i, j). If it holds a CR or LF, the match ends after the last
 *      one (\s*[\r\n]+). Else if j is the end of the text, or the run is one character, the whole run; else
 *      the run minus its last character, which then prefixes the next piece (\s+(?!\S)).
 * Every position matches something, so pieces tile the input. Invalid UTF-8 bytes are single "other"
 * characters (unicode.h). tests/c/test_tok_pretok.c checks this matcher against PCRE2 running the pattern.
 */
#include "tok/tok.h"

static const uint8_t ascii_cls[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
};

/* Class of the character at s[i] (i < n); *cp = its code point (0xFFFFFFFF for an invalid byte), *len its
 * length in bytes. */
static inline int char_at(const lc_uclass_table *t, const uint8_t *s, size_t n, size_t i, uint32_t *cp,
                          size_t *len)
{
    uint8_t b = s[i];
    if (b < 0x80) {
        *cp = b;
        *len = 1;
        return ascii_cls[b];
    }
    uint32_t c;
    int need, incomplete;
    int l = lc_utf8_decode(s + i, n - i, &c, &need, &incomplete);
    if (!l) {
        *cp = 0xFFFFFFFFu;
        *len = 1;
        return LC_UC_O;
    }
    *cp = c;
    *len = (size_t)l;
    return lc_uclass_of(t, c);
}

/* End of the run of characters of class cls starting at i. */
static inline size_t run_of(const lc_uclass_table *t, const uint8_t *s, size_t n, size_t i, int cls)
{
    while (i < n) {
        uint8_t b = s[i];
        if (b < 0x80) {
            if (ascii_cls[b] != cls)
                break;
            i++;
            continue;
        }
        uint32_t cp;
        size_t len;
        if (char_at(t, s, n, i, &cp, &len) != cls)
            break;
        i += len;
    }
    return i;
}

size_t lc_pretok_next(const lc_uclass_table *t, const uint8_t *s, size_t n, size_t i)
{
    uint32_t c0, c1;
    size_t l0, l1;
    int k0 = char_at(t, s, n, i, &c0, &l0);

    /* 1. contractions */
    if (c0 == '\'' && i + 1 < n) {
        uint8_t a = s[i + 1] | 0x20; /* lower-cases ASCII letters; cannot turn a non-letter into one of these */
        if (a == 's' || a == 't' || a == 'm' || a == 'd')
            return i + 2;
        if (i + 2 < n) {
            uint8_t b = s[i + 2] | 0x20;
            if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
                return i + 3;
            if (s[i + 1] == 0xC5 && s[i + 2] == 0xBF) /* U+017F LATIN SMALL LETTER LONG S folds to 's' */
                return i + 3;
        }
    }
    /* 2. [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (k0 == LC_UC_L)
        return run_of(t, s, n, i + l0, LC_UC_L);
    if (k0 != LC_UC_N && c0 != '\r' && c0 != '\n' && i + l0 < n &&
        char_at(t, s, n, i + l0, &c1, &l1) == LC_UC_L)
        return run_of(t, s, n, i + l0 + l1, LC_UC_L);
    /* 3. \p{N}{1,3} */
    if (k0 == LC_UC_N) {
        size_t j = i + l0;
        for (int count = 1; count < 3 && j < n; count++) {
            if (char_at(t, s, n, j, &c1, &l1) != LC_UC_N)
                break;
            j += l1;
        }
        return j;
    }
    /* 4. " ?[^\s\p{L}\p{N}]+[\r\n]*" */
    size_t j = 0;
    if (k0 == LC_UC_O)
        j = i + l0;
    else if (c0 == ' ' && i + 1 < n && char_at(t, s, n, i + 1, &c1, &l1) == LC_UC_O)
        j = i + 1 + l1;
    if (j) {
        j = run_of(t, s, n, j, LC_UC_O);
        while (j < n && (s[j] == '\r' || s[j] == '\n'))
            j++;
        return j;
    }
    /* 5. whitespace: \s*[\r\n]+ | \s+(?!\S) | \s+ */
    size_t last_nl = (size_t)-1, last_start = i;
    j = i;
    while (j < n) {
        uint8_t b = s[j];
        if (b < 0x80) {
            if (ascii_cls[b] != LC_UC_S)
                break;
            if (b == '\r' || b == '\n')
                last_nl = j;
            last_start = j++;
            continue;
        }
        if (char_at(t, s, n, j, &c1, &l1) != LC_UC_S)
            break;
        last_start = j;
        j += l1;
    }
    if (last_nl != (size_t)-1)
        return last_nl + 1;
    if (j == n || last_start == i)
        return j;
    return last_start;
}
