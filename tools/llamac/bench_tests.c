/*
 * bench_tests.c — one `llamac bench` test (see bench.h and cmd_bench.c's header for the definitions):
 *
 *   context    its own, sized to the test: n_ctx = depth + P (pp) or depth + N (tg) positions per sequence,
 *              n_seq_max = the test's sequences, f32 or f16 KV
 *   depth      the depth prompt (n_depth random tokens) decoded once into sequence 0, untimed, then shared with
 *              the other sequences (llamac_seq_copy: whole blocks shared, not copied); every run first truncates
 *              each sequence back to n_depth, so each run starts from exactly the same cached state
 *   runs       one untimed warm-up run (pp: the whole prompt; tg: one step), then -r timed runs
 *   tg xP      P sequences decode together: each llamac_decode carries one token of each sequence, logits for
 *              all P (as llama-batched-bench); tok/s counts the tokens of all sequences
 *   probes     the bandwidth probe (bench_mem.c) before the context exists and after it is freed, so the
 *              probe's threads never compete with llamac's
 *
 * Invariant: nothing here prints except through cli_error on failure; results go into bench_test.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static void probe_bw(const bench_opts *o, int n_threads, bench_bw *out, int *ok)
{
    char err[256];
    if (o->bw_mib == 0 || !*ok)
        return;
    if (bench_mem_read_bw((size_t)o->bw_mib << 20, n_threads, BENCH_BW_PASSES, out, err, sizeof err) != 0) {
        fprintf(stderr, "llamac: warning: %s; bandwidth figures omitted\n", err);
        *ok = 0;
    }
}

static void summarize(bench_test *t, int reps)
{
    double sum = 0, sq = 0, sorted[BENCH_MAX_REPS];
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
    t->per_seq_ts = t->median_ts / t->n_parallel;
}

/* Per-step batch arrays of a tg test: one token of each of the P sequences. */
typedef struct step_buf {
    int32_t tok[BENCH_MAX_PARALLEL];
    int32_t seq[BENCH_MAX_PARALLEL];
    int8_t logits[BENCH_MAX_PARALLEL];
} step_buf;

static int32_t token_at(const bench_model *bm, long i)
{
    return bm->tokens[i % bm->n_tokens];
}

/* One timed (or warm-up) run of test t on ctx; returns the seconds it took, or -1 after reporting. */
static double run_once(llamac_context *ctx, const bench_model *bm, const bench_test *t, step_buf *sb, int warmup)
{
    for (int j = 0; j < t->n_parallel; j++)
        if (llamac_seq_truncate(ctx, j, t->n_depth) != LLAMAC_OK)
            return cli_error("%s", llamac_context_error(ctx)), -1;
    double t0 = bench_now_s();
    if (t->n_prompt > 0) { /* in chunks of the context's n_batch (--ubatch) */
        if (llamac_decode_tokens(ctx, 0, bm->tokens + t->n_depth, t->n_prompt, 0, NULL, NULL) != LLAMAC_OK)
            return cli_error("%s: %s", t->name, llamac_context_error(ctx)), -1;
        return bench_now_s() - t0;
    }
    const int P = t->n_parallel, n = warmup ? 1 : t->n_gen;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < P; j++)
            sb->tok[j] = token_at(bm, (long)t->n_depth + (long)i * P + j);
        llamac_batch b = {.n_tokens = P, .tokens = sb->tok};
        if (P > 1)
            b.seq_id = sb->seq, b.logits = sb->logits;
        if (llamac_decode(ctx, &b) != LLAMAC_OK)
            return cli_error("%s: %s", t->name, llamac_context_error(ctx)), -1;
    }
    return bench_now_s() - t0;
}

/* The depth prompt, once per test: into sequence 0, then shared with the others. */
static int fill_depth(llamac_context *ctx, const bench_model *bm, bench_test *t)
{
    if (t->n_depth == 0)
        return 0;
    double t0 = bench_now_s();
    if (llamac_decode_tokens(ctx, 0, bm->tokens, t->n_depth, 0, NULL, NULL) != LLAMAC_OK)
        return cli_error("%s: depth prompt: %s", t->name, llamac_context_error(ctx));
    for (int j = 1; j < t->n_parallel; j++)
        if (llamac_seq_copy(ctx, 0, j, t->n_depth) != LLAMAC_OK)
            return cli_error("%s: sharing the depth prompt: %s", t->name, llamac_context_error(ctx));
    t->depth_ms = (bench_now_s() - t0) * 1e3;
    return 0;
}

