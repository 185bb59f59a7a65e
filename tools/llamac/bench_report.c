/*
 * bench_report.c — `llamac bench` output: one JSON object per test (--json; every field is documented in
 * docs/PERFORMANCE.md) or a markdown table with a header (model, engine, load) and a footer (memory, probe).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

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

int bench_print_json(const bench_model *bm, const bench_opts *o, const bench_test *t)
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
    set_int(j, "n_depth", t->n_depth);
    set_int(j, "n_parallel", t->n_parallel);
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
    set_real(j, "per_seq_ts", t->per_seq_ts);
    set_real(j, "load_ms", bm->load_ms);
    set_real(j, "ready_ms", bm->ready_ms);
    set_real(j, "copied_ms", bm->copied_ms);
    set_real(j, "ctx_ms", t->ctx_ms);
    json_object_set_new(j, "depth_ms", t->n_depth > 0 ? json_real(t->depth_ms) : json_null());
    json_object_set_new(j, "warmup_ms", o->warmup ? json_real(t->warmup_ms) : json_null());
    set_int(j, "rss_after_load", (long long)bm->rss_after_load);
    set_int(j, "rss_after_test", (long long)t->rss);
    set_int(j, "hwm_after_test", (long long)t->hwm);
    set_int(j, "kv_cache_bytes", (long long)((uint64_t)t->n_ctx * bm->traffic.kv_bytes_per_pos * t->n_parallel));
    if (t->bw_gbs > 0) {
        set_real(j, "bw_gbs", t->bw_gbs);
        set_real(j, "bw_best_gbs", t->bw_best_gbs);
        set_real(j, "bw_before_gbs", t->bw_before.median_gbs);
        set_real(j, "bw_after_gbs", t->bw_after.median_gbs);
        json_object_set_new(j, "bw_isa", json_string(t->bw_before.isa));
        set_int(j, "bw_passes", t->bw_before.n_passes + t->bw_after.n_passes);
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

void bench_print_md_header(const bench_model *bm, const bench_opts *o)
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
    printf("| test               | threads | t/s median | t/s mean ± sd       | t/s per seq | GB/token | GB/s   |"
           " bw GB/s | %% of bw | RSS GiB |\n");
    printf("| ------------------ | ------: | ---------: | ------------------: | ----------: | -------: | -----: |"
           " ------: | ------: | ------: |\n");
    fflush(stdout);
}

void bench_print_md_row(const bench_test *t)
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
    printf("| %-18s | %7d | %10.2f | %20s | %11.2f | %8s | %6s | %7s | %7s | %7.2f |\n", t->name, t->n_threads,
           t->median_ts, mean, t->per_seq_ts, gbt, gbs, bw, frac, (double)t->rss / GIB);
    fflush(stdout);
}

void bench_print_md_footer(const bench_model *bm, const bench_opts *o, uint64_t hwm, uint64_t kv_max,
                           double huge_fraction, const char *bw_isa)
{
    printf("\nmemory:  peak resident %.3f GiB; file %.3f GiB + largest KV cache %.3f GiB\n", (double)hwm / GIB,
           (double)bm->file_bytes / GIB, (double)kv_max / GIB);
    if (o->bw_mib > 0) {
        printf("bandwidth: median pass of a %s read loop over a %d MiB anonymous buffer", bw_isa ? bw_isa : "?",
               o->bw_mib);
        if (huge_fraction >= 0)
            printf(" (%.0f %% in huge pages)", huge_fraction * 100);
        printf(", %d passes before and after each test, the test's thread count\n", BENCH_BW_PASSES);
    }
}
