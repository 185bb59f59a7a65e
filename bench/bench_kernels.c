/*
 * bench_kernels.c — kernel micro-benchmark: memory read bandwidth (huge pages and 4 KiB pages), GEMV GB/s
 * per weight type on Llama-shaped matrices (weights cycled through more memory than the L3 holds, so they
 * stream from DRAM as in decode), and GEMM GOP/s at nt tokens (prefill). Uses the engine's own lc_matmul, so
 * threading and activation conversion are included.
 *
 *   bench_kernels [-t THREADS] [--types q4_0,q8_0,f16,bf16,f32] [--shapes 2048x2048,14336x4096] [--nt 512]
 *                 [--gemv-nt S]  (S tokens per "gemv": the small-batch decode of S sequences)
 *                 [--no-gemm] [--no-gemv] [--raw] [--reps N]
 *                 [--gemv-in-cache]  (one copy of each GEMV matrix, which the caches hold if it fits: the
 *                                     tile's compute limit rather than the memory's, e.g. 2048x2048 in L3)
 *
 * GEMM runs the 1B shapes (2048x2048, 8192x2048, 2048x8192), and the 8B ones (4096x4096, 14336x4096,
 * 4096x14336) when --shapes names them.
 *
 * LLAMAC_KERNELS=scalar|avx2|avx512 picks the kernel table as in the engine. Rates are the best of several
 * repeats (the machine is shared; interference only slows runs down), with the median alongside.
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "core/matmul.h"
#include "kernels/kernels.h"
#include "kernels/pack.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of the calling thread: with -t 1 it excludes the time other processes held the core */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *alloc_huge(size_t size, int huge)
{
    size_t align = (size_t)2 << 20;
    size_t len = size + align;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "mmap of %zu bytes failed\n", len);
        exit(1);
    }
    char *a = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
    madvise(a, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    return a;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* the best of n rates (the machine is shared: interference only ever slows a run down) */
static double best(const double *v, int n)
{
    double b = v[0];
    for (int i = 1; i < n; i++)
        b = v[i] > b ? v[i] : b;
    return b;
}

static uint64_t g_rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}

/* ---- read bandwidth ---- */
typedef struct bw_job {
    const char *buf;
    size_t size;
    int64_t n_tasks;
    volatile uint64_t sink[64];
} bw_job;

/* reads every byte with vector loads (SSE2: no ISA flags needed) and no software prefetch: the hardware
 * prefetcher follows one stream best (prefetcht1 16 KiB ahead measured 33 -> 24 GB/s on one Zen 4 core) */
static void bw_task(void *arg, int64_t t, int thread)
{
    bw_job *j = arg;
    size_t chunk = j->size / (size_t)j->n_tasks;
    const char *p = j->buf + (size_t)t * chunk;
    __m128i s0 = _mm_setzero_si128(), s1 = s0;
    for (size_t i = 0; i < chunk; i += 64) {
        s0 = _mm_add_epi64(s0, _mm_load_si128((const __m128i *)(p + i)));
        s1 = _mm_add_epi64(s1, _mm_load_si128((const __m128i *)(p + i + 16)));
        s0 = _mm_add_epi64(s0, _mm_load_si128((const __m128i *)(p + i + 32)));
        s1 = _mm_add_epi64(s1, _mm_load_si128((const __m128i *)(p + i + 48)));
    }
    uint64_t v[2];
    _mm_storeu_si128((__m128i *)v, _mm_add_epi64(s0, s1));
    j->sink[thread * 8] += v[0] + v[1];
}

static double read_bandwidth(lc_pool *pool, int huge)
{
    size_t size = (size_t)1 << 30;
    char *buf = alloc_huge(size, huge);
    memset(buf, 1, size);
    bw_job j = {buf, size, 256, {0}};
    double r[9];
    for (int i = 0; i < 9; i++) {
        double t0 = now();
        lc_pool_run(pool, bw_task, &j, j.n_tasks);
        r[i] = size / (now() - t0) / 1e9;
    }
    munmap(buf, size);
    return best(r, 9);
}

/* ---- matrices ---- */
typedef struct bmat {
    lc_weight w[64];
    int copies;
    size_t bytes; /* bytes of one copy */
    void *mem;    /* all copies (2 MiB aligned; unmapped by free_bmat) */
} bmat;

static void free_bmat(bmat *m)
{
    munmap(m->mem, m->bytes * (size_t)m->copies);
}

