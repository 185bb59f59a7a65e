/*
 * cmd_bench.c — `llamac bench -m FILE [-p 512] [-n 128] [-d 0] [--parallel 1] [-t N] [-r 3] [--json]`:
 * prompt-processing and generation speed in the manner of llama-bench (and llama-batched-bench for many
 * sequences), measured against the memory bandwidth of the same machine in the same run. This file: options,
 * model load, the loop over tests; bench_tests.c runs one test, bench_report.c prints it.
 *
 * Tests (one per value of -t x -d x (-p, then -n x --parallel); 0 skips a -p or -n value):
 *   ppP       P random tokens after an empty cache, decoded in batches of --ubatch (default 512, so pp512 is
 *             one llamac_decode), logits for each batch's last token only (as llama-bench); tok/s = P / time
 *   tgN       N single-token decodes of random tokens from an empty cache (as llama-bench's tg); tok/s = N / time
 *   ... @ dD  the same after D cached tokens (llama-bench -d): the depth prompt is decoded once per test,
 *             untimed, and every run starts again from it
 *   tgN xS    S sequences decode together, one token each per llamac_decode (llama-batched-bench's tg with
 *             -npl S); tok/s = S x N / time (aggregate), per-sequence = aggregate / S
 * Each test gets its own context (sized to the test), one untimed warm-up run (pp: the full prompt; tg: one
 * step, which touches every weight), then -r timed runs. Reported: mean, sample standard deviation and
 * median of the per-run tok/s.
 *
 * Memory: before and after each test a forked child measures read bandwidth with the test's thread count
 * (bench_mem.c: the widest SIMD read loop over huge pages); the median pass of the two probes is "the"
 * bandwidth. For tg tests the bytes one token must
 * read (llamac_model_decode_traffic: weights + KV of the positions so far, averaged over the N tokens) times
 * the median tok/s gives the achieved GB/s and its fraction of that bandwidth. Resident memory (VmRSS/VmHWM)
 * is read after load and after each test. Right after the load, one token through a fresh context gives the
 * "ready to generate" time. docs/PERFORMANCE.md documents the method and every JSON field.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"

/* "512" or "128,512": up to BENCH_MAX_LIST integers in lo..hi. Returns the count, or -1 after reporting. */
static int parse_list(const char *opt, const char *s, long lo, long hi, int *out)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || v < lo || v > hi || n == BENCH_MAX_LIST) {
            cli_error("option %s: '%s' is not a comma-separated list of at most %d integers in %ld..%ld", opt, s,
                      BENCH_MAX_LIST, lo, hi);
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
    printf("usage: llamac bench -m FILE [-p N[,N..]] [-n N[,N..]] [-d N[,N..]] [--parallel N[,N..]]\n"
           "                    [-t N[,N..]] [-r N] [--json] [--ubatch N] [--no-warmup] [--bw-mib N]\n"
           "                    [--kv f32|f16] [--mmap|--no-mmap]\n"
           "  -p N,..               prompt-processing tests: N tokens (default 512; 0 = none)\n"
           "  -n N,..               generation tests: N single-token decodes (default 128; 0 = none)\n"
           "  -d, --depth N,..      run every test after N cached tokens (default 0; decoded once per test,\n"
           "                        untimed)\n"
           "  -np, --parallel N,..  generation tests with N sequences decoding together, one token each per\n"
           "                        decode call; tok/s is the aggregate (default 1; at most %d)\n"
           "  -t N,..               threads (default: all %d cores)\n"
           "  -r N                  timed runs per test, after one warm-up run (default 3)\n"
           "  --ubatch N            the most tokens per llamac_decode call in pp tests and depth prompts\n"
           "                        (default 512)\n"
           "  --bw-mib N            size of the bandwidth probe buffer in MiB (default 1024; 0 = no probe)\n"
           "  --json                one JSON object per test on stdout (fields: docs/PERFORMANCE.md)\n",
           BENCH_MAX_PARALLEL, llamac_n_cores());
}

/* Returns 0 to go on, 1 for an error, 2 after --help. */
static int parse_opts(bench_opts *o, int argc, char **argv)
{
    cli_common_init(&o->co);
    o->p[0] = 512, o->n_p = 1;
    o->n[0] = 128, o->n_n = 1;
    o->t[0] = llamac_n_cores(), o->n_t = 1;
    o->d[0] = 0, o->n_d = 1;
    o->np[0] = 1, o->n_np = 1;
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
            else if (!strcmp(a, "-d") || !strcmp(a, "--depth") || !strcmp(a, "--n-depth"))
                ok = (v = cli_arg(argc, argv, &i)) && (o->n_d = parse_list(a, v, 0, 1 << 20, o->d)) > 0;
            else if (!strcmp(a, "-np") || !strcmp(a, "--parallel"))
                ok = (v = cli_arg(argc, argv, &i)) &&
                     (o->n_np = parse_list(a, v, 1, BENCH_MAX_PARALLEL, o->np)) > 0;
            else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions"))
                ok = (v = cli_arg(argc, argv, &i)) && cli_int(a, v, 1, BENCH_MAX_REPS, &o->reps);
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
    int any_p = 0, any_n = 0, any_np = 0;
    for (int i = 0; i < o->n_p; i++)
        any_p |= o->p[i] > 0;
    for (int i = 0; i < o->n_n; i++)
        any_n |= o->n[i] > 0;
    for (int i = 0; i < o->n_np; i++)
        any_np |= o->np[i] > 1;
    if (!any_p && !any_n)
        return cli_error("bench: nothing to run: every -p and -n value is 0");
    if (any_np && !any_n)
        return cli_error("bench: --parallel applies to generation tests, but every -n value is 0");
    if (!o->co.model)
        return cli_error("bench: no model given (-m FILE)");
    return 0;
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
    bm->ready_ms = (bench_now_s() - t_start) * 1e3;
    llamac_context_free(ctx);
    return rc;
}

