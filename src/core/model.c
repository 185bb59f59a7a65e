/*
 * model.c — loads a Llama 3.x GGUF: reads and validates the llama.* hyperparameters, binds every tensor
 * with a shape and type check (an error names the tensor), honours tied embeddings (no output.weight) and
 * the Llama 3.1 rope_freqs divisors, and precomputes the RoPE frequencies in double precision.
 * Nothing is specific to a model size: 1B..405B shapes all come from the metadata.
 */
#include "core/model.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kernels/quant.h"
#include "tok/tok.h"

typedef struct owned_block {
    struct owned_block *next;
    max_align_t data[];
} owned_block;

static void *model_alloc(llamac_model *m, size_t size)
{
    owned_block *b = calloc(1, sizeof(owned_block) + size);
    if (!b)
        return NULL;
    b->next = m->owned;
    m->owned = b;
    return b->data;
}

llamac_model_params llamac_model_default_params(void)
{
    /* the private copy is the default: its huge pages and packed layout make decode several times faster
     * than computing from the file mapping (docs/KERNELS.md) */
    llamac_model_params p = {.use_mmap = 0, .n_threads = 0, .background = 1};
    return p;
}

void llamac_model_free(llamac_model *m)
{
    if (!m)
        return;
    owned_block *b = m->owned;
    while (b) {
        owned_block *n = b->next;
        free(b);
        b = n;
    }
    lc_model_stop_weights(m);
    if (m->weight_copy)
        munmap(m->weight_copy, m->weight_copy_size);
    lc_vocab_free(m->tokenizer);
    lc_gguf_close(m->gguf);
    free(m);
}

/* ---- hyperparameters ---- */
static llamac_status get_int(const lc_gguf *g, const char *key, int required, int lo, int hi, int *out, lc_err *e)
{
    int64_t v = INT64_MIN;
    llamac_status st = lc_gguf_get_i64(g, key, required, &v, e);
    if (st)
        return st;
    if (v == INT64_MIN)
        return LLAMAC_OK; /* optional and absent */
    if (v < lo || v > hi)
        return lc_fail(e, LLAMAC_E_MODEL, "metadata '%s' = %" PRId64 " is outside the valid range %d..%d", key, v, lo,
                       hi);
    *out = (int)v;
    return LLAMAC_OK;
}

