/*
 * context.c — creating and freeing contexts, parameter defaults. All memory a context needs is reserved here
 * (scratch in one mapping, the KV pool in another: kv_cache.h); llamac_decode (decode.c) never allocates. The
 * sequence and KV cache API is in kv_api.c.
 */
#include "core/context.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

llamac_context_params llamac_context_default_params(void)
{
    llamac_context_params p = {.n_ctx = 4096, .n_seq_max = 1, .n_batch = 512, .n_threads = 0, .n_logits = 0,
                               .kv_type = LLAMAC_KV_F32, .kv_block = 0, .kv_size = 0, .prefix_cache = 1};
    return p;
}

static void *map_anon(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Carves aligned pieces out of one region; first pass (base NULL) only measures. */
typedef struct carver {
    char *base;
    size_t off;
} carver;

static void *carve(carver *c, size_t bytes)
{
    size_t off = (c->off + 63) & ~(size_t)63;
    c->off = off + bytes;
    return c->base ? c->base + off : NULL;
}

static void layout(llamac_context *c, carver *cv)
{
    const lc_hparams *hp = &c->model->hp;
    size_t T = (size_t)c->params.n_batch;
    size_t q_dim = (size_t)hp->n_head * hp->head_dim, kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    c->x = carve(cv, T * hp->n_embd * sizeof(float));
    c->xn = carve(cv, T * hp->n_embd * sizeof(float));
    c->q = carve(cv, T * q_dim * sizeof(float));
    c->k = carve(cv, T * kv_dim * sizeof(float));
    c->v = carve(cv, T * kv_dim * sizeof(float));
    c->att = carve(cv, T * q_dim * sizeof(float));
    c->gate = carve(cv, T * hp->n_ff * sizeof(float));
    c->up = carve(cv, T * hp->n_ff * sizeof(float));
    c->tmp = carve(cv, T * hp->n_embd * sizeof(float));
    c->rope = carve(cv, T * hp->head_dim * sizeof(float));
    /* attention scores: per thread, one row of n_ctx for each query head sharing a KV head */
    c->scores = carve(cv, (size_t)c->params.n_threads * (hp->n_head / hp->n_head_kv) * c->params.n_ctx * sizeof(float));
    /* activation slots: the widest input (n_embd, q_dim or n_ff) in the widest type (4 bytes/element bounds
     * every quantized row format) */
    size_t widest = (size_t)hp->n_embd;
    if (q_dim > widest)
        widest = q_dim;
    if ((size_t)hp->n_ff > widest)
        widest = (size_t)hp->n_ff;
    c->act.slot_cap = T * widest * sizeof(float);
    for (int s = 0; s < LC_ACT_SLOTS; s++)
        c->act.slot_buf[s] = carve(cv, c->act.slot_cap);
    c->logits = carve(cv, (size_t)c->n_logits_max * hp->n_vocab * sizeof(float));
    c->logit_row = carve(cv, T * sizeof(int));
    c->tok_seq = carve(cv, T * sizeof(int32_t));
    c->tok_pos = carve(cv, T * sizeof(int32_t));
    c->out_idx = carve(cv, T * sizeof(int32_t));
    c->seq_next = carve(cv, (size_t)c->params.n_seq_max * sizeof(int));
    c->batch_seq = carve(cv, (size_t)c->params.n_seq_max * sizeof(int32_t));
    c->batch_len = carve(cv, (size_t)c->params.n_seq_max * sizeof(int32_t));
}

llamac_status llamac_context_create(llamac_model *model, const llamac_context_params *params,
                                    llamac_context **out, char *err, size_t err_size)
{
    lc_err e = {{0}};
    llamac_status st = LLAMAC_OK;
    if (out)
        *out = NULL;
    if (!model || !out) {
        st = lc_fail(&e, LLAMAC_E_INVALID_ARG, "llamac_context_create: model and out are required");
        lc_err_copy(&e, err, err_size);
        return st;
    }
    llamac_context_params p = params ? *params : llamac_context_default_params();
    const lc_hparams *hp = &model->hp;
    if (p.n_ctx == 0)
        p.n_ctx = hp->n_ctx_train;
    if (p.n_threads <= 0)
        p.n_threads = llamac_n_cores();
    if (p.n_logits <= 0)
        p.n_logits = p.n_seq_max;
    if (p.n_ctx < 1 || p.n_ctx > (1 << 24))
        st = lc_fail(&e, LLAMAC_E_INVALID_ARG, "context size %d is not in 1..16777216", p.n_ctx);
    else if (p.n_seq_max < 1 || p.n_seq_max > 4096)
        st = lc_fail(&e, LLAMAC_E_INVALID_ARG, "n_seq_max %d is not in 1..4096", p.n_seq_max);
    else if (p.n_batch < 1 || p.n_batch > 65536)
        st = lc_fail(&e, LLAMAC_E_INVALID_ARG, "n_batch %d is not in 1..65536", p.n_batch);
    else if (p.n_threads > 1024)
        st = lc_fail(&e, LLAMAC_E_INVALID_ARG, "n_threads %d is more than 1024", p.n_threads);
    else if (p.kv_type != LLAMAC_KV_F32 && p.kv_type != LLAMAC_KV_F16)
        st = lc_fail(&e, LLAMAC_E_INVALID_ARG, "unknown KV cache type %d", p.kv_type);
    else if (p.kv_block != 0 && (p.kv_block < 16 || p.kv_block > 4096 || (p.kv_block & (p.kv_block - 1))))
        st = lc_fail(&e, LLAMAC_E_INVALID_ARG, "kv_block %d is not a power of two in 16..4096", p.kv_block);
    if (p.n_logits > p.n_batch)
        p.n_logits = p.n_batch;
    if (p.kv_block == 0)
        p.kv_block = 32;
    lc_kv_geometry g = {hp->n_layer, hp->n_head_kv, hp->head_dim, p.kv_type == LLAMAC_KV_F16 ? 2 : 4,
                        __builtin_ctz((unsigned)p.kv_block)};
    int n_blocks = 0;
    if (!st) {
        p.prefix_cache = p.prefix_cache != 0;
        const uint64_t block_bytes = (uint64_t)2 * hp->n_layer * hp->n_head_kv * hp->head_dim * g.elem * p.kv_block;
        const uint64_t per_seq = ((uint64_t)p.n_ctx + p.kv_block - 1) / p.kv_block;
        const uint64_t nb = p.kv_size ? p.kv_size / block_bytes : per_seq * (uint64_t)p.n_seq_max;
        if (nb < 1)
            st = lc_fail(&e, LLAMAC_E_INVALID_ARG, "kv_size %" PRIu64 " is less than one KV block (%" PRIu64
                         " bytes: %d positions)", p.kv_size, block_bytes, p.kv_block);
        else if (nb > INT32_MAX / 2 || nb > SIZE_MAX / block_bytes)
            st = lc_fail(&e, LLAMAC_E_INVALID_ARG, "KV cache of %" PRIu64 " blocks of %" PRIu64 " bytes is too large",
                         nb, block_bytes);
        else {
            n_blocks = (int)nb;
            p.kv_size = nb * block_bytes;
        }
    }
    llamac_context *c = NULL;
    if (!st && !(c = calloc(1, sizeof *c)))
        st = lc_fail(&e, LLAMAC_E_NOMEM, "out of memory");
    if (!st) {
        c->model = model;
        c->params = p;
        c->n_logits_max = p.n_logits;
        c->kern = lc_kernels_get();
        st = lc_kv_cache_init(&c->kv, &g, n_blocks, p.prefix_cache, p.n_seq_max, p.n_ctx, model->rope_inv_freq, &e);
    }
    if (!st) {
        carver measure = {NULL, 0};
        layout(c, &measure);
        c->mem_size = measure.off;
        c->mem = map_anon(c->mem_size);
        if (!c->mem)
            st = lc_fail(&e, LLAMAC_E_NOMEM, "cannot allocate the context: %zu MiB of scratch", c->mem_size >> 20);
    }
    if (!st) {
        carver real = {c->mem, 0};
        layout(c, &real);
        c->pool = lc_pool_create(p.n_threads);
        if (!c->pool)
            st = lc_fail(&e, LLAMAC_E_NOMEM, "cannot start %d threads", p.n_threads);
    }
    if (st) {
        lc_err_copy(&e, err, err_size);
        llamac_context_free(c);
        return st;
    }
    *out = c;
    return LLAMAC_OK;
}

void llamac_context_free(llamac_context *c)
{
    if (!c)
        return;
    lc_pool_free(c->pool);
    if (c->mem)
        munmap(c->mem, c->mem_size);
    lc_kv_cache_free(&c->kv);
    free(c);
}

const char *llamac_context_error(const llamac_context *c)
{
    return c ? c->err.msg : "";
}

const llamac_model *llamac_context_model(const llamac_context *c)
{
    return c ? c->model : NULL;
}

int llamac_context_n_ctx(const llamac_context *c)
{
    return c ? c->params.n_ctx : 0;
}

int llamac_context_n_seq(const llamac_context *c)
{
    return c ? c->params.n_seq_max : 0;
}

int llamac_context_n_threads(const llamac_context *c)
{
    return c ? c->params.n_threads : 0;
}

void llamac_context_set_progress(llamac_context *c, llamac_progress_fn fn, void *user)
{
    if (!c)
        return;
    c->progress = fn;
    c->progress_user = user;
}

const float *llamac_get_logits(const llamac_context *c, int i)
{
    if (!c || i < 0 || i >= c->n_batch_last || c->logit_row[i] < 0)
        return NULL;
    return c->logits + (size_t)c->logit_row[i] * c->model->hp.n_vocab;
}
