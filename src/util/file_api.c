/*
 * file_api.c — the public face of util/file.c (include/llamac_file.h).
 */
#include <stdlib.h>

#include "llamac_file.h"
#include "util/file.h"

struct llamac_output {
    lc_outfile of;
};

llamac_status llamac_read_file(const char *path, size_t max_bytes, char **out, size_t *len, char *err,
                               size_t err_size)
{
    lc_err e = {{0}};
    if (!out)
        return LLAMAC_E_INVALID_ARG;
    llamac_status st = lc_read_regular(path, NULL, max_bytes, out, len, &e);
    lc_err_copy(&e, err, err_size);
    return st;
}

llamac_status llamac_output_check(const char *path, char *err, size_t err_size)
{
    lc_err e = {{0}};
    llamac_status st = lc_output_check(path, NULL, &e);
    lc_err_copy(&e, err, err_size);
    return st;
}

llamac_status llamac_log_open(const char *path, FILE **out, char *err, size_t err_size)
{
    lc_err e = {{0}};
    if (!out)
        return LLAMAC_E_INVALID_ARG;
    llamac_status st = lc_log_open(path, NULL, out, &e);
    lc_err_copy(&e, err, err_size);
    return st;
}

llamac_status llamac_output_open(const char *path, llamac_output **out, char *err, size_t err_size)
{
    lc_err e = {{0}};
    if (!out)
        return LLAMAC_E_INVALID_ARG;
    *out = NULL;
    llamac_output *o = calloc(1, sizeof *o);
    llamac_status st = o ? lc_outfile_open(&o->of, path, NULL, &e) : lc_fail(&e, LLAMAC_E_NOMEM, "out of memory");
    lc_err_copy(&e, err, err_size);
    if (st)
        free(o);
    else
        *out = o;
    return st;
}

FILE *llamac_output_stream(llamac_output *o)
{
    return o ? o->of.f : NULL;
}

llamac_status llamac_output_commit(llamac_output *o, char *err, size_t err_size)
{
    lc_err e = {{0}};
    if (!o)
        return LLAMAC_E_INVALID_ARG;
    llamac_status st = lc_outfile_commit(&o->of, &e);
    lc_err_copy(&e, err, err_size);
    free(o);
    return st;
}

void llamac_output_abort(llamac_output *o)
{
    if (!o)
        return;
    lc_outfile_abort(&o->of);
    free(o);
}
