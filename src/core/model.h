/*
 * model.h — a loaded Llama 3.x model: validated hyperparameters and typed views of the weights.
 *
 * Dimension names (used everywhere): n_embd (model width), n_head / n_head_kv (query / key-value heads),
 * head_dim, n_ff (SwiGLU hidden), n_vocab, n_layer. Matrices follow the file's convention: a weight with
 * GGUF shape ne = [n_in, n_out] is n_out rows of n_in elements, and y = W x means y[r] = dot(row r, x).
 *
 * The tensors come from a tensor source (load/source.h: a GGUF file today); model.c checks them and writes a
 * bind list, and the loader (load/weights.h) fills the weights: pointers into the file mapping, or (use_mmap
 * = 0) into a private huge-page copy where matrices the kernels can pack are stored in the G16 layout of
 * kernels/pack.h; norm vectors are f32 (converted copies if the file stores them otherwise). Everything is
 * read-only after load, so one model can serve many contexts in parallel.
 */
#ifndef LC_MODEL_H
#define LC_MODEL_H

#include "llamac.h"
#include "load/source.h"
#include "load/weights.h"
#include "util/err.h"

typedef struct lc_layer {
    const float *attn_norm; /* [n_embd] */
    lc_weight wq;           /* (n_head*head_dim) rows x n_embd, Meta row order (adjacent RoPE pairs) */
    lc_weight wk;           /* (n_head_kv*head_dim) x n_embd, Meta row order */
    lc_weight wv;           /* (n_head_kv*head_dim) x n_embd */
    lc_weight wo;           /* n_embd x (n_head*head_dim) */
    const float *ffn_norm;  /* [n_embd] */
    lc_weight w_gate;       /* n_ff x n_embd   (Meta w1) */
    lc_weight w_up;         /* n_ff x n_embd   (Meta w3) */
    lc_weight w_down;       /* n_embd x n_ff   (Meta w2) */
} lc_layer;

typedef struct lc_hparams {
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx_train;
    float norm_eps;
    double rope_theta;
} lc_hparams;

struct llamac_model {
    lc_source *source;       /* where the tensors come from: files, metadata (owned) */
    lc_weights *weights;     /* the loader's state: private copy, background copy (owned) */
    lc_hparams hp;
    llamac_model_info info;
    lc_weight tok_embd;      /* n_vocab x n_embd */
    const float *output_norm; /* [n_embd] */
    lc_weight output;        /* n_vocab x n_embd (= tok_embd when tied) */
    lc_layer *layers;        /* [n_layer] */
    double *rope_inv_freq;   /* [head_dim/2] angle per position of pair i, rope_freqs divisors applied */
    void *owned;             /* allocations freed with the model (layers, RoPE table) */
    llamac_tokenizer *tokenizer; /* from the source's vocabulary, or NULL if it has none (owned) */
};

/* Loads a model from an open tensor source, which it takes over (closed on failure too): checks the
 * hyperparameters and every tensor's shape and type, builds the bind list and hands it to the loader
 * (load/weights.h) in the mode params ask for. llamac_model_load is this on a GGUF source. */
llamac_status lc_model_load_source(lc_source *src, const llamac_model_params *params, llamac_model **out,
                                   lc_err *e);

#endif
