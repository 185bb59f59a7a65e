/*
 * decode.c — the Llama 3 forward pass over a batch of tokens from one or more sequences (llamac_decode).
 *
 *   x = tok_embd[token]
 *   per layer:  xn = RMSNorm(x) * attn_norm;  q,k,v = Wq xn, Wk xn, Wv xn;  RoPE(q, k) at each token's position
 *               append k, v to the token's sequence cache;  att = softmax(q K^T / sqrt(head_dim)) V  (causal,
 *               own sequence, query head h uses KV head h / (n_head / n_head_kv));  x += Wo att
 *               xn = RMSNorm(x) * ffn_norm;  x += W_down (silu(W_gate xn) * W_up xn)
 *   logits = W_out (RMSNorm(x) * output_norm)   for the tokens that asked for them
 *
 * Determinism: every per-token step is computed from that token's data alone, matrix products split work
 * over weight rows only (matmul.c), and attention for a (token, head) runs over positions 0..pos in order.
 * So logits are bit-identical for any thread count and any split of a sequence into batches. The KV cache is
 * paged (kv_cache.h), which changes only where a position's row lives, never the order attention visits them.
 *
 * The batch is validated completely, and every position it will write given a block its sequence alone holds
 * (lc_kv_prepare: allocation, copy-on-write), before anything is computed; on error nothing is appended.
 */
#include <inttypes.h>
#include <string.h>

#include "core/context.h"
#include "core/ops.h"

static llamac_status validate(llamac_context *c, const llamac_batch *b, int *n_out)
{
    const int n_vocab = c->model->hp.n_vocab, n_seq = c->params.n_seq_max, n_ctx = c->params.n_ctx;
    if (!b || b->n_tokens < 1 || !b->tokens)
        return lc_fail(&c->err, LLAMAC_E_INVALID_ARG, "empty batch");
    if (b->n_tokens > c->params.n_batch)
        return lc_fail(&c->err, LLAMAC_E_INVALID_ARG, "batch of %d tokens exceeds n_batch %d", b->n_tokens,
                       c->params.n_batch);
    int outs = 0;
    for (int i = 0; i < b->n_tokens; i++) {
        int32_t tok = b->tokens[i];
        if (tok < 0 || tok >= n_vocab)
            return lc_fail(&c->err, LLAMAC_E_TOKEN, "token %d at batch index %d is outside the vocabulary 0..%d", tok, i,
                           n_vocab - 1);
        int32_t s = b->seq_id ? b->seq_id[i] : 0;
        if (s < 0 || s >= n_seq)
            return lc_fail(&c->err, LLAMAC_E_INVALID_ARG, "sequence id %d at batch index %d is not in 0..%d", s, i,
                           n_seq - 1);
        c->tok_seq[i] = s;
        int want = b->logits ? b->logits[i] != 0 : i == b->n_tokens - 1;
        if (want)
            c->out_idx[outs++] = i;
    }
    if (outs > c->n_logits_max)
        return lc_fail(&c->err, LLAMAC_E_INVALID_ARG,
                       "batch requests logits for %d tokens but the context was created for at most %d (n_logits)", outs,
                       c->n_logits_max);
    /* positions: each sequence continues exactly where it stands */
    for (int i = 0; i < b->n_tokens; i++)
        c->seq_next[c->tok_seq[i]] = -1;
    c->n_batch_seq = 0;
    for (int i = 0; i < b->n_tokens; i++) {
        int32_t s = c->tok_seq[i];
        if (c->seq_next[s] < 0) {
            c->seq_next[s] = c->kv.seq[s].len;
            c->batch_seq[c->n_batch_seq++] = s;
        }
    }
    for (int i = 0; i < b->n_tokens; i++) {
        int32_t s = c->tok_seq[i];
        int32_t expect = c->seq_next[s];
        int32_t pos = b->pos ? b->pos[i] : expect;
        if (pos != expect)
            return lc_fail(&c->err, LLAMAC_E_INVALID_ARG,
                           "token at batch index %d has position %d but sequence %d continues at position %d", i, pos, s,
                           expect);
        if (pos >= n_ctx)
            return lc_fail(&c->err, LLAMAC_E_CONTEXT_FULL,
                           "sequence %d is full: position %d does not fit in the context of %d tokens", s, pos, n_ctx);
        c->tok_pos[i] = pos;
        c->seq_next[s] = pos + 1;
    }
    for (int k = 0; k < c->n_batch_seq; k++)
        c->batch_len[k] = c->seq_next[c->batch_seq[k]];
    *n_out = outs;
    return LLAMAC_OK;
}