/* Bytes one generated token reads: every weight once per step, shared by the step's P tokens, plus the K/V of
 * every position its own sequence attends to (step i, 0-based, attends to n_depth + i + 1 positions). */
static void traffic(const bench_model *bm, bench_test *t)
{
    double kv_positions = t->n_depth + (t->n_gen + 1) / 2.0; /* average over the N steps */
    t->bytes_per_token = (double)bm->traffic.weight_bytes / t->n_parallel +
                         kv_positions * (double)bm->traffic.kv_bytes_per_pos;
    t->achieved_gbs = t->bytes_per_token * t->median_ts * 1e-9;
    t->bw_fraction = t->bw_gbs > 0 ? t->achieved_gbs / t->bw_gbs : 0;
}

static void bandwidth(const bench_opts *o, bench_test *t)
{
    if (!t->bw_ok || o->bw_mib == 0)
        return;
    double all[2 * BENCH_BW_MAX_PASSES];
    int n = 0;
    for (int k = 0; k < 2; k++) {
        const bench_bw *b = k ? &t->bw_after : &t->bw_before;
        for (int i = 0; i < b->n_passes; i++)
            all[n++] = b->pass_gbs[i];
    }
    t->bw_best_gbs = t->bw_before.best_gbs > t->bw_after.best_gbs ? t->bw_before.best_gbs : t->bw_after.best_gbs;
    t->bw_gbs = n > 0 ? bench_median(all, n) : 0;
}

int bench_run_test(const bench_model *bm, const bench_opts *o, bench_test *t, int n_threads)
{
    t->bw_ok = 1;
    probe_bw(o, n_threads, &t->bw_before, &t->bw_ok);

    const int n_new = t->n_prompt > 0 ? t->n_prompt : t->n_gen;
    llamac_context_params cp = llamac_context_default_params();
    cp.n_ctx = t->n_depth + n_new;
    cp.n_seq_max = t->n_parallel;
    /* pp: --ubatch tokens per call; tg: one token per sequence, or depth-prompt chunks of --ubatch */
    int chunk = t->n_prompt > t->n_depth ? t->n_prompt : t->n_depth;
    cp.n_batch = chunk < o->ubatch ? chunk : o->ubatch;
    if (cp.n_batch < t->n_parallel)
        cp.n_batch = t->n_parallel;
    cp.n_logits = t->n_parallel;
    cp.n_threads = n_threads;
    cp.kv_type = o->co.kv_type;
    llamac_context *ctx = NULL;
    char err[600];
    double t0 = bench_now_s();
    if (llamac_context_create(bm->m, &cp, &ctx, err, sizeof err) != LLAMAC_OK)
        return cli_error("%s: %s", t->name, err);
    t->ctx_ms = (bench_now_s() - t0) * 1e3;
    t->n_threads = llamac_context_n_threads(ctx);
    t->n_ctx = llamac_context_n_ctx(ctx);
    step_buf *sb = malloc(sizeof *sb);
    if (!sb) {
        cli_error("out of memory");
        goto fail;
    }
    for (int j = 0; j < t->n_parallel; j++)
        sb->seq[j] = j, sb->logits[j] = 1;
    if (fill_depth(ctx, bm, t))
        goto fail;
    if (o->warmup) {
        double s = run_once(ctx, bm, t, sb, 1);
        if (s < 0)
            goto fail;
        t->warmup_ms = s * 1e3;
    }
    for (int r = 0; r < o->reps; r++) {
        double s = run_once(ctx, bm, t, sb, 0);
        if (s < 0)
            goto fail;
        t->run_s[r] = s;
        t->run_ts[r] = (double)n_new * t->n_parallel / s;
    }
    bench_mem_rss(&t->rss, &t->hwm);
    free(sb);
    llamac_context_free(ctx); /* the pool's threads are gone before the probe forks */
    summarize(t, o->reps);

    probe_bw(o, n_threads, &t->bw_after, &t->bw_ok);
    bandwidth(o, t);
    if (t->n_gen > 0)
        traffic(bm, t);
    return 0;
fail:
    free(sb);
    llamac_context_free(ctx);
    return 1;
}
