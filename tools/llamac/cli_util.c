/*
 * cli_util.c — option parsing and error reporting shared by the subcommands.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("llamac: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

char *cli_read_input(const char *what, const char *path, size_t *len)
{
    char err[600];
    char *buf = NULL;
    size_t n = 0;
    if (strcmp(path, "-")) {
        if (llamac_read_file(path, CLI_FILE_MAX, &buf, &n, err, sizeof err)) {
            cli_error("cannot read %s file: %s", what, err);
            return NULL;
        }
    } else { /* stdin, at most CLI_FILE_MAX bytes */
        size_t cap = 1 << 16;
        buf = malloc(cap + 1);
        size_t got;
        while (buf && (got = fread(buf + n, 1, cap - n, stdin)) > 0) {
            n += got;
            if (n == cap) {
                char *nb = cap <= CLI_FILE_MAX ? realloc(buf, cap * 2 + 1) : NULL;
                if (!nb) {
                    cli_error("%s: standard input is larger than %zu bytes or memory ran out", what, CLI_FILE_MAX);
                    free(buf);
                    return NULL;
                }
                buf = nb;
                cap *= 2;
            }
        }
        if (!buf || ferror(stdin)) {
            cli_error("%s: cannot read standard input", what);
            free(buf);
            return NULL;
        }
        buf[n] = 0;
    }
    if (len)
        *len = n;
    return buf;
}

int cli_clamp_threads(const char *opt, int n)
{
    const int cores = llamac_n_cores() > 0 ? llamac_n_cores() : 1;
    const int limit = 4 * cores < CLI_MAX_THREADS ? 4 * cores : CLI_MAX_THREADS;
    if (n <= limit)
        return n;
    fprintf(stderr, "llamac: warning: %s %d is more than 4 threads per online core (%d cores): using %d\n", opt, n,
            cores, limit);
    return limit;
}

const char *cli_arg(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        cli_error("option %s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cli_int(const char *opt, const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_error("option %s: '%s' is not an integer in %ld..%ld", opt, s, lo, hi);
        return 0;
    }
    *out = (int)v;
    return 1;
}

int cli_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-') {
        cli_error("option %s: '%s' is not a non-negative integer", opt, s);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_float(const char *opt, const char *s, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !isfinite(v)) {
        cli_error("option %s: '%s' is not a number", opt, s);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_token_list(const char *s, int32_t **out)
{
    size_t cap = 16, n = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v)
        return cli_error("out of memory"), -1;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long long t = strtoll(p, &end, 10);
        if (end == p || errno || t < INT32_MIN || t > INT32_MAX || (*end && *end != ',')) {
            free(v);
            cli_error("--tokens: '%s' is not a comma-separated list of token ids", s);
            return -1;
        }
        if (n == cap) {
            int32_t *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                return cli_error("out of memory"), -1;
            }
            v = nv;
        }
        v[n++] = (int32_t)t;
        p = *end ? end + 1 : end;
        if (*end == ',' && !*p) {
            free(v);
            cli_error("--tokens: trailing comma in '%s'", s);
            return -1;
        }
    }
    if (n == 0) {
        free(v);
        cli_error("--tokens: no token ids given");
        return -1;
    }
    *out = v;
    return (int)n;
}

void cli_common_init(cli_common *c)
{
    c->model = NULL;
    c->n_threads = 0;
    c->n_ctx = -1;
    c->use_mmap = llamac_model_default_params().use_mmap;
    c->kv_type = LLAMAC_KV_F32;
}

int cli_common_opt(cli_common *c, int argc, char **argv, int *i)
{
    const char *o = argv[*i], *v;
    if (!strcmp(o, "-m") || !strcmp(o, "--model")) {
        if (!(v = cli_arg(argc, argv, i)))
            return -1;
        c->model = v;
        return 1;
    }
    if (!strcmp(o, "-t") || !strcmp(o, "--threads")) {
        if (!(v = cli_arg(argc, argv, i)) || !cli_int(o, v, 1, 1024, &c->n_threads))
            return -1;
        c->n_threads = cli_clamp_threads(o, c->n_threads);
        return 1;
    }
    if (!strcmp(o, "--ctx") || !strcmp(o, "-c")) {
        if (!(v = cli_arg(argc, argv, i)) || !cli_int(o, v, 0, 1 << 24, &c->n_ctx))
            return -1;
        return 1;
    }
    if (!strcmp(o, "--no-mmap")) { /* private huge-page copy, weights repacked for the kernels */
        c->use_mmap = 0;
        return 1;
    }
    if (!strcmp(o, "--mmap")) { /* weights used in place from the file mapping: instant load */
        c->use_mmap = 1;
        return 1;
    }
    if (!strcmp(o, "--kv")) {
        if (!(v = cli_arg(argc, argv, i)))
            return -1;
        if (!strcmp(v, "f32"))
            c->kv_type = LLAMAC_KV_F32;
        else if (!strcmp(v, "f16"))
            c->kv_type = LLAMAC_KV_F16;
        else
            return cli_error("--kv: '%s' is not f32 or f16", v), -1;
        return 1;
    }
    return 0;
}

llamac_model *cli_load_model(const cli_common *c)
{
    if (!c->model) {
        cli_error("no model given (-m FILE)");
        return NULL;
    }
    llamac_model_params mp = llamac_model_default_params();
    mp.use_mmap = c->use_mmap;
    mp.n_threads = c->n_threads;
    llamac_model *m = NULL;
    char err[600];
    llamac_status st = llamac_model_load(c->model, &mp, &m, err, sizeof err);
    if (st) {
        cli_error("%s", err);
        return NULL;
    }
    return m;
}

int cli_ctx_size(const cli_common *c, const llamac_model *m)
{
    llamac_model_info info;
    llamac_model_get_info(m, &info);
    if (c->n_ctx < 0)
        return info.n_ctx_train < CLI_DEFAULT_CTX ? info.n_ctx_train : CLI_DEFAULT_CTX;
    if (c->n_ctx == 0)
        return info.n_ctx_train;
    if (c->n_ctx > info.n_ctx_train)
        fprintf(stderr, "llamac: warning: --ctx %d is beyond the %d positions this model was trained on; "
                        "expect degraded output past them\n",
                c->n_ctx, info.n_ctx_train);
    return c->n_ctx;
}
