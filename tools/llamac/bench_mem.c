/*
 * bench_mem.c — see bench_mem.h. The bandwidth probe: a read-only sum with several independent accumulators
 * in the widest registers the CPU has (AVX-512, AVX2 or SSE2 on x86-64, chosen at run time; plain 64-bit adds
 * elsewhere), so the loop is limited by memory, not by a dependency chain or by load width: a plain
 * multi-threaded read loop over huge pages, the most the machine can read. The buffer is written once
 * before timing so every page is resident, and is much larger than the last-level cache (the caller's job).
 */
#include "bench_mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#define HUGE_PAGE ((size_t)2 << 20)
#define CHUNK 256 /* bytes one step of the read loop covers; slices are multiples of it */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The read loops: each sums n bytes (n % CHUNK == 0, p 64-byte aligned) as 64-bit integers with several
 * independent accumulators. Only the loads matter; the sum keeps them from being optimized away. */
static uint64_t read_sum_scalar(const char *p, size_t n)
{
    const uint64_t *q = (const uint64_t *)p;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i < n / 8; i += 4) {
        a += q[i];
        b += q[i + 1];
        c += q[i + 2];
        d += q[i + 3];
    }
    return a + b + c + d;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_X86_PROBES 1
static uint64_t read_sum_sse2(const char *p, size_t n)
{
    __m128i a = _mm_setzero_si128(), b = a, c = a, d = a;
    for (size_t i = 0; i < n; i += CHUNK)
        for (size_t j = i; j < i + CHUNK; j += 64) {
            a = _mm_add_epi64(a, _mm_load_si128((const __m128i *)(p + j)));
            b = _mm_add_epi64(b, _mm_load_si128((const __m128i *)(p + j + 16)));
            c = _mm_add_epi64(c, _mm_load_si128((const __m128i *)(p + j + 32)));
            d = _mm_add_epi64(d, _mm_load_si128((const __m128i *)(p + j + 48)));
        }
    a = _mm_add_epi64(_mm_add_epi64(a, b), _mm_add_epi64(c, d));
    uint64_t r[2];
    _mm_storeu_si128((__m128i *)r, a);
    return r[0] + r[1];
}

__attribute__((target("avx2"))) static uint64_t read_sum_avx2(const char *p, size_t n)
{
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i < n; i += CHUNK)
        for (size_t j = i; j < i + CHUNK; j += 128) {
            a = _mm256_add_epi64(a, _mm256_load_si256((const __m256i *)(p + j)));
            b = _mm256_add_epi64(b, _mm256_load_si256((const __m256i *)(p + j + 32)));
            c = _mm256_add_epi64(c, _mm256_load_si256((const __m256i *)(p + j + 64)));
            d = _mm256_add_epi64(d, _mm256_load_si256((const __m256i *)(p + j + 96)));
        }
    a = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
    uint64_t r[4];
    _mm256_storeu_si256((__m256i *)r, a);
    return r[0] + r[1] + r[2] + r[3];
}

__attribute__((target("avx512f"))) static uint64_t read_sum_avx512(const char *p, size_t n)
{
    __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
    for (size_t i = 0; i < n; i += CHUNK) { /* CHUNK = 4 x 64 bytes */
        a = _mm512_add_epi64(a, _mm512_load_si512((const void *)(p + i)));
        b = _mm512_add_epi64(b, _mm512_load_si512((const void *)(p + i + 64)));
        c = _mm512_add_epi64(c, _mm512_load_si512((const void *)(p + i + 128)));
        d = _mm512_add_epi64(d, _mm512_load_si512((const void *)(p + i + 192)));
    }
    a = _mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d));
    uint64_t r[8];
    _mm512_storeu_si512((void *)r, a);
    return r[0] + r[1] + r[2] + r[3] + r[4] + r[5] + r[6] + r[7];
}
#endif

typedef uint64_t (*read_sum_fn)(const char *p, size_t n);

