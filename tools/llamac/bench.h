/*
 * bench.h — the pieces of `llamac bench` shared by its files:
 *   cmd_bench.c     options, model load, the loop over tests
 *   bench_tests.c   one test: context, depth prompt, warm-up, timed runs, bandwidth probes, traffic figures
 *   bench_report.c  output: one JSON object per test, or a markdown table
 *   bench_mem.c     the read-bandwidth probe and resident memory (no model knowledge)
 */
#ifndef LLAMAC_BENCH_H
#define LLAMAC_BENCH_H

#include <stdint.h>

#include "bench_mem.h"
#include "cli.h"

#define BENCH_MAX_LIST 64
#define BENCH_MAX_REPS 1000
#define BENCH_MAX_PARALLEL 256
#define BENCH_BW_PASSES 10 /* passes of each probe; two probes per test */

typedef struct bench_opts {
    cli_common co;
    int p[BENCH_MAX_LIST], n_p;         /* -p: prompt lengths (0 = none) */
    int n[BENCH_MAX_LIST], n_n;         /* -n: generation lengths (0 = none) */
    int t[BENCH_MAX_LIST], n_t;         /* -t: thread counts */
    int d[BENCH_MAX_LIST], n_d;         /* --depth: cached tokens before each test (default 0) */
    int np[BENCH_MAX_LIST], n_np;       /* --parallel: sequences decoding together in tg tests (default 1) */
    int reps, ubatch, warmup, json, bw_mib;
} bench_opts;

typedef struct bench_model {
    llamac_model *m;
    llamac_model_info info;
    llamac_decode_traffic traffic;
    uint64_t file_bytes;
    double load_ms;
    double ready_ms;  /* load + a context + the first token: the first time this process touches the weights */
    double copied_ms; /* until the background weight copy was complete (= load_ms without one) */
    uint64_t rss_after_load;
    int32_t *tokens;  /* [n_tokens] random ids, the same for every test; tests index it modulo n_tokens */
    int n_tokens;
} bench_model;

typedef struct bench_test {
    char name[48];          /* "pp512", "tg128", "tg128 @ d4096", "tg128 x8", "tg128 x8 @ d4096" */
    int n_prompt, n_gen;    /* one of them is 0 */
    int n_depth;            /* cached positions (per sequence) before each run; not timed */
    int n_parallel;         /* sequences decoding together (tg); 1 for pp */
    int n_threads;          /* as the context reports it */
    int n_ctx;              /* positions one sequence may hold: n_depth + n_prompt or n_gen */
    double *run_s;          /* [reps] seconds per timed run */
    double *run_ts;         /* [reps] tok/s per timed run, all sequences together */
    double avg_ts, sd_ts, median_ts, min_ts, max_ts;
    double per_seq_ts;      /* median_ts / n_parallel: what each sequence sees */
    double warmup_ms, ctx_ms, depth_ms;
    uint64_t rss, hwm;      /* after the runs */
    int bw_ok;
    bench_bw bw_before, bw_after;
    double bw_gbs;          /* median pass of both probes; 0 if no probe ran */
    double bw_best_gbs;     /* best pass of both probes */
    double bytes_per_token; /* tg only: average bytes one token reads (weights shared by the batch); 0 for pp */
    double achieved_gbs, bw_fraction;
} bench_test;

/* Runs test t (name, n_prompt/n_gen, n_depth, n_parallel set; run_s/run_ts hold o->reps) with n_threads
 * threads and fills in the rest. Returns 0, or 1 after reporting. */
int bench_run_test(const bench_model *bm, const bench_opts *o, bench_test *t, int n_threads);

/* bench_report.c */
int bench_print_json(const bench_model *bm, const bench_opts *o, const bench_test *t);
void bench_print_md_header(const bench_model *bm, const bench_opts *o);
void bench_print_md_row(const bench_test *t);
void bench_print_md_footer(const bench_model *bm, const bench_opts *o, uint64_t hwm, uint64_t kv_max,
                           double huge_fraction, const char *bw_isa);

#endif