static void make_bmat(bmat *m, int type, int64_t n_out, int64_t n_in, int packed, size_t min_total)
{
    size_t rb = lc_row_bytes(type, n_in);
    size_t one = rb * (size_t)n_out;
    size_t pk = packed ? lc_pack_size(type, n_out, n_in) : 0;
    m->bytes = packed ? pk : one;
    m->copies = (int)((min_total + m->bytes - 1) / m->bytes);
    if (m->copies > 64)
        m->copies = 64;
    if (m->copies < 1)
        m->copies = 1;
    /* one random source matrix of plausible values, then copies */
    uint8_t *src = alloc_huge(one, 1);
    const lc_type_traits *tt = lc_type_traits_get(type);
    float *row = malloc((size_t)n_in * sizeof(float));
    const lc_pack_layout *L = lc_pack_layout_get(type);
    for (int64_t r = 0; r < n_out; r++) {
        uint8_t *dst = src + (size_t)r * rb;
        if (L) { /* quantized: random bytes (any value is valid) with small finite half scales */
            for (size_t i = 0; i < rb; i++)
                dst[i] = (uint8_t)rnd();
            for (int64_t b = 0; b < n_in / L->blck; b++)
                for (int h = 0; h < L->nhalf; h++) {
                    lc_half v = lc_f32_to_half((float)(rnd() % 1000) * 1e-6f);
                    memcpy(dst + (size_t)b * L->block_bytes + L->half_off[h], &v, 2);
                }
            continue;
        }
        for (int64_t i = 0; i < n_in; i++)
            row[i] = (float)((int)(rnd() % 2001) - 1000) * 1e-4f;
        tt->from_float(row, dst, n_in);
    }
    free(row);
    uint8_t *all = alloc_huge(m->bytes * (size_t)m->copies, 1);
    m->mem = all;
    for (int c = 0; c < m->copies; c++) {
        uint8_t *dst = all + (size_t)c * m->bytes;
        lc_weight *w = &m->w[c];
        memset(w, 0, sizeof *w);
        w->name = "bench";
        w->type = type;
        w->n_in = n_in;
        w->n_out = n_out;
        w->row_bytes = rb;
        if (packed) {
            lc_pack_groups(type, src, rb, n_out, n_in, dst, 0, (n_out + 15) / 16);
            w->packed = dst;
            w->group_bytes = lc_pack_group_bytes(type, n_in);
        } else {
            memcpy(dst, src, one);
            w->data = dst;
        }
    }
    munmap(src, one);
}

typedef struct shape {
    int64_t n_out, n_in;
} shape;

