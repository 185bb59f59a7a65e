/*
 * model.c — loads a Llama 3.x model from a tensor source (load/source.h): reads and validates the llama.*
 * hyperparameters, checks every tensor's shape and type (an error names the tensor), honours tied embeddings
 * (no output.weight) and the Llama 3.1 rope_freqs divisors, and writes the bind list that the loader
 * (load/weights.h) fills the weights from, in one pass; then precomputes the RoPE frequencies in double
 * precision. Nothing is specific to a model size: 1B..405B shapes all come from the metadata.
 */
#include "core/model.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    lc_weights_free(m->weights); /* stops a background copy first: it reads the source's files */
    owned_block *b = m->owned;
    while (b) {
        owned_block *n = b->next;
        free(b);
        b = n;
    }
    lc_vocab_free(m->tokenizer);
    lc_source_close(m->source);
    free(m);
}

/* ---- hyperparameters ---- */
static llamac_status get_int(const lc_source *g, const char *key, int required, int lo, int hi, int *out,
                             lc_err *e)
{
    int64_t v = INT64_MIN;
    llamac_status st = lc_source_get_i64(g, key, required, &v, e);
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
    const lc_source *g = m->source;
    lc_hparams *hp = &m->hp;
    llamac_status st = lc_source_get_str(g, "general.architecture", 1, m->info.arch, sizeof m->info.arch, e);
    if (st)
        return st;
    if (strcmp(m->info.arch, "llama") != 0)
        return lc_fail(e, LLAMAC_E_UNSUPPORTED,
                       "architecture '%s' is not supported: llamac runs Llama 3 models (general.architecture = llama)",
                       m->info.arch);
    if ((st = lc_source_get_str(g, "general.name", 0, m->info.name, sizeof m->info.name, e)))
        return st;

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
    if ((st = lc_source_get_f64(g, "llama.rope.freq_base", 0, &theta, e)) ||
        (st = lc_source_get_f64(g, "llama.attention.layer_norm_rms_epsilon", 0, &eps, e)))
        return st;
    if (!(theta > 1.0) || !isfinite(theta))
        return lc_fail(e, LLAMAC_E_MODEL, "rope.freq_base %g is not a valid base (> 1)", theta);
    if (!(eps > 0.0) || !(eps < 1.0))
        return lc_fail(e, LLAMAC_E_MODEL, "layer_norm_rms_epsilon %g is not in (0, 1)", eps);
    hp->rope_theta = theta;
    hp->norm_eps = (float)eps;
    char kind[32] = "none";
    if ((st = lc_source_get_str(g, "llama.rope.scaling.type", 0, kind, sizeof kind, e)))
        return st;
    if (strcmp(kind, "none") != 0 && strcmp(kind, "llama3") != 0)
        return lc_fail(e, LLAMAC_E_UNSUPPORTED,
                       "rope scaling type '%s' is not supported (Llama 3 uses none, or the rope_freqs tensor)", kind);
    return LLAMAC_OK;
}

/* ---- tensors: checks and the bind list ---- */
typedef struct bind_list {
    lc_bind *b; /* [cap] */
    int n, cap;
} bind_list;

static void add_bind(bind_list *bl, int kind, const lc_source_tensor *t, lc_weight *w, const float **v)
{
    bl->b[bl->n++] = (lc_bind){kind, t, t->transform, {LC_SLICE_NONE, 0, 0}, w, v};
}

static llamac_status find(const llamac_model *m, const char *name, int required, const lc_source_tensor **out,
                          lc_err *e)
{
    *out = lc_source_find(m->source, name);
    if (!*out && required)
        return lc_fail(e, LLAMAC_E_MODEL, "tensor '%s' is missing", name);
    return LLAMAC_OK;
}

static llamac_status check_shape(const lc_source_tensor *t, int n_dims, int64_t ne0, int64_t ne1, lc_err *e)
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

/* A row permutation declared by the source must cut the rows into heads of head_dim rows. */
static llamac_status check_transform(const llamac_model *m, const lc_source_tensor *t, lc_err *e)
{
    const lc_transform *tr = &t->transform;
    if (tr->kind == LC_TRANSFORM_NONE)
        return LLAMAC_OK;
    if (tr->n_head < 1 || lc_source_rows(t) != (int64_t)tr->n_head * m->hp.head_dim)
        return lc_fail(e, LLAMAC_E_MODEL, "tensor '%s': its row permutation over %d heads does not match head_dim %d",
                       t->name, tr->n_head, m->hp.head_dim);
    return lc_transform_check(tr, t->name, lc_source_rows(t), e);
}

static llamac_status bind_matrix(llamac_model *m, bind_list *bl, const char *name, int64_t n_in, int64_t n_out,
                                 lc_weight *w, lc_err *e)
{
    const lc_source_tensor *t;
    llamac_status st = find(m, name, 1, &t, e);
    if (st || (st = check_shape(t, 2, n_in, n_out, e)))
        return st;
    const lc_type_traits *tt = lc_type_traits_get(t->type);
    const lc_kernels *k = lc_kernels_get();
    if (!tt || tt->vec_dot_type < 0 || !k->gemm[t->type])
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "tensor '%s' has type %s, which llamac cannot compute with yet", name,
                       llamac_type_name(t->type));
    if ((st = check_transform(m, t, e)))
        return st;
    add_bind(bl, LC_BIND_MATRIX, t, w, NULL);
    return LLAMAC_OK;
}

