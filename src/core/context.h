/*
 * context.h — run state of one llamac_context: KV cache, per-sequence lengths, scratch buffers, thread pool.
 *
 * KV cache layout: for sequence s, layer l, KV head h, a block of n_ctx rows of head_dim elements (f32 or
 * f16): kv_index(s, l, h) = ((s * n_layer + l) * n_head_kv + h) * n_ctx * head_dim. Rows 0..seq_len[s]-1
 * are valid. The cache is anonymous memory, so pages are only made resident as positions fill up.
 */
#ifndef LC_CONTEXT_H
#define LC_CONTEXT_H

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

    /* KV cache */
    void *k_cache, *v_cache; /* see layout above */
    size_t kv_bytes;         /* bytes of each of k_cache, v_cache */
    size_t kv_elem;          /* 4 (f32) or 2 (f16) */
    int *seq_len;            /* [n_seq_max] */
    int *seq_next;           /* [n_seq_max] scratch for batch validation */

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
