/*
 * source.c — the format-independent part of a tensor source (source.h): closing, lookup by name, and the
 * check that a declared row transform fits its tensor.
 */
#include "load/source.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void lc_source_close(lc_source *s)
{
    if (!s)
        return;
    if (s->ops && s->ops->close)
        s->ops->close(s);
    for (int i = 0; s->files && i < s->n_files; i++)
        free(s->files[i].path);
    free(s->files);
    free(s->tensors);
    free(s);
}

const lc_source_tensor *lc_source_find(const lc_source *s, const char *name)
{
    for (int64_t i = 0; i < s->n_tensors; i++)
        if (strcmp(s->tensors[i].name, name) == 0)
            return &s->tensors[i];
    return NULL;
}

llamac_status lc_transform_check(const lc_transform *tr, const char *name, int64_t n_rows, lc_err *e)
{
    switch (tr->kind) {
    case LC_TRANSFORM_NONE:
        return LLAMAC_OK;
    case LC_TRANSFORM_ROPE_HALF_TO_INTERLEAVED:
        if (tr->n_head < 1 || n_rows % tr->n_head != 0 || (n_rows / tr->n_head) % 2 != 0)
            return lc_fail(e, LLAMAC_E_MODEL,
                           "tensor '%s': %" PRId64 " rows do not form %d heads of an even number of rows (rotate-half "
                           "row order)", name, n_rows, tr->n_head);
        return LLAMAC_OK;
    default:
        return lc_fail(e, LLAMAC_E_MODEL, "tensor '%s': unknown row transform %d", name, tr->kind);
    }
}