static llamac_status read_hparams(llamac_model *m, lc_err *e)
{
    const lc_gguf *g = m->gguf;
    lc_hparams *hp = &m->hp;
    lc_gguf_str arch;
    llamac_status st = lc_gguf_get_str(g, "general.architecture", 1, &arch, e);
    if (st)
        return st;
    lc_gguf_str_copy(arch, m->info.arch, sizeof m->info.arch);
    if (strcmp(m->info.arch, "llama") != 0)
        return lc_fail(e, LLAMAC_E_UNSUPPORTED,
                       "architecture '%s' is not supported: llamac runs Llama 3 models (general.architecture = llama)",
                       m->info.arch);
    lc_gguf_str name = {"", 0};
    if ((st = lc_gguf_get_str(g, "general.name", 0, &name, e)))
        return st;
    lc_gguf_str_copy(name, m->info.name, sizeof m->info.name);

    const int big = 1 << 20;
    hp->n_ctx_train = 8192;
    hp->n_head_kv = -1;
    hp->head_dim = -1;
    if ((st = get_int(g, "llama.embedding_length", 1, 1, big, &hp->n_embd, e)) ||
        (st = get_int(g, "llama.block_count", 1, 1, 4096, &hp->n_layer, e)) ||
        (st = get_int(g, "llama.feed_forward_length", 1, 1, big, &hp->n_ff, e)) ||
        (st = get_int(g, "llama.attention.head_count", 1, 1, 4096, &hp->n_head, e)) ||
        (st = get_int(g, "llama.attention.head_count_kv", 0, 1, 4096, &hp->n_head_kv, e)) ||
        (st = get_int(g, "llama.context_length", 0, 1, INT32_MAX, &hp->n_ctx_train, e)) ||
        (st = get_int(g, "llama.attention.key_length", 0, 1, 4096, &hp->head_dim, e)))
        return st;
    if (hp->n_head_kv < 0)
        hp->n_head_kv = hp->n_head;
    if (hp->head_dim < 0) {
        if (hp->n_embd % hp->n_head != 0)
            return lc_fail(e, LLAMAC_E_MODEL, "embedding_length %d is not a multiple of head_count %d", hp->n_embd,
                           hp->n_head);
        hp->head_dim = hp->n_embd / hp->n_head;
    }
    int value_len = hp->head_dim;
    if ((st = get_int(g, "llama.attention.value_length", 0, 1, 4096, &value_len, e)))
        return st;
    if (value_len != hp->head_dim)
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "attention value_length %d differs from key_length %d", value_len,
                       hp->head_dim);
    if (hp->head_dim % 2 != 0)
        return lc_fail(e, LLAMAC_E_MODEL, "head_dim %d is odd; RoPE needs pairs", hp->head_dim);
    if (hp->n_head % hp->n_head_kv != 0)
        return lc_fail(e, LLAMAC_E_MODEL, "head_count %d is not a multiple of head_count_kv %d (GQA)", hp->n_head,
                       hp->n_head_kv);
    int rope_dims = hp->head_dim;
    if ((st = get_int(g, "llama.rope.dimension_count", 0, 1, 4096, &rope_dims, e)))
        return st;
    if (rope_dims != hp->head_dim)
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "rope.dimension_count %d differs from head_dim %d (partial RoPE)",
                       rope_dims, hp->head_dim);
    double theta = 10000.0, eps = 1e-5;
    if ((st = lc_gguf_get_f64(g, "llama.rope.freq_base", 0, &theta, e)) ||
        (st = lc_gguf_get_f64(g, "llama.attention.layer_norm_rms_epsilon", 0, &eps, e)))
        return st;
    if (!(theta > 1.0) || !isfinite(theta))
        return lc_fail(e, LLAMAC_E_MODEL, "rope.freq_base %g is not a valid base (> 1)", theta);
    if (!(eps > 0.0) || !(eps < 1.0))
        return lc_fail(e, LLAMAC_E_MODEL, "layer_norm_rms_epsilon %g is not in (0, 1)", eps);
    hp->rope_theta = theta;
    hp->norm_eps = (float)eps;
    lc_gguf_str scaling = {"none", 4};
    if ((st = lc_gguf_get_str(g, "llama.rope.scaling.type", 0, &scaling, e)))
        return st;
    char kind[32];
    lc_gguf_str_copy(scaling, kind, sizeof kind);
    if (strcmp(kind, "none") != 0 && strcmp(kind, "llama3") != 0)
        return lc_fail(e, LLAMAC_E_UNSUPPORTED,
                       "rope scaling type '%s' is not supported (Llama 3 uses none, or the rope_freqs tensor)", kind);
    return LLAMAC_OK;
}

/* ---- tensors ---- */
static llamac_status find(const llamac_model *m, const char *name, int required, const lc_gguf_tensor **out,
                          lc_err *e)
{
    *out = lc_gguf_find_tensor(m->gguf, name);
    if (!*out && required)
        return lc_fail(e, LLAMAC_E_MODEL, "tensor '%s' is missing", name);
    return LLAMAC_OK;
}

static llamac_status check_shape(const lc_gguf_tensor *t, int n_dims, int64_t ne0, int64_t ne1, lc_err *e)
{
    int ok = t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == 1 && t->ne[3] == 1;
    if (n_dims == 1)
        ok = ok && t->n_dims == 1;
    if (!ok) {
        if (n_dims == 1)
            return lc_fail(e, LLAMAC_E_MODEL, "tensor '%s' has shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
                           "], expected [%" PRId64 "]", t->name, t->ne[0], t->ne[1], t->ne[2], t->ne[3], ne0);
        return lc_fail(e, LLAMAC_E_MODEL,
                       "tensor '%s' has shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "], expected [%" PRId64
                       ", %" PRId64 "]",
                       t->name, t->ne[0], t->ne[1], t->ne[2], t->ne[3], ne0, ne1);
    }
    return LLAMAC_OK;
}

/* Binding always points into the file mapping; lc_model_copy_weights (weights.c) redirects afterwards. */
static const void *tensor_data(const llamac_model *m, const lc_gguf_tensor *t)
{
    (void)m;
    return t->data;
}

