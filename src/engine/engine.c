/*
 * engine.c — the continuous-batching engine (include/llamac_engine.h). Stubs for now: the API is fixed first so
 * that the server can be written against it.
 */
#include <stdio.h>
#include <string.h>

#include "llamac.h"
#include "util/err.h"

llamac_engine_params llamac_engine_default_params(void)
{
    llamac_engine_params p;
    memset(&p, 0, sizeof p);
    p.n_parallel = 4;
    p.n_ctx = 4096;
    p.prefix_cache = 1;
    p.max_queue = 64;
    p.step_tokens = 256;
    return p;
}

llamac_job_params llamac_job_default_params(void)
{
    llamac_job_params p;
    memset(&p, 0, sizeof p);
    p.gen = llamac_gen_default_params();
    return p;
}

llamac_status llamac_engine_create(llamac_model *model, const llamac_engine_params *params, llamac_engine **out,
                                   char *err, size_t err_size)
{
    (void)model, (void)params;
    if (out)
        *out = NULL;
    if (err && err_size)
        snprintf(err, err_size, "llamac_engine_create: not implemented yet");
    return LLAMAC_E_INVALID_ARG;
}

void llamac_engine_free(llamac_engine *e)
{
    (void)e;
}

void llamac_engine_get_params(const llamac_engine *e, llamac_engine_params *out)
{
    (void)e;
    if (out)
        memset(out, 0, sizeof *out);
}

const llamac_model *llamac_engine_model(const llamac_engine *e)
{
    (void)e;
    return NULL;
}

llamac_status llamac_engine_submit(llamac_engine *e, const llamac_job_params *params, llamac_job **out,
                                   int64_t *n_prompt_tokens, char *err, size_t err_size)
{
    (void)e, (void)params;
    if (out)
        *out = NULL;
    if (n_prompt_tokens)
        *n_prompt_tokens = 0;
    if (err && err_size)
        snprintf(err, err_size, "llamac_engine_submit: not implemented yet");
    return LLAMAC_E_INVALID_ARG;
}

llamac_status llamac_job_wait(llamac_job *job, int timeout_ms, llamac_job_update *out)
{
    (void)job, (void)timeout_ms;
    if (out)
        memset(out, 0, sizeof *out);
    return LLAMAC_E_INVALID_ARG;
}

void llamac_job_cancel(llamac_job *job)
{
    (void)job;
}

void llamac_job_free(llamac_job *job)
{
    (void)job;
}

void llamac_engine_get_stats(const llamac_engine *e, llamac_engine_stats *out)
{
    (void)e;
    if (out)
        memset(out, 0, sizeof *out);
}
