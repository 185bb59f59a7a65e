/*
 * cmd_bench.c — `llamac bench -m FILE [-p 512] [-n 128] [-t N] [-r 3] [--json]`: prompt-processing and
 * generation speed in the manner of llama-bench, measured against the memory bandwidth of the same machine
 * in the same run.
 *
 * Tests (one per value of -p, -n and -t; 0 skips):
 *   ppP  one fresh sequence of P random tokens, decoded in batches of --ubatch (default 512, so pp512 is one
 *        llamac_decode), logits for each batch's last token only (as llama-bench);  tok/s = P / time
 *   tgN  N single-token decodes of random tokens starting from an empty cache (position 0, no prompt, as
 *        llama-bench's tg);  tok/s = N / time
 * Each test gets its own context (sized to the test), one untimed warm-up run (pp: the full prompt; tg: one
 * token, which touches every weight), then -r timed runs. Reported: mean, sample standard deviation and
 * median of the per-run tok/s.
 *
 * Memory: before and after each test a forked child measures read bandwidth with the test's thread count
 * (bench_mem.c); the best pass of the two probes is "the" bandwidth. For tg tests the bytes one token must
 * read (llamac_model_decode_traffic: weights + KV of the positions so far, averaged over the N tokens) times
 * the median tok/s gives the achieved GB/s and its fraction of that bandwidth. Resident memory (VmRSS/VmHWM)
 * is read after load and after each test. Right after the load, one token through a fresh context gives the
 * "ready to generate" time. docs/PERFORMANCE.md documents the method and every JSON field.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench_mem.h"
#include "cli.h"

#define MAX_LIST 64
#define MAX_REPS 1000
#define BW_PASSES 10
#define GIB (1024.0 * 1024.0 * 1024.0)

typedef struct bench_opts {
    cli_common co;
    int p[MAX_LIST], n_p;
    int n[MAX_LIST], n_n;
    int t[MAX_LIST], n_t;
    int reps, ubatch, warmup, json, bw_mib;
} bench_opts;

typedef struct bench_model {
    llamac_model *m;
    llamac_model_info info;
    llamac_decode_traffic traffic;
    uint64_t file_bytes;
    double load_ms;
    double ready_ms; /* load + a context + the first token: the first time this process touches the weights */
    double copied_ms; /* until the background weight copy was complete (= load_ms without one) */
    uint64_t rss_after_load;
    int32_t *tokens; /* [n_tokens] random ids, the same for every test */
    int n_tokens;
} bench_model;

typedef struct bench_test {
    char name[32];          /* "pp512", "tg128" */
    int n_prompt, n_gen;    /* one of them is 0 */
    int n_threads;          /* as the context reports it */
    int n_ctx;
    double *run_s;          /* [reps] seconds per timed run */
    double *run_ts;         /* [reps] tok/s per timed run */
    double avg_ts, sd_ts, median_ts, min_ts, max_ts;
    double warmup_ms, ctx_ms;
    uint64_t rss, hwm;      /* after the runs */
    int bw_ok;
    bench_bw bw_before, bw_after;
    double bw_gbs;          /* best pass of both probes; 0 if no probe ran */
    double bytes_per_token; /* tg only: average bytes one token reads; 0 for pp */
    double achieved_gbs, bw_fraction;
} bench_test;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* "512" or "128,512": up to MAX_LIST integers in lo..hi. Returns the count, or -1 after reporting. */
static int parse_list(const char *opt, const char *s, long lo, long hi, int *out)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || v < lo || v > hi || n == MAX_LIST) {
            cli_error("option %s: '%s' is not a comma-separated list of at most %d integers in %ld..%ld", opt, s,
                      MAX_LIST, lo, hi);
            return -1;
        }
        out[n++] = (int)v;
        if (!*end)
            return n;
        p = end + 1;
    }
}

