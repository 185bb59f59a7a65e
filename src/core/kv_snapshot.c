/*
 * kv_snapshot.c — see kv_snapshot.h: the snapshot header and token ids, encoded and validated. Every size is
 * computed with overflow checks before it is compared with the file's length, so no field can make a reader
 * allocate or read past what the file holds.
 */
#include "core/kv_snapshot.h"

#include <string.h>

static const char k_magic[4] = {'L', 'L', 'K', 'V'};

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

uint32_t lc_kv_snapshot_elem(uint32_t kv_type)
{
    return kv_type == LLAMAC_KV_F32 ? 4 : kv_type == LLAMAC_KV_F16 ? 2 : 0;
}

uint64_t lc_kv_snapshot_file_bytes(const lc_kv_snapshot_shape *s, uint32_t n_pos)
{
    uint64_t data = lc_kv_snapshot_elem(s->kv_type), tokens;
    if (!data || __builtin_mul_overflow(data, (uint64_t)2 * s->n_layer, &data) ||
        __builtin_mul_overflow(data, (uint64_t)s->n_head_kv, &data) ||
        __builtin_mul_overflow(data, (uint64_t)s->head_dim, &data) ||
        __builtin_mul_overflow(data, (uint64_t)n_pos, &data) ||
        __builtin_add_overflow(data, (uint64_t)LC_KV_SNAPSHOT_HEADER + (uint64_t)n_pos * 4, &tokens))
        return 0;
    return tokens;
}

void lc_kv_snapshot_encode_header(uint8_t out[LC_KV_SNAPSHOT_HEADER], const lc_kv_snapshot_shape *s, uint32_t n_pos)
{
    memcpy(out, k_magic, 4);
    put_u32(out + 4, LC_KV_SNAPSHOT_VERSION);
    put_u32(out + 8, s->n_layer);
    put_u32(out + 12, s->n_head_kv);
    put_u32(out + 16, s->head_dim);
    put_u32(out + 20, s->n_vocab);
    put_u32(out + 24, s->kv_type);
    put_u32(out + 28, n_pos);
}

static llamac_status shape_field(const char *name, uint32_t got, uint32_t want, lc_err *e)
{
    if (got == want)
        return LLAMAC_OK;
    return lc_fail(e, LLAMAC_E_UNSUPPORTED, "KV snapshot: %s is %u but the model has %u (made with another model)",
                   name, got, want);
}

llamac_status lc_kv_snapshot_check_header(const uint8_t *hdr, size_t avail, uint64_t file_len,
                                          const lc_kv_snapshot_shape *want, int n_ctx, lc_kv_snapshot *out, lc_err *e)
{
    memset(out, 0, sizeof *out);
    if (avail < LC_KV_SNAPSHOT_HEADER || file_len < LC_KV_SNAPSHOT_HEADER)
        return lc_fail(e, LLAMAC_E_FORMAT, "KV snapshot: truncated: %llu bytes, less than the %u-byte header",
                       (unsigned long long)file_len, LC_KV_SNAPSHOT_HEADER);
    if (memcmp(hdr, k_magic, 4) != 0)
        return lc_fail(e, LLAMAC_E_FORMAT, "KV snapshot: bad magic (not an LLKV file)");
    out->version = get_u32(hdr + 4);
    lc_kv_snapshot_shape *s = &out->shape;
    s->n_layer = get_u32(hdr + 8);
    s->n_head_kv = get_u32(hdr + 12);
    s->head_dim = get_u32(hdr + 16);
    s->n_vocab = get_u32(hdr + 20);
    s->kv_type = get_u32(hdr + 24);
    out->n_pos = get_u32(hdr + 28);
    if (out->version != LC_KV_SNAPSHOT_VERSION)
        return lc_fail(e, LLAMAC_E_UNSUPPORTED,
                       "KV snapshot: version %u is not supported (this build reads version %u)", out->version,
                       LC_KV_SNAPSHOT_VERSION);
    llamac_status st;
    if ((st = shape_field("n_layer", s->n_layer, want->n_layer, e)) ||
        (st = shape_field("n_head_kv", s->n_head_kv, want->n_head_kv, e)) ||
        (st = shape_field("head_dim", s->head_dim, want->head_dim, e)) ||
        (st = shape_field("n_vocab", s->n_vocab, want->n_vocab, e)))
        return st;
    if (!lc_kv_snapshot_elem(s->kv_type))
        return lc_fail(e, LLAMAC_E_FORMAT, "KV snapshot: kv_type %u is not a KV cache type", s->kv_type);
    if (s->kv_type != want->kv_type)
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "KV snapshot: kv_type is %s but the context's cache is %s",
                       s->kv_type ? "f16" : "f32", want->kv_type ? "f16" : "f32");
    out->file_bytes = lc_kv_snapshot_file_bytes(s, out->n_pos);
    if (out->file_bytes == 0 || out->file_bytes != file_len)
        return lc_fail(e, LLAMAC_E_FORMAT,
                       "KV snapshot: n_pos %u needs a file of %llu bytes but it has %llu (truncated or corrupt)",
                       out->n_pos, (unsigned long long)out->file_bytes, (unsigned long long)file_len);
    if (out->n_pos > (uint32_t)n_ctx)
        return lc_fail(e, LLAMAC_E_CONTEXT_FULL, "KV snapshot: n_pos %u is more than the context's n_ctx %d",
                       out->n_pos, n_ctx);
    out->data_offset = LC_KV_SNAPSHOT_HEADER + (uint64_t)out->n_pos * 4;
    return LLAMAC_OK;
}

llamac_status lc_kv_snapshot_tokens(const uint8_t *bytes, uint32_t n_pos, uint32_t n_vocab, int32_t *out, lc_err *e)
{
    for (uint32_t i = 0; i < n_pos; i++) {
        uint32_t t = get_u32(bytes + (size_t)i * 4);
        if (t >= n_vocab)
            return lc_fail(e, LLAMAC_E_FORMAT,
                           "KV snapshot: token id %d at position %u is outside the vocabulary 0..%u", (int32_t)t, i,
                           n_vocab - 1);
        out[i] = (int32_t)t;
    }
    return LLAMAC_OK;
}

llamac_status lc_kv_snapshot_parse(const uint8_t *buf, size_t len, const lc_kv_snapshot_shape *want, int n_ctx,
                                   lc_kv_snapshot *out, int32_t *tokens, lc_err *e)
{
    llamac_status st = lc_kv_snapshot_check_header(buf, len, len, want, n_ctx, out, e);
    if (st)
        return st;
    return lc_kv_snapshot_tokens(buf + LC_KV_SNAPSHOT_HEADER, out->n_pos, want->n_vocab, tokens, e);
}
