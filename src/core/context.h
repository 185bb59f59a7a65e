/*
 * context.h — run state of one llamac_context: the paged KV cache (kv_cache.h), scratch buffers, thread pool.
 */
#ifndef LC_CONTEXT_H
#define LC_CONTEXT_H

#include "core/kv_cache.h"
#include "core/matmul.h"
#include "core/model.h"
#include "util/err.h"
#include "util/threadpool.h"

struct llamac_context {
    llamac_model *model;
    llamac_context_params params;
    const lc_kernels *kern;
    lc_pool *pool;
    lc_err err;

    lc_kv_cache kv;       /* every sequence's positions (params.kv_block, kv_size, prefix_cache resolved) */
    int *seq_next;        /* [n_seq_max] scratch for batch validation: the next position of each sequence */
    int32_t *batch_seq;   /* [n_seq_max] the distinct sequences of the current batch */
    int32_t *batch_len;   /* [n_seq_max] their lengths after it */
    int n_batch_seq;

    /* scratch, sized for n_batch tokens */
    float *x;       /* [n_batch][n_embd] residual stream */
    float *xn;      /* [n_batch][n_embd] normalized */
    float *q;       /* [n_batch][n_head*head_dim] */
    float *k;       /* [n_batch][n_head_kv*head_dim] */
    float *v;       /* [n_batch][n_head_kv*head_dim] */
    float *att;     /* [n_batch][n_head*head_dim] */
    float *gate;    /* [n_batch][n_ff] */
    float *up;      /* [n_batch][n_ff] */
    float *tmp;     /* [n_batch][n_embd] */
    float *rope;    /* [n_batch][head_dim] cos/sin pairs */
    float *scores;  /* [n_threads][n_head / n_head_kv][n_ctx] */
    lc_act act;     /* converted activations, LC_ACT_SLOTS buffers */

    /* outputs */
    float *logits;        /* [n_logits][n_vocab] */
    int n_logits_max;
    int *logit_row;       /* [n_batch]: row in logits of batch token i, or -1 */
    int n_batch_last;     /* tokens in the last decode */
    int32_t *tok_seq, *tok_pos; /* [n_batch] resolved positions and sequences of the current batch */
    int32_t *out_idx;     /* [n_batch] indices of tokens that want logits */

    llamac_progress_fn progress;
    void *progress_user;

    void *mem;            /* one anonymous mapping holding all scratch */
    size_t mem_size;
};

#endif