static void usage(void)
{
    printf("usage: llamac bench -m FILE [-p N[,N..]] [-n N[,N..]] [-t N[,N..]] [-r N] [--json]\n"
           "                    [--ubatch N] [--no-warmup] [--bw-mib N] [--kv f32|f16] [--mmap|--no-mmap]\n"
           "  -p N,..       prompt-processing tests: N tokens from an empty cache (default 512; 0 = none)\n"
           "  -n N,..       generation tests: N single-token decodes from an empty cache (default 128; 0 = none)\n"
           "  -t N,..       threads (default: all %d cores)\n"
           "  -r N          timed runs per test, after one warm-up run (default 3)\n"
           "  --ubatch N    the most tokens per llamac_decode call in pp tests (default 512)\n"
           "  --bw-mib N    size of the bandwidth probe buffer in MiB (default 1024; 0 = no probe)\n"
           "  --json        one JSON object per test on stdout (fields: docs/PERFORMANCE.md)\n",
           llamac_n_cores());
}

/* Returns 0 to go on, 1 for an error, 2 after --help. */
static int parse_opts(bench_opts *o, int argc, char **argv)
{
    cli_common_init(&o->co);
    o->p[0] = 512, o->n_p = 1;
    o->n[0] = 128, o->n_n = 1;
    o->t[0] = llamac_n_cores(), o->n_t = 1;
    o->reps = 3, o->ubatch = 512, o->warmup = 1, o->json = 0, o->bw_mib = 1024;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int ok = 1;
        if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            ok = (v = cli_arg(argc, argv, &i)) && (o->n_t = parse_list(a, v, 1, 1024, o->t)) > 0;
            for (int k = 0; ok && k < o->n_t; k++)
                o->t[k] = cli_clamp_threads(a, o->t[k]);
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
            return cli_error("bench: %s is not used; each test's context holds exactly its own tokens", a);
        } else {
            int r = cli_common_opt(&o->co, argc, argv, &i);
            if (r < 0)
                return 1;
            if (r)
                continue;
            if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt"))
                ok = (v = cli_arg(argc, argv, &i)) && (o->n_p = parse_list(a, v, 0, 1 << 20, o->p)) > 0;
            else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen"))
                ok = (v = cli_arg(argc, argv, &i)) && (o->n_n = parse_list(a, v, 0, 1 << 20, o->n)) > 0;
            else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions"))
                ok = (v = cli_arg(argc, argv, &i)) && cli_int(a, v, 1, MAX_REPS, &o->reps);
            else if (!strcmp(a, "--ubatch") || !strcmp(a, "-ub"))
                ok = (v = cli_arg(argc, argv, &i)) && cli_int(a, v, 1, 65536, &o->ubatch);
            else if (!strcmp(a, "--bw-mib"))
                ok = (v = cli_arg(argc, argv, &i)) && cli_int(a, v, 0, 1 << 20, &o->bw_mib);
            else if (!strcmp(a, "--no-warmup"))
                o->warmup = 0;
            else if (!strcmp(a, "--json"))
                o->json = 1;
            else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
                return usage(), 2;
            else
                return cli_error("bench: unknown option '%s' (try 'llamac bench --help')", a);
        }
        if (!ok)
            return 1;
    }
    int any = 0;
    for (int i = 0; i < o->n_p; i++)
        any |= o->p[i] > 0;
    for (int i = 0; i < o->n_n; i++)
        any |= o->n[i] > 0;
    if (!any)
        return cli_error("bench: nothing to run: every -p and -n value is 0");
    if (!o->co.model)
        return cli_error("bench: no model given (-m FILE)");
    return 0;
}

static void probe_bw(const bench_opts *o, int n_threads, bench_bw *out, int *ok)
{
    char err[256];
    if (o->bw_mib == 0 || !*ok)
        return;
    if (bench_mem_read_bw((size_t)o->bw_mib << 20, n_threads, BW_PASSES, out, err, sizeof err) != 0) {
        fprintf(stderr, "llamac: warning: %s; bandwidth figures omitted\n", err);
        *ok = 0;
    }
}

static void summarize(bench_test *t, int reps)
{
    double sum = 0, sq = 0, sorted[MAX_REPS];
    t->min_ts = INFINITY, t->max_ts = 0;
    for (int r = 0; r < reps; r++) {
        double ts = t->run_ts[r];
        sum += ts;
        sorted[r] = ts;
        t->min_ts = ts < t->min_ts ? ts : t->min_ts;
        t->max_ts = ts > t->max_ts ? ts : t->max_ts;
    }
    t->avg_ts = sum / reps;
    for (int r = 0; r < reps; r++)
        sq += (t->run_ts[r] - t->avg_ts) * (t->run_ts[r] - t->avg_ts);
    t->sd_ts = reps > 1 ? sqrt(sq / (reps - 1)) : 0;
    t->median_ts = bench_median(sorted, reps);
}

