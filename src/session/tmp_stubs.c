/*
 * tmp_stubs.c — TEMPORARY (deleted once the `sampler` and `kv` branches are merged): a minimal stand-in for
 * llamac_seq_restore_prefix (nothing restored) so the session layer links until the paged KV cache is merged.
 */
#include "llamac.h"

int llamac_seq_restore_prefix(llamac_context *ctx, int seq, const int32_t *tokens, int n_tokens)
{
    (void)tokens;
    (void)n_tokens;
    return llamac_seq_len(ctx, seq);
}
