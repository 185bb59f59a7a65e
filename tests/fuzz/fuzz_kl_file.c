/*
 * fuzz_kl_file.c — libFuzzer target for the log-probability file reader (src/eval/kl_file.c, format in
 * kl_file.h): any input must be accepted or refused with a status, never crash, read out of bounds, allocate
 * more than the input's length or loop. Not part of `make test`; with clang and libFuzzer (Debian: clang):
 *
 *     clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc \
 *         tests/fuzz/fuzz_kl_file.c src/eval/kl_file.c src/util/err.c -lm -o /tmp/fuzz_kl_file
 *     /tmp/fuzz_kl_file -max_total_time=60 [CORPUS_DIR]
 *
 * The whole reader runs on the input (through fmemopen): header, tokens, then every record, each checked the
 * way a KL run checks it. A good seed is a small file made by `llamac perplexity -m MODEL -f TEXT --ctx 8
 * --kl-base seed.kllp` with a small-vocabulary model.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "eval/kl_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0; /* fmemopen refuses an empty buffer */
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f)
        return 0;
    lc_kl_reader r;
    lc_err e;
    if (lc_kl_reader_open_stream(&r, f, size, "fuzz", &e) != LLAMAC_OK)
        return 0;
    if (r.h.file_bytes != size || r.h.n_tokens * 4 > size || (uint64_t)r.h.record_bytes > size)
        abort(); /* accepted but inconsistent with the input */
    for (uint64_t i = 0; i < r.h.n_tokens; i++)
        if (r.tokens[i] < 0 || r.tokens[i] >= (int32_t)r.h.n_vocab)
            abort();
    uint16_t *codes = malloc((size_t)r.h.n_vocab * sizeof *codes);
    lc_lp_record rec;
    while (codes && lc_kl_reader_next(&r, &rec, codes, &e) == LLAMAC_OK)
        if (!isfinite(rec.nll) || rec.top < 0 || rec.top >= (int32_t)r.h.n_vocab)
            abort();
    free(codes);
    lc_kl_reader_close(&r);
    return 0;
}