/* The widest loop the CPU runs, narrowed by LLAMAC_KERNELS (avx2, scalar) like the library's kernel table. */
static read_sum_fn pick_read_sum(const char **name)
{
    const char *force = getenv("LLAMAC_KERNELS");
    int want_scalar = force && !strcmp(force, "scalar"), max_avx2 = force && !strcmp(force, "avx2");
    if (want_scalar)
        return *name = "scalar", read_sum_scalar;
#ifdef HAVE_X86_PROBES
    __builtin_cpu_init();
    if (!max_avx2 && __builtin_cpu_supports("avx512f"))
        return *name = "avx512", read_sum_avx512;
    if (__builtin_cpu_supports("avx2"))
        return *name = "avx2", read_sum_avx2;
    return *name = "sse2", read_sum_sse2;
#else
    (void)max_avx2;
    return *name = "scalar", read_sum_scalar;
#endif
}

const char *bench_mem_isa(void)
{
    const char *name;
    pick_read_sum(&name);
    return name;
}

typedef struct probe {
    const char *buf;
    size_t slice;
    read_sum_fn read_sum;
    int n_passes;
    pthread_barrier_t barrier;
    double pass_s[BENCH_BW_MAX_PASSES];
    uint64_t sink[256]; /* per-thread sums of all passes: the reads cannot be optimized away, and the sums are
                           checked against the known content (every read loop must sum exactly the same) */
} probe;

typedef struct probe_arg {
    probe *pr;
    int id;
} probe_arg;

static void *probe_thread(void *varg)
{
    probe_arg *a = varg;
    probe *pr = a->pr;
    const char *p = pr->buf + (size_t)a->id * pr->slice;
    uint64_t s = 0;
    for (int pass = 0; pass < pr->n_passes; pass++) {
        pthread_barrier_wait(&pr->barrier);
        double t0 = now_s();
        s += pr->read_sum(p, pr->slice);
        pthread_barrier_wait(&pr->barrier);
        if (a->id == 0)
            pr->pass_s[pass] = now_s() - t0;
    }
    pr->sink[a->id] = s;
    return NULL;
}

/* kB of AnonHugePages in the mapping that starts at addr, from /proc/self/smaps; -1 if not found. */
static long anon_huge_kb(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    char line[512];
    int in_vma = 0;
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in_vma = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
            continue;
        }
        if (in_vma && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
            break;
    }
    fclose(f);
    return kb;
}

typedef struct probe_reply {
    int ok;
    bench_bw bw;
    char msg[200];
} probe_reply;

static void reply_fail(probe_reply *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->ok = 0;
}