/* ---- per-token jobs ---- */
typedef struct tok_job {
    llamac_context *c;
    int layer;
    const llamac_batch *b;
    const float *norm_w;
} tok_job;

static void embed_task(void *arg, int64_t i, int thread)
{
    tok_job *j = arg;
    const llamac_model *m = j->c->model;
    lc_weight_row_to_float(&m->tok_embd, j->b->tokens[i], j->c->x + i * m->hp.n_embd);
}

static void norm_task(void *arg, int64_t i, int thread)
{
    tok_job *j = arg;
    const lc_hparams *hp = &j->c->model->hp;
    j->c->kern->rmsnorm(j->c->xn + i * hp->n_embd, j->c->x + i * hp->n_embd, j->norm_w, hp->n_embd, hp->norm_eps);
}

/* RoPE on q and k, then store k and v in the cache */
static void rope_store_task(void *arg, int64_t i, int thread)
{
    tok_job *j = arg;
    llamac_context *c = j->c;
    const lc_hparams *hp = &c->model->hp;
    const int hd = hp->head_dim, kv_dim = hp->n_head_kv * hd, q_dim = hp->n_head * hd;
    const float *cs = c->rope + i * hd;
    float *q = c->q + i * q_dim, *k = c->k + i * kv_dim, *v = c->v + i * kv_dim;
    lc_rope_apply(q, cs, hp->n_head, hd);
    lc_rope_apply(k, cs, hp->n_head_kv, hd);
    int32_t s = c->tok_seq[i], pos = c->tok_pos[i];
    for (int h = 0; h < hp->n_head_kv; h++) {
        char *kd = lc_kv_row(&c->kv, s, j->layer, h, 0, pos), *vd = lc_kv_row(&c->kv, s, j->layer, h, 1, pos);
        if (c->kv.pool.g.elem == 4) {
            memcpy(kd, k + h * hd, (size_t)hd * sizeof(float));
            memcpy(vd, v + h * hd, (size_t)hd * sizeof(float));
        } else {
            for (int d = 0; d < hd; d++) {
                ((lc_half *)kd)[d] = lc_f32_to_half(k[h * hd + d]);
                ((lc_half *)vd)[d] = lc_f32_to_half(v[h * hd + d]);
            }
        }
    }
}

/* task = token * n_head_kv + kv_head: the n_rep query heads sharing that KV head */
static void attn_task(void *arg, int64_t task, int thread)
{
    tok_job *j = arg;
    llamac_context *c = j->c;
    const lc_hparams *hp = &c->model->hp;
    const int hd = hp->head_dim, n_rep = hp->n_head / hp->n_head_kv;
    int64_t i = task / hp->n_head_kv;
    int h = (int)(task % hp->n_head_kv);
    int32_t s = c->tok_seq[i], pos = c->tok_pos[i];
    const lc_kv_view kv = lc_kv_view_of(&c->kv, s, j->layer, h);
    const int64_t q_off = i * hp->n_head * hd + (int64_t)h * n_rep * hd;
    c->kern->attention(c->att + q_off, c->q + q_off, n_rep, &kv, pos + 1, hd,
                       c->scores + (size_t)thread * n_rep * c->params.n_ctx);
}

static void residual_task(void *arg, int64_t i, int thread)
{
    tok_job *j = arg;
    const int n = j->c->model->hp.n_embd;
    float *x = j->c->x + i * n;
    const float *t = j->c->tmp + i * n;
    for (int d = 0; d < n; d++)
        x[d] += t[d];
}

static void swiglu_task(void *arg, int64_t i, int thread)
{
    tok_job *j = arg;
    const int64_t n = j->c->model->hp.n_ff;
    j->c->kern->swiglu(j->c->gate + i * n, j->c->gate + i * n, j->c->up + i * n, n);
}

/* gathers the final-normed rows of the tokens that want logits into xn[0..n_out) */
static void final_norm_task(void *arg, int64_t o, int thread)
{
    tok_job *j = arg;
    llamac_context *c = j->c;
    const lc_hparams *hp = &c->model->hp;
    int32_t i = c->out_idx[o];
    c->kern->rmsnorm(c->xn + o * hp->n_embd, c->x + (int64_t)i * hp->n_embd, c->model->output_norm, hp->n_embd,
                     hp->norm_eps);
}