static llamac_status bind_matrix(llamac_model *m, const char *name, int64_t n_in, int64_t n_out, lc_weight *w,
                                 lc_err *e)
{
    const lc_gguf_tensor *t;
    llamac_status st = find(m, name, 1, &t, e);
    if (st || (st = check_shape(t, 2, n_in, n_out, e)))
        return st;
    const lc_type_traits *tt = lc_type_traits_get(t->type);
    const lc_kernels *k = lc_kernels_get();
    if (!tt || tt->vec_dot_type < 0 || !k->gemm[t->type])
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "tensor '%s' has type %s, which llamac cannot compute with yet", name,
                       llamac_type_name(t->type));
    w->name = t->name;
    w->type = t->type;
    w->data = tensor_data(m, t);
    w->row_bytes = lc_row_bytes(t->type, n_in);
    w->n_in = n_in;
    w->n_out = n_out;
    return LLAMAC_OK;
}

/* A norm vector as f32 (converted copy unless the file stores F32). */
static llamac_status bind_vector(llamac_model *m, const char *name, int64_t n, const float **out, lc_err *e)
{
    const lc_gguf_tensor *t;
    llamac_status st = find(m, name, 1, &t, e);
    if (st || (st = check_shape(t, 1, n, 1, e)))
        return st;
    if (t->type == LLAMAC_TYPE_F32) {
        *out = tensor_data(m, t);
        return LLAMAC_OK;
    }
    const lc_type_traits *tt = lc_type_traits_get(t->type);
    if (!tt)
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "tensor '%s' has type %s, which llamac cannot read", name,
                       llamac_type_name(t->type));
    float *v = model_alloc(m, (size_t)n * sizeof(float));
    if (!v)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory for '%s'", name);
    tt->to_float(tensor_data(m, t), v, n);
    *out = v;
    return LLAMAC_OK;
}

static llamac_status bind_tensors(llamac_model *m, lc_err *e)
{
    lc_hparams *hp = &m->hp;
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim, kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    const lc_gguf_tensor *te;
    llamac_status st = find(m, "token_embd.weight", 1, &te, e);
    if (st)
        return st;
    if (te->n_dims != 2 || te->ne[0] != hp->n_embd || te->ne[1] < 1 || te->ne[1] > INT32_MAX)
        return lc_fail(e, LLAMAC_E_MODEL, "tensor 'token_embd.weight' has shape [%" PRId64 ", %" PRId64
                       "], expected [%d, n_vocab]", te->ne[0], te->ne[1], hp->n_embd);
    hp->n_vocab = (int)te->ne[1];
    int vocab_meta = hp->n_vocab;
    if ((st = get_int(m->gguf, "llama.vocab_size", 0, 1, INT32_MAX, &vocab_meta, e)))
        return st;
    if (vocab_meta != hp->n_vocab)
        return lc_fail(e, LLAMAC_E_MODEL, "llama.vocab_size is %d but token_embd.weight has %d rows", vocab_meta,
                       hp->n_vocab);
    const lc_type_traits *tt = lc_type_traits_get(te->type);
    if (!tt)
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "tensor 'token_embd.weight' has type %s, which llamac cannot read",
                       llamac_type_name(te->type));
    m->tok_embd = (lc_weight){te->name, te->type, tensor_data(m, te), lc_row_bytes(te->type, hp->n_embd),
                              hp->n_embd, hp->n_vocab, NULL, 0, NULL, NULL, 0};

    if ((st = bind_vector(m, "output_norm.weight", hp->n_embd, &m->output_norm, e)))
        return st;
    const lc_gguf_tensor *to;
    if ((st = find(m, "output.weight", 0, &to, e)))
        return st;
    if (to) {
        if ((st = bind_matrix(m, "output.weight", hp->n_embd, hp->n_vocab, &m->output, e)))
            return st;
    } else {
        m->info.tied_embeddings = 1;
        if ((st = bind_matrix(m, "token_embd.weight", hp->n_embd, hp->n_vocab, &m->output, e)))
            return st;
    }

    m->layers = model_alloc(m, (size_t)hp->n_layer * sizeof(lc_layer));
    if (!m->layers)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    for (int l = 0; l < hp->n_layer; l++) {
        lc_layer *L = &m->layers[l];
        char nm[96];
#define NAME(suffix) (snprintf(nm, sizeof nm, "blk.%d." suffix, l), nm)
        if ((st = bind_vector(m, NAME("attn_norm.weight"), hp->n_embd, &L->attn_norm, e)) ||
            (st = bind_matrix(m, NAME("attn_q.weight"), hp->n_embd, q_dim, &L->wq, e)) ||
            (st = bind_matrix(m, NAME("attn_k.weight"), hp->n_embd, kv_dim, &L->wk, e)) ||
            (st = bind_matrix(m, NAME("attn_v.weight"), hp->n_embd, kv_dim, &L->wv, e)) ||
            (st = bind_matrix(m, NAME("attn_output.weight"), q_dim, hp->n_embd, &L->wo, e)) ||
            (st = bind_vector(m, NAME("ffn_norm.weight"), hp->n_embd, &L->ffn_norm, e)) ||
            (st = bind_matrix(m, NAME("ffn_gate.weight"), hp->n_embd, hp->n_ff, &L->w_gate, e)) ||
            (st = bind_matrix(m, NAME("ffn_up.weight"), hp->n_embd, hp->n_ff, &L->w_up, e)) ||
            (st = bind_matrix(m, NAME("ffn_down.weight"), hp->n_ff, hp->n_embd, &L->w_down, e)))
            return st;
#undef NAME
    }
    return LLAMAC_OK;
}