/* A norm vector, bound as f32 (the loader converts it if the file stores another type). */
static llamac_status bind_vector(llamac_model *m, bind_list *bl, const char *name, int64_t n, const float **out,
                                 lc_err *e)
{
    const lc_source_tensor *t;
    llamac_status st = find(m, name, 1, &t, e);
    if (st || (st = check_shape(t, 1, n, 1, e)))
        return st;
    if (!lc_type_traits_get(t->type))
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "tensor '%s' has type %s, which llamac cannot read", name,
                       llamac_type_name(t->type));
    if (t->transform.kind != LC_TRANSFORM_NONE)
        return lc_fail(e, LLAMAC_E_MODEL, "tensor '%s' is a vector and cannot have a row permutation", name);
    add_bind(bl, LC_BIND_VECTOR, t, NULL, out);
    return LLAMAC_OK;
}

/* Checks every tensor the forward pass reads against the hyperparameters (n_vocab comes from token_embd) and
 * writes the bind list: the token embedding (read by row), output_norm, the output matrix (token_embd again
 * when tied), the nine tensors of every layer, and rope_freqs into *rope_divisors when the file has it. */
static llamac_status bind_tensors(llamac_model *m, bind_list *bl, const float **rope_divisors, lc_err *e)
{
    lc_hparams *hp = &m->hp;
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim, kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    bl->cap = 4 + 9 * hp->n_layer;
    bl->b = calloc((size_t)bl->cap, sizeof *bl->b);
    m->layers = model_alloc(m, (size_t)hp->n_layer * sizeof(lc_layer));
    if (!bl->b || !m->layers)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    const lc_source_tensor *te;
    llamac_status st = find(m, "token_embd.weight", 1, &te, e);
    if (st)
        return st;
    if (te->n_dims != 2 || te->ne[0] != hp->n_embd || te->ne[1] < 1 || te->ne[1] > INT32_MAX)
        return lc_fail(e, LLAMAC_E_MODEL, "tensor 'token_embd.weight' has shape [%" PRId64 ", %" PRId64
                       "], expected [%d, n_vocab]", te->ne[0], te->ne[1], hp->n_embd);
    hp->n_vocab = (int)te->ne[1];
    int vocab_meta = hp->n_vocab;
    if ((st = get_int(m->source, "llama.vocab_size", 0, 1, INT32_MAX, &vocab_meta, e)))
        return st;
    if (vocab_meta != hp->n_vocab)
        return lc_fail(e, LLAMAC_E_MODEL, "llama.vocab_size is %d but token_embd.weight has %d rows", vocab_meta,
                       hp->n_vocab);
    if (!lc_type_traits_get(te->type))
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "tensor 'token_embd.weight' has type %s, which llamac cannot read",
                       llamac_type_name(te->type));
    if (te->transform.kind != LC_TRANSFORM_NONE)
        return lc_fail(e, LLAMAC_E_MODEL, "tensor 'token_embd.weight' cannot have a row permutation");
    add_bind(bl, LC_BIND_ROWS, te, &m->tok_embd, NULL);

    if ((st = bind_vector(m, bl, "output_norm.weight", hp->n_embd, &m->output_norm, e)))
        return st;
    const lc_source_tensor *to;
    if ((st = find(m, "output.weight", 0, &to, e)))
        return st;
    if (!to)
        m->info.tied_embeddings = 1;
    if ((st = bind_matrix(m, bl, to ? "output.weight" : "token_embd.weight", hp->n_embd, hp->n_vocab, &m->output, e)))
        return st;

    for (int l = 0; l < hp->n_layer; l++) {
        lc_layer *L = &m->layers[l];
        char nm[96];
#define NAME(suffix) (snprintf(nm, sizeof nm, "blk.%d." suffix, l), nm)
        if ((st = bind_vector(m, bl, NAME("attn_norm.weight"), hp->n_embd, &L->attn_norm, e)) ||
            (st = bind_matrix(m, bl, NAME("attn_q.weight"), hp->n_embd, q_dim, &L->wq, e)) ||
            (st = bind_matrix(m, bl, NAME("attn_k.weight"), hp->n_embd, kv_dim, &L->wk, e)) ||
            (st = bind_matrix(m, bl, NAME("attn_v.weight"), hp->n_embd, kv_dim, &L->wv, e)) ||
            (st = bind_matrix(m, bl, NAME("attn_output.weight"), q_dim, hp->n_embd, &L->wo, e)) ||
            (st = bind_vector(m, bl, NAME("ffn_norm.weight"), hp->n_embd, &L->ffn_norm, e)) ||
            (st = bind_matrix(m, bl, NAME("ffn_gate.weight"), hp->n_embd, hp->n_ff, &L->w_gate, e)) ||
            (st = bind_matrix(m, bl, NAME("ffn_up.weight"), hp->n_embd, hp->n_ff, &L->w_up, e)) ||
            (st = bind_matrix(m, bl, NAME("ffn_down.weight"), hp->n_ff, hp->n_embd, &L->w_down, e)))
            return st;
#undef NAME
    }
    if (lc_source_find(m->source, "rope_freqs.weight"))
        return bind_vector(m, bl, "rope_freqs.weight", hp->head_dim / 2, rope_divisors, e);
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

