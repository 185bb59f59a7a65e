/*
 * kv_snapshot.h — the KV snapshot file format of llamac_seq_save / llamac_seq_load (the I/O is in kv_file.c):
 * encoding the header, and validating a header and token ids read from a file or memory. No I/O, no context:
 * the parser can be fuzzed on its own (tests/fuzz/fuzz_kv_snapshot.c).
 *
 * Layout (all little-endian; u32 = 4-byte unsigned):
 *
 *     offset  0  "LLKV"                  magic
 *             4  u32 version             LC_KV_SNAPSHOT_VERSION
 *             8  u32 n_layer, n_head_kv, head_dim, n_vocab     the model's shape
 *            24  u32 kv_type             llamac_kv_type of the data (0 f32, 1 f16)
 *            28  u32 n_pos               positions saved
 *            32  i32 tokens[n_pos]       the token id at each position, each in 0..n_vocab-1
 *                K and V data: for layer l < n_layer, KV head h < n_head_kv: K rows [n_pos][head_dim], then V rows
 *                [n_pos][head_dim], in the kv_type's element type
 *
 * The file is exactly that long: anything else is refused.
 */
#ifndef LC_KV_SNAPSHOT_H
#define LC_KV_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define LC_KV_SNAPSHOT_VERSION 1u
#define LC_KV_SNAPSHOT_HEADER 32u

typedef struct lc_kv_snapshot_shape {
    uint32_t n_layer, n_head_kv, head_dim, n_vocab;
    uint32_t kv_type; /* llamac_kv_type */
} lc_kv_snapshot_shape;

typedef struct lc_kv_snapshot {
    lc_kv_snapshot_shape shape;
    uint32_t version;
    uint32_t n_pos;
    uint64_t data_offset; /* where the K/V data starts */
    uint64_t file_bytes;  /* the exact file length the header implies */
} lc_kv_snapshot;

/* Bytes of one element of kv_type's data (4 or 2), 0 for an unknown type. */
uint32_t lc_kv_snapshot_elem(uint32_t kv_type);
/* The whole file's length for a shape and n_pos; 0 if it overflows 64 bits or kv_type is unknown. */
uint64_t lc_kv_snapshot_file_bytes(const lc_kv_snapshot_shape *s, uint32_t n_pos);

/* Writes the 32-byte header. */
void lc_kv_snapshot_encode_header(uint8_t out[LC_KV_SNAPSHOT_HEADER], const lc_kv_snapshot_shape *s, uint32_t n_pos);

/* Validates a header (hdr: the first avail bytes of a file of file_len bytes) against the expected shape and a
 * context of n_ctx positions: LLAMAC_E_FORMAT for something that is not a well-formed snapshot (short, bad
 * magic, unknown KV type, a length that does not match), LLAMAC_E_UNSUPPORTED for another version or another
 * model shape or KV type, LLAMAC_E_CONTEXT_FULL for more positions than n_ctx; the message names the field. */
llamac_status lc_kv_snapshot_check_header(const uint8_t *hdr, size_t avail, uint64_t file_len,
                                          const lc_kv_snapshot_shape *want, int n_ctx, lc_kv_snapshot *out, lc_err *e);

/* Decodes n_pos little-endian token ids from bytes into out, refusing (LLAMAC_E_FORMAT) one outside
 * 0..n_vocab-1. */
llamac_status lc_kv_snapshot_tokens(const uint8_t *bytes, uint32_t n_pos, uint32_t n_vocab, int32_t *out, lc_err *e);

/* Both checks on a whole snapshot in memory (buf, len); tokens must have room for n_ctx ids. */
llamac_status lc_kv_snapshot_parse(const uint8_t *buf, size_t len, const lc_kv_snapshot_shape *want, int n_ctx,
                                   lc_kv_snapshot *out, int32_t *tokens, lc_err *e);

#endif
