/*
 * bench_attn.c — decode attention micro-benchmark: one token attending to D cached positions in every layer,
 * over a KV pool laid out like the engine's (kv_pool.h: a block holds K and V of every (layer, KV head) for
 * block_size positions), through the kernel table's attention entry and the same task split as decode.c.
 * The KV (n_layer x n_head_kv x D x head_dim x 2 elements) is larger than the L3 for the default shape, so it
 * streams from DRAM as in a real deep decode.
 *
 *   bench_attn [-t THREADS] [-d DEPTH] [--kv f16|f32] [--block N] [--huge] [-r REPS]
 *              [--layers 16] [--heads-kv 8] [--rep 4] [--hd 64]
 *
 * Defaults: the Llama-3.2-1B shape, depth 4096, f16, blocks of 32, 2 threads. Prints ms per token (median and
 * best of REPS passes over all layers) and the KV bytes read per second; with -t 1 also the thread's CPU time
 * (less disturbed by other processes on a busy machine). LLAMAC_KERNELS picks the table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bench_util.h"
#include "core/ops.h"
#include "kernels/kernels.h"
#include "util/threadpool.h"

/* CPU time of the calling thread: with -t 1 it excludes the time other processes held the core */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct job {
    const lc_kernels *kern;
    char *base;
    const int32_t *blocks;
    size_t slab, block_bytes;
    int layer, n_head_kv, n_rep, hd, depth, block_log2, f16;
    const float *q;
    float *out, *scores;
} job;

static void attn_task(void *arg, int64_t h, int thread)
{
    job *j = arg;
    const char *k = j->base + ((size_t)(j->layer * j->n_head_kv + h) * 2) * j->slab;
    lc_kv_view kv = {k, k + j->slab, j->blocks, j->block_bytes, j->block_log2, j->f16};
    const int64_t off = h * j->n_rep * j->hd;
    j->kern->attention(j->out + off, j->q + off, j->n_rep, &kv, j->depth, j->hd,
                       j->scores + (size_t)thread * j->n_rep * j->depth);
}

int main(int argc, char **argv)
{
    int n_threads = 2, depth = 4096, f16 = 1, block = 32, huge = 0, reps = 20;
    int n_layer = 16, n_head_kv = 8, n_rep = 4, hd = 64;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-t") && v)
            n_threads = atoi(argv[++i]);
        else if (!strcmp(a, "-d") && v)
            depth = atoi(argv[++i]);
        else if (!strcmp(a, "--kv") && v)
            f16 = strcmp(argv[++i], "f32") != 0;
        else if (!strcmp(a, "--block") && v)
            block = atoi(argv[++i]);
        else if (!strcmp(a, "--huge"))
            huge = 1;
        else if (!strcmp(a, "-r") && v)
            reps = atoi(argv[++i]);
        else if (!strcmp(a, "--layers") && v)
            n_layer = atoi(argv[++i]);
        else if (!strcmp(a, "--heads-kv") && v)
            n_head_kv = atoi(argv[++i]);
        else if (!strcmp(a, "--rep") && v)
            n_rep = atoi(argv[++i]);
        else if (!strcmp(a, "--hd") && v)
            hd = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [-t N] [-d DEPTH] [--kv f16|f32] [--block N] [--huge] [-r REPS] [--layers N] "
                            "[--heads-kv N] [--rep N] [--hd N]\n", argv[0]);
            return 2;
        }
    }
    int block_log2 = 4;
    while ((1 << block_log2) < block)
        block_log2++;
    if (n_threads < 1 || depth < 1 || reps < 1 || n_layer < 1 || n_head_kv < 1 || n_rep < 1 || hd < 1 ||
        block_log2 > 12) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    block = 1 << block_log2;
    const int esize = f16 ? 2 : 4, n_blocks = (depth + block - 1) / block;
    const size_t slab = (size_t)block * hd * esize, block_bytes = 2 * (size_t)n_layer * n_head_kv * slab;
    const size_t bytes = (size_t)n_blocks * block_bytes;
    char *base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        fprintf(stderr, "cannot map %zu bytes\n", bytes);
        return 1;
    }
    if (huge)
        madvise(base, bytes, MADV_HUGEPAGE);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < bytes / (size_t)esize; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        float x = (float)((int64_t)(s >> 40) - (1 << 23)) / (float)(1 << 23);
        if (f16)
            ((lc_half *)base)[i] = lc_f32_to_half(x);
        else
            ((float *)base)[i] = x;
    }
    int32_t *blocks = malloc(sizeof(int32_t) * (size_t)n_blocks);
    const int n_q = n_head_kv * n_rep;
    float *q = malloc(sizeof(float) * (size_t)n_q * hd), *out = malloc(sizeof(float) * (size_t)n_q * hd);
    float *scores = malloc(sizeof(float) * (size_t)n_threads * n_rep * depth);
    double *ms = malloc(sizeof(double) * (size_t)reps), *cms = malloc(sizeof(double) * (size_t)reps);
    lc_pool *pool = lc_pool_create(n_threads);
    if (!blocks || !q || !out || !scores || !ms || !cms || !pool) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (int b = 0; b < n_blocks; b++)
        blocks[b] = b;
    for (int i = 0; i < n_q * hd; i++)
        q[i] = (float)((i * 37) % 101 - 50) / 25.0f;
    job j = {lc_kernels_get(), base, blocks, slab, block_bytes, 0, n_head_kv, n_rep, hd, depth, block_log2, f16,
             q, out, scores};
    double check = 0;
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        double t0 = bench_now(), c0 = cpu_now();
        for (int l = 0; l < n_layer; l++) {
            j.layer = l;
            lc_pool_run(pool, attn_task, &j, n_head_kv);
        }
        double t = (bench_now() - t0) * 1e3, c = (cpu_now() - c0) * 1e3;
        if (r >= 0)
            ms[r] = t, cms[r] = c;
        check += out[0];
    }
    qsort(ms, (size_t)reps, sizeof(double), bench_cmp_double);
    qsort(cms, (size_t)reps, sizeof(double), bench_cmp_double);
    const double kv_bytes = (double)n_layer * n_head_kv * depth * hd * esize * 2;
    printf("attention %s: %d layers x %d KV heads x %d query heads, hd %d, depth %d, %s KV, blocks of %d%s, "
           "%d threads\n",
           j.kern->name, n_layer, n_head_kv, n_rep, hd, depth, f16 ? "f16" : "f32", block, huge ? " (huge pages)" : "",
           n_threads);
    printf("ms/token: median %.3f  best %.3f  (KV %.1f MiB: %.1f GB/s at the median)  [check %g]\n",
           ms[reps / 2], ms[0], kv_bytes / (1 << 20), kv_bytes / (ms[reps / 2] * 1e6), check);
    if (n_threads == 1)
        printf("CPU ms/token (the one thread's CPU time, excludes preemption): median %.3f  best %.3f\n",
               cms[reps / 2], cms[0]);
    lc_pool_free(pool);
    munmap(base, bytes);
    free(blocks);
    free(q);
    free(out);
    free(scores);
    free(ms);
    free(cms);
    return 0;
}