/* divisors: the rope_freqs vector (head_dim/2 values) when the file has one, else NULL */
static llamac_status init_rope(llamac_model *m, const float *divisors, lc_err *e)
{
    const lc_hparams *hp = &m->hp;
    int n_pairs = hp->head_dim / 2;
    m->rope_inv_freq = model_alloc(m, (size_t)n_pairs * sizeof(double));
    if (!m->rope_inv_freq)
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    if (divisors) {
        for (int i = 0; i < n_pairs; i++)
            if (!(divisors[i] > 0.0f) || !isfinite(divisors[i]))
                return lc_fail(e, LLAMAC_E_MODEL, "rope_freqs.weight[%d] = %g is not a positive divisor", i,
                               (double)divisors[i]);
        m->info.has_rope_freqs = 1;
    }
    char kind[32] = "none";
    int llama3_meta = !divisors &&
                      lc_source_get_str(m->source, "llama.rope.scaling.type", 0, kind, sizeof kind, e) == LLAMAC_OK &&
                      strcmp(kind, "llama3") == 0;
    double factor = 8.0, low = 1.0, high = 4.0, orig = 8192.0;
    if (llama3_meta) {
        llamac_status st;
        const lc_source *g = m->source;
        if ((st = lc_source_get_f64(g, "llama.rope.scaling.factor", 1, &factor, e)) ||
            (st = lc_source_get_f64(g, "llama.rope.scaling.low_freq_factor", 0, &low, e)) ||
            (st = lc_source_get_f64(g, "llama.rope.scaling.high_freq_factor", 0, &high, e)) ||
            (st = lc_source_get_f64(g, "llama.rope.scaling.original_context_length", 0, &orig, e)))
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
    for (int64_t i = 0; i < m->source->n_tensors; i++) {
        const lc_source_tensor *t = &m->source->tensors[i];
        n += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        bytes += t->n_bytes;
    }
    in->n_params = n;
    in->weight_bytes = bytes;
}

/* The source's vocabulary, if it has one; its size must match token_embd. */
static llamac_status load_tokenizer(llamac_model *m, lc_err *e)
{
    llamac_status st = m->source->ops->vocab(m->source, &m->tokenizer, e);
    if (st || !m->tokenizer)
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

llamac_status lc_model_load_source(lc_source *src, const llamac_model_params *params, llamac_model **out,
                                   lc_err *e)
{
    *out = NULL;
    llamac_model_params p = params ? *params : llamac_model_default_params();
    llamac_model *m = calloc(1, sizeof *m);
    if (!m) {
        lc_source_close(src);
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    }
    m->source = src;
    bind_list bl = {0};
    const float *rope_divisors = NULL; /* bound by the loader (rope_freqs.weight), read by init_rope */
    const int mode = p.use_mmap ? LC_WEIGHTS_MAPPED : p.background ? LC_WEIGHTS_BACKGROUND : LC_WEIGHTS_COPY;
    llamac_status st = read_hparams(m, e);
    if (!st)
        st = bind_tensors(m, &bl, &rope_divisors, e);
    if (!st)
        st = lc_weights_load(m->source, bl.b, bl.n, mode, p.n_threads, &m->weights, e);
    free(bl.b);
    if (!st)
        st = init_rope(m, rope_divisors, e);
    if (!st)
        st = load_tokenizer(m, e);
    if (st) {
        llamac_model_free(m);
        return st;
    }
    fill_info(m);
    *out = m;
    return LLAMAC_OK;
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
    lc_source *src = NULL;
    llamac_status st = lc_source_open_gguf(path, &src, &e);
    if (!st && (st = lc_model_load_source(src, params, out, &e)) && strncmp(e.msg, path, strlen(path)) != 0) {
        char inner[sizeof e.msg];
        snprintf(inner, sizeof inner, "%s", e.msg);
        lc_fail(&e, st, "%s: %s", path, inner);
    }
    if (st)
        lc_err_copy(&e, err, err_size);
    return st;
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
    return m && m->source ? m->source->gguf : NULL;
}

int llamac_model_loaded(const llamac_model *m)
{
    return m ? lc_weights_finished(m->weights) : 0;
}

llamac_status llamac_model_wait_loaded(llamac_model *m, char *err, size_t err_size)
{
    if (!m)
        return LLAMAC_E_INVALID_ARG;
    lc_err e = {{0}};
    llamac_status st = lc_weights_wait(m->weights, &e);
    if (st)
        lc_err_copy(&e, err, err_size);
    return st;
}