/* One timed (or warm-up) run of test t on ctx; returns the seconds it took, or -1 after reporting. */
static double run_once(llamac_context *ctx, const bench_model *bm, const bench_opts *o, const bench_test *t,
                       int warmup)
{
    if (llamac_seq_truncate(ctx, 0, 0) != LLAMAC_OK)
        return cli_error("%s", llamac_context_error(ctx)), -1;
    double t0 = now_s();
    if (t->n_prompt > 0) { /* in chunks of the context's n_batch (--ubatch) */
        if (llamac_decode_tokens(ctx, 0, bm->tokens, t->n_prompt, 0, NULL, NULL) != LLAMAC_OK)
            return cli_error("%s: %s", t->name, llamac_context_error(ctx)), -1;
    } else {
        int n = warmup ? 1 : t->n_gen;
        for (int i = 0; i < n; i++) {
            llamac_batch b = {.n_tokens = 1, .tokens = bm->tokens + i};
            if (llamac_decode(ctx, &b) != LLAMAC_OK)
                return cli_error("%s: %s", t->name, llamac_context_error(ctx)), -1;
        }
    }
    return now_s() - t0;
}

static int run_test(const bench_model *bm, const bench_opts *o, bench_test *t, int n_threads)
{
    t->bw_ok = 1;
    probe_bw(o, n_threads, &t->bw_before, &t->bw_ok);

    llamac_context_params cp = llamac_context_default_params();
    cp.n_ctx = t->n_prompt > 0 ? t->n_prompt : t->n_gen;
    cp.n_batch = t->n_prompt > 0 ? (t->n_prompt < o->ubatch ? t->n_prompt : o->ubatch) : 1;
    cp.n_logits = 1;
    cp.n_threads = n_threads;
    cp.kv_type = o->co.kv_type;
    llamac_context *ctx = NULL;
    char err[600];
    double t0 = now_s();
    if (llamac_context_create(bm->m, &cp, &ctx, err, sizeof err) != LLAMAC_OK)
        return cli_error("%s: %s", t->name, err);
    t->ctx_ms = (now_s() - t0) * 1e3;
    t->n_threads = llamac_context_n_threads(ctx);
    t->n_ctx = llamac_context_n_ctx(ctx);
    if (o->warmup) {
        double s = run_once(ctx, bm, o, t, 1);
        if (s < 0)
            goto fail;
        t->warmup_ms = s * 1e3;
    }
    const int n_tok = t->n_prompt > 0 ? t->n_prompt : t->n_gen;
    for (int r = 0; r < o->reps; r++) {
        double s = run_once(ctx, bm, o, t, 0);
        if (s < 0)
            goto fail;
        t->run_s[r] = s;
        t->run_ts[r] = n_tok / s;
    }
    bench_mem_rss(&t->rss, &t->hwm);
    llamac_context_free(ctx); /* the pool's threads are gone before the probe forks */
    summarize(t, o->reps);

    probe_bw(o, n_threads, &t->bw_after, &t->bw_ok);
    if (t->bw_ok && o->bw_mib > 0)
        t->bw_gbs = t->bw_before.best_gbs > t->bw_after.best_gbs ? t->bw_before.best_gbs : t->bw_after.best_gbs;
    if (t->n_gen > 0) {
        /* token i (0-based) attends to i + 1 positions */
        double kv_positions = (double)t->n_gen * (t->n_gen + 1) / 2.0;
        t->bytes_per_token = (double)bm->traffic.weight_bytes +
                             kv_positions * (double)bm->traffic.kv_bytes_per_pos / t->n_gen;
        t->achieved_gbs = t->bytes_per_token * t->median_ts * 1e-9;
        t->bw_fraction = t->bw_gbs > 0 ? t->achieved_gbs / t->bw_gbs : 0;
    }
    return 0;
fail:
    llamac_context_free(ctx);
    return 1;
}

/* ---- output ---- */
static const char *kv_name(int kv_type)
{
    return kv_type == LLAMAC_KV_F16 ? "f16" : "f32";
}

static void set_real(json_t *o, const char *k, double v)
{
    json_object_set_new(o, k, isfinite(v) ? json_real(v) : json_null());
}

