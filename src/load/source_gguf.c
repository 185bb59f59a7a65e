/*
 * source_gguf.c — a GGUF file as a tensor source (source.h). src/gguf parses and validates the file; this
 * adapter exposes its mapping as the source's one file, its tensors in file order (no transform: GGUF already
 * stores attn_q / attn_k rows in Meta's interleaved order), its metadata through the typed getters, and the
 * vocabulary from the tokenizer.ggml.* keys when present.
 */
#include "load/source.h"

#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "tok/tok.h"

static const lc_gguf *gguf_of(const lc_source *s)
{
    return s->impl;
}

static llamac_status get_i64(const lc_source *s, const char *key, int required, int64_t *out, lc_err *e)
{
    return lc_gguf_get_i64(gguf_of(s), key, required, out, e);
}

static llamac_status get_f64(const lc_source *s, const char *key, int required, double *out, lc_err *e)
{
    return lc_gguf_get_f64(gguf_of(s), key, required, out, e);
}

static llamac_status get_str(const lc_source *s, const char *key, int required, char *buf, size_t size, lc_err *e)
{
    lc_gguf_str v = {NULL, 0};
    llamac_status st = lc_gguf_get_str(gguf_of(s), key, required, &v, e);
    if (st || !v.ptr) /* error, or absent and optional: buf untouched */
        return st;
    lc_gguf_str_copy(v, buf, size);
    return LLAMAC_OK;
}

static llamac_status vocab(const lc_source *s, llamac_tokenizer **out, lc_err *e)
{
    *out = NULL;
    if (!lc_gguf_get(gguf_of(s), "tokenizer.ggml.model"))
        return LLAMAC_OK;
    return lc_vocab_from_gguf(gguf_of(s), out, e);
}

static void close_gguf(lc_source *s)
{
    lc_gguf_close(s->impl);
}

static const lc_source_ops gguf_ops = {get_i64, get_f64, get_str, vocab, close_gguf};

llamac_status lc_source_open_gguf(const char *path, lc_source **out, lc_err *e)
{
    *out = NULL;
    lc_gguf *g;
    llamac_status st = lc_gguf_open(path, &g, e);
    if (st)
        return st;
    lc_source *s = calloc(1, sizeof *s);
    if (!s) {
        lc_gguf_close(g);
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    }
    s->ops = &gguf_ops;
    s->impl = g;
    s->gguf = g;
    s->files = calloc(1, sizeof *s->files);
    s->tensors = calloc(g->n_tensors ? (size_t)g->n_tensors : 1, sizeof *s->tensors);
    if (!s->files || !s->tensors || !(s->files[0].path = strdup(path))) {
        lc_source_close(s);
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    }
    s->n_files = 1;
    s->files[0].map = g->map;
    s->files[0].size = g->size;
    s->n_tensors = g->n_tensors;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const lc_gguf_tensor *t = &g->tensors[i];
        lc_source_tensor *d = &s->tensors[i];
        d->name = t->name;
        d->type = t->type;
        d->n_dims = t->n_dims;
        memcpy(d->ne, t->ne, sizeof d->ne);
        d->file = 0;
        d->offset = t->offset;
        d->n_bytes = t->n_bytes;
        d->transform = (lc_transform){LC_TRANSFORM_NONE, 0};
    }
    *out = s;
    return LLAMAC_OK;
}
