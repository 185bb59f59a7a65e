/*
 * tmp_stubs.c — TEMPORARY (deleted once the `sampler` and `kv` branches are merged): minimal stand-ins for
 * llamac_sampler_sample_logprobs and llamac_seq_restore_prefix so the session layer links.
 */
#include <math.h>

#include "llamac.h"

int32_t llamac_sampler_sample_logprobs(llamac_sampler *s, const float *logits, int n_top,
                                       llamac_token_logprob *chosen, llamac_token_logprob *top)
{
    (void)n_top;
    (void)top;
    int32_t t = llamac_sampler_sample(s, logits);
    if (chosen) {
        chosen->token = t;
        chosen->logprob = 0;
    }
    return t;
}

int llamac_seq_restore_prefix(llamac_context *ctx, int seq, const int32_t *tokens, int n_tokens)
{
    (void)tokens;
    (void)n_tokens;
    return llamac_seq_len(ctx, seq);
}
