/*
 * bench_forward.c — end-to-end forward-pass timing for kernel work (the user-facing benchmark is
 * `llamac bench`): model load time, prefill (pp: N prompt tokens in ubatches) and decode (tg: N single-token
 * steps after a short prompt), reported as tokens/s, best of R repeats with the median alongside.
 *
 *   bench_forward MODEL [-t THREADS] [--pp 512] [--tg 128] [-r 3] [--mmap|--no-mmap] [--ctx N] [--kv f16]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llamac.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            v = atol(line + 6);
    if (f)
        fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_forward MODEL [-t N] [--pp N] [--tg N] [-r N] [--mmap|--no-mmap] [--ctx N] "
                        "[--kv f16]\n");
        return 2;
    }
    const char *path = argv[1];
    int n_threads = 2, pp = 512, tg = 128, reps = 3, ctx = 0, kv = LLAMAC_KV_F32;
    llamac_model_params mp = llamac_model_default_params();
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc)
            n_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pp") && i + 1 < argc)
            pp = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tg") && i + 1 < argc)
            tg = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ctx") && i + 1 < argc)
            ctx = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mmap"))
            mp.use_mmap = 1;
        else if (!strcmp(argv[i], "--no-mmap"))
            mp.use_mmap = 0;
        else if (!strcmp(argv[i], "--kv") && i + 1 < argc)
            kv = !strcmp(argv[++i], "f16") ? LLAMAC_KV_F16 : LLAMAC_KV_F32;
        else {
            fprintf(stderr, "bench_forward: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (reps < 1 || reps > 50)
        reps = 3;
    mp.n_threads = n_threads;
    char err[600];
    llamac_model *m;
    double t0 = now();
    if (llamac_model_load(path, &mp, &m, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double t_load = now() - t0;
    llamac_model_info info;
    llamac_model_get_info(m, &info);
    llamac_context_params cp = llamac_context_default_params();
    cp.n_threads = n_threads;
    cp.n_ctx = ctx > 0 ? ctx : pp + tg + 16;
    cp.n_batch = pp > 0 ? pp : 1;
    cp.kv_type = kv;
    llamac_context *c;
    if (llamac_context_create(m, &cp, &c, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("%s: %s, %.2f GB, kernels %s, threads %d, %s, load %.2f s, rss after load %.0f MiB\n", path,
           llamac_type_name(info.weight_type), info.weight_bytes / 1e9, llamac_kernel_path(), n_threads,
           mp.use_mmap ? "mmap" : "no-mmap (private huge pages)", t_load, rss_kib() / 1024.0);
    /* bytes one decode step reads: every matrix (the embedding only when it is also the output) */
    double step_bytes = 0;
    const llamac_gguf *gg = llamac_model_gguf(m);
    for (int64_t i = 0; i < llamac_gguf_n_tensors(gg); i++) {
        llamac_tensor_info ti;
        llamac_gguf_tensor(gg, i, &ti);
        if (strcmp(ti.name, "token_embd.weight") || info.tied_embeddings)
            step_bytes += (double)ti.n_bytes;
    }
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)(pp > 0 ? pp : 1));
    for (int i = 0; i < pp; i++)
        toks[i] = (int32_t)((i * 7919u + 13) % (unsigned)info.n_vocab);
    double rpp[50], rtg[50];
    for (int r = 0; r < reps; r++) {
        llamac_seq_truncate(c, 0, 0);
        if (pp > 0) {
            t0 = now();
            if (llamac_decode_tokens(c, 0, toks, pp, 0, NULL, NULL) != LLAMAC_OK) {
                fprintf(stderr, "%s\n", llamac_context_error(c));
                return 1;
            }
            rpp[r] = pp / (now() - t0);
        }
        llamac_seq_truncate(c, 0, 0);
        int32_t t = 1;
        llamac_batch b1 = {.n_tokens = 1, .tokens = &t};
        llamac_decode(c, &b1); /* warm-up token */
        t0 = now();
        for (int i = 0; i < tg; i++) {
            t = (int32_t)((i * 31u + 7) % (unsigned)info.n_vocab);
            if (llamac_decode(c, &b1) != LLAMAC_OK) {
                fprintf(stderr, "%s\n", llamac_context_error(c));
                return 1;
            }
        }
        rtg[r] = tg / (now() - t0);
    }
    if (pp > 0) {
        qsort(rpp, (size_t)reps, sizeof(double), cmp_double);
        printf("pp%d: %.1f tok/s (best; median %.1f)\n", pp, rpp[reps - 1], rpp[reps / 2]);
    }
    if (tg > 0) {
        qsort(rtg, (size_t)reps, sizeof(double), cmp_double);
        printf("tg%d: %.2f tok/s (best; median %.2f) = %.1f GB/s of weights\n", tg, rtg[reps - 1], rtg[reps / 2],
               rtg[reps - 1] * step_bytes / 1e9);
    }
    printf("rss at end: %.0f MiB\n", rss_kib() / 1024.0);
    free(toks);
    llamac_context_free(c);
    llamac_model_free(m);
    return 0;
}
