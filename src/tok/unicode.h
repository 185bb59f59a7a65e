/*
 * unicode.h — character classes of the Llama 3 pre-tokenizer and strict UTF-8 decoding.
 *
 * Every code point has exactly one class: L (\p{L}), N (\p{N}), S (White_Space, the `\s` of Meta's regex) or
 * O (anything else). The classes come from the generated ranges in unicode_tables.c (Unicode version in
 * lc_unicode_version) and are looked up through a two-stage table built once per process (lc_uclass_get;
 * immutable afterwards, so lookups are thread-safe).
 *
 * Invalid UTF-8: lc_utf8_decode reads one well-formed sequence (no overlongs, no surrogates, <= U+10FFFF);
 * anything else is reported as an invalid single byte, which the pre-tokenizer treats as a class-O character.
 */
#ifndef LC_TOK_UNICODE_H
#define LC_TOK_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum { LC_UC_O = 0, LC_UC_L = 1, LC_UC_N = 2, LC_UC_S = 3 };

typedef struct lc_uclass_range {
    uint32_t first, last;
    uint8_t cls;
} lc_uclass_range;

extern const char lc_unicode_version[];
extern const lc_uclass_range lc_uclass_ranges[];
extern const int lc_uclass_n_ranges;

/* Two-stage table: class of cp = block[stage1[cp >> 8]][cp & 255], for cp < 0x110000. */
typedef struct lc_uclass_table {
    uint16_t stage1[0x110000 >> 8];
    const uint8_t (*block)[256];
} lc_uclass_table;

/* The process-wide table (built on first use, in static storage; never NULL). */
const lc_uclass_table *lc_uclass_get(void);

static inline int lc_uclass_of(const lc_uclass_table *t, uint32_t cp)
{
    return t->block[t->stage1[cp >> 8]][cp & 255];
}

/* Decodes the sequence at s[0..n) (n >= 1). Returns its length (1..4) and sets *cp; returns 0 if the bytes are
 * not a well-formed sequence. *need is then the length of the maximal valid prefix (>= 1; the bytes that one
 * U+FFFD replaces) and *incomplete is 1 when that prefix reaches s[n] (more bytes could still complete it). */
static inline int lc_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp, int *need, int *incomplete)
{
    uint8_t b0 = s[0];
    int len;
    uint32_t c;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
        c = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        c = b0 & 0x0F;
        if (b0 == 0xE0)
            lo = 0xA0;
        else if (b0 == 0xED)
            hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        c = b0 & 0x07;
        if (b0 == 0xF0)
            lo = 0x90;
        else if (b0 == 0xF4)
            hi = 0x8F;
    } else {
        *need = 1;
        *incomplete = 0;
        return 0;
    }
    for (int k = 1; k < len; k++) {
        if ((size_t)k >= n) {
            *need = k;
            *incomplete = 1;
            return 0;
        }
        uint8_t b = s[k];
        if (b < lo || b > hi) {
            *need = k;
            *incomplete = 0;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
        c = (c << 6) | (b & 0x3F);
    }
    *cp = c;
    return len;
}

#endif
