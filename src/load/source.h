/*
 * source.h — a tensor source: what a model file format hands the loader.
 *
 * A source answers three questions and nothing else: the hyperparameters (typed lookups by GGUF key name:
 * general.architecture, llama.embedding_length, ... — a format with other names translates), the vocabulary if
 * it carries one, and, per tensor name, its type, shape and where its bytes lie (which of the source's files,
 * at which byte offset, how many). It never copies tensor data and knows nothing of Llama shapes: checking
 * those is the model's job (core/model.c), placing the bytes in memory the loader's (load/weights.c).
 *
 *     lc_source *src;
 *     lc_source_open_gguf("model.gguf", &src, e);
 *     const lc_source_tensor *t = lc_source_find(src, "blk.0.attn_q.weight");
 *     // t->type, t->ne[], src->files[t->file].map + t->offset .. + t->n_bytes
 *     lc_source_close(src);
 *
 * Invariants after a successful open: every file is mapped read-only as a whole for the life of the source;
 * every tensor has a known ggml type (perhaps one llamac cannot compute with: the model checks), 1..4 dims
 * >= 1, ne[0] a whole number of blocks, n_bytes = rows * (bytes of a row of ne[0] elements) with rows =
 * ne[1] * ne[2] * ne[3], stored row after row in [offset, offset + n_bytes) inside its file; names are
 * unique. The loader checks the byte geometry again before it reads.
 * A source may declare a row transform per tensor (e.g. Hugging Face stores attn_q / attn_k rows in
 * rotate-half order): the loader applies it, so the model always sees Meta's row order.
 */
#ifndef LC_SOURCE_H
#define LC_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "llamac.h"
#include "llamac_tokenizer.h"
#include "util/err.h"

/* How the stored rows of a tensor become the rows the model uses (applied on load). */
enum lc_transform_kind {
    LC_TRANSFORM_NONE = 0,
    /* The rows form n_head heads of hd = rows / n_head rows (hd even), each stored in rotate-half order
     * (Hugging Face: stored row p*hd/2 + i holds RoPE pair i, component p) and wanted interleaved (Meta and
     * GGUF: model row 2*i + p). So model row h*hd + 2*i + p is stored row h*hd + p*hd/2 + i. */
    LC_TRANSFORM_ROPE_HALF_TO_INTERLEAVED,
};

typedef struct lc_transform {
    int kind;   /* enum lc_transform_kind */
    int n_head; /* ROPE_HALF_TO_INTERLEAVED: heads the rows form */
} lc_transform;

/* One file of a source (a GGUF file, or one shard of a checkpoint split over several files). */
typedef struct lc_source_file {
    char *path;         /* owned by the source; for messages and for the loader's own reads (pread) */
    const uint8_t *map; /* the whole file, mapped read-only (owned by the source) */
    uint64_t size;
} lc_source_file;

typedef struct lc_source_tensor {
    const char *name;       /* GGUF naming (blk.N.attn_q.weight, ...); owned by the source */
    int type;               /* ggml type number (llamac_type; may be one llamac cannot compute with) */
    int n_dims;
    int64_t ne[4];          /* ne[0] innermost: elements per row; unused dims are 1 */
    int file;               /* index into lc_source.files */
    uint64_t offset;        /* absolute byte offset in that file */
    uint64_t n_bytes;       /* rows x row bytes, rows stored one after another */
    lc_transform transform; /* stored order -> model order (LC_TRANSFORM_NONE for GGUF files) */
} lc_source_tensor;

typedef struct lc_source lc_source;

/* What each format implements. The metadata lookups follow lc_gguf_get_*'s contract: LLAMAC_OK with *out set;
 * a present key of an incompatible type or out-of-range value fails with a message naming the key; a missing
 * key is LLAMAC_OK with *out untouched when `required` is 0, else LLAMAC_E_MODEL. */
typedef struct lc_source_ops {
    llamac_status (*get_i64)(const lc_source *s, const char *key, int required, int64_t *out, lc_err *e);
    llamac_status (*get_f64)(const lc_source *s, const char *key, int required, double *out, lc_err *e);
    /* copies the value NUL-terminated into buf (truncated to size) */
    llamac_status (*get_str)(const lc_source *s, const char *key, int required, char *buf, size_t size, lc_err *e);
    /* The vocabulary (caller owns it), or *out = NULL and LLAMAC_OK when the source carries none. */
    llamac_status (*vocab)(const lc_source *s, llamac_tokenizer **out, lc_err *e);
    /* Frees the format's state (impl), including the files' mappings; lc_source_close frees the rest. */
    void (*close)(lc_source *s);
} lc_source_ops;

struct lc_source {
    const lc_source_ops *ops;
    void *impl;                /* the format's state */
    int n_files;
    lc_source_file *files;     /* [n_files], owned */
    int64_t n_tensors;
    lc_source_tensor *tensors; /* [n_tensors], owned (a test may change a tensor's transform before loading) */
    const llamac_gguf *gguf;   /* the GGUF view when the source is one GGUF file (llamac_model_gguf), else NULL */
};

/* Opens a GGUF file as a source (src/gguf parses and validates it; see docs/GGUF.md). */
llamac_status lc_source_open_gguf(const char *path, lc_source **out, lc_err *e);

/* Frees a source (NULL: no-op). Weights bound into its mappings are invalid afterwards. */
void lc_source_close(lc_source *s);

/* The tensor of that name, or NULL. */
const lc_source_tensor *lc_source_find(const lc_source *s, const char *name);

static inline llamac_status lc_source_get_i64(const lc_source *s, const char *key, int required, int64_t *out,
                                              lc_err *e)
{
    return s->ops->get_i64(s, key, required, out, e);
}

static inline llamac_status lc_source_get_f64(const lc_source *s, const char *key, int required, double *out,
                                              lc_err *e)
{
    return s->ops->get_f64(s, key, required, out, e);
}

static inline llamac_status lc_source_get_str(const lc_source *s, const char *key, int required, char *buf,
                                              size_t size, lc_err *e)
{
    return s->ops->get_str(s, key, required, buf, size, e);
}

/* Rows of a tensor (ne[1] * ne[2] * ne[3]). */
static inline int64_t lc_source_rows(const lc_source_tensor *t)
{
    return t->ne[1] * t->ne[2] * t->ne[3];
}

/* The stored row that holds model row r of an n_rows-row tensor under transform tr (tr already validated by
 * lc_transform_check). */
static inline int64_t lc_transform_row(const lc_transform *tr, int64_t n_rows, int64_t r)
{
    if (tr->kind != LC_TRANSFORM_ROPE_HALF_TO_INTERLEAVED)
        return r;
    const int64_t hd = n_rows / tr->n_head, j = r % hd;
    return r - j + (j & 1) * (hd / 2) + j / 2;
}

/* LLAMAC_OK if tr can apply to a tensor of n_rows rows, else LLAMAC_E_MODEL naming the tensor. */
llamac_status lc_transform_check(const lc_transform *tr, const char *name, int64_t n_rows, lc_err *e);

#endif