/* The probe itself; runs in the child. */
static void run_probe(size_t bytes, int n_threads, int n_passes, probe_reply *r)
{
    size_t map_size = bytes + HUGE_PAGE;
    char *map = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        reply_fail(r, "cannot map %zu MiB for the bandwidth probe: %s", bytes >> 20, strerror(errno));
        return;
    }
    char *buf = (char *)(((uintptr_t)map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
#ifdef MADV_HUGEPAGE
    madvise(buf, bytes, MADV_HUGEPAGE);
#endif
    memset(buf, 1, bytes);
    probe *pr = calloc(1, sizeof *pr);
    probe_arg *args = calloc((size_t)n_threads, sizeof *args);
    pthread_t *th = calloc((size_t)n_threads, sizeof *th);
    if (!pr || !args || !th) {
        reply_fail(r, "out of memory");
        goto done;
    }
    const char *isa;
    pr->read_sum = pick_read_sum(&isa);
    snprintf(r->bw.isa, sizeof r->bw.isa, "%s", isa);
    pr->buf = buf;
    pr->slice = bytes / (size_t)n_threads;
    pr->n_passes = n_passes;
    pthread_barrier_init(&pr->barrier, NULL, (unsigned)n_threads);
    int started = 1;
    for (int i = 0; i < n_threads; i++)
        args[i] = (probe_arg){pr, i};
    for (; started < n_threads; started++)
        if (pthread_create(&th[started], NULL, probe_thread, &args[started]) != 0)
            break;
    if (started < n_threads) {
        /* the threads already started wait at the barrier for ever: leave everything in place, the child
           exits right after replying */
        reply_fail(r, "cannot start %d threads for the bandwidth probe", n_threads);
        return;
    }
    probe_thread(&args[0]);
    for (int i = 1; i < n_threads; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&pr->barrier);
    /* every byte is 1, so each 64-bit word is 0x0101010101010101; sums wrap modulo 2^64 in every loop alike */
    const uint64_t want = (uint64_t)n_passes * (uint64_t)(pr->slice / 8) * 0x0101010101010101ull;
    for (int i = 0; i < n_threads; i++)
        if (pr->sink[i] != want) {
            reply_fail(r, "bandwidth probe: the %s read loop summed %llx where %llx was due", isa,
                       (unsigned long long)pr->sink[i], (unsigned long long)want);
            goto done;
        }

    bench_bw *bw = &r->bw;
    double gbs[BENCH_BW_MAX_PASSES];
    bw->best_gbs = 0;
    for (int i = 0; i < n_passes; i++) {
        gbs[i] = pr->pass_s[i] > 0 ? (double)bytes / pr->pass_s[i] * 1e-9 : 0;
        bw->pass_gbs[i] = gbs[i];
        if (gbs[i] > bw->best_gbs)
            bw->best_gbs = gbs[i];
    }
    bw->median_gbs = bench_median(gbs, n_passes);
    bw->n_passes = n_passes;
    bw->n_threads = n_threads;
    bw->bytes = bytes;
    long kb = anon_huge_kb(buf);
    bw->huge_fraction = kb < 0 ? -1 : (double)kb * 1024.0 / (double)bytes;
    if (bw->huge_fraction > 1)
        bw->huge_fraction = 1;
    r->ok = 1;
done:
    free(th);
    free(args);
    free(pr);
    munmap(map, map_size);
}

int bench_mem_read_bw(size_t bytes, int n_threads, int n_passes, bench_bw *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (n_threads < 1 || n_threads > 256 || n_passes < 1 || n_passes > BENCH_BW_MAX_PASSES) {
        snprintf(err, err_size, "bandwidth probe: %d threads / %d passes out of range", n_threads, n_passes);
        return -1;
    }
    size_t unit = (size_t)n_threads * CHUNK;
    bytes = bytes / unit * unit;
    if (bytes == 0) {
        snprintf(err, err_size, "bandwidth probe: buffer too small");
        return -1;
    }
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(err, err_size, "bandwidth probe: pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL); /* the child must not flush the parent's buffered output a second time */
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, err_size, "bandwidth probe: fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        probe_reply r;
        memset(&r, 0, sizeof r);
        run_probe(bytes, n_threads, n_passes, &r);
        ssize_t w = write(fds[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fds[1]);
    probe_reply r;
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = read(fds[0], (char *)&r + got, sizeof r - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got != sizeof r) {
        snprintf(err, err_size, "bandwidth probe: the probe process died (%s %d)",
                 WIFSIGNALED(status) ? "signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        return -1;
    }
    if (!r.ok) {
        snprintf(err, err_size, "%s", r.msg);
        return -1;
    }
    *out = r.bw;
    return 0;
}

int bench_mem_rss(uint64_t *rss, uint64_t *hwm)
{
    *rss = *hwm = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    int found = 0;
    unsigned long long kb;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmRSS: %llu kB", &kb) == 1) {
            *rss = (uint64_t)kb * 1024;
            found |= 1;
        } else if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) {
            *hwm = (uint64_t)kb * 1024;
            found |= 2;
        }
    }
    fclose(f);
    return found == 3 ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_now_s(void)
{
    return now_s();
}

double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
