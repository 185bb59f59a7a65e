/*
 * tokens.c — the caller-owned growable arrays of the tokenizer API: llamac_tokens (ids) and llamac_text (bytes),
 * and the reserve functions every producer (encode.c, bpe.c, detok.c) appends through.
 *
 * Invariants: n <= cap; a struct starts as {0} and goes back to {0} when freed; llamac_text keeps room for the
 * terminating NUL (cap > n once anything was reserved). Capacity doubles, with overflow checks.
 */
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"

llamac_status lc_tokens_reserve(llamac_tokens *v, size_t extra)
{
    if (v->cap - v->n >= extra)
        return LLAMAC_OK;
    size_t cap = v->cap ? v->cap : 16;
    while (cap - v->n < extra) {
        if (cap > SIZE_MAX / 2 / sizeof(int32_t))
            return LLAMAC_E_NOMEM;
        cap *= 2;
    }
    int32_t *ids = realloc(v->ids, cap * sizeof *ids);
    if (!ids)
        return LLAMAC_E_NOMEM;
    v->ids = ids;
    v->cap = cap;
    return LLAMAC_OK;
}

llamac_status llamac_tokens_push(llamac_tokens *v, int32_t id)
{
    if (!v)
        return LLAMAC_E_INVALID_ARG;
    llamac_status st = lc_tokens_reserve(v, 1);
    if (st)
        return st;
    v->ids[v->n++] = id;
    return LLAMAC_OK;
}

void llamac_tokens_free(llamac_tokens *v)
{
    if (!v)
        return;
    free(v->ids);
    v->ids = NULL;
    v->n = v->cap = 0;
}

llamac_status lc_text_reserve(llamac_text *t, size_t extra)
{
    if (t->cap > t->n && t->cap - t->n > extra)
        return LLAMAC_OK;
    size_t cap = t->cap ? t->cap : 64;
    while (cap - t->n <= extra) {
        if (cap > SIZE_MAX / 2)
            return LLAMAC_E_NOMEM;
        cap *= 2;
    }
    char *d = realloc(t->data, cap);
    if (!d)
        return LLAMAC_E_NOMEM;
    t->data = d;
    t->cap = cap;
    return LLAMAC_OK;
}

void llamac_text_free(llamac_text *t)
{
    if (!t)
        return;
    free(t->data);
    t->data = NULL;
    t->n = t->cap = 0;
}
