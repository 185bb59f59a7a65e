/*
 * batch.c — building batches (llamac_batch_buf) and llamac_decode_tokens, the one routine that decodes a list of
 * tokens onto a sequence in chunks (prompt prefill, `llamac logits`, `llamac bench`, llamac_session_run).
 *
 * Chunks are the context's n_batch tokens (n_logits when every token's logits are wanted), starting at the
 * list's first token, so the batch index of the last token is (n - 1) % chunk. Decoding is bit-identical however
 * the list is split (docs/ARCHITECTURE.md, "Determinism"), so the chunk size only matters for speed.
 */
#include <stdlib.h>
#include <string.h>

#include "core/context.h"

llamac_status llamac_batch_buf_init(llamac_batch_buf *b, int32_t capacity)
{
    if (!b)
        return LLAMAC_E_INVALID_ARG;
    memset(b, 0, sizeof *b);
    if (capacity < 1)
        return LLAMAC_E_INVALID_ARG;
    size_t n = (size_t)capacity;
    b->tokens = malloc(n * sizeof *b->tokens);
    b->pos = malloc(n * sizeof *b->pos);
    b->seq_id = malloc(n * sizeof *b->seq_id);
    b->logits = malloc(n * sizeof *b->logits);
    if (!b->tokens || !b->pos || !b->seq_id || !b->logits) {
        llamac_batch_buf_free(b);
        return LLAMAC_E_NOMEM;
    }
    b->capacity = capacity;
    llamac_batch_buf_clear(b);
    return LLAMAC_OK;
}

void llamac_batch_buf_free(llamac_batch_buf *b)
{
    if (!b)
        return;
    free(b->tokens);
    free(b->pos);
    free(b->seq_id);
    free(b->logits);
    memset(b, 0, sizeof *b);
}

void llamac_batch_buf_clear(llamac_batch_buf *b)
{
    if (!b)
        return;
    b->batch.n_tokens = 0;
    b->batch.tokens = b->tokens;
    b->batch.pos = b->pos;
    b->batch.seq_id = b->seq_id;
    b->batch.logits = b->logits;
}

int32_t llamac_batch_buf_add(llamac_batch_buf *b, int32_t token, int32_t pos, int32_t seq_id, int want_logits)
{
    if (!b || b->batch.n_tokens >= b->capacity)
        return -1;
    int32_t i = b->batch.n_tokens++;
    b->tokens[i] = token;
    b->pos[i] = pos;
    b->seq_id[i] = seq_id;
    b->logits[i] = want_logits ? 1 : 0;
    return i;
}

llamac_status llamac_decode_tokens(llamac_context *ctx, int seq, const int32_t *tokens, int64_t n, int all_logits,
                                   llamac_logits_fn on_logits, void *user)
{
    if (!ctx)
        return LLAMAC_E_INVALID_ARG;
    if (seq < 0 || seq >= ctx->params.n_seq_max)
        return lc_fail(&ctx->err, LLAMAC_E_INVALID_ARG, "decode_tokens: sequence %d is not in 0..%d", seq,
                       ctx->params.n_seq_max - 1);
    if (n < 0 || (n > 0 && !tokens) || (all_logits && !on_logits))
        return lc_fail(&ctx->err, LLAMAC_E_INVALID_ARG, "decode_tokens: bad arguments");
    if (n == 0)
        return LLAMAC_OK;
    const int start = llamac_seq_len(ctx, seq);
    if (n > (int64_t)ctx->params.n_ctx - start)
        return lc_fail(&ctx->err, LLAMAC_E_CONTEXT_FULL,
                       "%lld tokens do not fit in sequence %d: it holds %d of %d positions", (long long)n, seq,
                       start, ctx->params.n_ctx);
    int chunk = ctx->params.n_batch;
    if (all_logits && chunk > ctx->n_logits_max)
        chunk = ctx->n_logits_max;
    int32_t *seq_ids = malloc((size_t)chunk * sizeof *seq_ids);
    int8_t *want = malloc((size_t)chunk);
    if (!seq_ids || !want) {
        free(seq_ids);
        free(want);
        return lc_fail(&ctx->err, LLAMAC_E_NOMEM, "out of memory");
    }
    for (int i = 0; i < chunk; i++)
        seq_ids[i] = seq;
    llamac_status st = LLAMAC_OK;
    for (int64_t off = 0; off < n && !st; off += chunk) {
        const int nb = n - off < chunk ? (int)(n - off) : chunk;
        memset(want, all_logits ? 1 : 0, (size_t)nb);
        if (off + nb == n)
            want[nb - 1] = 1;
        llamac_batch b = {.n_tokens = nb, .tokens = tokens + off, .seq_id = seq_ids, .logits = want};
        st = llamac_decode(ctx, &b);
        for (int i = 0; i < nb && !st && all_logits; i++)
            if (on_logits(user, off + i, llamac_get_logits(ctx, i)))
                st = lc_fail(&ctx->err, LLAMAC_E_CANCELLED, "decode_tokens: stopped by the logits callback");
    }
    free(seq_ids);
    free(want);
    if (st) { /* keep the message of the failure; truncating back cannot fail for a valid sequence */
        char msg[sizeof ctx->err.msg];
        memcpy(msg, ctx->err.msg, sizeof msg);
        llamac_seq_truncate(ctx, seq, start);
        memcpy(ctx->err.msg, msg, sizeof msg);
    }
    return st;
}

int llamac_decode_tokens_last_index(const llamac_context *ctx)
{
    return ctx && ctx->n_batch_last > 0 ? ctx->n_batch_last - 1 : -1;
}
