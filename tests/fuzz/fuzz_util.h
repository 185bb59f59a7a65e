/*
 * fuzz_util.h — shared by the libFuzzer targets in tests/fuzz (header-only; each target is one executable).
 *
 * fuzz_tokenizer() loads a vocabulary once per process: $LLAMAC_FUZZ_VOCAB (a GGUF, tokenizer.json or
 * tokenizer.model, e.g. ../shared/data/llama3_hf_tokenizer.json for Meta's full vocabulary) or else the bundled
 * tiny model (LLAMAC_FUZZ_MODEL, set by tests/fuzz/CMakeLists.txt). FUZZ_CHECK aborts with a message: a broken
 * oracle is a finding like a crash.
 */
#ifndef LLAMAC_FUZZ_UTIL_H
#define LLAMAC_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llamac.h"

#define FUZZ_CHECK(cond, ...)                                                                                  \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            fprintf(stderr, "fuzz oracle failed (%s:%d): ", __FILE__, __LINE__);                               \
            fprintf(stderr, __VA_ARGS__);                                                                      \
            fputc('\n', stderr);                                                                               \
            abort();                                                                                           \
        }                                                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline const llamac_tokenizer *fuzz_tokenizer(void)
{
    static llamac_tokenizer *tok;
    if (!tok) {
        const char *path = getenv("LLAMAC_FUZZ_VOCAB");
        char err[512];
        if (!path || !*path)
            path = LLAMAC_FUZZ_MODEL;
        if (llamac_tokenizer_load(path, &tok, err, sizeof err) != LLAMAC_OK) {
            fprintf(stderr, "fuzz: cannot load the vocabulary %s: %s\n", path, err);
            abort();
        }
    }
    return tok;
}

/* 1 if s[0..n) is valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
static inline int fuzz_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

#endif