static void set_int(json_t *o, const char *k, long long v)
{
    json_object_set_new(o, k, json_integer(v));
}

static int print_json(const bench_model *bm, const bench_opts *o, const bench_test *t)
{
    json_t *j = json_object();
    char stamp[32];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    const char *type = llamac_type_name(bm->info.weight_type);
    json_object_set_new(j, "llamac_version", json_string(LLAMAC_VERSION));
    json_object_set_new(j, "timestamp", json_string(stamp));
    json_object_set_new(j, "kernels", json_string(llamac_kernel_path()));
    json_object_set_new(j, "model", json_string(o->co.model));
    json_object_set_new(j, "model_name", json_string(bm->info.name));
    json_object_set_new(j, "model_type", type ? json_string(type) : json_null());
    set_int(j, "model_bytes", (long long)bm->file_bytes);
    set_int(j, "n_params", (long long)bm->info.n_params);
    json_object_set_new(j, "test", json_string(t->name));
    set_int(j, "n_prompt", t->n_prompt);
    set_int(j, "n_gen", t->n_gen);
    set_int(j, "n_threads", t->n_threads);
    set_int(j, "n_ubatch", o->ubatch);
    set_int(j, "n_ctx", t->n_ctx);
    json_object_set_new(j, "kv_type", json_string(kv_name(o->co.kv_type)));
    json_object_set_new(j, "use_mmap", json_boolean(o->co.use_mmap));
    set_int(j, "reps", o->reps);
    json_t *ns = json_array(), *ts = json_array();
    for (int r = 0; r < o->reps; r++) {
        json_array_append_new(ns, json_integer((json_int_t)llround(t->run_s[r] * 1e9)));
        json_array_append_new(ts, json_real(t->run_ts[r]));
    }
    json_object_set_new(j, "samples_ns", ns);
    json_object_set_new(j, "samples_ts", ts);
    set_real(j, "avg_ts", t->avg_ts);
    set_real(j, "stddev_ts", t->sd_ts);
    set_real(j, "median_ts", t->median_ts);
    set_real(j, "min_ts", t->min_ts);
    set_real(j, "max_ts", t->max_ts);
    set_real(j, "load_ms", bm->load_ms);
    set_real(j, "ready_ms", bm->ready_ms);
    set_real(j, "copied_ms", bm->copied_ms);
    set_real(j, "ctx_ms", t->ctx_ms);
    json_object_set_new(j, "warmup_ms", o->warmup ? json_real(t->warmup_ms) : json_null());
    set_int(j, "rss_after_load", (long long)bm->rss_after_load);
    set_int(j, "rss_after_test", (long long)t->rss);
    set_int(j, "hwm_after_test", (long long)t->hwm);
    set_int(j, "kv_cache_bytes", (long long)((uint64_t)t->n_ctx * bm->traffic.kv_bytes_per_pos));
    if (t->bw_gbs > 0) {
        set_real(j, "bw_gbs", t->bw_gbs);
        set_real(j, "bw_before_gbs", t->bw_before.best_gbs);
        set_real(j, "bw_after_gbs", t->bw_after.best_gbs);
        set_real(j, "bw_median_gbs", (t->bw_before.median_gbs + t->bw_after.median_gbs) / 2);
        set_int(j, "bw_buffer_bytes", (long long)t->bw_before.bytes);
        set_real(j, "bw_huge_fraction", t->bw_before.huge_fraction);
    } else {
        json_object_set_new(j, "bw_gbs", json_null());
    }
    if (t->n_gen > 0) {
        set_int(j, "weight_bytes_per_token", (long long)bm->traffic.weight_bytes);
        set_real(j, "bytes_per_token", t->bytes_per_token);
        set_real(j, "achieved_gbs", t->achieved_gbs);
        json_object_set_new(j, "bw_fraction", t->bw_gbs > 0 ? json_real(t->bw_fraction) : json_null());
    } else {
        json_object_set_new(j, "bytes_per_token", json_null());
        json_object_set_new(j, "achieved_gbs", json_null());
        json_object_set_new(j, "bw_fraction", json_null());
    }
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(j);
    if (!s)
        return cli_error("out of memory");
    printf("%s\n", s);
    fflush(stdout);
    free(s);
    return 0;
}

