/*
 * fuzz_kv_snapshot.c — libFuzzer target for the KV snapshot parser (src/core/kv_snapshot.c): any input must be
 * accepted or refused with a status, never crash, read out of bounds or overflow. Built and run by `make fuzz`
 * (`scripts/fuzz.sh 60 fuzz_kv_snapshot` for this one; docs/QUALITY.md).
 *
 * The expected shape is a small model's (2 layers, 2 KV heads of 8, 64 tokens, n_ctx 64), so well-formed
 * snapshots are short enough for the fuzzer to build; both KV types are tried on every input.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/kv_snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int32_t tokens[64];
    for (uint32_t kv_type = 0; kv_type < 2; kv_type++) {
        const lc_kv_snapshot_shape want = {2, 2, 8, 64, kv_type};
        lc_kv_snapshot sn;
        lc_err e;
        llamac_status st = lc_kv_snapshot_parse(data, size, &want, 64, &sn, tokens, &e);
        if (st == LLAMAC_OK && (sn.file_bytes != size || sn.n_pos > 64 || sn.data_offset > size))
            abort(); /* accepted but inconsistent */
    }
    return 0;
}
