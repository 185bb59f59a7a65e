/*
 * kv_api.c — the public sequence and KV cache calls of include/llamac.h (llamac_seq_*, llamac_kv_*): argument
 * checks and messages; the work is done by kv_cache.c. Snapshots (llamac_seq_save/load) are in kv_file.c.
 */
#include <string.h>

#include "core/context.h"

static llamac_status check_seq(llamac_context *c, int seq, const char *fn)
{
    if (seq < 0 || seq >= c->params.n_seq_max)
        return lc_fail(&c->err, LLAMAC_E_INVALID_ARG, "%s: sequence %d is not in 0..%d", fn, seq,
                       c->params.n_seq_max - 1);
    return LLAMAC_OK;
}

int llamac_seq_len(const llamac_context *c, int seq)
{
    if (!c || seq < 0 || seq >= c->params.n_seq_max)
        return 0;
    return c->kv.seq[seq].len;
}

llamac_status llamac_seq_truncate(llamac_context *c, int seq, int n_keep)
{
    if (!c)
        return LLAMAC_E_INVALID_ARG;
    llamac_status st = check_seq(c, seq, "llamac_seq_truncate");
    if (st)
        return st;
    if (n_keep < 0)
        return lc_fail(&c->err, LLAMAC_E_INVALID_ARG, "llamac_seq_truncate: n_keep %d is negative", n_keep);
    lc_kv_truncate(&c->kv, seq, n_keep);
    return LLAMAC_OK;
}

llamac_status llamac_seq_remove(llamac_context *c, int seq, int p0, int p1)
{
    if (!c)
        return LLAMAC_E_INVALID_ARG;
    llamac_status st = check_seq(c, seq, "llamac_seq_remove");
    if (st)
        return st;
    if (p0 < 0 || (p1 >= 0 && p1 < p0))
        return lc_fail(&c->err, LLAMAC_E_INVALID_ARG, "llamac_seq_remove: range %d..%d is not valid", p0, p1);
    const int len = c->kv.seq[seq].len;
    if (p0 >= len || p1 == p0)
        return LLAMAC_OK;
    if (p1 < 0 || p1 >= len) {
        lc_kv_truncate(&c->kv, seq, p0);
        return LLAMAC_OK;
    }
    return lc_kv_remove(&c->kv, seq, p0, p1, &c->err);
}

llamac_status llamac_seq_copy(llamac_context *c, int src, int dst, int n_pos)
{
    if (!c)
        return LLAMAC_E_INVALID_ARG;
    llamac_status st = check_seq(c, src, "llamac_seq_copy");
    if (!st)
        st = check_seq(c, dst, "llamac_seq_copy");
    if (st)
        return st;
    const int len = c->kv.seq[src].len;
    if (n_pos < 0)
        n_pos = len;
    if (n_pos > len)
        return lc_fail(&c->err, LLAMAC_E_INVALID_ARG, "llamac_seq_copy: %d positions requested but sequence %d has %d",
                       n_pos, src, len);
    lc_kv_copy(&c->kv, src, dst, n_pos);
    return LLAMAC_OK;
}

llamac_status llamac_seq_tokens(const llamac_context *c, int seq, int32_t *out, int n)
{
    if (!c || seq < 0 || seq >= c->params.n_seq_max || n < 0 || n > c->kv.seq[seq].len || (n > 0 && !out))
        return LLAMAC_E_INVALID_ARG;
    for (int p = 0; p < n; p++)
        out[p] = *lc_kv_token(&c->kv, seq, p);
    return LLAMAC_OK;
}

int llamac_seq_restore_prefix(llamac_context *c, int seq, const int32_t *tokens, int n_tokens)
{
    if (!c)
        return -LLAMAC_E_INVALID_ARG;
    if (check_seq(c, seq, "llamac_seq_restore_prefix"))
        return -LLAMAC_E_INVALID_ARG;
    if (n_tokens < 0 || (n_tokens > 0 && !tokens))
        return -lc_fail(&c->err, LLAMAC_E_INVALID_ARG, "llamac_seq_restore_prefix: no tokens (n_tokens %d)", n_tokens);
    const int len = c->kv.seq[seq].len;
    for (int p = 0; p < len && p < n_tokens; p++)
        if (*lc_kv_token(&c->kv, seq, p) != tokens[p])
            return -lc_fail(&c->err, LLAMAC_E_INVALID_ARG,
                            "llamac_seq_restore_prefix: token %d at position %d differs from the %d cached in "
                            "sequence %d",
                            tokens[p], p, *lc_kv_token(&c->kv, seq, p), seq);
    return lc_kv_restore(&c->kv, seq, tokens, n_tokens);
}

void llamac_kv_clear(llamac_context *c)
{
    if (c)
        lc_kv_clear(&c->kv);
}

void llamac_kv_get_stats(const llamac_context *c, llamac_kv_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!c)
        return;
    const lc_kv_pool *p = &c->kv.pool;
    out->block_size = p->block_size;
    out->n_blocks = p->n_blocks;
    out->n_used = p->n_used;
    out->n_cached = p->n_cached;
    out->n_free = p->n_free;
    for (int s = 0; s < c->kv.n_seq; s++)
        out->n_positions += c->kv.seq[s].len;
    out->block_bytes = p->block_bytes;
    out->resident_bytes = (uint64_t)p->n_resident * p->block_bytes;
    out->prefix_hits = p->prefix_hits;
    out->prefix_tokens = p->prefix_tokens;
}