static void print_md_header(const bench_model *bm, const bench_opts *o)
{
    const char *type = llamac_type_name(bm->info.weight_type);
    printf("model:   %s (%s%s%s, %.2f GiB, %.2f B params)\n", o->co.model, bm->info.name[0] ? bm->info.name : "",
           bm->info.name[0] ? ", " : "", type ? type : "?", (double)bm->file_bytes / GIB,
           (double)bm->info.n_params * 1e-9);
    printf("engine:  llamac %s, kernels %s, KV %s, %s, resident after load %.2f GiB\n", LLAMAC_VERSION,
           llamac_kernel_path(), kv_name(o->co.kv_type), o->co.use_mmap ? "mmap" : "no-mmap",
           (double)bm->rss_after_load / GIB);
    printf("ready:   load %.3f s, ready to generate (load + context + first token) %.3f s, weights copied %.3f s\n",
           bm->load_ms * 1e-3, bm->ready_ms * 1e-3, bm->copied_ms * 1e-3);
    printf("decode reads %.3f GB of weights per token + %.1f KiB of KV cache per cached position\n\n",
           (double)bm->traffic.weight_bytes * 1e-9, (double)bm->traffic.kv_bytes_per_pos / 1024.0);
    printf("| test     | threads | t/s median | t/s mean ± sd       | GB/token | GB/s   | bw GB/s | %% of bw |"
           " RSS GiB |\n");
    printf("| -------- | ------: | ---------: | ------------------: | -------: | -----: | ------: | ------: |"
           " ------: |\n");
    fflush(stdout);
}

static void print_md_row(const bench_test *t)
{
    char mean[48], gbt[16] = "", gbs[16] = "", bw[16] = "", frac[16] = "";
    snprintf(mean, sizeof mean, "%.2f ± %.2f", t->avg_ts, t->sd_ts);
    if (t->bw_gbs > 0)
        snprintf(bw, sizeof bw, "%.1f", t->bw_gbs);
    if (t->n_gen > 0) {
        snprintf(gbt, sizeof gbt, "%.3f", t->bytes_per_token * 1e-9);
        snprintf(gbs, sizeof gbs, "%.1f", t->achieved_gbs);
        if (t->bw_gbs > 0)
            snprintf(frac, sizeof frac, "%.0f %%", t->bw_fraction * 100);
    }
    printf("| %-8s | %7d | %10.2f | %20s | %8s | %6s | %7s | %7s | %7.2f |\n", t->name, t->n_threads, t->median_ts,
           mean, gbt, gbs, bw, frac, (double)t->rss / GIB);
    fflush(stdout);
}

static void print_md_footer(const bench_model *bm, const bench_opts *o, uint64_t hwm, uint64_t kv_max,
                            double huge_fraction)
{
    printf("\nmemory:  peak resident %.3f GiB; file %.3f GiB + largest KV cache %.3f GiB\n", (double)hwm / GIB,
           (double)bm->file_bytes / GIB, (double)kv_max / GIB);
    if (o->bw_mib > 0) {
        printf("bandwidth: best pass of a read-sum over a %d MiB anonymous buffer", o->bw_mib);
        if (huge_fraction >= 0)
            printf(" (%.0f %% in huge pages)", huge_fraction * 100);
        printf(", %d passes before and after each test, the test's thread count\n", BW_PASSES);
    }
}

/* "Ready to generate": one token through a fresh one-position context, right after the load, so it pays for
 * faulting the weights in (from the page cache with mmap); ready_ms counts from t_start, before the load. */
static int first_token(bench_model *bm, const bench_opts *o, double t_start)
{
    llamac_context_params cp = llamac_context_default_params();
    cp.n_ctx = 1, cp.n_batch = 1, cp.n_logits = 1, cp.n_threads = o->t[0], cp.kv_type = o->co.kv_type;
    llamac_context *ctx = NULL;
    char err[600];
    if (llamac_context_create(bm->m, &cp, &ctx, err, sizeof err) != LLAMAC_OK)
        return cli_error("%s", err);
    llamac_batch b = {.n_tokens = 1, .tokens = bm->tokens};
    int rc = 0;
    if (llamac_decode(ctx, &b) != LLAMAC_OK)
        rc = cli_error("first token: %s", llamac_context_error(ctx));
    bm->ready_ms = (now_s() - t_start) * 1e3;
    llamac_context_free(ctx);
    return rc;
}