/* Llama 3.1 "llama3" frequency scaling from metadata (used only when a file declares it but carries no
 * rope_freqs tensor): pairs with wavelength < orig/high are kept, > orig/low are divided by factor, and the
 * band between is interpolated (reference doc section 1.8). Returns the divisor of pair frequency f. */
static double llama3_divisor(double f, double factor, double low, double high, double orig)
{
    const double two_pi = 6.283185307179586;
    double wavelen = two_pi / f;
    if (wavelen < orig / high)
        return 1.0;
    if (wavelen > orig / low)
        return factor;
    double smooth = (orig / wavelen - low) / (high - low);
    return 1.0 / ((1.0 - smooth) / factor + smooth);
}

static llamac_status init_rope(llamac_model *m, lc_err *e)
{
    const lc_hparams *hp = &m->hp;
    int n_pairs = hp->head_dim / 2;
    m->rope_inv_freq = model_alloc(m, (size_t)n_pairs * sizeof(double));
    if (!m->rope_inv_freq)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    const float *divisors = NULL;
    const lc_gguf_tensor *rf = lc_gguf_find_tensor(m->gguf, "rope_freqs.weight");
    if (rf) {
        llamac_status st = bind_vector(m, "rope_freqs.weight", n_pairs, &divisors, e);
        if (st)
            return st;
        for (int i = 0; i < n_pairs; i++)
            if (!(divisors[i] > 0.0f) || !isfinite(divisors[i]))
                return lc_fail(e, LLAMAC_E_MODEL, "rope_freqs.weight[%d] = %g is not a positive divisor", i,
                               (double)divisors[i]);
        m->info.has_rope_freqs = 1;
    }
    lc_gguf_str kind = {"none", 4};
    int llama3_meta = !rf && lc_gguf_get_str(m->gguf, "llama.rope.scaling.type", 0, &kind, e) == LLAMAC_OK &&
                      kind.len == 6 && memcmp(kind.ptr, "llama3", 6) == 0;
    double factor = 8.0, low = 1.0, high = 4.0, orig = 8192.0;
    if (llama3_meta) {
        llamac_status st;
        if ((st = lc_gguf_get_f64(m->gguf, "llama.rope.scaling.factor", 1, &factor, e)) ||
            (st = lc_gguf_get_f64(m->gguf, "llama.rope.scaling.low_freq_factor", 0, &low, e)) ||
            (st = lc_gguf_get_f64(m->gguf, "llama.rope.scaling.high_freq_factor", 0, &high, e)) ||
            (st = lc_gguf_get_f64(m->gguf, "llama.rope.scaling.original_context_length", 0, &orig, e)))
            return st;
        if (!(factor >= 1.0) || !(low > 0.0) || !(high > low) || !(orig >= 1.0))
            return lc_fail(e, LLAMAC_E_MODEL, "invalid llama3 rope scaling (factor %g, low %g, high %g, original %g)",
                           factor, low, high, orig);
        m->info.has_rope_freqs = 1;
    }
    for (int i = 0; i < n_pairs; i++) {
        double f = pow(hp->rope_theta, -2.0 * i / hp->head_dim);
        if (divisors)
            f /= divisors[i];
        else if (llama3_meta)
            f /= llama3_divisor(f, factor, low, high, orig);
        m->rope_inv_freq[i] = f;
    }
    return LLAMAC_OK;
}

