/*
 * bench_forward.c — end-to-end forward-pass timing for kernel work (the user-facing benchmark is
 * `llamac bench`): model load time, prefill (pp: N prompt tokens in ubatches) and decode (tg: N single-token
 * steps after a short prompt, or after a prompt of --depth D tokens), reported as tokens/s, best of R repeats
 * with the median alongside, and the median per CPU-second of the process (with -t 1 that figure is the one a
 * busy machine disturbs least). --kv-block sets the KV cache's block size (positions per block).
 *
 *   bench_forward MODEL [-t THREADS] [--pp 512] [--tg 128] [-r 3] [--mmap|--no-mmap] [--ctx N] [--kv f16]
 *                       [--depth D] [--kv-block B]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "llamac.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_forward MODEL [-t N] [--pp N] [--tg N] [-r N] [--mmap|--no-mmap] [--ctx N] "
                        "[--kv f16] [--depth D] [--kv-block B]\n");
        return 2;
    }
    const char *path = argv[1];
    int n_threads = 2, pp = 512, tg = 128, reps = 3, ctx = 0, kv = LLAMAC_KV_F32, depth = 0, kv_block = 0;
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
        else if (!strcmp(argv[i], "--depth") && i + 1 < argc)
            depth = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--kv-block") && i + 1 < argc)
            kv_block = atoi(argv[++i]);
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
    mp.background = 0; /* time the steady state: the private weight copy is complete before the first test */
    char err[600];
    llamac_model *m;
    double t0 = bench_now();
    if (llamac_model_load(path, &mp, &m, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double t_load = bench_now() - t0;
    llamac_model_info info;
    llamac_model_get_info(m, &info);
    llamac_context_params cp = llamac_context_default_params();
    cp.n_threads = n_threads;
    if (depth < 0)
        depth = 0;
    cp.n_ctx = ctx > 0 ? ctx : (pp > depth ? pp : depth) + tg + 16;
    cp.n_batch = pp > 0 ? pp : 512;
    cp.kv_type = kv;
    cp.kv_block = kv_block;
    llamac_context *c;
    if (llamac_context_create(m, &cp, &c, err, sizeof err) != LLAMAC_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("%s: %s, %.2f GB, kernels %s, threads %d, %s, load %.2f s, rss after load %.0f MiB\n", path,
           llamac_type_name(info.weight_type), info.weight_bytes / 1e9, llamac_kernel_path(), n_threads,
           mp.use_mmap ? "mmap" : "no-mmap (private huge pages)", t_load, bench_status_kib("VmRSS:") / 1024.0);
    /* bytes one decode step reads: every matrix (the embedding only when it is also the output) */
    double step_bytes = 0;
    const llamac_gguf *gg = llamac_model_gguf(m);
    for (int64_t i = 0; i < llamac_gguf_n_tensors(gg); i++) {
        llamac_tensor_info ti;
        llamac_gguf_tensor(gg, i, &ti);
        if (strcmp(ti.name, "token_embd.weight") || info.tied_embeddings)
            step_bytes += (double)ti.n_bytes;
    }
    const int n_toks = pp > depth ? pp : depth > 0 ? depth : 1;
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)n_toks);
    for (int i = 0; i < n_toks; i++)
        toks[i] = (int32_t)((i * 7919u + 13) % (unsigned)info.n_vocab);
    double rpp[50], rtg[50], cpp[50], ctg[50], c0;
    for (int r = 0; r < reps; r++) {
        llamac_seq_truncate(c, 0, 0);
        if (pp > 0) {
            t0 = bench_now(), c0 = bench_cpu_now();
            if (llamac_decode_tokens(c, 0, toks, pp, 0, NULL, NULL) != LLAMAC_OK) {
                fprintf(stderr, "%s\n", llamac_context_error(c));
                return 1;
            }
            rpp[r] = pp / (bench_now() - t0), cpp[r] = pp / (bench_cpu_now() - c0);
        }
        if (llamac_seq_len(c, 0) >= depth) /* the prompt tg starts after, decoded once */
            llamac_seq_truncate(c, 0, depth);
        else
            llamac_seq_truncate(c, 0, 0);
        for (int i = llamac_seq_len(c, 0); i < depth; i += cp.n_batch) {
            llamac_batch bd = {.n_tokens = depth - i < cp.n_batch ? depth - i : cp.n_batch, .tokens = toks + i};
            if (llamac_decode(c, &bd) != LLAMAC_OK) {
                fprintf(stderr, "%s\n", llamac_context_error(c));
                return 1;
            }
        }
        int32_t t = 1;
        llamac_batch b1 = {.n_tokens = 1, .tokens = &t};
        llamac_decode(c, &b1); /* warm-up token */
        t0 = bench_now(), c0 = bench_cpu_now();
        for (int i = 0; i < tg; i++) {
            t = (int32_t)((i * 31u + 7) % (unsigned)info.n_vocab);
            if (llamac_decode(c, &b1) != LLAMAC_OK) {
                fprintf(stderr, "%s\n", llamac_context_error(c));
                return 1;
            }
        }
        rtg[r] = tg / (bench_now() - t0), ctg[r] = tg / (bench_cpu_now() - c0);
    }
    if (pp > 0) {
        qsort(rpp, (size_t)reps, sizeof(double), cmp_double);
        qsort(cpp, (size_t)reps, sizeof(double), cmp_double);
        printf("pp%d: %.1f tok/s (best; median %.1f); median %.1f tok per CPU-second\n", pp, rpp[reps - 1],
               rpp[reps / 2], cpp[reps / 2]);
    }
    if (tg > 0) {
        qsort(rtg, (size_t)reps, sizeof(double), cmp_double);
        qsort(ctg, (size_t)reps, sizeof(double), cmp_double);
        printf("tg%d at depth %d: %.2f tok/s (best; median %.2f) = %.1f GB/s of weights; median %.2f tok per "
               "CPU-second\n",
               tg, depth, rtg[reps - 1], rtg[reps / 2], rtg[reps - 1] * step_bytes / 1e9, ctg[reps / 2]);
    }
    printf("rss at end: %.0f MiB\n", bench_status_kib("VmRSS:") / 1024.0);
    free(toks);
    llamac_context_free(c);
    llamac_model_free(m);
    return 0;
}