static int load(bench_model *bm, const bench_opts *o)
{
    struct stat st;
    if (stat(o->co.model, &st) != 0)
        return cli_error("bench: cannot open '%s': %s", o->co.model, strerror(errno));
    bm->file_bytes = (uint64_t)st.st_size;
    double t0 = now_s();
    bm->m = cli_load_model(&o->co);
    if (!bm->m)
        return 1;
    bm->load_ms = (now_s() - t0) * 1e3;
    uint64_t hwm;
    bench_mem_rss(&bm->rss_after_load, &hwm);
    llamac_model_get_info(bm->m, &bm->info);
    if (llamac_model_decode_traffic(bm->m, o->co.kv_type, &bm->traffic) != LLAMAC_OK)
        return cli_error("bench: cannot compute the decode traffic");
    bm->n_tokens = 0;
    for (int i = 0; i < o->n_p; i++)
        bm->n_tokens = o->p[i] > bm->n_tokens ? o->p[i] : bm->n_tokens;
    for (int i = 0; i < o->n_n; i++)
        bm->n_tokens = o->n[i] > bm->n_tokens ? o->n[i] : bm->n_tokens;
    bm->tokens = malloc((size_t)bm->n_tokens * sizeof *bm->tokens);
    if (!bm->tokens)
        return cli_error("out of memory");
    uint64_t x = 0x9E3779B97F4A7C15ull; /* xorshift64: the same tokens in every run */
    for (int i = 0; i < bm->n_tokens; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        bm->tokens[i] = (int32_t)(x % (uint64_t)bm->info.n_vocab);
    }
    if (first_token(bm, o, t0))
        return 1;
    /* the timed tests measure the fully loaded model: wait for a background weight copy */
    char err[600];
    if (llamac_model_wait_loaded(bm->m, err, sizeof err) != LLAMAC_OK)
        fprintf(stderr, "llamac: warning: %s\n", err);
    bm->copied_ms = (now_s() - t0) * 1e3;
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    bench_opts o;
    int r = parse_opts(&o, argc, argv);
    if (r)
        return r == 2 ? 0 : 1;
    bench_model bm = {0};
    bench_test t;
    memset(&t, 0, sizeof t);
    t.run_s = calloc((size_t)o.reps, sizeof(double));
    t.run_ts = calloc((size_t)o.reps, sizeof(double));
    int rc = 1;
    if (!t.run_s || !t.run_ts) {
        cli_error("out of memory");
        goto done;
    }
    if (load(&bm, &o))
        goto done;
    if (!o.json)
        print_md_header(&bm, &o);
    uint64_t hwm = 0, kv_max = 0;
    double huge_fraction = -1;
    for (int ti = 0; ti < o.n_t; ti++) {
        for (int pass = 0; pass < 2; pass++) {
            const int *list = pass == 0 ? o.p : o.n;
            for (int k = 0; k < (pass == 0 ? o.n_p : o.n_n); k++) {
                if (list[k] == 0)
                    continue;
                double *run_s = t.run_s, *run_ts = t.run_ts;
                memset(&t, 0, sizeof t);
                t.run_s = run_s, t.run_ts = run_ts;
                t.n_prompt = pass == 0 ? list[k] : 0;
                t.n_gen = pass == 1 ? list[k] : 0;
                snprintf(t.name, sizeof t.name, "%s%d", pass == 0 ? "pp" : "tg", list[k]);
                if (run_test(&bm, &o, &t, o.t[ti]))
                    goto done;
                if (o.json ? print_json(&bm, &o, &t) : (print_md_row(&t), 0))
                    goto done;
                hwm = t.hwm > hwm ? t.hwm : hwm;
                uint64_t kv = (uint64_t)t.n_ctx * bm.traffic.kv_bytes_per_pos;
                kv_max = kv > kv_max ? kv : kv_max;
                if (t.bw_gbs > 0)
                    huge_fraction = t.bw_before.huge_fraction;
            }
        }
    }
    if (!o.json)
        print_md_footer(&bm, &o, hwm, kv_max, huge_fraction);
    rc = 0;
done:
    free(t.run_s);
    free(t.run_ts);
    free(bm.tokens);
    llamac_model_free(bm.m);
    return rc;
}