static int load(bench_model *bm, const bench_opts *o)
{
    struct stat st;
    if (stat(o->co.model, &st) != 0)
        return cli_error("bench: cannot open '%s': %s", o->co.model, strerror(errno));
    bm->file_bytes = (uint64_t)st.st_size;
    double t0 = bench_now_s();
    bm->m = cli_load_model(&o->co);
    if (!bm->m)
        return 1;
    bm->load_ms = (bench_now_s() - t0) * 1e3;
    uint64_t hwm;
    bench_mem_rss(&bm->rss_after_load, &hwm);
    llamac_model_get_info(bm->m, &bm->info);
    if (llamac_model_decode_traffic(bm->m, o->co.kv_type, &bm->traffic) != LLAMAC_OK)
        return cli_error("bench: cannot compute the decode traffic");
    /* the longest depth prompt followed by the longest prompt or generation; parallel steps wrap around */
    int max_d = 0, max_new = 1;
    for (int i = 0; i < o->n_d; i++)
        max_d = o->d[i] > max_d ? o->d[i] : max_d;
    for (int i = 0; i < o->n_p; i++)
        max_new = o->p[i] > max_new ? o->p[i] : max_new;
    for (int i = 0; i < o->n_n; i++)
        max_new = o->n[i] > max_new ? o->n[i] : max_new;
    bm->n_tokens = max_d + max_new;
    if (bm->info.n_ctx_train > 0 && (long)max_d + max_new > bm->info.n_ctx_train)
        return cli_error("bench: depth %d + %d tokens exceeds the model's training context of %d positions", max_d,
                         max_new, bm->info.n_ctx_train);
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
    bm->copied_ms = (bench_now_s() - t0) * 1e3;
    return 0;
}

/* What the markdown footer sums up over all tests. */
typedef struct bench_totals {
    uint64_t hwm, kv_max;
    double huge_fraction;
    const char *bw_isa;
} bench_totals;

/* Runs and prints one test; the caller's run_s / run_ts arrays are reused. Returns 0 or 1 after reporting. */
static int one_test(const bench_model *bm, const bench_opts *o, bench_test *t, int n_threads, int n_prompt,
                    int n_gen, int n_depth, int n_parallel, bench_totals *tot)
{
    double *run_s = t->run_s, *run_ts = t->run_ts;
    memset(t, 0, sizeof *t);
    t->run_s = run_s, t->run_ts = run_ts;
    t->n_prompt = n_prompt, t->n_gen = n_gen, t->n_depth = n_depth, t->n_parallel = n_parallel;
    int len = snprintf(t->name, sizeof t->name, "%s%d", n_prompt > 0 ? "pp" : "tg", n_prompt + n_gen);
    if (n_parallel > 1)
        len += snprintf(t->name + len, sizeof t->name - (size_t)len, " x%d", n_parallel);
    if (n_depth > 0)
        snprintf(t->name + len, sizeof t->name - (size_t)len, " @ d%d", n_depth);
    if (bench_run_test(bm, o, t, n_threads))
        return 1;
    if (o->json ? bench_print_json(bm, o, t) : (bench_print_md_row(t), 0))
        return 1;
    tot->hwm = t->hwm > tot->hwm ? t->hwm : tot->hwm;
    uint64_t kv = (uint64_t)t->n_ctx * bm->traffic.kv_bytes_per_pos * (uint64_t)t->n_parallel;
    tot->kv_max = kv > tot->kv_max ? kv : tot->kv_max;
    if (t->bw_gbs > 0)
        tot->huge_fraction = t->bw_before.huge_fraction, tot->bw_isa = bench_mem_isa();
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
        bench_print_md_header(&bm, &o);
    bench_totals tot = {0, 0, -1, NULL};
    for (int ti = 0; ti < o.n_t; ti++)
        for (int di = 0; di < o.n_d; di++) {
            for (int k = 0; k < o.n_p; k++)
                if (o.p[k] > 0 && one_test(&bm, &o, &t, o.t[ti], o.p[k], 0, o.d[di], 1, &tot))
                    goto done;
            for (int k = 0; k < o.n_n; k++)
                for (int pi = 0; pi < o.n_np; pi++)
                    if (o.n[k] > 0 && one_test(&bm, &o, &t, o.t[ti], 0, o.n[k], o.d[di], o.np[pi], &tot))
                        goto done;
        }
    if (!o.json)
        bench_print_md_footer(&bm, &o, tot.hwm, tot.kv_max, tot.huge_fraction, tot.bw_isa);
    rc = 0;
done:
    free(t.run_s);
    free(t.run_ts);
    free(bm.tokens);
    llamac_model_free(bm.m);
    return rc;
}