static void fill_info(llamac_model *m)
{
    const lc_hparams *hp = &m->hp;
    llamac_model_info *in = &m->info;
    in->n_vocab = hp->n_vocab;
    in->n_embd = hp->n_embd;
    in->n_layer = hp->n_layer;
    in->n_head = hp->n_head;
    in->n_head_kv = hp->n_head_kv;
    in->head_dim = hp->head_dim;
    in->n_ff = hp->n_ff;
    in->n_ctx_train = hp->n_ctx_train;
    in->rope_theta = (float)hp->rope_theta;
    in->norm_eps = hp->norm_eps;
    in->weight_type = hp->n_layer > 0 ? m->layers[0].w_gate.type : m->output.type;
    uint64_t n = 0, bytes = 0;
    for (int64_t i = 0; i < m->gguf->n_tensors; i++) {
        const lc_gguf_tensor *t = &m->gguf->tensors[i];
        n += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        bytes += t->n_bytes;
    }
    in->n_params = n;
    in->weight_bytes = bytes;
}

/* The vocabulary, when the file has tokenizer.ggml.* metadata; its size must match token_embd. */
static llamac_status load_tokenizer(llamac_model *m, lc_err *e)
{
    if (!lc_gguf_get(m->gguf, "tokenizer.ggml.model"))
        return LLAMAC_OK;
    llamac_status st = lc_vocab_from_gguf(m->gguf, &m->tokenizer, e);
    if (st)
        return st;
    if (m->tokenizer->n_vocab != m->hp.n_vocab)
        return lc_fail(e, LLAMAC_E_MODEL, "the vocabulary has %d tokens but token_embd.weight has %d rows",
                       m->tokenizer->n_vocab, m->hp.n_vocab);
    return LLAMAC_OK;
}

const llamac_tokenizer *llamac_model_tokenizer(const llamac_model *m)
{
    return m ? m->tokenizer : NULL;
}

llamac_status llamac_model_load(const char *path, const llamac_model_params *params, llamac_model **out,
                                char *err, size_t err_size)
{
    lc_err e = {{0}};
    if (out)
        *out = NULL;
    if (!path || !out) {
        lc_fail(&e, LLAMAC_E_INVALID_ARG, "llamac_model_load: path and out are required");
        lc_err_copy(&e, err, err_size);
        return LLAMAC_E_INVALID_ARG;
    }
    llamac_model_params p = params ? *params : llamac_model_default_params();
    llamac_model *m = calloc(1, sizeof *m);
    llamac_status st = m ? LLAMAC_OK : lc_fail(&e, LLAMAC_E_NOMEM, "out of memory");
    if (!st)
        st = lc_gguf_open(path, &m->gguf, &e);
    if (!st)
        st = read_hparams(m, &e);
    if (!st)
        st = bind_tensors(m, &e);
    if (!st)
        st = init_rope(m, &e);
    if (!st && !p.use_mmap)
        st = p.background ? lc_model_copy_weights_background(m, path, p.n_threads, &e)
                          : lc_model_copy_weights(m, path, p.n_threads, &e);
    if (!st)
        st = load_tokenizer(m, &e);
    if (st) {
        if (m && m->gguf && strncmp(e.msg, path, strlen(path)) != 0) {
            char inner[sizeof e.msg];
            snprintf(inner, sizeof inner, "%s", e.msg);
            lc_fail(&e, st, "%s: %s", path, inner);
        }
        lc_err_copy(&e, err, err_size);
        llamac_model_free(m);
        return st;
    }
    fill_info(m);
    *out = m;
    return LLAMAC_OK;
}

void llamac_model_get_info(const llamac_model *m, llamac_model_info *out)
{
    if (!out)
        return;
    if (m)
        *out = m->info;
    else
        memset(out, 0, sizeof *out);
}

const llamac_gguf *llamac_model_gguf(const llamac_model *m)
{
    return m ? m->gguf : NULL;
}

llamac_status llamac_model_wait_loaded(llamac_model *m, char *err, size_t err_size)
{
    if (!m)
        return LLAMAC_E_INVALID_ARG;
    lc_err e = {{0}};
    llamac_status st = lc_model_wait_weights(m, &e);
    if (st)
        lc_err_copy(&e, err, err_size);
    return st;
}
