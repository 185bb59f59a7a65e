/*
 * cmd_logits.c — `llamac logits -m FILE --tokens IDS -o OUT [--ubatch N] [-t N] [--ctx N]`: runs the tokens
 * as one sequence, --ubatch tokens per forward call, and writes float32 little-endian logits for every
 * position, row-major [n_tokens x n_vocab]. The file is written with llamac_output_* (an unnamed temporary
 * renamed at the end), so a failed run never leaves a partial OUT; an OUT that exists and is not a regular file
 * (symlink, FIFO, device, directory) is refused before the model is loaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct logits_out {
    FILE *f;
    int n_vocab;
    int write_failed;
} logits_out;

static int write_row(void *user, int64_t i, const float *logits)
{
    logits_out *o = user;
    (void)i;
    if (fwrite(logits, sizeof(float), (size_t)o->n_vocab, o->f) != (size_t)o->n_vocab)
        return o->write_failed = 1;
    return 0;
}

int cmd_logits(int argc, char **argv)
{
    cli_common co;
    cli_common_init(&co);
    const char *tokens_s = NULL, *out_path = NULL;
    int ubatch = 512;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(&co, argc, argv, &i);
        if (r < 0)
            return 1;
        if (r)
            continue;
        const char *o = argv[i];
        if (!strcmp(o, "--tokens")) {
            if (!(tokens_s = cli_arg(argc, argv, &i)))
                return 1;
        } else if (!strcmp(o, "-o") || !strcmp(o, "--output")) {
            if (!(out_path = cli_arg(argc, argv, &i)))
                return 1;
        } else if (!strcmp(o, "--ubatch") || !strcmp(o, "-ub")) {
            const char *v = cli_arg(argc, argv, &i);
            if (!v || !cli_int(o, v, 1, 65536, &ubatch))
                return 1;
        } else if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            printf("usage: llamac logits -m FILE --tokens ID,ID,... -o OUT [--ubatch N] [-t N] [--ctx N] [--kv f32|f16]"
                   " [--mmap|--no-mmap]\n");
            return 0;
        } else {
            return cli_error("logits: unknown option '%s'", o);
        }
    }
    if (!tokens_s)
        return cli_error("logits: --tokens is required");
    if (!out_path)
        return cli_error("logits: -o OUT is required");
    char err[600];
    if (llamac_output_check(out_path, err, sizeof err))
        return cli_error("logits: %s", err);
    int32_t *toks;
    int n = cli_token_list(tokens_s, &toks);
    if (n < 0)
        return 1;
    llamac_model *m = cli_load_model(&co);
    if (!m) {
        free(toks);
        return 1;
    }
    llamac_model_info info;
    llamac_model_get_info(m, &info);
    int rc = 1;
    llamac_context *ctx = NULL;
    llamac_output *out = NULL;
    llamac_context_params cp = llamac_context_default_params();
    cp.n_ctx = cli_ctx_size(&co, m);
    cp.n_threads = co.n_threads;
    cp.kv_type = co.kv_type;
    cp.n_batch = ubatch < n ? ubatch : n;
    cp.n_logits = cp.n_batch;
    if (llamac_context_create(m, &cp, &ctx, err, sizeof err) != LLAMAC_OK) {
        cli_error("%s", err);
        goto done;
    }
    if (n > llamac_context_n_ctx(ctx)) {
        cli_error("logits: %d tokens do not fit in the context of %d (use --ctx)", n, llamac_context_n_ctx(ctx));
        goto done;
    }
    if (llamac_output_open(out_path, &out, err, sizeof err)) {
        cli_error("logits: %s", err);
        goto done;
    }
    logits_out lo = {llamac_output_stream(out), info.n_vocab, 0};
    if (llamac_decode_tokens(ctx, 0, toks, n, 1, write_row, &lo) != LLAMAC_OK) {
        if (lo.write_failed)
            cli_error("write to '%s' failed", out_path);
        else
            cli_error("%s", llamac_context_error(ctx));
        goto done;
    }
    llamac_status cst = llamac_output_commit(out, err, sizeof err);
    out = NULL;
    if (cst) {
        cli_error("logits: %s", err);
        goto done;
    }
    rc = 0;
done:
    llamac_output_abort(out);
    free(toks);
    llamac_context_free(ctx);
    llamac_model_free(m);
    return rc;
}