static void layer_forward(llamac_context *c, tok_job *j, int l, int T)
{
    const llamac_model *m = c->model;
    const lc_hparams *hp = &m->hp;
    const lc_layer *L = &m->layers[l];
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim, kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    j->layer = l;

    j->norm_w = L->attn_norm;
    lc_pool_run(c->pool, norm_task, j, T);
    lc_act_bind(&c->act, c->xn, hp->n_embd, hp->n_embd, T);
    lc_mm qkv[3] = {{&L->wq, c->q, q_dim}, {&L->wk, c->k, kv_dim}, {&L->wv, c->v, kv_dim}};
    lc_matmul(c->pool, c->kern, &c->act, qkv, 3);
    lc_pool_run(c->pool, rope_store_task, j, T);
    lc_pool_run(c->pool, attn_task, j, (int64_t)T * hp->n_head_kv);
    lc_act_bind(&c->act, c->att, q_dim, q_dim, T);
    lc_mm o = {&L->wo, c->tmp, hp->n_embd};
    lc_matmul(c->pool, c->kern, &c->act, &o, 1);
    lc_pool_run(c->pool, residual_task, j, T);

    j->norm_w = L->ffn_norm;
    lc_pool_run(c->pool, norm_task, j, T);
    lc_act_bind(&c->act, c->xn, hp->n_embd, hp->n_embd, T);
    lc_mm gu[2] = {{&L->w_gate, c->gate, hp->n_ff}, {&L->w_up, c->up, hp->n_ff}};
    lc_matmul(c->pool, c->kern, &c->act, gu, 2);
    lc_pool_run(c->pool, swiglu_task, j, T);
    lc_act_bind(&c->act, c->gate, hp->n_ff, hp->n_ff, T);
    lc_mm d = {&L->w_down, c->tmp, hp->n_embd};
    lc_matmul(c->pool, c->kern, &c->act, &d, 1);
    lc_pool_run(c->pool, residual_task, j, T);
}

llamac_status llamac_decode(llamac_context *c, const llamac_batch *b)
{
    if (!c)
        return LLAMAC_E_INVALID_ARG;
    c->err.msg[0] = 0;
    c->n_batch_last = 0;
    int n_out = 0;
    llamac_status st = validate(c, b, &n_out);
    if (!st)
        st = lc_kv_prepare(&c->kv, c->batch_seq, c->batch_len, c->n_batch_seq, &c->err);
    if (st)
        return st;
    const llamac_model *m = c->model;
    const lc_hparams *hp = &m->hp;
    const int T = b->n_tokens;
    tok_job j = {c, 0, b, NULL};

    for (int i = 0; i < T; i++)
        lc_rope_table(c->rope + (int64_t)i * hp->head_dim, m->rope_inv_freq, hp->head_dim / 2, c->tok_pos[i]);
    lc_pool_run(c->pool, embed_task, &j, T);
    for (int l = 0; l < hp->n_layer; l++) {
        layer_forward(c, &j, l, T);
        if (c->progress && c->progress(c->progress_user, (int64_t)(l + 1) * T, (int64_t)hp->n_layer * T)) {
            for (int k = 0; k < c->n_batch_seq; k++)
                lc_kv_abort(&c->kv, c->batch_seq[k]);
            return lc_fail(&c->err, LLAMAC_E_CANCELLED, "decode cancelled");
        }
    }
    if (n_out > 0) {
        lc_pool_run(c->pool, final_norm_task, &j, n_out);
        lc_act_bind(&c->act, c->xn, hp->n_embd, hp->n_embd, n_out);
        lc_mm out = {&m->output, c->logits, hp->n_vocab};
        lc_matmul(c->pool, c->kern, &c->act, &out, 1);
    }
    for (int i = 0; i < T; i++)
        c->logit_row[i] = -1;
    for (int o = 0; o < n_out; o++)
        c->logit_row[c->out_idx[o]] = o;
    for (int i = 0; i < T; i++)
        *lc_kv_token(&c->kv, c->tok_seq[i], c->tok_pos[i]) = b->tokens[i];
    for (int k = 0; k < c->n_batch_seq; k++)
        lc_kv_commit(&c->kv, c->batch_seq[k], c->batch_len[k]);
    c->n_batch_last = T;
    return LLAMAC_OK;
}