/* 1 if sh is in the comma list of OUTxIN shapes (NULL: every shape) */
static int shape_selected(const char *list, shape sh)
{
    if (!list)
        return 1;
    char want[48];
    snprintf(want, sizeof want, "%lldx%lld", (long long)sh.n_out, (long long)sh.n_in);
    size_t n = strlen(want);
    for (const char *p = list; (p = strstr(p, want)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    int reps_opt = 0;
    int n_threads = 2, nt_gemm = 512, nt_gemv = 1, do_gemm = 1, do_gemv = 1, raw = 0, do_bw = 1, in_cache = 0;
    const char *types_s = "q4_0,q8_0,q4_k,q6_k,f16,bf16,f32", *shapes_s = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc)
            n_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--types") && i + 1 < argc)
            types_s = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps_opt = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--nt") && i + 1 < argc)
            nt_gemm = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--gemv-nt") && i + 1 < argc)
            nt_gemv = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-gemm"))
            do_gemm = 0;
        else if (!strcmp(argv[i], "--no-gemv"))
            do_gemv = 0;
        else if (!strcmp(argv[i], "--no-bw"))
            do_bw = 0;
        else if (!strcmp(argv[i], "--raw"))
            raw = 1;
        else if (!strcmp(argv[i], "--gemv-in-cache"))
            in_cache = 1;
        else if (!strcmp(argv[i], "--shapes") && i + 1 < argc)
            shapes_s = argv[++i];
        else {
            fprintf(stderr, "usage: bench_kernels [-t N] [--types LIST] [--shapes OUTxIN,...] [--nt N] [--gemv-nt S]\n"
                            "                     [--no-gemm] [--no-gemv] [--gemv-in-cache]\n"
                            "                     [--no-bw] [--raw] [--reps N (repeats, default 15 GEMV / 5 GEMM)]\n");
            return 2;
        }
    }
    const lc_kernels *k = lc_kernels_get();
    lc_pool *pool = lc_pool_create(n_threads);
    printf("kernels: %s, threads: %d\n", k->name, n_threads);
    double bw = 0;
    if (do_bw) {
        bw = read_bandwidth(pool, 1);
        double bw4k = read_bandwidth(pool, 0);
        printf("read bandwidth: %.1f GB/s (huge pages), %.1f GB/s (4 KiB pages)\n", bw, bw4k);
    }
    static const struct {
        const char *name;
        int type;
    } tmap[] = {{"q4_0", LLAMAC_TYPE_Q4_0}, {"q8_0", LLAMAC_TYPE_Q8_0}, {"q4_k", LLAMAC_TYPE_Q4_K},
                {"q6_k", LLAMAC_TYPE_Q6_K}, {"q5_k", LLAMAC_TYPE_Q5_K}, {"q3_k", LLAMAC_TYPE_Q3_K},
                {"q2_k", LLAMAC_TYPE_Q2_K}, {"q4_1", LLAMAC_TYPE_Q4_1}, {"q5_0", LLAMAC_TYPE_Q5_0},
                {"q5_1", LLAMAC_TYPE_Q5_1}, {"f16", LLAMAC_TYPE_F16}, {"bf16", LLAMAC_TYPE_BF16},
                {"f32", LLAMAC_TYPE_F32}};
    static const shape gemv_shapes[] = {{2048, 2048},  {8192, 2048},  {2048, 8192},  {4096, 4096},
                                        {14336, 4096}, {4096, 14336}, {128256, 2048}};
    /* the 8B shapes (after the first 3) only when named by --shapes */
    static const shape gemm_shapes[] = {{2048, 2048}, {8192, 2048}, {2048, 8192},
                                        {4096, 4096}, {14336, 4096}, {4096, 14336}};
    const int64_t max_n = 8192 * 2;
    if (nt_gemv < 1 || nt_gemv > 64)
        nt_gemv = 1;
    const int64_t max_nt = nt_gemm > nt_gemv ? nt_gemm : nt_gemv;
    float *x = alloc_huge((size_t)(max_n * max_nt) * sizeof(float), 1);
    for (int64_t i = 0; i < max_n * max_nt; i++)
        x[i] = (float)((int)(rnd() % 2001) - 1000) * 1e-3f;
    float *y = alloc_huge((size_t)(128256 * max_nt) * sizeof(float), 1);
    lc_act act;
    memset(&act, 0, sizeof act);
    act.slot_cap = (size_t)(max_n * max_nt) * 4;
    for (int s = 0; s < LC_ACT_SLOTS; s++)
        act.slot_buf[s] = alloc_huge(act.slot_cap, 1);

    for (size_t ti = 0; ti < sizeof tmap / sizeof tmap[0]; ti++) {
        if (!strstr(types_s, tmap[ti].name))
            continue;
        int type = tmap[ti].type;
        int packed = !raw && k->gemm_packed[type] != NULL;
        const char *lay = packed ? "packed" : "file layout";
        if (do_gemv) {
            for (size_t s = 0; s < sizeof gemv_shapes / sizeof gemv_shapes[0]; s++) {
                shape sh = gemv_shapes[s];
                if (!shape_selected(shapes_s, sh))
                    continue;
                bmat m;
                make_bmat(&m, type, sh.n_out, sh.n_in, packed, in_cache ? 0 : (size_t)512 << 20);
                double r[15], rc[15];
                int reps = reps_opt > 0 && reps_opt < 15 ? reps_opt : 15;
                for (int rep = 0; rep < reps; rep++) {
                    double t0 = now(), c0 = cpu_now();
                    for (int c = 0; c < m.copies; c++) {
                        lc_act_bind(&act, x, sh.n_in, sh.n_in, nt_gemv);
                        lc_mm mm = {&m.w[c], y, sh.n_out};
                        lc_matmul(pool, k, &act, &mm, 1);
                    }
                    r[rep] = (double)m.bytes * m.copies / (now() - t0) / 1e9;
                    rc[rep] = (double)m.bytes * m.copies / (cpu_now() - c0) / 1e9;
                }
                double gbs = best(r, reps);
                printf("gemv %-5s %6lldx%-5lld nt=%d %-11s %6.1f GB/s (median %5.1f)", tmap[ti].name,
                       (long long)sh.n_out, (long long)sh.n_in, nt_gemv, lay, gbs, median(r, reps));
                if (bw > 0)
                    printf("  (%3.0f%% of huge-page bandwidth)", 100 * gbs / bw);
                if (n_threads == 1)
                    printf("  per CPU-second %5.1f", best(rc, reps));
                printf("\n");
                fflush(stdout);
                free_bmat(&m);
            }
        }
        if (do_gemm) {
            for (size_t s = 0; s < sizeof gemm_shapes / sizeof gemm_shapes[0]; s++) {
                shape sh = gemm_shapes[s];
                if (!shape_selected(shapes_s, sh) || (s >= 3 && !shapes_s))
                    continue;
                bmat m;
                make_bmat(&m, type, sh.n_out, sh.n_in, packed, 0);
                double r[5], rc[5];
                const int reps = reps_opt > 0 && reps_opt < 5 ? reps_opt : 5;
                for (int rep = 0; rep < reps; rep++) {
                    double t0 = now(), c0 = cpu_now();
                    lc_act_bind(&act, x, sh.n_in, sh.n_in, nt_gemm);
                    lc_mm mm = {&m.w[0], y, sh.n_out};
                    lc_matmul(pool, k, &act, &mm, 1);
                    r[rep] = 2.0 * sh.n_out * sh.n_in * nt_gemm / (now() - t0) / 1e9;
                    rc[rep] = 2.0 * sh.n_out * sh.n_in * nt_gemm / (cpu_now() - c0) / 1e9;
                }
                printf("gemm %-5s %6lldx%-5lld nt=%d %-11s %7.1f GOP/s (median %6.1f)", tmap[ti].name,
                       (long long)sh.n_out, (long long)sh.n_in, nt_gemm, lay, best(r, reps), median(r, reps));
                if (n_threads == 1)
                    printf("  per CPU-second %6.1f", best(rc, reps));
                printf("\n");
                free_bmat(&m);
                fflush(stdout);
            }
        }
    }
    lc_pool_free(pool);
    return 0;
}
