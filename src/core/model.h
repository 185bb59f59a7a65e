/*
 * model.h — a loaded Llama 3.x model: validated hyperparameters and typed views of the weights.
 *
 * Dimension names (used everywhere): n_embd (model width), n_head / n_head_kv (query / key-value heads),
 * head_dim, n_ff (SwiGLU hidden), n_vocab, n_layer. Matrices follow the file's convention: a weight with
 * GGUF shape ne = [n_in, n_out] is n_out rows of n_in elements, and y = W x means y[r] = dot(row r, x).
 *
 * Weights point into the GGUF mapping (or, when use_mmap = 0, into a private huge-page copy where matrices
 * the kernels can pack are stored in the G16 layout of kernels/pack.h); norm vectors are f32
 * (converted copies if the file stores them otherwise). Everything is read-only after load, so one model can
 * serve many contexts in parallel.
 */
#ifndef LC_MODEL_H
#define LC_MODEL_H

#include <stdatomic.h>

#include "gguf/gguf.h"
#include "llamac.h"
#include "util/err.h"

typedef struct lc_weight {
    const char *name;
    int type;          /* llamac_type; has traits and a GEMM */
    const void *data;  /* n_out rows, row_bytes apart (file layout); NULL when only the packed copy is kept */
    size_t row_bytes;
    int64_t n_in;      /* elements per row (reduction length) */
    int64_t n_out;     /* rows */
    const void *packed; /* the same matrix in the G16 layout (kernels/pack.h) for gemm_packed, or NULL */
    size_t group_bytes; /* bytes per packed group of 16 rows */
    const _Atomic int *ready; /* background load: 1 once `packed` is filled (until then use `data`); NULL:
                                 `packed` (if any) is complete */
    const void *drop_lo;      /* background load: the part of the file mapping lc_weight_drop_mapping drops */
    size_t drop_len;
} lc_weight;

/* 1 if the kernels should read w's packed copy (it exists and is complete). Both layouts give identical bits,
 * so a product may switch between them at any time. */
static inline int lc_weight_packed_ready(const lc_weight *w)
{
    return w->packed && (!w->ready || atomic_load_explicit(w->ready, memory_order_acquire));
}

/* Releases the pages of w's file mapping from this process's memory (they are reread from the page cache when
 * touched again); used while a background copy is in progress. */
void lc_weight_drop_mapping(const lc_weight *w);

/* Row r of w as f32 (from the file layout, or the packed one when that is all there is). */
void lc_weight_row_to_float(const lc_weight *w, int64_t r, float *out);

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
    lc_gguf *gguf;
    lc_hparams hp;
    llamac_model_info info;
    lc_weight tok_embd;      /* n_vocab x n_embd */
    const float *output_norm; /* [n_embd] */
    lc_weight output;        /* n_vocab x n_embd (= tok_embd when tied) */
    lc_layer *layers;        /* [n_layer] */
    double *rope_inv_freq;   /* [head_dim/2] angle per position of pair i, rope_freqs divisors applied */
    void *owned;             /* allocations freed with the model (converted norms, private weight copy) */
    llamac_tokenizer *tokenizer; /* from tokenizer.ggml.* metadata, or NULL if the file has none (owned) */
    void *weight_copy;       /* use_mmap = 0: the mapping holding the private copy of the tensor data */
    size_t weight_copy_size; /* its length (for munmap) */
    struct lc_load_state *loading; /* background copy in progress or finished (weights.c), or NULL */
};

/* use_mmap = 0: reads the weights into private huge-page memory, packing the matrices the kernels pack, with
 * n_threads threads (0 = all cores), and redirects every weight and norm pointer there (weights.c). */
llamac_status lc_model_copy_weights(llamac_model *m, const char *path, int n_threads, lc_err *e);
/* The same in the background: the packed copies are planned and bound now (each behind its `ready` flag, the
 * weights keep working from the mapping meanwhile) and filled by a background thread. */
llamac_status lc_model_copy_weights_background(llamac_model *m, const char *path, int n_threads, lc_err *e);
/* Waits for a background copy (no-op without one); returns its status (LLAMAC_E_IO with a message if reading
 * failed: the model then keeps running from the mapping). */
llamac_status lc_model_wait_weights(llamac_model *m, lc_err *e);
/* Stops and joins a background copy (for llamac_model_free). */
void lc_model_stop_weights(llamac_model *m);

#endif
