/*
 * tok_test.h — tiny helpers shared by the tokenizer tests (tests/c/test_tok_*.c), on top of check.h: a
 * deterministic random generator, UTF-8 encoding, loading the reference vocabularies from $LLAMAC_SHARED/data.
 */
#ifndef TOK_TEST_H
#define TOK_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llamac.h"
#include "check.h"

static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline size_t put_utf8(uint32_t c, char *o)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 63));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 63));
        o[2] = (char)(0x80 | (c & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 63));
    o[2] = (char)(0x80 | ((c >> 6) & 63));
    o[3] = (char)(0x80 | (c & 63));
    return 4;
}

static inline const char *shared_path(const char *name, char *buf, size_t size)
{
    const char *dir = getenv("LLAMAC_SHARED");
    snprintf(buf, size, "%s/data/%s", dir ? dir : "../shared", name);
    return buf;
}

static inline llamac_tokenizer *load_shared(const char *name)
{
    char path[1024], err[600];
    llamac_tokenizer *tok = NULL;
    llamac_status st = llamac_tokenizer_load(shared_path(name, path, sizeof path), &tok, err, sizeof err);
    CHECK(st == LLAMAC_OK, "cannot load %s: %s", path, err);
    return tok;
}

#endif
